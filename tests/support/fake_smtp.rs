//! An in-process fake of the SES SMTP interface, scriptable per test.
//!
//! By default it speaks SES's dialect: the `220 email-smtp.amazonaws.com
//! ESMTP SimpleEmailService` greeting, EHLO with 8BITMIME, STARTTLS and
//! `AUTH PLAIN LOGIN`, STARTTLS (or TLS from the first byte), AUTH PLAIN and
//! LOGIN against one user name and password, MAIL, RCPT, DATA and QUIT.
//! A [`Script`] replaces what it does at any [`Stage`]: another reply, raw
//! bytes, silence, a delay, or closing the connection.
//!
//! The server runs on its own thread and runtime, so it serves both async
//! tests calling the library and blocking tests running the binary. It
//! binds 127.0.0.1:0 and stops when dropped (and after two minutes at most).

use super::ServerThread;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::ca::Leaf;

/// The SES greeting.
pub const BANNER: &str = "220 email-smtp.amazonaws.com ESMTP SimpleEmailService-d-FAKE0000 abcdef";

/// Where in the session a scripted act replaces the default behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    Banner,
    Ehlo,
    Starttls,
    EhloTls,
    /// The final reply to AUTH (after the credentials were read).
    Auth,
    Mail,
    Rcpt,
    /// The reply after the message body.
    Data,
    Quit,
}

/// What the server does at a stage.
#[derive(Clone, Debug)]
pub enum Act {
    /// Answer these reply lines (separated by `\n`; CRLF is added).
    Reply(String),
    /// Send these bytes as they are.
    Raw(Vec<u8>),
    /// Say nothing, keep the connection open.
    Silent,
    /// Close the connection.
    Close,
    /// Wait, then act.
    After(Duration, Box<Act>),
}

impl Act {
    pub fn reply(text: &str) -> Act {
        Act::Reply(text.to_owned())
    }
}

/// How a fake session goes.
#[derive(Clone)]
pub struct Script {
    /// TLS from the first byte (ports 465/2465) instead of STARTTLS.
    pub implicit_tls: bool,
    pub leaf: Leaf,
    pub offer_starttls: bool,
    /// The AUTH line of the EHLO reply, e.g. `PLAIN LOGIN`.
    pub auth_mechanisms: String,
    pub user: String,
    pub password: String,
    pub acts: HashMap<Stage, Act>,
    /// How long the server lives at most (a test's fake must never outlive
    /// a hung test); `None` for the benchmark fake.
    pub lifetime: Option<Duration>,
    /// Whether to keep the session log; the benchmark fake serves millions
    /// of sessions and keeps nothing.
    pub record: bool,
}

impl Script {
    /// SES over STARTTLS with `leaf`, accepting `user` / `password`.
    pub fn ses(leaf: Leaf, user: &str, password: &str) -> Script {
        Script {
            implicit_tls: false,
            leaf,
            offer_starttls: true,
            auth_mechanisms: "PLAIN LOGIN".to_owned(),
            user: user.to_owned(),
            password: password.to_owned(),
            acts: HashMap::new(),
            lifetime: Some(Duration::from_secs(120)),
            record: true,
        }
    }

    /// Serve until dropped and keep no log: for sustained load.
    pub fn for_load(mut self) -> Script {
        self.lifetime = None;
        self.record = false;
        self
    }

    pub fn implicit(mut self) -> Script {
        self.implicit_tls = true;
        self
    }

    pub fn on(mut self, stage: Stage, act: Act) -> Script {
        self.acts.insert(stage, act);
        self
    }
}

/// A running fake server.
pub struct FakeSmtp {
    pub port: u16,
    log: Arc<Log>,
    _server: ServerThread,
}

impl FakeSmtp {
    pub fn start(script: Script) -> FakeSmtp {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let port = std_listener.local_addr().expect("addr").port();
        let log = Arc::new(Log {
            keep: script.record,
            lines: Mutex::new(Vec::new()),
        });
        let thread_log = log.clone();
        let server = ServerThread::spawn(move |stopped| async move {
            let listener = TcpListener::from_std(std_listener).expect("listener");
            let script = Arc::new(script);
            let acceptor = acceptor(&script.leaf);
            // A year stands for "no limit".
            let lifetime = script.lifetime.unwrap_or(Duration::from_secs(365 * 86_400));
            let limit = tokio::time::sleep(lifetime);
            tokio::pin!(limit);
            tokio::pin!(stopped);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = &mut limit => break,
                    accepted = listener.accept() => {
                        let Ok((tcp, _)) = accepted else { continue };
                        // As real servers do: a reply written after the
                        // session tickets must not wait on Nagle.
                        let _ = tcp.set_nodelay(true);
                        let (script, log, acceptor) = (script.clone(), thread_log.clone(), acceptor.clone());
                        tokio::spawn(async move {
                            serve(tcp, &script, &log, &acceptor).await;
                        });
                    }
                }
            }
        });
        FakeSmtp {
            port,
            log,
            _server: server,
        }
    }

    /// What the server saw, in order: commands (AUTH payloads replaced by
    /// `AUTH user NAME` and their verdict), `TLS` when a handshake
    /// completed.
    pub fn log(&self) -> Vec<String> {
        self.log.lines.lock().expect("log").clone()
    }

    /// Wait until the log has an entry satisfying `pred` (bounded).
    pub fn wait_for(&self, pred: impl Fn(&str) -> bool) -> bool {
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if self.log().iter().any(|l| pred(l)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

fn acceptor(leaf: &Leaf) -> TlsAcceptor {
    let chain: Vec<CertificateDer<'static>> = leaf
        .chain
        .iter()
        .map(|c| CertificateDer::from(c.clone()))
        .collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key.clone()));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server cert");
    TlsAcceptor::from(Arc::new(config))
}

/// The session log, or nothing when `keep` is off.
struct Log {
    keep: bool,
    lines: Mutex<Vec<String>>,
}

fn note(log: &Log, entry: impl Into<String>) {
    if log.keep {
        log.lines.lock().expect("log").push(entry.into());
    }
}

/// What the session asks of its caller.
enum Next {
    Done,
    StartTls,
}

async fn serve(tcp: TcpStream, script: &Script, log: &Log, acceptor: &TlsAcceptor) {
    if script.implicit_tls {
        let Ok(tls) = acceptor.accept(tcp).await else {
            note(log, "TLS failed");
            return;
        };
        note(log, "TLS");
        let mut io = BufReader::new(tls);
        if !send_act(&mut io, script.acts.get(&Stage::Banner), BANNER).await {
            return;
        }
        session(&mut io, script, log, true).await;
        return;
    }
    let mut io = BufReader::new(tcp);
    if !send_act(&mut io, script.acts.get(&Stage::Banner), BANNER).await {
        return;
    }
    if let Next::StartTls = session(&mut io, script, log, false).await {
        let tcp = io.into_inner();
        let Ok(tls) = acceptor.accept(tcp).await else {
            note(log, "TLS failed");
            return;
        };
        note(log, "TLS");
        let mut io = BufReader::new(tls);
        session(&mut io, script, log, true).await;
    }
}

/// Perform `act` (or send `normal` when there is none). False when the
/// connection is to end.
async fn send_act<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    act: Option<&Act>,
    normal: &str,
) -> bool {
    let mut act = act.cloned().unwrap_or_else(|| Act::reply(normal));
    loop {
        match act {
            Act::After(delay, inner) => {
                tokio::time::sleep(delay).await;
                act = *inner;
            }
            Act::Reply(text) => {
                let mut out = String::new();
                for line in text.split('\n') {
                    out.push_str(line);
                    out.push_str("\r\n");
                }
                return io.get_mut().write_all(out.as_bytes()).await.is_ok()
                    && io.get_mut().flush().await.is_ok();
            }
            Act::Raw(bytes) => {
                return io.get_mut().write_all(&bytes).await.is_ok()
                    && io.get_mut().flush().await.is_ok();
            }
            Act::Silent => {
                // Until the client gives up (or the test ends).
                let mut sink = String::new();
                let _ =
                    tokio::time::timeout(Duration::from_secs(60), io.read_line(&mut sink)).await;
                return false;
            }
            Act::Close => {
                let _ = io.get_mut().shutdown().await;
                return false;
            }
        }
    }
}

/// The act's first reply code, when it is a reply.
fn act_code(act: Option<&Act>) -> Option<&str> {
    match act? {
        Act::Reply(text) => text.get(..3),
        Act::After(_, inner) => act_code(Some(inner)),
        _ => None,
    }
}

async fn read_line<S: AsyncRead + AsyncWrite + Unpin>(io: &mut BufReader<S>) -> Option<String> {
    let mut line = String::new();
    let n = tokio::time::timeout(
        Duration::from_secs(30),
        (&mut *io).take(64 * 1024).read_line(&mut line),
    )
    .await
    .ok()?
    .ok()?;
    if n == 0 {
        return None;
    }
    Some(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn decode(b64: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    script: &Script,
    log: &Log,
    tls: bool,
) -> Next {
    // SES refuses a transaction before AUTH (530 Authentication required).
    let mut authenticated = false;
    loop {
        let Some(line) = read_line(io).await else {
            return Next::Done;
        };
        let upper = line.to_ascii_uppercase();
        let verb = upper.split_whitespace().next().unwrap_or("").to_owned();
        let keep_going = match verb.as_str() {
            "EHLO" | "HELO" => {
                note(log, if tls { "EHLO (tls)" } else { "EHLO" });
                let mut lines = vec![
                    "250-email-smtp.amazonaws.com".to_owned(),
                    "250-8BITMIME".to_owned(),
                    "250-SIZE 10485760".to_owned(),
                ];
                if !tls && script.offer_starttls {
                    lines.push("250-STARTTLS".to_owned());
                }
                if !script.auth_mechanisms.is_empty() {
                    lines.push(format!("250-AUTH {}", script.auth_mechanisms));
                }
                lines.push("250 Ok".to_owned());
                let stage = if tls { Stage::EhloTls } else { Stage::Ehlo };
                send_act(io, script.acts.get(&stage), &lines.join("\n")).await
            }
            "STARTTLS" => {
                note(log, "STARTTLS");
                if tls {
                    send_act(io, None, "454 TLS not available").await
                } else {
                    let act = script.acts.get(&Stage::Starttls);
                    let upgrade = act.is_none() || act_code(act) == Some("220");
                    if !send_act(io, act, "220 Ready to start TLS").await {
                        return Next::Done;
                    }
                    if upgrade {
                        return Next::StartTls;
                    }
                    true
                }
            }
            "AUTH" => {
                let mut words = line.split_whitespace().skip(1);
                let mechanism = words.next().unwrap_or("").to_ascii_uppercase();
                let initial = words.next().map(str::to_owned);
                if !tls {
                    note(log, format!("AUTH {mechanism} IN CLEAR"));
                }
                let (user, password) = match mechanism.as_str() {
                    "PLAIN" => {
                        let payload = match initial {
                            Some(p) => p,
                            None => {
                                if !send_act(io, None, "334 ").await {
                                    return Next::Done;
                                }
                                let Some(p) = read_line(io).await else {
                                    return Next::Done;
                                };
                                p
                            }
                        };
                        let decoded = decode(&payload);
                        let mut parts = decoded.split('\0').skip(1);
                        (
                            parts.next().unwrap_or("").to_owned(),
                            parts.next().unwrap_or("").to_owned(),
                        )
                    }
                    "LOGIN" => {
                        if !send_act(io, None, "334 VXNlcm5hbWU6").await {
                            return Next::Done;
                        }
                        let Some(user) = read_line(io).await else {
                            return Next::Done;
                        };
                        if !send_act(io, None, "334 UGFzc3dvcmQ6").await {
                            return Next::Done;
                        }
                        let Some(password) = read_line(io).await else {
                            return Next::Done;
                        };
                        (decode(&user), decode(&password))
                    }
                    _ => {
                        note(log, format!("AUTH {mechanism}"));
                        if !send_act(io, None, "504 Unrecognized authentication type").await {
                            return Next::Done;
                        }
                        continue;
                    }
                };
                note(log, format!("AUTH user {user}"));
                let good = user == script.user && password == script.password;
                note(
                    log,
                    format!("AUTH {mechanism} {}", if good { "good" } else { "bad" }),
                );
                authenticated =
                    good && act_code(script.acts.get(&Stage::Auth)).is_none_or(|c| c == "235");
                let normal = if good {
                    "235 Authentication successful."
                } else {
                    "535 Authentication Credentials Invalid"
                };
                send_act(io, script.acts.get(&Stage::Auth), normal).await
            }
            "MAIL" => {
                note(log, line.clone());
                let normal = if authenticated {
                    "250 Ok"
                } else {
                    "530 Authentication required"
                };
                send_act(io, script.acts.get(&Stage::Mail), normal).await
            }
            "RCPT" => {
                note(log, line.clone());
                send_act(io, script.acts.get(&Stage::Rcpt), "250 Ok").await
            }
            "DATA" => {
                note(log, "DATA");
                if !send_act(io, None, "354 End data with <CR><LF>.<CR><LF>").await {
                    return Next::Done;
                }
                let mut lines = 0;
                loop {
                    let Some(l) = read_line(io).await else {
                        return Next::Done;
                    };
                    if l == "." {
                        break;
                    }
                    if lines < 50 {
                        note(log, format!("| {l}"));
                    }
                    lines += 1;
                }
                send_act(
                    io,
                    script.acts.get(&Stage::Data),
                    "250 Ok 0100018c2b7a1234-fake-0000",
                )
                .await
            }
            "QUIT" => {
                note(log, "QUIT");
                send_act(io, script.acts.get(&Stage::Quit), "221 Bye").await;
                return Next::Done;
            }
            "RSET" | "NOOP" => send_act(io, None, "250 Ok").await,
            _ => {
                note(log, format!("unknown: {verb}"));
                send_act(io, None, "500 5.5.1 Unrecognized command").await
            }
        };
        if !keep_going {
            return Next::Done;
        }
    }
}
