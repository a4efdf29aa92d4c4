//! Deriving each user turn's commands from a Rasa conversation, and the
//! expectations that the converted flows meet.
//!
//! The commands are what Tern's understanding layer would return for the
//! message: the flow that the next expected response belongs to, the slots
//! Rasa set after the message, `cancel` when Rasa cancelled, and answers to
//! the open question read from buttons and yes/no words. The turn then runs
//! in Tern's engine. Its messages become the test's `bot` expectation only
//! when every response the Rasa test expected is among them, in order.
//! Otherwise the test checks slots, flow and step instead, and the
//! difference goes into the report.

use indexmap::IndexMap;
use serde_json::Value as Json;
use tern_engine::{BotMessage, Command, DialogueState, Event, Waiting};

use super::assistant::{Assistant, TurnRun};
use super::infer::{infer_value, yes_no};
use super::script::{Expected, Script, ScriptTurn};
use crate::rasa::classic::built_in_command;
use crate::rasa::identifier;
use crate::rasa::responses::{Payload, parse_payload};

/// Maximum number of values that one turn may fill in ahead of their
/// questions.
const MAX_INFERRED_VALUES: usize = 6;

/// A converted turn.
#[derive(Clone, Debug)]
pub(crate) struct DerivedTurn {
    pub line: u32,
    pub user: String,
    pub commands: Vec<Command>,
    pub stubs: IndexMap<String, Json>,
    /// Set when every expected response was found.
    pub bot: Option<Vec<BotMessage>>,
    pub expect_slots: IndexMap<String, Json>,
    pub expect_flow: Option<String>,
    pub expect_step: Option<String>,
    /// Assumptions the turn makes and checks it could not make.
    pub notes: Vec<String>,
    /// Whether the turn's expected responses were all found.
    pub matched: bool,
}

pub(crate) fn derive(assistant: &Assistant, script: &Script) -> Vec<DerivedTurn> {
    let mut state = DialogueState {
        slots: script.slots.clone(),
        ..DialogueState::default()
    };
    let mut turns = Vec::new();
    for turn in &script.turns {
        let (derived, next) = derive_turn(assistant, &state, turn);
        state = next;
        turns.push(derived);
    }
    turns
}

fn derive_turn(
    assistant: &Assistant,
    state: &DialogueState,
    turn: &ScriptTurn,
) -> (DerivedTurn, DialogueState) {
    let mut notes = Vec::new();
    let expected: Vec<Expected> = turn
        .bot
        .iter()
        .filter(|e| !assistant.is_silenced(e))
        .cloned()
        .collect();
    if expected.len() < turn.bot.len() {
        notes
            .push("a default response that responses.yml switches off is not expected".to_string());
    }

    let mut commands = base_commands(assistant, state, turn, &expected, &mut notes);
    let (run, stubs) =
        run_with_inferred_values(assistant, state, turn, &expected, &mut commands, &mut notes);
    for (action, value) in &stubs {
        let known = turn.slots_set.iter().any(|(slot, v)| {
            Some(slot) == assistant.result_slots.get(action) && v.as_ref() == Some(value)
        });
        if !known {
            notes.push(format!("the stubbed result {value} of `{action}` was chosen to reproduce the Rasa conversation; replace it with a realistic value"));
        }
    }
    if !run.unstubbed.is_empty() {
        notes.push(format!(
            "no result could be chosen for {}",
            run.unstubbed.join(", ")
        ));
    }

    let matched = matched_count(assistant, &expected, &run.messages) == expected.len();
    let mut derived = DerivedTurn {
        line: turn.line,
        user: turn.user.clone(),
        commands,
        stubs: stubs
            .into_iter()
            .filter(|(a, _)| run.actions_called.contains(a))
            .collect(),
        bot: None,
        expect_slots: IndexMap::new(),
        expect_flow: None,
        expect_step: None,
        notes,
        matched,
    };
    expect_messages(assistant, &expected, &run, &mut derived);
    expect_slots(turn, &run, &mut derived);
    (derived, run.state)
}

/// Runs the turn, adding a `set_slot` for each question that the flow
/// stops at although Rasa went past it: the message must have given that
/// value already.
fn run_with_inferred_values(
    assistant: &Assistant,
    state: &DialogueState,
    turn: &ScriptTurn,
    expected: &[Expected],
    commands: &mut Vec<Command>,
    notes: &mut Vec<String>,
) -> (TurnRun, IndexMap<String, Json>) {
    let mut inferred = 0;
    loop {
        let (run, stubs) = choose_stubs(assistant, state, commands, expected, turn);
        if matched_count(assistant, expected, &run.messages) == expected.len()
            || inferred >= MAX_INFERRED_VALUES
        {
            break (run, stubs);
        }
        // The flow stopped at a question that Rasa did not ask, so the
        // message must have answered it already.
        let asked = assistant.pending_collect(&run.state).cloned();
        let Some(asked) = asked else {
            break (run, stubs);
        };
        let rasa_asked = asked
            .utter
            .as_ref()
            .is_some_and(|u| expected.contains(&Expected::Utter(u.clone())));
        let already = commands
            .iter()
            .any(|c| matches!(c, Command::SetSlot { slot, .. } if *slot == asked.slot));
        if expected.is_empty() || rasa_asked || already {
            break (run, stubs);
        }
        let Some(value) = infer_value(assistant.slots.get(&asked.slot), &turn.user) else {
            break (run, stubs);
        };
        notes.push(format!("the value {value} for `{}` is inferred from the message, because Rasa did not ask for it", asked.slot));
        commands.push(Command::SetSlot {
            slot: asked.slot.clone(),
            value,
        });
        inferred += 1;
    }
}

/// Sets the `bot` expectation when every expected response was found, or
/// else the flow and step that Rasa's last expected response implies.
fn expect_messages(
    assistant: &Assistant,
    expected: &[Expected],
    run: &TurnRun,
    derived: &mut DerivedTurn,
) {
    if derived.matched && !expected.is_empty() {
        derived.bot = Some(run.messages.clone());
        let positions = matched_positions(assistant, expected, &run.messages);
        let extra: Vec<String> = run
            .messages
            .iter()
            .enumerate()
            .filter(|(index, _)| !positions.contains(index))
            .map(|(_, m)| format!("{:?}", m.text))
            .collect();
        if !extra.is_empty() {
            derived.notes.push(format!(
                "Tern also sends {}, which the Rasa test does not list",
                extra.join(", ")
            ));
        }
    } else if !derived.matched {
        let sent: Vec<String> = run
            .messages
            .iter()
            .map(|m| format!("{:?}", m.text))
            .collect();
        let wanted: Vec<String> = expected.iter().map(Expected::describe).collect();
        derived.notes.push(format!(
            "Rasa expected {} but Tern sends [{}]",
            wanted.join(", "),
            sent.join(", ")
        ));
        expect_position(assistant, expected, run, derived);
    }
}

/// Commands read from the turn before running it.
fn base_commands(
    assistant: &Assistant,
    state: &DialogueState,
    turn: &ScriptTurn,
    expected: &[Expected],
    notes: &mut Vec<String>,
) -> Vec<Command> {
    let mut commands = Vec::new();
    let engine_keys: Vec<&str> = expected
        .iter()
        .filter_map(|e| match e {
            Expected::Utter(name) => assistant.engine_key(name),
            Expected::Text(_) => None,
        })
        .collect();
    let intent_command = turn.intent.as_deref().and_then(built_in_command);
    let intent_flows = turn
        .intent
        .as_ref()
        .and_then(|i| assistant.flow_intents.get(i))
        .cloned()
        .unwrap_or_default();
    if engine_keys.contains(&"flow_cancelled") || intent_command == Some("cancel") {
        commands.push(Command::Cancel);
    }
    if intent_flows.is_empty()
        && (engine_keys.contains(&"handoff") || intent_command == Some("handoff"))
    {
        commands.push(Command::Handoff { reason: None });
    }
    if let Some(flow) = flow_to_start(assistant, state, turn, expected) {
        commands.push(Command::StartFlow { flow });
    }

    let starting = commands
        .iter()
        .any(|c| matches!(c, Command::StartFlow { .. }));
    for (slot, value) in &turn.slots_set {
        let Some(value) = value else { continue };
        if !assistant.collected_by.contains_key(slot)
            || assistant.result_slots.values().any(|s| s == slot)
        {
            continue;
        }
        push_set_slot(&mut commands, slot, value.clone());
    }
    for (entity, value) in &turn.entities {
        if let Some(slot) = slot_for_entity(assistant, entity) {
            push_set_slot(&mut commands, &slot, value.clone());
        }
    }

    let has_values = commands
        .iter()
        .any(|c| matches!(c, Command::SetSlot { .. }));
    let stops = commands
        .iter()
        .any(|c| matches!(c, Command::Cancel | Command::Handoff { .. }));
    if !has_values && !stops && !starting {
        answer_open_question(assistant, state, turn, &mut commands, notes);
    }
    if commands.is_empty()
        && let Some(command) = intent_command
    {
        match command {
            "greet" => commands.push(Command::Greet),
            "out_of_scope" => commands.push(Command::OutOfScope),
            "not_understood" => commands.push(Command::NotUnderstood),
            _ => {}
        }
    }
    commands
}

fn push_set_slot(commands: &mut Vec<Command>, slot: &str, value: Json) {
    commands.retain(|c| !matches!(c, Command::SetSlot { slot: s, .. } if s == slot));
    commands.push(Command::SetSlot {
        slot: slot.to_string(),
        value,
    });
}

/// Returns the slot a classic entity fills: one with a `from_entity`
/// mapping for it, else one with the entity's name, if some flow collects
/// it.
fn slot_for_entity(assistant: &Assistant, entity: &str) -> Option<String> {
    let mut names: Vec<&String> = assistant.slots.keys().collect();
    names.sort();
    let mapped = names.into_iter().find(|name| {
        assistant.slots[*name]
            .mappings
            .iter()
            .any(|m| m.kind == "from_entity" && m.entity.as_deref() == Some(entity))
    });
    let slot = mapped.cloned().unwrap_or_else(|| identifier(entity));
    assistant.collected_by.contains_key(&slot).then_some(slot)
}

/// Returns the flow the message starts, if any: one that its assertions or
/// intent name, else the flow of the first expected response that no
/// running flow sends, else a flow that collects a slot the message set.
fn flow_to_start(
    assistant: &Assistant,
    state: &DialogueState,
    turn: &ScriptTurn,
    expected: &[Expected],
) -> Option<String> {
    let active = assistant.active_flows(state);
    let startable = |flow: &String| {
        assistant.startable.contains(flow) && !state.stack.iter().any(|f| &f.flow == flow)
    };
    for flow in &turn.flows_started {
        let flow = identifier(flow);
        if startable(&flow) {
            return Some(flow);
        }
    }
    // A classic message names its intent, and only the flows that the
    // intent triggers can start from it.
    if let Some(intent) = &turn.intent {
        return assistant
            .flow_intents
            .get(intent)
            .and_then(|flows| flows.iter().find(|f| startable(f)))
            .cloned();
    }
    for item in expected {
        let Expected::Utter(name) = item else {
            continue;
        };
        if assistant.engine_key(name).is_some() {
            continue;
        }
        let Some(places) = assistant.utter_places.get(name) else {
            continue;
        };
        if places.iter().any(|(flow, _)| active.contains(flow)) {
            return None;
        }
        let best = places
            .iter()
            .filter(|(flow, _)| startable(flow))
            .min_by_key(|(_, index)| *index);
        if let Some((flow, _)) = best {
            return Some(flow.clone());
        }
    }
    for (slot, _) in &turn.slots_set {
        let Some(flows) = assistant.collected_by.get(slot) else {
            continue;
        };
        if flows.iter().any(|f| active.contains(f)) {
            continue;
        }
        if let Some(flow) = flows.iter().find(|f| startable(f)) {
            return Some(flow.clone());
        }
    }
    None
}

/// Answers the open question from the message: a button's payload, a
/// yes/no word, a classic intent mapped to a value, or the message itself.
fn answer_open_question(
    assistant: &Assistant,
    state: &DialogueState,
    turn: &ScriptTurn,
    commands: &mut Vec<Command>,
    notes: &mut Vec<String>,
) {
    if matches!(
        state.waiting,
        Some(Waiting::Confirmation { .. } | Waiting::ResumeOffer { .. })
    ) {
        match yes_no(&turn.user).or(match turn.intent.as_deref() {
            Some("affirm") => Some(true),
            Some("deny") => Some(false),
            _ => None,
        }) {
            Some(true) => commands.push(Command::Affirm),
            Some(false) => commands.push(Command::Deny),
            None => {}
        }
        return;
    }
    let Some(pending) = assistant.pending_collect(state).cloned() else {
        return;
    };
    let buttons = pending
        .utter
        .as_ref()
        .and_then(|u| assistant.buttons.get(u))
        .cloned()
        .unwrap_or_default();
    let pressed = buttons
        .iter()
        .find(|b| normalize(&b.title) == normalize(&turn.user));
    if let Some(button) = pressed {
        match button.payload.as_deref().map(parse_payload) {
            Some(Payload::SetSlots(values)) => {
                for (slot, value) in values {
                    push_set_slot(commands, &slot, value);
                }
                return;
            }
            Some(Payload::Text(text)) => {
                push_set_slot(commands, &pending.slot, Json::String(text));
                return;
            }
            Some(Payload::Intent { name, .. }) => {
                if let Some(value) = intent_value(assistant, &pending.slot, &name) {
                    push_set_slot(commands, &pending.slot, value);
                    return;
                }
            }
            None => {}
        }
    }
    if let Some(intent) = &turn.intent
        && let Some(value) = intent_value(assistant, &pending.slot, intent)
    {
        push_set_slot(commands, &pending.slot, value);
        return;
    }
    let slot = assistant.slots.get(&pending.slot);
    if slot.is_some_and(|s| s.kind == "bool")
        && let Some(answer) = yes_no(&turn.user)
    {
        push_set_slot(commands, &pending.slot, Json::Bool(answer));
        return;
    }
    if turn
        .intent
        .as_ref()
        .is_some_and(|i| built_in_command(i).is_some() || assistant.flow_intents.contains_key(i))
    {
        return;
    }
    if let Some(value) = infer_value(slot, &turn.user) {
        notes.push(format!(
            "the answer {value} for `{}` is read from the message",
            pending.slot
        ));
        push_set_slot(commands, &pending.slot, value);
    }
}

/// Returns the value a classic `from_intent` mapping gives the slot for
/// `intent`, or `true`/`false` for `affirm`/`deny` on a boolean slot.
fn intent_value(assistant: &Assistant, slot: &str, intent: &str) -> Option<Json> {
    let definition = assistant.slots.get(slot)?;
    for mapping in &definition.mappings {
        if mapping.kind == "from_intent" && mapping.intent.iter().any(|i| i == intent) {
            return mapping.value.clone();
        }
    }
    match (definition.kind.as_str(), intent) {
        ("bool", "affirm") => Some(Json::Bool(true)),
        ("bool", "deny") => Some(Json::Bool(false)),
        _ => None,
    }
}

fn normalize(text: &str) -> String {
    text.trim().trim_end_matches(['.', '!', '?']).to_lowercase()
}

/// Runs the turn, choosing a result for each action the turn calls: the
/// candidate that lets the most expected responses appear.
fn choose_stubs(
    assistant: &Assistant,
    state: &DialogueState,
    commands: &[Command],
    expected: &[Expected],
    turn: &ScriptTurn,
) -> (TurnRun, IndexMap<String, Json>) {
    let mut stubs: IndexMap<String, Json> = IndexMap::new();
    let mut run = assistant.run(state, commands, &stubs);
    for _ in 0..8 {
        let Some(action) = run.unstubbed.first().cloned() else {
            break;
        };
        let mut best: Option<(usize, Json, TurnRun)> = None;
        let result_slot = assistant.result_slots.get(&action);
        let known = turn
            .slots_set
            .iter()
            .filter(|(slot, _)| Some(slot) == result_slot)
            .filter_map(|(_, v)| v.clone());
        let mut candidates: Vec<Json> = known.collect();
        candidates.extend(assistant.result_candidates(&action));
        for candidate in candidates {
            let mut trial = stubs.clone();
            trial.insert(action.clone(), candidate.clone());
            let trial_run = assistant.run(state, commands, &trial);
            let score = matched_count(assistant, expected, &trial_run.messages);
            if best.as_ref().is_none_or(|(s, _, _)| score > *s) {
                best = Some((score, candidate, trial_run));
            }
        }
        let Some((_, value, best_run)) = best else {
            break;
        };
        stubs.insert(action, value);
        run = best_run;
    }
    (run, stubs)
}

/// Counts the expected responses that appear in `messages`, in order.
pub(crate) fn matched_count(
    assistant: &Assistant,
    expected: &[Expected],
    messages: &[BotMessage],
) -> usize {
    matched_positions(assistant, expected, messages).len()
}

/// Returns the positions in `messages` of the expected responses, matched
/// in order. Matching stops at the first expected response that is
/// missing.
fn matched_positions(
    assistant: &Assistant,
    expected: &[Expected],
    messages: &[BotMessage],
) -> Vec<usize> {
    let mut start = 0;
    let mut positions = Vec::new();
    for item in expected {
        let Some(offset) = messages[start..]
            .iter()
            .position(|m| assistant.matches(item, m))
        else {
            break;
        };
        positions.push(start + offset);
        start += offset + 1;
    }
    positions
}

/// When the messages differ, checks the flow and step that Rasa's last
/// expected response implies, where Tern agrees.
fn expect_position(
    assistant: &Assistant,
    expected: &[Expected],
    run: &TurnRun,
    derived: &mut DerivedTurn,
) {
    let Some(Expected::Utter(last)) = expected.last() else {
        return;
    };
    let Some(places) = assistant.utter_places.get(last) else {
        return;
    };
    let active = run.state.active_flow().map(String::from);
    let Some(flow) = active.filter(|flow| places.iter().any(|(f, _)| f == flow)) else {
        return;
    };
    derived.expect_flow = Some(flow.clone());
    let step = run.state.active_step().map(String::from);
    let asking_it = assistant
        .pending_collect(&run.state)
        .is_some_and(|c| c.utter.as_deref() == Some(last.as_str()));
    if asking_it {
        derived.expect_step = step;
    }
}

/// Checks the slots Rasa set, where Tern has the same value after the
/// turn.
fn expect_slots(turn: &ScriptTurn, run: &TurnRun, derived: &mut DerivedTurn) {
    let ended = run
        .events
        .iter()
        .any(|e| matches!(e, Event::FlowCompleted { .. } | Event::FlowCancelled { .. }));
    for (slot, value) in &turn.slots_set {
        let Some(value) = value else { continue };
        let actual = run.state.slots.get(slot).cloned().unwrap_or(Json::Null);
        if same_value(value, &actual) {
            derived.expect_slots.insert(slot.clone(), value.clone());
        } else if actual.is_null() && ended {
            derived.notes.push(format!(
                "`{slot}` is not checked because Tern clears a flow's slots when the flow ends"
            ));
        } else {
            derived.notes.push(format!(
                "Rasa set `{slot}` to {value}, but Tern holds {actual}; not checked"
            ));
        }
    }
}

fn same_value(expected: &Json, actual: &Json) -> bool {
    match (expected.as_f64(), actual.as_f64()) {
        (Some(a), Some(b)) => a == b,
        _ => expected == actual,
    }
}
