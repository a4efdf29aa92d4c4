//! Classic NLU-era projects: forms become flows of collect steps, and rules
//! that start with an intent become flows triggered by that intent.

use super::domain::{Domain, Form};
use super::flows::{DataSections, Item, insert_flow};
use super::model::{Collect, Flow, Next, Step, StepKind, Target};
use super::steps::StepBuilder;
use super::yaml_in::Node;
use super::{Ctx, humanize, identifier, responses, slots};
use crate::report::Fidelity;

/// Returns the built-in command that Tern's understanding layer produces
/// for a classic intent, when no flow is needed for it.
pub(crate) fn built_in_command(intent: &str) -> Option<&'static str> {
    match intent {
        "greet" => Some("greet"),
        "affirm" => Some("affirm"),
        "deny" => Some("deny"),
        "out_of_scope" | "chitchat" => Some("out_of_scope"),
        "nlu_fallback" => Some("not_understood"),
        "human_handoff" | "talk_to_human" | "request_human" => Some("handoff"),
        "stop" | "cancel" => Some("cancel"),
        _ => None,
    }
}

pub(crate) fn convert(ctx: &mut Ctx, domain: &Domain, data: &DataSections) {
    let mut form_flows: Vec<(String, Flow)> = Vec::new();
    for form in domain.forms.values() {
        form_flows.push((form.name.clone(), form_flow(ctx, domain, form)));
    }
    for rule in &data.rules {
        convert_rule(ctx, domain, rule, &mut form_flows);
    }
    add_story_triggers(data, &mut form_flows);
    for (_, mut flow) in form_flows {
        if flow.intents.is_empty() {
            flow.intents.push(flow.id.clone());
        }
        let loc = flow.loc.clone();
        insert_flow(ctx, flow, &loc);
    }
}

/// Builds a flow with one collect step per required slot of the form.
fn form_flow(ctx: &mut Ctx, domain: &Domain, form: &Form) -> Flow {
    let id = identifier(&form.name);
    let mut steps = Vec::new();
    let mut hints = Vec::new();
    for rasa_slot in &form.required_slots {
        let slot = identifier(rasa_slot);
        let mut collect = Collect {
            slot: slot.clone(),
            ..Collect::default()
        };
        let mut step = Step::new(
            format!("ask_{slot}"),
            StepKind::Route,
            Next::Goto(Target::End),
            form.loc.clone(),
        );
        if let Some(definition) = domain.slot(rasa_slot) {
            let kind = slots::collect_type(definition);
            collect.collect_type = kind.collect_type;
            collect.options = kind.options;
            for mapping in &definition.mappings {
                let applies =
                    mapping.active_loops.is_empty() || mapping.active_loops.contains(&form.name);
                if applies && let Some(hint) = slots::mapping_hint(rasa_slot, mapping) {
                    hints.push(hint);
                }
            }
        } else {
            ctx.add(
                Fidelity::Approximate,
                &form.loc,
                format!("form `{}` slot `{rasa_slot}`", form.name),
                "the slot is not defined in the domain, so it is collected as text",
            );
        }
        let specific = format!("utter_ask_{}_{rasa_slot}", form.name);
        let general = format!("utter_ask_{rasa_slot}");
        let utter = if domain.responses.contains_key(&specific) {
            specific
        } else {
            general
        };
        match responses::convert(domain, &utter).filter(|c| !c.text.is_blank()) {
            Some(converted) => {
                ctx.used_responses.insert(utter.clone());
                step.utter = Some(utter);
                collect.description = Some(
                    converted
                        .text
                        .without(&std::collections::HashSet::from([slot.clone()])),
                );
                collect.buttons = converted.buttons;
            }
            None => {
                ctx.add(
                    Fidelity::Approximate,
                    &form.loc,
                    format!("form `{}` slot `{rasa_slot}` question", form.name),
                    format!("there is no `{utter}` response, so Tern asks its generic question"),
                );
                ctx.add_to_do(format!(
                    "Write a question for step `ask_{slot}` in flows/{id}.yml."
                ));
            }
        }
        step.kind = StepKind::Collect(Box::new(collect));
        steps.push(step);
    }
    for index in 0..steps.len() {
        let next = steps
            .get(index + 1)
            .map_or(Target::End, |s: &Step| Target::Step(s.id.clone()));
        steps[index].next = Next::Goto(next);
    }
    let slots_list: Vec<String> = form
        .required_slots
        .iter()
        .map(|s| format!("`{s}`"))
        .collect();
    let mut description = format!(
        "Fills in the Rasa form `{}`: asks for {}.",
        form.name,
        slots_list.join(", ")
    );
    if !hints.is_empty() {
        description.push_str(" Hints from the Rasa slot mappings: ");
        description.push_str(&hints.join("; "));
        description.push('.');
    }
    let mut note = format!("converted to flows/{id}.yml with one collect step per required slot");
    if !hints.is_empty() {
        note.push_str("; the slot mappings became hints in the flow description, because Tern's LLM extracts the values");
    }
    if !form.ignored_intents.is_empty() {
        note.push_str(&format!(
            "; `ignored_intents` ({}) has no equivalent",
            form.ignored_intents.join(", ")
        ));
    }
    let fidelity = if hints.is_empty() && form.ignored_intents.is_empty() {
        Fidelity::Mapped
    } else {
        Fidelity::Approximate
    };
    ctx.add(fidelity, &form.loc, format!("form `{}`", form.name), note);
    if steps.is_empty() {
        let mut step = Step::new(
            "no_slots".into(),
            StepKind::Route,
            Next::Goto(Target::End),
            form.loc.clone(),
        );
        step.comments
            .push("The Rasa form lists no required slots.".into());
        steps.push(step);
    }
    Flow {
        id,
        name: humanize(&form.name),
        description,
        intents: Vec::new(),
        guard: None,
        persisted_slots: Vec::new(),
        steps,
        comments: vec![format!(
            "Imported from the Rasa form `{}` ({}, line {}).",
            form.name, form.loc.file, form.loc.line
        )],
        loc: form.loc.clone(),
    }
}

/// Returns the steps of a rule or story, each with its kind (the first
/// key, such as `intent` or `action`).
fn rule_steps(rule: &Node) -> Vec<(String, Node)> {
    rule.get("steps")
        .map(|steps| {
            steps
                .items()
                .iter()
                .filter_map(|step| {
                    step.entries()
                        .first()
                        .map(|(k, _)| (k.name.clone(), step.clone()))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn convert_rule(ctx: &mut Ctx, domain: &Domain, rule: &Item, form_flows: &mut [(String, Flow)]) {
    let name = rule
        .node
        .get("rule")
        .and_then(Node::scalar_text)
        .unwrap_or_else(|| format!("rule at line {}", rule.node.line));
    let loc = rule.here();
    let what = format!("rule `{name}`");
    let steps = rule_steps(&rule.node);

    let conditions = rule
        .node
        .get("condition")
        .map(Node::items)
        .unwrap_or_default();
    let active_loop = conditions
        .iter()
        .find_map(|c| c.get("active_loop").and_then(Node::scalar_text));
    if let Some(form) = active_loop {
        submit_rule(ctx, domain, rule, &name, &form, &steps, form_flows);
        return;
    }

    let Some((kind, first)) = steps.first() else {
        ctx.add(Fidelity::Unmapped, &loc, what, "the rule has no steps");
        return;
    };
    if kind != "intent" {
        ctx.add(
            Fidelity::Unmapped,
            &loc,
            what,
            "the rule does not start with an intent, so nothing in Tern would start it",
        );
        return;
    }
    let intent = first
        .get("intent")
        .and_then(Node::scalar_text)
        .unwrap_or_default();
    let actions: Vec<&(String, Node)> = steps[1..]
        .iter()
        .take_while(|(k, _)| k != "intent" && k != "user")
        .collect();
    let mut notes = rule_notes(rule, actions.len() + 1 < steps.len());
    let action_names: Vec<String> = actions
        .iter()
        .filter(|(k, _)| k == "action")
        .filter_map(|(_, n)| n.get("action").and_then(Node::scalar_text))
        .collect();

    // A rule that starts a form only adds a trigger intent to the form flow.
    if let Some(form) = action_names.iter().find(|a| domain.forms.contains_key(*a))
        && let Some((_, flow)) = form_flows.iter_mut().find(|(f, _)| f == form)
    {
        if !flow.intents.contains(&intent) {
            flow.intents.push(intent.clone());
        }
        let others: Vec<String> = action_names
            .iter()
            .filter(|a| *a != form)
            .map(|a| format!("`{a}`"))
            .collect();
        let mut note = format!("the intent `{intent}` starts the flow `{}`", flow.id);
        if !others.is_empty() {
            note.push_str(&format!(
                "; the other actions of the rule ({}) are not converted",
                others.join(", ")
            ));
        }
        notes.insert(0, note);
        ctx.add(Fidelity::Approximate, &loc, what, notes.join("; "));
        return;
    }
    if let Some(note) = rule_as_engine_message(ctx, domain, &intent, &action_names) {
        notes.insert(0, note);
        ctx.add(Fidelity::Approximate, &loc, what, notes.join("; "));
        return;
    }
    if action_names.is_empty() {
        ctx.add(
            Fidelity::Unmapped,
            &loc,
            what,
            "the rule runs no actions after its intent",
        );
        return;
    }
    for (kind, node) in &actions {
        if kind != "action" {
            notes.push(format!(
                "the `{kind}` step at line {} is not converted",
                node.line
            ));
        }
    }

    let id = if ctx.flows.contains_key(&identifier(&intent))
        || form_flows.iter().any(|(_, f)| f.id == identifier(&intent))
    {
        identifier(&name)
    } else {
        identifier(&intent)
    };
    let guard = rule_guard(conditions, &mut notes);
    let action_nodes = actions
        .iter()
        .filter(|(k, _)| k == "action")
        .map(|(_, n)| n.clone())
        .collect();
    let steps_node = Node {
        value: super::yaml_in::Value::Seq(action_nodes),
        line: rule.node.line,
    };
    let flow_ids = form_flows
        .iter()
        .map(|(form, flow)| (form.clone(), flow.id.clone()))
        .collect();
    let mut builder = StepBuilder::new(ctx, domain, &rule.file, &id, &flow_ids);
    builder.build(&call_forms(&steps_node, domain));
    let steps = builder.finish().0;
    let flow = Flow {
        id: id.clone(),
        name: humanize(&name),
        description: format!(
            "Runs when the user expresses the intent `{intent}` (Rasa rule `{name}`)."
        ),
        intents: vec![intent.clone()],
        guard,
        persisted_slots: Vec::new(),
        steps,
        comments: vec![format!(
            "Imported from the Rasa rule `{name}` ({}, line {}).",
            rule.file, rule.node.line
        )],
        loc: loc.clone(),
    };

    notes.insert(
        0,
        format!("converted to flows/{id}.yml, triggered by the intent `{intent}`"),
    );
    let fidelity = if notes.len() > 1 {
        Fidelity::Approximate
    } else {
        Fidelity::Mapped
    };
    ctx.add(fidelity, &loc, what, notes.join("; "));
    insert_flow(ctx, flow, &loc);
}

/// Notes on the rule settings that a flow cannot keep.
fn rule_notes(rule: &Item, has_second_message: bool) -> Vec<String> {
    let mut notes = Vec::new();
    if has_second_message {
        notes.push("steps after the second user message are not converted, because a rule flow runs for one message".to_string());
    }
    if rule.node.get("conversation_start").and_then(Node::as_bool) == Some(true) {
        notes.push(
            "`conversation_start` is dropped: the flow runs whenever the intent is recognized"
                .into(),
        );
    }
    if rule.node.get("wait_for_user_input").and_then(Node::as_bool) == Some(false) {
        notes.push("`wait_for_user_input: false` is dropped: a Tern flow always waits for the user when it ends".into());
    }
    notes
}

/// Turns a rule's `slot_was_set` conditions into a flow guard that
/// compares each slot with its value.
fn rule_guard(conditions: &[Node], notes: &mut Vec<String>) -> Option<String> {
    let mut parts = Vec::new();
    for condition in conditions {
        for item in condition
            .get("slot_was_set")
            .map(Node::items)
            .unwrap_or_default()
        {
            for (slot, value) in item.entries() {
                let value = match value.to_json() {
                    serde_json::Value::String(text) => {
                        format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
                    }
                    other => other.to_string(),
                };
                parts.push(format!("slots.{} == {value}", identifier(&slot.name)));
            }
        }
    }
    if parts.is_empty() {
        return None;
    }
    notes.push("the rule's `slot_was_set` conditions became the flow's guard, which Tern checks only when the flow starts".into());
    Some(parts.join(" && "))
}

/// Rewrites `action: FORM` steps as `call: FORM` so that the step builder
/// calls the form's flow.
fn call_forms(steps: &Node, domain: &Domain) -> Node {
    let items = steps
        .items()
        .iter()
        .map(
            |step| match step.get("action").and_then(Node::scalar_text) {
                Some(action) if domain.forms.contains_key(&action) => {
                    let key = super::yaml_in::Key {
                        name: "call".into(),
                        line: step.line,
                    };
                    let value = Node {
                        value: super::yaml_in::Value::String(action),
                        line: step.line,
                    };
                    Node {
                        value: super::yaml_in::Value::Map(vec![(key, value)]),
                        line: step.line,
                    }
                }
                _ => step.clone(),
            },
        )
        .collect();
    Node {
        value: super::yaml_in::Value::Seq(items),
        line: steps.line,
    }
}

/// Turns a rule that replies to `greet`, `out_of_scope` or `nlu_fallback`
/// with one response into the engine message for that command. Returns
/// the report note, or `None` when the rule does not fit.
fn rule_as_engine_message(
    ctx: &mut Ctx,
    domain: &Domain,
    intent: &str,
    actions: &[String],
) -> Option<String> {
    let key = match built_in_command(intent)? {
        "greet" => "greeting",
        "out_of_scope" => "out_of_scope",
        "not_understood" => "not_understood",
        "handoff" => "handoff",
        _ => return None,
    };
    let [utter] = actions else { return None };
    let converted = responses::convert(domain, utter)?;
    if !converted.text.slots().is_empty() || converted.text.is_blank() {
        return None;
    }
    ctx.used_responses.insert(utter.clone());
    ctx.message_utters.insert(utter.clone(), key);
    ctx.messages.insert(key, converted.text.to_template().0);
    Some(format!(
        "the response `{utter}` becomes the engine message `{key}` in responses.yml, which Tern sends for the `{}` command",
        built_in_command(intent).unwrap_or_default()
    ))
}

/// Appends the actions that a rule conditioned on an active form runs
/// after the form ends to the end of the form's flow.
fn submit_rule(
    ctx: &mut Ctx,
    domain: &Domain,
    rule: &Item,
    name: &str,
    form: &str,
    steps: &[(String, Node)],
    form_flows: &mut [(String, Flow)],
) {
    let loc = rule.here();
    let what = format!("rule `{name}`");
    let Some(flow_index) = form_flows.iter().position(|(f, _)| f == form) else {
        ctx.add(
            Fidelity::Unmapped,
            &loc,
            what,
            format!("it depends on the active form `{form}`, which the domain does not define"),
        );
        return;
    };

    let ended = steps
        .iter()
        .position(|(k, n)| k == "active_loop" && n.get("active_loop").is_some_and(Node::is_null));
    let Some(ended) = ended else {
        ctx.add(
            Fidelity::Unmapped,
            &loc,
            what,
            format!("it runs while the form `{form}` is active, which Tern's collect steps handle themselves"),
        );
        return;
    };
    let actions: Vec<Node> = steps[ended + 1..]
        .iter()
        .filter(|(k, _)| k == "action")
        .map(|(_, n)| n.clone())
        .collect();
    if actions.is_empty() {
        ctx.add(
            Fidelity::Mapped,
            &loc,
            what,
            format!("the form `{form}` ends when its last question is answered, as the flow does"),
        );
        return;
    }

    let flow_id = form_flows[flow_index].1.id.clone();
    let steps_node = Node {
        value: super::yaml_in::Value::Seq(actions),
        line: rule.node.line,
    };
    let flow_ids = form_flows
        .iter()
        .map(|(f, flow)| (f.clone(), flow.id.clone()))
        .collect();
    let mut builder = StepBuilder::new(ctx, domain, &rule.file, &flow_id, &flow_ids);
    builder.build(&call_forms(&steps_node, domain));
    let mut added = builder.finish().0;

    let flow = &mut form_flows[flow_index].1;
    let existing: Vec<String> = flow.steps.iter().map(|s| s.id.clone()).collect();
    for step in &mut added {
        rename_step(step, &existing);
    }
    if let (Some(last), Some(first)) = (flow.steps.last_mut(), added.first())
        && last.next == Next::Goto(Target::End)
    {
        last.next = Next::Goto(Target::Step(first.id.clone()));
    }
    let names: Vec<String> = added.iter().map(|s| format!("`{}`", s.id)).collect();
    flow.steps.extend(added);

    ctx.add(
        Fidelity::Approximate,
        &loc,
        what,
        format!("its actions after the form ends run at the end of flows/{flow_id}.yml (steps {}); Rasa ran them from a rule conditioned on the active form", names.join(", ")),
    );
}

/// Gives steps appended from a rule ids that do not clash with the flow's.
fn rename_step(step: &mut Step, existing: &[String]) {
    let rename = |id: &str| {
        if existing.iter().any(|e| e == id) {
            format!("submit_{id}")
        } else {
            id.to_string()
        }
    };
    step.id = rename(&step.id);
    let retarget = |target: &mut Target| {
        if let Target::Step(id) = target {
            *id = rename(id);
        }
    };
    match &mut step.next {
        Next::Goto(target) => retarget(target),
        Next::Branches {
            branches,
            otherwise,
        } => {
            branches.iter_mut().for_each(|(_, t)| retarget(t));
            if let Some(target) = otherwise {
                retarget(target);
            }
        }
    }
}

/// Adds the intents that stories show starting a form, for forms that no
/// rule starts.
fn add_story_triggers(data: &DataSections, form_flows: &mut [(String, Flow)]) {
    for story in &data.stories {
        let steps = rule_steps(&story.node);
        for pair in steps.windows(2) {
            let (first_kind, first) = &pair[0];
            let (second_kind, second) = &pair[1];
            if first_kind != "intent" || second_kind != "action" {
                continue;
            }
            let intent = first
                .get("intent")
                .and_then(Node::scalar_text)
                .unwrap_or_default();
            let action = second
                .get("action")
                .and_then(Node::scalar_text)
                .unwrap_or_default();
            if let Some((_, flow)) = form_flows.iter_mut().find(|(form, _)| *form == action)
                && !flow.intents.contains(&intent)
            {
                flow.intents.push(intent);
            }
        }
    }
}
