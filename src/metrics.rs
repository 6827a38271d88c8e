//! The metric contract: turning outcomes into Prometheus series.
//!
//! This module is the one place where an [`Outcome`] becomes series (the
//! report module is the one place it becomes text). It keeps the latest
//! outcome and the counters of every (target, check) and renders a fresh
//! registry from them on each scrape. Rendering from state, rather than
//! mutating long-lived gauge vectors, makes the awkward parts of the
//! contract simple and exact: a removed target's series vanish with its
//! state, a phase that did not run this time is not shown with last run's
//! value, and a finding that cleared is shown as 0 (not dropped), so alerts
//! resolve without waiting for staleness.
//!
//! Label values are configured target names and closed enums only (check,
//! class, severity, phase, principal type, enforcement status), plus the
//! account and ARN of `identity_info`; never error text or secrets. The
//! names are documented in `docs/metrics.md`, which a test holds to what is
//! served.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::SystemTime;

use prometheus::{Encoder, GaugeVec, IntCounterVec, Opts, Registry, TextEncoder};

use crate::diagnosis::{Class, Severity};
use crate::outcome::{unix_seconds as secs, CheckKind, Outcome, Status};

/// Enforcement statuses shown one-hot, as SES documents them.
const ENFORCEMENT: [&str; 3] = ["HEALTHY", "PROBATION", "SHUTDOWN"];

/// One row of the landing page: a check, its status and its primary class.
pub type CheckSummary = (CheckKind, Status, Option<Class>);

/// What is kept per (target, check) between scrapes.
#[derive(Debug, Default)]
struct CheckState {
    /// The last run that was not skipped.
    latest: Option<Outcome>,
    runs: u64,
    findings_total: BTreeMap<Class, u64>,
    /// Every (class, severity) ever reported, so cleared ones show 0.
    seen: BTreeSet<(Class, Severity)>,
    last_success: Option<SystemTime>,
    /// Last time the scheduler ran the check, skipped runs included: a
    /// send check resting on a spent budget is still being run.
    last_attempt: Option<SystemTime>,
    budget_remaining: Option<u32>,
}

#[derive(Debug)]
struct State {
    targets: BTreeMap<String, BTreeMap<CheckKind, CheckState>>,
    reload_successful: bool,
    reload_success_at: SystemTime,
}

/// The exporter's metric state. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    state: Mutex<State>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        Metrics {
            state: Mutex::new(State {
                targets: BTreeMap::new(),
                reload_successful: true,
                reload_success_at: SystemTime::now(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep
        // serving it rather than poisoning every later scrape.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Record one run of one check.
    pub fn record(&self, target: &str, outcome: &Outcome) {
        let mut state = self.lock();
        let cs = state
            .targets
            .entry(target.to_owned())
            .or_default()
            .entry(outcome.check)
            .or_default();
        if outcome.facts.send_budget_remaining.is_some() {
            cs.budget_remaining = outcome.facts.send_budget_remaining;
        }
        cs.last_attempt = Some(outcome.finished);
        if outcome.facts.skipped {
            return;
        }
        cs.runs += 1;
        for f in &outcome.findings {
            *cs.findings_total.entry(f.class).or_default() += 1;
            cs.seen.insert((f.class, f.severity));
        }
        if outcome.success {
            cs.last_success = Some(outcome.finished);
        }
        cs.latest = Some(outcome.clone());
    }

    /// Forget targets not in `keep` (after a reload); counters of the
    /// remaining targets are kept.
    pub fn retain_targets(&self, keep: &BTreeSet<String>) {
        self.lock().targets.retain(|name, _| keep.contains(name));
    }

    /// Forget checks a target no longer runs.
    pub fn retain_checks(&self, target: &str, keep: &[CheckKind]) {
        if let Some(checks) = self.lock().targets.get_mut(target) {
            checks.retain(|c, _| keep.contains(c));
        }
    }

    pub fn set_reload(&self, successful: bool) {
        let mut state = self.lock();
        state.reload_successful = successful;
        if successful {
            state.reload_success_at = SystemTime::now();
        }
    }

    /// The latest outcome and status per target and check, for the landing
    /// page.
    pub fn summary(&self) -> Vec<(String, Vec<CheckSummary>)> {
        let state = self.lock();
        state
            .targets
            .iter()
            .map(|(name, checks)| {
                let rows = checks
                    .iter()
                    .map(|(check, cs)| match &cs.latest {
                        Some(o) => (*check, o.status(), o.primary_finding().map(|f| f.class)),
                        None => (*check, Status::Unknown, None),
                    })
                    .collect();
                (name.clone(), rows)
            })
            .collect()
    }

    /// The Prometheus text exposition of the current state.
    pub fn render(&self) -> String {
        let registry = Registry::new();
        let m = Families::register(&registry);
        {
            let state = self.lock();
            m.build_info
                .with_label_values(&[env!("CARGO_PKG_VERSION"), crate::REVISION])
                .set(1.0);
            m.reload_ok
                .with_label_values(&[] as &[&str])
                .set(if state.reload_successful { 1.0 } else { 0.0 });
            m.reload_ts
                .with_label_values(&[] as &[&str])
                .set(secs(state.reload_success_at));
            for (target, checks) in &state.targets {
                for (check, cs) in checks {
                    m.fill(target, *check, cs);
                }
                // Every AWS check measures the skew; show the freshest.
                let skew = checks
                    .values()
                    .filter_map(|cs| cs.latest.as_ref())
                    .filter_map(|o| o.facts.clock_skew_seconds.map(|s| (o.finished, s)))
                    .max_by_key(|(t, _)| *t);
                if let Some((_, skew)) = skew {
                    m.clock_skew.with_label_values(&[target]).set(skew);
                }
            }
        }
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&registry.gather(), &mut buf)
            .expect("text encoding cannot fail");
        String::from_utf8(buf).expect("exposition is UTF-8")
    }
}

/// The metric families, created fresh for each scrape.
struct Families {
    success: GaugeVec,
    duration: GaugeVec,
    phase_duration: GaugeVec,
    finding: GaugeVec,
    findings_total: IntCounterVec,
    runs_total: IntCounterVec,
    last_run: GaugeVec,
    last_success: GaugeVec,
    reply_code: GaugeVec,
    tls_expiry: GaugeVec,
    identity_info: GaugeVec,
    credentials_expiry: GaugeVec,
    clock_skew: GaugeVec,
    max_24h: GaugeVec,
    sent_24h: GaugeVec,
    max_rate: GaugeVec,
    production: GaugeVec,
    sending: GaugeVec,
    enforcement: GaugeVec,
    budget: GaugeVec,
    build_info: GaugeVec,
    reload_ok: GaugeVec,
    reload_ts: GaugeVec,
}

fn gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let g = GaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(g.clone())).expect("unique metric");
    g
}

fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(c.clone())).expect("unique metric");
    c
}

const TC: &[&str] = &["target", "check"];
const T: &[&str] = &["target"];

impl Families {
    fn register(r: &Registry) -> Self {
        Families {
            success: gauge(
                r,
                "ses_probe_success",
                "1 if the last run of the check succeeded, 0 if it failed.",
                TC,
            ),
            duration: gauge(
                r,
                "ses_probe_duration_seconds",
                "Duration of the last run of the check.",
                TC,
            ),
            phase_duration: gauge(
                r,
                "ses_probe_phase_duration_seconds",
                "Duration of each phase of the last run.",
                &["target", "check", "phase"],
            ),
            finding: gauge(
                r,
                "ses_probe_finding",
                "1 while the finding is present in the last run, 0 once it cleared.",
                &["target", "check", "class", "severity"],
            ),
            findings_total: counter(
                r,
                "ses_probe_findings_total",
                "Runs that reported the finding.",
                &["target", "check", "class"],
            ),
            runs_total: counter(r, "ses_probe_runs_total", "Runs of the check.", TC),
            last_run: gauge(
                r,
                "ses_probe_last_run_timestamp_seconds",
                "When the check last finished.",
                TC,
            ),
            last_success: gauge(
                r,
                "ses_probe_last_success_timestamp_seconds",
                "When the check last succeeded.",
                TC,
            ),
            reply_code: gauge(
                r,
                "ses_probe_smtp_reply_code",
                "Last SMTP reply code seen in the phase.",
                &["target", "phase"],
            ),
            tls_expiry: gauge(
                r,
                "ses_probe_tls_certificate_expiry_timestamp_seconds",
                "Not-after time of the SMTP endpoint certificate.",
                T,
            ),
            identity_info: gauge(
                r,
                "ses_probe_identity_info",
                "Caller identity of the API credentials.",
                &["target", "account", "principal_type", "arn"],
            ),
            credentials_expiry: gauge(
                r,
                "ses_probe_credentials_expiry_timestamp_seconds",
                "Expiry of temporary API credentials.",
                T,
            ),
            clock_skew: gauge(
                r,
                "ses_probe_clock_skew_seconds",
                "AWS clock minus local clock; positive: the local clock is behind.",
                T,
            ),
            max_24h: gauge(
                r,
                "ses_probe_account_max_24h_send",
                "24-hour sending quota; -1 is unlimited.",
                T,
            ),
            sent_24h: gauge(
                r,
                "ses_probe_account_sent_last_24h",
                "Messages sent in the last 24 hours.",
                T,
            ),
            max_rate: gauge(
                r,
                "ses_probe_account_max_send_rate",
                "Maximum send rate, messages per second.",
                T,
            ),
            production: gauge(
                r,
                "ses_probe_account_production_access",
                "1 with production access, 0 in the sandbox.",
                T,
            ),
            sending: gauge(
                r,
                "ses_probe_account_sending_enabled",
                "1 if account sending is enabled.",
                T,
            ),
            enforcement: gauge(
                r,
                "ses_probe_account_enforcement_status",
                "One-hot SES enforcement status.",
                &["target", "status"],
            ),
            budget: gauge(
                r,
                "ses_probe_send_budget_remaining",
                "Probe sends left in the rolling 24-hour budget.",
                T,
            ),
            build_info: gauge(
                r,
                "ses_probe_build_info",
                "The running build.",
                &["version", "revision"],
            ),
            reload_ok: gauge(
                r,
                "ses_probe_config_last_reload_successful",
                "1 if the last configuration load succeeded.",
                &[],
            ),
            reload_ts: gauge(
                r,
                "ses_probe_config_last_reload_success_timestamp_seconds",
                "When the configuration was last loaded successfully.",
                &[],
            ),
        }
    }

    fn fill(&self, target: &str, check: CheckKind, cs: &CheckState) {
        let c = check.as_str();
        if let Some(left) = cs.budget_remaining {
            self.budget
                .with_label_values(&[target])
                .set(f64::from(left));
        }
        let tc = [target, c];
        if let Some(t) = cs.last_attempt {
            self.last_run.with_label_values(&tc).set(secs(t));
        }
        let Some(o) = &cs.latest else { return };
        self.success
            .with_label_values(&tc)
            .set(if o.success { 1.0 } else { 0.0 });
        self.duration
            .with_label_values(&tc)
            .set(o.duration.as_secs_f64());
        self.runs_total.with_label_values(&tc).inc_by(cs.runs);
        if let Some(t) = cs.last_success {
            self.last_success.with_label_values(&tc).set(secs(t));
        }
        for p in &o.phases {
            self.phase_duration
                .with_label_values(&[target, c, p.name])
                .set(p.seconds);
            if let (CheckKind::Smtp, Some(code)) = (check, p.code) {
                self.reply_code
                    .with_label_values(&[target, p.name])
                    .set(f64::from(code));
            }
        }
        for (class, n) in &cs.findings_total {
            self.findings_total
                .with_label_values(&[target, c, class.as_str()])
                .inc_by(*n);
        }
        for (class, severity) in &cs.seen {
            let present = o
                .findings
                .iter()
                .any(|f| f.class == *class && f.severity == *severity);
            self.finding
                .with_label_values(&[target, c, class.as_str(), severity.as_str()])
                .set(if present { 1.0 } else { 0.0 });
        }
        let facts = &o.facts;
        if let Some(t) = facts.tls.as_ref().and_then(|t| t.certificate_not_after) {
            self.tls_expiry.with_label_values(&[target]).set(t as f64);
        }
        if let Some(id) = &facts.identity {
            self.identity_info
                .with_label_values(&[target, &id.account, id.principal_type.as_str(), &id.arn])
                .set(1.0);
        }
        if let Some(t) = facts.credentials_expiry {
            self.credentials_expiry
                .with_label_values(&[target])
                .set(t as f64);
        }
        if let Some(a) = &facts.account {
            let t = [target];
            self.max_24h.with_label_values(&t).set(a.max_24_hour_send);
            self.sent_24h
                .with_label_values(&t)
                .set(a.sent_last_24_hours);
            self.max_rate.with_label_values(&t).set(a.max_send_rate);
            self.production
                .with_label_values(&t)
                .set(if a.production_access_enabled {
                    1.0
                } else {
                    0.0
                });
            self.sending
                .with_label_values(&t)
                .set(if a.sending_enabled { 1.0 } else { 0.0 });
            if let Some(status) = &a.enforcement_status {
                for s in ENFORCEMENT {
                    self.enforcement.with_label_values(&[target, s]).set(
                        if status.eq_ignore_ascii_case(s) {
                            1.0
                        } else {
                            0.0
                        },
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{AccountFacts, Finding, Phase};
    use std::time::Duration;

    fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(prefix))
    }

    #[test]
    fn finding_goes_to_zero_when_it_clears() {
        let m = Metrics::new();
        let failed = Outcome::failed(
            CheckKind::Smtp,
            Finding::new(Class::AuthCredentialsInvalid, "535"),
        );
        m.record("relay", &failed);
        let text = m.render();
        let series = r#"ses_probe_finding{check="smtp",class="auth_credentials_invalid",severity="critical",target="relay"}"#;
        assert_eq!(line(&text, series), Some(format!("{series} 1").as_str()));
        assert!(text.contains(r#"ses_probe_success{check="smtp",target="relay"} 0"#));
        m.record("relay", &Outcome::new(CheckKind::Smtp));
        let text = m.render();
        assert!(text.contains(&format!("{series} 0")), "{text}");
        assert!(text.contains(r#"ses_probe_success{check="smtp",target="relay"} 1"#));
        assert!(text.contains(r#"ses_probe_runs_total{check="smtp",target="relay"} 2"#));
        assert!(text.contains(r#"ses_probe_findings_total{check="smtp",class="auth_credentials_invalid",target="relay"} 1"#));
    }

    #[test]
    fn phases_of_the_last_run_only() {
        let m = Metrics::new();
        let mut o = Outcome::new(CheckKind::Smtp);
        o.phases.push(
            Phase::new("auth", Duration::from_millis(20), true).with_reply(Some(235), Some("ok")),
        );
        m.record("relay", &o);
        assert!(m
            .render()
            .contains(r#"ses_probe_smtp_reply_code{phase="auth",target="relay"} 235"#));
        let mut o = Outcome::new(CheckKind::Smtp);
        o.phases
            .push(Phase::new("connect", Duration::from_millis(5), false));
        m.record("relay", &o);
        let text = m.render();
        assert!(!text.contains(r#"phase="auth""#), "{text}");
        assert!(text.contains(
            r#"ses_probe_phase_duration_seconds{check="smtp",phase="connect",target="relay"} 0.005"#
        ));
    }

    #[test]
    fn account_and_removal() {
        let m = Metrics::new();
        let mut o = Outcome::new(CheckKind::Account);
        o.facts.account = Some(AccountFacts {
            max_24_hour_send: 200.0,
            max_send_rate: 1.0,
            sent_last_24_hours: 180.0,
            production_access_enabled: false,
            sending_enabled: true,
            enforcement_status: Some("PROBATION".into()),
        });
        m.record("a", &o);
        m.record("b", &o);
        let text = m.render();
        assert!(text
            .contains(r#"ses_probe_account_enforcement_status{status="PROBATION",target="a"} 1"#));
        assert!(
            text.contains(r#"ses_probe_account_enforcement_status{status="HEALTHY",target="a"} 0"#)
        );
        assert!(text.contains(r#"ses_probe_account_production_access{target="a"} 0"#));
        m.retain_targets(&["b".to_owned()].into_iter().collect());
        let text = m.render();
        assert!(!text.contains(r#"target="a""#));
        assert!(text.contains(r#"target="b""#));
        assert!(text.contains("ses_probe_build_info{"));
        assert!(text.contains("ses_probe_config_last_reload_successful 1"));
    }

    #[test]
    fn skipped_runs_only_update_the_budget() {
        let m = Metrics::new();
        let mut o = Outcome::new(CheckKind::Send);
        o.facts.skipped = true;
        o.facts.send_budget_remaining = Some(0);
        m.record("a", &o);
        let text = m.render();
        assert!(text.contains(r#"ses_probe_send_budget_remaining{target="a"} 0"#));
        assert!(text.contains(r#"ses_probe_last_run_timestamp_seconds{check="send",target="a"}"#));
        assert!(!text.contains("ses_probe_runs_total{"));
        assert!(!text.contains("ses_probe_success{"));
    }
}
