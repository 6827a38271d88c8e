//! Failure classes: the closed vocabulary every check outcome is described in.
//!
//! The class names are a public API (alert rules and dashboards match on
//! them), so they are declared once, in the table below, together with their
//! default severity, meaning and remediation. Everything else (the SMTP
//! reply classifier, the AWS error classifier, `explain`, the generated
//! reference in `docs/failure-classes.md`) reads this table.
//!
//! Classification is from typed facts first (reply code, AWS error code,
//! HTTP status); message text is only read where SES puts the fact only in
//! the text (the IAM action in an access-denied reply, the region in a
//! "not verified" reply, the skew in "Signature expired").

mod classify;
mod details;

pub use classify::{
    classify_aws_error, classify_smtp_reply, classify_text, extract, phrase_class, AwsError,
    Channel, Extracted,
};
pub use details::{enhanced_code, redact, Details};

use serde::Serialize;

/// How bad a class is by default. `Ok` is only used for `Class::Ok`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Ok,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Ok => "ok",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The section of the reference a class belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Ok,
    Credentials,
    Network,
    Ses,
    Account,
    Postfix,
    Audit,
    Fallback,
}

impl Group {
    pub fn title(self) -> &'static str {
        match self {
            Group::Ok => "No failure",
            Group::Credentials => "Credentials, checked locally before anything is sent",
            Group::Network => "Network and TLS",
            Group::Ses => "SES answers (SMTP replies and API errors alike)",
            Group::Account => "Account state (from GetAccount)",
            Group::Postfix => {
                "Postfix, read with its own tools (targets with `postfix = true`, and its logs)"
            }
            Group::Audit => {
                "Audit without sending (the `permissions` and `sender` checks, and the SMTP key's owner)"
            }
            Group::Fallback => "Fallback",
        }
    }
}

macro_rules! classes {
    ($( $group:ident {
        $( $variant:ident => $name:literal, $sev:ident, $meaning:literal, $remedy:literal; )*
    } )*) => {
        /// A failure class. Names never change once published; add new ones
        /// at the end of their group.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Class {
            $( $( $variant, )* )*
        }

        impl Class {
            /// Every class, in reference order.
            pub const ALL: &'static [Class] = &[ $( $( Class::$variant, )* )* ];

            /// The stable snake_case name used in metrics, JSON and alerts.
            pub fn as_str(self) -> &'static str {
                match self { $( $( Class::$variant => $name, )* )* }
            }

            /// The default severity.
            pub fn severity(self) -> Severity {
                match self { $( $( Class::$variant => Severity::$sev, )* )* }
            }

            /// What the class means, in one line.
            pub fn meaning(self) -> &'static str {
                match self { $( $( Class::$variant => $meaning, )* )* }
            }

            /// What the operator should do, in one line.
            pub fn remediation(self) -> &'static str {
                match self { $( $( Class::$variant => $remedy, )* )* }
            }

            /// The reference section the class is listed under.
            pub fn group(self) -> Group {
                match self { $( $( Class::$variant => Group::$group, )* )* }
            }
        }
    };
}

classes! {
    Ok {
        Ok => "ok", Ok,
            "no failure: the text or check shows success",
            "Nothing to do.";
    }
    Credentials {
        NoCredentials => "no_credentials", Critical,
            "nothing in the configured source or the AWS default chain",
            "Configure credentials: set the target's secret source, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, or attach an instance role.";
        PartialCredentials => "partial_credentials", Critical,
            "a key ID without a secret, or the reverse",
            "Provide both the access key ID and its secret (and the session token for temporary keys).";
        ProfileNotFound => "profile_not_found", Critical,
            "the named AWS profile does not exist",
            "Check the profile name against ~/.aws/config and ~/.aws/credentials (or AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE).";
        ImdsUnavailable => "imds_unavailable", Critical,
            "instance metadata unreachable or no role attached",
            "Attach an IAM role to the instance, or raise the IMDS hop limit for containers, or configure explicit credentials.";
        SsoSessionExpired => "sso_session_expired", Critical,
            "IAM Identity Center session expired",
            "Run `aws sso login --profile <profile>` or switch the service to long-lived role credentials.";
        RegionMissing => "region_missing", Critical,
            "no region configured or discoverable",
            "Set `region` on the target, or AWS_REGION, or a region in the AWS profile.";
        RegionNoSmtpEndpoint => "region_no_smtp_endpoint", Critical,
            "SES has no SMTP endpoint in that region",
            "Send through the SMTP endpoint of a region that has one (and derive the SMTP password for that region), or use the API.";
        SmtpPasswordIsSecretKey => "smtp_password_is_secret_key", Critical,
            "the SMTP password has the shape of an AWS secret access key (wrong credential type)",
            "Use the SES SMTP password, not the secret access key: derive it with `ses-probe derive-smtp-password --region <region>` or create SMTP credentials in the SES console.";
        SmtpUsernameNotAccessKey => "smtp_username_not_access_key", Critical,
            "the SMTP user name is not an access key ID",
            "The SES SMTP user name is the IAM access key ID (20 characters, starting AKIA), not an IAM user name or e-mail address.";
        SmtpTemporaryCredentials => "smtp_temporary_credentials", Critical,
            "the SMTP user name is a temporary (ASIA) key: SMTP does not accept those",
            "Create a long-term access key for an IAM user with ses:SendRawEmail and derive its SMTP password; session credentials cannot be used for SMTP.";
        SmtpPasswordMalformed => "smtp_password_malformed", Critical,
            "not 44-character base64 of a version byte and 32 bytes",
            "Re-copy the SMTP password exactly: no surrounding spaces or quotes, no URL-encoding, 44 characters.";
        SmtpPasswordWrongRegion => "smtp_password_wrong_region", Critical,
            "the password was derived for another region",
            "Derive the SMTP password for the region of the endpoint you connect to (`ses-probe derive-smtp-password --region <region>`), or point the relay at the region it was made for.";
        SmtpPasswordLegacyV2 => "smtp_password_legacy_v2", Warning,
            "a pre-2019 v2 SMTP password: works in old regions, throttled",
            "Rotate to a v4 SMTP password: create new SMTP credentials or derive one with `ses-probe derive-smtp-password`.";
        ApiSecretIsSmtpPassword => "api_secret_is_smtp_password", Critical,
            "the API secret has the shape of an SMTP password (wrong credential type)",
            "Use the secret access key for the API; the SMTP password is derived from it and cannot sign API requests.";
        RootCredentials => "root_credentials", Critical,
            "the keys belong to the root account",
            "Delete the root access keys and use an IAM user or role limited to the SES actions you need.";
        TemporaryCredentialsExpiring => "temporary_credentials_expiring", Warning,
            "session credentials expire within the configured margin",
            "Make sure whatever refreshes these credentials is running, or use credentials that refresh themselves.";
    }
    Network {
        DnsFailure => "dns_failure", Critical,
            "the endpoint's name does not resolve",
            "Check the host name and the resolver (/etc/resolv.conf); for VPC endpoints check private DNS.";
        ConnectRefused => "connect_refused", Critical,
            "TCP connection refused",
            "Check the host and port, and any local firewall or proxy in the way.";
        ConnectTimeout => "connect_timeout", Critical,
            "no TCP answer in time",
            "A firewall drops the traffic; on EC2 port 25 is restricted by default: use 587 or 2587, or request removal of the restriction.";
        TlsHandshakeFailed => "tls_handshake_failed", Critical,
            "TLS negotiation failed",
            "Check for a TLS-intercepting proxy, protocol or cipher restrictions, and that the port's TLS mode (STARTTLS or implicit) is right.";
        TlsCertificateInvalid => "tls_certificate_invalid", Critical,
            "certificate untrusted, expired or for another name",
            "Check the host name, the system CA bundle and any intercepting proxy; add its CA with `ca_file` only if you trust it.";
        TlsCertificateExpiring => "tls_certificate_expiring", Warning,
            "endpoint certificate expires within the configured margin",
            "If the endpoint is yours (a relay or proxy), renew its certificate; SES rotates its own well before expiry.";
        StarttlsNotOffered => "starttls_not_offered", Critical,
            "EHLO did not advertise STARTTLS on a STARTTLS port",
            "Something between you and SES strips STARTTLS, or the endpoint is not SES; check the host and any SMTP proxy.";
        Timeout => "timeout", Critical,
            "a protocol phase exceeded its timeout",
            "Look at the phase named: a slow network, a filtering firewall or an overloaded endpoint.";
        ConnectionClosed => "connection_closed", Critical,
            "the server closed the connection unexpectedly",
            "Retry; if it persists check for a proxy or firewall resetting SMTP sessions.";
        SmtpProtocolError => "smtp_protocol_error", Critical,
            "a reply that is not valid SMTP, or an unexpected code for the phase",
            "Check that the endpoint is really SES and nothing rewrites the SMTP session.";
    }
    Ses {
        TlsRequired => "tls_required", Critical,
            "530 Must issue a STARTTLS command first",
            "Enable TLS on the client (Postfix: smtp_tls_security_level = encrypt).";
        AuthRequired => "auth_required", Critical,
            "530 Authentication required",
            "Enable SMTP AUTH on the client (Postfix: smtp_sasl_auth_enable = yes with the SES SMTP credentials).";
        AuthCredentialsInvalid => "auth_credentials_invalid", Critical,
            "535 Authentication Credentials Invalid",
            "The SMTP user name or password is wrong: see the local findings; use SES SMTP credentials for this region, not the secret access key.";
        AuthTemporaryFailure => "auth_temporary_failure", Warning,
            "454 Temporary authentication failure",
            "Transient on the SES side: retry; alert if it persists.";
        AccountNotSubscribed => "account_not_subscribed", Critical,
            "535 Account not subscribed to SES",
            "The account has not signed up for SES in this region, or the key belongs to another account.";
        IamAccessDenied => "iam_access_denied", Critical,
            "the principal lacks a permission",
            "Grant the named action on the named resource to the principal (ses:SendRawEmail for SMTP, ses:SendEmail for the API), and check SCPs and identity policies.";
        IdentityNotVerified => "identity_not_verified", Critical,
            "sender (or, in the sandbox, recipient) identity not verified in the region",
            "Verify the sender domain or address in this region; in the sandbox verify recipients too, or request production access.";
        MailFromDomainNotVerified => "mail_from_domain_not_verified", Critical,
            "custom MAIL FROM domain's MX/SPF not set up",
            "Publish the MX and SPF records for the custom MAIL FROM domain, or set the fallback behaviour to use amazonses.com.";
        ConfigurationSetMissing => "configuration_set_missing", Critical,
            "the configuration set does not exist in the region",
            "Create the configuration set in this region or remove it from the send.";
        ConfigurationSetPaused => "configuration_set_paused", Critical,
            "sending disabled on the configuration set",
            "Re-enable sending on the configuration set (aws sesv2 put-configuration-set-sending-options --sending-enabled).";
        SendingPaused => "sending_paused", Critical,
            "account sending paused",
            "Sending is paused for the account in this region: read the SES console and the AWS Health notice, fix the cause, then resume.";
        AccountSuspended => "account_suspended", Critical,
            "account restricted",
            "The account is restricted from sending: open the SES console and AWS support case to appeal.";
        ThrottleRate => "throttle_rate", Warning,
            "maximum send rate or API request rate exceeded",
            "Slow down or ask for a higher sending rate; check for a runaway sender.";
        QuotaDailyExceeded => "quota_daily_exceeded", Critical,
            "24-hour sending quota used up",
            "Wait for the 24-hour window to roll, or request a quota increase.";
        LegacySmtpCredentialsThrottled => "legacy_smtp_credentials_throttled", Warning,
            "v2 SMTP credentials throttled",
            "Rotate to v4 SMTP credentials; SES throttles SigV2-derived passwords.";
        SmtpIdleTimeout => "smtp_idle_timeout", Warning,
            "SES closed the session waiting for the client",
            "The client paused longer than SES's idle limit (about 10 s): check client load and DNS or content-filter delays.";
        SmtpTooManyConnections => "smtp_too_many_connections", Warning,
            "421 too many concurrent connections",
            "Lower the client's concurrency towards SES (Postfix: default_destination_concurrency_limit).";
        SmtpSessionMessageLimit => "smtp_session_message_limit", Warning,
            "421 maximum message count per session reached",
            "Limit messages per connection on the client (Postfix: smtp_connection_reuse_count_limit).";
        ServiceTemporaryFailure => "service_temporary_failure", Warning,
            "451/454 temporary failure, API 5xx",
            "Transient on the SES side: retry with backoff; check the AWS Health dashboard if it persists.";
        MessageTooLarge => "message_too_large", Critical,
            "over 10 MB",
            "Send messages under SES's size limit (10 MB after encoding), or link to large attachments.";
        MessageMalformed => "message_malformed", Critical,
            "554 Transaction failed: header or MIME problem",
            "Fix the message headers or MIME structure named in the reply.";
        AddressSyntaxInvalid => "address_syntax_invalid", Critical,
            "553/501 bad MAIL FROM or RCPT TO",
            "Fix the envelope address syntax.";
        MessageRejected => "message_rejected", Critical,
            "MessageRejected with no more specific reason",
            "Read the rejection text; check content, identities and account state.";
        BadRequest => "bad_request", Critical,
            "SESv2 BadRequestException",
            "The request parameters are invalid: check the message and the configured identities.";
        ResourceNotFound => "resource_not_found", Critical,
            "identity, configuration set or template not in this region",
            "Create the resource in this region or fix the name.";
        LimitExceeded => "limit_exceeded", Critical,
            "resource count limit",
            "Delete unused resources or request a limit increase.";
        InvalidAccessKey => "invalid_access_key", Critical,
            "access key ID unknown, deleted or from another partition; bad session token",
            "Check the access key ID is active in IAM (and in this partition), and pass the session token with temporary keys.";
        SignatureMismatch => "signature_mismatch", Critical,
            "wrong secret (or an SMTP password used as the secret)",
            "Use the secret access key that belongs to this key ID; an SMTP password cannot sign API requests.";
        ClockSkew => "clock_skew", Critical,
            "request time outside the signing window",
            "Synchronise the clock (chrony/systemd-timesyncd); SigV4 allows about 5 minutes of skew.";
        CredentialsExpired => "credentials_expired", Critical,
            "temporary credentials or web-identity token expired",
            "Refresh the temporary credentials (re-assume the role, renew the token) or use a provider that refreshes them.";
        StsRegionDisabled => "sts_region_disabled", Critical,
            "STS not activated in that region",
            "Activate STS for the region in IAM account settings, or use another STS endpoint.";
        SaslMechanismUnavailable => "sasl_mechanism_unavailable", Critical,
            "the SMTP client's own SASL setup offers no mechanism the server accepts (SES offers PLAIN and LOGIN)",
            "Let the client use PLAIN or LOGIN over TLS: on Debian/Ubuntu install libsasl2-modules (Red Hat: cyrus-sasl-plain), and in Postfix allow them: smtp_sasl_mechanism_filter empty or including plain and login, smtp_sasl_security_options = noanonymous, smtp_sasl_tls_security_options = noanonymous.";
    }
    Account {
        Sandbox => "sandbox", Warning,
            "production access not granted",
            "Request production access for SES in this region; until then only verified recipients receive mail.";
        SendingDisabled => "sending_disabled", Critical,
            "SendingEnabled is false",
            "Sending is disabled for the account in this region: find out why in the SES console, then re-enable it.";
        EnforcementProbation => "enforcement_probation", Warning,
            "enforcement status PROBATION",
            "Bounce or complaint rates are too high: fix list hygiene before SES pauses sending.";
        EnforcementShutdown => "enforcement_shutdown", Critical,
            "enforcement status SHUTDOWN",
            "SES has shut down sending for the account: contact AWS support with your remediation plan.";
        QuotaNearlyExhausted => "quota_nearly_exhausted", Warning,
            "sent in the last 24 h above the configured share of the quota",
            "Request a quota increase or slow down before the daily quota runs out.";
    }
    Postfix {
        PostfixConfigUnreadable => "postfix_config_unreadable", Critical,
            "Postfix's settings or password maps could not be read, so what Postfix would send is unknown",
            "Install Postfix's tools (postconf, postmap) on this host and give ses-probe read access to main.cf and the maps it names (see the README's Postfix section).";
        PostfixRelayNotSes => "postfix_relay_not_ses", Critical,
            "Postfix's relayhost is not the SES SMTP endpoint of the target's region",
            "Set relayhost = [email-smtp.<region>.amazonaws.com]:587 in main.cf, for the region whose SMTP credentials Postfix holds.";
        PostfixSaslDisabled => "postfix_sasl_disabled", Critical,
            "smtp_sasl_auth_enable is off: Postfix relays to SES without authenticating",
            "Set smtp_sasl_auth_enable = yes and smtp_sasl_password_maps in main.cf, then `postfix reload`.";
        PostfixSaslNoEntry => "postfix_sasl_no_entry", Critical,
            "Postfix's password maps have no entry under the keys it looks up for the relay",
            "Key the entry exactly as Postfix looks it up: the relay host name or the relayhost value as written (e.g. [email-smtp.eu-west-1.amazonaws.com]:587), then run postmap on the file.";
        PostfixTlsNotEnforced => "postfix_tls_not_enforced", Warning,
            "smtp_tls_security_level below encrypt: the SES credentials could go out in the clear",
            "Set smtp_tls_security_level = encrypt (or secure with smtp_tls_CAfile) in main.cf.";
    }
    Audit {
        PermissionAuditUnavailable => "permission_audit_unavailable", Warning,
            "the permission audit could not run: the caller may not simulate its own policies (iam:SimulatePrincipalPolicy), or the principal cannot be simulated",
            "Grant the principal iam:SimulatePrincipalPolicy on its own ARN (or switch `permissions` off); the sending itself is not affected.";
        IdentityVerificationPending => "identity_verification_pending", Critical,
            "the sender's identity exists in the region but its verification has not succeeded yet (PENDING or NOT_STARTED), and no verified identity covers the sender",
            "Finish the verification: click the link SES mailed to the address, or publish the domain's DKIM CNAME records; SES rejects mail from the sender until then.";
        IdentityVerificationFailed => "identity_verification_failed", Critical,
            "the sender's identity failed verification (FAILED; TEMPORARY_FAILURE reports as a warning), and no verified identity covers the sender",
            "Check the DNS records SES asks for (the DKIM CNAMEs of the domain), then restart the verification in the SES console.";
        DkimNotVerified => "dkim_not_verified", Warning,
            "the sender's DKIM setup is pending, failed or not signing: mail goes out without the domain's DKIM signature",
            "Publish the three DKIM CNAME records SES shows for the domain (or fix them), and enable DKIM signing on the identity.";
        MailFromDomainPending => "mail_from_domain_pending", Warning,
            "the custom MAIL FROM domain is not verified; SES falls back to amazonses.com (behaviour on MX failure: use default), so SPF no longer aligns",
            "Publish the MX record (feedback-smtp.<region>.amazonses.com) and the SPF TXT record for the MAIL FROM domain.";
        IdentitySendingDisabled => "identity_sending_disabled", Critical,
            "sending is disabled for the sender's identity itself (its own SendingEnabled flag), though the account may send",
            "Re-enable sending for the identity (aws sesv2 put-email-identity-... or the SES console) after finding out who paused it and why.";
        SmtpKeyOtherAccount => "smtp_key_other_account", Critical,
            "the SMTP user name (access key ID) belongs to another AWS account than expected_account (critical) or than the API credentials (warning): mail relayed through SMTP uses that account's quota, identities and suppression list",
            "Create SMTP credentials from an IAM user of the intended account and derive the password for this region, or correct expected_account or the API keys if the other account is the right one.";
    }
    Fallback {
        Unknown => "unknown", Critical,
            "nothing above matched",
            "Unrecognised failure: the raw code and text are in the details; please report it so it can be classified.";
    }
}

impl Class {
    /// Parse a stable name back into a class.
    pub fn from_name(name: &str) -> Option<Class> {
        Class::ALL.iter().copied().find(|c| c.as_str() == name)
    }
}

impl std::fmt::Display for Class {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Class {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The Markdown reference for every class, as `docs/failure-classes.md`
/// holds it. A test keeps the file and this function in step.
pub fn reference_markdown() -> String {
    let mut out = String::from(
        "# Failure classes\n\n\
         Every check outcome carries exactly one primary class from this list (or `ok`).\n\
         The names are a stable public API: metrics labels, JSON output and alert rules use them.\n\
         Names are never renamed or reused; new classes are only added.\n\
         Severity is the default (`warning` or `critical`).\n\n\
         This file is generated from `src/diagnosis/mod.rs`; `cargo test` fails when they disagree.\n\
         Regenerate with `SES_PROBE_BLESS=1 cargo test --lib reference_doc`.\n",
    );
    let mut group = None;
    for class in Class::ALL {
        if group != Some(class.group()) {
            group = Some(class.group());
            out.push_str(&format!(
                "\n## {}\n\n| class | severity | meaning | remediation |\n|---|---|---|---|\n",
                class.group().title()
            ));
        }
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            class.as_str(),
            class.severity(),
            class.meaning().replace('|', "\\|"),
            class.remediation().replace('|', "\\|"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_snake_case() {
        let mut seen = HashSet::new();
        for c in Class::ALL {
            let n = c.as_str();
            assert!(seen.insert(n), "duplicate class name {n}");
            assert!(
                n.chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_'),
                "{n} is not snake_case"
            );
            assert_eq!(Class::from_name(n), Some(*c));
            assert!(
                c.remediation().ends_with('.'),
                "{n}: remediation is a sentence"
            );
        }
        // The 63 contract classes, `ok`, `sasl_mechanism_unavailable`, the
        // five of the Postfix group and the seven of the Audit group.
        assert_eq!(Class::ALL.len(), 77);
    }

    #[test]
    fn only_ok_has_ok_severity() {
        for c in Class::ALL {
            assert_eq!(c.severity() == Severity::Ok, *c == Class::Ok, "{c}");
        }
    }

    #[test]
    fn reference_doc_matches_enum() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/failure-classes.md");
        let want = reference_markdown();
        if std::env::var_os("SES_PROBE_BLESS").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "docs/failure-classes.md is out of date; regenerate with SES_PROBE_BLESS=1 cargo test --lib reference_doc"
        );
    }
}
