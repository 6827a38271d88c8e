//! ses-probe: is this host's Amazon SES access working, and if not, why?
//!
//! # Layout
//! Data flows one way; each module owns one concern and hands a plain value
//! to the next:
//!
//! ```text
//! config file / env / sasl_passwd / $CREDENTIALS_DIRECTORY
//!   -> config       parse, validate -> Plan { targets, server }
//!   -> credentials  Secret, shape analysis, SMTP password derivation (no I/O)
//!   -> checks       smtp | identity | account | send  (the only network code)
//!   -> diagnosis    reply / AWS error / free text -> Class (+ Details)
//!   -> outcome      Outcome { phases, findings, facts }: the shared vocabulary
//!   -> report       --once text / JSON and the Nagios exit code
//! ```
//!
//! - [`aws`]: SDK plumbing for the API checks: credential resolution,
//!   clients, clock-skew measurement, SDK error classification.
//! - [`budget`]: the send check's persisted daily budget.
//! - [`cli`]: command-line definitions and dispatch; `main.rs` only maps its
//!   result to an exit code.
//! - [`config`]: the TOML format, defaults, secret sources, validation.
//! - [`credentials`]: [`credentials::Secret`], credential shapes, SMTP
//!   password derivation.
//! - [`diagnosis`]: the failure classes and their matchers.
//! - [`explain`]: the `explain` subcommand over [`diagnosis`].
//! - [`outcome`]: what a check returns.
//! - [`report`]: rendering outcomes for people and for machines.

pub mod aws;
pub mod budget;
pub mod checks;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod daemon;
pub mod diagnosis;
pub mod explain;
pub mod logging;
pub mod outcome;
pub mod report;
pub mod scheduler;
