//! The SMTP check end to end, against the in-process fake SES SMTP server
//! (tokio + rustls, certificates from the test CA) and against aiosmtpd, an
//! independent SMTP implementation.
//!
//! Each failure test asserts the class and the phase the check names.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ses_probe::checks;
use ses_probe::config::{self, Env, Target};
use ses_probe::credentials::{derive_smtp_password_v4, Secret};
use ses_probe::diagnosis::{classify_smtp_reply, Class, Severity};
use ses_probe::outcome::{CheckKind, Outcome, Status};

use crate::support::ca::{self, Leaf};
use crate::support::fake_smtp::{Act, FakeSmtp, Script, Stage};
use crate::support::{run, venv, write_file};

const USER: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const REGION: &str = "us-east-1";

fn password() -> String {
    derive_smtp_password_v4(&Secret::new(SECRET_KEY), REGION)
        .expose()
        .to_owned()
}

/// How a test's target differs from the default: STARTTLS on the fake,
/// trusting the test CA, a 2 s phase timeout.
struct Opts {
    host: String,
    port: u16,
    tls: &'static str,
    password: String,
    extra: String,
    ca: bool,
    timeout: &'static str,
}

impl Opts {
    fn new(port: u16) -> Opts {
        Opts {
            host: "127.0.0.1".into(),
            port,
            tls: "starttls",
            password: password(),
            extra: String::new(),
            ca: true,
            timeout: "2s",
        }
    }

    fn implicit(mut self) -> Opts {
        self.tls = "implicit";
        self
    }

    fn extra(mut self, toml: &str) -> Opts {
        self.extra.push_str(toml);
        self.extra.push('\n');
        self
    }

    fn timeout(mut self, timeout: &'static str) -> Opts {
        self.timeout = timeout;
        self
    }

    fn port_for(mut self, port: u16) -> Opts {
        self.port = port;
        self
    }

    fn password(mut self, pw: &str) -> Opts {
        self.password = pw.to_owned();
        self
    }

    fn toml(&self, dir: &Path) -> String {
        let ca = if self.ca {
            format!(
                "ca_file = {:?}\n",
                ca::trusted().write_pem(dir).display().to_string()
            )
        } else {
            String::new()
        };
        format!(
            r#"[[target]]
name = "fake"
region = "{REGION}"
[target.smtp]
host = "{host}"
port = {port}
tls = "{tls}"
tls_server_name = "localhost"
{ca}username = "{USER}"
password = {{ env = "SMTP_PASSWORD" }}
timeout = "{timeout}"
ehlo_name = "probe.test"
{extra}"#,
            host = self.host,
            port = self.port,
            tls = self.tls,
            timeout = self.timeout,
            extra = self.extra,
        )
    }

    fn target(&self, dir: &Path) -> Target {
        let env = Env::from_pairs([("SMTP_PASSWORD", self.password.as_str())]);
        let plan =
            config::parse(&self.toml(dir), "test", &env).unwrap_or_else(|e| panic!("config: {e}"));
        std::sync::Arc::unwrap_or_clone(plan.targets.into_iter().next().expect("one target"))
    }
}

async fn check(opts: &Opts) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let target = opts.target(dir.path());
    // Bounded even if the check had no timeouts of its own.
    tokio::time::timeout(
        Duration::from_secs(60),
        checks::run(&target, target.check(CheckKind::Smtp).expect("smtp check")),
    )
    .await
    .expect("the check hung")
}

fn localhost() -> Leaf {
    ca::trusted().leaf(&["localhost"])
}

fn fake(script: Script) -> FakeSmtp {
    FakeSmtp::start(script)
}

fn ses() -> Script {
    Script::ses(localhost(), USER, &password())
}

fn names(o: &Outcome) -> Vec<&str> {
    o.phases.iter().map(|p| p.name).collect()
}

/// Class and phase of the primary finding of a failed check.
fn failure(o: &Outcome) -> (Class, String) {
    assert!(!o.success, "expected a failure: {o:#?}");
    let f = o.primary_finding().expect("a finding");
    let phase = f.details.phase.clone().unwrap_or_default();
    // The failing phase is the last one recorded, and it is marked failed.
    let last = o.phases.last().expect("phases");
    assert_eq!(last.name, phase, "{o:#?}");
    assert!(!last.ok);
    (f.class, phase)
}

fn assert_fails(o: &Outcome, class: Class, phase: &str) {
    let (c, p) = failure(o);
    assert_eq!((c, p.as_str()), (class, phase), "{o:#?}");
    assert_eq!(
        o.status(),
        Status::Critical.max(Status::from(class.severity()))
    );
    assert!(phase_seconds(o) <= o.duration.as_secs_f64() + 1e-9);
}

fn no_auth_sent(server: &FakeSmtp) {
    let log = server.log();
    assert!(!log.iter().any(|l| l.starts_with("AUTH")), "{log:?}");
}

#[tokio::test]
async fn success_over_starttls() {
    let leaf = localhost();
    let not_after = leaf.not_after;
    let server = fake(Script::ses(leaf, USER, &password()));
    let o = check(&Opts::new(server.port)).await;
    assert!(o.success, "{o:#?}");
    assert_eq!(o.status(), Status::Ok, "{o:#?}");
    assert_eq!(
        names(&o),
        ["dns", "connect", "banner", "ehlo", "starttls", "tls", "ehlo_tls", "auth", "quit"]
    );
    assert!(o.phases.iter().all(|p| p.ok), "{o:#?}");
    let code = |name: &str| o.phases.iter().find(|p| p.name == name).unwrap().code;
    assert_eq!(code("banner"), Some(220));
    assert_eq!(code("starttls"), Some(220));
    assert_eq!(code("auth"), Some(235));
    assert_eq!(code("quit"), Some(221));
    let banner = o.phases.iter().find(|p| p.name == "banner").unwrap();
    assert!(banner
        .text
        .as_deref()
        .unwrap()
        .contains("SimpleEmailService"));
    let tls = o.facts.tls.as_ref().expect("tls facts");
    assert_eq!(tls.version.as_deref(), Some("TLSv1.3"));
    assert_eq!(tls.certificate_not_after, Some(not_after));
    // TLS came before AUTH, and AUTH PLAIN was the first preference.
    let log = server.log();
    let tls_at = log.iter().position(|l| l == "TLS").expect("TLS");
    let auth_at = log
        .iter()
        .position(|l| l == "AUTH PLAIN good")
        .expect("AUTH");
    assert!(tls_at < auth_at, "{log:?}");
    assert!(phase_seconds(&o) <= o.duration.as_secs_f64());
}

#[tokio::test]
async fn success_over_implicit_tls_with_login() {
    let leaf = localhost();
    let not_after = leaf.not_after;
    let mut script = Script::ses(leaf, USER, &password()).implicit();
    script.auth_mechanisms = "LOGIN".into();
    let server = fake(script);
    let o = check(&Opts::new(server.port).implicit()).await;
    assert!(o.success, "{o:#?}");
    assert_eq!(
        names(&o),
        ["dns", "connect", "tls", "banner", "ehlo_tls", "auth", "quit"]
    );
    assert_eq!(
        o.facts.tls.as_ref().unwrap().certificate_not_after,
        Some(not_after)
    );
    // PLAIN is preferred but not offered: LOGIN, as advertised.
    assert!(server.log().contains(&"AUTH LOGIN good".to_owned()));
}

#[tokio::test]
async fn configured_mechanism_preference_is_followed() {
    let server = fake(ses());
    let o = check(&Opts::new(server.port).extra(r#"auth_mechanisms = ["login", "plain"]"#)).await;
    assert!(o.success, "{o:#?}");
    assert!(server.log().contains(&"AUTH LOGIN good".to_owned()));

    let mut script = ses();
    script.auth_mechanisms = "CRAM-MD5 XOAUTH2".into();
    let server = fake(script);
    let o = check(&Opts::new(server.port)).await;
    assert_fails(&o, Class::SmtpProtocolError, "auth");
    assert!(o.findings[0].message.contains("CRAM-MD5"), "{o:#?}");
    no_auth_sent(&server);
}

#[tokio::test]
async fn send_mode_runs_mail_rcpt_data() {
    let server = fake(ses());
    let o = check(
        &Opts::new(server.port)
            .extra(r#"send = true"#)
            .extra(r#"mail_from = "probe@example.com""#),
    )
    .await;
    assert!(o.success, "{o:#?}");
    assert_eq!(
        names(&o),
        [
            "dns", "connect", "banner", "ehlo", "starttls", "tls", "ehlo_tls", "auth", "mail",
            "rcpt", "data", "quit"
        ]
    );
    let data = o.phases.iter().find(|p| p.name == "data").unwrap();
    assert_eq!(data.code, Some(250));
    let log = server.log();
    assert!(
        log.contains(&"MAIL FROM:<probe@example.com>".to_owned()),
        "{log:?}"
    );
    // The default recipient is the mailbox simulator.
    assert!(
        log.contains(&"RCPT TO:<success@simulator.amazonses.com>".to_owned()),
        "{log:?}"
    );
    assert!(
        log.contains(&"| Subject: ses-probe SMTP check".to_owned()),
        "{log:?}"
    );
}

#[tokio::test]
async fn wrong_password_is_535_with_the_local_findings() {
    let server = fake(ses());
    // A password derived for another region, with the secret key known:
    // the local analysis can say why SES answers 535.
    let other = derive_smtp_password_v4(&Secret::new(SECRET_KEY), "eu-west-1");
    let o = check(
        &Opts::new(server.port)
            .password(other.expose())
            .extra(&format!(
                "secret_access_key = {{ value = \"{SECRET_KEY}\" }}"
            )),
    )
    .await;
    assert_fails(&o, Class::AuthCredentialsInvalid, "auth");
    let auth = o.phases.last().unwrap();
    assert_eq!(auth.code, Some(535));
    assert_eq!(
        auth.text.as_deref(),
        Some("Authentication Credentials Invalid")
    );
    let classes: Vec<Class> = o.findings.iter().map(|f| f.class).collect();
    assert_eq!(classes[0], Class::AuthCredentialsInvalid);
    assert!(
        classes.contains(&Class::SmtpPasswordWrongRegion),
        "{classes:?}"
    );
    let wrong_region = o
        .findings
        .iter()
        .find(|f| f.class == Class::SmtpPasswordWrongRegion)
        .unwrap();
    assert_eq!(wrong_region.details.region.as_deref(), Some("eu-west-1"));
    assert!(o.findings[0].message.contains("smtp_password_wrong_region"));
    // The password went over TLS only, and appears nowhere in the outcome.
    assert!(server.log().contains(&"AUTH PLAIN bad".to_owned()));
    let json = serde_json::to_string(&o).unwrap();
    assert!(!json.contains(other.expose()) && !json.contains(SECRET_KEY));
}

#[tokio::test]
async fn pasted_whitespace_is_named_after_535() {
    let server = fake(ses());
    let o = check(&Opts::new(server.port).password(&format!(" {}", password()))).await;
    assert_fails(&o, Class::AuthCredentialsInvalid, "auth");
    assert!(
        o.findings
            .iter()
            .any(|f| f.class == Class::SmtpPasswordMalformed && f.message.contains("whitespace")),
        "{o:#?}"
    );
}

/// Scripted replies at a stage, each to its class and phase.
#[tokio::test]
async fn ses_replies_map_to_their_classes() {
    let cases: &[(Stage, &str, Class, &str)] = &[
        (
            Stage::Auth,
            "454 4.7.0 Temporary authentication failure",
            Class::AuthTemporaryFailure,
            "auth",
        ),
        (
            Stage::Auth,
            "535 Account not subscribed to SES",
            Class::AccountNotSubscribed,
            "auth",
        ),
        // Cannot happen with this client (AUTH only after TLS); the
        // classifier path is the same as for any reply.
        (
            Stage::Auth,
            "530 Must issue a STARTTLS command first",
            Class::TlsRequired,
            "auth",
        ),
        (
            Stage::Banner,
            "421 Too many concurrent SMTP connections",
            Class::SmtpTooManyConnections,
            "banner",
        ),
        (
            Stage::Ehlo,
            "421 4.4.2 Timeout waiting for data from client.",
            Class::SmtpIdleTimeout,
            "ehlo",
        ),
        (
            Stage::Starttls,
            "454 4.7.0 TLS not available due to temporary reason",
            Class::ServiceTemporaryFailure,
            "starttls",
        ),
        (
            Stage::Mail,
            "454 Throttling failure: Maximum sending rate exceeded",
            Class::ThrottleRate,
            "mail",
        ),
        (
            Stage::Mail,
            "454 Throttling failure: Daily message quota exceeded.",
            Class::QuotaDailyExceeded,
            "mail",
        ),
        (
            Stage::Data,
            "454 4.7.0 Throttling failure: Maximum SigV2 SMTP sending rate exceeded",
            Class::LegacySmtpCredentialsThrottled,
            "data",
        ),
        (
            Stage::Rcpt,
            "553 5.1.2 <nobody> address unknown",
            Class::AddressSyntaxInvalid,
            "rcpt",
        ),
        (
            Stage::Data,
            "552 Message is too long.",
            Class::MessageTooLarge,
            "data",
        ),
        (
            Stage::Data,
            "451 Temporary service failure",
            Class::ServiceTemporaryFailure,
            "data",
        ),
        // A positive code where another is due.
        (Stage::Auth, "250 Ok", Class::SmtpProtocolError, "auth"),
    ];
    for (stage, reply, class, phase) in cases {
        let server = fake(ses().on(*stage, Act::reply(reply)));
        let o = check(
            &Opts::new(server.port)
                .extra("send = true")
                .extra(r#"mail_from = "probe@example.com""#),
        )
        .await;
        let (c, p) = failure(&o);
        assert_eq!((c, p.as_str()), (*class, *phase), "{reply}: {o:#?}");
        let last = o.phases.last().unwrap();
        assert_eq!(last.code, Some(reply[..3].parse().unwrap()), "{reply}");
        // The check and `explain` agree (a positive code where another is
        // due is only an error in context).
        if *class != Class::SmtpProtocolError {
            assert_eq!(
                classify_smtp_reply(last.code.unwrap(), &reply[4..]).0,
                *class
            );
        }
    }
}

#[tokio::test]
async fn access_denied_names_action_resource_and_principal() {
    let denial = "554 Access denied: User `arn:aws:iam::123456789012:user/ses-smtp-user.20261127' is not authorized to perform `ses:SendRawEmail' on resource `arn:aws:ses:us-east-1:123456789012:identity/example.com'";
    let server = fake(ses().on(Stage::Data, Act::reply(denial)));
    let o = check(
        &Opts::new(server.port)
            .extra("send = true")
            .extra(r#"mail_from = "probe@example.com""#),
    )
    .await;
    assert_fails(&o, Class::IamAccessDenied, "data");
    let d = &o.findings[0].details;
    assert_eq!(d.action.as_deref(), Some("ses:SendRawEmail"));
    assert_eq!(
        d.resource.as_deref(),
        Some("arn:aws:ses:us-east-1:123456789012:identity/example.com")
    );
    assert_eq!(
        d.principal.as_deref(),
        Some("arn:aws:iam::123456789012:user/ses-smtp-user.20261127")
    );
    assert_eq!(d.reply_code, Some(554));
}

#[tokio::test]
async fn not_verified_names_region_and_identities() {
    let reply = "554 Message rejected: Email address is not verified. The following identities failed the check in region US-EAST-1: probe@example.com, success@simulator.amazonses.com";
    let server = fake(ses().on(Stage::Data, Act::reply(reply)));
    let o = check(
        &Opts::new(server.port)
            .extra("send = true")
            .extra(r#"mail_from = "probe@example.com""#),
    )
    .await;
    assert_fails(&o, Class::IdentityNotVerified, "data");
    let d = &o.findings[0].details;
    assert_eq!(d.region.as_deref(), Some("us-east-1"));
    assert_eq!(
        d.identities,
        ["probe@example.com", "success@simulator.amazonses.com"]
    );
}

/// A server that accepts and never speaks: the banner phase times out
/// within its timeout plus 10%, and the check does not hang.
#[tokio::test]
async fn silent_banner_times_out_in_phase_banner() {
    let server = fake(ses().on(Stage::Banner, Act::Silent));
    let opts = Opts::new(server.port).timeout("2s");
    let timeout = 2.0;
    let started = Instant::now();
    let o = check(&opts).await;
    let wall = started.elapsed().as_secs_f64();
    assert_fails(&o, Class::Timeout, "banner");
    let banner = o.phases.last().unwrap();
    assert!(
        banner.seconds >= timeout && banner.seconds <= timeout * 1.1,
        "{banner:?}"
    );
    // The whole check, DNS and connect included, also ends within the
    // phase timeout plus 10%; the wall clock adds only the test's setup.
    let total = o.duration.as_secs_f64();
    assert!(total <= timeout * 1.1, "the check took {total}s");
    assert!(wall <= timeout * 1.1 + 0.5, "the test took {wall}s");
}

/// Delays shorter than the timeout are fine; the phase records them.
#[tokio::test]
async fn slow_replies_within_the_timeout_pass() {
    let server = fake(ses().on(
        Stage::Ehlo,
        Act::After(
            Duration::from_millis(300),
            Box::new(Act::reply(
                "250-email-smtp.amazonaws.com\n250-STARTTLS\n250 AUTH PLAIN LOGIN",
            )),
        ),
    ));
    let o = check(&Opts::new(server.port)).await;
    assert!(o.success, "{o:#?}");
    let ehlo = o.phases.iter().find(|p| p.name == "ehlo").unwrap();
    assert!(ehlo.seconds >= 0.3, "{ehlo:?}");
    // Over the timeout: the phase that waits is named.
    let server = fake(ses().on(
        Stage::EhloTls,
        Act::After(Duration::from_secs(5), Box::new(Act::reply("250 Ok"))),
    ));
    let o = check(&Opts::new(server.port).timeout("1s")).await;
    assert_fails(&o, Class::Timeout, "ehlo_tls");
}

#[tokio::test]
async fn closed_after_ehlo_is_connection_closed() {
    let server = fake(ses().on(Stage::Starttls, Act::Close));
    let o = check(&Opts::new(server.port)).await;
    assert_fails(&o, Class::ConnectionClosed, "starttls");
    no_auth_sent(&server);
}

#[tokio::test]
async fn oversized_and_garbage_replies_are_protocol_errors() {
    // One line over 4 KiB.
    let long = format!("250 {}\r\n", "x".repeat(8 * 1024));
    let server = fake(ses().on(Stage::Ehlo, Act::Raw(long.into_bytes())));
    let o = check(&Opts::new(server.port)).await;
    assert_fails(&o, Class::SmtpProtocolError, "ehlo");
    assert!(o.findings[0].message.contains("4096"), "{o:#?}");

    // Many short lines, over 64 KiB together.
    let mut many = String::new();
    for _ in 0..2000 {
        many.push_str("250-");
        many.push_str(&"y".repeat(60));
        many.push_str("\r\n");
    }
    many.push_str("250 Ok\r\n");
    let server = fake(ses().on(Stage::Ehlo, Act::Raw(many.into_bytes())));
    let o = check(&Opts::new(server.port)).await;
    assert_fails(&o, Class::SmtpProtocolError, "ehlo");
    assert!(o.findings[0].message.contains("65536"), "{o:#?}");

    // An endless line without a newline: cut at the bound, not buffered.
    let server = fake(ses().on(Stage::Banner, Act::Raw(vec![b'2'; 256 * 1024])));
    let o = check(&Opts::new(server.port)).await;
    assert_fails(&o, Class::SmtpProtocolError, "banner");

    // Not SMTP at all.
    let server = fake(ses().on(
        Stage::Banner,
        Act::Raw(b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec()),
    ));
    let o = check(&Opts::new(server.port)).await;
    assert_fails(&o, Class::SmtpProtocolError, "banner");
}

#[tokio::test]
async fn starttls_not_offered_stops_before_auth() {
    let mut script = ses();
    script.offer_starttls = false;
    let server = fake(script);
    let o = check(&Opts::new(server.port)).await;
    assert_fails(&o, Class::StarttlsNotOffered, "ehlo");
    no_auth_sent(&server);
    assert!(!server.log().contains(&"STARTTLS".to_owned()));
}

#[tokio::test]
async fn bad_certificates_are_tls_certificate_invalid() {
    let year = Duration::from_secs(365 * 86_400);
    let leaves = [
        ("wrong name", ca::trusted().leaf(&["wrong.example"])),
        (
            "expired",
            ca::trusted().leaf_valid(&["localhost"], Duration::from_secs(86_400), true),
        ),
        (
            "untrusted CA",
            ca::untrusted().leaf_valid(&["localhost"], year, false),
        ),
    ];
    for (what, leaf) in leaves {
        for implicit in [false, true] {
            let mut script = Script::ses(leaf.clone(), USER, &password());
            let mut opts = Opts::new(0);
            if implicit {
                script = script.implicit();
                opts = opts.implicit();
            }
            let server = fake(script);
            opts.port = server.port;
            let o = check(&opts).await;
            let (class, phase) = failure(&o);
            assert_eq!(
                (class, phase.as_str()),
                (Class::TlsCertificateInvalid, "tls"),
                "{what} (implicit: {implicit}): {o:#?}"
            );
            no_auth_sent(&server);
        }
    }
    // Without the test CA in `ca_file`, even the good leaf is untrusted:
    // there is no way to skip verification.
    let server = fake(ses());
    let mut opts = Opts::new(server.port);
    opts.ca = false;
    let o = check(&opts).await;
    assert_fails(&o, Class::TlsCertificateInvalid, "tls");
}

#[tokio::test]
async fn expiring_certificate_is_a_warning() {
    let leaf = ca::trusted().leaf_valid(&["localhost"], Duration::from_secs(3 * 86_400), false);
    let server = fake(Script::ses(leaf, USER, &password()));
    let o = check(&Opts::new(server.port)).await;
    assert!(o.success, "{o:#?}");
    assert_eq!(o.status(), Status::Warning);
    let f = &o.findings[0];
    assert_eq!(f.class, Class::TlsCertificateExpiring);
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.details.phase.as_deref(), Some("tls"));
    // The margin is configurable: with one day, three days are fine.
    let o = check(&Opts::new(server.port).extra(r#"certificate_expiry_warning = "1d""#)).await;
    assert!(o.success && o.findings.is_empty(), "{o:#?}");
}

#[tokio::test]
async fn refused_port_is_connect_refused() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let o = check(&Opts::new(port)).await;
    assert_fails(&o, Class::ConnectRefused, "connect");
    assert_eq!(names(&o), ["dns", "connect"]);
}

#[tokio::test]
async fn unresolvable_name_is_dns_failure() {
    let mut opts = Opts::new(587);
    opts.host = "email-smtp.no-such-region.invalid".into();
    let o = check(&opts).await;
    assert_fails(&o, Class::DnsFailure, "dns");
    assert_eq!(names(&o), ["dns"]);
}

/// `--once --output json` against the fake: per-phase name, seconds, code
/// and text, summing to no more than the check's total; and the text report
/// shows each phase with its reply, the class and the remediation.
#[test]
fn once_reports_phases_in_json_and_text() {
    let server = fake(ses());
    let dir = tempfile::tempdir().unwrap();
    let opts = Opts::new(server.port);
    let cfg = write_file(dir.path(), "c.toml", &opts.toml(dir.path()));
    let cfg = cfg.to_str().unwrap();
    let pw = password();
    let r = run(
        &["--once", "--output", "json", "--config", cfg],
        &[("SMTP_PASSWORD", &pw)],
        None,
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let check = &v["targets"][0]["checks"][0];
    assert_eq!(check["check"], "smtp");
    assert_eq!(check["success"], true);
    let phases = check["phases"].as_array().unwrap();
    let names: Vec<&str> = phases.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["dns", "connect", "banner", "ehlo", "starttls", "tls", "ehlo_tls", "auth", "quit"]
    );
    let mut sum = 0.0;
    for p in phases {
        sum += p["seconds"].as_f64().unwrap();
    }
    let total = check["duration_seconds"].as_f64().unwrap();
    assert!(sum <= total, "phases {sum}s > check {total}s");
    let auth = phases.iter().find(|p| p["name"] == "auth").unwrap();
    assert_eq!(auth["code"], 235);
    assert_eq!(auth["text"], "Authentication successful.");
    assert_eq!(check["facts"]["tls"]["version"], "TLSv1.3");
    assert!(!r.stdout.contains(&pw) && !r.stderr.contains(&pw));

    // A failing run in text: phase lines, class, severity, remediation.
    let other = derive_smtp_password_v4(&Secret::new(SECRET_KEY), "eu-west-1");
    let r = run(
        &["--once", "--config", cfg],
        &[("SMTP_PASSWORD", other.expose())],
        None,
    );
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.starts_with("SES-PROBE CRITICAL"), "{}", r.stdout);
    assert!(
        r.stdout.contains("fake/smtp: auth_credentials_invalid"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("+ banner"), "{}", r.stdout);
    assert!(
        r.stdout.contains("x auth") && r.stdout.contains("535 Authentication Credentials Invalid"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("! critical auth_credentials_invalid"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("phase=auth"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("fix: The SMTP user name or password is wrong"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains(other.expose()) && !r.stderr.contains(other.expose()));
}

/// aiosmtpd, an independent SMTP server, with STARTTLS required and an
/// authenticator, reached through the real check code path.
struct Aiosmtpd {
    child: std::process::Child,
    port: u16,
}

impl Drop for Aiosmtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const AIOSMTPD: &str = r#"
import ssl, sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

cert, key, port, user, password = sys.argv[1:6]
context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)

class Handler:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login.decode() == user and auth_data.password.decode() == password
    # handled=False: aiosmtpd answers 535 5.7.8 itself on failure.
    return AuthResult(success=ok, handled=False)

controller = Controller(
    Handler(), hostname="127.0.0.1", port=int(port),
    tls_context=context, require_starttls=True,
    authenticator=authenticator, auth_require_tls=True,
)
controller.start()
print("ready", flush=True)
try:
    while True:
        time.sleep(1)
finally:
    controller.stop()
"#;

fn start_aiosmtpd(dir: &Path) -> Aiosmtpd {
    let python: PathBuf = venv().join("bin/python");
    let (cert, key) = ca::trusted().write_leaf(dir, &["localhost"]);
    let script = dir.join("aiosmtpd_server.py");
    std::fs::write(&script, AIOSMTPD).unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = std::process::Command::new(python)
        .arg(&script)
        .arg(&cert)
        .arg(&key)
        .arg(port.to_string())
        .arg(USER)
        .arg(password())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start aiosmtpd");
    let server = Aiosmtpd { child, port };
    let end = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < end, "aiosmtpd did not start listening");
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

#[tokio::test]
async fn aiosmtpd_with_starttls_and_auth() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_aiosmtpd(dir.path());
    let o = check(&Opts::new(server.port)).await;
    assert!(o.success, "{o:#?}");
    assert_eq!(
        names(&o),
        ["dns", "connect", "banner", "ehlo", "starttls", "tls", "ehlo_tls", "auth", "quit"]
    );
    assert_eq!(o.phases[7].code, Some(235));
    assert!(o.facts.tls.as_ref().unwrap().version.is_some());

    let wrong = derive_smtp_password_v4(&Secret::new(SECRET_KEY), "eu-west-1");
    let o = check(&Opts::new(server.port).password(wrong.expose())).await;
    assert_fails(&o, Class::AuthCredentialsInvalid, "auth");
    let auth = o.phases.last().unwrap();
    assert_eq!(auth.code, Some(535));
    assert_eq!(auth.enhanced_code.as_deref(), Some("5.7.8"));
}

/// Bytes sent after the STARTTLS `220` and before the handshake would be
/// read as if they came over TLS (the STARTTLS injection attack): refused.
#[tokio::test]
async fn data_injected_before_the_handshake_is_refused() {
    let server = fake(ses().on(
        Stage::Starttls,
        Act::Raw(b"220 Ready to start TLS\r\n250-injected\r\n250 AUTH PLAIN\r\n".to_vec()),
    ));
    let o = check(&Opts::new(server.port)).await;
    assert_fails(&o, Class::SmtpProtocolError, "starttls");
    assert!(
        o.findings[0].message.contains("before the TLS handshake"),
        "{o:#?}"
    );
    no_auth_sent(&server);
}

/// Implicit TLS against a port that speaks plain SMTP first: the handshake
/// fails, and it is not a certificate problem.
#[tokio::test]
async fn implicit_tls_against_a_starttls_port_is_a_handshake_failure() {
    let server = fake(ses());
    let o = check(&Opts::new(server.port).implicit()).await;
    assert_fails(&o, Class::TlsHandshakeFailed, "tls");
    assert_eq!(names(&o), ["dns", "connect", "tls"]);
    no_auth_sent(&server);
}

/// A server that goes silent after the password: the auth phase times out
/// and names itself; nothing hangs.
#[tokio::test]
async fn silent_after_auth_is_a_timeout_in_auth() {
    let server = fake(ses().on(Stage::Auth, Act::Silent));
    let o = check(&Opts::new(server.port).timeout("1s")).await;
    assert_fails(&o, Class::Timeout, "auth");
    let auth = o.phases.last().unwrap();
    assert!(auth.seconds <= 1.1, "{auth:?}");
}

/// A `ca_file` with no certificate in it: reported in the tls phase, and
/// no credentials go out.
#[tokio::test]
async fn unusable_ca_file_is_reported_in_phase_tls() {
    let server = fake(ses());
    let dir = tempfile::tempdir().unwrap();
    let bad = write_file(dir.path(), "bad-ca.pem", "this is not a certificate\n");
    let mut opts =
        Opts::new(server.port).extra(&format!("ca_file = {:?}", bad.display().to_string()));
    opts.ca = false;
    let o = check(&opts).await;
    assert_fails(&o, Class::TlsCertificateInvalid, "tls");
    assert!(
        o.findings[0].message.contains("no PEM certificate"),
        "{o:#?}"
    );
    no_auth_sent(&server);
}

/// When the server accepts the credentials, critical local findings are
/// contradicted and dropped (they would fire alerts for nothing); a legacy
/// v2 password is still reported as a warning.
#[tokio::test]
async fn accepted_auth_keeps_warnings_and_drops_contradicted_findings() {
    use ses_probe::credentials::derive_smtp_password_v2;
    let v2 = derive_smtp_password_v2(&Secret::new(SECRET_KEY))
        .expose()
        .to_owned();
    let server = fake(Script::ses(localhost(), USER, &v2));
    let o = check(&Opts::new(server.port).password(&v2)).await;
    assert!(o.success, "{o:#?}");
    assert_eq!(o.status(), Status::Warning);
    let classes: Vec<Class> = o.findings.iter().map(|f| f.class).collect();
    assert_eq!(classes, vec![Class::SmtpPasswordLegacyV2]);

    // A password made for another region, which this (non-SES) server
    // accepts anyway: the local wrong-region finding is not reported.
    let other = derive_smtp_password_v4(&Secret::new(SECRET_KEY), "eu-west-1")
        .expose()
        .to_owned();
    let server = fake(Script::ses(localhost(), USER, &other));
    let opts = Opts::new(server.port).password(&other).extra(&format!(
        "secret_access_key = {{ value = \"{SECRET_KEY}\" }}"
    ));
    let o = check(&opts).await;
    assert!(o.success, "{o:#?}");
    assert!(o.findings.is_empty(), "{:#?}", o.findings);
    // The same password rejected with 535: now the finding explains it.
    let server = fake(Script::ses(localhost(), USER, &password()));
    let o = check(&opts.port_for(server.port)).await;
    assert!(!o.success);
    let classes: Vec<Class> = o.findings.iter().map(|f| f.class).collect();
    assert_eq!(
        classes,
        vec![
            Class::AuthCredentialsInvalid,
            Class::SmtpPasswordWrongRegion
        ]
    );
}

/// Sum of phase times; never more than the check's duration when phases
/// are timed inside the check's own clock.
fn phase_seconds(o: &Outcome) -> f64 {
    o.phases.iter().map(|p| p.seconds).sum()
}
