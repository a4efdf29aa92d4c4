//! Commands: what the understanding layer concluded from one user message.
//! They are proposals; the engine checks each against the flows and drops
//! (with an event) whatever the current state does not allow.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// Start a flow the user asked for.
    StartFlow { flow: String },
    /// Give a slot a value: the answer to the question asked, a value given
    /// ahead of its question, or a correction of an earlier answer.
    SetSlot { slot: String, value: Value },
    /// Stop the active flow.
    Cancel,
    /// The message could mean any of these flows; ask which one.
    Clarify { flows: Vec<String> },
    /// The user wants a human agent.
    Handoff {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Yes to the question asked (a confirmation, a resume offer, a yes/no
    /// question).
    Affirm,
    /// No to the question asked.
    Deny,
    /// The verdict on a `semantic_if` condition, named by its text.
    Judge { condition: String, value: bool },
    /// A greeting or small talk with no request in it.
    Greet,
    /// A request this assistant has no flow for.
    OutOfScope,
    /// The message could not be understood.
    NotUnderstood,
}

impl Command {
    /// The command's name as written in conversation tests and events.
    pub fn name(&self) -> &'static str {
        match self {
            Command::StartFlow { .. } => "start_flow",
            Command::SetSlot { .. } => "set_slot",
            Command::Cancel => "cancel",
            Command::Clarify { .. } => "clarify",
            Command::Handoff { .. } => "handoff",
            Command::Affirm => "affirm",
            Command::Deny => "deny",
            Command::Judge { .. } => "judge",
            Command::Greet => "greet",
            Command::OutOfScope => "out_of_scope",
            Command::NotUnderstood => "not_understood",
        }
    }
}

/// The result of a webhook call, as the caller observed it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ActionOutcome {
    Success { result: Value },
    Failure { error: String },
}
