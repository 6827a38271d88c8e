//! Text from outside, made safe to keep and to show: bounded in length,
//! read only from regular files of bounded size, and with control
//! characters escaped before it reaches a terminal.
//!
//! Servers, SDKs, pasted logs and files named in a config choose what they
//! hold; whatever of it is kept in an outcome, printed in a report or
//! logged goes through here first.

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

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

/// Read a small text file: only a regular file (a FIFO, a device or a
/// directory would block or never end), at most `max` bytes, and UTF-8.
/// The error says which of these failed, without the file's content.
pub fn read_small_file(path: &Path, max: u64) -> Result<String, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown}: not a regular file"));
    }
    if meta.len() > max {
        return Err(format!("{shown}: larger than {max} bytes"));
    }
    let file = std::fs::File::open(path).map_err(|e| format!("{shown}: {e}"))?;
    let mut buf = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("{shown}: {e}"))?;
    if buf.len() as u64 > max {
        return Err(format!("{shown}: larger than {max} bytes"));
    }
    String::from_utf8(buf).map_err(|_| format!("{shown}: not UTF-8 text"))
}

/// `s` with every control character (C0, DEL, C1) other than tab written
/// as an escape (`\u{1b}`), so text a server chose can neither move the
/// cursor, retitle the terminal, nor forge a line of a report.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn is_unsafe(c: char) -> bool {
    c != '\t' && c.is_control()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_controls("220 ok\tfine"), "220 ok\tfine");
        assert_eq!(
            escape_controls("220 \u{1b}[2J\r\nFAKE OK\u{8}\u{9b}"),
            "220 \\u{1b}[2J\\u{d}\\u{a}FAKE OK\\u{8}\\u{9b}"
        );
    }

    #[test]
    fn only_small_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "abc").unwrap();
        assert_eq!(read_small_file(&f, 3).unwrap(), "abc");
        assert!(read_small_file(&f, 2)
            .unwrap_err()
            .contains("larger than 2 bytes"));
        assert!(read_small_file(dir.path(), 10)
            .unwrap_err()
            .contains("not a regular file"));
        assert!(read_small_file(Path::new("/dev/zero"), 10)
            .unwrap_err()
            .contains("not a regular file"));
        std::fs::write(&f, [0xff, 0xfe]).unwrap();
        assert!(read_small_file(&f, 10).unwrap_err().contains("not UTF-8"));
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        let s = "ééééé";
        let t = truncate(s, 3);
        assert_eq!(t, "é...");
        assert_eq!(truncate("short", 10), "short");
    }
}
