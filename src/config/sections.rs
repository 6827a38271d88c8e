//! A configuration of thousands of targets parsed section by section, so
//! a reload after an edit parses only the sections that changed.
//!
//! Parsing is most of a load's cost at thousands of targets (about 25 ms
//! at 5,000), and the usual reload follows an edit of one target, often by
//! a configuration tool that rewrites the whole file. So the text is cut
//! before each line that is exactly a `[[target]]` header, each piece
//! (the part before the first target, then one per target) is parsed on
//! its own, and a piece seen at the last load is not parsed again.
//!
//! The answer is the whole file's parse, or `None` (the caller then parses
//! the whole file, which also yields the exact errors). That holds because
//! the pieces are only used when:
//! - every piece parses as a TOML document on its own: a cut inside a
//!   multi-line string or array leaves a piece that does not, and a piece
//!   that does ends between two expressions, where the next line starts a
//!   new one in the whole file too;
//! - every target piece holds nothing but `target` at its root: its keys and
//!   tables all belong to the array element its first line opens, as they
//!   do in the whole file;
//! - the first piece has no `target` key at all, so nothing clashes with
//!   the array the target pieces build.
//!
//! Under those conditions the whole file's expressions are the pieces'
//! expressions in order and each target's table is built from its piece
//! alone, so the two parses agree; `tests::pieces_agree_with_the_whole`
//! checks it against whole-file parses, including files that break each
//! condition.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde::Deserialize;

use super::locate::{deserialize, Seg};
use super::raw::{RawFile, RawTarget};

/// A target piece: its targets (one, unless a header was written in a way
/// the cut does not recognise) and unknown keys, with indexes counted from
/// the piece's first target.
#[derive(Debug)]
struct TargetPiece {
    targets: Vec<Arc<RawTarget>>,
    unknown: Vec<Vec<Seg>>,
}

/// The root of a target piece: `target` and nothing else (anything else
/// is an error, and the whole file is parsed instead).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetsOnly {
    target: Vec<Arc<RawTarget>>,
}

/// The target pieces of the last text parsed by pieces, by their text.
type Pieces = HashMap<Box<str>, Arc<TargetPiece>>;

fn last_pieces() -> &'static Mutex<Pieces> {
    static LAST: OnceLock<Mutex<Pieces>> = OnceLock::new();
    LAST.get_or_init(Default::default)
}

/// Whether `line` is exactly a `[[target]]` header (spaces, tabs and a
/// trailing comment allowed).
fn is_target_header(line: &str) -> bool {
    let ws: &[char] = &[' ', '\t'];
    let line = line.strip_suffix('\n').unwrap_or(line);
    let rest = line
        .strip_suffix('\r')
        .unwrap_or(line)
        .trim_start_matches(ws);
    let Some(rest) = rest.strip_prefix("[[") else {
        return false;
    };
    let Some(rest) = rest.trim_start_matches(ws).strip_prefix("target") else {
        return false;
    };
    let Some(rest) = rest.trim_start_matches(ws).strip_prefix("]]") else {
        return false;
    };
    let rest = rest.trim_start_matches(ws);
    rest.is_empty() || rest.starts_with('#')
}

/// The text before the first `[[target]]` line, then each piece from one
/// such line to the next.
fn cut(text: &str) -> (&str, Vec<&str>) {
    let mut starts = Vec::new();
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        // A header line starts with `[` or blank space: skip the rest fast.
        if matches!(line.as_bytes().first(), Some(b'[' | b' ' | b'\t')) && is_target_header(line) {
            starts.push(at);
        }
        at += line.len();
    }
    let Some(&first) = starts.first() else {
        return (text, Vec::new());
    };
    let mut pieces = Vec::with_capacity(starts.len());
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(text.len());
        pieces.push(&text[start..end]);
    }
    (&text[..first], pieces)
}

fn parse_prefix(text: &str) -> Option<(RawFile, Vec<Vec<Seg>>)> {
    // No `target` key of any kind before the first `[[target]]`.
    let root: toml::Table = toml::from_str(text).ok()?;
    if root.contains_key("target") {
        return None;
    }
    deserialize(text).ok()
}

fn parse_target_piece(text: &str) -> Option<TargetPiece> {
    let (only, unknown): (TargetsOnly, _) = deserialize(text).ok()?;
    Some(TargetPiece {
        targets: only.target,
        unknown,
    })
}

/// The parse of `text` by pieces, reusing the pieces of the last call; or
/// `None` when the pieces cannot stand for the whole file (then nothing is
/// remembered from this text).
pub(super) fn parse(text: &str) -> Option<(RawFile, Vec<Vec<Seg>>)> {
    parse_with(text, last_pieces())
}

fn parse_with(text: &str, cache: &Mutex<Pieces>) -> Option<(RawFile, Vec<Vec<Seg>>)> {
    let (prefix, pieces) = cut(text);
    if pieces.is_empty() {
        return None;
    }
    let (mut raw, mut unknown) = parse_prefix(prefix)?;
    // Held while parsing: loads are one at a time anyway, and a text that
    // cannot be parsed by pieces leaves the last good pieces in place.
    let mut last = cache.lock().unwrap_or_else(|e| e.into_inner());
    let mut now: Pieces = HashMap::with_capacity(pieces.len());
    for piece in pieces {
        let parsed = match last.get(piece).or_else(|| now.get(piece)) {
            Some(p) => p.clone(),
            None => Arc::new(parse_target_piece(piece)?),
        };
        let base = raw.targets.len();
        unknown.extend(parsed.unknown.iter().map(|path| renumber(path, base)));
        raw.targets.extend(parsed.targets.iter().cloned());
        now.insert(piece.into(), parsed);
    }
    *last = now;
    Some((raw, unknown))
}

/// A piece's unknown-key path, with its target index made the file's.
fn renumber(path: &[Seg], base: usize) -> Vec<Seg> {
    let mut path = path.to_vec();
    if let [Seg::Key(k), Seg::Index(i), ..] = path.as_mut_slice() {
        if k == "target" {
            *i += base;
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole file's parse, as the loader makes it.
    fn whole(text: &str) -> Option<(RawFile, Vec<Vec<Seg>>)> {
        deserialize(text).ok()
    }

    /// Pieces and whole agree: the same raw file and unknown keys, or the
    /// pieces decline. Each test keeps pieces of its own.
    fn agree(cache: &Mutex<Pieces>, text: &str) -> bool {
        match (parse_with(text, cache), whole(text)) {
            (Some(p), Some(w)) => {
                assert_eq!(format!("{p:?}"), format!("{w:?}"), "{text}");
                true
            }
            (Some(p), None) => panic!("pieces accepted what the whole rejects: {p:?}\n{text}"),
            (None, _) => false,
        }
    }

    fn target(n: usize) -> String {
        format!(
            "[[target]]\nname = \"t{n}\"\nregion = \"eu-west-1\"\n[target.smtp]\nhost = \"h{n}\"\nport = 587\n"
        )
    }

    #[test]
    fn the_cut_finds_only_target_headers() {
        let text = "[server]\nlisten = \"127.0.0.1:1\"\n  [[ target ]] # a\r\nname = \"a\"\n[target.smtp]\n[[targets]]\n[[target]]\nname = \"b\"\n";
        let (prefix, pieces) = cut(text);
        assert_eq!(prefix, "[server]\nlisten = \"127.0.0.1:1\"\n");
        assert_eq!(
            pieces,
            [
                "  [[ target ]] # a\r\nname = \"a\"\n[target.smtp]\n[[targets]]\n",
                "[[target]]\nname = \"b\"\n"
            ]
        );
    }

    #[test]
    fn pieces_agree_with_the_whole() {
        let mut text = "[server]\nconcurrency = 4\n".to_owned();
        for n in 0..20 {
            text.push_str(&target(n));
        }
        let cache = Mutex::default();
        assert!(agree(&cache, &text));
        // An edit: one piece changes, the rest are reused.
        let edited = text.replace("host = \"h7\"", "host = \"h7b\"\nbogus = 1");
        assert!(agree(&cache, &edited));
        let (raw, unknown) = parse_with(&edited, &cache).unwrap();
        assert_eq!(
            raw.targets[7].smtp.as_ref().unwrap().host.as_deref(),
            Some("h7b")
        );
        assert_eq!(
            unknown,
            [vec![
                Seg::Key("target".into()),
                Seg::Index(7),
                Seg::Key("smtp".into()),
                Seg::Key("bogus".into())
            ]]
        );
        // Unchanged pieces are the very same parses.
        let again = parse_with(&edited, &cache).unwrap();
        assert!(Arc::ptr_eq(&again.0.targets[3], &raw.targets[3]));
    }

    #[test]
    fn files_that_break_a_condition_are_left_to_the_whole_parse() {
        let cache = Mutex::default();
        let two = format!("{}{}", target(1), target(2));
        for text in [
            // A root table after a target: in the whole file it is the
            // root's; a piece would not say so.
            format!("{two}[server]\nconcurrency = 4\n"),
            // A `target` key before the first header.
            format!("target = []\n{two}"),
            format!("[target.smtp]\nhost = \"x\"\n{two}"),
            // A header line inside a multi-line string or array.
            format!(
                "{}note = \"\"\"\n[[target]]\n\"\"\"\n{}",
                target(1),
                target(2)
            ),
            format!("{}ports = [\n[[target]]\n]\n{}", target(1), target(2)),
            // Broken TOML, and a type error.
            format!("{two}[[target]\n"),
            two.replace("port = 587", "port = \"587\""),
            // No target at all.
            "[server]\nconcurrency = 4\n".to_owned(),
        ] {
            assert!(!agree(&cache, &text), "pieces took:\n{text}");
        }
        // A header the cut does not know (quoted) stays inside its piece,
        // which then holds two targets: still the whole file's answer.
        let quoted = format!("{}[[\"target\"]]\nname = \"q\"\n{}", target(1), target(2));
        assert!(agree(&cache, &quoted));
        assert_eq!(parse_with(&quoted, &cache).unwrap().0.targets.len(), 3);
    }

    /// Pieces of a file: good ones, and ones that break each condition.
    const FRAGMENTS: &[&str] = &[
        "[[target]]\nname = \"a\"\nregion = \"eu-west-1\"\n",
        "[[target]]\nname = \"b\"\n[target.smtp]\nhost = \"h\"\nport = 25\n",
        "  [[ target ]]  # c\r\nname = \"c\"\r\n",
        "[target.smtp]\nhost = \"x\"\n",
        "[target.api]\nidentity = true\nnope = 1\n",
        "[server]\nconcurrency = 4\n",
        "[postfix_log]\nsource = \"file\"\n",
        "bogus = 1\n",
        "target = []\n",
        "\n# [[target]]\n",
        "[[\"target\"]]\nname = \"q\"\n",
        "note = \"\"\"\n[[target]]\n\"\"\"\n",
        "ports = [\n[[target]]\n]\n",
        "[[target]]\n",
        "port = \"25\"\n",
        "x = 'broken\n",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config {
            cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256),
            failure_persistence: None,
            ..Default::default()
        })]
        /// Whatever the file, pieces give the whole file's parse or stand
        /// aside; they never accept a file the whole parse rejects.
        #[test]
        fn pieces_never_disagree(picks in proptest::collection::vec(0..FRAGMENTS.len(), 0..12)) {
            static CACHE: OnceLock<Mutex<Pieces>> = OnceLock::new();
            let text: String = picks.iter().map(|&i| FRAGMENTS[i]).collect();
            agree(CACHE.get_or_init(Default::default), &text);
        }
    }
}
