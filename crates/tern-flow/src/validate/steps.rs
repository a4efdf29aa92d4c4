//! Checks of single steps: conditions without a fallback, conditions on
//! choice slots that no option can satisfy, and validation rules that do not
//! apply to the slot's type.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::graph::ends_when_no_branch_matches;
use super::{Report, step_path};
use crate::model::{Collect, Condition, FlowSet, Next, SlotType, StepKind};

/// Warns about steps with conditions and no `else`: when no condition
/// matches, the flow ends, which is rarely what the author meant.
pub(crate) fn check_no_else(flows: &FlowSet, report: &mut Report) {
    for flow in flows.flows.values() {
        for (index, step) in flow.steps.iter().enumerate() {
            let Next::Branches(branches) = &step.next else {
                continue;
            };
            if branches.is_empty()
                || step.otherwise.is_some()
                || !ends_when_no_branch_matches(branches)
            {
                continue;
            }
            let message = format!(
                "step `{}` has conditions but no `else`: when no condition matches, the flow ends",
                step.id
            );
            report
                .warning(
                    "no_else",
                    step.pos,
                    &format!("{}.next", step_path(flow, index)),
                    message,
                )
                .hint("add `else: STEP_ID`, or `else: END` to end the flow on purpose");
        }
    }
}

/// Warns about `if` conditions on a choice slot that are false for every
/// option, such as a comparison with a string that is not an option. Only
/// slots set solely by choice collect steps are checked, because only their
/// values are known to be option values.
pub(crate) fn check_choice_options(flows: &FlowSet, report: &mut Report) {
    let options = choice_options(flows);
    for flow in flows.flows.values() {
        for (index, step) in flow.steps.iter().enumerate() {
            let Next::Branches(branches) = &step.next else {
                continue;
            };
            for (position, branch) in branches.iter().enumerate() {
                let Condition::If(expr) = &branch.condition else {
                    continue;
                };
                let [slot] = expr.slot_refs()[..] else {
                    continue;
                };
                let Some(Some(values)) = options.get(slot) else {
                    continue;
                };
                let matches_an_option = values.iter().any(|value| {
                    let slots = Map::from_iter([(slot.to_string(), Value::String(value.clone()))]);
                    expr.evaluate(&slots)
                });
                if matches_an_option {
                    continue;
                }
                let listed: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
                let unknown: Vec<String> = string_literals(expr.source())
                    .into_iter()
                    .filter(|literal| !values.contains(literal))
                    .map(|literal| format!("`{literal}`"))
                    .collect();
                let message = if unknown.is_empty() {
                    format!(
                        "condition `{}` is false for every option of slot `{slot}`",
                        expr.source()
                    )
                } else {
                    format!(
                        "condition `{}` compares slot `{slot}` with {}, which is not one of its options",
                        expr.source(),
                        unknown.join(", ")
                    )
                };
                let path = format!("{}.next[{position}].if", step_path(flow, index));
                report
                    .warning("unknown_option", branch.pos, &path, message)
                    .hint(format!("the options of `{slot}` are {}", listed.join(", ")));
            }
        }
    }
}

/// Per slot: the option values when every step that sets the slot is a
/// choice collect step, else `None`.
fn choice_options(flows: &FlowSet) -> HashMap<&str, Option<Vec<String>>> {
    let mut options: HashMap<&str, Option<Vec<String>>> = HashMap::new();
    for step in flows.flows.values().flat_map(|flow| &flow.steps) {
        match &step.kind {
            StepKind::Collect(collect) => {
                let entry = options
                    .entry(collect.store_as.as_str())
                    .or_insert_with(|| Some(Vec::new()));
                let Some(values) = entry else { continue };
                if collect.slot_type != SlotType::Choice || collect.options.is_empty() {
                    *entry = None;
                    continue;
                }
                values.extend(collect.options.iter().map(|option| option.value.clone()));
            }
            StepKind::Action(action) => {
                options.insert(action.result_slot.as_str(), None);
            }
            StepKind::SetSlots(slots) => {
                for name in slots.keys() {
                    options.insert(name.as_str(), None);
                }
            }
            _ => {}
        }
    }
    options
}

/// Returns the contents of the quoted strings in a condition's source, with the
/// escapes of the condition language resolved.
fn string_literals(source: &str) -> Vec<String> {
    let mut literals = Vec::new();
    let mut chars = source.chars();
    while let Some(c) = chars.next() {
        if c != '\'' && c != '"' {
            continue;
        }
        let quote = c;
        let mut literal = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => literal.push('\n'),
                    Some('t') => literal.push('\t'),
                    Some(other) => literal.push(other),
                    None => break,
                },
                c if c == quote => break,
                c => literal.push(c),
            }
        }
        literals.push(literal);
    }
    literals
}

/// Warns about validation rules that the slot's type makes meaningless:
/// `min` and `max` on non-numeric slots, `pattern` on slots whose values
/// are not text.
pub(crate) fn check_validation_fields(flows: &FlowSet, report: &mut Report) {
    for flow in flows.flows.values() {
        for (index, step) in flow.steps.iter().enumerate() {
            let StepKind::Collect(collect) = &step.kind else {
                continue;
            };
            let Some(validation) = &collect.validation else {
                continue;
            };
            let path = format!("{}.validation", step_path(flow, index));
            let numeric = matches!(collect.slot_type, SlotType::Number | SlotType::Integer);
            let bounds = [("min", validation.min), ("max", validation.max)];
            for (field, value) in bounds {
                if value.is_none() || numeric {
                    continue;
                }
                let message = ignored_message(field, collect);
                report
                    .warning("ignored_validation", step.pos, &format!("{path}.{field}"), message)
                    .hint("`min` and `max` apply to `number` and `integer` slots; use `pattern` for text");
            }
            let not_text = matches!(
                collect.slot_type,
                SlotType::Number | SlotType::Integer | SlotType::Boolean | SlotType::File
            );
            if let Some(pattern) = &validation.pattern
                && not_text
            {
                let message = ignored_message("pattern", collect);
                let hint = if numeric {
                    "`pattern` applies to text slots; use `min` and `max` to limit numbers"
                } else {
                    "`pattern` applies to text slots; remove it"
                };
                report
                    .warning(
                        "ignored_validation",
                        pattern.pos,
                        &format!("{path}.pattern"),
                        message,
                    )
                    .hint(hint);
            }
        }
    }
}

fn ignored_message(field: &str, collect: &Collect) -> String {
    format!(
        "`{field}` is ignored because slot `{}` has collect_type `{}`",
        collect.slot.value,
        collect.slot_type.name()
    )
}
