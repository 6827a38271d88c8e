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
    let outcome = run_check_bounded(target, check, ctx).await;
    tracing::info!(
        target = %target.name,
        check = %check,
        status = outcome.status().as_str(),
        class = outcome.primary_finding().map(|f| f.class.as_str()).unwrap_or("ok"),
        seconds = outcome.duration.as_secs_f64(),
        "check finished"
    );
    outcome
}

async fn run_check_bounded(target: &Target, check: CheckKind, ctx: &Context) -> Outcome {
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

/// How far a run may move from its slot, as a share of the interval, so
/// that targets with the same interval do not fire together.
const JITTER_SHARE: f64 = 0.1;
/// The first run of each check comes within this of start-up.
const FIRST_RUN_SPREAD: Duration = Duration::from_secs(2);

/// A random duration in `[0, max)`.
fn jitter(max: Duration) -> Duration {
    use rand::Rng;
    if max.is_zero() {
        return Duration::ZERO;
    }
    max.mul_f64(rand::thread_rng().gen_range(0.0..1.0))
}

/// The delay before the next run: the interval, moved by up to
/// ±[`JITTER_SHARE`] of it.
pub fn next_delay(interval: Duration) -> Duration {
    let spread = interval.mul_f64(JITTER_SHARE);
    (interval - spread) + jitter(spread * 2)
}

/// What a running check loop reports back after each run.
pub type Sink = Arc<dyn Fn(&Target, &Outcome) + Send + Sync>;

/// The daemon's scheduler: one task per (target, check), each on its own
/// interval, sharing a concurrency limit. A slow or hanging target only ever
/// holds its own task (and one permit, until its deadline).
pub struct Scheduler {
    ctx: Arc<Context>,
    permits: Arc<Semaphore>,
    sink: Sink,
    tasks: Vec<(Target, tokio::task::AbortHandle)>,
}

impl Scheduler {
    pub fn new(plan: &Plan, sink: Sink) -> Self {
        Scheduler {
            ctx: Arc::new(Context::new(&plan.server.state_directory)),
            permits: Arc::new(Semaphore::new(plan.server.concurrency)),
            sink,
            tasks: Vec::new(),
        }
    }

    /// Start the loops of every target in `plan`.
    pub fn start(&mut self, plan: &Plan) {
        for target in &plan.targets {
            self.spawn_target(target);
        }
    }

    fn spawn_target(&mut self, target: &Target) {
        for check in target.checks() {
            let (target_c, ctx, permits, sink) = (
                target.clone(),
                self.ctx.clone(),
                self.permits.clone(),
                self.sink.clone(),
            );
            let handle = tokio::spawn(async move {
                let interval = target_c.interval(check);
                tokio::time::sleep(jitter(FIRST_RUN_SPREAD.min(interval))).await;
                loop {
                    let outcome = {
                        let _permit = permits.acquire().await;
                        run_check(&target_c, check, &ctx).await
                    };
                    sink(&target_c, &outcome);
                    tokio::time::sleep(next_delay(interval)).await;
                }
            });
            self.tasks.push((target.clone(), handle.abort_handle()));
        }
    }

    /// Swap in a new plan: targets whose settings did not change keep
    /// running undisturbed (no extra probe, no lost timing); changed and new
    /// ones start afresh; removed ones stop. The concurrency limit and state
    /// directory follow the new plan.
    pub fn reload(&mut self, plan: &Plan) {
        let mut kept = Vec::new();
        for (target, handle) in self.tasks.drain(..) {
            if plan.targets.contains(&target) {
                kept.push((target, handle));
            } else {
                handle.abort();
            }
        }
        self.tasks = kept;
        if plan.server.concurrency != self.permits.available_permits() {
            // Running tasks keep their old semaphore until restarted; new
            // and changed targets use the new limit.
            self.permits = Arc::new(Semaphore::new(plan.server.concurrency));
        }
        self.ctx = Arc::new(Context::new(&plan.server.state_directory));
        for target in &plan.targets {
            if !self.tasks.iter().any(|(t, _)| t == target) {
                self.spawn_target(target);
            }
        }
    }

    /// Cancel every in-flight and scheduled check.
    pub fn stop(&mut self) {
        for (_, handle) in self.tasks.drain(..) {
            handle.abort();
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.stop();
    }
}
