//! Command-line interface: argument definitions and dispatch.
//!
//! `main.rs` calls [`main`] and exits with the code it returns. Every
//! subcommand returns an [`ExitCode`]-like `u8`; nothing below here calls
//! `process::exit`, so the library can be driven from tests.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use std::ffi::OsString;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::config::{self, Env, Source};
use crate::credentials::{self, Secret, SecretShape};
use crate::diagnosis::Channel;
use crate::exit;
use crate::outcome::{CheckKind, Status};
use crate::report::{Report, Thresholds};

/// `--version`: the version, the revision it was built from and the
/// compiler, so a bug report names the build exactly.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (revision ",
    env!("SES_PROBE_BUILD_REVISION"),
    ", rustc ",
    env!("SES_PROBE_RUSTC_VERSION"),
    ")"
);

/// The environment variable `--config` falls back to.
const CONFIG_ENV: &str = "SES_PROBE_CONFIG";

#[derive(Debug, Parser)]
#[command(
    name = "ses-probe",
    version = VERSION,
    about = "Checks that Amazon SES credentials and access work, and says why not when they don't.",
    long_about = None,
    after_help = "With no subcommand, runs the exporter daemon (`run`); with --once, runs every check once (`check`).\nEach subcommand takes the options it uses: `ses-probe SUBCOMMAND --help`."
)]
pub struct Cli {
    #[command(flatten)]
    pub config: ConfigArg,

    /// Run every check once, print a report and exit with a Nagios code (same as `check`).
    #[arg(long)]
    pub once: bool,

    #[command(flatten)]
    pub output: OutputArg,

    #[command(flatten)]
    pub filter: Filter,

    #[command(flatten)]
    pub log: LogArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// `--config`, for the commands that read the configuration. Given both
/// before and after the subcommand, the later one wins.
#[derive(Clone, Debug, Default, Args)]
pub struct ConfigArg {
    /// Config file (default: $SES_PROBE_CONFIG, else /etc/ses-probe/ses-probe.toml if it exists,
    /// else one target built from the environment).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `--output`, for the commands that print a report.
#[derive(Clone, Debug, Default, Args)]
pub struct OutputArg {
    /// Report format [default: text].
    #[arg(long, short = 'o', value_enum)]
    pub output: Option<Output>,
}

/// `--log-level` and `--log-format`, for the commands that log.
#[derive(Clone, Debug, Default, Args)]
pub struct LogArgs {
    /// Log level (error, warn, info, debug, trace); RUST_LOG overrides.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,

    /// Log format on stderr [default: text]. `text` drops timestamps under journald.
    #[arg(long, value_enum)]
    pub log_format: Option<crate::logging::LogFormat>,
}

/// What a single pass runs: a Nagios service per target or per check.
#[derive(Clone, Debug, Default, Args)]
pub struct Filter {
    /// Run only this target (repeatable); an unknown name is a usage error.
    #[arg(long = "target", value_name = "NAME")]
    pub targets: Vec<String>,

    /// Run only this check (repeatable).
    #[arg(long = "check", value_enum, value_name = "CHECK")]
    pub checks: Vec<CheckArg>,
}

/// `--check`: the command-line spelling of [`CheckKind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CheckArg {
    Smtp,
    Identity,
    Account,
    Permissions,
    Sender,
    Send,
}

impl CheckArg {
    /// The argument naming `kind`: exhaustive, so a new check cannot be
    /// added without its `--check` spelling.
    fn of(kind: CheckKind) -> CheckArg {
        match kind {
            CheckKind::Smtp => CheckArg::Smtp,
            CheckKind::Identity => CheckArg::Identity,
            CheckKind::Account => CheckArg::Account,
            CheckKind::Permissions => CheckArg::Permissions,
            CheckKind::Sender => CheckArg::Sender,
            CheckKind::Send => CheckArg::Send,
        }
    }
}

impl Filter {
    fn is_empty(&self) -> bool {
        self.targets.is_empty() && self.checks.is_empty()
    }

    fn wants(&self, kind: CheckKind) -> bool {
        self.checks.is_empty() || self.checks.contains(&CheckArg::of(kind))
    }

    /// Keep only the selected targets and checks of `plan`. A name that is
    /// no target, or a selection that leaves nothing to run, is an error
    /// (a Nagios service that checks nothing would always say OK).
    pub fn apply(&self, plan: &mut config::Plan) -> Result<(), String> {
        for name in &self.targets {
            if !plan.targets.iter().any(|t| &t.name == name) {
                return Err(format!(
                    "--target {name}: no such target (configured: {})",
                    plan.targets
                        .iter()
                        .map(|t| t.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        if self.is_empty() {
            return Ok(());
        }
        plan.targets
            .retain(|t| self.targets.is_empty() || self.targets.contains(&t.name));
        for t in &mut plan.targets {
            let t = std::sync::Arc::make_mut(t);
            if !self.wants(CheckKind::Smtp) {
                t.smtp = None;
            }
            if let Some(api) = &mut t.api {
                api.identity &= self.wants(CheckKind::Identity);
                api.account &= self.wants(CheckKind::Account);
                if !self.wants(CheckKind::Send) {
                    api.send = None;
                }
            }
            if let Some(c) = t.checks().iter().find(|c| !self.wants(c.kind())) {
                return Err(format!(
                    "--check cannot leave out the {} check yet",
                    c.kind().as_str()
                ));
            }
        }
        plan.targets.retain(|t| !t.checks().is_empty());
        if plan.targets.is_empty() {
            return Err("the --target/--check selection leaves no check to run".to_owned());
        }
        Ok(())
    }
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
        #[command(flatten)]
        config: ConfigArg,
        /// Address to serve /metrics on; overrides `server.listen` (also across reloads).
        #[arg(long = "web.listen-address", value_name = "ADDR:PORT")]
        listen: Option<std::net::SocketAddr>,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Run every configured check once, print a report, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    Check {
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        output: OutputArg,
        #[command(flatten)]
        filter: Filter,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Validate the config; print every problem and exit 78 if there are any.
    CheckConfig {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Classify a pasted error message or log line (TEXT, or stdin).
    Explain {
        /// The text to classify; read from stdin when absent.
        text: Option<String>,
        /// Where the text came from, when known.
        #[arg(long, value_enum)]
        channel: Option<ChannelArg>,
        #[command(flatten)]
        output: OutputArg,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Summarise a Postfix log (FILE, or stdin with `-`): delivery attempts per relay, status and class, with a sample line each.
    PostfixReport {
        /// The log file; `-` or nothing reads stdin.
        file: Option<PathBuf>,
        #[command(flatten)]
        output: OutputArg,
        #[command(flatten)]
        log: LogArgs,
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
    /// Write the man page or shell completions, generated from these definitions (for packagers).
    #[command(hide = true)]
    Generate {
        #[command(subcommand)]
        what: Generate,
    },
}

/// `generate`: documentation generated from the argument definitions.
#[derive(Debug, Subcommand)]
pub enum Generate {
    /// The man page, ses-probe(1).
    Man {
        /// Write DIR/ses-probe.1 instead of printing it.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// A shell's completion script.
    Completions {
        shell: ShellArg,
        /// Write the script into DIR (under its usual file name) instead of printing it.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// The man page and every completion script into DIR.
    All {
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
}

/// The shells completions are generated for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ShellArg {
    Bash,
    Zsh,
    Fish,
}

impl ShellArg {
    const ALL: [ShellArg; 3] = [ShellArg::Bash, ShellArg::Zsh, ShellArg::Fish];

    fn shell(self) -> clap_complete::Shell {
        match self {
            ShellArg::Bash => clap_complete::Shell::Bash,
            ShellArg::Zsh => clap_complete::Shell::Zsh,
            ShellArg::Fish => clap_complete::Shell::Fish,
        }
    }
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
    main_from(std::env::args_os().collect())
}

/// Parse `args` (the program name first) and run; returns the exit code.
pub fn main_from(args: Vec<OsString>) -> u8 {
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ if nagios_mode(&args) => {
                    // Nagios shows stdout's first line: say why there.
                    let first = e.to_string();
                    let first = first.lines().next().unwrap_or("usage error");
                    let first = first.strip_prefix("error: ").unwrap_or(first);
                    let _ = print_stdout(&format!("SES-PROBE UNKNOWN - usage: {first}\n"));
                    Status::Unknown.exit_code()
                }
                _ => exit::USAGE,
            };
            let _ = e.print();
            return code;
        }
    };
    run(cli)
}

/// Whether a command line that does not parse was meant for a Nagios-style
/// run (`--once` or `check`): a plugin's usage error is UNKNOWN (3), not
/// the sysexits code the other subcommands use.
fn nagios_mode(args: &[OsString]) -> bool {
    if args.iter().skip(1).any(|a| a == "--once") {
        return true;
    }
    Cli::command()
        .ignore_errors(true)
        .try_get_matches_from(args)
        .is_ok_and(|m| m.subcommand_name() == Some("check"))
}

/// The options given before the subcommand.
struct TopLevel {
    config: ConfigArg,
    output: OutputArg,
    filter: Filter,
    log: LogArgs,
}

impl TopLevel {
    /// The options given, by their flag.
    fn given(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for (flag, given) in [
            ("--config", self.config.config.is_some()),
            ("--output", self.output.output.is_some()),
            ("--target", !self.filter.targets.is_empty()),
            ("--check", !self.filter.checks.is_empty()),
            ("--log-level", self.log.log_level.is_some()),
            ("--log-format", self.log.log_format.is_some()),
        ] {
            if given {
                out.push(flag);
            }
        }
        out
    }

    /// Hand the options given before `command` to it; the ones given after
    /// the subcommand win. An option the subcommand does not take is an
    /// error, not silently ignored.
    fn into(self, mut command: Command) -> Result<Command, String> {
        let (name, takes): (&str, &[&str]) = match &command {
            Command::Run { .. } => ("run", &["--config", "--log-level", "--log-format"]),
            Command::Check { .. } => (
                "check",
                &[
                    "--config",
                    "--output",
                    "--target",
                    "--check",
                    "--log-level",
                    "--log-format",
                ],
            ),
            Command::CheckConfig { .. } => ("check-config", &["--config"]),
            Command::Explain { .. } => ("explain", &["--output", "--log-level", "--log-format"]),
            Command::PostfixReport { .. } => (
                "postfix-report",
                &["--output", "--log-level", "--log-format"],
            ),
            Command::DeriveSmtpPassword { .. } => ("derive-smtp-password", &[]),
            Command::Generate { .. } => ("generate", &[]),
        };
        if let Some(flag) = self.given().into_iter().find(|f| !takes.contains(f)) {
            return Err(format!("{flag} does not apply to `{name}`"));
        }
        fn or<T>(later: &mut Option<T>, earlier: Option<T>) {
            if later.is_none() {
                *later = earlier;
            }
        }
        let log_into = |log: &mut LogArgs, top: LogArgs| {
            or(&mut log.log_level, top.log_level);
            or(&mut log.log_format, top.log_format);
        };
        match &mut command {
            Command::Run { config, log, .. } => {
                or(&mut config.config, self.config.config);
                log_into(log, self.log);
            }
            Command::Check {
                config,
                output,
                filter,
                log,
            } => {
                or(&mut config.config, self.config.config);
                or(&mut output.output, self.output.output);
                let mut targets = self.filter.targets;
                targets.append(&mut filter.targets);
                filter.targets = targets;
                let mut checks = self.filter.checks;
                checks.append(&mut filter.checks);
                filter.checks = checks;
                log_into(log, self.log);
            }
            Command::CheckConfig { config } => or(&mut config.config, self.config.config),
            Command::Explain { output, log, .. } | Command::PostfixReport { output, log, .. } => {
                or(&mut output.output, self.output.output);
                log_into(log, self.log);
            }
            Command::DeriveSmtpPassword { .. } | Command::Generate { .. } => {}
        }
        Ok(command)
    }
}

/// `--config`, else `$SES_PROBE_CONFIG`.
fn config_path(c: &ConfigArg) -> Option<PathBuf> {
    c.config.clone().or_else(|| {
        std::env::var_os(CONFIG_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> u8 {
    let Cli {
        config,
        once: once_flag,
        output,
        filter,
        log,
        command,
    } = cli;
    let nagios = once_flag || matches!(command, Some(Command::Check { .. }));
    let top = TopLevel {
        config,
        output,
        filter,
        log,
    };
    let command = match (once_flag, command) {
        (true, None) => Ok(Command::Check {
            config: top.config,
            output: top.output,
            filter: top.filter,
            log: top.log,
        }),
        (true, Some(c @ Command::Check { .. })) => top.into(c),
        (true, Some(_)) => Err("--once cannot be combined with another subcommand".to_owned()),
        (false, None) => {
            // The daemon, as `run`: the --once options are for --once.
            let top_run = TopLevel {
                config: ConfigArg::default(),
                ..top
            };
            match top_run.given().first() {
                Some(flag) => Err(format!(
                    "{flag} applies to --once or `check`, not to the daemon"
                )),
                None => Ok(Command::Run {
                    config: top.config,
                    listen: None,
                    log: top_run.log,
                }),
            }
        }
        (false, Some(c)) => top.into(c),
    };
    let command = match command {
        Ok(c) => c,
        Err(message) => {
            say!("error: {message}");
            if nagios {
                let _ = print_stdout(&format!("SES-PROBE UNKNOWN - usage: {message}\n"));
                return Status::Unknown.exit_code();
            }
            return exit::USAGE;
        }
    };
    let log = match &command {
        Command::Run { log, .. }
        | Command::Check { log, .. }
        | Command::Explain { log, .. }
        | Command::PostfixReport { log, .. } => log.clone(),
        _ => LogArgs::default(),
    };
    let default_level = match command {
        Command::Run { .. } => "info",
        _ => "warn",
    };
    crate::logging::init(
        log.log_level.as_deref().unwrap_or(default_level),
        log.log_format.unwrap_or(crate::logging::LogFormat::Text),
    );
    match command {
        Command::Explain {
            text,
            channel,
            output,
            ..
        } => explain(
            text.as_deref(),
            channel.map(Channel::from),
            output.output.unwrap_or(Output::Text),
        ),
        Command::DeriveSmtpPassword { region, legacy_v2 } => derive(region.as_deref(), legacy_v2),
        Command::CheckConfig { config } => check_config(config_path(&config).as_deref()),
        Command::PostfixReport { file, output, .. } => {
            postfix_report(file.as_deref(), output.output.unwrap_or(Output::Text))
        }
        Command::Check {
            config,
            output,
            filter,
            ..
        } => {
            let path = config_path(&config);
            let output = output.output.unwrap_or(Output::Text);
            with_runtime(|| once(path.as_deref(), output, &filter))
        }
        Command::Run { config, listen, .. } => {
            let source = Source::find(config_path(&config).as_deref());
            with_runtime(|| crate::daemon::main(source, listen))
        }
        Command::Generate { what } => generate(what),
    }
}

/// `generate`: the man page and completion scripts, from the same
/// definitions that parse the command line, so they cannot drift.
fn generate(what: Generate) -> u8 {
    use clap::CommandFactory;
    fn write(dir: Option<&Path>, name: &str, bytes: &[u8]) -> Result<(), u8> {
        match dir {
            None => {
                let mut out = std::io::stdout().lock();
                match out.write_all(bytes).and_then(|()| out.flush()) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                    Err(e) => {
                        say!("error: writing to stdout: {e}");
                        Err(exit::IO)
                    }
                }
            }
            Some(dir) => {
                let path = dir.join(name);
                std::fs::create_dir_all(dir)
                    .and_then(|()| std::fs::write(&path, bytes))
                    .map_err(|e| {
                        say!("error: writing {}: {e}", path.display());
                        exit::IO
                    })
            }
        }
    }
    let man = |dir: Option<&Path>| {
        let mut buf = Vec::new();
        clap_mangen::Man::new(Cli::command())
            .render(&mut buf)
            .map_err(|e| {
                say!("error: rendering the man page: {e}");
                exit::SOFTWARE
            })?;
        write(dir, "ses-probe.1", &buf)
    };
    let completions = |shell: ShellArg, dir: Option<&Path>| {
        let mut buf = Vec::new();
        let mut cmd = Cli::command();
        clap_complete::generate(shell.shell(), &mut cmd, "ses-probe", &mut buf);
        let name = match shell {
            ShellArg::Bash => "ses-probe",
            ShellArg::Zsh => "_ses-probe",
            ShellArg::Fish => "ses-probe.fish",
        };
        write(dir, name, &buf)
    };
    let result = match what {
        Generate::Man { dir } => man(dir.as_deref()),
        Generate::Completions { shell, dir } => completions(shell, dir.as_deref()),
        Generate::All { dir } => man(Some(&dir)).and_then(|()| {
            ShellArg::ALL
                .iter()
                .try_for_each(|s| completions(*s, Some(&dir)))
        }),
    };
    match result {
        Ok(()) => 0,
        Err(code) => code,
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

/// An UNKNOWN result before any check ran (a config or usage error), in
/// the chosen format; `errors` are the lines that say why.
fn unknown(output: Output, headline: &str, errors: &[String]) -> u8 {
    let text = match output {
        Output::Text => format!("SES-PROBE UNKNOWN - {headline}\n{}\n", errors.join("\n")),
        Output::Json => {
            let v = serde_json::json!({
                "status": "unknown",
                "exit_code": Status::Unknown.exit_code(),
                "targets": [],
                "errors": errors,
            });
            format!("{}\n", serde_json::to_string_pretty(&v).expect("json"))
        }
    };
    let _ = print_stdout(&text);
    Status::Unknown.exit_code()
}

async fn once(config: Option<&Path>, output: Output, filter: &Filter) -> u8 {
    let mut plan = match config::load(&Source::find(config), &Env::from_process()).await {
        Ok(plan) => plan,
        Err(e) => {
            // Nagios: a probe that cannot run is UNKNOWN.
            let errors: Vec<String> = e.issues.iter().map(|i| i.to_string()).collect();
            return unknown(output, "configuration error", &errors);
        }
    };
    if let Err(message) = filter.apply(&mut plan) {
        say!("error: {message}");
        return unknown(
            output,
            &format!("usage: {message}"),
            std::slice::from_ref(&message),
        );
    }
    let warnings: Vec<String> = plan.warnings.iter().map(|w| w.to_string()).collect();
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let mut report = Report::new(crate::scheduler::run_once(&plan).await, warnings);
    for t in &mut report.targets {
        if let Some(target) = plan.targets.iter().find(|p| p.name == t.name) {
            t.thresholds = Thresholds {
                certificate_expiry_warning: target
                    .smtp
                    .as_ref()
                    .map(|s| s.certificate_expiry_warning),
                quota_warning_ratio: target.api.as_ref().map(|a| a.quota_warning_ratio),
            };
        }
    }
    if let Some(log) = &plan.postfix_log {
        let router = plan.relays();
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
