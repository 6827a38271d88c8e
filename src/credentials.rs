//! Secrets, credential shapes and SES SMTP password derivation.
//!
//! Everything here is local: no network, no I/O. The shape checks run before
//! any check sends a byte, because the classic SES failures (a secret access
//! key pasted as the SMTP password, an SMTP password used to sign API calls,
//! a password derived for another region) all answer with an opaque `535` or
//! `SignatureDoesNotMatch` that only the shapes can explain.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::diagnosis::{Class, Details};
use crate::outcome::Finding;

/// A secret value (secret key, SMTP password, session token). `Debug` and
/// `Display` print `[redacted]`, so a secret cannot leak through a log line,
/// an error or a panic message by accident. [`Secret::expose`] is called only
/// where the value is sent or derived from.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The plain value. Callers: SMTP AUTH, SigV4 credentials, derivation,
    /// shape analysis. Nothing that prints.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        // Best effort: overwrite the bytes before the allocation is freed.
        // SAFETY: zero bytes are valid UTF-8.
        unsafe { self.0.as_bytes_mut() }.fill(0);
    }
}

/// SMTP password algorithm versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpPasswordVersion {
    /// Pre-2019, region-independent, throttled by SES.
    V2,
    /// Current, per region.
    V4,
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Derive the SES SMTP password v4 for `region` from a secret access key
/// (SES Developer Guide, "Obtaining SES SMTP credentials by converting
/// existing AWS credentials"). The fixed date and the `SendRawEmail` message
/// are part of the published algorithm.
pub fn derive_smtp_password_v4(secret_key: &Secret, region: &str) -> Secret {
    let mut signature = hmac(
        format!("AWS4{}", secret_key.expose()).as_bytes(),
        b"11111111",
    );
    for part in [region.as_bytes(), b"ses", b"aws4_request", b"SendRawEmail"] {
        signature = hmac(&signature, part);
    }
    Secret(encode_versioned(0x04, &signature))
}

/// Derive the legacy v2 SMTP password (region-independent).
pub fn derive_smtp_password_v2(secret_key: &Secret) -> Secret {
    let signature = hmac(secret_key.expose().as_bytes(), b"SendRawEmail");
    Secret(encode_versioned(0x02, &signature))
}

fn encode_versioned(version: u8, mac: &[u8; 32]) -> String {
    let mut bytes = Vec::with_capacity(33);
    bytes.push(version);
    bytes.extend_from_slice(mac);
    STANDARD.encode(bytes)
}

/// What an access key ID looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessKeyShape {
    /// `AKIA...`: long-term key of an IAM user or the root account.
    LongTerm,
    /// `ASIA...`: temporary STS credentials.
    Temporary,
    /// 20 upper-case characters with another prefix (service keys, etc.).
    OtherKeyId,
    /// Not an access key ID at all (an IAM user name, an e-mail address...).
    NotAKeyId,
}

/// Classify an access key ID by its shape.
pub fn access_key_shape(id: &str) -> AccessKeyShape {
    let well_formed = id.len() == 20
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    match (well_formed, id.get(..4)) {
        (true, Some("AKIA")) => AccessKeyShape::LongTerm,
        (true, Some("ASIA")) => AccessKeyShape::Temporary,
        (true, _) => AccessKeyShape::OtherKeyId,
        (false, _) => AccessKeyShape::NotAKeyId,
    }
}

/// What a secret string looks like: the thing it was meant to be, or one of
/// the usual mistakes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretShape {
    /// 40 characters of base64 alphabet: an AWS secret access key.
    SecretAccessKey,
    /// 44-character base64 of `0x04` + 32 bytes.
    SmtpPasswordV4,
    /// 44-character base64 of `0x02` + 32 bytes.
    SmtpPasswordV2,
    /// Something else; the reason says what is wrong with it.
    Malformed(MalformedReason),
}

/// Why a secret is not a valid SMTP password or secret key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MalformedReason {
    Empty,
    SurroundingWhitespace,
    SurroundingQuotes,
    UrlEncoded,
    WrongLength(usize),
    NotBase64,
    UnknownVersion(u8),
}

impl std::fmt::Display for MalformedReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MalformedReason::Empty => f.write_str("it is empty"),
            MalformedReason::SurroundingWhitespace => {
                f.write_str("it has leading or trailing whitespace or a newline")
            }
            MalformedReason::SurroundingQuotes => f.write_str("it is wrapped in quotes"),
            MalformedReason::UrlEncoded => {
                f.write_str("it looks URL-encoded (%2B or %2F instead of + or /)")
            }
            MalformedReason::WrongLength(n) => {
                write!(
                    f,
                    "it is {n} characters long, not 44 (truncated or padded?)"
                )
            }
            MalformedReason::NotBase64 => f.write_str("it is not base64"),
            MalformedReason::UnknownVersion(v) => {
                write!(
                    f,
                    "its version byte is 0x{v:02x}, not 0x04 (v4) or 0x02 (v2)"
                )
            }
        }
    }
}

fn is_base64_alphabet(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// Classify a secret string by shape. Damage (whitespace, quotes,
/// URL-encoding) is reported before length, since it explains the length.
pub fn secret_shape(s: &str) -> SecretShape {
    use MalformedReason::*;
    let bad = SecretShape::Malformed;
    if s.is_empty() {
        return bad(Empty);
    }
    if s.trim() != s {
        return bad(SurroundingWhitespace);
    }
    let quoted = |q: char| s.len() >= 2 && s.starts_with(q) && s.ends_with(q);
    if quoted('"') || quoted('\'') {
        return bad(SurroundingQuotes);
    }
    let upper = s.to_ascii_uppercase();
    if upper.contains("%2B") || upper.contains("%2F") || upper.contains("%3D") {
        return bad(UrlEncoded);
    }
    if s.len() == 40 && is_base64_alphabet(s) {
        return SecretShape::SecretAccessKey;
    }
    if s.len() != 44 {
        return bad(WrongLength(s.chars().count()));
    }
    let Ok(bytes) = STANDARD.decode(s) else {
        return bad(NotBase64);
    };
    match (bytes.len(), bytes.first()) {
        (33, Some(0x04)) => SecretShape::SmtpPasswordV4,
        (33, Some(0x02)) => SecretShape::SmtpPasswordV2,
        (33, Some(v)) => bad(UnknownVersion(*v)),
        _ => bad(NotBase64),
    }
}

/// What is known about a target's SMTP credentials, for local analysis.
pub struct SmtpCredentials<'a> {
    pub username: &'a str,
    pub password: &'a Secret,
    /// The secret access key behind `username`, when the target knows it;
    /// enables the wrong-region check.
    pub secret_key: Option<&'a Secret>,
    pub region: &'a str,
}

/// The result of local SMTP credential analysis.
#[derive(Debug, Default)]
pub struct SmtpAnalysis {
    pub findings: Vec<Finding>,
    /// A finding that makes sending the password pointless or unsafe (a
    /// secret key must never go over SMTP). The check stops before AUTH.
    pub blocks_auth: bool,
}

/// Analyse SMTP credentials by shape, and by derivation when the secret key
/// is known. Never includes a secret in a message.
pub fn analyse_smtp(c: &SmtpCredentials<'_>) -> SmtpAnalysis {
    let mut out = SmtpAnalysis::default();
    let region_detail = || Details {
        region: Some(c.region.to_owned()),
        ..Details::default()
    };
    if crate::regions::REGIONS_WITHOUT_SMTP.contains(&c.region) {
        out.findings.push(
            Finding::new(
                Class::RegionNoSmtpEndpoint,
                format!("SES has no SMTP endpoint in {}", c.region),
            )
            .with_details(region_detail()),
        );
    }
    match access_key_shape(c.username) {
        AccessKeyShape::LongTerm | AccessKeyShape::OtherKeyId => {}
        AccessKeyShape::Temporary => {
            out.blocks_auth = true;
            out.findings.push(Finding::new(
                Class::SmtpTemporaryCredentials,
                "the SMTP user name is a temporary (ASIA) access key ID; SES SMTP only accepts long-term keys",
            ));
        }
        AccessKeyShape::NotAKeyId => {
            out.findings.push(Finding::new(
                Class::SmtpUsernameNotAccessKey,
                describe_username(c.username),
            ));
        }
    }
    match secret_shape(c.password.expose()) {
        SecretShape::SmtpPasswordV4 => {
            if let Some(secret) = c.secret_key {
                check_region(c, secret, &mut out);
            }
        }
        SecretShape::SmtpPasswordV2 => {
            let mut f = Finding::new(
                Class::SmtpPasswordLegacyV2,
                "the SMTP password is a legacy v2 password (version byte 0x02)",
            );
            if let Some(secret) = c.secret_key {
                if derive_smtp_password_v2(secret) != *c.password {
                    f = Finding::new(
                        Class::SmtpPasswordMalformed,
                        "the SMTP password has the v2 layout but was not derived from this target's secret key",
                    );
                }
            }
            out.findings.push(f);
        }
        SecretShape::SecretAccessKey => {
            out.blocks_auth = true;
            out.findings.push(Finding::new(
                Class::SmtpPasswordIsSecretKey,
                "the SMTP password is 40 characters of base64: the shape of an AWS secret access key, not an SES SMTP password; it was not sent",
            ));
        }
        SecretShape::Malformed(reason) => {
            out.findings.push(Finding::new(
                Class::SmtpPasswordMalformed,
                format!("the SMTP password is malformed: {reason}"),
            ));
        }
    }
    out
}

fn describe_username(u: &str) -> String {
    let what = if u.contains('@') {
        "an e-mail address"
    } else if u.trim() != u {
        "an access key ID with surrounding whitespace"
    } else if u.len() == 20 {
        "20 characters but not upper-case letters and digits"
    } else {
        "not 20 upper-case letters and digits (an IAM user name?)"
    };
    format!("the SMTP user name is {what}; it must be the IAM access key ID")
}

fn check_region(c: &SmtpCredentials<'_>, secret: &Secret, out: &mut SmtpAnalysis) {
    if derive_smtp_password_v4(secret, c.region) == *c.password {
        return;
    }
    let found = crate::regions::SES_REGIONS
        .iter()
        .find(|r| derive_smtp_password_v4(secret, r) == *c.password);
    let finding = match found {
        Some(other) => Finding::new(
            Class::SmtpPasswordWrongRegion,
            format!(
                "the SMTP password was derived for {other}, but the endpoint is in {}",
                c.region
            ),
        )
        .with_details(Details {
            region: Some((*other).to_owned()),
            ..Details::default()
        }),
        None => Finding::new(
            Class::SmtpPasswordWrongRegion,
            format!(
                "the SMTP password was not derived for {} from this target's secret key (another region, or another key)",
                c.region
            ),
        ),
    };
    out.findings.push(finding);
}

/// Findings for an API secret access key, by shape.
pub fn analyse_api_secret(secret: &Secret) -> Option<Finding> {
    match secret_shape(secret.expose()) {
        SecretShape::SecretAccessKey => None,
        SecretShape::SmtpPasswordV4 | SecretShape::SmtpPasswordV2 => Some(Finding::new(
            Class::ApiSecretIsSmtpPassword,
            "the API secret is 44-character base64 with an SMTP password version byte: an SES SMTP password, which cannot sign API requests",
        )),
        // Other damage surfaces as SignatureDoesNotMatch; report the shape
        // so the operator sees why.
        SecretShape::Malformed(reason) => match reason {
            MalformedReason::WrongLength(_) | MalformedReason::NotBase64 => None,
            other => Some(
                Finding::new(
                    Class::SignatureMismatch,
                    format!("the API secret access key looks damaged: {other}"),
                )
                .with_severity(crate::diagnosis::Severity::Warning),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Published test vectors (SES-FACTS: terraform-provider-aws).
    const V4: &[(&str, &str, &str)] = &[
        (
            "eu-central-1",
            "some+secret+key",
            "BMXhUYlu5Z3gSXVQORxlVa7XPaz91aGWdfHxvkOZdWZ2",
        ),
        (
            "eu-central-1",
            "another+secret+key",
            "BBbphbrQmrKMx42d1N6+C7VINYEBGI5v9VsZeTxwskfh",
        ),
        (
            "us-west-1",
            "some+secret+key",
            "BH+jbMzper5WwlwUar9E1ySBqHa9whi0GPo+sJ0mVYJj",
        ),
        (
            "us-west-1",
            "another+secret+key",
            "BKVmjjMDFk/qqw8EROW99bjCS65PF8WKvK5bSr4Y6EqF",
        ),
    ];
    const V2: &[(&str, &str)] = &[
        (
            "some+secret+key",
            "AnkqhOiWEcszZZzTMCQbOY1sPGoLFgMH9zhp4eNgSjo4",
        ),
        (
            "another+secret+key",
            "Akwqr0Giwi8FsQFgW3DXWCC2DiiQ/jZjqLDWK8TeTBgL",
        ),
    ];
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    #[test]
    fn published_vectors_v4() {
        for (region, secret, want) in V4 {
            let got = derive_smtp_password_v4(&Secret::new(*secret), region);
            assert_eq!(got.expose(), *want, "{region} {secret}");
        }
    }

    #[test]
    fn published_vectors_v2() {
        for (secret, want) in V2 {
            assert_eq!(
                derive_smtp_password_v2(&Secret::new(*secret)).expose(),
                *want
            );
        }
    }

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("canary-value");
        assert_eq!(format!("{s}"), "[redacted]");
        assert!(!format!("{s:?}").contains("canary"));
    }

    #[test]
    fn shapes() {
        assert_eq!(secret_shape(SECRET), SecretShape::SecretAccessKey);
        let v4 = derive_smtp_password_v4(&Secret::new(SECRET), "us-east-1");
        assert_eq!(secret_shape(v4.expose()), SecretShape::SmtpPasswordV4);
        let v2 = derive_smtp_password_v2(&Secret::new(SECRET));
        assert_eq!(secret_shape(v2.expose()), SecretShape::SmtpPasswordV2);
        use MalformedReason::*;
        let m = |s: &str| match secret_shape(s) {
            SecretShape::Malformed(r) => r,
            other => panic!("{other:?}"),
        };
        assert_eq!(m(&format!("{} ", v4.expose())), SurroundingWhitespace);
        assert_eq!(m(&format!("\"{}\"", v4.expose())), SurroundingQuotes);
        assert_eq!(
            m(&v4.expose().replace('+', "%2B").replace('/', "%2F")),
            UrlEncoded
        );
        assert_eq!(m(&v4.expose()[..30]), WrongLength(30));
        assert_eq!(m(""), Empty);
        assert_eq!(m(&"!".repeat(44)), NotBase64);
        let v9 = STANDARD.encode([9u8; 33]);
        assert_eq!(m(&v9), UnknownVersion(9));
    }

    #[test]
    fn key_id_shapes() {
        assert_eq!(
            access_key_shape("AKIAIOSFODNN7EXAMPLE"),
            AccessKeyShape::LongTerm
        );
        assert_eq!(
            access_key_shape("ASIAIOSFODNN7EXAMPLE"),
            AccessKeyShape::Temporary
        );
        assert_eq!(
            access_key_shape("ses-smtp-user.2026"),
            AccessKeyShape::NotAKeyId
        );
        assert_eq!(
            access_key_shape("akiaiosfodnn7example"),
            AccessKeyShape::NotAKeyId
        );
    }

    fn classes(a: &SmtpAnalysis) -> Vec<Class> {
        a.findings.iter().map(|f| f.class).collect()
    }

    #[test]
    fn secret_key_as_password_blocks_auth() {
        let pw = Secret::new(SECRET);
        let a = analyse_smtp(&SmtpCredentials {
            username: "AKIAIOSFODNN7EXAMPLE",
            password: &pw,
            secret_key: None,
            region: "us-east-1",
        });
        assert!(a.blocks_auth);
        assert_eq!(classes(&a), vec![Class::SmtpPasswordIsSecretKey]);
    }

    #[test]
    fn wrong_region_is_named() {
        let secret = Secret::new(SECRET);
        let pw = derive_smtp_password_v4(&secret, "eu-west-1");
        let a = analyse_smtp(&SmtpCredentials {
            username: "AKIAIOSFODNN7EXAMPLE",
            password: &pw,
            secret_key: Some(&secret),
            region: "us-east-1",
        });
        assert_eq!(classes(&a), vec![Class::SmtpPasswordWrongRegion]);
        assert_eq!(a.findings[0].details.region.as_deref(), Some("eu-west-1"));
        // The right region gives no finding at all.
        let a = analyse_smtp(&SmtpCredentials {
            username: "AKIAIOSFODNN7EXAMPLE",
            password: &pw,
            secret_key: Some(&secret),
            region: "eu-west-1",
        });
        assert!(a.findings.is_empty());
    }

    #[test]
    fn temporary_and_non_key_usernames() {
        let pw = derive_smtp_password_v4(&Secret::new(SECRET), "us-east-1");
        let mk = |u| {
            classes(&analyse_smtp(&SmtpCredentials {
                username: u,
                password: &pw,
                secret_key: None,
                region: "us-east-1",
            }))
        };
        assert_eq!(
            mk("ASIAIOSFODNN7EXAMPLE"),
            vec![Class::SmtpTemporaryCredentials]
        );
        assert_eq!(
            mk("mailer@example.com"),
            vec![Class::SmtpUsernameNotAccessKey]
        );
    }

    #[test]
    fn legacy_v2_and_no_smtp_region() {
        let pw = derive_smtp_password_v2(&Secret::new(SECRET));
        let a = analyse_smtp(&SmtpCredentials {
            username: "AKIAIOSFODNN7EXAMPLE",
            password: &pw,
            secret_key: None,
            region: "af-south-1",
        });
        assert_eq!(
            classes(&a),
            vec![Class::RegionNoSmtpEndpoint, Class::SmtpPasswordLegacyV2]
        );
        assert!(!a.blocks_auth);
    }

    #[test]
    fn api_secret_shapes() {
        assert!(analyse_api_secret(&Secret::new(SECRET)).is_none());
        let pw = derive_smtp_password_v4(&Secret::new(SECRET), "us-east-1");
        assert_eq!(
            analyse_api_secret(&pw).map(|f| f.class),
            Some(Class::ApiSecretIsSmtpPassword)
        );
    }
}
