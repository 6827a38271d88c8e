//! What Postfix's real deliveries say: each attempt classified with the
//! same classifier as `explain`, counted per relay (for `ses-probe
//! postfix-report`) or per target (for the exporter).

use std::collections::BTreeMap;
use std::io::Read;

use serde::Serialize;

use super::follow::LineSplitter;
use super::log::{parse_line, Delivery, Status};
use crate::diagnosis::{classify_text, Class};

/// The class of a delivery attempt: `ok` when it was sent, else what the
/// line says.
pub fn classify(d: &Delivery, line: &str) -> Class {
    match d.status {
        Status::Sent => Class::Ok,
        _ => {
            let (class, _) = classify_text(line, None);
            // A line that reports a failure is never `ok`, whatever the
            // classifier makes of its text.
            if class == Class::Ok {
                Class::Unknown
            } else {
                class
            }
        }
    }
}

/// Which configured target a relay belongs to: by host name (and port,
/// when both sides know it).
#[derive(Clone, Debug, Default)]
pub struct Router {
    targets: Vec<(String, String, u16)>,
}

impl Router {
    /// `(target name, relay host, port)` for each target with SMTP.
    pub fn new(targets: Vec<(String, String, u16)>) -> Router {
        Router { targets }
    }

    pub fn target_of(&self, d: &Delivery) -> Option<&str> {
        let (host, port) = d.relay();
        self.targets
            .iter()
            .find(|(_, h, p)| h.eq_ignore_ascii_case(&host) && port.is_none_or(|port| port == *p))
            .map(|(name, _, _)| name.as_str())
    }
}

/// One row of a log summary.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub relay: String,
    pub status: &'static str,
    pub class: Class,
    pub count: u64,
    /// The first line of this kind, as a sample.
    pub sample: String,
}

/// A log summarised: deliveries per relay, status and class.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub lines: u64,
    pub deliveries: u64,
    pub rows: Vec<Row>,
}

impl Summary {
    /// Read a whole log (file or stdin) with bounded memory: one line at a
    /// time, and one row per (relay, status, class).
    pub fn read(mut input: impl Read) -> std::io::Result<Summary> {
        let mut rows: BTreeMap<(String, Status, Class), Row> = BTreeMap::new();
        let mut summary = Summary::default();
        let mut lines = LineSplitter::default();
        let mut chunk = vec![0u8; 64 * 1024];
        let mut handle = |line: &str| {
            summary.lines += 1;
            let Some(d) = parse_line(line) else { return };
            summary.deliveries += 1;
            let (host, port) = d.relay();
            let relay = match port {
                Some(p) => format!("{host}:{p}"),
                None => host,
            };
            let class = classify(&d, line);
            rows.entry((relay.clone(), d.status, class))
                .or_insert_with(|| Row {
                    relay,
                    status: d.status.as_str(),
                    class,
                    count: 0,
                    sample: crate::text::truncate(line, 1000),
                })
                .count += 1;
        };
        let mut partial = false;
        loop {
            let n = match input.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            partial = chunk[n - 1] != b'\n';
            lines.feed(&chunk[..n], &mut handle);
        }
        // A last line without its newline still counts.
        if partial {
            lines.feed(b"\n", &mut handle);
        }
        summary.rows = rows.into_values().collect();
        Ok(summary)
    }

    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{} line(s), {} delivery attempt(s)\n",
            self.lines, self.deliveries
        );
        for r in &self.rows {
            out.push_str(&format!(
                "\n{}  {}  {}  x{}\n  {}\n",
                crate::text::escape_controls(&r.relay),
                r.status,
                r.class,
                r.count,
                crate::text::escape_controls(&r.sample)
            ));
        }
        out
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("summary serialises")
    }
}

/// How much of a log file's end `--once` reads: a day of a busy relay.
pub const RECENT_TAIL: u64 = 64 << 20;

/// Real deliveries of one target's relay in the recent window.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TargetDeliveries {
    pub target: String,
    pub sent: u64,
    pub deferred: u64,
    pub bounced: u64,
    /// Failed attempts per class.
    pub classes: BTreeMap<String, u64>,
    /// The most recent failure line, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<String>,
}

/// `--once`'s summary of Postfix's log over the last `window`.
#[derive(Clone, Debug, Serialize)]
pub struct Recent {
    pub source: String,
    pub window_seconds: u64,
    /// Why the log could not be read, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub targets: Vec<TargetDeliveries>,
}

impl Recent {
    /// Read the window's deliveries from `source` (at most [`RECENT_TAIL`]
    /// bytes of a file's end; the journal through `journalctl --since`).
    pub fn read(
        source: &super::follow::LogSource,
        window: std::time::Duration,
        router: &Router,
    ) -> Recent {
        let since = std::time::SystemTime::now() - window;
        let mut recent = Recent {
            source: source.to_string(),
            window_seconds: window.as_secs(),
            error: None,
            targets: Vec::new(),
        };
        let mut per: BTreeMap<String, TargetDeliveries> = BTreeMap::new();
        let mut handle = |line: &str| {
            let Some(d) = parse_line(line) else { return };
            if d.at.is_some_and(|t| t < since) {
                return;
            }
            let Some(target) = router.target_of(&d) else {
                return;
            };
            let t = per
                .entry(target.to_owned())
                .or_insert_with(|| TargetDeliveries {
                    target: target.to_owned(),
                    ..TargetDeliveries::default()
                });
            match d.status {
                Status::Sent => t.sent += 1,
                Status::Deferred => t.deferred += 1,
                Status::Bounced => t.bounced += 1,
            }
            if d.status != Status::Sent {
                *t.classes
                    .entry(classify(&d, line).as_str().to_owned())
                    .or_default() += 1;
                t.last_failure = Some(crate::text::truncate(line, 1000));
            }
        };
        let result = match source {
            super::follow::LogSource::File(path) => read_tail(path, &mut handle),
            super::follow::LogSource::Journal { unit } => {
                read_journal_since(unit.as_deref(), since, &mut handle)
            }
        };
        if let Err(e) = result {
            recent.error = Some(e);
        }
        recent.targets = per.into_values().collect();
        recent
    }
}

/// Feed the lines of the last [`RECENT_TAIL`] bytes of a regular file.
fn read_tail(path: &std::path::Path, each: &mut dyn FnMut(&str)) -> Result<(), String> {
    use std::io::{Seek, SeekFrom};
    let shown = path.display();
    let mut file = std::fs::File::open(path).map_err(|e| format!("{shown}: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("{shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown}: not a regular file"));
    }
    let start = meta.len().saturating_sub(RECENT_TAIL);
    file.seek(SeekFrom::Start(start))
        .map_err(|e| format!("{shown}: {e}"))?;
    let mut lines = LineSplitter::default();
    // Starting inside a line: drop the partial first line.
    let mut skip_first = start > 0;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut chunk).map_err(|e| format!("{shown}: {e}"))?;
        if n == 0 {
            break;
        }
        lines.feed(&chunk[..n], |l| {
            if skip_first {
                skip_first = false;
            } else {
                each(l);
            }
        });
    }
    Ok(())
}

/// `journalctl --since` for the SMTP client's entries, bounded in time
/// (10 s) and size ([`RECENT_TAIL`]).
fn read_journal_since(
    unit: Option<&str>,
    since: std::time::SystemTime,
    each: &mut dyn FnMut(&str),
) -> Result<(), String> {
    let epoch = since
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut cmd = std::process::Command::new("journalctl");
    cmd.args(["--output=json", "--no-pager", &format!("--since=@{epoch}")]);
    if let Some(u) = unit {
        cmd.arg(format!("--unit={u}"));
    }
    cmd.args([
        "SYSLOG_IDENTIFIER=postfix/smtp",
        "SYSLOG_IDENTIFIER=postfix/relay",
    ]);
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run journalctl: {e}"))?;
    // Killed after 10 s, unless it ended first (then the pid may already
    // belong to another process, so the killer is told before it acts).
    let pid = child.id();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let killer = std::thread::spawn(move || {
        if done_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .is_err()
        {
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .stderr(std::process::Stdio::null())
                .status();
        }
    });
    let mut out = child
        .stdout
        .take()
        .ok_or("no journalctl output")?
        .take(RECENT_TAIL);
    let mut lines = LineSplitter::default();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = out.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        lines.feed(&chunk[..n], &mut *each);
    }
    drop(out);
    let status = child.wait();
    let _ = done_tx.send(());
    let _ = killer.join();
    let status = status.map_err(|e| e.to_string())?;
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = (&mut e).take(4096).read_to_string(&mut err);
        }
        return Err(format!("journalctl failed ({status}): {}", err.trim()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_per_relay_status_and_class() {
        let log = "\
Dec 01 21:39:45 mx postfix/pickup[1]: 0A: uid=0 from=<a@example.com>
Dec 01 21:39:45 mx postfix/smtp[2]: 0A: to=<r@example.net>, relay=email-smtp.eu-west-1.amazonaws.com[52.0.0.1]:587, delay=0.06, delays=0.03/0.02/0.01/0, dsn=2.0.0, status=sent (250 Ok 0100)
Dec 01 21:39:46 mx postfix/smtp[2]: 0B: to=<r@example.net>, relay=email-smtp.eu-west-1.amazonaws.com[52.0.0.1]:587, delay=0.06, delays=0.03/0.02/0.01/0, dsn=2.0.0, status=sent (250 Ok 0101)
Dec 01 21:39:47 mx postfix/smtp[3]: 0C: to=<r@example.net>, relay=email-smtp.eu-west-1.amazonaws.com[52.0.0.1]:587, delay=0.07, delays=0.02/0.04/0/0, dsn=4.0.0, status=deferred (SASL authentication failed; server email-smtp.eu-west-1.amazonaws.com[52.0.0.1] said: 535 Authentication Credentials Invalid)
";
        let s = Summary::read(log.as_bytes()).unwrap();
        assert_eq!((s.lines, s.deliveries), (4, 3));
        assert_eq!(s.rows.len(), 2);
        let sent = s.rows.iter().find(|r| r.status == "sent").unwrap();
        assert_eq!((sent.count, sent.class), (2, Class::Ok));
        let deferred = s.rows.iter().find(|r| r.status == "deferred").unwrap();
        assert_eq!(deferred.class, Class::AuthCredentialsInvalid);
        assert_eq!(deferred.relay, "email-smtp.eu-west-1.amazonaws.com:587");
    }
}
