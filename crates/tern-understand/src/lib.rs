//! Understanding: turning one user message into engine commands.
//!
//! - [`context`] gathers what the understander may know about the turn.
//! - [`prompt`] and [`schema`] build the LLM request from it.
//! - [`output`] reads the model's answer and drops every command the
//!   context does not allow, with a reason.
//! - [`offline`] gives the same result from rules, without an LLM.
//! - [`understander`] picks between the rules and an LLM client.
//! - [`turn`] runs one message end to end around the engine.

pub mod context;
pub mod offline;
pub mod output;
pub mod prompt;
pub mod schema;
pub mod turn;
pub mod understander;

pub use context::{HistoryTurn, PromptContext};
pub use output::{Dropped, OutputError, check_commands, parse_output};
pub use turn::{ActionRunner, TurnFailure, TurnInput, TurnOutput, Understand, run_turn};
pub use understander::{LlmCall, UnderstandError, Understander, Understanding};
