//! Postfix `sasl_passwd` tables: parsing and lookup by relay.

use crate::credentials::Secret;

/// One `sasl_passwd` entry: `key username:password`.
#[derive(Clone, Debug, PartialEq)]
pub struct SaslEntry {
    /// The lookup key as written (`[host]:port`, `host`, ...).
    pub key: String,
    pub username: String,
    pub password: Secret,
}

/// Parse Postfix `sasl_passwd` text: `key user:password` lines, `#`
/// comments, blank lines. The password may contain `:`.
pub fn parse(text: &str) -> Vec<SaslEntry> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut parts = l.splitn(2, char::is_whitespace);
            let key = parts.next()?.to_owned();
            let cred = parts.next()?.trim();
            let (user, pass) = cred.split_once(':')?;
            Some(SaslEntry {
                key,
                username: user.to_owned(),
                password: Secret::new(pass),
            })
        })
        .collect()
}

/// The keys Postfix tries for a relay, most specific first: the next hop as
/// written in `relayhost` (`[host]:port`, `[host]`), then the host name.
pub fn keys(host: &str, port: u16) -> Vec<String> {
    vec![
        format!("[{host}]:{port}"),
        format!("[{host}]"),
        format!("{host}:{port}"),
        host.to_owned(),
    ]
}

/// The entry Postfix would use for `host:port`.
pub fn lookup<'a>(entries: &'a [SaslEntry], host: &str, port: u16) -> Option<&'a SaslEntry> {
    let by_key: std::collections::BTreeMap<String, &SaslEntry> = entries
        .iter()
        .map(|e| (e.key.to_ascii_lowercase(), e))
        .collect();
    keys(&host.to_ascii_lowercase(), port)
        .iter()
        .find_map(|k| by_key.get(k).copied())
}

/// Split a sasl_passwd key into host and port (`[host]:port` and variants).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl_passwd_matches_like_postfix() {
        let text = "# relay credentials\n[email-smtp.us-east-1.amazonaws.com]:587 AKIAIOSFODNN7EXAMPLE:BMXh:colon\nother.example user:pw\n";
        let e = parse(text);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].password.expose(), "BMXh:colon");
        let hit = lookup(&e, "email-smtp.us-east-1.amazonaws.com", 587).unwrap();
        assert_eq!(hit.username, "AKIAIOSFODNN7EXAMPLE");
        assert!(lookup(&e, "email-smtp.us-east-1.amazonaws.com", 2587).is_none());
        assert!(lookup(&e, "other.example", 25).is_some());
        assert_eq!(
            split_key("[email-smtp.eu-west-1.amazonaws.com]:2587"),
            ("email-smtp.eu-west-1.amazonaws.com".to_owned(), Some(2587))
        );
    }
}
