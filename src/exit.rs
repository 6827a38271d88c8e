//! Process exit codes: sysexits for the tools, Nagios codes for `--once`.
//!
//! The Nagios codes (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN) come from
//! [`crate::outcome::Status::exit_code`]; these are the others, shared by
//! the CLI and the daemon.

/// Bad command-line usage (sysexits EX_USAGE).
pub const USAGE: u8 = 64;
/// Bad input data on stdin (EX_DATAERR).
pub const DATA: u8 = 65;
/// Internal error (EX_SOFTWARE).
pub const SOFTWARE: u8 = 70;
/// Cannot bind or write what is needed (EX_IOERR).
pub const IO: u8 = 74;
/// Configuration error (EX_CONFIG); systemd's RestartPreventExitStatus.
pub const CONFIG: u8 = 78;
