//! Audit without sending: the permissions check (IAM's policy simulator),
//! the sender check (the sender identity's state in SES) and the SMTP
//! check's key ownership, end to end through `ses-probe --once --output
//! json`.
//!
//! moto (5.x) implements `sesv2:GetEmailIdentity`, `ListEmailIdentities`,
//! `sts:GetAccessKeyInfo` and `iam:GetAccessKeyLastUsed`, so those run
//! against it with real IAM users, policies and keys under IAM enforcement;
//! it does not implement `iam:SimulatePrincipalPolicy` (it answers HTTP 500),
//! nor identities in a state other than verified, so the simulator's answers
//! (implicit and explicit denies, boundaries, SCPs, a caller that may not
//! simulate) and pending or failed identities come from the in-process fake
//! that speaks IAM's query XML and SESv2's rest-json.

use ses_probe::checks;
use ses_probe::config::{self, Env, Target};
use ses_probe::credentials::{derive_smtp_password_v4, Secret};
use ses_probe::diagnosis::Class;
use ses_probe::outcome::CheckKind;

use crate::support::ca;
use crate::support::fake_aws::{FakeAws, Recorded, Reply, Sim};
use crate::support::fake_smtp::{FakeSmtp, Script};
use crate::support::moto::Moto;
use crate::support::{run, write_file};

const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const ACCOUNT: &str = "123456789012";
const OTHER_ACCOUNT: &str = "999988887777";
const USER_ARN: &str = "arn:aws:iam::123456789012:user/mailer";
const FROM: &str = "probe@example.com";
const ADDRESS_ARN: &str = "arn:aws:ses:us-east-1:123456789012:identity/probe@example.com";
const DOMAIN_ARN: &str = "arn:aws:ses:us-east-1:123456789012:identity/example.com";

/// A config whose API side (SESv2, STS and IAM) is `url`.
fn config(dir: &std::path::Path, url: &str, api_extra: &str, rest: &str) -> std::path::PathBuf {
    write_file(
        dir,
        "c.toml",
        &format!(
            r#"[server]
state_directory = "{state}"

[[target]]
name = "audit"
region = "us-east-1"
{rest}
[target.api]
access_key_id = "{KEY_ID}"
secret_access_key = {{ env = "API_SECRET" }}
endpoint_url = "{url}"
sts_endpoint_url = "{url}"
iam_endpoint_url = "{url}"
timeout = "5s"
identity = false
account = false
{api_extra}
"#,
            state = dir.join("state").display()
        ),
    )
}

/// `--once --output json`: the exit code and the report.
fn once(cfg: &std::path::Path, env: &[(&str, &str)]) -> (i32, serde_json::Value) {
    let mut all = vec![("API_SECRET", SECRET)];
    all.extend_from_slice(env);
    let r = run(
        &["--once", "-o", "json", "--config", cfg.to_str().unwrap()],
        &all,
        None,
    );
    let v = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", r.stdout, r.stderr));
    (r.code, v)
}

/// The report of `check` in a one-target report.
fn check<'a>(v: &'a serde_json::Value, check: &str) -> &'a serde_json::Value {
    v["targets"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == check)
        .unwrap_or_else(|| panic!("no {check} check in {v:#}"))
}

fn findings<'a>(c: &'a serde_json::Value, class: &str) -> Vec<&'a serde_json::Value> {
    c["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["class"] == class)
        .collect()
}

fn classes(c: &serde_json::Value) -> Vec<(String, String)> {
    c["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["class"].as_str().unwrap().to_owned(),
                f["severity"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

const PERMISSIONS: &str = "permissions = true\naudit_from = \"probe@example.com\"\n";
const SENDER: &str = "sender = true\naudit_from = \"probe@example.com\"\n";

/// A fake whose caller is `arn` and whose simulator answers with `decide`.
fn simulator(
    arn: &'static str,
    decide: impl Fn(&str, &str) -> Sim + Send + Sync + 'static,
) -> FakeAws {
    FakeAws::start(move |r: &Recorded| match r.op() {
        "GetCallerIdentity" => Reply::sts_identity(arn, ACCOUNT, "AIDA"),
        "SimulatePrincipalPolicy" => Reply::simulation(r, &decide),
        "SendEmail" => Reply::sent(),
        _ => Reply::not_found(),
    })
}

// ---------------------------------------------------------------------------
// permissions, against the fake simulator
// ---------------------------------------------------------------------------

/// The acceptance case: the user's policy allows only ses:SendRawEmail on
/// another identity. `--once` reports both sending actions denied on the
/// configured identity, from the simulation, with the statement to add,
/// and nothing is sent.
#[test]
fn permissions_report_sending_denied_on_the_configured_identity() {
    let other = "arn:aws:ses:us-east-1:123456789012:identity/other.example";
    let fake = simulator(USER_ARN, move |action, resource| match (action, resource) {
        ("ses:SendRawEmail", r) if r == other => Sim::allowed("probe"),
        ("ses:GetAccount", _) => Sim::allowed("probe"),
        _ => Sim::implicit(),
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &fake.url, PERMISSIONS, "");
    let (code, v) = once(&cfg, &[]);
    assert_eq!(code, 2, "{v:#}");
    let c = check(&v, "permissions");
    assert_eq!(c["status"], "critical", "{c:#}");
    let denied = findings(c, "iam_access_denied");
    let actions: Vec<&str> = denied
        .iter()
        .map(|f| f["details"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["ses:SendEmail", "ses:SendRawEmail"], "{c:#}");
    for f in denied {
        let d = &f["details"];
        assert_eq!(f["severity"], "critical");
        assert_eq!(d["source"], "simulation");
        assert_eq!(d["resource"], ADDRESS_ARN);
        assert_eq!(d["principal"], USER_ARN);
        assert_eq!(d["decision"], "implicit_deny");
        assert_eq!(d["phase"], "SimulatePrincipalPolicy");
        let statement: serde_json::Value =
            serde_json::from_str(d["statement"].as_str().unwrap()).unwrap();
        assert_eq!(
            statement,
            serde_json::json!({
                "Effect": "Allow",
                "Action": d["action"],
                "Resource": [ADDRESS_ARN, DOMAIN_ARN],
            })
        );
        assert!(
            f["message"].as_str().unwrap().contains("statement to add"),
            "{f:#}"
        );
    }
    let facts = &c["facts"]["permissions"];
    assert_eq!(facts["policy_source"], USER_ARN);
    let decisions: Vec<(String, String)> = facts["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["action"].as_str().unwrap().to_owned(),
                a["decision"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        decisions,
        pairs(&[
            ("ses:SendEmail", "implicit_deny"),
            ("ses:SendRawEmail", "implicit_deny"),
            ("ses:GetAccount", "allowed"),
        ])
    );
    // What was simulated: the user, the sending actions on both identity
    // ARNs with the sender as ses:FromAddress; then ses:GetAccount.
    let sims: Vec<Recorded> = fake
        .requests()
        .into_iter()
        .filter(|r| r.op() == "SimulatePrincipalPolicy")
        .collect();
    assert_eq!(sims.len(), 2);
    assert_eq!(sims[0].form("PolicySourceArn").as_deref(), Some(USER_ARN));
    assert_eq!(
        sims[0].form_list("ActionNames"),
        ["ses:SendEmail", "ses:SendRawEmail"]
    );
    assert_eq!(sims[0].form_list("ResourceArns"), [ADDRESS_ARN, DOMAIN_ARN]);
    assert_eq!(
        sims[0]
            .form("ContextEntries.member.1.ContextKeyName")
            .as_deref(),
        Some("ses:FromAddress")
    );
    assert_eq!(
        sims[0]
            .form("ContextEntries.member.1.ContextKeyValues.member.1")
            .as_deref(),
        Some(FROM)
    );
    assert_eq!(sims[1].form_list("ActionNames"), ["ses:GetAccount"]);
    assert!(sims[1].form_list("ResourceArns").is_empty());
    assert_eq!(fake.count("SendEmail"), 0, "the audit sent mail");
}

/// Explicit denies name the matching policy; a permissions boundary and an
/// SCP are named as what denies; a denied ses:GetAccount is a warning.
#[test]
fn permissions_explicit_deny_boundary_and_scp() {
    let fake = simulator(USER_ARN, |action, resource| match action {
        "ses:SendEmail" if resource == ADDRESS_ARN => Sim::explicit("DenyProbeAddress"),
        "ses:SendEmail" => Sim::allowed("ses-send"),
        "ses:SendRawEmail" => Sim {
            boundary_allows: Some(false),
            ..Sim::implicit()
        },
        _ => Sim {
            organizations_allow: Some(false),
            ..Sim::implicit()
        },
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &fake.url, PERMISSIONS, "");
    let (code, v) = once(&cfg, &[]);
    assert_eq!(code, 2, "{v:#}");
    let c = check(&v, "permissions");
    assert_eq!(
        classes(c),
        pairs(&[
            ("iam_access_denied", "critical"),
            ("iam_access_denied", "critical"),
            ("iam_access_denied", "warning"),
        ])
    );
    let f = &c["findings"];
    assert_eq!(f[0]["details"]["action"], "ses:SendEmail");
    assert_eq!(f[0]["details"]["decision"], "explicit_deny");
    assert_eq!(f[0]["details"]["resource"], ADDRESS_ARN);
    assert_eq!(
        f[0]["details"]["matched_policies"],
        serde_json::json!(["DenyProbeAddress"])
    );
    assert!(f[0]["message"].as_str().unwrap().contains("Deny statement"));
    assert_eq!(f[1]["details"]["action"], "ses:SendRawEmail");
    assert_eq!(
        f[1]["details"]["denied_by"],
        serde_json::json!(["permissions_boundary"])
    );
    assert!(f[1]["message"].as_str().unwrap().contains("boundary"));
    assert_eq!(f[2]["details"]["action"], "ses:GetAccount");
    assert_eq!(f[2]["details"]["resource"], "*");
    assert_eq!(
        f[2]["details"]["denied_by"],
        serde_json::json!(["organizations"])
    );
    assert!(f[2]["message"].as_str().unwrap().contains("SCP"));
}

/// A caller without iam:SimulatePrincipalPolicy gets a warning naming it,
/// never a critical; nothing else is claimed about its permissions.
#[test]
fn permissions_caller_may_not_simulate() {
    let fake = FakeAws::start(|r: &Recorded| {
        match r.op() {
        "GetCallerIdentity" => Reply::sts_identity(USER_ARN, ACCOUNT, "AIDA"),
        "SimulatePrincipalPolicy" => Reply::iam_error(
            403,
            "AccessDenied",
            "User: arn:aws:iam::123456789012:user/mailer is not authorized to perform: iam:SimulatePrincipalPolicy on resource: user mailer because no identity-based policy allows the iam:SimulatePrincipalPolicy action",
        ),
        _ => Reply::not_found(),
    }
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &fake.url, PERMISSIONS, "");
    let (code, v) = once(&cfg, &[]);
    assert_eq!(code, 1, "{v:#}");
    let c = check(&v, "permissions");
    assert_eq!(c["status"], "warning");
    assert_eq!(c["success"], true);
    assert_eq!(
        classes(c),
        pairs(&[("permission_audit_unavailable", "warning")])
    );
    let f = &c["findings"][0];
    assert_eq!(f["details"]["action"], "iam:SimulatePrincipalPolicy");
    assert_eq!(f["details"]["aws_code"], "AccessDenied");
    assert!(f["message"]
        .as_str()
        .unwrap()
        .contains("iam:SimulatePrincipalPolicy"));
    assert!(c["facts"].get("permissions").is_none(), "{c:#}");
}

/// An assumed role is simulated as its role; root needs no audit; with
/// smtp_credentials_admin the IAM actions behind SMTP credentials are
/// simulated too; recipients become ses:Recipients.
#[test]
fn permissions_principals_and_options() {
    let role = "arn:aws:sts::123456789012:assumed-role/ses-sender/i-0abc";
    let fake = simulator(role, |_, _| Sim::allowed("ses-sender-policy"));
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "{PERMISSIONS}smtp_credentials_admin = true\naudit_recipients = [\"a@example.org\", \"b@example.org\"]\n"
    );
    let cfg = config(dir.path(), &fake.url, &extra, "");
    let (code, v) = once(&cfg, &[]);
    assert_eq!(code, 0, "{v:#}");
    let c = check(&v, "permissions");
    assert_eq!(
        c["facts"]["permissions"]["policy_source"],
        "arn:aws:iam::123456789012:role/ses-sender"
    );
    let sims: Vec<Recorded> = fake
        .requests()
        .into_iter()
        .filter(|r| r.op() == "SimulatePrincipalPolicy")
        .collect();
    assert_eq!(
        sims[0].form("PolicySourceArn").as_deref(),
        Some("arn:aws:iam::123456789012:role/ses-sender")
    );
    assert_eq!(
        sims[0]
            .form("ContextEntries.member.2.ContextKeyName")
            .as_deref(),
        Some("ses:Recipients")
    );
    assert_eq!(
        sims[0]
            .form("ContextEntries.member.2.ContextKeyType")
            .as_deref(),
        Some("stringList")
    );
    assert_eq!(
        sims[1].form_list("ActionNames"),
        [
            "ses:GetAccount",
            "iam:ListUsers",
            "iam:CreateUser",
            "iam:PutUserPolicy",
            "iam:CreateAccessKey"
        ]
    );

    let root = FakeAws::start(|r: &Recorded| match r.op() {
        "GetCallerIdentity" => {
            Reply::sts_identity("arn:aws:iam::123456789012:root", ACCOUNT, ACCOUNT)
        }
        _ => Reply::not_found(),
    });
    let cfg = config(dir.path(), &root.url, PERMISSIONS, "");
    let (code, v) = once(&cfg, &[]);
    assert_eq!(code, 0, "{v:#}");
    let c = check(&v, "permissions");
    assert!(c["facts"]["permissions"]["note"]
        .as_str()
        .unwrap()
        .contains("root"));
    assert_eq!(root.count("SimulatePrincipalPolicy"), 0);
}

// ---------------------------------------------------------------------------
// sender, against the fake
// ---------------------------------------------------------------------------

/// A fake SESv2 whose identities are `address` and `domain` (`None`: not
/// an identity in the region) and whose list says `sending`.
fn identities(address: Option<Reply>, domain: Option<Reply>, sending: bool) -> FakeAws {
    FakeAws::start(move |r: &Recorded| match r.op() {
        "GetEmailIdentity" => {
            let reply = match r.email_identity().as_deref() {
                Some(FROM) => address.clone(),
                Some("example.com") => domain.clone(),
                _ => None,
            };
            reply.unwrap_or_else(|| {
                Reply::ses_error(404, "NotFoundException", "Email identity does not exist.")
            })
        }
        "ListEmailIdentities" => Reply::email_identities(&[
            (FROM, "EMAIL_ADDRESS", sending),
            ("example.com", "DOMAIN", sending),
        ]),
        "SendEmail" => Reply::sent(),
        _ => Reply::not_found(),
    })
}

/// Each sender state, through `--once`, without a send.
#[test]
fn sender_states() {
    let domain = |v: &str, dkim: &str| Reply::email_identity("DOMAIN", v, dkim, true, None);
    type Case = (
        Option<Reply>,
        Option<Reply>,
        bool,
        Vec<(&'static str, &'static str)>,
        i32,
    );
    let cases: Vec<Case> = vec![
        (None, Some(domain("SUCCESS", "SUCCESS")), true, vec![], 0),
        (
            None,
            None,
            true,
            vec![("identity_not_verified", "critical")],
            2,
        ),
        (
            None,
            Some(domain("PENDING", "PENDING")),
            true,
            vec![
                ("identity_verification_pending", "critical"),
                ("dkim_not_verified", "warning"),
            ],
            2,
        ),
        (
            Some(Reply::email_identity(
                "EMAIL_ADDRESS",
                "FAILED",
                "NOT_STARTED",
                false,
                None,
            )),
            None,
            true,
            vec![("identity_verification_failed", "critical")],
            2,
        ),
        (
            None,
            Some(domain("SUCCESS", "PENDING")),
            true,
            vec![("dkim_not_verified", "warning")],
            1,
        ),
        (
            None,
            Some(Reply::email_identity(
                "DOMAIN",
                "SUCCESS",
                "SUCCESS",
                true,
                Some(("bounce.example.com", "PENDING", "USE_DEFAULT_VALUE")),
            )),
            true,
            vec![("mail_from_domain_pending", "warning")],
            1,
        ),
        (
            None,
            Some(Reply::email_identity(
                "DOMAIN",
                "SUCCESS",
                "SUCCESS",
                true,
                Some(("bounce.example.com", "FAILED", "REJECT_MESSAGE")),
            )),
            true,
            vec![("mail_from_domain_not_verified", "critical")],
            2,
        ),
        (
            None,
            Some(domain("SUCCESS", "SUCCESS")),
            false,
            vec![("identity_sending_disabled", "critical")],
            2,
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (i, (address, dom, sending, want, want_code)) in cases.into_iter().enumerate() {
        let fake = identities(address, dom, sending);
        let cfg = config(dir.path(), &fake.url, SENDER, "");
        let (code, v) = once(&cfg, &[]);
        let c = check(&v, "sender");
        assert_eq!(classes(c), pairs(&want), "case {i}: {c:#}");
        assert_eq!(code, want_code, "case {i}: {v:#}");
        assert_eq!(c["success"], true, "case {i}");
        assert_eq!(fake.count("SendEmail"), 0, "case {i}: the audit sent mail");
        let ids = c["facts"]["sender"].as_array().unwrap();
        assert_eq!(ids[0]["identity"], FROM);
        assert_eq!(ids[1]["identity"], "example.com");
        for f in c["findings"].as_array().unwrap() {
            assert_eq!(f["details"]["source"], "identity");
            assert_eq!(f["details"]["region"], "us-east-1");
        }
        if want.first().map(|w| w.0) == Some("identity_not_verified") {
            let f = &c["findings"][0];
            assert!(
                f["message"]
                    .as_str()
                    .unwrap()
                    .contains("not in this region"),
                "{f:#}"
            );
            assert_eq!(ids[0]["exists"], false);
        }
    }
}

/// The sender check needs ses:GetEmailIdentity: a denial names it and
/// fails the check.
#[test]
fn sender_denied_names_get_email_identity() {
    let fake = FakeAws::start(|r: &Recorded| {
        match r.op() {
        "GetEmailIdentity" => Reply::ses_error(
            403,
            "AccessDeniedException",
            "User: arn:aws:iam::123456789012:user/mailer is not authorized to perform: ses:GetEmailIdentity",
        ),
        _ => Reply::not_found(),
    }
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &fake.url, SENDER, "");
    let (code, v) = once(&cfg, &[]);
    assert_eq!(code, 2, "{v:#}");
    let c = check(&v, "sender");
    assert_eq!(c["success"], false);
    let f = findings(c, "iam_access_denied");
    assert_eq!(f[0]["details"]["action"], "ses:GetEmailIdentity");
}

// ---------------------------------------------------------------------------
// SMTP key ownership
// ---------------------------------------------------------------------------

fn smtp_password(secret: &str) -> String {
    derive_smtp_password_v4(&Secret::new(secret), "us-east-1")
        .expose()
        .to_owned()
}

/// A `[target.smtp]` section for the fake SMTP server on `port`.
fn smtp_section(dir: &std::path::Path, port: u16, user: &str) -> String {
    format!(
        "[target.smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"starttls\"\ntls_server_name = \"localhost\"\nca_file = {:?}\nusername = \"{user}\"\npassword = {{ env = \"SMTP_PASSWORD\" }}\ntimeout = \"3s\"\n",
        ca::trusted().write_pem(dir).display().to_string()
    )
}

/// An SMTP key of another account: a warning against the API credentials'
/// account, critical against `expected_account`; the SMTP session itself
/// still succeeds.
#[test]
fn smtp_key_of_another_account() {
    let pw = smtp_password(SECRET);
    let server = FakeSmtp::start(Script::ses(ca::trusted().leaf(&["localhost"]), KEY_ID, &pw));
    let fake = FakeAws::start(|r: &Recorded| match r.op() {
        "GetAccessKeyInfo" => Reply::access_key_info(OTHER_ACCOUNT),
        "GetCallerIdentity" => Reply::sts_identity(USER_ARN, ACCOUNT, "AIDA"),
        _ => Reply::not_found(),
    });
    let dir = tempfile::tempdir().unwrap();
    let section = smtp_section(dir.path(), server.port, KEY_ID);
    for (expected, severity, code) in [
        ("", "warning", 1),
        ("expected_account = \"123456789012\"\n", "critical", 2),
    ] {
        let cfg = config(dir.path(), &fake.url, "", &format!("{expected}{section}"));
        let (got, v) = once(&cfg, &[("SMTP_PASSWORD", &pw)]);
        assert_eq!(got, code, "{v:#}");
        let c = check(&v, "smtp");
        assert_eq!(c["success"], true, "{c:#}");
        assert_eq!(classes(c), pairs(&[("smtp_key_other_account", severity)]));
        let f = &c["findings"][0];
        assert_eq!(f["details"]["account"], OTHER_ACCOUNT);
        assert_eq!(f["details"]["expected_account"], ACCOUNT);
        let key = &c["facts"]["smtp_key"];
        assert_eq!(key["access_key_id"], KEY_ID);
        assert_eq!(key["account"], OTHER_ACCOUNT);
        assert_eq!(key["api_account"], ACCOUNT);
        // IAM only knows keys of the caller's account: not asked.
        assert!(key.get("user_name").is_none());
    }
    let asked = fake
        .requests()
        .into_iter()
        .find(|r| r.op() == "GetAccessKeyInfo")
        .unwrap();
    assert_eq!(asked.form("AccessKeyId").as_deref(), Some(KEY_ID));
    assert_eq!(fake.count("GetAccessKeyLastUsed"), 0);
}

/// A key of the API's own account: no finding, and the IAM user and the
/// key's last use in the facts. With the API side unreachable, the SMTP
/// check still succeeds and says the owner is unknown.
#[test]
fn smtp_key_of_the_same_account_and_unreachable_api() {
    let pw = smtp_password(SECRET);
    let server = FakeSmtp::start(Script::ses(ca::trusted().leaf(&["localhost"]), KEY_ID, &pw));
    let fake = FakeAws::start(|r: &Recorded| match r.op() {
        "GetAccessKeyInfo" => Reply::access_key_info(ACCOUNT),
        "GetCallerIdentity" => Reply::sts_identity(USER_ARN, ACCOUNT, "AIDA"),
        "GetAccessKeyLastUsed" => {
            Reply::access_key_last_used("ses-smtp", "2026-11-20T08:15:00Z", "ses", "us-east-1")
        }
        _ => Reply::not_found(),
    });
    let dir = tempfile::tempdir().unwrap();
    let section = smtp_section(dir.path(), server.port, KEY_ID);
    let cfg = config(dir.path(), &fake.url, "", &section);
    let (code, v) = once(&cfg, &[("SMTP_PASSWORD", &pw)]);
    assert_eq!(code, 0, "{v:#}");
    let key = &check(&v, "smtp")["facts"]["smtp_key"];
    assert_eq!(key["account"], ACCOUNT);
    assert_eq!(key["user_name"], "ses-smtp");
    assert_eq!(key["last_used_service"], "ses");
    assert_eq!(key["last_used_region"], "us-east-1");
    assert_eq!(key["last_used"], 1_795_162_500);

    let dead = crate::support::ConnectionCounter::start();
    let cfg = config(
        dir.path(),
        &format!("http://127.0.0.1:{}", dead.port),
        "",
        &section,
    );
    let (code, v) = once(&cfg, &[("SMTP_PASSWORD", &pw)]);
    assert_eq!(code, 0, "{v:#}");
    let c = check(&v, "smtp");
    assert!(c["findings"].as_array().unwrap().is_empty(), "{c:#}");
    let key = &c["facts"]["smtp_key"];
    assert!(key.get("account").is_none(), "{key:#}");
    assert!(key["unknown_because"].as_str().is_some(), "{key:#}");
}

// ---------------------------------------------------------------------------
// Against moto
// ---------------------------------------------------------------------------

/// A target against moto with `keys` for the API (and `SMTP_PASSWORD`, for
/// an SMTP section in `rest`, derived from `smtp_secret`).
fn moto_target(
    url: &str,
    keys: &crate::support::moto::Keys,
    extra: &str,
    rest: &str,
    smtp_secret: &str,
) -> Target {
    let text = format!(
        "[[target]]\nname = \"moto\"\nregion = \"us-east-1\"\n{rest}\n[target.api]\naccess_key_id = \"{}\"\nsecret_access_key = {{ value = \"{}\" }}\nendpoint_url = \"{url}\"\nsts_endpoint_url = \"{url}\"\niam_endpoint_url = \"{url}\"\ntimeout = \"5s\"\n{extra}\n",
        keys.access_key_id, keys.secret_access_key
    );
    let env = Env::from_pairs([("SMTP_PASSWORD", smtp_password(smtp_secret))]);
    config::parse(&text, "moto.toml", &env)
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
        .targets
        .remove(0)
        .as_ref()
        .clone()
}

/// The sender check against moto: a verified identity passes, an address
/// that is no identity in the region is reported. Without IAM enforcement:
/// moto's enforcement rejects the signature of every GET with a path
/// parameter (boto3's too) as SignatureDoesNotMatch.
#[tokio::test]
async fn moto_sender_verified_and_missing() {
    let moto = Moto::start();
    let setup = moto.setup(serde_json::json!({
        "users": [{"name": "auditor", "actions": ["ses:GetEmailIdentity", "ses:ListEmailIdentities"]}],
        "identities": ["example.com"],
    }));
    let keys = Moto::keys(&setup, "auditor");
    let t = moto_target(&moto.url, &keys, SENDER, "", SECRET);
    let o = checks::run(&t, t.check(CheckKind::Sender).unwrap()).await;
    assert!(o.success, "{o:#?}");
    assert!(o.findings.is_empty(), "{:#?}", o.findings);
    assert!(!o.facts.sender[0].exists);
    assert_eq!(
        o.facts.sender[1].verification_status.as_deref(),
        Some("SUCCESS")
    );
    assert_eq!(o.facts.sender[1].sending_enabled, Some(true));

    let t = moto_target(
        &moto.url,
        &keys,
        "sender = true\naudit_from = \"nobody@unverified.example\"\n",
        "",
        SECRET,
    );
    let o = checks::run(&t, t.check(CheckKind::Sender).unwrap()).await;
    let classes: Vec<Class> = o.findings.iter().map(|f| f.class).collect();
    assert_eq!(classes, [Class::IdentityNotVerified]);
}

/// moto has no policy simulator (HTTP 500): the permissions check must
/// fail, not pass.
#[tokio::test]
async fn moto_has_no_simulator_and_no_false_ok() {
    let moto = Moto::start();
    let setup = moto.setup(serde_json::json!({
        "users": [{
            "name": "narrow",
            "statements": [
                {"Effect": "Allow", "Action": "ses:SendRawEmail",
                 "Resource": "arn:aws:ses:us-east-1:123456789012:identity/other.example"},
                {"Effect": "Allow", "Action": ["sts:GetCallerIdentity", "iam:SimulatePrincipalPolicy"],
                 "Resource": "*"}
            ]
        }],
    }));
    let keys = Moto::keys(&setup, "narrow");
    let t = moto_target(&moto.url, &keys, PERMISSIONS, "", SECRET);
    let o = checks::run(&t, t.check(CheckKind::Permissions).unwrap()).await;
    assert!(!o.success, "{o:#?}");
    assert!(o.facts.permissions.is_none());
    assert_eq!(
        o.phases.last().map(|p| (p.name, p.code)),
        Some(("SimulatePrincipalPolicy", Some(500)))
    );
}

/// Key ownership against moto: GetAccessKeyInfo and GetAccessKeyLastUsed
/// are real moto calls on real users' keys. The SMTP server is the fake,
/// taking the moto key's derived password.
#[tokio::test]
async fn moto_smtp_key_owner_and_user() {
    let moto = Moto::start();
    let setup = moto.setup(serde_json::json!({
        "users": [
            {"name": "api", "actions": ["sts:GetCallerIdentity", "sts:GetAccessKeyInfo", "iam:GetAccessKeyLastUsed"]},
            {"name": "ses-smtp", "actions": ["ses:SendRawEmail"]},
        ],
        "enforce_auth": true,
    }));
    let api = Moto::keys(&setup, "api");
    let smtp = Moto::keys(&setup, "ses-smtp");
    let pw = smtp_password(&smtp.secret_access_key);
    let server = FakeSmtp::start(Script::ses(
        ca::trusted().leaf(&["localhost"]),
        &smtp.access_key_id,
        &pw,
    ));
    let dir = tempfile::tempdir().unwrap();
    let section = smtp_section(dir.path(), server.port, &smtp.access_key_id);
    let t = moto_target(&moto.url, &api, "", &section, &smtp.secret_access_key);
    let o = checks::run(&t, t.check(CheckKind::Smtp).unwrap()).await;
    assert!(o.success, "{o:#?}");
    let key = o.facts.smtp_key.as_ref().expect("ownership facts");
    assert_eq!(key.account.as_deref(), Some(ACCOUNT));
    assert_eq!(key.api_account.as_deref(), Some(ACCOUNT));
    assert_eq!(key.user_name.as_deref(), Some("ses-smtp"));
    assert!(o.findings.is_empty(), "{:#?}", o.findings);

    // Against an expected account it is not in: critical.
    let t = moto_target(
        &moto.url,
        &api,
        "",
        &format!("expected_account = \"{OTHER_ACCOUNT}\"\n{section}"),
        &smtp.secret_access_key,
    );
    let o = checks::run(&t, t.check(CheckKind::Smtp).unwrap()).await;
    let f = &o.findings[0];
    assert_eq!(f.class, Class::SmtpKeyOtherAccount);
    assert_eq!(f.severity, ses_probe::diagnosis::Severity::Critical);
}
