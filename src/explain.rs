//! `ses-probe explain`: classify an error text an operator pasted, or every
//! line of a log.
//!
//! A thin layer over [`crate::diagnosis::classify_text`]: the same matchers
//! the checks use, so `explain` and a live check always agree on a class.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::diagnosis::{classify_text, Channel, Class, Details};

/// The verdict on one text. Its JSON form is a documented contract:
/// `{"class", "severity", "meaning", "remediation", "details"}`.
#[derive(Debug, Serialize)]
pub struct Explanation {
    pub class: Class,
    /// The class's severity (`ok`, `warning`, `critical`), except for
    /// `unknown`: an unrecognised text is not a diagnosis, so its severity
    /// is shown as `unknown` rather than as the `critical` a check's
    /// unrecognised failure is counted as.
    pub severity: &'static str,
    pub meaning: &'static str,
    pub remediation: &'static str,
    pub details: Details,
}

/// Classify `text`, optionally knowing which interface it came from.
pub fn explain(text: &str, channel: Option<Channel>) -> Explanation {
    let (class, details) = classify_text(text, channel);
    Explanation {
        class,
        severity: match class {
            Class::Unknown => "unknown",
            c => c.severity().as_str(),
        },
        meaning: class.meaning(),
        remediation: class.remediation(),
        details,
    }
}

impl Explanation {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("explanation serialises")
    }

    pub fn to_text(&self) -> String {
        let mut out = format!(
            "class:       {}\nseverity:    {}\nmeaning:     {}\nremediation: {}\n",
            self.class, self.severity, self.meaning, self.remediation
        );
        for (k, v) in self.details.pairs() {
            out.push_str(&format!("{:<12} {v}\n", format!("{k}:")));
        }
        out
    }
}

/// One record of a log: a line, with the indented lines that continue it
/// (Postfix wraps bounce texts, Go and Java indent the rest of an error).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// 1-based number of the record's first line in the input.
    pub line: usize,
    pub text: String,
}

/// Split `input` into records: every line that does not start with
/// whitespace starts one; blank lines end one.
pub fn records(input: &str) -> Vec<Record> {
    let mut out: Vec<Record> = Vec::new();
    let mut open = false;
    for (i, line) in input.lines().enumerate() {
        if line.trim().is_empty() {
            open = false;
            continue;
        }
        let continues = line.starts_with([' ', '\t']);
        match out.last_mut() {
            Some(last) if open && continues => {
                last.text.push('\n');
                last.text.push_str(line);
            }
            _ => out.push(Record {
                line: i + 1,
                text: line.to_owned(),
            }),
        }
        open = true;
    }
    out
}

/// The verdict on one record of a log.
#[derive(Debug, Serialize)]
pub struct LineVerdict {
    pub line: usize,
    pub text: String,
    #[serde(flatten)]
    pub explanation: Explanation,
}

/// What a log held: how many records, how many of them failures, per class.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    /// Records read (a line and its indented continuations).
    pub lines: usize,
    /// Records that report a failure (each has a verdict).
    pub failures: usize,
    /// Records that report no failure (skipped).
    pub normal: usize,
    /// Failure records per class.
    pub classes: BTreeMap<String, usize>,
}

/// Whether an unrecognised line still reads like a report of trouble (it
/// then gets an `unknown` verdict rather than being skipped as normal).
fn reads_like_failure(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    [
        "warning",
        "error",
        "fail",
        "fatal",
        "panic",
        "reject",
        "denied",
        "refused",
        "invalid",
        "unable",
        "cannot",
        "can't",
        "could not",
        "timed out",
        "deferred",
        "bounced",
    ]
    .iter()
    .any(|w| t.contains(w))
}

/// Classify every record of a log: a verdict for each failure, normal
/// lines only counted.
pub fn explain_log(input: &str, channel: Option<Channel>) -> (Vec<LineVerdict>, Summary) {
    let mut verdicts = Vec::new();
    let mut summary = Summary::default();
    for record in records(input) {
        summary.lines += 1;
        let explanation = explain(&record.text, channel);
        let failure = match explanation.class {
            Class::Ok => false,
            Class::Unknown => reads_like_failure(&record.text),
            _ => true,
        };
        if !failure {
            summary.normal += 1;
            continue;
        }
        summary.failures += 1;
        *summary
            .classes
            .entry(explanation.class.as_str().to_owned())
            .or_default() += 1;
        verdicts.push(LineVerdict {
            line: record.line,
            // Echoed log text is redacted like every text ses-probe repeats.
            text: crate::diagnosis::redact(&record.text),
            explanation,
        });
    }
    (verdicts, summary)
}

impl LineVerdict {
    /// Three lines: where and what, the text, what to do.
    pub fn to_text(&self) -> String {
        let e = &self.explanation;
        let mut head = format!("line {}: {} ({})", self.line, e.class, e.severity);
        for (k, v) in e.details.pairs() {
            if k != "raw" {
                head.push_str(&format!(" {k}={v}"));
            }
        }
        let text = crate::text::truncate(&self.text, 200);
        format!(
            "{head}\n  {}\n  -> {}\n",
            text.replace('\n', " "),
            e.remediation
        )
    }

    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("verdict serialises")
    }
}

impl Summary {
    pub fn to_text(&self) -> String {
        let classes = if self.classes.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                self.classes
                    .iter()
                    .map(|(c, n)| format!("{c}: {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        format!(
            "summary: {} lines, {} failure lines{classes}, {} normal lines skipped\n",
            self.lines, self.failures, self.normal
        )
    }

    pub fn to_json_line(&self) -> String {
        serde_json::json!({ "summary": self }).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_join_indented_continuations() {
        let r = records("a\n  b\n\nc\n\td\n  \ne\n");
        assert_eq!(
            r,
            vec![
                Record {
                    line: 1,
                    text: "a\n  b".into()
                },
                Record {
                    line: 4,
                    text: "c\n\td".into()
                },
                Record {
                    line: 7,
                    text: "e".into()
                },
            ]
        );
        // A leading blank line and an indented first line are one record.
        assert_eq!(records("\n  x\n").len(), 1);
    }

    #[test]
    fn log_verdicts_and_summary() {
        let log = "Dec 01 21:39:45 mx postfix/qmgr[1]: 03B5998D312: removed\n\
                   Dec 01 21:39:45 mx postfix/smtp[2]: 03B: to=<a@b.example>, relay=x[1.2.3.4]:587, dsn=4.0.0, status=deferred (SASL authentication failed; server x[1.2.3.4] said: 535 Authentication Credentials Invalid)\n\
                   Dec 01 21:40:04 mx postfix/smtp[3]: connect to x[1.2.3.4]:587: Connection refused\n\
                   just some text\n";
        let (v, s) = explain_log(log, None);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].line, 2);
        assert_eq!(v[0].explanation.class, Class::AuthCredentialsInvalid);
        assert_eq!(v[1].explanation.class, Class::ConnectRefused);
        assert_eq!((s.lines, s.failures, s.normal), (4, 2, 2));
        assert_eq!(s.classes.get("connect_refused"), Some(&1));
        assert!(v[0]
            .to_text()
            .starts_with("line 2: auth_credentials_invalid (critical) reply_code=535"));
        assert!(s.to_text().starts_with("summary: 4 lines, 2 failure lines (auth_credentials_invalid: 1, connect_refused: 1), 2 normal lines skipped"));
    }

    #[test]
    fn unknown_is_not_presented_as_critical() {
        let e = explain("something entirely different happened", None);
        assert_eq!(e.class, Class::Unknown);
        assert_eq!(e.severity, "unknown");
        assert!(e.to_text().contains("severity:    unknown\n"));
        assert!(e.to_json().contains("\"severity\": \"unknown\""));
    }
}
