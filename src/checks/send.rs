//! The send check: `sesv2:SendEmail` of a small probe message, by default to
//! the SES mailbox simulator, under a persisted daily budget.
//!
//! Order matters: the budget is consulted first (an exhausted budget skips
//! the check without touching the network), then the credentials are
//! resolved, then one unit is recorded durably, and only then is the message
//! sent; see [`crate::budget`] for why.

use std::time::SystemTime;

use crate::aws::ApiSession;
use crate::budget::{SendBudget, Spend};
use crate::config::{ApiSend, ApiTarget, Target};
use crate::diagnosis::Class;
use crate::outcome::{CheckKind, Finding, Outcome};

/// The operation name, used as the phase name.
pub const PHASE: &str = "SendEmail";

pub async fn run(target: &Target, api: &ApiTarget, send: &ApiSend) -> Outcome {
    let mut outcome = Outcome::new(CheckKind::Send);
    let budget = SendBudget::new(&send.state_directory, &target.name, send.daily_budget);
    match budget.remaining(SystemTime::now()) {
        Ok(0) => return skipped(outcome, &target.name, None),
        Ok(_) => {}
        Err(e) => return budget_error(outcome, &budget, &e),
    }
    let Some(session) = ApiSession::open(target.region.as_deref(), api, &mut outcome).await else {
        return outcome;
    };
    match budget.try_spend(SystemTime::now()) {
        Ok(Spend::Granted { remaining }) => outcome.facts.send_budget_remaining = Some(remaining),
        Ok(Spend::Exhausted { next_at }) => return skipped(outcome, &target.name, Some(next_at)),
        Err(e) => return budget_error(outcome, &budget, &e),
    }
    let client = session.sesv2();
    let request = probe_request(&client, send, &target.name);
    if let Some(out) = session
        .call(&mut outcome, PHASE, "ses:SendEmail", request.send())
        .await
    {
        tracing::debug!(
            target = %target.name,
            message_id = %crate::text::escape_controls(out.message_id().unwrap_or("")),
            "probe message accepted"
        );
    }
    outcome
}

/// The SendEmail request for the probe message.
fn probe_request(
    client: &aws_sdk_sesv2::Client,
    send: &ApiSend,
    target: &str,
) -> aws_sdk_sesv2::operation::send_email::builders::SendEmailFluentBuilder {
    use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
    let text = |s: String| Content::builder().data(s).charset("UTF-8").build().ok();
    let message = Message::builder()
        .set_subject(text(format!("ses-probe send check ({target})")))
        .body(
            Body::builder()
                .set_text(text(format!(
                    "Probe message from ses-probe for target {target}. It checks that the SES API accepts mail; no reply is needed.\n"
                )))
                .build(),
        )
        .build();
    client
        .send_email()
        .from_email_address(&send.from)
        .destination(Destination::builder().to_addresses(&send.to).build())
        .content(EmailContent::builder().simple(message).build())
        .set_configuration_set_name(send.configuration_set.clone())
}

/// The budget is spent: skip on purpose, without a failure.
fn skipped(mut outcome: Outcome, target: &str, next_at: Option<i64>) -> Outcome {
    tracing::info!(
        target = %target,
        next_at,
        "send check skipped: the daily send budget is spent"
    );
    outcome.success = true;
    outcome.facts.skipped = true;
    outcome.facts.send_budget_remaining = Some(0);
    outcome
}

/// Without a durable budget the probe must not send at all.
fn budget_error(mut outcome: Outcome, budget: &SendBudget, e: &std::io::Error) -> Outcome {
    outcome.fail(
        Finding::new(
            Class::Unknown,
            format!(
                "cannot keep the send budget in {}: {e}; not sending (check server.state_directory)",
                budget.path().display()
            ),
        )
        .in_phase("budget"),
    );
    outcome
}
