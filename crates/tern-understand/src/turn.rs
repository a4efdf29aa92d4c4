//! One user message from text to reply: understand, run the engine, carry
//! out what the engine needs (action calls, judgements) until the turn is
//! done. Storage is the caller's business; the server and the conversation
//! test runner both use this.

use std::future::Future;
use std::pin::Pin;

use serde_json::{Map, Value};
use tern_engine::{ActionOutcome, BotMessage, Command, DialogueState, Engine, Event, Need};

use crate::context::{HistoryTurn, PromptContext};
use crate::output::Dropped;
use crate::understander::{Failure, LlmCall, Understander, Understanding};

/// Most action calls and judgements one message may cause; beyond it the
/// flows loop through actions and the turn stops.
pub const MAX_NEEDS_PER_TURN: usize = 50;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Produces commands for a message, and verdicts when the engine asks.
/// [`Understander`] is the production implementation; tests script it.
pub trait Understand: Send + Sync {
    fn understand<'a>(
        &'a self,
        context: &'a PromptContext,
    ) -> BoxFuture<'a, Result<Understanding, Failure>>;

    #[allow(clippy::type_complexity)]
    fn judge<'a>(
        &'a self,
        context: &'a PromptContext,
    ) -> BoxFuture<'a, Result<(Vec<(String, bool)>, Vec<LlmCall>), Failure>>;
}

impl Understand for Understander {
    fn understand<'a>(
        &'a self,
        context: &'a PromptContext,
    ) -> BoxFuture<'a, Result<Understanding, Failure>> {
        Box::pin(Understander::understand(self, context))
    }

    fn judge<'a>(
        &'a self,
        context: &'a PromptContext,
    ) -> BoxFuture<'a, Result<(Vec<(String, bool)>, Vec<LlmCall>), Failure>> {
        Box::pin(Understander::judge(self, context))
    }
}

/// Carries out an action for the engine.
pub trait ActionRunner: Send + Sync {
    fn run<'a>(
        &'a self,
        action: &'a str,
        parameters: &'a Map<String, Value>,
    ) -> BoxFuture<'a, ActionOutcome>;
}

/// The input of one turn.
pub struct TurnInput<'a> {
    pub message: &'a str,
    pub history: &'a [HistoryTurn],
    /// Commands known without understanding, such as an uploaded file that
    /// fills the open `file` question. They are applied after the
    /// understood ones.
    pub extra_commands: Vec<Command>,
}

/// Everything a turn produced.
#[derive(Debug)]
pub struct TurnOutput {
    pub state: DialogueState,
    pub commands: Vec<Command>,
    pub dropped: Vec<Dropped>,
    pub messages: Vec<BotMessage>,
    pub events: Vec<Event>,
    pub calls: Vec<LlmCall>,
    /// Set when the turn stopped early; the state is then the one before it.
    pub failure: Option<TurnFailure>,
}

#[derive(Debug)]
pub enum TurnFailure {
    /// The model could not be used; the state is unchanged.
    Understanding(Failure),
    /// The flows asked for more than [`MAX_NEEDS_PER_TURN`] actions or
    /// judgements.
    TooManyNeeds,
}

pub async fn run_turn(
    engine: &Engine<'_>,
    understander: &dyn Understand,
    actions: &dyn ActionRunner,
    state: DialogueState,
    input: TurnInput<'_>,
) -> TurnOutput {
    let context = PromptContext::build(engine, &state, input.history, input.message);
    let understanding = match understander.understand(&context).await {
        Ok(understanding) => understanding,
        Err(failure) => return failed(state, TurnFailure::Understanding(failure), Vec::new()),
    };
    let mut commands = understanding.commands;
    // A message that only carries a file has text the understanding may not
    // read as anything; the file itself answers, so that is no confusion.
    if !input.extra_commands.is_empty() {
        commands.retain(|command| !matches!(command, Command::NotUnderstood));
    }
    commands.extend(input.extra_commands);
    // Commands dropped before the engine saw them are recorded like those
    // the engine ignores.
    let ignored = understanding.dropped.iter().map(|d| Event::CommandIgnored {
        command: d.name.clone(),
        reason: d.reason.clone(),
    });
    let mut output = TurnOutput {
        state: DialogueState::default(),
        commands: commands.clone(),
        events: ignored.collect(),
        dropped: understanding.dropped,
        messages: Vec::new(),
        calls: understanding.calls,
        failure: None,
    };
    let previous = state.clone();
    let mut outcome = engine.handle(state, &commands);
    for _ in 0..MAX_NEEDS_PER_TURN {
        output.messages.append(&mut outcome.messages);
        output.events.append(&mut outcome.events);
        let Some(need) = outcome.need.take() else {
            output.state = outcome.state;
            return output;
        };
        outcome = match need {
            Need::Action { action, parameters } => {
                let result = actions.run(&action, &parameters).await;
                engine.action_result(outcome.state, result)
            }
            Need::Judgement { conditions } => {
                let mut judged = context.clone();
                judged.conditions = conditions;
                match understander.judge(&judged).await {
                    Ok((verdicts, calls)) => {
                        output.calls.extend(calls);
                        engine.judgements(outcome.state, &verdicts)
                    }
                    Err(failure) => {
                        output.calls.extend(failure.calls.clone());
                        let calls = std::mem::take(&mut output.calls);
                        return failed(previous, TurnFailure::Understanding(failure), calls);
                    }
                }
            }
        };
    }
    let calls = std::mem::take(&mut output.calls);
    failed(previous, TurnFailure::TooManyNeeds, calls)
}

fn failed(state: DialogueState, failure: TurnFailure, calls: Vec<LlmCall>) -> TurnOutput {
    let calls = match &failure {
        TurnFailure::Understanding(f) if calls.is_empty() => f.calls.clone(),
        _ => calls,
    };
    TurnOutput {
        state,
        commands: Vec::new(),
        dropped: Vec::new(),
        messages: Vec::new(),
        events: Vec::new(),
        calls,
        failure: Some(failure),
    }
}
