//! A real Prometheus server (Debian's `prometheus`, which the test command
//! installs for promtool) scraping one target, run privately: its own
//! config and data directory, its web listener on 127.0.0.1, killed on
//! drop. And a recording TCP relay, to see the HTTP heads the scraper and
//! the exporter really exchange.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::http::{get, wait_for};

/// A Prometheus scraping `target` every second as job `ses-probe`.
pub struct Prometheus {
    pub addr: SocketAddr,
    child: Child,
    log: std::path::PathBuf,
}

impl Prometheus {
    pub fn start(dir: &Path, target: SocketAddr) -> Prometheus {
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
                 scrape_configs:\n  - job_name: ses-probe\n    static_configs:\n      \
                 - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        // Prometheus takes a port, not 0: a free one, taken at once.
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let log = dir.join("prometheus.log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run prometheus ({e}): run `bash .ci/test`, which installs it")
            });
        let p = Prometheus { addr, child, log };
        wait_for(Duration::from_secs(30), || {
            TcpStream::connect_timeout(&p.addr, Duration::from_millis(200))
                .ok()
                .map(|_| ())
        })
        .unwrap_or_else(|| panic!("prometheus did not listen; log:\n{}", p.log()));
        p
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The value of an instant query that yields exactly one series, if it
    /// does.
    pub fn query_one(&self, query: &str) -> Option<f64> {
        let path = format!("/api/v1/query?query={}", percent_encode(query));
        let resp = get(self.addr, &path);
        if resp.status != 200 {
            return None;
        }
        let v: serde_json::Value = serde_json::from_str(&resp.body).ok()?;
        let result = v["data"]["result"].as_array()?;
        match result.as_slice() {
            [one] => one["value"][1].as_str()?.parse().ok(),
            _ => None,
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The first bytes each way of every connection through a [`Relay`].
#[derive(Default)]
pub struct Heads {
    pub requests: Vec<u8>,
    pub responses: Vec<u8>,
}

/// Keep at most this much of each direction.
const KEEP: usize = 64 * 1024;

/// A TCP relay on 127.0.0.1 to `upstream` that records what passes.
pub struct Relay {
    pub addr: SocketAddr,
    pub heads: Arc<Mutex<Heads>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Relay {
    pub fn start(upstream: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let heads = Arc::new(Mutex::new(Heads::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, s) = (heads.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect_timeout(&upstream, Duration::from_secs(5))
                else {
                    continue;
                };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (h1, h2) = (h.clone(), h.clone());
                std::thread::spawn(move || {
                    pump(client, server, move |b| {
                        h1.lock().unwrap().requests.extend_from_slice(b)
                    })
                });
                std::thread::spawn(move || {
                    pump(s2, c2, move |b| {
                        h2.lock().unwrap().responses.extend_from_slice(b)
                    })
                });
            }
        });
        Relay {
            addr,
            heads,
            stop,
            thread: Some(thread),
        }
    }
}

/// Copy `from` to `to` until either end closes, recording up to [`KEEP`]
/// bytes through `record`; then shut both down.
fn pump(mut from: TcpStream, mut to: TcpStream, record: impl Fn(&[u8])) {
    let mut buf = [0u8; 16 * 1024];
    let mut kept = 0;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if kept < KEEP {
            let take = n.min(KEEP - kept);
            record(&buf[..take]);
            kept += take;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(std::net::Shutdown::Both);
    let _ = to.shutdown(std::net::Shutdown::Both);
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
