//! CALM flows (`flows:` in the files under `data/`) converted into Tern
//! flows. The steps are converted in [`super::steps`], the `pattern_*`
//! flows in [`super::patterns`].

use std::collections::HashMap;

use super::domain::Domain;
use super::model::Flow;
use super::steps::StepBuilder;
use super::yaml_in::{Key, Node};
use super::{Ctx, Loc, SourceFile, condition, humanize, identifier, patterns};
use crate::report::Fidelity;

/// A YAML value from a data file, with the file it came from.
#[derive(Clone, Debug)]
pub(crate) struct Item {
    pub file: String,
    pub node: Node,
}

impl Item {
    pub fn loc(&self, line: u32) -> Loc {
        Loc {
            file: self.file.clone(),
            line,
        }
    }

    pub fn here(&self) -> Loc {
        self.loc(self.node.line)
    }
}

/// A flow definition: its id as written and its body.
#[derive(Clone, Debug)]
pub(crate) struct FlowItem {
    pub file: String,
    pub key: Key,
    pub node: Node,
}

impl FlowItem {
    pub fn loc(&self, line: u32) -> Loc {
        Loc {
            file: self.file.clone(),
            line,
        }
    }
}

/// The sections of the data files, in file order.
#[derive(Debug, Default)]
pub(crate) struct DataSections {
    pub flows: Vec<FlowItem>,
    pub nlu: Vec<Item>,
    pub rules: Vec<Item>,
    pub stories: Vec<Item>,
}

impl DataSections {
    pub fn split(ctx: &mut Ctx, files: &[SourceFile]) -> DataSections {
        let mut sections = DataSections::default();
        for file in files {
            for (key, value) in file.root.entries() {
                let items = || {
                    value.items().iter().map(|node| Item {
                        file: file.name.clone(),
                        node: node.clone(),
                    })
                };
                match key.name.as_str() {
                    "version" => {}
                    "flows" => {
                        for (id, node) in value.entries() {
                            sections.flows.push(FlowItem { file: file.name.clone(), key: id.clone(), node: node.clone() });
                        }
                    }
                    "nlu" => sections.nlu.extend(items()),
                    "rules" => sections.rules.extend(items()),
                    "stories" => sections.stories.extend(items()),
                    "responses" => ctx.add(
                        Fidelity::Unmapped,
                        &file.loc(key.line),
                        "responses in a data file",
                        "retrieval-intent responses are not imported; turn each question into a flow or answer it from a knowledge source",
                    ),
                    other => ctx.add(
                        Fidelity::Unmapped,
                        &file.loc(key.line),
                        format!("data key `{other}`"),
                        "not a data section that the importer knows; ignored",
                    ),
                }
            }
        }
        sections
    }
}

/// Converts every CALM flow and pattern.
pub(crate) fn convert(ctx: &mut Ctx, domain: &Domain, data: &DataSections) {
    let (patterns, regular): (Vec<&FlowItem>, Vec<&FlowItem>) = data
        .flows
        .iter()
        .partition(|flow| flow.key.name.starts_with("pattern_"));
    let mut flow_ids: HashMap<String, String> = HashMap::new();
    for flow in &regular {
        let has_steps = flow
            .node
            .get("steps")
            .is_some_and(|s| !s.items().is_empty());
        if has_steps {
            flow_ids
                .entry(flow.key.name.clone())
                .or_insert_with(|| identifier(&flow.key.name));
        }
    }
    let handoff = patterns::handoff_flow_id(&patterns);
    if let Some((rasa, tern)) = &handoff {
        flow_ids.insert(rasa.clone(), tern.clone());
    }
    for flow in regular {
        if let Some(converted) = convert_flow(ctx, domain, flow, &flow_ids) {
            insert_flow(ctx, converted, &flow.loc(flow.key.line));
        }
    }
    patterns::convert(ctx, domain, &patterns, &flow_ids);
}

/// Adds a converted flow unless its id is taken.
pub(crate) fn insert_flow(ctx: &mut Ctx, flow: Flow, loc: &Loc) {
    if ctx.flows.contains_key(&flow.id) {
        ctx.add(
            Fidelity::Unmapped,
            loc,
            format!("flow `{}`", flow.id),
            "another flow already has this id; this one is not imported",
        );
        return;
    }
    ctx.flows.insert(flow.id.clone(), flow);
}

fn convert_flow(
    ctx: &mut Ctx,
    domain: &Domain,
    item: &FlowItem,
    flow_ids: &HashMap<String, String>,
) -> Option<Flow> {
    let rasa_id = &item.key.name;
    let loc = item.loc(item.key.line);
    let what = format!("flow `{rasa_id}`");
    let Some(steps) = item.node.get("steps").filter(|s| !s.items().is_empty()) else {
        ctx.add(
            Fidelity::Unmapped,
            &loc,
            what,
            "the flow has no steps; not imported",
        );
        return None;
    };

    let id = identifier(rasa_id);
    let mut notes: Vec<String> = Vec::new();
    if id != *rasa_id {
        notes.push(format!("renamed to `{id}`, a valid Tern identifier"));
    }
    let name = item
        .node
        .get("name")
        .and_then(Node::scalar_text)
        .unwrap_or_else(|| humanize(rasa_id));
    let description = match item.node.get("description").and_then(Node::scalar_text) {
        Some(text) if !text.trim().is_empty() => text.trim().to_string(),
        _ => {
            notes.push("it has no description, so its name is used".into());
            name.clone()
        }
    };
    let mut flow = Flow {
        id: id.clone(),
        name,
        description,
        intents: Vec::new(),
        guard: None,
        persisted_slots: Vec::new(),
        steps: Vec::new(),
        comments: vec![format!(
            "Imported from the Rasa flow `{rasa_id}` ({}, line {}).",
            item.file, item.key.line
        )],
        loc: loc.clone(),
    };
    let startable = read_flow_fields(ctx, &mut flow, item);

    if startable && flow.intents.is_empty() {
        // Tern lets the user start only flows with trigger intents, while
        // Rasa's LLM may start any flow that has a description.
        flow.intents.push(id.clone());
    }

    let mut builder = StepBuilder::new(ctx, domain, &item.file, &id, flow_ids);
    builder.build(steps);
    let (built, persisted) = builder.finish();
    flow.steps = built;
    for slot in persisted {
        if !flow.persisted_slots.contains(&slot) {
            flow.persisted_slots.push(slot);
        }
    }

    let mut note = format!(
        "converted to flows/{id}.yml with {} steps",
        flow.steps.len()
    );
    let fidelity = if notes.is_empty() {
        Fidelity::Mapped
    } else {
        Fidelity::Approximate
    };
    if !notes.is_empty() {
        note.push_str("; ");
        note.push_str(&notes.join("; "));
    }
    ctx.add(fidelity, &loc, what, note);
    Some(flow)
}

/// Reads the flow's fields other than its steps. Returns whether the user
/// may start the flow.
fn read_flow_fields(ctx: &mut Ctx, flow: &mut Flow, item: &FlowItem) -> bool {
    let rasa_id = &item.key.name;
    let mut startable = true;
    for (key, value) in item.node.entries() {
        let field_loc = item.loc(key.line);
        match key.name.as_str() {
            "steps" | "name" | "description" => {}
            "if" => startable = convert_guard(ctx, flow, value, &field_loc),
            "nlu_trigger" => flow.intents = trigger_intents(ctx, value, &field_loc, rasa_id),
            "persisted_slots" => {
                flow.persisted_slots.extend(value.items().iter().filter_map(Node::scalar_text).map(|s| identifier(&s)));
            }
            "always_include_in_prompt" => ctx.add(
                Fidelity::Approximate,
                &field_loc,
                format!("flow `{rasa_id}` always_include_in_prompt"),
                "Tern's prompt lists every flow the user can start, so this setting is not needed",
            ),
            "run_pattern_completed" => ctx.add(
                Fidelity::Unmapped,
                &field_loc,
                format!("flow `{rasa_id}` run_pattern_completed"),
                "Tern sends `anything_else` after every completed flow; set it to an empty text in responses.yml to switch it off for all flows",
            ),
            other => ctx.add(
                Fidelity::Unmapped,
                &field_loc,
                format!("flow `{rasa_id}` field `{other}`"),
                "not a flow field that the importer knows; ignored",
            ),
        }
    }
    startable
}

/// Converts the flow's `if`. Returns whether the user may start the flow:
/// a guard that is always false makes it startable only by other flows.
fn convert_guard(ctx: &mut Ctx, flow: &mut Flow, value: &Node, loc: &Loc) -> bool {
    let what = format!("flow `{}` guard", flow.id);
    match condition::translate_value(value, &identifier) {
        Ok(translated) if translated.text == "false" => {
            ctx.add(
                Fidelity::Mapped,
                loc,
                what,
                "`if: False` lets only other flows start the flow, so it gets no trigger intent",
            );
            false
        }
        Ok(translated) if translated.text == "true" => {
            ctx.add(
                Fidelity::Mapped,
                loc,
                what,
                "always true, so no guard is needed",
            );
            true
        }
        Ok(translated) => {
            let (fidelity, note) = if translated.approximations.is_empty() {
                (Fidelity::Mapped, format!("guard `{}`", translated.text))
            } else {
                (
                    Fidelity::Approximate,
                    format!(
                        "guard `{}`: {}",
                        translated.text,
                        translated.approximations.join("; ")
                    ),
                )
            };
            ctx.add(fidelity, loc, what, note);
            flow.guard = Some(translated.text);
            true
        }
        Err(reason) => {
            ctx.add(
                Fidelity::Unmapped,
                loc,
                what,
                format!("{reason}; the flow has no guard, so check who may start it"),
            );
            ctx.add_to_do(format!(
                "Add a guard to flow `{}`: its Rasa condition could not be translated.",
                flow.id
            ));
            true
        }
    }
}

/// Reads `nlu_trigger`: a list of `intent: NAME` or `intent: {name: NAME,
/// confidence_threshold: N}` entries.
fn trigger_intents(ctx: &mut Ctx, value: &Node, loc: &Loc, flow: &str) -> Vec<String> {
    let mut intents = Vec::new();
    let mut thresholds = false;
    let entries: Vec<&Node> = if value.is_seq() {
        value.items().iter().collect()
    } else {
        vec![value]
    };
    for entry in entries {
        let intent = entry.get("intent");
        let name = intent.and_then(|i| {
            i.scalar_text()
                .or_else(|| i.get("name").and_then(Node::scalar_text))
        });
        if intent.and_then(|i| i.get("confidence_threshold")).is_some() {
            thresholds = true;
        }
        match name {
            Some(name) => intents.push(name),
            None => ctx.add(
                Fidelity::Unmapped,
                loc,
                format!("flow `{flow}` nlu_trigger entry"),
                format!("expected `intent: NAME`, found {}; ignored", entry.kind()),
            ),
        }
    }
    let note = if thresholds {
        (
            Fidelity::Approximate,
            "confidence thresholds are dropped because Tern's understanding layer does not score intents",
        )
    } else {
        (Fidelity::Mapped, "trigger intents kept in `nlu_trigger`")
    };
    ctx.add(note.0, loc, format!("flow `{flow}` nlu_trigger"), note.1);
    intents
}
