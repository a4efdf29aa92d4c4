//! Dialogflow importers: a CX agent export ([`import_cx`]) or an ES agent
//! export ([`import_es`]), as a folder or as the zip the console exports,
//! becomes a Tern assistant with a fidelity report.
//!
//! Display names link the parts of an export, never ids. Every element read
//! is listed in the report with its file and JSON path.

mod actions;
mod archive;
mod cx;
mod entities;
mod es;
mod json;
mod names;
mod output;
mod text;
mod yaml;

use std::path::Path;

use crate::project::{ImportError, Project};

pub use cx::condition::translate as translate_cx_condition;

/// Imports a Dialogflow CX agent: the export folder, or the `.zip` the
/// console exports (an extra top folder and macOS metadata are fine).
pub fn import_cx(path: &Path) -> Result<Project, ImportError> {
    cx::import(path)
}

/// Imports a Dialogflow ES agent: the export folder or its `.zip`.
pub fn import_es(path: &Path) -> Result<Project, ImportError> {
    es::import(path)
}
