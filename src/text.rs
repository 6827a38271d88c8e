//! Text from outside, made safe to keep: bounded in length.
//!
//! Servers, SDKs and pasted logs choose what they send; whatever of it is
//! kept in an outcome, a report or a log goes through here first.

/// Cut `s` to at most `max` bytes on a character boundary.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_respects_char_boundaries() {
        let s = "ééééé";
        let t = truncate(s, 3);
        assert_eq!(t, "é...");
        assert_eq!(truncate("short", 10), "short");
    }
}
