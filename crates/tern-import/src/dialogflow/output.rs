//! Assembling the imported files, and the slot initialisation that Tern's
//! validator needs.
//!
//! Tern rejects a template or condition that reads a slot which is not set
//! on every path to it (`slot_not_collected`), while Dialogflow reads an
//! unset parameter as null. So for every slot the validator names, the flow
//! the user starts gets a first `set_slots` step that sets it to null.
//! Flows started only by `call` or `link` inherit it from their callers.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use serde_json::Value;

use super::actions::{Action, actions_file};
use super::yaml::{Flow, Kind, Step, flows_file, scalar};
use tern_flow::Diagnostic;

use crate::project::{Project, validate_project};
use crate::report::{Fidelity, Report};

/// Everything an importer produced, before it becomes files.
pub struct Output {
    pub flows: Vec<Flow>,
    pub actions: Vec<Action>,
    pub responses: BTreeMap<String, String>,
    /// Conversation test files by file name.
    pub tests: BTreeMap<String, String>,
    pub report: Report,
    /// The file each flow came from, for the report.
    pub flow_sources: BTreeMap<String, String>,
}

/// The id of the step that sets slots to null at the start of a flow.
pub const INIT_STEP: &str = "init_slots";

/// The maximum number of rounds of adding slots and validating again. Each round adds
/// the slots the previous one still lacked, so real agents need two or
/// three.
const MAX_ROUNDS: usize = 8;

impl Output {
    pub fn into_project(mut self) -> Project {
        let mut initialised: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut tried_starters = BTreeSet::new();
        for _ in 0..MAX_ROUNDS {
            let project = self.render(&initialised);
            let diagnostics = validate_project(&project);
            let mut added = self.break_loops(&diagnostics);
            let missing = missing_slots(&diagnostics);
            for (flow, slot) in missing {
                // Setting the slot where the conversation starts keeps values
                // that callers pass on. When the validator still cannot see
                // it there (a flow reached through a cycle of links), the
                // flow itself sets it.
                let owners = if tried_starters.insert((flow.clone(), slot.clone())) {
                    self.starting_flows(&flow)
                } else {
                    vec![flow.clone()]
                };
                for owner in owners {
                    added |= initialised.entry(owner).or_default().insert(slot.clone());
                }
            }
            if !added {
                break;
            }
        }
        for (flow, slots) in &initialised {
            let source = self.flow_sources.get(flow).cloned().unwrap_or_default();
            for slot in slots {
                let note = format!(
                    "`{slot}` is read on a path where the agent has not set it; Dialogflow reads it as null, but Tern requires a value on every path, so flow `{flow}` sets it to null in its first step. If a channel sets it before the conversation, remove it there and set it in a flow instead"
                );
                self.report.add(
                    Fidelity::Approximate,
                    &source,
                    "$",
                    format!("slot `{slot}`"),
                    note,
                );
            }
        }
        let mut project = self.render(&initialised);
        project.report = self.report;
        project
    }

    /// Cuts each loop that the validator reports as never waiting for the
    /// user (`loop_without_input`): the step that goes back to the loop's
    /// first step ends the flow instead. Dialogflow's conditions usually
    /// leave such loops at run time, but Tern's validator cannot see that.
    /// Returns whether anything changed.
    fn break_loops(&mut self, diagnostics: &[Diagnostic]) -> bool {
        let mut changed = false;
        for diagnostic in diagnostics
            .iter()
            .filter(|d| d.code == "loop_without_input")
        {
            let Some(flow_id) = diagnostic
                .path
                .strip_prefix("flows.")
                .and_then(|p| p.split(".steps").next())
            else {
                continue;
            };
            let Some(head) = diagnostic.message.split('`').nth(1) else {
                continue;
            };
            let Some(flow) = self.flows.iter_mut().find(|f| f.id == flow_id) else {
                continue;
            };
            let Some(last) = edge_into(&flow.steps, head) else {
                continue;
            };
            let step = &mut flow.steps[last];
            step.retarget(head, "END");
            let what = format!("transition from step `{}` to `{head}`", step.id);
            let note = "it closes a loop that never waits for the user, which Tern rejects; the flow ends here instead, so check whether the loop is needed";
            let source = self.flow_sources.get(flow_id).cloned().unwrap_or_default();
            self.report
                .add(Fidelity::Approximate, &source, "$", what, note);
            changed = true;
        }
        changed
    }

    /// Returns the user-startable flows from which `flow` is reached through
    /// `call` and `link` steps, or `flow` itself when none is.
    fn starting_flows(&self, flow: &str) -> Vec<String> {
        let mut starters = Vec::new();
        for root in self.flows.iter().filter(|f| !f.intents.is_empty()) {
            let mut seen = BTreeSet::new();
            let mut pending = vec![root.id.clone()];
            while let Some(current) = pending.pop() {
                if !seen.insert(current.clone()) {
                    continue;
                }
                if let Some(found) = self.flows.iter().find(|f| f.id == current) {
                    for step in &found.steps {
                        if let Kind::Call(target) | Kind::Link(target) = &step.kind {
                            pending.push(target.clone());
                        }
                    }
                }
            }
            if seen.contains(flow) {
                starters.push(root.id.clone());
            }
        }
        if starters.is_empty() {
            starters.push(flow.to_string());
        }
        starters
    }

    fn render(&self, initialised: &BTreeMap<String, BTreeSet<String>>) -> Project {
        let mut project = Project::default();
        for flow in &self.flows {
            let mut steps = flow.steps.clone();
            if let Some(slots) = initialised.get(&flow.id).filter(|s| !s.is_empty()) {
                let first = steps
                    .first()
                    .map(|s| s.id.clone())
                    .unwrap_or_else(|| "END".into());
                let values = slots.iter().map(|s| (s.clone(), Value::Null)).collect();
                let mut step = Step::new(INIT_STEP, Kind::SetSlots(values), first);
                step.comments.push(
                    "Dialogflow reads unset parameters as null; Tern needs them set on every path"
                        .into(),
                );
                steps.insert(0, step);
            }
            let rendered = Flow {
                id: flow.id.clone(),
                name: flow.name.clone(),
                description: flow.description.clone(),
                comments: flow.comments.clone(),
                intents: flow.intents.clone(),
                trigger_comments: flow.trigger_comments.clone(),
                guard: flow.guard.clone(),
                persisted_slots: flow.persisted_slots.clone(),
                steps,
            };
            project.files.insert(
                PathBuf::from(format!("flows/{}.yml", flow.id)),
                flows_file(&[rendered]),
            );
        }
        if !self.actions.is_empty() {
            project
                .files
                .insert(PathBuf::from("actions.yml"), actions_file(&self.actions));
        }
        if !self.responses.is_empty() {
            let mut text = String::new();
            for (key, value) in &self.responses {
                let _ = writeln!(text, "{key}: {}", scalar(value));
            }
            project.files.insert(PathBuf::from("responses.yml"), text);
        }
        for (name, text) in &self.tests {
            project
                .files
                .insert(PathBuf::from(format!("tests/{name}")), text.clone());
        }
        project
    }
}

/// (flow id, slot) for every `slot_not_collected` error.
fn missing_slots(diagnostics: &[Diagnostic]) -> BTreeSet<(String, String)> {
    diagnostics
        .iter()
        .filter(|d| d.code == "slot_not_collected")
        .filter_map(|d| {
            let flow = d
                .path
                .strip_prefix("flows.")?
                .split(".steps")
                .next()?
                .to_string();
            let slot = d.message.split('`').nth(1)?.to_string();
            Some((flow, slot))
        })
        .collect()
}

/// Returns the index of a step on a path from `head` back to `head` that passes no
/// collect step, the last one before `head`.
fn edge_into(steps: &[Step], head: &str) -> Option<usize> {
    let index = |id: &str| steps.iter().position(|s| s.id == id);
    let start = index(head)?;
    let mut seen = BTreeSet::new();
    let mut pending = vec![start];
    while let Some(current) = pending.pop() {
        if !seen.insert(current) || matches!(steps[current].kind, Kind::Collect(_)) {
            continue;
        }
        for target in steps[current].targets() {
            if target == head {
                return Some(current);
            }
            if let Some(next) = index(&target) {
                pending.push(next);
            }
        }
    }
    None
}
