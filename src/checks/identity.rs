//! The identity check (AWS API).

use crate::config::Target;
use crate::diagnosis::Class;
use crate::outcome::{CheckKind, Finding, Outcome};

use super::Context;

pub async fn run(_target: &Target, _ctx: &Context) -> Outcome {
    Outcome::failed(
        CheckKind::Identity,
        Finding::new(Class::Unknown, "the identity check is not built yet"),
    )
}
