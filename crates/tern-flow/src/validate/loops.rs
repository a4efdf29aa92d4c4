//! Loops that never wait for the user: cycles in a flow's step graph made
//! only of steps that run without asking anything.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};

use super::graph::{Edge, FlowGraph};
use super::{Report, step_path};
use crate::model::{Flow, FlowSet, StepKind};

/// Reports cycles of steps that never wait for the user. Within one turn
/// they would run until the engine's step limit stops the flow. A step
/// waits when it is a collect step, or a call of a flow that waits on every
/// path through it.
pub(crate) fn check_loops_without_input(
    flows: &FlowSet,
    graphs: &[FlowGraph],
    report: &mut Report,
) {
    let waits = CallWaits::new(flows, graphs);
    for (flow_index, (flow, graph)) in flows.flows.values().zip(graphs).enumerate() {
        let non_waiting: Vec<bool> = (0..flow.steps.len())
            .map(|step| !waits.step_waits(flow_index, step))
            .collect();
        for component in strongly_connected(graph, &non_waiting) {
            let Some(cycle) = cycle_through(graph, &component) else {
                continue;
            };
            let first = cycle[0];
            let step = &flow.steps[first];
            let path = step_path(flow, first);
            if cycle.iter().any(|&index| can_leave(&flow.steps[index])) {
                let message = format!(
                    "steps {} loop without waiting for the user whenever their conditions \
                     keep choosing the loop; the engine stops such a message after {} steps",
                    describe_cycle(flow, &cycle),
                    crate::MAX_STEPS_PER_TURN
                );
                report
                    .warning("loop_may_not_wait", step.pos, &path, message)
                    .hint("make sure a condition in the loop changes, or add a `collect` step");
                continue;
            }
            let message = format!(
                "steps {} form a loop that never waits for the user",
                describe_cycle(flow, &cycle)
            );
            report
                .error("loop_without_input", step.pos, &path, message)
                .hint("add a `collect` step to the loop, or give it a way out");
        }
    }
}

/// Whether a step can leave a loop by its conditions. An action's failure
/// path does not count: a loop that retries a failing action would call
/// the webhook again and again within one message.
fn can_leave(step: &crate::model::Step) -> bool {
    matches!(step.next, crate::model::Next::Branches(_))
}

/// Names the steps of a cycle in order, back to the first, such as
/// `` `a` → `b` → `a` ``. Long cycles are shortened to their first steps.
fn describe_cycle(flow: &Flow, cycle: &[usize]) -> String {
    const SHOWN: usize = 8;
    let name = |index: &usize| format!("`{}`", flow.steps[*index].id);
    let mut names: Vec<String> = cycle.iter().take(SHOWN).map(name).collect();
    if cycle.len() > SHOWN {
        names.push(format!("… ({} steps in all)", cycle.len()));
    }
    names.extend(cycle.first().map(name));
    names.join(" → ")
}

/// Cache of whether calling a flow always waits for the user before it
/// returns, filled on demand.
struct CallWaits<'a> {
    flows: &'a FlowSet,
    graphs: &'a [FlowGraph],
    memo: RefCell<HashMap<usize, bool>>,
}

impl<'a> CallWaits<'a> {
    fn new(flows: &'a FlowSet, graphs: &'a [FlowGraph]) -> Self {
        Self {
            flows,
            graphs,
            memo: Default::default(),
        }
    }

    fn step_waits(&self, flow_index: usize, step_index: usize) -> bool {
        let Some(flow) = self.flows.flows.get_index(flow_index).map(|(_, flow)| flow) else {
            return false;
        };
        match &flow.steps[step_index].kind {
            StepKind::Collect(_) => true,
            StepKind::Call(called) => self
                .flows
                .flows
                .get_index_of(&called.value)
                .is_some_and(|i| self.flow_waits(i)),
            _ => false,
        }
    }

    /// Returns whether every path from the flow's first step to one of its exits
    /// passes a waiting step. A flow that is being computed further up
    /// (a recursive call) counts as not waiting.
    fn flow_waits(&self, flow_index: usize) -> bool {
        if let Some(&known) = self.memo.borrow().get(&flow_index) {
            return known;
        }
        self.memo.borrow_mut().insert(flow_index, false);
        let graph = &self.graphs[flow_index];
        let mut seen = vec![false; graph.successors.len()];
        let mut stack = Vec::new();
        let mut exits_without_waiting = false;
        if !seen.is_empty() && !self.step_waits(flow_index, 0) {
            seen[0] = true;
            stack.push(0);
        }
        while let Some(index) = stack.pop() {
            for edge in &graph.successors[index] {
                match edge.to {
                    None if !self.exit_waits(flow_index, edge) => exits_without_waiting = true,
                    None => {}
                    Some(to) if !seen[to] && !self.step_waits(flow_index, to) => {
                        seen[to] = true;
                        stack.push(to);
                    }
                    Some(_) => {}
                }
            }
        }
        let waits = !graph.successors.is_empty() && !exits_without_waiting;
        self.memo.borrow_mut().insert(flow_index, waits);
        waits
    }

    /// Returns whether leaving the flow along `edge` waits for the user
    /// first: only a `link` to a flow that waits does.
    fn exit_waits(&self, flow_index: usize, edge: &Edge) -> bool {
        let Some((_, flow)) = self.flows.flows.get_index(flow_index) else {
            return false;
        };
        let StepKind::Link(target) = &flow.steps[edge.from].kind else {
            return false;
        };
        self.flows
            .flows
            .get_index_of(&target.value)
            .is_some_and(|linked| self.flow_waits(linked))
    }
}

/// Returns the strongly connected components (Tarjan) of the subgraph of `included`
/// steps that contain a cycle: two or more steps, or one step with an edge
/// to itself. Each component lists step indices in ascending order.
fn strongly_connected(graph: &FlowGraph, included: &[bool]) -> Vec<Vec<usize>> {
    let mut tarjan = Tarjan {
        graph,
        included,
        index: vec![None; included.len()],
        low: vec![0; included.len()],
        on_stack: vec![false; included.len()],
        stack: Vec::new(),
        next_index: 0,
        components: Vec::new(),
    };
    for (start, &is_included) in included.iter().enumerate() {
        if is_included && tarjan.index[start].is_none() {
            tarjan.visit(start);
        }
    }
    let mut components = tarjan.components;
    for component in &mut components {
        component.sort_unstable();
    }
    components.sort();
    components
}

struct Tarjan<'a> {
    graph: &'a FlowGraph,
    included: &'a [bool],
    index: Vec<Option<usize>>,
    low: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<usize>,
    next_index: usize,
    components: Vec<Vec<usize>>,
}

impl Tarjan<'_> {
    /// Visits `root` depth-first with an explicit stack, so that long chains
    /// of steps cannot overflow the call stack.
    fn visit(&mut self, root: usize) {
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        self.open(root);
        let graph = self.graph;
        while let Some(&mut (node, ref mut position)) = work.last_mut() {
            let successors = &graph.successors[node];
            if let Some(edge) = successors.get(*position) {
                *position += 1;
                let Some(to) = edge.to.filter(|&to| self.included[to]) else {
                    continue;
                };
                match self.index[to] {
                    None => {
                        self.open(to);
                        work.push((to, 0));
                    }
                    Some(to_index) if self.on_stack[to] => {
                        self.low[node] = self.low[node].min(to_index);
                    }
                    Some(_) => {}
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                self.low[parent] = self.low[parent].min(self.low[node]);
            }
            if Some(self.low[node]) == self.index[node] {
                self.close(node);
            }
        }
    }

    fn open(&mut self, node: usize) {
        self.index[node] = Some(self.next_index);
        self.low[node] = self.next_index;
        self.next_index += 1;
        self.stack.push(node);
        self.on_stack[node] = true;
    }

    fn close(&mut self, node: usize) {
        let mut component = Vec::new();
        while let Some(member) = self.stack.pop() {
            self.on_stack[member] = false;
            component.push(member);
            if member == node {
                break;
            }
        }
        let loops_to_itself = self.graph.successors[node]
            .iter()
            .any(|edge| edge.to == Some(node));
        if component.len() > 1 || loops_to_itself {
            self.components.push(component);
        }
    }
}

/// Finds one cycle inside a strongly connected component, starting and
/// ending at its first step, by breadth-first search within the component.
fn cycle_through(graph: &FlowGraph, component: &[usize]) -> Option<Vec<usize>> {
    let start = *component.first()?;
    let mut parent: HashMap<usize, usize> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for to in graph.successors[node].iter().filter_map(|edge| edge.to) {
            if component.binary_search(&to).is_err() {
                continue;
            }
            if to == start {
                let mut cycle = vec![node];
                let mut current = node;
                while current != start {
                    current = parent[&current];
                    cycle.push(current);
                }
                cycle.reverse();
                return Some(cycle);
            }
            if let std::collections::hash_map::Entry::Vacant(entry) = parent.entry(to) {
                entry.insert(node);
                queue.push_back(to);
            }
        }
    }
    None
}
