//! Rasa's conversation repair patterns (`pattern_*` flows) and default
//! responses, mapped to Tern's built-in repair and its engine messages.
//!
//! Tern handles cancelling, corrections, interruptions, clarification and
//! hand-over in the engine. Where a Rasa pattern only changes the text
//! that the assistant sends, that text becomes an override in
//! `responses.yml`.

use std::collections::HashMap;

use regex::Regex;

use super::domain::Domain;
use super::flows::{FlowItem, insert_flow};
use super::model::{Flow, Next, Step, StepKind, Target};
use super::steps::StepBuilder;
use super::yaml_in::Node;
use super::{Ctx, Loc};
use crate::report::Fidelity;

/// Rasa's default responses and the engine message with the same role.
const DEFAULT_RESPONSES: [(&str, &str); 14] = [
    ("utter_flow_cancelled_rasa", "flow_cancelled"),
    ("utter_corrected_previous_input", "slot_corrected"),
    ("utter_can_do_something_else", "anything_else"),
    ("utter_ask_rephrase", "not_understood"),
    ("utter_default", "not_understood"),
    ("utter_cannot_handle", "not_understood"),
    ("utter_free_chitchat_response", "out_of_scope"),
    ("utter_human_handoff_not_available", "handoff"),
    ("utter_clarification_options_rasa", "clarify"),
    ("utter_flow_continue_interrupted", "flow_resumed"),
    ("utter_internal_error_rasa", "internal_error"),
    ("utter_boolean_slot_rejection", "invalid_value"),
    ("utter_categorical_slot_rejection", "invalid_value"),
    ("utter_float_slot_rejection", "invalid_value"),
];

/// Returns the engine message that replaces a Rasa default response.
pub(crate) fn engine_message_for(utter: &str) -> Option<&'static str> {
    DEFAULT_RESPONSES
        .iter()
        .find(|(name, _)| *name == utter)
        .map(|(_, key)| *key)
}

/// Returns the engine message that a pattern's text becomes, or the reason
/// why the pattern has no equivalent.
fn pattern_target(pattern: &str) -> Result<&'static str, &'static str> {
    match pattern {
        "pattern_cancel_flow" => Ok("flow_cancelled"),
        "pattern_completed" => Ok("anything_else"),
        "pattern_chitchat" => Ok("out_of_scope"),
        "pattern_cannot_handle" => Ok("not_understood"),
        "pattern_correction" => Ok("slot_corrected"),
        "pattern_continue_interrupted" => Ok("resume_offer"),
        "pattern_clarification" => Ok("clarify"),
        "pattern_internal_error" => Ok("internal_error"),
        "pattern_session_start" => Ok("greeting"),
        "pattern_search" => {
            Err("Tern has no knowledge-base search; add flows for the questions it should answer")
        }
        "pattern_skip_question" => {
            Err("Tern has no skip command; a user who will not answer can cancel the flow")
        }
        "pattern_code_change" => {
            Err("Tern has no special handling for flows that change during a conversation")
        }
        "pattern_user_silence" => Err("Tern does not detect silence on voice channels"),
        "pattern_repeat_bot_messages" => Err("Tern has no command to repeat the last messages"),
        "pattern_restart" => {
            Err("Tern has no restart command; the client starts a new conversation instead")
        }
        "pattern_collect_information" => Err("Tern's collect steps ask their questions themselves"),
        "pattern_validate_slot" => Err("use `validation` on collect steps instead"),
        _ => Err("not a Rasa pattern that Tern has an equivalent for"),
    }
}

/// Placeholders each engine message supports.
fn placeholders(key: &str) -> &'static [&'static str] {
    match key {
        "flow_cancelled" | "resume_offer" | "flow_resumed" | "flow_unavailable" => &["flow"],
        "clarify" => &["flows"],
        "slot_corrected" | "value_saved" => &["slot", "value"],
        "ask_slot" => &["slot"],
        "too_many_attempts" => &["slot", "flow"],
        "confirm_value" => &["value"],
        _ => &[],
    }
}

/// Returns the Rasa and Tern ids of the flow that `pattern_human_handoff`
/// becomes, when the project defines that pattern.
pub(crate) fn handoff_flow_id(patterns: &[&FlowItem]) -> Option<(String, String)> {
    patterns
        .iter()
        .any(|p| p.key.name == "pattern_human_handoff")
        .then(|| {
            (
                "pattern_human_handoff".to_string(),
                "human_handoff".to_string(),
            )
        })
}

pub(crate) fn convert(
    ctx: &mut Ctx,
    domain: &Domain,
    patterns: &[&FlowItem],
    flow_ids: &HashMap<String, String>,
) {
    for pattern in patterns {
        let loc = pattern.loc(pattern.key.line);
        let name = pattern.key.name.as_str();
        if name == "pattern_human_handoff" {
            convert_handoff(ctx, domain, pattern, flow_ids);
            continue;
        }
        let what = format!("pattern `{name}`");
        let key = match pattern_target(name) {
            Ok(key) => key,
            Err(reason) => {
                ctx.add(Fidelity::Unmapped, &loc, what, reason);
                continue;
            }
        };
        let mut notes = Vec::new();
        let texts = pattern_texts(pattern);
        let others: Vec<String> = pattern_other_steps(pattern);
        if !others.is_empty() {
            notes.push(format!(
                "its other steps ({}) are not converted because the engine does that part itself",
                others.join(", ")
            ));
        }
        // The old `pattern_continue_interrupted` only announced the resumed
        // flow. Tern sends a question first, so an announcement maps to
        // `flow_resumed` instead of `resume_offer`.
        let key = match (key, texts.first()) {
            ("resume_offer", Some((_, false))) => "flow_resumed",
            _ => key,
        };
        let Some((utter, _)) = texts.first() else {
            notes.push(format!(
                "it sends no response, so Tern keeps its default `{key}` message"
            ));
            ctx.add(Fidelity::Approximate, &loc, what, notes.join("; "));
            continue;
        };
        match set_message(ctx, domain, key, utter) {
            Ok(message_notes) => {
                notes.insert(
                    0,
                    format!(
                        "its response `{utter}` becomes the engine message `{key}` in responses.yml"
                    ),
                );
                notes.extend(message_notes);
            }
            Err(reason) => notes.insert(
                0,
                format!("Tern keeps its default `{key}` message: {reason}"),
            ),
        }
        notes.push(pattern_difference(name).to_string());
        ctx.add(Fidelity::Approximate, &loc, what, notes.join("; "));
    }
}

/// Describes how Tern's built-in behaviour differs from the pattern's.
fn pattern_difference(pattern: &str) -> &'static str {
    match pattern {
        "pattern_cancel_flow" => "Tern cancels the active flow and clears the slots it set",
        "pattern_completed" => "Tern sends it after the last running flow completes",
        "pattern_chitchat" => {
            "Tern sends this fixed text for requests outside every flow instead of a generated reply"
        }
        "pattern_cannot_handle" => {
            "Tern sends it when a message has no effect and repeats the open question"
        }
        "pattern_correction" => {
            "Tern stores the new value and goes back to the corrected question's step"
        }
        "pattern_continue_interrupted" => {
            "Tern asks whether to continue the paused flow, with Yes and No buttons"
        }
        "pattern_clarification" => "Tern lists the flow names as buttons",
        "pattern_internal_error" => {
            "Tern sends it when an action fails without `else` or the flows fail at run time"
        }
        "pattern_session_start" => {
            "Tern sends the greeting when the user greets, not when a session starts"
        }
        _ => "",
    }
}

/// Lists the responses a pattern sends, in step order, each with whether
/// it is a question (`true`, from a collect step) or a statement.
fn pattern_texts(pattern: &FlowItem) -> Vec<(String, bool)> {
    let mut texts = Vec::new();
    for step in all_steps(pattern) {
        if let Some(action) = step.get("action").and_then(Node::scalar_text)
            && action.starts_with("utter_")
        {
            texts.push((action, false));
        }
        if let Some(slot) = step.get("collect").and_then(Node::scalar_text) {
            let utter = step
                .get("utter")
                .and_then(Node::scalar_text)
                .unwrap_or_else(|| format!("utter_ask_{slot}"));
            texts.push((utter, true));
        }
    }
    texts
}

fn pattern_other_steps(pattern: &FlowItem) -> Vec<String> {
    all_steps(pattern)
        .into_iter()
        .filter_map(|step| {
            let action = step.get("action").and_then(Node::scalar_text);
            match action {
                Some(action) if !action.starts_with("utter_") => Some(format!("`{action}`")),
                _ => None,
            }
        })
        .collect()
}

fn all_steps(pattern: &FlowItem) -> Vec<&Node> {
    fn walk<'n>(list: &'n [Node], out: &mut Vec<&'n Node>) {
        for node in list {
            out.push(node);
            if let Some(next) = node.get("next") {
                for branch in next.items() {
                    for key in ["then", "else"] {
                        if let Some(nested) = branch.get(key).filter(|n| n.is_seq()) {
                            walk(nested.items(), out);
                        }
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    if let Some(steps) = pattern.node.get("steps") {
        walk(steps.items(), &mut out);
    }
    out
}

/// Stores the text of the response `utter` as the engine message `key`.
/// Returns notes on what changed, or why the text cannot be used.
fn set_message(
    ctx: &mut Ctx,
    domain: &Domain,
    key: &'static str,
    utter: &str,
) -> Result<Vec<String>, String> {
    let Some(response) = domain.responses.get(utter) else {
        return Err(format!(
            "`{utter}` is a Rasa default response that the project does not define"
        ));
    };
    let Some(source) = response.variations.iter().find_map(|v| v.text.clone()) else {
        return Err(format!("`{utter}` has no text"));
    };
    let (text, mut notes) = engine_text(&source, key)?;
    if response.variations.len() > 1 {
        notes.push("only the first variation is used".into());
    }
    if response.variations.iter().any(|v| v.rephrase) {
        notes.push("Rasa rephrases it with an LLM; Tern sends it as written".into());
    }
    ctx.used_responses.insert(utter.to_string());
    ctx.message_utters.insert(utter.to_string(), key);
    ctx.messages.insert(key, text);
    Ok(notes)
}

/// Converts a Rasa default response's text into an engine message text:
/// context variables that Tern has become its `{placeholders}`, the rest
/// is removed.
pub(crate) fn engine_text(source: &str, key: &str) -> Result<(String, Vec<String>), String> {
    if source.contains("{%") {
        return Err("the text uses Jinja statements, which engine messages cannot express".into());
    }
    let variable =
        Regex::new(r"\{\{\s*([^}]*?)\s*\}\}|\{([A-Za-z_][A-Za-z0-9_.]*)\}").expect("valid regex");
    let supported = placeholders(key);
    let mut notes = Vec::new();
    let text = variable.replace_all(source, |captures: &regex::Captures| {
        let name = captures
            .get(1)
            .or_else(|| captures.get(2))
            .map_or("", |m| m.as_str());
        let placeholder = if name.contains("flow_name")
            || name.contains("canceled_name")
            || name.ends_with("current_flow")
        {
            Some("flow")
        } else if name.contains("names") || name.contains("clarification_options") {
            Some("flows")
        } else {
            None
        };
        match placeholder {
            Some(placeholder) if supported.contains(&placeholder) => format!("{{{placeholder}}}"),
            _ => {
                notes.push(format!(
                    "`{}` has no Tern placeholder in `{key}` and is removed",
                    captures.get(0).map_or("", |m| m.as_str())
                ));
                String::new()
            }
        }
    });
    let mut text = text.trim().to_string();
    while text.contains("  ") {
        text = text.replace("  ", " ");
    }
    for punctuation in [" .", " ,", " !", " ?"] {
        text = text.replace(punctuation, &punctuation[1..]);
    }
    Ok((text, notes))
}

/// `pattern_human_handoff` becomes the flow `human_handoff`: its steps,
/// then a `handoff` step where the pattern ended.
fn convert_handoff(
    ctx: &mut Ctx,
    domain: &Domain,
    pattern: &FlowItem,
    flow_ids: &HashMap<String, String>,
) {
    let loc = pattern.loc(pattern.key.line);
    let id = "human_handoff";
    let mut flow = Flow {
        id: id.to_string(),
        name: "talk to a person".to_string(),
        description: pattern
            .node
            .get("description")
            .and_then(Node::scalar_text)
            .unwrap_or_else(|| "The user asks to talk to a person".to_string()),
        intents: vec![id.to_string()],
        guard: None,
        persisted_slots: Vec::new(),
        steps: Vec::new(),
        comments: vec![format!(
            "Imported from the Rasa pattern `pattern_human_handoff` ({}, line {}).",
            pattern.file, pattern.key.line
        )],
        loc: loc.clone(),
    };

    if let Some(steps) = pattern.node.get("steps").filter(|s| !s.items().is_empty()) {
        let mut builder = StepBuilder::new(ctx, domain, &pattern.file, id, flow_ids);
        builder.build(steps);
        flow.steps = builder.finish().0;
    }
    let hand_over = "hand_over".to_string();
    for step in &mut flow.steps {
        retarget_end(step, &hand_over);
    }
    let mut step = Step::new(
        hand_over,
        StepKind::Handoff {
            reason: None,
            message: None,
        },
        Next::Goto(Target::End),
        loc.clone(),
    );
    step.comments
        .push("Added by the importer: Tern hands the conversation to a person here.".into());
    flow.steps.push(step);

    let note = "converted to flows/human_handoff.yml, which ends with a `handoff` step; Tern also hands over on its own `handoff` command, so review whether the pattern's messages still fit (a pattern that says hand-over is unavailable now really hands over)";
    ctx.add(
        Fidelity::Approximate,
        &loc,
        "pattern `pattern_human_handoff`",
        note,
    );
    ctx.add_to_do(
        "Review flows/human_handoff.yml: Tern hands the conversation to a person at its end.",
    );
    insert_flow(ctx, flow, &loc);
}

fn retarget_end(step: &mut Step, to: &str) {
    let replace = |target: &mut Target| {
        if *target == Target::End {
            *target = Target::Step(to.to_string());
        }
    };
    match &mut step.next {
        Next::Goto(target) => replace(target),
        Next::Branches {
            branches,
            otherwise,
        } => {
            branches.iter_mut().for_each(|(_, target)| replace(target));
            if let Some(target) = otherwise {
                replace(target);
            }
        }
    }
}

/// Maps default responses that the domain redefines without a pattern,
/// such as `utter_can_do_something_else`, to their engine messages.
pub(crate) fn report_default_responses(ctx: &mut Ctx, domain: &Domain) {
    for (utter, key) in DEFAULT_RESPONSES {
        let Some(response) = domain.responses.get(utter) else {
            continue;
        };
        let loc: Loc = response.loc.clone();
        let what = format!("default response `{utter}`");
        if ctx.messages.contains_key(key) {
            continue;
        }
        match set_message(ctx, domain, key, utter) {
            Ok(notes) => {
                let mut note = format!("becomes the engine message `{key}` in responses.yml");
                if !notes.is_empty() {
                    note.push_str("; ");
                    note.push_str(&notes.join("; "));
                }
                ctx.add(Fidelity::Approximate, &loc, what, note);
            }
            Err(reason) => ctx.add(
                Fidelity::Unmapped,
                &loc,
                what,
                format!("{reason}; Tern keeps its default `{key}` message"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_variables_become_placeholders() {
        let (text, notes) = engine_text(
            "Okay, stopping {{ context.canceled_name }}.",
            "flow_cancelled",
        )
        .unwrap();
        assert_eq!(text, "Okay, stopping {flow}.");
        assert!(notes.is_empty());
        let (text, _) = engine_text(
            "Let's continue with the previous topic {flow_name}.",
            "flow_resumed",
        )
        .unwrap();
        assert_eq!(text, "Let's continue with the previous topic {flow}.");
    }

    #[test]
    fn unsupported_variables_are_removed() {
        let (text, notes) = engine_text(
            "Updated {{ context.corrected_slots }} for you.",
            "slot_corrected",
        )
        .unwrap();
        assert_eq!(text, "Updated for you.");
        assert_eq!(notes.len(), 1);
        assert!(engine_text("{% if x %}a{% endif %}", "anything_else").is_err());
    }

    #[test]
    fn patterns_map_to_engine_messages() {
        assert_eq!(pattern_target("pattern_cancel_flow"), Ok("flow_cancelled"));
        assert_eq!(pattern_target("pattern_completed"), Ok("anything_else"));
        assert_eq!(pattern_target("pattern_chitchat"), Ok("out_of_scope"));
        assert_eq!(
            pattern_target("pattern_cannot_handle"),
            Ok("not_understood")
        );
        assert_eq!(pattern_target("pattern_correction"), Ok("slot_corrected"));
        assert_eq!(
            pattern_target("pattern_continue_interrupted"),
            Ok("resume_offer")
        );
        assert_eq!(pattern_target("pattern_clarification"), Ok("clarify"));
        assert!(pattern_target("pattern_search").is_err());
        assert_eq!(
            engine_message_for("utter_flow_cancelled_rasa"),
            Some("flow_cancelled")
        );
        assert_eq!(engine_message_for("utter_greet"), None);
    }
}
