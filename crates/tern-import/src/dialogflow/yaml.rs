//! The Tern flows an import produces, and their YAML text.
//!
//! The YAML is written by hand rather than through a serializer so that it
//! can carry comments: the original Dialogflow text of what could not be
//! translated, and training phrases in other languages.

use std::fmt::Write as _;

use serde_json::Value;

#[derive(Debug, Default)]
pub struct Flow {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Comment lines written above the flow.
    pub comments: Vec<String>,
    pub intents: Vec<String>,
    /// Comment lines written above `nlu_trigger`.
    pub trigger_comments: Vec<String>,
    pub guard: Option<String>,
    pub persisted_slots: Vec<String>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    pub kind: Kind,
    pub next: Next,
    pub otherwise: Option<String>,
    /// Comment lines written above the step.
    pub comments: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Route,
    Collect(Box<Collect>),
    Action {
        name: String,
    },
    Response {
        text: String,
        buttons: Vec<String>,
    },
    Call(String),
    Link(String),
    SetSlots(Vec<(String, Value)>),
    Handoff {
        reason: Option<String>,
        message: Option<String>,
    },
}

#[derive(Debug, Clone, Default)]
pub struct Collect {
    pub slot: String,
    pub collect_type: Option<&'static str>,
    pub description: Option<String>,
    pub ask_before_filling: bool,
    pub options: Vec<ChoiceOption>,
    pub buttons: Vec<String>,
    pub validation: Option<Validation>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChoiceOption {
    pub value: String,
    pub synonyms: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Validation {
    pub pattern: Option<String>,
    pub message: Option<String>,
    pub max_attempts: Option<u32>,
    pub on_max_attempts: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Next {
    /// `next: STEP` or `next: END`.
    Target(String),
    Branches(Vec<Branch>),
}

#[derive(Debug, Clone)]
pub struct Branch {
    pub condition: Condition,
    pub then: String,
    pub comments: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum Condition {
    If(String),
    Semantic(String),
}

impl Step {
    pub fn new(id: impl Into<String>, kind: Kind, next: impl Into<String>) -> Self {
        Step {
            id: id.into(),
            kind,
            next: Next::Target(next.into()),
            otherwise: None,
            comments: Vec::new(),
        }
    }

    /// Returns every step id or `END` this step can go to.
    pub fn targets(&self) -> Vec<String> {
        let mut targets = Vec::new();
        if let Kind::Collect(collect) = &self.kind {
            targets.extend(
                collect
                    .validation
                    .as_ref()
                    .and_then(|v| v.on_max_attempts.clone()),
            );
        }
        if !matches!(self.kind, Kind::Link(_) | Kind::Handoff { .. }) {
            match &self.next {
                Next::Target(target) => targets.push(target.clone()),
                Next::Branches(branches) => targets.extend(branches.iter().map(|b| b.then.clone())),
            }
            targets.extend(self.otherwise.clone());
        }
        targets
    }

    /// Replaces every transition to `from` with one to `to`.
    pub fn retarget(&mut self, from: &str, to: &str) {
        let swap = |target: &mut String| {
            if target == from {
                *target = to.to_string();
            }
        };
        match &mut self.next {
            Next::Target(target) => swap(target),
            Next::Branches(branches) => branches.iter_mut().for_each(|b| swap(&mut b.then)),
        }
        if let Some(otherwise) = &mut self.otherwise {
            swap(otherwise);
        }
        if let Kind::Collect(collect) = &mut self.kind
            && let Some(target) = collect
                .validation
                .as_mut()
                .and_then(|v| v.on_max_attempts.as_mut())
        {
            swap(target);
        }
    }
}

/// The text of a flow file holding `flows`.
pub fn flows_file(flows: &[Flow]) -> String {
    let mut out = String::from("flows:\n");
    for (index, flow) in flows.iter().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        write_flow(&mut out, flow);
    }
    out
}

fn write_flow(out: &mut String, flow: &Flow) {
    comments(out, 2, &flow.comments);
    let _ = writeln!(out, "  {}:", scalar(&flow.id));
    let _ = writeln!(out, "    name: {}", scalar(&flow.name));
    let _ = writeln!(out, "    description: {}", scalar(&flow.description));
    if let Some(guard) = &flow.guard {
        let _ = writeln!(out, "    guard: {}", scalar(guard));
    }
    if !flow.persisted_slots.is_empty() {
        let _ = writeln!(
            out,
            "    persisted_slots: [{}]",
            flow.persisted_slots
                .iter()
                .map(|s| scalar(s))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !flow.intents.is_empty() || !flow.trigger_comments.is_empty() {
        comments(out, 4, &flow.trigger_comments);
    }
    if !flow.intents.is_empty() {
        out.push_str("    nlu_trigger:\n      intents:\n");
        for intent in &flow.intents {
            let _ = writeln!(out, "        - intent: {}", scalar(intent));
        }
    }
    out.push_str("    steps:\n");
    for step in &flow.steps {
        write_step(out, step);
    }
}

fn write_step(out: &mut String, step: &Step) {
    comments(out, 6, &step.comments);
    let _ = writeln!(out, "      - id: {}", scalar(&step.id));
    let pad = "        ";
    match &step.kind {
        Kind::Route => {}
        Kind::Collect(collect) => {
            let _ = writeln!(out, "{pad}collect: {}", scalar(&collect.slot));
            if let Some(kind) = collect.collect_type {
                let _ = writeln!(out, "{pad}collect_type: {kind}");
            }
            if let Some(description) = &collect.description {
                let _ = writeln!(out, "{pad}description: {}", scalar(description));
            }
            if collect.ask_before_filling {
                let _ = writeln!(out, "{pad}ask_before_filling: true");
            }
            if !collect.options.is_empty() {
                let _ = writeln!(out, "{pad}options:");
                for option in &collect.options {
                    if option.synonyms.is_empty() {
                        let _ = writeln!(out, "{pad}  - {}", scalar(&option.value));
                    } else {
                        let synonyms: Vec<String> =
                            option.synonyms.iter().map(|s| scalar(s)).collect();
                        let _ = writeln!(out, "{pad}  - value: {}", scalar(&option.value));
                        let _ = writeln!(out, "{pad}    synonyms: [{}]", synonyms.join(", "));
                    }
                }
            }
            buttons(out, &collect.buttons);
            if let Some(validation) = &collect.validation {
                let _ = writeln!(out, "{pad}validation:");
                if let Some(pattern) = &validation.pattern {
                    let _ = writeln!(out, "{pad}  pattern: {}", scalar(pattern));
                }
                if let Some(message) = &validation.message {
                    let _ = writeln!(out, "{pad}  message: {}", scalar(message));
                }
                if let Some(max) = validation.max_attempts {
                    let _ = writeln!(out, "{pad}  max_attempts: {max}");
                }
                if let Some(target) = &validation.on_max_attempts {
                    let _ = writeln!(out, "{pad}  on_max_attempts: {}", scalar(target));
                }
            }
        }
        Kind::Action { name } => {
            let _ = writeln!(out, "{pad}action: {}", scalar(name));
        }
        Kind::Response {
            text,
            buttons: list,
        } => {
            let _ = writeln!(out, "{pad}response: {}", scalar(text));
            buttons(out, list);
        }
        Kind::Call(flow) => {
            let _ = writeln!(out, "{pad}call: {}", scalar(flow));
        }
        Kind::Link(flow) => {
            let _ = writeln!(out, "{pad}link: {}", scalar(flow));
        }
        Kind::SetSlots(values) => {
            let _ = writeln!(out, "{pad}set_slots:");
            for (slot, value) in values {
                let _ = writeln!(out, "{pad}  {}: {}", scalar(slot), inline_value(value));
            }
        }
        Kind::Handoff { reason, message } => {
            if reason.is_none() && message.is_none() {
                let _ = writeln!(out, "{pad}handoff: true");
            } else {
                let _ = writeln!(out, "{pad}handoff:");
                if let Some(reason) = reason {
                    let _ = writeln!(out, "{pad}  reason: {}", scalar(reason));
                }
                if let Some(message) = message {
                    let _ = writeln!(out, "{pad}  message: {}", scalar(message));
                }
            }
        }
    }
    if matches!(step.kind, Kind::Link(_) | Kind::Handoff { .. }) {
        return;
    }
    match &step.next {
        Next::Target(target) => {
            let _ = writeln!(out, "{pad}next: {}", scalar(target));
        }
        Next::Branches(branches) => {
            let _ = writeln!(out, "{pad}next:");
            for branch in branches {
                comments(out, 10, &branch.comments);
                match &branch.condition {
                    Condition::If(condition) => {
                        let _ = writeln!(out, "{pad}  - if: {}", scalar(condition));
                    }
                    Condition::Semantic(sentence) => {
                        let _ = writeln!(out, "{pad}  - semantic_if: {}", scalar(sentence));
                    }
                }
                let _ = writeln!(out, "{pad}    then: {}", scalar(&branch.then));
            }
        }
    }
    if let Some(otherwise) = &step.otherwise {
        let _ = writeln!(out, "{pad}else: {}", scalar(otherwise));
    }
}

fn buttons(out: &mut String, list: &[String]) {
    if list.is_empty() {
        return;
    }
    let titles: Vec<String> = list.iter().map(|b| scalar(b)).collect();
    let _ = writeln!(out, "        buttons: [{}]", titles.join(", "));
}

fn comments(out: &mut String, indent: usize, lines: &[String]) {
    for line in lines {
        for part in line.lines() {
            let _ = writeln!(out, "{:indent$}# {}", "", part.trim_end());
        }
    }
}

/// A YAML scalar: plain when it is an unambiguous word, otherwise a
/// double-quoted string. YAML's double-quoted style accepts every escape
/// that JSON uses, so the JSON encoding of the string is valid YAML.
pub fn scalar(text: &str) -> String {
    let plain = !text.is_empty()
        && text.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !matches!(
            text.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        );
    if plain {
        text.to_string()
    } else {
        serde_json::to_string(text).unwrap_or_default()
    }
}

/// Any JSON value as inline YAML, which is a superset of JSON.
pub fn inline_value(value: &Value) -> String {
    match value {
        Value::String(text) => scalar(text),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_quote_what_yaml_would_misread() {
        assert_eq!(scalar("ask_name"), "ask_name");
        assert_eq!(scalar("END"), "END");
        assert_eq!(scalar("no"), "\"no\"");
        assert_eq!(scalar("True"), "\"True\"");
        assert_eq!(scalar("007"), "\"007\"");
        assert_eq!(scalar("a: b"), "\"a: b\"");
        assert_eq!(scalar("say \"hi\"\n"), "\"say \\\"hi\\\"\\n\"");
    }
}
