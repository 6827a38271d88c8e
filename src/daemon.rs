//! The exporter daemon: scheduler, HTTP server, reloads and signals.
//!
//! [`serve`] is the whole daemon given a bound listener, a plan, a shutdown
//! future and a reload channel, so tests drive it in-process on
//! `127.0.0.1:0`; [`main`] only binds, wires SIGHUP/SIGTERM/SIGINT to those
//! and maps failures to exit codes. A bad reload is logged and reported,
//! the running plan stays in force, and the daemon never exits because of
//! it.

use std::collections::BTreeSet;
use std::future::Future;
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

/// Run the daemon until `shutdown` resolves. `reload` carries reload
/// requests: `None` from SIGHUP, `Some(reply)` from `POST /-/reload`.
pub async fn serve(
    listener: TcpListener,
    source: Source,
    plan: Plan,
    shutdown: impl Future<Output = ()>,
    reload_tx: mpsc::Sender<Option<ReloadReply>>,
    mut reload_rx: mpsc::Receiver<Option<ReloadReply>>,
    metrics: Arc<Metrics>,
) {
    let addr = listener.local_addr().ok();
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
    tracing::info!(listen = ?addr, targets = plan.targets.len(), "ses-probe running");
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
                let result = reload(&source, &mut plan, &mut scheduler, &metrics, &app).await;
                crate::systemd::ready(&status(&plan));
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
            }
            _ = beat.tick() => {
                app.beat();
                if let Some(every) = watchdog {
                    if last_watchdog.elapsed() >= every {
                        crate::systemd::notify("WATCHDOG=1");
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
    if tokio::time::timeout(Duration::from_secs(1), server)
        .await
        .is_err()
    {
        tracing::warn!("HTTP server did not stop within 1 s");
    }
}

async fn reload(
    source: &Source,
    plan: &mut Plan,
    scheduler: &mut Scheduler,
    metrics: &Metrics,
    app: &App,
) -> Result<(), String> {
    match config::load(source, &Env::from_process()).await {
        Ok(new) => {
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
            scheduler.reload(&new);
            let names: BTreeSet<String> = new.targets.iter().map(|t| t.name.clone()).collect();
            metrics.retain_targets(&names);
            for t in &new.targets {
                let kinds: Vec<_> = t.checks().iter().map(|c| c.kind()).collect();
                metrics.retain_checks(&t.name, &kinds);
            }
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
pub async fn main(source: Source) -> u8 {
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
    let listener = match TcpListener::bind(plan.server.listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(listen = %plan.server.listen, error = %e, "cannot listen");
            eprintln!("error: cannot listen on {}: {e}", plan.server.listen);
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
    let (reload_tx, reload_rx) = mpsc::channel(4);
    let hup_tx = reload_tx.clone();
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
    serve(
        listener,
        source,
        plan,
        shutdown,
        reload_tx,
        reload_rx,
        Arc::new(Metrics::new()),
    )
    .await;
    0
}
