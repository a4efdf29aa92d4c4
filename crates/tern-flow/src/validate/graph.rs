//! The step graph of each flow: which step can follow which, and the
//! unreachable steps it reveals.

use super::{Report, step_path};
use crate::expr::Expr;
use crate::model::{Branch, Condition, Flow, FlowSet, Next, Step, StepKind, Target};

/// Kind of move from one step to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EdgeKind {
    /// `next: STEP`, or no `next` at all (the following step in the list).
    Next,
    /// The `then` of the branch with this index in the step's `next` list.
    Branch(usize),
    /// The `else` of a step with branches that is not an action: taken when
    /// no condition matches.
    Fallback,
    /// The `else` of an action: taken when the action fails.
    Failure,
    /// A collect step's `validation.on_max_attempts`: taken after too many
    /// invalid values, so the slot stays unset.
    MaxAttempts,
    /// A step with branches and no `else`: the flow ends when no condition
    /// matches.
    NoMatch,
    /// A `link` step hands over to another flow, which takes this flow's
    /// place: when this flow was called, the caller continues after the
    /// linked flow ends.
    Link,
}

impl EdgeKind {
    /// Returns whether a collect step has stored its value when control
    /// leaves along this edge.
    pub(crate) fn collected(self) -> bool {
        self != EdgeKind::MaxAttempts
    }

    /// Returns whether an action step has succeeded, and so stored its
    /// result, when control leaves along this edge.
    pub(crate) fn succeeded(self) -> bool {
        self != EdgeKind::Failure
    }
}

/// A move from step `from` to step `to`, or to the end of the flow when `to`
/// is `None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Edge {
    pub from: usize,
    pub to: Option<usize>,
    pub kind: EdgeKind,
}

/// The edges between the steps of one flow, by step index. Targets that
/// name no step of the flow get no edge, and [`super::references`] reports
/// them.
#[derive(Debug)]
pub(crate) struct FlowGraph {
    pub successors: Vec<Vec<Edge>>,
    /// Incoming edges of each step. Edges to the end of the flow are absent.
    pub predecessors: Vec<Vec<Edge>>,
    /// Whether some target names no step of the flow.
    pub has_unknown_targets: bool,
}

impl FlowGraph {
    pub(crate) fn build(flow: &Flow) -> Self {
        let count = flow.steps.len();
        let mut successors = Vec::with_capacity(count);
        let mut predecessors = vec![Vec::new(); count];
        let mut has_unknown_targets = false;
        for (index, step) in flow.steps.iter().enumerate() {
            let edges = step_edges(flow, index, step, &mut has_unknown_targets);
            for edge in &edges {
                if let Some(to) = edge.to {
                    predecessors[to].push(*edge);
                }
            }
            successors.push(edges);
        }
        Self {
            successors,
            predecessors,
            has_unknown_targets,
        }
    }

    /// Edges that leave the flow: reaching one of them ends the flow and, for
    /// a called flow, returns to the caller (after the linked flow, for a
    /// `link` step).
    pub(crate) fn exits(&self) -> impl Iterator<Item = &Edge> {
        self.successors
            .iter()
            .flatten()
            .filter(|edge| edge.to.is_none())
    }

    /// Marks the steps reachable from the first step.
    pub(crate) fn reachable(&self) -> Vec<bool> {
        let mut seen = vec![false; self.successors.len()];
        let mut stack = Vec::new();
        if !seen.is_empty() {
            seen[0] = true;
            stack.push(0);
        }
        while let Some(index) = stack.pop() {
            for to in self.successors[index].iter().filter_map(|edge| edge.to) {
                if !seen[to] {
                    seen[to] = true;
                    stack.push(to);
                }
            }
        }
        seen
    }
}

fn step_edges(flow: &Flow, index: usize, step: &Step, has_unknown_targets: &mut bool) -> Vec<Edge> {
    let mut edges = Vec::new();
    let mut add = |target: Option<&Target>, kind: EdgeKind| {
        let to = match target {
            None | Some(Target::End) => None,
            Some(Target::Step(id)) => match flow.step_position(id) {
                Some(position) => Some(position),
                None => {
                    *has_unknown_targets = true;
                    return;
                }
            },
        };
        edges.push(Edge {
            from: index,
            to,
            kind,
        });
    };

    // Nothing in this flow follows a `link` or a `handoff`, even when they
    // have a `next`. A handoff ends the conversation with the assistant.
    match step.kind {
        StepKind::Link(_) => {
            add(None, EdgeKind::Link);
            return edges;
        }
        StepKind::Handoff(_) => return edges,
        _ => {}
    }

    let is_action = matches!(step.kind, StepKind::Action(_));
    match &step.next {
        Next::FallThrough => {
            let following = flow
                .steps
                .get(index + 1)
                .map(|s| Target::Step(s.id.clone()));
            add(following.as_ref(), EdgeKind::Next);
        }
        Next::Goto(target) => add(Some(&target.value), EdgeKind::Next),
        Next::Branches(branches) => {
            for (position, branch) in branches.iter().enumerate() {
                add(Some(&branch.then.value), EdgeKind::Branch(position));
            }
            if step.otherwise.is_none() && ends_when_no_branch_matches(branches) {
                add(None, EdgeKind::NoMatch);
            }
        }
    }

    if let Some(otherwise) = &step.otherwise {
        if is_action {
            add(Some(&otherwise.value), EdgeKind::Failure);
        } else if matches!(step.next, Next::Branches(_)) {
            add(Some(&otherwise.value), EdgeKind::Fallback);
        }
    }

    if let StepKind::Collect(collect) = &step.kind
        && let Some(target) = collect
            .validation
            .as_ref()
            .and_then(|v| v.on_max_attempts.as_ref())
    {
        add(Some(&target.value), EdgeKind::MaxAttempts);
    }
    edges
}

/// Returns whether a step with these branches and no `else` can run out of branches:
/// it cannot when a branch's condition is always true, such as `true`. An
/// empty list has been reported by the loader and counts as ending the flow.
pub(crate) fn ends_when_no_branch_matches(branches: &[Branch]) -> bool {
    !branches.iter().any(|branch| match &branch.condition {
        Condition::If(expr) => is_always_true(expr),
        Condition::Semantic(_) => false,
    })
}

/// Returns whether a condition uses no slots and evaluates to true.
fn is_always_true(expr: &Expr) -> bool {
    expr.slot_refs().is_empty() && expr.evaluate(&serde_json::Map::new())
}

/// Reports steps that no path from the flow's first step reaches. Flows
/// with an unknown target are skipped: the misspelled target most likely
/// names the step that looks unreachable, and `unknown_step` already
/// reports it.
pub(crate) fn check_reachability(flows: &FlowSet, graphs: &[FlowGraph], report: &mut Report) {
    for (flow, graph) in flows.flows.values().zip(graphs) {
        if graph.has_unknown_targets {
            continue;
        }
        let Some(first) = flow.first_step() else {
            continue;
        };
        for (index, reached) in graph.reachable().into_iter().enumerate() {
            if reached {
                continue;
            }
            let step = &flow.steps[index];
            let message = format!(
                "step `{}` is unreachable: no path from the first step `{}` leads to it",
                step.id, first.id
            );
            report
                .warning(
                    "unreachable_step",
                    step.pos,
                    &step_path(flow, index),
                    message,
                )
                .hint("point a `next`, `then` or `else` at it, or remove it");
        }
    }
}
