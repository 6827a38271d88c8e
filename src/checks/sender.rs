//! The sender check: is the configured sender fit to send from, in this
//! region, without sending? Read-only: `sesv2:GetEmailIdentity` for the
//! address and for its domain, then (best effort) `ListEmailIdentities`
//! for the identities' own sending flag.
//!
//! SES lets an address send when the address or its domain is a verified
//! identity of the region. So:
//! - neither is an identity here: `identity_not_verified` ("not in this
//!   region": identities are regional);
//! - none is verified: `identity_verification_pending` (PENDING,
//!   NOT_STARTED) or `identity_verification_failed` (FAILED; a
//!   TEMPORARY_FAILURE is reported as a warning) for each identity there is;
//! - the verified identity that covers the sender has sending disabled:
//!   `identity_sending_disabled`;
//! - DKIM (of the domain identity when there is one, else of the address):
//!   PENDING, FAILED, TEMPORARY_FAILURE, or verified but not signing:
//!   `dkim_not_verified` (a warning: mail goes out, unsigned by the domain);
//!   NOT_STARTED is only a fact;
//! - a custom MAIL FROM domain (the address's own, else the domain's) that
//!   is not verified: `mail_from_domain_not_verified` (critical) when SES
//!   rejects mail on MX failure, `mail_from_domain_pending` (warning) when
//!   it falls back to amazonses.com.
//!
//! Any other failure of GetEmailIdentity (a denial names
//! `ses:GetEmailIdentity`) fails the check. A denied or failing
//! ListEmailIdentities only leaves the sending flag unknown.

use crate::aws::ApiSession;
use crate::config::{ApiTarget, Target};
use crate::diagnosis::{Class, Details, Severity};
use crate::outcome::{CheckKind, Finding, IdentityState, Outcome};

/// The operation names, used as phase names.
pub const PHASE: &str = "GetEmailIdentity";
pub const LIST_PHASE: &str = "ListEmailIdentities";
/// Pages of `ListEmailIdentities` read at most, 1000 identities each.
const MAX_LIST_PAGES: usize = 3;

pub async fn run(target: &Target, api: &ApiTarget) -> Outcome {
    let mut outcome = Outcome::new(CheckKind::Sender);
    let Some(session) = ApiSession::open(target.region.as_deref(), api, &mut outcome).await else {
        return outcome;
    };
    let from = api.audit_from.clone().unwrap_or_default();
    let domain = from.rsplit_once('@').map(|(_, d)| d.to_owned());
    let client = session.sesv2();
    let mut states = Vec::new();
    for (name, kind) in [(Some(from.clone()), "email_address"), (domain, "domain")] {
        let Some(name) = name else { continue };
        let request = client.get_email_identity().email_identity(&name);
        match session
            .try_call(&mut outcome, PHASE, "ses:GetEmailIdentity", request.send())
            .await
        {
            Ok(out) => {
                let dkim = out.dkim_attributes();
                let mail_from = out.mail_from_attributes();
                states.push(IdentityState {
                    identity: name,
                    kind: kind.to_owned(),
                    exists: true,
                    verification_status: out.verification_status().map(|s| s.as_str().to_owned()),
                    verified_for_sending: Some(out.verified_for_sending_status()),
                    dkim_status: dkim.and_then(|d| d.status()).map(|s| s.as_str().to_owned()),
                    dkim_signing_enabled: dkim.map(|d| d.signing_enabled()),
                    mail_from_domain: mail_from.map(|m| m.mail_from_domain().to_owned()),
                    mail_from_status: mail_from
                        .map(|m| m.mail_from_domain_status().as_str().to_owned()),
                    mail_from_behavior_on_mx_failure: mail_from
                        .map(|m| m.behavior_on_mx_failure().as_str().to_owned()),
                    sending_enabled: None,
                });
            }
            Err(f) if f.details.aws_code.as_deref() == Some("NotFoundException") => {
                // An answer, and the one the check asked for: not a failed
                // phase.
                if let Some(p) = outcome.phases.last_mut() {
                    p.ok = true;
                }
                states.push(IdentityState {
                    identity: name,
                    kind: kind.to_owned(),
                    exists: false,
                    ..IdentityState::default()
                });
            }
            Err(f) => {
                outcome.fail(f);
                return outcome;
            }
        }
    }
    if states.iter().any(|s| s.exists) {
        sending_flags(&session, &mut outcome, &mut states).await;
    }
    let region = target.region.clone().unwrap_or_default();
    outcome.findings.extend(findings(&states, &region));
    outcome.facts.sender = states;
    outcome
}

/// Fill in each existing identity's own sending flag from
/// `ListEmailIdentities`; leave it unknown when the call fails.
async fn sending_flags(session: &ApiSession, outcome: &mut Outcome, states: &mut [IdentityState]) {
    let client = session.sesv2();
    let mut token: Option<String> = None;
    for _ in 0..MAX_LIST_PAGES {
        let request = client
            .list_email_identities()
            .page_size(1000)
            .set_next_token(token.clone());
        let Ok(out) = session
            .try_call(
                outcome,
                LIST_PHASE,
                "ses:ListEmailIdentities",
                request.send(),
            )
            .await
        else {
            return;
        };
        for info in out.email_identities() {
            let Some(name) = info.identity_name() else {
                continue;
            };
            for s in states.iter_mut() {
                if s.exists && s.identity.eq_ignore_ascii_case(name) {
                    s.sending_enabled = Some(info.sending_enabled());
                }
            }
        }
        token = out.next_token().map(str::to_owned);
        let all_known = states
            .iter()
            .all(|s| !s.exists || s.sending_enabled.is_some());
        if token.is_none() || all_known {
            return;
        }
    }
}

/// Whether an identity may send: verified (SESv2's `VerificationStatus`,
/// or for old identities without one, `VerifiedForSendingStatus`).
pub fn verified(s: &IdentityState) -> bool {
    s.exists
        && match s.verification_status.as_deref() {
            Some(v) => v.eq_ignore_ascii_case("SUCCESS"),
            None => s.verified_for_sending == Some(true),
        }
}

fn is(status: Option<&str>, any: &[&str]) -> bool {
    status.is_some_and(|s| any.iter().any(|a| s.eq_ignore_ascii_case(a)))
}

/// What the identities' states mean for the sender (the address first,
/// then its domain).
pub fn findings(states: &[IdentityState], region: &str) -> Vec<Finding> {
    let details = |identity: &str| Details {
        identities: vec![identity.to_owned()],
        region: Some(region.to_owned()),
        source: Some("identity".to_owned()),
        phase: Some(PHASE.to_owned()),
        ..Details::default()
    };
    let mut out = Vec::new();
    let existing: Vec<&IdentityState> = states.iter().filter(|s| s.exists).collect();
    let names = states
        .iter()
        .map(|s| s.identity.as_str())
        .collect::<Vec<_>>()
        .join(" nor ");
    if existing.is_empty() {
        let mut d = details("");
        d.identities = states.iter().map(|s| s.identity.clone()).collect();
        out.push(
            Finding::new(
                Class::IdentityNotVerified,
                format!(
                    "neither {names} is an SES identity in {region}: the sender is not in this region (identities are regional); verify it here, or point the target at the region where it is verified"
                ),
            )
            .with_details(d),
        );
        return out;
    }
    let covering = existing.iter().find(|s| verified(s)).copied();
    match covering {
        None => {
            for s in &existing {
                let status = s.verification_status.as_deref().unwrap_or("unknown");
                let (class, severity) = if is(Some(status), &["FAILED"]) {
                    (Class::IdentityVerificationFailed, Severity::Critical)
                } else if is(Some(status), &["TEMPORARY_FAILURE"]) {
                    (Class::IdentityVerificationFailed, Severity::Warning)
                } else {
                    (Class::IdentityVerificationPending, Severity::Critical)
                };
                out.push(
                    Finding::new(
                        class,
                        format!(
                            "the {} identity {} in {region} is not verified (verification status {status}), and no verified identity covers the sender",
                            s.kind.replace('_', " "),
                            s.identity
                        ),
                    )
                    .with_severity(severity)
                    .with_details(details(&s.identity)),
                );
            }
        }
        Some(s) if s.sending_enabled == Some(false) => out.push(
            Finding::new(
                Class::IdentitySendingDisabled,
                format!(
                    "sending is disabled for the identity {} in {region}",
                    s.identity
                ),
            )
            .with_details(details(&s.identity)),
        ),
        Some(_) => {}
    }
    // DKIM signs with the domain's keys when the domain is an identity.
    let signer = existing
        .iter()
        .find(|s| s.kind == "domain")
        .or_else(|| existing.first())
        .copied();
    if let Some(s) = signer {
        let status = s.dkim_status.as_deref();
        let problem = if is(status, &["PENDING", "FAILED", "TEMPORARY_FAILURE"]) {
            Some(format!("DKIM status {}", status.unwrap_or_default()))
        } else if is(status, &["SUCCESS"]) && s.dkim_signing_enabled == Some(false) {
            Some("DKIM is verified but signing is disabled".to_owned())
        } else {
            None
        };
        if let Some(problem) = problem {
            out.push(
                Finding::new(
                    Class::DkimNotVerified,
                    format!(
                        "the identity {} in {region}: {problem}; mail goes out without the domain's DKIM signature",
                        s.identity
                    ),
                )
                .with_details(details(&s.identity)),
            );
        }
    }
    // A MAIL FROM domain set on the address wins over the domain's.
    let mail_from = existing
        .iter()
        .find(|s| s.mail_from_domain.as_deref().is_some_and(|d| !d.is_empty()))
        .copied();
    if let Some(s) = mail_from {
        let status = s.mail_from_status.as_deref().unwrap_or("unknown");
        if !status.eq_ignore_ascii_case("SUCCESS") {
            let domain = s.mail_from_domain.as_deref().unwrap_or_default();
            let reject = is(
                s.mail_from_behavior_on_mx_failure.as_deref(),
                &["REJECT_MESSAGE"],
            );
            let (class, then) = if reject {
                (
                    Class::MailFromDomainNotVerified,
                    "SES rejects the mail (behaviour on MX failure: REJECT_MESSAGE)",
                )
            } else {
                (
                    Class::MailFromDomainPending,
                    "SES falls back to an amazonses.com MAIL FROM (behaviour on MX failure: USE_DEFAULT_VALUE)",
                )
            };
            out.push(
                Finding::new(
                    class,
                    format!(
                        "the custom MAIL FROM domain {domain} of {} is {status}: {then}",
                        s.identity
                    ),
                )
                .with_details(details(&s.identity)),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str, kind: &str, status: &str) -> IdentityState {
        IdentityState {
            identity: name.into(),
            kind: kind.into(),
            exists: true,
            verification_status: Some(status.into()),
            verified_for_sending: Some(status == "SUCCESS"),
            dkim_status: Some("NOT_STARTED".into()),
            dkim_signing_enabled: Some(false),
            ..IdentityState::default()
        }
    }

    fn classes(f: &[Finding]) -> Vec<(Class, Severity)> {
        f.iter().map(|f| (f.class, f.severity)).collect()
    }

    #[test]
    fn a_verified_domain_covers_a_pending_address() {
        let s = [
            id("a@example.com", "email_address", "PENDING"),
            id("example.com", "domain", "SUCCESS"),
        ];
        assert!(findings(&s, "eu-west-1").is_empty());
    }

    #[test]
    fn nothing_in_the_region() {
        let missing = |n: &str, k: &str| IdentityState {
            identity: n.into(),
            kind: k.into(),
            ..IdentityState::default()
        };
        let f = findings(
            &[
                missing("a@example.com", "email_address"),
                missing("example.com", "domain"),
            ],
            "eu-west-1",
        );
        assert_eq!(
            classes(&f),
            vec![(Class::IdentityNotVerified, Severity::Critical)]
        );
        assert!(f[0].message.contains("not in this region"));
        assert_eq!(
            f[0].details.identities,
            vec!["a@example.com", "example.com"]
        );
    }

    #[test]
    fn verification_states() {
        for (status, want) in [
            (
                "PENDING",
                (Class::IdentityVerificationPending, Severity::Critical),
            ),
            (
                "NOT_STARTED",
                (Class::IdentityVerificationPending, Severity::Critical),
            ),
            (
                "FAILED",
                (Class::IdentityVerificationFailed, Severity::Critical),
            ),
            (
                "TEMPORARY_FAILURE",
                (Class::IdentityVerificationFailed, Severity::Warning),
            ),
        ] {
            let s = [id("example.com", "domain", status)];
            assert_eq!(classes(&findings(&s, "r")), vec![want], "{status}");
        }
    }

    #[test]
    fn dkim_mail_from_and_sending() {
        let mut d = id("example.com", "domain", "SUCCESS");
        d.dkim_status = Some("PENDING".into());
        d.mail_from_domain = Some("bounce.example.com".into());
        d.mail_from_status = Some("FAILED".into());
        d.mail_from_behavior_on_mx_failure = Some("USE_DEFAULT_VALUE".into());
        d.sending_enabled = Some(false);
        assert_eq!(
            classes(&findings(std::slice::from_ref(&d), "r")),
            vec![
                (Class::IdentitySendingDisabled, Severity::Critical),
                (Class::DkimNotVerified, Severity::Warning),
                (Class::MailFromDomainPending, Severity::Warning),
            ]
        );
        d.mail_from_behavior_on_mx_failure = Some("REJECT_MESSAGE".into());
        d.dkim_status = Some("SUCCESS".into());
        d.dkim_signing_enabled = Some(true);
        d.sending_enabled = Some(true);
        assert_eq!(
            classes(&findings(&[d], "r")),
            vec![(Class::MailFromDomainNotVerified, Severity::Critical)]
        );
    }
}
