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

/// Libraries whose debug and trace output can carry credential material
/// (request headers with session tokens, SigV4 canonical requests, SMTP
/// wire logs with AUTH payloads). They are capped at `info` whatever level
/// is asked for, so "no secret in logs at any level" holds by construction.
const CAPPED: &[&str] = &[
    "aws_config",
    "aws_credential_types",
    "aws_sigv4",
    "aws_smithy_http_client",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_types",
    "aws_runtime",
    "aws_sdk_sesv2",
    "aws_sdk_sts",
    "h2",
    "hyper",
    "hyper_util",
    "lettre",
    "rustls",
    "tokio_rustls",
];

/// The filter for `level` (or `RUST_LOG`), with [`CAPPED`] applied.
pub fn filter(level: &str) -> EnvFilter {
    let mut filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    for target in CAPPED {
        if let Ok(d) = format!("{target}=info").parse() {
            filter = filter.add_directive(d);
        }
    }
    filter
}

/// Install the global subscriber. `RUST_LOG` overrides `level`. Calling it
/// twice is harmless (the second call is ignored), which keeps tests simple.
pub fn init(level: &str, format: LogFormat) {
    let filter = filter(level);
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
