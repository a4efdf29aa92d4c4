//! Dialogflow ES: each top-level intent becomes a Tern flow. Its required
//! parameters become collect steps, its webhook an action step and its
//! text responses response steps. Follow-up intents continue their parent's
//! flow after a wait for the user's reply, one `semantic_if` branch each.
//! Input and output contexts between top-level intents become a flow guard
//! and a persisted slot.

mod agent;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::dialogflow::actions::{Action, webhook_url};
use crate::dialogflow::archive::Export;
use crate::dialogflow::entities::slot_kind;
use crate::dialogflow::names::{Names, slot_name, snake_case};
use crate::dialogflow::output::{INIT_STEP, Output};
use crate::dialogflow::text::{es_text, plain, short};
use crate::dialogflow::yaml::{Branch, Collect, Condition, Flow, Kind, Next, Step};
use crate::project::{ImportError, Project};
use crate::report::{Fidelity, Report};

use agent::{Agent, Intent};

/// The name of the one webhook an ES agent has.
const FULFILLMENT_ACTION: &str = "fulfillment";

pub fn import(path: &Path) -> Result<Project, ImportError> {
    let export = Export::read(path, "Dialogflow ES")?;
    let agent = Agent::read(export)?;
    let mut importer = Importer {
        agent: &agent,
        report: Report::new("dialogflow-es"),
        responses: BTreeMap::new(),
        uses_webhook: false,
        context_slots: BTreeMap::new(),
        used_entities: BTreeSet::new(),
    };
    importer
        .responses
        .insert("anything_else".into(), String::new());
    importer.report.add(
        Fidelity::Mapped,
        "agent.json",
        "$",
        "engine message `anything_else`",
        "switched off: Dialogflow ES says nothing after an intent's response",
    );

    // Contexts that top-level intents require: the intents that output them
    // set a persisted slot, and the requiring intents get a guard.
    for intent in agent.intents.iter().filter(|i| i.parent.is_none()) {
        for context in &intent.input_contexts {
            let slot = format!("context_{}", snake_case(context));
            importer
                .context_slots
                .insert(context.to_ascii_lowercase(), slot);
        }
    }

    let mut flows = Vec::new();
    let mut flow_sources = BTreeMap::new();
    let mut ids = Names::default();
    for intent in agent.intents.iter().filter(|i| i.parent.is_none()) {
        if intent.is_fallback {
            importer.fallback(intent);
            continue;
        }
        if intent.is_welcome() && importer.welcome(intent) {
            continue;
        }
        let id = ids.unique(&snake_case(&intent.name), "intent");
        let flow = importer.flow(intent, &id)?;
        flow_sources.insert(id, intent.file.clone());
        flows.push(flow);
    }
    importer.report_entities();

    let mut actions = Vec::new();
    if importer.uses_webhook {
        let (url, placeholder) = webhook_url(agent.webhook_url.as_deref(), FULFILLMENT_ACTION);
        let mut parameters = BTreeSet::new();
        for flow in &flows {
            if flow
                .steps
                .iter()
                .any(|s| matches!(&s.kind, Kind::Action { name } if name == FULFILLMENT_ACTION))
            {
                for step in &flow.steps {
                    if let Kind::Collect(collect) = &step.kind
                        && !collect.slot.ends_with("_reply")
                    {
                        parameters.insert(collect.slot.clone());
                    }
                }
            }
        }
        let mut todo = "Action `fulfillment` (the agent's fulfillment webhook): ".to_string();
        todo.push_str(if placeholder {
            "replace the placeholder `webhook_url` in actions.yml with a service that speaks Tern's action protocol"
        } else {
            "check that the service at `webhook_url` speaks Tern's action protocol (docs/actions.md), not Dialogflow's"
        });
        if agent.webhook_has_credentials {
            todo.push_str("; the export configures credentials or headers, which were not copied");
        }
        importer.report.to_do.push(todo);
        actions.push(Action {
            name: FULFILLMENT_ACTION.into(),
            description: "The Dialogflow ES agent's fulfillment webhook".into(),
            webhook_url: url,
            parameters,
        });
    }
    let output = Output {
        flows,
        actions,
        responses: importer.responses,
        tests: BTreeMap::new(),
        report: importer.report,
        flow_sources,
    };
    Ok(output.into_project())
}

struct Importer<'a> {
    agent: &'a Agent,
    report: Report,
    responses: BTreeMap<String, String>,
    uses_webhook: bool,
    /// Slot that records an input context, by lowercased context name.
    context_slots: BTreeMap<String, String>,
    used_entities: BTreeSet<String>,
}

impl Importer<'_> {
    fn fallback(&mut self, intent: &Intent) {
        let text = intent.texts.first().map(|t| es_text(t));
        match text {
            Some(converted)
                if intent.input_contexts.is_empty()
                    && converted.slots.is_empty()
                    && !converted.text.is_empty() =>
            {
                self.report.add(
                    Fidelity::Mapped,
                    &intent.file,
                    "$.responses[0].messages",
                    format!("fallback intent `{}`", intent.name),
                    "its first text became the engine's `not_understood` message",
                );
                self.responses
                    .insert("not_understood".into(), converted.text);
            }
            _ => {
                let note = "a fallback with input contexts or without a plain text has no Tern equivalent; the engine's `not_understood` message is used";
                self.report.add(
                    Fidelity::Unmapped,
                    &intent.file,
                    "$",
                    format!("fallback intent `{}`", intent.name),
                    note,
                );
            }
        }
    }

    /// Turns the welcome intent into the `greeting` message when it only
    /// sends text. Returns false when it does more and needs a flow.
    fn welcome(&mut self, intent: &Intent) -> bool {
        let only_answers = intent.parameters.iter().all(|p| !p.required)
            && !intent.webhook
            && self.agent.children(&intent.id).is_empty();
        let Some(text) = intent
            .texts
            .first()
            .map(|t| es_text(t))
            .filter(|c| only_answers && c.slots.is_empty() && !c.text.is_empty())
        else {
            return false;
        };
        let mut note = "its text became the engine's `greeting` message".to_string();
        let mut fidelity = Fidelity::Mapped;
        if !intent.buttons.is_empty() {
            fidelity = Fidelity::Approximate;
            note.push_str(
                "; its suggestion chips were dropped because engine messages have no buttons",
            );
        }
        self.report.add(
            fidelity,
            &intent.file,
            "$.responses[0].messages",
            format!("welcome intent `{}`", intent.name),
            note,
        );
        self.responses.insert("greeting".into(), text.text);
        true
    }

    fn flow(&mut self, intent: &Intent, id: &str) -> Result<Flow, ImportError> {
        let mut description = format!("Dialogflow ES intent \"{}\"", intent.name);
        if let Some(examples) = intent
            .phrases
            .get(&self.agent.language)
            .filter(|p| !p.is_empty())
        {
            let quoted: Vec<String> = examples
                .iter()
                .take(5)
                .map(|p| format!("\"{}\"", plain(p)))
                .collect();
            description.push_str(&format!(", for example {}", quoted.join(", ")));
        }
        let mut flow = Flow {
            id: id.to_string(),
            name: intent.name.clone(),
            description,
            intents: vec![intent.name.clone()],
            ..Default::default()
        };
        for (language, phrases) in intent
            .phrases
            .iter()
            .filter(|(l, _)| **l != self.agent.language)
        {
            flow.trigger_comments.push(format!(
                "{language}: {}",
                phrases
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" | ")
            ));
            let note = "Tern flows hold one language; the phrases are kept as a comment above `nlu_trigger`";
            self.report.add(
                Fidelity::Approximate,
                &intent.file,
                "$",
                format!("`{language}` training phrases of `{}`", intent.name),
                note,
            );
        }
        let count = intent.phrases.get(&self.agent.language).map_or(0, Vec::len);
        self.report.add(Fidelity::Mapped, &intent.file, "$", format!("intent `{}`", intent.name), format!("flow `{id}` with `nlu_trigger` intent `{}`; {count} training phrases, the first five quoted in the description", intent.name));

        let guards: Vec<String> = intent
            .input_contexts
            .iter()
            .filter_map(|c| {
                self.context_slots
                    .get(&c.to_ascii_lowercase())
                    .map(|slot| format!("slots.{slot} == true"))
            })
            .collect();
        if !guards.is_empty() {
            flow.guard = Some(guards.join(" && "));
            let note = "the flow's `guard` requires the slot that the intent setting the context assigns; context lifespans are not modelled, so the slot stays set until the conversation ends";
            self.report.add(
                Fidelity::Approximate,
                &intent.file,
                "$.contexts",
                format!("input contexts of `{}`", intent.name),
                note,
            );
        }

        let mut names = Names::default();
        names.reserve(INIT_STEP);
        let mut steps = self.intent_steps(
            intent,
            &snake_case(&intent.name),
            &mut names,
            &mut flow.persisted_slots,
        )?;
        if steps.is_empty() {
            steps.push(Step::new("start", Kind::Route, "END"));
        }
        let first_id = steps.first().map(|s| s.id.clone()).unwrap_or_default();
        if first_id != "start" && !steps.iter().any(|s| s.id == "start") {
            {
                let old = first_id;
                for step in steps.iter_mut() {
                    step.retarget(&old, "start");
                    if step.id == old {
                        step.id = "start".into();
                    }
                }
            }
        }
        flow.steps = steps;
        Ok(flow)
    }

    /// Builds the steps of an intent and its follow-ups, the entry first. The
    /// intent's own steps run in order and then end, or wait for a reply
    /// when follow-ups continue the intent.
    fn intent_steps(
        &mut self,
        intent: &Intent,
        prefix: &str,
        names: &mut Names,
        persisted: &mut Vec<String>,
    ) -> Result<Vec<Step>, ImportError> {
        let mut steps: Vec<Step> = Vec::new();
        let entities = &self.agent.entities;
        for (index, parameter) in intent.parameters.iter().enumerate() {
            let path = format!("$.responses[0].parameters[{index}]");
            let slot = slot_name(&parameter.name);
            if !parameter.required {
                let note = "optional parameters are filled only when the user mentions them; Tern collects only what it asks for, so this one is not collected";
                self.report.add(
                    Fidelity::Approximate,
                    &intent.file,
                    path,
                    format!("optional parameter `{}`", parameter.name),
                    note,
                );
                continue;
            }
            let kind = slot_kind(&parameter.data_type, entities);
            self.used_entities
                .insert(parameter.data_type.trim_start_matches('@').to_string());
            let mut notes = vec![kind.note.clone()];
            let mut fidelity = kind.fidelity;
            if parameter.prompts.len() > 1 {
                fidelity = Fidelity::Approximate;
                notes.push(format!(
                    "Dialogflow picks one of {} prompts; Tern asks the first",
                    parameter.prompts.len()
                ));
            }
            if parameter.is_list {
                fidelity = Fidelity::Approximate;
                notes.push("the parameter is a list in Dialogflow; Tern collects one value".into());
            }
            let description = parameter
                .prompts
                .first()
                .map(|p| es_text(p).text)
                .filter(|d| !d.is_empty() && !d.contains(&format!("slots.{slot}")));
            if description.is_none() {
                fidelity = Fidelity::Approximate;
                notes.push("no usable prompt, so Tern asks its generic question".into());
            }
            self.report.add(
                fidelity,
                &intent.file,
                path,
                format!("parameter `{}` ({})", parameter.name, parameter.data_type),
                format!("a `collect` step for `{slot}`: {}", notes.join("; ")),
            );
            let collect = Collect {
                slot: slot.clone(),
                collect_type: kind.collect_type,
                description,
                options: kind.options.clone(),
                validation: kind.pattern.clone().map(|pattern| {
                    crate::dialogflow::yaml::Validation {
                        pattern: Some(pattern),
                        ..Default::default()
                    }
                }),
                ..Default::default()
            };
            let id = names.unique(&format!("{prefix}_{slot}"), "ask");
            steps.push(Step::new(id, Kind::Collect(Box::new(collect)), "END"));
        }
        if intent.webhook {
            self.uses_webhook = true;
            let id = names.unique(&format!("{prefix}_fulfillment"), "fulfillment");
            let mut step = Step::new(
                id,
                Kind::Action {
                    name: FULFILLMENT_ACTION.into(),
                },
                "END",
            );
            step.otherwise = Some("END".into());
            steps.push(step);
            let note = "an action step calling the `fulfillment` webhook; its reply text is not shown (the result is stored in `fulfillment_result`) and the static responses follow whether it succeeds or fails";
            self.report.add(
                Fidelity::Approximate,
                &intent.file,
                "$.webhookUsed",
                format!("webhook of `{}`", intent.name),
                note,
            );
        }
        for (index, text) in intent.texts.iter().enumerate() {
            let converted = es_text(text);
            let what = format!("response \"{}\"", short(text));
            if converted.text.is_empty() {
                continue;
            }
            let mut notes = converted.notes.clone();
            if intent.variant_counts.get(index).copied().unwrap_or(1) > 1 {
                notes.push("Dialogflow picks one of several variants at random; Tern always sends the first".into());
            }
            let fidelity = if notes.is_empty() {
                Fidelity::Mapped
            } else {
                Fidelity::Approximate
            };
            let note = if notes.is_empty() {
                "a `response` step".to_string()
            } else {
                notes.join("; ")
            };
            self.report.add(
                fidelity,
                &intent.file,
                "$.responses[0].messages",
                what,
                note,
            );
            let id = names.unique(&format!("{prefix}_say"), "say");
            steps.push(Step::new(
                id,
                Kind::Response {
                    text: converted.text,
                    buttons: Vec::new(),
                },
                "END",
            ));
        }
        if !intent.buttons.is_empty() {
            match steps
                .iter_mut()
                .rev()
                .find(|s| matches!(s.kind, Kind::Response { .. }))
            {
                Some(Step {
                    kind: Kind::Response { buttons, .. },
                    ..
                }) => {
                    buttons.extend(intent.buttons.iter().cloned());
                    self.report.add(Fidelity::Approximate, &intent.file, "$.responses[0].messages", "suggestion chips", "became buttons on the last response; Dialogflow shows them only on platforms that support them");
                }
                _ => self.report.add(
                    Fidelity::Unmapped,
                    &intent.file,
                    "$.responses[0].messages",
                    "suggestion chips",
                    "no text response to attach them to",
                ),
            }
        }
        for (path, kind) in &intent.unmapped_messages {
            self.report.add(
                Fidelity::Unmapped,
                &intent.file,
                path.clone(),
                format!("`{kind}` response"),
                "this kind of response has no Tern equivalent (Tern sends text with buttons)",
            );
        }
        for context in &intent.output_contexts {
            if let Some(slot) = self
                .context_slots
                .get(&context.to_ascii_lowercase())
                .cloned()
            {
                let id = names.unique(&format!("{prefix}_context"), "context");
                steps.push(Step::new(
                    id,
                    Kind::SetSlots(vec![(slot.clone(), Value::Bool(true))]),
                    "END",
                ));
                if !persisted.contains(&slot) {
                    persisted.push(slot.clone());
                }
                let note = format!(
                    "sets `{slot}` and keeps it when the flow ends (`persisted_slots`), for the intents that require the context"
                );
                self.report.add(
                    Fidelity::Approximate,
                    &intent.file,
                    "$.responses[0].affectedContexts",
                    format!("output context `{context}`"),
                    note,
                );
            }
        }
        if intent.reset_contexts {
            self.report.add(
                Fidelity::Unmapped,
                &intent.file,
                "$.responses[0].resetContexts",
                "context reset",
                "Tern has no contexts to reset; guarded flows stay available",
            );
        }
        for event in &intent.events {
            self.report.add(
                Fidelity::Unmapped,
                &intent.file,
                "$.events",
                format!("event `{event}`"),
                "Tern flows are started by intents, not events",
            );
        }

        let children = self.agent.children(&intent.id);
        let tail = if children.is_empty() {
            Vec::new()
        } else {
            self.follow_ups(intent, &children, prefix, names, &mut steps, persisted)?
        };
        let after = tail
            .first()
            .map(|s| s.id.clone())
            .unwrap_or_else(|| "END".into());
        let ids: Vec<String> = steps.iter().map(|s| s.id.clone()).collect();
        for (index, step) in steps.iter_mut().enumerate() {
            let next = ids.get(index + 1).cloned().unwrap_or_else(|| after.clone());
            step.next = Next::Target(next.clone());
            if matches!(step.kind, Kind::Action { .. }) {
                step.otherwise = Some(next);
            }
        }
        steps.extend(tail);
        Ok(steps)
    }

    /// Builds a wait for the reply after an intent with follow-ups, with one
    /// `semantic_if` branch per follow-up. A follow-up fallback intent
    /// becomes the `else`. Takes the parent's last text as the wait's
    /// question and returns the steps from the wait on.
    fn follow_ups(
        &mut self,
        parent: &Intent,
        children: &[&Intent],
        prefix: &str,
        names: &mut Names,
        own: &mut Vec<Step>,
        persisted: &mut Vec<String>,
    ) -> Result<Vec<Step>, ImportError> {
        let mut steps = Vec::new();
        // The parent's last text is the question the reply answers.
        let question = match own.last() {
            Some(Step {
                kind: Kind::Response { text, buttons },
                ..
            }) if buttons.is_empty() => Some(text.clone()),
            _ => None,
        };
        if question.is_some() {
            own.pop();
        }
        let wait = names.unique(&format!("{prefix}_wait"), "wait");
        let branch_id = names.unique(&format!("{prefix}_follow_up"), "follow_up");
        let slot = format!("{prefix}_reply");
        let collect = Collect {
            slot,
            description: question,
            ask_before_filling: true,
            ..Default::default()
        };
        steps.push(Step::new(
            wait.clone(),
            Kind::Collect(Box::new(collect)),
            branch_id.clone(),
        ));
        let branch_index = steps.len();
        steps.push(Step::new(branch_id.clone(), Kind::Route, "END"));
        let mut branches = Vec::new();
        let mut otherwise = "END".to_string();
        for child in children {
            let child_prefix = names.unique(&snake_case(&child.name), "follow_up");
            let child_steps = self.intent_steps(child, &child_prefix, names, persisted)?;
            let entry = child_steps
                .first()
                .map(|s| s.id.clone())
                .unwrap_or_else(|| "END".into());
            steps.extend(child_steps);
            if child.is_fallback {
                otherwise = entry;
                self.report.add(
                    Fidelity::Approximate,
                    &child.file,
                    "$",
                    format!("follow-up fallback intent `{}`", child.name),
                    format!("the `else` of the wait after `{}`", parent.name),
                );
                continue;
            }
            let mut sentence = format!(
                "the user's reply matches the follow-up intent \"{}\"",
                child.name
            );
            if let Some(examples) = child
                .phrases
                .get(&self.agent.language)
                .filter(|p| !p.is_empty())
            {
                let quoted: Vec<String> = examples
                    .iter()
                    .take(3)
                    .map(|p| format!("\"{}\"", p.replace('"', "'")))
                    .collect();
                sentence.push_str(&format!(", as in {}", quoted.join(", ")));
            }
            branches.push(Branch {
                condition: Condition::Semantic(sentence),
                then: entry,
                comments: Vec::new(),
            });
            let note = format!(
                "continues flow of `{}` after a wait for the reply, as a `semantic_if` branch; its input context `{}` is implied by the position",
                parent.name,
                child.input_contexts.join("`, `")
            );
            self.report.add(
                Fidelity::Approximate,
                &child.file,
                "$",
                format!("follow-up intent `{}`", child.name),
                note,
            );
        }
        if otherwise == "END" {
            let note = "any other reply ends the flow; in Dialogflow it could match another intent, which Tern's understanding layer can still start";
            self.report.add(
                Fidelity::Approximate,
                &parent.file,
                "$",
                format!("replies after `{}` that match no follow-up", parent.name),
                note,
            );
        }
        let step = &mut steps[branch_index];
        step.next = Next::Branches(branches);
        step.otherwise = Some(otherwise);
        Ok(steps)
    }

    fn report_entities(&mut self) {
        for entity in self.agent.entities.values() {
            let used = self.used_entities.contains(&entity.name);
            let (fidelity, note) = if used {
                (
                    Fidelity::Mapped,
                    "used by intent parameters; see those for the collect type",
                )
            } else {
                (
                    Fidelity::Unmapped,
                    "no required parameter uses this entity, so it was not imported",
                )
            };
            self.report.add(
                fidelity,
                &entity.file,
                "$",
                format!("entity `{}`", entity.name),
                note,
            );
            for (language, count) in &entity.other_languages {
                let note = format!(
                    "{count} entries in `{language}`; Tern options hold the default language only, so add them as synonyms by hand"
                );
                self.report.add(
                    Fidelity::Unmapped,
                    &entity.file,
                    "$",
                    format!("`{language}` entries of `{}`", entity.name),
                    note,
                );
            }
        }
    }
}
