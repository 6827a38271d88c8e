//! Command-line interface: argument definitions and dispatch.
//!
//! `main.rs` calls [`main`] and exits with the code it returns. Every
//! subcommand returns an [`ExitCode`]-like `u8`; nothing below here calls
//! `process::exit`, so the library can be driven from tests.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{self, Env, Source};
use crate::credentials::{self, Secret, SecretShape};
use crate::diagnosis::Channel;
use crate::exit;
use crate::outcome::Status;
use crate::report::Report;

#[derive(Debug, Parser)]
#[command(
    name = "ses-probe",
    version,
    about = "Checks that Amazon SES credentials and access work, and says why not when they don't.",
    long_about = None,
    after_help = "With no subcommand, runs the exporter daemon (`run`); with --once, runs every check once (`check`)."
)]
pub struct Cli {
    /// Config file (default: $SES_PROBE_CONFIG, else /etc/ses-probe/ses-probe.toml if it exists,
    /// else one target built from the environment).
    #[arg(long, short = 'c', global = true, env = "SES_PROBE_CONFIG")]
    pub config: Option<PathBuf>,

    /// Run every check once, print a report and exit with a Nagios code (same as `check`).
    #[arg(long)]
    pub once: bool,

    /// Report format for --once.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Text, global = true)]
    pub output: Output,

    /// Log level (error, warn, info, debug, trace); RUST_LOG overrides.
    #[arg(long, global = true)]
    pub log_level: Option<String>,

    /// Log format on stderr. `text` drops timestamps under journald.
    #[arg(long, value_enum, default_value_t = crate::logging::LogFormat::Text, global = true)]
    pub log_format: crate::logging::LogFormat,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// `--channel`: the command-line spelling of [`Channel`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ChannelArg {
    Smtp,
    Api,
    Sts,
}

impl From<ChannelArg> for Channel {
    fn from(c: ChannelArg) -> Channel {
        match c {
            ChannelArg::Smtp => Channel::Smtp,
            ChannelArg::Api => Channel::Api,
            ChannelArg::Sts => Channel::Sts,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the exporter daemon: scheduled checks, /metrics, reload on SIGHUP.
    Run {
        /// Address to serve /metrics on; overrides `server.listen` (also across reloads).
        #[arg(long = "web.listen-address", value_name = "ADDR:PORT")]
        listen: Option<std::net::SocketAddr>,
    },
    /// Run every configured check once, print a report, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    Check,
    /// Validate the config; print every problem and exit 78 if there are any.
    CheckConfig,
    /// Classify a pasted error message or log line (TEXT, or stdin).
    Explain {
        /// The text to classify; read from stdin when absent.
        text: Option<String>,
        /// Where the text came from, when known.
        #[arg(long, value_enum)]
        channel: Option<ChannelArg>,
    },
    /// Summarise a Postfix log (FILE, or stdin with `-`): delivery attempts per relay, status and class, with a sample line each.
    PostfixReport {
        /// The log file; `-` or nothing reads stdin.
        file: Option<PathBuf>,
    },
    /// Derive the SES SMTP password from a secret access key read on stdin.
    DeriveSmtpPassword {
        /// The region the password is for (v4 passwords are per region).
        #[arg(long, required_unless_present = "legacy_v2")]
        region: Option<String>,
        /// Derive the legacy, region-independent v2 password instead.
        #[arg(long)]
        legacy_v2: bool,
    },
}

/// Print to stderr; a closed stderr is ignored (there is nowhere to say so).
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

/// Print `text` to stdout. A closed stdout (`... | head -c1`) ends the
/// output quietly, the way Unix tools stop, and is not an error; any other
/// write error is reported and gives [`exit::IO`].
fn print_stdout(text: &str) -> Result<(), u8> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => {
            say!("error: writing to stdout: {e}");
            Err(exit::IO)
        }
    }
}

/// Parse the process arguments and run; returns the exit code.
pub fn main() -> u8 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => exit::USAGE,
            };
            let _ = e.print();
            return code;
        }
    };
    run(cli)
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> u8 {
    let command = match (cli.once, cli.command.as_ref()) {
        (true, None | Some(Command::Check)) => Some(&Command::Check),
        (true, Some(_)) => {
            say!("error: --once cannot be combined with another subcommand");
            return exit::USAGE;
        }
        (false, c) => c,
    };
    let default_level = match command {
        None | Some(Command::Run { .. }) => "info",
        _ => "warn",
    };
    crate::logging::init(
        cli.log_level.as_deref().unwrap_or(default_level),
        cli.log_format,
    );
    match command {
        Some(Command::Explain { text, channel }) => {
            explain(text.as_deref(), channel.map(Channel::from), cli.output)
        }
        Some(Command::DeriveSmtpPassword { region, legacy_v2 }) => {
            derive(region.as_deref(), *legacy_v2)
        }
        Some(Command::CheckConfig) => check_config(cli.config.as_deref()),
        Some(Command::PostfixReport { file }) => postfix_report(file.as_deref(), cli.output),
        Some(Command::Check) => with_runtime(|| once(cli.config.as_deref(), cli.output)),
        None | Some(Command::Run { .. }) => {
            let source = Source::find(cli.config.as_deref());
            let listen = match command {
                Some(Command::Run { listen }) => *listen,
                _ => None,
            };
            with_runtime(|| crate::daemon::main(source, listen))
        }
    }
}

fn with_runtime<F, Fut>(f: F) -> u8
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = u8>,
{
    // Two workers are plenty for a prober and keep idle memory small.
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(f()),
        Err(e) => {
            say!("error: cannot start the async runtime: {e}");
            exit::SOFTWARE
        }
    }
}

async fn once(config: Option<&Path>, output: Output) -> u8 {
    let plan = match config::load(&Source::find(config), &Env::from_process()).await {
        Ok(plan) => plan,
        Err(e) => {
            // Nagios: a probe that cannot run is UNKNOWN.
            let text = match output {
                Output::Text => format!("SES-PROBE UNKNOWN - configuration error\n{e}\n"),
                Output::Json => {
                    let v = serde_json::json!({
                        "status": "unknown",
                        "exit_code": Status::Unknown.exit_code(),
                        "targets": [],
                        "errors": e.issues.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
                    });
                    format!("{}\n", serde_json::to_string_pretty(&v).expect("json"))
                }
            };
            let _ = print_stdout(&text);
            return Status::Unknown.exit_code();
        }
    };
    let warnings: Vec<String> = plan.warnings.iter().map(|w| w.to_string()).collect();
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let mut report = Report::new(crate::scheduler::run_once(&plan).await, warnings);
    if let Some(log) = &plan.postfix_log {
        let router = crate::postfix::report::Router::new(
            plan.targets
                .iter()
                .filter_map(|t| {
                    t.smtp
                        .as_ref()
                        .map(|s| (t.name.clone(), s.host.clone(), s.port))
                })
                .collect(),
        );
        let (source, window) = (log.source.clone(), log.window);
        report.postfix = tokio::task::spawn_blocking(move || {
            crate::postfix::report::Recent::read(&source, window, &router)
        })
        .await
        .ok();
    }
    let text = match output {
        Output::Text => report.to_text(),
        Output::Json => report.to_json(),
    };
    if let Err(code) = print_stdout(&format!("{}\n", text.trim_end())) {
        return code;
    }
    report.exit_code
}

fn check_config(config: Option<&Path>) -> u8 {
    let path = match Source::find(config) {
        Source::File(p) => p,
        Source::Environment => {
            say!(
                "error: no config file: pass --config or create {} (without one, --once builds a target from the environment)",
                config::DEFAULT_CONFIG_PATH
            );
            return exit::CONFIG;
        }
    };
    match config::load_file(&path, &Env::from_process()) {
        Ok(plan) => {
            for w in &plan.warnings {
                say!("warning: {w}");
            }
            let line = format!(
                "{}: OK, {} target(s): {}\n",
                path.display(),
                plan.targets.len(),
                plan.targets
                    .iter()
                    .map(|t| format!(
                        "{} [{}]",
                        t.name,
                        t.checks()
                            .iter()
                            .map(|c| c.kind().as_str())
                            .collect::<Vec<_>>()
                            .join(",")
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            match print_stdout(&line) {
                Ok(()) => 0,
                Err(code) => code,
            }
        }
        Err(e) => {
            for issue in &e.issues {
                say!("error: {issue}");
            }
            say!("{}: {} problem(s)", path.display(), e.issues.len());
            exit::CONFIG
        }
    }
}

fn postfix_report(file: Option<&Path>, output: Output) -> u8 {
    use crate::postfix::report::Summary;
    let summary = match file {
        Some(p) if p != Path::new("-") => std::fs::File::open(p).and_then(Summary::read),
        _ => Summary::read(std::io::stdin().lock()),
    };
    let summary = match summary {
        Ok(s) => s,
        Err(e) => {
            let name = file.map_or("stdin".into(), |p| p.display().to_string());
            say!("error: {name}: {e}");
            return exit::IO;
        }
    };
    let text = match output {
        Output::Text => summary.to_text(),
        Output::Json => summary.to_json(),
    };
    match print_stdout(&format!("{}\n", text.trim_end())) {
        Ok(()) => 0,
        Err(code) => code,
    }
}

/// Most `explain` reads from stdin: nobody pastes more than a mebibyte of
/// log, and a bigger file is read only that far.
const EXPLAIN_LIMIT: usize = 1 << 20;

/// Read stdin up to `limit` bytes, decoded lossily: a text cut inside a
/// UTF-8 character or holding Latin-1 bytes is still a text to classify.
/// The flag says whether there was more.
fn read_stdin_lossy(limit: usize) -> std::io::Result<(String, bool)> {
    let mut buf = Vec::new();
    std::io::stdin()
        .lock()
        .take(limit as u64 + 1)
        .read_to_end(&mut buf)?;
    let cut = buf.len() > limit;
    buf.truncate(limit);
    Ok((String::from_utf8_lossy(&buf).into_owned(), cut))
}

fn explain(text: Option<&str>, channel: Option<Channel>, output: Output) -> u8 {
    let owned;
    let text = match text {
        Some(t) if t != "-" => t,
        _ => {
            if std::io::stdin().is_terminal() {
                say!("Paste the error text, then press Ctrl-D:");
            }
            owned = match read_stdin_lossy(EXPLAIN_LIMIT) {
                Ok((t, cut)) => {
                    if cut {
                        say!("warning: only the first {EXPLAIN_LIMIT} bytes of the input are read");
                    }
                    t
                }
                Err(e) => {
                    say!("error: reading stdin: {e}");
                    return exit::IO;
                }
            };
            &owned
        }
    };
    if text.trim().is_empty() {
        say!("error: nothing to explain: pass the text as an argument or on stdin");
        return exit::USAGE;
    }
    // One record (a line and its indented continuations): today's verdict.
    // Several: a log, one verdict per failure line and a summary.
    let out = if crate::explain::records(text).len() <= 1 {
        let e = crate::explain::explain(text, channel);
        match output {
            Output::Text => e.to_text(),
            Output::Json => format!("{}\n", e.to_json()),
        }
    } else {
        let (verdicts, summary) = crate::explain::explain_log(text, channel);
        let mut out = String::new();
        for v in &verdicts {
            match output {
                Output::Text => out.push_str(&v.to_text()),
                Output::Json => {
                    out.push_str(&v.to_json_line());
                    out.push('\n');
                }
            }
        }
        match output {
            Output::Text => out.push_str(&summary.to_text()),
            Output::Json => {
                out.push_str(&summary.to_json_line());
                out.push('\n');
            }
        }
        out
    };
    match print_stdout(&out) {
        Ok(()) => 0,
        Err(code) => code,
    }
}

/// What is wrong with a would-be secret access key (40 characters of
/// base64), in its own words: the shape analysis speaks of SMTP passwords.
fn secret_key_problem(reason: &credentials::MalformedReason) -> String {
    use credentials::MalformedReason::*;
    match reason {
        WrongLength(n) => {
            format!("it is {n} characters long, not 40 (truncated or padded?)")
        }
        NotBase64 | UnknownVersion(_) => {
            "it is not 40 characters of letters, digits, + and /".to_owned()
        }
        other => other.to_string(),
    }
}

/// The region check of `derive-smtp-password`: the region name is signed
/// into the password as given, so it must be exactly an SES region.
fn check_region(r: &str) -> Result<(), String> {
    if crate::regions::SES_REGIONS.contains(&r) {
        return Ok(());
    }
    let lower = r.to_ascii_lowercase();
    if crate::regions::SES_REGIONS.contains(&lower.as_str()) {
        return Err(format!(
            "region names are case-sensitive in the derivation: use `{lower}`, not `{r}`"
        ));
    }
    Err(format!(
        "`{r}` is not an SES region; known regions: {}",
        crate::regions::SES_REGIONS.join(", ")
    ))
}

fn derive(region: Option<&str>, legacy_v2: bool) -> u8 {
    if let (false, Some(r)) = (legacy_v2, region) {
        if let Err(message) = check_region(r) {
            say!("error: {message}");
            return exit::USAGE;
        }
    }
    if std::io::stdin().is_terminal() {
        say!("Paste the secret access key, then press Enter:");
    }
    let mut bytes = Vec::new();
    if let Err(e) = std::io::stdin()
        .lock()
        .take(4096)
        .read_until(b'\n', &mut bytes)
    {
        say!("error: reading stdin: {e}");
        return exit::IO;
    }
    let Ok(line) = String::from_utf8(bytes) else {
        say!("error: the input is not text: a secret access key is 40 characters of letters, digits, + and /");
        return exit::DATA;
    };
    let secret = Secret::new(line.trim_end_matches(['\r', '\n']));
    match credentials::secret_shape(secret.expose()) {
        SecretShape::SecretAccessKey => {}
        SecretShape::SmtpPasswordV4 | SecretShape::SmtpPasswordV2 => {
            say!("error: the input is already an SES SMTP password, not a secret access key");
            return exit::DATA;
        }
        SecretShape::Malformed(credentials::MalformedReason::Empty) => {
            say!("error: no secret access key on stdin");
            return exit::DATA;
        }
        SecretShape::Malformed(reason) => {
            // Derivation is defined for any string; say what looks wrong.
            say!(
                "warning: this does not look like a secret access key: {}",
                secret_key_problem(&reason)
            );
        }
    }
    let password = match (legacy_v2, region) {
        (true, _) => credentials::derive_smtp_password_v2(&secret),
        (false, Some(r)) => {
            if crate::regions::REGIONS_WITHOUT_SMTP.contains(&r) {
                say!("warning: SES has no SMTP endpoint in {r}");
            }
            credentials::derive_smtp_password_v4(&secret, r)
        }
        (false, None) => {
            say!("error: --region is required for a v4 password");
            return exit::USAGE;
        }
    };
    // The one place a secret is printed: the user asked for it.
    match print_stdout(&format!("{}\n", password.expose())) {
        Ok(()) => 0,
        Err(code) => code,
    }
}
