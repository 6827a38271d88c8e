//! The configuration: what to probe, with which credentials, how often.
//!
//! Loading is two stages, as in ripgrep's argument handling: serde reads the
//! TOML into raw structs that mirror the file ([`raw`]), then [`validate`]
//! turns them into a checked [`Plan`] (defaults from [`defaults`] filled in,
//! durations parsed, secrets read through [`secrets`]). Every problem found
//! on the way is collected, not just the first, and each names the file, the
//! line ([`locate`]) and the key, because an operator fixing a config on a
//! mail host wants the whole list at once. A file of many targets is parsed
//! by `[[target]]` sections ([`sections`]), so a reload after an edit
//! parses only what changed. Without a file, [`environment`]
//! builds the same raw form from the environment and sends it through the
//! same validator.
//!
//! [`load`] is the one way in, used by start-up and by reload alike.

mod defaults;
pub mod environment;
mod locate;
mod raw;
pub mod secrets;
mod sections;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::credentials::Secret;
use crate::diagnosis::Severity;

pub use defaults::*;
pub use environment::Env;
pub use secrets::SecretSpec;

/// How the SMTP session gets TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// Plain connect, then STARTTLS (ports 25, 587, 2587).
    Starttls,
    /// TLS from the first byte (ports 465, 2465).
    Implicit,
}

impl TlsMode {
    /// The mode SES uses on a port.
    pub fn for_port(port: u16) -> TlsMode {
        match port {
            465 | 2465 => TlsMode::Implicit,
            _ => TlsMode::Starttls,
        }
    }
}

/// SMTP AUTH mechanisms the probe may use, in preference order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMechanism {
    Plain,
    Login,
}

/// A validated configuration: what the scheduler and `--once` run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub server: Server,
    /// Shared: the scheduler's tasks hold the same targets, not copies.
    pub targets: Vec<Arc<Target>>,
    /// Problems that do not stop the plan (world-readable secret files...).
    pub warnings: Vec<ConfigIssue>,
    /// Where the plan came from, for messages.
    pub origin: String,
    /// Whether any secret was written in the file itself, which must then
    /// be private to its owner.
    pub inline_secrets: bool,
    /// `[postfix_log]`: follow Postfix's log and classify its deliveries.
    pub postfix_log: Option<PostfixLog>,
}

impl Plan {
    /// What sorts Postfix's log lines by target: each target's SMTP relay
    /// host and port.
    pub fn relays(&self) -> crate::postfix::report::Router {
        crate::postfix::report::Router::new(
            self.targets
                .iter()
                .filter_map(|t| {
                    t.smtp
                        .as_ref()
                        .map(|s| (t.name.clone(), s.host.clone(), s.port))
                })
                .collect(),
        )
    }
}

/// Where Postfix's log is read, and how far back `--once` summarises it.
#[derive(Clone, Debug, PartialEq)]
pub struct PostfixLog {
    pub source: crate::postfix::follow::LogSource,
    pub window: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Server {
    pub listen: SocketAddr,
    pub state_directory: PathBuf,
    pub concurrency: usize,
    /// See [`DEFAULT_RELOAD_ENDPOINT`].
    pub reload_endpoint: bool,
}

/// One set of credentials in one region against one set of endpoints.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub name: String,
    /// `None` only for the environment-built default target when no region
    /// could be found; the checks then report `region_missing`.
    pub region: Option<String>,
    /// `expected_account`: the AWS account (12 digits) this target's keys
    /// must belong to; the SMTP check's key-ownership lookup compares with
    /// it.
    pub expected_account: Option<String>,
    pub smtp: Option<SmtpTarget>,
    pub api: Option<ApiTarget>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SmtpTarget {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// Name to verify the certificate against; the host by default.
    pub tls_server_name: String,
    pub ca_file: Option<PathBuf>,
    pub username: String,
    pub password: Secret,
    /// The secret access key behind `username`, when known: enables the
    /// wrong-region check.
    pub secret_access_key: Option<Secret>,
    pub auth_mechanisms: Vec<AuthMechanism>,
    pub ehlo_name: String,
    pub phase_timeout: Duration,
    pub interval: Duration,
    pub certificate_expiry_warning: Duration,
    /// MAIL/RCPT/DATA after AUTH; costs one message of quota per run.
    pub send: Option<SmtpSend>,
    /// `postfix = true`: Postfix's configuration directory. The relay, TLS
    /// mode, CA, mechanisms and credentials are then Postfix's, read again
    /// at every run (the fields above hold what they were at load).
    pub postfix: Option<PathBuf>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SmtpSend {
    pub mail_from: String,
    pub rcpt_to: String,
}

/// How the API side gets its credentials.
#[derive(Clone, Debug, PartialEq)]
pub enum ApiCredentials {
    /// The AWS default chain: env, shared files, SSO, process, web identity,
    /// ECS, IMDS.
    DefaultChain,
    /// A named profile from the shared config files.
    Profile(String),
    /// Explicit keys from the target's secret sources.
    Static {
        access_key_id: String,
        secret_access_key: Secret,
        session_token: Option<Secret>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct ApiTarget {
    pub credentials: ApiCredentials,
    pub endpoint_url: Option<String>,
    pub sts_endpoint_url: Option<String>,
    pub timeout: Duration,
    pub identity: bool,
    pub account: bool,
    pub identity_interval: Duration,
    pub account_interval: Duration,
    pub root_severity: Severity,
    pub quota_warning_ratio: f64,
    pub credentials_expiry_warning: Duration,
    /// `permissions = true`: simulate the sending permissions in IAM.
    pub permissions: bool,
    /// `sender = true`: read the sender identities' state from SES.
    pub sender: bool,
    /// The sender the audit checks: `audit_from`, else `send.from`.
    /// Validation makes sure it is set when `permissions` or `sender` is.
    pub audit_from: Option<String>,
    /// `audit_recipients`: the `ses:Recipients` condition context of the
    /// permission simulation (empty: not set).
    pub audit_recipients: Vec<String>,
    pub audit_interval: Duration,
    /// Also simulate the IAM actions that create SMTP credentials.
    pub smtp_credentials_admin: bool,
    /// Whether the SMTP check of the same target asks STS who owns its key.
    pub smtp_key_ownership: bool,
    pub iam_endpoint_url: Option<String>,
    pub send: Option<ApiSend>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ApiSend {
    pub from: String,
    pub to: String,
    pub configuration_set: Option<String>,
    pub interval: Duration,
    pub daily_budget: u32,
    /// Where the budget is persisted (`server.state_directory`): the send
    /// section carries it so the check needs nothing from outside its target.
    pub state_directory: PathBuf,
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// One problem in a config, located as precisely as the input allows.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigIssue {
    pub file: String,
    pub line: Option<usize>,
    /// Dotted key path, e.g. `target[0].smtp.password`.
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: ", self.file, line)?,
            None => write!(f, "{}: ", self.file)?,
        }
        if self.key.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

/// Every problem that stopped a config from loading.
#[derive(Debug, thiserror::Error)]
#[error("{}", issues.iter().map(|i| i.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError {
    pub issues: Vec<ConfigIssue>,
}

/// Where the plan comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    /// No file: one target built from the environment.
    Environment,
}

impl Source {
    /// `--config` (or `$SES_PROBE_CONFIG`), else the default path if it
    /// exists, else the environment.
    pub fn find(config: Option<&Path>) -> Source {
        match config {
            Some(p) => Source::File(p.to_owned()),
            None if Path::new(DEFAULT_CONFIG_PATH).exists() => {
                Source::File(DEFAULT_CONFIG_PATH.into())
            }
            None => Source::Environment,
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Environment => f.write_str("environment"),
        }
    }
}

/// Load the plan from `source`: the one loader of start-up, `--once` and
/// reload, so a reload sees exactly what a restart would.
pub async fn load(source: &Source, env: &Env) -> Result<Plan, ConfigError> {
    match source {
        Source::File(path) => load_file(path, env),
        Source::Environment => {
            let profile_region = match env.region() {
                Some(_) => None,
                None => environment::profile_region(env).await,
            };
            environment::plan(env, profile_region)
        }
    }
}

/// Read and validate the config file at `path`.
pub fn load_file(path: &Path, env: &Env) -> Result<Plan, ConfigError> {
    let origin = path.display().to_string();
    let text = crate::text::read_small_file(path, MAX_CONFIG_FILE).map_err(|e| ConfigError {
        issues: vec![ConfigIssue {
            file: origin.clone(),
            line: None,
            key: String::new(),
            message: format!("cannot read the config file: {e}"),
        }],
    })?;
    let mut plan = parse(&text, &origin, env)?;
    if let Some(w) = secrets::loose_permissions(path) {
        if plan.inline_secrets {
            plan.warnings.push(ConfigIssue {
                file: origin.clone(),
                line: None,
                key: String::new(),
                message: format!("the file holds inline secrets and is {w}; chmod 600 it"),
            });
        }
    }
    Ok(plan)
}

/// Parse and validate config text; `origin` names it in messages.
pub fn parse(text: &str, origin: &str, env: &Env) -> Result<Plan, ConfigError> {
    validate::parse(text, origin, env)
}
