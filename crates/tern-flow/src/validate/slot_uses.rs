//! Slot references in step texts, conditions and flow guards, checked
//! against the slots that [`super::slots`] finds set on every path.

use super::graph::{EdgeKind, FlowGraph};
use super::slots::Assigned;
use super::{Report, step_path, suggest};
use crate::model::{Condition, FlowSet, Next, Pos, Step, StepKind};
use crate::template::Template;

/// Reports slot references in step texts and conditions that are not set on
/// every path reaching them, and collect steps that reference the slot they
/// are collecting.
pub(crate) fn check_slot_uses(
    flows: &FlowSet,
    graphs: &[FlowGraph],
    assigned: &Assigned,
    report: &mut Report,
) {
    for (flow_index, flow) in flows.flows.values().enumerate() {
        for (step_index, step) in flow.steps.iter().enumerate() {
            let uses = StepUses {
                flows,
                graphs,
                assigned,
                flow: flow_index,
                step: step_index,
            };
            uses.check(step, report);
        }
    }
}

/// The slot references of one step.
struct StepUses<'a> {
    flows: &'a FlowSet,
    graphs: &'a [FlowGraph],
    assigned: &'a Assigned,
    flow: usize,
    step: usize,
}

impl StepUses<'_> {
    fn check(&self, step: &Step, report: &mut Report) {
        let path = step_path(&self.flows.flows[self.flow], self.step);
        match &step.kind {
            StepKind::Response(response) => {
                self.check_template(
                    &response.text,
                    step.pos,
                    &format!("{path}.response"),
                    &[],
                    report,
                );
            }
            StepKind::Collect(collect) => {
                let own = [collect.slot.value.as_str(), collect.store_as.as_str()];
                let field = format!("{path}.description");
                self.check_template(&collect.description, step.pos, &field, &own, report);
                if let Some(message) = collect.validation.as_ref().and_then(|v| v.message.as_ref())
                {
                    let field = format!("{path}.validation.message");
                    self.check_template(message, step.pos, &field, &own, report);
                }
            }
            StepKind::Handoff(handoff) => {
                if let Some(message) = &handoff.message {
                    self.check_template(
                        message,
                        step.pos,
                        &format!("{path}.handoff.message"),
                        &[],
                        report,
                    );
                }
            }
            _ => {}
        }
        self.check_conditions(step, &path, report);
    }

    /// Checks a text shown when the step starts. `own` lists the names a
    /// collect step stores its value under, which its own texts may not
    /// reference because the value is not stored yet.
    ///
    /// NOTE: a template carries no position of its own, so its diagnostics
    /// point at the step's first line.
    fn check_template(
        &self,
        template: &Template,
        pos: Pos,
        field: &str,
        own: &[&str],
        report: &mut Report,
    ) {
        let before = self.assigned.before(self.flow, self.step);
        for slot in template.slot_refs() {
            if own.contains(&slot) {
                let message = format!(
                    "slot `{slot}` is the one this step collects, so it has no value yet when this text is shown"
                );
                report
                    .error("self_reference", pos, field, message)
                    .hint(format!(
                        "remove `slots.{slot}` from this text, or mention a slot collected earlier"
                    ));
                continue;
            }
            if before.is_some_and(|set| !set.contains(slot)) {
                self.report_missing(slot, pos, field, report);
            }
        }
    }

    /// Checks `if` conditions, which run after the step, so a collect step's
    /// conditions see its own slot and an action's see its result.
    fn check_conditions(&self, step: &Step, path: &str, report: &mut Report) {
        let Next::Branches(branches) = &step.next else {
            return;
        };
        for (position, branch) in branches.iter().enumerate() {
            let Condition::If(expr) = &branch.condition else {
                continue;
            };
            let after =
                self.assigned
                    .after(self.flows, self.flow, self.step, EdgeKind::Branch(position));
            let Some(after) = after else { continue };
            let field = format!("{path}.next[{position}].if");
            for slot in expr.slot_refs() {
                if !after.contains(slot) {
                    self.report_missing(slot, branch.pos, &field, report);
                }
            }
        }
    }

    fn report_missing(&self, slot: &str, pos: Pos, field: &str, report: &mut Report) {
        let explanation =
            self.assigned
                .explain_missing(self.flows, self.graphs, self.flow, self.step, slot);
        let message = format!("slot `{slot}` {}", explanation.reason);
        report
            .error("slot_not_collected", pos, field, message)
            .hint(explanation.hint);
    }
}

/// Warns about flow guards that reference slots no flow sets. Guards run
/// before their flow starts, so any flow setting the slot is enough.
pub(crate) fn check_guards(flows: &FlowSet, assigned: &Assigned, report: &mut Report) {
    let known: Vec<&str> = assigned.set_anywhere().collect();
    for flow in flows.flows.values() {
        let Some(guard) = &flow.guard else { continue };
        for slot in guard.value.slot_refs() {
            if assigned.is_set_anywhere(slot) {
                continue;
            }
            let message = format!(
                "guard uses slot `{slot}`, which no flow collects, so it never has a value"
            );
            let hint = match suggest::closest(slot, known.iter().copied()) {
                Some(best) => format!("did you mean `{best}`?"),
                None => format!("collect `{slot}` in some flow, or remove it from the guard"),
            };
            report
                .warning(
                    "unknown_slot",
                    guard.pos,
                    &format!("flows.{}.guard", flow.id),
                    message,
                )
                .hint(hint);
        }
    }
}
