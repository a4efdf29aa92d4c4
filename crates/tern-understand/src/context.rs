//! What the understander is told about one turn: the flows the user may
//! start, the open question, the slots the active flows can take, the
//! conditions to judge, a window of recent turns and the message.
//!
//! The same structure is serialized into the LLM prompt and read back by the
//! offline rules (and by the mock LLM), so all three see the same facts.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use tern_engine::{DialogueState, Engine, Waiting, conditions_after, flow_collects};
use tern_flow::template::render_value;
use tern_flow::{Collect, Flow, SlotType, StepKind};

/// Turns of history included in the prompt.
pub const HISTORY_WINDOW: usize = 6;
/// Longest text kept for one history entry or slot value, in chars.
const MAX_TEXT_CHARS: usize = 300;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PromptContext {
    /// Flows the user may start now (guards hold, trigger intents exist).
    pub flows: Vec<FlowInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_flow: Option<String>,
    /// The open question, if the engine waits for a slot value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asking: Option<SlotInfo>,
    /// What else the engine waits for: `confirmation`, `resume_offer` or
    /// `clarification`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub awaiting: Option<String>,
    /// Other slots the active flows collect (for values given early or
    /// corrections), without their questions to keep the prompt short.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_slots: Vec<SlotInfo>,
    /// Current values of the slots above, as text.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub filled: IndexMap<String, String>,
    /// `semantic_if` conditions to judge against this message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<HistoryTurn>,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowInfo {
    pub id: String,
    pub name: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intents: Vec<String>,
    /// Slots the flow collects, as `name:type`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slots: Vec<String>,
    /// Conditions judged right after the flow's first question, for a
    /// message that starts the flow and answers that question at once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlotInfo {
    /// The name the flow collects (`collect:`), which commands use.
    pub name: String,
    /// Where the value is stored when the step has `set_slot_as`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_as: Option<String>,
    #[serde(rename = "type")]
    pub slot_type: SlotType,
    /// The question as the user saw it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub question: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryTurn {
    /// `user` or `bot`.
    pub role: String,
    pub text: String,
}

impl HistoryTurn {
    pub fn user(text: impl Into<String>) -> Self {
        Self {
            role: "user".into(),
            text: text.into(),
        }
    }

    pub fn bot(text: impl Into<String>) -> Self {
        Self {
            role: "bot".into(),
            text: text.into(),
        }
    }
}

impl PromptContext {
    /// Gathers the context for one message. `history` may be longer than the
    /// window; only its last [`HISTORY_WINDOW`] entries are kept.
    pub fn build(
        engine: &Engine<'_>,
        state: &DialogueState,
        history: &[HistoryTurn],
        message: &str,
    ) -> Self {
        let asked = engine.asked_collect(state);
        let other: Vec<&Collect> = engine
            .collectable_slots(state)
            .into_iter()
            .filter(|c| asked.is_none_or(|a| a.store_as != c.store_as))
            .collect();
        let filled = other
            .iter()
            .copied()
            .chain(asked)
            .filter_map(|c| {
                state
                    .slots
                    .get(&c.store_as)
                    .map(|v| (c.store_as.clone(), clip(&render_value(v))))
            })
            .collect();
        let start = history.len().saturating_sub(HISTORY_WINDOW);
        PromptContext {
            flows: engine
                .startable_flows(state)
                .into_iter()
                .map(flow_info)
                .collect(),
            active_flow: state.active_flow().map(String::from),
            asking: asked.map(|c| slot_info(c, state)),
            awaiting: awaiting(state),
            other_slots: other
                .iter()
                .map(|c| SlotInfo {
                    question: String::new(),
                    ..slot_info(c, state)
                })
                .collect(),
            filled,
            conditions: engine.upcoming_conditions(state),
            history: history[start..]
                .iter()
                .map(|t| HistoryTurn {
                    role: t.role.clone(),
                    text: clip(&t.text),
                })
                .collect(),
            message: message.to_string(),
        }
    }
}

fn awaiting(state: &DialogueState) -> Option<String> {
    match state.waiting {
        Some(Waiting::Confirmation { .. }) => Some("confirmation".into()),
        Some(Waiting::ResumeOffer { .. }) => Some("resume_offer".into()),
        Some(Waiting::Clarification { .. }) => Some("clarification".into()),
        Some(Waiting::AnythingElse) => Some("anything_else".into()),
        _ => None,
    }
}

fn flow_info(flow: &Flow) -> FlowInfo {
    FlowInfo {
        id: flow.id.clone(),
        name: flow.name.clone(),
        description: flow.description.source().to_string(),
        intents: flow.intents.clone(),
        slots: flow_collects(flow)
            .map(|c| format!("{}:{}", c.slot.value, c.slot_type.name()))
            .collect(),
        conditions: match flow.first_step() {
            Some(step) if matches!(step.kind, StepKind::Collect(_)) => {
                conditions_after(flow, &step.id)
            }
            _ => Vec::new(),
        },
    }
}

fn slot_info(collect: &Collect, state: &DialogueState) -> SlotInfo {
    SlotInfo {
        name: collect.slot.value.clone(),
        stored_as: (collect.store_as != collect.slot.value).then(|| collect.store_as.clone()),
        slot_type: collect.slot_type,
        question: clip(&collect.description.render(&state.slots)),
        options: collect.options.iter().map(|o| o.value.clone()).collect(),
    }
}

fn clip(text: &str) -> String {
    if text.chars().count() <= MAX_TEXT_CHARS {
        return text.to_string();
    }
    let mut clipped: String = text.chars().take(MAX_TEXT_CHARS).collect();
    clipped.push('…');
    clipped
}

/// Reads the value of a slot the context lists, for the offline rules.
pub fn slot_named<'c>(context: &'c PromptContext, name: &str) -> Option<&'c SlotInfo> {
    context
        .asking
        .iter()
        .chain(&context.other_slots)
        .find(|s| s.name == name || s.stored_as.as_deref() == Some(name))
}
