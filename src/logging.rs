//! Structured logs on stderr, shaped for where they end up.
//!
//! Under systemd (`JOURNAL_STREAM` set) journald adds its own timestamps,
//! so the text format leaves them out, and each line starts with its
//! syslog priority (`<3>` error ... `<7>` debug) for `journalctl -p`;
//! `--log-format json` is for other collectors. Secrets never reach a log line: every secret is a
//! [`crate::credentials::Secret`], whose `Debug` and `Display` redact.

use clap::ValueEnum;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Libraries whose debug and trace output can carry credential material
/// (request headers with session tokens, SigV4 canonical requests, SMTP
/// wire logs with AUTH payloads). They are capped at `info` whatever level
/// or `RUST_LOG` directive is asked for (see [`cap`]), so "no secret in
/// logs at any level" holds by construction.
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

/// The filter for `level` (or `RUST_LOG`), as parsed; [`cap`] is applied
/// on top of it, never inside it.
pub fn filter(level: &str) -> EnvFilter {
    EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"))
}

/// [`CAPPED`] at `info`, everything else let through: a second filter that
/// an event must also pass. Being separate from [`filter`], no directive
/// in `RUST_LOG` (`aws_sigv4=trace`, `aws_sigv4::sign=trace`,
/// `[span]=trace`) can lift it.
pub fn cap() -> Targets {
    CAPPED
        .iter()
        .fold(Targets::new().with_default(LevelFilter::TRACE), |t, c| {
            t.with_target(*c, LevelFilter::INFO)
        })
}

/// Whether stderr goes to the journal: systemd sets `JOURNAL_STREAM` for a
/// service whose output it connects there.
fn journald() -> bool {
    std::env::var_os("JOURNAL_STREAM").is_some()
}

/// The syslog priority prefix journald reads at the start of a line
/// (sd-daemon(3)), so that `journalctl -p err` finds errors.
fn priority(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "<3>",
        Level::WARN => "<4>",
        Level::INFO => "<6>",
        _ => "<7>",
    }
}

/// A formatter that puts [`priority`] before every line of an event.
struct WithPriority<F>(F);

impl<S, N, F> FormatEvent<S, N> for WithPriority<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        let prefix = priority(event.metadata().level());
        for l in line.lines() {
            writeln!(writer, "{prefix}{l}")?;
        }
        Ok(())
    }
}

/// Install the global subscriber. `RUST_LOG` overrides `level`; [`CAPPED`]
/// holds whatever it says. Calling it twice is harmless (the second call is
/// ignored), which keeps tests simple.
pub fn init(level: &str, format: LogFormat) {
    let journald = journald();
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(true)
        .with_ansi(false);
    let layer: Box<dyn Layer<_> + Send + Sync> = match (format, journald) {
        (LogFormat::Json, false) => fmt.json().boxed(),
        (LogFormat::Json, true) => {
            let fmt = fmt.json();
            let inner = tracing_subscriber::fmt::format().json();
            fmt.event_format(WithPriority(inner)).boxed()
        }
        (LogFormat::Text, true) => fmt
            .event_format(WithPriority(
                tracing_subscriber::fmt::format()
                    .without_time()
                    .with_ansi(false),
            ))
            .boxed(),
        (LogFormat::Text, false) => fmt.boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(filter(level))
        .with(cap())
        .with(layer)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_holds_whatever_rust_log_says() {
        let cap = cap();
        for target in ["aws_sigv4", "aws_sigv4::sign", "hyper::proto", "lettre"] {
            assert!(!cap.would_enable(target, &Level::DEBUG), "{target}");
            assert!(!cap.would_enable(target, &Level::TRACE), "{target}");
            assert!(cap.would_enable(target, &Level::INFO), "{target}");
        }
        assert!(cap.would_enable("ses_probe::checks", &Level::TRACE));
    }

    #[test]
    fn priorities_are_syslog_levels() {
        assert_eq!(priority(&Level::ERROR), "<3>");
        assert_eq!(priority(&Level::WARN), "<4>");
        assert_eq!(priority(&Level::INFO), "<6>");
        assert_eq!(priority(&Level::DEBUG), "<7>");
        assert_eq!(priority(&Level::TRACE), "<7>");
    }
}
