//! The engine's public entry points and the per-turn working set.

mod commands;
pub(crate) mod lookahead;
mod repair;
mod run;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tern_flow::actions::ActionRegistry;
use tern_flow::expr::Expr;
use tern_flow::{Button, Flow, FlowSet};

use crate::command::{ActionOutcome, Command};
use crate::event::Event;
use crate::responses::Responses;
use crate::state::{DialogueState, Phase, Waiting};

pub use tern_flow::MAX_STEPS_PER_TURN;

/// A message from the assistant to the user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BotMessage {
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Button>,
}

/// Something the caller must obtain before the turn can go on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "need", rename_all = "snake_case")]
pub enum Need {
    /// Call this action's webhook, then pass the result to
    /// [`Engine::action_result`].
    Action {
        action: String,
        parameters: Map<String, Value>,
    },
    /// Judge these `semantic_if` conditions against the conversation, then
    /// pass the verdicts to [`Engine::judgements`].
    Judgement { conditions: Vec<String> },
}

/// What one call into the engine produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub state: DialogueState,
    pub events: Vec<Event>,
    pub messages: Vec<BotMessage>,
    /// `Some` when the turn is not finished yet.
    pub need: Option<Need>,
}

/// Runs flows. Cheap to build; holds only references.
#[derive(Clone, Copy)]
pub struct Engine<'a> {
    flows: &'a FlowSet,
    responses: &'a Responses,
    actions: Option<&'a ActionRegistry>,
}

impl<'a> Engine<'a> {
    pub fn new(flows: &'a FlowSet, responses: &'a Responses) -> Self {
        Self {
            flows,
            responses,
            actions: None,
        }
    }

    /// Uses the actions' JSON Schemas to choose which slots to send as
    /// parameters. Without it every filled slot is sent.
    pub fn with_actions(mut self, actions: &'a ActionRegistry) -> Self {
        self.actions = Some(actions);
        self
    }

    pub fn flows(&self) -> &'a FlowSet {
        self.flows
    }

    /// Applies one user message's commands and runs the flows until they
    /// wait for the user or need something from the caller.
    pub fn handle(&self, state: DialogueState, commands: &[Command]) -> Outcome {
        let mut turn = Turn::new(*self, state);
        if turn.state.handed_off {
            for command in commands {
                turn.ignore(command, "the conversation was handed over to a human agent");
            }
            return turn.finish();
        }
        turn.state.steps_this_turn = 0;
        turn.recover_interrupted_turn();
        turn.apply(commands);
        turn.run();
        turn.finish()
    }

    /// Continues a turn that stopped on [`Need::Action`].
    pub fn action_result(&self, state: DialogueState, outcome: ActionOutcome) -> Outcome {
        let mut turn = Turn::new(*self, state);
        turn.apply_action_result(outcome);
        turn.run();
        turn.finish()
    }

    /// Continues a turn that stopped on [`Need::Judgement`]. Conditions
    /// missing from `verdicts` count as false.
    pub fn judgements(&self, state: DialogueState, verdicts: &[(String, bool)]) -> Outcome {
        let mut turn = Turn::new(*self, state);
        if let Some(Waiting::Judgement { conditions, known }) = turn.state.waiting.take() {
            for condition in conditions {
                turn.judgements.insert(condition, false);
            }
            turn.judgements.extend(known);
        }
        turn.judgements.extend(verdicts.iter().cloned());
        turn.run();
        turn.finish()
    }

    /// Flows the user may start now: they have trigger intents and their
    /// guard, if any, holds.
    pub fn startable_flows(&self, state: &DialogueState) -> Vec<&'a Flow> {
        self.flows
            .flows
            .values()
            .filter(|flow| flow.user_startable() && guard_holds(flow, state))
            .collect()
    }
}

fn guard_holds(flow: &Flow, state: &DialogueState) -> bool {
    flow.guard
        .as_ref()
        .is_none_or(|guard| guard.value.evaluate(&state.slots))
}

/// The working set of one call into the engine.
struct Turn<'a> {
    engine: Engine<'a>,
    state: DialogueState,
    events: Vec<Event>,
    messages: Vec<BotMessage>,
    need: Option<Need>,
    judgements: HashMap<String, bool>,
    /// Set when the last flow on the stack completed during this call.
    completed_all: bool,
}

impl<'a> Turn<'a> {
    fn new(engine: Engine<'a>, state: DialogueState) -> Self {
        Self {
            engine,
            state,
            events: Vec::new(),
            messages: Vec::new(),
            need: None,
            judgements: HashMap::new(),
            completed_all: false,
        }
    }

    fn flow(&self, id: &str) -> Option<&'a Flow> {
        self.engine.flows.flow(id)
    }

    fn responses(&self) -> &'a Responses {
        self.engine.responses
    }

    fn say(&mut self, text: String) {
        self.say_with_buttons(text, Vec::new());
    }

    fn say_with_buttons(&mut self, text: String, buttons: Vec<Button>) {
        if !text.trim().is_empty() {
            self.messages.push(BotMessage { text, buttons });
        }
    }

    fn yes_no_buttons(&self) -> Vec<Button> {
        let responses = self.responses();
        vec![
            Button {
                title: responses.yes.clone(),
                payload: responses.yes.clone(),
            },
            Button {
                title: responses.no.clone(),
                payload: responses.no.clone(),
            },
        ]
    }

    fn ignore(&mut self, command: &Command, reason: &str) {
        tracing::debug!(command = command.name(), reason, "command ignored");
        self.events.push(Event::CommandIgnored {
            command: command.name().to_string(),
            reason: reason.to_string(),
        });
    }

    /// A turn that stopped on a need and was never continued (the caller
    /// crashed) left the state waiting on it; run that step again.
    fn recover_interrupted_turn(&mut self) {
        if matches!(
            self.state.waiting,
            Some(Waiting::Action { .. } | Waiting::Judgement { .. })
        ) {
            tracing::warn!(
                "the previous turn stopped on an action or judgement; running that step again"
            );
            self.state.waiting = None;
            if let Some(frame) = self.state.stack.last_mut() {
                frame.phase = if frame.phase == Phase::Leave {
                    Phase::Leave
                } else {
                    Phase::Enter
                };
            }
        }
    }

    fn finish(mut self) -> Outcome {
        if self.completed_all && self.state.stack.is_empty() && self.need.is_none() {
            let text = self.responses().anything_else.clone();
            self.say(text);
            self.state.waiting = Some(Waiting::AnythingElse);
        }
        Outcome {
            state: self.state,
            events: self.events,
            messages: self.messages,
            need: self.need,
        }
    }
}

/// Evaluates an `if` condition against the slots.
fn holds(expr: &Expr, state: &DialogueState) -> bool {
    expr.evaluate(&state.slots)
}
