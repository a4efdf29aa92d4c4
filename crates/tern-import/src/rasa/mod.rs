//! Rasa projects: CALM flows and the classic NLU-era files.
//!
//! [`import`] reads a Rasa project folder and builds a Tern assistant:
//!
//! - `flows/<id>.yml`: one file per CALM flow, per form and per rule;
//! - `actions.yml`: one placeholder webhook per custom action;
//! - `responses.yml`: engine messages taken from Rasa's patterns;
//! - `tests/<name>.yml`: conversation tests from end-to-end tests and
//!   stories, checked against the converted flows while importing.
//!
//! Every element read goes into the report with its file and line.

mod actions;
mod classic;
mod collect;
mod condition;
mod conversations;
mod domain;
mod files;
mod flows;
mod model;
mod nlu;
mod output;
mod patterns;
mod responses;
mod slots;
mod steps;
mod text;
mod yaml_in;
mod yaml_out;

use std::collections::BTreeSet;
use std::path::Path;

use indexmap::IndexMap;

use crate::project::{ImportError, Project};
use crate::report::{Fidelity, Report};

pub(crate) use files::SourceFile;

/// The location of an element of the Rasa project: its file relative to
/// the project root, and its line.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Loc {
    pub file: String,
    pub line: u32,
}

/// The import in progress: the report and what has been converted so far.
#[derive(Debug, Default)]
pub(crate) struct Ctx {
    pub report: Report,
    pub flows: IndexMap<String, model::Flow>,
    /// Custom actions used by converted steps, by Tern action name.
    pub actions: IndexMap<String, actions::CustomAction>,
    /// Engine message overrides for `responses.yml`, by key.
    pub messages: IndexMap<&'static str, String>,
    /// Rasa responses whose text became an engine message, with its key.
    pub message_utters: IndexMap<String, &'static str>,
    /// Rasa responses that converted steps or messages use.
    pub used_responses: BTreeSet<String>,
}

impl Ctx {
    fn new() -> Ctx {
        Ctx {
            report: Report::new("rasa"),
            ..Ctx::default()
        }
    }

    pub fn add(
        &mut self,
        fidelity: Fidelity,
        loc: &Loc,
        what: impl Into<String>,
        note: impl Into<String>,
    ) {
        self.report.add(
            fidelity,
            &loc.file,
            format!("line {}", loc.line),
            what,
            note,
        );
    }

    pub fn add_to_do(&mut self, item: impl Into<String>) {
        let item = item.into();
        if !self.report.to_do.contains(&item) {
            self.report.to_do.push(item);
        }
    }
}

/// Imports the Rasa project in the folder `path`.
///
/// Fails when the folder cannot be read, contains no Rasa files
/// ([`ImportError::NotAProject`]) or has a YAML syntax error
/// ([`ImportError::Invalid`], naming the file and line). Everything else
/// that cannot be converted is reported, not fatal.
pub fn import(path: &Path) -> Result<Project, ImportError> {
    let sources = files::discover(path)?;
    let mut ctx = Ctx::new();
    files::report_settings(&mut ctx, &sources);
    let domain = domain::read(&mut ctx, &sources.domain);
    let data = flows::DataSections::split(&mut ctx, &sources.data);
    flows::convert(&mut ctx, &domain, &data);
    classic::convert(&mut ctx, &domain, &data);
    actions::finish(&mut ctx, &domain);
    nlu::attach(&mut ctx, &domain, &data);
    slots::report(&mut ctx, &domain);
    patterns::report_default_responses(&mut ctx, &domain);
    responses::report(&mut ctx, &domain);
    let mut project = Project::default();
    output::write(&mut ctx, &mut project, &domain);
    output::check(&mut ctx, &project);
    conversations::convert(&mut ctx, &domain, &data, &sources.tests, &mut project);
    project.report = ctx.report;
    Ok(project)
}

/// Converts a Rasa name into a Tern identifier: ASCII letters, digits and
/// `_`, not starting with a digit. Other characters become `_`.
pub(crate) fn identifier(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Converts a Rasa action name into a Tern action name: lowercase ASCII
/// letters, digits and `_`, at most 100 characters.
pub(crate) fn action_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    out.truncate(100);
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// Makes a readable name from an id: `transfer_money` becomes
/// `transfer money`.
pub(crate) fn humanize(id: &str) -> String {
    id.replace(['_', '-'], " ").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_follow_tern_rules() {
        assert_eq!(identifier("user-name"), "user_name");
        assert_eq!(identifier("2fa"), "_2fa");
        assert_eq!(identifier("ok_name"), "ok_name");
        assert_eq!(action_name("Action.Check-Funds"), "action_check_funds");
    }
}
