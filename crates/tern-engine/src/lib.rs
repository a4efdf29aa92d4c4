//! Tern's dialogue engine.
//!
//! The engine is pure and deterministic: given the flows, the conversation's
//! [`DialogueState`] and the [`Command`]s the understanding layer produced for
//! one user message, it returns the new state, the [`Event`]s and the bot
//! messages. It never does I/O. When a step needs the outside world (an
//! action webhook, a judgement on a `semantic_if` condition) it returns a
//! [`Need`] and the caller continues the turn with
//! [`Engine::action_result`] or [`Engine::judgements`].
//!
//! Invariants it keeps:
//! - commands only take effect where the flows allow them: no slot is set
//!   that no active flow collects, no guarded flow starts while its guard is
//!   false, no step is skipped;
//! - a turn runs a bounded number of steps, so a flow that loops without
//!   asking the user stops with an error instead of hanging;
//! - the state stays small: slots, a short flow stack, what is awaited.

pub mod coerce;
pub mod command;
mod engine;
pub mod event;
pub mod responses;
pub mod state;

pub use command::{ActionOutcome, Command};
pub use engine::lookahead::{conditions_after, flow_collects};
pub use engine::{BotMessage, Engine, MAX_STEPS_PER_TURN, Need, Outcome};
pub use event::Event;
pub use responses::Responses;
pub use state::{DialogueState, Frame, Origin, Phase, Waiting};
