//! The SMTP check: would an SMTP client on this host get mail into SES now?
//!
//! Local credential analysis runs first; a password that is really a secret
//! access key (or a temporary key as user name) stops the check before any
//! connection is opened, so such a secret never leaves the host.
//!
//! Then the session, one timed phase at a time, each under the target's
//! phase timeout: `dns`, `connect`, then either `banner`, `ehlo`,
//! `starttls`, `tls` (STARTTLS ports) or `tls`, `banner` (implicit TLS),
//! then `ehlo_tls` (EHLO over TLS), `auth`, optionally `mail`, `rcpt`,
//! `data`, and `quit`. Every phase keeps its reply; the first failing phase
//! decides the class, through [`classify_smtp_reply`] for replies so that
//! `explain` and the check agree.
//!
//! # Why a hand-written client
//! lettre's connection hides what this check must report: the banner and
//! each reply's text, the TLS handshake apart from the STARTTLS command,
//! and the peer certificate. The client here is a few hundred lines
//! ([`wire`]) and enforces the bounds this check promises whatever the
//! peer sends: 4 KiB a line and 64 KiB a reply, then `smtp_protocol_error`.
//!
//! # Safety
//! - AUTH is only defined on a connection over TLS (the `auth` function
//!   takes a `TlsStream`), so credentials cannot be sent in the clear.
//! - Bytes the server sends after its STARTTLS `220` and before the
//!   handshake are refused, not carried into the TLS session.
//! - Certificates are always verified (system roots plus `ca_file`).
//! - Reply texts are passed through [`redact`] before they are kept, in
//!   case a server echoes an AUTH payload.
//!
//! # Decisions
//! - No AUTH mechanism in common between the server and `auth_mechanisms`
//!   is `smtp_protocol_error`: SES always offers PLAIN and LOGIN, so a
//!   server that does not is not behaving like SES.
//! - `connect` tries the resolved addresses in order, all within the one
//!   phase timeout; the last error decides the class.
//! - A DNS phase that runs out of time is `dns_failure` (the resolver did
//!   not answer), a connect that does is `connect_timeout`; any other phase
//!   that runs out of time is `timeout` with the phase named.
//! - After a `535`, the local credential findings follow the
//!   `auth_credentials_invalid` finding: they say why. When AUTH succeeds,
//!   critical local findings are dropped (the server accepted the
//!   credentials, so they cannot be what stops mail, and they would fire
//!   class-based alerts); warning-level ones such as a legacy v2 password
//!   are kept.
//! - `quit` is polite, not part of the verdict: its failure is recorded in
//!   the phase but does not fail the check.
//! - Key ownership: when the target also has API credentials (and
//!   `smtp_key_ownership` is not off), after everything above, STS is
//!   asked which account the SMTP user name (an access key ID) belongs to
//!   (`sts:GetAccessKeyInfo`), compared with `expected_account` (critical
//!   when it differs) or else with the API credentials' own account
//!   (warning): `smtp_key_other_account`. For a key of the API's own
//!   account, `iam:GetAccessKeyLastUsed` adds the IAM user and the key's
//!   last use to the facts. The lookup is bounded (a few phase timeouts)
//!   and never fails the check: when the API side cannot answer, the facts
//!   say the owner is unknown, and nothing claims it is fine.

mod tls;
pub use tls::forget_trust;
mod wire;

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::config::{AuthMechanism, SmtpSend, SmtpTarget, Target, TlsMode};
use crate::credentials::{analyse_smtp, Secret, SmtpCredentials};
use crate::diagnosis::{classify_smtp_reply, redact, Class, Details, Severity};
use crate::outcome::{CheckKind, Finding, Outcome, Phase, SmtpKeyFacts, TlsFacts};
use crate::text::truncate;

use wire::{Capabilities, Conn, Reply, WireError};

/// Longest piece of server text quoted in a finding's message.
const MESSAGE_TEXT: usize = 200;

pub async fn run(target: &Target, smtp: &SmtpTarget) -> Outcome {
    let Some(region) = target.region.as_deref() else {
        return Outcome::failed(CheckKind::Smtp, Finding::region_missing());
    };
    match &smtp.postfix {
        None => probe_with(target, smtp, region, Vec::new()).await,
        Some(dir) => {
            // Postfix's settings and maps are read again at every run: the
            // probe must use what Postfix would use now.
            let (dir_c, region_c) = (dir.clone(), region.to_owned());
            let resolved = tokio::task::spawn_blocking(move || {
                crate::postfix::resolve(&dir_c, Some(&region_c))
            })
            .await;
            let resolution = match resolved {
                Ok(r) => r,
                Err(e) => {
                    return Outcome::failed(
                        CheckKind::Smtp,
                        Finding::new(
                            Class::PostfixConfigUnreadable,
                            format!("reading Postfix's settings failed: {e}"),
                        ),
                    )
                }
            };
            probe_postfix(target, smtp, region, resolution).await
        }
    }
}

/// Probe with the relay, TLS, CA, mechanisms and credentials Postfix
/// would use; when they stop Postfix's mail, fail without connecting.
async fn probe_postfix(
    target: &Target,
    smtp: &SmtpTarget,
    region: &str,
    resolution: crate::postfix::Resolution,
) -> Outcome {
    let mut findings = resolution.findings;
    let provenance = resolution.provenance;
    let blocking = findings.iter().any(|f| f.severity == Severity::Critical);
    let (Some(relay), Some((user, password, from)), false) =
        (resolution.relay, resolution.credentials, blocking)
    else {
        let mut outcome = Outcome::new(CheckKind::Smtp);
        outcome.success = false;
        outcome.findings = findings;
        outcome.facts.postfix = provenance;
        return outcome;
    };
    let mut effective = smtp.clone();
    effective.tls_server_name = relay.host.clone();
    effective.host = relay.host;
    effective.port = relay.port;
    effective.tls = if resolution.implicit_tls {
        TlsMode::Implicit
    } else {
        TlsMode::Starttls
    };
    effective.ca_file = resolution.ca_file;
    effective.username = user;
    effective.password = password;
    effective.auth_mechanisms = resolution
        .mechanisms
        .iter()
        .filter_map(|m| match *m {
            "plain" => Some(AuthMechanism::Plain),
            "login" => Some(AuthMechanism::Login),
            _ => None,
        })
        .collect();
    // The relay's region decides the SMTP password's region.
    let relay_region =
        crate::regions::region_of_smtp_host(&effective.host).unwrap_or_else(|| region.to_owned());
    let mut provenance = provenance;
    provenance.push(format!("credentials: {} from {from}", effective.username));
    let mut outcome = probe_with(
        target,
        &effective,
        &relay_region,
        std::mem::take(&mut findings),
    )
    .await;
    outcome.facts.postfix = provenance;
    outcome
}

/// The SMTP check proper: local analysis, then the session. `extra` are
/// findings from reading Postfix that do not stop the probe.
async fn probe_with(
    target: &Target,
    smtp: &SmtpTarget,
    region: &str,
    extra: Vec<Finding>,
) -> Outcome {
    // Who owns the key does not depend on the session: both at once, so
    // the lookup's API round trips do not lengthen the check.
    let limit = smtp.phase_timeout * OWNERSHIP_PHASES;
    // Boxed: side by side, the SDK's large futures would otherwise sit in
    // every SMTP check's state machine.
    let (mut outcome, owner) = tokio::join!(
        probe_session(smtp, region),
        Box::pin(key_ownership(target, &smtp.username, limit))
    );
    outcome.findings.extend(extra);
    if let Some((facts, finding)) = owner {
        outcome.findings.extend(finding);
        outcome.facts.smtp_key = Some(facts);
    }
    outcome
}

/// How many phase timeouts the key-ownership lookup may take at most (the
/// check's deadline allows for them).
pub const OWNERSHIP_PHASES: u32 = 3;

/// Who owns the SMTP key: see the module's notes. The facts and at most
/// one finding (`None` when the lookup is off or the user name is not a
/// key); never fails the check.
async fn key_ownership(
    target: &Target,
    key_id: &str,
    limit: Duration,
) -> Option<(SmtpKeyFacts, Option<Finding>)> {
    use crate::credentials::{access_key_shape, AccessKeyShape};
    let api = target.api.as_ref().filter(|a| a.smtp_key_ownership)?;
    if matches!(
        access_key_shape(key_id),
        AccessKeyShape::NotAKeyId | AccessKeyShape::OtherKeyId
    ) {
        return None;
    }
    let mut facts = SmtpKeyFacts {
        access_key_id: key_id.to_owned(),
        ..SmtpKeyFacts::default()
    };
    match tokio::time::timeout(limit, key_owner(target, api, &mut facts)).await {
        Ok(Ok(())) => {}
        Ok(Err(why)) => facts.unknown_because = Some(why),
        Err(_) => {
            facts.unknown_because = Some(format!(
                "the API side did not answer within {}s",
                limit.as_secs_f64()
            ))
        }
    }
    if let Some(why) = &facts.unknown_because {
        tracing::info!(target = %target.name, reason = %why, "SMTP key owner unknown");
    }
    let finding = ownership_finding(&facts, target.expected_account.as_deref());
    Some((facts, finding))
}

/// Ask STS (and IAM, for a key of the caller's own account) about the key.
/// `Err` says why the owner is unknown.
async fn key_owner(
    target: &Target,
    api: &crate::config::ApiTarget,
    facts: &mut SmtpKeyFacts,
) -> Result<(), String> {
    // A scratch outcome: the API side's own findings (its credential chain,
    // its secret's shape) belong to the API checks, not to this one.
    let mut scratch = Outcome::new(CheckKind::Smtp);
    let why = |o: &Outcome| {
        o.findings
            .last()
            .map(|f| format!("{}: {}", f.class, f.message))
            .unwrap_or_else(|| "the API credentials did not resolve".to_owned())
    };
    let Some(session) =
        crate::aws::ApiSession::open(target.region.as_deref(), api, &mut scratch).await
    else {
        return Err(why(&scratch));
    };
    let sts = session.sts();
    let info = session
        .try_call(
            &mut scratch,
            "GetAccessKeyInfo",
            "sts:GetAccessKeyInfo",
            sts.get_access_key_info()
                .access_key_id(&facts.access_key_id)
                .send(),
        )
        .await
        .map_err(|f| format!("{}: {}", f.class, f.message))?;
    facts.account = info.account().map(str::to_owned);
    if let Ok(me) = session
        .try_call(
            &mut scratch,
            "GetCallerIdentity",
            "sts:GetCallerIdentity",
            sts.get_caller_identity().send(),
        )
        .await
    {
        facts.api_account = me.account().map(str::to_owned);
    }
    if facts.account.is_some() && facts.account == facts.api_account {
        // IAM only answers for keys of the caller's own account; optional.
        let used = session
            .try_call(
                &mut scratch,
                "GetAccessKeyLastUsed",
                "iam:GetAccessKeyLastUsed",
                session
                    .iam()
                    .get_access_key_last_used()
                    .access_key_id(&facts.access_key_id)
                    .send(),
            )
            .await;
        if let Ok(used) = used {
            facts.user_name = used.user_name().map(str::to_owned);
            if let Some(last) = used.access_key_last_used() {
                facts.last_used = last.last_used_date().map(|d| d.secs());
                let known = |s: &str| (!s.is_empty() && s != "N/A").then(|| s.to_owned());
                facts.last_used_service = known(last.service_name());
                facts.last_used_region = known(last.region());
            }
        }
    }
    Ok(())
}

/// `smtp_key_other_account` when the key's account is known and is not
/// the expected one (critical) or, without `expected_account`, not the API
/// credentials' (warning).
pub fn ownership_finding(facts: &SmtpKeyFacts, expected: Option<&str>) -> Option<Finding> {
    let account = facts.account.as_deref()?;
    let (other, severity, what) = match (expected, facts.api_account.as_deref()) {
        (Some(e), _) => (
            e,
            Severity::Critical,
            "the expected account (expected_account)",
        ),
        (None, Some(a)) => (
            a,
            Severity::Warning,
            "the account of the target's API credentials",
        ),
        (None, None) => return None,
    };
    if account == other {
        return None;
    }
    let user = facts
        .user_name
        .as_deref()
        .map(|u| format!(" (IAM user {u})"))
        .unwrap_or_default();
    Some(
        Finding::new(
            Class::SmtpKeyOtherAccount,
            format!(
                "the SMTP user name {}{user} is a key of account {account}, not of {what} {other}: mail relayed through SMTP uses account {account}'s quota, identities and suppression list",
                facts.access_key_id
            ),
        )
        .with_severity(severity)
        .with_details(Details {
            account: Some(account.to_owned()),
            expected_account: Some(other.to_owned()),
            source: Some("access_key_info".to_owned()),
            phase: Some("GetAccessKeyInfo".to_owned()),
            ..Details::default()
        }),
    )
}

async fn probe_session(smtp: &SmtpTarget, region: &str) -> Outcome {
    let analysis = analyse_smtp(&SmtpCredentials {
        username: &smtp.username,
        password: &smtp.password,
        secret_key: smtp.secret_access_key.as_ref(),
        region,
    });
    if analysis.blocks_auth {
        let mut outcome = Outcome::new(CheckKind::Smtp);
        outcome.success = false;
        outcome.findings = analysis.findings;
        return outcome;
    }

    let mut rec = Recorder::new(smtp.phase_timeout);
    let mut session = SessionNotes::default();
    let result = probe(smtp, &mut rec, &mut session).await;

    let mut outcome = Outcome::new(CheckKind::Smtp);
    outcome.phases = rec.phases;
    outcome.facts.tls = session.tls;
    match result {
        Ok(()) => {
            outcome.success = true;
            outcome.findings = session.warnings;
            // The server accepted the credentials, so a critical local
            // finding cannot be what stops mail (a relay that is not SES,
            // say); reporting it would fire class-based alerts for nothing.
            // Warnings (a legacy v2 password) stay: they still need action.
            for f in analysis.findings {
                if f.severity == Severity::Critical {
                    tracing::debug!(
                        class = f.class.as_str(),
                        "local finding contradicted by a successful AUTH"
                    );
                } else {
                    outcome.findings.push(f);
                }
            }
        }
        Err(failure) => {
            let mut message = failure.message;
            if failure.class == Class::AuthCredentialsInvalid && !analysis.findings.is_empty() {
                let local: Vec<&str> = analysis.findings.iter().map(|f| f.class.as_str()).collect();
                message.push_str(&format!(
                    "; local analysis explains it: {}",
                    local.join(", ")
                ));
            }
            outcome.fail(
                Finding::new(failure.class, message)
                    .with_details(*failure.details)
                    .in_phase(failure.phase),
            );
            outcome.findings.extend(session.warnings);
            outcome.findings.extend(analysis.findings);
        }
    }
    outcome
}

/// What the session learnt besides the verdict.
#[derive(Default)]
struct SessionNotes {
    tls: Option<TlsFacts>,
    /// Findings that do not fail the check (certificate expiring).
    warnings: Vec<Finding>,
}

/// Why the session stopped.
#[derive(Debug)]
struct Failure {
    class: Class,
    message: String,
    /// Boxed: `Details` is large and failures travel in `Result`s.
    details: Box<Details>,
    /// The reply that decided it, for the phase record.
    reply: Option<Reply>,
    /// Filled in by the [`Recorder`].
    phase: &'static str,
}

impl Failure {
    fn new(class: Class, message: impl Into<String>) -> Self {
        Failure {
            class,
            message: message.into(),
            details: Box::default(),
            reply: None,
            phase: "",
        }
    }

    /// A reply other than the one the phase needs: classified like any
    /// SES reply; a positive but unexpected code is a protocol error.
    fn unexpected(reply: Reply, what: &str) -> Self {
        let text = redact(&reply.text());
        let (mut class, details) = classify_smtp_reply(reply.code, &text);
        if class == Class::Ok {
            class = Class::SmtpProtocolError;
        }
        Failure {
            class,
            message: format!(
                "{what}: the server answered {} {}",
                reply.code,
                truncate(&text, MESSAGE_TEXT)
            ),
            details: Box::new(details),
            reply: Some(reply),
            phase: "",
        }
    }
}

impl From<WireError> for Failure {
    fn from(e: WireError) -> Self {
        let class = match &e {
            WireError::Closed => Class::ConnectionClosed,
            WireError::Io(io) if io.kind() == std::io::ErrorKind::InvalidInput => {
                Class::SmtpProtocolError
            }
            WireError::Io(_) => Class::ConnectionClosed,
            WireError::LineTooLong | WireError::ReplyTooLong | WireError::Malformed(_) => {
                Class::SmtpProtocolError
            }
        };
        Failure::new(class, redact(&e.to_string()))
    }
}

/// Require one of `want`; anything else is a classified failure.
fn expect(reply: Reply, want: &[u16], what: &str) -> Result<Reply, Failure> {
    if want.contains(&reply.code) {
        Ok(reply)
    } else {
        Err(Failure::unexpected(reply, what))
    }
}

/// Times phases, enforces the phase timeout, and keeps the phase records.
struct Recorder {
    phases: Vec<Phase>,
    timeout: Duration,
}

impl Recorder {
    fn new(timeout: Duration) -> Self {
        Recorder {
            phases: Vec::new(),
            timeout,
        }
    }

    /// Run one phase: `fut` yields its value and the reply to record.
    async fn phase<T>(
        &mut self,
        name: &'static str,
        fut: impl Future<Output = Result<(T, Option<Reply>), Failure>>,
    ) -> Result<T, Failure> {
        let start = Instant::now();
        let result = tokio::time::timeout(self.timeout, fut).await;
        let elapsed = start.elapsed();
        let (record, result) = match result {
            Ok(Ok((value, reply))) => (
                with_reply(Phase::new(name, elapsed, true), reply.as_ref()),
                Ok(value),
            ),
            Ok(Err(mut failure)) => {
                failure.phase = name;
                (
                    with_reply(Phase::new(name, elapsed, false), failure.reply.as_ref()),
                    Err(failure),
                )
            }
            Err(_) => {
                let secs = self.timeout.as_secs_f64();
                let failure = match name {
                    "dns" => Failure::new(
                        Class::DnsFailure,
                        format!("the resolver did not answer within {secs}s"),
                    ),
                    "connect" => Failure::new(
                        Class::ConnectTimeout,
                        format!("no TCP answer within {secs}s"),
                    ),
                    _ => Failure::new(
                        Class::Timeout,
                        format!("phase {name} did not finish within {secs}s"),
                    ),
                };
                (
                    Phase::new(name, elapsed, false),
                    Err(Failure {
                        phase: name,
                        ..failure
                    }),
                )
            }
        };
        tracing::debug!(
            phase = name,
            seconds = record.seconds,
            code = record.code,
            ok = record.ok,
            "smtp phase"
        );
        self.phases.push(record);
        result
    }

    /// A phase whose value is its reply.
    async fn reply_phase(
        &mut self,
        name: &'static str,
        fut: impl Future<Output = Result<Reply, Failure>>,
    ) -> Result<Reply, Failure> {
        self.phase(name, async {
            let reply = fut.await?;
            Ok((reply.clone(), Some(reply)))
        })
        .await
    }
}

fn with_reply(phase: Phase, reply: Option<&Reply>) -> Phase {
    match reply {
        Some(r) => phase.with_reply(Some(r.code), Some(&redact(&r.display_text()))),
        None => phase,
    }
}

/// The whole session, phase by phase.
async fn probe(
    smtp: &SmtpTarget,
    rec: &mut Recorder,
    session: &mut SessionNotes,
) -> Result<(), Failure> {
    let host = smtp.host.as_str();
    let port = smtp.port;
    let addrs: Vec<SocketAddr> = rec
        .phase("dns", async {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| {
                    Failure::new(Class::DnsFailure, format!("{host} does not resolve: {e}"))
                })?
                .collect();
            if addrs.is_empty() {
                return Err(Failure::new(
                    Class::DnsFailure,
                    format!("{host} resolves to no address"),
                ));
            }
            Ok((addrs, None))
        })
        .await?;

    let tcp = rec
        .phase("connect", async {
            let mut last = None;
            for addr in &addrs {
                match TcpStream::connect(addr).await {
                    Ok(stream) => {
                        // Commands are single small writes; do not delay them.
                        let _ = stream.set_nodelay(true);
                        return Ok((stream, None));
                    }
                    Err(e) => last = Some((addr, e)),
                }
            }
            let (addr, e) =
                last.ok_or_else(|| Failure::new(Class::DnsFailure, "no address to connect to"))?;
            let class = match e.kind() {
                std::io::ErrorKind::TimedOut => Class::ConnectTimeout,
                _ => Class::ConnectRefused,
            };
            Err(Failure::new(class, format!("connect to {addr}: {e}")))
        })
        .await?;

    let mut conn = match smtp.tls {
        TlsMode::Starttls => {
            let mut plain = Conn::new(tcp);
            banner(rec, &mut plain).await?;
            ehlo(rec, "ehlo", &mut plain, &smtp.ehlo_name, true).await?;
            rec.reply_phase("starttls", async {
                plain.send("STARTTLS").await?;
                let reply = expect(plain.read_reply().await?, &[220], "STARTTLS refused")?;
                if plain.buffered() > 0 {
                    return Err(Failure {
                        reply: Some(reply),
                        ..Failure::new(
                            Class::SmtpProtocolError,
                            "the server sent data after its STARTTLS reply, before the TLS handshake",
                        )
                    });
                }
                Ok(reply)
            })
            .await?;
            let stream = handshake(rec, session, smtp, plain.into_inner()).await?;
            Conn::new(stream)
        }
        TlsMode::Implicit => {
            let stream = handshake(rec, session, smtp, tcp).await?;
            let mut conn = Conn::new(stream);
            banner(rec, &mut conn).await?;
            conn
        }
    };
    let caps = ehlo(rec, "ehlo_tls", &mut conn, &smtp.ehlo_name, false).await?;
    auth(rec, &mut conn, &caps, smtp).await?;
    if let Some(send) = &smtp.send {
        send_probe(rec, &mut conn, send).await?;
    }
    let _ = rec
        .reply_phase("quit", async {
            conn.send("QUIT").await?;
            expect(conn.read_reply().await?, &[221], "QUIT")
        })
        .await;
    Ok(())
}

async fn banner<S>(rec: &mut Recorder, conn: &mut Conn<S>) -> Result<Reply, Failure>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    rec.reply_phase("banner", async {
        expect(conn.read_reply().await?, &[220], "greeting refused")
    })
    .await
}

async fn ehlo<S>(
    rec: &mut Recorder,
    name: &'static str,
    conn: &mut Conn<S>,
    ehlo_name: &str,
    need_starttls: bool,
) -> Result<Capabilities, Failure>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    rec.phase(name, async {
        conn.send(&format!("EHLO {ehlo_name}")).await?;
        let reply = expect(conn.read_reply().await?, &[250], "EHLO refused")?;
        let caps = Capabilities::from_ehlo(&reply);
        if need_starttls && !caps.starttls {
            return Err(Failure {
                reply: Some(reply),
                ..Failure::new(
                    Class::StarttlsNotOffered,
                    "the EHLO reply does not advertise STARTTLS",
                )
            });
        }
        Ok((caps, Some(reply)))
    })
    .await
}

async fn handshake(
    rec: &mut Recorder,
    session: &mut SessionNotes,
    smtp: &SmtpTarget,
    tcp: TcpStream,
) -> Result<TlsStream<TcpStream>, Failure> {
    let name = smtp.tls_server_name.as_str();
    let stream = rec
        .phase("tls", async {
            // Trust is built once per configuration load and shared by
            // every target with the same ca_file; a broken one is reported
            // in this phase.
            let setup = |message: String| {
                Failure::new(
                    Class::TlsCertificateInvalid,
                    format!("cannot verify certificates: {message}"),
                )
            };
            let config = tls::trusted_config(smtp.ca_file.as_deref())
                .await
                .map_err(setup)?;
            let server_name = tls::server_name(name).map_err(setup)?;
            let connector = TlsConnector::from(config);
            let stream = connector.connect(server_name, tcp).await.map_err(|e| {
                Failure::new(
                    tls::classify_handshake_error(&e),
                    format!("TLS handshake with {name} failed: {e}"),
                )
            })?;
            Ok((stream, None))
        })
        .await?;
    let (_, client) = stream.get_ref();
    let facts = TlsFacts {
        version: client.protocol_version().map(tls::version_name),
        certificate_not_after: client
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(tls::not_after),
    };
    if let Some(not_after) = facts.certificate_not_after {
        let now = crate::outcome::unix_seconds(SystemTime::now()) as i64;
        let margin = smtp.certificate_expiry_warning.as_secs() as i64;
        if not_after - now < margin {
            let when = SystemTime::UNIX_EPOCH + Duration::from_secs(not_after.max(0) as u64);
            let days = (not_after - now) as f64 / 86_400.0;
            session.warnings.push(
                Finding::new(
                    Class::TlsCertificateExpiring,
                    format!(
                        "the certificate of {name} expires in {days:.1} days ({})",
                        humantime::format_rfc3339_seconds(when)
                    ),
                )
                .in_phase("tls"),
            );
        }
    }
    session.tls = Some(facts);
    Ok(stream)
}

/// AUTH with the first configured mechanism the server offers. Defined on
/// TLS connections only: credentials never go out in the clear.
async fn auth(
    rec: &mut Recorder,
    conn: &mut Conn<TlsStream<TcpStream>>,
    caps: &Capabilities,
    smtp: &SmtpTarget,
) -> Result<Reply, Failure> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let chosen = smtp.auth_mechanisms.iter().copied().find(|m| {
        caps.auth
            .iter()
            .any(|offered| offered == mechanism_name(*m))
    });
    rec.reply_phase("auth", async {
        let Some(mechanism) = chosen else {
            let configured: Vec<&str> = smtp.auth_mechanisms.iter().map(|m| mechanism_name(*m)).collect();
            return Err(Failure::new(
                Class::SmtpProtocolError,
                format!(
                    "the server offers no AUTH mechanism this probe may use (offered: {}; configured: {})",
                    if caps.auth.is_empty() { "none".to_owned() } else { caps.auth.join(" ") },
                    configured.join(" ")
                ),
            ));
        };
        match mechanism {
            AuthMechanism::Plain => {
                let line = Secret::new(format!(
                    "AUTH PLAIN {}",
                    b64(&format!("\0{}\0{}", smtp.username, smtp.password.expose()))
                ));
                conn.send(line.expose()).await?;
                expect(conn.read_reply().await?, &[235], "AUTH PLAIN refused")
            }
            AuthMechanism::Login => {
                conn.send("AUTH LOGIN").await?;
                expect(conn.read_reply().await?, &[334], "AUTH LOGIN refused")?;
                conn.send(&b64(&smtp.username)).await?;
                expect(conn.read_reply().await?, &[334], "AUTH LOGIN refused the user name")?;
                let password = Secret::new(b64(smtp.password.expose()));
                conn.send(password.expose()).await?;
                expect(conn.read_reply().await?, &[235], "AUTH LOGIN refused")
            }
        }
    })
    .await
}

fn mechanism_name(m: AuthMechanism) -> &'static str {
    match m {
        AuthMechanism::Plain => "PLAIN",
        AuthMechanism::Login => "LOGIN",
    }
}

/// MAIL, RCPT and DATA with a small probe message.
async fn send_probe(
    rec: &mut Recorder,
    conn: &mut Conn<TlsStream<TcpStream>>,
    send: &SmtpSend,
) -> Result<(), Failure> {
    let mut message = Vec::new();
    rec.reply_phase("mail", async {
        // Composed first: an address lettre refuses never reaches MAIL.
        message = probe_message(send)?;
        conn.send(&format!("MAIL FROM:<{}>", send.mail_from))
            .await?;
        expect(conn.read_reply().await?, &[250], "MAIL FROM refused")
    })
    .await?;
    rec.reply_phase("rcpt", async {
        conn.send(&format!("RCPT TO:<{}>", send.rcpt_to)).await?;
        expect(conn.read_reply().await?, &[250, 251], "RCPT TO refused")
    })
    .await?;
    rec.reply_phase("data", async {
        conn.send("DATA").await?;
        expect(conn.read_reply().await?, &[354], "DATA refused")?;
        conn.send_raw(&message).await?;
        expect(conn.read_reply().await?, &[250], "message refused")
    })
    .await?;
    Ok(())
}

/// The probe message as DATA sends it: composed by lettre's message builder
/// (Date, Message-ID, MIME headers, body encoding), dot-stuffed, ending
/// with the terminating dot. An address lettre cannot parse is refused
/// here, before the session goes further.
fn probe_message(send: &SmtpSend) -> Result<Vec<u8>, Failure> {
    use lettre::message::header::{ContentType, HeaderName, HeaderValue};
    use lettre::message::{Mailbox, Message};
    let mailbox = |key: &str, address: &str| {
        address.parse::<Mailbox>().map_err(|e| {
            Failure::new(
                Class::AddressSyntaxInvalid,
                format!(
                    "{key} `{}` is not a valid address: {e}",
                    address.escape_debug()
                ),
            )
        })
    };
    let message = Message::builder()
        .from(mailbox("mail_from", &send.mail_from)?)
        .to(mailbox("rcpt_to", &send.rcpt_to)?)
        .subject("ses-probe SMTP check")
        .message_id(None)
        .header(ContentType::TEXT_PLAIN)
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".to_owned(),
        ))
        .body(String::from(
            "Sent by ses-probe to check delivery into Amazon SES over SMTP.\r\n",
        ))
        .map_err(|e| Failure::new(Class::MessageMalformed, format!("probe message: {e}")))?;
    Ok(dot_stuff(&message.formatted()))
}

/// RFC 5321 transparency: a line starting with `.` gets another, and the
/// data ends with `CRLF . CRLF`.
fn dot_stuff(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 8);
    let mut line_start = true;
    for &b in data {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_message_is_one_terminated_message() {
        let send = SmtpSend {
            mail_from: "probe@example.com".into(),
            rcpt_to: "success@simulator.amazonses.com".into(),
        };
        let m = String::from_utf8(probe_message(&send).unwrap()).unwrap();
        assert!(m.ends_with("\r\n.\r\n"));
        assert_eq!(m.matches("\r\n.\r\n").count(), 1);
        for header in [
            "From: probe@example.com\r\n",
            "To: success@simulator.amazonses.com\r\n",
            "Date: ",
            "Message-ID: <",
            "Auto-Submitted: auto-generated\r\n",
        ] {
            assert!(m.contains(header), "{header:?} missing in {m}");
        }
        assert!(!m.replace("\r\n", "").contains(['\r', '\n']));
        let bad = SmtpSend {
            mail_from: "not an address".into(),
            rcpt_to: "success@simulator.amazonses.com".into(),
        };
        assert_eq!(
            probe_message(&bad).unwrap_err().class,
            Class::AddressSyntaxInvalid
        );
    }

    #[test]
    fn dot_stuffing() {
        assert_eq!(dot_stuff(b"a\r\n.b\r\n"), b"a\r\n..b\r\n.\r\n");
        assert_eq!(dot_stuff(b".x"), b"..x\r\n.\r\n");
    }

    #[test]
    fn unexpected_replies_are_classified() {
        let reply = |code, text: &str| Reply {
            code,
            lines: vec![text.to_owned()],
        };
        let f = Failure::unexpected(reply(535, "Authentication Credentials Invalid"), "AUTH");
        assert_eq!(f.class, Class::AuthCredentialsInvalid);
        assert_eq!(f.details.reply_code, Some(535));
        // A positive reply where another was needed is a protocol error.
        let f = Failure::unexpected(reply(250, "Ok"), "AUTH");
        assert_eq!(f.class, Class::SmtpProtocolError);
        // A server echoing an AUTH payload does not get it into a message.
        let f = Failure::unexpected(
            reply(501, "bad: AGFraWFpb3Nmb2RubjdleGFtcGxlAHNlY3JldHBhc3N3b3Jk"),
            "AUTH",
        );
        assert!(!f.message.contains("AGFraWFp"), "{}", f.message);
    }
}
