//! Following Postfix's log: a file (rotation and truncation handled) or
//! the journal (`journalctl --follow --output=json`).
//!
//! The follower runs on a thread of its own, so reading a slow disk or a
//! stalled journal never holds up a probe or a scrape; it hands each
//! delivery to a sink and says whether it is reading. Memory is bounded
//! whatever the log holds: one line buffer of at most
//! [`super::log::MAX_LINE`] bytes and one read chunk.
//!
//! A file is read from its end when the follower starts (history is what
//! `ses-probe postfix-report` is for), then line by line. When the path
//! names a new file (rotation: another inode), the rest of the old one is
//! read and the new one is read from its start; when the file shrinks
//! (truncation: `copytruncate`), reading starts again at its start. A
//! missing file is waited for, and reported as not being read.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::log::{parse_line, Delivery, MAX_LINE};

/// Where Postfix's log is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogSource {
    /// A log file such as `/var/log/mail.log` (or Postfix's `maillog_file`).
    File(PathBuf),
    /// The systemd journal, optionally one unit's entries only.
    Journal { unit: Option<String> },
}

impl std::fmt::Display for LogSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogSource::File(p) => write!(f, "{}", p.display()),
            LogSource::Journal { unit: Some(u) } => write!(f, "journal (unit {u})"),
            LogSource::Journal { unit: None } => f.write_str("journal"),
        }
    }
}

/// What the follower reports besides deliveries.
pub trait Sink: Send + Sync + 'static {
    fn delivery(&self, delivery: Delivery, line: &str);
    /// Whether the log is being read now; `why` says what is wrong if not.
    fn reading(&self, reading: bool, why: Option<String>);
}

/// A running follower; stops (and reaps `journalctl`) when dropped.
pub struct Follower {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How often a file at its end is looked at again.
const POLL: Duration = Duration::from_millis(250);
/// How long to wait before trying a missing file or a failed journal again.
const RETRY: Duration = Duration::from_secs(5);

impl Follower {
    pub fn spawn(source: LogSource, sink: Arc<dyn Sink>) -> std::io::Result<Follower> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("postfix-log".into())
            .spawn(move || match source {
                LogSource::File(path) => follow_file(&path, &*sink, &flag),
                LogSource::Journal { unit } => follow_journal(unit.as_deref(), &*sink, &flag),
            })?;
        Ok(Follower {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sleep `d` in small steps, returning early (true) when asked to stop.
fn nap(d: Duration, stop: &AtomicBool) -> bool {
    let step = Duration::from_millis(50);
    let mut left = d;
    while !left.is_zero() {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        let s = left.min(step);
        std::thread::sleep(s);
        left -= s;
    }
    stop.load(Ordering::Relaxed)
}

/// Splits bytes into lines with a bounded buffer: a line longer than
/// [`MAX_LINE`] is dropped whole.
#[derive(Default)]
pub struct LineSplitter {
    buf: Vec<u8>,
    overlong: bool,
}

impl LineSplitter {
    /// Feed bytes; `each` gets every complete line.
    pub fn feed(&mut self, mut bytes: &[u8], mut each: impl FnMut(&str)) {
        while !bytes.is_empty() {
            match bytes.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    if !self.overlong && self.buf.len() + i <= MAX_LINE {
                        self.buf.extend_from_slice(&bytes[..i]);
                        let line = String::from_utf8_lossy(&self.buf);
                        each(line.trim_end_matches('\r'));
                    }
                    self.buf.clear();
                    self.overlong = false;
                    bytes = &bytes[i + 1..];
                }
                None => {
                    if self.buf.len() + bytes.len() > MAX_LINE {
                        self.buf.clear();
                        self.overlong = true;
                    } else if !self.overlong {
                        self.buf.extend_from_slice(bytes);
                    }
                    bytes = &[];
                }
            }
        }
    }

    /// Forget a partial line (the file it came from is gone).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.overlong = false;
    }
}

struct Open {
    file: File,
    inode: u64,
    pos: u64,
}

fn follow_file(path: &std::path::Path, sink: &dyn Sink, stop: &AtomicBool) {
    let mut open: Option<Open> = None;
    let mut lines = LineSplitter::default();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut first = true;
    let mut reported: Option<bool> = None;
    let mut report = |reading: bool, why: Option<String>| {
        if reported != Some(reading) {
            sink.reading(reading, why);
            reported = Some(reading);
        }
    };
    while !stop.load(Ordering::Relaxed) {
        let Some(o) = open.as_mut() else {
            match File::open(path).and_then(|f| {
                let meta = f.metadata()?;
                if !meta.is_file() {
                    return Err(std::io::Error::other("not a regular file"));
                }
                Ok((f, meta))
            }) {
                Ok((mut file, meta)) => {
                    // The first file is read from its end; a file that
                    // appears later (after rotation or creation) from its
                    // start.
                    let pos = if first { meta.len() } else { 0 };
                    if file.seek(SeekFrom::Start(pos)).is_ok() {
                        open = Some(Open {
                            file,
                            inode: meta.ino(),
                            pos,
                        });
                        report(true, None);
                    }
                }
                Err(e) => {
                    report(false, Some(format!("{}: {e}", path.display())));
                    if nap(RETRY, stop) {
                        return;
                    }
                }
            }
            first = false;
            continue;
        };
        match o.file.read(&mut chunk) {
            Ok(0) => {
                // At the end: has the path been rotated or truncated?
                match std::fs::metadata(path) {
                    Ok(meta) if meta.ino() != o.inode => {
                        lines.reset();
                        open = None;
                        continue;
                    }
                    Ok(meta) if meta.len() < o.pos => {
                        lines.reset();
                        o.pos = 0;
                        let _ = o.file.seek(SeekFrom::Start(0));
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        // Removed and not (yet) replaced: keep what is
                        // open, and look again.
                        report(false, Some(format!("{}: {e}", path.display())));
                        lines.reset();
                        open = None;
                    }
                }
                if nap(POLL, stop) {
                    return;
                }
            }
            Ok(n) => {
                o.pos += n as u64;
                lines.feed(&chunk[..n], |line| {
                    if let Some(d) = parse_line(line) {
                        sink.delivery(d, line);
                    }
                });
            }
            Err(e) => {
                report(false, Some(format!("{}: {e}", path.display())));
                open = None;
                if nap(RETRY, stop) {
                    return;
                }
            }
        }
    }
}

/// `journalctl --follow`, restarted (after a pause) whenever it ends.
fn follow_journal(unit: Option<&str>, sink: &dyn Sink, stop: &Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        match spawn_journalctl(unit) {
            Ok(mut child) => {
                sink.reading(true, None);
                read_journal(&mut child, sink, stop);
                let _ = child.kill();
                let _ = child.wait();
                if !stop.load(Ordering::Relaxed) {
                    sink.reading(false, Some("journalctl ended".into()));
                }
            }
            Err(e) => sink.reading(false, Some(format!("cannot run journalctl: {e}"))),
        }
        if nap(RETRY, stop) {
            return;
        }
    }
}

fn spawn_journalctl(unit: Option<&str>) -> std::io::Result<Child> {
    let mut cmd = Command::new("journalctl");
    cmd.args(["--follow", "--lines=0", "--output=json", "--no-pager"]);
    if let Some(u) = unit {
        cmd.arg(format!("--unit={u}"));
    }
    // The SMTP client under its usual service names.
    cmd.args([
        "SYSLOG_IDENTIFIER=postfix/smtp",
        "SYSLOG_IDENTIFIER=postfix/relay",
    ]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
}

fn read_journal(child: &mut Child, sink: &dyn Sink, stop: &Arc<AtomicBool>) {
    let Some(stdout) = child.stdout.take() else {
        return;
    };
    // A blocking read cannot see the stop flag: a watcher kills the child
    // when asked to stop, which ends the read.
    let pid = child.id();
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (done, stop) = (done.clone(), stop.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if stop.load(Ordering::Relaxed) {
                    let _ = Command::new("kill").arg(pid.to_string()).status();
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let mut reader = BufReader::new(stdout);
    let mut lines = LineSplitter::default();
    loop {
        let buf = match reader.fill_buf() {
            Ok([]) | Err(_) => break,
            Ok(b) => b,
        };
        let n = buf.len();
        lines.feed(buf, |line| {
            if let Some(d) = parse_line(line) {
                sink.delivery(d, line);
            }
        });
        reader.consume(n);
    }
    done.store(true, Ordering::Relaxed);
    let _ = watcher.join();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Collect {
        got: Mutex<Vec<String>>,
        reading: Mutex<Vec<bool>>,
    }

    impl Sink for Collect {
        fn delivery(&self, d: Delivery, _line: &str) {
            self.got.lock().unwrap().push(d.queue_id);
        }
        fn reading(&self, reading: bool, _why: Option<String>) {
            self.reading.lock().unwrap().push(reading);
        }
    }

    fn line(qid: &str) -> String {
        format!("Dec 01 21:39:45 mx postfix/smtp[1]: {qid}: to=<r@example.net>, relay=localhost[127.0.0.1]:2587, delay=0.06, delays=0.03/0.02/0.01/0, dsn=2.0.0, status=sent (250 Ok)\n")
    }

    fn wait_for(c: &Collect, n: usize) -> Vec<String> {
        for _ in 0..100 {
            let got = c.got.lock().unwrap().clone();
            if got.len() >= n {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        c.got.lock().unwrap().clone()
    }

    #[test]
    fn follows_appends_rotation_and_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mail.log");
        std::fs::write(&path, line("OLD1")).unwrap();
        let sink = Arc::new(Collect::default());
        let follower = Follower::spawn(LogSource::File(path.clone()), sink.clone()).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(line("A1").as_bytes()).unwrap();
        // A line split across two writes is one line.
        let l = line("A2");
        f.write_all(&l.as_bytes()[..20]).unwrap();
        f.flush().unwrap();
        std::thread::sleep(Duration::from_millis(400));
        f.write_all(&l.as_bytes()[20..]).unwrap();
        assert_eq!(wait_for(&sink, 2), vec!["A1", "A2"]);
        // Rotation: the old file moves away, a new one takes the path.
        f.write_all(line("A3").as_bytes()).unwrap();
        std::fs::rename(&path, dir.path().join("mail.log.1")).unwrap();
        std::fs::write(&path, line("B1")).unwrap();
        assert_eq!(wait_for(&sink, 4), vec!["A1", "A2", "A3", "B1"]);
        // Truncation in place (copytruncate), then new lines.
        std::fs::write(&path, "").unwrap();
        std::thread::sleep(Duration::from_millis(600));
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(line("C1").as_bytes()).unwrap();
        assert_eq!(wait_for(&sink, 5), vec!["A1", "A2", "A3", "B1", "C1"]);
        drop(follower);
        assert_eq!(sink.reading.lock().unwrap().first(), Some(&true));
    }

    #[test]
    fn a_missing_file_is_reported_and_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mail.log");
        let sink = Arc::new(Collect::default());
        let follower = Follower::spawn(LogSource::File(path.clone()), sink.clone()).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(*sink.reading.lock().unwrap(), vec![false]);
        drop(follower);
    }

    #[test]
    fn overlong_lines_are_dropped_whole() {
        let mut s = LineSplitter::default();
        let mut got = Vec::new();
        let long = "x".repeat(MAX_LINE + 10);
        s.feed(format!("{long}\nshort\n").as_bytes(), |l| {
            got.push(l.to_owned())
        });
        assert_eq!(got, vec!["short"]);
        assert!(s.buf.capacity() <= 2 * MAX_LINE + 64 * 1024);
    }
}
