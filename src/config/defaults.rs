//! Every default of the configuration, in one place.
//!
//! The file format ([`super::raw`]) leaves a key out; validation fills it
//! from here, whether the target came from a file or from the environment.
//! A default written anywhere else is a bug: two homes drift.

use std::time::Duration;

use super::AuthMechanism;

/// Where the daemon and `--once` look for a config when none is given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/ses-probe/ses-probe.toml";
/// The exporter's listen address: loopback only by default, on a port
/// outside the Prometheus exporter range 9100-9999 (which is fully
/// allocated): 10587, after SMTP submission's 587.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:10587";
/// Send-budget state lives here unless `server.state_directory` or
/// systemd's `$STATE_DIRECTORY` says otherwise.
pub const DEFAULT_STATE_DIRECTORY: &str = "/var/lib/ses-probe";
/// At most this many checks run at once.
pub const DEFAULT_CONCURRENCY: usize = 8;
/// STARTTLS submission port: open from EC2, unlike 25.
pub const DEFAULT_SMTP_PORT: u16 = 587;
/// Each SMTP phase (and each API call) must finish within this.
pub const DEFAULT_PHASE_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_SMTP_INTERVAL: Duration = Duration::from_secs(60);
pub const DEFAULT_IDENTITY_INTERVAL: Duration = Duration::from_secs(60);
pub const DEFAULT_ACCOUNT_INTERVAL: Duration = Duration::from_secs(300);
pub const DEFAULT_SEND_INTERVAL: Duration = Duration::from_secs(3600);
/// The permissions and sender checks: IAM policies and identity states
/// change rarely, and IAM's API is rate-limited per account.
pub const DEFAULT_AUDIT_INTERVAL: Duration = Duration::from_secs(900);
/// Probe sends per rolling 24 hours: one an hour.
pub const DEFAULT_SEND_DAILY_BUDGET: u32 = 24;
pub const DEFAULT_CERT_EXPIRY_WARNING: Duration = Duration::from_secs(14 * 86_400);
pub const DEFAULT_CREDENTIALS_EXPIRY_WARNING: Duration = Duration::from_secs(15 * 60);
/// Share of the 24-hour quota above which `quota_nearly_exhausted` fires.
pub const DEFAULT_QUOTA_WARNING_RATIO: f64 = 0.8;
/// The SES mailbox simulator: accepts probe mail without hurting reputation.
pub const SIMULATOR_SUCCESS: &str = "success@simulator.amazonses.com";
/// Upper bounds: a value above these is a typo, and accepting it would
/// overflow a deadline or an allocation at run time.
pub const MAX_CONCURRENCY: usize = 1024;
/// Per phase or call; a check's outer deadline is a small multiple of it.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(10 * 60);
pub const MAX_INTERVAL: Duration = Duration::from_secs(7 * 86_400);
/// Warning margins (certificate and credential expiry).
pub const MAX_WARNING: Duration = Duration::from_secs(365 * 86_400);
/// Probe sends per 24 hours: more than one every ten seconds is no probe.
pub const MAX_SEND_DAILY_BUDGET: u32 = 10_000;

/// How far back `--once` summarises Postfix's log.
pub const DEFAULT_POSTFIX_LOG_WINDOW: Duration = Duration::from_secs(3600);
/// Where Debian's rsyslog writes mail logs.
pub const DEFAULT_POSTFIX_LOG_FILE: &str = "/var/log/mail.log";

/// Largest config file read: thousands of targets take a few MiB.
pub const MAX_CONFIG_FILE: u64 = 16 << 20;
/// AUTH mechanisms in preference order: the two SES offers.
pub const DEFAULT_AUTH_MECHANISMS: &[AuthMechanism] = &[AuthMechanism::Plain, AuthMechanism::Login];
/// Whether the identity and account checks run when `[target.api]` exists.
pub const DEFAULT_API_IDENTITY: bool = true;
pub const DEFAULT_API_ACCOUNT: bool = true;
/// The audit checks are opt-in: each needs a read permission
/// (`iam:SimulatePrincipalPolicy`, `ses:GetEmailIdentity`) that a sending
/// policy does not grant, so turning them on by default would report
/// `iam_access_denied` on every existing deployment.
pub const DEFAULT_API_PERMISSIONS: bool = false;
pub const DEFAULT_API_SENDER: bool = false;
pub const DEFAULT_SMTP_CREDENTIALS_ADMIN: bool = false;
/// With API credentials on the same target, the SMTP check asks STS which
/// account its key belongs to (`sts:GetAccessKeyInfo`).
pub const DEFAULT_SMTP_KEY_OWNERSHIP: bool = true;
/// `POST /-/reload` is off unless enabled: anyone who can reach the port
/// could otherwise make the daemon re-read its files.
pub const DEFAULT_RELOAD_ENDPOINT: bool = false;

/// This host's name for EHLO, from the kernel (works inside the systemd
/// sandbox, where /proc/sys is hidden).
pub fn default_ehlo_name() -> String {
    hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}
