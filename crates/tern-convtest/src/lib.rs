//! Scripted conversation tests: each user turn comes with the commands the
//! understanding layer would return for it, so flows are tested without an
//! LLM. Expectations cover bot messages, slots, the active flow and step,
//! and events. See [`format`] for the file format.

pub mod format;
mod compare;
mod runner;
mod scripted;

pub use format::{read_test_file, TestCase, TestFile};
pub use runner::{run_file, Assistant, FileReport, Mode, TestReport, TurnFailure};
