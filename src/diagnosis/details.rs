//! Facts pulled out of SES and AWS error texts.
//!
//! SES puts some facts only in free text: the IAM action and resource in an
//! access-denied reply, the region and identities in a "not verified" reply,
//! the request and server times in "Signature expired". These extractors
//! tolerate the variants seen in the wild: the two quoting styles around
//! ARNs (`` `arn:...' `` and plain or `"arn:..."`), enhanced status codes,
//! trailing periods, upper-case regions, and lists cut short with `...`.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

/// Structured facts attached to a finding. Every field is optional; only
/// what the input really said is filled in.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Details {
    /// IAM action that was denied, e.g. `ses:SendRawEmail`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Resource ARN the action was denied on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Principal ARN that was denied (or that the credentials belong to).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// AWS region named by the text (lower-cased).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Identities SES said were not verified.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identities: Vec<String>,
    /// AWS clock minus local clock, in seconds (positive: local is behind).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_skew_seconds: Option<f64>,
    /// SMTP reply code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_code: Option<u16>,
    /// RFC 3463 enhanced status code, e.g. `5.7.8`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enhanced_code: Option<String>,
    /// AWS error code, e.g. `SignatureDoesNotMatch`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_code: Option<String>,
    /// HTTP status of an API answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// The check phase the failure happened in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// The raw server text, bounded, kept for `unknown` so it can be
    /// classified later. Server texts never hold our secrets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// Where the finding comes from when not from a failed request:
    /// `simulation` (IAM's policy simulator), `identity` (the identity's
    /// state in SES), `access_key_info` (STS's answer about a key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The simulator's decision: `explicit_deny` or `implicit_deny`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    /// The policies whose statements matched (the simulator's
    /// `SourcePolicyId`, or its type when it gives no ID).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub matched_policies: Vec<String>,
    /// What denies beyond the principal's own policies:
    /// `permissions_boundary`, `organizations` (an SCP).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub denied_by: Vec<String>,
    /// The minimal IAM policy statement (JSON) that grants what is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
    /// The AWS account a key or identity belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The account it was expected to belong to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_account: Option<String>,
}

impl Details {
    /// `(key, value)` for every field that is set, in JSON field order:
    /// what the text report and `explain` print.
    pub fn pairs(&self) -> Vec<(String, String)> {
        let value = serde_json::to_value(self).unwrap_or_default();
        let Some(map) = value.as_object() else {
            return Vec::new();
        };
        map.iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), v)
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        *self == Details::default()
    }

    /// Fill in every fact the extractors find in `text`, keeping fields
    /// that are already set.
    pub fn absorb_text(&mut self, text: &str) {
        let denied = access_denied(text);
        self.principal = self.principal.take().or(denied.principal);
        self.action = self.action.take().or(denied.action);
        self.resource = self.resource.take().or(denied.resource);
        if self.region.is_none() {
            self.region = region(text);
        }
        if self.identities.is_empty() {
            self.identities = unverified_identities(text);
        }
        if self.clock_skew_seconds.is_none() {
            self.clock_skew_seconds = signature_skew(text);
        }
        if self.enhanced_code.is_none() {
            self.enhanced_code = enhanced_code(text).map(str::to_owned);
        }
    }
}

macro_rules! re {
    ($name:ident, $pat:expr) => {
        static $name: LazyLock<Regex> = LazyLock::new(|| Regex::new($pat).expect("valid regex"));
    };
}

// An ARN or action may be wrapped in `...' (SES SMTP), "..." or nothing.
re!(
    PRINCIPAL,
    r#"(?i)\buser:?\s*[`'"]?(arn:aws[a-z-]*:(?:iam|sts)::[0-9]{12}:[^\s`'",;]+)"#
);
re!(
    ACTION,
    r#"(?i)\bperform:?\s*[`'"]?([a-z0-9-]+:[A-Za-z0-9*]+)"#
);
re!(
    RESOURCE,
    r#"(?i)\bon\s+resource:?\s*[`'"]?(arn:[^\s`'",;]+)"#
);
re!(
    REGION_IN,
    r"(?i)\bin region:?\s*([a-z]{2}(?:-[a-z]+)+-[0-9])\b"
);
re!(
    REGION_HOST,
    r"(?i)\b(?:email-smtp(?:-fips)?|email|sts)\.([a-z]{2}(?:-[a-z]+)+-[0-9])\.amazonaws\.com"
);
re!(
    REGION_ARN,
    r"\barn:aws[a-z-]*:[a-z0-9-]+:([a-z]{2}(?:-[a-z]+)+-[0-9]):"
);
re!(
    REGION_ANY,
    r"(?i)\b(?:us|eu|ap|sa|ca|me|af|il|mx|cn|us-gov)-(?:north|south|east|west|central|northeast|southeast|northwest|southwest|gov-east|gov-west)-[0-9]\b"
);
re!(
    UNVERIFIED,
    r"(?i)failed the check in region [A-Za-z0-9-]+:\s*(.+)"
);
re!(
    ENHANCED,
    r"(?:^|[\s(])([245]\.[0-9]{1,3}\.[0-9]{1,3})(?:$|[\s)])"
);
re!(
    SIG_EXPIRED,
    r"(?i)signature (expired|not yet current):\s*([0-9]{8}T[0-9]{6}Z)\s+is (?:now earlier|still later) than\s+([0-9]{8}T[0-9]{6}Z)(?:\s*\(([0-9]{8}T[0-9]{6}Z)\s*[-+]\s*([0-9]+)\s*min)?"
);

// Anything that could be a key, a password or an AUTH payload: a long run
// of base64 characters. Pasted texts may hold one; echoing it is a leak.
re!(SECRETISH, r"[A-Za-z0-9+/]{24,}={0,2}");

/// What an access-denied text says about who was denied what.
#[derive(Debug, Default, PartialEq)]
pub struct AccessDenied {
    pub principal: Option<String>,
    pub action: Option<String>,
    pub resource: Option<String>,
}

fn clean(s: &str) -> String {
    s.trim_end_matches(['.', '\'', '`', '"', ')']).to_owned()
}

/// Principal, action and resource of an IAM denial, in any quoting style.
pub fn access_denied(text: &str) -> AccessDenied {
    let cap = |re: &Regex| re.captures(text).map(|c| clean(&c[1]));
    AccessDenied {
        principal: cap(&PRINCIPAL),
        action: cap(&ACTION),
        resource: cap(&RESOURCE),
    }
}

/// The region the text names: "in region X", an SES/STS host name, an ARN,
/// or a bare region code, in that order of trust. Lower-cased.
pub fn region(text: &str) -> Option<String> {
    [&*REGION_IN, &*REGION_HOST, &*REGION_ARN, &*REGION_ANY]
        .iter()
        .find_map(|re| re.captures(text))
        .map(|c| {
            c.get(1)
                .unwrap_or_else(|| c.get(0).expect("group 0"))
                .as_str()
                .to_ascii_lowercase()
        })
}

/// The identities listed after "failed the check in region X:". SES may
/// cut the list with `...`; the cut entry is dropped.
pub fn unverified_identities(text: &str) -> Vec<String> {
    let Some(c) = UNVERIFIED.captures(text) else {
        return Vec::new();
    };
    let list = c[1].lines().next().unwrap_or("");
    let list = list.split(" (").next().unwrap_or(list);
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.ends_with(".."))
        .map(|s| s.trim_end_matches('.'))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `text` with every secret-looking token replaced by `[redacted]`; used on
/// any raw text that is echoed back (the `raw` detail of `unknown`).
pub fn redact(text: &str) -> String {
    SECRETISH.replace_all(text, "[redacted]").into_owned()
}

/// RFC 3463 enhanced status code, if the text carries one.
pub fn enhanced_code(text: &str) -> Option<&str> {
    ENHANCED
        .captures(text)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str())
}

/// Server minus local clock from a SigV4 "Signature expired" or
/// "Signature not yet current" message. The server says: request time is
/// earlier (later) than server time minus (plus) the allowed window, and
/// usually gives the server time in parentheses.
pub fn signature_skew(text: &str) -> Option<f64> {
    let c = SIG_EXPIRED.captures(text)?;
    let request = parse_amz_date(&c[2])?;
    let server = match (c.get(4), c.get(5)) {
        (Some(now), _) => parse_amz_date(now.as_str())?,
        (None, _) => {
            // Without the parenthesis, the bound is server time -/+ 5 min.
            let bound = parse_amz_date(&c[3])?;
            if c[1].eq_ignore_ascii_case("expired") {
                bound + 300
            } else {
                bound - 300
            }
        }
    };
    Some((server - request) as f64)
}

/// Seconds since the epoch for an `X-Amz-Date` style `YYYYMMDDTHHMMSSZ`.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' || !s.is_ascii() {
        return None;
    }
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[9..11],
        &s[11..13],
        &s[13..15]
    );
    let t = humantime::parse_rfc3339(&rfc3339).ok()?;
    Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_denied_plain_style() {
        let t = "554 Access denied: User arn:aws:iam::123456789012:user/ses-smtp is not authorized to perform ses:SendRawEmail on resource arn:aws:ses:eu-west-1:123456789012:identity/example.com";
        let d = access_denied(t);
        assert_eq!(
            d.principal.as_deref(),
            Some("arn:aws:iam::123456789012:user/ses-smtp")
        );
        assert_eq!(d.action.as_deref(), Some("ses:SendRawEmail"));
        assert_eq!(
            d.resource.as_deref(),
            Some("arn:aws:ses:eu-west-1:123456789012:identity/example.com")
        );
    }

    #[test]
    fn access_denied_ses_backtick_style() {
        let t = "554 Access denied: User `arn:aws:iam::123456789012:user/smtp' is not authorized to perform `ses:SendRawEmail' on resource `arn:aws:ses:us-east-1:123456789012:configuration-set/marketing'.";
        let d = access_denied(t);
        assert_eq!(
            d.principal.as_deref(),
            Some("arn:aws:iam::123456789012:user/smtp")
        );
        assert_eq!(d.action.as_deref(), Some("ses:SendRawEmail"));
        assert_eq!(
            d.resource.as_deref(),
            Some("arn:aws:ses:us-east-1:123456789012:configuration-set/marketing")
        );
    }

    #[test]
    fn access_denied_iam_colon_style() {
        let t = "User: arn:aws:sts::123456789012:assumed-role/mailer/i-0abc is not authorized to perform: ses:SendEmail on resource: arn:aws:ses:us-east-1:123456789012:identity/a@b.example because no identity-based policy allows the ses:SendEmail action";
        let d = access_denied(t);
        assert_eq!(
            d.principal.as_deref(),
            Some("arn:aws:sts::123456789012:assumed-role/mailer/i-0abc")
        );
        assert_eq!(d.action.as_deref(), Some("ses:SendEmail"));
        assert_eq!(
            d.resource.as_deref(),
            Some("arn:aws:ses:us-east-1:123456789012:identity/a@b.example")
        );
    }

    #[test]
    fn unverified_list_and_region() {
        let t = "554 Message rejected: Email address is not verified. The following identities failed the check in region US-EAST-1: sender@example.com, rcpt@example.org, trunc...";
        assert_eq!(region(t).as_deref(), Some("us-east-1"));
        assert_eq!(
            unverified_identities(t),
            vec!["sender@example.com", "rcpt@example.org"]
        );
    }

    #[test]
    fn region_from_host_and_arn() {
        assert_eq!(
            region("connect to email-smtp.eu-central-1.amazonaws.com[1.2.3.4]:587").as_deref(),
            Some("eu-central-1")
        );
        assert_eq!(
            region("arn:aws:ses:ap-southeast-2:123456789012:identity/x").as_deref(),
            Some("ap-southeast-2")
        );
        assert_eq!(region("no region here"), None);
    }

    #[test]
    fn redaction_hides_keys_and_passwords() {
        let t = "AUTH PLAIN AGFraWEAd0phbHJYVXRuRkVNSS9LN01ERU5HL2JQeFJmaUNZRVhBTVBMRUtFWQ== then wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        assert_eq!(redact(t), "AUTH PLAIN [redacted] then [redacted]");
        assert_eq!(
            redact("535 Authentication Credentials Invalid"),
            "535 Authentication Credentials Invalid"
        );
    }

    #[test]
    fn enhanced_codes() {
        assert_eq!(enhanced_code("451 4.4.2 Timeout waiting"), Some("4.4.2"));
        assert_eq!(
            enhanced_code("535 Authentication Credentials Invalid"),
            None
        );
        assert_eq!(enhanced_code("version 1.2.3 of"), None);
    }

    #[test]
    fn amz_date_parses() {
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date("20000301T000000Z"), Some(951_868_800));
        assert_eq!(parse_amz_date("2000-03-01"), None);
    }

    #[test]
    fn skew_from_expired_and_not_yet_current() {
        let t = "Signature expired: 20261127T110000Z is now earlier than 20261127T115500Z (20261127T120000Z - 5 min.)";
        assert_eq!(signature_skew(t), Some(3600.0));
        let t = "Signature not yet current: 20261127T121000Z is still later than 20261127T120500Z (20261127T120000Z + 5 min.)";
        assert_eq!(signature_skew(t), Some(-600.0));
        // Without the parenthesis the bound is server time minus 5 minutes.
        let t = "Signature expired: 20261127T110000Z is now earlier than 20261127T115500Z";
        assert_eq!(signature_skew(t), Some(3600.0));
    }
}
