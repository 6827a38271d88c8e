//! The daemon end to end: HTTP endpoints, metrics, reloads, signals.

use std::time::{Duration, Instant};

use crate::support::http::{get, metric, request, wait_for, Daemon};
use crate::support::{write_file, DaemonProcess};

const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// A target whose SMTP password is a secret key: fails locally at once,
/// with no network, so its results are deterministic.
fn local_target(name: &str, interval: &str) -> String {
    format!(
        r#"
[[target]]
name = "{name}"
region = "eu-west-1"
[target.smtp]
host = "127.0.0.1"
port = 9
username = "AKIAIOSFODNN7EXAMPLE"
password = "{SECRET_KEY}"
interval = "{interval}"
"#
    )
}

fn config(dir: &std::path::Path, body: &str) -> std::path::PathBuf {
    write_file(
        dir,
        "ses-probe.toml",
        &format!(
            "[server]\nreload_endpoint = true\nstate_directory = \"{}\"\n{body}",
            dir.display()
        ),
    )
}

#[test]
fn endpoints_and_methods() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config(dir.path(), &local_target("relay", "60s")));
    let series = r#"ses_probe_finding{check="smtp",class="smtp_password_is_secret_key",severity="critical",target="relay"}"#;
    d.wait_metric(series, Duration::from_secs(10), |v| v == 1.0);

    let m = get(d.addr, "/metrics");
    assert_eq!(m.status, 200);
    assert!(m
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    assert_eq!(
        metric(&m.body, r#"ses_probe_success{check="smtp",target="relay"}"#),
        Some(0.0)
    );
    assert_eq!(
        metric(&m.body, "ses_probe_config_last_reload_successful"),
        Some(1.0)
    );

    assert_eq!(get(d.addr, "/healthz").status, 200);
    let landing = get(d.addr, "/");
    assert_eq!(landing.status, 200);
    assert!(landing.body.contains("<td>relay</td><td>smtp</td><td class=\"critical\">critical</td><td>smtp_password_is_secret_key</td>"), "{}", landing.body);
    assert_eq!(get(d.addr, "/nope").status, 404);
    let post = request(d.addr, "POST", "/metrics");
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    let head = request(d.addr, "HEAD", "/metrics");
    assert_eq!((head.status, head.body.as_str()), (200, ""));
    // The secret never reaches a scrape or the page.
    assert!(!m.body.contains(SECRET_KEY) && !landing.body.contains(SECRET_KEY));
}

#[test]
fn reload_keeps_counters_drops_removed_targets_and_survives_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(
        dir.path(),
        &(local_target("a", "1s") + &local_target("b", "1s")),
    );
    let d = Daemon::start(&path);
    let runs_a = r#"ses_probe_runs_total{check="smtp",target="a"}"#;
    let runs_b = r#"ses_probe_runs_total{check="smtp",target="b"}"#;
    let before = d.wait_metric(runs_a, Duration::from_secs(10), |v| v >= 2.0);
    d.wait_metric(runs_b, Duration::from_secs(10), |v| v >= 1.0);

    // Valid: `a` unchanged, `b` removed, `c` added.
    config(
        dir.path(),
        &(local_target("a", "1s") + &local_target("c", "1s")),
    );
    let r = request(d.addr, "POST", "/-/reload");
    assert_eq!(r.status, 200, "{}", r.body);
    d.wait_metric(
        r#"ses_probe_runs_total{check="smtp",target="c"}"#,
        Duration::from_secs(10),
        |v| v >= 1.0,
    );
    let text = d.metrics();
    assert_eq!(
        metric(&text, runs_b),
        None,
        "series of a removed target stay:\n{text}"
    );
    assert!(
        metric(&text, runs_a).unwrap() >= before,
        "counters of a kept target were reset"
    );
    assert_eq!(
        metric(&text, "ses_probe_config_last_reload_successful"),
        Some(1.0)
    );

    // Invalid: logged and reported; the running plan stays and keeps probing.
    std::fs::write(
        &path,
        "[[target]]\nname = \"a\"\nregion = \"eu-west-1\"\nbogus = 1\n",
    )
    .unwrap();
    let r = request(d.addr, "POST", "/-/reload");
    assert_eq!(r.status, 422);
    assert!(
        r.body
            .contains("ses-probe.toml:4: target[0].bogus: unknown key"),
        "{}",
        r.body
    );
    let text = d.metrics();
    assert_eq!(
        metric(&text, "ses_probe_config_last_reload_successful"),
        Some(0.0)
    );
    let runs = metric(&text, runs_a).unwrap();
    d.wait_metric(runs_a, Duration::from_secs(10), |v| v > runs);
    assert!(metric(
        &d.metrics(),
        r#"ses_probe_runs_total{check="smtp",target="c"}"#
    )
    .is_some());
}

#[test]
fn reload_endpoint_is_off_unless_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(
        dir.path(),
        "c.toml",
        &format!(
            "[server]\nstate_directory = \"{}\"\n{}",
            dir.path().display(),
            local_target("a", "60s")
        ),
    );
    let d = Daemon::start(&path);
    assert_eq!(request(d.addr, "POST", "/-/reload").status, 404);
}

/// Without a config file the region can come from the AWS profile; a
/// reload reads it again, exactly as start-up does (it used to fall back to
/// AWS_REGION alone and lose it).
#[test]
fn reload_keeps_the_profile_region() {
    assert!(
        !std::path::Path::new(ses_probe::config::DEFAULT_CONFIG_PATH).exists(),
        "{} exists on this machine; this test needs it absent",
        ses_probe::config::DEFAULT_CONFIG_PATH
    );
    let dir = tempfile::tempdir().unwrap();
    let aws_config = write_file(
        dir.path(),
        "aws-config",
        "[profile mailer]\nregion = eu-north-1\n",
    );
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let listen = format!("127.0.0.1:{port}");
    let _daemon = DaemonProcess::spawn_args(
        &["run", "--web.listen-address", &listen],
        &[
            ("AWS_CONFIG_FILE", aws_config.to_str().unwrap()),
            ("AWS_PROFILE", "mailer"),
            ("STATE_DIRECTORY", dir.path().to_str().unwrap()),
        ],
    );
    let addr: std::net::SocketAddr = listen.parse().unwrap();
    let series = r#"ses_probe_target_info{region="eu-north-1",target="default"}"#;
    let seen = wait_for(Duration::from_secs(20), || {
        std::net::TcpStream::connect(addr).ok()?;
        metric(&get(addr, "/metrics").body, series)
    });
    assert_eq!(seen, Some(1.0), "{}", get(addr, "/metrics").body);
    let loaded_at = |body: &str| {
        metric(
            body,
            "ses_probe_config_last_reload_success_timestamp_seconds",
        )
    };
    let before = loaded_at(&get(addr, "/metrics").body).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    _daemon.signal("HUP");
    let after = wait_for(Duration::from_secs(10), || {
        loaded_at(&get(addr, "/metrics").body).filter(|t| *t > before)
    });
    assert!(after.is_some(), "the reload did not happen");
    let body = get(addr, "/metrics").body;
    assert_eq!(metric(&body, series), Some(1.0), "{body}");
    assert!(!body.contains(r#"region="""#), "{body}");
}

/// Runs the real binary: SIGHUP reloads, SIGTERM exits 0 within 2 s.
#[test]
fn signals_reload_and_stop_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let body = |extra: &str| {
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\nstate_directory = \"{}\"\n{}{extra}",
            dir.path().display(),
            local_target("a", "60s")
        )
    };
    let path = write_file(dir.path(), "c.toml", &body(""));
    let mut daemon = DaemonProcess::spawn(&path, &[]);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let ready = wait_for(Duration::from_secs(20), || {
        std::net::TcpStream::connect(addr).ok().map(|_| ())
    });
    assert!(ready.is_some(), "daemon did not listen");
    // SIGHUP with a second target: it shows up without a restart.
    write_file(dir.path(), "c.toml", &body(&local_target("b", "60s")));
    daemon.signal("HUP");
    let seen = wait_for(Duration::from_secs(10), || {
        metric(
            &get(addr, "/metrics").body,
            r#"ses_probe_runs_total{check="smtp",target="b"}"#,
        )
    });
    assert!(seen.is_some(), "SIGHUP did not reload");

    let start = Instant::now();
    daemon.signal("TERM");
    let status = daemon.wait_exit(Duration::from_secs(5));
    let elapsed = start.elapsed();
    let status = status.expect("no exit within 5 s of SIGTERM");
    assert_eq!(status.code(), Some(0));
    assert!(elapsed < Duration::from_secs(2), "exit took {elapsed:?}");
}

#[test]
fn bad_config_exits_78_and_busy_port_74() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write_file(dir.path(), "bad.toml", "[[target]]\nname = \"x\"\n");
    let r = crate::support::run(&["run", "--config", bad.to_str().unwrap()], &[], None);
    assert_eq!(r.code, 78, "{}", r.stderr);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let cfg = write_file(
        dir.path(),
        "c.toml",
        &format!(
            "[server]\nlisten = \"{}\"\nstate_directory = \"{}\"\n{}",
            taken.local_addr().unwrap(),
            dir.path().display(),
            local_target("a", "60s")
        ),
    );
    let r = crate::support::run(&["run", "--config", cfg.to_str().unwrap()], &[], None);
    assert_eq!(r.code, 74, "{}", r.stderr);
}

#[test]
fn scrape_passes_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config(dir.path(), &local_target("relay", "60s")));
    d.wait_metric(
        r#"ses_probe_runs_total{check="smtp",target="relay"}"#,
        Duration::from_secs(10),
        |v| v >= 1.0,
    );
    crate::support::promtool_check_metrics(&d.metrics());
}

/// The systemd protocol as a unit with `Type=notify` and `WatchdogSec=`
/// sees it: READY=1 once listening, RELOADING=1 then READY=1 around a
/// SIGHUP reload, WATCHDOG=1 at half the watchdog interval, STOPPING=1.
#[test]
fn systemd_notifications() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let cfg = write_file(
        dir.path(),
        "c.toml",
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nstate_directory = \"{}\"\n{}",
            dir.path().display(),
            local_target("a", "60s")
        ),
    );
    let mut daemon = DaemonProcess::spawn(
        &cfg,
        &[
            ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "1000000"),
        ],
    );
    let mut buf = [0u8; 512];
    let mut recv = || -> String {
        let n = sock.recv(&mut buf).expect("a notification within 5 s");
        // One state per line; the last line may or may not end in \n.
        String::from_utf8_lossy(&buf[..n]).trim_end().to_owned()
    };
    let mut seen = Vec::new();
    let ready = (0..10).map(|_| recv()).find(|m| {
        seen.push(m.clone());
        m.starts_with("READY=1")
    });
    assert!(ready.is_some(), "no READY=1 in {seen:?}");
    // The watchdog keeps coming at ~0.5 s.
    let start = Instant::now();
    let wd = (0..10).map(|_| recv()).position(|m| m == "WATCHDOG=1");
    assert!(wd.is_some() && start.elapsed() < Duration::from_secs(2));
    daemon.signal("HUP");
    let msgs: Vec<String> = (0..6)
        .map(|_| recv())
        .filter(|m| m != "WATCHDOG=1")
        .take(2)
        .collect();
    assert!(
        msgs[0].starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{msgs:?}"
    );
    assert!(msgs[1].starts_with("READY=1"), "{msgs:?}");
    daemon.signal("TERM");
    let stopping = (0..6).map(|_| recv()).any(|m| m == "STOPPING=1");
    assert!(stopping);
    assert_eq!(
        daemon
            .wait_exit(Duration::from_secs(5))
            .and_then(|s| s.code()),
        Some(0)
    );
}

/// A live scrape with every kind of series: the documented contract is
/// exactly what is served, promtool accepts it, and the values are the
/// facts the fakes gave.
#[test]
fn full_scrape_is_the_documented_contract() {
    use crate::support::exporter::{full_scrape, metric_names};
    let text = full_scrape();
    let served = metric_names(text);
    let documented = crate::dashboards::documented_metric_names();
    assert_eq!(served, documented, "docs/metrics.md and /metrics disagree");
    crate::support::promtool_check_metrics(text);

    let v = |series: &str| metric(text, series).unwrap_or_else(|| panic!("no {series} in\n{text}"));
    for check in ["smtp", "identity", "account", "send"] {
        assert_eq!(
            v(&format!(
                r#"ses_probe_success{{check="{check}",target="full"}}"#
            )),
            1.0,
            "{check}"
        );
    }
    assert_eq!(
        v(r#"ses_probe_smtp_reply_code{phase="auth",target="full"}"#),
        235.0
    );
    assert_eq!(
        v(
            r#"ses_probe_identity_info{account="123456789012",arn="arn:aws:sts::123456789012:assumed-role/mailer/probe",principal_type="assumed_role",target="full"}"#
        ),
        1.0
    );
    assert_eq!(
        v(r#"ses_probe_finding{check="account",class="sandbox",severity="warning",target="full"}"#),
        1.0
    );
    assert_eq!(
        v(r#"ses_probe_account_production_access{target="full"}"#),
        0.0
    );
    assert_eq!(
        v(r#"ses_probe_account_enforcement_status{status="HEALTHY",target="full"}"#),
        1.0
    );
    assert_eq!(v(r#"ses_probe_send_budget_remaining{target="full"}"#), 23.0);
    let skew = v(r#"ses_probe_clock_skew_seconds{target="full"}"#);
    assert!((skew - 42.0).abs() <= 2.0, "skew {skew}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let expiry = v(r#"ses_probe_credentials_expiry_timestamp_seconds{target="full"}"#);
    assert!(
        (expiry - now - 6.0 * 3600.0).abs() < 120.0,
        "expiry {expiry}"
    );
    assert!(v(r#"ses_probe_tls_certificate_expiry_timestamp_seconds{target="full"}"#) > now);
}

/// A healthy target beside a failing one; the failing one recovers and its
/// finding flips to 0 (kept, not dropped, so alerts resolve at once).
#[test]
fn healthy_failing_and_recovering_targets() {
    use crate::support::fake_aws::{FakeAws, Recorded, Reply};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let broken = Arc::new(AtomicBool::new(true));
    let flag = broken.clone();
    let aws = FakeAws::start(move |r: &Recorded| {
        let bad_key = r
            .header("authorization")
            .is_some_and(|a| a.contains("AKIABROKENKEY0000000"));
        match r.op() {
            "GetCallerIdentity" if bad_key && flag.load(Ordering::SeqCst) => Reply::sts_error(
                403,
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
            ),
            "GetCallerIdentity" => Reply::sts_identity(
                "arn:aws:iam::123456789012:user/mailer",
                "123456789012",
                "AIDAEXAMPLE",
            ),
            _ => Reply::not_found(),
        }
    });
    let api_target = |name: &str, key: &str| {
        format!(
            r#"
[[target]]
name = "{name}"
region = "us-east-1"
[target.api]
access_key_id = "{key}"
secret_access_key = {{ value = "{SECRET_KEY}" }}
sts_endpoint_url = "{url}"
account = false
identity_interval = "1s"
timeout = "5s"
"#,
            url = aws.url
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &(api_target("healthy", "AKIAIOSFODNN7EXAMPLE")
            + &api_target("failing", "AKIABROKENKEY0000000")),
    );
    let d = Daemon::start(&cfg);
    let finding = r#"ses_probe_finding{check="identity",class="invalid_access_key",severity="critical",target="failing"}"#;
    d.wait_metric(finding, Duration::from_secs(10), |v| v == 1.0);
    d.wait_metric(
        r#"ses_probe_success{check="identity",target="healthy"}"#,
        Duration::from_secs(10),
        |v| v == 1.0,
    );
    let text = d.metrics();
    assert_eq!(
        metric(
            &text,
            r#"ses_probe_success{check="identity",target="failing"}"#
        ),
        Some(0.0)
    );
    assert!(text.contains(r#"ses_probe_identity_info{account="123456789012",arn="arn:aws:iam::123456789012:user/mailer",principal_type="iam_user",target="healthy"} 1"#));
    assert_eq!(
        metric(
            &text,
            r#"ses_probe_last_success_timestamp_seconds{check="identity",target="failing"}"#
        ),
        None
    );

    broken.store(false, Ordering::SeqCst);
    d.wait_metric(finding, Duration::from_secs(10), |v| v == 0.0);
    let text = d.metrics();
    assert_eq!(
        metric(
            &text,
            r#"ses_probe_success{check="identity",target="failing"}"#
        ),
        Some(1.0)
    );
    assert_eq!(metric(&text, r#"ses_probe_findings_total{check="identity",class="invalid_access_key",target="failing"}"#).map(|v| v >= 1.0), Some(true));
}

/// A target whose endpoint accepts TCP and never speaks holds only its own
/// check: the other target keeps its pace and scrapes stay fast.
#[test]
fn hanging_target_delays_nothing_else() {
    let hang = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hang_port = hang.local_addr().unwrap().port();
    // Accept and hold every connection, silently, for the test's lifetime.
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    hang.set_nonblocking(true).unwrap();
    let acceptor = std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(30);
        while Instant::now() < end {
            match hang.accept() {
                Ok((s, _)) => keep.lock().unwrap().push(s),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let hanging = format!(
        r#"
[[target]]
name = "hanging"
region = "eu-west-1"
[target.smtp]
host = "127.0.0.1"
port = {hang_port}
username = "AKIAIOSFODNN7EXAMPLE"
password = "BMXhUYlu5Z3gSXVQORxlVa7XPaz91aGWdfHxvkOZdWZ2"
timeout = "8s"
interval = "60s"
"#
    );
    let d = Daemon::start(&config(
        dir.path(),
        &(hanging + &local_target("quick", "1s")),
    ));
    let runs = r#"ses_probe_runs_total{check="smtp",target="quick"}"#;
    d.wait_metric(runs, Duration::from_secs(5), |v| v >= 1.0);
    // The hanging check is now stuck in its banner phase.
    assert!(wait_for(Duration::from_secs(5), || (!held
        .lock()
        .unwrap()
        .is_empty())
    .then_some(()))
    .is_some());
    let first = metric(&d.metrics(), runs).unwrap();
    let mut slowest = Duration::ZERO;
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(3500) {
        let t = Instant::now();
        let r = get(d.addr, "/metrics");
        slowest = slowest.max(t.elapsed());
        assert_eq!(r.status, 200);
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = d.metrics();
    let after = metric(&text, runs).unwrap();
    assert!(
        after - first >= 2.0,
        "quick ran {} times in 3.5 s beside the hanging target",
        after - first
    );
    assert!(
        slowest < Duration::from_millis(100),
        "a scrape took {slowest:?}"
    );
    // The hanging target has not produced a result yet: its check is in flight.
    assert_eq!(
        metric(
            &text,
            r#"ses_probe_runs_total{check="smtp",target="hanging"}"#
        ),
        None
    );
    drop(d);
    drop(held);
    let _ = acceptor;
}

/// A client that never finishes its request head is cut off after the
/// header timeout, and does not hold up anyone else's scrape meanwhile.
#[test]
fn slow_clients_time_out() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config(dir.path(), &local_target("relay", "60s")));
    let mut slow = std::net::TcpStream::connect(d.addr).unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let start = Instant::now();
    assert_eq!(get(d.addr, "/healthz").status, 200);
    let mut buf = [0u8; 512];
    let closed = match slow.read(&mut buf) {
        Ok(n) => n == 0 || String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"),
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    let waited = start.elapsed();
    let timeout = ses_probe::http::HEADER_TIMEOUT;
    assert!(closed, "the slow connection was not closed");
    assert!(
        waited >= timeout - Duration::from_millis(200) && waited < timeout * 2,
        "closed after {waited:?}"
    );
}

/// `server.concurrency` bounds how many checks run at once: two checks
/// that each wait out a 1 s timeout take ~2 s with one slot, ~1 s with two.
#[test]
fn concurrency_limit_is_enforced() {
    let hang = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hang.local_addr().unwrap().port();
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    hang.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(20);
        while Instant::now() < end {
            match hang.accept() {
                Ok((s, _)) => keep.lock().unwrap().push(s),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    let target = |name: &str| {
        format!(
            "[[target]]\nname = \"{name}\"\nregion = \"eu-west-1\"\n[target.smtp]\nhost = \"127.0.0.1\"\nport = {port}\nusername = \"AKIAIOSFODNN7EXAMPLE\"\npassword = \"BMXhUYlu5Z3gSXVQORxlVa7XPaz91aGWdfHxvkOZdWZ2\"\ntimeout = \"1s\"\n"
        )
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let time_with = |slots: usize| {
        let text = format!(
            "[server]\nconcurrency = {slots}\n{}{}",
            target("a"),
            target("b")
        );
        let env = ses_probe::config::Env::from_pairs::<[(&str, &str); 0], _, _>([]);
        let plan = ses_probe::config::parse(&text, "c.toml", &env).unwrap();
        let start = Instant::now();
        let results = rt.block_on(ses_probe::scheduler::run_once(&plan));
        for t in &results {
            assert_eq!(
                t.outcomes[0].primary_finding().unwrap().class.as_str(),
                "timeout",
                "{}",
                t.name
            );
        }
        start.elapsed()
    };
    let one = time_with(1);
    let two = time_with(2);
    assert!(one >= Duration::from_millis(1900), "one slot: {one:?}");
    assert!(two < Duration::from_millis(1800), "two slots: {two:?}");
}

/// Request heads beyond the bound are refused, and the server carries on.
#[test]
fn oversized_request_heads_are_refused() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config(dir.path(), &local_target("relay", "60s")));
    let mut s = std::net::TcpStream::connect(d.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let big = "x".repeat(64 * 1024);
    // The server may close before the whole head is written.
    let _ =
        s.write_all(format!("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n").as_bytes());
    let mut buf = Vec::new();
    // The refusal is a 431, unless the kernel turns the close over unread
    // bytes into a reset that overtakes it; either way nothing is served.
    let reset = s.read_to_end(&mut buf).is_err();
    let head = String::from_utf8_lossy(&buf);
    assert!(
        head.starts_with("HTTP/1.1 431") || (reset && head.is_empty()),
        "an oversized head was not refused: {:?}",
        head.lines().next()
    );
    assert_eq!(get(d.addr, "/healthz").status, 200);
}

/// At most `MAX_CONNECTIONS` connections are open at once; one more does
/// not queue and is not refused while others sit idle: the longest idle
/// connection is closed to make room, and the newcomer is served.
#[test]
fn connection_count_is_bounded() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config(dir.path(), &local_target("relay", "60s")));
    let mut idle: Vec<_> = (0..ses_probe::http::MAX_CONNECTIONS)
        .map(|_| {
            let s = std::net::TcpStream::connect(d.addr).unwrap();
            // Accepted in this order, so the first is the longest idle.
            std::thread::sleep(Duration::from_millis(5));
            s
        })
        .collect();
    // Let the server accept all of them.
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    assert_eq!(get(d.addr, "/healthz").status, 200);
    assert!(start.elapsed() < Duration::from_secs(1), "it was held");
    // The longest idle connection made room: closed, not left open.
    let oldest = &mut idle[0];
    oldest
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut buf = [0u8; 16];
    let closed = match oldest.read(&mut buf) {
        Ok(n) => n == 0,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    assert!(closed, "no idle connection was closed for the newcomer");
    assert!(start.elapsed() < Duration::from_secs(1));
}

/// Prometheus itself scrapes the daemon (through a relay that records the
/// exchange): it asks for gzip, gets a gzipped body, and stores every
/// sample the plain exposition holds.
#[test]
fn prometheus_scrapes_the_gzipped_exposition() {
    use crate::support::prometheus::{Prometheus, Relay};
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config(dir.path(), &local_target("relay", "60s")));
    let runs = r#"ses_probe_runs_total{check="smtp",target="relay"}"#;
    d.wait_metric(runs, Duration::from_secs(10), |v| v >= 1.0);
    let relay = Relay::start(d.addr);
    let prometheus = Prometheus::start(dir.path(), relay.addr);
    let scraped = wait_for(Duration::from_secs(30), || {
        prometheus.query_one(r#"scrape_samples_scraped{job="ses-probe"}"#)
    })
    .unwrap_or_else(|| panic!("prometheus never scraped; log:\n{}", prometheus.log()));
    assert_eq!(
        prometheus.query_one(r#"up{job="ses-probe"}"#),
        Some(1.0),
        "{}",
        prometheus.log()
    );

    let plain = d.metrics();
    let samples = plain
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count();
    assert_eq!(
        scraped, samples as f64,
        "samples stored vs served:\n{plain}"
    );
    let stored = prometheus.query_one(runs);
    assert_eq!(stored, metric(&plain, runs));

    let heads = relay.heads.lock().unwrap();
    let request = String::from_utf8_lossy(&heads.requests).to_ascii_lowercase();
    let response = String::from_utf8_lossy(&heads.responses).to_ascii_lowercase();
    assert!(request.starts_with("get /metrics http/1.1"), "{request}");
    assert!(request.contains("\r\naccept-encoding: gzip"), "{request}");
    assert!(
        response.contains("\r\ncontent-encoding: gzip\r\n"),
        "{response}"
    );
    assert!(
        response.contains("\r\nvary: accept-encoding\r\n"),
        "{response}"
    );
    // The body went compressed: no exposition text on the wire.
    assert!(!response.contains("ses_probe_runs_total"), "{response}");
}
