//! Writing the generated files as block-style YAML with comments.
//!
//! The importer writes its own YAML instead of serializing structs. The
//! files then read like hand-written flows, with fields in their usual
//! order and plain scalars where safe. They can also carry comments, such
//! as the Rasa training examples kept above a flow.

use std::fmt::Write as _;

use serde_json::Value as Json;

/// A YAML document tree to write.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Yaml {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Seq(Vec<Yaml>),
    Map(Vec<Entry>),
}

/// A mapping entry with the comment lines written above it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    pub key: String,
    pub value: Yaml,
    pub comments: Vec<String>,
}

impl Yaml {
    pub fn map() -> Yaml {
        Yaml::Map(Vec::new())
    }

    #[cfg(test)]
    pub fn str(text: impl Into<String>) -> Yaml {
        Yaml::String(text.into())
    }

    /// Appends an entry to a mapping; does nothing on other values.
    pub fn push(&mut self, key: impl Into<String>, value: Yaml) {
        self.push_commented(key, value, Vec::new());
    }

    pub fn push_commented(&mut self, key: impl Into<String>, value: Yaml, comments: Vec<String>) {
        if let Yaml::Map(entries) = self {
            entries.push(Entry {
                key: key.into(),
                value,
                comments,
            });
        }
    }

    /// Builder form of [`Yaml::push`].
    pub fn with(mut self, key: impl Into<String>, value: Yaml) -> Yaml {
        self.push(key, value);
        self
    }

    pub fn from_json(value: &Json) -> Yaml {
        match value {
            Json::Null => Yaml::Null,
            Json::Bool(flag) => Yaml::Bool(*flag),
            Json::Number(number) => Yaml::Number(number.clone()),
            Json::String(text) => Yaml::String(text.clone()),
            Json::Array(items) => Yaml::Seq(items.iter().map(Yaml::from_json).collect()),
            Json::Object(entries) => Yaml::Map(
                entries
                    .iter()
                    .map(|(k, v)| Entry {
                        key: k.clone(),
                        value: Yaml::from_json(v),
                        comments: Vec::new(),
                    })
                    .collect(),
            ),
        }
    }
}

impl From<&str> for Yaml {
    fn from(text: &str) -> Yaml {
        Yaml::String(text.to_string())
    }
}

impl From<String> for Yaml {
    fn from(text: String) -> Yaml {
        Yaml::String(text)
    }
}

impl From<bool> for Yaml {
    fn from(flag: bool) -> Yaml {
        Yaml::Bool(flag)
    }
}

/// Writes a document: `header` lines become comments at the top.
pub(crate) fn to_string(document: &Yaml, header: &[String]) -> String {
    let mut out = String::new();
    for line in header {
        write_comment(&mut out, 0, line);
    }
    match document {
        Yaml::Map(entries) if !entries.is_empty() => write_entries(&mut out, entries, 0, false),
        Yaml::Seq(items) if !items.is_empty() => write_items(&mut out, items, 0),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn write_comment(out: &mut String, indent: usize, text: &str) {
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            let _ = writeln!(out, "{:indent$}#", "");
        } else {
            let _ = writeln!(out, "{:indent$}# {line}", "");
        }
    }
}

/// Writes mapping entries at `indent`. With `first_inline`, the first key
/// continues a `- ` that the caller already wrote.
fn write_entries(out: &mut String, entries: &[Entry], indent: usize, first_inline: bool) {
    for (index, entry) in entries.iter().enumerate() {
        let inline = first_inline && index == 0;
        if !inline {
            for comment in &entry.comments {
                write_comment(out, indent, comment);
            }
            let _ = write!(out, "{:indent$}", "");
        }
        out.push_str(&key(&entry.key));
        out.push(':');
        write_value(out, &entry.value, indent);
    }
}

fn write_value(out: &mut String, value: &Yaml, indent: usize) {
    match value {
        Yaml::Map(entries) if !entries.is_empty() => {
            out.push('\n');
            write_entries(out, entries, indent + 2, false);
        }
        Yaml::Seq(items) if !items.is_empty() => {
            out.push('\n');
            write_items(out, items, indent + 2);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn write_items(out: &mut String, items: &[Yaml], indent: usize) {
    for item in items {
        match item {
            Yaml::Map(entries) if !entries.is_empty() => {
                for comment in &entries[0].comments {
                    write_comment(out, indent, comment);
                }
                let _ = write!(out, "{:indent$}- ", "");
                write_entries(out, entries, indent + 2, true);
            }
            Yaml::Seq(inner) if !inner.is_empty() => {
                let _ = writeln!(out, "{:indent$}-", "");
                write_items(out, inner, indent + 2);
            }
            other => {
                let _ = writeln!(out, "{:indent$}- {}", "", scalar(other));
            }
        }
    }
}

fn key(name: &str) -> String {
    if is_plain_safe(name) {
        name.to_string()
    } else {
        quoted(name)
    }
}

fn scalar(value: &Yaml) -> String {
    match value {
        Yaml::Null => "null".to_string(),
        Yaml::Bool(flag) => flag.to_string(),
        Yaml::Number(number) => number.to_string(),
        Yaml::String(text) if is_plain_safe(text) => text.clone(),
        Yaml::String(text) => quoted(text),
        Yaml::Seq(_) => "[]".to_string(),
        Yaml::Map(_) => "{}".to_string(),
    }
}

/// Writes a double-quoted scalar. JSON's string escapes are all valid in
/// YAML's double-quoted style.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| format!("\"{}\"", text.replace('"', "\\\"")))
}

/// Returns whether `text` reads back as the same string when written
/// unquoted. The check is deliberately strict, so anything unusual is
/// quoted.
fn is_plain_safe(text: &str) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    if !(first.is_ascii_alphabetic() || first == '_' || first == '/' || first == '$') {
        return false;
    }
    if text.ends_with(' ') || text.contains("  ") {
        return false;
    }
    let allowed = |c: char| c.is_alphanumeric() || " _./$?()+;,'’-".contains(c);
    if !text.chars().all(allowed) {
        return false;
    }
    const RESERVED: [&str; 11] = [
        "true", "false", "null", "yes", "no", "on", "off", "y", "n", "nan", "inf",
    ];
    !RESERVED.contains(&text.to_ascii_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(value: &Json) -> Json {
        let text = to_string(&Yaml::from_json(value), &[]);
        tern_flow::yaml::from_str(&text)
            .unwrap_or_else(|e| panic!("cannot read back:\n{text}\n{e}"))
    }

    #[test]
    fn nested_values_read_back_unchanged() {
        let value = json!({
            "flows": {"a": {"name": "add a contact", "steps": [
                {"id": "step_1", "collect": "x", "next": [{"if": "!slots.x && slots.y == 'a'", "then": "END"}]},
                {"set_slots": {"n": 7, "f": 1.5, "b": false, "z": null, "l": [], "m": {}}},
                [1, [2]]
            ]}},
            "weird": ["@handle", "yes", "No", "END", "007", "a: b", "# x", "-1", "line\nbreak", " lead", "it's", "\"q\"", "tab\t", "ünï"]
        });
        assert_eq!(round_trip(&value), value);
    }

    #[test]
    fn comments_precede_entries_and_items() {
        let mut step = Yaml::map();
        step.push_commented("id", "step_1".into(), vec!["first step".into()]);
        step.push("collect", "name".into());
        let mut flow = Yaml::map();
        flow.push_commented("steps", Yaml::Seq(vec![step]), vec!["two\nlines".into()]);
        let text = to_string(&Yaml::map().with("flows", flow), &["header".into()]);
        assert_eq!(
            text,
            "# header\nflows:\n  # two\n  # lines\n  steps:\n    # first step\n    - id: step_1\n      collect: name\n"
        );
    }

    #[test]
    fn plain_only_where_safe() {
        assert_eq!(scalar(&Yaml::str("add a contact")), "add a contact");
        assert_eq!(scalar(&Yaml::str("END")), "END");
        assert_eq!(scalar(&Yaml::str("No")), "\"No\"");
        assert_eq!(scalar(&Yaml::str("@foo")), "\"@foo\"");
        assert_eq!(scalar(&Yaml::str("slots.x == 'a'")), "\"slots.x == 'a'\"");
    }
}
