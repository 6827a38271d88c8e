//! The AWS checks (identity, account, send) end to end: against an
//! in-process fake that speaks the real STS and SESv2 wire formats (exact
//! classes, severities and details), against moto (real SigV4, IAM users,
//! SES identities), and through the binary for the credential chain, the
//! Nagios exit codes and the persisted send budget.

use ses_probe::checks;
use ses_probe::config::{self, Env, Target};
use ses_probe::diagnosis::{Class, Severity};
use ses_probe::outcome::{CheckKind, Finding, Outcome, PrincipalType, Status};

use crate::support::fake_aws::{FakeAws, Recorded, Reply};
use crate::support::moto::Moto;
use crate::support::{run, write_file};

const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const ACCOUNT: &str = "123456789012";
const USER_ARN: &str = "arn:aws:iam::123456789012:user/mailer";

/// A target with static keys against `url` for both STS and SESv2.
fn target_with(url: &str, key_id: &str, secret: &str, extra: &str) -> Target {
    let text = format!(
        r#"[[target]]
name = "fake"
region = "us-east-1"
[target.api]
access_key_id = "{key_id}"
secret_access_key = {{ value = "{secret}" }}
endpoint_url = "{url}"
sts_endpoint_url = "{url}"
timeout = "5s"
{extra}
"#
    );
    let plan = config::parse(
        &text,
        "test.toml",
        &Env::from_pairs::<[(&str, &str); 0], _, _>([]),
    )
    .unwrap_or_else(|e| panic!("config: {e}\n{text}"));
    std::sync::Arc::unwrap_or_clone(plan.targets.into_iter().next().expect("one target"))
}

fn target(url: &str, extra: &str) -> Target {
    target_with(url, KEY_ID, SECRET, extra)
}

/// Run the `kind` check of `t`, with its send budget (if any) in `state`.
async fn check(t: &Target, kind: CheckKind, state: &std::path::Path) -> Outcome {
    let mut t = t.clone();
    if let Some(send) = t.api.as_mut().and_then(|a| a.send.as_mut()) {
        send.state_directory = state.to_owned();
    }
    let check = t.check(kind).expect("the target runs this check");
    checks::run(&t, check).await
}

async fn check_once(fake: &FakeAws, extra: &str, kind: CheckKind) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    check(&target(&fake.url, extra), kind, dir.path()).await
}

/// The finding of `class`, which must be there with `severity`.
fn finding(o: &Outcome, class: Class, severity: Severity) -> Finding {
    let f = o
        .findings
        .iter()
        .find(|f| f.class == class)
        .unwrap_or_else(|| panic!("no {class} finding in {:#?}", o.findings))
        .clone();
    assert_eq!(f.severity, severity, "{f:#?}");
    f
}

fn sts(reply: Reply) -> impl Fn(&Recorded) -> Reply + Send + Sync + 'static {
    move |r: &Recorded| match r.op() {
        "GetCallerIdentity" => reply.clone(),
        _ => Reply::not_found(),
    }
}

fn ses(op: &'static str, reply: Reply) -> impl Fn(&Recorded) -> Reply + Send + Sync + 'static {
    move |r: &Recorded| {
        if r.op() == op {
            reply.clone()
        } else {
            Reply::not_found()
        }
    }
}

// ---------------------------------------------------------------------------
// Identity against the fake
// ---------------------------------------------------------------------------

#[tokio::test]
async fn identity_principal_kinds() {
    let cases = [
        (USER_ARN, PrincipalType::IamUser),
        (
            "arn:aws:sts::123456789012:assumed-role/ses-sender/i-0abc",
            PrincipalType::AssumedRole,
        ),
        (
            "arn:aws-us-gov:sts::123456789012:federated-user/bob",
            PrincipalType::FederatedUser,
        ),
        (
            "arn:aws-cn:iam::123456789012:user/cn-mailer",
            PrincipalType::IamUser,
        ),
    ];
    for (arn, kind) in cases {
        let fake = FakeAws::start(sts(Reply::sts_identity(arn, ACCOUNT, "AIDAEXAMPLE")));
        let o = check_once(&fake, "", CheckKind::Identity).await;
        assert!(o.success, "{o:#?}");
        assert_eq!(o.status(), Status::Ok, "{o:#?}");
        let id = o.facts.identity.as_ref().unwrap();
        assert_eq!(id.principal_type, kind, "{arn}");
        assert_eq!(id.arn, arn);
        assert_eq!(id.account, ACCOUNT);
        assert_eq!(id.user_id, "AIDAEXAMPLE");
        let phases: Vec<_> = o.phases.iter().map(|p| (p.name, p.code, p.ok)).collect();
        assert_eq!(
            phases,
            vec![
                ("credentials", None, true),
                ("GetCallerIdentity", Some(200), true)
            ]
        );
        // The request was really signed with our key.
        let req = &fake.requests()[0];
        assert!(req
            .header("authorization")
            .unwrap()
            .contains(&format!("Credential={KEY_ID}/")));
    }
}

#[tokio::test]
async fn identity_root_is_critical_or_configured() {
    let root = "arn:aws:iam::123456789012:root";
    let fake = FakeAws::start(sts(Reply::sts_identity(root, ACCOUNT, ACCOUNT)));
    let o = check_once(&fake, "", CheckKind::Identity).await;
    assert!(o.success);
    assert_eq!(
        o.facts.identity.as_ref().unwrap().principal_type,
        PrincipalType::Root
    );
    let f = finding(&o, Class::RootCredentials, Severity::Critical);
    assert_eq!(f.details.principal.as_deref(), Some(root));
    assert_eq!(o.status(), Status::Critical);

    let o = check_once(&fake, "root_severity = \"warning\"", CheckKind::Identity).await;
    finding(&o, Class::RootCredentials, Severity::Warning);
    assert_eq!(o.status(), Status::Warning);
}

#[tokio::test]
async fn identity_sts_errors() {
    let cases = [
        (
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
            Class::InvalidAccessKey,
        ),
        (
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
            Class::SignatureMismatch,
        ),
        (
            "ExpiredToken",
            "The security token included in the request is expired",
            Class::CredentialsExpired,
        ),
        (
            "RegionDisabledException",
            "STS is not activated in this region for account:123456789012. Your account administrator can activate STS in this region using the IAM Console.",
            Class::StsRegionDisabled,
        ),
    ];
    for (code, message, class) in cases {
        let fake = FakeAws::start(sts(Reply::sts_error(403, code, message)));
        let o = check_once(&fake, "", CheckKind::Identity).await;
        assert!(!o.success);
        assert_eq!(o.status(), Status::Critical);
        let f = finding(&o, class, Severity::Critical);
        assert_eq!(f.details.aws_code.as_deref(), Some(code));
        assert_eq!(f.details.http_status, Some(403));
        assert_eq!(f.details.phase.as_deref(), Some("GetCallerIdentity"));
        assert!(f.message.contains(code), "{}", f.message);
        let last = o.phases.last().unwrap();
        assert_eq!(
            (last.name, last.code, last.ok),
            ("GetCallerIdentity", Some(403), false)
        );
        assert!(o.facts.clock_skew_seconds.unwrap().abs() < 2.0);
        assert!(o.facts.identity.is_none());
    }
}

#[tokio::test]
async fn signature_mismatch_names_an_smtp_password_secret() {
    let fake = FakeAws::start(sts(Reply::sts_error(
        403,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided.",
    )));
    // The published v4 SMTP password for `some+secret+key` in eu-central-1.
    let smtp_password = "BMXhUYlu5Z3gSXVQORxlVa7XPaz91aGWdfHxvkOZdWZ2";
    let dir = tempfile::tempdir().unwrap();
    let t = target_with(&fake.url, KEY_ID, smtp_password, "");
    let o = check(&t, CheckKind::Identity, dir.path()).await;
    let local = finding(&o, Class::ApiSecretIsSmtpPassword, Severity::Critical);
    assert!(local.message.contains("SMTP password"));
    let f = finding(&o, Class::SignatureMismatch, Severity::Critical);
    assert!(f.message.contains("SMTP password"), "{}", f.message);
    // The local finding explains the failure best.
    assert_eq!(
        o.primary_finding().unwrap().class,
        Class::ApiSecretIsSmtpPassword
    );
}

#[tokio::test]
async fn signature_expired_is_clock_skew_with_measured_skew() {
    // The server is 20 minutes ahead; it says so in its message as well.
    let fake = FakeAws::start_skewed(
        1200,
        sts(Reply::sts_error(
            403,
            "SignatureDoesNotMatch",
            "Signature expired: 20261127T114000Z is now earlier than 20261127T115500Z (20261127T120000Z - 5 min.)",
        )),
    );
    let o = check_once(&fake, "", CheckKind::Identity).await;
    let f = finding(&o, Class::ClockSkew, Severity::Critical);
    let measured = f.details.clock_skew_seconds.unwrap();
    assert!((measured - 1200.0).abs() < 2.0, "measured {measured}");
    assert_eq!(o.facts.clock_skew_seconds, Some(measured));
    assert_eq!(f.details.aws_code.as_deref(), Some("SignatureDoesNotMatch"));
}

#[tokio::test]
async fn clock_skew_measured_on_success() {
    let fake = FakeAws::start_skewed(300, sts(Reply::sts_identity(USER_ARN, ACCOUNT, "AIDA")));
    let o = check_once(&fake, "", CheckKind::Identity).await;
    assert!(o.success);
    // The server is 300 s ahead, so the local clock is 300 s behind.
    let skew = o.facts.clock_skew_seconds.unwrap();
    assert!((skew - 300.0).abs() <= 2.0, "skew {skew}");
}

#[tokio::test]
async fn refused_connection_is_connect_refused() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let t = target(&format!("http://127.0.0.1:{port}"), "");
    let o = check(&t, CheckKind::Identity, dir.path()).await;
    let f = finding(&o, Class::ConnectRefused, Severity::Critical);
    assert_eq!(f.details.phase.as_deref(), Some("GetCallerIdentity"));
    assert!(o.facts.clock_skew_seconds.is_none());
}

// ---------------------------------------------------------------------------
// Account against the fake
// ---------------------------------------------------------------------------

#[tokio::test]
async fn account_states() {
    // (production, sending, enforcement, max, sent) -> classes with severity
    type Case = (
        bool,
        bool,
        &'static str,
        f64,
        f64,
        Vec<(Class, Severity)>,
        Status,
    );
    let cases: Vec<Case> = vec![
        (true, true, "HEALTHY", 50_000.0, 10.0, vec![], Status::Ok),
        (
            false,
            true,
            "HEALTHY",
            200.0,
            1.0,
            vec![(Class::Sandbox, Severity::Warning)],
            Status::Warning,
        ),
        (
            true,
            false,
            "HEALTHY",
            50_000.0,
            0.0,
            vec![(Class::SendingDisabled, Severity::Critical)],
            Status::Critical,
        ),
        (
            true,
            true,
            "PROBATION",
            50_000.0,
            0.0,
            vec![(Class::EnforcementProbation, Severity::Warning)],
            Status::Warning,
        ),
        (
            true,
            false,
            "SHUTDOWN",
            50_000.0,
            0.0,
            vec![
                (Class::SendingDisabled, Severity::Critical),
                (Class::EnforcementShutdown, Severity::Critical),
            ],
            Status::Critical,
        ),
        (
            true,
            true,
            "HEALTHY",
            1000.0,
            900.0,
            vec![(Class::QuotaNearlyExhausted, Severity::Warning)],
            Status::Warning,
        ),
    ];
    for (production, sending, enforcement, max, sent, want, status) in cases {
        let fake = FakeAws::start(ses(
            "GetAccount",
            Reply::account(production, sending, enforcement, max, sent),
        ));
        let o = check_once(&fake, "", CheckKind::Account).await;
        assert!(o.success, "{o:#?}");
        let got: Vec<_> = o.findings.iter().map(|f| (f.class, f.severity)).collect();
        assert_eq!(got, want, "{enforcement} {production} {sending}");
        assert_eq!(o.status(), status);
        let a = o.facts.account.as_ref().unwrap();
        assert_eq!(a.max_24_hour_send, max);
        assert_eq!(a.sent_last_24_hours, sent);
        assert_eq!(a.max_send_rate, 14.0);
        assert_eq!(a.production_access_enabled, production);
        assert_eq!(a.sending_enabled, sending);
        assert_eq!(a.enforcement_status.as_deref(), Some(enforcement));
        assert_eq!(o.phases.last().unwrap().code, Some(200));
    }
}

#[tokio::test]
async fn account_quota_share_is_configurable() {
    let fake = FakeAws::start(ses(
        "GetAccount",
        Reply::account(true, true, "HEALTHY", 1000.0, 900.0),
    ));
    let o = check_once(&fake, "quota_warning_ratio = 0.95", CheckKind::Account).await;
    assert!(o.findings.is_empty(), "{:#?}", o.findings);
}

#[tokio::test]
async fn account_denied_names_get_account() {
    let fake = FakeAws::start(ses(
        "GetAccount",
        Reply::ses_error(
            403,
            "AccessDeniedException",
            "User: arn:aws:iam::123456789012:user/mailer is not authorized to perform: ses:GetAccount on resource: * because no identity-based policy allows the ses:GetAccount action",
        ),
    ));
    let o = check_once(&fake, "", CheckKind::Account).await;
    let f = finding(&o, Class::IamAccessDenied, Severity::Critical);
    assert_eq!(f.details.action.as_deref(), Some("ses:GetAccount"));
    assert_eq!(f.details.principal.as_deref(), Some(USER_ARN));
    assert_eq!(f.details.aws_code.as_deref(), Some("AccessDeniedException"));
    assert_eq!(f.details.http_status, Some(403));
    assert_eq!(f.details.phase.as_deref(), Some("GetAccount"));
}

// ---------------------------------------------------------------------------
// Send against the fake
// ---------------------------------------------------------------------------

const SEND: &str = "[target.api.send]\nfrom = \"probe@example.com\"\n";

#[tokio::test]
async fn send_success_reports_budget() {
    let fake = FakeAws::start(ses("SendEmail", Reply::sent()));
    let o = check_once(&fake, SEND, CheckKind::Send).await;
    assert!(o.success, "{o:#?}");
    assert_eq!(o.facts.send_budget_remaining, Some(23));
    assert_eq!(o.phases.last().unwrap().name, "SendEmail");
    let req = &fake.requests()[0];
    let body: serde_json::Value = serde_json::from_str(&req.body).unwrap();
    assert_eq!(body["FromEmailAddress"], "probe@example.com");
    assert_eq!(
        body["Destination"]["ToAddresses"][0],
        "success@simulator.amazonses.com"
    );
    assert!(body["Content"]["Simple"]["Subject"]["Data"]
        .as_str()
        .unwrap()
        .contains("ses-probe"));
}

#[tokio::test]
async fn send_errors() {
    let identity_arn = "arn:aws:ses:us-east-1:123456789012:identity/example.com";
    let cases: Vec<(Reply, Class, Severity)> = vec![
        (
            Reply::ses_error(
                403,
                "AccessDeniedException",
                &format!("User `{USER_ARN}' is not authorized to perform `ses:SendEmail' on resource `{identity_arn}'"),
            ),
            Class::IamAccessDenied,
            Severity::Critical,
        ),
        (
            Reply::ses_error(
                403,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ),
            Class::InvalidAccessKey,
            Severity::Critical,
        ),
        (
            Reply::ses_error(
                400,
                "MessageRejected",
                "Email address is not verified. The following identities failed the check in region US-EAST-1: probe@example.com",
            ),
            Class::IdentityNotVerified,
            Severity::Critical,
        ),
        (
            Reply::ses_error(
                400,
                "MailFromDomainNotVerifiedException",
                "The MAIL FROM domain bounce.example.com is not verified.",
            ),
            Class::MailFromDomainNotVerified,
            Severity::Critical,
        ),
        (
            Reply::ses_error(400, "SendingPausedException", "Sending is paused for this account."),
            Class::SendingPaused,
            Severity::Critical,
        ),
        (
            Reply::ses_error(400, "AccountSuspendedException", "Your account has been suspended."),
            Class::AccountSuspended,
            Severity::Critical,
        ),
        (
            Reply::ses_error(429, "TooManyRequestsException", "Maximum sending rate exceeded."),
            Class::ThrottleRate,
            Severity::Warning,
        ),
        (
            Reply::ses_error(500, "InternalServiceErrorException", "Internal error."),
            Class::ServiceTemporaryFailure,
            Severity::Warning,
        ),
        (
            Reply::ses_error(404, "NotFoundException", "Configuration set <marketing> does not exist."),
            Class::ConfigurationSetMissing,
            Severity::Critical,
        ),
    ];
    for (reply, class, severity) in cases {
        let status = reply.status;
        let fake = FakeAws::start(ses("SendEmail", reply));
        let o = check_once(&fake, SEND, CheckKind::Send).await;
        assert!(!o.success);
        // A failed check is critical whatever the finding's severity.
        assert_eq!(o.status(), Status::Critical);
        let f = finding(&o, class, severity);
        assert_eq!(f.details.http_status, Some(status));
        assert_eq!(f.details.phase.as_deref(), Some("SendEmail"));
        assert!(f.details.aws_code.is_some());
        // The attempt was paid for before it was made.
        assert_eq!(o.facts.send_budget_remaining, Some(23));
        match class {
            Class::IamAccessDenied => {
                assert_eq!(f.details.action.as_deref(), Some("ses:SendEmail"));
                assert_eq!(f.details.resource.as_deref(), Some(identity_arn));
                assert_eq!(f.details.principal.as_deref(), Some(USER_ARN));
            }
            Class::IdentityNotVerified => {
                assert_eq!(f.details.identities, vec!["probe@example.com"]);
                assert_eq!(f.details.region.as_deref(), Some("us-east-1"));
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn send_budget_skips_without_a_request() {
    let fake = FakeAws::start(ses("SendEmail", Reply::sent()));
    let dir = tempfile::tempdir().unwrap();
    let t = target(&fake.url, &format!("{SEND}daily_budget = 2\n"));
    let remaining: Vec<_> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            let o = check(&t, CheckKind::Send, dir.path()).await;
            assert!(o.success);
            v.push((o.facts.send_budget_remaining, o.facts.skipped));
        }
        v
    };
    assert_eq!(
        remaining,
        vec![(Some(1), false), (Some(0), false), (Some(0), true)]
    );
    assert_eq!(fake.count("SendEmail"), 2);
    assert!(dir.path().join("send-budget-fake.json").exists());
}

// ---------------------------------------------------------------------------
// Through the binary
// ---------------------------------------------------------------------------

fn binary_config(dir: &std::path::Path, url: &str, api_extra: &str) -> std::path::PathBuf {
    write_file(
        dir,
        "c.toml",
        &format!(
            r#"[server]
state_directory = "{state}"

[[target]]
name = "bin"
region = "us-east-1"
[target.api]
access_key_id = "{KEY_ID}"
secret_access_key = {{ env = "API_SECRET" }}
endpoint_url = "{url}"
sts_endpoint_url = "{url}"
timeout = "5s"
{api_extra}
"#,
            state = dir.join("state").display()
        ),
    )
}

fn once_json(cfg: &std::path::Path, env: &[(&str, &str)]) -> (i32, serde_json::Value) {
    let mut all = vec![("API_SECRET", SECRET)];
    all.extend_from_slice(env);
    let r = run(
        &[
            "--once",
            "--output",
            "json",
            "--config",
            cfg.to_str().unwrap(),
        ],
        &all,
        None,
    );
    let v = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", r.stdout, r.stderr));
    (r.code, v)
}

fn classes(check: &serde_json::Value) -> Vec<String> {
    check["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["class"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn once_root_keys_exit_2() {
    let fake = FakeAws::start(|r: &Recorded| match r.op() {
        "GetCallerIdentity" => {
            Reply::sts_identity("arn:aws:iam::123456789012:root", ACCOUNT, ACCOUNT)
        }
        "GetAccount" => Reply::account(true, true, "HEALTHY", 50_000.0, 0.0),
        _ => Reply::not_found(),
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = binary_config(dir.path(), &fake.url, "");
    let (code, v) = once_json(&cfg, &[]);
    assert_eq!(code, 2, "{v:#}");
    assert_eq!(v["status"], "critical");
    let checks = v["targets"][0]["checks"].as_array().unwrap();
    assert_eq!(checks[0]["check"], "identity");
    assert_eq!(classes(&checks[0]), vec!["root_credentials"]);
    assert_eq!(checks[0]["findings"][0]["severity"], "critical");
    assert_eq!(checks[0]["facts"]["identity"]["principal_type"], "root");
    assert_eq!(checks[1]["check"], "account");
    assert_eq!(checks[1]["status"], "ok");
}

#[test]
fn once_sandbox_exit_1() {
    let fake = FakeAws::start(|r: &Recorded| match r.op() {
        "GetCallerIdentity" => Reply::sts_identity(USER_ARN, ACCOUNT, "AIDA"),
        "GetAccount" => Reply::account(false, true, "HEALTHY", 200.0, 0.0),
        _ => Reply::not_found(),
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = binary_config(dir.path(), &fake.url, "");
    let (code, v) = once_json(&cfg, &[]);
    assert_eq!(code, 1, "{v:#}");
    let checks = v["targets"][0]["checks"].as_array().unwrap();
    assert_eq!(checks[0]["status"], "ok");
    assert_eq!(classes(&checks[1]), vec!["sandbox"]);
    assert_eq!(checks[1]["findings"][0]["severity"], "warning");
    assert_eq!(
        checks[1]["facts"]["account"]["production_access_enabled"],
        false
    );
}

#[test]
fn once_clock_skew_300s() {
    let fake = FakeAws::start_skewed(300, |r: &Recorded| match r.op() {
        "GetCallerIdentity" => Reply::sts_identity(USER_ARN, ACCOUNT, "AIDA"),
        _ => Reply::not_found(),
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = binary_config(dir.path(), &fake.url, "account = false");
    let (code, v) = once_json(&cfg, &[]);
    assert_eq!(code, 0, "{v:#}");
    let skew = v["targets"][0]["checks"][0]["facts"]["clock_skew_seconds"]
        .as_f64()
        .unwrap();
    assert!((skew - 300.0).abs() <= 2.0, "skew {skew}");
}

/// The budget lives in the state directory: a second process sees what the
/// first spent.
#[test]
fn send_budget_survives_a_restart() {
    let fake = FakeAws::start(|r: &Recorded| match r.op() {
        "SendEmail" => Reply::sent(),
        _ => Reply::not_found(),
    });
    let dir = tempfile::tempdir().unwrap();
    let extra = "identity = false\naccount = false\n[target.api.send]\nfrom = \"probe@example.com\"\ndaily_budget = 1\n";
    let cfg = binary_config(dir.path(), &fake.url, extra);
    let (code, v) = once_json(&cfg, &[]);
    assert_eq!(code, 0, "{v:#}");
    let send = &v["targets"][0]["checks"][0];
    assert_eq!(send["check"], "send");
    assert_eq!(send["facts"]["send_budget_remaining"], 0);
    assert!(send["facts"].get("skipped").is_none());
    assert_eq!(fake.count("SendEmail"), 1);

    let (code, v) = once_json(&cfg, &[]);
    assert_eq!(code, 0, "{v:#}");
    let send = &v["targets"][0]["checks"][0];
    assert_eq!(send["facts"]["skipped"], true);
    assert_eq!(send["facts"]["send_budget_remaining"], 0);
    assert_eq!(fake.count("SendEmail"), 1, "the second process sent again");
}

/// Credential-chain failures, with the environment under the test's control.
#[test]
fn credential_chain_classes() {
    let dir = tempfile::tempdir().unwrap();
    let aws_config = write_file(
        dir.path(),
        "aws-config",
        "[profile other]\nregion = us-east-1\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n\n[profile half]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n",
    );
    let config_env = aws_config.to_str().unwrap();
    let dead = crate::support::ConnectionCounter::start();
    let url = format!("http://127.0.0.1:{}", dead.port);
    let cfg = |api: &str| {
        write_file(
            dir.path(),
            "c.toml",
            &format!(
                "[[target]]\nname = \"chain\"\nregion = \"us-east-1\"\n[target.api]\n{api}\nendpoint_url = \"{url}\"\nsts_endpoint_url = \"{url}\"\naccount = false\ntimeout = \"3s\"\n"
            ),
        )
    };
    type ChainEnv<'a> = Vec<(&'a str, &'a str)>;
    let cases: Vec<(String, ChainEnv, &str)> = vec![
        (
            "profile = \"nosuch\"".into(),
            vec![("AWS_CONFIG_FILE", config_env)],
            "profile_not_found",
        ),
        (
            "profile = \"half\"".into(),
            vec![("AWS_CONFIG_FILE", config_env)],
            "partial_credentials",
        ),
        (String::new(), vec![], "no_credentials"),
        (
            String::new(),
            vec![("AWS_ACCESS_KEY_ID", KEY_ID)],
            "partial_credentials",
        ),
    ];
    for (api, env, want) in cases {
        let path = cfg(&api);
        let r = run(
            &["--once", "-o", "json", "--config", path.to_str().unwrap()],
            &env,
            None,
        );
        assert_eq!(r.code, 2, "{api}: {}\n{}", r.stdout, r.stderr);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        let check = &v["targets"][0]["checks"][0];
        assert_eq!(
            classes(check),
            vec![want.to_owned()],
            "{api} {env:?}: {check:#}"
        );
        assert_eq!(check["findings"][0]["details"]["phase"], "credentials");
        assert_eq!(check["phases"][0]["name"], "credentials");
        assert_eq!(check["phases"][0]["ok"], false);
    }
    assert_eq!(
        dead.connections(),
        0,
        "a request went out without credentials"
    );
}

/// Temporary credentials from a `credential_process` that expire soon.
#[test]
fn expiring_temporary_credentials_warn() {
    let fake = FakeAws::start(|r: &Recorded| match r.op() {
        "GetCallerIdentity" => Reply::sts_identity(
            "arn:aws:sts::123456789012:assumed-role/mailer/session",
            ACCOUNT,
            "AROA:session",
        ),
        _ => Reply::not_found(),
    });
    let dir = tempfile::tempdir().unwrap();
    let expiry = std::time::SystemTime::now() + std::time::Duration::from_secs(300);
    let expiry_text = aws_smithy_types::DateTime::from(expiry)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap();
    let creds = serde_json::json!({
        "Version": 1,
        "AccessKeyId": "ASIAIOSFODNN7EXAMPLE",
        "SecretAccessKey": SECRET,
        "SessionToken": "FwoGZXIvYXdzEXAMPLETOKEN",
        "Expiration": expiry_text,
    });
    let creds_file = write_file(dir.path(), "creds.json", &creds.to_string());
    let aws_config = write_file(
        dir.path(),
        "aws-config",
        &format!(
            "[profile temp]\ncredential_process = cat {}\n",
            creds_file.display()
        ),
    );
    let cfg = write_file(
        dir.path(),
        "c.toml",
        &format!(
            "[[target]]\nname = \"temp\"\nregion = \"us-east-1\"\n[target.api]\nprofile = \"temp\"\nsts_endpoint_url = \"{}\"\naccount = false\ntimeout = \"5s\"\n",
            fake.url
        ),
    );
    let r = run(
        &["--once", "-o", "json", "--config", cfg.to_str().unwrap()],
        &[("AWS_CONFIG_FILE", aws_config.to_str().unwrap())],
        None,
    );
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let check = &v["targets"][0]["checks"][0];
    assert_eq!(classes(check), vec!["temporary_credentials_expiring"]);
    let at = check["facts"]["credentials_expiry"].as_i64().unwrap();
    let want = expiry
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((at - want).abs() <= 1, "{at} vs {want}");
    assert_eq!(check["facts"]["identity"]["principal_type"], "assumed_role");
    let req = &fake.requests()[0];
    assert_eq!(
        req.header("x-amz-security-token"),
        Some("FwoGZXIvYXdzEXAMPLETOKEN")
    );
}

// ---------------------------------------------------------------------------
// Against moto
// ---------------------------------------------------------------------------

#[tokio::test]
async fn moto_identity_of_an_iam_user() {
    let moto = Moto::start();
    let setup = moto.setup(serde_json::json!({
        "users": [{"name": "prober", "actions": ["sts:GetCallerIdentity"]}],
    }));
    let keys = Moto::keys(&setup, "prober");
    let dir = tempfile::tempdir().unwrap();
    let t = target_with(&moto.url, &keys.access_key_id, &keys.secret_access_key, "");
    let o = check(&t, CheckKind::Identity, dir.path()).await;
    assert!(o.success, "{o:#?}");
    let id = o.facts.identity.as_ref().unwrap();
    assert_eq!(id.arn, "arn:aws:iam::123456789012:user/prober");
    assert_eq!(id.account, ACCOUNT);
    assert_eq!(id.principal_type, PrincipalType::IamUser);
    assert!(o.facts.clock_skew_seconds.unwrap().abs() < 2.0);
}

#[tokio::test]
async fn moto_send_verified_and_unverified() {
    let moto = Moto::start();
    let setup = moto.setup(serde_json::json!({
        "users": [{"name": "sender", "actions": ["ses:*", "sts:GetCallerIdentity"]}],
        "identities": ["probe@example.com"],
    }));
    let keys = Moto::keys(&setup, "sender");
    let dir = tempfile::tempdir().unwrap();
    let t = target_with(
        &moto.url,
        &keys.access_key_id,
        &keys.secret_access_key,
        SEND,
    );
    let o = check(&t, CheckKind::Send, dir.path()).await;
    assert!(o.success, "{o:#?}");
    assert_eq!(o.facts.send_budget_remaining, Some(23));
    assert_eq!(o.phases.last().unwrap().code, Some(200));

    let unverified = "[target.api.send]\nfrom = \"nobody@unverified.example\"\n";
    let t = target_with(
        &moto.url,
        &keys.access_key_id,
        &keys.secret_access_key,
        unverified,
    );
    let o = check(&t, CheckKind::Send, dir.path()).await;
    assert!(!o.success);
    let f = finding(&o, Class::IdentityNotVerified, Severity::Critical);
    assert_eq!(f.details.aws_code.as_deref(), Some("MessageRejected"));
    assert_eq!(f.details.http_status, Some(400));
}

/// With IAM enforcement on, moto answers authentication and authorisation
/// failures in a shape the SDK cannot read (no error code, HTTP 403). The
/// check reports exactly that, honestly: `unknown` with the status and a
/// message saying the server gave no code; the exact classes for the real
/// wire formats are covered by the fake above.
#[tokio::test]
async fn moto_enforced_auth_failures() {
    let moto = Moto::start();
    let setup = moto.setup(serde_json::json!({
        "users": [
            {"name": "sender", "actions": ["ses:*", "sts:GetCallerIdentity"]},
            {"name": "nosend", "actions": ["ses:GetAccount", "sts:GetCallerIdentity"]},
        ],
        "identities": ["probe@example.com"],
        "enforce_auth": true,
    }));
    let sender = Moto::keys(&setup, "sender");
    let nosend = Moto::keys(&setup, "nosend");
    let dir = tempfile::tempdir().unwrap();

    // The allowed user still gets through with enforcement on.
    let t = target_with(
        &moto.url,
        &sender.access_key_id,
        &sender.secret_access_key,
        SEND,
    );
    let o = check(&t, CheckKind::Send, dir.path()).await;
    assert!(o.success, "{o:#?}");

    let cases = [
        (
            "unknown key",
            "AKIAUNKNOWNKEY000000",
            sender.secret_access_key.as_str(),
        ),
        ("wrong secret", sender.access_key_id.as_str(), SECRET),
        (
            "no ses:SendEmail",
            nosend.access_key_id.as_str(),
            nosend.secret_access_key.as_str(),
        ),
    ];
    for (what, id, secret) in cases {
        let t = target_with(&moto.url, id, secret, SEND);
        let o = check(&t, CheckKind::Send, dir.path()).await;
        assert!(!o.success, "{what}: {o:#?}");
        let f = &o.findings[0];
        assert_eq!(f.class, Class::Unknown, "{what}: {f:#?}");
        assert_eq!(f.details.http_status, Some(403), "{what}");
        assert_eq!(f.details.aws_code, None, "{what}");
        assert!(f.message.contains("no error code"), "{what}: {}", f.message);
        assert_eq!(f.details.phase.as_deref(), Some("SendEmail"));
    }
}

/// An endpoint that accepts the connection and never answers: the call is
/// cut off at the configured timeout and reported as `timeout` in its
/// phase, not left hanging.
#[tokio::test]
async fn silent_endpoint_times_out_in_its_phase() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Hold every accepted connection open, silently, for at most 20 s.
    let holder = std::thread::spawn(move || {
        listener.set_nonblocking(true).unwrap();
        let mut held = Vec::new();
        let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::time::Instant::now() < end && held.len() < 4 {
            match listener.accept() {
                Ok((s, _)) => held.push(s),
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        }
        std::thread::sleep(std::time::Duration::from_secs(3));
    });
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[[target]]\nname = \"silent\"\nregion = \"us-east-1\"\n[target.api]\naccess_key_id = \"{KEY_ID}\"\nsecret_access_key = {{ value = \"{SECRET}\" }}\nsts_endpoint_url = \"http://127.0.0.1:{port}\"\ntimeout = \"1s\"\n"
    );
    let plan = config::parse(
        &text,
        "t.toml",
        &Env::from_pairs::<[(&str, &str); 0], _, _>([]),
    )
    .unwrap();
    let start = std::time::Instant::now();
    let o = check(&plan.targets[0], CheckKind::Identity, dir.path()).await;
    let took = start.elapsed();
    let f = finding(&o, Class::Timeout, Severity::Critical);
    assert_eq!(f.details.phase.as_deref(), Some("GetCallerIdentity"));
    assert!(
        took < std::time::Duration::from_millis(1500),
        "took {took:?}"
    );
    drop(holder);
}
