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
            eprintln!("error: --once cannot be combined with another subcommand");
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
            eprintln!("error: cannot start the async runtime: {e}");
            exit::SOFTWARE
        }
    }
}

async fn once(config: Option<&Path>, output: Output) -> u8 {
    let plan = match config::load(&Source::find(config), &Env::from_process()).await {
        Ok(plan) => plan,
        Err(e) => {
            // Nagios: a probe that cannot run is UNKNOWN.
            match output {
                Output::Text => println!("SES-PROBE UNKNOWN - configuration error\n{e}"),
                Output::Json => {
                    let v = serde_json::json!({
                        "status": "unknown",
                        "exit_code": Status::Unknown.exit_code(),
                        "targets": [],
                        "errors": e.issues.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
                    });
                    println!("{}", serde_json::to_string_pretty(&v).expect("json"));
                }
            }
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
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{}", text.trim_end()).is_err() {
        return exit::IO;
    }
    report.exit_code
}

fn check_config(config: Option<&Path>) -> u8 {
    let path = match Source::find(config) {
        Source::File(p) => p,
        Source::Environment => {
            eprintln!(
                "error: no config file: pass --config or create {} (without one, --once builds a target from the environment)",
                config::DEFAULT_CONFIG_PATH
            );
            return exit::CONFIG;
        }
    };
    match config::load_file(&path, &Env::from_process()) {
        Ok(plan) => {
            for w in &plan.warnings {
                eprintln!("warning: {w}");
            }
            println!(
                "{}: OK, {} target(s): {}",
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
            0
        }
        Err(e) => {
            for issue in &e.issues {
                eprintln!("error: {issue}");
            }
            eprintln!("{}: {} problem(s)", path.display(), e.issues.len());
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
            eprintln!("error: {name}: {e}");
            return exit::IO;
        }
    };
    let text = match output {
        Output::Text => summary.to_text(),
        Output::Json => summary.to_json(),
    };
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{}", text.trim_end()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => exit::IO,
        _ => 0,
    }
}

/// Read all of stdin, with a bound: nobody pastes megabytes of log.
fn read_stdin(limit: usize) -> std::io::Result<String> {
    let mut buf = String::new();
    std::io::stdin()
        .lock()
        .take(limit as u64)
        .read_to_string(&mut buf)?;
    Ok(buf)
}

fn explain(text: Option<&str>, channel: Option<Channel>, output: Output) -> u8 {
    let owned;
    let text = match text {
        Some(t) if t != "-" => t,
        _ => {
            if std::io::stdin().is_terminal() {
                eprintln!("Paste the error text, then press Ctrl-D:");
            }
            owned = match read_stdin(1 << 20) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: reading stdin: {e}");
                    return exit::IO;
                }
            };
            &owned
        }
    };
    if text.trim().is_empty() {
        eprintln!("error: nothing to explain: pass the text as an argument or on stdin");
        return exit::USAGE;
    }
    let e = crate::explain::explain(text, channel);
    match output {
        Output::Text => print!("{}", e.to_text()),
        Output::Json => println!("{}", e.to_json()),
    }
    0
}

fn derive(region: Option<&str>, legacy_v2: bool) -> u8 {
    if std::io::stdin().is_terminal() {
        eprintln!("Paste the secret access key, then press Enter:");
    }
    let mut line = String::new();
    if let Err(e) = std::io::stdin().lock().take(4096).read_line(&mut line) {
        eprintln!("error: reading stdin: {e}");
        return exit::IO;
    }
    let secret = Secret::new(line.trim_end_matches(['\r', '\n']));
    match credentials::secret_shape(secret.expose()) {
        SecretShape::SecretAccessKey => {}
        SecretShape::SmtpPasswordV4 | SecretShape::SmtpPasswordV2 => {
            eprintln!("error: the input is already an SES SMTP password, not a secret access key");
            return exit::DATA;
        }
        SecretShape::Malformed(credentials::MalformedReason::Empty) => {
            eprintln!("error: no secret access key on stdin");
            return exit::DATA;
        }
        SecretShape::Malformed(reason) => {
            // Derivation is defined for any string; say what looks wrong.
            eprintln!("warning: this does not look like a secret access key: {reason}");
        }
    }
    let password = match (legacy_v2, region) {
        (true, _) => credentials::derive_smtp_password_v2(&secret),
        (false, Some(r)) => {
            if crate::regions::REGIONS_WITHOUT_SMTP.contains(&r) {
                eprintln!("warning: SES has no SMTP endpoint in {r}");
            }
            credentials::derive_smtp_password_v4(&secret, r)
        }
        (false, None) => {
            eprintln!("error: --region is required for a v4 password");
            return exit::USAGE;
        }
    };
    // The one place a secret is printed: the user asked for it.
    println!("{}", password.expose());
    0
}
