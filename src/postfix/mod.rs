//! Postfix, read the way Postfix reads itself.
//!
//! On a mail host the question is not "do some SES credentials work" but
//! "will Postfix's next delivery to SES work". A target with
//! `postfix = true` probes with exactly what Postfix would use: the relay
//! host, port and TLS mode from `relayhost` and `smtp_tls_wrappermode`, the
//! CA from `smtp_tls_CAfile`, the mechanisms Postfix allows, and the
//! credentials `smtp_sasl_password_maps` yields for that relay, looked up
//! with Postfix's own tools (`postconf`, `postmap -q`) in the SMTP
//! client's order ([`sasl`]). Anything ses-probe cannot read makes the
//! check fail with what it saw, never pass.

pub mod follow;
pub mod log;
pub mod report;
pub mod sasl;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::credentials::Secret;
use crate::diagnosis::Class;
use crate::outcome::Finding;
use sasl::MapRef;

/// Where Postfix keeps relay credentials on most distributions.
pub const SASL_PASSWD: &str = "/etc/postfix/sasl_passwd";
/// Postfix's default configuration directory.
pub const CONFIG_DIRECTORY: &str = "/etc/postfix";

/// Where Postfix's programs are looked for, besides `$PATH`.
const SBIN: &[&str] = &["/usr/sbin", "/usr/local/sbin", "/sbin"];

/// A Postfix program (`postconf`, `postmap`), from `$PATH` or an sbin.
pub fn program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SBIN.iter().map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The next hop as `relayhost` writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relay {
    /// Exactly as written, e.g. `[email-smtp.eu-west-1.amazonaws.com]:587`.
    pub written: String,
    pub host: String,
    pub port: u16,
    /// `[host]`: no MX lookup.
    pub bracketed: bool,
}

impl Relay {
    /// Parse a `relayhost` value (the first of a list; Postfix tries the
    /// others only when the first fails). `None` when empty.
    pub fn parse(value: &str) -> Option<Relay> {
        let written = value.split([',', ' ', '\t']).find(|s| !s.is_empty())?;
        let (host_part, port) = match written.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                (h, p.parse().ok()?)
            }
            // `smtp` is the service name Postfix's default port resolves to.
            Some((h, "smtp")) => (h, 25),
            _ => (written, 25),
        };
        let bracketed = host_part.starts_with('[') && host_part.ends_with(']');
        let host = host_part.trim_start_matches('[').trim_end_matches(']');
        (!host.is_empty()).then(|| Relay {
            written: written.to_owned(),
            host: host.to_owned(),
            port,
            bracketed,
        })
    }

    /// The `smtp_sasl_password_maps` keys the SMTP client tries for this
    /// relay, in its order: the server's host name, then the next hop as
    /// written.
    pub fn sasl_keys(&self) -> Vec<String> {
        let mut keys = vec![self.host.clone()];
        if !self.written.eq_ignore_ascii_case(&self.host) {
            keys.push(self.written.clone());
        }
        keys
    }
}

/// The `main.cf` parameters that decide how Postfix relays to SES.
pub const PARAMETERS: &[&str] = &[
    "relayhost",
    "smtp_sasl_auth_enable",
    "smtp_sasl_password_maps",
    "smtp_sasl_security_options",
    "smtp_sasl_tls_security_options",
    "smtp_sasl_mechanism_filter",
    "smtp_tls_security_level",
    "smtp_tls_CAfile",
    "smtp_tls_CApath",
    "smtp_tls_wrappermode",
    "smtp_sender_dependent_authentication",
    "tls_append_default_CA",
];

/// Postfix's effective values of [`PARAMETERS`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Settings {
    pub values: Vec<(&'static str, String)>,
    /// How they were read: `postconf` or `main.cf`.
    pub read_with: &'static str,
}

impl Settings {
    pub fn get(&self, name: &str) -> &str {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    fn yes(&self, name: &str) -> bool {
        self.get(name).eq_ignore_ascii_case("yes")
    }
}

/// Why Postfix's settings could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("postconf -c {dir} failed: {message}")]
    Postconf { dir: String, message: String },
    #[error("{path}: {error}")]
    MainCf { path: String, error: String },
}

/// Read [`PARAMETERS`] with `postconf -x -h` (the effective values, with
/// `$name` expanded and defaults filled in), or, without `postconf`, from
/// `main.cf` directly (explicit settings only; Postfix's defaults for the
/// rest).
pub fn read_settings(config_dir: &Path) -> Result<Settings, ReadError> {
    match program("postconf") {
        Some(postconf) => postconf_values(&postconf, config_dir),
        None => main_cf_values(config_dir),
    }
}

fn postconf_values(postconf: &Path, dir: &Path) -> Result<Settings, ReadError> {
    let out = Command::new(postconf)
        .arg("-c")
        .arg(dir)
        .arg("-x")
        .arg("-h")
        .args(PARAMETERS)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| ReadError::Postconf {
            dir: dir.display().to_string(),
            message: e.to_string(),
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    if !out.status.success() || lines.len() != PARAMETERS.len() {
        return Err(ReadError::Postconf {
            dir: dir.display().to_string(),
            message: crate::text::truncate(String::from_utf8_lossy(&out.stderr).trim(), 300),
        });
    }
    Ok(Settings {
        values: PARAMETERS
            .iter()
            .zip(lines)
            .map(|(n, v)| (*n, v.trim().to_owned()))
            .collect(),
        read_with: "postconf",
    })
}

/// Postfix's defaults for [`PARAMETERS`] (postconf(5), Postfix 3.x), used
/// only when `postconf` is missing.
fn default_of(name: &str) -> &'static str {
    match name {
        "smtp_sasl_auth_enable" | "smtp_tls_wrappermode" => "no",
        "smtp_sasl_security_options" => "noplaintext, noanonymous",
        "smtp_tls_security_level" => "",
        "smtp_sender_dependent_authentication" | "tls_append_default_CA" => "no",
        _ => "",
    }
}

/// `main.cf` without `postconf`: `name = value` lines, continuation lines
/// (leading whitespace), `#` comments, the last setting wins, `$name`
/// references to other parameters of the file expanded once.
fn main_cf_values(dir: &Path) -> Result<Settings, ReadError> {
    let path = dir.join("main.cf");
    let text = crate::text::read_small_file(&path, 1 << 20).map_err(|e| ReadError::MainCf {
        path: path.display().to_string(),
        error: e,
    })?;
    let all: Vec<(String, String)> = logical_lines(&text)
        .into_iter()
        .filter_map(|(_, l)| {
            let (n, v) = l.split_once('=')?;
            Some((n.trim().to_owned(), v.trim().to_owned()))
        })
        .collect();
    let lookup = |name: &str| {
        all.iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let expand = |v: String| {
        if let Some(name) = v.strip_prefix('$') {
            let name = name.trim_start_matches('{').trim_end_matches('}');
            lookup(name).unwrap_or_else(|| default_of(name).to_owned())
        } else {
            v
        }
    };
    Ok(Settings {
        values: PARAMETERS
            .iter()
            .map(|n| {
                let v = lookup(n).map(expand).unwrap_or_else(|| match *n {
                    // Defaults to the other parameter's value.
                    "smtp_sasl_tls_security_options" => {
                        expand("$smtp_sasl_security_options".into())
                    }
                    _ => default_of(n).to_owned(),
                });
                (*n, v)
            })
            .collect(),
        read_with: "main.cf",
    })
}

/// Postfix's file format, shared by `main.cf` and lookup tables: a
/// logical line starts with non-whitespace text and a line that starts
/// with whitespace continues it; empty lines and lines whose first
/// non-whitespace character is `#` are ignored. Returns the 1-based number
/// of each logical line's first physical line, and its joined text.
pub fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut logical: Vec<(usize, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            if let Some((_, last)) = logical.last_mut() {
                last.push(' ');
                last.push_str(trimmed.trim_end());
            }
            continue;
        }
        logical.push((i + 1, line.trim_end().to_owned()));
    }
    logical
}

/// What a probe of Postfix's relay uses, and what was found on the way.
#[derive(Debug)]
pub struct Resolution {
    pub relay: Option<Relay>,
    /// The credentials Postfix would send, and the map and key they came
    /// from.
    pub credentials: Option<(String, Secret, String)>,
    pub implicit_tls: bool,
    pub ca_file: Option<PathBuf>,
    /// Mechanisms Postfix may use among those SES offers: `plain`, `login`.
    pub mechanisms: Vec<&'static str>,
    /// Problems Postfix will hit (or that make its delivery unsafe).
    pub findings: Vec<Finding>,
    /// `parameter = value` lines, for the report: where each setting came
    /// from.
    pub provenance: Vec<String>,
}

impl Resolution {
    /// Whether a finding stops Postfix's mail (so the probe must not pass).
    pub fn blocks(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.severity == crate::diagnosis::Severity::Critical)
    }
}

/// Resolve what Postfix (configured in `config_dir`) would use to relay.
/// `region` is the target's region, to tell a relay to another region.
pub fn resolve(config_dir: &Path, region: Option<&str>) -> Resolution {
    let mut r = Resolution {
        relay: None,
        credentials: None,
        implicit_tls: false,
        ca_file: None,
        mechanisms: vec!["plain", "login"],
        findings: Vec::new(),
        provenance: Vec::new(),
    };
    let main_cf = config_dir.join("main.cf");
    let settings = match read_settings(config_dir) {
        Ok(s) => s,
        Err(e) => {
            r.findings.push(Finding::new(
                Class::PostfixConfigUnreadable,
                format!("cannot read Postfix's settings: {e}"),
            ));
            return r;
        }
    };
    let read_with = settings.read_with;
    if read_with == "main.cf" {
        r.provenance
            .push("postconf not found: read main.cf directly (explicit settings only)".into());
    }
    for (name, value) in &settings.values {
        r.provenance.push(format!("{name} = {value}"));
    }
    let cf = main_cf.display();

    // Where mail goes.
    let Some(relay) = Relay::parse(settings.get("relayhost")) else {
        r.findings.push(Finding::new(
            Class::PostfixRelayNotSes,
            format!("relayhost is empty in {cf}: Postfix delivers directly to each recipient's servers, not through SES"),
        ));
        return r;
    };
    match crate::regions::region_of_smtp_host(&relay.host) {
        None => r.findings.push(
            Finding::new(
                Class::PostfixRelayNotSes,
                format!(
                    "relayhost = {} in {cf} is not an SES SMTP endpoint (email-smtp.<region>.amazonaws.com)",
                    relay.written
                ),
            )
            .with_severity(crate::diagnosis::Severity::Warning),
        ),
        Some(relay_region) if region.is_some_and(|t| t != relay_region) => r.findings.push(
            Finding::new(
                Class::PostfixRelayNotSes,
                format!(
                    "relayhost = {} in {cf} is in {relay_region}, but the target is configured for {}: the probe follows Postfix",
                    relay.written,
                    region.unwrap_or_default()
                ),
            )
            .with_severity(crate::diagnosis::Severity::Warning),
        ),
        Some(_) => {}
    }
    r.implicit_tls = settings.yes("smtp_tls_wrappermode");

    // TLS.
    let level = settings.get("smtp_tls_security_level").to_ascii_lowercase();
    if !r.implicit_tls && matches!(level.as_str(), "" | "none" | "may") {
        r.findings.push(Finding::new(
            Class::PostfixTlsNotEnforced,
            format!(
                "smtp_tls_security_level = {} in {cf}: Postfix may send the SES credentials without TLS if STARTTLS is stripped; set it to encrypt (or secure)",
                if level.is_empty() { "(empty)" } else { level.as_str() }
            ),
        ));
    }
    let ca_file = settings.get("smtp_tls_CAfile");
    if !ca_file.is_empty() {
        r.ca_file = Some(PathBuf::from(ca_file));
    }
    if matches!(level.as_str(), "verify" | "secure")
        && ca_file.is_empty()
        && settings.get("smtp_tls_CApath").is_empty()
        && !settings.yes("tls_append_default_CA")
    {
        r.findings.push(Finding::new(
            Class::TlsCertificateInvalid,
            format!("smtp_tls_security_level = {level} but smtp_tls_CAfile and smtp_tls_CApath are empty in {cf}: Postfix has no trust anchors and will find every certificate untrusted"),
        ));
    }

    // SASL.
    if !settings.yes("smtp_sasl_auth_enable") {
        r.findings.push(Finding::new(
            Class::PostfixSaslDisabled,
            format!("smtp_sasl_auth_enable is not `yes` in {cf}: Postfix will not authenticate, and SES answers 530 Authentication required"),
        ));
        return r;
    }
    mechanisms(&settings, r.implicit_tls || level != "none", &mut r);
    let maps: Vec<MapRef> = MapRef::parse_list(settings.get("smtp_sasl_password_maps"))
        .into_iter()
        .map(|m| match credential_copy(&m) {
            Some(copy) => {
                r.provenance.push(format!(
                    "{m} is not readable here: queried its copy {copy} from $CREDENTIALS_DIRECTORY (LoadCredential=)"
                ));
                copy
            }
            None => m,
        })
        .collect();
    if maps.is_empty() {
        r.findings.push(Finding::new(
            Class::PostfixSaslNoEntry,
            format!("smtp_sasl_password_maps is empty in {cf}: Postfix has no credentials to send"),
        ));
        return r;
    }
    if settings.yes("smtp_sender_dependent_authentication") {
        r.provenance.push(
            "smtp_sender_dependent_authentication = yes: per-sender entries win over the relay's; the probe uses the relay's".into(),
        );
    }
    let Some(postmap) = program("postmap") else {
        r.findings.push(Finding::new(
            Class::PostfixConfigUnreadable,
            "postmap not found: cannot query smtp_sasl_password_maps as Postfix does",
        ));
        return r;
    };
    let keys = relay.sasl_keys();
    'search: for key in &keys {
        for map in &maps {
            match sasl::query(&postmap, config_dir, map, key) {
                Ok(Some(value)) => {
                    match value.split_once(':') {
                        Some((user, pass)) => {
                            r.credentials = Some((
                                user.to_owned(),
                                Secret::new(pass),
                                format!("{map} key {key}"),
                            ));
                        }
                        None => r.findings.push(Finding::new(
                            Class::PostfixSaslNoEntry,
                            format!(
                                "the entry for {key} in {map} has no `username:password` value"
                            ),
                        )),
                    }
                    break 'search;
                }
                Ok(None) => {}
                Err(e) => {
                    r.findings.push(Finding::new(
                        Class::PostfixConfigUnreadable,
                        format!("{e} (ses-probe needs read access to the maps Postfix reads)"),
                    ));
                    return r;
                }
            }
        }
    }
    if r.credentials.is_none() && !r.blocks() {
        let names: Vec<String> = maps.iter().map(|m| m.to_string()).collect();
        r.findings.push(Finding::new(
            Class::PostfixSaslNoEntry,
            format!(
                "no entry in {} for relayhost = {}: Postfix looks up {} (in that order) and sends no credentials; SES answers 530 Authentication required",
                names.join(", "),
                relay.written,
                keys.join(" then ")
            ),
        ));
    }
    r.relay = Some(relay);
    r
}

/// Under the hardened unit the service cannot read Postfix's root-only
/// maps; `LoadCredential=sasl_passwd.db:/etc/postfix/sasl_passwd.db` gives
/// it a private copy. When the map's file cannot be opened here but a file
/// of the same name is in `$CREDENTIALS_DIRECTORY`, that copy is queried.
fn credential_copy(map: &MapRef) -> Option<MapRef> {
    let file = map.file();
    if std::fs::File::open(&file).is_ok() {
        return None;
    }
    let dir = PathBuf::from(std::env::var_os("CREDENTIALS_DIRECTORY")?);
    let copy = dir.join(file.file_name()?);
    let name = dir.join(Path::new(&map.name).file_name()?);
    copy.is_file().then(|| MapRef {
        kind: map.kind.clone(),
        name: name.display().to_string(),
    })
}

/// Which of PLAIN and LOGIN Postfix may use, from its mechanism filter and
/// security options (over TLS, `smtp_sasl_tls_security_options`).
fn mechanisms(settings: &Settings, over_tls: bool, r: &mut Resolution) {
    let filter = settings
        .get("smtp_sasl_mechanism_filter")
        .to_ascii_lowercase();
    let allowed: Vec<&str> = filter
        .split([',', ' ', '\t'])
        .filter(|s| !s.is_empty())
        .collect();
    r.mechanisms
        .retain(|m| allowed.is_empty() || allowed.iter().any(|a| a == m));
    let options_name = if over_tls {
        "smtp_sasl_tls_security_options"
    } else {
        "smtp_sasl_security_options"
    };
    let options = settings.get(options_name).to_ascii_lowercase();
    if options.split([',', ' ']).any(|o| o == "noplaintext") {
        r.mechanisms.clear();
    }
    if r.mechanisms.is_empty() {
        let why = if options.contains("noplaintext") {
            format!("{options_name} = {options} refuses PLAIN and LOGIN")
        } else {
            format!("smtp_sasl_mechanism_filter = {filter} excludes PLAIN and LOGIN")
        };
        r.findings.push(Finding::new(
            Class::SaslMechanismUnavailable,
            format!("{why}, the only mechanisms SES offers: Postfix cannot authenticate"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relayhost_forms_and_their_keys() {
        let h = "email-smtp.eu-west-1.amazonaws.com";
        let r = Relay::parse(&format!("[{h}]:587")).unwrap();
        assert_eq!((r.host.as_str(), r.port, r.bracketed), (h, 587, true));
        assert_eq!(r.sasl_keys(), vec![h.to_owned(), format!("[{h}]:587")]);
        let r = Relay::parse(&format!("[{h}]")).unwrap();
        assert_eq!(r.port, 25);
        assert_eq!(r.sasl_keys(), vec![h.to_owned(), format!("[{h}]")]);
        let r = Relay::parse(h).unwrap();
        assert!(!r.bracketed);
        assert_eq!(r.sasl_keys(), vec![h.to_owned()]);
        assert_eq!(Relay::parse("  "), None);
    }

    #[test]
    fn main_cf_without_postconf() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("main.cf"),
            "# comment\nrelayhost = [email-smtp.eu-west-1.amazonaws.com]:587\nsmtp_sasl_auth_enable = no\nsmtp_sasl_auth_enable = yes\nsmtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd,\n    texthash:/etc/postfix/more\n",
        )
        .unwrap();
        let s = main_cf_values(dir.path()).unwrap();
        assert_eq!(s.get("smtp_sasl_auth_enable"), "yes");
        assert_eq!(
            MapRef::parse_list(s.get("smtp_sasl_password_maps")).len(),
            2
        );
        assert_eq!(
            s.get("smtp_sasl_tls_security_options"),
            "noplaintext, noanonymous"
        );
    }
}
