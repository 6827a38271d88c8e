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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use bytes::Bytes;

use crate::config::Plan;
use crate::diagnosis::{Class, Severity};
use crate::outcome::{unix_seconds as secs, CheckKind, Outcome, Status};
use crate::postfix::log::Status as DeliveryStatus;

/// Enforcement statuses shown one-hot, as SES documents them.
const ENFORCEMENT: [&str; 3] = ["HEALTHY", "PROBATION", "SHUTDOWN"];
/// Identity verification and DKIM statuses shown one-hot, as SES documents
/// them; `NOT_FOUND` (verification only) is an identity absent from the
/// region.
const VERIFICATION: [&str; 6] = [
    "SUCCESS",
    "PENDING",
    "FAILED",
    "TEMPORARY_FAILURE",
    "NOT_STARTED",
    "NOT_FOUND",
];
const DKIM: [&str; 5] = [
    "SUCCESS",
    "PENDING",
    "FAILED",
    "TEMPORARY_FAILURE",
    "NOT_STARTED",
];
/// Custom MAIL FROM domain statuses (shown only when one is set).
const MAIL_FROM: [&str; 4] = ["SUCCESS", "PENDING", "FAILED", "TEMPORARY_FAILURE"];

/// One row of the landing page.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckSummary {
    pub check: CheckKind,
    pub status: Status,
    /// The primary finding's class; `None` when there is none (or no run yet).
    pub class: Option<Class>,
}

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
    /// Boxed: a map node holds room for eleven values, and a target has
    /// one to six checks.
    targets: BTreeMap<String, BTreeMap<CheckKind, Box<CheckState>>>,
    /// What the plan says of each target.
    configured: HashMap<String, Configured>,
    reload_successful: bool,
    reload_success_at: SystemTime,
    /// Real deliveries per target, from Postfix's log.
    postfix: BTreeMap<String, PostfixState>,
    /// Whether Postfix's log is being read; `None` when not configured.
    postfix_reading: Option<bool>,
    /// Each target's series, rendered when something about the target
    /// changes: a scrape copies these instead of formatting every series.
    fragments: BTreeMap<String, Arc<Fragment>>,
}

impl State {
    fn record(&mut self, target: &str, outcome: &Outcome) {
        let cs = self
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

    fn configure(&mut self, plan: &Plan) {
        // Only targets whose configuration changed are rendered again: a
        // reload of thousands of unchanged targets stays cheap.
        let mut configured = HashMap::with_capacity(plan.targets.len());
        let mut changed = Vec::new();
        for t in &plan.targets {
            let c = Configured {
                region: t.region.clone().unwrap_or_default(),
                intervals: t
                    .checks()
                    .iter()
                    .map(|c| (c.kind(), c.interval().as_secs_f64()))
                    .collect(),
            };
            if self.configured.get(&t.name) != Some(&c) {
                changed.push(t.name.as_str());
            }
            configured.insert(t.name.clone(), c);
        }
        self.configured = configured;
        let State {
            targets,
            configured,
            postfix,
            fragments,
            ..
        } = self;
        targets.retain(|name, _| configured.contains_key(name));
        postfix.retain(|name, _| configured.contains_key(name));
        fragments.retain(|name, _| configured.contains_key(name));
        for (name, checks) in targets.iter_mut() {
            if let Some(c) = configured.get(name) {
                checks.retain(|kind, _| c.intervals.iter().any(|(k, _)| k == kind));
            }
        }
        for name in changed {
            self.refresh(name);
        }
    }

    /// Render `target`'s series again, after a change to anything about it.
    fn refresh(&mut self, target: &str) {
        let mut e = Exposition::new();
        fill_target(&mut e, self, target);
        let fragment = Fragment::from(e);
        if fragment.spans.is_empty() {
            self.fragments.remove(target);
        } else {
            self.fragments.insert(target.to_owned(), Arc::new(fragment));
        }
    }
}

/// What the plan says of one target that its series show.
#[derive(Debug, PartialEq)]
struct Configured {
    /// Its region (empty when none was found).
    region: String,
    /// Each check's interval, seconds.
    intervals: Vec<(CheckKind, f64)>,
}

/// What Postfix's log said about one target's relay.
#[derive(Debug, Default)]
struct PostfixState {
    counts: BTreeMap<(DeliveryStatus, Class), u64>,
    last: BTreeMap<DeliveryStatus, SystemTime>,
    last_failure: Option<(Class, SystemTime)>,
}

/// The Postfix side of the landing page, per target.
#[derive(Clone, Debug, PartialEq)]
pub struct PostfixSummary {
    pub target: String,
    pub sent: u64,
    pub deferred: u64,
    pub bounced: u64,
    pub last_failure: Option<(Class, SystemTime)>,
}

/// The exporter's metric state. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    state: Mutex<State>,
    /// Holds only the process collector.
    process: prometheus::Registry,
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
                configured: HashMap::new(),
                reload_successful: true,
                reload_success_at: SystemTime::now(),
                postfix: BTreeMap::new(),
                postfix_reading: None,
                fragments: BTreeMap::new(),
            }),
            process: {
                let r = prometheus::Registry::new();
                register_process_collector(&r);
                r
            },
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
        state.record(target, outcome);
        state.refresh(target);
    }

    /// Follow a (re)loaded plan: remember each target's region, forget
    /// targets and checks the plan no longer has; counters of what remains
    /// are kept.
    pub fn configure(&self, plan: &Plan) {
        self.lock().configure(plan);
    }

    /// Record one real delivery attempt of `target`'s relay.
    pub fn record_delivery(
        &self,
        target: &str,
        status: DeliveryStatus,
        class: Class,
        at: SystemTime,
    ) {
        let mut state = self.lock();
        let p = state.postfix.entry(target.to_owned()).or_default();
        *p.counts.entry((status, class)).or_default() += 1;
        let last = p.last.entry(status).or_insert(at);
        *last = (*last).max(at);
        if status != DeliveryStatus::Sent && p.last_failure.is_none_or(|(_, t)| t <= at) {
            p.last_failure = Some((class, at));
        }
        state.refresh(target);
    }

    /// Whether Postfix's log is being read (`None`: not configured).
    pub fn set_postfix_reading(&self, reading: Option<bool>) {
        self.lock().postfix_reading = reading;
    }

    /// Real deliveries per target, for the landing page.
    pub fn postfix_summary(&self) -> Vec<PostfixSummary> {
        let state = self.lock();
        state
            .postfix
            .iter()
            .map(|(target, p)| {
                let count = |s: DeliveryStatus| -> u64 {
                    p.counts
                        .iter()
                        .filter(|((st, _), _)| *st == s)
                        .map(|(_, n)| n)
                        .sum()
                };
                PostfixSummary {
                    target: target.clone(),
                    sent: count(DeliveryStatus::Sent),
                    deferred: count(DeliveryStatus::Deferred),
                    bounced: count(DeliveryStatus::Bounced),
                    last_failure: p.last_failure,
                }
            })
            .collect()
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
                        Some(o) => CheckSummary {
                            check: *check,
                            status: o.status(),
                            class: o.primary_finding().map(|f| f.class),
                        },
                        None => CheckSummary {
                            check: *check,
                            status: Status::Unknown,
                            class: None,
                        },
                    })
                    .collect();
                (name.clone(), rows)
            })
            .collect()
    }

    /// The Prometheus text exposition of the current state, whole.
    pub fn render(&self) -> String {
        let mut scrape = self.scrape();
        let mut out = String::with_capacity(scrape.remaining());
        while let Some(chunk) = scrape.next_chunk() {
            out.push_str(std::str::from_utf8(&chunk).expect("the exposition is UTF-8"));
        }
        out
    }

    /// The exposition as a [`Scrape`]: the few process-wide series written
    /// now, each target's taken from its fragment as the body is sent.
    /// Only the fragments' handles are taken under the lock, so a finishing
    /// check never waits for a scrape, and the body never exists whole: at
    /// thousands of targets it is megabytes, which a slow client would
    /// otherwise pin and the allocator keep after it.
    pub fn scrape(&self) -> Scrape {
        let (global, fragments) = {
            let state = self.lock();
            let mut e = Exposition::new();
            fill_global(&mut e, &state);
            let fragments: Vec<Arc<Fragment>> = state.fragments.values().cloned().collect();
            (Fragment::from(e), fragments)
        };
        // `process_*` sorts before `ses_probe_*`, as one encoder would
        // order them.
        Scrape::new(self.process_text(), global, fragments)
    }

    /// The `process_*` series, read afresh: they change without the state
    /// changing, so they are never cached.
    fn process_text(&self) -> String {
        use prometheus::Encoder as _;
        let mut buf = Vec::new();
        let _ = prometheus::TextEncoder::new().encode(&self.process.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// The standard `process_*` series (CPU, memory, file descriptors,
/// threads, start time) of the exporter itself, read from /proc at each
/// scrape by the `prometheus` crate's collector. Linux only.
fn register_process_collector(registry: &prometheus::Registry) {
    #[cfg(target_os = "linux")]
    registry
        .register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))
        .expect("process metrics are registered once");
    #[cfg(not(target_os = "linux"))]
    let _ = registry;
}

/// The series of [`register_process_collector`], for the docs (a test
/// holds the list to what the collector serves).
const PROCESS_METRICS: &[(&str, &str, &str)] = &[
    (
        "process_cpu_seconds_total",
        "counter",
        "user and system CPU time the exporter has used, in seconds",
    ),
    (
        "process_max_fds",
        "gauge",
        "the most file descriptors the exporter may open (its `RLIMIT_NOFILE`)",
    ),
    (
        "process_open_fds",
        "gauge",
        "file descriptors the exporter has open",
    ),
    (
        "process_resident_memory_bytes",
        "gauge",
        "the exporter's resident memory",
    ),
    (
        "process_start_time_seconds",
        "gauge",
        "when the exporter started",
    ),
    ("process_threads", "gauge", "OS threads of the exporter"),
    (
        "process_virtual_memory_bytes",
        "gauge",
        "the exporter's virtual memory",
    ),
];

/// A metric's type in the exposition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Gauge,
    Counter,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

/// One metric: the single definition that registration, the scrape and
/// `docs/metrics.md` all read.
struct Def {
    name: &'static str,
    kind: Kind,
    labels: &'static [&'static str],
    /// The HELP text and the docs' "meaning".
    help: &'static str,
}

const TC: &[&str] = &["target", "check"];
const T: &[&str] = &["target"];

macro_rules! metrics {
    ($($id:ident: $name:literal, $kind:ident, $labels:expr, $help:literal;)*) => {
        /// Index of a metric in [`METRICS`].
        #[derive(Clone, Copy, Debug)]
        #[allow(clippy::enum_variant_names)]
        enum M { $($id),* }
        /// Every metric ses-probe serves, in exposition-docs order.
        const METRICS: &[Def] = &[$(Def { name: $name, kind: Kind::$kind, labels: $labels, help: $help }),*];
    };
}

metrics! {
    Success: "ses_probe_success", Gauge, TC,
        "1 if the last run of the check ran and found nothing critical (status ok or warning), 0 otherwise (critical or unknown).";
    Status: "ses_probe_status", Gauge, TC,
        "Status of the last run of the check: 0 ok, 1 warning, 2 critical, 3 unknown (the Nagios codes of `--once`); the one number dashboards and alerts key on.";
    CheckInterval: "ses_probe_check_interval_seconds", Gauge, TC,
        "How often the check is configured to run, so alerts can count runs rather than wall time.";
    Duration: "ses_probe_duration_seconds", Gauge, TC,
        "Wall-clock duration of the last run of the check.";
    PhaseDuration: "ses_probe_phase_duration_seconds", Gauge, &["target", "check", "phase"],
        "Duration of each phase of the last run (phases that did not run this time are absent).";
    Finding: "ses_probe_finding", Gauge, &["target", "check", "class", "severity"],
        "1 while the finding is present in the last run, 0 once a later run no longer reports it.";
    FindingsTotal: "ses_probe_findings_total", Counter, &["target", "check", "class"],
        "Runs that reported the finding, since the exporter started.";
    RunsTotal: "ses_probe_runs_total", Counter, TC,
        "Runs of the check since the exporter started.";
    LastRun: "ses_probe_last_run_timestamp_seconds", Gauge, TC,
        "When the check last ran, successful or not (a send skipped because the budget is spent counts: the scheduler ran it).";
    LastSuccess: "ses_probe_last_success_timestamp_seconds", Gauge, TC,
        "When the check last succeeded.";
    ReplyCode: "ses_probe_smtp_reply_code", Gauge, &["target", "phase"],
        "The last SMTP reply code seen in that phase (e.g. 235 or 535 for `auth`).";
    TlsExpiry: "ses_probe_tls_certificate_expiry_timestamp_seconds", Gauge, T,
        "Not-after time of the SMTP endpoint's certificate.";
    IdentityInfo: "ses_probe_identity_info", Gauge, &["target", "account", "principal_type", "arn"],
        "Always 1; the caller identity from `sts:GetCallerIdentity` in the labels.";
    CredentialsExpiry: "ses_probe_credentials_expiry_timestamp_seconds", Gauge, T,
        "Expiry of temporary (session) credentials; absent for long-term keys.";
    ClockSkew: "ses_probe_clock_skew_seconds", Gauge, T,
        "AWS's clock minus the local clock; positive means the local clock is behind.";
    Max24h: "ses_probe_account_max_24h_send", Gauge, T,
        "24-hour sending quota (`Max24HourSend`); -1 means unlimited.";
    Sent24h: "ses_probe_account_sent_last_24h", Gauge, T,
        "Messages sent in the last 24 hours (`SentLast24Hours`).";
    MaxRate: "ses_probe_account_max_send_rate", Gauge, T,
        "Maximum messages per second (`MaxSendRate`).";
    Production: "ses_probe_account_production_access", Gauge, T,
        "1 with production access, 0 in the sandbox.";
    Sending: "ses_probe_account_sending_enabled", Gauge, T,
        "1 if sending is enabled for the account, 0 if not.";
    Enforcement: "ses_probe_account_enforcement_status", Gauge, &["target", "status"],
        "One-hot: 1 for the account's current enforcement status, 0 for the others.";
    Budget: "ses_probe_send_budget_remaining", Gauge, T,
        "Probe messages the send check may still send today.";
    PermissionAllowed: "ses_probe_permission_allowed", Gauge, &["target", "action"],
        "1 if IAM's policy simulator allows the action to the target's principal (on the sender's identities for the sending actions), 0 if it denies it; from the last run of the permissions check.";
    IdentityStatus: "ses_probe_identity_status", Gauge, &["target", "identity", "kind", "status"],
        "One-hot: 1 for the sender identity's current status of that kind (verification, dkim, mail_from), 0 for the others; from the last run of the sender check.";
    TargetInfo: "ses_probe_target_info", Gauge, &["target", "region"],
        "Always 1 for each configured target; its AWS region in the label (empty when none was found).";
    PostfixDeliveries: "ses_probe_postfix_deliveries_total", Counter, &["target", "status", "class"],
        "Real delivery attempts Postfix logged to the target's relay, by outcome and class (`ok` for sent), since the exporter started.";
    PostfixLastDelivery: "ses_probe_postfix_last_delivery_timestamp_seconds", Gauge, &["target", "status"],
        "When Postfix last logged a delivery attempt to the target's relay with that outcome.";
    PostfixLogReading: "ses_probe_postfix_log_reading", Gauge, &[],
        "1 while Postfix's log is being read, 0 when it cannot be (missing file, no journal access); absent without [postfix_log].";
    BuildInfo: "ses_probe_build_info", Gauge, &["version", "revision", "rustc"],
        "Always 1; the running build in the labels.";
    ReloadOk: "ses_probe_config_last_reload_successful", Gauge, &[],
        "1 if the last configuration (re)load succeeded, 0 if it failed.";
    ReloadTs: "ses_probe_config_last_reload_success_timestamp_seconds", Gauge, &[],
        "When the configuration was last loaded successfully.";
}

/// Where `fill` writes series: the exposition writer, or (in tests) the
/// `prometheus` crate's registry the writer is checked against.
trait Sink<'a> {
    /// Set a gauge.
    fn set(&mut self, m: M, labels: &[&'a str], value: f64);
    /// Add to a counter.
    fn add(&mut self, m: M, labels: &[&'a str], n: u64);
}

/// The text exposition, written directly from state: no registry is built
/// and torn down per scrape. Series are kept per metric, keyed by their
/// label values in label-name order, so the output is ordered as the
/// Prometheus text format's reference encoder orders it (families by name,
/// series by label values).
struct Exposition<'a> {
    /// Per metric: label values in label-name order (borrowed from the
    /// state, so no label is copied), the value, and whether it adds.
    series: Vec<Vec<(Vec<&'a str>, f64)>>,
}

impl<'a> Exposition<'a> {
    fn new() -> Self {
        Exposition {
            series: METRICS.iter().map(|_| Vec::new()).collect(),
        }
    }

    /// Label values reordered by label name.
    fn key(m: M, labels: &[&'a str]) -> Vec<&'a str> {
        label_order(m as usize).iter().map(|&j| labels[j]).collect()
    }

    /// Each metric's series as text lines (no headers), sorted and merged,
    /// appended to `text`; `spans` gets where each metric's lines are.
    fn write(mut self, text: &mut String, spans: &mut Vec<Span>) {
        use std::fmt::Write as _;
        for &i in family_order() {
            let def = &METRICS[i];
            let series = &mut self.series[i];
            if series.is_empty() {
                continue;
            }
            // By label values; a series written twice keeps its last value
            // (a gauge) or their sum (a counter).
            series.sort_by(|a, b| a.0.cmp(&b.0));
            let mut merged: Vec<(Vec<&str>, f64)> = Vec::with_capacity(series.len());
            for (key, value) in series.drain(..) {
                match merged.last_mut() {
                    Some((k, v)) if *k == key => match def.kind {
                        Kind::Gauge => *v = value,
                        Kind::Counter => *v += value,
                    },
                    _ => merged.push((key, value)),
                }
            }
            let names = label_order(i);
            let start = text.len();
            for (values, value) in merged {
                text.push_str(def.name);
                for (n, (&name, v)) in names.iter().zip(values).enumerate() {
                    text.push_str(if n == 0 { "{" } else { "," });
                    text.push_str(def.labels[name]);
                    text.push_str("=\"");
                    text.push_str(&escape(v, true));
                    text.push('"');
                }
                if !names.is_empty() {
                    text.push('}');
                }
                let _ = writeln!(text, " {value}");
            }
            spans.push(Span {
                family: i as u16,
                start: start as u32,
                end: text.len() as u32,
            });
        }
    }
}

/// Per metric, the positions of its labels in label-name order (the
/// order series are keyed and written in).
fn label_order(i: usize) -> &'static [usize] {
    static ORDER: OnceLock<Vec<Vec<usize>>> = OnceLock::new();
    &ORDER.get_or_init(|| {
        METRICS
            .iter()
            .map(|d| {
                let mut positions: Vec<usize> = (0..d.labels.len()).collect();
                positions.sort_by_key(|&j| d.labels[j]);
                positions
            })
            .collect()
    })[i]
}

/// The metrics in name order: the order families are written in.
fn family_order() -> &'static [usize] {
    static ORDER: OnceLock<Vec<usize>> = OnceLock::new();
    ORDER.get_or_init(|| {
        let mut order: Vec<usize> = (0..METRICS.len()).collect();
        order.sort_by_key(|i| METRICS[*i].name);
        order
    })
}

fn write_header(out: &mut String, def: &Def) {
    out.push_str("# HELP ");
    out.push_str(def.name);
    out.push(' ');
    out.push_str(&escape(def.help, false));
    out.push_str("\n# TYPE ");
    out.push_str(def.name);
    out.push(' ');
    out.push_str(def.kind.as_str());
    out.push('\n');
}

/// Rendered series of one target (or of the process-wide metrics): one
/// text, and where each metric's lines are in it, in [`family_order`].
/// One allocation for the text and one for the spans keep thousands of
/// them small.
#[derive(Debug, Default)]
struct Fragment {
    text: Box<str>,
    spans: Box<[Span]>,
}

/// Compact: thousands of targets hold a score of these each.
#[derive(Debug)]
struct Span {
    family: u16,
    start: u32,
    end: u32,
}

/// One scrape's body, produced in chunks: families in name order, each
/// with its header, then the process-wide series and every target's lines
/// for it.
pub struct Scrape {
    process: Bytes,
    /// The process-wide series first, then one per target.
    fragments: Vec<Arc<Fragment>>,
    /// Per metric, where its lines are: which fragment, which bytes. Made
    /// in one pass over the fragments, so producing the body walks these
    /// tables instead of visiting every fragment for every family.
    pieces: Vec<Vec<Piece>>,
    /// Position in [`family_order`] and in that family's pieces.
    family: usize,
    piece: usize,
    /// Whether the current family's header is written.
    headed: bool,
    len: usize,
}

/// A family's lines in one fragment.
struct Piece {
    fragment: u32,
    start: u32,
    end: u32,
}

/// Size of the chunks a scrape's body is sent in.
const CHUNK: usize = 64 * 1024;

impl Scrape {
    fn new(process: String, global: Fragment, targets: Vec<Arc<Fragment>>) -> Scrape {
        let mut fragments = Vec::with_capacity(targets.len() + 1);
        fragments.push(Arc::new(global));
        fragments.extend(targets);
        let mut pieces: Vec<Vec<Piece>> = METRICS.iter().map(|_| Vec::new()).collect();
        let mut len = process.len();
        for (n, f) in fragments.iter().enumerate() {
            len += f.text.len();
            for span in &f.spans {
                pieces[usize::from(span.family)].push(Piece {
                    fragment: n as u32,
                    start: span.start,
                    end: span.end,
                });
            }
        }
        len += (0..METRICS.len())
            .filter(|&i| !pieces[i].is_empty())
            .map(|i| header_len(&METRICS[i]))
            .sum::<usize>();
        Scrape {
            process: Bytes::from(process),
            fragments,
            pieces,
            family: 0,
            piece: 0,
            headed: false,
            len,
        }
    }

    /// Bytes of the body not yet produced (all of it, before the first
    /// chunk): the response's `Content-Length`.
    pub fn remaining(&self) -> usize {
        self.len
    }

    /// The next piece of the body (at most about [`CHUNK`] bytes), `None`
    /// at the end.
    pub fn next_chunk(&mut self) -> Option<Bytes> {
        if !self.process.is_empty() {
            self.len -= self.process.len();
            return Some(std::mem::take(&mut self.process));
        }
        let order = family_order();
        let mut out = String::with_capacity(CHUNK + 4096);
        while self.family < order.len() && out.len() < CHUNK {
            let i = order[self.family];
            let Some(p) = self.pieces[i].get(self.piece) else {
                self.family += 1;
                self.piece = 0;
                self.headed = false;
                continue;
            };
            if !self.headed {
                write_header(&mut out, &METRICS[i]);
                self.headed = true;
            }
            let text = &self.fragments[p.fragment as usize].text;
            out.push_str(&text[p.start as usize..p.end as usize]);
            self.piece += 1;
        }
        self.len = self.len.saturating_sub(out.len());
        (!out.is_empty()).then(|| Bytes::from(out))
    }
}

fn header_len(def: &Def) -> usize {
    let mut s = String::new();
    write_header(&mut s, def);
    s.len()
}

impl From<Exposition<'_>> for Fragment {
    fn from(e: Exposition<'_>) -> Self {
        let mut text = String::new();
        let mut spans = Vec::new();
        e.write(&mut text, &mut spans);
        Fragment {
            text: text.into_boxed_str(),
            spans: spans.into_boxed_slice(),
        }
    }
}

impl<'a> Sink<'a> for Exposition<'a> {
    fn set(&mut self, m: M, labels: &[&'a str], value: f64) {
        let key = Exposition::key(m, labels);
        self.series[m as usize].push((key, value));
    }

    fn add(&mut self, m: M, labels: &[&'a str], n: u64) {
        let key = Exposition::key(m, labels);
        self.series[m as usize].push((key, n as f64));
    }
}

/// The text format's escaping: `\`, newline, and (in label values) `"`.
fn escape(s: &str, quote: bool) -> std::borrow::Cow<'_, str> {
    let special = s.contains(['\\', '\n']) || (quote && s.contains('"'));
    if !special {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The series that belong to no target.
fn fill_global<'a>(m: &mut impl Sink<'a>, state: &'a State) {
    m.set(
        M::BuildInfo,
        &[
            env!("CARGO_PKG_VERSION"),
            crate::REVISION,
            crate::RUSTC_VERSION,
        ],
        1.0,
    );
    m.set(
        M::ReloadOk,
        &[],
        if state.reload_successful { 1.0 } else { 0.0 },
    );
    m.set(M::ReloadTs, &[], secs(state.reload_success_at));
    if let Some(reading) = state.postfix_reading {
        m.set(M::PostfixLogReading, &[], if reading { 1.0 } else { 0.0 });
    }
}

/// Every series of one target.
fn fill_target<'a>(m: &mut impl Sink<'a>, state: &'a State, target: &str) {
    if let Some((target, c)) = state.configured.get_key_value(target) {
        m.set(M::TargetInfo, &[target, &c.region], 1.0);
        for (check, seconds) in &c.intervals {
            m.set(M::CheckInterval, &[target, check.as_str()], *seconds);
        }
    }
    if let Some((target, p)) = state.postfix.get_key_value(target) {
        for ((status, class), n) in &p.counts {
            m.add(
                M::PostfixDeliveries,
                &[target, status.as_str(), class.as_str()],
                *n,
            );
        }
        for (status, at) in &p.last {
            m.set(
                M::PostfixLastDelivery,
                &[target, status.as_str()],
                secs(*at),
            );
        }
    }
    if let Some((target, checks)) = state.targets.get_key_value(target) {
        for (check, cs) in checks {
            fill_check(m, target, *check, cs);
        }
        // Every AWS check measures the skew; show the freshest.
        let skew = checks
            .values()
            .filter_map(|cs| cs.latest.as_ref())
            .filter_map(|o| o.facts.clock_skew_seconds.map(|s| (o.finished, s)))
            .max_by_key(|(t, _)| *t);
        if let Some((_, skew)) = skew {
            m.set(M::ClockSkew, &[target], skew);
        }
    }
}

/// Every series of the current state, for the reference encoder.
#[cfg(test)]
fn fill_state<'a>(m: &mut impl Sink<'a>, state: &'a State) {
    fill_global(m, state);
    let names: BTreeSet<&String> = state
        .configured
        .keys()
        .chain(state.targets.keys())
        .chain(state.postfix.keys())
        .collect();
    for name in names {
        fill_target(m, state, name);
    }
}

fn fill_check<'a>(sink: &mut impl Sink<'a>, target: &'a str, check: CheckKind, cs: &'a CheckState) {
    let c = check.as_str();
    if let Some(left) = cs.budget_remaining {
        sink.set(M::Budget, &[target], f64::from(left));
    }
    let tc = [target, c];
    if let Some(t) = cs.last_attempt {
        sink.set(M::LastRun, &tc, secs(t));
    }
    let Some(o) = &cs.latest else { return };
    sink.set(
        M::Success,
        &tc,
        f64::from(u8::from(o.status() <= Status::Warning)),
    );
    sink.set(M::Status, &tc, f64::from(o.status().exit_code()));
    sink.set(M::Duration, &tc, o.duration.as_secs_f64());
    sink.add(M::RunsTotal, &tc, cs.runs);
    if let Some(t) = cs.last_success {
        sink.set(M::LastSuccess, &tc, secs(t));
    }
    for p in &o.phases {
        sink.set(M::PhaseDuration, &[target, c, p.name], p.seconds);
        if let (CheckKind::Smtp, Some(code)) = (check, p.code) {
            sink.set(M::ReplyCode, &[target, p.name], f64::from(code));
        }
    }
    for (class, n) in &cs.findings_total {
        sink.add(M::FindingsTotal, &[target, c, class.as_str()], *n);
    }
    for (class, severity) in &cs.seen {
        let present = o
            .findings
            .iter()
            .any(|f| f.class == *class && f.severity == *severity);
        sink.set(
            M::Finding,
            &[target, c, class.as_str(), severity.as_str()],
            if present { 1.0 } else { 0.0 },
        );
    }
    let facts = &o.facts;
    if let Some(t) = facts.tls.as_ref().and_then(|t| t.certificate_not_after) {
        sink.set(M::TlsExpiry, &[target], t as f64);
    }
    if let Some(id) = &facts.identity {
        sink.set(
            M::IdentityInfo,
            &[target, &id.account, id.principal_type.as_str(), &id.arn],
            1.0,
        );
    }
    if let Some(t) = facts.credentials_expiry {
        sink.set(M::CredentialsExpiry, &[target], t as f64);
    }
    if let Some(a) = &facts.account {
        let t = [target];
        sink.set(M::Max24h, &t, a.max_24_hour_send);
        sink.set(M::Sent24h, &t, a.sent_last_24_hours);
        sink.set(M::MaxRate, &t, a.max_send_rate);
        sink.set(
            M::Production,
            &t,
            if a.production_access_enabled {
                1.0
            } else {
                0.0
            },
        );
        sink.set(M::Sending, &t, if a.sending_enabled { 1.0 } else { 0.0 });
        if let Some(status) = &a.enforcement_status {
            for s in ENFORCEMENT {
                let on = status.eq_ignore_ascii_case(s);
                sink.set(M::Enforcement, &[target, s], if on { 1.0 } else { 0.0 });
            }
        }
    }
    if let Some(p) = &facts.permissions {
        for r in &p.actions {
            sink.set(
                M::PermissionAllowed,
                &[target, &r.action],
                if r.allowed() { 1.0 } else { 0.0 },
            );
        }
    }
    for id in &facts.sender {
        let mut one_hot = |kind: &'static str, all: &[&'static str], status: &str| {
            for s in all {
                let on = status.eq_ignore_ascii_case(s);
                sink.set(
                    M::IdentityStatus,
                    &[target, &id.identity, kind, s],
                    if on { 1.0 } else { 0.0 },
                );
            }
        };
        if !id.exists {
            one_hot("verification", &VERIFICATION, "NOT_FOUND");
            continue;
        }
        if let Some(s) = &id.verification_status {
            one_hot("verification", &VERIFICATION, s);
        }
        if let Some(s) = &id.dkim_status {
            one_hot("dkim", &DKIM, s);
        }
        if let (Some(_), Some(s)) = (&id.mail_from_domain, &id.mail_from_status) {
            one_hot("mail_from", &MAIL_FROM, s);
        }
    }
}

/// Label values, for the docs: the vocabulary of every label above.
const LABELS: &[(&str, &str)] = &[
    ("target", "the name of a target in the configuration file"),
    ("check", "`smtp`, `identity`, `account`, `permissions`, `sender`, `send`"),
    ("class", "a failure class from [failure-classes.md](failure-classes.md) (`auth_credentials_invalid`, `sandbox`, ...)"),
    ("severity", "`warning`, `critical` (the class's default severity)"),
    ("phase", "SMTP phase: `dns`, `connect`, `banner`, `ehlo`, `starttls`, `tls`, `ehlo_tls`, `auth`, `mail`, `rcpt`, `data`, `quit`; API checks: `credentials` (resolving the credential chain), then the operation: `GetCallerIdentity`, `GetAccount`, `SimulatePrincipalPolicy`, `GetEmailIdentity`, `ListEmailIdentities`, `SendEmail`"),
    ("principal_type", "`root`, `iam_user`, `assumed_role`, `federated_user`, `other`"),
    ("status", "SES enforcement status on `ses_probe_account_enforcement_status`: `HEALTHY`, `PROBATION`, `SHUTDOWN`; Postfix's delivery outcome on the `ses_probe_postfix_*` metrics: `sent`, `deferred`, `bounced`; an identity's status on `ses_probe_identity_status`: `SUCCESS`, `PENDING`, `FAILED`, `TEMPORARY_FAILURE`, `NOT_STARTED` (not for `mail_from`), `NOT_FOUND` (only `verification`: no such identity in the region)"),
    ("action", "an IAM action the permissions check simulates: `ses:SendEmail`, `ses:SendRawEmail`, `ses:GetAccount`, and with `smtp_credentials_admin` `iam:ListUsers`, `iam:CreateUser`, `iam:PutUserPolicy`, `iam:CreateAccessKey`"),
    ("identity", "a sender identity the sender check reads: the configured address (`audit_from` or `send.from`) and its domain"),
    ("kind", "on `ses_probe_identity_status`: `verification`, `dkim`, `mail_from`"),
    ("region", "the target's AWS region (`eu-west-1`, ...), from its config, the environment or the AWS profile"),
];

/// `docs/metrics.md`, generated from [`METRICS`] and [`LABELS`].
pub fn reference_markdown() -> String {
    let mut out = String::from(
        "# Metrics reference\n\n\
         ses-probe serves these series on `/metrics` (default listen address\n\
         `127.0.0.1:10587`). The metric names and label names are a public API: the\n\
         dashboard in `dashboards/ses-probe.json` and the alerting rules in\n\
         `dashboards/alerts.yml` are built on them, and a test checks that both use\n\
         only the names listed in the table below (one row per metric, the name in\n\
         backticks in the first column). Names are never removed or renamed; new\n\
         ones are added here first.\n\n\
         This file is generated from `src/metrics.rs`; `cargo test` fails when they disagree.\n\
         Regenerate with `SES_PROBE_BLESS=1 cargo test --lib metrics_reference_doc`.\n\n\
         ## Labels\n\n| label | values |\n|---|---|\n",
    );
    for (label, values) in LABELS {
        out.push_str(&format!("| `{label}` | {values} |\n"));
    }
    out.push_str(
        "\nTimestamps are Unix seconds. Gauges described as \"of the last run\" keep\n\
         their value until the next run of that check replaces it.\n\n\
         ## Metrics\n\n| metric | type | labels | meaning |\n|---|---|---|---|\n",
    );
    for d in METRICS {
        let labels = if d.labels.is_empty() {
            "(none)".to_owned()
        } else {
            d.labels
                .iter()
                .map(|l| format!("`{l}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let meaning = d.help.trim_end_matches('.');
        let mut chars = meaning.chars();
        let meaning = match chars.next() {
            Some(first) if first.is_uppercase() && !meaning.starts_with("AWS") => {
                first.to_lowercase().chain(chars).collect::<String>()
            }
            _ => meaning.to_owned(),
        };
        out.push_str(&format!(
            "| `{}` | {} | {labels} | {} |\n",
            d.name,
            d.kind.as_str(),
            meaning.replace('|', "\\|")
        ));
    }
    out.push_str(
        "\n## Process metrics\n\n\
         The standard series of the exporter process itself, as every Prometheus\n\
         client serves them (Linux only), without labels:\n\n\
         | metric | type | meaning |\n|---|---|---|\n",
    );
    for (name, kind, meaning) in PROCESS_METRICS {
        out.push_str(&format!("| `{name}` | {kind} | {meaning} |\n"));
    }
    out.push_str(
        "\nPrometheus adds `up` and `scrape_duration_seconds` for every scrape; the\n\
         dashboard and the exporter-down alert use them too.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{Encoder, GaugeVec, IntCounterVec, Opts, Registry, TextEncoder};

    // The `prometheus` crate's registry and encoder: the reference the
    // direct exposition writer is held to.
    /// A registered family.
    enum Family {
        Gauge(GaugeVec),
        Counter(IntCounterVec),
    }

    /// The metric families, created fresh for each scrape from [`METRICS`].
    struct Families(Vec<Family>);

    impl Families {
        fn register(r: &Registry) -> Self {
            Families(
                METRICS
                    .iter()
                    .map(|d| {
                        let opts = Opts::new(d.name, d.help);
                        match d.kind {
                            Kind::Gauge => {
                                let g = GaugeVec::new(opts, d.labels).expect("valid metric");
                                r.register(Box::new(g.clone())).expect("unique metric");
                                Family::Gauge(g)
                            }
                            Kind::Counter => {
                                let c = IntCounterVec::new(opts, d.labels).expect("valid metric");
                                r.register(Box::new(c.clone())).expect("unique metric");
                                Family::Counter(c)
                            }
                        }
                    })
                    .collect(),
            )
        }
    }

    impl<'a> Sink<'a> for Families {
        fn set(&mut self, m: M, labels: &[&str], value: f64) {
            if let Family::Gauge(g) = &self.0[m as usize] {
                g.with_label_values(labels).set(value);
            }
        }

        fn add(&mut self, m: M, labels: &[&str], n: u64) {
            if let Family::Counter(c) = &self.0[m as usize] {
                c.with_label_values(labels).inc_by(n);
            }
        }
    }

    /// The state rendered through the crate's registry and encoder.
    fn reference(m: &Metrics) -> String {
        let registry = Registry::new();
        let mut families = Families::register(&registry);
        fill_state(&mut families, &m.lock());
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&registry.gather(), &mut buf)
            .unwrap();
        String::from_utf8(buf).unwrap()
    }

    /// Each family's header and its series lines, sorted.
    fn by_family(text: &str) -> Vec<(String, Vec<String>)> {
        let mut families: Vec<(String, Vec<String>)> = Vec::new();
        for line in text.lines() {
            if line.starts_with("# HELP") {
                families.push((line.to_owned(), Vec::new()));
            } else if let Some((_, lines)) = families.last_mut() {
                lines.push(line.to_owned());
            }
        }
        for (_, lines) in &mut families {
            lines.sort();
        }
        families
    }

    #[test]
    fn a_large_scrape_is_sent_in_chunks_of_the_announced_length() {
        let m = Metrics::new();
        for n in 0..400 {
            let mut o = Outcome::new(CheckKind::Smtp);
            for phase in [
                "dns", "connect", "banner", "ehlo", "starttls", "tls", "auth",
            ] {
                o.phases.push(
                    Phase::new(phase, Duration::from_millis(3), true).with_reply(Some(250), None),
                );
            }
            m.record(&format!("relay-{n:03}"), &o);
        }
        let mut scrape = m.scrape();
        let announced = scrape.remaining();
        let mut text = String::new();
        let mut chunks = 0;
        while let Some(chunk) = scrape.next_chunk() {
            assert!(chunk.len() < CHUNK + 4096, "{}", chunk.len());
            text.push_str(std::str::from_utf8(&chunk).unwrap());
            chunks += 1;
        }
        assert!(chunks > 3, "{chunks} chunks for {announced} bytes");
        assert_eq!(text.len(), announced);
        let own = |t: &str| -> String {
            t.lines()
                .filter(|l| !l.starts_with("process_") && !l.contains(" process_"))
                .map(|l| format!("{l}\n"))
                .collect()
        };
        assert_eq!(by_family(&own(&text)), by_family(&reference(&m)));
    }

    #[test]
    fn exposition_equals_the_reference_encoder() {
        use crate::outcome::{AccountFacts, IdentityFacts, Phase, PrincipalType, TlsFacts};
        let m = Metrics::new();
        for target in ["b-relay", "a \"quoted\" \\ target"] {
            let mut o = Outcome::failed(
                CheckKind::Smtp,
                Finding::new(Class::AuthCredentialsInvalid, "535"),
            );
            o.phases.push(
                Phase::new("auth", Duration::from_millis(20), false)
                    .with_reply(Some(535), Some("Authentication Credentials Invalid")),
            );
            o.facts.tls = Some(TlsFacts {
                version: Some("TLSv1.3".into()),
                certificate_not_after: Some(1_800_000_000),
            });
            m.record(target, &o);
            let mut a = Outcome::new(CheckKind::Account);
            a.facts.account = Some(AccountFacts {
                max_24_hour_send: 200.0,
                max_send_rate: 1.5,
                sent_last_24_hours: 1.0e-7,
                production_access_enabled: false,
                sending_enabled: true,
                enforcement_status: Some("PROBATION".into()),
            });
            a.facts.clock_skew_seconds = Some(-0.25);
            m.record(target, &a);
            let mut i = Outcome::new(CheckKind::Identity);
            i.facts.identity = Some(IdentityFacts {
                account: "123456789012".into(),
                arn: "arn:aws:iam::123456789012:user/x\ny".into(),
                user_id: "AIDA".into(),
                principal_type: PrincipalType::IamUser,
            });
            i.facts.credentials_expiry = Some(1_900_000_000);
            m.record(target, &i);
            m.record_delivery(
                target,
                DeliveryStatus::Deferred,
                Class::AuthCredentialsInvalid,
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            );
        }
        m.set_postfix_reading(Some(true));
        // The `process_*` series come from the crate's own collector and
        // change between scrapes: compare what ses-probe writes itself.
        let own = |text: String| -> String {
            text.lines()
                .filter(|l| !l.starts_with("process_") && !l.contains(" process_"))
                .map(|l| format!("{l}\n"))
                .collect()
        };
        // The length announced up front is the length sent.
        let mut scrape = m.scrape();
        let announced = scrape.remaining();
        let mut sent = 0;
        while let Some(chunk) = scrape.next_chunk() {
            sent += chunk.len();
        }
        assert_eq!((sent, scrape.remaining()), (announced, 0));
        let direct = own(m.render());
        // The same families in the same order with the same headers and
        // the same series; within a family the writer groups by target
        // (each target's lines come from its fragment), the encoder sorts
        // by label values in label-name order. Prometheus reads both alike.
        assert_eq!(by_family(&direct), by_family(&reference(&m)));
        assert_ne!(
            direct,
            reference(&m),
            "the test state should have series in a different order"
        );
        assert!(
            direct.contains("ses_probe_account_sent_last_24h{target=\"b-relay\"} 0.0000001"),
            "{direct}"
        );
        // Unchanged state: the same text, from the cache.
        assert_eq!(own(m.render()), direct);
        m.set_reload(false);
        assert_ne!(own(m.render()), direct);
    }
    use crate::outcome::{AccountFacts, Finding, Phase};
    use std::time::Duration;

    fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(prefix))
    }

    #[test]
    fn metrics_reference_doc() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md");
        let want = reference_markdown();
        if std::env::var_os("SES_PROBE_BLESS").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap();
        assert!(
            have == want,
            "docs/metrics.md is out of date; regenerate with SES_PROBE_BLESS=1 cargo test --lib metrics_reference_doc"
        );
    }

    #[test]
    fn metric_names_are_unique_and_prefixed() {
        let mut seen = BTreeSet::new();
        for d in METRICS {
            assert!(d.name.starts_with("ses_probe_"), "{}", d.name);
            assert!(seen.insert(d.name), "{} defined twice", d.name);
            assert!(d.help.ends_with('.'), "{}: help is a sentence", d.name);
        }
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
        let env = crate::config::Env::default();
        let plan = crate::config::parse(
            "[[target]]\nname = \"b\"\nregion = \"eu-west-1\"\n[target.api]\n",
            "t.toml",
            &env,
        )
        .unwrap();
        m.configure(&plan);
        let text = m.render();
        assert!(!text.contains(r#"target="a""#));
        assert!(text.contains(r#"target="b""#));
        assert!(text.contains(r#"ses_probe_target_info{region="eu-west-1",target="b"} 1"#));
        assert!(text.contains("ses_probe_build_info{"));
        assert!(text.contains("ses_probe_config_last_reload_successful 1"));
        // A reload that changes only the region and an interval is shown
        // (the target's series are rendered again); an unchanged target
        // keeps its series.
        let plan = crate::config::parse(
            "[[target]]\nname = \"b\"\nregion = \"us-east-1\"\n[target.api]\nidentity_interval = \"7m\"\n",
            "t.toml",
            &env,
        )
        .unwrap();
        m.configure(&plan);
        let text = m.render();
        assert!(text.contains(r#"ses_probe_target_info{region="us-east-1",target="b"} 1"#));
        assert!(!text.contains(r#"region="eu-west-1""#));
        assert!(
            text.contains(r#"ses_probe_check_interval_seconds{check="identity",target="b"} 420"#)
        );
        assert!(text.contains(r#"ses_probe_account_production_access{target="b"} 0"#));
        m.configure(&plan);
        assert_eq!(
            m.render()
                .lines()
                .filter(|l| !l.starts_with("process_"))
                .count(),
            text.lines().filter(|l| !l.starts_with("process_")).count()
        );
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn process_metrics_are_served_and_documented() {
        let text = Metrics::new().render();
        let served: BTreeSet<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE process_"))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        let documented: BTreeSet<&str> = PROCESS_METRICS
            .iter()
            .map(|(n, _, _)| n.strip_prefix("process_").unwrap())
            .collect();
        assert_eq!(served, documented, "{text}");
        assert!(text.contains(&format!("rustc=\"{}\"", crate::RUSTC_VERSION)));
        assert_ne!(crate::RUSTC_VERSION, "unknown");
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

    #[test]
    fn permissions_and_identity_status() {
        use crate::outcome::{IdentityState, PermissionFacts, PermissionResult};
        let m = Metrics::new();
        let mut o = Outcome::new(CheckKind::Permissions);
        o.facts.permissions = Some(PermissionFacts {
            policy_source: "arn:aws:iam::123456789012:user/u".into(),
            actions: vec![
                PermissionResult {
                    action: "ses:SendEmail".into(),
                    resource: "arn:x".into(),
                    decision: "implicit_deny".into(),
                },
                PermissionResult {
                    action: "ses:GetAccount".into(),
                    resource: "*".into(),
                    decision: "allowed".into(),
                },
            ],
            note: None,
        });
        m.record("a", &o);
        let mut o = Outcome::new(CheckKind::Sender);
        o.facts.sender = vec![
            IdentityState {
                identity: "p@example.com".into(),
                kind: "email_address".into(),
                ..IdentityState::default()
            },
            IdentityState {
                identity: "example.com".into(),
                kind: "domain".into(),
                exists: true,
                verification_status: Some("SUCCESS".into()),
                dkim_status: Some("PENDING".into()),
                ..IdentityState::default()
            },
        ];
        m.record("a", &o);
        let text = m.render();
        for want in [
            r#"ses_probe_permission_allowed{action="ses:SendEmail",target="a"} 0"#,
            r#"ses_probe_permission_allowed{action="ses:GetAccount",target="a"} 1"#,
            r#"ses_probe_identity_status{identity="p@example.com",kind="verification",status="NOT_FOUND",target="a"} 1"#,
            r#"ses_probe_identity_status{identity="p@example.com",kind="verification",status="SUCCESS",target="a"} 0"#,
            r#"ses_probe_identity_status{identity="example.com",kind="verification",status="SUCCESS",target="a"} 1"#,
            r#"ses_probe_identity_status{identity="example.com",kind="dkim",status="PENDING",target="a"} 1"#,
            r#"ses_probe_identity_status{identity="example.com",kind="dkim",status="SUCCESS",target="a"} 0"#,
        ] {
            assert!(text.contains(want), "{want} missing:\n{text}");
        }
        assert!(!text.contains(r#"kind="mail_from""#), "{text}");
        assert!(!text.contains(r#"identity="p@example.com",kind="dkim""#));
    }
}
