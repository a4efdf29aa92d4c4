//! References by name: steps named in `next`, `then`, `else` and
//! `on_max_attempts`, flows named in `call` and `link`, calls that recurse,
//! and flows that nothing can start.

use std::collections::{HashMap, VecDeque};

use super::{Report, step_path, suggest};
use crate::model::{Flow, FlowSet, Located, Next, Pos, StepKind, Target};

/// Reports step targets that name no step of their flow.
pub(crate) fn check_step_targets(flows: &FlowSet, report: &mut Report) {
    for flow in flows.flows.values() {
        for (index, step) in flow.steps.iter().enumerate() {
            let path = step_path(flow, index);
            match &step.next {
                Next::FallThrough => {}
                Next::Goto(target) => check_target(flow, target, &format!("{path}.next"), report),
                Next::Branches(branches) => {
                    for (position, branch) in branches.iter().enumerate() {
                        let field = format!("{path}.next[{position}].then");
                        check_target(flow, &branch.then, &field, report);
                    }
                }
            }
            if let Some(otherwise) = &step.otherwise {
                check_target(flow, otherwise, &format!("{path}.else"), report);
            }
            if let StepKind::Collect(collect) = &step.kind
                && let Some(target) = collect
                    .validation
                    .as_ref()
                    .and_then(|v| v.on_max_attempts.as_ref())
            {
                check_target(
                    flow,
                    target,
                    &format!("{path}.validation.on_max_attempts"),
                    report,
                );
            }
        }
    }
}

fn check_target(flow: &Flow, target: &Located<Target>, path: &str, report: &mut Report) {
    let Target::Step(id) = &target.value else {
        return;
    };
    if flow.step(id).is_some() {
        return;
    }
    let message = format!(
        "unknown step `{id}`: flow `{}` has no step with this id",
        flow.id
    );
    let hint = if id.eq_ignore_ascii_case("end") {
        "write `END` in capitals to end the flow".to_string()
    } else {
        let ids: Vec<&str> = flow.steps.iter().map(|s| s.id.as_str()).collect();
        suggest::hint(id, &ids, "steps")
    };
    report
        .error("unknown_step", target.pos, path, message)
        .hint(hint);
}

/// A `call` or `link` step: the flow it names and where.
struct FlowReference<'a> {
    step_index: usize,
    field: &'static str,
    target: &'a Located<String>,
}

fn flow_references(flow: &Flow) -> impl Iterator<Item = FlowReference<'_>> {
    flow.steps
        .iter()
        .enumerate()
        .filter_map(|(step_index, step)| match &step.kind {
            StepKind::Call(target) => Some(FlowReference {
                step_index,
                field: "call",
                target,
            }),
            StepKind::Link(target) => Some(FlowReference {
                step_index,
                field: "link",
                target,
            }),
            _ => None,
        })
}

/// Reports `call` and `link` steps that name no flow.
pub(crate) fn check_flow_targets(flows: &FlowSet, report: &mut Report) {
    let ids: Vec<&str> = flows.flows.keys().map(String::as_str).collect();
    for flow in flows.flows.values() {
        for reference in flow_references(flow) {
            let name = &reference.target.value;
            if flows.flow(name).is_some() {
                continue;
            }
            let path = format!(
                "{}.{}",
                step_path(flow, reference.step_index),
                reference.field
            );
            let message = format!("unknown flow `{name}` in `{}`", reference.field);
            report
                .error("unknown_flow", reference.target.pos, &path, message)
                .hint(suggest::hint(name, &ids, "flows"));
        }
    }
}

/// Reports each cycle of `call` steps once: a flow that calls itself,
/// directly or through other flows, would never return. A cycle of `link`
/// steps alone is fine because each link ends the flow that links. But a
/// called flow that links to another is replaced by it, and the caller
/// waits for that one instead, so links count inside a cycle with a call.
pub(crate) fn check_recursive_calls(flows: &FlowSet, report: &mut Report) {
    let graph = start_graph(flows);
    let mut reported = vec![false; graph.len()];
    for caller in 0..graph.len() {
        if reported[caller] {
            continue;
        }
        let cycle = graph[caller]
            .iter()
            .filter(|start| start.is_call)
            .find_map(|call| Some((call, path_between(&graph, call.flow, caller)?)));
        let Some((call, path)) = cycle else {
            continue;
        };
        for member in same_cycle(&graph, caller) {
            reported[member] = true;
        }
        let Some((caller_id, flow)) = flows.flows.get_index(caller) else {
            continue;
        };
        let message = if call.flow == caller {
            format!("flow `{caller_id}` calls itself")
        } else {
            let names: Vec<String> = std::iter::once(caller)
                .chain(path)
                .map(|index| {
                    format!(
                        "`{}`",
                        flows
                            .flows
                            .get_index(index)
                            .map_or("", |(id, _)| id.as_str())
                    )
                })
                .collect();
            format!(
                "flow `{caller_id}` calls itself through {}",
                names.join(" → ")
            )
        };
        let path = format!("{}.call", step_path(flow, call.step_index));
        report
            .error("recursive_call", call.pos, &path, message)
            .hint(
                "a called flow has to return, so calls may not form a cycle. \
                 Loop with `next` inside one flow instead",
            );
    }
}

/// A `call` or `link` step, with the flow it starts by index in the flow
/// set.
struct FlowStart {
    step_index: usize,
    flow: usize,
    is_call: bool,
    pos: Pos,
}

/// Returns, per flow, the flows its `call` and `link` steps start. Steps
/// naming an unknown flow are left out.
fn start_graph(flows: &FlowSet) -> Vec<Vec<FlowStart>> {
    flows
        .flows
        .values()
        .map(|flow| {
            flow_references(flow)
                .filter_map(|reference| {
                    Some(FlowStart {
                        step_index: reference.step_index,
                        flow: flows.flows.get_index_of(&reference.target.value)?,
                        is_call: reference.field == "call",
                        pos: reference.target.pos,
                    })
                })
                .collect()
        })
        .collect()
}

/// Finds the shortest path of starts from flow `from` to flow `to`, as the
/// flows after `from` up to and including `to`.
fn path_between(graph: &[Vec<FlowStart>], from: usize, to: usize) -> Option<Vec<usize>> {
    if from == to {
        return Some(vec![to]);
    }
    let mut parent: HashMap<usize, usize> = HashMap::from([(from, from)]);
    let mut queue = VecDeque::from([from]);
    while let Some(flow) = queue.pop_front() {
        for start in &graph[flow] {
            if parent.contains_key(&start.flow) {
                continue;
            }
            parent.insert(start.flow, flow);
            if start.flow == to {
                let mut path = vec![to];
                let mut current = to;
                while current != from {
                    current = parent[&current];
                    path.push(current);
                }
                path.reverse();
                return Some(path);
            }
            queue.push_back(start.flow);
        }
    }
    None
}

/// Returns the flows that `flow` starts directly or indirectly and that
/// start it in turn, including `flow` itself.
fn same_cycle(graph: &[Vec<FlowStart>], flow: usize) -> Vec<usize> {
    let forward = reachable(graph.len(), flow, |from| {
        graph[from].iter().map(|s| s.flow).collect()
    });
    let backward = reachable(graph.len(), flow, |to| {
        (0..graph.len())
            .filter(|&from| graph[from].iter().any(|s| s.flow == to))
            .collect()
    });
    (0..graph.len())
        .filter(|&other| forward[other] && backward[other])
        .collect()
}

fn reachable(count: usize, start: usize, neighbours: impl Fn(usize) -> Vec<usize>) -> Vec<bool> {
    let mut seen = vec![false; count];
    seen[start] = true;
    let mut stack = vec![start];
    while let Some(flow) = stack.pop() {
        for next in neighbours(flow) {
            if !seen[next] {
                seen[next] = true;
                stack.push(next);
            }
        }
    }
    seen
}

/// Warns about flows without trigger intents that no other flow calls or
/// links to: nothing can start them.
pub(crate) fn check_startable(flows: &FlowSet, report: &mut Report) {
    for flow in flows.flows.values() {
        if flow.user_startable() {
            continue;
        }
        let started_by_other = flows
            .flows
            .values()
            .filter(|other| other.id != flow.id)
            .any(|other| flow_references(other).any(|r| r.target.value == flow.id));
        if started_by_other {
            continue;
        }
        let message = format!(
            "flow `{}` has no `nlu_trigger` and no other flow calls or links to it, \
             so nothing can start it",
            flow.id
        );
        report
            .warning("unstartable_flow", flow.pos, &format!("flows.{}", flow.id), message)
            .hint("add `nlu_trigger` intents, or start it from another flow with a `call` or `link` step");
    }
}

/// Warns about flow ids that differ only by case, which are easy to confuse
/// in `call` and `link` steps.
pub(crate) fn check_flow_id_case(flows: &FlowSet, report: &mut Report) {
    let mut first_by_folded: HashMap<String, &Flow> = HashMap::new();
    for flow in flows.flows.values() {
        let folded = flow.id.to_lowercase();
        let Some(first) = first_by_folded.get(&folded) else {
            first_by_folded.insert(folded, flow);
            continue;
        };
        let message = format!(
            "flow ids `{}` and `{}` differ only by case; the first is at {}",
            first.id,
            flow.id,
            flows.locate(first.pos)
        );
        report
            .warning(
                "flow_id_case_collision",
                flow.pos,
                &format!("flows.{}", flow.id),
                message,
            )
            .hint("rename one of the flows so that the ids differ by more than case");
    }
}
