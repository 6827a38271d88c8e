//! The shared vocabulary between checks and their consumers.
//!
//! A check returns an [`Outcome`]; the report, the metrics and the HTTP
//! landing page only ever read it. Keeping this one plain value in the middle
//! is what lets `--once` and the daemon share every line of check code, and
//! what keeps diagnosis out of the output layers.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::diagnosis::{Class, Details, Severity};
use crate::text::truncate;

/// Which check produced an outcome. The string forms are metric label values
/// and JSON values, so they are part of the public contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// The SES SMTP interface: DNS, TCP, TLS, EHLO, AUTH (and optionally a send).
    Smtp,
    /// `sts:GetCallerIdentity`: who the API credentials belong to.
    Identity,
    /// `sesv2:GetAccount`: quota, sandbox, sending and enforcement status.
    Account,
    /// `iam:SimulatePrincipalPolicy`: may the principal send from the
    /// configured sender, without sending.
    Permissions,
    /// `sesv2:GetEmailIdentity`: the sender identity's verification, DKIM
    /// and MAIL FROM state, without sending.
    Sender,
    /// `sesv2:SendEmail` to the mailbox simulator, under a daily budget.
    Send,
}

impl CheckKind {
    /// Every check, in the order reports list them.
    pub const ALL: [CheckKind; 6] = [
        CheckKind::Smtp,
        CheckKind::Identity,
        CheckKind::Account,
        CheckKind::Permissions,
        CheckKind::Sender,
        CheckKind::Send,
    ];

    /// The stable label value.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Smtp => "smtp",
            CheckKind::Identity => "identity",
            CheckKind::Account => "account",
            CheckKind::Permissions => "permissions",
            CheckKind::Sender => "sender",
            CheckKind::Send => "send",
        }
    }
}

impl std::fmt::Display for CheckKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Overall state of a check, a target or a whole run, ordered from best to
/// worst so that `max` combines them. Maps onto Nagios exit codes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Warning,
    Critical,
    /// The probe itself could not decide (bad configuration, internal error).
    #[default]
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Critical => "critical",
            Status::Unknown => "unknown",
        }
    }

    /// Nagios plugin exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    pub fn exit_code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Critical => 2,
            Status::Unknown => 3,
        }
    }
}

impl From<Severity> for Status {
    fn from(s: Severity) -> Self {
        match s {
            Severity::Ok => Status::Ok,
            Severity::Warning => Status::Warning,
            Severity::Critical => Status::Critical,
        }
    }
}

/// Upper bound on the reply text kept per phase, so a hostile server cannot
/// make a report (or the daemon's memory) grow without limit.
pub const MAX_PHASE_TEXT: usize = 512;

/// One timed step of a check (DNS, connect, banner, EHLO, AUTH, an API call).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Phase {
    /// Stable phase name (`dns`, `connect`, `banner`, `ehlo`, `starttls`,
    /// `tls`, `auth`, `mail`, `rcpt`, `data`, `quit`, or an API operation).
    pub name: &'static str,
    /// Wall time the phase took, in seconds.
    pub seconds: f64,
    /// SMTP reply code or HTTP status, when the phase got an answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// RFC 3463 enhanced status code, when the reply carried one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enhanced_code: Option<String>,
    /// The reply text, truncated to [`MAX_PHASE_TEXT`] bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Whether the phase reached its goal.
    pub ok: bool,
}

impl Phase {
    /// A phase that finished, successfully or not, after `elapsed`.
    pub fn new(name: &'static str, elapsed: Duration, ok: bool) -> Self {
        Phase {
            name,
            seconds: elapsed.as_secs_f64(),
            code: None,
            enhanced_code: None,
            text: None,
            ok,
        }
    }

    /// Attach a reply; the text is bounded.
    pub fn with_reply(mut self, code: Option<u16>, text: Option<&str>) -> Self {
        self.code = code;
        if let Some(text) = text {
            self.enhanced_code = crate::diagnosis::enhanced_code(text).map(str::to_owned);
            self.text = Some(truncate(text, MAX_PHASE_TEXT));
        }
        self
    }
}

/// A diagnosed problem (or notable fact) found by a check.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub class: Class,
    pub severity: Severity,
    /// One line saying what was seen. Never contains a secret.
    pub message: String,
    pub remediation: &'static str,
    #[serde(skip_serializing_if = "Details::is_empty")]
    pub details: Details,
}

impl Finding {
    /// A finding with the class's default severity and remediation.
    pub fn new(class: Class, message: impl Into<String>) -> Self {
        Finding {
            class,
            severity: class.severity(),
            message: message.into(),
            remediation: class.remediation(),
            details: Details::default(),
        }
    }

    pub fn with_details(mut self, details: Details) -> Self {
        self.details = details;
        self
    }

    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// Record the phase the finding arose in, unless it already names one.
    pub fn in_phase(mut self, phase: &str) -> Self {
        self.details.phase.get_or_insert_with(|| phase.to_owned());
        self
    }

    /// Name the IAM action a denial was about, unless the server named it.
    pub fn denying(mut self, action: &str) -> Self {
        if self.class == Class::IamAccessDenied {
            self.details.action.get_or_insert_with(|| action.to_owned());
        }
        self
    }

    /// No region could be found for the target.
    pub fn region_missing() -> Self {
        Finding::new(
            Class::RegionMissing,
            "no region: set `region` on the target, AWS_REGION, or a region in the AWS profile",
        )
    }
}

/// What a TLS handshake told us about the endpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TlsFacts {
    /// Negotiated protocol version, e.g. `TLSv1.3`.
    pub version: Option<String>,
    /// Leaf certificate `notAfter`, seconds since the Unix epoch.
    pub certificate_not_after: Option<i64>,
}

/// Kind of principal behind a set of API credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalType {
    Root,
    IamUser,
    AssumedRole,
    FederatedUser,
    Other,
}

impl PrincipalType {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::Root => "root",
            PrincipalType::IamUser => "iam_user",
            PrincipalType::AssumedRole => "assumed_role",
            PrincipalType::FederatedUser => "federated_user",
            PrincipalType::Other => "other",
        }
    }
}

/// Result of `sts:GetCallerIdentity`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IdentityFacts {
    pub account: String,
    pub arn: String,
    pub user_id: String,
    pub principal_type: PrincipalType,
}

/// Result of `sesv2:GetAccount`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AccountFacts {
    /// -1 means unlimited.
    pub max_24_hour_send: f64,
    pub max_send_rate: f64,
    pub sent_last_24_hours: f64,
    pub production_access_enabled: bool,
    pub sending_enabled: bool,
    /// `HEALTHY`, `PROBATION`, `SHUTDOWN` or whatever SES starts sending.
    pub enforcement_status: Option<String>,
}

/// One simulated (action, resource) pair of the permissions check.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PermissionResult {
    pub action: String,
    /// The resource ARN, or `*`.
    pub resource: String,
    /// `allowed`, `explicit_deny` or `implicit_deny`.
    pub decision: String,
}

impl PermissionResult {
    pub fn allowed(&self) -> bool {
        self.decision == "allowed"
    }
}

/// What the permissions check simulated.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PermissionFacts {
    /// The ARN whose policies were simulated (an assumed role's role ARN).
    pub policy_source: String,
    /// One line per action: allowed when any of the sender's identity ARNs
    /// allows it and none denies it explicitly.
    pub actions: Vec<PermissionResult>,
    /// Why nothing was simulated, when nothing was (root credentials).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One sender identity as `sesv2:GetEmailIdentity` describes it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct IdentityState {
    /// The address or domain.
    pub identity: String,
    /// `email_address` or `domain`.
    pub kind: String,
    /// Whether the identity exists in the target's region.
    pub exists: bool,
    /// `SUCCESS`, `PENDING`, `FAILED`, `TEMPORARY_FAILURE`, `NOT_STARTED`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_for_sending: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dkim_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dkim_signing_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mail_from_domain: Option<String>,
    /// `SUCCESS`, `PENDING`, `FAILED`, `TEMPORARY_FAILURE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mail_from_status: Option<String>,
    /// `USE_DEFAULT_VALUE` or `REJECT_MESSAGE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mail_from_behavior_on_mx_failure: Option<String>,
    /// The identity's own sending flag (from `ListEmailIdentities`; absent
    /// when that call was not allowed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sending_enabled: Option<bool>,
}

/// Who owns the SMTP user name (an access key ID), from STS and IAM.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SmtpKeyFacts {
    pub access_key_id: String,
    /// The key's account (`sts:GetAccessKeyInfo`); absent when it could not
    /// be asked, and then ownership is unknown, not fine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The account of the target's API credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_account: Option<String>,
    /// The IAM user the key belongs to (`iam:GetAccessKeyLastUsed`, only
    /// answered for keys of the caller's own account).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// When the key was last used, seconds since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_region: Option<String>,
    /// Why the owner is unknown (the API side failed), when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown_because: Option<String>,
}

/// Measured facts a check may report besides its findings.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Facts {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFacts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityFacts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<AccountFacts>,
    /// The permissions check's simulation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<PermissionFacts>,
    /// The sender check's identities: the address, then its domain.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sender: Vec<IdentityState>,
    /// The SMTP check's key ownership, when the target has API credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_key: Option<SmtpKeyFacts>,
    /// AWS clock minus local clock, in seconds (positive: the local clock is
    /// behind AWS, as in "Signature expired").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_skew_seconds: Option<f64>,
    /// Expiry of temporary credentials, seconds since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials_expiry: Option<i64>,
    /// Probe sends left in the current 24 h budget window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_budget_remaining: Option<u32>,
    /// For a target with `postfix = true`: each Postfix setting the probe
    /// used (`parameter = value`) and where the credentials came from.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub postfix: Vec<String>,
    /// True when the check was skipped on purpose (budget spent, interval not
    /// due); a skipped check keeps its previous metrics.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub skipped: bool,
}

/// Everything one run of one check produced.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Outcome {
    pub check: CheckKind,
    /// The check reached its goal (AUTH accepted, call answered, mail taken).
    /// Warnings may still be present.
    pub success: bool,
    #[serde(rename = "duration_seconds", serialize_with = "ser_secs")]
    pub duration: Duration,
    pub phases: Vec<Phase>,
    pub findings: Vec<Finding>,
    pub facts: Facts,
    /// When the run finished.
    #[serde(rename = "finished_at", serialize_with = "ser_time")]
    pub finished: SystemTime,
}

impl Outcome {
    /// An empty, successful outcome to be filled in by a check.
    pub fn new(check: CheckKind) -> Self {
        Outcome {
            check,
            success: true,
            duration: Duration::ZERO,
            phases: Vec::new(),
            findings: Vec::new(),
            facts: Facts::default(),
            finished: SystemTime::now(),
        }
    }

    /// A failed outcome carrying one finding.
    pub fn failed(check: CheckKind, finding: Finding) -> Self {
        let mut o = Outcome::new(check);
        o.fail(finding);
        o
    }

    /// Mark the outcome failed, for the reason `finding` gives.
    pub fn fail(&mut self, finding: Finding) {
        self.success = false;
        self.findings.push(finding);
    }

    /// Worst severity among the findings; a failure without a critical
    /// finding is still critical, since the check did not reach its goal.
    pub fn status(&self) -> Status {
        let worst = self
            .findings
            .iter()
            .map(|f| Status::from(f.severity))
            .max()
            .unwrap_or(Status::Ok);
        if self.success {
            worst
        } else {
            worst.max(Status::Critical)
        }
    }

    /// The finding that explains the status best: the most severe one, first
    /// found among equals.
    pub fn primary_finding(&self) -> Option<&Finding> {
        let mut best: Option<&Finding> = None;
        for f in &self.findings {
            if best.is_none_or(|b| f.severity > b.severity) {
                best = Some(f);
            }
        }
        best
    }
}

/// The outcomes of one target's checks, in report order.
#[derive(Clone, Debug)]
pub struct TargetOutcomes {
    pub name: String,
    pub region: Option<String>,
    pub outcomes: Vec<Outcome>,
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

fn ser_time<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(unix_seconds(*t))
}

/// Seconds since the Unix epoch (negative before it): the one conversion
/// every timestamp in reports, metrics and state files goes through.
pub fn unix_seconds(t: SystemTime) -> f64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_orders_and_maps_to_nagios() {
        assert!(Status::Ok < Status::Warning);
        assert!(Status::Critical < Status::Unknown);
        assert_eq!(Status::Warning.exit_code(), 1);
        assert_eq!(Status::Unknown.exit_code(), 3);
    }

    #[test]
    fn failed_outcome_without_critical_finding_is_critical() {
        let mut o = Outcome::new(CheckKind::Smtp);
        o.findings
            .push(Finding::new(Class::SmtpPasswordLegacyV2, "legacy"));
        assert_eq!(o.status(), Status::Warning);
        o.success = false;
        assert_eq!(o.status(), Status::Critical);
    }

    #[test]
    fn primary_finding_is_most_severe() {
        let mut o = Outcome::new(CheckKind::Account);
        o.findings.push(Finding::new(Class::Sandbox, "sandbox"));
        o.findings
            .push(Finding::new(Class::SendingDisabled, "disabled"));
        assert_eq!(o.primary_finding().unwrap().class, Class::SendingDisabled);
    }
}
