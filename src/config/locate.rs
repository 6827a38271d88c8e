//! Where a key is: dotted key paths and their line numbers in the file.
//!
//! serde reports where a *type* error is, but validation errors (a missing
//! file, a bad duration) are found later, on values; a span-keeping parse of
//! the same text maps their key paths back to lines so that every problem
//! reads `file:line: key: message`.

/// A key path segment.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Seg {
    Key(String),
    Index(usize),
}

/// Deserialize TOML `text` into `T`, with the path of every key `T` does
/// not know (reported as unknown keys, not rejected by serde).
pub(super) fn deserialize<T: serde::de::DeserializeOwned>(
    text: &str,
) -> Result<(T, Vec<Vec<Seg>>), toml::de::Error> {
    let mut unknown = Vec::new();
    let de = toml::Deserializer::parse(text)?;
    let value = serde_ignored::deserialize(de, |p| unknown.push(segs(&p)))?;
    Ok((value, unknown))
}

fn segs(p: &serde_ignored::Path<'_>) -> Vec<Seg> {
    use serde_ignored::Path;
    match p {
        Path::Root => Vec::new(),
        Path::Seq { parent, index } => {
            let mut v = segs(parent);
            v.push(Seg::Index(*index));
            v
        }
        Path::Map { parent, key } => {
            let mut v = segs(parent);
            v.push(Seg::Key(key.clone()));
            v
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => segs(parent),
    }
}

pub(super) fn path_string(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// Maps key paths to line numbers using a span-keeping parse of the text.
pub(super) struct Locator {
    pub(super) origin: String,
    text: String,
    /// The span-keeping parse, made on the first problem to locate: a
    /// valid file (every reload of a large config) never pays for it.
    doc: std::sync::OnceLock<Option<toml_edit::ImDocument<String>>>,
    line_starts: Vec<usize>,
}

impl Locator {
    pub(super) fn new(text: &str, origin: &str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Locator {
            origin: origin.to_owned(),
            text: text.to_owned(),
            doc: std::sync::OnceLock::new(),
            line_starts,
        }
    }

    fn doc(&self) -> Option<&toml_edit::ImDocument<String>> {
        self.doc
            .get_or_init(|| toml_edit::ImDocument::parse(self.text.clone()).ok())
            .as_ref()
    }

    pub(super) fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset)
    }

    /// The key path of the value at byte `offset` (where a type error
    /// points), or of the table whose header is there.
    pub(super) fn path_at(&self, offset: usize) -> Option<Vec<Seg>> {
        let doc = self.doc()?;
        let mut path = Vec::new();
        table_path_at(doc.as_table(), offset, &mut path).then_some(path)
    }

    /// Line of the deepest part of `path` present in the file: the key
    /// itself, or the table that should have held it.
    pub(super) fn line(&self, path: &[Seg]) -> Option<usize> {
        let doc = self.doc()?;
        let mut node = Node::Table(doc.as_table());
        let mut best = None;
        for seg in path {
            let (span, next) = match (node, seg) {
                (Node::Table(t), Seg::Key(k)) => match t.get_key_value(k) {
                    Some((key, item)) => (key.span().or_else(|| item.span()), Node::of_item(item)),
                    None => break,
                },
                (Node::Inline(t), Seg::Key(k)) => match t.get_key_value(k) {
                    Some((key, value)) => (key.span(), Node::of_item(value)),
                    None => break,
                },
                (Node::Array(a), Seg::Index(i)) => match a.get(*i) {
                    Some(t) => (t.span(), Node::Table(t)),
                    None => break,
                },
                _ => break,
            };
            if let Some(span) = span {
                best = Some(self.line_of(span.start));
            }
            node = next;
        }
        best
    }
}

/// A place in the span-keeping document.
#[derive(Clone, Copy)]
enum Node<'a> {
    Table(&'a toml_edit::Table),
    Inline(&'a toml_edit::InlineTable),
    Array(&'a toml_edit::ArrayOfTables),
    Leaf,
}

impl<'a> Node<'a> {
    fn of_item(item: &'a toml_edit::Item) -> Node<'a> {
        match item {
            toml_edit::Item::Table(t) => Node::Table(t),
            toml_edit::Item::ArrayOfTables(a) => Node::Array(a),
            toml_edit::Item::Value(v) => Node::of_value(v),
            toml_edit::Item::None => Node::Leaf,
        }
    }

    fn of_value(value: &'a toml_edit::Value) -> Node<'a> {
        match value {
            toml_edit::Value::InlineTable(t) => Node::Inline(t),
            _ => Node::Leaf,
        }
    }
}
/// `base` with one more key.
pub(super) fn key(base: &[Seg], k: &str) -> Vec<Seg> {
    let mut v = base.to_vec();
    v.push(Seg::Key(k.to_owned()));
    v
}

fn contains(span: Option<std::ops::Range<usize>>, offset: usize) -> bool {
    span.is_some_and(|s| s.contains(&offset))
}

/// Push the path to the item at `offset` inside `t`; whether found.
fn table_path_at(t: &toml_edit::Table, offset: usize, path: &mut Vec<Seg>) -> bool {
    for (k, item) in t.iter() {
        path.push(Seg::Key(k.to_owned()));
        let found = match item {
            toml_edit::Item::Value(v) => value_path_at(v, offset, path),
            toml_edit::Item::Table(t) => {
                table_path_at(t, offset, path) || contains(t.span(), offset)
            }
            toml_edit::Item::ArrayOfTables(a) => a.iter().enumerate().any(|(i, t)| {
                path.push(Seg::Index(i));
                let found = table_path_at(t, offset, path) || contains(t.span(), offset);
                if !found {
                    path.pop();
                }
                found
            }),
            toml_edit::Item::None => false,
        };
        if found {
            return true;
        }
        path.pop();
    }
    false
}

fn value_path_at(v: &toml_edit::Value, offset: usize, path: &mut Vec<Seg>) -> bool {
    if !contains(v.span(), offset) {
        return false;
    }
    if let toml_edit::Value::InlineTable(t) = v {
        for (k, inner) in t.iter() {
            path.push(Seg::Key(k.to_owned()));
            if value_path_at(inner, offset, path) {
                return true;
            }
            path.pop();
        }
    }
    true
}

/// `text` without the key at `path`, or `None` if it is not there (or
/// is an array element, which is never removed).
pub(super) fn without(text: &str, path: &[Seg]) -> Option<String> {
    let mut doc: toml_edit::DocumentMut = text.parse().ok()?;
    let (Seg::Key(last), parents) = path.split_last()? else {
        return None;
    };
    let mut item = doc.as_item_mut();
    for seg in parents {
        item = match seg {
            Seg::Key(k) => item.get_mut(k.as_str())?,
            Seg::Index(i) => item.get_mut(*i)?,
        };
    }
    item.as_table_like_mut()?.remove(last)?;
    Some(doc.to_string())
}
