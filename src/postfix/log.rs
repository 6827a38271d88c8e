//! Postfix's delivery log: one record per delivery attempt of the SMTP
//! client, parsed from a syslog line, a `maillog_file` line or a journal
//! entry (`journalctl --output=json`).
//!
//! A delivery attempt ends in one line of `postfix/smtp` (or a named
//! variant such as `postfix/relay`, or a multi-instance
//! `postfix-NAME/smtp`):
//!
//! ```text
//! Dec 01 21:39:45 mx postfix/smtp[15616]: EC86198CEF3: to=<r@example.net>,
//!   relay=email-smtp.eu-west-1.amazonaws.com[52.0.0.1]:587, delay=0.07,
//!   delays=0.02/0.04/0/0, dsn=4.0.0, status=deferred (SASL authentication
//!   failed; server ... said: 535 Authentication Credentials Invalid)
//! ```
//!
//! (on one line). Everything else (pickup, cleanup, qmgr, TLS
//! established, warnings) is not a delivery and is skipped here.

use std::time::SystemTime;

/// How a delivery attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    Sent,
    Deferred,
    Bounced,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Sent, Status::Deferred, Status::Bounced];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Sent => "sent",
            Status::Deferred => "deferred",
            Status::Bounced => "bounced",
        }
    }

    fn parse(s: &str) -> Option<Status> {
        match s {
            "sent" => Some(Status::Sent),
            "deferred" => Some(Status::Deferred),
            "bounced" => Some(Status::Bounced),
            _ => None,
        }
    }
}

/// One delivery attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    pub queue_id: String,
    /// The relay's host name as Postfix logs it (`none` when no
    /// connection was made).
    pub relay_host: String,
    pub relay_port: Option<u16>,
    pub dsn: Option<String>,
    pub status: Status,
    /// The text in parentheses after the status.
    pub reason: String,
    /// When the line says it was written, if it says so with a date.
    pub at: Option<SystemTime>,
}

impl Delivery {
    /// The relay the attempt went to: the `relay=` host, or, when no
    /// connection was made (`relay=none`), the host of `connect to
    /// HOST[IP]:PORT` in the reason.
    pub fn relay(&self) -> (String, Option<u16>) {
        if self.relay_host != "none" {
            return (self.relay_host.clone(), self.relay_port);
        }
        let Some(rest) = self.reason.split("connect to ").nth(1) else {
            return ("none".to_owned(), None);
        };
        match rest.split_once('[') {
            Some((host, addr)) => {
                let port = addr
                    .split_once("]:")
                    .and_then(|(_, p)| p.split(|c: char| !c.is_ascii_digit()).next())
                    .and_then(|p| p.parse().ok());
                (host.to_owned(), port)
            }
            None => ("none".to_owned(), None),
        }
    }
}

/// Longest line considered; longer ones are skipped (a delivery line is
/// a few hundred bytes; anything longer is not Postfix's).
pub const MAX_LINE: usize = 16 * 1024;

/// Parse a log line (syslog, `maillog_file`, or a journal JSON entry).
/// `None` for anything that is not a delivery attempt of the SMTP client.
pub fn parse_line(line: &str) -> Option<Delivery> {
    if line.len() > MAX_LINE {
        return None;
    }
    let trimmed = line.trim_start();
    if trimmed.starts_with('{') {
        return parse_journal(trimmed);
    }
    let (prefix, rest) = split_program(line)?;
    let mut d = parse_message(rest)?;
    d.at = syslog_time(prefix);
    Some(d)
}

/// A journal entry: `SYSLOG_IDENTIFIER` and `MESSAGE`, time from
/// `__REALTIME_TIMESTAMP` (microseconds).
fn parse_journal(json: &str) -> Option<Delivery> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let ident = v.get("SYSLOG_IDENTIFIER")?.as_str()?;
    if !is_smtp_client(ident) {
        return None;
    }
    let mut d = parse_message(v.get("MESSAGE")?.as_str()?)?;
    d.at = v
        .get("__REALTIME_TIMESTAMP")
        .and_then(|t| t.as_str())
        .and_then(|t| t.parse::<u64>().ok())
        .map(|us| SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(us));
    Some(d)
}

/// `postfix/smtp`, `postfix/relay`, `postfix-out/smtp`, ...: the SMTP
/// client under any service name; `lmtp` is not a relay to SES.
fn is_smtp_client(ident: &str) -> bool {
    let Some((instance, service)) = ident.split_once('/') else {
        return false;
    };
    instance.starts_with("postfix")
        && service != "lmtp"
        && !service.is_empty()
        && !matches!(
            service,
            "pickup"
                | "cleanup"
                | "qmgr"
                | "bounce"
                | "local"
                | "master"
                | "postfix-script"
                | "anvil"
                | "scache"
                | "tlsmgr"
                | "postdrop"
                | "sendmail"
                | "error"
                | "discard"
                | "virtual"
                | "pipe"
                | "smtpd"
                | "postscreen"
                | "proxymap"
                | "trivial-rewrite"
        )
}

/// Split `PREFIX postfix/smtp[PID]: MESSAGE` at the program.
fn split_program(line: &str) -> Option<(&str, &str)> {
    let marker = line.find(": ")?;
    let head = &line[..marker];
    let program = head.rsplit(' ').next()?;
    let ident = program.split('[').next()?;
    if !is_smtp_client(ident) {
        return None;
    }
    let prefix = head[..head.len() - program.len()].trim_end();
    Some((prefix, &line[marker + 2..]))
}

/// `QUEUEID: to=<...>, relay=..., ..., dsn=..., status=... (reason)`.
fn parse_message(msg: &str) -> Option<Delivery> {
    let (queue_id, rest) = msg.split_once(": ")?;
    if queue_id.is_empty() || !queue_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    if !rest.starts_with("to=<") {
        return None;
    }
    let field = |name: &str| -> Option<&str> {
        let start = rest.find(&format!(", {name}="))? + name.len() + 3;
        let end = rest[start..]
            .find([',', ' '])
            .map_or(rest.len(), |e| start + e);
        Some(&rest[start..end])
    };
    let status_at = rest.find(", status=")? + ", status=".len();
    let status_word_end = rest[status_at..]
        .find(' ')
        .map_or(rest.len(), |e| status_at + e);
    let status = Status::parse(&rest[status_at..status_word_end])?;
    let reason = rest[status_word_end..]
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or("")
        .to_owned();
    let relay = field("relay").unwrap_or("none");
    let (relay_host, relay_port) = match relay.split_once('[') {
        Some((host, addr)) => {
            let port = addr.rsplit_once("]:").and_then(|(_, p)| p.parse().ok());
            (host.to_owned(), port)
        }
        None => (relay.to_owned(), None),
    };
    Some(Delivery {
        queue_id: queue_id.to_owned(),
        relay_host,
        relay_port,
        dsn: field("dsn").map(str::to_owned),
        status,
        reason,
        at: None,
    })
}

/// The time at the start of a syslog line: RFC 3339 (`2026-12-01T21:39:45
/// .123+00:00`, rsyslog's high-precision format) or the traditional
/// `Dec  1 21:39:45` (no year: the current one, or last year's when that
/// would lie in the future; local time taken as UTC, which is what a
/// server's log clock usually is).
pub fn syslog_time(prefix: &str) -> Option<SystemTime> {
    let first = prefix.split_whitespace().next()?;
    if first.len() >= 19 && first.as_bytes().get(10) == Some(&b'T') {
        return humantime::parse_rfc3339_weak(&first[..19]).ok();
    }
    let mut words = prefix.split_whitespace();
    let month = words.next()?;
    let day: u32 = words.next()?.parse().ok()?;
    let time = words.next()?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS.iter().position(|x| *x == month)? + 1;
    let now = SystemTime::now();
    let year = humantime::format_rfc3339_seconds(now).to_string()[..4]
        .parse::<i32>()
        .ok()?;
    for y in [year, year - 1] {
        let t = humantime::parse_rfc3339_weak(&format!("{y:04}-{m:02}-{day:02}T{time}")).ok()?;
        // A day's slack for clock differences between writer and reader.
        if t <= now + std::time::Duration::from_secs(86_400) {
            return Some(t);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines real Postfix 3.7 wrote in the test suite (see
    /// tests/corpus/postfix-real.jsonl).
    const SENT: &str = "Dec 01 21:39:45 mx postfix/smtp[15627]: 03B5998D312: to=<recipient@example.net>, relay=127.0.0.1[127.0.0.1]:44459, delay=0.06, delays=0.03/0.02/0.01/0, dsn=2.0.0, status=sent (250 Ok 0100018c2b7a1234-fake-0000)";
    const DEFERRED: &str = "Dec 01 21:39:45 mx postfix/smtp[15616]: EC86198CEF3: to=<recipient@example.net>, relay=127.0.0.1[127.0.0.1]:42059, delay=0.07, delays=0.02/0.04/0/0, dsn=4.0.0, status=deferred (SASL authentication failed; server 127.0.0.1[127.0.0.1] said: 535 Authentication Credentials Invalid)";
    const REFUSED: &str = "Dec 01 21:53:53 mx postfix/smtp[27318]: C207A98E782: to=<recipient@example.net>, relay=none, delay=0.05, delays=0.03/0.02/0/0, dsn=4.4.1, status=deferred (connect to 127.0.0.1[127.0.0.1]:44383: Connection refused)";

    #[test]
    fn delivery_lines() {
        let d = parse_line(SENT).unwrap();
        assert_eq!(d.status, Status::Sent);
        assert_eq!(d.relay_host, "127.0.0.1");
        assert_eq!(d.relay_port, Some(44459));
        assert_eq!(d.dsn.as_deref(), Some("2.0.0"));
        assert_eq!(d.queue_id, "03B5998D312");
        let d = parse_line(DEFERRED).unwrap();
        assert_eq!(d.status, Status::Deferred);
        assert!(d.reason.ends_with("535 Authentication Credentials Invalid"));
        let d = parse_line(REFUSED).unwrap();
        assert_eq!((d.relay_host.as_str(), d.relay_port), ("none", None));
        assert_eq!(d.relay(), ("127.0.0.1".to_owned(), Some(44383)));
        assert!(d.at.is_some());
    }

    #[test]
    fn other_lines_are_not_deliveries() {
        for line in [
            "Dec 01 21:39:45 mx postfix/pickup[15600]: 03B5998D312: uid=0 from=<sender@sender.example>",
            "Dec 01 21:39:45 mx postfix/qmgr[15601]: 03B5998D312: removed",
            "Dec 01 21:39:45 mx postfix/smtp[15627]: Trusted TLS connection established to localhost[127.0.0.1]:44105: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
            "Dec 01 21:39:45 mx postfix/discard[15700]: 1234ABC: to=<x@sender.example>, relay=none, delay=0, delays=0/0/0/0, dsn=2.0.0, status=sent (sender.example)",
            "garbage",
            "",
        ] {
            assert_eq!(parse_line(line), None, "{line}");
        }
    }

    #[test]
    fn journal_entries_and_timestamps() {
        let entry = serde_json::json!({
            "SYSLOG_IDENTIFIER": "postfix/smtp",
            "MESSAGE": DEFERRED.split_once("]: ").unwrap().1,
            "__REALTIME_TIMESTAMP": "1796160000000000",
        })
        .to_string();
        let d = parse_line(&entry).unwrap();
        assert_eq!(d.status, Status::Deferred);
        assert_eq!(
            d.at,
            Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_796_160_000))
        );
        let t = syslog_time("2026-12-01T21:39:45.123456+00:00 mx").unwrap();
        assert_eq!(
            humantime::format_rfc3339_seconds(t).to_string(),
            "2026-12-01T21:39:45Z"
        );
    }
}
