//! Structured logs on stderr, shaped for where they end up.
//!
//! Under systemd (`JOURNAL_STREAM` set) journald adds its own timestamps,
//! so the text format leaves them out; `--log-format json` is for other
//! collectors. Secrets never reach a log line: every secret is a
//! [`crate::credentials::Secret`], whose `Debug` and `Display` redact.

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Install the global subscriber. `RUST_LOG` overrides `level`. Calling it
/// twice is harmless (the second call is ignored), which keeps tests simple.
pub fn init(level: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true);
    let _ = match (format, journald) {
        (LogFormat::Json, _) => builder.json().try_init(),
        (LogFormat::Text, true) => builder.without_time().with_ansi(false).try_init(),
        (LogFormat::Text, false) => builder.with_ansi(false).try_init(),
    };
}
