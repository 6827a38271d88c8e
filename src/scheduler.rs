//! When checks run: the single pass of `--once` and the daemon's loops.
//!
//! Every run of a check goes through [`run_check`]: under the check's outer
//! deadline ([`Check::deadline`]), with a panic caught and turned into an
//! `unknown` outcome, so neither a check bug nor a pathological peer can
//! hang a pass or make a target vanish from the report and the metrics.
//!
//! A pass runs every check of every target concurrently, at most
//! `server.concurrency` at a time. `--once` is exactly one such pass; the
//! daemon runs one task per target, in which each check loops on its own
//! interval.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt as _;
use tokio::sync::Semaphore;

use crate::checks::{self, Check};
use crate::config::{Plan, Target};
use crate::diagnosis::{redact, Class};
use crate::outcome::{CheckKind, Finding, Outcome, TargetOutcomes};

/// Run one check under its outer deadline; a panic becomes an outcome.
pub async fn run_check(target: &Target, check: Check<'_>) -> Outcome {
    let outcome = run_guarded(target, check).await;
    tracing::info!(
        target = %target.name,
        check = %check.kind(),
        status = outcome.status().as_str(),
        class = outcome.primary_finding().map(|f| f.class.as_str()).unwrap_or("ok"),
        seconds = outcome.duration.as_secs_f64(),
        "check finished"
    );
    outcome
}

async fn run_guarded(target: &Target, check: Check<'_>) -> Outcome {
    guarded(
        &target.name,
        check.kind(),
        check.deadline(),
        checks::run(target, check),
    )
    .await
}

/// `run` under `deadline`, a panic turned into an `unknown` outcome and a
/// time-out into a `timeout` one: whatever a check does, the pass gets an
/// outcome for it.
async fn guarded(
    target: &str,
    kind: CheckKind,
    deadline: Duration,
    run: impl Future<Output = Outcome>,
) -> Outcome {
    let run = AssertUnwindSafe(run).catch_unwind();
    match tokio::time::timeout(deadline, run).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(panic)) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(
                target = %target,
                check = %kind,
                panic = %redact(&what),
                "a check panicked"
            );
            Outcome::failed(
                kind,
                Finding::new(
                    Class::Unknown,
                    format!("the {kind} check stopped on an internal error (a bug: see the log)"),
                )
                .in_phase("check"),
            )
        }
        Err(_) => {
            let mut o = Outcome::failed(
                kind,
                Finding::new(
                    Class::Timeout,
                    format!(
                        "the {kind} check did not finish within {}s",
                        deadline.as_secs()
                    ),
                )
                .in_phase("check"),
            );
            o.duration = deadline;
            o
        }
    }
}

/// Run every check of every target once; results keep the plan's order.
pub async fn run_once(plan: &Plan) -> Vec<TargetOutcomes> {
    // The system's roots are read when a check first needs them, off the
    // workers (crate::roots): a run whose relay chains to its ca_file and
    // whose API endpoints are plain HTTP never reads them.
    let permits = Arc::new(Semaphore::new(permits_for(plan.server.concurrency)));
    // Each check is a task of its own, so the checks run on every worker
    // thread at once rather than taking turns on one: a run is as long as
    // its slowest check, not their sum.
    let runs: Vec<_> = plan
        .targets
        .iter()
        .map(|target| {
            let shared = target.clone();
            let tasks: Vec<_> = target
                .checks()
                .iter()
                .map(|check| {
                    let (target, permits, kind) = (shared.clone(), permits.clone(), check.kind());
                    let task = tokio::spawn(async move {
                        let _permit = permits.acquire().await;
                        match target.check(kind) {
                            Some(check) => run_check(&target, check).await,
                            None => not_run(kind),
                        }
                    });
                    (kind, task)
                })
                .collect();
            (target, tasks)
        })
        .collect();
    let mut out = Vec::with_capacity(runs.len());
    for (target, tasks) in runs {
        let mut outcomes = Vec::with_capacity(tasks.len());
        for (kind, task) in tasks {
            // run_check turns a panic into an outcome; a task that still
            // fails to join is reported, never left out (a missing check
            // must not let the others' OK stand for it).
            outcomes.push(task.await.unwrap_or_else(|_| not_run(kind)));
        }
        out.push(TargetOutcomes {
            name: target.name.clone(),
            region: target.region.clone(),
            outcomes,
        });
    }
    out
}

/// The outcome of a check whose task did not give one: unknown.
fn not_run(kind: CheckKind) -> Outcome {
    Outcome::failed(
        kind,
        Finding::new(
            Class::Unknown,
            format!("the {kind} check did not run to the end (a bug: see the log)"),
        )
        .in_phase("check"),
    )
}

/// A semaphore's size for a concurrency limit (validation bounds the
/// limit; this keeps the semaphore constructor from ever panicking).
fn permits_for(concurrency: usize) -> usize {
    concurrency.clamp(1, Semaphore::MAX_PERMITS)
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

/// The daemon's scheduler: one task per target, in which each check runs on
/// its own interval, all sharing one concurrency limit. A slow or hanging
/// check only ever holds its own loop (and one permit, until its deadline).
pub struct Scheduler {
    permits: Arc<Semaphore>,
    /// The configured limit the semaphore currently stands for.
    limit: usize,
    sink: Sink,
    /// Per target: its settings (shared with its task, so thousands of
    /// targets are not held twice) and the handle that stops it.
    tasks: HashMap<String, (Arc<Target>, tokio::task::AbortHandle)>,
}

impl Scheduler {
    pub fn new(plan: &Plan, sink: Sink) -> Self {
        let limit = permits_for(plan.server.concurrency);
        Scheduler {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
            sink,
            tasks: HashMap::new(),
        }
    }

    /// Start the loops of every target in `plan`.
    pub fn start(&mut self, plan: &Plan) {
        for target in &plan.targets {
            self.spawn_target(target);
        }
    }

    fn spawn_target(&mut self, target: &Arc<Target>) {
        let owned = target.clone();
        let shared = owned.clone();
        let (permits, sink) = (self.permits.clone(), self.sink.clone());
        let handle = tokio::spawn(async move {
            let loops = owned
                .checks()
                .into_iter()
                .map(|check| check_loop(&owned, check, &permits, &sink));
            futures_util::future::join_all(loops).await;
        });
        self.tasks
            .insert(target.name.clone(), (shared, handle.abort_handle()));
    }

    /// Swap in a new plan: targets whose settings did not change keep
    /// running undisturbed (no extra probe, no lost timing); changed and new
    /// ones start afresh; removed ones stop. The concurrency limit follows
    /// the new plan for every task, running ones included. An unchanged
    /// target in `plan` is replaced by the running one, so the plan and the
    /// tasks go on sharing one copy.
    pub fn reload(&mut self, plan: &mut Plan) {
        let mut old = std::mem::take(&mut self.tasks);
        self.resize(permits_for(plan.server.concurrency));
        for target in &mut plan.targets {
            match old.remove(&target.name) {
                Some((running, handle)) if *running == **target => {
                    *target = running.clone();
                    self.tasks.insert(target.name.clone(), (running, handle));
                }
                Some((_, handle)) => {
                    handle.abort();
                    self.spawn_target(target);
                }
                None => self.spawn_target(target),
            }
        }
        for (_, handle) in old.into_values() {
            handle.abort();
        }
    }

    /// Change the number of permits of the one shared semaphore. Growing is
    /// immediate; shrinking takes permits away as running checks return
    /// them, so the limit is never exceeded on the way.
    fn resize(&mut self, limit: usize) {
        if limit > self.limit {
            self.permits.add_permits(limit - self.limit);
        } else if limit < self.limit {
            let (permits, take) = (self.permits.clone(), (self.limit - limit) as u32);
            tokio::spawn(async move {
                if let Ok(taken) = permits.acquire_many_owned(take).await {
                    taken.forget();
                }
            });
        }
        self.limit = limit;
    }

    /// Cancel every in-flight and scheduled check.
    pub fn stop(&mut self) {
        for (_, (_, handle)) in self.tasks.drain() {
            handle.abort();
        }
    }
}

/// One check's loop: run, report, sleep, forever.
async fn check_loop(target: &Target, check: Check<'_>, permits: &Semaphore, sink: &Sink) {
    let interval = check.interval();
    tokio::time::sleep(jitter(FIRST_RUN_SPREAD.min(interval))).await;
    loop {
        let outcome = {
            let _permit = permits.acquire().await;
            // Boxed: a loop spends nearly all its life asleep, and an
            // unboxed check would make every sleeping loop as large as the
            // largest check's state machine.
            Box::pin(run_check(target, check)).await
        };
        sink(target, &outcome);
        tokio::time::sleep(next_delay(interval)).await;
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_check_becomes_an_unknown_outcome() {
        let o = guarded("t", CheckKind::Smtp, Duration::from_secs(5), async {
            panic!("boom");
        })
        .await;
        assert!(!o.success);
        let f = o.primary_finding().unwrap();
        assert_eq!(
            (f.class, f.details.phase.as_deref()),
            (Class::Unknown, Some("check"))
        );
    }

    #[tokio::test]
    async fn a_check_past_its_deadline_becomes_a_timeout() {
        let o = guarded("t", CheckKind::Identity, Duration::from_millis(50), async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Outcome::new(CheckKind::Identity)
        })
        .await;
        assert_eq!(o.primary_finding().unwrap().class, Class::Timeout);
    }

    /// A reload changes the one shared limit, even with checks running:
    /// shrinking takes permits back as they are returned, so more than the
    /// new limit never run at once.
    #[tokio::test]
    async fn reload_resizes_the_shared_limit() {
        let env = crate::config::Env::default();
        let plan = |n: usize| {
            crate::config::parse(
                &format!("[server]\nconcurrency = {n}\n[[target]]\nname = \"x\"\nregion = \"eu-west-1\"\n[target.api]\n"),
                "t.toml",
                &env,
            )
            .unwrap()
        };
        let mut s = Scheduler::new(&plan(4), Arc::new(|_, _| {}));
        let held = s.permits.clone().acquire_many_owned(3).await.unwrap();
        s.resize(2);
        tokio::task::yield_now().await;
        // One permit was free: taken at once; two more when the three return.
        assert_eq!(s.permits.available_permits(), 0);
        drop(held);
        for _ in 0..100 {
            if s.permits.available_permits() == 2 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(s.permits.available_permits(), 2);
        s.resize(6);
        assert_eq!(s.permits.available_permits(), 6);
        s.stop();
    }
}
