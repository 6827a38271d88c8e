//! A real exporter scrape with every series the metric contract defines.
//!
//! The `ses-probe run` binary probes one target against the fake SES SMTP
//! server (STARTTLS with the test CA: TLS facts, reply codes, phases) and the
//! fake AWS endpoint (temporary credentials from a `credential_process`
//! profile, so there is an expiry; a sandboxed account, so there is a
//! finding; a `Date` header 42 s ahead, so there is a skew; a successful
//! send, so there is a budget; a policy simulator and a sender domain with
//! pending DKIM, so the audit checks have permission and identity series). The scrape is taken once per test run and
//! shared: the dashboard, alert and docs tests compare against it instead of
//! a hard-coded list of names.

use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::time::Duration;

use ses_probe::credentials::{derive_smtp_password_v4, Secret};

use super::ca;
use super::fake_aws::{FakeAws, Recorded, Reply, Sim};
use super::fake_smtp::{FakeSmtp, Script};
use super::http::{get, metric, wait_for};
use super::write_file;

const USER: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// The shared full scrape.
pub fn full_scrape() -> &'static str {
    static SCRAPE: OnceLock<String> = OnceLock::new();
    SCRAPE.get_or_init(take_full_scrape)
}

/// The metric names in an exposition (from its `# TYPE` lines).
pub fn metric_names(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

fn take_full_scrape() -> String {
    let dir = tempfile::tempdir().unwrap();
    let password = derive_smtp_password_v4(&Secret::new(SECRET), "us-east-1");
    let smtp = FakeSmtp::start(Script::ses(
        ca::trusted().leaf(&["localhost"]),
        USER,
        password.expose(),
    ));
    let aws = FakeAws::start_skewed(42, |r: &Recorded| match r.op() {
        "GetCallerIdentity" => Reply::sts_identity(
            "arn:aws:sts::123456789012:assumed-role/mailer/probe",
            "123456789012",
            "AROAEXAMPLE:probe",
        ),
        "GetAccount" => Reply::account(false, true, "HEALTHY", 200.0, 10.0),
        "SendEmail" => Reply::sent(),
        "SimulatePrincipalPolicy" => Reply::simulation(r, |_, _| Sim::allowed("mailer-policy")),
        "GetEmailIdentity" if r.email_identity().as_deref() == Some("example.com") => {
            Reply::email_identity(
                "DOMAIN",
                "SUCCESS",
                "PENDING",
                true,
                Some(("bounce.example.com", "SUCCESS", "USE_DEFAULT_VALUE")),
            )
        }
        "GetEmailIdentity" => {
            Reply::ses_error(404, "NotFoundException", "Email identity does not exist.")
        }
        "ListEmailIdentities" => Reply::email_identities(&[("example.com", "DOMAIN", true)]),
        "GetAccessKeyInfo" => Reply::access_key_info("123456789012"),
        _ => Reply::not_found(),
    });
    let expiry = std::time::SystemTime::now() + Duration::from_secs(6 * 3600);
    let creds = serde_json::json!({
        "Version": 1,
        "AccessKeyId": "ASIAIOSFODNN7EXAMPLE",
        "SecretAccessKey": SECRET,
        "SessionToken": "FwoGZXIvYXdzEXAMPLETOKEN",
        "Expiration": aws_smithy_types::DateTime::from(expiry)
            .fmt(aws_smithy_types::date_time::Format::DateTime)
            .unwrap(),
    });
    let creds_file = write_file(dir.path(), "creds.json", &creds.to_string());
    let aws_config = write_file(
        dir.path(),
        "aws-config",
        &format!(
            "[profile probe]\ncredential_process = cat {}\n",
            creds_file.display()
        ),
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Postfix's log: the follower reads appended lines only.
    let mail_log = write_file(dir.path(), "mail.log", "");
    let cfg = write_file(
        dir.path(),
        "ses-probe.toml",
        &format!(
            r#"[server]
listen = "127.0.0.1:{port}"
state_directory = "{state}"
[postfix_log]
source = "file"
path = "{mail_log}"
[[target]]
name = "full"
region = "us-east-1"
[target.smtp]
host = "127.0.0.1"
port = {smtp}
tls_server_name = "localhost"
ca_file = "{ca}"
username = "{USER}"
password = {{ env = "SMTP_PASSWORD" }}
timeout = "5s"
[target.api]
profile = "probe"
endpoint_url = "{aws}"
sts_endpoint_url = "{aws}"
iam_endpoint_url = "{aws}"
timeout = "5s"
permissions = true
sender = true
[target.api.send]
from = "probe@example.com"
"#,
            state = dir.path().display(),
            smtp = smtp.port,
            ca = ca::trusted().write_pem(dir.path()).display(),
            aws = aws.url,
            mail_log = mail_log.display(),
        ),
    );
    let _daemon = super::DaemonProcess::spawn(
        &cfg,
        &[
            ("AWS_CONFIG_FILE", aws_config.to_str().unwrap()),
            ("SMTP_PASSWORD", password.expose()),
        ],
    );
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let reading = wait_for(Duration::from_secs(30), || {
        std::net::TcpStream::connect(addr).ok()?;
        metric(&get(addr, "/metrics").body, "ses_probe_postfix_log_reading").filter(|v| *v == 1.0)
    });
    assert!(
        reading.is_some(),
        "the exporter did not start reading the mail log"
    );
    // Two real deliveries to the target's relay, in the format Postfix
    // 3.7 writes (see tests/corpus/postfix-real.jsonl).
    let relay = format!("127.0.0.1[127.0.0.1]:{}", smtp.port);
    let lines = format!(
        "Dec 01 21:39:45 mx postfix/smtp[15627]: 03B5998D312: to=<recipient@example.net>, relay={relay}, delay=0.06, delays=0.03/0.02/0.01/0, dsn=2.0.0, status=sent (250 Ok 0100018c2b7a1234-fake-0000)\n\
         Dec 01 21:39:46 mx postfix/smtp[15616]: EC86198CEF3: to=<recipient@example.net>, relay={relay}, delay=0.07, delays=0.02/0.04/0/0, dsn=4.0.0, status=deferred (SASL authentication failed; server {relay} said: 535 Authentication Credentials Invalid)\n"
    );
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&mail_log)
            .unwrap();
        f.write_all(lines.as_bytes()).unwrap();
    }
    // Every check has run once when all six runs counters are there, and
    // both deliveries are counted.
    let scrape = wait_for(Duration::from_secs(30), || {
        let Ok(_) = std::net::TcpStream::connect(addr) else {
            return None;
        };
        let text = get(addr, "/metrics").body;
        let done = [
            "smtp",
            "identity",
            "account",
            "permissions",
            "sender",
            "send",
        ]
        .iter()
        .all(|c| {
            metric(
                &text,
                &format!(r#"ses_probe_runs_total{{check="{c}",target="full"}}"#),
            )
            .is_some()
        }) && metric(
            &text,
            r#"ses_probe_postfix_deliveries_total{class="auth_credentials_invalid",status="deferred",target="full"}"#,
        ) == Some(1.0);
        done.then_some(text)
    });
    scrape.unwrap_or_else(|| panic!("the exporter did not run every check within 30 s"))
}
