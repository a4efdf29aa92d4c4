//! Scripted conversation tests: each user turn comes with the commands the
//! understanding layer would return for it, so flows are tested without an
//! LLM. Expectations cover bot messages, slots, the active flow and step,
//! and events. See [`format`] for the file format.

mod compare;
pub mod format;
mod runner;
mod scripted;

pub use format::{TestCase, TestFile, read_test_file};
pub use runner::{Assistant, FileReport, Mode, TestReport, TurnFailure, run_file};
