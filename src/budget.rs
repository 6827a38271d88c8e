//! The send check's daily budget, persisted so it survives restarts.
//!
//! Every probe message counts against the account's SES sending quota, so
//! the send check may spend at most `daily_budget` messages in any rolling
//! 24 hours, whether it runs from the daemon, from `--once`, or both.
//!
//! The state is one small JSON file per target in the state directory,
//! `send-budget-<target>.json`, holding the times of the sends in the last
//! 24 hours. The rules:
//!
//! - A send is recorded *before* the request goes out, so a crash or a
//!   timeout in the middle of the call can never let the probe exceed the
//!   budget (a failed call still costs one unit: it may have been accepted).
//! - The file is replaced atomically (temporary file in the same directory,
//!   fsync, rename), so a reader sees the old or the new state, never half.
//! - Read-modify-write happens under an exclusive advisory lock on a
//!   `.lock` file next to it, so a daemon and a `--once` run sharing the
//!   directory cannot both spend the last unit.
//! - A missing file is an unspent budget. A file that does not parse is
//!   treated as a budget spent entirely at the file's modification time:
//!   the probe never sends more than it may, and heals itself 24 hours later
//!   (a warning is logged; the damaged file is overwritten on the next send).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// The rolling window the budget applies to.
pub const WINDOW: Duration = Duration::from_secs(24 * 3600);

const STATE_VERSION: u32 = 1;

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    version: u32,
    /// Send times, seconds since the Unix epoch, oldest first.
    sends: Vec<i64>,
}

/// The result of asking to spend one unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spend {
    /// Recorded; `remaining` units are left in the window.
    Granted { remaining: u32 },
    /// Nothing left; the oldest send leaves the window at `next_at`
    /// (seconds since the epoch).
    Exhausted { next_at: i64 },
}

/// One target's budget in one state directory.
#[derive(Clone, Debug)]
pub struct SendBudget {
    dir: PathBuf,
    path: PathBuf,
    lock_path: PathBuf,
    limit: u32,
}

/// A file-name-safe form of a target name.
fn file_stem(target: &str) -> String {
    target
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn epoch(t: SystemTime) -> i64 {
    crate::outcome::unix_seconds(t).floor() as i64
}

impl SendBudget {
    pub fn new(state_directory: &Path, target: &str, limit: u32) -> Self {
        let stem = file_stem(target);
        SendBudget {
            dir: state_directory.to_owned(),
            path: state_directory.join(format!("send-budget-{stem}.json")),
            lock_path: state_directory.join(format!(".send-budget-{stem}.lock")),
            limit,
        }
    }

    /// Where the state lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Units left now, without spending one.
    pub fn remaining(&self, now: SystemTime) -> std::io::Result<u32> {
        self.locked(|ledger| {
            if ledger.spent_until(now).is_some() {
                return Ok((0, None));
            }
            let live = live(ledger.sends, now);
            Ok((self.limit.saturating_sub(live.len() as u32), None))
        })
    }

    /// Spend one unit if any is left, recording it durably first.
    pub fn try_spend(&self, now: SystemTime) -> std::io::Result<Spend> {
        self.locked(|ledger| {
            if let Some(next_at) = ledger.spent_until(now) {
                return Ok((Spend::Exhausted { next_at }, None));
            }
            let mut live = live(ledger.sends, now);
            if live.len() as u32 >= self.limit {
                let next_at = live
                    .first()
                    .map_or(epoch(now), |t| t + WINDOW.as_secs() as i64);
                return Ok((Spend::Exhausted { next_at }, None));
            }
            live.push(epoch(now));
            let remaining = self.limit - live.len() as u32;
            Ok((Spend::Granted { remaining }, Some(live)))
        })
    }

    /// Run `f` on the recorded sends under the lock; write back what it
    /// returns, if anything.
    fn locked<R>(
        &self,
        f: impl FnOnce(Ledger) -> std::io::Result<(R, Option<Vec<i64>>)>,
    ) -> std::io::Result<R> {
        std::fs::create_dir_all(&self.dir)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_path)?;
        lock.lock()?;
        let sends = self.read()?;
        let (result, write) = f(sends)?;
        if let Some(sends) = write {
            self.write(&State {
                version: STATE_VERSION,
                sends,
            })?;
        }
        drop(lock);
        Ok(result)
    }

    fn read(&self) -> std::io::Result<Ledger> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Ledger::default()),
            Err(e) => return Err(e),
        };
        match serde_json::from_str::<State>(&text) {
            Ok(state) => Ok(Ledger {
                sends: state.sends,
                spent_at: None,
            }),
            Err(e) => {
                let at = std::fs::metadata(&self.path)
                    .and_then(|m| m.modified())
                    .map(epoch)
                    .unwrap_or_else(|_| epoch(SystemTime::now()));
                tracing::warn!(
                    path = %self.path.display(),
                    error = %e,
                    "send budget state is unreadable; treating the budget as spent at the file's last change"
                );
                // One marker, whatever the budget: the cost of a damaged
                // file does not grow with `daily_budget`.
                Ok(Ledger {
                    sends: Vec::new(),
                    spent_at: Some(at),
                })
            }
        }
    }

    fn write(&self, state: &State) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
        // A temporary file in the same directory, synced, then renamed over
        // the state; dropped (and removed) on any error before that.
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(&json)?;
        tmp.as_file().sync_all()?;
        tmp.persist(&self.path).map_err(|e| e.error)?;
        // Make the rename itself durable (best effort).
        if let Ok(dir) = File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

/// What the state file says.
#[derive(Debug, Default)]
struct Ledger {
    sends: Vec<i64>,
    /// The file was damaged: the budget counts as spent entirely at this
    /// time (seconds since the epoch).
    spent_at: Option<i64>,
}

impl Ledger {
    /// When a damaged-file marker still blocks sending at `now`, the time
    /// it stops doing so.
    fn spent_until(&self, now: SystemTime) -> Option<i64> {
        let until = self.spent_at? + WINDOW.as_secs() as i64;
        (until > epoch(now)).then_some(until)
    }
}

/// The sends still inside the window at `now`, oldest first. Sends stamped
/// in the future (the clock went back) stay: that is the safe side.
fn live(mut sends: Vec<i64>, now: SystemTime) -> Vec<i64> {
    let cutoff = epoch(now) - WINDOW.as_secs() as i64;
    sends.retain(|t| *t > cutoff);
    sends.sort_unstable();
    sends
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn spends_up_to_the_limit_then_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let b = SendBudget::new(dir.path(), "prod eu", 2);
        let t0 = 1_000_000;
        assert_eq!(b.remaining(at(t0)).unwrap(), 2);
        assert_eq!(
            b.try_spend(at(t0)).unwrap(),
            Spend::Granted { remaining: 1 }
        );
        assert_eq!(
            b.try_spend(at(t0 + 10)).unwrap(),
            Spend::Granted { remaining: 0 }
        );
        assert_eq!(
            b.try_spend(at(t0 + 20)).unwrap(),
            Spend::Exhausted {
                next_at: t0 as i64 + 86_400
            }
        );
        // A new instance over the same directory sees the same state.
        let again = SendBudget::new(dir.path(), "prod eu", 2);
        assert_eq!(again.remaining(at(t0 + 30)).unwrap(), 0);
        // The first send leaves the window after 24 hours.
        assert_eq!(
            again.try_spend(at(t0 + 86_401)).unwrap(),
            Spend::Granted { remaining: 0 }
        );
        assert!(b.path().ends_with("send-budget-prod_eu.json"));
    }

    #[test]
    fn corrupt_state_counts_as_spent() {
        let dir = tempfile::tempdir().unwrap();
        let b = SendBudget::new(dir.path(), "t", 3);
        std::fs::write(b.path(), "{not json").unwrap();
        let now = SystemTime::now();
        assert_eq!(b.remaining(now).unwrap(), 0);
        assert!(matches!(b.try_spend(now).unwrap(), Spend::Exhausted { .. }));
        // A day later the budget is back and the file is rewritten.
        let later = now + WINDOW + Duration::from_secs(5);
        assert_eq!(b.try_spend(later).unwrap(), Spend::Granted { remaining: 2 });
        let text = std::fs::read_to_string(b.path()).unwrap();
        assert!(text.contains("\"version\": 1"), "{text}");
    }

    #[test]
    fn concurrent_spenders_never_exceed_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let granted: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let b = SendBudget::new(dir.path(), "t", 5);
                    s.spawn(move || {
                        (0..3)
                            .filter(|_| matches!(b.try_spend(now), Ok(Spend::Granted { .. })))
                            .count()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(granted, 5);
    }
}
