//! Read-only questions about the state that the understanding layer asks
//! before a turn: which question is open, which slots the active flows
//! collect, and which `semantic_if` conditions will be judged right after
//! the next answer (so one LLM call can answer them together).

use tern_flow::{Collect, Condition, Flow, Next, Step, StepKind, Target};

use super::Engine;
use crate::state::{DialogueState, Phase};

/// How far the look-ahead follows steps that do not wait for the user.
const LOOKAHEAD_STEPS: usize = 16;

impl<'a> Engine<'a> {
    /// The collect step whose question is open, if any.
    pub fn asked_collect(&self, state: &DialogueState) -> Option<&'a Collect> {
        let frame = state.stack.last().filter(|f| f.phase == Phase::Asking)?;
        match &self.flows.flow(&frame.flow)?.step(&frame.step)?.kind {
            StepKind::Collect(collect) => Some(collect),
            _ => None,
        }
    }

    /// Collect steps of the flows on the stack, active flow first, each slot
    /// once.
    pub fn collectable_slots(&self, state: &DialogueState) -> Vec<&'a Collect> {
        let mut seen: Vec<&'a Collect> = Vec::new();
        for frame in state.stack.iter().rev() {
            let Some(flow) = self.flows.flow(&frame.flow) else {
                continue;
            };
            for collect in flow_collects(flow) {
                if !seen.iter().any(|c| c.store_as == collect.store_as) {
                    seen.push(collect);
                }
            }
        }
        seen
    }

    /// `semantic_if` conditions reachable from the open question without
    /// another question, action or flow change in between.
    pub fn upcoming_conditions(&self, state: &DialogueState) -> Vec<String> {
        let Some(frame) = state.stack.last().filter(|f| f.phase == Phase::Asking) else {
            return Vec::new();
        };
        let Some(flow) = self.flows.flow(&frame.flow) else {
            return Vec::new();
        };
        conditions_after(flow, &frame.step)
    }
}

/// `semantic_if` conditions reachable from step `step_id` (included)
/// through steps that neither wait nor leave the flow.
pub fn conditions_after(flow: &Flow, step_id: &str) -> Vec<String> {
    {
        let mut conditions = Vec::new();
        let mut visited: Vec<&str> = Vec::new();
        let mut pending: Vec<&Step> = flow.step(step_id).into_iter().collect();
        while let Some(step) = pending.pop() {
            if visited.contains(&step.id.as_str()) || visited.len() >= LOOKAHEAD_STEPS {
                continue;
            }
            visited.push(&step.id);
            collect_conditions(step, &mut conditions);
            for next in successors(flow, step) {
                if passes_through(next) {
                    pending.push(next);
                }
            }
        }
        conditions
    }
}

/// Collect steps of a flow, in order.
pub fn flow_collects(flow: &Flow) -> impl Iterator<Item = &Collect> {
    flow.steps.iter().filter_map(|step| match &step.kind {
        StepKind::Collect(collect) => Some(collect.as_ref()),
        _ => None,
    })
}

fn collect_conditions(step: &Step, conditions: &mut Vec<String>) {
    if let Next::Branches(branches) = &step.next {
        for branch in branches {
            if let Condition::Semantic(sentence) = &branch.condition
                && !conditions.contains(sentence)
            {
                conditions.push(sentence.clone());
            }
        }
    }
}

/// Steps that run without waiting and keep the same input in view.
fn passes_through(step: &Step) -> bool {
    matches!(
        step.kind,
        StepKind::Route | StepKind::Response(_) | StepKind::SetSlots(_)
    )
}

fn successors<'f>(flow: &'f Flow, step: &Step) -> Vec<&'f Step> {
    let mut targets: Vec<&Target> = Vec::new();
    match &step.next {
        Next::FallThrough => {
            let index = flow.step_position(&step.id).unwrap_or(usize::MAX);
            return flow
                .steps
                .get(index.saturating_add(1))
                .into_iter()
                .collect();
        }
        Next::Goto(target) => targets.push(&target.value),
        Next::Branches(branches) => targets.extend(branches.iter().map(|b| &b.then.value)),
    }
    if let Some(otherwise) = &step.otherwise {
        targets.push(&otherwise.value);
    }
    targets
        .into_iter()
        .filter_map(|t| match t {
            Target::Step(id) => flow.step(id),
            Target::End => None,
        })
        .collect()
}
