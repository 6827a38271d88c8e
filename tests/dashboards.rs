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
//! - `metric_names_*`: the PromQL tokeniser those two tests rely on.

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
    let target = variables
        .iter()
        .find(|v| v["name"] == "target")
        .expect("a `target` variable");
    assert_eq!(target["multi"], true, "`target` is multi-select");
    assert_eq!(target["includeAll"], true, "`target` offers All");
    assert_eq!(
        variable_query(target),
        "label_values(ses_probe_success, target)"
    );
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
    let unused: Vec<_> = served_metric_names()
        .into_iter()
        .filter(|m| !used.contains(m))
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

/// The `expr:` values of a rule file: plain one-line scalars, or `>-` / `|`
/// block scalars (the continuation lines are indented deeper than the key).
/// Enough YAML for our rule file; it refuses anything else.
fn alert_exprs(rules: &str) -> Vec<String> {
    let lines: Vec<&str> = rules.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut exprs = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(value) = line.trim().strip_prefix("expr:").map(str::trim) else {
            continue;
        };
        if matches!(value, ">-" | ">" | "|" | "|-") {
            let block: Vec<&str> = lines[i + 1..]
                .iter()
                .take_while(|l| l.trim().is_empty() || indent(l) > indent(line))
                .map(|l| l.trim())
                .collect();
            exprs.push(block.join(" ").trim().to_owned());
        } else {
            assert!(
                !value.starts_with(['"', '\'', '>', '|']),
                "unsupported YAML for expr: {value}"
            );
            exprs.push(value.to_owned());
        }
    }
    assert_eq!(exprs.len(), alert_names(rules).len(), "one expr per alert");
    exprs
}

/// The metric names a PromQL expression selects.
///
/// A small tokeniser: identifiers count as metric names unless they call a
/// function or aggregation (followed by `(`), are keywords or operators, or
/// sit inside strings, label matchers `{...}`, ranges `[...]`, or the label
/// list after `by`/`without`/`on`/`ignoring`/`group_left`/`group_right`.
/// Numbers and durations (`5m`, `1e3`, `0x1f`) and `$variables` are skipped.
fn metric_names_in_expr(expr: &str) -> BTreeSet<String> {
    const KEYWORDS: &[&str] = &[
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "atan2",
        "inf",
        "nan",
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "limitk",
        "limit_ratio",
    ];
    const LABEL_LIST_KEYWORDS: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let is_ident_start = |c: char| c.is_ascii_alphabetic() || c == '_' || c == ':';
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';

    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    // Skips from an opening delimiter to its matching closer, over strings.
    let skip_group = |mut i: usize, close: char| -> usize {
        let open = chars[i];
        let mut depth = 0;
        while i < chars.len() {
            match chars[i] {
                '"' | '\'' | '`' => i = skip_string(&chars, i) - 1,
                c if c == open => depth += 1,
                c if c == close => {
                    depth -= 1;
                    if depth == 0 {
                        return i + 1;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        i
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i = skip_string(&chars, i);
        } else if c == '{' {
            i = skip_group(i, '}');
        } else if c == '[' {
            i = skip_group(i, ']');
        } else if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c.is_ascii_digit() || c == '.' || c == '$' {
            // A number, a duration or a Grafana variable: one token.
            i += 1;
            while i < chars.len() && (is_ident(chars[i]) || chars[i] == '.' || chars[i] == '{') {
                if chars[i] == '{' {
                    i = skip_group(i, '}');
                } else {
                    i += 1;
                }
            }
        } else if is_ident_start(c) {
            let start = i;
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let lower = word.to_ascii_lowercase();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let calls = next < chars.len() && chars[next] == '(';
            if LABEL_LIST_KEYWORDS.contains(&lower.as_str()) {
                if calls {
                    i = skip_group(next, ')');
                }
            } else if !calls && !KEYWORDS.contains(&lower.as_str()) {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// Index just past the string literal starting at `start`.
fn skip_string(chars: &[char], start: usize) -> usize {
    let quote = chars[start];
    let mut i = start + 1;
    while i < chars.len() && chars[i] != quote {
        if chars[i] == '\\' && quote != '`' {
            i += 1;
        }
        i += 1;
    }
    i + 1
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn metric_names_plain_selectors_and_matchers() {
    assert_eq!(
        metric_names_in_expr("ses_probe_success"),
        names(&["ses_probe_success"])
    );
    assert_eq!(
        metric_names_in_expr(
            r#"ses_probe_finding{class="not_a_metric", check='smtp', x=~"a|b"} == 1"#
        ),
        names(&["ses_probe_finding"])
    );
    assert_eq!(
        metric_names_in_expr(r#"a{l="}\"{b"} + c"#),
        names(&["a", "c"])
    );
    assert_eq!(metric_names_in_expr(r#"{__name__="x"}"#), names(&[]));
    assert_eq!(
        metric_names_in_expr("job:rate5m:sum"),
        names(&["job:rate5m:sum"])
    );
}

#[test]
fn metric_names_skip_functions_aggregations_and_label_lists() {
    assert_eq!(
        metric_names_in_expr("sum by (class, target) (increase(findings_total{t=~\"a\"}[5m]))"),
        names(&["findings_total"])
    );
    assert_eq!(
        metric_names_in_expr("sum(rate(x[5m])) BY (job) / count without(instance) (y)"),
        names(&["x", "y"])
    );
    assert_eq!(
        metric_names_in_expr("a * on(target, check) group_right(class) b"),
        names(&["a", "b"])
    );
    assert_eq!(
        metric_names_in_expr("c / ignoring (phase) group_left d"),
        names(&["c", "d"])
    );
    assert_eq!(
        metric_names_in_expr("time() - last_run > 600"),
        names(&["last_run"])
    );
}

#[test]
fn metric_names_skip_keywords_numbers_durations_and_variables() {
    assert_eq!(
        metric_names_in_expr("rate(x[1h:5m] offset 1h30m) > bool 0 and y unless z or w"),
        names(&["x", "y", "z", "w"])
    );
    assert_eq!(
        metric_names_in_expr("14 * 86400 + 1e3 - 0x1f + .5 + Inf - NaN"),
        names(&[])
    );
    assert_eq!(
        metric_names_in_expr("x @ 1609746000 offset -5m"),
        names(&["x"])
    );
    assert_eq!(
        metric_names_in_expr("x[$__rate_interval] + ${target}"),
        names(&["x"])
    );
    assert_eq!(
        metric_names_in_expr("a # b is a comment\n + c"),
        names(&["a", "c"])
    );
    assert_eq!(
        metric_names_in_expr("topk (3, x) + a atan2 b"),
        names(&["x", "a", "b"])
    );
}
