//! Dialogflow CX: each flow becomes a Tern flow, each page a run of steps.

mod agent;
mod build;
pub mod condition;
mod fulfillment;
mod pages;
mod routes;
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::dialogflow::archive::Export;
use crate::dialogflow::json::J;
use crate::dialogflow::names::{Names, snake_case};
use crate::dialogflow::output::Output;
use crate::dialogflow::text::{cx_text, plain};
use crate::dialogflow::yaml::{Flow, Kind};
use crate::project::{ImportError, Project};
use crate::report::{Fidelity, Report};

use agent::Agent;
use build::{Ctx, Edge, FlowBuilder};

/// The intent Dialogflow CX creates for greetings.
const WELCOME_INTENT: &str = "Default Welcome Intent";

pub fn import(path: &Path) -> Result<Project, ImportError> {
    let export = Export::read(path, "Dialogflow CX")?;
    let agent = Agent::read(export)?;
    let mut ctx = Ctx {
        agent: &agent,
        report: Report::new("dialogflow-cx"),
        flow_ids: BTreeMap::new(),
        actions: BTreeMap::new(),
        edges: BTreeMap::new(),
        semantic: BTreeMap::new(),
        used_intents: BTreeSet::new(),
        used_entities: BTreeSet::new(),
        waits: BTreeMap::new(),
        forms: BTreeMap::new(),
        triggers: BTreeMap::new(),
        greeting: None,
        untranslated_conditions: 0,
    };
    let mut names = Names::default();
    for source in &agent.flows {
        let id = names.unique(&snake_case(&source.flow.name), "flow");
        ctx.flow_ids.insert(source.flow.name.clone(), id);
    }

    let mut flows = Vec::new();
    let mut flow_sources = BTreeMap::new();
    for (index, source) in agent.flows.iter().enumerate() {
        let is_start_flow = index == 0;
        let id = ctx.flow_ids[&source.flow.name].clone();
        let node = agent.node(&source.flow);
        let triggers = if is_start_flow {
            start_triggers(&node)?
        } else {
            Vec::new()
        };
        let steps = FlowBuilder::new(&mut ctx, source, is_start_flow)?.build()?;
        let mut flow = Flow {
            id: id.clone(),
            name: source.flow.name.clone(),
            steps,
            ..Default::default()
        };
        let description = node
            .str("description")?
            .map(plain)
            .filter(|d| !d.is_empty());
        flow.description =
            description.unwrap_or_else(|| format!("Dialogflow CX flow \"{}\"", source.flow.name));
        for intent in &triggers {
            ctx.triggers.insert(intent.clone(), id.clone());
            add_trigger_hints(&ctx, &mut flow, intent);
        }
        flow.intents = triggers;
        let note = if is_start_flow {
            "the agent's start flow; its start page's intent routes are the flow's `nlu_trigger`"
        } else {
            "started by `call` or `link` steps where other flows transition to it"
        };
        ctx.report.add(
            Fidelity::Mapped,
            &source.flow.file,
            "$",
            format!("flow `{}`", source.flow.name),
            format!("flow `{id}`: {note}"),
        );
        flow_sources.insert(id, source.flow.file.clone());
        flows.push(flow);
    }

    report_unused(&mut ctx);
    let responses = engine_messages(&mut ctx)?;
    let tests = tests::convert(&mut ctx)?;
    if ctx.untranslated_conditions > 0 {
        ctx.report.to_do.push(format!(
            "{} Dialogflow conditions could not be translated and their branches are disabled; search the flows for `NOT TRANSLATED` and write them by hand",
            ctx.untranslated_conditions
        ));
    }
    let mut actions: Vec<_> = ctx.actions.values().cloned().collect();
    fill_action_parameters(&flows, &mut actions);
    let output = Output {
        flows,
        actions,
        responses,
        tests,
        report: ctx.report,
        flow_sources,
    };
    Ok(output.into_project())
}

/// Returns the intents of the start flow's start page. A greeting route
/// (the welcome intent with only a message and no target) becomes the
/// engine's `greeting` message instead.
fn start_triggers(node: &J) -> Result<Vec<String>, ImportError> {
    let mut triggers = Vec::new();
    for route in node.array("transitionRoutes")? {
        let Some(intent) = route.str("intent")?.map(str::trim) else {
            continue;
        };
        if intent == WELCOME_INTENT && is_greeting_only(&route)? {
            continue;
        }
        if !triggers.iter().any(|t| t == intent) {
            triggers.push(intent.to_string());
        }
    }
    Ok(triggers)
}

/// Returns whether a route only sends messages and stays on the start page.
pub fn is_greeting_only(route: &J) -> Result<bool, ImportError> {
    let has_target = ["targetPage", "targetFlow", "targetPlaybook"]
        .iter()
        .any(|k| route.get(k).is_some());
    let Some(fulfillment) = route.object("triggerFulfillment")? else {
        return Ok(!has_target);
    };
    let only_messages = ["setParameterActions", "webhook", "conditionalCases"]
        .iter()
        .all(|k| {
            fulfillment
                .get(k)
                .is_none_or(|v| v.value.as_array().is_some_and(|a| a.is_empty()))
        });
    Ok(!has_target && only_messages)
}

fn add_trigger_hints(ctx: &Ctx, flow: &mut Flow, intent: &str) {
    let Some(found) = ctx.agent.intents.get(intent) else {
        return;
    };
    let language = &ctx.agent.default_language;
    if let Some(phrases) = found.phrases.get(language).filter(|p| !p.is_empty()) {
        let examples: Vec<String> = phrases
            .iter()
            .take(5)
            .map(|p| format!("\"{}\"", plain(p)))
            .collect();
        flow.description.push_str(&format!(
            ". Started by intent \"{intent}\", for example {}",
            examples.join(", ")
        ));
    }
    for (other, phrases) in found.phrases.iter().filter(|(l, _)| *l != language) {
        if phrases.is_empty() {
            continue;
        }
        flow.trigger_comments.push(format!(
            "{intent} ({other}): {}",
            phrases
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(" | ")
        ));
    }
}

fn report_unused(ctx: &mut Ctx) {
    let agent = ctx.agent;
    for intent in agent.intents.values() {
        let counts: Vec<String> = intent
            .phrases
            .iter()
            .map(|(l, p)| format!("{} in `{l}`", p.len()))
            .collect();
        let phrases = if counts.is_empty() {
            "no training phrases".to_string()
        } else {
            format!("training phrases: {}", counts.join(", "))
        };
        let (fidelity, note) = if intent.is_fallback || intent.name == "Default Negative Intent" {
            (
                Fidelity::Unmapped,
                format!(
                    "negative examples; Tern's understanding layer has no negative training data ({phrases})"
                ),
            )
        } else if intent.name == WELCOME_INTENT && !ctx.triggers.contains_key(&intent.name) {
            (
                Fidelity::Approximate,
                format!("greetings are handled by the engine's `greet` command ({phrases})"),
            )
        } else if ctx.triggers.contains_key(&intent.name) {
            (
                Fidelity::Mapped,
                format!(
                    "an `nlu_trigger` intent; examples are in the flow description ({phrases})"
                ),
            )
        } else if ctx.used_intents.contains(&intent.name) {
            (
                Fidelity::Approximate,
                format!(
                    "checked by `semantic_if` branches that quote up to three phrases ({phrases})"
                ),
            )
        } else {
            (
                Fidelity::Unmapped,
                format!("no route uses this intent, so it was not imported ({phrases})"),
            )
        };
        ctx.report.add(
            fidelity,
            &intent.file,
            "$",
            format!("intent `{}`", intent.name),
            note,
        );
        for (language, file) in &intent.phrase_files {
            if language != &agent.default_language {
                let note = "Tern flows hold one language; these phrases are kept as comments above the flow's `nlu_trigger` where the intent starts a flow";
                ctx.report.add(
                    Fidelity::Approximate,
                    file,
                    "$.trainingPhrases",
                    format!("`{language}` training phrases of `{}`", intent.name),
                    note,
                );
            }
        }
    }
    for entity in agent.entities.values() {
        let used = ctx.used_entities.contains(&entity.name);
        let (fidelity, note) = if used {
            (
                Fidelity::Mapped,
                "used by form parameters; see those for the collect type".to_string(),
            )
        } else {
            (
                Fidelity::Unmapped,
                "no form parameter uses this entity type, so it was not imported".to_string(),
            )
        };
        ctx.report.add(
            fidelity,
            &entity.file,
            "$",
            format!("entity type `{}`", entity.name),
            note,
        );
        for (language, count) in &entity.other_languages {
            let note = format!(
                "{count} entries in `{language}`; Tern options hold the default language only, so add them as synonyms by hand"
            );
            ctx.report.add(
                Fidelity::Unmapped,
                &entity.file,
                "$",
                format!("`{language}` entries of `{}`", entity.name),
                note,
            );
        }
    }
    for webhook in agent.webhooks.values() {
        let used = ctx
            .actions
            .values()
            .any(|a| a.description.contains(&format!("`{}`", webhook.name)));
        if !used {
            ctx.report.add(
                Fidelity::Unmapped,
                &webhook.file,
                "$",
                format!("webhook `{}`", webhook.name),
                "no fulfillment calls this webhook, so no action was created",
            );
        }
    }
    for generator in agent.generators.values() {
        let note = "generators are LLM prompts run by Dialogflow; Tern flows have no such step (each use is listed separately)";
        ctx.report.add(
            Fidelity::Unmapped,
            &generator.file,
            "$",
            format!("generator `{}`", generator.name),
            note,
        );
    }
}

/// Engine messages: the greeting, the start flow's no-match message, and
/// two messages switched off because Dialogflow sends nothing there.
fn engine_messages(ctx: &mut Ctx) -> Result<BTreeMap<String, String>, ImportError> {
    let agent = ctx.agent;
    let mut responses = BTreeMap::new();
    responses.insert("anything_else".to_string(), String::new());
    responses.insert("ask_slot".to_string(), String::new());
    ctx.report.add(
        Fidelity::Mapped,
        "agent.json",
        "$",
        "engine message `anything_else`",
        "switched off: Dialogflow says nothing when a flow ends",
    );
    ctx.report.add(Fidelity::Mapped, "agent.json", "$", "engine message `ask_slot`", "switched off: a Dialogflow parameter without a prompt waits silently, and wait steps rely on the page's own question");
    let start = &agent.flows[0];
    let node = agent.node(&start.flow);
    for route in node.array("transitionRoutes")? {
        if route.str("intent")?.map(str::trim) != Some(WELCOME_INTENT) || !is_greeting_only(&route)?
        {
            continue;
        }
        let messages = route
            .object("triggerFulfillment")?
            .map(|f| f.array("messages"))
            .transpose()?
            .unwrap_or_default();
        let text = messages.iter().find_map(|m| {
            m.get("text")
                .and_then(|t| t.value.get("text"))
                .and_then(|t| t.get(0))
                .and_then(|t| t.as_str())
        });
        let what = "welcome intent route";
        match text.map(cx_text) {
            Some(converted)
                if converted.unmapped.is_empty()
                    && converted.slots.is_empty()
                    && !converted.text.is_empty() =>
            {
                ctx.report.add(
                    Fidelity::Mapped,
                    route.file,
                    route.path.clone(),
                    what,
                    "its message became the engine's `greeting`",
                );
                ctx.greeting = Some(converted.text.clone());
                responses.insert("greeting".to_string(), converted.text);
            }
            _ => {
                let note = "the greeting is generated or uses parameters, which the engine's `greeting` message cannot do; the default greeting is used";
                ctx.report.add(
                    Fidelity::Unmapped,
                    route.file,
                    route.path.clone(),
                    what,
                    note,
                );
            }
        }
    }
    for handler in node.array("eventHandlers")? {
        if handler.str("event")? != Some("sys.no-match-default") {
            continue;
        }
        let variants = handler
            .object("triggerFulfillment")?
            .map(|f| f.array("messages"))
            .transpose()?
            .unwrap_or_default();
        let text = variants.iter().find_map(|m| {
            m.get("text")
                .and_then(|t| t.value.get("text"))
                .and_then(|t| t.get(0))
                .and_then(|t| t.as_str())
        });
        if let Some(converted) = text
            .map(cx_text)
            .filter(|c| c.unmapped.is_empty() && c.slots.is_empty() && !c.text.is_empty())
        {
            let note = "the start flow's no-match message became the engine's `not_understood` (the first variant)";
            ctx.report.add(
                Fidelity::Approximate,
                handler.file,
                handler.path.clone(),
                "`sys.no-match-default` handler",
                note,
            );
            responses.insert("not_understood".to_string(), converted.text);
        }
    }
    Ok(responses)
}

/// Lists, for each action, the slots its flows collect or set, so that Tern
/// sends them: Dialogflow sends every session parameter to a webhook.
fn fill_action_parameters(flows: &[Flow], actions: &mut [crate::dialogflow::actions::Action]) {
    for flow in flows {
        let mut slots = BTreeSet::new();
        let mut called = BTreeSet::new();
        for step in &flow.steps {
            match &step.kind {
                Kind::Collect(collect) if !collect.slot.ends_with("_reply") => {
                    slots.insert(collect.slot.clone());
                }
                Kind::SetSlots(values) => slots.extend(values.iter().map(|(slot, _)| slot.clone())),
                Kind::Action { name } => {
                    called.insert(name.clone());
                }
                _ => {}
            }
        }
        for action in actions.iter_mut().filter(|a| called.contains(&a.name)) {
            action.parameters.extend(slots.iter().cloned());
        }
    }
}

impl Ctx<'_> {
    /// Decides how a transition from one flow to another becomes a step:
    /// `call` unless that makes flows call each other in a cycle, then `link`
    /// unless that does too, then the end of the flow.
    pub fn decide_edge(&mut self, from: &str, to: &str) -> Edge {
        let key = (from.to_string(), to.to_string());
        if let Some(edge) = self.edges.get(&key) {
            return *edge;
        }
        let edge = if !self.recursive_with(&key, Edge::Call) {
            Edge::Call
        } else if !self.recursive_with(&key, Edge::Link) {
            Edge::Link
        } else {
            Edge::End
        };
        self.edges.insert(key, edge);
        edge
    }

    /// Returns whether adding the edge makes a flow call itself, counting the
    /// flows a called flow links to, as Tern's `recursive_call` rule does.
    fn recursive_with(&self, added: &(String, String), kind: Edge) -> bool {
        let mut edges: Vec<(&str, &str, Edge)> = self
            .edges
            .iter()
            .map(|((a, b), e)| (a.as_str(), b.as_str(), *e))
            .collect();
        edges.push((&added.0, &added.1, kind));
        let links = |from: &str| -> BTreeSet<String> {
            let mut seen = BTreeSet::new();
            let mut pending = vec![from.to_string()];
            while let Some(current) = pending.pop() {
                if seen.insert(current.clone()) {
                    pending.extend(
                        edges
                            .iter()
                            .filter(|(a, _, e)| *a == current && *e == Edge::Link)
                            .map(|(_, b, _)| b.to_string()),
                    );
                }
            }
            seen
        };
        let mut invokes: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b, e) in &edges {
            if *e == Edge::Call {
                invokes.entry(a.to_string()).or_default().extend(links(b));
            }
        }
        let nodes: Vec<String> = invokes.keys().cloned().collect();
        nodes.iter().any(|start| {
            let mut seen = BTreeSet::new();
            let mut pending: Vec<String> = invokes
                .get(start)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default();
            while let Some(current) = pending.pop() {
                if &current == start {
                    return true;
                }
                if seen.insert(current.clone()) {
                    pending.extend(invokes.get(&current).into_iter().flatten().cloned());
                }
            }
            false
        })
    }
}
