//! ses-probe: is this host's Amazon SES access working, and if not, why?
//!
//! # Layout
//! Data flows one way; each module owns one concern and hands a plain value
//! to the next:
//!
//! ```text
//! config file / env / Postfix (postconf, postmap) / $CREDENTIALS_DIRECTORY
//!   -> config       parse, validate -> Plan { targets, server, postfix_log }
//!   -> credentials  Secret, shape analysis, SMTP password derivation (no I/O)
//!   -> checks       smtp | identity | account | permissions | sender | send
//!                   (the only network code)
//!   -> diagnosis    reply / AWS error / free text -> Class (+ Details)
//!   -> outcome      Outcome { phases, findings, facts }: the shared vocabulary
//!   -> report       --once text / JSON and the Nagios exit code
//!   -> metrics      latest outcome per (target, check) -> /metrics
//!
//! Postfix's log (file or journal) -> postfix::follow -> postfix::report
//!   (each delivery classified by diagnosis) -> metrics: a second producer
//!   beside the scheduler, feeding the same metrics and status page.
//! ```
//!
//! Modules, from the bottom of the import graph up (each imports only
//! modules listed before it, and none imports [`cli`]):
//!
//! - [`text`]: bounding text that comes from outside.
//! - [`exit`]: process exit codes.
//! - [`regions`]: SES regions and endpoint names.
//! - [`roots`]: the system's root certificates, read once per process
//!   and only when a check needs them.
//! - [`diagnosis`]: the failure classes, their table and their matchers.
//! - [`outcome`]: what a check returns, and the vocabulary to build it.
//! - [`credentials`]: [`credentials::Secret`], credential shapes, SMTP
//!   password derivation.
//! - [`postfix`]: Postfix read with its own tools: settings and password
//!   maps in the SMTP client's lookup order ([`postfix::sasl`]), its log
//!   lines ([`postfix::log`]) followed ([`postfix::follow`]) and summarised
//!   ([`postfix::report`]).
//! - [`config`]: the TOML format, defaults, secret sources, validation, and
//!   the one loader of start-up and reload.
//! - [`budget`]: the send check's persisted daily budget.
//! - [`aws`]: SDK plumbing for the API checks: credential resolution,
//!   clients, clock-skew measurement, SDK error classification.
//! - [`checks`]: one file per check (smtp, identity, account, permissions,
//!   sender, send); a [`checks::Check`] carries its config.
//! - [`scheduler`]: when checks run: `--once`'s single pass and the
//!   daemon's per-target loops; deadlines and panics become outcomes.
//! - [`report`]: rendering outcomes for people and for machines.
//! - [`metrics`]: the metric table, rendered from the latest outcomes.
//! - [`explain`]: the `explain` subcommand over [`diagnosis`].
//! - [`gzip`]: one gzip stream from pieces compressed side by side.
//! - [`http`]: `/metrics`, `/healthz`, `/` and `POST /-/reload`.
//! - [`systemd`]: readiness, reload and watchdog notifications.
//! - [`logging`]: structured logs on stderr, library log levels capped.
//! - [`daemon`]: the exporter: scheduler + HTTP + reload + signals.
//! - [`cli`]: command-line definitions and dispatch; `main.rs` only maps its
//!   result to an exit code.
//!
//! # Where to add
//!
//! - **A check**: its own file in `src/checks/` (`async fn run(..) ->
//!   Outcome`), a variant of [`checks::Check`] and of
//!   [`outcome::CheckKind`] (both in files that already list every check),
//!   a config section in `src/config/` (`raw.rs` for the file format,
//!   `validate.rs` for its checks and defaults from `defaults.rs`).
//! - **A failure class**: one row in the class table in
//!   `src/diagnosis/mod.rs` (name, severity, meaning, remediation), the
//!   matcher lines in `src/diagnosis/classify.rs`, then regenerate
//!   `docs/failure-classes.md` (`SES_PROBE_BLESS=1 cargo test --lib
//!   reference_doc`) and name it in an alert rule in `dashboards/alerts.yml`.
//! - **A secret source**: a variant, a key in `SOURCES` and an arm of
//!   `resolve` in `src/config/secrets.rs`; nothing else.
//! - **A metric**: one row of the `metrics!` table in `src/metrics.rs` and the
//!   line that sets it; `docs/metrics.md` is regenerated from the table
//!   (`SES_PROBE_BLESS=1 cargo test --lib metrics_reference_doc`).
//! - **An output format**: `src/report.rs` (for `--once`) and the value enum
//!   in `src/cli.rs`.

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
pub mod gzip;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod outcome;
pub mod postfix;
pub mod regions;
pub mod report;
pub mod roots;
pub mod scheduler;
pub mod systemd;
pub mod text;

/// The source revision this binary was built from (build.rs): a packager's
/// `SES_PROBE_REVISION`, else `git rev-parse --short HEAD`, else `unknown`.
pub const REVISION: &str = env!("SES_PROBE_BUILD_REVISION");

/// The version of rustc that compiled this binary (build.rs).
pub const RUSTC_VERSION: &str = env!("SES_PROBE_RUSTC_VERSION");
