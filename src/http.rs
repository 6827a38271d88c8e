//! The exporter's HTTP server: `/metrics`, `/healthz`, `/` and the optional
//! `POST /-/reload`.
//!
//! Scrapes only read state the scheduler already recorded: they never start
//! a probe and never wait on one. The server is defensive because it often
//! listens on a shared host, where slow or hostile clients must not make
//! Prometheus see the exporter down:
//!
//! - a request head must be complete within [`HEADER_TIMEOUT`] of the
//!   connection's start or of its previous response, or the connection is
//!   closed (this also ends idle keep-alive connections);
//! - heads are bounded in size ([`MAX_HEAD_BYTES`]) and connections in
//!   lifetime ([`CONNECTION_LIFETIME`]);
//! - at most [`MAX_CONNECTIONS`] connections are open at once; when a new one
//!   arrives at the cap, the server closes one that is not serving a request
//!   (from the peer address holding the most connections, the longest idle
//!   first) instead of refusing the newcomer. Slow, idle and flooding
//!   clients therefore cannot crowd out a scrape; only when every slot is
//!   busy answering a request is the newcomer closed.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::future::Future as _;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::header::{ACCEPT_ENCODING, ALLOW, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::task::{JoinHandle, JoinSet};

use crate::gzip;
use crate::metrics::{Metrics, Scrape};

/// At most this many connections are open at once.
pub const MAX_CONNECTIONS: usize = 64;
/// A request head must be complete within this of the connection's start
/// or of the previous response on it (idle keep-alives end after it too).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
/// No connection lives longer than this.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// Largest request head accepted (hyper's minimum is 8 KiB).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// `/healthz` fails when the scheduler loop has not beaten for this long.
pub const HEARTBEAT_STALE: Duration = Duration::from_secs(15);

/// A reload request: the daemon answers on the channel with the outcome.
pub type ReloadReply = oneshot::Sender<Result<(), String>>;

/// What the handlers read.
pub struct App {
    pub metrics: Arc<Metrics>,
    /// Seconds since the epoch of the scheduler loop's last beat.
    pub heartbeat: AtomicU64,
    pub reload_enabled: AtomicBool,
    pub reload: mpsc::Sender<Option<ReloadReply>>,
}

fn now_secs() -> u64 {
    crate::outcome::unix_seconds(SystemTime::now()) as u64
}

impl App {
    pub fn beat(&self) {
        self.heartbeat.store(now_secs(), Ordering::Relaxed);
    }

    fn alive(&self) -> bool {
        now_secs().saturating_sub(self.heartbeat.load(Ordering::Relaxed))
            < HEARTBEAT_STALE.as_secs()
    }
}

/// One open connection, as the accept loop sees it.
struct Conn {
    peer: IpAddr,
    /// Requests being handled right now.
    busy: AtomicUsize,
    /// Milliseconds since the server started when the connection was
    /// accepted or last finished a request.
    idle_since: AtomicU64,
    /// Set by the accept loop to close the connection.
    evict: Notify,
}

/// The open connections, so that a newcomer at the cap can displace one
/// that is not serving anything.
struct Registry {
    epoch: Instant,
    next_id: u64,
    conns: HashMap<u64, Arc<Conn>>,
}

impl Registry {
    fn millis(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The connection to close for a newcomer: one not serving a request,
    /// from the peer with the most connections, idle the longest.
    fn victim(&self) -> Option<u64> {
        let mut per_peer: HashMap<IpAddr, usize> = HashMap::new();
        for c in self.conns.values() {
            *per_peer.entry(c.peer).or_default() += 1;
        }
        self.conns
            .iter()
            .filter(|(_, c)| c.busy.load(Ordering::Acquire) == 0)
            .max_by_key(|(id, c)| {
                (
                    per_peer[&c.peer],
                    std::cmp::Reverse(c.idle_since.load(Ordering::Acquire)),
                    std::cmp::Reverse(**id),
                )
            })
            .map(|(id, _)| *id)
    }
}

/// Removes its connection from the registry when the connection ends.
struct Registered {
    id: u64,
    registry: Arc<Mutex<Registry>>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut r) = self.registry.lock() {
            r.conns.remove(&self.id);
        }
    }
}

/// Marks its connection busy while a request is handled.
struct Busy {
    conn: Arc<Conn>,
    epoch: Instant,
}

impl Busy {
    fn new(conn: Arc<Conn>, epoch: Instant) -> Busy {
        conn.busy.fetch_add(1, Ordering::AcqRel);
        Busy { conn, epoch }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let now = self.epoch.elapsed().as_millis() as u64;
        self.conn.idle_since.store(now, Ordering::Release);
        self.conn.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Make room for one more connection: `Some` when there is (the registry
/// already counts the newcomer), `None` when every slot is busy serving.
fn admit(registry: &Arc<Mutex<Registry>>, peer: IpAddr) -> Option<(Arc<Conn>, Registered)> {
    let mut r = registry.lock().ok()?;
    if r.conns.len() >= MAX_CONNECTIONS {
        let id = r.victim()?;
        if let Some(victim) = r.conns.remove(&id) {
            tracing::debug!(peer = %victim.peer, "connection limit reached; closing an idle connection");
            victim.evict.notify_one();
        }
    }
    let id = r.next_id;
    r.next_id += 1;
    let conn = Arc::new(Conn {
        peer,
        busy: AtomicUsize::new(0),
        idle_since: AtomicU64::new(r.millis()),
        evict: Notify::new(),
    });
    r.conns.insert(id, conn.clone());
    Some((
        conn,
        Registered {
            id,
            registry: registry.clone(),
        },
    ))
}

/// Serve until `stop` turns true; then in-flight connections are dropped.
pub async fn serve(listener: TcpListener, app: Arc<App>, mut stop: watch::Receiver<bool>) {
    let epoch = Instant::now();
    let registry = Arc::new(Mutex::new(Registry {
        epoch,
        next_id: 0,
        conns: HashMap::new(),
    }));
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => break,
        };
        while conns.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some((conn, registered)) = admit(&registry, peer.ip()) else {
            tracing::debug!(%peer, "every connection is busy; closing");
            continue;
        };
        let app = app.clone();
        conns.spawn(async move {
            let _registered = registered;
            let svc = {
                let conn = conn.clone();
                service_fn(move |req| {
                    let busy = Busy::new(conn.clone(), epoch);
                    let app = app.clone();
                    async move {
                        let resp = handle(app, req).await;
                        drop(busy);
                        resp
                    }
                })
            };
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(MAX_HEAD_BYTES)
                .serve_connection(TokioIo::new(stream), svc);
            tokio::pin!(served);
            let lifetime = tokio::time::sleep(CONNECTION_LIFETIME);
            tokio::pin!(lifetime);
            loop {
                // When the connection will have been idle too long; while it
                // serves a request, look again a timeout later.
                let deadline = if conn.busy.load(Ordering::Acquire) > 0 {
                    tokio::time::Instant::now() + HEADER_TIMEOUT
                } else {
                    let since = Duration::from_millis(conn.idle_since.load(Ordering::Acquire));
                    tokio::time::Instant::from_std(epoch + since + HEADER_TIMEOUT)
                };
                tokio::select! {
                    r = &mut served => {
                        if let Err(e) = r {
                            tracing::debug!(%peer, error = %e, "connection error");
                        }
                        break;
                    }
                    _ = conn.evict.notified() => break,
                    _ = &mut lifetime => break,
                    _ = tokio::time::sleep_until(deadline) => {
                        let since = Duration::from_millis(conn.idle_since.load(Ordering::Acquire));
                        if conn.busy.load(Ordering::Acquire) == 0
                            && epoch.elapsed() >= since + HEADER_TIMEOUT
                        {
                            tracing::debug!(%peer, "no request within the header timeout; closing");
                            break;
                        }
                    }
                }
            }
        });
    }
    drop(listener);
    conns.abort_all();
}

/// A response body: a small one whole, or a scrape sent as it is made.
type Body = Either<Full<Bytes>, ScrapeBody>;

/// `/metrics`: chunks from the [`Scrape`], sent as they are made. Plain,
/// the exact length is known up front (so the response has a
/// `Content-Length`, not chunked encoding). Gzipped (when the client asks,
/// as Prometheus does), the response is chunked and each chunk is
/// compressed by a task of its own ([`crate::gzip`]), a few at a time, so
/// the compression runs on every worker beside the making of the next
/// chunks instead of adding its whole time to the scrape.
struct ScrapeBody {
    scrape: Scrape,
    gzip: Option<Box<Gzipping>>,
}

/// Chunks being compressed, in body order, and what the trailer needs.
struct Gzipping {
    pieces: VecDeque<JoinHandle<std::io::Result<gzip::Piece>>>,
    crc: crc32fast::Hasher,
    len: u64,
    header_sent: bool,
    all_made: bool,
    finished: bool,
}

/// Chunks compressed at once, at most: bounds a scrape's memory.
const GZIP_IN_FLIGHT: usize = 4;

impl ScrapeBody {
    fn new(scrape: Scrape, gzip: bool) -> ScrapeBody {
        let gzip = gzip.then(|| {
            Box::new(Gzipping {
                pieces: VecDeque::with_capacity(GZIP_IN_FLIGHT),
                crc: crc32fast::Hasher::new(),
                len: 0,
                header_sent: false,
                all_made: false,
                finished: false,
            })
        });
        ScrapeBody { scrape, gzip }
    }
}

impl Gzipping {
    /// The next frame of the gzip stream, or pending while the chunk in
    /// front is still being compressed.
    fn poll_next(
        &mut self,
        scrape: &mut Scrape,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<std::io::Result<Bytes>>> {
        use std::task::Poll;
        if self.finished {
            return Poll::Ready(None);
        }
        while !self.all_made && self.pieces.len() < GZIP_IN_FLIGHT {
            match scrape.next_chunk() {
                Some(chunk) => self
                    .pieces
                    .push_back(tokio::spawn(async move { gzip::piece(&chunk) })),
                None => self.all_made = true,
            }
        }
        let mut out = Vec::new();
        if !self.header_sent {
            out.extend_from_slice(&gzip::HEADER);
            self.header_sent = true;
        }
        match self.pieces.front_mut() {
            Some(task) => match std::pin::Pin::new(task).poll(cx) {
                Poll::Pending if out.is_empty() => return Poll::Pending,
                // The header goes first, alone if need be.
                Poll::Pending => {}
                Poll::Ready(done) => {
                    self.pieces.pop_front();
                    let piece = done.map_err(std::io::Error::other).and_then(|r| r)?;
                    self.crc.combine(&piece.crc);
                    self.len += piece.len;
                    out.extend_from_slice(&piece.deflated);
                }
            },
            None => {
                let crc = std::mem::replace(&mut self.crc, crc32fast::Hasher::new());
                out.extend_from_slice(&gzip::trailer(crc, self.len));
                self.finished = true;
            }
        }
        Poll::Ready(Some(Ok(Bytes::from(out))))
    }
}

impl hyper::body::Body for ScrapeBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let next = match &mut this.gzip {
            None => std::task::Poll::Ready(this.scrape.next_chunk().map(Ok)),
            Some(gzip) => gzip.poll_next(&mut this.scrape, cx),
        };
        next.map(|frame| frame.map(|r| r.map(hyper::body::Frame::data)))
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self.gzip {
            None => hyper::body::SizeHint::with_exact(self.scrape.remaining() as u64),
            Some(_) => hyper::body::SizeHint::default(),
        }
    }
}

/// Whether an `Accept-Encoding` value accepts gzip: a `gzip` (or
/// `x-gzip`) coding whose quality is not zero. `*` is not taken as gzip:
/// only a client that names it gets it.
fn accepts_gzip(value: &str) -> bool {
    value.split(',').any(|item| {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let named = coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip");
        let refused = parts.any(|p| {
            let p = p.trim();
            p.len() > 2
                && p[..2].eq_ignore_ascii_case("q=")
                && p[2..].trim().parse::<f64>().is_ok_and(|q| q <= 0.0)
        });
        named && !refused
    })
}

fn response(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Body::Left(Full::new(body.into())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, content_type.parse().expect("valid header"));
    r
}

fn not_allowed(allow: &'static str) -> Response<Body> {
    let mut r = response(
        StatusCode::METHOD_NOT_ALLOWED,
        "text/plain; charset=utf-8",
        "method not allowed\n",
    );
    r.headers_mut()
        .insert(ALLOW, allow.parse().expect("valid header"));
    r
}

async fn handle(app: Arc<App>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let read = matches!(*req.method(), Method::GET | Method::HEAD);
    let head = *req.method() == Method::HEAD;
    let mut resp = match req.uri().path() {
        "/metrics" if read => {
            let gzip = req
                .headers()
                .get_all(ACCEPT_ENCODING)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(accepts_gzip);
            let body = ScrapeBody::new(app.metrics.scrape(), gzip);
            let mut r = Response::new(Body::Right(body));
            let headers = r.headers_mut();
            headers.insert(
                CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8"
                    .parse()
                    .expect("valid header"),
            );
            headers.insert(VARY, "Accept-Encoding".parse().expect("valid header"));
            if gzip {
                headers.insert(CONTENT_ENCODING, "gzip".parse().expect("valid header"));
            }
            r
        }
        "/healthz" if read => {
            if app.alive() {
                response(StatusCode::OK, "text/plain; charset=utf-8", "ok\n")
            } else {
                response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain; charset=utf-8",
                    "scheduler stalled\n",
                )
            }
        }
        "/" if read => response(
            StatusCode::OK,
            "text/html; charset=utf-8",
            landing(&app.metrics),
        ),
        "/metrics" | "/healthz" | "/" => not_allowed("GET, HEAD"),
        "/-/reload" if app.reload_enabled.load(Ordering::Relaxed) => {
            if *req.method() == Method::POST {
                reload(&app).await
            } else {
                not_allowed("POST")
            }
        }
        _ => response(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found\n",
        ),
    };
    if head {
        *resp.body_mut() = Body::Left(Full::new(Bytes::new()));
    }
    Ok(resp)
}

async fn reload(app: &App) -> Response<Body> {
    let (tx, rx) = oneshot::channel();
    if app.reload.send(Some(tx)).await.is_err() {
        return response(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain; charset=utf-8",
            "shutting down\n",
        );
    }
    match tokio::time::timeout(Duration::from_secs(30), rx).await {
        Ok(Ok(Ok(()))) => response(StatusCode::OK, "text/plain; charset=utf-8", "reloaded\n"),
        Ok(Ok(Err(e))) => response(
            StatusCode::UNPROCESSABLE_ENTITY,
            "text/plain; charset=utf-8",
            format!("reload failed; the previous configuration stays in force:\n{e}\n"),
        ),
        _ => response(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain; charset=utf-8",
            "reload did not complete\n",
        ),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A small status page: every target and check with its status and class.
fn landing(metrics: &Metrics) -> String {
    let mut rows = String::new();
    for (target, checks) in metrics.summary() {
        for row in checks {
            rows.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td class=\"{s}\">{s}</td><td>{}</td></tr>\n",
                escape(&target),
                row.check.as_str(),
                row.class.map(|c| c.as_str()).unwrap_or("ok"),
                s = row.status.as_str(),
            ));
        }
    }
    if rows.is_empty() {
        rows.push_str("<tr><td colspan=\"4\">no results yet</td></tr>\n");
    }
    let mut real = String::new();
    for p in metrics.postfix_summary() {
        let last = match p.last_failure {
            Some((class, at)) => format!("{class} at {}", humantime::format_rfc3339_seconds(at)),
            None => "none".to_owned(),
        };
        real.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            escape(&p.target),
            p.sent,
            p.deferred,
            p.bounced,
            last
        ));
    }
    let real = if real.is_empty() {
        String::new()
    } else {
        format!(
            "<h2>Real mail (Postfix's log)</h2>\n<table><tr><th>target</th><th>sent</th><th>deferred</th><th>bounced</th><th>last failure</th></tr>\n{real}</table>\n"
        )
    };
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>ses-probe</title>\n\
         <style>body{{font-family:sans-serif}}td,th{{padding:2px 10px;text-align:left}}\
         .ok{{color:green}}.warning{{color:#b60}}.critical,.unknown{{color:#c00}}</style></head>\n\
         <body><h1>ses-probe {}</h1>\n<p><a href=\"/metrics\">Metrics</a> · <a href=\"/healthz\">Health</a></p>\n\
         <table><tr><th>target</th><th>check</th><th>status</th><th>class</th></tr>\n{rows}</table>\n{real}</body></html>\n",
        env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_served_to_clients_that_name_it() {
        // What real clients send: Prometheus, curl --compressed, browsers.
        for yes in [
            "gzip",
            "deflate, gzip, br, zstd",
            "gzip, deflate, br",
            "GZIP;q=0.5",
            "x-gzip",
            "br;q=1.0, gzip;q=0.8, *;q=0.1",
        ] {
            assert!(accepts_gzip(yes), "{yes}");
        }
        for no in [
            "",
            "identity",
            "deflate, br",
            "gzip;q=0",
            "gzip; q=0.000",
            "*",
            "gzipped",
        ] {
            assert!(!accepts_gzip(no), "{no}");
        }
    }

    /// The body as a client reads it: every frame, in order.
    async fn drain(mut body: ScrapeBody) -> (Vec<u8>, usize) {
        use http_body_util::BodyExt as _;
        let mut out = Vec::new();
        let mut frames = 0;
        while let Some(frame) = body.frame().await {
            out.extend_from_slice(frame.unwrap().data_ref().unwrap());
            frames += 1;
        }
        (out, frames)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_gzipped_scrape_is_the_plain_scrape_compressed() {
        use std::io::Read as _;
        // Enough targets for a body of many chunks.
        let mut text = String::new();
        for n in 0..1000 {
            text.push_str(&format!(
                "[[target]]\nname = \"relay-{n}\"\nregion = \"eu-west-1\"\n[target.smtp]\n\
                 host = \"127.0.0.1\"\nusername = \"AKIAIOSFODNN7EXAMPLE\"\npassword = {{ env = \"PW\" }}\n"
            ));
        }
        let env = crate::config::Env::from_pairs([(
            "PW",
            "BMW5RDrXmmVs0lV7GpI4oLkHXpZ4stDsk6q91z1g38Pk",
        )]);
        let plan = crate::config::parse(&text, "t.toml", &env).unwrap();
        let metrics = Metrics::new();
        metrics.configure(&plan);

        let (plain, plain_frames) = drain(ScrapeBody::new(metrics.scrape(), false)).await;
        let (gzipped, gzip_frames) = drain(ScrapeBody::new(metrics.scrape(), true)).await;
        assert!(
            plain_frames > 2,
            "{plain_frames} frames, {} bytes",
            plain.len()
        );
        assert!(gzip_frames > 1, "{gzip_frames} frames");
        assert!(
            gzipped.len() * 5 < plain.len(),
            "{} of {}",
            gzipped.len(),
            plain.len()
        );
        let mut unzipped = String::new();
        flate2::read::GzDecoder::new(&gzipped[..])
            .read_to_string(&mut unzipped)
            .unwrap();
        // process_* series are read afresh at every scrape.
        let steady = |t: &str| -> Vec<String> {
            t.lines()
                .filter(|l| !l.starts_with("process_"))
                .map(str::to_owned)
                .collect()
        };
        let plain = String::from_utf8(plain).unwrap();
        assert_eq!(steady(&unzipped), steady(&plain));
        assert!(plain.contains("target=\"relay-999\""));
    }
}
