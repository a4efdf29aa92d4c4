//! Tern's flow model: loading flow files written in Flowent's format (plus
//! Tern's extensions), validating them, and the condition and template
//! languages used inside them. Nothing here does network I/O; loading reads
//! files and nothing else.

pub mod actions;
pub mod diagnostic;
pub mod expr;
pub mod load;
pub mod model;
pub mod template;
pub mod validate;
pub mod yaml;

pub use diagnostic::{Diagnostic, Severity};

/// Most steps the engine runs for one user message without waiting for the
/// user. A flow that goes past it loops without input, and the engine stops
/// it with an error. Defined here so that the validator can quote it.
pub const MAX_STEPS_PER_TURN: u32 = 200;
pub use load::{LoadError, Loaded, load_paths, load_str, load_texts};
pub use model::*;
