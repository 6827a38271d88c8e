//! The account check (AWS API).

use crate::config::Target;
use crate::diagnosis::Class;
use crate::outcome::{CheckKind, Finding, Outcome};

use super::Context;

pub async fn run(_target: &Target, _ctx: &Context) -> Outcome {
    Outcome::failed(
        CheckKind::Account,
        Finding::new(Class::Unknown, "the account check is not built yet"),
    )
}
