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
    let code = err.code.unwrap_or("");
    let code = code.rsplit('#').next().unwrap_or(code);
    let class = match code {
        "MessageRejected" | "MessageRejectedException" => {
            classify_rejection(&m).unwrap_or(Class::MessageRejected)
        }
        "MailFromDomainNotVerifiedException" | "MailFromDomainNotVerified" => {
            Class::MailFromDomainNotVerified
        }
        "AccountSuspendedException" => Class::AccountSuspended,
        "SendingPausedException" if has(&m, "configuration set") => Class::ConfigurationSetPaused,
        "SendingPausedException" | "AccountSendingPausedException" => Class::SendingPaused,
        "ConfigurationSetSendingPausedException" => Class::ConfigurationSetPaused,
        "ConfigurationSetDoesNotExistException" | "ConfigurationSetDoesNotExist" => {
            Class::ConfigurationSetMissing
        }
        "LimitExceededException" | "LimitExceeded" => Class::LimitExceeded,
        "BadRequestException" | "NotFoundException" if has(&m, "configuration set") => {
            Class::ConfigurationSetMissing
        }
        "BadRequestException" | "ValidationError" | "ValidationException" => Class::BadRequest,
        "NotFoundException" | "ResourceNotFoundException" => Class::ResourceNotFound,
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
            if details.clock_skew_seconds.is_some() || has(&m, "signature expired") {
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
        "InvalidParameterValue" | "InvalidParameterCombination" => Class::BadRequest,
        _ => match err.status {
            Some(s) if s >= 500 => Class::ServiceTemporaryFailure,
            Some(429) => Class::ThrottleRate,
            _ => phrase_class(&m).unwrap_or(Class::Unknown),
        },
    };
    if class == Class::Unknown {
        details.raw = Some(crate::text::truncate(&super::redact(message), 256));
    }
    (class, details)
}

/// Classes recognised from well-known phrases alone: SDK credential-chain
/// errors, resolver and socket errors, TLS library errors, and AWS messages
/// quoted without their code.
fn phrase_class(t: &str) -> Option<Class> {
    const TABLE: &[(&[&str], Class)] = &[
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
                "security token included in the request is expired",
                "token has expired",
                "expiredtoken",
            ],
            Class::CredentialsExpired,
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
        (
            &[
                "partial credentials",
                "missing: aws_secret_access_key",
                "missing: aws_access_key_id",
            ],
            Class::PartialCredentials,
        ),
        (
            &[
                "sso session",
                "sso token",
                "aws sso login",
                "token for",
                "sso_start_url",
            ],
            Class::SsoSessionExpired,
        ),
        (
            &[
                "could not be found",
                "profilenotfound",
                "profile not found",
                "profile was not defined",
                "no profile named",
            ],
            Class::ProfileNotFound,
        ),
        (
            &[
                "imds",
                "instance metadata",
                "ec2 metadata",
                "169.254.169.254",
            ],
            Class::ImdsUnavailable,
        ),
        (
            &[
                "unable to locate credentials",
                "no credentials",
                "could not load credentials",
                "no providers in chain",
                "credentials not loaded",
                "failed to load credentials",
                "missing credentials",
            ],
            Class::NoCredentials,
        ),
        (
            &[
                "must specify a region",
                "noregionerror",
                "region is missing",
                "no region",
            ],
            Class::RegionMissing,
        ),
        (
            &[
                "name or service not known",
                "failed to lookup address",
                "nodename nor servname",
                "could not resolve",
                "host not found",
                "nxdomain",
                "temporary failure in name resolution",
                "no address associated",
            ],
            Class::DnsFailure,
        ),
        (&["connection refused"], Class::ConnectRefused),
        (
            &[
                "certificate verify failed",
                "unknownissuer",
                "unknown issuer",
                "notvalidforname",
                "certificate has expired",
                "certificate expired",
                "invalid peer certificate",
                "self signed certificate",
                "self-signed certificate",
            ],
            Class::TlsCertificateInvalid,
        ),
        (
            &[
                "handshake failure",
                "handshake failed",
                "tls handshake",
                "ssl handshake",
                "wrong version number",
            ],
            Class::TlsHandshakeFailed,
        ),
        (
            &[
                "starttls not offered",
                "does not support starttls",
                "server does not support starttls",
            ],
            Class::StarttlsNotOffered,
        ),
        (
            &[
                "connection timed out",
                "connect timeout",
                "timed out while connecting",
                "timeout while connecting",
                "connection timeout",
            ],
            Class::ConnectTimeout,
        ),
        (
            &[
                "lost connection",
                "connection reset",
                "connection closed",
                "unexpected eof",
                "broken pipe",
            ],
            Class::ConnectionClosed,
        ),
        (&["timed out", "timeout"], Class::Timeout),
    ];
    TABLE
        .iter()
        .find(|(needles, _)| needles.iter().any(|n| t.contains(n)))
        .map(|(_, class)| *class)
}

macro_rules! re {
    ($name:ident, $pat:expr) => {
        static $name: LazyLock<Regex> = LazyLock::new(|| Regex::new($pat).expect("valid regex"));
    };
}

// AWS error codes as the CLI, SDKs, XML and JSON bodies print them.
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
    | (?m:^\s*(?:Error:\s*)?(?P<i>[A-Z][A-Za-z]+(?:Exception|Token|TokenId|DoesNotMatch|Rejected|Expired)):)
    | \b(?P<j>(?:[A-Z][a-z]+)+Exception)\b
    "#
);
re!(HTTP_STATUS, r"(?i)\bstatus code:?\s*([1-5][0-9]{2})\b");
// An SMTP reply inside a longer text: a code at a word start followed by a
// space or hyphen and then an enhanced code or a word.
re!(
    SMTP_REPLY,
    r"(?m)(?:^|[\s:(\[>\x22])([2-5][0-9]{2})[ -]((?:[245]\.[0-9]{1,3}\.[0-9]{1,3}\b)?[^\r\n]*)"
);

/// Success forms that are not SMTP replies: a GetCallerIdentity result.
fn is_success_document(text: &str) -> bool {
    (text.contains("\"Arn\"") && text.contains("\"Account\""))
        || text.contains("<GetCallerIdentityResult>")
        || text.contains("\"SendQuota\"")
        || text.contains("\"MessageId\"")
}

fn aws_code_in(text: &str) -> Option<&str> {
    let caps = AWS_CODE.captures_iter(text);
    for c in caps {
        let m = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]
            .iter()
            .find_map(|n| c.name(n))?;
        let code = m.as_str();
        let code = code.rsplit(['#', '.']).next().unwrap_or(code);
        // Generic exception names carry no class of their own.
        if matches!(
            code,
            "ClientError"
                | "ServiceException"
                | "SdkClientException"
                | "AmazonServiceException"
                | "AwsServiceException"
                | "SesV2Exception"
                | "SesException"
                | "StsException"
                | "RuntimeException"
                | "IOException"
                | "Exception"
        ) {
            continue;
        }
        return Some(code);
    }
    None
}

fn smtp_replies(text: &str) -> Vec<(u16, &str)> {
    SMTP_REPLY
        .captures_iter(text)
        .filter_map(|c| {
            let code = c[1].parse().ok()?;
            let rest = c.get(2)?.as_str();
            // "2026-11-27" or "500 ms" are not replies: require a letter or
            // an enhanced code right after the separator.
            let first = rest.chars().next()?;
            (first.is_ascii_alphabetic() || first == '<' || first.is_ascii_digit()).then_some(())?;
            if first.is_ascii_digit() && super::enhanced_code(rest).is_none() {
                return None;
            }
            Some((code, rest))
        })
        .collect()
}

/// Class for free text, as an operator would paste it into `explain`.
///
/// The order: an explicit AWS error code wins (it is unambiguous), then the
/// first failing SMTP reply, then known phrases, then success forms. With a
/// channel hint of `smtp`, SMTP replies are looked at first.
pub fn classify_text(text: &str, channel: Option<Channel>) -> (Class, Details) {
    let aws = || -> Option<(Class, Details)> {
        let code = aws_code_in(text)?;
        let status = HTTP_STATUS.captures(text).and_then(|c| c[1].parse().ok());
        let (class, details) = classify_aws_error(AwsError {
            code: Some(code),
            message: Some(text),
            status,
        });
        // An unrecognised "code" was probably not an AWS code at all.
        (class != Class::Unknown).then_some((class, details))
    };
    let smtp = || -> Option<(Class, Details)> {
        let replies = smtp_replies(text);
        if let Some((code, rest)) = replies.iter().find(|(c, _)| *c >= 400) {
            return Some(classify_smtp_reply(*code, rest));
        }
        // Only success replies: the text shows a working step.
        let (code, rest) = replies.first()?;
        Some(classify_smtp_reply(*code, rest))
    };
    let first = if channel == Some(Channel::Smtp) {
        smtp().or_else(aws)
    } else {
        aws().or_else(smtp)
    };
    if let Some(mut found) = first {
        // The reply or message decided the class; the rest of the line
        // (a Postfix prefix naming the host, say) may still hold facts.
        found.1.absorb_text(text);
        // Postfix says "SASL authentication failed ... 535": the reply
        // decides. A success reply inside a failure line does not.
        if found.0 != Class::Ok || phrase_class(&text.to_ascii_lowercase()).is_none() {
            return found;
        }
    }
    let lower = text.to_ascii_lowercase();
    if let Some(class) = phrase_class(&lower) {
        let mut details = Details::default();
        details.absorb_text(text);
        return (class, details);
    }
    if is_success_document(text) {
        return (Class::Ok, Details::default());
    }
    let details = Details {
        raw: Some(crate::text::truncate(&super::redact(text.trim()), 256)),
        ..Details::default()
    };
    (Class::Unknown, details)
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
        ("Error when retrieving token from sso: Token has expired and refresh failed", Class::CredentialsExpired),
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
    fn unknown_keeps_raw_text() {
        let (c, d) = classify_text("something entirely different happened", None);
        assert_eq!(c, Class::Unknown);
        assert_eq!(
            d.raw.as_deref(),
            Some("something entirely different happened")
        );
    }
}
