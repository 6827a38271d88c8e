//! The identity check: `sts:GetCallerIdentity`, who the API credentials
//! belong to.
//!
//! The call needs no permission and cannot be denied by policy, so success
//! proves the key pair (and session token) is valid, not that it may send.
//! Root credentials are reported as `root_credentials` with the target's
//! configured severity.

use crate::aws::ApiSession;
use crate::config::{ApiTarget, Target};
use crate::diagnosis::{Class, Details};
use crate::outcome::{CheckKind, Finding, IdentityFacts, Outcome, PrincipalType};

/// The operation name, used as the phase name.
pub const PHASE: &str = "GetCallerIdentity";

pub async fn run(target: &Target, api: &ApiTarget) -> Outcome {
    let mut outcome = Outcome::new(CheckKind::Identity);
    let Some(session) = ApiSession::open(target.region.as_deref(), api, &mut outcome).await else {
        return outcome;
    };
    let client = session.sts();
    let Some(out) = session
        .call(
            &mut outcome,
            PHASE,
            "sts:GetCallerIdentity",
            client.get_caller_identity().send(),
        )
        .await
    else {
        return outcome;
    };
    let arn = out.arn().unwrap_or_default().to_owned();
    let account = out.account().unwrap_or_default();
    // A 200 whose document was cut short still parses (the SDK's XML reader
    // is lenient): an identity without a 12-digit account, or an ARN that
    // names no principal of that account, is no answer.
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    if !account_ok || principal_type(&arn) == PrincipalType::Other || !arn.contains(account) {
        outcome.fail(
            Finding::new(
                Class::Unknown,
                format!(
                    "GetCallerIdentity answered 200 without a usable identity (account `{}`, ARN `{}`): a cut-off or foreign answer",
                    crate::text::escape_controls(&crate::text::truncate(account, 40)),
                    crate::text::escape_controls(&crate::text::truncate(&arn, 200)),
                ),
            )
            .in_phase(PHASE),
        );
        return outcome;
    }
    let facts = IdentityFacts {
        account: out.account().unwrap_or_default().to_owned(),
        user_id: out.user_id().unwrap_or_default().to_owned(),
        principal_type: principal_type(&arn),
        arn,
    };
    if facts.principal_type == PrincipalType::Root {
        let severity = api.root_severity;
        outcome.findings.push(
            Finding::new(
                Class::RootCredentials,
                format!(
                    "the API keys belong to the root user of account {}",
                    facts.account
                ),
            )
            .with_severity(severity)
            .with_details(Details {
                principal: Some(facts.arn.clone()),
                phase: Some(PHASE.to_owned()),
                ..Details::default()
            }),
        );
    }
    outcome.facts.identity = Some(facts);
    outcome
}

/// The kind of principal an STS caller ARN names, in any partition
/// (`aws`, `aws-us-gov`, `aws-cn`, ...).
pub fn principal_type(arn: &str) -> PrincipalType {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, _region, account, resource] = parts[..] else {
        return PrincipalType::Other;
    };
    if prefix != "arn" || !partition.starts_with("aws") || account.is_empty() {
        return PrincipalType::Other;
    }
    match (service, resource) {
        ("iam", "root") => PrincipalType::Root,
        ("iam", r) if r.starts_with("user/") => PrincipalType::IamUser,
        ("sts", r) if r.starts_with("assumed-role/") => PrincipalType::AssumedRole,
        ("sts", r) if r.starts_with("federated-user/") => PrincipalType::FederatedUser,
        _ => PrincipalType::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_types_in_every_partition() {
        for p in ["aws", "aws-us-gov", "aws-cn"] {
            let acct = "123456789012";
            assert_eq!(
                principal_type(&format!("arn:{p}:iam::{acct}:root")),
                PrincipalType::Root
            );
            assert_eq!(
                principal_type(&format!("arn:{p}:iam::{acct}:user/division/mailer")),
                PrincipalType::IamUser
            );
            assert_eq!(
                principal_type(&format!("arn:{p}:sts::{acct}:assumed-role/ses/i-0abc")),
                PrincipalType::AssumedRole
            );
            assert_eq!(
                principal_type(&format!("arn:{p}:sts::{acct}:federated-user/bob")),
                PrincipalType::FederatedUser
            );
        }
        assert_eq!(
            principal_type("arn:aws:iam::123456789012:role/x"),
            PrincipalType::Other
        );
        assert_eq!(principal_type("not an arn"), PrincipalType::Other);
        assert_eq!(principal_type("arn:aws:iam:::root"), PrincipalType::Other);
    }
}
