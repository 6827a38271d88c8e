//! Postfix, read the way Postfix reads itself.
//!
//! ses-probe runs on mail hosts whose real sender is Postfix, so it reads
//! Postfix's relay credentials ([`sasl`]). What it reads must agree with
//! what Postfix would do, or the probe tests something Postfix never sends.

pub mod sasl;

/// Where Postfix keeps relay credentials on most distributions.
pub const SASL_PASSWD: &str = "/etc/postfix/sasl_passwd";
