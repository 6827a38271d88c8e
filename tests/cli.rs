//! The command line end to end: `check-config`, `--once` on local
//! credential findings, `explain`, `derive-smtp-password`, exit codes, and
//! the secret canary.

use crate::support::fake_aws::{FakeAws, Recorded, Reply};
use crate::support::{run, write_file, ConnectionCounter};

const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

#[test]
fn check_config_reports_every_problem_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let (p, r) = check_config_of(
        dir.path(),
        r#"[[target]]
name = "relay"
region = "eu-west-1"

[target.smtp]
username = "AKIAIOSFODNN7EXAMPLE"
password = { file = "/nonexistent/smtp-password" }
timeout = "ten seconds"
colour = "blue"
"#,
    );
    assert_eq!(r.code, 78, "{}", r.stderr);
    let errors = error_lines(&r);
    assert_eq!(errors.len(), 3, "{}", r.stderr);
    assert!(
        errors.contains(&format!("error: {p}:9: target[0].smtp.colour: unknown key").as_str()),
        "{errors:#?}"
    );
    assert!(
        errors.iter().any(|e| e.starts_with(&format!(
            "error: {p}:7: target[0].smtp.password: /nonexistent/smtp-password"
        ))),
        "{errors:#?}"
    );
    assert!(
        errors.iter().any(|e| e.starts_with(&format!(
            "error: {p}:8: target[0].smtp.timeout: `ten seconds` is not a duration"
        ))),
        "{errors:#?}"
    );
}

#[test]
fn check_config_accepts_the_example() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/ses-probe.example.toml");
    let creds = concat!(env!("CARGO_MANIFEST_DIR"), "/config/example-credentials");
    let r = run(
        &["check-config", "--config", example],
        &[("CREDENTIALS_DIRECTORY", creds)],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("eu-relay [smtp]"), "{}", r.stdout);
    assert!(
        r.stdout.contains("eu-api [identity,account,send]"),
        "{}",
        r.stdout
    );
}

#[test]
fn once_with_a_config_error_is_unknown() {
    let r = run(
        &["--once", "--config", "/nonexistent/ses-probe.toml"],
        &[],
        None,
    );
    assert_eq!(r.code, 3);
    assert!(r.stdout.starts_with("SES-PROBE UNKNOWN"), "{}", r.stdout);
}

#[test]
fn secret_key_as_smtp_password_is_critical_and_never_sent() {
    let listener = ConnectionCounter::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_file(
        dir.path(),
        "c.toml",
        &format!(
            r#"[[target]]
name = "relay"
region = "us-east-1"
[target.smtp]
host = "127.0.0.1"
port = {}
username = "AKIAIOSFODNN7EXAMPLE"
password = {{ env = "PW" }}
timeout = "2s"
"#,
            listener.port
        ),
    );
    let r = run(
        &[
            "--once",
            "--output",
            "json",
            "--config",
            cfg.to_str().unwrap(),
        ],
        &[("PW", SECRET_KEY)],
        None,
    );
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["status"], "critical");
    let check = &v["targets"][0]["checks"][0];
    assert_eq!(check["check"], "smtp");
    assert_eq!(check["success"], false);
    assert_eq!(check["findings"][0]["class"], "smtp_password_is_secret_key");
    assert_eq!(check["findings"][0]["severity"], "critical");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(
        listener.connections(),
        0,
        "a connection reached the listener"
    );
    assert!(!r.stdout.contains(SECRET_KEY) && !r.stderr.contains(SECRET_KEY));
}

#[test]
fn explain_through_the_binary() {
    let r = run(
        &["explain", "-o", "json"],
        &[],
        Some("Nov 27 10:00:01 mx postfix/smtp[1]: 4F2A: SASL authentication failed; server email-smtp.eu-west-1.amazonaws.com[3.3.3.3] said: 535 Authentication Credentials Invalid\n"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["class"], "auth_credentials_invalid");
    assert_eq!(v["severity"], "critical");
    assert_eq!(v["details"]["reply_code"], 535);
    assert_eq!(v["details"]["region"], "eu-west-1");
    assert!(v["remediation"].as_str().unwrap().contains("SMTP"));

    let r = run(&["explain", "235 Authentication successful"], &[], None);
    assert!(
        r.stdout.starts_with("class:       ok\nseverity:    ok\n"),
        "{}",
        r.stdout
    );

    let r = run(&["explain"], &[], Some("   \n"));
    assert_eq!(r.code, 64);
}

#[test]
fn derive_reproduces_published_vectors() {
    let cases = [
        (
            vec!["--region", "eu-central-1"],
            "some+secret+key",
            "BMXhUYlu5Z3gSXVQORxlVa7XPaz91aGWdfHxvkOZdWZ2",
        ),
        (
            vec!["--region", "us-west-1"],
            "another+secret+key",
            "BKVmjjMDFk/qqw8EROW99bjCS65PF8WKvK5bSr4Y6EqF",
        ),
        (
            vec!["--legacy-v2"],
            "some+secret+key",
            "AnkqhOiWEcszZZzTMCQbOY1sPGoLFgMH9zhp4eNgSjo4",
        ),
    ];
    for (flags, secret, want) in cases {
        let mut args = vec!["derive-smtp-password"];
        args.extend(flags.iter().copied());
        let r = run(&args, &[], Some(&format!("{secret}\n")));
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(r.stdout.trim(), want);
    }
    // An SMTP password is refused as input.
    let r = run(
        &["derive-smtp-password", "--region", "us-east-1"],
        &[],
        Some("BMXhUYlu5Z3gSXVQORxlVa7XPaz91aGWdfHxvkOZdWZ2\n"),
    );
    assert_eq!(r.code, 65);
    assert!(r.stdout.is_empty());
}

#[test]
fn usage_errors_have_their_own_code() {
    assert_eq!(run(&["--no-such-flag"], &[], None).code, 64);
    assert_eq!(run(&["--help"], &[], None).code, 0);
}

/// A canary secret goes through config parsing (env, file and inline
/// sources), credential analysis, `--once` in both outputs and `explain`,
/// with logs at TRACE; it must appear in no output at all.
#[test]
fn secret_canary_never_appears() {
    use base64::Engine as _;
    // Shaped like a real v4 SMTP password, so analysis lets it through to
    // the network phase; and a canary secret key for the API side.
    let mut raw = vec![4u8];
    raw.extend_from_slice(b"CANARY-smtp-password-0123456789!");
    let smtp_canary = base64::engine::general_purpose::STANDARD.encode(&raw);
    let api_canary = "CANARYapiSECRETkey0123456789abcdefghijkl";
    let token_canary = "CANARYsessionTOKEN";
    assert_eq!(api_canary.len(), 40);
    let dead = ConnectionCounter::start();
    // The API side talks to a fake AWS that answers every check, so the
    // credentials really are used (signed, sent as a session token) on
    // paths that succeed and paths that fail.
    let fake = FakeAws::start(|r: &Recorded| {
        match r.op() {
        "GetCallerIdentity" => Reply::sts_identity(
            "arn:aws:sts::123456789012:assumed-role/mailer/canary",
            "123456789012",
            "AROAEXAMPLE:canary",
        ),
        "GetAccount" => Reply::ses_error(
            403,
            "AccessDeniedException",
            "User `arn:aws:sts::123456789012:assumed-role/mailer/canary' is not authorized to perform `ses:GetAccount' on resource `*'",
        ),
        "SendEmail" => Reply::ses_error(
            403,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided.",
        ),
        _ => Reply::not_found(),
    }
    });
    let dir = tempfile::tempdir().unwrap();
    let token_file = write_file(dir.path(), "token", &format!("{token_canary}\n"));
    let cfg = write_file(
        dir.path(),
        "c.toml",
        &format!(
            r#"[server]
state_directory = "{state}"

[[target]]
name = "env-secrets"
region = "us-east-1"
[target.smtp]
host = "127.0.0.1"
port = {port}
username = "AKIAIOSFODNN7EXAMPLE"
password = {{ env = "SMTP_PW" }}
secret_access_key = {{ value = "{api}" }}
timeout = "1s"
[target.api]
access_key_id = "AKIAIOSFODNN7EXAMPLE"
secret_access_key = {{ value = "{api}" }}
session_token = {{ file = "{token}" }}
endpoint_url = "{fake}"
sts_endpoint_url = "{fake}"
timeout = "2s"
[target.api.send]
from = "probe@example.com"
"#,
            port = dead.port,
            api = api_canary,
            token = token_file.display(),
            fake = fake.url,
            state = dir.path().join("state").display()
        ),
    );
    let env = [("SMTP_PW", smtp_canary.as_str()), ("RUST_LOG", "trace")];
    let mut outputs = Vec::new();
    for args in [
        vec!["check-config", "--config", cfg.to_str().unwrap()],
        vec![
            "--once",
            "--config",
            cfg.to_str().unwrap(),
            "--log-level",
            "trace",
        ],
        vec![
            "--once",
            "-o",
            "json",
            "--config",
            cfg.to_str().unwrap(),
            "--log-level",
            "trace",
        ],
    ] {
        let r = crate::support::run_in(&args, &env, None, std::time::Duration::from_secs(90));
        outputs.push((args.join(" "), r.stdout, r.stderr));
    }
    let pasted = format!("AUTH PLAIN failed for {smtp_canary} with secret {api_canary}");
    let r = run(&["explain", "--log-level", "trace"], &env, Some(&pasted));
    outputs.push(("explain".into(), r.stdout, r.stderr));
    for (what, out, err) in &outputs {
        for canary in [smtp_canary.as_str(), api_canary, token_canary, "CANARY"] {
            assert!(!out.contains(canary), "{what}: canary in stdout:\n{out}");
            assert!(!err.contains(canary), "{what}: canary in stderr:\n{err}");
        }
    }
    // The runs did produce output, so the assertion above is not vacuous.
    assert!(outputs[1].1.contains("target env-secrets"));
    assert!(outputs[2].1.contains("\"targets\""));
    // Two --once runs, three API checks each, all reached the fake with
    // the canary credentials.
    let requests = fake.requests();
    for op in ["GetCallerIdentity", "GetAccount", "SendEmail"] {
        assert_eq!(fake.count(op), 2, "{op}: {requests:#?}");
    }
    for r in &requests {
        assert_eq!(r.header("x-amz-security-token"), Some(token_canary));
        assert!(r
            .header("authorization")
            .is_some_and(|a| a.contains("Credential=AKIAIOSFODNN7EXAMPLE/")));
    }
    let json: serde_json::Value = serde_json::from_str(&outputs[2].1).unwrap();
    let classes: Vec<&str> = json["targets"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["findings"][0]["class"].as_str())
        .collect();
    assert!(classes.contains(&"iam_access_denied"), "{classes:?}");
    assert!(classes.contains(&"signature_mismatch"), "{classes:?}");
}

#[test]
fn group_readable_secret_file_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let pw = write_file(
        dir.path(),
        "pw",
        "BMXhUYlu5Z3gSXVQORxlVa7XPaz91aGWdfHxvkOZdWZ2\n",
    );
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).unwrap();
    let cfg = write_file(
        dir.path(),
        "c.toml",
        &format!(
            "[[target]]\nname = \"r\"\nregion = \"eu-central-1\"\n[target.smtp]\nusername = \"AKIAIOSFODNN7EXAMPLE\"\npassword = {{ file = \"{}\" }}\n",
            pw.display()
        ),
    );
    let p = cfg.to_str().unwrap();
    let r = run(&["check-config", "--config", p], &[], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("warning: {p}:6: target[0].smtp.password: {} holds a secret and is readable by group or others", pw.display())),
        "{}",
        r.stderr
    );
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    let r = run(&["check-config", "--config", p], &[], None);
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
}

/// Logs go to stderr: without timestamps under journald (which adds its
/// own), as JSON objects with `--log-format json`.
#[test]
fn log_formats() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_file(
        dir.path(),
        "c.toml",
        "[[target]]\nname = \"r\"\nregion = \"us-east-1\"\n[target.smtp]\nhost = \"127.0.0.1\"\nport = 9\nusername = \"AKIAIOSFODNN7EXAMPLE\"\npassword = { env = \"PW\" }\n",
    );
    let p = cfg.to_str().unwrap();
    let args = ["--once", "--config", p, "--log-level", "info"];
    let plain = run(&args, &[("PW", SECRET_KEY)], None);
    let line = plain
        .stderr
        .lines()
        .find(|l| l.contains("check finished"))
        .expect("a log line");
    assert!(line.starts_with("20"), "expected a timestamp: {line}");
    let journal = run(
        &args,
        &[("PW", SECRET_KEY), ("JOURNAL_STREAM", "8:1234")],
        None,
    );
    let line = journal
        .stderr
        .lines()
        .find(|l| l.contains("check finished"))
        .expect("a log line");
    assert!(
        line.starts_with("<6> INFO") || line.starts_with("<6>INFO"),
        "a syslog priority and no timestamp under journald: {line}"
    );
    assert!(
        journal.stderr.lines().all(|l| l.starts_with('<')),
        "every line has its priority: {}",
        journal.stderr
    );
    let warn = journal.stderr.lines().find(|l| l.contains(" WARN "));
    assert!(warn.is_none_or(|l| l.starts_with("<4>")), "{warn:?}");
    assert!(
        line.contains("class=\"smtp_password_is_secret_key\""),
        "{line}"
    );
    let mut json_args = args.to_vec();
    json_args.extend(["--log-format", "json"]);
    let json = run(&json_args, &[("PW", SECRET_KEY)], None);
    let line = json
        .stderr
        .lines()
        .find(|l| l.contains("check finished"))
        .expect("a log line");
    let v: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
    assert_eq!(v["level"], "INFO");
    assert_eq!(v["fields"]["class"], "smtp_password_is_secret_key");
    for out in [&plain, &journal, &json] {
        assert!(!out.stderr.contains(SECRET_KEY) && !out.stdout.contains(SECRET_KEY));
    }
}

/// No config file: one `default` target from the environment, as a
/// newcomer on a mail host would expect.
#[test]
fn once_without_config_uses_the_environment() {
    if std::path::Path::new(ses_probe::config::DEFAULT_CONFIG_PATH).exists() {
        // A real installation: the file would take precedence.
        panic!(
            "{} exists on this machine; this test needs it absent",
            ses_probe::config::DEFAULT_CONFIG_PATH
        );
    }
    let r = run(
        &["--once", "-o", "json"],
        &[
            ("AWS_REGION", "eu-west-1"),
            ("SES_SMTP_USERNAME", "AKIAIOSFODNN7EXAMPLE"),
            ("SES_SMTP_PASSWORD", SECRET_KEY),
        ],
        None,
    );
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let t = &v["targets"][0];
    assert_eq!(
        (t["name"].as_str(), t["region"].as_str()),
        (Some("default"), Some("eu-west-1"))
    );
    let class = |check: &str| {
        t["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == check)
            .map(|c| c["findings"][0]["class"].as_str().unwrap_or("").to_owned())
    };
    assert_eq!(
        class("smtp").as_deref(),
        Some("smtp_password_is_secret_key")
    );
    // No credentials anywhere (HOME is empty, IMDS is off in the test env).
    assert_eq!(class("identity").as_deref(), Some("no_credentials"));
    assert_eq!(class("account").as_deref(), Some("no_credentials"));
}

/// A config file with a secret written inline must be private: a
/// world-readable one is warned about; one using env or file sources is not.
#[test]
fn inline_secret_in_a_readable_config_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let body = |password: &str| {
        format!("[[target]]\nname = \"r\"\nregion = \"eu-central-1\"\n[target.smtp]\nusername = \"AKIAIOSFODNN7EXAMPLE\"\npassword = {password}\n")
    };
    let cfg = write_file(
        dir.path(),
        "c.toml",
        &body("\"BMXhUYlu5Z3gSXVQORxlVa7XPaz91aGWdfHxvkOZdWZ2\""),
    );
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let p = cfg.to_str().unwrap();
    let r = run(&["check-config", "--config", p], &[], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "warning: {p}: the file holds inline secrets and is readable by group or others"
        )),
        "{}",
        r.stderr
    );
    std::fs::write(&cfg, body("{ env = \"PW\" }")).unwrap();
    let r = run(
        &["check-config", "--config", p],
        &[("PW", "BMXhUYlu5Z3gSXVQORxlVa7XPaz91aGWdfHxvkOZdWZ2")],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
}

/// Several lines on stdin are a log: one verdict per failure line, normal
/// lines only counted, a summary; JSON output is one object per line.
#[test]
fn explain_reads_a_log() {
    let log = "Dec 01 21:39:45 mx postfix/pickup[15608]: 03B5998D312: uid=0 from=<sender@example.com>\n\
Dec 01 21:39:45 mx postfix/smtp[15616]: EC86198CEF3: to=<recipient@example.net>, relay=127.0.0.1[127.0.0.1]:42059, delay=0.07, delays=0.02/0.04/0/0, dsn=4.0.0, status=deferred (SASL authentication failed; server 127.0.0.1[127.0.0.1] said: 535 Authentication Credentials Invalid)\n\
Dec 01 21:39:45 mx postfix/qmgr[15609]: 03B5998D312: removed\n\
Dec 01 21:40:04 mx postfix/smtp[17997]: connect to 127.0.0.1[127.0.0.1]:42589: Connection refused\n\
Dec 01 21:40:04 mx postfix/smtp[18001]: EFB5798D3FE: to=<recipient@example.net>, relay=127.0.0.1[127.0.0.1]:39517, delay=0.05, delays=0.03/0.02/0.01/0, dsn=5.3.4, status=bounced (message size 331 exceeds size limit 100 of server 127.0.0.1[127.0.0.1])\n";
    let r = run(&["explain"], &[], Some(log));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .starts_with("line 2: auth_credentials_invalid (critical) reply_code=535"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("line 4: connect_refused (critical)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("line 5: message_too_large (critical)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.trim_end().ends_with(
            "summary: 5 lines, 3 failure lines (auth_credentials_invalid: 1, connect_refused: 1, message_too_large: 1), 2 normal lines skipped"
        ),
        "{}",
        r.stdout
    );

    let r = run(&["explain", "-o", "json"], &[], Some(log));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let objects: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(objects.len(), 4, "{}", r.stdout);
    assert_eq!(objects[0]["line"], 2);
    assert_eq!(objects[0]["class"], "auth_credentials_invalid");
    assert_eq!(objects[0]["severity"], "critical");
    assert_eq!(objects[0]["details"]["reply_code"], 535);
    assert_eq!(objects[2]["class"], "message_too_large");
    let summary = &objects[3]["summary"];
    assert_eq!(summary["lines"], 5);
    assert_eq!(summary["failures"], 3);
    assert_eq!(summary["normal"], 2);
    assert_eq!(summary["classes"]["connect_refused"], 1);
}

/// `unknown` is not presented as a critical diagnosis.
#[test]
fn explain_unknown_has_unknown_severity() {
    let r = run(&["explain", "the frobnicator is sad"], &[], None);
    assert!(
        r.stdout
            .starts_with("class:       unknown\nseverity:    unknown\n"),
        "{}",
        r.stdout
    );
    let r = run(
        &["explain", "-o", "json", "the frobnicator is sad"],
        &[],
        None,
    );
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["severity"], "unknown");
}

/// Input that is not clean UTF-8 (Latin-1 bytes, a character cut short) is
/// decoded lossily, not refused.
#[test]
fn explain_takes_any_bytes() {
    use std::io::Write;
    use std::process::Stdio;
    let mut input = b"535 Authentication Credentials Invalid for Jos\xe9 \xe2\x82".to_vec();
    input.push(b'\n');
    let mut child = crate::support::command(&["explain", "-o", "json"], &[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["class"], "auth_credentials_invalid");
}

/// `ses-probe ... | head -c1`: a closed stdout ends the output quietly.
#[test]
fn closed_stdout_is_a_quiet_exit() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/ses-probe.example.toml");
    let creds = concat!(env!("CARGO_MANIFEST_DIR"), "/config/example-credentials");
    let cases: [(&[&str], i32); 3] = [
        (&["check-config", "--config", example], 0),
        (&["--once", "--config", "/nonexistent/ses-probe.toml"], 3),
        (&["explain", "535 Authentication Credentials Invalid"], 0),
    ];
    for (args, want) in cases {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = crate::support::command(args, &[("CREDENTIALS_DIRECTORY", creds)])
            .stdin(std::process::Stdio::null())
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(want), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
    }
}

#[test]
fn derive_checks_its_input_and_region() {
    // A secret access key is 40 characters.
    let r = run(
        &["derive-smtp-password", "--region", "eu-west-1"],
        &[],
        Some("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKE\n"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("39 characters long, not 40"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("44"), "{}", r.stderr);

    // Binary input is bad data, not an I/O error.
    let out = run_bytes(
        &["derive-smtp-password", "--region", "eu-west-1"],
        b"\xff\xfe\x00binary\n",
    );
    assert_eq!(out.status.code(), Some(65));
    assert!(out.stdout.is_empty());

    // Region names are case-sensitive in the derivation, and must be SES's;
    // the region is checked before a secret is asked for.
    let input = format!("{SECRET_KEY}\n");
    let out = run_bytes(
        &["derive-smtp-password", "--region", "EU-WEST-1"],
        input.as_bytes(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains("case-sensitive") && stderr.contains("`eu-west-1`"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    let out = run_bytes(
        &["derive-smtp-password", "--region", "mars-east-1"],
        input.as_bytes(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("not an SES region"), "{stderr}");
}

/// The binary with raw bytes on stdin; a child that exits without reading
/// them is fine.
fn run_bytes(args: &[&str], input: &[u8]) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = crate::support::command(args, &[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(input);
    child.wait_with_output().unwrap()
}

/// The AWS SDK for Rust's credential chain, made to fail in each of its own
/// ways by the environment of a real `--once` run: the identity check's
/// finding must carry the credential class, and its message the SDK's text
/// (the texts in `tests/corpus/credential-chain.jsonl` marked as produced
/// by running the binary come from these runs). Network: 127.0.0.1 only.
#[test]
fn credential_chain_failures_get_their_class() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = |name: &str, body: &str| write_file(d, name, body).to_str().unwrap().to_owned();
    let other = file("other", "[profile other]\nregion = eu-west-1\n");
    let broken = file("broken", "[profile broken\nregion = eu-west-1\n");
    let sso = file(
        "sso",
        "[profile sso]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = Mailer\n\
         [sso-session corp]\nsso_start_url = https://example.awsapps.com/start\nsso_region = eu-west-1\n",
    );
    let sso_legacy = file(
        "sso-legacy",
        "[profile sso]\nsso_start_url = https://example.awsapps.com/start\nsso_region = eu-west-1\n\
         sso_account_id = 123456789012\nsso_role_name = Mailer\n",
    );
    let process_false = file(
        "process-false",
        "[profile proc]\ncredential_process = /bin/false\n",
    );
    let script = file("not-json", "#!/bin/sh\necho 'this is not json'\n");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    let process_json = file(
        "process-json",
        &format!("[profile proc]\ncredential_process = {script}\n"),
    );
    let web_identity = file(
        "web-identity",
        "[profile wi]\nweb_identity_token_file = /nonexistent/token\nrole_arn = arn:aws:iam::123456789012:role/mailer\n",
    );
    // A port nothing listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let ecs = format!("http://127.0.0.1:{closed}/creds");
    let imds = format!("http://127.0.0.1:{closed}/");

    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            "nothing anywhere, IMDS disabled",
            vec![],
            "no_credentials",
            "no credentials found in chain. Attempted:",
        ),
        (
            "AWS_ACCESS_KEY_ID without its secret",
            vec![("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")],
            "partial_credentials",
            "Environment: the credential provider was not enabled: environment variable not set",
        ),
        (
            "AWS_SECRET_ACCESS_KEY without its key ID",
            vec![("AWS_SECRET_ACCESS_KEY", SECRET_KEY)],
            "partial_credentials",
            "Environment: the credential provider was not enabled: environment variable not set",
        ),
        (
            "AWS_PROFILE names a profile the config file lacks",
            vec![("AWS_CONFIG_FILE", &other), ("AWS_PROFILE", "mailer")],
            "profile_not_found",
            "profile `mailer` was not defined",
        ),
        (
            "AWS_PROFILE names a profile and there is no config file",
            vec![("AWS_PROFILE", "mailer")],
            "profile_not_found",
            "Profile: the credential provider was not enabled\n",
        ),
        (
            "a config file that does not parse",
            vec![("AWS_CONFIG_FILE", &broken), ("AWS_PROFILE", "broken")],
            "profile_not_found",
            "invalid profile: could not parse profile file",
        ),
        (
            "sso_session and no cached token",
            vec![("AWS_CONFIG_FILE", &sso), ("AWS_PROFILE", "sso")],
            "sso_session_expired",
            "an error occurred while loading an access token: failed to load the cached SSO token",
        ),
        (
            "legacy sso_start_url and no cached token",
            vec![("AWS_CONFIG_FILE", &sso_legacy), ("AWS_PROFILE", "sso")],
            "sso_session_expired",
            "No such file or directory (os error 2)",
        ),
        (
            "credential_process = /bin/false",
            vec![("AWS_CONFIG_FILE", &process_false), ("AWS_PROFILE", "proc")],
            "no_credentials",
            "Error retrieving credentials: external process exited with code exit status: 1. Stderr: ",
        ),
        (
            "credential_process printing invalid JSON",
            vec![("AWS_CONFIG_FILE", &process_json), ("AWS_PROFILE", "proc")],
            "no_credentials",
            "could not parse response: invalid JSON in response",
        ),
        (
            "web_identity_token_file missing (profile)",
            vec![("AWS_CONFIG_FILE", &web_identity), ("AWS_PROFILE", "wi")],
            "no_credentials",
            "an error occurred while loading credentials: an error occurred while loading credentials: No such file or directory (os error 2)",
        ),
        (
            "AWS_WEB_IDENTITY_TOKEN_FILE missing (environment)",
            vec![
                ("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent/token"),
                ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/mailer"),
            ],
            "no_credentials",
            "an error occurred while loading credentials: No such file or directory (os error 2)",
        ),
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI to a closed port",
            vec![("AWS_CONTAINER_CREDENTIALS_FULL_URI", &ecs)],
            "imds_unavailable",
            "unexpected credentials error: dispatch failure: io error: client error (Connect): tcp connect error: Connection refused (os error 111)",
        ),
        (
            "IMDS enabled but unreachable: the normal state outside EC2",
            vec![
                ("AWS_EC2_METADATA_DISABLED", "false"),
                ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds),
            ],
            "no_credentials",
            "Ec2InstanceMetadata: the credential provider was not enabled: could not communicate with IMDS: dispatch failure: io error: client error (Connect): tcp connect error: Connection refused (os error 111)",
        ),
    ];
    let mut wrong = Vec::new();
    for (name, extra, want, text) in &cases {
        let mut env = vec![("AWS_REGION", "eu-west-1")];
        env.extend(extra.iter().copied());
        let r = run(&["--once", "-o", "json"], &env, None);
        let v: serde_json::Value = serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {}{}", r.stdout, r.stderr));
        let identity = v["targets"][0]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "identity")
            .cloned()
            .unwrap_or_default();
        let finding = &identity["findings"][0];
        let class = finding["class"].as_str().unwrap_or("");
        let message = finding["message"].as_str().unwrap_or("");
        if class != *want || !message.contains(text) {
            wrong.push(format!("{name}: {class} (want {want}): {message}"));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

/// A target probing the fake SES SMTP server (TLS with the test CA) and
/// a fake AWS 42 s ahead: every kind of perfdata has a value.
fn full_target(
    dir: &std::path::Path,
) -> (
    std::path::PathBuf,
    crate::support::fake_smtp::FakeSmtp,
    FakeAws,
) {
    use crate::support::ca;
    use crate::support::fake_smtp::{FakeSmtp, Script};
    use ses_probe::credentials::{derive_smtp_password_v4, Secret};
    let password = derive_smtp_password_v4(&Secret::new(SECRET_KEY), "us-east-1");
    let smtp = FakeSmtp::start(Script::ses(
        ca::trusted().leaf(&["localhost"]),
        "AKIAIOSFODNN7EXAMPLE",
        password.expose(),
    ));
    let aws = FakeAws::start_skewed(42, |r: &Recorded| match r.op() {
        "GetCallerIdentity" => Reply::sts_identity(
            "arn:aws:iam::123456789012:user/probe",
            "123456789012",
            "AIDAEXAMPLE",
        ),
        "GetAccount" => Reply::account(true, true, "HEALTHY", 200.0, 10.0),
        _ => Reply::not_found(),
    });
    let cfg = write_file(
        dir,
        "full.toml",
        &format!(
            r#"[[target]]
name = "full"
region = "us-east-1"
[target.smtp]
host = "127.0.0.1"
port = {smtp}
tls_server_name = "localhost"
ca_file = "{ca}"
username = "AKIAIOSFODNN7EXAMPLE"
password = {{ value = "{password}" }}
timeout = "5s"
certificate_expiry_warning = "21d"
[target.api]
access_key_id = "AKIAIOSFODNN7EXAMPLE"
secret_access_key = {{ value = "{SECRET_KEY}" }}
endpoint_url = "{aws}"
sts_endpoint_url = "{aws}"
quota_warning_ratio = 0.75
timeout = "5s"

[[target]]
name = "other"
region = "eu-west-1"
[target.smtp]
host = "127.0.0.1"
port = 9
username = "AKIAIOSFODNN7EXAMPLE"
password = {{ value = "{password}" }}
timeout = "2s"
"#,
            smtp = smtp.port,
            ca = ca::trusted().write_pem(dir).display(),
            password = password.expose(),
            aws = aws.url,
        ),
    );
    std::fs::set_permissions(&cfg, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    (cfg, smtp, aws)
}

/// The Nagios plugin guidelines' perfdata grammar: space-separated
/// `'label'=value[UOM];[warn];[crit];[min];[max]`, a label quoted (with
/// `''` for a quote) when it holds spaces, no `=` in labels, a value of
/// `[-0-9.]`, UOM one of s, ms, us, %, B, KB, MB, TB, c, and warn/crit
/// in the range format `[@][start:][end]` (start may be `~`).
const PERFDATA_ITEM: &str = concat!(
    r"(?:'(?:[^'=]|'')+'|[^'= ]+)",
    r"=-?[0-9]+(?:\.[0-9]+)?(?:s|ms|us|%|B|KB|MB|TB|c)?",
    r"(?:;(?:@?(?:(?:-?[0-9]+(?:\.[0-9]+)?|~):)?(?:-?[0-9]+(?:\.[0-9]+)?)?)?",
    r"(?:;(?:@?(?:(?:-?[0-9]+(?:\.[0-9]+)?|~):)?(?:-?[0-9]+(?:\.[0-9]+)?)?)?",
    r"(?:;(?:-?[0-9]+(?:\.[0-9]+)?)?(?:;(?:-?[0-9]+(?:\.[0-9]+)?)?)?)?)?)?",
);

/// Parse perfdata into label -> fields, asserting the grammar.
fn parse_perfdata(perf: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    let item = regex::Regex::new(&format!("^{PERFDATA_ITEM}$")).unwrap();
    let whole = regex::Regex::new(&format!("^{PERFDATA_ITEM}(?: {PERFDATA_ITEM})*$")).unwrap();
    assert!(whole.is_match(perf), "perfdata out of grammar: {perf}");
    perf.split(' ')
        .map(|i| {
            assert!(item.is_match(i), "{i}");
            let (label, rest) = i.split_once('=').unwrap();
            (
                label.trim_matches('\'').to_owned(),
                rest.split(';').map(str::to_owned).collect(),
            )
        })
        .collect()
}

#[test]
fn once_perfdata_follows_the_plugin_grammar() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, _smtp, _aws) = full_target(dir.path());
    let r = run(&["--once", "--config", cfg.to_str().unwrap()], &[], None);
    let first = r.stdout.lines().next().unwrap_or_default();
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    let (status, perf) = first.split_once(" | ").expect("perfdata after ` | `");
    assert!(status.starts_with("SES-PROBE CRITICAL - "), "{first}");
    let perf = parse_perfdata(perf);
    let get = |label: &str| {
        perf.get(label)
            .unwrap_or_else(|| panic!("no {label} in {perf:#?}"))
            .clone()
    };
    for label in [
        "full/smtp/duration",
        "full/identity/duration",
        "full/account/duration",
        "other/smtp/duration",
    ] {
        let v = get(label);
        assert!(v[0].ends_with('s') && v[3] == "0", "{label}: {v:?}");
    }
    for phase in ["connect", "banner", "ehlo", "starttls", "tls", "auth"] {
        get(&format!("full/smtp/{phase}"));
    }
    assert_eq!(get("full/quota_used"), ["10", "", "", "0", "200"]);
    assert_eq!(get("full/quota_ratio"), ["0.05", "0.75", "", "0", "1"]);
    let cert = get("full/certificate_days");
    assert_eq!(
        cert[1], "21:",
        "warn below the configured 21 days: {cert:?}"
    );
    let days: f64 = cert[0].parse().unwrap();
    assert!(days > 21.0, "{cert:?}");
    let skew: f64 = get("full/clock_skew")[0]
        .trim_end_matches('s')
        .parse()
        .unwrap();
    assert!((skew - 42.0).abs() < 5.0, "{skew}");
    // Only the first line carries perfdata.
    assert!(
        r.stdout.lines().skip(1).all(|l| !l.contains('|')),
        "{}",
        r.stdout
    );
    // The JSON is unchanged by it.
    let j = run(
        &["--once", "-o", "json", "--config", cfg.to_str().unwrap()],
        &[],
        None,
    );
    let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert!(v.get("thresholds").is_none() && v["targets"][0].get("thresholds").is_none());
}

#[test]
fn once_runs_the_selected_targets_and_checks() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, _smtp, _aws) = full_target(dir.path());
    let cfg = cfg.to_str().unwrap();
    let checks_of = |args: &[&str]| -> (i32, Vec<String>) {
        let mut all = vec!["--once", "-o", "json", "--config", cfg];
        all.extend_from_slice(args);
        let r = run(&all, &[], None);
        let v: serde_json::Value = serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", r.stdout, r.stderr));
        let mut out = Vec::new();
        for t in v["targets"].as_array().unwrap() {
            for c in t["checks"].as_array().unwrap() {
                out.push(format!(
                    "{}/{}",
                    t["name"].as_str().unwrap(),
                    c["check"].as_str().unwrap()
                ));
            }
        }
        (r.code, out)
    };
    assert_eq!(
        checks_of(&["--target", "full", "--check", "identity", "--check", "account"]),
        (
            0,
            vec!["full/identity".to_owned(), "full/account".to_owned()]
        )
    );
    assert_eq!(
        checks_of(&["--check", "smtp"]),
        (2, vec!["full/smtp".to_owned(), "other/smtp".to_owned()])
    );
    // `check` takes the same selection, before or after the subcommand.
    let r = run(
        &[
            "--config", cfg, "check", "--target", "full", "--check", "smtp",
        ],
        &[],
        None,
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.starts_with("SES-PROBE OK - 1 ok,"), "{}", r.stdout);

    // Usage errors in Nagios mode are UNKNOWN (3), said on stdout.
    for args in [
        vec!["--once", "--config", cfg, "--target", "nope"],
        vec![
            "check", "--config", cfg, "--target", "other", "--check", "identity",
        ],
        vec!["check", "--no-such-flag"],
        vec!["--once", "--check", "dns"],
        vec!["--once", "explain", "x"],
    ] {
        let r = run(&args, &[], None);
        assert_eq!(r.code, 3, "{args:?}: {}\n{}", r.stdout, r.stderr);
        assert!(
            r.stdout.starts_with("SES-PROBE UNKNOWN - usage: "),
            "{args:?}: {}",
            r.stdout
        );
    }
    let r = run(&["--once", "--config", cfg, "--target", "nope"], &[], None);
    assert!(
        r.stdout
            .contains("no such target (configured: full, other)"),
        "{}",
        r.stdout
    );
    // Other subcommands keep the sysexits code.
    assert_eq!(run(&["explain", "--no-such-flag"], &[], None).code, 64);
    assert_eq!(run(&["--config", cfg, "explain", "x"], &[], None).code, 64);
    assert_eq!(run(&["--output", "json"], &[], None).code, 64);
}

#[test]
fn each_subcommand_shows_only_its_options() {
    let help = |args: &[&str]| {
        let r = run(args, &[], None);
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.stdout
    };
    let run_help = help(&["run", "--help"]);
    assert!(run_help.contains("--config") && run_help.contains("--web.listen-address"));
    assert!(
        !run_help.contains("--output") && !run_help.contains("--target"),
        "{run_help}"
    );
    let explain = help(&["explain", "--help"]);
    assert!(explain.contains("--output") && explain.contains("--channel"));
    assert!(!explain.contains("--config"), "{explain}");
    let derive = help(&["derive-smtp-password", "--help"]);
    assert!(
        !derive.contains("--config") && !derive.contains("--log-level"),
        "{derive}"
    );
    let check_config = help(&["check-config", "--help"]);
    assert!(check_config.contains("--config") && !check_config.contains("--output"));
    let check = help(&["check", "--help"]);
    for flag in ["--config", "--output", "--target", "--check"] {
        assert!(check.contains(flag), "{flag}: {check}");
    }
    // `generate` is for packagers: hidden from the list.
    assert!(!help(&["--help"]).contains("generate"));
}

#[test]
fn config_goes_before_or_after_the_subcommand() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/ses-probe.example.toml");
    let creds = concat!(env!("CARGO_MANIFEST_DIR"), "/config/example-credentials");
    let env = [("CREDENTIALS_DIRECTORY", creds)];
    for args in [
        vec!["check-config", "--config", example],
        vec!["--config", example, "check-config"],
        vec!["-c", "/nonexistent.toml", "check-config", "-c", example],
    ] {
        let r = run(&args, &env, None);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    }
    let mut with_env = env.to_vec();
    with_env.push(("SES_PROBE_CONFIG", example));
    assert_eq!(run(&["check-config"], &with_env, None).code, 0);
    // The variable does not get in the way of commands without a config.
    let r = run(&["explain", "235 ok"], &with_env, None);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn version_names_revision_and_rustc() {
    let r = run(&["--version"], &[], None);
    assert_eq!(r.code, 0);
    let line = r.stdout.trim();
    let re = regex::Regex::new(r"^ses-probe [0-9]+\.[0-9]+\.[0-9]+ \(revision [0-9a-zA-Z._-]+, rustc [0-9]+\.[0-9]+\.[0-9]+[^)]*\)$").unwrap();
    assert!(re.is_match(line), "{line}");
    assert!(line.contains(&format!("rustc {}", ses_probe::RUSTC_VERSION)));
    assert!(line.contains(&format!("revision {}", ses_probe::REVISION)));
}

#[test]
fn man_page_and_completions_are_generated() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let r = run(&["generate", "all", "--dir", d], &[], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let man = std::fs::read_to_string(dir.path().join("ses-probe.1")).unwrap();
    assert!(
        man.starts_with(".ie") || man.contains(".TH ses-probe 1"),
        "{man}"
    );
    for sub in [
        "check\\-config",
        "derive\\-smtp\\-password",
        "postfix\\-report",
    ] {
        assert!(man.contains(sub), "{sub} missing from the man page");
    }
    let bash = std::fs::read_to_string(dir.path().join("ses-probe")).unwrap();
    assert!(bash.contains("complete -F") && bash.contains("--web.listen-address"));
    let zsh = std::fs::read_to_string(dir.path().join("_ses-probe")).unwrap();
    assert!(zsh.starts_with("#compdef ses-probe"), "{zsh}");
    let fish = std::fs::read_to_string(dir.path().join("ses-probe.fish")).unwrap();
    assert!(fish.contains("complete -c ses-probe"));
    // To stdout, byte for byte the same (the package is reproducible).
    let r = run(&["generate", "completions", "zsh"], &[], None);
    assert_eq!(r.stdout, zsh);
    let r = run(&["generate", "man"], &[], None);
    assert_eq!(r.stdout, man);
}

#[test]
fn check_config_reports_type_errors_regions_and_near_misses() {
    let dir = tempfile::tempdir().unwrap();
    let (p, r) = check_config_of(
        dir.path(),
        r#"[[target]]
name = "relay"
region = "eu-wst-1"

[target.smtp]
username = "AKIAIOSFODNN7EXAMPLE"
password = { file = "/nonexistent/smtp-password" }
port = "587"
timout = "10s"
"#,
    );
    assert_eq!(r.code, 78, "{}", r.stderr);
    let errors = error_lines(&r);
    assert_eq!(errors.len(), 4, "{}", r.stderr);
    for want in [
        format!("error: {p}:8: target[0].smtp.port: invalid type: string \"587\""),
        format!("error: {p}:9: target[0].smtp.timout: unknown key; did you mean `timeout`?"),
        format!("error: {p}:3: target[0].region: `eu-wst-1` is not a region SES serves; did you mean `eu-west-1`?"),
        format!("error: {p}:7: target[0].smtp.password: /nonexistent/smtp-password"),
    ] {
        assert!(errors.iter().any(|e| e.starts_with(&want)), "{want}\n{errors:#?}");
    }
}

/// `RUST_LOG` may ask for anything; the credential-adjacent libraries stay
/// at `info` (the cap is applied after the filter is parsed).
#[test]
fn rust_log_cannot_lift_the_library_cap() {
    let fake = FakeAws::start(|r: &Recorded| match r.op() {
        "GetCallerIdentity" => Reply::sts_identity(
            "arn:aws:iam::123456789012:user/probe",
            "123456789012",
            "AIDAEXAMPLE",
        ),
        _ => Reply::not_found(),
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_file(
        dir.path(),
        "c.toml",
        &format!(
            "[[target]]\nname = \"a\"\nregion = \"us-east-1\"\n[target.api]\naccount = false\naccess_key_id = \"AKIAIOSFODNN7EXAMPLE\"\nsecret_access_key = {{ env = \"SK\" }}\nendpoint_url = \"{0}\"\nsts_endpoint_url = \"{0}\"\n",
            fake.url
        ),
    );
    for rust_log in [
        "aws_sigv4=trace,aws_smithy_runtime=trace,hyper=trace",
        "aws_sigv4::sign=trace,trace",
    ] {
        let r = run(
            &["--once", "--config", cfg.to_str().unwrap()],
            &[("SK", SECRET_KEY), ("RUST_LOG", rust_log)],
            None,
        );
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        let lifted: Vec<&str> = r
            .stderr
            .lines()
            .filter(|l| {
                (l.contains("DEBUG") || l.contains("TRACE"))
                    && ["aws_sigv4", "aws_smithy", "hyper"]
                        .iter()
                        .any(|c| l.contains(&format!(" {c}")))
            })
            .collect();
        assert!(lifted.is_empty(), "{rust_log}: {lifted:#?}");
        assert!(fake.count("GetCallerIdentity") > 0);
    }
}

/// `check-config` of `text` written as `bad.toml` in `dir`: the file's
/// path as printed, and the run.
fn check_config_of(dir: &std::path::Path, text: &str) -> (String, crate::support::Run) {
    let path = write_file(dir, "bad.toml", text);
    let p = path.to_str().unwrap().to_owned();
    let r = run(&["check-config", "--config", &p], &[], None);
    (p, r)
}

/// The `error: ` lines of a run's stderr.
fn error_lines(r: &crate::support::Run) -> Vec<&str> {
    r.stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect()
}
