//! The account check: `sesv2:GetAccount`, the account's sending state in
//! the target's region.
//!
//! Findings: `sandbox` (no production access), `sending_disabled`,
//! `enforcement_probation`, `enforcement_shutdown`, and
//! `quota_nearly_exhausted` when the last 24 hours used at least the
//! configured share of a limited quota. A denial names `ses:GetAccount`.

use crate::aws::ApiSession;
use crate::config::{ApiTarget, Target};
use crate::diagnosis::{Class, Details};
use crate::outcome::{AccountFacts, CheckKind, Finding, Outcome};

/// The operation name, used as the phase name.
pub const PHASE: &str = "GetAccount";
/// The IAM action it needs.
const ACTION: &str = "ses:GetAccount";

pub async fn run(target: &Target, api: &ApiTarget) -> Outcome {
    let mut outcome = Outcome::new(CheckKind::Account);
    let Some(session) = ApiSession::open(target.region.as_deref(), api, &mut outcome).await else {
        return outcome;
    };
    let client = session.sesv2();
    let Some(out) = session
        .call(&mut outcome, PHASE, ACTION, client.get_account().send())
        .await
    else {
        return outcome;
    };
    let quota = out.send_quota();
    let facts = AccountFacts {
        max_24_hour_send: quota.map_or(0.0, |q| q.max24_hour_send()),
        max_send_rate: quota.map_or(0.0, |q| q.max_send_rate()),
        sent_last_24_hours: quota.map_or(0.0, |q| q.sent_last24_hours()),
        production_access_enabled: out.production_access_enabled(),
        sending_enabled: out.sending_enabled(),
        enforcement_status: out.enforcement_status().map(str::to_owned),
    };
    outcome
        .findings
        .extend(findings(&facts, api.quota_warning_ratio));
    outcome.facts.account = Some(facts);
    outcome
}

/// What the account state means, worst last.
pub fn findings(a: &AccountFacts, quota_warning_ratio: f64) -> Vec<Finding> {
    let details = || Details {
        phase: Some(PHASE.to_owned()),
        ..Details::default()
    };
    let mut out = Vec::new();
    if !a.production_access_enabled {
        out.push(Finding::new(
            Class::Sandbox,
            "the account is in the SES sandbox: only verified recipients receive mail",
        ));
    }
    if !a.sending_enabled {
        out.push(Finding::new(
            Class::SendingDisabled,
            "sending is disabled for the account in this region",
        ));
    }
    match a.enforcement_status.as_deref() {
        Some(s) if s.eq_ignore_ascii_case("PROBATION") => out.push(Finding::new(
            Class::EnforcementProbation,
            "the account is on probation for its bounce or complaint rate",
        )),
        Some(s) if s.eq_ignore_ascii_case("SHUTDOWN") => out.push(Finding::new(
            Class::EnforcementShutdown,
            "SES has shut down sending for the account",
        )),
        _ => {}
    }
    if a.max_24_hour_send > 0.0 {
        let used = a.sent_last_24_hours / a.max_24_hour_send;
        if used >= quota_warning_ratio {
            out.push(Finding::new(
                Class::QuotaNearlyExhausted,
                format!(
                    "{} of {} messages of the 24-hour quota used ({:.0}%, warning at {:.0}%)",
                    a.sent_last_24_hours,
                    a.max_24_hour_send,
                    used * 100.0,
                    quota_warning_ratio * 100.0
                ),
            ));
        }
    }
    out.into_iter().map(|f| f.with_details(details())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> AccountFacts {
        AccountFacts {
            max_24_hour_send: 50_000.0,
            max_send_rate: 14.0,
            sent_last_24_hours: 10.0,
            production_access_enabled: true,
            sending_enabled: true,
            enforcement_status: Some("HEALTHY".into()),
        }
    }

    #[test]
    fn healthy_account_has_no_findings() {
        assert!(findings(&healthy(), 0.8).is_empty());
        // Unlimited quota (-1) never warns.
        let a = AccountFacts {
            max_24_hour_send: -1.0,
            sent_last_24_hours: 1e9,
            ..healthy()
        };
        assert!(findings(&a, 0.8).is_empty());
    }

    #[test]
    fn quota_share_is_inclusive() {
        let a = AccountFacts {
            max_24_hour_send: 200.0,
            sent_last_24_hours: 160.0,
            ..healthy()
        };
        let f = findings(&a, 0.8);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].class, Class::QuotaNearlyExhausted);
        assert!(findings(&a, 0.81).is_empty());
    }
}
