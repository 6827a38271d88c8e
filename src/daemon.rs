//! The exporter daemon: scheduler, HTTP server, reloads and signals.
//!
//! [`serve`] is the whole daemon given a bound listener, a [`Daemon`] (the
//! plan, where it came from, the metric state, the reload channel) and a
//! shutdown future, so tests drive it in-process on `127.0.0.1:0`; [`main`]
//! only binds, wires SIGHUP/SIGTERM/SIGINT to those and maps failures to
//! exit codes. A bad reload is logged and reported,
//! the running plan stays in force, and the daemon never exits because of
//! it.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::config::{self, Env, Plan, Source};
use crate::exit;
use crate::http::{self, App, ReloadReply};
use crate::metrics::Metrics;
use crate::scheduler::Scheduler;

/// A reload request: `None` from SIGHUP, `Some(reply)` from
/// `POST /-/reload`.
pub type ReloadRequest = Option<ReloadReply>;

/// What the daemon runs from.
pub struct Daemon {
    /// Where the plan came from; reloads read it again.
    pub source: Source,
    pub plan: Plan,
    /// `--web.listen-address`: wins over `server.listen`, on every load.
    pub listen: Option<SocketAddr>,
    pub metrics: Arc<Metrics>,
    reload_tx: mpsc::Sender<ReloadRequest>,
    reload_rx: mpsc::Receiver<ReloadRequest>,
}

impl Daemon {
    pub fn new(source: Source, mut plan: Plan, listen: Option<SocketAddr>) -> Daemon {
        if let Some(listen) = listen {
            plan.server.listen = listen;
        }
        let (reload_tx, reload_rx) = mpsc::channel(4);
        Daemon {
            source,
            plan,
            listen,
            metrics: Arc::new(Metrics::new()),
            reload_tx,
            reload_rx,
        }
    }

    /// Where reload requests go (SIGHUP, tests).
    pub fn reload_sender(&self) -> mpsc::Sender<ReloadRequest> {
        self.reload_tx.clone()
    }
}

/// Run the daemon until `shutdown` resolves.
pub async fn serve(listener: TcpListener, daemon: Daemon, shutdown: impl Future<Output = ()>) {
    let Daemon {
        source,
        plan,
        listen,
        metrics,
        reload_tx,
        mut reload_rx,
    } = daemon;
    let addr = listener.local_addr().ok();
    metrics.configure(&plan);
    let mut postfix_log = PostfixLogReader::new(metrics.clone());
    postfix_log.follow(&plan);
    // Read the system's roots off the workers before the first checks
    // need them.
    crate::roots::prewarm();
    let sink_metrics = metrics.clone();
    let mut scheduler =
        Scheduler::new(&plan, Arc::new(move |t, o| sink_metrics.record(&t.name, o)));
    scheduler.start(&plan);
    let app = Arc::new(App {
        metrics: metrics.clone(),
        heartbeat: AtomicU64::new(0),
        reload_enabled: AtomicBool::new(plan.server.reload_endpoint),
        reload: reload_tx,
    });
    app.beat();
    let (stop_tx, stop_rx) = watch::channel(false);
    let server = tokio::spawn(http::serve(listener, app.clone(), stop_rx));
    let status = |plan: &Plan| format!("probing {} target(s)", plan.targets.len());
    match addr {
        Some(addr) => {
            tracing::info!(listen = %addr, targets = plan.targets.len(), "ses-probe running")
        }
        None => tracing::info!(targets = plan.targets.len(), "ses-probe running"),
    }
    crate::systemd::ready(&status(&plan));

    let watchdog = crate::systemd::watchdog_interval();
    let mut last_watchdog = Instant::now();
    let mut beat = tokio::time::interval(Duration::from_secs(1));
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut plan = plan;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(reply) = reload_rx.recv() => {
                crate::systemd::reloading();
                // Every CA file is read again under the new configuration.
                crate::checks::smtp::forget_trust();
                let result = reload(&source, listen, &mut plan, &mut scheduler, &metrics, &app).await;
                postfix_log.follow(&plan);
                crate::systemd::ready(&status(&plan));
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
            }
            _ = beat.tick() => {
                app.beat();
                if let Some(every) = watchdog {
                    if last_watchdog.elapsed() >= every {
                        crate::systemd::watchdog();
                        last_watchdog = Instant::now();
                    }
                }
            }
        }
    }
    tracing::info!("shutting down");
    crate::systemd::stopping();
    let _ = stop_tx.send(true);
    scheduler.stop();
    postfix_log.stop();
    if tokio::time::timeout(Duration::from_secs(1), server)
        .await
        .is_err()
    {
        tracing::warn!("HTTP server did not stop within 1 s");
    }
}

/// Postfix's log, followed on its own thread when `[postfix_log]` is
/// configured; each delivery to a target's relay is classified and
/// counted in the metrics.
struct PostfixLogReader {
    metrics: Arc<Metrics>,
    sink: Arc<LogSink>,
    running: Option<(
        crate::postfix::follow::LogSource,
        crate::postfix::follow::Follower,
    )>,
}

struct LogSink {
    metrics: Arc<Metrics>,
    router: std::sync::Mutex<crate::postfix::report::Router>,
}

impl crate::postfix::follow::Sink for LogSink {
    fn delivery(&self, d: crate::postfix::log::Delivery, line: &str) {
        let router = self.router.lock().unwrap_or_else(|e| e.into_inner());
        let Some(target) = router.target_of(&d) else {
            return;
        };
        let class = crate::postfix::report::classify(&d, line);
        let at = d.at.unwrap_or_else(std::time::SystemTime::now);
        self.metrics.record_delivery(target, d.status, class, at);
    }

    fn reading(&self, reading: bool, why: Option<String>) {
        match why {
            Some(why) if !reading => tracing::warn!(%why, "cannot read Postfix's log"),
            _ => tracing::info!(reading, "Postfix log"),
        }
        self.metrics.set_postfix_reading(Some(reading));
    }
}

impl PostfixLogReader {
    fn new(metrics: Arc<Metrics>) -> Self {
        let sink = Arc::new(LogSink {
            metrics: metrics.clone(),
            router: Default::default(),
        });
        PostfixLogReader {
            metrics,
            sink,
            running: None,
        }
    }

    /// Follow the plan's log (restarting only when its source changed),
    /// routing deliveries to the plan's targets.
    fn follow(&mut self, plan: &Plan) {
        let router = plan.relays();
        *self.sink.router.lock().unwrap_or_else(|e| e.into_inner()) = router;
        let wanted = plan.postfix_log.as_ref().map(|l| l.source.clone());
        if self.running.as_ref().map(|(s, _)| s) == wanted.as_ref() {
            return;
        }
        self.stop();
        let Some(source) = wanted else {
            self.metrics.set_postfix_reading(None);
            return;
        };
        let sink: Arc<dyn crate::postfix::follow::Sink> = self.sink.clone();
        match crate::postfix::follow::Follower::spawn(source.clone(), sink) {
            Ok(f) => self.running = Some((source, f)),
            Err(e) => {
                tracing::error!(error = %e, "cannot start reading Postfix's log");
                self.metrics.set_postfix_reading(Some(false));
            }
        }
    }

    /// Stop following; the thread is joined off the async workers.
    fn stop(&mut self) {
        if let Some((_, follower)) = self.running.take() {
            tokio::task::spawn_blocking(move || drop(follower));
        }
    }
}

async fn reload(
    source: &Source,
    listen: Option<SocketAddr>,
    plan: &mut Plan,
    scheduler: &mut Scheduler,
    metrics: &Metrics,
    app: &App,
) -> Result<(), String> {
    match config::load(source, &Env::from_process()).await {
        Ok(mut new) => {
            if let Some(listen) = listen {
                new.server.listen = listen;
            }
            if new.server.listen != plan.server.listen {
                tracing::warn!(
                    old = %plan.server.listen,
                    new = %new.server.listen,
                    "the listen address changes only on restart"
                );
            }
            for w in &new.warnings {
                tracing::warn!("{w}");
            }
            scheduler.reload(&mut new);
            metrics.configure(&new);
            metrics.set_reload(true);
            app.reload_enabled.store(
                new.server.reload_endpoint,
                std::sync::atomic::Ordering::Relaxed,
            );
            tracing::info!(targets = new.targets.len(), "configuration reloaded");
            *plan = new;
            Ok(())
        }
        Err(e) => {
            for issue in &e.issues {
                tracing::error!("reload rejected: {issue}");
            }
            metrics.set_reload(false);
            Err(e.to_string())
        }
    }
}

/// The `run` subcommand: load, bind, serve until SIGTERM/SIGINT.
/// `listen` is `--web.listen-address`.
pub async fn main(source: Source, listen: Option<SocketAddr>) -> u8 {
    use tokio::signal::unix::{signal, SignalKind};
    let plan = match config::load(&source, &Env::from_process()).await {
        Ok(plan) => plan,
        Err(e) => {
            for issue in &e.issues {
                tracing::error!("{issue}");
                eprintln!("error: {issue}");
            }
            return exit::CONFIG;
        }
    };
    for w in &plan.warnings {
        tracing::warn!("{w}");
    }
    let daemon = Daemon::new(source, plan, listen);
    let listen = daemon.plan.server.listen;
    let listener = match TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(listen = %listen, error = %e, "cannot listen");
            eprintln!("error: cannot listen on {listen}: {e}");
            return exit::IO;
        }
    };
    let (Ok(mut hup), Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("error: cannot install signal handlers");
        return exit::SOFTWARE;
    };
    let hup_tx = daemon.reload_sender();
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading configuration");
            if hup_tx.send(None).await.is_err() {
                break;
            }
        }
    });
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM"),
            _ = int.recv() => tracing::info!("SIGINT"),
        }
    };
    serve(listener, daemon, shutdown).await;
    0
}
