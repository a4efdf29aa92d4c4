//! Reading a slot value out of a test message, for turns where Rasa's test
//! does not say which value its LLM extracted.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value as Json;

use crate::rasa::domain::Slot;

static NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"-?\d+(?:\.\d+)?").expect("valid regex"));
static HANDLE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"@[\w.]+").expect("valid regex"));
static QUOTED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#""([^"]+)"|'([^']+)'"#).expect("valid regex"));

/// Reads an English yes/no word as Tern's boolean collect type does.
pub(crate) fn yes_no(message: &str) -> Option<bool> {
    let word = message
        .trim()
        .trim_end_matches(['.', '!', '?', ','])
        .to_lowercase();
    match word.as_str() {
        "yes" | "y" | "yeah" | "yep" | "sure" | "ok" | "okay" | "true" | "correct" | "right" => {
            Some(true)
        }
        "no" | "n" | "nope" | "nah" | "false" | "wrong" | "incorrect" => Some(false),
        _ => None,
    }
}

/// Reads a value for `slot` from `message` by the slot's Rasa type: a
/// number, a yes/no word, a listed value, or for text a handle, a quoted
/// part or the capitalized words after the first word. Returns `None` when
/// nothing fits.
pub(crate) fn infer_value(slot: Option<&Slot>, message: &str) -> Option<Json> {
    match slot.map(|s| s.kind.as_str()) {
        Some("float") => NUMBER.find(message).and_then(|m| number(m.as_str())),
        Some("bool") => yes_no(message).map(Json::Bool),
        Some("categorical") => {
            let lower = message.to_lowercase();
            slot?
                .values
                .iter()
                .find(|v| {
                    lower.contains(&v.to_lowercase().replace('_', " "))
                        || lower.contains(&v.to_lowercase())
                })
                .map(|v| Json::String(v.clone()))
        }
        _ => text_value(message).map(Json::String),
    }
}

fn number(text: &str) -> Option<Json> {
    text.parse::<i64>().map(Json::from).ok().or_else(|| {
        text.parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Json::Number)
    })
}

fn text_value(message: &str) -> Option<String> {
    if let Some(handle) = HANDLE.find(message) {
        return Some(handle.as_str().to_string());
    }
    if let Some(captures) = QUOTED.captures(message) {
        return captures
            .get(1)
            .or_else(|| captures.get(2))
            .map(|m| m.as_str().to_string());
    }
    let words: Vec<&str> = message.split_whitespace().collect();
    let mut best: Vec<&str> = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for word in words.iter().skip(1) {
        let clean = word.trim_matches(|c: char| !c.is_alphanumeric());
        let capitalized = clean.chars().next().is_some_and(char::is_uppercase) && clean != "I";
        if capitalized {
            current.push(clean);
        } else {
            if current.len() > best.len() {
                best = std::mem::take(&mut current);
            }
            current.clear();
        }
    }
    if current.len() > best.len() {
        best = current;
    }
    if !best.is_empty() {
        return Some(best.join(" "));
    }
    let trimmed = message.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rasa::Loc;
    use serde_json::json;

    fn slot(kind: &str, values: &[&str]) -> Slot {
        Slot {
            name: "s".into(),
            kind: kind.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
            initial_value: None,
            mappings: Vec::new(),
            loc: Loc {
                file: "domain.yml".into(),
                line: 1,
            },
        }
    }

    #[test]
    fn values_by_slot_type() {
        let message = "I want to send 400 dollars to James";
        assert_eq!(
            infer_value(Some(&slot("float", &[])), message),
            Some(json!(400))
        );
        assert_eq!(
            infer_value(Some(&slot("text", &[])), message),
            Some(json!("James"))
        );
        assert_eq!(
            infer_value(Some(&slot("text", &[])), "Remove contact @MaryLu"),
            Some(json!("@MaryLu"))
        );
        assert_eq!(
            infer_value(Some(&slot("bool", &[])), "Yes!"),
            Some(json!(true))
        );
        assert_eq!(infer_value(Some(&slot("bool", &[])), "maybe"), None);
        assert_eq!(
            infer_value(
                Some(&slot("categorical", &["lost", "never_received"])),
                "it was never received"
            ),
            Some(json!("never_received"))
        );
        assert_eq!(
            infer_value(None, "it's for Jane Foo please"),
            Some(json!("Jane Foo"))
        );
    }
}
