//! The checks: the only code that talks to the network.
//!
//! Each check takes a [`Target`] and a [`Context`] and returns an
//! [`Outcome`]; none of them touches metrics or prints. [`run`] is the one
//! entry point the scheduler and `--once` share: it runs the local
//! credential analysis first (so a secret key is never sent over SMTP), then
//! the check, under the check's overall deadline, and stamps the timing.

pub mod account;
pub mod identity;
pub mod send;
pub mod smtp;

use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use crate::config::Target;
use crate::diagnosis::{Class, Details};
use crate::outcome::{CheckKind, Finding, Outcome};

/// What checks share besides their target.
#[derive(Clone, Debug)]
pub struct Context {
    /// Where the send budget is persisted.
    pub state_directory: PathBuf,
}

impl Context {
    pub fn new(state_directory: impl Into<PathBuf>) -> Self {
        Context {
            state_directory: state_directory.into(),
        }
    }
}

/// Run one check of one target.
pub async fn run(target: &Target, check: CheckKind, ctx: &Context) -> Outcome {
    let start = Instant::now();
    let mut outcome = match check {
        CheckKind::Smtp => smtp::run(target, ctx).await,
        CheckKind::Identity => identity::run(target, ctx).await,
        CheckKind::Account => account::run(target, ctx).await,
        CheckKind::Send => send::run(target, ctx).await,
    };
    outcome.check = check;
    outcome.duration = start.elapsed();
    outcome.finished = SystemTime::now();
    if !outcome.success && outcome.findings.is_empty() {
        // A failure must always say why; this only fires on a check bug.
        outcome.findings.push(Finding::new(
            Class::Unknown,
            "the check failed without a diagnosis",
        ));
    }
    outcome
}

/// The outcome for a target whose region is unknown.
pub fn region_missing(check: CheckKind) -> Outcome {
    Outcome::failed(
        check,
        Finding::new(
            Class::RegionMissing,
            "no region: set `region` on the target, AWS_REGION, or a region in the AWS profile",
        ),
    )
}

/// A finding for a classified failure, with the phase recorded.
pub fn finding_for(
    class: Class,
    message: impl Into<String>,
    mut details: Details,
    phase: Option<&str>,
) -> Finding {
    if details.phase.is_none() {
        details.phase = phase.map(str::to_owned);
    }
    Finding::new(class, message).with_details(details)
}
