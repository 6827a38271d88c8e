//! A minimal HTTP/1.1 client for tests (one request per connection), and
//! an in-process daemon harness.

use super::ServerThread;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A parsed response.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Send `method path` and read the whole response (bounded by a timeout).
pub fn request(addr: SocketAddr, method: &str, path: &str) -> Response {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("response head");
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Response {
        status,
        headers,
        body: body.to_owned(),
    }
}

pub fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, "GET", path)
}

/// The value of the first series line starting with `series` (exact label
/// set as the exporter prints it), if any.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Poll `f` every 50 ms until it returns `Some`, for at most `limit`.
pub fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = std::time::Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if std::time::Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The daemon running in-process on a 127.0.0.1:0 listener in its own
/// runtime thread; stopped (and joined, bounded) on drop.
pub struct Daemon {
    pub addr: SocketAddr,
    _server: ServerThread,
}

impl Daemon {
    /// Start from a config file, as `ses-probe run --config` would.
    pub fn start(config: &std::path::Path) -> Daemon {
        use ses_probe::config::Source;
        let env = ses_probe::config::Env::from_process();
        let plan = ses_probe::config::load_file(config, &env).unwrap_or_else(|e| panic!("{e}"));
        let source = Source::File(config.to_owned());
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let server = ServerThread::spawn(move |stop_rx| async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            let daemon = ses_probe::daemon::Daemon::new(source, plan, None);
            let shutdown = async move {
                let _ = stop_rx.await;
            };
            ses_probe::daemon::serve(listener, daemon, shutdown).await;
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("daemon listening");
        Daemon {
            addr,
            _server: server,
        }
    }

    pub fn metrics(&self) -> String {
        get(self.addr, "/metrics").body
    }

    /// Wait until `series` has a value satisfying `pred`.
    pub fn wait_metric(&self, series: &str, limit: Duration, pred: impl Fn(f64) -> bool) -> f64 {
        wait_for(limit, || {
            metric(&self.metrics(), series).filter(|v| pred(*v))
        })
        .unwrap_or_else(|| panic!("{series} never matched; last scrape:\n{}", self.metrics()))
    }
}
