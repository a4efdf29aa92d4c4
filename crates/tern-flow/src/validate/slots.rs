//! The slots set on every path to each step.
//!
//! A forward "definitely assigned" dataflow analysis runs over each flow's
//! step graph: the slots set on every path to a step are the intersection,
//! over its incoming edges, of what the previous step had plus what it set.
//! Loops are iterated to a fixed point. Calls make it interprocedural: after
//! a `call` step come the slots that the called flow sets on every path to
//! its end, and a flow that ends with a `link` passes on what the linked
//! flow sets. A flow without trigger intents that other flows start starts
//! with the slots set at every `call` or `link` step naming it, because slots
//! belong to the whole conversation.

use std::collections::{BTreeMap, BTreeSet};

use super::graph::{Edge, EdgeKind, FlowGraph};
use super::suggest;
use crate::model::{FlowSet, Step, StepKind};

pub(crate) type SlotSet = BTreeSet<String>;

/// The slots known to be set at a point, or `None` while no path has reached
/// the point. `None` is the identity of both meets: "every slot" for the
/// intersection, "no path yet" for the union.
pub(crate) type State = Option<SlotSet>;

/// Rule that combines the states of several incoming edges.
#[derive(Clone, Copy)]
enum Meet {
    /// Set on every path.
    Intersection,
    /// Set on at least one path.
    Union,
}

impl Meet {
    fn apply(self, left: State, right: &State) -> State {
        match (left, right) {
            (None, right) => right.clone(),
            (left, None) => left,
            (Some(left), Some(right)) => Some(match self {
                Meet::Intersection => left.intersection(right).cloned().collect(),
                Meet::Union => left.union(right).cloned().collect(),
            }),
        }
    }
}

/// Results of the analysis for the whole flow set.
pub(crate) struct Assigned {
    /// Per flow and step: the slots set on every path to the step.
    before: Vec<Vec<State>>,
    /// Per flow and step: the slots set on at least one path to the step.
    possibly_before: Vec<Vec<State>>,
    /// Per flow: the slots set on every path to its end, as seen by callers.
    exits: Vec<State>,
    /// Every slot that some step sets, with the first flow and step that
    /// sets it.
    anywhere: BTreeMap<String, (usize, usize)>,
}

impl Assigned {
    pub(crate) fn analyze(flows: &FlowSet, graphs: &[FlowGraph]) -> Self {
        let count = flows.flows.len();
        let mut solver = Solver {
            flows,
            graphs,
            starters: starters(flows),
            entry_forced: vec![false; count],
            exit_forced: vec![false; count],
            before: flows
                .flows
                .values()
                .map(|f| vec![None; f.steps.len()])
                .collect(),
            entries: vec![None; count],
            exits: vec![None; count],
        };
        solver.solve();

        let possibly_before = (0..count)
            .map(|flow| {
                solver
                    .solve_flow(flow, &solver.entries[flow], Meet::Union)
                    .0
            })
            .collect();
        Self {
            before: solver.before,
            possibly_before,
            exits: solver.exits,
            anywhere: slots_set_anywhere(flows),
        }
    }

    /// Returns the slots set on every path to the start of a step, or `None` when
    /// no path reaches the step.
    pub(crate) fn before(&self, flow: usize, step: usize) -> Option<&SlotSet> {
        self.before[flow][step].as_ref()
    }

    /// Returns the slots set after a step, when control leaves along an edge of
    /// `kind`.
    pub(crate) fn after(&self, flows: &FlowSet, flow: usize, step: usize, kind: EdgeKind) -> State {
        let before = &self.before[flow][step];
        transfer(
            flows,
            &self.exits,
            before,
            &flows.flows[flow].steps[step],
            kind,
        )
    }

    pub(crate) fn is_set_anywhere(&self, slot: &str) -> bool {
        self.anywhere.contains_key(slot)
    }

    /// Returns the names of all slots that some step sets, in name order.
    pub(crate) fn set_anywhere(&self) -> impl Iterator<Item = &str> {
        self.anywhere.keys().map(String::as_str)
    }

    /// Explains why `slot` is not set on every path to the start of a step.
    pub(crate) fn explain_missing(
        &self,
        flows: &FlowSet,
        graphs: &[FlowGraph],
        flow: usize,
        step: usize,
        slot: &str,
    ) -> Explanation {
        let Some(&(setter_flow, setter_step)) = self.anywhere.get(slot) else {
            let known: Vec<&str> = self.anywhere.keys().map(String::as_str).collect();
            let hint = match suggest::closest(slot, known.iter().copied()) {
                Some(best) => format!("did you mean `{best}`?"),
                None => format!("add a step with `collect: {slot}` before this step"),
            };
            return Explanation {
                reason: "is not collected by any flow".to_string(),
                hint,
            };
        };

        let possibly = self.possibly_before[flow][step]
            .as_ref()
            .is_some_and(|set| set.contains(slot));
        let witness = self.witness(flows, graphs, flow, step, slot);
        if possibly {
            let reason = format!(
                "is not collected on every path reaching this step ({})",
                witness.describe(flows, flow)
            );
            let hint = format!(
                "collect `{slot}` on that path too, or use it only where every path has collected it"
            );
            return Explanation { reason, hint };
        }
        if let Witness::Edge(edge) = witness
            && let Some(explanation) = explain_unsuccessful_edge(flows, flow, edge, slot)
        {
            return explanation;
        }

        let (setter_id, setter) = flows
            .flows
            .get_index(setter_flow)
            .map_or(("", None), |(id, f)| {
                (id.as_str(), f.steps.get(setter_step))
            });
        let setter_step_id = setter.map_or("", |s| s.id.as_str());
        if setter_flow == flow {
            let reason = "is not collected on any path reaching this step".to_string();
            let hint = format!(
                "step `{setter_step_id}` collects it, but on no path that reaches this step; collect it earlier"
            );
            Explanation { reason, hint }
        } else {
            let reason = format!(
                "is not collected in flow `{}` before this step",
                flows.flows[flow].id
            );
            let hint = format!(
                "flow `{setter_id}` collects it in step `{setter_step_id}`; collect it in this flow first, \
                 or `call: {setter_id}` before this step"
            );
            Explanation { reason, hint }
        }
    }

    /// Finds one way to reach `step` without `slot` set: an incoming edge
    /// whose source leaves the slot unset, or the start of the flow.
    fn witness(
        &self,
        flows: &FlowSet,
        graphs: &[FlowGraph],
        flow: usize,
        step: usize,
        slot: &str,
    ) -> Witness {
        let lacks = |edge: &&Edge| {
            self.after(flows, flow, edge.from, edge.kind)
                .is_some_and(|set| !set.contains(slot))
        };
        if let Some(edge) = graphs[flow].predecessors[step].iter().find(lacks) {
            return Witness::Edge(*edge);
        }
        Witness::Start
    }
}

/// One way to reach a step with a slot unset.
enum Witness {
    Edge(Edge),
    /// The start of the flow, which has no incoming edge.
    Start,
}

impl Witness {
    fn describe(&self, flows: &FlowSet, flow: usize) -> String {
        let Witness::Edge(edge) = self else {
            return "e.g. when the flow starts".to_string();
        };
        let from = &flows.flows[flow].steps[edge.from].id;
        match edge.kind {
            EdgeKind::Failure => format!("e.g. via step `{from}` when its action fails"),
            EdgeKind::MaxAttempts => {
                format!("e.g. via step `{from}` after too many invalid values")
            }
            _ => format!("e.g. via step `{from}`"),
        }
    }
}

/// Explains a slot missing after the failure edge of the action, or the
/// `on_max_attempts` edge of the collect step, that sets it on success.
fn explain_unsuccessful_edge(
    flows: &FlowSet,
    flow: usize,
    edge: Edge,
    slot: &str,
) -> Option<Explanation> {
    let from = &flows.flows[flow].steps[edge.from];
    let condition = match (&from.kind, edge.kind) {
        (StepKind::Action(action), EdgeKind::Failure) if action.result_slot == slot => {
            "only when its action succeeds, and this step is on its failure path"
        }
        (StepKind::Collect(collect), EdgeKind::MaxAttempts) if collect.store_as == slot => {
            "only when a valid value is given, and this step is on its `on_max_attempts` path"
        }
        _ => return None,
    };
    Some(Explanation {
        reason: format!("is set by step `{}` {condition}", from.id),
        hint: format!(
            "use `slots.{slot}` only on the `next` path of step `{}`",
            from.id
        ),
    })
}

/// Why a slot is not set at a step: the end of a sentence that starts with
/// "slot `x`", and what to do about it.
pub(crate) struct Explanation {
    pub reason: String,
    pub hint: String,
}

/// Per flow: the `call` and `link` steps in other flows and itself that
/// start it, as (flow, step) pairs.
fn starters(flows: &FlowSet) -> Vec<Vec<(usize, usize)>> {
    let mut starters = vec![Vec::new(); flows.flows.len()];
    for (caller, flow) in flows.flows.values().enumerate() {
        for (index, step) in flow.steps.iter().enumerate() {
            let (StepKind::Call(target) | StepKind::Link(target)) = &step.kind else {
                continue;
            };
            if let Some(callee) = flows.flows.get_index_of(&target.value) {
                starters[callee].push((caller, index));
            }
        }
    }
    starters
}

/// The fixed-point iteration over all flows.
struct Solver<'a> {
    flows: &'a FlowSet,
    graphs: &'a [FlowGraph],
    starters: Vec<Vec<(usize, usize)>>,
    /// Flows that start with no slots set although their starters were never
    /// reached, so that their steps are still checked.
    entry_forced: Vec<bool>,
    /// Flows whose end no path reaches, which callers treat as setting
    /// nothing, so that the steps after the call are still checked.
    exit_forced: Vec<bool>,
    before: Vec<Vec<State>>,
    entries: Vec<State>,
    exits: Vec<State>,
}

impl Solver<'_> {
    /// Iterates to the greatest fixed point, starting from "nothing reached"
    /// everywhere. Every update only removes slots, so the iteration ends.
    /// A flow left unreached then gets an empty entry (first) or exit, and
    /// the iteration continues from there, which again only removes slots.
    fn solve(&mut self) {
        loop {
            self.iterate();
            if force_unreached(&self.entries, &mut self.entry_forced) {
                continue;
            }
            if !force_unreached(&self.exits, &mut self.exit_forced) {
                break;
            }
        }
    }

    fn iterate(&mut self) {
        loop {
            let mut changed = false;
            for flow in 0..self.flows.flows.len() {
                let entry = self.entry(flow);
                let (before, mut exit) = self.solve_flow(flow, &entry, Meet::Intersection);
                if self.exit_forced[flow] {
                    exit = Meet::Intersection.apply(exit, &Some(SlotSet::new()));
                }
                if before != self.before[flow]
                    || exit != self.exits[flow]
                    || entry != self.entries[flow]
                {
                    changed = true;
                    self.before[flow] = before;
                    self.exits[flow] = exit;
                    self.entries[flow] = entry;
                }
            }
            if !changed {
                return;
            }
        }
    }

    /// Returns the slots set when a flow starts. Users can start a flow
    /// with trigger intents at any time, so such a flow starts with none.
    fn entry(&self, flow: usize) -> State {
        let starters = &self.starters[flow];
        let user_startable = self.flows.flows[flow].user_startable();
        if user_startable || starters.is_empty() || self.entry_forced[flow] {
            return Some(SlotSet::new());
        }
        starters.iter().fold(None, |state, &(caller, step)| {
            Meet::Intersection.apply(state, &self.before[caller][step])
        })
    }

    /// Solves one flow given its entry state and the current exits of the
    /// flows it calls. Returns the state before each step and at the end.
    fn solve_flow(&self, flow: usize, entry: &State, meet: Meet) -> (Vec<State>, State) {
        let steps = &self.flows.flows[flow].steps;
        let graph = &self.graphs[flow];
        let mut before: Vec<State> = vec![None; steps.len()];
        loop {
            let mut changed = false;
            for index in 0..steps.len() {
                let mut state = if index == 0 { entry.clone() } else { None };
                for edge in &graph.predecessors[index] {
                    let out = transfer(
                        self.flows,
                        &self.exits,
                        &before[edge.from],
                        &steps[edge.from],
                        edge.kind,
                    );
                    state = meet.apply(state, &out);
                }
                if state != before[index] {
                    before[index] = state;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let exit = graph.exits().fold(None, |state, edge| {
            let out = transfer(
                self.flows,
                &self.exits,
                &before[edge.from],
                &steps[edge.from],
                edge.kind,
            );
            meet.apply(state, &out)
        });
        (before, exit)
    }
}

/// Marks the flows whose state is still unreached as forced to empty.
/// Returns whether it marked any.
fn force_unreached(states: &[State], forced: &mut [bool]) -> bool {
    let mut marked = false;
    for (state, forced) in states.iter().zip(forced) {
        if state.is_none() && !*forced {
            *forced = true;
            marked = true;
        }
    }
    marked
}

/// Returns the state after `step` when control leaves along an edge of `kind`.
fn transfer(
    flows: &FlowSet,
    exits: &[State],
    before: &State,
    step: &Step,
    kind: EdgeKind,
) -> State {
    let mut state = before.clone()?;
    match &step.kind {
        StepKind::Collect(collect) if kind.collected() => {
            state.insert(collect.store_as.clone());
        }
        StepKind::Action(action) if kind.succeeded() => {
            state.insert(action.result_slot.clone());
        }
        StepKind::SetSlots(slots) => state.extend(slots.keys().cloned()),
        // After a call, and at the end of a flow that links, come the slots
        // that the other flow sets on every path to its end.
        StepKind::Call(target) | StepKind::Link(target) => {
            let callee_exit = flows
                .flows
                .get_index_of(&target.value)
                .map(|callee| &exits[callee]);
            match callee_exit {
                // The other flow has not ended on any path yet.
                Some(None) => return None,
                Some(Some(set)) => state.extend(set.iter().cloned()),
                None => {}
            }
        }
        _ => {}
    }
    Some(state)
}

/// Returns every slot that some step of some flow sets, with the first step
/// that sets it.
fn slots_set_anywhere(flows: &FlowSet) -> BTreeMap<String, (usize, usize)> {
    let mut anywhere = BTreeMap::new();
    for (flow_index, flow) in flows.flows.values().enumerate() {
        for (step_index, step) in flow.steps.iter().enumerate() {
            let names: Vec<&String> = match &step.kind {
                StepKind::Collect(collect) => vec![&collect.store_as],
                StepKind::Action(action) => vec![&action.result_slot],
                StepKind::SetSlots(slots) => slots.keys().collect(),
                _ => Vec::new(),
            };
            for name in names {
                anywhere
                    .entry(name.clone())
                    .or_insert((flow_index, step_index));
            }
        }
    }
    anywhere
}
