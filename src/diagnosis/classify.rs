//! Matchers from what a peer said to a [`Class`].
//!
//! Three entry points share one set of rules: an SMTP reply (code + text),
//! an AWS error (code, message, HTTP status), and free text as an operator
//! pastes it into `explain` (a Postfix log line, an SDK exception, AWS CLI
//! output, an SMTP transcript). The checks call the first two with typed
//! values; `explain` finds those values in the text and calls the same two,
//! so a class means the same thing wherever it comes from.

use std::sync::LazyLock;

use regex::Regex;

use super::{Class, Details};

/// Which interface a text came from, when the caller knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Smtp,
    Api,
    Sts,
}

/// An AWS error as the SDK (or a pasted text) gives it.
#[derive(Clone, Copy, Debug, Default)]
pub struct AwsError<'a> {
    pub code: Option<&'a str>,
    pub message: Option<&'a str>,
    pub status: Option<u16>,
}

fn has(text: &str, needle: &str) -> bool {
    text.contains(needle)
}

/// Class for an SMTP reply. `text` is the reply text after the code (it may
/// start with an enhanced status code). 2xx and 3xx are `Ok`.
pub fn classify_smtp_reply(code: u16, text: &str) -> (Class, Details) {
    let mut details = Details {
        reply_code: Some(code),
        ..Details::default()
    };
    details.absorb_text(text);
    let t = text.to_ascii_lowercase();
    let class = match code {
        200..=399 => Class::Ok,
        421 => {
            if has(&t, "too many") && has(&t, "connection") {
                Class::SmtpTooManyConnections
            } else if has(&t, "maximum") && (has(&t, "message") || has(&t, "session")) {
                Class::SmtpSessionMessageLimit
            } else if has(&t, "timeout") || has(&t, "idle") {
                Class::SmtpIdleTimeout
            } else {
                Class::ServiceTemporaryFailure
            }
        }
        451 if has(&t, "timeout waiting") => Class::SmtpIdleTimeout,
        454 if has(&t, "daily message quota") => Class::QuotaDailyExceeded,
        454 if has(&t, "sigv2") => Class::LegacySmtpCredentialsThrottled,
        454 if has(&t, "sending rate") || has(&t, "throttl") => Class::ThrottleRate,
        454 if has(&t, "authentication") => Class::AuthTemporaryFailure,
        530 if has(&t, "starttls") || has(&t, "tls") => Class::TlsRequired,
        530 => Class::AuthRequired,
        535 if has(&t, "not subscribed") => Class::AccountNotSubscribed,
        535 | 534 => Class::AuthCredentialsInvalid,
        552 => Class::MessageTooLarge,
        553 | 501 if !has(&t, "syntax error, command") => Class::AddressSyntaxInvalid,
        500..=504 => Class::SmtpProtocolError,
        554 | 550 => classify_rejection(&t).unwrap_or(Class::MessageRejected),
        400..=499 => Class::ServiceTemporaryFailure,
        _ => Class::Unknown,
    };
    if class == Class::Unknown {
        details.raw = Some(crate::text::truncate(&super::redact(text), 256));
    }
    (class, details)
}

/// The specific reason inside a rejection text, shared by SMTP 554 and the
/// API's `MessageRejected`.
fn classify_rejection(t: &str) -> Option<Class> {
    Some(
        if has(t, "not authorized to perform") || has(t, "access denied") {
            Class::IamAccessDenied
        } else if has(t, "mail from domain") || has(t, "mail-from domain") {
            Class::MailFromDomainNotVerified
        } else if has(t, "not verified") || has(t, "failed the check") {
            Class::IdentityNotVerified
        } else if has(t, "configuration set") && (has(t, "does not exist") || has(t, "not found")) {
            Class::ConfigurationSetMissing
        } else if has(t, "configuration set") && (has(t, "paused") || has(t, "disabled")) {
            Class::ConfigurationSetPaused
        } else if has(t, "sending suspended") || has(t, "account suspended") {
            Class::AccountSuspended
        } else if has(t, "sending paused") || has(t, "sending is paused") {
            Class::SendingPaused
        } else if has(t, "daily message quota") {
            Class::QuotaDailyExceeded
        } else if has(t, "sending rate") {
            Class::ThrottleRate
        } else if has(t, "too long") || has(t, "too large") || has(t, "size exceeds") {
            Class::MessageTooLarge
        } else if has(t, "transaction failed") || has(t, "illegal header") || has(t, "mime") {
            Class::MessageMalformed
        } else {
            return None;
        },
    )
}

/// Class for an AWS API error, from its code first, its message where SES
/// hides the reason there, and the HTTP status last.
pub fn classify_aws_error(err: AwsError<'_>) -> (Class, Details) {
    let mut details = Details {
        aws_code: err.code.map(str::to_owned),
        http_status: err.status,
        ..Details::default()
    };
    let message = err.message.unwrap_or("");
    details.absorb_text(message);
    let m = message.to_ascii_lowercase();
    let skewed = details.clock_skew_seconds.is_some();
    let class = err
        .code
        .and_then(|code| aws_code_class(code, &m, skewed))
        .or_else(|| status_class(err.status))
        .or_else(|| phrase_class(&m))
        .unwrap_or(Class::Unknown);
    if class == Class::Unknown {
        details.raw = Some(crate::text::truncate(&super::redact(message), 256));
    }
    (class, details)
}

/// The class an HTTP status alone says: only server errors and 429.
fn status_class(status: Option<u16>) -> Option<Class> {
    match status? {
        s if s >= 500 => Some(Class::ServiceTemporaryFailure),
        429 => Some(Class::ThrottleRate),
        _ => None,
    }
}

/// The class of an AWS error code (`m` is the lower-cased message), or
/// `None` for a code this table does not know.
fn aws_code_class(code: &str, m: &str, skewed: bool) -> Option<Class> {
    let code = code.rsplit(['#', '.']).next().unwrap_or(code);
    Some(match code {
        "MessageRejected" | "MessageRejectedException" => {
            classify_rejection(m).unwrap_or(Class::MessageRejected)
        }
        "MailFromDomainNotVerifiedException" | "MailFromDomainNotVerified" => {
            Class::MailFromDomainNotVerified
        }
        "AccountSuspendedException" => Class::AccountSuspended,
        "SendingPausedException" if has(m, "configuration set") => Class::ConfigurationSetPaused,
        "SendingPausedException" | "AccountSendingPausedException" => Class::SendingPaused,
        "ConfigurationSetSendingPausedException" => Class::ConfigurationSetPaused,
        "ConfigurationSetDoesNotExistException" | "ConfigurationSetDoesNotExist" => {
            Class::ConfigurationSetMissing
        }
        "LimitExceededException" | "LimitExceeded" => Class::LimitExceeded,
        "BadRequestException" | "NotFoundException" if has(m, "configuration set") => {
            Class::ConfigurationSetMissing
        }
        "BadRequestException" | "ValidationError" | "ValidationException" => Class::BadRequest,
        "NotFoundException" | "ResourceNotFoundException" => Class::ResourceNotFound,
        "Throttling" | "ThrottlingException" if has(m, "daily message quota") => {
            Class::QuotaDailyExceeded
        }
        "TooManyRequestsException"
        | "Throttling"
        | "ThrottlingException"
        | "RequestLimitExceeded" => Class::ThrottleRate,
        "InternalServiceErrorException"
        | "InternalFailure"
        | "InternalError"
        | "ServiceUnavailable"
        | "ServiceUnavailableException" => Class::ServiceTemporaryFailure,
        "AccessDeniedException"
        | "AccessDenied"
        | "AuthorizationError"
        | "UnauthorizedOperation" => Class::IamAccessDenied,
        "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "InvalidAccessKeyId"
        | "AuthFailure" => Class::InvalidAccessKey,
        "InvalidSignatureException" | "SignatureDoesNotMatch" | "IncompleteSignature" => {
            if skewed || has(m, "signature expired") || has(m, "signature not yet current") {
                Class::ClockSkew
            } else {
                Class::SignatureMismatch
            }
        }
        "RequestExpired" | "RequestTimeTooSkewed" => Class::ClockSkew,
        "ExpiredToken" | "ExpiredTokenException" | "TokenRefreshRequired" => {
            Class::CredentialsExpired
        }
        "RegionDisabledException" => Class::StsRegionDisabled,
        "OptInRequired" | "SubscriptionRequiredException" => Class::AccountNotSubscribed,
        "InvalidParameterValue" | "InvalidParameterCombination" => classify_rejection(m)
            .or_else(|| {
                if has(m, "missing final '@domain'") {
                    Some(Class::MessageMalformed)
                } else if has(m, "domain") || has(m, "address") {
                    Some(Class::AddressSyntaxInvalid)
                } else {
                    None
                }
            })
            .unwrap_or(Class::BadRequest),
        _ => return None,
    })
}

/// The one table of phrases, for texts that carry no code (or a code this
/// module does not know): SES messages quoted without their reply code or
/// error code, the AWS SDKs' credential-chain errors (the identity, account
/// and send checks classify theirs through this table too), resolver,
/// socket and TLS library errors, and Postfix's own log texts. `t` is
/// lower-cased. The first row with a matching needle wins, so specific rows
/// come before general ones.
pub fn phrase_class(t: &str) -> Option<Class> {
    const TABLE: &[(&[&str], Class)] = &[
        // The client's SASL library has no mechanism SES accepts.
        (
            &[
                "no worthy mechs",
                "no mechanism available",
                "offered no compatible authentication mechanism",
                "offered no supported auth mechanism",
                "no supported authentication mechanism",
                "no authentication mechanism available",
                "authentication mechanism is not supported",
            ],
            Class::SaslMechanismUnavailable,
        ),
        // SES's own messages, quoted without their code.
        (&["must issue a starttls command first"], Class::TlsRequired),
        (
            &[
                "account not subscribed",
                "not signed up for amazon ses",
                "needs a subscription for the service",
            ],
            Class::AccountNotSubscribed,
        ),
        (
            &["authentication credentials invalid"],
            Class::AuthCredentialsInvalid,
        ),
        (
            &["temporary authentication failure"],
            Class::AuthTemporaryFailure,
        ),
        (
            &["maximum sigv2 smtp sending rate exceeded"],
            Class::LegacySmtpCredentialsThrottled,
        ),
        (&["daily message quota exceeded"], Class::QuotaDailyExceeded),
        (&["maximum sending rate exceeded"], Class::ThrottleRate),
        (
            &[
                "timeout waiting for data from client",
                "too much time elapsed between requests",
            ],
            Class::SmtpIdleTimeout,
        ),
        (
            &["too many concurrent smtp connections"],
            Class::SmtpTooManyConnections,
        ),
        (
            &[
                "maximum message count per session",
                "maximum number of messages per session",
            ],
            Class::SmtpSessionMessageLimit,
        ),
        (
            &["sending suspended for this account"],
            Class::AccountSuspended,
        ),
        (&["has been put on probation"], Class::EnforcementProbation),
        (
            &["temporary service failure"],
            Class::ServiceTemporaryFailure,
        ),
        (
            &[
                "signature expired",
                "signature not yet current",
                "request has expired",
                "clock skew",
            ],
            Class::ClockSkew,
        ),
        (
            &[
                "request signature we calculated does not match",
                "signaturedoesnotmatch",
            ],
            Class::SignatureMismatch,
        ),
        (
            &[
                "security token included in the request is invalid",
                "access key id you provided does not exist",
                "invalidclienttokenid",
                "unrecognizedclient",
            ],
            Class::InvalidAccessKey,
        ),
        (
            &["sts is not activated", "regiondisabled"],
            Class::StsRegionDisabled,
        ),
        (
            &[
                "is not authorized to perform",
                "accessdenied",
                "access denied",
            ],
            Class::IamAccessDenied,
        ),
        // Credential chains (AWS CLI/botocore, the SDK for Rust's
        // aws-config, other SDKs). A profile that is not there, first: a
        // chain that tried it says so among its other providers.
        (
            &[
                "was not defined",
                "could not be found",
                "profilenotfound",
                "profile not found",
                "no profile named",
                "referenced by profile",
                "could not parse profile file",
            ],
            Class::ProfileNotFound,
        ),
        (
            &[
                "partial credentials",
                "missing: aws_secret_access_key",
                "missing: aws_access_key_id",
                "missing aws_secret_access_key",
                "missing aws_access_key_id",
                "aws_role_arn environment variable must be set",
                "invalid sso config",
            ],
            Class::PartialCredentials,
        ),
        (
            &["will resolve an access token instead of credentials"],
            Class::NoCredentials,
        ),
        (
            &[
                "sso session",
                "sso token",
                "aws sso login",
                "token from sso",
                "token for",
                "sso_start_url",
                "/sso/cache/",
                "loading an access token",
                "unauthorizedssotoken",
            ],
            Class::SsoSessionExpired,
        ),
        (
            &[
                "security token included in the request is expired",
                "web identity token that was passed is expired",
                "token has expired",
                "expiredtoken",
            ],
            Class::CredentialsExpired,
        ),
        // IMDS answered, but has no usable role.
        (
            &[
                "received 404 from imds",
                "no role attached",
                "may not have an iam role",
                "incorrect imds/iam configuration",
                "ec2 cannot assume the role",
            ],
            Class::ImdsUnavailable,
        ),
        // The container (ECS, EKS Pod Identity) credentials endpoint, the
        // container's metadata service, is configured but unreachable.
        (
            &["unexpected credentials error: dispatch failure"],
            Class::ImdsUnavailable,
        ),
        // A whole chain tried and empty: an unreachable or disabled IMDS at
        // its end is the normal state of any host outside EC2.
        (
            &["no credentials found in chain", "no providers in chain"],
            Class::NoCredentials,
        ),
        (
            &[
                "imds",
                "instance metadata",
                "ec2 metadata",
                "ec2instancemetadata",
                "169.254.169.254",
            ],
            Class::ImdsUnavailable,
        ),
        (
            &[
                "unable to locate credentials",
                "no credentials",
                "could not load credentials",
                "credentials not loaded",
                "failed to load credentials",
                "missing credentials",
                "did not contain credential information",
                "credential provider was not enabled",
                "credentials provider was not properly configured",
                "while loading credentials",
                "error retrieving credentials",
                "unexpected credentials error",
            ],
            Class::NoCredentials,
        ),
        (
            &[
                "must specify a region",
                "noregionerror",
                "region is missing",
                "missing region",
                "no region",
            ],
            Class::RegionMissing,
        ),
        // SES rejections quoted without a code.
        (
            &["mail from domain", "mail-from domain"],
            Class::MailFromDomainNotVerified,
        ),
        (
            &[
                "email address is not verified",
                "failed the check in region",
            ],
            Class::IdentityNotVerified,
        ),
        (
            &["sending paused for this account", "sending is paused"],
            Class::SendingPaused,
        ),
        (
            &[
                "exceeds size limit",
                "message is too long",
                "message size exceeds",
            ],
            Class::MessageTooLarge,
        ),
        (
            &["transaction failed", "illegal header"],
            Class::MessageMalformed,
        ),
        (&["authentication required"], Class::AuthRequired),
        // Resolver, socket and TLS errors.
        (
            &[
                "name or service not known",
                "failed to lookup address",
                "nodename nor servname",
                "could not resolve",
                "host not found",
                "host or domain name not found",
                "nxdomain",
                "enotfound",
                "temporary failure in name resolution",
                "no address associated",
                "no such host",
                "unknownhostexception",
            ],
            Class::DnsFailure,
        ),
        (
            &[
                "connection refused",
                "econnrefused",
                "network is unreachable",
                "no route to host",
            ],
            Class::ConnectRefused,
        ),
        (
            &[
                "certificate verify failed",
                "certificate verification failed",
                "server certificate not verified",
                "untrusted issuer",
                "unknownissuer",
                "unknown issuer",
                "notvalidforname",
                "certificate has expired",
                "certificate expired",
                "invalid peer certificate",
                "self signed certificate",
                "self-signed certificate",
                "pkix path building failed",
                "unable to find valid certification path",
                "certificate signed by unknown authority",
                "x509: certificate",
            ],
            Class::TlsCertificateInvalid,
        ),
        (
            &[
                "tls is required, but was not offered",
                "did not offer tls",
                "does not support tls",
                "starttls not offered",
                "does not support starttls",
            ],
            Class::StarttlsNotOffered,
        ),
        (
            &[
                "handshake failure",
                "handshake failed",
                "tls handshake",
                "ssl handshake",
                "sslhandshake",
                "wrong version number",
                "wrong_version_number",
                "ssl_connect error",
                "cannot start tls",
                "establish an ssl or tls connection",
            ],
            Class::TlsHandshakeFailed,
        ),
        (
            &[
                "connection timed out",
                "connect timeout",
                "connection timeout",
                "timed out while connecting",
                "timeout while connecting",
                "operation timed out",
                "etimedout",
                "opentimeout",
                "could not connect to the endpoint url",
            ],
            Class::ConnectTimeout,
        ),
        (
            &[
                "lost connection",
                "connection reset",
                "connection closed",
                "connectionclosed",
                "connection unexpectedly closed",
                "unexpected socket close",
                "unexpected eof",
                "broken pipe",
            ],
            Class::ConnectionClosed,
        ),
        (
            &["timed out", "timeout", "greeting never received"],
            Class::Timeout,
        ),
    ];
    TABLE
        .iter()
        .find(|(needles, _)| needles.iter().any(|n| t.contains(n)))
        .map(|(_, class)| *class)
}

/// The class a delivery status notification code alone implies, for texts
/// (Postfix's `dsn=`, a DSN report's `Status:`) whose words say nothing
/// more specific. Codes Postfix uses for many reasons (`4.7.0`, `4.0.0`)
/// imply nothing.
fn dsn_class(dsn: &str) -> Option<Class> {
    let mut parts = dsn.split('.');
    let (kind, subject, detail) = (parts.next()?, parts.next()?, parts.next()?);
    if kind == "2" {
        return None;
    }
    Some(match (subject, detail) {
        ("7", "5") => Class::TlsHandshakeFailed,
        ("7", "4") => Class::StarttlsNotOffered,
        ("7", "8") => Class::AuthCredentialsInvalid,
        ("3", "4") => Class::MessageTooLarge,
        ("4", "1") => Class::ConnectTimeout,
        ("4", "2") => Class::ConnectionClosed,
        ("4", "3") | ("4", "4") => Class::DnsFailure,
        ("1", "3") | ("1", "7") => Class::AddressSyntaxInvalid,
        _ => return None,
    })
}

macro_rules! re {
    ($name:ident, $pat:expr) => {
        static $name: LazyLock<Regex> = LazyLock::new(|| Regex::new($pat).expect("valid regex"));
    };
}

// AWS error codes as the CLI, the SDKs, XML and JSON bodies print them.
re!(
    AWS_CODE,
    r#"(?x)
      An\ error\ occurred\ \((?P<a>[A-Za-z.\#]+)\)
    | Error\ Code:\ (?P<b>[A-Za-z]+)
    | <Code>(?P<c>[A-Za-z]+)</Code>
    | "__type"\s*:\s*"(?:[^"\#]*\#)?(?P<d>[A-Za-z]+)"
    | code:\s*Some\("(?P<e>[A-Za-z]+)"\)
    | (?i:x-amzn-errortype):\s*(?P<f>[A-Za-z]+)
    | "(?:code|Code|name)"\s*:\s*"(?P<g>[A-Za-z]+(?:Exception)?)"
    | \bmodel\.(?P<h>[A-Za-z]+Exception)\b
    | api\ error\ (?P<k>[A-Za-z]+):
    | RequestID:\ [^,\s]*,\s*(?P<l>[A-Z][A-Za-z]+):
    | \b(?P<m>[A-Z][A-Za-z]+)\ \((?:client|server)\):
    | (?m:^\s*(?:[A-Za-z.]+Error:\s*|Error:\s*|service\ error:\s*)?(?P<i>[A-Z][a-z]+(?:[A-Z][A-Za-z]*)*):\ )
    | \b(?P<n>[A-Z][a-z]+(?:[A-Z][A-Za-z]*)+):\ [^\n]*?(?:\n|\\n)\s*(?:\\t)?status\ code:
    | \b(?P<j>(?:[A-Z][a-z]+)+Exception)\b
    "#
);
re!(
    HTTP_STATUS,
    r"(?i)\bstatus ?code:?\s*([1-5][0-9]{2})\b|\bHTTP/[0-9.]+ ([1-5][0-9]{2})\b|resulted in a `([1-5][0-9]{2}) "
);
// An SMTP reply inside a longer text: a valid reply code (second digit 0-5)
// at the start of a line or after punctuation (`said: `, `"`, `(`, `<<`),
// never after a word or a number (`size 331`, `port 587`), followed by a
// space, a hyphen or `: ` and then an enhanced code or a word.
re!(
    SMTP_REPLY,
    r"(?m)(?:^|[^0-9A-Za-z.,=/`_\s])[ \t]*([2-5][0-5][0-9])(?:[ -]|:[ \t])((?:[245]\.[0-9]{1,3}\.[0-9]{1,3}\b)?[^\r\n]*)"
);
// Symfony Mailer, SwiftMailer: the code that came back is the one that
// matters, not the one expected.
re!(
    GOT_CODE,
    r#"got code "?([2-5][0-5][0-9])"?(?:, with message "(?:[2-5][0-9]{2}[ -])?([^"]*))?"#
);
// Python smtplib: `(535, b'Authentication Credentials Invalid')`.
re!(
    PY_TUPLE,
    r#"\(([2-5][0-5][0-9]), b?(?:'([^']*)'|"([^"]*)")"#
);
re!(
    DSN,
    r"(?m)\bdsn=([245]\.[0-9]{1,3}\.[0-9]{1,3})\b|^Status: ([245]\.[0-9]{1,3}\.[0-9]{1,3})\s*$"
);
re!(ROOT_ARN, r"\barn:aws[a-z-]*:iam::[0-9]{12}:root\b");
re!(
    BARE_ARN,
    r"^arn:aws[a-z-]*:(?:iam|sts)::[0-9]{12}:[A-Za-z0-9+=,.@_/-]+$"
);
re!(
    ENDPOINT_URL,
    r"could not connect to the endpoint url: \x22https?://email(?:-smtp)?\.([a-z0-9-]+)\.amazonaws\.com"
);
re!(CONTINUATION, r"\r?\n[ \t]+");
// Postfix processes whose lines are bookkeeping unless they warn.
re!(
    POSTFIX_ROUTINE,
    r"\bpostfix(?:-[a-z]+)?/(?:pickup|cleanup|qmgr|master|postfix-script|bounce|discard|anvil|scache|tlsmgr|postqueue|postsuper|smtpd)\["
);

/// Every code a text carries, whatever wrapper it came in: the first layer
/// of [`classify_text`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Extracted {
    /// SMTP replies in the order found; a code a mail library says it "got"
    /// comes first.
    pub replies: Vec<(u16, String)>,
    /// AWS error codes in the order found (known or not).
    pub aws_codes: Vec<String>,
    /// The HTTP status of an API answer.
    pub http_status: Option<u16>,
    /// The delivery status code Postfix logs as `dsn=` (or a DSN report's
    /// `Status:`).
    pub dsn: Option<String>,
}

/// Generic exception names that carry no class of their own.
const GENERIC_NAMES: &[&str] = &[
    "ClientError",
    "ServiceException",
    "SdkClientException",
    "AmazonServiceException",
    "AwsServiceException",
    "SesV2Exception",
    "SesException",
    "StsException",
    "RuntimeException",
    "IOException",
    "Exception",
    "Error",
];

/// Layer one: find every reply code, AWS error code, HTTP status and DSN
/// code in `text`.
pub fn extract(text: &str) -> Extracted {
    // Postfix and mail clients wrap long lines with indented continuations.
    let flat = CONTINUATION.replace_all(text, " ");
    let mut replies = Vec::new();
    for c in GOT_CODE.captures_iter(&flat) {
        if let Ok(code) = c[1].parse() {
            let message = c.get(2).map_or("", |m| m.as_str());
            replies.push((code, message.to_owned()));
        }
    }
    for c in PY_TUPLE.captures_iter(&flat) {
        if let Ok(code) = c[1].parse() {
            let message = c.get(2).or(c.get(3)).map_or("", |m| m.as_str());
            replies.push((code, message.to_owned()));
        }
    }
    for c in SMTP_REPLY.captures_iter(&flat) {
        let (Ok(code), Some(rest)) = (c[1].parse(), c.get(2)) else {
            continue;
        };
        let rest = rest.as_str();
        // "500 ms" is not a reply: require a letter, `<` or an enhanced code
        // right after the separator.
        let Some(first) = rest.chars().next() else {
            continue;
        };
        let fits = first.is_ascii_alphabetic()
            || first == '<'
            || (first.is_ascii_digit() && super::enhanced_code(rest).is_some());
        if fits {
            replies.push((code, rest.to_owned()));
        }
    }
    let mut aws_codes = Vec::new();
    for c in AWS_CODE.captures_iter(text) {
        let Some(m) = [
            "a", "b", "c", "d", "e", "f", "g", "h", "k", "l", "m", "i", "n", "j",
        ]
        .iter()
        .find_map(|n| c.name(n)) else {
            continue;
        };
        let code = m.as_str();
        let code = code.rsplit(['#', '.']).next().unwrap_or(code);
        if !GENERIC_NAMES.contains(&code) && !aws_codes.iter().any(|c| c == code) {
            aws_codes.push(code.to_owned());
        }
    }
    let http_status = HTTP_STATUS.captures(text).and_then(|c| {
        (1..=3)
            .find_map(|i| c.get(i))
            .and_then(|m| m.as_str().parse().ok())
    });
    let dsn = DSN
        .captures(text)
        .and_then(|c| c.get(1).or(c.get(2)))
        .map(|m| m.as_str().to_owned());
    Extracted {
        replies,
        aws_codes,
        http_status,
        dsn,
    }
}

/// Whether a text reports success and no failure: a GetCallerIdentity or
/// send result, a delivered Postfix line, an established TLS session,
/// Postfix's own bookkeeping.
fn reports_success(text: &str, t: &str) -> bool {
    let trimmed = text.trim();
    (text.contains("\"Arn\"") && text.contains("\"Account\""))
        || text.contains("<GetCallerIdentityResult>")
        || text.contains("\"SendQuota\"")
        || text.contains("\"MessageId\"")
        || BARE_ARN.is_match(trimmed)
        || t.contains("status=sent")
        || t.contains("tls connection established")
        || t.contains("mail queue is empty")
        || t.starts_with("message-id:")
        || ((POSTFIX_ROUTINE.is_match(text) || t.contains("]: connect from ")) && !warns(t))
}

/// Words that make a line a report of trouble even when it also quotes a
/// success reply.
fn warns(t: &str) -> bool {
    [
        "warning:",
        "error:",
        "fatal:",
        "panic:",
        "reject:",
        "status=deferred",
        "status=bounced",
        "status=expired",
    ]
    .iter()
    .any(|w| t.contains(w))
}

/// Class for free text, as an operator would paste it into `explain`.
///
/// Four layers: (a) [`extract`] every reply code, AWS error code, HTTP
/// status and DSN code from whatever wrapper the text is in; (b) classify
/// those with the rules the live checks use ([`classify_aws_error`],
/// [`classify_smtp_reply`]): a known AWS code first (it is unambiguous),
/// then the first failing SMTP reply (with a channel hint of `smtp`, the
/// reply first), then a server-error HTTP status; (c) the phrase table
/// ([`phrase_class`]) for texts that carry only a message; (d) the DSN
/// code. A text with none of these is `ok` if it shows success (a success
/// reply, a delivered message, Postfix bookkeeping, an identity that is
/// not the root user), `root_credentials` for an identity that is, and
/// `unknown` otherwise: a failure text is never called `ok`.
pub fn classify_text(text: &str, channel: Option<Channel>) -> (Class, Details) {
    let facts = extract(text);
    let lower = text.to_ascii_lowercase();
    let mut found = classify_facts(text, &facts, channel);
    if found.is_none() {
        found =
            phrase_class(&lower).map(|c| (endpoint_region_check(c, &lower), Details::default()));
    }
    if found.is_none() {
        found = facts
            .dsn
            .as_deref()
            .and_then(dsn_class)
            .map(|c| (c, Details::default()));
    }
    if let Some((class, mut details)) = found {
        // The reply or message decided the class; the rest of the text (a
        // Postfix prefix naming the host, say) may still hold facts.
        details.absorb_text(text);
        if details.reply_code.is_none() {
            details.reply_code = facts.replies.iter().find(|r| r.0 >= 400).map(|r| r.0);
        }
        if details.http_status.is_none() {
            details.http_status = facts.http_status;
        }
        return (class, details);
    }
    if let Some(arn) = ROOT_ARN.find(text) {
        let details = Details {
            principal: Some(arn.as_str().to_owned()),
            ..Details::default()
        };
        return (Class::RootCredentials, details);
    }
    let success_reply = facts.replies.iter().find(|(code, _)| *code < 400);
    if let (Some((code, rest)), false) = (success_reply, warns(&lower)) {
        return classify_smtp_reply(*code, rest);
    }
    if reports_success(text, &lower) {
        return (Class::Ok, Details::default());
    }
    let details = Details {
        raw: Some(crate::text::truncate(&super::redact(text.trim()), 256)),
        ..Details::default()
    };
    (Class::Unknown, details)
}

/// botocore says "Could not connect to the endpoint URL" for every
/// connection failure; an SES endpoint in a region that does not exist
/// cannot resolve, so that is the failure.
fn endpoint_region_check(class: Class, t: &str) -> Class {
    if class != Class::ConnectTimeout {
        return class;
    }
    let unknown_region = ENDPOINT_URL.captures(t).is_some_and(|c| {
        let region = &c[1];
        crate::regions::is_region_name(region) && !crate::regions::SES_REGIONS.contains(&region)
    });
    if unknown_region {
        Class::DnsFailure
    } else {
        class
    }
}

/// Layer (b): the typed facts through the checks' own classifiers.
fn classify_facts(
    text: &str,
    facts: &Extracted,
    channel: Option<Channel>,
) -> Option<(Class, Details)> {
    let aws = || -> Option<(Class, Details)> {
        let m = text.to_ascii_lowercase();
        let code = facts
            .aws_codes
            .iter()
            .find(|c| aws_code_class(c, &m, false).is_some())?;
        Some(classify_aws_error(AwsError {
            code: Some(code),
            message: Some(text),
            status: facts.http_status,
        }))
    };
    let smtp = || -> Option<(Class, Details)> {
        facts
            .replies
            .iter()
            .filter(|(code, _)| *code >= 400)
            .map(|(code, rest)| classify_smtp_reply(*code, rest))
            .find(|(class, _)| *class != Class::Unknown)
    };
    let first = if channel == Some(Channel::Smtp) {
        smtp().or_else(aws)
    } else {
        aws().or_else(smtp)
    };
    first.or_else(|| {
        status_class(facts.http_status).map(|class| {
            let details = Details {
                http_status: facts.http_status,
                ..Details::default()
            };
            (class, details)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts as operators paste them: Postfix log lines, raw SMTP replies
    /// (documented and real-world variants), SDK and CLI errors, credential
    /// chain errors, and success lines that must not be called failures.
    const CORPUS: &[(&str, Class)] = &[
        // Success forms.
        ("220 email-smtp.amazonaws.com ESMTP SimpleEmailService-d-ABCDEF123 abcdef", Class::Ok),
        ("235 Authentication successful.", Class::Ok),
        ("250 Ok 0100018c2b7a1234-abcd-4e5f-8a9b-0123456789ab-000000", Class::Ok),
        ("Nov 27 10:00:01 mx postfix/smtp[123]: 4F2A: to=<a@b.example>, relay=email-smtp.eu-west-1.amazonaws.com[3.248.1.1]:587, delay=0.5, status=sent (250 Ok 0102018c2b7a)", Class::Ok),
        (r#"{"UserId": "AIDAEXAMPLE", "Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/mailer"}"#, Class::Ok),
        ("<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/x</Arn></GetCallerIdentityResult></GetCallerIdentityResponse>", Class::Ok),
        // SES SMTP reply table and variants.
        ("421 Too many concurrent SMTP connections", Class::SmtpTooManyConnections),
        ("421 4.4.5 Maximum number of messages per session reached", Class::SmtpSessionMessageLimit),
        ("451 Temporary service failure", Class::ServiceTemporaryFailure),
        ("451 4.4.2 Timeout waiting for data from client.", Class::SmtpIdleTimeout),
        ("454 Throttling failure: Daily message quota exceeded.", Class::QuotaDailyExceeded),
        ("454 Throttling failure: Maximum sending rate exceeded", Class::ThrottleRate),
        ("454 4.7.0 Throttling failure: Maximum SigV2 SMTP sending rate exceeded", Class::LegacySmtpCredentialsThrottled),
        ("454 Temporary authentication failure", Class::AuthTemporaryFailure),
        ("454 4.3.0 Temporary service failure.", Class::ServiceTemporaryFailure),
        ("530 Must issue a STARTTLS command first", Class::TlsRequired),
        ("530 5.7.0 Authentication required", Class::AuthRequired),
        ("535 Authentication Credentials Invalid", Class::AuthCredentialsInvalid),
        ("535 5.7.8 Authentication Credentials Invalid.", Class::AuthCredentialsInvalid),
        ("535 Account not subscribed to SES", Class::AccountNotSubscribed),
        ("552 Message is too long.", Class::MessageTooLarge),
        ("553 <bad@@example> Invalid email address", Class::AddressSyntaxInvalid),
        ("553 5.1.7 <nobody> address unknown.", Class::AddressSyntaxInvalid),
        ("554 Transaction failed: Illegal header 'X Bad'.", Class::MessageMalformed),
        ("554 Access denied: User arn:aws:iam::123456789012:user/smtp is not authorized to perform ses:SendRawEmail on resource arn:aws:ses:us-east-1:123456789012:identity/example.com", Class::IamAccessDenied),
        ("554 Message rejected: Email address is not verified. The following identities failed the check in region EU-WEST-1: probe@example.com, user@example.org", Class::IdentityNotVerified),
        ("554 5.0.0 Message rejected: Sending paused for this account.", Class::SendingPaused),
        // Postfix log lines.
        ("Nov 27 10:00:01 mx postfix/smtp[123]: warning: SASL authentication failure: authentication failed", Class::Unknown),
        ("Nov 27 10:00:01 mx postfix/smtp[123]: 4F2A: SASL authentication failed; server email-smtp.us-east-1.amazonaws.com[44.1.2.3] said: 535 Authentication Credentials Invalid", Class::AuthCredentialsInvalid),
        ("postfix/smtp[99]: 1A2B: to=<x@y.example>, relay=email-smtp.us-east-1.amazonaws.com[1.2.3.4]:587, status=bounced (host email-smtp.us-east-1.amazonaws.com[1.2.3.4] said: 554 Message rejected: Email address is not verified. The following identities failed the check in region US-EAST-1: root@mx.example (in reply to end of DATA command))", Class::IdentityNotVerified),
        ("postfix/smtp[99]: connect to email-smtp.us-east-1.amazonaws.com[3.1.2.3]:25: Connection timed out", Class::ConnectTimeout),
        ("postfix/smtp[99]: connect to email-smtp.us-east-1.amazonaws.com[3.1.2.3]:587: Connection refused", Class::ConnectRefused),
        ("postfix/smtp[99]: warning: email-smtp.us-esat-1.amazonaws.com: Name or service not known", Class::DnsFailure),
        ("postfix/smtp[99]: 1A2B: lost connection with email-smtp.eu-west-1.amazonaws.com[3.3.3.3] while sending end of data", Class::ConnectionClosed),
        ("postfix/smtp[99]: 1A2B: host email-smtp.us-east-1.amazonaws.com[1.2.3.4] said: 530 Must issue a STARTTLS command first (in reply to MAIL FROM command)", Class::TlsRequired),
        ("postfix/smtp[99]: 1A2B: host email-smtp.us-west-2.amazonaws.com[1.2.3.4] said: 454 Throttling failure: Daily message quota exceeded. (in reply to end of DATA command)", Class::QuotaDailyExceeded),
        // A raw transcript: the failing reply decides.
        ("S: 220 email-smtp.amazonaws.com ESMTP SimpleEmailService\nC: EHLO mx\nS: 250-email-smtp.amazonaws.com\nS: 250-8BITMIME\nS: 250-STARTTLS\nS: 250 Ok\nC: AUTH LOGIN\nS: 535 Authentication Credentials Invalid\nC: QUIT\nS: 221 Bye", Class::AuthCredentialsInvalid),
        // AWS CLI / botocore.
        ("An error occurred (SignatureDoesNotMatch) when calling the GetCallerIdentity operation: The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.", Class::SignatureMismatch),
        ("An error occurred (InvalidClientTokenId) when calling the GetCallerIdentity operation: The security token included in the request is invalid.", Class::InvalidAccessKey),
        ("An error occurred (ExpiredToken) when calling the GetCallerIdentity operation: The security token included in the request is expired", Class::CredentialsExpired),
        ("An error occurred (SignatureDoesNotMatch) when calling the GetCallerIdentity operation: Signature expired: 20261127T110000Z is now earlier than 20261127T115500Z (20261127T120000Z - 5 min.)", Class::ClockSkew),
        ("An error occurred (RegionDisabledException) when calling the GetCallerIdentity operation: STS is not activated in this region for account:123456789012.", Class::StsRegionDisabled),
        ("botocore.errorfactory.MessageRejected: An error occurred (MessageRejected) when calling the SendEmail operation: Email address is not verified. The following identities failed the check in region US-EAST-1: probe@example.com", Class::IdentityNotVerified),
        ("An error occurred (AccessDeniedException) when calling the SendEmail operation: User: arn:aws:iam::123456789012:user/app is not authorized to perform: ses:SendEmail on resource: arn:aws:ses:us-east-1:123456789012:identity/example.com because no identity-based policy allows the ses:SendEmail action", Class::IamAccessDenied),
        ("An error occurred (TooManyRequestsException) when calling the SendEmail operation: Maximum sending rate exceeded.", Class::ThrottleRate),
        ("An error occurred (SendingPausedException) when calling the SendEmail operation: Sending is paused for this account.", Class::SendingPaused),
        ("An error occurred (AccountSuspendedException) when calling the SendEmail operation: Your account has been suspended", Class::AccountSuspended),
        ("An error occurred (MailFromDomainNotVerifiedException) when calling the SendEmail operation: Mail-From domain not verified", Class::MailFromDomainNotVerified),
        ("An error occurred (NotFoundException) when calling the SendEmail operation: Configuration set <marketing> does not exist.", Class::ConfigurationSetMissing),
        ("An error occurred (UnrecognizedClientException) when calling the GetAccount operation: The security token included in the request is invalid.", Class::InvalidAccessKey),
        ("An error occurred (InternalServiceErrorException) when calling the SendEmail operation (reached max retries: 2): Internal error", Class::ServiceTemporaryFailure),
        ("An error occurred (LimitExceededException) when calling the CreateEmailIdentity operation: Maximum number of identities reached", Class::LimitExceeded),
        ("An error occurred (BadRequestException) when calling the SendEmail operation: Missing required header 'From'.", Class::BadRequest),
        // Java, Go, JS, Rust SDKs and raw wire bodies.
        ("com.amazonaws.services.simpleemail.model.MessageRejectedException: Email address is not verified. The following identities failed the check in region EU-CENTRAL-1: a@b.example (Service: AmazonSimpleEmailService; Status Code: 400; Error Code: MessageRejected; Request ID: 1-2-3)", Class::IdentityNotVerified),
        ("InvalidClientTokenId: The security token included in the request is invalid.\n\tstatus code: 403, request id: abc", Class::InvalidAccessKey),
        ("ExpiredTokenException: The security token included in the request is expired", Class::CredentialsExpired),
        ("ServiceError(ServiceError { source: Unhandled(Unhandled { source: ErrorMetadata { code: Some(\"InvalidSignatureException\"), message: Some(\"The request signature we calculated does not match\") } }) })", Class::SignatureMismatch),
        ("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>Signature not yet current: 20261127T121000Z is still later than 20261127T120500Z (20261127T120000Z + 5 min.)</Message></Error></ErrorResponse>", Class::ClockSkew),
        ("{\"__type\":\"com.amazon.coral.service#AccessDeniedException\",\"message\":\"User `arn:aws:iam::123456789012:user/x' is not authorized to perform `ses:GetAccount' on resource `*'\"}", Class::IamAccessDenied),
        // Wire forms the API checks see: SESv2 error header, STS XML error.
        ("HTTP/1.1 400 Bad Request\nx-amzn-ErrorType: SendingPausedException:http://internal.amazon.com/coral/com.amazonaws.sesv2/\n\n{\"message\":\"Sending is paused for this account.\"}", Class::SendingPaused),
        ("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>RegionDisabledException</Code><Message>STS is not activated in this region for account:123456789012.</Message></Error></ErrorResponse>", Class::StsRegionDisabled),
        // Credential chain and network errors.
        ("Unable to locate credentials. You can configure credentials by running \"aws configure\".", Class::NoCredentials),
        ("The config profile (mailer) could not be found", Class::ProfileNotFound),
        ("Partial credentials found in env, missing: AWS_SECRET_ACCESS_KEY", Class::PartialCredentials),
        ("Error when retrieving token from sso: Token has expired and refresh failed", Class::SsoSessionExpired),
        ("The SSO session associated with this profile has expired or is otherwise invalid. To refresh this SSO session run aws sso login with the corresponding profile.", Class::SsoSessionExpired),
        ("You must specify a region. You can also configure your region by running \"aws configure\".", Class::RegionMissing),
        ("failed to load credentials from IMDS: no role attached to the instance", Class::ImdsUnavailable),
        ("dispatch failure: io error: error trying to connect: dns error: failed to lookup address information: Name or service not known", Class::DnsFailure),
        ("invalid peer certificate: UnknownIssuer", Class::TlsCertificateInvalid),
        ("received fatal alert: HandshakeFailure: tls handshake failure", Class::TlsHandshakeFailed),
    ];

    #[test]
    fn corpus_classes() {
        assert!(CORPUS.len() >= 60);
        let mut wrong = Vec::new();
        for (text, want) in CORPUS {
            let (got, _) = classify_text(text, None);
            if got != *want {
                wrong.push(format!("{got} != {want}: {text}"));
            }
        }
        assert!(wrong.is_empty(), "misclassified:\n{}", wrong.join("\n"));
    }

    #[test]
    fn details_from_texts() {
        let (c, d) = classify_text(
            CORPUS
                .iter()
                .find(|(t, _)| t.contains("`ses:GetAccount'"))
                .unwrap()
                .0,
            Some(Channel::Api),
        );
        assert_eq!(c, Class::IamAccessDenied);
        assert_eq!(d.action.as_deref(), Some("ses:GetAccount"));
        assert_eq!(
            d.principal.as_deref(),
            Some("arn:aws:iam::123456789012:user/x")
        );
        assert_eq!(d.aws_code.as_deref(), Some("AccessDeniedException"));

        let (c, d) = classify_text("An error occurred (SignatureDoesNotMatch) when calling the GetCallerIdentity operation: Signature expired: 20261127T110000Z is now earlier than 20261127T115500Z (20261127T120000Z - 5 min.)", Some(Channel::Sts));
        assert_eq!(c, Class::ClockSkew);
        assert_eq!(d.clock_skew_seconds, Some(3600.0));

        let (_, d) = classify_text(
            "451 4.4.2 Timeout waiting for data from client.",
            Some(Channel::Smtp),
        );
        assert_eq!(d.reply_code, Some(451));
        assert_eq!(d.enhanced_code.as_deref(), Some("4.4.2"));

        let (_, d) = classify_text("com.amazonaws.services.simpleemail.model.MessageRejectedException: Email address is not verified. The following identities failed the check in region EU-CENTRAL-1: a@b.example (Service: AmazonSimpleEmailService; Status Code: 400; Error Code: MessageRejected; Request ID: 1-2-3)", None);
        assert_eq!(d.region.as_deref(), Some("eu-central-1"));
        assert_eq!(d.identities, vec!["a@b.example"]);
        assert_eq!(d.http_status, Some(400));
    }

    #[test]
    fn typed_smtp_and_aws_paths() {
        assert_eq!(
            classify_smtp_reply(235, "Authentication successful").0,
            Class::Ok
        );
        assert_eq!(classify_smtp_reply(599, "odd").0, Class::Unknown);
        let (c, d) = classify_aws_error(AwsError {
            code: None,
            message: Some(""),
            status: Some(403),
        });
        assert_eq!(c, Class::Unknown);
        assert_eq!(d.http_status, Some(403));
        let (c, _) = classify_aws_error(AwsError {
            code: Some("aws.protocol#Throttling"),
            message: None,
            status: Some(400),
        });
        assert_eq!(c, Class::ThrottleRate);
        let (c, _) = classify_aws_error(AwsError {
            code: None,
            message: None,
            status: Some(503),
        });
        assert_eq!(c, Class::ServiceTemporaryFailure);
    }

    #[test]
    fn extraction_finds_codes_in_their_wrappers() {
        // The code a mail library got, not the one it expected.
        let e = extract(
            r#"Expected response code "250" but got code "454", with message "454 Throttling failure: Maximum sending rate exceeded.""#,
        );
        assert_eq!(e.replies[0].0, 454);
        assert_eq!(
            e.replies[0].1,
            "Throttling failure: Maximum sending rate exceeded."
        );
        let e = extract(
            "smtplib.SMTPAuthenticationError: (535, b'Authentication Credentials Invalid')",
        );
        assert_eq!(
            e.replies,
            vec![(535, "Authentication Credentials Invalid".to_owned())]
        );
        // Numbers after a word or a port are not replies.
        let e = extract("dsn=5.3.4, status=bounced (message size 331 exceeds size limit 100 of server x[1.2.3.4])");
        assert!(e.replies.is_empty(), "{:?}", e.replies);
        assert_eq!(e.dsn.as_deref(), Some("5.3.4"));
        assert!(extract("connect to x[1.2.3.4]:587: Connection refused")
            .replies
            .is_empty());
        // A reply wrapped onto the next line by Postfix.
        let e = extract("host x[1.2.3.4] said: 530\n    Authentication required (in reply to MAIL FROM command)");
        assert_eq!(e.replies[0].0, 530);
        // AWS codes from the Go v1 and v2, Java and PHP layouts.
        let codes = |t: &str| extract(t).aws_codes;
        assert!(codes(
            "Throttling: Maximum sending rate exceeded.\n\tstatus code: 400, request id: x"
        )
        .contains(&"Throttling".to_owned()));
        assert!(codes("operation error SESv2: SendEmail, https response error StatusCode: 403, RequestID: 1, api error SignatureDoesNotMatch: no")
            .contains(&"SignatureDoesNotMatch".to_owned()));
        assert!(codes("x (Service: AmazonSimpleEmailService; Status Code: 400; Error Code: MessageRejected; Request ID: 1)")
            .contains(&"MessageRejected".to_owned()));
        assert!(codes(
            " ExpiredToken (client): The security token included in the request is expired"
        )
        .contains(&"ExpiredToken".to_owned()));
        assert_eq!(
            extract("resulted in a `403 Forbidden` response").http_status,
            Some(403)
        );
    }

    #[test]
    fn failures_are_never_ok_and_bookkeeping_is() {
        let (c, _) = classify_text("Dec 01 21:40:04 mx postfix/smtp[1]: EFB: to=<a@b.example>, relay=x[1.2.3.4]:25, dsn=5.3.4, status=bounced (message size 331 exceeds size limit 100 of server x[1.2.3.4])", None);
        assert_eq!(c, Class::MessageTooLarge);
        // Only the DSN code says what happened.
        let (c, _) = classify_text("postfix/smtp[1]: A: to=<a@b.example>, relay=x, dsn=4.7.5, status=deferred (something new)", None);
        assert_eq!(c, Class::TlsHandshakeFailed);
        let (c, _) = classify_text("postfix/smtp[1]: A: to=<a@b.example>, relay=x, dsn=4.0.0, status=deferred (something new)", None);
        assert_eq!(c, Class::Unknown);
        for ok in [
            "Dec 01 21:39:45 mx postfix/qmgr[1]: 03B5998D312: removed",
            "Dec 01 21:39:45 mx postfix/smtp[1]: Trusted TLS connection established to x[1.2.3.4]:587: TLSv1.3",
            "250-STARTTLS",
            "arn:aws:iam::123456789012:user/mailer",
        ] {
            assert_eq!(classify_text(ok, None).0, Class::Ok, "{ok}");
        }
        assert_eq!(
            classify_text("Dec 01 mx postfix/qmgr[1]: warning: something odd", None).0,
            Class::Unknown
        );
    }

    #[test]
    fn root_identity_is_root_credentials() {
        for text in [
            "arn:aws:iam::123456789012:root",
            "{\n    \"UserId\": \"123456789012\",\n    \"Account\": \"123456789012\",\n    \"Arn\": \"arn:aws:iam::123456789012:root\"\n}",
            "123456789012\tarn:aws:iam::123456789012:root\t123456789012",
        ] {
            let (c, d) = classify_text(text, None);
            assert_eq!(c, Class::RootCredentials, "{text}");
            assert_eq!(
                d.principal.as_deref(),
                Some("arn:aws:iam::123456789012:root")
            );
        }
        // A root user denied something is denied, not root.
        let (c, _) = classify_text("User: arn:aws:iam::123456789012:root is not authorized to perform: ses:SendEmail on resource: *", None);
        assert_eq!(c, Class::IamAccessDenied);
    }

    #[test]
    fn sasl_mechanism_texts() {
        for text in [
            "warning: SASL authentication failure: No worthy mechs found",
            "status=deferred (SASL authentication failed; cannot authenticate to server x[1.2.3.4]: no mechanism available)",
            "status=deferred (SASL authentication failed: server x[1.2.3.4] offered no compatible authentication mechanisms for this type of connection security)",
        ] {
            assert_eq!(
                classify_text(text, None).0,
                Class::SaslMechanismUnavailable,
                "{text}"
            );
        }
    }

    #[test]
    fn unknown_keeps_raw_text() {
        let (c, d) = classify_text("something entirely different happened", None);
        assert_eq!(c, Class::Unknown);
        assert_eq!(
            d.raw.as_deref(),
            Some("something entirely different happened")
        );
    }
}
