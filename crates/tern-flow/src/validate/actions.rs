//! Action steps against the actions file: the action must be registered and
//! every required parameter of its JSON Schema must be a slot set on every
//! path to the step, because parameters are taken from slots of the same
//! names.

use super::graph::FlowGraph;
use super::slots::Assigned;
use super::{Report, step_path, suggest};
use crate::actions::ActionRegistry;
use crate::model::{FlowSet, StepKind};

pub(crate) fn check_actions(
    flows: &FlowSet,
    graphs: &[FlowGraph],
    assigned: &Assigned,
    registry: Option<&ActionRegistry>,
    report: &mut Report,
) {
    let Some(registry) = registry else {
        warn_not_checked(flows, report);
        return;
    };
    let registered: Vec<&str> = registry.actions.keys().map(String::as_str).collect();
    for (flow_index, flow) in flows.flows.values().enumerate() {
        for (step_index, step) in flow.steps.iter().enumerate() {
            let StepKind::Action(action) = &step.kind else {
                continue;
            };
            let name = &action.name.value;
            let path = format!("{}.action", step_path(flow, step_index));
            let Some(definition) = registry.get(name) else {
                let message = format!("unknown action `{name}`: it is not in the actions file");
                report
                    .error("unknown_action", action.name.pos, &path, message)
                    .hint(unknown_action_hint(name, registry, &registered));
                continue;
            };
            let Some(before) = assigned.before(flow_index, step_index) else {
                continue;
            };
            for parameter in definition.required_parameters() {
                if before.contains(parameter) {
                    continue;
                }
                let explanation =
                    assigned.explain_missing(flows, graphs, flow_index, step_index, parameter);
                let message = format!(
                    "action `{name}` requires parameter `{parameter}`, but slot `{parameter}` {}",
                    explanation.reason
                );
                report
                    .error("missing_action_parameter", action.name.pos, &path, message)
                    .hint(explanation.hint);
            }
        }
    }
}

/// Adds one warning for the whole flow set when it has action steps but no
/// actions file was given.
fn warn_not_checked(flows: &FlowSet, report: &mut Report) {
    let has_actions = flows
        .flows
        .values()
        .flat_map(|flow| &flow.steps)
        .any(|step| matches!(step.kind, StepKind::Action(_)));
    if has_actions {
        let message = "action names and parameters were not checked because no readable actions file was given";
        report
            .global_warning("actions_not_checked", message.to_string())
            .hint("pass --actions FILE to check action names and parameters");
    }
}

/// Suggests a close action name, or where to register the action when the
/// registry has none.
fn unknown_action_hint(name: &str, registry: &ActionRegistry, registered: &[&str]) -> String {
    if !registered.is_empty() {
        return suggest::hint(name, registered, "actions");
    }
    match &registry.source {
        Some(path) => format!("register `{name}` in {}", path.display()),
        None => format!("give an actions file that registers `{name}` with --actions FILE"),
    }
}
