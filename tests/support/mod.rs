//! Shared helpers for the end-to-end tests: running the binary, writing
//! configs, finding the Python test peers.

#![allow(dead_code)]

pub mod ca;
pub mod exporter;
pub mod fake_aws;
pub mod fake_smtp;
pub mod http;
pub mod moto;
pub mod postfix;
pub mod prometheus;
pub mod server;

pub use server::ServerThread;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// Path of the built `ses-probe` binary.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_ses-probe")
}

/// The result of one run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Run the binary with `args`, a clean environment plus `env`, optional
/// stdin, and a hard time limit so a hung child can never hang the suite.
pub fn run(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    run_in(args, env, stdin, Duration::from_secs(60))
}

/// The binary with `args` in a hermetic environment: nothing of the
/// caller's but PATH, no ~/.aws (unless `env` names config files), no
/// instance metadata; then `env` on top.
pub fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", "/nonexistent")
        .env("AWS_CONFIG_FILE", "/nonexistent/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// `ses-probe run --config CONFIG` as a child process; killed and reaped on
/// drop, so a failing assertion never leaves a daemon behind.
pub struct DaemonProcess {
    child: std::process::Child,
}

impl DaemonProcess {
    pub fn spawn(config: &Path, env: &[(&str, &str)]) -> DaemonProcess {
        DaemonProcess::spawn_args(&["run", "--config", config.to_str().unwrap()], env)
    }

    /// `ses-probe ARGS` as a daemon child process.
    pub fn spawn_args(args: &[&str], env: &[(&str, &str)]) -> DaemonProcess {
        let child = command(args, env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ses-probe run");
        DaemonProcess { child }
    }

    /// Send a signal (`HUP`, `TERM`, ...) with kill(1).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill(1)")
            .success();
        assert!(ok, "kill -{name} failed");
    }

    /// The exit status, if the process exits within `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let end = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return Some(status);
            }
            if std::time::Instant::now() > end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn run_in(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>, limit: Duration) -> Run {
    use std::io::Write;
    let mut cmd = command(args, env);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn ses-probe");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input.as_bytes()).expect("write stdin");
    }
    let deadline = std::time::Instant::now() + limit;
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("ses-probe {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("output");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Write `text` to `dir/name` (mode 0600) and return the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path
}

/// The Python virtualenv `.ci/test` installs the test peers into.
pub fn venv() -> PathBuf {
    let dir = std::env::var_os("SES_PROBE_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv"));
    assert!(
        dir.join("bin/python").exists(),
        "no Python test venv at {}: run the suite with `bash .ci/test`, which installs moto and aiosmtpd",
        dir.display()
    );
    dir
}

/// A TCP listener on 127.0.0.1 that counts the connections it receives;
/// proves that a check opened no connection.
pub struct ConnectionCounter {
    pub port: u16,
    count: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl ConnectionCounter {
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c = count.clone();
        std::thread::spawn(move || {
            // Bounded: the thread lives at most two minutes.
            let end = std::time::Instant::now() + Duration::from_secs(120);
            while std::time::Instant::now() < end {
                match listener.accept() {
                    Ok(_) => {
                        c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        ConnectionCounter { port, count }
    }

    pub fn connections(&self) -> usize {
        self.count.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Run `promtool check metrics` on an exposition; fails the test on any
/// problem it reports (lint findings included).
pub fn promtool_check_metrics(text: &str) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "promtool not found ({e}): run the suite with `bash .ci/test`, which installs it"
            )
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool check metrics:\n{report}\n--- input:\n{text}"
    );
}
