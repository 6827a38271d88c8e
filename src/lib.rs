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
//!   -> metrics      latest outcome per (target, check) -> /metrics
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
//! - [`scheduler`]: when checks run: `--once`'s single pass and the
//!   daemon's per-check loops.
//! - [`metrics`]: the metric contract, rendered from the latest outcomes.
//! - [`http`]: `/metrics`, `/healthz`, `/` and `POST /-/reload`.
//! - [`daemon`]: the exporter: scheduler + HTTP + reload + signals.
//! - [`systemd`]: readiness, reload and watchdog notifications.
//! - [`logging`]: structured logs on stderr, library log levels capped.

pub mod aws;
pub mod budget;
pub mod checks;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod daemon;
pub mod diagnosis;
pub mod exit;
pub mod explain;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod outcome;
pub mod postfix;
pub mod regions;
pub mod report;
pub mod scheduler;
pub mod systemd;

/// The source revision this binary was built from: packagers set
/// `SES_PROBE_REVISION` at build time (`unknown` otherwise).
pub const REVISION: &str = match option_env!("SES_PROBE_REVISION") {
    Some(r) => r,
    None => "unknown",
};
