//! Dialogflow CX test cases (`testCases/*.json`) as Tern conversation tests.
//!
//! A CX test case gives each user message with the expected intent,
//! parameters and response messages. A Tern test gives the
//! understanding layer's commands instead, so they are derived from it:
//! a trigger intent starts its flow, a new form parameter value becomes
//! `set_slot`, and an intent matched on a page that waits for a reply
//! becomes the reply slot plus a `true` verdict on that intent's
//! `semantic_if`. Webhooks are stubbed as succeeding on every turn, because
//! CX test cases call the real webhook.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use crate::dialogflow::json::J;
use crate::dialogflow::names::slot_name;
use crate::dialogflow::text::cx_text;
use crate::dialogflow::yaml::{inline_value, scalar};
use crate::project::ImportError;
use crate::report::Fidelity;

use super::build::Ctx;

/// Converts every test case into one file, `tests/dialogflow_test_cases.yml`.
pub fn convert(ctx: &mut Ctx) -> Result<BTreeMap<String, String>, ImportError> {
    let agent = ctx.agent;
    let mut files = BTreeMap::new();
    if agent.test_cases.is_empty() {
        return Ok(files);
    }
    let mut out = String::from("# Converted from the Dialogflow CX test cases in testCases/.\n");
    out.push_str("flows: ../flows\n");
    if !ctx.actions.is_empty() {
        out.push_str("actions: ../actions.yml\n");
    }
    out.push_str("responses: ../responses.yml\ntests:\n");
    for source in &agent.test_cases {
        let node = agent.node(source);
        match convert_case(ctx, &node, &source.name)? {
            Ok(text) => {
                out.push_str(&text);
                ctx.report.add(Fidelity::Approximate, &source.file, "$", format!("test case `{}`", source.name), "a conversation test; commands are derived from the expected intents and parameters, and webhooks are stubbed as succeeding");
            }
            Err(reason) => {
                ctx.report.add(
                    Fidelity::Unmapped,
                    &source.file,
                    "$",
                    format!("test case `{}`", source.name),
                    reason,
                );
            }
        }
    }
    files.insert("dialogflow_test_cases.yml".to_string(), out);
    Ok(files)
}

/// Converts one test case. The inner error gives the reason a case cannot
/// be converted.
fn convert_case(
    ctx: &mut Ctx,
    node: &J,
    name: &str,
) -> Result<Result<String, String>, ImportError> {
    let mut out = String::new();
    let _ = writeln!(out, "  - name: {}", scalar(name));
    out.push_str("    turns:\n");
    let mut previous_params: BTreeMap<String, Value> = BTreeMap::new();
    let mut previous_page: Option<String> = None;
    let mut active_flow: Option<String> = None;
    let turns = node.array("testCaseConversationTurns")?;
    if turns.is_empty() {
        return Ok(Err("the test case has no conversation turns".into()));
    }
    for turn in turns {
        let input = turn.object("userInput")?.and_then(|u| u.get("input"));
        let Some(text) = input
            .as_ref()
            .and_then(|i| i.value.get("text"))
            .and_then(|t| t.get("text"))
            .and_then(|t| t.as_str())
        else {
            return Ok(Err(format!(
                "turn {} sends an event or DTMF instead of text, which Tern tests cannot express",
                turn.path
            )));
        };
        let output = turn.object("virtualAgentOutput")?;
        let intent = output
            .as_ref()
            .and_then(|o| o.value.get("triggeredIntent"))
            .and_then(|i| i.get("displayName"))
            .and_then(|n| n.as_str())
            .map(str::trim);
        let page = output
            .as_ref()
            .and_then(|o| o.value.get("currentPage"))
            .and_then(|p| p.get("displayName"))
            .and_then(|n| n.as_str())
            .map(str::trim);
        let params: BTreeMap<String, Value> = output
            .as_ref()
            .and_then(|o| o.value.get("sessionParameters"))
            .and_then(|p| p.as_object())
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();

        let mut commands = Vec::new();
        let mut judgements = Vec::new();
        if let Some(intent) = intent {
            if let Some(flow) = ctx.triggers.get(intent).filter(|_| active_flow.is_none()) {
                commands.push(format!("start_flow: {}", scalar(flow)));
                active_flow = Some(flow.clone());
            } else if let Some((_, _, slot)) = previous_page.as_ref().and_then(|p| wait_of(ctx, p))
            {
                commands.push(format!("set_slot: {{{}: {}}}", scalar(&slot), scalar(text)));
                if let Some(sentence) = ctx.semantic.get(intent) {
                    judgements.push(sentence.clone());
                }
            }
        }
        for (key, value) in &params {
            if previous_params.get(key) == Some(value) || !is_collected(ctx, &slot_name(key)) {
                continue;
            }
            commands.push(format!(
                "set_slot: {{{}: {}}}",
                scalar(&slot_name(key)),
                inline_value(&normalise(value))
            ));
        }
        previous_params = params;

        let _ = writeln!(out, "      - user: {}", scalar(text));
        if commands.is_empty() {
            out.push_str("        commands: []\n");
        } else {
            out.push_str("        commands:\n");
            for command in &commands {
                let _ = writeln!(out, "          - {command}");
            }
        }
        if !ctx.actions.is_empty() {
            out.push_str("        actions:\n");
            for action in ctx.actions.keys() {
                let _ = writeln!(out, "          {}: {{result: true}}", scalar(action));
            }
        }
        if !judgements.is_empty() {
            out.push_str("        judgements:\n");
            for sentence in &judgements {
                let _ = writeln!(out, "          {}: true", scalar(sentence));
            }
        }
        let mut messages = Vec::new();
        if let Some(output) = &output {
            for response in output.array("textResponses")? {
                for text in response.strings("text")? {
                    messages.push(cx_text(text).text);
                }
            }
        }
        out.push_str("        bot:");
        if messages.is_empty() {
            out.push_str(" []\n");
        } else {
            out.push('\n');
            for message in &messages {
                let _ = writeln!(out, "          - {}", scalar(message));
            }
        }
        let ended = page.is_some_and(|p| {
            matches!(
                p.to_ascii_uppercase().replace(' ', "_").as_str(),
                "END_SESSION" | "END_FLOW"
            )
        });
        if ended {
            out.push_str("        expect: {flow: null}\n");
            active_flow = None;
        } else if let Some(flow) = page.and_then(|p| flow_of_page(ctx, p)) {
            let _ = writeln!(out, "        expect: {{flow: {}}}", scalar(&flow));
        }
        previous_page = page.map(str::to_string);
    }
    Ok(Ok(out))
}

/// Finds the wait step of a page by its display name, in any flow.
fn wait_of(ctx: &Ctx, page: &str) -> Option<(String, String, String)> {
    ctx.waits
        .iter()
        .find(|((_, p), _)| p == page)
        .map(|(_, wait)| wait.clone())
}

/// Returns the id of the Tern flow that contains a page.
fn flow_of_page(ctx: &Ctx, page: &str) -> Option<String> {
    let agent = ctx.agent;
    agent
        .flows
        .iter()
        .find(|f| f.pages.iter().any(|p| p.name == page))
        .map(|f| ctx.flow_ids[&f.flow.name].clone())
}

fn is_collected(ctx: &Ctx, slot: &str) -> bool {
    ctx.forms
        .values()
        .flatten()
        .any(|(_, _, collected)| collected == slot)
}

/// CX writes dates as `{year, month, day}`; Tern's date slots take text.
fn normalise(value: &Value) -> Value {
    let number = |key: &str| value.get(key).and_then(Value::as_f64);
    match (number("year"), number("month"), number("day")) {
        (Some(year), Some(month), Some(day)) => {
            Value::String(format!("{year:04}-{month:02}-{day:02}"))
        }
        _ => value.clone(),
    }
}
