//! ses-probe reads Postfix's relay credentials the way Postfix does:
//! proved against real Postfix (Debian's package, run privately) relaying
//! to the fake SES server, which records the user name every AUTH carried.
//!
//! For each `sasl_passwd` layout, real Postfix delivers one message; then
//! `ses-probe --once` runs twice against the same fake, once with
//! `postfix = true` (Postfix's own settings, `postconf`, `postmap -q`) and
//! once with the plain `sasl_passwd = PATH` source. Both must agree with
//! Postfix: the same user name when Postfix authenticated, and never OK
//! when Postfix's mail did not go out.

use std::path::Path;
use std::time::Duration;

use crate::support::ca;
use crate::support::fake_smtp::{FakeSmtp, Script};
use crate::support::postfix::{self, PostfixConfig, PrivatePostfix, SENDER_DOMAIN};
use crate::support::{run, write_file};

/// The user SES knows, with its password.
const GOOD_USER: &str = "AKIAIOSFODNN7EXAMPLE";
const GOOD_PASSWORD: &str = "BNbp0L1xHRvSRp3T5q4dP+8vXOTXL2r8xEXAMPLEpw5j";
/// Another key, which SES refuses.
const OTHER_USER: &str = "AKIAI44QH8DHBEXAMPLE";
const OTHER_PASSWORD: &str = "BCq3mfBWxYqG9lNvFe2YPk1zs0Xpdc9cEXAMPLEa1b2c";

/// How one `sasl_passwd` is laid out, and what Postfix does with it.
struct Layout {
    name: &'static str,
    /// The table, given the relay host and port.
    table: fn(&str, u16) -> String,
    /// Compile with postmap (`Some(true)`: and remove the text file).
    hash: Option<bool>,
    /// The user Postfix authenticates as; `None`: it sends no AUTH.
    postfix_user: Option<&'static str>,
    /// Whether Postfix's delivery succeeds.
    sent: bool,
}

const LAYOUTS: &[Layout] = &[
    Layout {
        name: "bracketed host and port, as the SES guide writes it",
        table: |h, p| format!("[{h}]:{p} {GOOD_USER}:{GOOD_PASSWORD}\n"),
        hash: None,
        postfix_user: Some(GOOD_USER),
        sent: true,
    },
    Layout {
        name: "only [host], no port",
        table: |h, _| format!("[{h}] {GOOD_USER}:{GOOD_PASSWORD}\n"),
        hash: None,
        postfix_user: None,
        sent: false,
    },
    Layout {
        name: "only host:port, no brackets",
        table: |h, p| format!("{h}:{p} {GOOD_USER}:{GOOD_PASSWORD}\n"),
        hash: None,
        postfix_user: None,
        sent: false,
    },
    Layout {
        name: "bare host before [host]:port: the host name is looked up first",
        table: |h, p| {
            format!("[{h}]:{p} {GOOD_USER}:{GOOD_PASSWORD}\n{h} {OTHER_USER}:{OTHER_PASSWORD}\n")
        },
        hash: None,
        postfix_user: Some(OTHER_USER),
        sent: false,
    },
    Layout {
        name: "duplicate key: the first one counts",
        table: |h, p| {
            format!(
                "[{h}]:{p} {GOOD_USER}:{GOOD_PASSWORD}\n[{h}]:{p} {OTHER_USER}:{OTHER_PASSWORD}\n"
            )
        },
        hash: Some(false),
        postfix_user: Some(GOOD_USER),
        sent: true,
    },
    Layout {
        name: "value on an indented continuation line",
        table: |h, p| format!("# relay\n[{h}]:{p}\n    {GOOD_USER}:{GOOD_PASSWORD}\n"),
        hash: None,
        postfix_user: Some(GOOD_USER),
        sent: true,
    },
    Layout {
        name: "only the compiled .db left",
        table: |h, p| format!("[{h}]:{p} {GOOD_USER}:{GOOD_PASSWORD}\n"),
        hash: Some(true),
        postfix_user: Some(GOOD_USER),
        sent: true,
    },
];

/// The user names the fake saw in AUTH since entry `from` of its log.
fn auth_users(fake: &FakeSmtp, from: usize) -> Vec<String> {
    fake.log()
        .iter()
        .skip(from)
        .filter_map(|l| l.strip_prefix("AUTH user ").map(str::to_owned))
        .collect()
}

/// `ses-probe --once -o json` with `smtp` as the `[target.smtp]` body:
/// (exit code, smtp check status, its classes).
fn probe(dir: &Path, smtp: &str) -> (i32, String, Vec<String>, String) {
    let cfg = write_file(
        dir,
        "probe.toml",
        &format!(
            "[server]\nstate_directory = \"{}\"\n[[target]]\nname = \"relay\"\nregion = \"eu-west-1\"\n[target.smtp]\ntimeout = \"5s\"\nehlo_name = \"probe.test\"\n{smtp}",
            dir.display()
        ),
    );
    let r = run(
        &["--once", "-o", "json", "--config", cfg.to_str().unwrap()],
        &[],
        None,
    );
    let v: serde_json::Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", r.stdout, r.stderr));
    let check = &v["targets"][0]["checks"][0];
    let classes = check["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| f["class"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default();
    let status = check["status"]
        .as_str()
        .or(v["status"].as_str())
        .unwrap_or("")
        .to_owned();
    (r.code, status, classes, r.stdout)
}

#[test]
fn sasl_passwd_is_read_as_postfix_reads_it() {
    if let Some(why) = postfix::unavailable() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("the Postfix tests cannot run under CI: {why}");
        }
        eprintln!("\nSKIPPED the Postfix tests (sasl_passwd_is_read_as_postfix_reads_it): {why}\n");
        return;
    }
    let leaf = ca::trusted().leaf(&["localhost"]);
    let mut failures = Vec::new();
    for layout in LAYOUTS {
        let fake = FakeSmtp::start(Script::ses(leaf.clone(), GOOD_USER, GOOD_PASSWORD));
        let mut config =
            PostfixConfig::relay_named("localhost", fake.port, GOOD_USER, GOOD_PASSWORD);
        config.sasl_text = Some((layout.table)("localhost", fake.port));
        config.hash_map = layout.hash;
        let pf = PrivatePostfix::start(&config, &ca::trusted().pem());
        let qid = pf.send(&format!("sender@{SENDER_DOMAIN}"), "recipient@example.net");
        let delivery = pf
            .wait_for_delivery(&qid, Duration::from_secs(15))
            .unwrap_or_else(|| {
                panic!(
                    "{}: no delivery:\n{}",
                    layout.name,
                    pf.log_lines().join("\n")
                )
            });
        // What real Postfix did: the facts the probe must agree with.
        let postfix_users = auth_users(&fake, 0);
        assert_eq!(
            postfix_users.first().map(String::as_str),
            layout.postfix_user,
            "{}: Postfix authenticated as {postfix_users:?}\n{delivery}",
            layout.name
        );
        assert_eq!(
            delivery.contains("status=sent"),
            layout.sent,
            "{}: {delivery}",
            layout.name
        );

        // 1. postfix = true.
        let seen = fake.log().len();
        let (code, status, classes, out) = probe(
            pf.dir(),
            &format!(
                "postfix = true\npostfix_config_directory = \"{}\"\n",
                pf.config_dir().display()
            ),
        );
        let probe_users = auth_users(&fake, seen);
        let probe_ok = code <= 1 && status != "critical";
        if probe_ok != layout.sent || probe_users.first().map(String::as_str) != layout.postfix_user
        {
            failures.push(format!(
                "{} (postfix = true): Postfix sent={} as {:?}; probe exit {code} status {status} {classes:?} as {probe_users:?}\n{out}",
                layout.name, layout.sent, layout.postfix_user
            ));
        }
        if layout.postfix_user.is_none() && !classes.iter().any(|c| c == "postfix_sasl_no_entry") {
            failures.push(format!(
                "{}: expected postfix_sasl_no_entry, got {classes:?}",
                layout.name
            ));
        }

        // 2. The plain sasl_passwd source, as Postfix's relayhost writes it.
        let table = pf.config_dir().join("sasl_passwd");
        let source = if layout.hash == Some(true) {
            format!("hash:{}", table.display())
        } else {
            table.display().to_string()
        };
        let seen = fake.log().len();
        let (code, status, classes, out) = probe(
            pf.dir(),
            &format!(
                "host = \"localhost\"\nport = {port}\nrelayhost = \"[localhost]:{port}\"\nsasl_passwd = \"{source}\"\nca_file = \"{}\"\n",
                pf.config_dir().join("ca.pem").display(),
                port = fake.port
            ),
        );
        let probe_users = auth_users(&fake, seen);
        let probe_ok = code <= 1 && status != "critical";
        if probe_ok != layout.sent
            || (layout.postfix_user.is_some()
                && probe_users.first().map(String::as_str) != layout.postfix_user)
        {
            failures.push(format!(
                "{} (sasl_passwd): Postfix sent={} as {:?}; probe exit {code} status {status} {classes:?} as {probe_users:?}\n{out}",
                layout.name, layout.sent, layout.postfix_user
            ));
        }
        if layout.postfix_user.is_none() {
            // No entry Postfix would use: a configuration error naming it.
            assert_eq!(code, 3, "{}: {out}", layout.name);
            assert!(out.contains("never looks up"), "{}: {out}", layout.name);
        }
        if layout.hash == Some(true) {
            // The bare path of a table whose text is gone names the fix.
            let (code, _, _, out) = probe(
                pf.dir(),
                &format!(
                    "host = \"localhost\"\nport = {}\nsasl_passwd = \"{}\"\n",
                    fake.port,
                    table.display()
                ),
            );
            assert_eq!(code, 3, "{out}");
            assert!(out.contains(&format!("hash:{}", table.display())), "{out}");
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A working relay reports where every setting came from; a broken one
/// names the parameter to change, and never says OK.
#[test]
fn postfix_settings_are_reported_and_broken_ones_named() {
    if let Some(why) = postfix::unavailable() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("the Postfix tests cannot run under CI: {why}");
        }
        eprintln!("\nSKIPPED the Postfix tests (postfix_settings_are_reported_and_broken_ones_named): {why}\n");
        return;
    }
    let leaf = ca::trusted().leaf(&["localhost"]);
    let fake = FakeSmtp::start(Script::ses(leaf, GOOD_USER, GOOD_PASSWORD));
    /// Name, `main.cf` settings, the class expected ("" for none).
    type Case = (
        &'static str,
        &'static [(&'static str, &'static str)],
        &'static str,
    );
    let cases: &[Case] = &[
        ("working", &[], ""),
        (
            "sasl off",
            &[("smtp_sasl_auth_enable", "no")],
            "postfix_sasl_disabled",
        ),
        (
            "default security options refuse PLAIN and LOGIN",
            &[
                ("smtp_sasl_security_options", "noplaintext, noanonymous"),
                ("smtp_sasl_tls_security_options", "noplaintext, noanonymous"),
            ],
            "sasl_mechanism_unavailable",
        ),
        (
            "TLS optional",
            &[("smtp_tls_security_level", "may")],
            "postfix_tls_not_enforced",
        ),
        (
            "no trust anchors at level secure",
            &[
                ("smtp_tls_security_level", "secure"),
                ("smtp_tls_CAfile", ""),
            ],
            "tls_certificate_invalid",
        ),
    ];
    for (name, settings, class) in cases {
        let mut config =
            PostfixConfig::relay_named("localhost", fake.port, GOOD_USER, GOOD_PASSWORD);
        for (k, v) in *settings {
            config = config.set(k, v);
        }
        let pf = PrivatePostfix::start(&config, &ca::trusted().pem());
        let (code, status, classes, out) = probe(
            pf.dir(),
            &format!(
                "postfix = true\npostfix_config_directory = \"{}\"\n",
                pf.config_dir().display()
            ),
        );
        if class.is_empty() {
            assert_eq!(code, 1, "{name}: only the not-SES relay warning\n{out}");
            assert_eq!(classes, vec!["postfix_relay_not_ses"], "{name}: {out}");
            for needle in [
                "relayhost = [localhost]:",
                "smtp_sasl_auth_enable = yes",
                &format!("credentials: {GOOD_USER} from texthash:"),
            ] {
                assert!(out.contains(needle), "{name}: {needle} missing in\n{out}");
            }
        } else {
            assert!(
                classes.iter().any(|c| c == class),
                "{name}: {classes:?}\n{out}"
            );
            if *class != "postfix_tls_not_enforced" {
                assert_eq!(status, "critical", "{name}: {out}");
            }
            assert!(
                out.contains("main.cf"),
                "{name}: the message names the file\n{out}"
            );
        }
    }
}

/// The log follower counts every real delivery Postfix logs, per target,
/// status and class, exactly; `--once` summarises the same log; and
/// `postfix-report` reads it after the fact.
#[test]
fn postfix_log_deliveries_are_counted_per_target() {
    use crate::support::http::{get, metric, wait_for};
    use crate::support::DaemonProcess;
    if let Some(why) = postfix::unavailable() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("the Postfix tests cannot run under CI: {why}");
        }
        eprintln!(
            "\nSKIPPED the Postfix tests (postfix_log_deliveries_are_counted_per_target): {why}\n"
        );
        return;
    }
    let leaf = ca::trusted().leaf(&["localhost"]);
    // Two relays: `a` takes the credentials, `b` refuses them.
    let good = FakeSmtp::start(Script::ses(leaf.clone(), GOOD_USER, GOOD_PASSWORD));
    let bad = FakeSmtp::start(Script::ses(leaf, GOOD_USER, OTHER_PASSWORD));
    let mut config = PostfixConfig::relay_named("localhost", good.port, GOOD_USER, GOOD_PASSWORD)
        .set(
            "transport_maps",
            &format!(
                "inline:{{{SENDER_DOMAIN}=discard:, a.example=smtp:[localhost]:{}, b.example=smtp:[localhost]:{}}}",
                good.port, bad.port
            ),
        );
    config.sasl_text = Some(format!(
        "[localhost]:{} {GOOD_USER}:{GOOD_PASSWORD}\n[localhost]:{} {GOOD_USER}:{GOOD_PASSWORD}\n",
        good.port, bad.port
    ));
    let pf = PrivatePostfix::start(&config, &ca::trusted().pem());
    let dir = pf.dir().to_owned();
    let target = |name: &str, port: u16| {
        format!(
            "[[target]]\nname = \"{name}\"\nregion = \"eu-west-1\"\n[target.smtp]\nhost = \"localhost\"\nport = {port}\nusername = \"{GOOD_USER}\"\npassword = \"{GOOD_PASSWORD}\"\nca_file = \"{}\"\ninterval = \"1h\"\ntimeout = \"5s\"\n",
            pf.config_dir().join("ca.pem").display()
        )
    };
    let cfg = write_file(
        &dir,
        "probe.toml",
        &format!(
            "[server]\nstate_directory = \"{}\"\n[postfix_log]\nsource = \"file\"\npath = \"{}\"\nwindow = \"1h\"\n{}{}",
            dir.display(),
            pf.maillog().display(),
            target("a", good.port),
            target("b", bad.port)
        ),
    );
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let listen = format!("127.0.0.1:{port}");
    let _daemon = DaemonProcess::spawn_args(
        &[
            "run",
            "--config",
            cfg.to_str().unwrap(),
            "--web.listen-address",
            &listen,
        ],
        &[],
    );
    let addr: std::net::SocketAddr = listen.parse().unwrap();
    let following = wait_for(Duration::from_secs(20), || {
        std::net::TcpStream::connect(addr).ok()?;
        metric(&get(addr, "/metrics").body, "ses_probe_postfix_log_reading").filter(|v| *v == 1.0)
    });
    assert!(following.is_some(), "{}", get(addr, "/metrics").body);

    let mut queued = Vec::new();
    for _ in 0..3 {
        queued.push(pf.send(&format!("sender@{SENDER_DOMAIN}"), "r@a.example"));
    }
    for _ in 0..2 {
        queued.push(pf.send(&format!("sender@{SENDER_DOMAIN}"), "r@b.example"));
    }
    for qid in &queued {
        pf.wait_for_delivery(qid, Duration::from_secs(15))
            .unwrap_or_else(|| panic!("no delivery of {qid}:\n{}", pf.log_lines().join("\n")));
    }
    let sent = r#"ses_probe_postfix_deliveries_total{class="ok",status="sent",target="a"}"#;
    let refused = r#"ses_probe_postfix_deliveries_total{class="auth_credentials_invalid",status="deferred",target="b"}"#;
    let counted = wait_for(Duration::from_secs(10), || {
        let body = get(addr, "/metrics").body;
        (metric(&body, sent) == Some(3.0) && metric(&body, refused) == Some(2.0)).then_some(body)
    });
    let body = counted.unwrap_or_else(|| get(addr, "/metrics").body);
    assert_eq!(metric(&body, sent), Some(3.0), "{body}");
    assert_eq!(metric(&body, refused), Some(2.0), "{body}");
    // Exactly these: no other delivery series.
    let series: Vec<&str> = body
        .lines()
        .filter(|l| l.starts_with("ses_probe_postfix_deliveries_total{"))
        .collect();
    assert_eq!(series.len(), 2, "{series:?}");
    assert!(get(addr, "/").body.contains("auth_credentials_invalid at "));

    // --once over the same log: the recent window's summary.
    let r = run(
        &["--once", "-o", "json", "--config", cfg.to_str().unwrap()],
        &[],
        None,
    );
    let v: serde_json::Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout));
    let targets = &v["postfix"]["targets"];
    assert_eq!(targets[0]["target"], "a", "{}", r.stdout);
    assert_eq!(targets[0]["sent"], 3, "{}", r.stdout);
    assert_eq!(targets[1]["deferred"], 2, "{}", r.stdout);
    assert_eq!(
        targets[1]["classes"]["auth_credentials_invalid"], 2,
        "{}",
        r.stdout
    );

    // postfix-report over the file, after the fact.
    let r = run(
        &[
            "postfix-report",
            "-o",
            "json",
            pf.maillog().to_str().unwrap(),
        ],
        &[],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let rows = v["rows"].as_array().unwrap();
    let count = |relay_port: u16, status: &str| -> u64 {
        rows.iter()
            .filter(|row| {
                row["relay"] == format!("localhost:{relay_port}") && row["status"] == status
            })
            .map(|row| row["count"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(count(good.port, "sent"), 3, "{}", r.stdout);
    assert_eq!(count(bad.port, "deferred"), 2, "{}", r.stdout);
}

/// Under the hardened unit, Postfix's root-only map reaches the service as
/// a `LoadCredential=` copy: when the original cannot be opened, the copy
/// in `$CREDENTIALS_DIRECTORY` is queried, and the report says so.
#[test]
fn a_credential_copy_of_the_map_is_used_when_the_map_is_unreadable() {
    if let Some(why) = postfix::unavailable() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("the Postfix tests cannot run under CI: {why}");
        }
        eprintln!("\nSKIPPED the Postfix tests (a_credential_copy_of_the_map_is_used_when_the_map_is_unreadable): {why}\n");
        return;
    }
    let leaf = ca::trusted().leaf(&["localhost"]);
    let fake = FakeSmtp::start(Script::ses(leaf, GOOD_USER, GOOD_PASSWORD));
    let mut config = PostfixConfig::relay_named("localhost", fake.port, GOOD_USER, GOOD_PASSWORD);
    config.hash_map = Some(true);
    let pf = PrivatePostfix::start(&config, &ca::trusted().pem());
    let creds = tempfile::tempdir().unwrap();
    let db = pf.config_dir().join("sasl_passwd.db");
    std::fs::copy(&db, creds.path().join("sasl_passwd.db")).unwrap();
    std::fs::remove_file(&db).unwrap();
    let cfg = write_file(
        pf.dir(),
        "probe.toml",
        &format!(
            "[server]\nstate_directory = \"{}\"\n[[target]]\nname = \"relay\"\nregion = \"eu-west-1\"\n[target.smtp]\ntimeout = \"5s\"\npostfix = true\npostfix_config_directory = \"{}\"\n",
            pf.dir().display(),
            pf.config_dir().display()
        ),
    );
    let seen = fake.log().len();
    let r = run(
        &["--once", "--config", cfg.to_str().unwrap()],
        &[("CREDENTIALS_DIRECTORY", creds.path().to_str().unwrap())],
        None,
    );
    assert_eq!(
        r.code, 1,
        "only the not-SES relay warning:\n{}{}",
        r.stdout, r.stderr
    );
    assert_eq!(auth_users(&fake, seen), vec![GOOD_USER.to_owned()]);
    assert!(
        r.stdout
            .contains("from $CREDENTIALS_DIRECTORY (LoadCredential=)"),
        "{}",
        r.stdout
    );
    // Without the copy, the unreadable map is a finding, never OK.
    let r = run(&["--once", "--config", cfg.to_str().unwrap()], &[], None);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stdout.contains("postfix_config_unreadable"),
        "{}",
        r.stdout
    );
}
