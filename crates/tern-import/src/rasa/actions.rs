//! Custom actions: placeholder webhooks in `actions.yml`, the slot each
//! action's result goes to, and texts that mention slots only custom code
//! could set.

use std::collections::{HashMap, HashSet, VecDeque};

use indexmap::IndexMap;
use regex::Regex;
use serde_json::{Value as Json, json};

use super::domain::Domain;
use super::model::{Flow, Next, StepKind, Target};
use super::{Ctx, Loc, identifier};
use crate::report::Fidelity;

/// A custom action that converted steps call.
#[derive(Clone, Debug)]
pub(crate) struct CustomAction {
    /// The name in the Rasa project.
    pub rasa_name: String,
    /// The location of the first step that uses it.
    pub loc: Loc,
    /// Whether the domain lists it under `actions`.
    pub declared: bool,
    /// Converted flows whose steps call it.
    pub flows: Vec<String>,
}

/// Returns the placeholder webhook URL of an action, on the port of Rasa's
/// action server.
pub(crate) fn placeholder_url(name: &str) -> String {
    format!("http://127.0.0.1:5055/webhook/{name}")
}

pub(crate) fn register(
    ctx: &mut Ctx,
    rasa_name: &str,
    tern_name: &str,
    flow: &str,
    declared: bool,
    loc: &Loc,
) {
    let entry = ctx
        .actions
        .entry(tern_name.to_string())
        .or_insert_with(|| CustomAction {
            rasa_name: rasa_name.to_string(),
            loc: loc.clone(),
            declared,
            flows: Vec::new(),
        });
    if !entry.flows.iter().any(|f| f == flow) {
        entry.flows.push(flow.to_string());
    }
}

/// Runs after all flows are converted: picks result slots, removes
/// mentions of slots that nothing in Tern sets, and reports the actions.
pub(crate) fn finish(ctx: &mut Ctx, domain: &Domain) {
    choose_result_slots(ctx);
    drop_unavailable_mentions(ctx);
    report(ctx, domain);
}

fn slot_reference() -> Regex {
    Regex::new(r"slots\.([A-Za-z_][A-Za-z0-9_]*)").expect("valid regex")
}

/// Slots that no collect or `set_slots` step assigns: in Rasa, custom
/// action code sets them.
fn action_set_slots(flows: &IndexMap<String, Flow>) -> HashSet<String> {
    let mut assigned = HashSet::new();
    let mut referenced = HashSet::new();
    let reference = slot_reference();
    for step in flows.values().flat_map(|f| &f.steps) {
        match &step.kind {
            StepKind::Collect(collect) => {
                assigned.insert(collect.slot.clone());
            }
            StepKind::SetSlots(values) => assigned.extend(values.iter().map(|(s, _)| s.clone())),
            _ => {}
        }
        referenced.extend(step.template_slots());
        if let Next::Branches { branches, .. } = &step.next {
            for (condition, _) in branches {
                referenced.extend(reference.captures_iter(condition).map(|c| c[1].to_string()));
            }
        }
    }
    referenced.difference(&assigned).cloned().collect()
}

/// Picks each action step's result slot: the first slot that only custom
/// code sets and that the step's branches, or the steps after it up to
/// the next question or action, use.
fn choose_result_slots(ctx: &mut Ctx) {
    let candidates = action_set_slots(&ctx.flows);
    let reference = slot_reference();
    let mut notes = Vec::new();
    for flow in ctx.flows.values_mut() {
        let positions: HashMap<String, usize> = flow
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), i))
            .collect();
        for index in 0..flow.steps.len() {
            let StepKind::Action {
                name,
                result_slot: None,
            } = &flow.steps[index].kind
            else {
                continue;
            };
            let name = name.clone();
            let used = slots_used_after(flow, index, &positions, &reference);
            let chosen = used.into_iter().find(|slot| candidates.contains(slot));
            let step = &mut flow.steps[index];
            let note = match &chosen {
                Some(slot) => format!(
                    "Rasa's custom action sets slots with events; Tern stores the webhook's result in `{slot}`, which the following steps use, so the webhook must return that value"
                ),
                None => format!(
                    "Tern stores the webhook's result in `{name}_result`; Rasa's custom action set slots with events instead"
                ),
            };
            step.kind = StepKind::Action {
                name: name.clone(),
                result_slot: chosen,
            };
            notes.push((
                step.loc.clone(),
                format!("flow `{}` step `{}`: action `{name}`", flow.id, step.id),
                note,
            ));
        }
    }
    for (loc, what, note) in notes {
        ctx.add(Fidelity::Approximate, &loc, what, note);
    }
}

/// Slots used by the branches of step `index` and by the steps reachable
/// from it before the next collect or action step, in the order met.
fn slots_used_after(
    flow: &Flow,
    index: usize,
    positions: &HashMap<String, usize>,
    reference: &Regex,
) -> Vec<String> {
    let mut used = Vec::new();
    let push_condition_slots = |next: &Next, used: &mut Vec<String>| {
        if let Next::Branches { branches, .. } = next {
            for (condition, _) in branches {
                used.extend(reference.captures_iter(condition).map(|c| c[1].to_string()));
            }
        }
    };
    push_condition_slots(&flow.steps[index].next, &mut used);
    let mut queue: VecDeque<usize> = VecDeque::new();
    let mut seen = HashSet::from([index]);
    let enqueue = |step: usize, queue: &mut VecDeque<usize>, seen: &mut HashSet<usize>| {
        for target in flow.steps[step].targets() {
            if let Target::Step(id) = target
                && let Some(&position) = positions.get(id)
                && seen.insert(position)
            {
                queue.push_back(position);
            }
        }
    };
    enqueue(index, &mut queue, &mut seen);
    while let Some(position) = queue.pop_front() {
        let step = &flow.steps[position];
        if matches!(step.kind, StepKind::Collect(_) | StepKind::Action { .. }) {
            continue;
        }
        used.extend(step.template_slots());
        push_condition_slots(&step.next, &mut used);
        enqueue(position, &mut queue, &mut seen);
    }
    used
}

/// Removes mentions of slots that no step of the flow (or of the flows it
/// calls or links to) sets: Tern would reject such a template.
fn drop_unavailable_mentions(ctx: &mut Ctx) {
    let available = available_slots(&ctx.flows);
    let mut reports = Vec::new();
    for flow in ctx.flows.values_mut() {
        let Some(own) = available.get(&flow.id) else {
            continue;
        };
        for step in &mut flow.steps {
            let missing: HashSet<String> = step
                .template_slots()
                .into_iter()
                .filter(|s| !own.contains(s))
                .collect();
            if missing.is_empty() {
                continue;
            }
            let mut names: Vec<&String> = missing.iter().collect();
            names.sort();
            let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            match &mut step.kind {
                StepKind::Response { text, .. } => *text = text.without(&missing),
                StepKind::Collect(collect) => {
                    collect.description = collect.description.as_ref().map(|t| t.without(&missing));
                    if let Some(validation) = collect.validation.as_mut() {
                        validation.message =
                            validation.message.as_ref().map(|t| t.without(&missing));
                    }
                }
                StepKind::Handoff {
                    message: Some(text),
                    ..
                } => *text = text.without(&missing),
                _ => {}
            }
            let note = format!(
                "the text mentioned {}, which only Rasa custom code set; the mention is removed because no Tern step sets it",
                names.join(", ")
            );
            reports.push((
                step.loc.clone(),
                format!("flow `{}` step `{}` text", flow.id, step.id),
                note,
                flow.id.clone(),
                step.id.clone(),
            ));
        }
    }
    for (loc, what, note, flow, step) in reports {
        ctx.add(Fidelity::Approximate, &loc, what, note);
        ctx.add_to_do(format!(
            "Check the text of step `{step}` in flows/{flow}.yml: a slot mention was removed."
        ));
    }
}

/// Returns, per flow, the slots that its steps can set, including the
/// steps of the flows it calls or links to.
fn available_slots(flows: &IndexMap<String, Flow>) -> HashMap<String, HashSet<String>> {
    let mut available: HashMap<String, HashSet<String>> = flows
        .values()
        .map(|flow| {
            (
                flow.id.clone(),
                flow.steps.iter().flat_map(|s| s.assigned_slots()).collect(),
            )
        })
        .collect();
    loop {
        let mut changed = false;
        for flow in flows.values() {
            for step in &flow.steps {
                let (StepKind::Call(other) | StepKind::Link(other)) = &step.kind else {
                    continue;
                };
                let extra = available.get(other).cloned().unwrap_or_default();
                let own = available.entry(flow.id.clone()).or_default();
                let before = own.len();
                own.extend(extra);
                changed |= own.len() != before;
            }
        }
        if !changed {
            return available;
        }
    }
}

fn report(ctx: &mut Ctx, domain: &Domain) {
    let used: Vec<(String, CustomAction)> = ctx
        .actions
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (name, action) in &used {
        let mut note =
            "custom action code must be rehosted as a webhook; actions.yml has a placeholder URL"
                .to_string();
        if !action.declared {
            note.push_str("; the domain does not list this action");
        }
        if name != &action.rasa_name {
            note.push_str(&format!("; renamed to `{name}`"));
        }
        ctx.add(
            Fidelity::Unmapped,
            &action.loc,
            format!("custom action `{}`", action.rasa_name),
            note,
        );
        ctx.add_to_do(format!(
            "Rehost the Rasa custom action `{}` as a webhook and set its URL in actions.yml (now the placeholder {}).",
            action.rasa_name,
            placeholder_url(name)
        ));
    }
    for (name, loc) in &domain.actions {
        if used.iter().any(|(_, a)| &a.rasa_name == name) {
            continue;
        }
        let note = if name.starts_with("validate_") {
            "form validation code is not converted; add `validation` rules to the collect steps"
        } else if name.starts_with("action_ask_") {
            "questions asked by custom code are not converted; the collect step asks its own question"
        } else if name.starts_with("utter_") {
            "a response listed as an action; the steps that use it send the response"
        } else if domain.forms.contains_key(name) {
            "a form; see the form entry"
        } else {
            "no converted step runs this action, so it is not imported"
        };
        ctx.add(
            Fidelity::Unmapped,
            loc,
            format!("domain action `{name}`"),
            note,
        );
    }
}

/// Builds the JSON Schema of an action's parameters: the slots its flows
/// collect, none of them required, because the webhook code decides what
/// it needs.
pub(crate) fn parameters_schema(ctx: &Ctx, domain: &Domain, action: &CustomAction) -> Json {
    let mut properties = serde_json::Map::new();
    for flow in action.flows.iter().filter_map(|f| ctx.flows.get(f)) {
        for step in &flow.steps {
            let StepKind::Collect(collect) = &step.kind else {
                continue;
            };
            let rasa = domain
                .slots
                .values()
                .find(|s| identifier(&s.name) == collect.slot);
            let schema = match rasa.map(|s| s.kind.as_str()) {
                Some("float") => json!({"type": "number"}),
                Some("bool") => json!({"type": "boolean"}),
                Some("categorical") => json!({"type": "string", "enum": collect.options.clone()}),
                Some("any") => json!({}),
                _ => json!({"type": "string"}),
            };
            properties.insert(collect.slot.clone(), schema);
        }
    }
    json!({"type": "object", "properties": properties})
}
