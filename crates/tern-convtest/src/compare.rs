//! Comparing a turn's results with its expectations, and rendering the
//! differences so that a failing test explains itself.

use serde_json::Value;
use similar::TextDiff;
use tern_engine::{BotMessage, DialogueState, Event};

use crate::format::{ExpectedMessage, Turn};

pub fn compare_turn(
    turn: &Turn,
    state: &DialogueState,
    messages: &[BotMessage],
    events: &[Event],
) -> Vec<String> {
    let mut details = Vec::new();
    if let Some(expected) = &turn.bot {
        details.extend(compare_messages(expected, messages));
    }
    let expect = &turn.expect;
    for (slot, expected) in &expect.slots {
        let actual = state.slots.get(slot).cloned().unwrap_or(Value::Null);
        if !same_value(expected, &actual) {
            details.push(format!("slot `{slot}`: expected {expected}, got {actual}"));
        }
    }
    if let Some(expected) = &expect.flow {
        let actual = state.active_flow().map(String::from);
        if *expected != actual {
            details.push(format!(
                "active flow: expected {}, got {}",
                show(expected),
                show(&actual)
            ));
        }
    }
    if let Some(expected) = &expect.step {
        let actual = state.active_step().map(String::from);
        if *expected != actual {
            details.push(format!(
                "active step: expected {}, got {}",
                show(expected),
                show(&actual)
            ));
        }
    }
    if let Some(expected) = expect.handed_off
        && expected != state.handed_off
    {
        details.push(format!(
            "handed_off: expected {expected}, got {}",
            state.handed_off
        ));
    }
    details.extend(compare_events(&expect.events, events));
    details
}

/// Numbers compare by value so that `3` matches `3.0`.
fn same_value(expected: &Value, actual: &Value) -> bool {
    match (expected.as_f64(), actual.as_f64()) {
        (Some(a), Some(b)) => a == b,
        _ => expected == actual,
    }
}

fn show(value: &Option<String>) -> String {
    value
        .as_ref()
        .map(|v| format!("`{v}`"))
        .unwrap_or_else(|| "none".into())
}

fn compare_messages(expected: &[ExpectedMessage], actual: &[BotMessage]) -> Option<String> {
    let expected_text = render_expected(expected);
    let actual_text = render_actual(expected, actual);
    if expected_text == actual_text {
        return None;
    }
    let diff = TextDiff::from_lines(&expected_text, &actual_text);
    let body = diff
        .unified_diff()
        .context_radius(3)
        .header("expected", "actual")
        .to_string();
    Some(format!("bot messages differ:\n{body}"))
}

fn render_expected(expected: &[ExpectedMessage]) -> String {
    let mut out = String::new();
    for message in expected {
        out.push_str(message.text());
        out.push('\n');
        if let ExpectedMessage::WithButtons(message) = message {
            out.push_str(&format!("  buttons: [{}]\n", message.buttons.join(", ")));
        }
    }
    out
}

/// Buttons are shown for a message only where the expectation lists them,
/// so tests that do not care about buttons need not spell them out.
fn render_actual(expected: &[ExpectedMessage], actual: &[BotMessage]) -> String {
    let mut out = String::new();
    for (index, message) in actual.iter().enumerate() {
        out.push_str(&message.text);
        out.push('\n');
        if let Some(ExpectedMessage::WithButtons(_)) = expected.get(index) {
            let titles: Vec<&str> = message.buttons.iter().map(|b| b.title.as_str()).collect();
            out.push_str(&format!("  buttons: [{}]\n", titles.join(", ")));
        }
    }
    out
}

fn compare_events(expected: &[Value], actual: &[Event]) -> Option<String> {
    let actual_json: Vec<Value> = actual
        .iter()
        .map(|e| serde_json::to_value(e).unwrap_or(Value::Null))
        .collect();
    let mut position = 0;
    for wanted in expected {
        let found = actual_json[position..]
            .iter()
            .position(|event| event_matches(wanted, event));
        match found {
            Some(offset) => position += offset + 1,
            None => {
                let listed: Vec<String> = actual_json.iter().map(Value::to_string).collect();
                return Some(format!(
                    "event {wanted} not found (in order) among the turn's events:\n  {}",
                    listed.join("\n  ")
                ));
            }
        }
    }
    None
}

fn event_matches(wanted: &Value, event: &Value) -> bool {
    match wanted {
        Value::String(name) => event.get("event").and_then(Value::as_str) == Some(name),
        Value::Object(fields) => fields
            .iter()
            .all(|(key, value)| event.get(key).is_some_and(|v| same_value(value, v))),
        _ => false,
    }
}
