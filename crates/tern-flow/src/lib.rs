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
pub use load::{load_paths, load_str, LoadError, Loaded};
pub use model::*;
