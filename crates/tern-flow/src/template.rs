//! Message templates in flow files, such as `Hello slots.user_name! Nice to meet you.`
//!
//! This module owns slot references in text and the rendering of slot values as text.
//! A template is plain text with bare `slots.NAME` references, without braces.
//!
//! # References
//!
//! A reference starts at `slots.` unless the char before it is an ASCII letter, digit,
//! `_` or `.`, so `myslots.x` and `a.slots.x` are plain text. The name after `slots.`
//! starts with an ASCII letter or `_` and runs up to the first char that is not an ASCII
//! letter, digit or `_`. In `Checking slots.identifier...` the name is `identifier` and
//! the dots are text. A `slots.` followed by whitespace or the end of the text is plain
//! text, because it ends a sentence ("no free slots."). A `slots.` followed by anything
//! else that is not a name (`slots.1st`, `slots.-x`) is an error.
//!
//! # Rendering
//!
//! [`render_value`] turns a slot value into text. An unset slot and `null` render as
//! an empty string, a string as itself and a bool as `yes` or `no`. Integers render
//! without a decimal point, and so do floats with a zero fraction (`7.0` renders as
//! `7`). Other floats render in the shortest form that reads back as the same `f64`,
//! without an exponent. An array renders its elements joined with `, `. An object with a
//! `name` field, such as an uploaded file, renders as that name, and any other object
//! as compact JSON.

use serde_json::{Number, Value};

use crate::expr::SlotLookup;

/// Parsed template, together with its source text. The default is the empty template.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

/// Piece of a template: literal text or a slot reference.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    /// Slot reference, with the name after `slots.`.
    Slot(String),
}

const REFERENCE_PREFIX: &str = "slots.";

/// Maximum number of chars after `slots.` quoted in an error message.
const MAX_QUOTED_CHARS: usize = 20;

impl Template {
    /// Parses a template. Fails on a `slots.` that starts a reference but is not
    /// followed by a slot name.
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut previous: Option<char> = None;
        // Byte index for slicing, and char offset for errors.
        let mut byte = 0;
        let mut offset = 0;
        while let Some(c) = source[byte..].chars().next() {
            let rest = &source[byte..];
            if !rest.starts_with(REFERENCE_PREFIX)
                || previous.is_some_and(blocks_reference)
                || ends_sentence(rest)
            {
                text.push(c);
                byte += c.len_utf8();
                offset += 1;
                previous = Some(c);
                continue;
            }
            let name = parse_reference(rest, offset)?;
            if !text.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut text)));
            }
            // `slots.NAME` is ASCII, so its length in bytes is also its length in chars.
            let reference_len = REFERENCE_PREFIX.len() + name.len();
            byte += reference_len;
            offset += reference_len;
            previous = name.chars().last();
            parts.push(Part::Slot(name.to_owned()));
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Template {
            source: source.to_owned(),
            parts,
        })
    }

    /// Slot names referenced, in order of first appearance, without duplicates.
    pub fn slot_refs(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for part in &self.parts {
            if let Part::Slot(name) = part
                && !names.contains(&name.as_str())
            {
                names.push(name);
            }
        }
        names
    }

    /// Renders the template, replacing each reference with [`render_value`] of the slot.
    /// An unset slot renders as an empty string.
    pub fn render(&self, slots: &dyn SlotLookup) -> String {
        let mut output = String::with_capacity(self.source.len());
        for part in &self.parts {
            match part {
                Part::Text(text) => output.push_str(text),
                Part::Slot(name) => {
                    if let Some(value) = slots.slot(name) {
                        output.push_str(&render_value(value));
                    }
                }
            }
        }
        output
    }

    /// Source text as passed to [`Template::parse`].
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// Returns whether a char right before `slots.` makes it plain text.
fn blocks_reference(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

/// Whether `slots.` at the start of `rest` is the end of a sentence rather
/// than a reference: nothing or whitespace follows it.
fn ends_sentence(rest: &str) -> bool {
    rest[REFERENCE_PREFIX.len()..]
        .chars()
        .next()
        .is_none_or(char::is_whitespace)
}

/// Returns the slot name of the reference at the start of `rest`, which starts with
/// `slots.`. `offset` is the char offset of `rest` in the template, for errors.
fn parse_reference(rest: &str, offset: usize) -> Result<&str, TemplateError> {
    let after_prefix = &rest[REFERENCE_PREFIX.len()..];
    let name_len = after_prefix
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(after_prefix.len());
    let name = &after_prefix[..name_len];
    let starts_well = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !starts_well {
        return Err(malformed_reference(after_prefix, offset));
    }
    Ok(name)
}

fn malformed_reference(after_prefix: &str, offset: usize) -> TemplateError {
    const FIX: &str = "`slots.` must be followed by a slot name such as `slots.user_name`";
    let found: String = after_prefix
        .chars()
        .take_while(|c| !c.is_whitespace())
        .take(MAX_QUOTED_CHARS)
        .collect();
    // Whitespace or the end of the text after `slots.` never gets here: that
    // is plain text ending a sentence.
    let message = format!("{FIX}, but found `slots.{found}`");
    TemplateError { message, offset }
}

/// Renders a slot value as text for a message. The rules are in the module
/// documentation.
pub fn render_value(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        Value::Number(number) => render_number(number),
        Value::String(text) => text.clone(),
        Value::Array(items) => {
            let rendered: Vec<String> = items.iter().map(render_value).collect();
            rendered.join(", ")
        }
        Value::Object(fields) => match fields.get("name") {
            Some(name) => render_value(name),
            None => value.to_string(),
        },
    }
}

fn render_number(number: &Number) -> String {
    match number.as_f64() {
        // Rust's `Display` for `f64` prints the shortest text that reads back as the
        // same value, without an exponent, and prints `7.0` as `7`. The tests in
        // `render_value_numbers` check this for Rust 1.95.
        Some(float) if number.is_f64() => {
            if float == 0.0 {
                "0".to_owned()
            } else {
                float.to_string()
            }
        }
        _ => number.to_string(),
    }
}

/// Malformed slot reference in a template. It displays as the message followed by the
/// 1-based position in chars, which counts line breaks as chars.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at character {}", .offset + 1)]
pub struct TemplateError {
    /// Description that quotes the text found and names the fix.
    pub message: String,
    /// Position of the reference's `slots.`, counted in chars from 0 at the start of
    /// the template.
    pub offset: usize,
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Map, json};

    use super::*;

    fn parse(source: &str) -> Template {
        match Template::parse(source) {
            Ok(template) => template,
            Err(error) => panic!("failed to parse {source:?}: {error}"),
        }
    }

    fn parse_error(source: &str) -> TemplateError {
        match Template::parse(source) {
            Ok(template) => panic!("expected an error for {source:?}, got {template:?}"),
            Err(error) => error,
        }
    }

    fn slots(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("slots must be a JSON object, got {other}"),
        }
    }

    fn render(source: &str, values: Value) -> String {
        parse(source).render(&slots(values))
    }

    #[test]
    fn renders_reference_in_text() {
        let values = json!({"user_name": "Sara"});
        let rendered = render("Hello slots.user_name! Nice to meet you.", values);
        assert_eq!(rendered, "Hello Sara! Nice to meet you.");
    }

    #[test]
    fn trailing_dots_are_text() {
        let values = json!({"identifier": "ABC-123"});
        let rendered = render("Checking violations for slots.identifier...", values);
        assert_eq!(rendered, "Checking violations for ABC-123...");
        let values = json!({"a": 1, "b": 2});
        assert_eq!(render("slots.a.slots.b", values), "1.slots.b");
    }

    #[test]
    fn reference_at_start_and_end() {
        let values = json!({"a": "x", "b": "y"});
        assert_eq!(render("slots.a and slots.b", values.clone()), "x and y");
        assert_eq!(render("slots.a", values.clone()), "x");
        // The name runs on to `aslots`, and the `.` after it ends the name.
        assert_eq!(render("slots.aslots.b", values), ".b");
    }

    #[test]
    fn adjacent_references() {
        let values = json!({"a": "x", "b": "y"});
        assert_eq!(render("slots.a-slots.b", values.clone()), "x-y");
        assert_eq!(render("(slots.a)(slots.b)", values), "(x)(y)");
    }

    #[test]
    fn prefixed_slots_is_text() {
        let values = json!({"x": "VALUE"});
        for source in [
            "myslots.x",
            "a.slots.x",
            "_slots.x",
            "9slots.x",
            "..slots.x",
        ] {
            assert_eq!(render(source, values.clone()), source, "{source}");
        }
        assert_eq!(parse("myslots.x").slot_refs(), Vec::<&str>::new());
    }

    #[test]
    fn non_ascii_before_reference_starts_it() {
        let values = json!({"x": "1"});
        assert_eq!(render("é slots.x", values.clone()), "é 1");
        assert_eq!(render("ابslots.x", values), "اب1");
    }

    #[test]
    fn arabic_text_around_references() {
        let values = json!({"user_name": "سارة", "city": "الرياض"});
        let source = "مرحبا slots.user_name، أهلا بك في slots.city.";
        assert_eq!(render(source, values), "مرحبا سارة، أهلا بك في الرياض.");
    }

    #[test]
    fn unset_slot_renders_empty() {
        assert_eq!(render("Hi slots.name!", json!({})), "Hi !");
    }

    #[test]
    fn slot_refs_in_order_without_duplicates() {
        let template = parse("slots.b, slots.a, slots.b and slots._c");
        assert_eq!(template.slot_refs(), vec!["b", "a", "_c"]);
    }

    #[test]
    fn name_stops_at_first_non_name_char() {
        let template = parse("slots.user_name2é slots.a-b slots.x\nslots.y");
        assert_eq!(template.slot_refs(), vec!["user_name2", "a", "x", "y"]);
    }

    #[test]
    fn source_is_kept_verbatim() {
        let source = "Hi slots.name, welcome";
        assert_eq!(parse(source).source(), source);
    }

    #[test]
    fn prefix_ending_a_sentence_is_text() {
        assert_eq!(render("Hello slots.", json!({})), "Hello slots.");
        assert_eq!(
            render("no free slots. Sorry", json!({})),
            "no free slots. Sorry"
        );
        assert!(parse("no free slots. Sorry").slot_refs().is_empty());
    }

    #[test]
    fn invalid_name_is_rejected() {
        let error = parse_error("Pick slots.1st option");
        assert_eq!(error.offset, 5);
        assert!(
            error.message.ends_with("but found `slots.1st`"),
            "{}",
            error.message
        );
        let error = parse_error("x slots.-");
        assert!(
            error.message.ends_with("but found `slots.-`"),
            "{}",
            error.message
        );
    }

    #[test]
    fn error_offset_counts_chars() {
        let error = parse_error("مرحبا slots.-");
        assert_eq!(error.offset, 6);
        assert_eq!(error.to_string().rsplit(" at ").next(), Some("character 7"));
    }

    #[test]
    fn error_quotes_limited_text() {
        let source = format!("slots.{}", "9".repeat(100));
        let message = parse_error(&source).message;
        let expected = format!("but found `slots.{}`", "9".repeat(MAX_QUOTED_CHARS));
        assert!(message.ends_with(&expected), "{message}");
    }

    #[test]
    fn render_value_scalars() {
        assert_eq!(render_value(&json!(null)), "");
        assert_eq!(render_value(&json!("text")), "text");
        assert_eq!(render_value(&json!("")), "");
        assert_eq!(render_value(&json!(true)), "yes");
        assert_eq!(render_value(&json!(false)), "no");
    }

    #[test]
    fn render_value_numbers() {
        let cases = [
            (json!(7), "7"),
            (json!(-42), "-42"),
            (json!(u64::MAX), "18446744073709551615"),
            (json!(7.0), "7"),
            (json!(-3.0), "-3"),
            (json!(0.0), "0"),
            (json!(-0.0), "0"),
            (json!(2.5), "2.5"),
            (json!(0.1), "0.1"),
            (json!(1.0 / 3.0), "0.3333333333333333"),
            (json!(1e21), "1000000000000000000000"),
            (json!(1.5e-7), "0.00000015"),
        ];
        for (value, expected) in cases {
            assert_eq!(render_value(&value), expected, "rendering {value}");
        }
    }

    #[test]
    fn render_value_arrays() {
        assert_eq!(render_value(&json!(["a", 1, true])), "a, 1, yes");
        assert_eq!(render_value(&json!([])), "");
        assert_eq!(render_value(&json!([["a", "b"], "c"])), "a, b, c");
        assert_eq!(
            render_value(&json!([{"name": "a.pdf"}, {"name": "b.png"}])),
            "a.pdf, b.png"
        );
    }

    #[test]
    fn render_value_objects() {
        let file = json!({"name": "report.pdf", "size": 1024, "mime": "application/pdf"});
        assert_eq!(render_value(&file), "report.pdf");
        let other = json!({"b": 1, "a": [true, null]});
        assert_eq!(render_value(&other), r#"{"b":1,"a":[true,null]}"#);
    }

    #[test]
    fn render_uses_render_value() {
        let values = json!({"n": 7.0, "ok": false, "files": [{"name": "a.pdf"}]});
        assert_eq!(render("slots.n slots.ok slots.files", values), "7 no a.pdf");
    }

    #[test]
    fn error_display_format() {
        let display = parse_error("x slots.-").to_string();
        assert!(
            display.ends_with("but found `slots.-` at character 3"),
            "{display}"
        );
    }

    /// Returns a map where each referenced slot renders as its own reference text.
    fn self_rendering_slots(template: &Template) -> Map<String, Value> {
        let mut values = Map::new();
        for name in template.slot_refs() {
            values.insert(name.to_owned(), Value::from(format!("slots.{name}")));
        }
        values
    }

    proptest! {
        #[test]
        fn parse_never_panics(source in any::<String>()) {
            if let Ok(template) = Template::parse(&source) {
                let values = self_rendering_slots(&template);
                prop_assert_eq!(template.render(&values), source);
            }
        }

        #[test]
        fn parse_never_panics_near_references(
            source in "([a-zب ._!-]|slots\\.|slots\\.[a-z_0-9]{1,3}){0,12}"
        ) {
            if let Ok(template) = Template::parse(&source) {
                let values = self_rendering_slots(&template);
                prop_assert_eq!(template.render(&values), source);
            }
        }

        #[test]
        fn text_without_references_renders_unchanged(
            source in any::<String>().prop_filter("no `slots.`", |s| !s.contains("slots."))
        ) {
            let template = parse(&source);
            prop_assert!(template.slot_refs().is_empty());
            prop_assert_eq!(template.render(&Map::new()), source);
        }

        #[test]
        fn blocked_prefixes_render_unchanged(
            parts in proptest::collection::vec("[a-zA-Z0-9_.]slots\\.[a-z]{0,3}| |ب", 0..8)
        ) {
            let source = parts.concat();
            let template = parse(&source);
            prop_assert!(template.slot_refs().is_empty());
            prop_assert_eq!(template.render(&Map::new()), source);
        }
    }
}
