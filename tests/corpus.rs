//! The error-text corpus (`tests/corpus/*.jsonl`) through the library's
//! `explain`, the function the `explain` subcommand calls: accuracy per
//! group, every miss printed, and three hard rules: at least 97% overall,
//! no failure text classed `ok`, no `ok` text classed as a failure.

use std::collections::BTreeMap;

use ses_probe::diagnosis::Class;
use ses_probe::explain::explain;

const MIN_ACCURACY: f64 = 0.97;

struct Entry {
    file: String,
    line: usize,
    text: String,
    class: Class,
    group: String,
}

fn corpus() -> Vec<Entry> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("tests/corpus")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let body = std::fs::read_to_string(&path).expect("read corpus file");
        for (i, line) in body.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let at = format!("{name}:{}", i + 1);
            let v: serde_json::Value = match serde_json::from_str(line) {
                Ok(v) => v,
                Err(e) => {
                    bad.push(format!("{at}: not JSON: {e}"));
                    continue;
                }
            };
            let field = |k: &str| v[k].as_str().unwrap_or("").to_owned();
            if field("source").trim().is_empty() {
                bad.push(format!("{at}: no source"));
            }
            if field("group").trim().is_empty() {
                bad.push(format!("{at}: no group"));
            }
            if field("text").trim().is_empty() {
                bad.push(format!("{at}: no text"));
            }
            let Some(class) = Class::from_name(&field("class")) else {
                bad.push(format!("{at}: unknown class {:?}", field("class")));
                continue;
            };
            out.push(Entry {
                file: name.clone(),
                line: i + 1,
                text: field("text"),
                class,
                group: field("group"),
            });
        }
    }
    assert!(bad.is_empty(), "corpus format:\n  {}", bad.join("\n  "));
    out
}

#[test]
fn corpus_accuracy() {
    let entries = corpus();
    assert!(entries.len() >= 300, "only {} corpus lines", entries.len());
    let mut per_group: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut misses = Vec::new();
    let mut fatal = Vec::new();
    for e in &entries {
        let got = explain(&e.text, None).class;
        let tally = per_group.entry(&e.group).or_default();
        tally.1 += 1;
        if got == e.class {
            tally.0 += 1;
            continue;
        }
        let miss = format!(
            "{}:{} [{}] expected {}, got {got}: {}",
            e.file,
            e.line,
            e.group,
            e.class,
            e.text.chars().take(200).collect::<String>().escape_debug()
        );
        if (got == Class::Ok) != (e.class == Class::Ok) {
            fatal.push(miss.clone());
        }
        misses.push(miss);
    }
    let right: usize = per_group.values().map(|t| t.0).sum();
    let accuracy = right as f64 / entries.len() as f64;
    println!("corpus accuracy per group:");
    for (group, (ok, all)) in &per_group {
        println!(
            "  {group:<14} {ok:>3}/{all:<3} {:>6.1}%",
            100.0 * *ok as f64 / *all as f64
        );
    }
    println!(
        "  {:<14} {right:>3}/{:<3} {:>6.1}%",
        "overall",
        entries.len(),
        100.0 * accuracy
    );
    if !misses.is_empty() {
        println!("misses:\n  {}", misses.join("\n  "));
    }
    assert!(
        fatal.is_empty(),
        "failure texts classed ok or ok texts classed as failures:\n  {}",
        fatal.join("\n  ")
    );
    assert!(
        accuracy >= MIN_ACCURACY,
        "corpus accuracy {:.1}% is below {:.0}%",
        100.0 * accuracy,
        100.0 * MIN_ACCURACY
    );
}
