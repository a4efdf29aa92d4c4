//! Checks that need the whole loaded flow set: references between steps,
//! flows and actions, the step graph, and whether every slot a step uses
//! has been set on every path that reaches it.
//!
//! Validation runs after loading and reports only what the loader cannot
//! see. It never stops early: every problem in every flow is reported, sorted
//! by file, line and column.

mod actions;
mod graph;
mod loops;
mod references;
mod slot_uses;
mod slots;
mod steps;
pub(crate) mod suggest;

use crate::actions::ActionRegistry;
use crate::diagnostic::{Diagnostic, Severity};
use crate::model::{Flow, FlowSet, Pos};

use graph::FlowGraph;

/// Validates a loaded flow set. With `actions`, action names and their
/// required parameters are checked against the registry. Without it, one
/// warning reports that they were not checked.
pub fn validate(flows: &FlowSet, actions: Option<&ActionRegistry>) -> Vec<Diagnostic> {
    let mut report = Report::new(flows);
    let graphs: Vec<FlowGraph> = flows.flows.values().map(FlowGraph::build).collect();

    references::check_step_targets(flows, &mut report);
    references::check_flow_targets(flows, &mut report);
    references::check_recursive_calls(flows, &mut report);
    references::check_startable(flows, &mut report);
    references::check_flow_id_case(flows, &mut report);

    graph::check_reachability(flows, &graphs, &mut report);
    loops::check_loops_without_input(flows, &graphs, &mut report);

    steps::check_no_else(flows, &mut report);
    steps::check_choice_options(flows, &mut report);
    steps::check_validation_fields(flows, &mut report);

    let assigned = slots::Assigned::analyze(flows, &graphs);
    slot_uses::check_slot_uses(flows, &graphs, &assigned, &mut report);
    slot_uses::check_guards(flows, &assigned, &mut report);
    actions::check_actions(flows, &graphs, &assigned, actions, &mut report);

    report.finish()
}

/// The diagnostics found so far, with the flow set that their positions
/// refer to.
pub(crate) struct Report<'a> {
    flows: &'a FlowSet,
    diagnostics: Vec<Diagnostic>,
}

/// A diagnostic just added to a [`Report`], to attach a hint to.
pub(crate) struct Added<'a>(&'a mut Diagnostic);

impl Added<'_> {
    pub(crate) fn hint(self, hint: impl Into<String>) {
        self.0.hint = Some(hint.into());
    }
}

impl<'a> Report<'a> {
    fn new(flows: &'a FlowSet) -> Self {
        Self {
            flows,
            diagnostics: Vec::new(),
        }
    }

    pub(crate) fn error(
        &mut self,
        code: &'static str,
        pos: Pos,
        path: &str,
        message: String,
    ) -> Added<'_> {
        self.add(Severity::Error, code, Some(pos), path, message)
    }

    pub(crate) fn warning(
        &mut self,
        code: &'static str,
        pos: Pos,
        path: &str,
        message: String,
    ) -> Added<'_> {
        self.add(Severity::Warning, code, Some(pos), path, message)
    }

    /// Adds a warning about the flow set as a whole, with no file or line.
    pub(crate) fn global_warning(&mut self, code: &'static str, message: String) -> Added<'_> {
        self.add(Severity::Warning, code, None, "", message)
    }

    fn add(
        &mut self,
        severity: Severity,
        code: &'static str,
        pos: Option<Pos>,
        path: &str,
        message: String,
    ) -> Added<'_> {
        let file = pos.and_then(|pos| self.flows.sources.get(pos.file as usize).cloned());
        let pos = pos.unwrap_or(Pos {
            file: 0,
            line: 0,
            column: 0,
        });
        self.diagnostics.push(Diagnostic {
            severity,
            code,
            file,
            line: pos.line,
            column: pos.column,
            path: path.to_string(),
            message,
            hint: None,
        });
        let last = self.diagnostics.len() - 1;
        Added(&mut self.diagnostics[last])
    }

    /// Returns the diagnostics sorted by file, line and column. Diagnostics
    /// without a file come first; the sort is stable, so diagnostics at the
    /// same place keep the order in which the checks found them.
    fn finish(mut self) -> Vec<Diagnostic> {
        self.diagnostics
            .sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        self.diagnostics
    }
}

/// Returns the field path of a step, such as `flows.greet.steps[2]`.
///
/// NOTE: the index counts the steps the loader kept. A step after a
/// duplicate id, which the loader drops, gets an index one lower than its
/// place in the file.
pub(crate) fn step_path(flow: &Flow, index: usize) -> String {
    format!("flows.{}.steps[{index}]", flow.id)
}

#[cfg(test)]
mod tests;
