//! The permissions check: would IAM let these credentials send from the
//! configured sender? Asked of IAM's policy simulator
//! (`iam:SimulatePrincipalPolicy`), so nothing is sent.
//!
//! The principal comes from `sts:GetCallerIdentity`: an IAM user is
//! simulated as itself, an assumed role as its role
//! (`arn:aws:sts::ACCT:assumed-role/NAME/SESSION` becomes
//! `arn:aws:iam::ACCT:role/NAME`; session policies are not simulated, and a
//! role with a path is not found under that ARN). Root needs no audit: the
//! facts say so and the check is OK. Federated users cannot be simulated.
//!
//! Simulated: `ses:SendEmail` and `ses:SendRawEmail` on the sender's
//! identity ARNs (`identity/ADDRESS` and `identity/DOMAIN` in the target's
//! region), with the condition keys `ses:FromAddress` (and
//! `ses:Recipients` when `audit_recipients` is set); then `ses:GetAccount`
//! on `*` (what the account check needs: a denial is a warning here), and
//! with `smtp_credentials_admin` the IAM actions that create SMTP
//! credentials.
//!
//! An action counts as allowed when one of the identity ARNs allows it and
//! none denies it explicitly: SES accepts a grant on the domain identity for
//! every address of the domain. Each denied action is one
//! `iam_access_denied` finding with `source = "simulation"`, the decision
//! (explicit or implicit), the matched policies, whether a permissions
//! boundary or an SCP denies, and the statement to add.
//!
//! A caller that may not simulate (AccessDenied on the simulation itself),
//! or a principal IAM does not know, gives `permission_audit_unavailable`: a
//! warning naming `iam:SimulatePrincipalPolicy`, never critical, since
//! the sending itself is not shown to be broken.

use aws_sdk_iam::types::{
    ContextEntry, ContextKeyTypeEnum, EvaluationResult, PolicyEvaluationDecisionType, Statement,
};

use crate::aws::ApiSession;
use crate::config::{ApiTarget, Target};
use crate::diagnosis::{Class, Details, Severity};
use crate::outcome::{
    CheckKind, Finding, Outcome, PermissionFacts, PermissionResult, PrincipalType,
};

/// The operation names, used as phase names.
pub const IDENTITY_PHASE: &str = "GetCallerIdentity";
pub const PHASE: &str = "SimulatePrincipalPolicy";
/// The IAM action the simulation needs.
pub const SIMULATE_ACTION: &str = "iam:SimulatePrincipalPolicy";
/// The sending actions, simulated on the sender's identities.
pub const SEND_ACTIONS: [&str; 2] = ["ses:SendEmail", "ses:SendRawEmail"];
/// What the account check needs; a denial is a warning.
pub const ACCOUNT_ACTION: &str = "ses:GetAccount";
/// What creating SMTP credentials takes (`smtp_credentials_admin`).
pub const ADMIN_ACTIONS: [&str; 4] = [
    "iam:ListUsers",
    "iam:CreateUser",
    "iam:PutUserPolicy",
    "iam:CreateAccessKey",
];
/// Pages of simulation results read at most (a handful of actions fit in
/// one page; the bound only guards against a misbehaving endpoint).
const MAX_PAGES: usize = 5;

pub async fn run(target: &Target, api: &ApiTarget) -> Outcome {
    let mut outcome = Outcome::new(CheckKind::Permissions);
    let Some(session) = ApiSession::open(target.region.as_deref(), api, &mut outcome).await else {
        return outcome;
    };
    let Some(caller) = session
        .call(
            &mut outcome,
            IDENTITY_PHASE,
            "sts:GetCallerIdentity",
            session.sts().get_caller_identity().send(),
        )
        .await
    else {
        return outcome;
    };
    let arn = caller.arn().unwrap_or_default().to_owned();
    let account = caller.account().unwrap_or_default().to_owned();
    let kind = super::identity::principal_type(&arn);
    let policy_source = match (kind, policy_source(&arn)) {
        (PrincipalType::Root, _) => {
            outcome.facts.permissions = Some(PermissionFacts {
                policy_source: arn,
                actions: Vec::new(),
                note: Some(
                    "root credentials: IAM policies do not limit the root user, so there is nothing to audit (see root_credentials)".to_owned(),
                ),
            });
            return outcome;
        }
        (_, Some(source)) => source,
        (_, None) => {
            outcome.findings.push(unavailable(
                format!(
                    "{arn} is not an IAM user or an assumed role: IAM cannot simulate its policies"
                ),
                &arn,
                None,
            ));
            return outcome;
        }
    };
    let region = target.region.as_deref().unwrap_or_default();
    let from = api.audit_from.as_deref().unwrap_or_default();
    let partition = arn.split(':').nth(1).unwrap_or("aws");
    let identities = identity_arns(partition, region, &account, from);

    let iam = session.iam();
    let mut context = vec![ContextEntry::builder()
        .context_key_name("ses:FromAddress")
        .context_key_values(from)
        .context_key_type(ContextKeyTypeEnum::String)
        .build()];
    if !api.audit_recipients.is_empty() {
        context.push(
            ContextEntry::builder()
                .context_key_name("ses:Recipients")
                .set_context_key_values(Some(api.audit_recipients.clone()))
                .context_key_type(ContextKeyTypeEnum::StringList)
                .build(),
        );
    }
    let mut other_actions = vec![ACCOUNT_ACTION];
    if api.smtp_credentials_admin {
        other_actions.extend(ADMIN_ACTIONS);
    }
    let runs: [(&[&str], &[String], Vec<ContextEntry>); 2] = [
        (&SEND_ACTIONS, &identities, context),
        (&other_actions, &[], Vec::new()),
    ];
    let mut results: Vec<Evaluated> = Vec::new();
    for (actions, resources, context) in runs {
        let mut marker: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let request = iam
                .simulate_principal_policy()
                .policy_source_arn(&policy_source)
                .set_action_names(Some(actions.iter().map(|a| (*a).to_owned()).collect()))
                .set_resource_arns((!resources.is_empty()).then(|| resources.to_vec()))
                .set_context_entries((!context.is_empty()).then(|| context.clone()))
                .set_marker(marker.clone());
            match session
                .try_call(&mut outcome, PHASE, SIMULATE_ACTION, request.send())
                .await
            {
                Ok(out) => {
                    results.extend(out.evaluation_results().iter().flat_map(evaluated));
                    marker = out.marker().map(str::to_owned);
                    if !out.is_truncated() || marker.is_none() {
                        break;
                    }
                }
                Err(f) => {
                    let f = simulation_failure(f, &arn, &policy_source);
                    if f.class == Class::PermissionAuditUnavailable {
                        outcome.findings.push(f);
                    } else {
                        outcome.fail(f);
                    }
                    return outcome;
                }
            }
        }
    }
    let mut actions: Vec<&str> = SEND_ACTIONS.to_vec();
    actions.extend(other_actions);
    let mut facts = PermissionFacts {
        policy_source: policy_source.clone(),
        actions: Vec::new(),
        note: None,
    };
    for action in actions {
        let Some(verdict) = verdict(&results, action) else {
            continue;
        };
        facts.actions.push(PermissionResult {
            action: action.to_owned(),
            resource: verdict.resource.clone(),
            decision: verdict.decision.to_owned(),
        });
        if verdict.decision != "allowed" {
            let resources: Vec<String> = if SEND_ACTIONS.contains(&action) {
                identities.clone()
            } else {
                vec![verdict.resource.clone()]
            };
            outcome
                .findings
                .push(denied(action, &verdict, &resources, &policy_source));
        }
    }
    outcome.facts.permissions = Some(facts);
    outcome
}

/// The IAM ARN whose policies decide for a caller: itself for an IAM user,
/// the role for an assumed-role session; `None` for anything else.
pub fn policy_source(caller_arn: &str) -> Option<String> {
    let parts: Vec<&str> = caller_arn.splitn(6, ':').collect();
    let [_, partition, service, _, account, resource] = parts[..] else {
        return None;
    };
    match (service, resource) {
        ("iam", r) if r.starts_with("user/") => Some(caller_arn.to_owned()),
        ("sts", r) => {
            let rest = r.strip_prefix("assumed-role/")?;
            let (role, _session) = rest.split_once('/')?;
            Some(format!("arn:{partition}:iam::{account}:role/{role}"))
        }
        _ => None,
    }
}

/// The SES identity ARNs a sender address can send under: the address
/// itself, then its domain.
pub fn identity_arns(partition: &str, region: &str, account: &str, from: &str) -> Vec<String> {
    let arn = |id: &str| format!("arn:{partition}:ses:{region}:{account}:identity/{id}");
    let mut out = vec![arn(from)];
    if let Some((_, domain)) = from.rsplit_once('@') {
        out.push(arn(domain));
    }
    out
}

/// One simulated (action, resource) pair.
#[derive(Clone, Debug)]
struct Evaluated {
    action: String,
    resource: String,
    decision: &'static str,
    policies: Vec<String>,
    denied_by: Vec<&'static str>,
}

fn decision(d: &PolicyEvaluationDecisionType) -> &'static str {
    match d {
        PolicyEvaluationDecisionType::Allowed => "allowed",
        PolicyEvaluationDecisionType::ExplicitDeny => "explicit_deny",
        _ => "implicit_deny",
    }
}

fn policies(statements: &[Statement]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in statements {
        let name = s
            .source_policy_id()
            .map(str::to_owned)
            .or_else(|| s.source_policy_type().map(|t| t.as_str().to_owned()));
        if let Some(name) = name {
            if !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out
}

/// The pairs one evaluation result stands for: its resource-specific
/// results when it has them, else itself.
fn evaluated(r: &EvaluationResult) -> Vec<Evaluated> {
    let org_denies = r
        .organizations_decision_detail()
        .is_some_and(|d| !d.allowed_by_organizations());
    let denied_by = |boundary: Option<&aws_sdk_iam::types::PermissionsBoundaryDecisionDetail>| {
        let mut v = Vec::new();
        if boundary.is_some_and(|b| !b.allowed_by_permissions_boundary()) {
            v.push("permissions_boundary");
        }
        if org_denies {
            v.push("organizations");
        }
        v
    };
    let specific = r.resource_specific_results();
    if specific.is_empty() {
        return vec![Evaluated {
            action: r.eval_action_name().to_owned(),
            resource: r.eval_resource_name().unwrap_or("*").to_owned(),
            decision: decision(r.eval_decision()),
            policies: policies(r.matched_statements()),
            denied_by: denied_by(r.permissions_boundary_decision_detail()),
        }];
    }
    specific
        .iter()
        .map(|s| Evaluated {
            action: r.eval_action_name().to_owned(),
            resource: s.eval_resource_name().to_owned(),
            decision: decision(s.eval_resource_decision()),
            policies: policies(s.matched_statements()),
            denied_by: denied_by(
                s.permissions_boundary_decision_detail()
                    .or(r.permissions_boundary_decision_detail()),
            ),
        })
        .collect()
}

/// The verdict on `action` over every resource simulated for it: an
/// explicit deny anywhere wins, then an allow anywhere, else the first
/// implicit deny.
fn verdict(results: &[Evaluated], action: &str) -> Option<Evaluated> {
    let of: Vec<&Evaluated> = results
        .iter()
        .filter(|r| r.action.eq_ignore_ascii_case(action))
        .collect();
    of.iter()
        .find(|r| r.decision == "explicit_deny")
        .or_else(|| of.iter().find(|r| r.decision == "allowed"))
        .or_else(|| of.first())
        .map(|r| (*r).clone())
}

/// The minimal statement granting `action` on `resources`.
pub fn statement(action: &str, resources: &[String]) -> String {
    let resource = match resources {
        [one] => serde_json::Value::from(one.as_str()),
        many => serde_json::Value::from(many.to_vec()),
    };
    serde_json::json!({
        "Effect": "Allow",
        "Action": action,
        "Resource": resource,
    })
    .to_string()
}

fn denied(action: &str, v: &Evaluated, resources: &[String], principal: &str) -> Finding {
    let explicit = v.decision == "explicit_deny";
    let policies = if v.policies.is_empty() {
        String::new()
    } else {
        format!(" (matched: {})", v.policies.join(", "))
    };
    let why = if v.denied_by.contains(&"organizations") {
        format!("an organization SCP denies it{policies}: ask the organization's administrators to allow it")
    } else if v.denied_by.contains(&"permissions_boundary") {
        format!("the principal's permissions boundary does not allow it{policies}: add it to the boundary and to the principal's policy")
    } else if explicit {
        format!("a Deny statement matches{policies}: narrow or remove it")
    } else {
        "no policy of the principal allows it".to_owned()
    };
    let statement = statement(action, resources);
    let message = format!(
        "IAM would deny {action} on {} to {principal} ({}): {why}; the statement to add: {statement}",
        v.resource,
        if explicit { "explicit deny" } else { "implicit deny" },
    );
    let finding = Finding::new(Class::IamAccessDenied, message).with_details(Details {
        action: Some(action.to_owned()),
        resource: Some(v.resource.clone()),
        principal: Some(principal.to_owned()),
        source: Some("simulation".to_owned()),
        decision: Some(v.decision.to_owned()),
        matched_policies: v.policies.clone(),
        denied_by: v.denied_by.iter().map(|s| (*s).to_owned()).collect(),
        statement: Some(statement),
        phase: Some(PHASE.to_owned()),
        ..Details::default()
    });
    if action == ACCOUNT_ACTION {
        // The probe's own account check needs it; mail does not.
        finding.with_severity(Severity::Warning)
    } else {
        finding
    }
}

fn unavailable(message: String, principal: &str, base: Option<Details>) -> Finding {
    let mut details = base.unwrap_or_default();
    details.action = Some(SIMULATE_ACTION.to_owned());
    details
        .principal
        .get_or_insert_with(|| principal.to_owned());
    details.phase.get_or_insert_with(|| PHASE.to_owned());
    Finding::new(Class::PermissionAuditUnavailable, message).with_details(details)
}

/// A failed simulation: the caller may not simulate, or IAM does not know
/// the principal, becomes `permission_audit_unavailable` (a warning); any
/// other failure is kept as it is and fails the check.
fn simulation_failure(f: Finding, caller: &str, source: &str) -> Finding {
    let code = f.details.aws_code.clone().unwrap_or_default();
    if f.class == Class::IamAccessDenied {
        let message = format!(
            "the permission audit needs {SIMULATE_ACTION} on {source}, which {caller} may not call; the sending permissions were not checked ({})",
            f.message
        );
        return unavailable(message, caller, Some(f.details));
    }
    if code == "NoSuchEntity" {
        let message = format!(
            "IAM does not know {source} (a role with a path has another ARN than its session shows); the sending permissions were not checked ({})",
            f.message
        );
        return unavailable(message, caller, Some(f.details));
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_sources() {
        assert_eq!(
            policy_source("arn:aws:sts::123456789012:assumed-role/ses-sender/i-0abc").as_deref(),
            Some("arn:aws:iam::123456789012:role/ses-sender")
        );
        assert_eq!(
            policy_source("arn:aws-cn:sts::123456789012:assumed-role/r/s/extra").as_deref(),
            Some("arn:aws-cn:iam::123456789012:role/r")
        );
        assert_eq!(
            policy_source("arn:aws:iam::123456789012:user/mail/smtp").as_deref(),
            Some("arn:aws:iam::123456789012:user/mail/smtp")
        );
        assert_eq!(policy_source("arn:aws:iam::123456789012:root"), None);
        assert_eq!(
            policy_source("arn:aws:sts::123456789012:federated-user/bob"),
            None
        );
    }

    #[test]
    fn identity_arns_address_then_domain() {
        assert_eq!(
            identity_arns("aws", "eu-west-1", "123456789012", "probe@example.com"),
            vec![
                "arn:aws:ses:eu-west-1:123456789012:identity/probe@example.com",
                "arn:aws:ses:eu-west-1:123456789012:identity/example.com"
            ]
        );
    }

    #[test]
    fn explicit_deny_wins_then_any_allow() {
        let e = |resource: &str, decision: &'static str| Evaluated {
            action: "ses:SendEmail".into(),
            resource: resource.into(),
            decision,
            policies: vec![],
            denied_by: vec![],
        };
        let v = verdict(
            &[e("a", "implicit_deny"), e("d", "allowed")],
            "ses:SendEmail",
        );
        assert_eq!(v.unwrap().decision, "allowed");
        let v = verdict(
            &[e("a", "explicit_deny"), e("d", "allowed")],
            "ses:SendEmail",
        );
        assert_eq!(v.unwrap().resource, "a");
        let v = verdict(
            &[e("a", "implicit_deny"), e("d", "implicit_deny")],
            "ses:SendEmail",
        );
        assert_eq!(v.unwrap().resource, "a");
        assert!(verdict(&[], "ses:SendEmail").is_none());
    }

    #[test]
    fn statement_is_minimal_json() {
        let s = statement("ses:SendEmail", &["arn:x".to_owned()]);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"Effect": "Allow", "Action": "ses:SendEmail", "Resource": "arn:x"})
        );
    }
}
