//! The exporter daemon: scheduler + HTTP server + signals.

use std::path::PathBuf;

use crate::cli::exit;

/// Run the daemon until SIGTERM/SIGINT; returns the exit code.
pub async fn main(config: Option<PathBuf>) -> u8 {
    match crate::cli::load_plan(config.as_deref()).await {
        Ok(_) => {
            eprintln!("error: the daemon is not built yet; use --once");
            exit::SOFTWARE
        }
        Err(e) => {
            eprintln!("{e}");
            exit::CONFIG
        }
    }
}
