//! Importers: a Rasa project or a Dialogflow export in, a Tern assistant
//! out (flows, actions file, engine messages, conversation tests) together
//! with a fidelity report of what mapped exactly, what mapped approximately
//! and what could not be mapped.
//!
//! Importers only build an in-memory [`Project`]; [`write_project`] puts it
//! on disk in one step, so a failed import never leaves half a folder.

pub mod dialogflow;
pub mod project;
pub mod rasa;
pub mod report;

pub use project::{ImportError, Project, validate_project, write_project};
pub use report::{Fidelity, Report, ReportItem};
