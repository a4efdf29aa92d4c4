//! Reading Rasa's YAML files into a generic tree that keeps the line of
//! every value and key, so that each element in the report names its line.

use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value as Json;
use serde_saphyr::Spanned;

use crate::project::ImportError;

/// A YAML value with the 1-based line it starts on.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    pub value: Value,
    pub line: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

/// A mapping key as text, with its line. Non-text keys (numbers, booleans)
/// are kept as their YAML spelling.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Key {
    pub name: String,
    pub line: u32,
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries()
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v)
    }

    /// Returns the entries of a mapping, or none for any other value.
    pub fn entries(&self) -> &[(Key, Node)] {
        match &self.value {
            Value::Map(entries) => entries,
            _ => &[],
        }
    }

    /// Returns the items of a sequence, or none for any other value.
    pub fn items(&self) -> &[Node] {
        match &self.value {
            Value::Seq(items) => items,
            _ => &[],
        }
    }

    pub fn is_map(&self) -> bool {
        matches!(self.value, Value::Map(_))
    }

    pub fn is_seq(&self) -> bool {
        matches!(self.value, Value::Seq(_))
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(text) => Some(text),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match &self.value {
            Value::Bool(flag) => Some(*flag),
            _ => None,
        }
    }

    /// Returns a scalar as text: strings as they are, numbers and booleans
    /// in their usual spelling. Returns `None` for null, sequences and
    /// mappings.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::String(text) => Some(text.clone()),
            Value::Bool(flag) => Some(flag.to_string()),
            Value::Number(number) => Some(number.to_string()),
            _ => None,
        }
    }

    /// Converts the value to JSON, dropping the lines.
    pub fn to_json(&self) -> Json {
        match &self.value {
            Value::Null => Json::Null,
            Value::Bool(flag) => Json::Bool(*flag),
            Value::Number(number) => Json::Number(number.clone()),
            Value::String(text) => Json::String(text.clone()),
            Value::Seq(items) => Json::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => Json::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.name.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// Returns a short name of the value's YAML type, for messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "text",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// Parses one YAML file. A syntax error becomes [`ImportError::Invalid`]
/// naming `relative` and the line and column of the error.
pub(crate) fn parse(relative: &Path, text: &str) -> Result<Node, ImportError> {
    if text.trim().is_empty() {
        return Ok(Node {
            value: Value::Null,
            line: 1,
        });
    }
    serde_saphyr::from_str_with_options::<Node>(text, tern_flow::yaml::options()).map_err(|error| {
        let location = error
            .location()
            .map(|l| format!("line {} column {}", l.line(), l.column()))
            .unwrap_or_default();
        let first = error
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        let message = strip_location_prefix(&first);
        ImportError::invalid(relative, location, format!("invalid YAML: {message}"))
    })
}

/// Drops the `error: line N column M: ` prefix that serde-saphyr puts in
/// front of its messages, because the error names the location already.
fn strip_location_prefix(message: &str) -> &str {
    let message = message.strip_prefix("error: ").unwrap_or(message);
    if message.starts_with("line ")
        && let Some((_, rest)) = message.split_once(": ")
    {
        return rest;
    }
    message
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Value>::deserialize(deserializer)?;
        Ok(Node {
            value: spanned.value,
            line: spanned.referenced.line() as u32,
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

/// A key deserializes through [`Value`] so that `1:` or `true:` keys are
/// read instead of rejected.
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let node = Node { value, line: 0 };
        Ok(KeyText(
            node.scalar_text().unwrap_or_else(|| "null".to_string()),
        ))
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Value, E> {
        // NaN and infinities have no JSON number; keep their spelling.
        Ok(serde_json::Number::from_f64(value)
            .map_or_else(|| Value::String(value.to_string()), Value::Number))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_string()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Value::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<KeyText>>()? {
            let value: Node = map.next_value()?;
            let key = Key {
                name: key.value.0,
                line: key.referenced.line() as u32,
            };
            entries.push((key, value));
        }
        Ok(Value::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_lines_of_nested_values() {
        let text = "flows:\n  a:\n    steps:\n      - collect: x\n      - action: y\n";
        let node = parse(Path::new("f.yml"), text).unwrap();
        let flow = node.get("flows").unwrap().get("a").unwrap();
        let steps = flow.get("steps").unwrap().items();
        assert_eq!(steps[0].line, 4);
        assert_eq!(steps[1].line, 5);
        assert_eq!(node.get("flows").unwrap().entries()[0].0.line, 2);
    }

    #[test]
    fn reads_yaml_1_2_booleans() {
        let node = parse(Path::new("f.yml"), "a: yes\nb: True\nc: 400\n").unwrap();
        assert_eq!(node.get("a").unwrap().as_str(), Some("yes"));
        assert_eq!(node.get("b").unwrap().as_bool(), Some(true));
        assert_eq!(node.get("c").unwrap().to_json(), serde_json::json!(400));
    }

    #[test]
    fn syntax_error_names_file_and_line() {
        let error =
            parse(Path::new("data/flows.yml"), "flows:\n  a: [1,\n  b: c: d\n").unwrap_err();
        let message = error.to_string();
        assert!(message.contains("data/flows.yml"), "{message}");
        assert!(message.contains("line 3"), "{message}");
    }
}
