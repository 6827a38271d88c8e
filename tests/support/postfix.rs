//! A private Postfix instance (Debian's `postfix` package, 3.4 or later)
//! acting as an SES relay client, for tests that need Postfix's own log
//! lines.
//!
//! Isolation: everything lives in one temporary directory and every command
//! gets it through `-c DIR` / `-C DIR`: its own `config_directory`
//! (`main.cf`, `master.cf`, `sasl_passwd`), `queue_directory`,
//! `data_directory` and `maillog_file` (written by the instance's own
//! `postlogd`, so no syslog is needed). `master.cf` has no `inet` service at
//! all: nothing listens, only the client side runs. Local delivery goes to
//! `error`, `mydestination` is empty, bounces to the test sender's domain
//! are discarded, so the only connection the instance ever opens is to
//! `relayhost`. The system instance (`/etc/postfix`, `/var/spool/postfix`)
//! is never read, written or started.
//!
//! Mail goes in with `sendmail -C DIR`: Postfix refuses a non-default
//! configuration directory to set-gid programs (`postdrop`) unless the
//! default `main.cf` lists it in `alternate_config_directories`, but that
//! check is skipped when the caller is root (`mail_conf_suck()`: "geteuid()
//! != 0 → untrusted"), and the tests run as root. So `/etc/postfix` is left
//! alone (Debian's "No configuration" install does not even have a
//! `main.cf`).
//!
//! The guard stops the instance (`postfix -c DIR stop`, then SIGKILL to the
//! instance's `master` and its children if they are still there after a
//! few seconds) when dropped, also when a test panics.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Where Debian puts the Postfix commands; searched before PATH, which for
/// a non-root user often lacks /usr/sbin.
const SBIN: &[&str] = &["/usr/sbin", "/usr/bin", "/sbin"];

/// The path of a Postfix command (`postfix`, `sendmail`, `postqueue`...).
pub fn tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    SBIN.iter()
        .copied()
        .chain(path.split(':'))
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}

/// Why the Postfix tests cannot run here, if they cannot: Postfix is not
/// installed, or we are not root (a private instance's `master` must start
/// as root to drop to the `postfix` user).
pub fn unavailable() -> Option<String> {
    for name in ["postfix", "postconf", "sendmail"] {
        if tool(name).is_none() {
            return Some(format!(
                "`{name}` not found: Debian's `postfix` package is not installed (bash .ci/test installs it)"
            ));
        }
    }
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    if uid != "0" {
        return Some(format!(
            "not running as root (uid {uid}): a private Postfix master must start as root"
        ));
    }
    if Command::new("id")
        .arg("postfix")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        return Some("no `postfix` user: the postfix package is not set up".to_owned());
    }
    None
}

/// What the private instance is told.
pub struct PostfixConfig {
    /// `relayhost`, e.g. `[127.0.0.1]:2587`.
    pub relayhost: String,
    /// The `sasl_passwd` entry for the relay host: `user:password`, or
    /// `None` for an empty table.
    pub credentials: Option<String>,
    /// `main.cf` settings replacing (or added to) the defaults below.
    pub settings: Vec<(String, String)>,
    /// The whole `sasl_passwd` text, replacing the one-entry table.
    pub sasl_text: Option<String>,
    /// Compile the table with `postmap` as `hash:` (instead of reading it
    /// as `texthash:`); `true` also removes the text file afterwards, as
    /// some admins do.
    pub hash_map: Option<bool>,
}

impl PostfixConfig {
    /// Relay through `[127.0.0.1]:port` with `user` / `password`.
    pub fn relay(port: u16, user: &str, password: &str) -> PostfixConfig {
        PostfixConfig {
            relayhost: format!("[127.0.0.1]:{port}"),
            credentials: Some(format!("{user}:{password}")),
            settings: Vec::new(),
            sasl_text: None,
            hash_map: None,
        }
    }

    /// Relay through `[host]:port` (a name: Postfix resolves it with
    /// `smtp_host_lookup = native`, i.e. /etc/hosts, no DNS), with the
    /// `sasl_passwd` entry keyed by that name.
    pub fn relay_named(host: &str, port: u16, user: &str, password: &str) -> PostfixConfig {
        PostfixConfig {
            relayhost: format!("[{host}]:{port}"),
            credentials: Some(format!("{user}:{password}")),
            settings: vec![("smtp_host_lookup".to_owned(), "native".to_owned())],
            sasl_text: None,
            hash_map: None,
        }
    }

    /// Set (or replace) one `main.cf` parameter.
    pub fn set(mut self, name: &str, value: &str) -> PostfixConfig {
        self.settings.retain(|(n, _)| n != name);
        self.settings.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// The services the client side needs; no `inet` listener, no `local`.
const MASTER_CF: &str = "\
# service type  private unpriv  chroot  wakeup  maxproc command
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
";

/// The domain of test senders: bounces to it are discarded, never relayed.
pub const SENDER_DOMAIN: &str = "sender.example";

/// A running private Postfix instance; stopped when dropped.
pub struct PrivatePostfix {
    dir: tempfile::TempDir,
    sent: AtomicUsize,
}

impl PrivatePostfix {
    /// Write the configuration into a fresh temporary directory and start
    /// the instance. `ca_pem` is the CA the instance trusts
    /// (`smtp_tls_CAfile`).
    pub fn start(config: &PostfixConfig, ca_pem: &str) -> PrivatePostfix {
        if let Some(why) = unavailable() {
            panic!("cannot start a private Postfix: {why}");
        }
        let dir = tempfile::Builder::new()
            .prefix("ses-probe-postfix-")
            .tempdir()
            .expect("temp dir");
        let root = dir.path().to_owned();
        // The unprivileged daemons (user `postfix`) chdir into the queue
        // directory below: the path must be searchable.
        set_mode(&root, 0o755);
        for sub in ["conf", "queue", "data"] {
            std::fs::create_dir(root.join(sub)).expect("mkdir");
            set_mode(&root.join(sub), 0o755);
        }
        // master.lock and the TLS caches live here, written by `postfix`.
        sh(Command::new("chown").arg("postfix").arg(root.join("data")));

        let ca = root.join("conf/ca.pem");
        std::fs::write(&ca, ca_pem).expect("write CA");
        let sasl = root.join("conf/sasl_passwd");
        let entry = match (&config.sasl_text, &config.credentials) {
            (Some(text), _) => text.clone(),
            (None, Some(c)) => format!("{} {c}\n", config.relayhost),
            (None, None) => String::new(),
        };
        super::write_file(&root.join("conf"), "sasl_passwd", &entry);
        let map_kind = if config.hash_map.is_some() {
            "hash"
        } else {
            "texthash"
        };

        let d = root.display();
        let mut settings: Vec<(String, String)> = [
            ("compatibility_level", "3.6".to_owned()),
            ("queue_directory", format!("{d}/queue")),
            ("data_directory", format!("{d}/data")),
            ("maillog_file", format!("{d}/maillog")),
            ("maillog_file_prefixes", format!("{d}")),
            ("mail_owner", "postfix".to_owned()),
            ("setgid_group", "postdrop".to_owned()),
            ("myhostname", "mx.example.com".to_owned()),
            ("mydomain", "example.com".to_owned()),
            ("myorigin", "$myhostname".to_owned()),
            ("mydestination", String::new()),
            ("inet_interfaces", "loopback-only".to_owned()),
            ("inet_protocols", "ipv4".to_owned()),
            (
                "local_transport",
                "error:local delivery is disabled".to_owned(),
            ),
            (
                "transport_maps",
                format!("inline:{{{SENDER_DOMAIN}=discard:}}"),
            ),
            ("alias_maps", String::new()),
            ("alias_database", String::new()),
            ("biff", "no".to_owned()),
            ("relayhost", config.relayhost.clone()),
            ("smtp_sasl_auth_enable", "yes".to_owned()),
            (
                "smtp_sasl_password_maps",
                format!("{map_kind}:{}", sasl.display()),
            ),
            ("smtp_sasl_security_options", "noanonymous".to_owned()),
            ("smtp_tls_security_level", "encrypt".to_owned()),
            ("smtp_tls_CAfile", ca.display().to_string()),
            ("smtp_tls_loglevel", "1".to_owned()),
            ("smtp_connect_timeout", "3s".to_owned()),
            ("smtp_helo_timeout", "3s".to_owned()),
            ("smtp_starttls_timeout", "3s".to_owned()),
            ("smtp_mail_timeout", "3s".to_owned()),
            ("smtp_rcpt_timeout", "3s".to_owned()),
            ("smtp_data_init_timeout", "3s".to_owned()),
            ("smtp_data_xfer_timeout", "3s".to_owned()),
            ("smtp_data_done_timeout", "3s".to_owned()),
            ("smtp_quit_timeout", "3s".to_owned()),
            // One delivery attempt per message: nothing is retried while a
            // test runs.
            ("minimal_backoff_time", "1h".to_owned()),
            ("maximal_backoff_time", "2h".to_owned()),
            ("queue_run_delay", "1h".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for (k, v) in &config.settings {
            settings.retain(|(n, _)| n != k);
            settings.push((k.clone(), v.clone()));
        }
        let main_cf: String = settings
            .iter()
            .map(|(k, v)| format!("{k} = {v}\n"))
            .collect();
        std::fs::write(root.join("conf/main.cf"), main_cf).expect("main.cf");
        std::fs::write(root.join("conf/master.cf"), MASTER_CF).expect("master.cf");
        if let Some(remove_text) = config.hash_map {
            let out = Command::new(tool("postmap").expect("postmap"))
                .arg("-c")
                .arg(root.join("conf"))
                .arg(format!("hash:{}", sasl.display()))
                .stdin(Stdio::null())
                .output()
                .expect("run postmap");
            assert!(
                out.status.success(),
                "postmap failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            if remove_text {
                std::fs::remove_file(&sasl).expect("remove sasl_passwd");
            }
        }

        let pf = PrivatePostfix {
            dir,
            sent: AtomicUsize::new(0),
        };
        let out = Command::new(tool("postfix").expect("postfix"))
            .arg("-c")
            .arg(pf.config_dir())
            .arg("start")
            .stdin(Stdio::null())
            .output()
            .expect("run postfix start");
        if !out.status.success()
            || pf
                .wait_for_log(|l| l.contains("daemon started"), Duration::from_secs(10))
                .is_none()
        {
            panic!(
                "private postfix did not start ({}): {}{}\n--- maillog:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                pf.log_lines().join("\n")
            );
        }
        pf
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_dir(&self) -> PathBuf {
        self.dir().join("conf")
    }

    pub fn maillog(&self) -> PathBuf {
        self.dir().join("maillog")
    }

    /// Every line of the instance's maillog so far.
    pub fn log_lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.maillog())
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The first maillog line satisfying `pred`, waiting at most `limit`.
    pub fn wait_for_log(&self, pred: impl Fn(&str) -> bool, limit: Duration) -> Option<String> {
        let end = Instant::now() + limit;
        loop {
            if let Some(line) = self.log_lines().into_iter().find(|l| pred(l)) {
                return Some(line);
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Submit one message from `from` to `to` with `sendmail -C DIR` and
    /// return its queue ID (read from the `pickup` line, which names the
    /// sender: senders must be unique within an instance, so a counter is
    /// added to `from`'s local part: `user+N@domain`).
    pub fn send(&self, from: &str, to: &str) -> String {
        use std::io::Write;
        let n = self.sent.fetch_add(1, Ordering::SeqCst);
        let from = match from.split_once('@') {
            Some((local, domain)) => format!("{local}+{n}@{domain}"),
            None => format!("{from}+{n}"),
        };
        let mut child = Command::new(tool("sendmail").expect("sendmail"))
            .arg("-C")
            .arg(self.config_dir())
            .args(["-i", "-f", &from, "--", to])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sendmail");
        let message = format!(
            "From: <{from}>\nTo: <{to}>\nSubject: ses-probe Postfix harness\n\nOne test message.\n"
        );
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(message.as_bytes())
            .expect("write message");
        let end = Instant::now() + Duration::from_secs(10);
        while child.try_wait().expect("wait sendmail").is_none() {
            if Instant::now() > end {
                let _ = child.kill();
                panic!("sendmail did not finish within 10 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let out = child.wait_with_output().expect("sendmail output");
        assert!(
            out.status.success(),
            "sendmail -C {} failed: {}{}",
            self.config_dir().display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let marker = format!(" from=<{from}>");
        let line = self
            .wait_for_log(
                |l| l.contains("postfix/pickup[") && l.ends_with(&marker),
                Duration::from_secs(10),
            )
            .unwrap_or_else(|| {
                panic!(
                    "pickup never logged {from}:\n{}",
                    self.log_lines().join("\n")
                )
            });
        queue_id(&line).unwrap_or_else(|| panic!("no queue ID in {line:?}"))
    }

    /// The line that ends the delivery attempt of `queue_id`
    /// (`status=sent|deferred|bounced`), from whichever delivery agent
    /// (`postfix/smtp` when the relay was tried), waiting at most `limit`.
    pub fn wait_for_delivery(&self, queue_id: &str, limit: Duration) -> Option<String> {
        let marker = format!(": {queue_id}: to=<");
        self.wait_for_log(|l| l.contains(&marker) && l.contains(", status="), limit)
    }

    /// The instance's `master` PID, from its pid file.
    fn master_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir().join("queue/pid/master.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

/// The queue ID of a Postfix log line (`... postfix/x[pid]: QUEUEID: ...`).
pub fn queue_id(line: &str) -> Option<String> {
    let after = line.split("]: ").nth(1)?;
    let (id, _) = after.split_once(": ")?;
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric())).then(|| id.to_owned())
}

/// A process that exists and is not a zombie.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z')
        }
        Err(_) => false,
    }
}

/// The PIDs whose parent is `parent`.
fn children(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    let rest = s.rsplit(')').next()?.to_owned();
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(parent)
        })
        .collect()
}

impl Drop for PrivatePostfix {
    fn drop(&mut self) {
        let master = self.master_pid();
        if let Some(postfix) = tool("postfix") {
            let _ = Command::new(postfix)
                .arg("-c")
                .arg(self.config_dir())
                .arg("stop")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let Some(master) = master else { return };
        let end = Instant::now() + Duration::from_secs(5);
        while alive(master) && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(25));
        }
        if alive(master) {
            // Only this instance's processes, by PID.
            let mut pids = children(master);
            pids.push(master);
            for pid in pids {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn sh(cmd: &mut Command) {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
