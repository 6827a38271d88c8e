//! The `ses-probe` binary: everything lives in the library; this only turns
//! its result into the process exit code.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(ses_probe::cli::main())
}
