//! The step graph of each flow: which step can follow which, and the checks
//! that only need the graph (unreachable steps, loops that never wait for
//! the user).

use std::collections::HashMap;

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

/// The edges between the steps of one flow, by step index. Targets that name
/// no step of the flow have no edge; [`super::references`] reports them.
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

    // Nothing in this flow follows a `link` or a `handoff`, whatever their
    // `next` says. A handoff ends the conversation with the assistant.
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

/// Reports cycles of steps that never wait for the user, which would run
/// forever within one turn. A step waits when it is a collect step, or a
/// call of a flow that waits on every path through it.
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
            let message = format!(
                "steps {} form a loop that never waits for the user, so it would run forever",
                describe_cycle(flow, &cycle)
            );
            report
                .error(
                    "loop_without_input",
                    step.pos,
                    &step_path(flow, first),
                    message,
                )
                .hint("add a `collect` step to the loop, or give it a way out");
        }
    }
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
    memo: std::cell::RefCell<HashMap<usize, bool>>,
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
pub(crate) fn strongly_connected(graph: &FlowGraph, included: &[bool]) -> Vec<Vec<usize>> {
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
    let mut queue = std::collections::VecDeque::from([start]);
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
