//! When checks run: the single pass of `--once` and the daemon's loop.
//!
//! A pass runs every check of every target concurrently, at most
//! `server.concurrency` at a time, each under an outer deadline so a check
//! bug can never hang the pass. `--once` is exactly one such pass.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::checks::{self, Context};
use crate::config::{Plan, Target};
use crate::diagnosis::{Class, Details};
use crate::outcome::{CheckKind, Finding, Outcome};

/// The outer deadline of a check: generous, since each phase inside has its
/// own timeout; only a bug or a pathological peer reaches it.
pub fn check_deadline(target: &Target, check: CheckKind) -> Duration {
    let phase = match check {
        CheckKind::Smtp => target.smtp.as_ref().map(|s| s.phase_timeout),
        _ => target.api.as_ref().map(|a| a.timeout),
    }
    .unwrap_or(crate::config::DEFAULT_PHASE_TIMEOUT);
    // SMTP has up to a dozen phases; API checks a credential lookup and a call.
    let phases = if check == CheckKind::Smtp { 14 } else { 4 };
    phase * phases
}

/// Run one check under its outer deadline.
pub async fn run_check(target: &Target, check: CheckKind, ctx: &Context) -> Outcome {
    let deadline = check_deadline(target, check);
    match tokio::time::timeout(deadline, checks::run(target, check, ctx)).await {
        Ok(outcome) => outcome,
        Err(_) => {
            let mut o = Outcome::failed(
                check,
                Finding::new(
                    Class::Timeout,
                    format!(
                        "the {check} check did not finish within {}s",
                        deadline.as_secs()
                    ),
                )
                .with_details(Details {
                    phase: Some("check".into()),
                    ..Details::default()
                }),
            );
            o.duration = deadline;
            o
        }
    }
}

/// Run every check of every target once; results keep the plan's order.
pub async fn run_once(plan: &Plan) -> Vec<(Target, Vec<Outcome>)> {
    let ctx = Arc::new(Context::new(&plan.server.state_directory));
    let permits = Arc::new(Semaphore::new(plan.server.concurrency));
    let mut set = JoinSet::new();
    for (ti, target) in plan.targets.iter().enumerate() {
        for (ci, check) in target.checks().into_iter().enumerate() {
            let (target, ctx, permits) = (target.clone(), ctx.clone(), permits.clone());
            set.spawn(async move {
                let _permit = permits.acquire_owned().await;
                (ti, ci, run_check(&target, check, &ctx).await)
            });
        }
    }
    let mut results: Vec<(Target, Vec<(usize, Outcome)>)> = plan
        .targets
        .iter()
        .map(|t| (t.clone(), Vec::new()))
        .collect();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((ti, ci, outcome)) => results[ti].1.push((ci, outcome)),
            Err(e) => tracing::error!(error = %e, "a check task panicked"),
        }
    }
    results
        .into_iter()
        .map(|(t, mut o)| {
            o.sort_by_key(|(ci, _)| *ci);
            (t, o.into_iter().map(|(_, o)| o).collect())
        })
        .collect()
}
