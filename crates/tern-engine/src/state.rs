//! The conversation's dialogue state: what the engine needs between turns.
//!
//! It is small on purpose (slots, a short flow stack and what the engine is
//! waiting for), because it is stored as one row and read on every turn.
//! Nothing here grows with the length of the conversation.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DialogueState {
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub slots: IndexMap<String, Value>,
    /// Active flows; the last one runs. Lower frames are callers, or flows
    /// paused by a topic switch, or flows queued by a multi-request message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stack: Vec<Frame>,
    /// The input the engine waits for before it can go on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Waiting>,
    /// Set once the conversation was handed to a human; the engine then stays
    /// silent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub handed_off: bool,
    /// Steps run since the user's last message, across the calls that
    /// continue a turn after an action or judgement.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub steps_this_turn: u32,
}

impl DialogueState {
    pub fn active_frame(&self) -> Option<&Frame> {
        self.stack.last()
    }

    pub fn active_flow(&self) -> Option<&str> {
        self.stack.last().map(|f| f.flow.as_str())
    }

    pub fn active_step(&self) -> Option<&str> {
        self.stack
            .last()
            .filter(|f| f.phase != Phase::Queued)
            .map(|f| f.step.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    pub flow: String,
    /// The current step's id; meaningless while `phase` is `Queued`.
    pub step: String,
    pub phase: Phase,
    pub origin: Origin,
    /// Invalid values given to the current collect step.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempts: u32,
    /// Slots this flow (and flows it called) assigned; cleared when the
    /// outermost flow ends so that starting it again asks afresh.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assigned: Vec<String>,
    /// Collect steps the user answered since the flow started or was last
    /// rewound by a correction. Reaching one of them again means the flow
    /// loops back to it on purpose, so it asks again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answered: Vec<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The frame's progress within its current step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Started by a request but not run yet (a later request of the same
    /// message, or a flow waiting behind another).
    Queued,
    /// About to run `step`.
    Enter,
    /// `step` sent its question and waits for the user's reply.
    Asking,
    /// `step` is done; the next step must be chosen.
    Leave,
}

/// The reason a frame is on the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Started by the user with nothing else running.
    User,
    /// Started by the user while another flow was running; that flow is
    /// offered for resuming when this one ends.
    Interruption,
    /// Started by a `call` step; the caller continues when it ends.
    Call,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Waiting {
    /// The active collect step waits for its value (see the active frame).
    Slot,
    /// A collected value waits for the user to confirm it.
    Confirmation { slot: String, value: Value },
    /// The user was asked whether to go back to a paused flow.
    ResumeOffer { flow: String },
    /// The user was asked which of several flows they meant.
    Clarification { flows: Vec<String> },
    /// The last flow ended and the user was asked whether there is anything
    /// else. A yes asks what, a no says goodbye.
    AnythingElse,
    /// The action of the active step must be run by the caller.
    Action { action: String },
    /// The semantic conditions of the active step must be judged.
    /// `known` contains the verdicts that came with the user's message.
    Judgement {
        conditions: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        known: Vec<(String, bool)>,
    },
}
