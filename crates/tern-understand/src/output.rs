//! Reading the model's answer into commands and checking each one against
//! the turn's context. Whatever is wrong is dropped with a reason and never
//! reaches the engine; the engine checks again on its own.

use serde_json::Value;
use tern_engine::Command;

use crate::context::{PromptContext, slot_named};

/// A command taken out of the answer, and why.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Dropped {
    /// The command's name, or `invalid` when it could not be read.
    pub name: String,
    /// The command as the model wrote it (clipped).
    pub command: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OutputError {
    #[error("the model's answer is not JSON: {0}")]
    NotJson(String),
    #[error("the model's answer has no `commands` list")]
    NoCommands,
}

/// Most commands taken from one answer; the rest are dropped.
pub const MAX_COMMANDS: usize = 12;
const MAX_SHOWN_CHARS: usize = 200;

/// Parses the answer text. Tolerates code fences and text around the JSON
/// object, as models without structured output tend to add them.
pub fn parse_output(text: &str) -> Result<(Vec<Command>, Vec<Dropped>), OutputError> {
    let json = extract_object(text).ok_or_else(|| OutputError::NotJson(clip(text)))?;
    let value: Value =
        serde_json::from_str(json).map_err(|e| OutputError::NotJson(e.to_string()))?;
    let items = value
        .get("commands")
        .and_then(Value::as_array)
        .ok_or(OutputError::NoCommands)?;
    let mut commands = Vec::new();
    let mut dropped = Vec::new();
    for (index, item) in items.iter().enumerate() {
        if index >= MAX_COMMANDS {
            dropped.push(drop_item(
                item,
                &format!("more than {MAX_COMMANDS} commands"),
            ));
            continue;
        }
        match serde_json::from_value::<Command>(normalize(item)) {
            Ok(command) => commands.push(command),
            Err(error) => dropped.push(drop_item(item, &format!("not a valid command: {error}"))),
        }
    }
    Ok((commands, dropped))
}

fn extract_object(text: &str) -> Option<&str> {
    let start = text.find('{')?;
    let end = text.rfind('}')?;
    (start < end).then(|| &text[start..=end])
}

/// Strict-mode schemas make the model send every field; empty ones carry no
/// meaning (such as a handoff `reason` of ""), so they are removed before the
/// command is read.
fn normalize(item: &Value) -> Value {
    let mut item = item.clone();
    if let Some(map) = item.as_object_mut() {
        map.retain(|key, value| key == "command" || !(value.is_null() || value == ""));
    }
    item
}

fn drop_item(item: &Value, reason: &str) -> Dropped {
    let name = item
        .get("command")
        .and_then(Value::as_str)
        .unwrap_or("invalid");
    Dropped {
        name: clip(name),
        command: clip(&item.to_string()),
        reason: reason.to_string(),
    }
}

fn clip(text: &str) -> String {
    text.chars().take(MAX_SHOWN_CHARS).collect()
}

/// Keeps the commands the context allows, in order.
pub fn check_commands(
    context: &PromptContext,
    commands: Vec<Command>,
) -> (Vec<Command>, Vec<Dropped>) {
    let started: Vec<&str> = commands
        .iter()
        .filter_map(|c| match c {
            Command::StartFlow { flow } => Some(flow.as_str()),
            _ => None,
        })
        .collect();
    let mut kept: Vec<Command> = Vec::new();
    let mut dropped = Vec::new();
    for command in &commands {
        let verdict = check_one(context, &started, command);
        if let Err(reason) = verdict {
            let shown = serde_json::to_string(command).unwrap_or_default();
            tracing::info!(command = %shown, %reason, "dropped a command from the model");
            dropped.push(Dropped {
                name: command.name().into(),
                command: clip(&shown),
                reason,
            });
        } else if !kept.contains(command) {
            kept.push(command.clone());
        }
    }
    (kept, dropped)
}

fn check_one(context: &PromptContext, started: &[&str], command: &Command) -> Result<(), String> {
    match command {
        // The engine checks start requests itself (existence, trigger,
        // guard) and tells the user when a flow is unavailable.
        Command::StartFlow { .. } => Ok(()),
        Command::SetSlot { slot, value } => settable(context, started, slot, value),
        Command::Judge { condition, .. } => {
            let in_started_flow = context
                .flows
                .iter()
                .any(|f| started.contains(&f.id.as_str()) && f.conditions.contains(condition));
            if context.conditions.contains(condition) || in_started_flow {
                Ok(())
            } else {
                Err(format!("no condition `{condition}` is being judged"))
            }
        }
        Command::Clarify { flows } => {
            if flows.len() < 2 {
                return Err("clarification needs at least two flows".into());
            }
            flows.iter().try_for_each(|f| startable(context, f))
        }
        _ => Ok(()),
    }
}

fn startable(context: &PromptContext, flow: &str) -> Result<(), String> {
    if context.flows.iter().any(|f| f.id == flow) {
        Ok(())
    } else {
        Err(format!("flow `{flow}` cannot be started now"))
    }
}

fn settable(
    context: &PromptContext,
    started: &[&str],
    slot: &str,
    value: &Value,
) -> Result<(), String> {
    if !(value.is_string() || value.is_number() || value.is_boolean()) {
        return Err(format!(
            "value for `{slot}` must be a string, number or boolean"
        ));
    }
    // A text value for a file slot passes: the engine rejects it and asks
    // for an upload, which tells the user more than dropping it would.
    if slot_named(context, slot).is_some() {
        return Ok(());
    }
    let in_started_flow = context
        .flows
        .iter()
        .filter(|f| started.contains(&f.id.as_str()))
        .flat_map(|f| &f.slots)
        .any(|s| s.split(':').next() == Some(slot));
    if in_started_flow {
        Ok(())
    } else {
        Err(format!("no active flow collects slot `{slot}`"))
    }
}
