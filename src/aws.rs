//! AWS SDK plumbing shared by the API checks (identity, account,
//! permissions, sender, send) and the SMTP check's key-ownership lookup.
//!
//! An [`ApiSession`] is opened per check run (on one HTTPS client shared by
//! the whole process): it checks the region, resolves the
//! credentials *before* any request (so a broken credential chain is
//! reported as `no_credentials`, `profile_not_found`, `sso_session_expired`,
//! `imds_unavailable` or `partial_credentials` rather than as an opaque
//! dispatch failure), analyses the secret's shape, and builds clients with
//! one attempt per call (retries would hide the failure being measured)
//! under a connect and an operation timeout.
//!
//! Every call goes through [`ApiSession::call`], which times it, records the
//! HTTP status as a phase, measures the clock skew from the response `Date`
//! header (on success and on error alike) and maps an SDK error to a failure
//! class in one place ([`classify_sdk_error`]).
//!
//! Secrets: the static secret key is exposed only to build the SDK's
//! credentials; server texts are redacted before they are echoed, since some
//! AWS services quote the canonical request (with the session token) in
//! signature errors.

use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextMut, BeforeDeserializationInterceptorContextRef,
    BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::config::{ApiCredentials, ApiTarget};
use crate::credentials::{analyse_api_secret, Secret};
use crate::diagnosis::{classify_aws_error, classify_text, redact, AwsError, Channel, Class};
use crate::diagnosis::{Details, Group};
use crate::outcome::{Finding, Outcome, Phase};
use crate::text::truncate;

/// Name of the credential-resolution phase.
pub const CREDENTIALS_PHASE: &str = "credentials";

/// Longest server text kept in a finding message.
const MAX_SERVER_TEXT: usize = 300;

/// Longest credential-chain text kept in a finding message: the default
/// chain lists every provider it tried, and the one that matters may be
/// the last.
const MAX_CHAIN_TEXT: usize = 1200;

/// One check run's view of AWS: resolved credentials, region, endpoints.
pub struct ApiSession {
    sdk: SdkConfig,
    api: ApiTarget,
    clock: ClockProbe,
    /// Whether the secret in use has the shape of an SES SMTP password.
    secret_is_smtp_password: bool,
}

impl ApiSession {
    /// Open a session for `api` in `region`, or fill `outcome` with the
    /// reason it cannot be opened (no region, credentials that do not
    /// resolve) and return `None`. Local secret findings are added to
    /// `outcome` in every case.
    pub async fn open(
        region: Option<&str>,
        api: &ApiTarget,
        outcome: &mut Outcome,
    ) -> Option<ApiSession> {
        let Some(region) = region else {
            outcome.fail(Finding::region_missing());
            return None;
        };
        let start = Instant::now();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .timeout_config(timeout_config(api.timeout))
            .retry_config(RetryConfig::standard().with_max_attempts(1));
        match &api.credentials {
            ApiCredentials::Static {
                access_key_id,
                secret_access_key,
                session_token,
            } => {
                loader = loader.credentials_provider(Credentials::new(
                    access_key_id.clone(),
                    secret_access_key.expose().to_owned(),
                    session_token.as_ref().map(|t| t.expose().to_owned()),
                    None,
                    "ses-probe",
                ));
            }
            ApiCredentials::Profile(name) => {
                // The named profile only: the default chain would let
                // environment keys win over the profile the operator named.
                let provider = aws_config::profile::ProfileFileCredentialsProvider::builder()
                    .profile_name(name)
                    .build();
                loader = loader.profile_name(name).credentials_provider(provider);
            }
            ApiCredentials::DefaultChain => {}
        }
        let tls = !plain_http_only(api);
        if tls {
            // The connector is built on a worker thread when the first
            // call needs it; the roots it trusts are read before, off the
            // workers.
            crate::roots::load().await;
        }
        let http = http_client(tls);
        let sdk = loader.http_client(http).load().await;
        let resolved = match sdk.credentials_provider() {
            Some(provider) => tokio::time::timeout(api.timeout, provider.provide_credentials())
                .await
                .map_err(|_| None)
                .and_then(|r| r.map_err(Some)),
            None => Err(Some(CredentialsError::not_loaded_no_source())),
        };
        let credentials = match resolved {
            Ok(c) => c,
            Err(err) => {
                outcome
                    .phases
                    .push(Phase::new(CREDENTIALS_PHASE, start.elapsed(), false));
                let finding = match err {
                    Some(err) => credentials_finding(&err, &api.credentials),
                    None => Finding::new(
                        Class::Timeout,
                        format!(
                            "the credentials did not resolve within {}s",
                            api.timeout.as_secs_f64()
                        ),
                    ),
                };
                outcome.fail(finding.in_phase(CREDENTIALS_PHASE));
                return None;
            }
        };
        outcome
            .phases
            .push(Phase::new(CREDENTIALS_PHASE, start.elapsed(), true));

        // The shape of whatever secret the chain produced, not only static
        // ones: a profile holding an SMTP password fails the same way.
        let secret = Secret::new(credentials.secret_access_key());
        let shape = analyse_api_secret(&secret);
        let secret_is_smtp_password =
            matches!(&shape, Some(f) if f.class == Class::ApiSecretIsSmtpPassword);
        outcome.findings.extend(shape);

        if let Some(expiry) = credentials.expiry() {
            record_expiry(outcome, expiry, api.credentials_expiry_warning);
        }
        // Resolved once; the clients reuse exactly these credentials.
        let sdk = sdk
            .into_builder()
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .build();
        Some(ApiSession {
            sdk,
            api: api.clone(),
            clock: ClockProbe::default(),
            secret_is_smtp_password,
        })
    }

    /// An STS client on the regional endpoint (or `sts_endpoint_url`).
    pub fn sts(&self) -> aws_sdk_sts::Client {
        let mut b = aws_sdk_sts::config::Builder::from(&self.sdk).interceptor(self.clock.clone());
        if let Some(url) = &self.api.sts_endpoint_url {
            b = b.endpoint_url(url);
        }
        aws_sdk_sts::Client::from_conf(b.build())
    }

    /// An SESv2 client on the regional endpoint (or `endpoint_url`).
    pub fn sesv2(&self) -> aws_sdk_sesv2::Client {
        let mut b = aws_sdk_sesv2::config::Builder::from(&self.sdk).interceptor(self.clock.clone());
        if let Some(url) = &self.api.endpoint_url {
            b = b.endpoint_url(url);
        }
        aws_sdk_sesv2::Client::from_conf(b.build())
    }

    /// An IAM client (IAM is global: the SDK picks the partition's
    /// endpoint), or `iam_endpoint_url`.
    pub fn iam(&self) -> aws_sdk_iam::Client {
        let mut b = aws_sdk_iam::config::Builder::from(&self.sdk).interceptor(self.clock.clone());
        if let Some(url) = &self.api.iam_endpoint_url {
            b = b.endpoint_url(url);
        }
        aws_sdk_iam::Client::from_conf(b.build())
    }

    /// Run one API call: time it, record its phase and the clock skew, and
    /// on error add the classified finding and mark the outcome failed.
    /// `action` is the IAM action the call needs: SES names it in a denial
    /// only sometimes, but the call that was denied is known for certain.
    pub async fn call<T, E, F>(
        &self,
        outcome: &mut Outcome,
        phase: &'static str,
        action: &str,
        fut: F,
    ) -> Option<T>
    where
        F: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match self.try_call(outcome, phase, action, fut).await {
            Ok(value) => Some(value),
            Err(finding) => {
                outcome.fail(finding);
                None
            }
        }
    }

    /// [`ApiSession::call`] that hands a failure back as its finding instead
    /// of failing the outcome: for calls whose failure the check judges
    /// itself (a denied simulation is a warning, a missing identity is a
    /// finding of its own). The phase and the clock skew are recorded
    /// either way.
    pub async fn try_call<T, E, F>(
        &self,
        outcome: &mut Outcome,
        phase: &'static str,
        action: &str,
        fut: F,
    ) -> Result<T, Finding>
    where
        F: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        self.clock.reset();
        let start = Instant::now();
        // The SDK's operation timeout applies; this outer one (with slack)
        // only guards against a bug in it.
        let limit = self.api.timeout + Duration::from_secs(2);
        let result = tokio::time::timeout(limit, fut).await;
        let elapsed = start.elapsed();
        let reading = self.clock.reading();
        let skew = reading.skew_seconds();
        if skew.is_some() {
            outcome.facts.clock_skew_seconds = skew;
        }
        match result {
            Ok(Ok(value)) => {
                outcome
                    .phases
                    .push(Phase::new(phase, elapsed, true).with_reply(reading.status, None));
                Ok(value)
            }
            Ok(Err(err)) => {
                let mut finding = classify_sdk_error(&err, phase, skew).denying(action);
                if finding.class == Class::SignatureMismatch && self.secret_is_smtp_password {
                    finding.message.push_str(
                        "; the secret has the shape of an SES SMTP password (api_secret_is_smtp_password)",
                    );
                }
                let status = finding.details.http_status.or(reading.status);
                outcome
                    .phases
                    .push(Phase::new(phase, elapsed, false).with_reply(status, None));
                Err(finding)
            }
            Err(_) => {
                outcome.phases.push(Phase::new(phase, elapsed, false));
                let finding = Finding::new(
                    Class::Timeout,
                    format!("{phase} did not finish within {}s", limit.as_secs_f64()),
                );
                Err(finding.in_phase(phase))
            }
        }
    }
}

/// The HTTP client API calls share: with `tls`, the SDK's default client
/// (rustls on aws-lc, proxies from the environment) built with the system
/// roots [`crate::roots`] already read for the SMTP check, instead of
/// reading them a second time; without, the same client minus TLS, for
/// sessions whose every call is plain HTTP ([`plain_http_only`]). Each is
/// built once: one per run would parse the roots each time and throw away
/// its connections; shared, a call to an endpoint seen before may reuse a
/// kept connection (each call is still timed on its own).
fn http_client(tls: bool) -> SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    use aws_smithy_http_client::{Builder, ConnectorBuilder};
    static CLIENTS: [OnceLock<SharedHttpClient>; 2] = [OnceLock::new(), OnceLock::new()];
    CLIENTS[usize::from(tls)]
        .get_or_init(|| {
            Builder::new().build_with_connector_fn(move |settings, components| {
                let mut connector = ConnectorBuilder::default();
                connector.set_connector_settings(settings.cloned());
                if let Some(components) = components {
                    connector.set_sleep_impl(components.sleep_impl());
                }
                connector.set_proxy_config(Some(ProxyConfig::from_env()));
                if !tls {
                    return connector.build_http();
                }
                // Runs when a client first needs a connector: the roots
                // are read by then (see ApiSession::open).
                let trust = tls::TrustStore::empty()
                    .with_native_roots(false)
                    .with_pem_certificate(crate::roots::system_pem());
                let context = tls::TlsContext::builder()
                    .with_trust_store(trust)
                    .build()
                    .expect("a TLS context from parsed roots");
                connector
                    .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
                    .tls_context(context)
                    .build()
            })
        })
        .clone()
}

/// Whether every call of a session for `api` goes over plain HTTP: static
/// keys (no credential provider that may call out over HTTPS), every
/// endpoint an `http://` URL (a local emulator such as moto), and no
/// proxy reached over TLS. Such a session needs neither TLS nor the
/// system's roots, so it is not made to wait for them.
fn plain_http_only(api: &ApiTarget) -> bool {
    let plain = |url: &Option<String>| {
        url.as_deref()
            .is_some_and(|u| u.len() > 7 && u[..7].eq_ignore_ascii_case("http://"))
    };
    matches!(api.credentials, ApiCredentials::Static { .. })
        && plain(&api.endpoint_url)
        && plain(&api.sts_endpoint_url)
        && plain(&api.iam_endpoint_url)
        && !proxy_over_tls()
}

/// Whether a proxy variable names an `https://` proxy, which the SDK's
/// client reaches over TLS (the variables it reads, the test it makes).
fn proxy_over_tls() -> bool {
    [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .iter()
    .filter_map(|var| std::env::var(var).ok())
    .any(|url| url.starts_with("https://"))
}

fn timeout_config(t: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(t)
        .operation_attempt_timeout(t)
        .operation_timeout(t)
        .build()
}

/// Put the expiry of temporary credentials into the facts, and warn when it
/// is within `margin`.
pub fn record_expiry(outcome: &mut Outcome, expiry: SystemTime, margin: Duration) {
    let at = crate::outcome::unix_seconds(expiry);
    outcome.facts.credentials_expiry = Some(at.floor() as i64);
    let left = at - crate::outcome::unix_seconds(SystemTime::now());
    if left <= margin.as_secs_f64() {
        let message = if left > 0.0 {
            format!(
                "the temporary credentials expire in {}s (warning margin {}s)",
                left.round() as i64,
                margin.as_secs()
            )
        } else {
            format!(
                "the temporary credentials expired {}s ago",
                (-left).round() as i64
            )
        };
        outcome
            .findings
            .push(Finding::new(Class::TemporaryCredentialsExpiring, message));
    }
}

// ---------------------------------------------------------------------------
// Credential-chain failures
// ---------------------------------------------------------------------------

/// Whether the process environment holds half a key pair. The SDK's
/// environment provider treats that as "not set" and moves on, so the chain
/// alone would only say "no credentials".
fn partial_env_credentials() -> bool {
    let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.trim().is_empty());
    set("AWS_ACCESS_KEY_ID") != set("AWS_SECRET_ACCESS_KEY")
}

/// The finding for a credential provider that failed, from the error's
/// variant and the texts of the providers the chain tried.
pub fn credentials_finding(err: &CredentialsError, source: &ApiCredentials) -> Finding {
    let text = DisplayErrorContext(err).to_string();
    let class = classify_credentials_error(err, &text.to_ascii_lowercase(), source);
    let what = match source {
        ApiCredentials::DefaultChain => "the AWS default credential chain".to_owned(),
        ApiCredentials::Profile(p) => format!("the AWS profile `{p}`"),
        ApiCredentials::Static { .. } => "the configured keys".to_owned(),
    };
    let text = truncate(&redact(&text), MAX_CHAIN_TEXT);
    Finding::new(class, format!("no credentials from {what}: {text}"))
}

/// The class of a credential-provider failure. The text goes through the
/// one phrase table in [`crate::diagnosis::phrase_class`]; what the text
/// cannot carry comes from typed facts here: the error variant, the
/// configured source, a named profile, half a key pair in the environment.
fn classify_credentials_error(err: &CredentialsError, t: &str, source: &ApiCredentials) -> Class {
    if matches!(err, CredentialsError::ProviderTimedOut(_)) {
        return Class::Timeout;
    }
    let by_text = crate::diagnosis::phrase_class(t).filter(|c| c.group() == Group::Credentials);
    let named_profile = matches!(source, ApiCredentials::Profile(_))
        || std::env::var("AWS_PROFILE").is_ok_and(|p| !p.is_empty());
    let not_loaded = matches!(err, CredentialsError::CredentialsNotLoaded(_));
    match by_text {
        None | Some(Class::NoCredentials) => {
            // The environment provider treats half a key pair as "not
            // set" and the chain moves on: only the environment tells.
            if matches!(source, ApiCredentials::DefaultChain) && partial_env_credentials() {
                Class::PartialCredentials
            } else if named_profile && profile_provider_found_nothing(t, not_loaded, source) {
                // A profile was named and the profile provider found
                // nothing at all: no file defines it.
                Class::ProfileNotFound
            } else if by_text.is_some() || not_loaded {
                Class::NoCredentials
            } else {
                Class::Unknown
            }
        }
        Some(class) => class,
    }
}

/// Whether the profile provider found no profile file at all: in a chain
/// its line has no detail; alone, it was not loaded without saying why.
fn profile_provider_found_nothing(t: &str, not_loaded: bool, source: &ApiCredentials) -> bool {
    let bare = "profile: the credential provider was not enabled";
    t.contains(&format!("{bare}\n"))
        || t.ends_with(bare)
        || (matches!(source, ApiCredentials::Profile(_))
            && not_loaded
            && !t.contains("credential information"))
}

// ---------------------------------------------------------------------------
// SDK errors
// ---------------------------------------------------------------------------

/// The one mapping from an SDK error to a finding. `phase` is the operation
/// name; `measured_skew` the skew measured from this call's `Date` header.
pub fn classify_sdk_error<E>(
    err: &SdkError<E, HttpResponse>,
    phase: &'static str,
    measured_skew: Option<f64>,
) -> Finding
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (class, mut details, message) = match err {
        SdkError::ServiceError(_) => {
            let status = err.raw_response().map(|r| r.status().as_u16());
            let code = err.code();
            let text = err.message();
            let (class, details) = classify_aws_error(AwsError {
                code,
                message: text,
                status,
            });
            let status_text = status.map(|s| format!(" (HTTP {s})")).unwrap_or_default();
            let server = text
                .map(|m| format!(": {}", truncate(&redact(m), MAX_SERVER_TEXT)))
                .unwrap_or_default();
            let message = match code {
                Some(code) => format!("{phase} failed: {code}{status_text}{server}"),
                // An answer without an error code (moto's auth errors, a proxy
                // page): the status alone cannot tell a bad key, a wrong
                // secret and a missing permission apart, so the class stays
                // whatever the status and text support, usually `unknown`.
                None => {
                    format!("{phase} failed{status_text} and the server gave no error code{server}")
                }
            };
            (class, details, message)
        }
        SdkError::TimeoutError(_) => (
            Class::Timeout,
            Details::default(),
            format!("{phase} timed out (operation timeout)"),
        ),
        SdkError::DispatchFailure(d) => {
            let chain = DisplayErrorContext(err).to_string();
            let lower = chain.to_ascii_lowercase();
            let class = if io_kind_in(err) == Some(std::io::ErrorKind::ConnectionRefused) {
                Class::ConnectRefused
            } else if d.is_timeout() {
                if lower.contains("connect") {
                    Class::ConnectTimeout
                } else {
                    Class::Timeout
                }
            } else {
                classify_text(&chain, Some(Channel::Api)).0
            };
            let mut details = Details::default();
            if class == Class::Unknown {
                details.raw = Some(truncate(&redact(&chain), 256));
            }
            let message = format!(
                "{phase} could not reach the endpoint: {}",
                truncate(&redact(&chain), MAX_SERVER_TEXT)
            );
            (class, details, message)
        }
        _ => {
            // ResponseError (an answer that does not parse) and
            // ConstructionFailure (a request that could not be built).
            let chain = DisplayErrorContext(err).to_string();
            let details = Details {
                http_status: err.raw_response().map(|r| r.status().as_u16()),
                raw: Some(truncate(&redact(&chain), 256)),
                ..Details::default()
            };
            let message = format!(
                "{phase} failed: {}",
                truncate(&redact(&chain), MAX_SERVER_TEXT)
            );
            (Class::Unknown, details, message)
        }
    };
    if class == Class::ClockSkew && measured_skew.is_some() {
        details.clock_skew_seconds = measured_skew;
    }
    details.phase = Some(phase.to_owned());
    Finding::new(class, message).with_details(details)
}

/// The kind of the first `io::Error` in the source chain.
fn io_kind_in(err: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        cur = e.source();
    }
    None
}

// ---------------------------------------------------------------------------
// Clock skew
// ---------------------------------------------------------------------------

/// What the interceptor saw of the last attempt.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClockReading {
    sent: Option<SystemTime>,
    received: Option<SystemTime>,
    /// The response `Date`, seconds since the epoch.
    server: Option<i64>,
    /// HTTP status of the response.
    pub status: Option<u16>,
}

impl ClockReading {
    /// Server clock minus local clock (positive: the local clock is behind
    /// AWS). The `Date`
    /// header has one-second resolution and is truncated, so the server's
    /// time is taken as the middle of its second, compared with the middle
    /// of our send and receive instants.
    pub fn skew_seconds(&self) -> Option<f64> {
        let (sent, received, server) = (self.sent?, self.received?, self.server?);
        let local =
            (crate::outcome::unix_seconds(sent) + crate::outcome::unix_seconds(received)) / 2.0;
        let skew = (server as f64 + 0.5) - local;
        Some((skew * 10.0).round() / 10.0)
    }
}

/// An interceptor that records send and receive instants and the response
/// `Date` header into a shared cell.
#[derive(Clone, Debug, Default)]
pub struct ClockProbe(Arc<Mutex<ClockReading>>);

impl ClockProbe {
    fn with<R>(&self, f: impl FnOnce(&mut ClockReading) -> R) -> R {
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    pub fn reset(&self) {
        self.with(|r| *r = ClockReading::default());
    }

    pub fn reading(&self) -> ClockReading {
        self.with(|r| *r)
    }
}

/// Seconds since the epoch for an HTTP `Date` header value.
pub fn parse_http_date(value: &str) -> Option<i64> {
    aws_smithy_types::DateTime::from_str(
        value.trim(),
        aws_smithy_types::date_time::Format::HttpDate,
    )
    .ok()
    .map(|d| d.secs())
}

impl Intercept for ClockProbe {
    fn name(&self) -> &'static str {
        "SesProbeClockProbe"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.with(|r| r.sent = Some(SystemTime::now()));
        Ok(())
    }

    fn read_after_transmit(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let now = SystemTime::now();
        let response = context.response();
        let server = response.headers().get("date").and_then(parse_http_date);
        let status = response.status().as_u16();
        self.with(|r| {
            r.received = Some(now);
            r.server = server;
            r.status = Some(status);
        });
        Ok(())
    }

    /// Bound what is read of an answer: the SDK reads a whole body before
    /// parsing it, so an endpoint that never stops sending would otherwise
    /// grow the process without limit until the timeout.
    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let body = context.response_mut().take_body();
        *context.response_mut().body_mut() =
            SdkBody::from_body_1_x(http_body_util::Limited::new(body, MAX_RESPONSE_BODY));
        Ok(())
    }
}

/// Largest AWS answer read: SES and STS answers are a few KiB.
pub const MAX_RESPONSE_BODY: usize = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    fn api_of(api_lines: &str) -> ApiTarget {
        let text =
            format!("[[target]]\nname = \"t\"\nregion = \"eu-west-1\"\n[target.api]\n{api_lines}");
        let env = crate::config::Env::from_pairs([(
            "SECRET",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        )]);
        let plan = crate::config::parse(&text, "t.toml", &env).unwrap();
        plan.targets[0].api.clone().unwrap()
    }

    #[test]
    fn only_sessions_that_never_need_tls_skip_it() {
        let keys =
            "access_key_id = \"AKIAIOSFODNN7EXAMPLE\"\nsecret_access_key = { env = \"SECRET\" }\n";
        let all_http = "endpoint_url = \"http://127.0.0.1:1\"\nsts_endpoint_url = \"http://127.0.0.1:2\"\niam_endpoint_url = \"http://127.0.0.1:3\"\n";
        assert!(plain_http_only(&api_of(&format!("{keys}{all_http}"))));
        // One endpoint left to the SDK (HTTPS), or given as https://.
        let sts_default = all_http.replace("sts_endpoint_url = \"http://127.0.0.1:2\"\n", "");
        assert!(!plain_http_only(&api_of(&format!("{keys}{sts_default}"))));
        let one_https = all_http.replace("http://127.0.0.1:3", "https://127.0.0.1:3");
        assert!(!plain_http_only(&api_of(&format!("{keys}{one_https}"))));
        // A profile may resolve its credentials over HTTPS (SSO, STS).
        assert!(!plain_http_only(&api_of(&format!(
            "profile = \"p\"\n{all_http}"
        ))));
    }

    #[test]
    fn http_date_parses() {
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:01:00 GMT"), Some(60));
        assert_eq!(parse_http_date("yesterday"), None);
    }

    #[test]
    fn skew_uses_midpoints() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let r = ClockReading {
            sent: Some(t0),
            received: Some(t0 + Duration::from_secs(1)),
            server: Some(1300),
            status: Some(200),
        };
        // Local midpoint 1000.5, server second 1300 taken as 1300.5.
        assert_eq!(r.skew_seconds(), Some(300.0));
        assert_eq!(ClockReading::default().skew_seconds(), None);
    }

    #[test]
    fn credential_chain_texts_map_to_classes() {
        let chain = ApiCredentials::DefaultChain;
        let profile = ApiCredentials::Profile("mailer".into());
        let not_loaded = |t: &str| CredentialsError::not_loaded(t.to_owned());
        let case = |err: CredentialsError, src: &ApiCredentials| {
            let t = DisplayErrorContext(&err).to_string().to_ascii_lowercase();
            classify_credentials_error(&err, &t, src)
        };
        assert_eq!(
            case(
                not_loaded("profile `mailer` was not defined: no such profile"),
                &profile
            ),
            Class::ProfileNotFound
        );
        assert_eq!(
            case(not_loaded("No profiles were defined"), &profile),
            Class::ProfileNotFound
        );
        assert_eq!(
            case(
                CredentialsError::provider_error(
                    "failed to load SSO token: the SSO session has expired; run aws sso login"
                        .to_owned()
                ),
                &profile
            ),
            Class::SsoSessionExpired
        );
        assert_eq!(
            case(
                CredentialsError::invalid_configuration(
                    "missing credential source in `x`: profile missing aws_secret_access_key"
                        .to_owned()
                ),
                &profile
            ),
            Class::PartialCredentials
        );
        assert_eq!(
            case(not_loaded("received 404 from IMDS"), &chain),
            Class::ImdsUnavailable
        );
        assert_eq!(
            case(
                CredentialsError::provider_timed_out(Duration::from_secs(5)),
                &chain
            ),
            Class::Timeout
        );
    }
}
