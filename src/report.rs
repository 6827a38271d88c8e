//! Rendering a run's outcomes for people (text) and machines (JSON), and the
//! Nagios exit code.
//!
//! The JSON shape is a documented, stable contract (see the README):
//! `{"status", "exit_code", "targets": [{"name", "region", "status",
//! "checks": [{"check", "success", "status", "duration_seconds", "phases",
//! "findings", "facts", "finished_at"}]}], "warnings"}`. Fields are only
//! ever added.

use serde::Serialize;

use crate::outcome::{Outcome, Status, TargetOutcomes};

/// Every outcome of one pass over a plan.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub status: Status,
    pub exit_code: u8,
    pub targets: Vec<TargetReport>,
    /// Config warnings (loose file permissions...), one line each.
    pub warnings: Vec<String>,
    /// Postfix's real deliveries in the recent window, with `[postfix_log]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postfix: Option<crate::postfix::report::Recent>,
}

#[derive(Debug, Serialize)]
pub struct TargetReport {
    pub name: String,
    pub region: Option<String>,
    pub status: Status,
    pub checks: Vec<CheckReport>,
    /// The target's configured thresholds, for the perfdata.
    #[serde(skip)]
    pub thresholds: Thresholds,
}

/// Configured thresholds that the Nagios perfdata carries as `warn`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Thresholds {
    /// `certificate_expiry_warning` of the SMTP check.
    pub certificate_expiry_warning: Option<std::time::Duration>,
    /// `quota_warning_ratio` of the account check.
    pub quota_warning_ratio: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct CheckReport {
    #[serde(flatten)]
    pub outcome: Outcome,
    pub status: Status,
}

impl Report {
    /// Build a report; statuses are computed here so every consumer agrees.
    pub fn new(targets: Vec<TargetOutcomes>, warnings: Vec<String>) -> Self {
        let targets: Vec<TargetReport> = targets
            .into_iter()
            .map(
                |TargetOutcomes {
                     name,
                     region,
                     outcomes,
                 }| {
                    let checks: Vec<CheckReport> = outcomes
                        .into_iter()
                        .map(|o| CheckReport {
                            status: o.status(),
                            outcome: o,
                        })
                        .collect();
                    let status = checks
                        .iter()
                        .map(|c| c.status)
                        .max()
                        .unwrap_or(Status::Unknown);
                    TargetReport {
                        name,
                        region,
                        status,
                        checks,
                        thresholds: Thresholds::default(),
                    }
                },
            )
            .collect();
        let status = targets
            .iter()
            .map(|t| t.status)
            .max()
            .unwrap_or(Status::Unknown);
        Report {
            status,
            exit_code: status.exit_code(),
            targets,
            warnings,
            postfix: None,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serialises")
    }

    /// Nagios-style text: a one-line summary first, then each target.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let mut counts = [0usize; 4];
        for c in self.targets.iter().flat_map(|t| &t.checks) {
            counts[c.status.exit_code() as usize] += 1;
        }
        let headline: Vec<String> = self
            .targets
            .iter()
            .flat_map(|t| t.checks.iter().map(move |c| (t, c)))
            .filter(|(_, c)| c.status != Status::Ok)
            .map(|(t, c)| {
                let class = c
                    .outcome
                    .primary_finding()
                    .map(|f| f.class.as_str())
                    .unwrap_or("unknown");
                format!("{}/{}: {}", t.name, c.outcome.check, class)
            })
            .collect();
        out.push_str(&format!(
            "SES-PROBE {} - {} ok, {} warning, {} critical, {} unknown",
            self.status.as_str().to_ascii_uppercase(),
            counts[0],
            counts[1],
            counts[2],
            counts[3]
        ));
        if !headline.is_empty() {
            out.push_str(&format!(" - {}", headline.join(", ")));
        }
        let perf = self.perfdata(std::time::SystemTime::now());
        if !perf.is_empty() {
            out.push_str(" | ");
            out.push_str(&perf);
        }
        out.push('\n');
        let mut long = String::new();
        for w in &self.warnings {
            long.push_str(&format!("warning: {}\n", esc(w)));
        }
        if let Some(p) = &self.postfix {
            render_postfix(&mut long, p);
        }
        for t in &self.targets {
            long.push_str(&format!(
                "\ntarget {} ({})  {}\n",
                t.name,
                t.region.as_deref().unwrap_or("no region"),
                t.status.as_str().to_ascii_uppercase()
            ));
            for c in &t.checks {
                render_check(&mut long, c);
            }
        }
        // Nagios reads a `|` after the first line as the start of more
        // perfdata: one in a server's reply must not be taken for it.
        out.push_str(&long.replace('|', "\u{a6}"));
        out
    }

    /// The Nagios plugin perfdata (`'label'=value[UOM];[warn];[crit];[min];[max]`,
    /// space separated) of every check: its duration, each SMTP phase's
    /// time, the sending quota used and its ratio, the days left on the
    /// SMTP endpoint's certificate and the clock skew against AWS.
    pub fn perfdata(&self, now: std::time::SystemTime) -> String {
        let mut perf = Perf::default();
        for t in &self.targets {
            let mut skew: Option<(std::time::SystemTime, f64)> = None;
            for c in &t.checks {
                let o = &c.outcome;
                if o.facts.skipped {
                    continue;
                }
                let base = format!("{}/{}", t.name, o.check.as_str());
                perf.push(
                    &format!("{base}/duration"),
                    o.duration.as_secs_f64(),
                    "s",
                    "",
                    "0",
                    "",
                );
                if o.check == crate::outcome::CheckKind::Smtp {
                    for p in &o.phases {
                        perf.push(&format!("{base}/{}", p.name), p.seconds, "s", "", "0", "");
                    }
                }
                if let Some(a) = &o.facts.account {
                    let limited = a.max_24_hour_send > 0.0;
                    let max = if limited {
                        perf_number(a.max_24_hour_send)
                    } else {
                        String::new()
                    };
                    let used = format!("{}/quota_used", t.name);
                    perf.push(&used, a.sent_last_24_hours, "", "", "0", &max);
                    if limited {
                        let warn = t
                            .thresholds
                            .quota_warning_ratio
                            .map(perf_number)
                            .unwrap_or_default();
                        let ratio = a.sent_last_24_hours / a.max_24_hour_send;
                        perf.push(
                            &format!("{}/quota_ratio", t.name),
                            ratio,
                            "",
                            &warn,
                            "0",
                            "1",
                        );
                    }
                }
                if let Some(not_after) = o.facts.tls.as_ref().and_then(|t| t.certificate_not_after)
                {
                    let now = now
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs_f64())
                        .unwrap_or(0.0);
                    let days = ((not_after as f64 - now) / 86_400.0 * 10.0).floor() / 10.0;
                    // The range `N:` warns below N: fewer days left than configured.
                    let warn = t
                        .thresholds
                        .certificate_expiry_warning
                        .map(|w| format!("{}:", perf_number(w.as_secs_f64() / 86_400.0)))
                        .unwrap_or_default();
                    perf.push(
                        &format!("{}/certificate_days", t.name),
                        days,
                        "",
                        &warn,
                        "",
                        "",
                    );
                }
                if let Some(s) = o.facts.clock_skew_seconds {
                    if skew.is_none_or(|(at, _)| o.finished > at) {
                        skew = Some((o.finished, s));
                    }
                }
            }
            if let Some((_, s)) = skew {
                perf.push(&format!("{}/clock_skew", t.name), s, "s", "", "", "");
            }
        }
        perf.items.join(" ")
    }
}

/// Perfdata items being collected, with unique labels.
#[derive(Default)]
struct Perf {
    items: Vec<String>,
    seen: std::collections::HashSet<String>,
}

impl Perf {
    /// `label=value[uom];[warn];;[min];[max]`, trailing empty fields left
    /// out; a value that is not a number is left out altogether.
    fn push(&mut self, label: &str, value: f64, uom: &str, warn: &str, min: &str, max: &str) {
        if !value.is_finite() {
            return;
        }
        // Labels are unique: a phase that comes twice gets a number.
        let mut unique = label.to_owned();
        let mut n = 1;
        while !self.seen.insert(unique.clone()) {
            n += 1;
            unique = format!("{label}_{n}");
        }
        let mut item = format!(
            "{}={}{uom};{warn};;{min};{max}",
            perf_label(&unique),
            perf_number(value)
        );
        while item.ends_with(';') {
            item.pop();
        }
        self.items.push(item);
    }
}

/// A perfdata label: quoted when it holds a space, `'` or `=` (`=` is not
/// allowed even quoted and becomes `_`; `'` is doubled), per the plugin
/// guidelines.
fn perf_label(label: &str) -> String {
    let label = label.replace('=', "_");
    if label.contains([' ', '\'']) {
        format!("'{}'", label.replace('\'', "''"))
    } else {
        label
    }
}

/// A perfdata number: plain decimal, no exponent, at most 6 decimals.
fn perf_number(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    match s {
        "" | "-" | "-0" => "0".to_owned(),
        s => s.to_owned(),
    }
}

fn render_postfix(out: &mut String, p: &crate::postfix::report::Recent) {
    out.push_str(&format!(
        "\npostfix log ({}, last {}):",
        esc(&p.source),
        humantime::format_duration(std::time::Duration::from_secs(p.window_seconds))
    ));
    if let Some(e) = &p.error {
        out.push_str(&format!(" unreadable: {}\n", esc(e)));
        return;
    }
    if p.targets.is_empty() {
        out.push_str(" no deliveries to a configured relay\n");
        return;
    }
    out.push('\n');
    for t in &p.targets {
        let classes: Vec<String> = t.classes.iter().map(|(c, n)| format!("{c} x{n}")).collect();
        out.push_str(&format!(
            "  {}: {} sent, {} deferred, {} bounced{}\n",
            t.target,
            t.sent,
            t.deferred,
            t.bounced,
            if classes.is_empty() {
                String::new()
            } else {
                format!(" ({})", classes.join(", "))
            }
        ));
        if let Some(line) = &t.last_failure {
            out.push_str(&format!("    last failure: {}\n", esc(line)));
        }
    }
}

/// Text that came from outside (a server, a file), safe for a terminal.
fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    crate::text::escape_controls(s)
}

fn render_check(out: &mut String, c: &CheckReport) {
    let o = &c.outcome;
    out.push_str(&format!(
        "  {:<9} {:<8} {:>8.3}s{}\n",
        o.check.as_str(),
        c.status.as_str().to_ascii_uppercase(),
        o.duration.as_secs_f64(),
        if o.facts.skipped { "  (skipped)" } else { "" }
    ));
    for p in &o.phases {
        let reply = match (p.code, &p.text) {
            (Some(code), Some(text)) => format!("  {code} {}", esc(&one_line(text))),
            (Some(code), None) => format!("  {code}"),
            (None, Some(text)) => format!("  {}", esc(&one_line(text))),
            (None, None) => String::new(),
        };
        out.push_str(&format!(
            "    {} {:<9} {:>7.3}s{}\n",
            if p.ok { "+" } else { "x" },
            p.name,
            p.seconds,
            reply
        ));
    }
    for f in &o.findings {
        out.push_str(&format!(
            "    ! {} {}: {}\n",
            f.severity,
            f.class,
            esc(&f.message)
        ));
        let pairs = f.details.pairs();
        if !pairs.is_empty() {
            let parts: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{k}={}", esc(v)))
                .collect();
            out.push_str(&format!("      details: {}\n", parts.join(" ")));
        }
        out.push_str(&format!("      fix: {}\n", f.remediation));
    }
    let facts = &o.facts;
    if let Some(id) = &facts.identity {
        out.push_str(&format!(
            "    identity: {} ({}), account {}\n",
            esc(&id.arn),
            id.principal_type.as_str(),
            esc(&id.account)
        ));
    }
    if let Some(a) = &facts.account {
        out.push_str(&format!(
            "    account: sent {}/{} in 24h, max rate {}/s, production access {}, sending enabled {}, enforcement {}\n",
            a.sent_last_24_hours,
            if a.max_24_hour_send < 0.0 { "unlimited".to_owned() } else { a.max_24_hour_send.to_string() },
            a.max_send_rate,
            a.production_access_enabled,
            a.sending_enabled,
            esc(a.enforcement_status.as_deref().unwrap_or("unknown"))
        ));
    }
    if let Some(tls) = &facts.tls {
        out.push_str(&format!(
            "    tls: {} certificate not after {}\n",
            tls.version.as_deref().unwrap_or("?"),
            tls.certificate_not_after
                .map(|t| humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64)
                )
                .to_string())
                .unwrap_or_else(|| "?".into())
        ));
    }
    if let Some(skew) = facts.clock_skew_seconds {
        out.push_str(&format!(
            "    clock skew: {skew:+.1}s (AWS minus local: positive means this host is behind)\n"
        ));
    }
    if let Some(left) = facts.send_budget_remaining {
        out.push_str(&format!("    send budget left (24h): {left}\n"));
    }
    for line in &facts.postfix {
        out.push_str(&format!("    postfix: {}\n", esc(line)));
    }
}

fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnosis::Class;
    use crate::outcome::{CheckKind, Finding};

    fn report() -> Report {
        let ok = Outcome::new(CheckKind::Identity);
        let mut warn = Outcome::new(CheckKind::Account);
        warn.findings.push(Finding::new(Class::Sandbox, "sandbox"));
        let bad = Outcome::failed(
            CheckKind::Smtp,
            Finding::new(Class::AuthCredentialsInvalid, "535"),
        );
        Report::new(
            vec![
                TargetOutcomes {
                    name: "a".into(),
                    region: Some("eu-west-1".into()),
                    outcomes: vec![ok, warn],
                },
                TargetOutcomes {
                    name: "b".into(),
                    region: None,
                    outcomes: vec![bad],
                },
            ],
            vec![],
        )
    }

    #[test]
    fn worst_status_wins_and_maps_to_exit_code() {
        let r = report();
        assert_eq!(r.targets[0].status, Status::Warning);
        assert_eq!(r.status, Status::Critical);
        assert_eq!(r.exit_code, 2);
        assert_eq!(Report::new(vec![], vec![]).exit_code, 3);
    }

    #[test]
    fn json_has_the_documented_shape() {
        let v: serde_json::Value = serde_json::from_str(&report().to_json()).unwrap();
        assert_eq!(v["status"], "critical");
        let check = &v["targets"][1]["checks"][0];
        assert_eq!(check["check"], "smtp");
        assert_eq!(check["success"], false);
        assert_eq!(check["status"], "critical");
        assert!(check["duration_seconds"].is_number());
        assert!(check["phases"].is_array());
        let f = &check["findings"][0];
        assert_eq!(f["class"], "auth_credentials_invalid");
        assert_eq!(f["severity"], "critical");
        assert!(f["remediation"].as_str().unwrap().len() > 10);
    }

    #[test]
    fn text_headline_names_failing_checks() {
        let text = report().to_text();
        let first = text.lines().next().unwrap();
        let (status, perf) = first.split_once(" | ").unwrap();
        assert_eq!(
            status,
            "SES-PROBE CRITICAL - 1 ok, 1 warning, 1 critical, 0 unknown - a/account: sandbox, b/smtp: auth_credentials_invalid"
        );
        assert_eq!(
            perf,
            "a/identity/duration=0s;;;0 a/account/duration=0s;;;0 b/smtp/duration=0s;;;0"
        );
        assert!(text.contains("fix: "));
    }
}
