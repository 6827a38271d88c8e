//! The checks: the only code that talks to the network.
//!
//! A [`Check`] is one check of one target *with its configuration*: the
//! variant carries the section it runs from, so dispatch never meets a
//! missing section, and the check itself answers how often it runs and how
//! long it may take. [`run`] is the one entry point the scheduler and
//! `--once` share: it runs the check under nothing but its own phase
//! timeouts and stamps the timing; none of the checks touches metrics or
//! prints.
//!
//! Adding a check: a file here with `async fn run(..) -> Outcome`, a
//! variant of [`Check`] (and of [`CheckKind`], its stable name), and a line
//! in [`Target::checks`].

pub mod account;
pub mod identity;
pub mod permissions;
pub mod send;
pub mod sender;
pub mod smtp;

use std::time::{Duration, Instant, SystemTime};

use crate::config::{ApiSend, ApiTarget, SmtpTarget, Target};
use crate::diagnosis::Class;
use crate::outcome::{CheckKind, Finding, Outcome};

/// One check of a target, holding the configuration it runs from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Check<'a> {
    Smtp(&'a SmtpTarget),
    Identity(&'a ApiTarget),
    Account(&'a ApiTarget),
    Permissions(&'a ApiTarget),
    Sender(&'a ApiTarget),
    Send(&'a ApiTarget, &'a ApiSend),
}

impl Check<'_> {
    /// The check's stable name.
    pub fn kind(&self) -> CheckKind {
        match self {
            Check::Smtp(_) => CheckKind::Smtp,
            Check::Identity(_) => CheckKind::Identity,
            Check::Account(_) => CheckKind::Account,
            Check::Permissions(_) => CheckKind::Permissions,
            Check::Sender(_) => CheckKind::Sender,
            Check::Send(..) => CheckKind::Send,
        }
    }

    /// How often the daemon runs it.
    pub fn interval(&self) -> Duration {
        match self {
            Check::Smtp(s) => s.interval,
            Check::Identity(a) => a.identity_interval,
            Check::Account(a) => a.account_interval,
            Check::Permissions(a) | Check::Sender(a) => a.audit_interval,
            Check::Send(_, s) => s.interval,
        }
    }

    /// The outer deadline: generous, since each phase inside has its own
    /// timeout; only a bug or a pathological peer reaches it.
    pub fn deadline(&self) -> Duration {
        match self {
            // DNS, connect, banner, EHLO, STARTTLS, TLS, EHLO, AUTH (two
            // round trips for LOGIN), MAIL, RCPT, DATA, the body, QUIT.
            Check::Smtp(s) => s.phase_timeout * SMTP_PHASES,
            // The credential chain, then one call (with slack).
            Check::Identity(a) | Check::Account(a) | Check::Send(a, _) => a.timeout * API_PHASES,
            // GetCallerIdentity and two simulations; two GetEmailIdentity
            // calls and a few pages of ListEmailIdentities.
            Check::Permissions(a) | Check::Sender(a) => a.timeout * AUDIT_PHASES,
        }
    }
}

/// Most phases an SMTP check can go through, counted generously, plus the
/// key-ownership lookup's bounded share (see [`smtp::OWNERSHIP_PHASES`]).
const SMTP_PHASES: u32 = 14 + smtp::OWNERSHIP_PHASES;
/// Credential resolution and one call, each with its timeout, plus slack.
const API_PHASES: u32 = 4;
/// Credential resolution and up to six calls, with slack.
const AUDIT_PHASES: u32 = 8;

impl Target {
    /// The checks this target runs, in report order.
    pub fn checks(&self) -> Vec<Check<'_>> {
        let mut out = Vec::new();
        if let Some(smtp) = &self.smtp {
            out.push(Check::Smtp(smtp));
        }
        if let Some(api) = &self.api {
            if api.identity {
                out.push(Check::Identity(api));
            }
            if api.account {
                out.push(Check::Account(api));
            }
            if api.permissions {
                out.push(Check::Permissions(api));
            }
            if api.sender {
                out.push(Check::Sender(api));
            }
            if let Some(send) = &api.send {
                out.push(Check::Send(api, send));
            }
        }
        out
    }

    /// The check of `kind`, when the target runs it (for filters and
    /// tests; dispatch uses [`Target::checks`]).
    pub fn check(&self, kind: CheckKind) -> Option<Check<'_>> {
        self.checks().into_iter().find(|c| c.kind() == kind)
    }
}

/// Run one check of `target`.
pub async fn run(target: &Target, check: Check<'_>) -> Outcome {
    let start = Instant::now();
    let mut outcome = match check {
        Check::Smtp(smtp) => smtp::run(target, smtp).await,
        Check::Identity(api) => identity::run(target, api).await,
        Check::Account(api) => account::run(target, api).await,
        Check::Permissions(api) => permissions::run(target, api).await,
        Check::Sender(api) => sender::run(target, api).await,
        Check::Send(api, send) => send::run(target, api, send).await,
    };
    outcome.check = check.kind();
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
