//! Postfix SASL password tables: parsing the text form as `postmap` does,
//! querying compiled maps through `postmap -q`, and the keys the SMTP
//! client looks up, in its order.
//!
//! The rules (postmap(1), smtp(8) on `smtp_sasl_password_maps`, and the
//! SMTP client's SASL glue), each pinned by a test against the real
//! program:
//!
//! - A logical line starts with non-whitespace text; a line that starts
//!   with whitespace continues the previous one. Empty lines and lines
//!   whose first non-whitespace character is `#` are ignored.
//! - The key is the first word; the value (`username:password`) is the rest
//!   of the logical line, split at its first `:`.
//! - Of duplicate keys the first one counts (`postmap` warns and keeps it).
//! - Keys are compared case-insensitively (`postmap` folds them).
//! - For a relay, the client looks up the remote host name first, then the
//!   next hop exactly as `relayhost` writes it: for
//!   `relayhost = [email-smtp.eu-west-1.amazonaws.com]:587` that is
//!   `email-smtp.eu-west-1.amazonaws.com`, then
//!   `[email-smtp.eu-west-1.amazonaws.com]:587`. A `[host]` entry alone, or
//!   a `host:port` entry alone, is never found for that relayhost.

use std::path::Path;
use std::process::Command;

use crate::credentials::Secret;

/// One entry of a text table: `key username:password`.
#[derive(Clone, Debug, PartialEq)]
pub struct SaslEntry {
    /// The lookup key as written (`[host]:port`, `host`, ...).
    pub key: String,
    /// 1-based line where the entry starts.
    pub line: usize,
    pub username: String,
    pub password: Secret,
}

/// Parse `sasl_passwd` text the way `postmap` reads it.
pub fn parse(text: &str) -> Vec<SaslEntry> {
    let mut out: Vec<SaslEntry> = Vec::new();
    for (line, text) in super::logical_lines(text) {
        let mut parts = text.splitn(2, char::is_whitespace);
        let Some(key) = parts.next() else { continue };
        let value = parts.next().unwrap_or("").trim();
        let Some((user, pass)) = value.split_once(':') else {
            continue;
        };
        if out.iter().any(|e| e.key.eq_ignore_ascii_case(key)) {
            continue;
        }
        out.push(SaslEntry {
            key: key.to_owned(),
            line,
            username: user.to_owned(),
            password: Secret::new(pass),
        });
    }
    out
}

/// The entry for the first of `keys` present in `entries`.
pub fn find<'a>(entries: &'a [SaslEntry], keys: &[String]) -> Option<&'a SaslEntry> {
    keys.iter()
        .find_map(|k| entries.iter().find(|e| e.key.eq_ignore_ascii_case(k)))
}

/// Split a key into host and port (`[host]:port` and variants).
pub fn split_key(key: &str) -> (String, Option<u16>) {
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

/// A Postfix lookup table reference, `type:name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapRef {
    pub kind: String,
    pub name: String,
}

impl MapRef {
    /// Parse `hash:/etc/postfix/sasl_passwd`; `proxy:` is looked through
    /// (ses-probe reads the table itself).
    pub fn parse(s: &str) -> Option<MapRef> {
        let s = s.strip_prefix("proxy:").unwrap_or(s);
        let (kind, name) = s.split_once(':')?;
        (!kind.is_empty() && !name.is_empty() && kind.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| MapRef {
                kind: kind.to_owned(),
                name: name.to_owned(),
            })
    }

    /// A list as `smtp_sasl_password_maps` holds it (comma or space
    /// separated).
    pub fn parse_list(s: &str) -> Vec<MapRef> {
        s.split([',', ' ', '\t', '\n'])
            .filter(|p| !p.is_empty())
            .filter_map(MapRef::parse)
            .collect()
    }
}

impl MapRef {
    /// The file Postfix opens for this map: `NAME.db` for `hash:`/`btree:`,
    /// `NAME.lmdb`, `NAME.cdb`, else `NAME` itself.
    pub fn file(&self) -> std::path::PathBuf {
        let ext = match self.kind.as_str() {
            "hash" | "btree" => Some("db"),
            "lmdb" => Some("lmdb"),
            "cdb" => Some("cdb"),
            _ => None,
        };
        match ext {
            Some(ext) => format!("{}.{ext}", self.name).into(),
            None => self.name.clone().into(),
        }
    }
}

impl std::fmt::Display for MapRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind, self.name)
    }
}

/// Why a table could not be queried.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("cannot run postmap: {0}")]
    Spawn(std::io::Error),
    #[error("postmap -q failed for {map}: {message}")]
    Failed { map: String, message: String },
}

/// `postmap -q KEY TYPE:NAME`: exactly what Postfix sees. `Ok(None)` when
/// the key is not in the table.
pub fn query(
    postmap: &Path,
    config_dir: &Path,
    map: &MapRef,
    key: &str,
) -> Result<Option<String>, QueryError> {
    let out = Command::new(postmap)
        .arg("-c")
        .arg(config_dir)
        .arg("-q")
        .arg(key)
        .arg(map.to_string())
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(QueryError::Spawn)?;
    // postmap exits 1 both for "not found" and for its fatal errors (a
    // missing or unreadable map): only the former is silent.
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => Ok(Some(
            String::from_utf8_lossy(&out.stdout)
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
        )),
        Some(1) if !stderr.contains("fatal:") => Ok(None),
        _ => Err(QueryError::Failed {
            map: map.to_string(),
            message: crate::text::truncate(stderr.trim(), 300),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "email-smtp.us-east-1.amazonaws.com";

    #[test]
    fn password_may_hold_a_colon_and_comments_only_start_lines() {
        let text = format!(
            "# relay credentials\n  # indented comment\n[{H}]:587 AKIAIOSFODNN7EXAMPLE:BMXh:colon#not-a-comment\n"
        );
        let e = parse(&text);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].password.expose(), "BMXh:colon#not-a-comment");
        assert_eq!(e[0].line, 3);
    }

    #[test]
    fn first_of_duplicate_keys_wins() {
        let text = format!("[{H}]:587 FIRST:a\n[{H}]:587 SECOND:b\n");
        let e = parse(&text);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].username, "FIRST");
    }

    #[test]
    fn indented_line_continues_the_entry() {
        let text = format!("[{H}]:587\n    AKIAIOSFODNN7EXAMPLE:secret\n");
        let e = parse(&text);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].username, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(e[0].password.expose(), "secret");
    }

    #[test]
    fn keys_are_case_insensitive_and_split() {
        let e = parse(&format!("[{}]:587 U:p\n", H.to_uppercase()));
        assert!(find(&e, &[format!("[{H}]:587")]).is_some());
        assert_eq!(
            split_key("[email-smtp.eu-west-1.amazonaws.com]:2587"),
            ("email-smtp.eu-west-1.amazonaws.com".to_owned(), Some(2587))
        );
    }

    #[test]
    fn map_references() {
        assert_eq!(
            MapRef::parse_list("hash:/etc/postfix/sasl_passwd, proxy:lmdb:/x"),
            vec![
                MapRef {
                    kind: "hash".into(),
                    name: "/etc/postfix/sasl_passwd".into()
                },
                MapRef {
                    kind: "lmdb".into(),
                    name: "/x".into()
                }
            ]
        );
        assert_eq!(MapRef::parse("/etc/postfix/sasl_passwd"), None);
    }
}
