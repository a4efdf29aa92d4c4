//! Events: the record of what happened in a turn, appended to the
//! conversation's history and checked by conversation tests.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    FlowStarted {
        flow: String,
    },
    FlowCompleted {
        flow: String,
    },
    FlowCancelled {
        flow: String,
        reason: String,
    },
    FlowInterrupted {
        flow: String,
    },
    FlowResumed {
        flow: String,
    },
    SlotSet {
        slot: String,
        value: Value,
    },
    SlotCorrected {
        slot: String,
        value: Value,
    },
    SlotRejected {
        slot: String,
        value: Value,
        reason: String,
    },
    ActionRequested {
        action: String,
    },
    ActionSucceeded {
        action: String,
    },
    ActionFailed {
        action: String,
        error: String,
    },
    JudgementRequested {
        conditions: Vec<String>,
    },
    /// A step with conditions found none true and had no `else`.
    NoBranchMatched {
        flow: String,
        step: String,
    },
    CommandIgnored {
        command: String,
        reason: String,
    },
    HandoffRequested {
        reason: Option<String>,
    },
    /// Something in the flows is broken at run time (a missing step, a step
    /// loop); the flow was stopped.
    FlowError {
        flow: String,
        step: String,
        message: String,
    },
}

impl Event {
    pub fn name(&self) -> &'static str {
        match self {
            Event::FlowStarted { .. } => "flow_started",
            Event::FlowCompleted { .. } => "flow_completed",
            Event::FlowCancelled { .. } => "flow_cancelled",
            Event::FlowInterrupted { .. } => "flow_interrupted",
            Event::FlowResumed { .. } => "flow_resumed",
            Event::SlotSet { .. } => "slot_set",
            Event::SlotCorrected { .. } => "slot_corrected",
            Event::SlotRejected { .. } => "slot_rejected",
            Event::ActionRequested { .. } => "action_requested",
            Event::ActionSucceeded { .. } => "action_succeeded",
            Event::ActionFailed { .. } => "action_failed",
            Event::JudgementRequested { .. } => "judgement_requested",
            Event::NoBranchMatched { .. } => "no_branch_matched",
            Event::CommandIgnored { .. } => "command_ignored",
            Event::HandoffRequested { .. } => "handoff_requested",
            Event::FlowError { .. } => "flow_error",
        }
    }
}
