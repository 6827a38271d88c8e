//! Hostile peers and hostile inputs: clients that pin the exporter's HTTP
//! server, SMTP and AWS endpoints that drip, flood, never finish or lie,
//! and the configurations a red team tried. Each test asserts the class
//! (or the refusal), a time bound, and where it matters that no credential
//! left before TLS and that memory stayed bounded.
//!
//! Cases already covered elsewhere are not repeated here: oversized and
//! garbage SMTP replies, bytes injected after STARTTLS's 220 in the same
//! segment, expired / untrusted / wrong-host certificates
//! (`tests/smtp.rs`); silent AWS endpoints (`tests/aws.rs`); `| head -c1`
//! and Latin-1 input to `explain` (`tests/cli.rs`).
//!
//! Everything listens on 127.0.0.1 only, every loop and thread is bounded
//! in time, and every peer stops when its handle is dropped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ses_probe::diagnosis::Class;
use ses_probe::outcome::{CheckKind, Outcome};

use crate::support::fake_aws::{FakeAws, Reply};
use crate::support::http::metric;
use crate::support::{run_in, write_file};

const USER: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// A well-formed SMTP password (never accepted by any peer here).
const SMTP_PASSWORD: &str = "BMXhUYlu5Z3gSXVQORxlVa7XPaz91aGWdfHxvkOZdWZ2";
/// The peak resident set size the binary must stay under against floods.
const MEMORY_BOUND_KIB: u64 = 64 * 1024;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 GET with `Connection: close`; `None` on any failure.
fn try_get(addr: SocketAddr, path: &str, limit: Duration) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, limit).ok()?;
    s.set_read_timeout(Some(limit)).ok()?;
    s.set_write_timeout(Some(limit)).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// Peak resident set size (VmHWM) of a live process, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The binary as a daemon listening on a port of its own, with a config
/// of `targets`; returns once `/healthz` answers.
struct Exporter {
    child: std::process::Child,
    pid: u32,
    addr: SocketAddr,
    path: PathBuf,
    _dir: tempfile::TempDir,
}

fn daemon_config(dir: &Path, port: u16, targets: &str) -> PathBuf {
    write_file(
        dir,
        "ses-probe.toml",
        &format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\nstate_directory = {:?}\n{targets}",
            dir.display().to_string()
        ),
    )
}

impl Exporter {
    fn start(targets: &str) -> Exporter {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let path = daemon_config(dir.path(), port, targets);
        let child = crate::support::command(&["run", "--config", path.to_str().unwrap()], &[])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn ses-probe run");
        let pid = child.id();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let end = Instant::now() + Duration::from_secs(15);
        while try_get(addr, "/healthz", Duration::from_secs(1)).map(|r| r.0) != Some(200) {
            assert!(Instant::now() < end, "the daemon never answered /healthz");
            std::thread::sleep(Duration::from_millis(50));
        }
        Exporter {
            child,
            pid,
            addr,
            path,
            _dir: dir,
        }
    }

    fn metrics(&self) -> String {
        try_get(self.addr, "/metrics", Duration::from_secs(5))
            .map(|r| r.1)
            .unwrap_or_default()
    }

    /// Wait until `series` satisfies `pred` (bounded).
    fn wait_metric(&self, series: &str, limit: Duration, pred: impl Fn(f64) -> bool) -> f64 {
        let end = Instant::now() + limit;
        loop {
            if let Some(v) = metric(&self.metrics(), series).filter(|v| pred(*v)) {
                return v;
            }
            assert!(
                Instant::now() < end,
                "{series} never matched; last scrape:\n{}",
                self.metrics()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn peak_rss_kib(&self) -> u64 {
        peak_rss_kib(self.pid).expect("the daemon is running")
    }

    /// Send a signal (`HUP`, `TERM`) with kill(1).
    fn signal(&self, name: &str) {
        let ok = std::process::Command::new("kill")
            .args([&format!("-{name}"), &self.pid.to_string()])
            .status()
            .expect("kill(1)")
            .success();
        assert!(ok, "kill -{name} failed");
    }

    /// The exit status, if the daemon exits within `limit`.
    fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return Some(status);
            }
            if Instant::now() > end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A target that fails locally at once (its SMTP password is a secret
/// key), so the daemon has results without touching the network.
fn local_target(name: &str) -> String {
    format!(
        "[[target]]\nname = \"{name}\"\nregion = \"eu-west-1\"\n[target.smtp]\nhost = \"127.0.0.1\"\nport = 9\nusername = \"{USER}\"\npassword = \"{SECRET_KEY}\"\ninterval = \"60s\"\n"
    )
}

/// Something running on threads of its own until dropped (and for two
/// minutes at most).
struct Background {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Background {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn background(f: impl FnOnce(Arc<AtomicBool>) + Send + 'static) -> Background {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let thread = std::thread::spawn(move || f(s));
    Background {
        stop,
        threads: vec![thread],
    }
}

/// Sleep `d` unless `stop` turns true meanwhile; false when stopped.
fn nap(stop: &AtomicBool, d: Duration) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10).min(d));
    }
    !stop.load(Ordering::Relaxed)
}

/// A raw TCP peer on 127.0.0.1: `talk` plays the hostile side of each
/// connection on a thread of its own; everything the client sends is
/// recorded.
struct RawPeer {
    port: u16,
    received: Arc<Mutex<Vec<u8>>>,
    _bg: Background,
}

impl RawPeer {
    fn start(talk: impl Fn(&mut TcpStream, &AtomicBool) + Send + Sync + 'static) -> RawPeer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let rec = received.clone();
        let talk = Arc::new(talk);
        let bg = background(move |stop| {
            let end = Instant::now() + Duration::from_secs(120);
            let mut conns = Vec::new();
            while !stop.load(Ordering::Relaxed) && Instant::now() < end {
                let Ok((mut s, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                s.set_nonblocking(false).unwrap();
                let (talk, stop, rec) = (talk.clone(), stop.clone(), rec.clone());
                let mut reader = s.try_clone().unwrap();
                let reader_stop = stop.clone();
                conns.push(std::thread::spawn(move || {
                    reader
                        .set_read_timeout(Some(Duration::from_millis(100)))
                        .unwrap();
                    let mut buf = [0u8; 4096];
                    while !reader_stop.load(Ordering::Relaxed) {
                        match reader.read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => rec.lock().unwrap().extend_from_slice(&buf[..n]),
                            Err(e)
                                if matches!(
                                    e.kind(),
                                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                                ) => {}
                            Err(_) => break,
                        }
                    }
                }));
                conns.push(std::thread::spawn(move || {
                    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
                    talk(&mut s, &stop);
                }));
            }
            stop.store(true, Ordering::Relaxed);
            for c in conns {
                let _ = c.join();
            }
        });
        RawPeer {
            port,
            received,
            _bg: bg,
        }
    }

    fn received(&self) -> String {
        String::from_utf8_lossy(&self.received.lock().unwrap()).into_owned()
    }

    /// No credential crossed the wire in clear: no AUTH command, and not
    /// the password nor its base64 forms.
    fn assert_no_credentials(&self) {
        let seen = self.received();
        assert!(!seen.to_ascii_uppercase().contains("AUTH"), "{seen:?}");
        assert!(!seen.contains(SMTP_PASSWORD), "{seen:?}");
        assert!(!seen.contains(SECRET_KEY), "{seen:?}");
    }
}

/// Write `bytes` one at a time every `every`; false when the client left.
fn drip(s: &mut TcpStream, stop: &AtomicBool, bytes: &[u8], every: Duration) -> bool {
    for b in bytes {
        if s.write_all(&[*b]).is_err() || !nap(stop, every) {
            return false;
        }
    }
    true
}

/// Keep the connection open, silent, until the client or the test leaves.
fn hold(stop: &AtomicBool) {
    nap(stop, Duration::from_secs(60));
}

/// The SMTP target of a test against a raw peer, as the library sees it.
fn smtp_target(port: u16, timeout: &str) -> ses_probe::config::Target {
    let text = format!(
        "[[target]]\nname = \"hostile\"\nregion = \"us-east-1\"\n[target.smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"starttls\"\ntls_server_name = \"localhost\"\nusername = \"{USER}\"\npassword = \"{SMTP_PASSWORD}\"\ntimeout = \"{timeout}\"\n"
    );
    let env = ses_probe::config::Env::from_pairs::<[(&str, &str); 0], _, _>([]);
    let plan = ses_probe::config::parse(&text, "test", &env).unwrap_or_else(|e| panic!("{e}"));
    std::sync::Arc::unwrap_or_clone(plan.targets.into_iter().next().unwrap())
}

/// Run the SMTP check against `port`, bounded; returns the outcome and
/// the wall time.
fn smtp_check(port: u16, timeout: &str) -> (Outcome, Duration) {
    timed_check(&smtp_target(port, timeout), CheckKind::Smtp)
}

/// Run the `kind` check of `target` through the scheduler's guard,
/// bounded; returns the outcome and the wall time.
fn timed_check(target: &ses_probe::config::Target, kind: CheckKind) -> (Outcome, Duration) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let o = rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(30),
            ses_probe::scheduler::run_check(target, target.check(kind).unwrap()),
        )
        .await
        .expect("the check hung")
    });
    (o, started.elapsed())
}

fn class_and_phase(o: &Outcome) -> (Class, String) {
    assert!(!o.success, "{o:#?}");
    let f = o.primary_finding().expect("a finding");
    (f.class, f.details.phase.clone().unwrap_or_default())
}

// ---------------------------------------------------------------------------
// The exporter's HTTP server under slowloris, idle keep-alives and floods
// ---------------------------------------------------------------------------

/// `n` clients that each send part of a request head, then a byte every
/// 100 ms, never finishing it; a client whose connection is closed
/// reconnects and starts again.
fn slowloris(addr: SocketAddr, n: usize) -> Background {
    background(move |stop| {
        let end = Instant::now() + Duration::from_secs(90);
        let mut socks: Vec<Option<TcpStream>> = (0..n).map(|_| None).collect();
        while !stop.load(Ordering::Relaxed) && Instant::now() < end {
            for slot in socks.iter_mut() {
                let alive = match slot {
                    Some(s) => s.write_all(b"a").is_ok(),
                    None => false,
                };
                if !alive {
                    *slot = TcpStream::connect_timeout(&addr, Duration::from_secs(1))
                        .ok()
                        .filter(|s| {
                            let mut s = s;
                            s.write_all(b"GET /metrics HTTP/1.1\r\nX-Slow: ").is_ok()
                        });
                }
            }
            nap(&stop, Duration::from_millis(100));
        }
    })
}

/// `n` clients that each make one keep-alive request, read the answer and
/// then sit idle on the connection; reconnecting whenever it is closed.
fn idle_keepalives(addr: SocketAddr, n: usize) -> Background {
    background(move |stop| {
        let end = Instant::now() + Duration::from_secs(90);
        let mut socks: Vec<Option<TcpStream>> = (0..n).map(|_| None).collect();
        while !stop.load(Ordering::Relaxed) && Instant::now() < end {
            for slot in socks.iter_mut() {
                let alive = match slot {
                    // Closed by the server: reading finds EOF at once.
                    Some(s) => {
                        s.set_nonblocking(true).ok();
                        let mut b = [0u8; 1];
                        matches!(s.read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
                    }
                    None => false,
                };
                if !alive {
                    *slot = TcpStream::connect_timeout(&addr, Duration::from_secs(1))
                        .ok()
                        .filter(|s| {
                            let mut s = s;
                            s.set_read_timeout(Some(Duration::from_secs(1))).ok();
                            let mut b = [0u8; 4096];
                            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                                .is_ok()
                                && s.read(&mut b).is_ok_and(|n| n > 0)
                        });
                }
            }
            nap(&stop, Duration::from_millis(100));
        }
    })
}

/// Connections opened as fast as they are accepted and held without a
/// byte, at most `n` at a time, the oldest dropped for a new one.
fn connection_flood(addr: SocketAddr, n: usize) -> Background {
    background(move |stop| {
        let end = Instant::now() + Duration::from_secs(90);
        let mut held = std::collections::VecDeque::new();
        while !stop.load(Ordering::Relaxed) && Instant::now() < end {
            if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
                held.push_back(s);
            }
            if held.len() > n {
                held.pop_front();
            }
        }
    })
}

/// 20 consecutive scrapes, each a 200 within 1 s.
fn assert_scrapes_answer(addr: SocketAddr, what: &str) -> Duration {
    let mut slowest = Duration::ZERO;
    for i in 0..20 {
        let started = Instant::now();
        let got = try_get(addr, "/metrics", Duration::from_secs(2));
        let took = started.elapsed();
        assert_eq!(
            got.as_ref().map(|r| r.0),
            Some(200),
            "{what}: scrape {i} failed after {took:?}"
        );
        assert!(
            got.unwrap().1.contains("ses_probe_build_info"),
            "{what}: scrape {i}"
        );
        assert!(
            took < Duration::from_secs(1),
            "{what}: scrape {i} took {took:?}"
        );
        slowest = slowest.max(took);
    }
    slowest
}

/// The acceptance test of the slowloris fix: with 150 slow clients holding
/// (and re-taking) connections, 20 scrapes in a row each answer 200 within
/// a second; likewise under a flood of idle keep-alive connections and
/// under a connection flood. The daemon's memory stays bounded throughout.
#[test]
fn scrapes_answer_under_slowloris_idle_keepalives_and_floods() {
    let e = Exporter::start(&local_target("relay"));
    {
        let attack = slowloris(e.addr, 150);
        // Let the slow clients take every slot first.
        std::thread::sleep(Duration::from_millis(800));
        assert!(!attack.stopped());
        let slowest = assert_scrapes_answer(e.addr, "slowloris");
        eprintln!("slowloris: slowest scrape {slowest:?}");
    }
    {
        let _attack = idle_keepalives(e.addr, 150);
        std::thread::sleep(Duration::from_millis(800));
        let slowest = assert_scrapes_answer(e.addr, "idle keep-alives");
        eprintln!("idle keep-alives: slowest scrape {slowest:?}");
    }
    {
        let _attack = connection_flood(e.addr, 300);
        std::thread::sleep(Duration::from_millis(500));
        let slowest = assert_scrapes_answer(e.addr, "connection flood");
        eprintln!("connection flood: slowest scrape {slowest:?}");
    }
    {
        // All three at once.
        let _a = slowloris(e.addr, 100);
        let _b = idle_keepalives(e.addr, 100);
        let _c = connection_flood(e.addr, 100);
        std::thread::sleep(Duration::from_millis(800));
        assert_scrapes_answer(e.addr, "all at once");
    }
    let rss = e.peak_rss_kib();
    eprintln!("daemon peak RSS after the floods: {rss} KiB");
    assert!(rss < MEMORY_BOUND_KIB, "peak RSS {rss} KiB");
}

/// A client that never completes its head, and a keep-alive connection
/// left idle after a response, are both closed after the header timeout
/// (2 s), not the old 5 s.
#[test]
fn slow_heads_and_idle_keepalives_are_closed_after_the_header_timeout() {
    let e = Exporter::start(&local_target("relay"));
    let timeout = ses_probe::http::HEADER_TIMEOUT;
    let mut slow = TcpStream::connect(e.addr).unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut idle = TcpStream::connect(e.addr).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    for (what, s) in [("slow head", &mut slow), ("idle keep-alive", &mut idle)] {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut all = Vec::new();
        let _ = s.read_to_end(&mut all);
        let took = started.elapsed();
        assert!(
            took >= timeout - Duration::from_millis(200) && took < timeout * 2,
            "{what}: closed after {took:?}"
        );
        let text = String::from_utf8_lossy(&all);
        if what == "idle keep-alive" {
            assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        } else {
            assert!(!text.contains("200 OK"), "{text}");
        }
    }
}

// ---------------------------------------------------------------------------
// Hostile SMTP peers
// ---------------------------------------------------------------------------

/// A banner dripped a byte every 100 ms: each byte comes well within the
/// timeout, but the phase as a whole is bounded by it.
#[test]
fn dripped_banner_times_out_in_its_phase() {
    let peer = RawPeer::start(|s, stop| {
        let banner = format!("220 {}\r\n", "x".repeat(200));
        if drip(s, stop, banner.as_bytes(), Duration::from_millis(100)) {
            hold(stop);
        }
    });
    let (o, wall) = smtp_check(peer.port, "1s");
    assert_eq!(
        class_and_phase(&o),
        (Class::Timeout, "banner".into()),
        "{o:#?}"
    );
    assert!(wall < Duration::from_millis(1500), "took {wall:?}");
    peer.assert_no_credentials();
}

/// An endless multiline reply (`220-` forever) is cut at the reply bound
/// (64 KiB), not buffered until the peer stops.
#[test]
fn endless_multiline_reply_is_cut_at_the_bound() {
    let peer = RawPeer::start(|s, stop| {
        let line = format!("220-{}\r\n", "y".repeat(70));
        let end = Instant::now() + Duration::from_secs(20);
        while !stop.load(Ordering::Relaxed) && Instant::now() < end {
            if s.write_all(line.as_bytes()).is_err() {
                return;
            }
        }
    });
    let (o, wall) = smtp_check(peer.port, "2s");
    assert_eq!(
        class_and_phase(&o),
        (Class::SmtpProtocolError, "banner".into()),
        "{o:#?}"
    );
    assert!(o.findings[0].message.contains("65536"), "{o:#?}");
    assert!(wall < Duration::from_secs(2), "took {wall:?}");
    peer.assert_no_credentials();
}

/// A multiline reply that never ends (continuation lines, then silence)
/// times out in its phase.
#[test]
fn unfinished_multiline_reply_times_out() {
    let peer = RawPeer::start(|s, stop| {
        if s.write_all(b"220-email-smtp.amazonaws.com\r\n220-still going\r\n")
            .is_ok()
        {
            hold(stop);
        }
    });
    let (o, wall) = smtp_check(peer.port, "1s");
    assert_eq!(
        class_and_phase(&o),
        (Class::Timeout, "banner".into()),
        "{o:#?}"
    );
    assert!(wall < Duration::from_millis(1500), "took {wall:?}");
}

/// A peer that closes in the middle of a reply line: the connection is
/// reported closed in that phase, at once.
#[test]
fn close_mid_reply_is_connection_closed() {
    let peer = RawPeer::start(|s, _| {
        let _ = s.write_all(b"220-email-smtp.amazonaws.com\r\n220 ESMTP Simple");
        let _ = s.shutdown(std::net::Shutdown::Both);
    });
    let (o, wall) = smtp_check(peer.port, "2s");
    let (class, phase) = class_and_phase(&o);
    assert_eq!(phase, "banner", "{o:#?}");
    assert!(
        matches!(class, Class::ConnectionClosed | Class::SmtpProtocolError),
        "{o:#?}"
    );
    assert!(wall < Duration::from_secs(1), "took {wall:?}");
}

/// Bytes injected after STARTTLS's 220 in a later segment (once the
/// client may already be waiting for the handshake): the session fails
/// before AUTH, and no credential reaches the peer.
#[test]
fn bytes_after_starttls_220_in_a_later_segment_are_refused() {
    let peer = RawPeer::start(|s, stop| {
        let mut r = std::io::BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        let _ = s.write_all(b"220 email-smtp.amazonaws.com ESMTP\r\n");
        let _ = std::io::BufRead::read_line(&mut r, &mut line);
        let _ = s
            .write_all(b"250-email-smtp.amazonaws.com\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n");
        line.clear();
        let _ = std::io::BufRead::read_line(&mut r, &mut line);
        let _ = s.write_all(b"220 Ready to start TLS\r\n");
        std::thread::sleep(Duration::from_millis(50));
        let _ =
            s.write_all(b"250-injected\r\n250 AUTH PLAIN\r\n235 Authentication successful.\r\n");
        hold(stop);
    });
    let (o, wall) = smtp_check(peer.port, "2s");
    let (class, phase) = class_and_phase(&o);
    assert!(
        matches!(
            class,
            Class::SmtpProtocolError | Class::TlsHandshakeFailed | Class::Timeout
        ),
        "{o:#?}"
    );
    assert!(matches!(phase.as_str(), "starttls" | "tls"), "{o:#?}");
    assert!(wall < Duration::from_secs(3), "took {wall:?}");
    // The fake's own log says `AUTH ... IN CLEAR` when that happens; this
    // peer records every byte.
    peer.assert_no_credentials();
}

/// Control bytes and ANSI escapes in the banner, the EHLO reply and the
/// failing reply: the `--once` text report shows them escaped, never raw,
/// and a peer cannot forge a line of the report.
#[test]
fn control_bytes_from_the_peer_never_reach_the_terminal() {
    let peer = RawPeer::start(|s, stop| {
        let mut r = std::io::BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        let _ = s.write_all(
            b"220 email-smtp \x1b[2J\x1b]0;owned\x07 ESMTP\rOK: all good\x08\x08\x9b\r\n",
        );
        let _ = std::io::BufRead::read_line(&mut r, &mut line);
        // No STARTTLS: the check stops there, before any credential.
        let _ = s.write_all(
            b"250-email-smtp.amazonaws.com \x1b[31mred\x1b[0m\r\n250-8BITMIME\nsmtp      OK  forged\r\n250 AUTH PLAIN LOGIN\x1b[1A\r\n",
        );
        hold(stop);
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_file(
        dir.path(),
        "ses-probe.toml",
        &format!(
            "[server]\nstate_directory = {:?}\n[[target]]\nname = \"hostile\"\nregion = \"us-east-1\"\n[target.smtp]\nhost = \"127.0.0.1\"\nport = {}\nusername = \"{USER}\"\npassword = \"{SMTP_PASSWORD}\"\ntimeout = \"2s\"\n",
            dir.path().display().to_string(),
            peer.port
        ),
    );
    let r = run_in(
        &["--once", "--config", cfg.to_str().unwrap()],
        &[],
        None,
        Duration::from_secs(20),
    );
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    for bad in ['\u{1b}', '\r', '\u{8}', '\u{7}', '\u{9b}'] {
        assert!(!r.stdout.contains(bad), "raw {bad:?} in:\n{}", r.stdout);
        assert!(
            !r.stderr.contains(bad),
            "raw {bad:?} in stderr:\n{}",
            r.stderr
        );
    }
    // The peer's text is there, escaped.
    assert!(r.stdout.contains("\\u{1b}"), "{}", r.stdout);
    for line in r.stdout.lines() {
        // The peer's text shows only inside a line of the report's own.
        assert!(
            !line.trim_start().starts_with("smtp      OK"),
            "forged line: {line:?}"
        );
        assert!(
            !line.trim_start().starts_with("OK: all good"),
            "forged line: {line:?}"
        );
    }
    peer.assert_no_credentials();
}

// ---------------------------------------------------------------------------
// Hostile AWS endpoints
// ---------------------------------------------------------------------------

/// An API target against `url`, static keys.
fn api_target(url: &str, timeout: &str) -> ses_probe::config::Target {
    let text = format!(
        "[[target]]\nname = \"hostile\"\nregion = \"eu-west-1\"\n[target.api]\nendpoint_url = \"{url}\"\nsts_endpoint_url = \"{url}\"\naccess_key_id = \"{USER}\"\nsecret_access_key = \"{SECRET_KEY}\"\ntimeout = \"{timeout}\"\naccount = false\n"
    );
    let env = ses_probe::config::Env::from_pairs::<[(&str, &str); 0], _, _>([]);
    let plan = ses_probe::config::parse(&text, "test", &env).unwrap_or_else(|e| panic!("{e}"));
    std::sync::Arc::unwrap_or_clone(plan.targets.into_iter().next().unwrap())
}

fn identity_check(url: &str, timeout: &str) -> (Outcome, Duration) {
    timed_check(&api_target(url, timeout), CheckKind::Identity)
}

/// An HTTP peer that answers every request with `head` and then `body`
/// from the closure (which may drip or flood).
fn http_peer(
    body: impl Fn(&mut TcpStream, &AtomicBool) + Send + Sync + 'static,
    head: &'static str,
) -> RawPeer {
    RawPeer::start(move |s, stop| {
        // Wait for the request (the reader thread records it).
        std::thread::sleep(Duration::from_millis(50));
        if s.write_all(head.as_bytes()).is_ok() {
            body(s, stop);
        }
    })
}

/// A slow body (a byte every 200 ms) is cut at the API timeout and
/// reported as a timeout; a huge body (chunks without end) is cut at the
/// timeout too, without the check failing otherwise.
#[test]
fn slow_and_endless_bodies_are_cut_at_the_timeout() {
    let slow = http_peer(
        |s, stop| {
            let body = b"<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/x</Arn>";
            drip(s, stop, body, Duration::from_millis(200));
        },
        "HTTP/1.1 200 OK\r\ncontent-type: text/xml\r\ncontent-length: 400\r\n\r\n",
    );
    let (o, wall) = identity_check(&format!("http://127.0.0.1:{}", slow.port), "1s");
    let (class, _) = class_and_phase(&o);
    assert_eq!(class, Class::Timeout, "{o:#?}");
    assert!(wall < Duration::from_secs(4), "took {wall:?}");

    let endless = http_peer(
        |s, stop| {
            let chunk = format!(
                "10000\r\n{}\r\n",
                "<a>".repeat(0x10000 / 3 + 1)[..0x10000].to_owned()
            );
            let end = Instant::now() + Duration::from_secs(10);
            while !stop.load(Ordering::Relaxed) && Instant::now() < end {
                if s.write_all(chunk.as_bytes()).is_err() {
                    return;
                }
            }
        },
        "HTTP/1.1 200 OK\r\ncontent-type: text/xml\r\ntransfer-encoding: chunked\r\n\r\n",
    );
    let (o, wall) = identity_check(&format!("http://127.0.0.1:{}", endless.port), "1s");
    assert!(!o.success, "{o:#?}");
    assert!(wall < Duration::from_secs(4), "took {wall:?}");
}

/// A 200 answer whose XML document is cut short (no closing tags, no
/// account): the SDK's lenient parser yields an ARN `arn:aws:iam::1` and
/// an empty account. An identity without an account is not an answer:
/// the check fails (it reported success before).
#[test]
fn truncated_sts_document_is_not_a_success() {
    let fake = FakeAws::start(|_| Reply {
        status: 200,
        headers: vec![("content-type".into(), "text/xml".into())],
        body: "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::1".into(),
    });
    let (o, _) = identity_check(&fake.url, "2s");
    assert!(!o.success, "truncated XML passed: {o:#?}");
}

/// Invalid documents (JSON where XML belongs, with an escape sequence),
/// and an ARN with control bytes and newlines: never `ok` on garbage, and
/// nothing raw in the outcome's texts.
#[test]
fn invalid_documents_and_hostile_arns() {
    let fake = FakeAws::start(|_| Reply {
        status: 400,
        headers: vec![("content-type".into(), "text/xml".into())],
        body: "{\"not\": \"xml\"\u{1b}[2J".into(),
    });
    let (o, _) = identity_check(&fake.url, "2s");
    let (class, _) = class_and_phase(&o);
    assert_ne!(class, Class::Ok, "{o:#?}");

    let arn = "arn:aws:iam::123456789012:user/x\u{1b}[2J\r\nOK: root\u{8}";
    let fake = FakeAws::start(move |_| Reply::sts_identity(arn, "123456789012", "AIDAEXAMPLE"));
    let (o, _) = identity_check(&fake.url, "2s");
    // Whatever the verdict, the ARN's control bytes are not kept raw in a
    // message and it is not taken for the root user.
    for f in &o.findings {
        assert!(
            !f.message.contains(['\u{1b}', '\r', '\u{8}']),
            "{:?}",
            f.message
        );
        assert_ne!(f.class, Class::RootCredentials, "{o:#?}");
    }
}

// ---------------------------------------------------------------------------
// Memory against flooding peers
// ---------------------------------------------------------------------------

/// Flooding peers: endless `220-` continuation lines, and an endless line
/// without a newline.
fn smtp_flood_peers() -> (RawPeer, RawPeer) {
    let smtp_flood = RawPeer::start(|s, stop| {
        let line = format!("220-{}\r\n", "z".repeat(500));
        let end = Instant::now() + Duration::from_secs(30);
        while !stop.load(Ordering::Relaxed) && Instant::now() < end {
            if s.write_all(line.as_bytes()).is_err() {
                return;
            }
        }
    });
    let endless_line = RawPeer::start(|s, stop| {
        let chunk = vec![b'2'; 64 * 1024];
        let end = Instant::now() + Duration::from_secs(30);
        while !stop.load(Ordering::Relaxed) && Instant::now() < end {
            if s.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    (smtp_flood, endless_line)
}

/// An AWS endpoint answering 200 with a chunked body without end.
fn aws_flood_peer() -> RawPeer {
    http_peer(
        |s, stop| {
            let chunk = format!("10000\r\n{}\r\n", "x".repeat(0x10000));
            let end = Instant::now() + Duration::from_secs(30);
            while !stop.load(Ordering::Relaxed) && Instant::now() < end {
                if s.write_all(chunk.as_bytes()).is_err() {
                    return;
                }
            }
        },
        "HTTP/1.1 200 OK\r\ncontent-type: text/xml\r\ntransfer-encoding: chunked\r\n\r\n",
    )
}

fn flood_smtp_target(name: &str, port: u16) -> String {
    format!(
        "[[target]]\nname = \"{name}\"\nregion = \"us-east-1\"\n[target.smtp]\nhost = \"127.0.0.1\"\nport = {port}\nusername = \"{USER}\"\npassword = \"{SMTP_PASSWORD}\"\ntimeout = \"1s\"\ninterval = \"1s\"\n"
    )
}

fn flood_api_target(name: &str, port: u16) -> String {
    format!(
        "[[target]]\nname = \"{name}\"\nregion = \"eu-west-1\"\n[target.api]\nendpoint_url = \"http://127.0.0.1:{port}\"\nsts_endpoint_url = \"http://127.0.0.1:{port}\"\naccess_key_id = \"{USER}\"\nsecret_access_key = \"{SECRET_KEY}\"\ntimeout = \"1s\"\nidentity_interval = \"1s\"\naccount = false\n"
    )
}

/// Wait for three runs of each `(target, check)`, then the peak RSS.
fn peak_after_runs(e: &Exporter, checks: &[(&str, &str)]) -> u64 {
    for (target, check) in checks {
        e.wait_metric(
            &format!("ses_probe_runs_total{{check=\"{check}\",target=\"{target}\"}}"),
            Duration::from_secs(30),
            |v| v >= 3.0,
        );
    }
    e.peak_rss_kib()
}

/// The daemon probing SMTP peers that flood (endless continuation lines,
/// an endless line) every second: its peak RSS stays under the bound, and
/// no credential reaches them.
#[test]
fn daemon_memory_is_bounded_against_flooding_smtp_peers() {
    let (flood, endless) = smtp_flood_peers();
    let e = Exporter::start(&format!(
        "{}{}",
        flood_smtp_target("flood", flood.port),
        flood_smtp_target("endless", endless.port)
    ));
    let rss = peak_after_runs(&e, &[("flood", "smtp"), ("endless", "smtp")]);
    eprintln!("daemon peak RSS against flooding SMTP peers: {rss} KiB");
    assert!(rss < MEMORY_BOUND_KIB, "peak RSS {rss} KiB");
    flood.assert_no_credentials();
    endless.assert_no_credentials();
}

/// The daemon probing an AWS endpoint whose 200 answer has a body without
/// end: the SDK buffers a body whole before parsing it, so without the
/// client's bound memory grew with the peer's speed times the timeout
/// (hundreds of MiB on loopback with a 1 s timeout).
#[test]
fn daemon_memory_is_bounded_against_an_endless_aws_body() {
    let peer = aws_flood_peer();
    let e = Exporter::start(&flood_api_target("aws", peer.port));
    let rss = peak_after_runs(&e, &[("aws", "identity")]);
    eprintln!("daemon peak RSS against an endless AWS body: {rss} KiB");
    assert!(rss < MEMORY_BOUND_KIB, "peak RSS {rss} KiB");
}

// ---------------------------------------------------------------------------
// The red team's findings on v0.1, one test each
// ---------------------------------------------------------------------------

/// `check-config` on `text`: exit code and the `error:` lines.
fn check_config(text: &str) -> (i32, Vec<String>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "ses-probe.toml", text);
    let p = path.to_str().unwrap().to_owned();
    let r = run_in(
        &["check-config", "--config", &p],
        &[],
        None,
        Duration::from_secs(20),
    );
    let errors = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .map(|l| l.replace(&p, "CONFIG"))
        .collect();
    (r.code, errors, r.stderr)
}

fn assert_rejected(text: &str, at: &str) {
    let (code, errors, stderr) = check_config(text);
    assert_eq!(code, 78, "{stderr}");
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with(&format!("error: CONFIG:{at}"))),
        "no error at {at}: {errors:#?}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// (1) A concurrency of 2^61 is refused with file, line and key; a SIGHUP
/// to such a config keeps the daemon running on the old one (v0.1 built a
/// semaphore with it and died).
#[test]
fn red_team_1_huge_concurrency() {
    assert_rejected(
        "[server]\nconcurrency = 2305843009213693952\n",
        "2: server.concurrency:",
    );
    let e = Exporter::start(&local_target("relay"));
    let runs = r#"ses_probe_runs_total{check="smtp",target="relay"}"#;
    e.wait_metric(runs, Duration::from_secs(10), |v| v >= 1.0);
    let port = e.addr.port();
    let text = std::fs::read_to_string(&e.path).unwrap().replace(
        "[server]\n",
        "[server]\nconcurrency = 2305843009213693952\n",
    );
    assert!(text.contains(&port.to_string()));
    std::fs::write(&e.path, text).unwrap();
    e.signal("HUP");
    e.wait_metric(
        "ses_probe_config_last_reload_successful",
        Duration::from_secs(10),
        |v| v == 0.0,
    );
    assert_eq!(
        try_get(e.addr, "/healthz", Duration::from_secs(2)).map(|r| r.0),
        Some(200)
    );
    assert!(
        metric(&e.metrics(), runs).is_some(),
        "the old target vanished"
    );
}

/// (2) A timeout of 500000000000 years is refused (v0.1 overflowed a
/// deadline and panicked in every check).
#[test]
fn red_team_2_huge_timeout() {
    assert_rejected(
        &format!(
            "[[target]]\nname = \"relay\"\nregion = \"eu-west-1\"\n[target.smtp]\nusername = \"{USER}\"\npassword = \"{SMTP_PASSWORD}\"\ntimeout = \"500000000000y\"\n"
        ),
        "7: target[0].smtp.timeout:",
    );
}

fn mkfifo(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let ok = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .expect("mkfifo(1)")
        .success();
    assert!(ok, "mkfifo failed");
    path
}

/// (5) A `ca_file` that is a FIFO does not wedge the daemon (/healthz
/// answers, SIGTERM exits at once); a secret file of `/dev/zero` and a
/// `--config` FIFO are clear errors within seconds (v0.1 read them
/// forever).
#[test]
fn red_team_5_fifos_and_devices() {
    let fifo_dir = tempfile::tempdir().unwrap();
    let fifo = mkfifo(fifo_dir.path(), "ca.pem");
    let target = format!(
        "[[target]]\nname = \"relay\"\nregion = \"eu-west-1\"\n[target.smtp]\nhost = \"127.0.0.1\"\nport = {}\nca_file = {:?}\nusername = \"{USER}\"\npassword = \"{SMTP_PASSWORD}\"\ntimeout = \"1s\"\ninterval = \"1s\"\n",
        free_port(),
        fifo.display().to_string()
    );
    // Either refused at load or probed and failed; never a wedged daemon.
    let (code, errors, _) = check_config(&target);
    if code == 0 {
        let mut e = Exporter::start(&target);
        e.wait_metric(
            r#"ses_probe_runs_total{check="smtp",target="relay"}"#,
            Duration::from_secs(15),
            |v| v >= 2.0,
        );
        assert_eq!(
            try_get(e.addr, "/healthz", Duration::from_secs(2)).map(|r| r.0),
            Some(200)
        );
        e.signal("TERM");
        let status = e.wait_exit(Duration::from_secs(3));
        assert!(status.is_some_and(|s| s.success()), "{status:?}");
    } else {
        assert!(
            errors
                .iter()
                .any(|e| e.contains("ca_file") && e.contains("regular file")),
            "{errors:#?}"
        );
    }

    let started = Instant::now();
    let (code, errors, stderr) = check_config(&format!(
        "[[target]]\nname = \"relay\"\nregion = \"eu-west-1\"\n[target.smtp]\nusername = \"{USER}\"\npassword = {{ file = \"/dev/zero\" }}\n"
    ));
    assert_eq!(code, 78, "{stderr}");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("target[0].smtp.password") && e.contains("/dev/zero")),
        "{errors:#?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    let started = Instant::now();
    let config_fifo = mkfifo(fifo_dir.path(), "config.toml");
    let r = run_in(
        &["check-config", "--config", config_fifo.to_str().unwrap()],
        &[],
        None,
        Duration::from_secs(10),
    );
    assert_eq!(r.code, 78, "{}", r.stderr);
    assert!(r.stderr.contains("regular file"), "{}", r.stderr);
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// (6) A daily budget of 2^32-1 is refused; at the largest allowed budget
/// a corrupt state file (read as a spent budget) costs no memory and no
/// request.
#[test]
fn red_team_6_budget_bounds() {
    let send = |budget: &str| {
        format!(
            "[[target]]\nname = \"relay\"\nregion = \"eu-west-1\"\n[target.api]\naccess_key_id = \"{USER}\"\nsecret_access_key = \"{SECRET_KEY}\"\n[target.api.send]\nfrom = \"probe@example.com\"\ndaily_budget = {budget}\n"
        )
    };
    assert_rejected(&send("4294967295"), "9: target[0].api.send.daily_budget:");

    let fake = FakeAws::start(|r| match r.op() {
        "SendEmail" => Reply::sent(),
        "GetCallerIdentity" => {
            Reply::sts_identity("arn:aws:iam::123456789012:user/x", "123456789012", "AIDAX")
        }
        "GetAccount" => Reply::account(true, true, "HEALTHY", 50000.0, 1.0),
        _ => Reply::not_found(),
    });
    let dir = tempfile::tempdir().unwrap();
    // MAX_SEND_DAILY_BUDGET in src/config/defaults.rs.
    let max = 10_000;
    let cfg = write_file(
        dir.path(),
        "ses-probe.toml",
        &format!(
            "[server]\nstate_directory = {:?}\n[[target]]\nname = \"relay\"\nregion = \"eu-west-1\"\n[target.api]\nendpoint_url = \"{u}\"\nsts_endpoint_url = \"{u}\"\naccess_key_id = \"{USER}\"\nsecret_access_key = \"{SECRET_KEY}\"\ntimeout = \"2s\"\nidentity = false\naccount = false\n[target.api.send]\nfrom = \"probe@example.com\"\ndaily_budget = {max}\n",
            dir.path().display().to_string(),
            u = fake.url,
        ),
    );
    std::fs::write(
        dir.path().join("send-budget-relay.json"),
        "{\"version\": 1, \"sends\": [1, 2, \u{0}garbage",
    )
    .unwrap();
    let (code, peak) = once_with_peak_rss(&cfg);
    assert!(matches!(code, 0..=3), "exit {code}");
    assert_eq!(fake.count("SendEmail"), 0, "a spent budget still sent");
    eprintln!("--once with a corrupt budget at {max}: peak RSS {peak} KiB");
    assert!(peak < MEMORY_BOUND_KIB, "peak RSS {peak} KiB");
}

/// `--once --config CFG` with its peak RSS sampled every 2 ms until it
/// exits (VmHWM only grows, so the last sample is the peak but for the
/// last 2 ms).
fn once_with_peak_rss(cfg: &Path) -> (i32, u64) {
    let mut child = crate::support::command(&["--once", "--config", cfg.to_str().unwrap()], &[])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let end = Instant::now() + Duration::from_secs(30);
    let mut peak = 0;
    loop {
        if let Some(v) = peak_rss_kib(pid) {
            peak = peak.max(v);
        }
        if let Some(status) = child.try_wait().unwrap() {
            return (status.code().unwrap_or(-1), peak);
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("--once did not finish");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
