//! ses-probe's end-to-end tests: one binary, one build, topic modules.
//!
//! Suites that need outside peers (moto, aiosmtpd, promtool,
//! systemd-analyze) expect the README test command (`bash .ci/test`) to have
//! installed them; they fail with a message naming the missing tool.

mod support;

mod audit;
mod aws;
mod cli;
mod corpus;
mod daemon;
pub mod dashboards;
mod hostile;
mod package;
mod postfix;
mod postfix_source;
mod properties;
mod smtp;
mod systemd_unit;
