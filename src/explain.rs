//! `ses-probe explain`: classify an error text an operator pasted.
//!
//! A thin layer over [`crate::diagnosis::classify_text`]: the same matchers
//! the checks use, so `explain` and a live check always agree on a class.

use serde::Serialize;

use crate::diagnosis::{classify_text, Channel, Class, Details, Severity};

/// The verdict on one text. Its JSON form is a documented contract:
/// `{"class", "severity", "meaning", "remediation", "details"}`.
#[derive(Debug, Serialize)]
pub struct Explanation {
    pub class: Class,
    pub severity: Severity,
    pub meaning: &'static str,
    pub remediation: &'static str,
    pub details: Details,
}

/// Classify `text`, optionally knowing which interface it came from.
pub fn explain(text: &str, channel: Option<Channel>) -> Explanation {
    let (class, details) = classify_text(text, channel);
    Explanation {
        class,
        severity: class.severity(),
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
