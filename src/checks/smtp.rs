//! The SMTP check: would an SMTP client on this host get mail into SES now?
//!
//! Local credential analysis runs first; a password that is really a secret
//! access key (or a temporary key as user name) stops the check before any
//! connection is opened, so such a secret never leaves the host.

use crate::config::Target;
use crate::credentials::{analyse_smtp, SmtpCredentials};
use crate::diagnosis::Class;
use crate::outcome::{CheckKind, Finding, Outcome};

use super::Context;

pub async fn run(target: &Target, _ctx: &Context) -> Outcome {
    let Some(smtp) = &target.smtp else {
        return Outcome::failed(
            CheckKind::Smtp,
            Finding::new(Class::Unknown, "the target has no SMTP section"),
        );
    };
    let Some(region) = target.region.as_deref() else {
        return super::region_missing(CheckKind::Smtp);
    };
    let analysis = analyse_smtp(&SmtpCredentials {
        username: &smtp.username,
        password: &smtp.password,
        secret_key: smtp.secret_access_key.as_ref(),
        region,
    });
    if analysis.blocks_auth {
        let mut outcome = Outcome::new(CheckKind::Smtp);
        outcome.success = false;
        outcome.findings = analysis.findings;
        return outcome;
    }
    let mut outcome = Outcome::failed(
        CheckKind::Smtp,
        Finding::new(Class::Unknown, "the SMTP network probe is not built yet"),
    );
    outcome.findings.extend(analysis.findings);
    outcome
}
