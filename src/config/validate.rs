//! Validation: raw file structs in, a checked [`Plan`] out.
//!
//! Every problem is collected with its key path, so one run of
//! `check-config` lists them all. Defaults come from [`super::defaults`]
//! only; secrets are read through [`super::secrets`].

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use super::defaults::*;
use super::locate::{key, path_string, without, Locator, Seg};
use super::raw::{RawApi, RawFile, RawPostfixLog, RawServer, RawSmtp, RawTarget, RootSeverity};
use super::secrets::{loose_permissions, read_secret_file, SecretSpec};
use super::*;
use crate::credentials::Secret;
use crate::diagnosis::Severity;
use crate::postfix::sasl::{self, MapRef};
use crate::postfix::Relay;

/// Compiled Postfix map files: extension and map type.
const COMPILED_MAPS: &[(&str, &str)] = &[("db", "hash"), ("lmdb", "lmdb"), ("cdb", "cdb")];
use crate::regions;

/// Most type errors reported from one file before giving up.
const MAX_TYPE_ERRORS: usize = 32;

/// What a text parsed to: the raw file and its unknown keys. Shared, so a
/// reload of the same text validates it without copying it.
type Parsed = Arc<(RawFile, Vec<Vec<Seg>>)>;

/// The SHA-256 of the last text that parsed cleanly (not the text: it can
/// be megabytes), and what it parsed to.
type LastParse = Mutex<Option<([u8; 32], Parsed)>>;

fn last_parse() -> &'static LastParse {
    static LAST: OnceLock<LastParse> = OnceLock::new();
    LAST.get_or_init(Default::default)
}

fn digest(text: &str) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(text.as_bytes()).into()
}

/// What the text with this digest parsed to, if it is the text parsed
/// last. Parsing is a pure function of the text and is most of a load's
/// cost at thousands of targets (a reload after a secret rotated, or from a configuration tool
/// that reloads on every run, reads the same text); validation, which
/// reads secrets, CA files and the environment, runs every time.
fn parsed_before(digest: &[u8; 32]) -> Option<Parsed> {
    let last = last_parse().lock().unwrap_or_else(|e| e.into_inner());
    last.as_ref()
        .filter(|(d, _)| d == digest)
        .map(|(_, parsed)| parsed.clone())
}

fn remember_parse(digest: [u8; 32], parsed: &Parsed) {
    let mut last = last_parse().lock().unwrap_or_else(|e| e.into_inner());
    *last = Some((digest, parsed.clone()));
}

/// Parse and validate config text; `origin` names it in messages.
///
/// A value of the wrong type (`port = "587"`) is reported with its line
/// and key, then taken out of the text and the parse retried, so that the
/// rest of the file is still checked and every problem is listed at once.
pub(super) fn parse(text: &str, origin: &str, env: &Env) -> Result<Plan, ConfigError> {
    let locator = Locator::new(text, origin);
    let mut current = text.to_owned();
    let mut type_errors: Vec<ConfigIssue> = Vec::new();
    let mut removed: Vec<String> = Vec::new();
    // Hashed once: looked up now, remembered if it parses.
    let text_digest = digest(text);
    let pieces = || {
        // After an edit of one target among thousands, only its section
        // is parsed again (see super::sections).
        let parsed = Arc::new(super::sections::parse(text)?);
        remember_parse(text_digest, &parsed);
        Some(parsed)
    };
    let parsed: Parsed = match parsed_before(&text_digest).or_else(pieces) {
        Some(parsed) => parsed,
        None => loop {
            let e = match super::locate::deserialize::<RawFile>(&current) {
                Ok((raw, unknown)) => {
                    let parsed = Arc::new((raw, unknown));
                    if current == text {
                        remember_parse(text_digest, &parsed);
                    }
                    break parsed;
                }
                Err(e) => e,
            };
            let here = Locator::new(&current, origin);
            let path = e.span().and_then(|s| here.path_at(s.start));
            let message = e.message().trim().to_owned();
            let next = path.as_deref().filter(|p| !p.is_empty()).and_then(|p| {
                let issue = ConfigIssue {
                    file: origin.to_owned(),
                    line: locator.line(p),
                    key: path_string(p),
                    message: message.clone(),
                };
                type_errors.push(issue);
                removed.push(path_string(p));
                without(&current, p)
            });
            match next {
                Some(next) if type_errors.len() < MAX_TYPE_ERRORS => current = next,
                _ => {
                    if path.as_deref().is_none_or(|p| p.is_empty()) {
                        // Not a value (a syntax error): where the parser stopped.
                        let line = e
                            .span()
                            .filter(|_| current == text)
                            .map(|s| locator.line_of(s.start));
                        type_errors.push(ConfigIssue {
                            file: origin.to_owned(),
                            line,
                            key: String::new(),
                            message,
                        });
                    }
                    return Err(ConfigError {
                        issues: type_errors,
                    });
                }
            }
        },
    };
    let mut v = Validator {
        locator: &locator,
        env,
        errors: Vec::new(),
        warnings: Vec::new(),
        inline_secrets: false,
        state_directory: PathBuf::new(),
        from_environment: false,
        ca_files: HashMap::new(),
        host_name: std::cell::OnceCell::new(),
    };
    let (raw, unknown) = &*parsed;
    for path in unknown {
        let message = match path.last() {
            Some(Seg::Key(k)) => match closest(k, super::raw::keys_beside(path)) {
                Some(known) => format!("unknown key; did you mean `{known}`?"),
                None => "unknown key".to_owned(),
            },
            _ => "unknown key".to_owned(),
        };
        v.error(path, message);
    }
    if type_errors.is_empty() {
        return v.finish(raw);
    }
    // A value taken out for its type is not also "missing".
    let later = match v.finish(raw) {
        Ok(_) => Vec::new(),
        Err(e) => e.issues,
    };
    type_errors.extend(later.into_iter().filter(|i| {
        !removed
            .iter()
            .any(|r| i.key == *r || i.key.starts_with(&format!("{r}.")))
    }));
    Err(ConfigError {
        issues: type_errors,
    })
}

/// The candidate closest to `word` by edit distance (a swap of two
/// neighbours counts as one edit), if it is close enough to be a typo.
pub(super) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let most = (word.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, _)| *d <= most)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal string alignment distance: insertions, deletions, substitutions
/// and transpositions of adjacent characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// Validate the environment-built raw form (see [`super::environment`]).
pub(super) fn environment(raw: RawFile, env: &Env) -> Result<Plan, ConfigError> {
    let locator = Locator::new("", "environment");
    let v = Validator {
        locator: &locator,
        env,
        errors: Vec::new(),
        warnings: Vec::new(),
        inline_secrets: false,
        state_directory: PathBuf::new(),
        from_environment: true,
        ca_files: HashMap::new(),
        host_name: std::cell::OnceCell::new(),
    };
    v.finish(&raw)
}

impl Validator<'_> {
    fn finish(mut self, raw: &RawFile) -> Result<Plan, ConfigError> {
        let plan = self.plan(raw);
        let v = self;
        if v.errors.is_empty() {
            let mut plan = plan;
            plan.warnings = v.warnings;
            plan.inline_secrets = v.inline_secrets;
            Ok(plan)
        } else {
            Err(ConfigError { issues: v.errors })
        }
    }
}

struct Validator<'a> {
    locator: &'a Locator,
    env: &'a Env,
    errors: Vec<ConfigIssue>,
    warnings: Vec<ConfigIssue>,
    inline_secrets: bool,
    /// `server.state_directory`, once validated: the send budget's home.
    state_directory: PathBuf,
    /// The environment-built target may lack a region: its checks then
    /// report `region_missing` instead of the plan failing to load.
    from_environment: bool,
    /// What each `ca_file` named so far is wrong with, if anything.
    ca_files: HashMap<PathBuf, Option<String>>,
    /// This host's name, the default EHLO name, looked up once.
    host_name: std::cell::OnceCell<String>,
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
        let max = if k.ends_with("timeout") {
            MAX_TIMEOUT
        } else if k.ends_with("interval") {
            MAX_INTERVAL
        } else {
            MAX_WARNING
        };
        match humantime::parse_duration(text) {
            Ok(d) if d.is_zero() => {
                self.error(&key(base, k), "must be longer than zero".to_owned());
                default
            }
            Ok(d) if d > max => {
                self.error(
                    &key(base, k),
                    format!(
                        "`{text}` is longer than the most allowed, {}",
                        humantime::format_duration(max)
                    ),
                );
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
        match spec.resolve(self.env) {
            Ok(resolved) => {
                self.inline_secrets |= resolved.inline;
                if let Some(w) = resolved.warning {
                    self.warn(path, w);
                }
                Some(resolved.value)
            }
            Err(e) => {
                self.error(path, e);
                None
            }
        }
    }

    fn plan(&mut self, raw: &RawFile) -> Plan {
        let server = self.server(&raw.server);
        self.state_directory = server.state_directory.clone();
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
                targets.push(std::sync::Arc::new(target));
            }
        }
        let postfix_log = raw.postfix_log.as_ref().map(|l| self.postfix_log(l));
        Plan {
            server,
            targets,
            warnings: Vec::new(),
            origin: self.locator.origin.clone(),
            inline_secrets: false,
            postfix_log,
        }
    }

    fn postfix_log(&mut self, raw: &RawPostfixLog) -> PostfixLog {
        use crate::postfix::follow::LogSource;
        let base = vec![Seg::Key("postfix_log".into())];
        let window = self.duration(&base, "window", &raw.window, DEFAULT_POSTFIX_LOG_WINDOW);
        let source = match raw.source.as_deref().unwrap_or("file") {
            "journal" => {
                if raw.path.is_some() {
                    self.error(
                        &key(&base, "path"),
                        "only with source = \"file\"".to_owned(),
                    );
                }
                LogSource::Journal {
                    unit: raw.unit.clone(),
                }
            }
            "file" => {
                if raw.unit.is_some() {
                    self.error(
                        &key(&base, "unit"),
                        "only with source = \"journal\"".to_owned(),
                    );
                }
                LogSource::File(
                    raw.path
                        .clone()
                        .unwrap_or_else(|| DEFAULT_POSTFIX_LOG_FILE.into()),
                )
            }
            other => {
                self.error(
                    &key(&base, "source"),
                    format!("`{other}` is not a log source: \"file\" or \"journal\""),
                );
                LogSource::Journal { unit: None }
            }
        };
        PostfixLog { source, window }
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
        if !(1..=MAX_CONCURRENCY).contains(&concurrency) {
            self.error(
                &key(&base, "concurrency"),
                format!("{concurrency} is out of range: 1 to {MAX_CONCURRENCY}"),
            );
        }
        Server {
            listen,
            state_directory: raw
                .state_directory
                .clone()
                .or_else(|| self.env.var("STATE_DIRECTORY").map(PathBuf::from))
                .unwrap_or_else(|| DEFAULT_STATE_DIRECTORY.into()),
            concurrency: concurrency.clamp(1, MAX_CONCURRENCY),
            reload_endpoint: raw.reload_endpoint.unwrap_or(DEFAULT_RELOAD_ENDPOINT),
        }
    }

    fn target(&mut self, base: &[Seg], t: &RawTarget) -> Option<Target> {
        let region = t.region.clone().or_else(|| self.env.region());
        match &region {
            None if self.from_environment => {}
            None => self.error(
                &key(base, "region"),
                "no region: set `region` (or AWS_REGION)".to_owned(),
            ),
            Some(r) if !regions::is_region_name(r) => {
                let hint = closest(&r.to_ascii_lowercase(), regions::SES_REGIONS)
                    .map(|c| format!("; did you mean `{c}`?"))
                    .unwrap_or_default();
                self.error(
                    &key(base, "region"),
                    format!("`{r}` is not an AWS region name{hint}"),
                )
            }
            Some(r) if !regions::SES_REGIONS.contains(&r.as_str()) => {
                let hint = closest(r, regions::SES_REGIONS)
                    .map(|c| format!("; did you mean `{c}`?"))
                    .unwrap_or_default();
                // A target that names its own endpoints may be somewhere
                // this list does not know yet (a new region, a partition).
                let own_endpoints = t.smtp.as_ref().is_some_and(|s| {
                    s.host.is_some() || s.relayhost.is_some() || s.postfix == Some(true)
                }) || t
                    .api
                    .as_ref()
                    .is_some_and(|a| a.endpoint_url.is_some() || a.sts_endpoint_url.is_some());
                if own_endpoints {
                    self.warn(
                        &key(base, "region"),
                        format!("`{r}` is not a region SES is known to serve{hint} (accepted: the target names its own endpoints)"),
                    );
                } else {
                    self.error(
                        &key(base, "region"),
                        format!("`{r}` is not a region SES serves{hint}"),
                    );
                }
            }
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
        if let Some(acct) = &t.expected_account {
            if acct.len() != 12 || !acct.bytes().all(|b| b.is_ascii_digit()) {
                self.error(
                    &key(base, "expected_account"),
                    format!(
                        "`{}` is not an AWS account ID (12 digits)",
                        acct.escape_debug()
                    ),
                );
            }
        }
        Some(Target {
            name: t.name.clone(),
            region,
            expected_account: t.expected_account.clone(),
            smtp,
            api,
        })
    }

    fn smtp(&mut self, base: &[Seg], s: &RawSmtp, region: Option<&str>) -> Option<SmtpTarget> {
        let postfix = self.postfix_source(base, s, region);
        let from_postfix = postfix.as_ref().and_then(|(_, r)| r.relay.clone());
        let host = s
            .host
            .clone()
            .or_else(|| from_postfix.as_ref().map(|r| r.host.clone()))
            .or_else(|| region.map(regions::smtp_host_for))
            .unwrap_or_default();
        let port = s
            .port
            .or_else(|| from_postfix.as_ref().map(|r| r.port))
            .unwrap_or(DEFAULT_SMTP_PORT);
        if port == 0 {
            self.error(
                &key(base, "port"),
                "must be a TCP port (1-65535)".to_owned(),
            );
        }
        let (username, password) = match (&s.sasl_passwd, &s.username, &s.password) {
            // Postfix's credentials are looked up again at every run; what
            // they are now only fills the plan.
            _ if postfix.is_some() => {
                let creds = postfix.as_ref().and_then(|(_, r)| r.credentials.clone());
                match creds {
                    Some((u, p, _)) => (Some(u), Some(p)),
                    None => (Some(String::new()), Some(Secret::new(""))),
                }
            }
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                self.error(
                    &key(base, "sasl_passwd"),
                    "give either `sasl_passwd` or `username` and `password`, not both".to_owned(),
                );
                (None, None)
            }
            (Some(file), None, None) => {
                let written = s
                    .relayhost
                    .clone()
                    .unwrap_or_else(|| format!("[{host}]:{port}"));
                let relay = match Relay::parse(&written) {
                    Some(r) if r.host.eq_ignore_ascii_case(&host) && r.port == port => Some(r),
                    _ => {
                        self.error(
                            &key(base, "relayhost"),
                            format!("`{written}` is not this target's relay ({host}, port {port}) as Postfix's relayhost would write it, e.g. [{host}]:{port}"),
                        );
                        None
                    }
                };
                match relay.and_then(|r| self.sasl_lookup(&key(base, "sasl_passwd"), file, &r)) {
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
            .unwrap_or_else(|| DEFAULT_AUTH_MECHANISMS.to_vec());
        if mechanisms.is_empty() {
            self.error(
                &key(base, "auth_mechanisms"),
                "list at least one of \"plain\", \"login\"".to_owned(),
            );
        }
        if let Some(ca) = &s.ca_file {
            // Looked at once per file: thousands of targets often share one.
            let problem = self
                .ca_files
                .entry(ca.clone())
                .or_insert_with(|| match std::fs::metadata(ca) {
                    Err(e) => Some(format!("{}: {e}", ca.display())),
                    Ok(m) if !m.is_file() => Some(format!("{}: not a regular file", ca.display())),
                    Ok(_) => None,
                })
                .clone();
            if let Some(problem) = problem {
                self.error(&key(base, "ca_file"), problem);
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
        let implicit = postfix.as_ref().is_some_and(|(_, r)| r.implicit_tls);
        Some(SmtpTarget {
            tls: s.tls.unwrap_or_else(|| {
                if implicit {
                    TlsMode::Implicit
                } else {
                    TlsMode::for_port(port)
                }
            }),
            postfix: postfix.map(|(dir, _)| dir),
            tls_server_name: s.tls_server_name.clone().unwrap_or_else(|| host.clone()),
            host,
            port,
            ca_file: s.ca_file.clone(),
            username: username?,
            password: password?,
            secret_access_key,
            auth_mechanisms: mechanisms,
            ehlo_name: s
                .ehlo_name
                .clone()
                .unwrap_or_else(|| self.host_name.get_or_init(default_ehlo_name).clone()),
            phase_timeout,
            interval,
            certificate_expiry_warning,
            send,
        })
    }

    /// `postfix = true`: the settings come from Postfix, read now (so
    /// `check-config` can warn about what it finds) and again at every run.
    fn postfix_source(
        &mut self,
        base: &[Seg],
        s: &RawSmtp,
        region: Option<&str>,
    ) -> Option<(PathBuf, crate::postfix::Resolution)> {
        if s.postfix != Some(true) {
            if s.postfix_config_directory.is_some() {
                self.error(
                    &key(base, "postfix_config_directory"),
                    "only used with postfix = true".to_owned(),
                );
            }
            return None;
        }
        let given = [
            ("host", s.host.is_some()),
            ("port", s.port.is_some()),
            ("tls", s.tls.is_some()),
            ("ca_file", s.ca_file.is_some()),
            ("username", s.username.is_some()),
            ("password", s.password.is_some()),
            ("sasl_passwd", s.sasl_passwd.is_some()),
            ("relayhost", s.relayhost.is_some()),
            ("auth_mechanisms", s.auth_mechanisms.is_some()),
        ];
        for (k, present) in given {
            if present {
                self.error(
                    &key(base, k),
                    "comes from Postfix's own settings when postfix = true; remove it".to_owned(),
                );
            }
        }
        let dir = s
            .postfix_config_directory
            .clone()
            .unwrap_or_else(|| crate::postfix::CONFIG_DIRECTORY.into());
        let resolution = crate::postfix::resolve(&dir, region);
        for f in &resolution.findings {
            self.warn(
                &key(base, "postfix"),
                format!("{}: {}", f.class.as_str(), f.message),
            );
        }
        Some((dir, resolution))
    }

    /// The credentials Postfix would find in `file` for the relay: the
    /// text table read with `postmap`'s rules, or a `type:name` map queried
    /// with `postmap -q`, under the keys Postfix's SMTP client tries for
    /// `relayhost` (by default `[host]:port`, as the SES guide writes it).
    fn sasl_lookup(
        &mut self,
        path: &[Seg],
        file: &Path,
        relay: &Relay,
    ) -> Option<(String, Secret)> {
        let keys = relay.sasl_keys();
        let shown = file.display().to_string();
        if let Some(map) = MapRef::parse(&shown) {
            return self.sasl_query(path, &map, &keys, relay);
        }
        if let Some(ext) = file.extension().and_then(|e| e.to_str()) {
            if let Some(kind) = COMPILED_MAPS
                .iter()
                .find(|(e, _)| *e == ext)
                .map(|(_, k)| k)
            {
                let text = file.with_extension("");
                self.error(
                    path,
                    format!(
                        "{shown} is a compiled Postfix map: give the text file it was made from, or `{kind}:{}` to query it with postmap",
                        text.display()
                    ),
                );
                return None;
            }
        }
        let text = match read_secret_file(file) {
            Ok(t) => t,
            Err(e) => {
                // The text file is gone but its compiled map is there, as
                // admins often leave it after postmap.
                let compiled = COMPILED_MAPS.iter().find(|(ext, _)| {
                    let mut p = file.as_os_str().to_owned();
                    p.push(format!(".{ext}"));
                    Path::new(&p).exists()
                });
                match compiled {
                    Some((ext, kind)) => self.error(
                        path,
                        format!("{e}; only {shown}.{ext} is there: write `sasl_passwd = \"{kind}:{shown}\"` to query it with postmap"),
                    ),
                    None => self.error(path, e),
                }
                return None;
            }
        };
        if let Some(w) = loose_permissions(file) {
            self.warn(
                path,
                format!("{shown} holds passwords and is {w}; chmod 600 it"),
            );
        }
        let entries = sasl::parse(text.expose());
        if let Some(e) = sasl::find(&entries, &keys) {
            return Some((e.username.clone(), e.password.clone()));
        }
        // An entry under another spelling of the same relay is the classic
        // mistake: say which line and what Postfix looks up instead.
        let near = entries.iter().find(|e| {
            let (h, _) = sasl::split_key(&e.key);
            h.eq_ignore_ascii_case(&relay.host)
        });
        let hint = match near {
            Some(e) => format!(
                "; line {} has `{}`, which Postfix never looks up for relayhost = {}",
                e.line, e.key, relay.written
            ),
            None => String::new(),
        };
        self.error(
            path,
            format!(
                "{shown} has no entry Postfix would use for relayhost = {} (it looks up {}){hint}",
                relay.written,
                keys.join(" then ")
            ),
        );
        None
    }

    /// [`Self::sasl_lookup`] for a `type:name` map, through `postmap -q`.
    fn sasl_query(
        &mut self,
        path: &[Seg],
        map: &MapRef,
        keys: &[String],
        relay: &Relay,
    ) -> Option<(String, Secret)> {
        let Some(postmap) = crate::postfix::program("postmap") else {
            self.error(
                path,
                format!("{map} is a Postfix map, but postmap is not installed to query it"),
            );
            return None;
        };
        // postmap reads a main.cf: the one beside the map (where Postfix's
        // own maps live), else Postfix's default directory.
        let beside = Path::new(&map.name)
            .parent()
            .filter(|d| d.join("main.cf").is_file());
        let config_dir = beside.unwrap_or(Path::new(crate::postfix::CONFIG_DIRECTORY));
        for k in keys {
            match sasl::query(&postmap, config_dir, map, k) {
                Ok(Some(value)) => {
                    return match value.split_once(':') {
                        Some((u, p)) => Some((u.to_owned(), Secret::new(p))),
                        None => {
                            self.error(
                                path,
                                format!("{map}: the entry for {k} is not `username:password`"),
                            );
                            None
                        }
                    };
                }
                Ok(None) => {}
                Err(e) => {
                    self.error(path, e.to_string());
                    return None;
                }
            }
        }
        self.error(
            path,
            format!(
                "{map} has no entry Postfix would use for relayhost = {} (it looks up {})",
                relay.written,
                keys.join(" then ")
            ),
        );
        None
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
            ("iam_endpoint_url", &a.iam_endpoint_url),
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
            let daily_budget = s.daily_budget.unwrap_or(DEFAULT_SEND_DAILY_BUDGET);
            if !(1..=MAX_SEND_DAILY_BUDGET).contains(&daily_budget) {
                self.error(
                    &key(&sbase, "daily_budget"),
                    format!("{daily_budget} is out of range: 1 to {MAX_SEND_DAILY_BUDGET} (remove [target.api.send] to never send)"),
                );
            }
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
                daily_budget,
                state_directory: self.state_directory.clone(),
            })
        });
        if let Some(v) = &a.audit_from {
            if !valid_address(v) {
                self.error(
                    &key(base, "audit_from"),
                    format!("`{}` is not an e-mail address", v.escape_debug()),
                );
            }
        }
        for v in a.audit_recipients.iter().flatten() {
            if !valid_address(v) {
                self.error(
                    &key(base, "audit_recipients"),
                    format!("`{}` is not an e-mail address", v.escape_debug()),
                );
            }
        }
        let permissions = a.permissions.unwrap_or(DEFAULT_API_PERMISSIONS);
        let sender = a.sender.unwrap_or(DEFAULT_API_SENDER);
        let audit_from = a
            .audit_from
            .clone()
            .or_else(|| send.as_ref().map(|s| s.from.clone()));
        if audit_from.is_none() {
            for (k, on) in [("permissions", permissions), ("sender", sender)] {
                if on {
                    self.error(
                        &key(base, k),
                        "needs a sender to audit: set `audit_from` (or [target.api.send] `from`)"
                            .to_owned(),
                    );
                }
            }
        }
        Some(ApiTarget {
            permissions,
            sender,
            audit_from,
            audit_recipients: a.audit_recipients.clone().unwrap_or_default(),
            audit_interval: self.duration(
                base,
                "audit_interval",
                &a.audit_interval,
                DEFAULT_AUDIT_INTERVAL,
            ),
            smtp_credentials_admin: a
                .smtp_credentials_admin
                .unwrap_or(DEFAULT_SMTP_CREDENTIALS_ADMIN),
            smtp_key_ownership: a.smtp_key_ownership.unwrap_or(DEFAULT_SMTP_KEY_OWNERSHIP),
            iam_endpoint_url: a.iam_endpoint_url.clone(),
            credentials,
            endpoint_url: a.endpoint_url.clone(),
            sts_endpoint_url: a.sts_endpoint_url.clone(),
            timeout: self.duration(base, "timeout", &a.timeout, DEFAULT_PHASE_TIMEOUT),
            identity: a.identity.unwrap_or(DEFAULT_API_IDENTITY),
            account: a.account.unwrap_or(DEFAULT_API_ACCOUNT),
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

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Read a file holding one secret; one trailing newline is dropped (what
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
        let kinds: Vec<_> = t.checks().iter().map(|c| c.kind()).collect();
        assert_eq!(kinds, vec![Smtp, Identity, Account, Send]);
    }

    #[test]
    fn the_same_text_is_validated_again_with_what_it_reads_now() {
        // The second load of a text reuses its parse, never its
        // validation: a secret from the environment is read again.
        let text = GOOD.replace("name = \"prod\"", "name = \"reparsed\"");
        let first = parse(&text, "t.toml", &env()).unwrap();
        let rotated =
            Env::from_pairs([("SMTP_PW", "BMW5RDrXmmVs0lV7GpI4oLkHXpZ4stDsk6q91z1g38Pk")]);
        let second = parse(&text, "t.toml", &rotated).unwrap();
        let pw = |p: &Plan| {
            p.targets[0]
                .smtp
                .as_ref()
                .unwrap()
                .password
                .expose()
                .to_owned()
        };
        assert_eq!(pw(&first), "BMXhUYlu5Z3gSXVQORxlVa7XPaz91aGWdfHxvkOZdWZ2");
        assert_eq!(pw(&second), "BMW5RDrXmmVs0lV7GpI4oLkHXpZ4stDsk6q91z1g38Pk");
        assert_eq!(first.targets[0].name, second.targets[0].name);
        let missing = parse(&text, "t.toml", &Env::default()).unwrap_err();
        assert!(missing.to_string().contains("SMTP_PW"), "{missing}");
        // Unknown keys found by the first parse are reported by the next.
        let typo = text.replace("timeout = \"5s\"", "timeuot = \"5s\"");
        for t in [&typo, &typo] {
            let e = parse(t, "t.toml", &env()).unwrap_err();
            assert!(e.to_string().contains("timeout"), "{e}");
        }
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
    fn numbers_and_durations_are_bounded() {
        let text = "[server]\nconcurrency = 2305843009213693952\n[[target]]\nname = \"x\"\nregion = \"us-east-1\"\n[target.smtp]\nusername = \"AKIAIOSFODNN7EXAMPLE\"\npassword = { env = \"SMTP_PW\" }\ntimeout = \"500000000000y\"\ninterval = \"30d\"\n[target.api]\n[target.api.send]\nfrom = \"probe@example.com\"\ndaily_budget = 4294967295\n";
        let err = parse(text, "t.toml", &env()).unwrap_err();
        let keys: Vec<&str> = err.issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            vec![
                "server.concurrency",
                "target[0].smtp.timeout",
                "target[0].smtp.interval",
                "target[0].api.send.daily_budget"
            ],
            "{err}"
        );
        assert!(err.to_string().contains("1 to 1024"), "{err}");
        assert!(err.to_string().contains("the most allowed, 10m"), "{err}");
    }

    #[test]
    fn type_errors_have_lines() {
        let text = "[[target]]\nname = \"x\"\nregion = \"us-east-1\"\n[target.smtp]\nport = \"submission\"\n";
        let err = parse(text, "t.toml", &env()).unwrap_err();
        assert_eq!(err.issues[0].line, Some(5), "{err}");
    }

    #[test]
    fn a_type_error_hides_no_other_problem() {
        let text = "[[target]]\nname = \"x\"\nregion = \"us-east-1\"\n[target.smtp]\nusername = \"AKIAIOSFODNN7EXAMPLE\"\npassword = { env = \"SMTP_PW\" }\nport = \"587\"\ntimeout = \"soon\"\nsend = \"yes\"\nprot = 25\n";
        let err = parse(text, "t.toml", &env()).unwrap_err();
        let lines: Vec<String> = err.issues.iter().map(|i| i.to_string()).collect();
        assert_eq!(lines.len(), 4, "{lines:#?}");
        assert!(
            lines[0].starts_with("t.toml:7: target[0].smtp.port: invalid type: string \"587\""),
            "{lines:#?}"
        );
        assert!(
            lines[1].starts_with("t.toml:9: target[0].smtp.send: invalid type"),
            "{lines:#?}"
        );
        assert!(
            lines.contains(
                &"t.toml:10: target[0].smtp.prot: unknown key; did you mean `port`?".to_owned()
            ),
            "{lines:#?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("t.toml:8: target[0].smtp.timeout: `soon`")),
            "{lines:#?}"
        );
    }

    #[test]
    fn unknown_keys_get_the_closest_known_key() {
        let text = "[servr]\n[[target]]\nname = \"x\"\nregion = \"us-east-1\"\nregoin = \"x\"\n[target.api]\nendpoint = \"http://localhost\"\n[target.api.send]\nfrom = \"a@example.com\"\ndaily_budgte = 3\n";
        let err = parse(text, "t.toml", &env()).unwrap_err();
        let lines: Vec<String> = err.issues.iter().map(|i| i.to_string()).collect();
        for want in [
            "t.toml:1: servr: unknown key; did you mean `server`?",
            "t.toml:5: target[0].regoin: unknown key; did you mean `region`?",
            "t.toml:7: target[0].api.endpoint: unknown key",
            "t.toml:10: target[0].api.send.daily_budgte: unknown key; did you mean `daily_budget`?",
        ] {
            assert!(lines.contains(&want.to_owned()), "{want}: {lines:#?}");
        }
    }

    #[test]
    fn regions_are_checked_against_the_ses_list() {
        let text = |region: &str, host: &str| {
            format!("[[target]]\nname = \"x\"\nregion = \"{region}\"\n[target.smtp]\nusername = \"AKIAIOSFODNN7EXAMPLE\"\npassword = {{ env = \"SMTP_PW\" }}\n{host}")
        };
        for (region, hint) in [
            ("eu-west-9", "eu-west-1"),
            ("eu-wst-1", "eu-west-1"),
            ("EU-WEST-1", "eu-west-1"),
        ] {
            let err = parse(&text(region, ""), "t.toml", &env()).unwrap_err();
            assert_eq!(err.issues.len(), 1, "{err}");
            assert_eq!(err.issues[0].key, "target[0].region");
            assert_eq!(err.issues[0].line, Some(3));
            assert!(
                err.issues[0]
                    .message
                    .contains(&format!("did you mean `{hint}`?")),
                "{err}"
            );
        }
        // A target with its own endpoint: a warning, not an error.
        let plan = parse(
            &text("eu-west-9", "host = \"smtp.example.com\"\n"),
            "t.toml",
            &env(),
        )
        .unwrap();
        assert_eq!(plan.warnings.len(), 1);
        assert!(plan.warnings[0]
            .message
            .contains("not a region SES is known to serve"));
        assert!(parse(&text("eu-west-3", ""), "t.toml", &env()).is_ok());
        assert_eq!(closest("prot", &["port", "tls"]), Some("port"));
        assert_eq!(closest("colour", &["name", "region", "smtp", "api"]), None);
    }

    #[test]
    fn unknown_secret_source_is_rejected() {
        let text = "[[target]]\nname = \"x\"\nregion = \"us-east-1\"\n[target.smtp]\nusername = \"AKIAIOSFODNN7EXAMPLE\"\npassword = { evn = \"X\" }\n";
        let err = parse(text, "t.toml", &env()).unwrap_err();
        assert!(err.to_string().contains("evn"), "{err}");
        assert_eq!(err.issues[0].line, Some(6));
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

    #[test]
    fn audit_keys() {
        let base = "[[target]]\nname = \"a\"\nregion = \"eu-west-1\"\n";
        let err = |text: &str| {
            parse(text, "t.toml", &env())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        // The audit needs a sender.
        let e = err(&format!(
            "{base}[target.api]\npermissions = true\nsender = true\n"
        ));
        assert!(
            e.contains("target[0].api.permissions: needs a sender"),
            "{e}"
        );
        assert!(e.contains("target[0].api.sender: needs a sender"), "{e}");
        let e = err(&format!(
            "{base}expected_account = \"12345\"\n[target.api]\naudit_from = \"nobody\"\n"
        ));
        assert!(
            e.contains("expected_account: `12345` is not an AWS account ID"),
            "{e}"
        );
        assert!(
            e.contains("audit_from: `nobody` is not an e-mail address"),
            "{e}"
        );
        // send.from is the default sender; the checks are off by default.
        let plan = parse(
            &format!("{base}expected_account = \"123456789012\"\n[target.api]\nsender = true\n[target.api.send]\nfrom = \"p@example.com\"\n"),
            "t.toml",
            &env(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let t = &plan.targets[0];
        assert_eq!(t.expected_account.as_deref(), Some("123456789012"));
        let api = t.api.as_ref().unwrap();
        assert_eq!(api.audit_from.as_deref(), Some("p@example.com"));
        assert!(api.sender && !api.permissions && api.smtp_key_ownership);
        assert_eq!(api.audit_interval, DEFAULT_AUDIT_INTERVAL);
        let kinds: Vec<_> = t.checks().iter().map(|c| c.kind().as_str()).collect();
        assert_eq!(kinds, ["identity", "account", "sender", "send"]);
    }
}
