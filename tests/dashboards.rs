//! The operator-facing monitoring files: `dashboards/alerts.yml`, its
//! promtool unit tests, `dashboards/ses-probe.json` and `docs/metrics.md`.
//!
//! What each test proves:
//! - `alert_rules_pass_promtool_check`: Prometheus accepts the rule file.
//! - `alert_rule_unit_tests_pass`: every alert fires for the series that
//!   should trigger it, stays silent for healthy ones and resolves
//!   (`promtool test rules dashboards/tests/*.yml`).
//! - `every_alert_has_a_unit_test`: each alert in the rule file has, in those
//!   unit tests, an evaluation where it fires and one where it stays silent.
//! - `dashboard_is_importable`: the JSON parses, panel ids are unique (rows'
//!   nested panels included), it asks for a `DS_PROMETHEUS` datasource on
//!   import, every panel, query and variable uses it, and it has the
//!   multi-select `target` variable.
//! - `dashboard_queries_parse`: every PromQL expression in the dashboard, with
//!   Grafana's variables filled in, is valid PromQL (promtool checks them as
//!   recording rules).
//! - `dashboard_and_alerts_use_only_served_metrics` /
//!   `every_served_metric_is_used`: the dashboard and the alerts use only
//!   metric names the exporter serves, and every one of those is shown or
//!   alerted on.
//! - `joins_and_aggregations_keep_instance_and_job`: every `on(...)` and
//!   `by (...)` of the dashboard and the rules keeps `instance` and `job`,
//!   so several exporters with the same target names never collide.
//! - `runbook_urls_point_at_operations_anchors`: every `runbook_url` is the
//!   documented base plus an anchor that docs/operations.md has (a
//!   `{{ $labels.class }}` anchor is expanded to each class its rule
//!   selects).
//! - `catch_alls_exclude_exactly_the_covered_classes`: the classes the
//!   catch-all alerts leave to class-based alerts are the classes those
//!   alerts select.
//! - `metric_names_*`: the name extraction those tests rely on.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

/// Series Prometheus itself adds to every scrape; not served by ses-probe.
const PROMETHEUS_SERIES: [&str; 2] = ["up", "scrape_duration_seconds"];

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// Runs `promtool`; a missing tool is a failure, never a skip.
fn promtool(args: &[&str]) -> Output {
    Command::new("promtool")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run promtool ({e}): run `bash .ci/test`, which installs it")
        })
}

fn assert_success(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn alert_unit_test_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(repo("dashboards/tests"))
        .expect("dashboards/tests exists")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yml"))
        .map(|path| {
            format!(
                "dashboards/tests/{}",
                path.file_name().unwrap().to_string_lossy()
            )
        })
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no promtool unit tests in dashboards/tests"
    );
    files
}

#[test]
fn alert_rules_pass_promtool_check() {
    let out = promtool(&["check", "rules", "dashboards/alerts.yml"]);
    assert_success("promtool check rules dashboards/alerts.yml", &out);
}

#[test]
fn alert_rule_unit_tests_pass() {
    let files = alert_unit_test_files();
    let mut args = vec!["test", "rules"];
    args.extend(files.iter().map(String::as_str));
    assert_success("promtool test rules", &promtool(&args));
}

#[test]
fn every_alert_has_a_unit_test() {
    let tests: String = alert_unit_test_files().iter().map(|f| read(f)).collect();
    let lines: Vec<&str> = tests.lines().map(str::trim).collect();
    let alerts = alert_names(&read("dashboards/alerts.yml"));
    assert!(
        alerts.len() >= 10,
        "suspiciously few alerts found: {alerts:?}"
    );
    for name in &alerts {
        let named = format!("alertname: {name}");
        // Fires: an expected alert whose labels start with its name.
        let fires = lines
            .windows(2)
            .any(|w| w == ["- exp_labels:", named.as_str()]);
        // Silent: an evaluation of it that expects no alert.
        let silent = lines
            .windows(2)
            .any(|w| w == [named.as_str(), "exp_alerts: []"]);
        assert!(fires, "no promtool unit test expects {name} to fire");
        assert!(
            silent,
            "no promtool unit test expects {name} to stay silent"
        );
    }
}

#[test]
fn dashboard_is_importable() {
    let dashboard = dashboard();
    let input = dashboard["__inputs"]
        .as_array()
        .and_then(|inputs| inputs.iter().find(|i| i["name"] == "DS_PROMETHEUS"))
        .expect("a DS_PROMETHEUS entry in __inputs");
    assert_eq!(input["type"], "datasource");
    assert_eq!(input["pluginId"], "prometheus");
    assert!(
        dashboard["schemaVersion"].as_u64().unwrap_or(0) >= 36,
        "schemaVersion too old"
    );

    let panels = all_panels(&dashboard);
    let mut ids = BTreeSet::new();
    for panel in &panels {
        let id = panel["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("panel without id: {}", panel["title"]));
        assert!(ids.insert(id), "panel id {id} is used twice");
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(
            panel["datasource"]["uid"], "${DS_PROMETHEUS}",
            "panel {}",
            panel["title"]
        );
        let targets = panel["targets"].as_array().filter(|t| !t.is_empty());
        for target in targets.unwrap_or_else(|| panic!("panel {} has no queries", panel["title"])) {
            assert_eq!(
                target["datasource"]["uid"], "${DS_PROMETHEUS}",
                "panel {}",
                panel["title"]
            );
        }
    }

    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("templating.list");
    for variable in variables.iter().filter(|v| v["type"] == "query") {
        assert_eq!(
            variable["datasource"]["uid"], "${DS_PROMETHEUS}",
            "variable {}",
            variable["name"]
        );
    }
    // job -> instance -> target, each multi-select with All; job and
    // instance have no catch-all regex, so `up{job=~"$job"}` never
    // selects other jobs' targets.
    let queries: Vec<(&str, &str)> = variables
        .iter()
        .map(|v| (v["name"].as_str().unwrap_or(""), variable_query(v)))
        .collect();
    assert_eq!(
        queries,
        [
            ("job", "label_values(ses_probe_build_info, job)"),
            (
                "instance",
                r#"label_values(ses_probe_build_info{job=~"$job"}, instance)"#
            ),
            (
                "target",
                r#"label_values(ses_probe_status{job=~"$job", instance=~"$instance"}, target)"#
            ),
        ]
    );
    for variable in variables {
        assert_eq!(
            variable["multi"], true,
            "{} is multi-select",
            variable["name"]
        );
        assert_eq!(
            variable["includeAll"], true,
            "{} offers All",
            variable["name"]
        );
    }
    for name in ["job", "instance"] {
        let v = variables.iter().find(|v| v["name"] == name).unwrap();
        assert!(
            v["allValue"].is_null(),
            "`{name}` must not use a custom All value"
        );
    }
}

#[test]
fn dashboard_queries_parse() {
    let exprs = dashboard_exprs();
    assert!(
        exprs.len() >= 10,
        "suspiciously few dashboard queries: {exprs:?}"
    );
    // JSON is YAML, so the rules file can be written with serde_json.
    let rules: Vec<Value> = exprs
        .iter()
        .enumerate()
        .map(|(i, expr)| json!({ "record": format!("dashboard:query_{i}"), "expr": expr }))
        .collect();
    let file = json!({ "groups": [{ "name": "dashboard", "rules": rules }] });
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("dashboard-queries.yml");
    std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap()).expect("write rules");
    let out = promtool(&["check", "rules", path.to_str().unwrap()]);
    let listing: String = exprs
        .iter()
        .enumerate()
        .map(|(i, e)| format!("query_{i}: {e}\n"))
        .collect();
    assert_success(
        &format!("promtool check rules on the dashboard's queries\n{listing}"),
        &out,
    );
}

#[test]
fn dashboard_and_alerts_use_only_served_metrics() {
    let served = served_metric_names();
    let used = used_metric_names();
    let unknown: Vec<_> = used
        .iter()
        .filter(|name| !served.contains(*name) && !PROMETHEUS_SERIES.contains(&name.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "metric names not in docs/metrics.md: {unknown:?}"
    );
}

#[test]
fn every_served_metric_is_used() {
    let used = used_metric_names();
    // The standard process_* series are the exporter's own, for generic
    // process dashboards; they are documented, not required here.
    let unused: Vec<_> = served_metric_names()
        .into_iter()
        .filter(|m| !used.contains(m) && !m.starts_with("process_"))
        .collect();
    assert!(
        unused.is_empty(),
        "served but neither on the dashboard nor alerted on: {unused:?}"
    );
}

/// The metric names the exporter really serves: a live scrape of the
/// daemon with every kind of series present (see `support::exporter`).
fn served_metric_names() -> BTreeSet<String> {
    crate::support::exporter::metric_names(crate::support::exporter::full_scrape())
}

/// The metric names `docs/metrics.md` documents: the rows of the table
/// whose header starts with `metric`.
pub fn documented_metric_names() -> BTreeSet<String> {
    let doc = read("docs/metrics.md");
    let mut names = BTreeSet::new();
    let mut in_metric_table = false;
    let mut header_seen = false;
    for line in doc.lines() {
        let Some(row) = line.trim().strip_prefix('|') else {
            (in_metric_table, header_seen) = (false, false);
            continue;
        };
        let first = row.split('|').next().unwrap_or("").trim();
        if !header_seen {
            (in_metric_table, header_seen) = (first == "metric", true);
            continue;
        }
        if !in_metric_table || first.starts_with("--") {
            continue;
        }
        let name = first
            .strip_prefix('`')
            .and_then(|s| s.strip_suffix('`'))
            .unwrap_or_else(|| panic!("metric name not in backticks: {line}"));
        assert!(
            names.insert(name.to_owned()),
            "{name} listed twice in docs/metrics.md"
        );
    }
    assert!(!names.is_empty(), "no metric table in docs/metrics.md");
    names
}

fn used_metric_names() -> BTreeSet<String> {
    let alerts = alert_exprs(&read("dashboards/alerts.yml"));
    dashboard_exprs()
        .iter()
        .chain(&alerts)
        .flat_map(|expr| metric_names_in_expr(expr))
        .collect()
}

fn dashboard() -> Value {
    serde_json::from_str(&read("dashboards/ses-probe.json")).expect("dashboard is valid JSON")
}

/// Every panel, including those nested in (collapsed) rows.
fn all_panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(panels: &'a Value, out: &mut Vec<&'a Value>) {
        for panel in panels.as_array().into_iter().flatten() {
            out.push(panel);
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

fn variable_query(variable: &Value) -> &str {
    let query = &variable["query"];
    query["query"]
        .as_str()
        .or(query.as_str())
        .expect("variable query")
}

/// Every PromQL expression of the dashboard, with Grafana's variables
/// replaced by valid values.
fn dashboard_exprs() -> Vec<String> {
    let dashboard = dashboard();
    let mut exprs: Vec<String> = all_panels(&dashboard)
        .iter()
        .flat_map(|panel| panel["targets"].as_array().into_iter().flatten())
        .map(|target| {
            target["expr"]
                .as_str()
                .expect("query without expr")
                .to_owned()
        })
        .collect();
    for variable in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if variable["type"] == "query" {
            exprs.extend(variable_promql(variable_query(variable)));
        }
    }
    exprs
        .iter()
        .map(|e| substitute_grafana_variables(e))
        .collect()
}

/// The PromQL inside a Prometheus variable query (`label_values(expr, label)`
/// or `query_result(expr)`); `None` for forms without one.
fn variable_promql(query: &str) -> Option<String> {
    let query = query.trim();
    if let Some(args) = query
        .strip_prefix("label_values(")
        .and_then(|q| q.strip_suffix(')'))
    {
        // label_values(label) has no expression; label_values(expr, label) does.
        return args
            .rsplit_once(',')
            .map(|(expr, _label)| expr.trim().to_owned());
    }
    if let Some(expr) = query
        .strip_prefix("query_result(")
        .and_then(|q| q.strip_suffix(')'))
    {
        return Some(expr.to_owned());
    }
    panic!("unsupported variable query form: {query}");
}

fn substitute_grafana_variables(expr: &str) -> String {
    let out = expr
        .replace("${target}", "a|b")
        .replace("$target", "a|b")
        .replace("$instance", "(a:1|b:1)")
        .replace("$job", "(ses-probe)")
        .replace("$__rate_interval", "5m")
        .replace("$__interval", "1m")
        .replace("$__range", "1d");
    assert!(!out.contains('$'), "unknown Grafana variable in {expr}");
    out
}

/// Alert names in a rule file (`- alert: Name` lines).
fn alert_names(rules: &str) -> Vec<String> {
    rules
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- alert:"))
        .map(|name| name.trim().to_owned())
        .collect()
}

/// One rule of a rule file: its name (alert or record), `expr` and
/// `runbook_url`.
#[derive(Debug, Default)]
struct Rule {
    name: String,
    alert: bool,
    expr: String,
    runbook_url: Option<String>,
}

/// The rules of a rule file. `expr:` is a plain one-line scalar or a `>-` /
/// `|` block scalar (continuation lines indented deeper than the key);
/// enough YAML for our rule file, and it refuses anything else.
fn rules(text: &str) -> Vec<Rule> {
    let lines: Vec<&str> = text.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut rules: Vec<Rule> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix("- alert:") {
            rules.push(Rule {
                name: name.trim().to_owned(),
                alert: true,
                ..Rule::default()
            });
        } else if let Some(name) = trimmed.strip_prefix("- record:") {
            rules.push(Rule {
                name: name.trim().to_owned(),
                ..Rule::default()
            });
        } else if let Some(url) = trimmed.strip_prefix("runbook_url:") {
            let rule = rules.last_mut().expect("runbook_url inside a rule");
            rule.runbook_url = Some(url.trim().trim_matches('"').to_owned());
        } else if let Some(value) = trimmed.strip_prefix("expr:").map(str::trim) {
            let rule = rules.last_mut().expect("expr inside a rule");
            rule.expr = if matches!(value, ">-" | ">" | "|" | "|-") {
                let block: Vec<&str> = lines[i + 1..]
                    .iter()
                    .take_while(|l| l.trim().is_empty() || indent(l) > indent(line))
                    .map(|l| l.trim())
                    .collect();
                block.join(" ").trim().to_owned()
            } else {
                assert!(
                    !value.starts_with(['"', '\'', '>', '|']),
                    "unsupported YAML for expr: {value}"
                );
                value.to_owned()
            };
        }
    }
    assert!(
        rules.iter().all(|r| !r.expr.is_empty()),
        "a rule without expr"
    );
    rules
}

fn alert_exprs(text: &str) -> Vec<String> {
    rules(text).into_iter().map(|r| r.expr).collect()
}

/// The class names a rule selects: `class="a"` or `class=~"a|b"` matchers.
fn selected_classes(expr: &str) -> BTreeSet<String> {
    let matcher = regex::Regex::new(r#"class=~?"([a-z_0-9|]+)""#).unwrap();
    matcher
        .captures_iter(expr)
        .flat_map(|c| c[1].split('|').map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

/// The base every runbook_url starts with (see "Adapting the rules" in
/// docs/operations.md).
const RUNBOOK_BASE: &str = "https://github.com/OWNER/ses-probe/blob/main/docs/operations.md#";

#[test]
fn runbook_urls_point_at_operations_anchors() {
    let doc = read("docs/operations.md");
    let anchor = regex::Regex::new(r#"<a id="([a-z_0-9]+)"></a>"#).unwrap();
    let anchors: BTreeSet<&str> = anchor
        .captures_iter(&doc)
        .map(|c| c.get(1).unwrap().as_str())
        .collect();
    let mut checked = 0;
    for rule in rules(&read("dashboards/alerts.yml"))
        .iter()
        .filter(|r| r.alert)
    {
        let url = rule
            .runbook_url
            .as_deref()
            .unwrap_or_else(|| panic!("{} has no runbook_url", rule.name));
        let fragment = url.strip_prefix(RUNBOOK_BASE).unwrap_or_else(|| {
            panic!(
                "{}: runbook_url {url} does not start with {RUNBOOK_BASE}",
                rule.name
            )
        });
        let targets: Vec<String> = if fragment == "{{ $labels.class }}" {
            let classes = selected_classes(&rule.expr);
            assert!(
                !classes.is_empty(),
                "{}: links per class but selects none",
                rule.name
            );
            classes.into_iter().collect()
        } else {
            vec![fragment.to_owned()]
        };
        for target in targets {
            assert!(
                anchors.contains(target.as_str()),
                "{}: docs/operations.md has no anchor `<a id=\"{target}\"></a>`",
                rule.name
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 50,
        "suspiciously few runbook anchors checked: {checked}"
    );
}

#[test]
fn catch_alls_exclude_exactly_the_covered_classes() {
    let rules = rules(&read("dashboards/alerts.yml"));
    let covered = rules
        .iter()
        .find(|r| r.name == "ses_probe:finding_covered")
        .map(|r| selected_classes(&r.expr))
        .expect("the ses_probe:finding_covered recording rule");
    let alerted: BTreeSet<String> = rules
        .iter()
        .filter(|r| r.alert && r.expr.contains("ses_probe:finding_repeated"))
        .flat_map(|r| selected_classes(&r.expr))
        .collect();
    assert_eq!(
        covered, alerted,
        "ses_probe:finding_covered and the class-based alerts disagree"
    );
}

#[test]
fn joins_and_aggregations_keep_instance_and_job() {
    let grouping = regex::Regex::new(r"\b(on|by|ignoring|without)\s*\(([^)]*)\)").unwrap();
    let alerts = alert_exprs(&read("dashboards/alerts.yml"));
    for expr in dashboard_exprs().iter().chain(&alerts) {
        for c in grouping.captures_iter(expr) {
            let labels: Vec<&str> = c[2].split(',').map(str::trim).collect();
            assert!(
                labels.contains(&"instance") && labels.contains(&"job"),
                "`{}` drops instance or job in: {expr}",
                &c[0]
            );
        }
    }
}

/// The metric names a PromQL expression uses: ses-probe's own
/// (`ses_probe_...`; recording rules' `ses_probe:...` are not served) and
/// the series Prometheus adds. Label values and names never start with
/// `ses_probe_`, so a regex is enough.
fn metric_names_in_expr(expr: &str) -> BTreeSet<String> {
    let pattern = regex::Regex::new(r"\b(ses_probe_[a-z_0-9]+|up|scrape_duration_seconds)\b")
        .expect("valid regex");
    // Drop label matchers first: `{job="up"}` names no metric.
    let matchers = regex::Regex::new(r#"\{[^}]*\}"#).expect("valid regex");
    let stripped = matchers.replace_all(expr, "{}");
    pattern
        .find_iter(&stripped)
        .map(|m| m.as_str().to_owned())
        .collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn metric_names_in_selectors_functions_and_joins() {
    assert_eq!(
        metric_names_in_expr(r#"ses_probe_finding{class="ses_probe_x", job="up"} == 1"#),
        names(&["ses_probe_finding"])
    );
    assert_eq!(
        metric_names_in_expr(
            "sum by (job, instance, class) (increase(ses_probe_findings_total[5m])) \
             / on(instance, job) group_left() up"
        ),
        names(&["ses_probe_findings_total", "up"])
    );
    assert_eq!(
        metric_names_in_expr(
            "ses_probe:finding_repeated and time() - ses_probe_last_run_timestamp_seconds > 600"
        ),
        names(&["ses_probe_last_run_timestamp_seconds"])
    );
    assert_eq!(
        metric_names_in_expr("scrape_duration_seconds{job=~\"$job\"} + uptime"),
        names(&["scrape_duration_seconds"])
    );
}
