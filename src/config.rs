//! The configuration file: format, defaults, secret sources and validation.
//!
//! Loading is two stages, as in ripgrep's argument handling: serde reads the
//! TOML into raw structs that mirror the file, then [`validate`] turns them
//! into a checked [`Plan`] (defaults filled in, durations parsed, secrets
//! read into [`Secret`]s). Every problem found on the way is collected, not
//! just the first, and each names the file, the line and the key, because an
//! operator fixing a config on a mail host wants the whole list at once.
//!
//! Unknown keys are rejected. They are collected with `serde_ignored` rather
//! than `#[serde(deny_unknown_fields)]` only so that they are reported
//! together with the other problems instead of stopping at the first.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, MapAccess, Visitor};
use serde::Deserialize;

use crate::credentials::Secret;
use crate::diagnosis::Severity;

/// Where the daemon and `--once` look for a config when none is given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/ses-probe/ses-probe.toml";
/// The exporter's listen address: loopback only by default, on a port
/// outside the Prometheus exporter range 9100-9999 (which is fully
/// allocated): 10587, after SMTP submission's 587.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:10587";
/// Send-budget state lives here unless `server.state_directory` or
/// systemd's `$STATE_DIRECTORY` says otherwise.
pub const DEFAULT_STATE_DIRECTORY: &str = "/var/lib/ses-probe";
/// At most this many checks run at once.
pub const DEFAULT_CONCURRENCY: usize = 8;
/// STARTTLS submission port: open from EC2, unlike 25.
pub const DEFAULT_SMTP_PORT: u16 = 587;
/// Each SMTP phase (and each API call) must finish within this.
pub const DEFAULT_PHASE_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_SMTP_INTERVAL: Duration = Duration::from_secs(60);
pub const DEFAULT_IDENTITY_INTERVAL: Duration = Duration::from_secs(60);
pub const DEFAULT_ACCOUNT_INTERVAL: Duration = Duration::from_secs(300);
pub const DEFAULT_SEND_INTERVAL: Duration = Duration::from_secs(3600);
/// Probe sends per rolling 24 hours: one an hour.
pub const DEFAULT_SEND_DAILY_BUDGET: u32 = 24;
pub const DEFAULT_CERT_EXPIRY_WARNING: Duration = Duration::from_secs(14 * 86_400);
pub const DEFAULT_CREDENTIALS_EXPIRY_WARNING: Duration = Duration::from_secs(15 * 60);
/// Share of the 24-hour quota above which `quota_nearly_exhausted` fires.
pub const DEFAULT_QUOTA_WARNING_RATIO: f64 = 0.8;
/// The SES mailbox simulator: accepts probe mail without hurting reputation.
pub const SIMULATOR_SUCCESS: &str = "success@simulator.amazonses.com";
/// Where Postfix keeps relay credentials on most distributions.
pub const POSTFIX_SASL_PASSWD: &str = "/etc/postfix/sasl_passwd";

// ---------------------------------------------------------------------------
// Raw file format
// ---------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct RawFile {
    #[serde(default)]
    server: RawServer,
    #[serde(default, rename = "target")]
    targets: Vec<RawTarget>,
}

#[derive(Debug, Default, Deserialize)]
struct RawServer {
    listen: Option<String>,
    state_directory: Option<PathBuf>,
    concurrency: Option<usize>,
    reload_endpoint: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct RawTarget {
    name: String,
    region: Option<String>,
    smtp: Option<RawSmtp>,
    api: Option<RawApi>,
}

#[derive(Debug, Default, Deserialize)]
struct RawSmtp {
    host: Option<String>,
    port: Option<u16>,
    tls: Option<TlsMode>,
    tls_server_name: Option<String>,
    ca_file: Option<PathBuf>,
    username: Option<SecretSpec>,
    password: Option<SecretSpec>,
    sasl_passwd: Option<PathBuf>,
    secret_access_key: Option<SecretSpec>,
    auth_mechanisms: Option<Vec<AuthMechanism>>,
    ehlo_name: Option<String>,
    timeout: Option<String>,
    interval: Option<String>,
    certificate_expiry_warning: Option<String>,
    send: Option<bool>,
    mail_from: Option<String>,
    rcpt_to: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct RawApi {
    profile: Option<String>,
    access_key_id: Option<SecretSpec>,
    secret_access_key: Option<SecretSpec>,
    session_token: Option<SecretSpec>,
    endpoint_url: Option<String>,
    sts_endpoint_url: Option<String>,
    timeout: Option<String>,
    identity: Option<bool>,
    account: Option<bool>,
    identity_interval: Option<String>,
    account_interval: Option<String>,
    root_severity: Option<RootSeverity>,
    quota_warning_ratio: Option<f64>,
    credentials_expiry_warning: Option<String>,
    send: Option<RawSend>,
}

#[derive(Debug, Default, Deserialize)]
struct RawSend {
    from: Option<String>,
    to: Option<String>,
    configuration_set: Option<String>,
    interval: Option<String>,
    daily_budget: Option<u32>,
}

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

    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Starttls => "starttls",
            TlsMode::Implicit => "implicit",
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RootSeverity {
    Warning,
    Critical,
}

/// Where a secret (or a user name) comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum SecretSpec {
    /// Written in the config file itself. Allowed, never required; the file
    /// must then not be readable by others.
    Inline(Secret),
    /// An environment variable.
    Env(String),
    /// A file holding only the value (one trailing newline is ignored).
    File(PathBuf),
    /// A systemd credential: `$CREDENTIALS_DIRECTORY/<name>`.
    Credential(String),
}

impl<'de> Deserialize<'de> for SecretSpec {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SecretSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a string, or a table with one of `env`, `file`, `credential` or `value`",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SecretSpec, E> {
                Ok(SecretSpec::Inline(Secret::new(v)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SecretSpec, A::Error> {
                let mut found: Option<SecretSpec> = None;
                while let Some(key) = map.next_key::<String>()? {
                    let value: String = map.next_value()?;
                    let spec = match key.as_str() {
                        "env" => SecretSpec::Env(value),
                        "file" => SecretSpec::File(value.into()),
                        "credential" => SecretSpec::Credential(value),
                        "value" => SecretSpec::Inline(Secret::new(value)),
                        other => {
                            return Err(de::Error::unknown_field(
                                other,
                                &["env", "file", "credential", "value"],
                            ))
                        }
                    };
                    if found.replace(spec).is_some() {
                        return Err(de::Error::custom(
                            "a secret takes exactly one of `env`, `file`, `credential` or `value`",
                        ));
                    }
                }
                found.ok_or_else(|| {
                    de::Error::custom(
                        "empty secret table: give `env`, `file`, `credential` or `value`",
                    )
                })
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------
// Checked plan
// ---------------------------------------------------------------------------

/// A validated configuration: what the scheduler and `--once` run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub server: Server,
    pub targets: Vec<Target>,
    /// Problems that do not stop the plan (world-readable secret files...).
    pub warnings: Vec<ConfigIssue>,
    /// Where the plan came from, for messages.
    pub origin: String,
    /// Whether any secret was written in the file itself, which must then
    /// be private to its owner.
    pub inline_secrets: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Server {
    pub listen: SocketAddr,
    pub state_directory: PathBuf,
    pub concurrency: usize,
    /// `POST /-/reload` is off unless enabled: anyone who can reach the port
    /// could otherwise make the daemon re-read its files.
    pub reload_endpoint: bool,
}

/// One set of credentials in one region against one set of endpoints.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub name: String,
    /// `None` only for the environment-built default target when no region
    /// could be found; the checks then report `region_missing`.
    pub region: Option<String>,
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
    pub send: Option<ApiSend>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ApiSend {
    pub from: String,
    pub to: String,
    pub configuration_set: Option<String>,
    pub interval: Duration,
    pub daily_budget: u32,
}

impl Target {
    /// The checks this target runs, in report order.
    pub fn checks(&self) -> Vec<crate::outcome::CheckKind> {
        use crate::outcome::CheckKind::*;
        let mut out = Vec::new();
        if self.smtp.is_some() {
            out.push(Smtp);
        }
        if let Some(api) = &self.api {
            if api.identity {
                out.push(Identity);
            }
            if api.account {
                out.push(Account);
            }
            if api.send.is_some() {
                out.push(Send);
            }
        }
        out
    }

    /// How often `check` runs.
    pub fn interval(&self, check: crate::outcome::CheckKind) -> Duration {
        use crate::outcome::CheckKind::*;
        let api = self.api.as_ref();
        match check {
            Smtp => self.smtp.as_ref().map(|s| s.interval),
            Identity => api.map(|a| a.identity_interval),
            Account => api.map(|a| a.account_interval),
            Send => api.and_then(|a| a.send.as_ref()).map(|s| s.interval),
        }
        .unwrap_or(DEFAULT_SMTP_INTERVAL)
    }
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

// ---------------------------------------------------------------------------
// Environment (injected so tests need not touch the process environment)
// ---------------------------------------------------------------------------

/// Environment variables and well-known paths the config reads.
#[derive(Clone, Debug, Default)]
pub struct Env {
    vars: HashMap<String, String>,
    /// Postfix's relay credentials, for the environment-built default.
    pub postfix_sasl_passwd: Option<PathBuf>,
}

impl Env {
    /// The process environment and the real Postfix path.
    pub fn from_process() -> Env {
        Env {
            vars: std::env::vars().collect(),
            postfix_sasl_passwd: Some(POSTFIX_SASL_PASSWD.into()),
        }
    }

    /// A fixed set of variables (tests, embedding).
    pub fn from_pairs<I, K, V>(pairs: I) -> Env
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            postfix_sasl_passwd: None,
        }
    }

    pub fn var(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Region from `AWS_REGION`, then `AWS_DEFAULT_REGION`.
    pub fn region(&self) -> Option<String> {
        self.var("AWS_REGION")
            .or_else(|| self.var("AWS_DEFAULT_REGION"))
            .map(str::to_owned)
    }
}

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

/// Read and validate the config file at `path`.
pub fn load(path: &Path, env: &Env) -> Result<Plan, ConfigError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        issues: vec![ConfigIssue {
            file: origin.clone(),
            line: None,
            key: String::new(),
            message: format!("cannot read the config file: {e}"),
        }],
    })?;
    let mut plan = parse(&text, &origin, env)?;
    if let Some(w) = loose_permissions(path) {
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
    let locator = Locator::new(text, origin);
    let mut unknown: Vec<Vec<Seg>> = Vec::new();
    let de = toml::Deserializer::new(text);
    let raw: RawFile = match serde_ignored::deserialize(de, |p| unknown.push(segs(&p))) {
        Ok(raw) => raw,
        Err(e) => {
            let line = e.span().map(|s| locator.line_of(s.start));
            return Err(ConfigError {
                issues: vec![ConfigIssue {
                    file: origin.to_owned(),
                    line,
                    key: String::new(),
                    message: e.message().trim().to_owned(),
                }],
            });
        }
    };
    let mut v = Validator {
        locator: &locator,
        env,
        errors: Vec::new(),
        warnings: Vec::new(),
        inline_secrets: false,
    };
    for path in &unknown {
        v.error(path, "unknown key".to_owned());
    }
    let plan = v.plan(raw);
    if v.errors.is_empty() {
        let mut plan = plan;
        plan.warnings = v.warnings;
        plan.inline_secrets = v.inline_secrets;
        Ok(plan)
    } else {
        Err(ConfigError { issues: v.errors })
    }
}

/// A key path segment.
#[derive(Clone, Debug, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn segs(p: &serde_ignored::Path<'_>) -> Vec<Seg> {
    use serde_ignored::Path;
    match p {
        Path::Root => Vec::new(),
        Path::Seq { parent, index } => {
            let mut v = segs(parent);
            v.push(Seg::Index(*index));
            v
        }
        Path::Map { parent, key } => {
            let mut v = segs(parent);
            v.push(Seg::Key(key.clone()));
            v
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => segs(parent),
    }
}

fn path_string(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// Maps key paths to line numbers using a span-keeping parse of the text.
struct Locator {
    origin: String,
    doc: Option<toml_edit::ImDocument<String>>,
    line_starts: Vec<usize>,
}

impl Locator {
    fn new(text: &str, origin: &str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Locator {
            origin: origin.to_owned(),
            doc: toml_edit::ImDocument::parse(text.to_owned()).ok(),
            line_starts,
        }
    }

    fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset)
    }

    /// Line of the deepest part of `path` present in the file: the key
    /// itself, or the table that should have held it.
    fn line(&self, path: &[Seg]) -> Option<usize> {
        let doc = self.doc.as_ref()?;
        let mut node = Node::Table(doc.as_table());
        let mut best = None;
        for seg in path {
            let (span, next) = match (node, seg) {
                (Node::Table(t), Seg::Key(k)) => match t.get_key_value(k) {
                    Some((key, item)) => (key.span().or_else(|| item.span()), Node::of_item(item)),
                    None => break,
                },
                (Node::Inline(t), Seg::Key(k)) => match t.get_key_value(k) {
                    Some((key, value)) => (key.span(), Node::of_item(value)),
                    None => break,
                },
                (Node::Array(a), Seg::Index(i)) => match a.get(*i) {
                    Some(t) => (t.span(), Node::Table(t)),
                    None => break,
                },
                _ => break,
            };
            if let Some(span) = span {
                best = Some(self.line_of(span.start));
            }
            node = next;
        }
        best
    }
}

/// A place in the span-keeping document.
#[derive(Clone, Copy)]
enum Node<'a> {
    Table(&'a toml_edit::Table),
    Inline(&'a toml_edit::InlineTable),
    Array(&'a toml_edit::ArrayOfTables),
    Leaf,
}

impl<'a> Node<'a> {
    fn of_item(item: &'a toml_edit::Item) -> Node<'a> {
        match item {
            toml_edit::Item::Table(t) => Node::Table(t),
            toml_edit::Item::ArrayOfTables(a) => Node::Array(a),
            toml_edit::Item::Value(v) => Node::of_value(v),
            toml_edit::Item::None => Node::Leaf,
        }
    }

    fn of_value(value: &'a toml_edit::Value) -> Node<'a> {
        match value {
            toml_edit::Value::InlineTable(t) => Node::Inline(t),
            _ => Node::Leaf,
        }
    }
}

struct Validator<'a> {
    locator: &'a Locator,
    env: &'a Env,
    errors: Vec<ConfigIssue>,
    warnings: Vec<ConfigIssue>,
    inline_secrets: bool,
}

fn key(base: &[Seg], k: &str) -> Vec<Seg> {
    let mut v = base.to_vec();
    v.push(Seg::Key(k.to_owned()));
    v
}

impl Validator<'_> {
    fn issue(&self, path: &[Seg], message: String) -> ConfigIssue {
        ConfigIssue {
            file: self.locator.origin.clone(),
            line: self.locator.line(path),
            key: path_string(path),
            message,
        }
    }

    fn error(&mut self, path: &[Seg], message: String) {
        let issue = self.issue(path, message);
        self.errors.push(issue);
    }

    fn warn(&mut self, path: &[Seg], message: String) {
        let issue = self.issue(path, message);
        self.warnings.push(issue);
    }

    fn duration(
        &mut self,
        base: &[Seg],
        k: &str,
        raw: &Option<String>,
        default: Duration,
    ) -> Duration {
        let Some(text) = raw else { return default };
        match humantime::parse_duration(text) {
            Ok(d) if d.is_zero() => {
                self.error(&key(base, k), "must be longer than zero".to_owned());
                default
            }
            Ok(d) => d,
            Err(e) => {
                self.error(
                    &key(base, k),
                    format!("`{text}` is not a duration ({e}); write e.g. \"30s\", \"5m\", \"1h\""),
                );
                default
            }
        }
    }

    /// Resolve a non-secret value (a user name, a key ID) that may come from
    /// the same sources as a secret; written inline it is no secret.
    fn identifier(&mut self, path: &[Seg], spec: &SecretSpec) -> Option<String> {
        let inline = self.inline_secrets;
        let value = self.secret(path, spec).map(|s| s.expose().to_owned());
        self.inline_secrets = inline;
        value
    }

    /// Resolve a secret source; reports and returns `None` on failure.
    fn secret(&mut self, path: &[Seg], spec: &SecretSpec) -> Option<Secret> {
        match spec {
            SecretSpec::Inline(s) => {
                self.inline_secrets = true;
                Some(s.clone())
            }
            SecretSpec::Env(var) => match self.env.var(var) {
                Some(v) => Some(Secret::new(v)),
                None => {
                    self.error(path, format!("environment variable {var} is not set"));
                    None
                }
            },
            SecretSpec::File(file) => self.secret_file(path, file),
            SecretSpec::Credential(name) => {
                let Some(dir) = self.env.var("CREDENTIALS_DIRECTORY") else {
                    self.error(
                        path,
                        format!("systemd credential `{name}` requested but $CREDENTIALS_DIRECTORY is not set (add LoadCredential={name}:... to the unit)"),
                    );
                    return None;
                };
                let file = Path::new(dir).join(name);
                // systemd makes the directory private; no permission warning.
                read_secret_file(&file)
                    .map_err(|e| self.error(path, format!("systemd credential `{name}`: {e}")))
                    .ok()
            }
        }
    }

    fn secret_file(&mut self, path: &[Seg], file: &Path) -> Option<Secret> {
        match read_secret_file(file) {
            Ok(s) => {
                if let Some(w) = loose_permissions(file) {
                    self.warn(
                        path,
                        format!("{} holds a secret and is {w}; chmod 600 it", file.display()),
                    );
                }
                Some(s)
            }
            Err(e) => {
                self.error(path, e);
                None
            }
        }
    }

    fn plan(&mut self, raw: RawFile) -> Plan {
        let server = self.server(&raw.server);
        let mut names = HashSet::new();
        let mut targets = Vec::new();
        if raw.targets.is_empty() {
            self.error(&[], "no [[target]] configured".to_owned());
        }
        for (i, t) in raw.targets.iter().enumerate() {
            let base = vec![Seg::Key("target".into()), Seg::Index(i)];
            if !valid_name(&t.name) {
                self.error(
                    &key(&base, "name"),
                    format!(
                        "`{}` is not a valid target name: use letters, digits, `_`, `-` and `.`",
                        t.name
                    ),
                );
            } else if !names.insert(t.name.clone()) {
                self.error(
                    &key(&base, "name"),
                    format!("duplicate target name `{}`", t.name),
                );
            }
            if let Some(target) = self.target(&base, t) {
                targets.push(target);
            }
        }
        Plan {
            server,
            targets,
            warnings: Vec::new(),
            origin: self.locator.origin.clone(),
            inline_secrets: false,
        }
    }

    fn server(&mut self, raw: &RawServer) -> Server {
        let base = vec![Seg::Key("server".into())];
        let listen = raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen = listen.parse().unwrap_or_else(|e| {
            self.error(
                &key(&base, "listen"),
                format!("`{listen}` is not an address:port ({e})"),
            );
            DEFAULT_LISTEN.parse().expect("default listen address")
        });
        let concurrency = raw.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
        if concurrency == 0 {
            self.error(&key(&base, "concurrency"), "must be at least 1".to_owned());
        }
        Server {
            listen,
            state_directory: raw
                .state_directory
                .clone()
                .or_else(|| self.env.var("STATE_DIRECTORY").map(PathBuf::from))
                .unwrap_or_else(|| DEFAULT_STATE_DIRECTORY.into()),
            concurrency: concurrency.max(1),
            reload_endpoint: raw.reload_endpoint.unwrap_or(false),
        }
    }

    fn target(&mut self, base: &[Seg], t: &RawTarget) -> Option<Target> {
        let region = t.region.clone().or_else(|| self.env.region());
        match &region {
            None => self.error(
                &key(base, "region"),
                "no region: set `region` (or AWS_REGION)".to_owned(),
            ),
            Some(r) if !valid_region(r) => self.error(
                &key(base, "region"),
                format!("`{r}` is not an AWS region name"),
            ),
            Some(_) => {}
        }
        if t.smtp.is_none() && t.api.is_none() {
            self.error(
                base,
                "the target has neither [target.smtp] nor [target.api]".to_owned(),
            );
        }
        let mut smtp = t
            .smtp
            .as_ref()
            .and_then(|s| self.smtp(&key(base, "smtp"), s, region.as_deref()));
        let api = t.api.as_ref().and_then(|a| self.api(&key(base, "api"), a));
        // The API keys of the same target may be the very key the SMTP
        // password was derived from: then the wrong-region check can run
        // without the secret being configured twice.
        if let (Some(smtp), Some(api)) = (smtp.as_mut(), api.as_ref()) {
            if let ApiCredentials::Static {
                access_key_id,
                secret_access_key,
                ..
            } = &api.credentials
            {
                if smtp.secret_access_key.is_none() && *access_key_id == smtp.username {
                    smtp.secret_access_key = Some(secret_access_key.clone());
                }
            }
        }
        Some(Target {
            name: t.name.clone(),
            region,
            smtp,
            api,
        })
    }

    fn smtp(&mut self, base: &[Seg], s: &RawSmtp, region: Option<&str>) -> Option<SmtpTarget> {
        let host = s
            .host
            .clone()
            .or_else(|| region.map(smtp_host_for))
            .unwrap_or_default();
        let port = s.port.unwrap_or(DEFAULT_SMTP_PORT);
        if port == 0 {
            self.error(
                &key(base, "port"),
                "must be a TCP port (1-65535)".to_owned(),
            );
        }
        let (username, password) = match (&s.sasl_passwd, &s.username, &s.password) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                self.error(
                    &key(base, "sasl_passwd"),
                    "give either `sasl_passwd` or `username` and `password`, not both".to_owned(),
                );
                (None, None)
            }
            (Some(file), None, None) => {
                match self.sasl_lookup(&key(base, "sasl_passwd"), file, &host, port) {
                    Some((u, p)) => (Some(u), Some(p)),
                    None => (None, None),
                }
            }
            (None, u, p) => {
                let u = match u {
                    Some(spec) => self.identifier(&key(base, "username"), spec),
                    None => {
                        self.error(
                            &key(base, "username"),
                            "missing: the SMTP user name (the access key ID)".to_owned(),
                        );
                        None
                    }
                };
                let p = match p {
                    Some(spec) => self.secret(&key(base, "password"), spec),
                    None => {
                        self.error(
                            &key(base, "password"),
                            "missing: the SMTP password source".to_owned(),
                        );
                        None
                    }
                };
                (u, p)
            }
        };
        let secret_access_key = s
            .secret_access_key
            .as_ref()
            .and_then(|spec| self.secret(&key(base, "secret_access_key"), spec));
        // Values that end up on the SMTP wire: a CR or LF in them would let
        // the config inject commands, so they are refused here.
        for (k, v) in [
            ("host", Some(&host)),
            ("tls_server_name", s.tls_server_name.as_ref()),
            ("ehlo_name", s.ehlo_name.as_ref()),
        ] {
            if let Some(v) = v {
                if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    self.error(
                        &key(base, k),
                        format!("`{}` is not a host name", v.escape_debug()),
                    );
                }
            }
        }
        for (k, v) in [("mail_from", &s.mail_from), ("rcpt_to", &s.rcpt_to)] {
            if let Some(v) = v {
                if !valid_address(v) {
                    self.error(
                        &key(base, k),
                        format!("`{}` is not an e-mail address", v.escape_debug()),
                    );
                }
            }
        }
        let send = match (s.send.unwrap_or(false), &s.mail_from) {
            (false, _) => None,
            (true, None) => {
                self.error(
                    &key(base, "mail_from"),
                    "required when send = true: a verified sender address".to_owned(),
                );
                None
            }
            (true, Some(from)) => Some(SmtpSend {
                mail_from: from.clone(),
                rcpt_to: s
                    .rcpt_to
                    .clone()
                    .unwrap_or_else(|| SIMULATOR_SUCCESS.to_owned()),
            }),
        };
        let mechanisms = s
            .auth_mechanisms
            .clone()
            .unwrap_or_else(|| vec![AuthMechanism::Plain, AuthMechanism::Login]);
        if mechanisms.is_empty() {
            self.error(
                &key(base, "auth_mechanisms"),
                "list at least one of \"plain\", \"login\"".to_owned(),
            );
        }
        if let Some(ca) = &s.ca_file {
            if let Err(e) = std::fs::metadata(ca) {
                self.error(&key(base, "ca_file"), format!("{}: {e}", ca.display()));
            }
        }
        let phase_timeout = self.duration(base, "timeout", &s.timeout, DEFAULT_PHASE_TIMEOUT);
        let interval = self.duration(base, "interval", &s.interval, DEFAULT_SMTP_INTERVAL);
        let certificate_expiry_warning = self.duration(
            base,
            "certificate_expiry_warning",
            &s.certificate_expiry_warning,
            DEFAULT_CERT_EXPIRY_WARNING,
        );
        Some(SmtpTarget {
            tls: s.tls.unwrap_or_else(|| TlsMode::for_port(port)),
            tls_server_name: s.tls_server_name.clone().unwrap_or_else(|| host.clone()),
            host,
            port,
            ca_file: s.ca_file.clone(),
            username: username?,
            password: password?,
            secret_access_key,
            auth_mechanisms: mechanisms,
            ehlo_name: s.ehlo_name.clone().unwrap_or_else(default_ehlo_name),
            phase_timeout,
            interval,
            certificate_expiry_warning,
            send,
        })
    }

    fn sasl_lookup(
        &mut self,
        path: &[Seg],
        file: &Path,
        host: &str,
        port: u16,
    ) -> Option<(String, Secret)> {
        let text = match read_secret_file(file) {
            Ok(t) => t,
            Err(e) => {
                self.error(path, e);
                return None;
            }
        };
        if let Some(w) = loose_permissions(file) {
            self.warn(
                path,
                format!(
                    "{} holds passwords and is {w}; chmod 600 it",
                    file.display()
                ),
            );
        }
        let entries = parse_sasl_passwd(text.expose());
        match sasl_match(&entries, host, port) {
            Some((_, user, pass)) => Some((user.clone(), pass.clone())),
            None => {
                self.error(
                    path,
                    format!(
                        "{} has no entry for {} (looked up {})",
                        file.display(),
                        host,
                        sasl_keys(host, port).join(", ")
                    ),
                );
                None
            }
        }
    }

    fn api(&mut self, base: &[Seg], a: &RawApi) -> Option<ApiTarget> {
        let credentials = match (&a.profile, &a.access_key_id, &a.secret_access_key) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                self.error(
                    &key(base, "profile"),
                    "give either `profile` or explicit keys, not both".to_owned(),
                );
                ApiCredentials::DefaultChain
            }
            (Some(p), None, None) => ApiCredentials::Profile(p.clone()),
            (None, None, None) => ApiCredentials::DefaultChain,
            (None, Some(_), None) => {
                self.error(&key(base, "secret_access_key"), "missing: `access_key_id` is set, so its secret must be too (partial credentials)".to_owned());
                ApiCredentials::DefaultChain
            }
            (None, None, Some(_)) => {
                self.error(&key(base, "access_key_id"), "missing: `secret_access_key` is set, so its key ID must be too (partial credentials)".to_owned());
                ApiCredentials::DefaultChain
            }
            (None, Some(id), Some(secret)) => {
                let id = self.identifier(&key(base, "access_key_id"), id);
                let secret = self.secret(&key(base, "secret_access_key"), secret);
                let token = a
                    .session_token
                    .as_ref()
                    .and_then(|t| self.secret(&key(base, "session_token"), t));
                match (id, secret) {
                    (Some(id), Some(secret)) => ApiCredentials::Static {
                        access_key_id: id,
                        secret_access_key: secret,
                        session_token: token,
                    },
                    _ => ApiCredentials::DefaultChain,
                }
            }
        };
        for (k, url) in [
            ("endpoint_url", &a.endpoint_url),
            ("sts_endpoint_url", &a.sts_endpoint_url),
        ] {
            if let Some(url) = url {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    self.error(&key(base, k), format!("`{url}` is not an http(s) URL"));
                }
            }
        }
        let ratio = a.quota_warning_ratio.unwrap_or(DEFAULT_QUOTA_WARNING_RATIO);
        if !(ratio > 0.0 && ratio <= 1.0) {
            self.error(
                &key(base, "quota_warning_ratio"),
                format!("{ratio} is not a share in (0, 1]"),
            );
        }
        let send = a.send.as_ref().and_then(|s| {
            let sbase = key(base, "send");
            let interval = self.duration(&sbase, "interval", &s.interval, DEFAULT_SEND_INTERVAL);
            for (k, v) in [("from", &s.from), ("to", &s.to)] {
                if let Some(v) = v {
                    if !valid_address(v) {
                        self.error(
                            &key(&sbase, k),
                            format!("`{}` is not an e-mail address", v.escape_debug()),
                        );
                    }
                }
            }
            let Some(from) = s.from.clone() else {
                self.error(
                    &key(&sbase, "from"),
                    "missing: a verified sender identity for the probe message".to_owned(),
                );
                return None;
            };
            Some(ApiSend {
                from,
                to: s.to.clone().unwrap_or_else(|| SIMULATOR_SUCCESS.to_owned()),
                configuration_set: s.configuration_set.clone(),
                interval,
                daily_budget: s.daily_budget.unwrap_or(DEFAULT_SEND_DAILY_BUDGET),
            })
        });
        Some(ApiTarget {
            credentials,
            endpoint_url: a.endpoint_url.clone(),
            sts_endpoint_url: a.sts_endpoint_url.clone(),
            timeout: self.duration(base, "timeout", &a.timeout, DEFAULT_PHASE_TIMEOUT),
            identity: a.identity.unwrap_or(true),
            account: a.account.unwrap_or(true),
            identity_interval: self.duration(
                base,
                "identity_interval",
                &a.identity_interval,
                DEFAULT_IDENTITY_INTERVAL,
            ),
            account_interval: self.duration(
                base,
                "account_interval",
                &a.account_interval,
                DEFAULT_ACCOUNT_INTERVAL,
            ),
            root_severity: match a.root_severity {
                Some(RootSeverity::Warning) => Severity::Warning,
                _ => Severity::Critical,
            },
            quota_warning_ratio: ratio,
            credentials_expiry_warning: self.duration(
                base,
                "credentials_expiry_warning",
                &a.credentials_expiry_warning,
                DEFAULT_CREDENTIALS_EXPIRY_WARNING,
            ),
            send,
        })
    }
}

/// An address fit for MAIL FROM / RCPT TO: one `@`, no spaces, no control
/// characters, no angle brackets.
fn valid_address(a: &str) -> bool {
    let Some((local, domain)) = a.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !a
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
}

/// `email-smtp.<region>.amazonaws.com`.
pub fn smtp_host_for(region: &str) -> String {
    format!("email-smtp.{region}.amazonaws.com")
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

fn valid_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// This host's name for EHLO, from the kernel (works inside the systemd
/// sandbox, where /proc/sys is hidden).
fn default_ehlo_name() -> String {
    hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Read a file holding one secret; one trailing newline is dropped (what
/// `echo value > file` adds), anything else is kept so that the shape
/// checks can report it.
pub fn read_secret_file(path: &Path) -> Result<Secret, String> {
    let mut text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(Secret::new(text))
}

/// `Some("readable by group or others")` when a file's mode lets anyone but
/// its owner read it.
pub fn loose_permissions(path: &Path) -> Option<&'static str> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o044 != 0).then_some("readable by group or others")
}

/// A Postfix `sasl_passwd` entry: lookup key, user name, password.
pub type SaslEntry = (String, String, Secret);

/// Parse Postfix `sasl_passwd` text: `key user:password` lines, `#`
/// comments, blank lines. The password may contain `:`.
pub fn parse_sasl_passwd(text: &str) -> Vec<SaslEntry> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut parts = l.splitn(2, char::is_whitespace);
            let key = parts.next()?.to_owned();
            let cred = parts.next()?.trim();
            let (user, pass) = cred.split_once(':')?;
            Some((key, user.to_owned(), Secret::new(pass)))
        })
        .collect()
}

/// The keys Postfix tries for a relay, most specific first: the next hop as
/// written in `relayhost` (`[host]:port`, `[host]`), then the host name.
pub fn sasl_keys(host: &str, port: u16) -> Vec<String> {
    vec![
        format!("[{host}]:{port}"),
        format!("[{host}]"),
        format!("{host}:{port}"),
        host.to_owned(),
    ]
}

/// The entry Postfix would use for `host:port`.
pub fn sasl_match<'a>(entries: &'a [SaslEntry], host: &str, port: u16) -> Option<&'a SaslEntry> {
    let by_key: BTreeMap<String, &SaslEntry> = entries
        .iter()
        .map(|e| (e.0.to_ascii_lowercase(), e))
        .collect();
    sasl_keys(&host.to_ascii_lowercase(), port)
        .iter()
        .find_map(|k| by_key.get(k).copied())
}

/// Split a sasl_passwd key into host and port (`[host]:port` and variants).
pub fn split_sasl_key(key: &str) -> (String, Option<u16>) {
    let (host, port) = match key.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => (h, p.parse().ok()),
        _ => (key, None),
    };
    (
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port,
    )
}

/// The region of an SES SMTP host name, if it is one.
pub fn region_of_smtp_host(host: &str) -> Option<String> {
    let rest = host
        .strip_prefix("email-smtp.")
        .or_else(|| host.strip_prefix("email-smtp-fips."))?;
    let region = rest.strip_suffix(".amazonaws.com")?;
    valid_region(region).then(|| region.to_owned())
}

/// The default plan when no config file exists: one target named `default`
/// built from the environment as a newcomer would expect. Region from
/// `AWS_REGION`/`AWS_DEFAULT_REGION` (or `profile_region`, which the caller
/// reads from the AWS profile), API credentials from the default chain, SMTP
/// credentials from `SES_SMTP_USERNAME`/`SES_SMTP_PASSWORD` or the first SES
/// entry of a readable Postfix `sasl_passwd`.
pub fn from_environment(env: &Env, profile_region: Option<String>) -> Plan {
    let mut warnings = Vec::new();
    let mut region = env.region().or(profile_region);
    let mut smtp_creds: Option<(String, Secret, Option<String>, Option<u16>)> = None;
    if let (Some(u), Some(p)) = (env.var("SES_SMTP_USERNAME"), env.var("SES_SMTP_PASSWORD")) {
        smtp_creds = Some((u.to_owned(), Secret::new(p), None, None));
    } else if let Some(path) = &env.postfix_sasl_passwd {
        if let Ok(text) = read_secret_file(path) {
            let entries = parse_sasl_passwd(text.expose());
            let ses = entries.iter().find_map(|(k, u, p)| {
                let (host, port) = split_sasl_key(k);
                region_of_smtp_host(&host).map(|r| (u.clone(), p.clone(), Some(host), port, r))
            });
            if let Some((u, p, host, port, r)) = ses {
                if loose_permissions(path).is_some() {
                    warnings.push(ConfigIssue {
                        file: path.display().to_string(),
                        line: None,
                        key: String::new(),
                        message: "holds passwords and is readable by group or others; chmod 600 it"
                            .into(),
                    });
                }
                region = region.or(Some(r));
                smtp_creds = Some((u, p, host, port));
            }
        }
    }
    let smtp = smtp_creds.map(|(username, password, host, port)| {
        let host = host
            .or_else(|| env.var("SES_SMTP_HOST").map(str::to_owned))
            .or_else(|| region.as_deref().map(smtp_host_for))
            .unwrap_or_default();
        let port = port
            .or_else(|| env.var("SES_SMTP_PORT").and_then(|p| p.parse().ok()))
            .unwrap_or(DEFAULT_SMTP_PORT);
        // The secret key behind the SMTP user, when the environment has it,
        // lets the wrong-region check run.
        let secret_access_key = (env.var("AWS_ACCESS_KEY_ID") == Some(username.as_str()))
            .then(|| env.var("AWS_SECRET_ACCESS_KEY").map(Secret::new))
            .flatten();
        SmtpTarget {
            tls: TlsMode::for_port(port),
            tls_server_name: host.clone(),
            host,
            port,
            ca_file: None,
            username,
            password,
            secret_access_key,
            auth_mechanisms: vec![AuthMechanism::Plain, AuthMechanism::Login],
            ehlo_name: default_ehlo_name(),
            phase_timeout: DEFAULT_PHASE_TIMEOUT,
            interval: DEFAULT_SMTP_INTERVAL,
            certificate_expiry_warning: DEFAULT_CERT_EXPIRY_WARNING,
            send: None,
        }
    });
    let api = ApiTarget {
        credentials: ApiCredentials::DefaultChain,
        endpoint_url: None,
        sts_endpoint_url: None,
        timeout: DEFAULT_PHASE_TIMEOUT,
        identity: true,
        account: true,
        identity_interval: DEFAULT_IDENTITY_INTERVAL,
        account_interval: DEFAULT_ACCOUNT_INTERVAL,
        root_severity: Severity::Critical,
        quota_warning_ratio: DEFAULT_QUOTA_WARNING_RATIO,
        credentials_expiry_warning: DEFAULT_CREDENTIALS_EXPIRY_WARNING,
        send: None,
    };
    Plan {
        server: Server {
            listen: DEFAULT_LISTEN.parse().expect("default listen address"),
            state_directory: env
                .var("STATE_DIRECTORY")
                .map(PathBuf::from)
                .unwrap_or_else(|| DEFAULT_STATE_DIRECTORY.into()),
            concurrency: DEFAULT_CONCURRENCY,
            reload_endpoint: false,
        },
        targets: vec![Target {
            name: "default".to_owned(),
            region,
            smtp,
            api: Some(api),
        }],
        warnings,
        origin: "environment".to_owned(),
        inline_secrets: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env {
        Env::from_pairs([("SMTP_PW", "BMXhUYlu5Z3gSXVQORxlVa7XPaz91aGWdfHxvkOZdWZ2")])
    }

    const GOOD: &str = r#"
[server]
listen = "127.0.0.1:0"

[[target]]
name = "prod"
region = "eu-central-1"

[target.smtp]
username = "AKIAIOSFODNN7EXAMPLE"
password = { env = "SMTP_PW" }
timeout = "5s"

[target.api]
profile = "mailer"

[target.api.send]
from = "probe@example.com"
"#;

    #[test]
    fn good_config_fills_defaults() {
        let plan = parse(GOOD, "good.toml", &env()).unwrap();
        let t = &plan.targets[0];
        let smtp = t.smtp.as_ref().unwrap();
        assert_eq!(smtp.host, "email-smtp.eu-central-1.amazonaws.com");
        assert_eq!(smtp.port, 587);
        assert_eq!(smtp.tls, TlsMode::Starttls);
        assert_eq!(smtp.phase_timeout, Duration::from_secs(5));
        assert_eq!(smtp.interval, DEFAULT_SMTP_INTERVAL);
        let api = t.api.as_ref().unwrap();
        assert!(matches!(&api.credentials, ApiCredentials::Profile(p) if p == "mailer"));
        let send = api.send.as_ref().unwrap();
        assert_eq!(send.to, SIMULATOR_SUCCESS);
        assert_eq!(send.daily_budget, 24);
        use crate::outcome::CheckKind::*;
        assert_eq!(t.checks(), vec![Smtp, Identity, Account, Send]);
    }

    #[test]
    fn three_problems_three_lines() {
        let text = "\
[[target]]
name = \"prod\"
region = \"eu-central-1\"
colour = \"blue\"

[target.smtp]
username = \"AKIAIOSFODNN7EXAMPLE\"
password = { env = \"NOT_SET_ANYWHERE\" }
interval = \"every minute\"
";
        let err = parse(text, "bad.toml", &env()).unwrap_err();
        let lines: Vec<String> = err.issues.iter().map(|i| i.to_string()).collect();
        assert_eq!(err.issues.len(), 3, "{lines:#?}");
        assert!(
            lines.contains(&"bad.toml:4: target[0].colour: unknown key".to_owned()),
            "{lines:#?}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with(
                "bad.toml:8: target[0].smtp.password: environment variable NOT_SET_ANYWHERE"
            )),
            "{lines:#?}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with(
                "bad.toml:9: target[0].smtp.interval: `every minute` is not a duration"
            )),
            "{lines:#?}"
        );
    }

    #[test]
    fn smtp_region_check_borrows_the_api_secret_of_the_same_key() {
        let text = |key_id: &str| {
            format!(
                "[[target]]\nname = \"x\"\nregion = \"us-east-1\"\n[target.smtp]\nusername = \"AKIAIOSFODNN7EXAMPLE\"\npassword = {{ env = \"SMTP_PW\" }}\n[target.api]\naccess_key_id = \"{key_id}\"\nsecret_access_key = {{ value = \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\" }}\n"
            )
        };
        let plan = parse(&text("AKIAIOSFODNN7EXAMPLE"), "t.toml", &env()).unwrap();
        let smtp = plan.targets[0].smtp.as_ref().unwrap();
        assert_eq!(
            smtp.secret_access_key.as_ref().map(|s| s.expose()),
            Some("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
        );
        // Another key's secret says nothing about this password.
        let plan = parse(&text("AKIAOTHERKEY00000000"), "t.toml", &env()).unwrap();
        assert!(plan.targets[0]
            .smtp
            .as_ref()
            .unwrap()
            .secret_access_key
            .is_none());
    }

    #[test]
    fn wire_values_cannot_inject_commands() {
        let text = "[[target]]\nname = \"x\"\nregion = \"us-east-1\"\n[target.smtp]\nusername = \"AKIAIOSFODNN7EXAMPLE\"\npassword = { env = \"SMTP_PW\" }\nehlo_name = \"a\\r\\nRSET\"\nsend = true\nmail_from = \"probe@example.com>\\r\\nDATA\"\n";
        let err = parse(text, "t.toml", &env()).unwrap_err();
        let keys: Vec<&str> = err.issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            vec!["target[0].smtp.ehlo_name", "target[0].smtp.mail_from"],
            "{err}"
        );
        assert!(valid_address("success@simulator.amazonses.com"));
        assert!(!valid_address("no-at-sign"));
    }

    #[test]
    fn type_errors_have_lines() {
        let text = "[[target]]\nname = \"x\"\nregion = \"us-east-1\"\n[target.smtp]\nport = \"submission\"\n";
        let err = parse(text, "t.toml", &env()).unwrap_err();
        assert_eq!(err.issues[0].line, Some(5), "{err}");
    }

    #[test]
    fn unknown_secret_source_is_rejected() {
        let text = "[[target]]\nname = \"x\"\nregion = \"us-east-1\"\n[target.smtp]\nusername = \"AKIAIOSFODNN7EXAMPLE\"\npassword = { evn = \"X\" }\n";
        let err = parse(text, "t.toml", &env()).unwrap_err();
        assert!(err.to_string().contains("evn"), "{err}");
        assert_eq!(err.issues[0].line, Some(6));
    }

    #[test]
    fn sasl_passwd_matches_like_postfix() {
        let text = "# relay credentials\n[email-smtp.us-east-1.amazonaws.com]:587 AKIAIOSFODNN7EXAMPLE:BMXh:colon\nother.example user:pw\n";
        let e = parse_sasl_passwd(text);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].2.expose(), "BMXh:colon");
        let hit = sasl_match(&e, "email-smtp.us-east-1.amazonaws.com", 587).unwrap();
        assert_eq!(hit.1, "AKIAIOSFODNN7EXAMPLE");
        assert!(sasl_match(&e, "email-smtp.us-east-1.amazonaws.com", 2587).is_none());
        assert!(sasl_match(&e, "other.example", 25).is_some());
        assert_eq!(
            split_sasl_key("[email-smtp.eu-west-1.amazonaws.com]:2587"),
            ("email-smtp.eu-west-1.amazonaws.com".to_owned(), Some(2587))
        );
        assert_eq!(
            region_of_smtp_host("email-smtp.eu-west-1.amazonaws.com").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(region_of_smtp_host("smtp.example.com"), None);
    }

    #[test]
    fn sasl_passwd_source_in_a_target() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("sasl_passwd");
        std::fs::write(
            &f,
            "[email-smtp.eu-west-1.amazonaws.com]:587 AKIAIOSFODNN7EXAMPLE:BMXh0000\n",
        )
        .unwrap();
        let text = |port: u16| {
            format!(
                "[[target]]\nname = \"x\"\nregion = \"eu-west-1\"\n[target.smtp]\nport = {port}\nsasl_passwd = \"{}\"\n",
                f.display()
            )
        };
        let plan = parse(&text(587), "t.toml", &env()).unwrap();
        let smtp = plan.targets[0].smtp.as_ref().unwrap();
        assert_eq!(smtp.username, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(smtp.password.expose(), "BMXh0000");
        // Another port is another relay to Postfix: no entry, a located error.
        let err = parse(&text(2587), "t.toml", &env()).unwrap_err();
        assert_eq!(err.issues[0].line, Some(6), "{err}");
        assert!(
            err.issues[0]
                .message
                .contains("[email-smtp.eu-west-1.amazonaws.com]:2587"),
            "{err}"
        );
    }

    #[test]
    fn secret_files_and_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "secret-value\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(read_secret_file(&f).unwrap().expose(), "secret-value");
        assert!(loose_permissions(&f).is_some());
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(loose_permissions(&f).is_none());
    }

    #[test]
    fn environment_default_target() {
        let mut env = Env::from_pairs([
            ("AWS_REGION", "eu-west-1"),
            ("SES_SMTP_USERNAME", "AKIAIOSFODNN7EXAMPLE"),
            ("SES_SMTP_PASSWORD", "pw"),
        ]);
        env.postfix_sasl_passwd = None;
        let plan = from_environment(&env, None);
        let t = &plan.targets[0];
        assert_eq!(t.region.as_deref(), Some("eu-west-1"));
        assert_eq!(
            t.smtp.as_ref().unwrap().host,
            "email-smtp.eu-west-1.amazonaws.com"
        );

        // Region and host from a Postfix sasl_passwd when nothing else says.
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("sasl_passwd");
        std::fs::write(
            &f,
            "[email-smtp.ap-southeast-2.amazonaws.com]:2587 AKIAIOSFODNN7EXAMPLE:pw\n",
        )
        .unwrap();
        let mut env = Env::from_pairs::<[(&str, &str); 0], _, _>([]);
        env.postfix_sasl_passwd = Some(f);
        let plan = from_environment(&env, None);
        let t = &plan.targets[0];
        assert_eq!(t.region.as_deref(), Some("ap-southeast-2"));
        let smtp = t.smtp.as_ref().unwrap();
        assert_eq!(
            (smtp.host.as_str(), smtp.port),
            ("email-smtp.ap-southeast-2.amazonaws.com", 2587)
        );
    }

    #[test]
    fn example_config_parses() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/ses-probe.example.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let env = Env::from_pairs([
            (
                "SES_SMTP_PASSWORD",
                "BMXhUYlu5Z3gSXVQORxlVa7XPaz91aGWdfHxvkOZdWZ2",
            ),
            (
                "CREDENTIALS_DIRECTORY",
                concat!(env!("CARGO_MANIFEST_DIR"), "/config/example-credentials"),
            ),
        ]);
        let plan = parse(&text, path, &env).unwrap_or_else(|e| panic!("{e}"));
        assert!(plan.targets.len() >= 2);
    }
}
