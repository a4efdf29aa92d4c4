//! One CX flow becomes one Tern flow: each page becomes a run of steps
//! (entry fulfillment, form questions, route branches, and a wait for the
//! user's reply when the page has intent routes).

use std::collections::{BTreeMap, BTreeSet};

use crate::dialogflow::actions::Action;
use crate::dialogflow::json::J;
use crate::dialogflow::names::{Names, snake_case};
use crate::dialogflow::yaml::{Kind, Step};
use crate::project::ImportError;
use crate::report::{Fidelity, Report};

use super::agent::{Agent, FlowSource, Source};
use super::routes::{Mode, Route, Test};

/// Target of calls made before the page's route step exists; replaced once
/// it does.
const RETURN_PLACEHOLDER: &str = "\u{0}return";
/// Target of the entry fulfillment before the form's first step exists.
const AFTER_ENTRY_PLACEHOLDER: &str = "\u{0}after_entry";

/// A page, by (flow, page) display name.
pub type PageKey = (String, String);
/// A step of an imported flow: (flow id, step id, slot).
pub type StepRef = (String, String, String);

/// State shared by all flows of one import.
pub struct Ctx<'a> {
    pub agent: &'a Agent,
    pub report: Report,
    /// Tern flow id by CX flow display name.
    pub flow_ids: BTreeMap<String, String>,
    pub actions: BTreeMap<String, Action>,
    /// Decided flow-to-flow transitions: (from, to) and how.
    pub edges: BTreeMap<(String, String), Edge>,
    pub semantic: BTreeMap<String, String>,
    pub used_intents: BTreeSet<String>,
    pub used_entities: BTreeSet<String>,
    /// The wait step of each page with intent routes, by (flow, page)
    /// display name: (flow id, step id, reply slot).
    pub waits: BTreeMap<PageKey, StepRef>,
    /// The collect steps of each page, by (flow, page) display name:
    /// (flow id, step id, slot) in order.
    pub forms: BTreeMap<PageKey, Vec<StepRef>>,
    /// Trigger intent → Tern flow id.
    pub triggers: BTreeMap<String, String>,
    pub greeting: Option<String>,
    pub untranslated_conditions: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Edge {
    Call,
    Link,
    End,
}

/// Per-page state while its steps are built.
pub struct PageCtx<'a> {
    /// Step id prefix, also the id of the page's first step.
    pub prefix: String,
    /// Display name; empty for the flow's start page.
    pub name: String,
    /// The step a called flow returns to: the page's route branches.
    pub return_to: String,
    pub handlers: Vec<J<'a>>,
    pub silent_wait: Option<String>,
    /// Memo of route actions by (file, JSON path, continuation).
    pub actions: BTreeMap<(String, String, String), String>,
    pub calls: BTreeMap<String, String>,
    pub reply_slot: Option<String>,
    /// Whether the page has a form, so that going back to its start waits
    /// for the user again instead of looping.
    pub has_form: bool,
    /// Whether the steps being built run after the user's reply on this
    /// page, which makes going back to the page's start safe too.
    pub after_reply: bool,
}

pub struct FlowBuilder<'a, 'c> {
    pub ctx: &'c mut Ctx<'a>,
    pub src: &'a FlowSource,
    pub id: String,
    pub steps: Vec<Step>,
    pub names: Names,
    /// First step id of each page, by display name.
    pub page_entries: BTreeMap<String, String>,
    pub flow_handlers: Vec<J<'a>>,
    pub flow_intent_routes: Vec<Route<'a>>,
    pub handoff_step: Option<String>,
    /// Pages that have a route or handler targeting each page, for
    /// `PREVIOUS_PAGE`.
    pub predecessors: BTreeMap<String, BTreeSet<String>>,
    pub is_start_flow: bool,
    /// The id `chain` gives its first step instead of allocating one.
    pub preset_chain_id: Option<String>,
}

/// The result of converting a fulfillment.
pub struct FulfillmentOut {
    pub entry: String,
    /// The last text message when the caller asked for it as a question.
    pub question: Option<String>,
    /// Chips that no response step took.
    pub buttons: Vec<String>,
}

impl<'a, 'c> FlowBuilder<'a, 'c> {
    pub fn new(
        ctx: &'c mut Ctx<'a>,
        src: &'a FlowSource,
        is_start_flow: bool,
    ) -> Result<Self, ImportError> {
        let id = ctx.flow_ids[&src.flow.name].clone();
        let mut names = Names::default();
        for reserved in ["start", "init_slots", "end"] {
            names.reserve(reserved);
        }
        let mut page_entries = BTreeMap::new();
        for page in &src.pages {
            let entry = names.unique(&snake_case(&page.name), "page");
            page_entries.insert(page.name.clone(), entry);
        }
        let agent = ctx.agent;
        let flow_node = agent.node(&src.flow);
        let flow_handlers = flow_node.array("eventHandlers")?;
        let mut builder = FlowBuilder {
            ctx,
            src,
            id,
            steps: Vec::new(),
            names,
            page_entries,
            flow_handlers,
            flow_intent_routes: Vec::new(),
            handoff_step: None,
            predecessors: BTreeMap::new(),
            is_start_flow,
            preset_chain_id: None,
        };
        builder.predecessors = builder.find_predecessors();
        Ok(builder)
    }

    pub fn alloc(&mut self, base: &str) -> String {
        self.names.unique(base, "step")
    }

    /// Builds every page of the flow.
    pub fn build(mut self) -> Result<Vec<Step>, ImportError> {
        let agent = self.ctx.agent;
        let flow_node = agent.node(&self.src.flow);
        let mut flow_routes = self.parse_routes(&flow_node, "the flow's start page")?;
        flow_routes.extend(self.group_routes(&flow_node)?);
        if self.is_start_flow {
            // The greeting route became the engine's `greeting` message.
            flow_routes.retain(|r| {
                r.intent.as_deref() != Some(super::WELCOME_INTENT)
                    || !super::is_greeting_only(&r.node).unwrap_or(false)
            });
        }
        self.flow_intent_routes = flow_routes
            .iter()
            .filter(|r| r.intent.is_some())
            .cloned()
            .collect();
        self.start_page(&flow_node, &flow_routes)?;
        for page in &self.src.pages {
            self.page(page)?;
        }
        Ok(self.steps)
    }

    fn start_page(&mut self, flow_node: &J<'a>, routes: &[Route<'a>]) -> Result<(), ImportError> {
        let first = self.steps.len();
        let mut page = PageCtx::new("start", "", self.flow_handlers.clone());
        page.return_to = "END".into();
        let entry = if self.is_start_flow {
            let triggers: BTreeSet<&String> =
                routes.iter().filter_map(|r| r.intent.as_ref()).collect();
            let mode = if triggers.len() == 1 {
                Mode::Implicit
            } else {
                Mode::Input
            };
            self.chain(routes, "END", mode, &mut page)?
        } else {
            let conditions: Vec<Route> = routes
                .iter()
                .filter(|r| r.intent.is_none())
                .cloned()
                .collect();
            if !conditions.is_empty() {
                page.return_to = RETURN_PLACEHOLDER.to_string();
            }
            let fallback = if !self.flow_intent_routes.is_empty() {
                let intents = self.flow_intent_routes.clone();
                self.wait(&intents, None, &mut page)?
            } else if conditions.is_empty()
                || conditions.iter().any(|r| matches!(r.test, Test::Always))
            {
                "END".to_string()
            } else {
                self.wait_for_conditions(&mut page, flow_node.file)
            };
            let entry = self.chain(&conditions, &fallback, Mode::Entry, &mut page)?;
            self.replace_target(first, RETURN_PLACEHOLDER, &entry);
            entry
        };
        self.finish_page(first, &entry, "start");
        Ok(())
    }

    fn page(&mut self, source: &'a Source) -> Result<(), ImportError> {
        let agent = self.ctx.agent;
        let node = agent.node(source);
        let first = self.steps.len();
        let prefix = self.page_entries[&source.name].clone();
        let handlers = node.array("eventHandlers")?;
        let mut page = PageCtx::new(&prefix, &source.name, handlers);
        let note = format!(
            "became the steps starting at `{prefix}` in flow `{}`",
            self.id
        );
        self.ctx.report.add(
            Fidelity::Mapped,
            &source.file,
            "$",
            format!("page `{}`", source.name),
            note,
        );

        let mut routes = self.parse_routes(&node, "page")?;
        routes.extend(self.group_routes(&node)?);
        let conditions: Vec<Route> = routes
            .iter()
            .filter(|r| r.intent.is_none())
            .cloned()
            .collect();
        let mut intents: Vec<Route> = routes
            .iter()
            .filter(|r| r.intent.is_some())
            .cloned()
            .collect();
        let form = node.object("form")?;
        let has_form = form
            .as_ref()
            .and_then(|f| f.get("parameters"))
            .is_some_and(|p| p.value.as_array().is_some_and(|a| !a.is_empty()));
        if !intents.is_empty() {
            intents.extend(self.flow_intent_routes.iter().cloned());
            if has_form {
                let what = format!("intent routes of page `{}`", source.name);
                let note = "checked only after the page's form is complete; while a question is open Tern only offers cancel, hand-over and starting other flows";
                self.ctx.report.add(
                    Fidelity::Approximate,
                    &source.file,
                    "$.transitionRoutes",
                    what,
                    note,
                );
            }
        }

        page.has_form = has_form;
        page.return_to = if !conditions.is_empty() {
            RETURN_PLACEHOLDER.to_string()
        } else if !intents.is_empty() {
            self.silent_wait(&mut page)
        } else {
            "END".to_string()
        };

        // The entry fulfillment's last message becomes the wait step's
        // question when nothing can leave the page before the wait.
        let question_in_wait = conditions.is_empty() && !has_form && !intents.is_empty();
        let mut question = None;
        let entry = match node.object("entryFulfillment")? {
            Some(fulfillment) => {
                let out = self.fulfillment_with(
                    &fulfillment,
                    &format!("{prefix}_entry"),
                    AFTER_ENTRY_PLACEHOLDER,
                    &mut page,
                    question_in_wait,
                )?;
                question = out.question;
                out.entry
            }
            None => AFTER_ENTRY_PLACEHOLDER.to_string(),
        };

        let fallback = if intents.is_empty() {
            if conditions.is_empty() {
                let note = "the page has no routes, so Dialogflow stays on it until a flow-level route or event applies; the imported flow ends here";
                self.ctx.report.add(
                    Fidelity::Approximate,
                    &source.file,
                    "$",
                    format!("page `{}` without routes", source.name),
                    note,
                );
                "END".to_string()
            } else if conditions.iter().any(|r| matches!(r.test, Test::Always)) {
                "END".to_string()
            } else {
                self.wait_for_conditions(&mut page, &source.file)
            }
        } else {
            self.wait(&intents, question, &mut page)?
        };
        let routes_entry = self.chain(&conditions, &fallback, Mode::Entry, &mut page)?;
        self.replace_target(first, RETURN_PLACEHOLDER, &routes_entry);

        let form_entry = match form {
            Some(form) if has_form => self.form(&form, &routes_entry, &mut page)?,
            _ => routes_entry,
        };
        self.replace_target(first, AFTER_ENTRY_PLACEHOLDER, &form_entry);
        let entry = if entry == AFTER_ENTRY_PLACEHOLDER {
            form_entry
        } else {
            entry
        };
        self.finish_page(first, &entry, &prefix);
        Ok(())
    }

    /// When none of a page's condition routes holds, Dialogflow waits for
    /// the next message and evaluates them again: a silent collect step that
    /// goes back to the route branches.
    fn wait_for_conditions(&mut self, page: &mut PageCtx<'a>, file: &str) -> String {
        let id = self.alloc(&format!("{}_wait_again", page.prefix));
        let slot = self.reply_slot(page);
        let collect = crate::dialogflow::yaml::Collect {
            slot,
            ask_before_filling: true,
            ..Default::default()
        };
        self.steps.push(Step::new(
            id.clone(),
            Kind::Collect(Box::new(collect)),
            RETURN_PLACEHOLDER,
        ));
        let what = if page.name.is_empty() {
            "the flow's start page when no route matches".to_string()
        } else {
            format!("page `{}` when no route matches", page.name)
        };
        let note = "waits silently for the next message and checks the conditions again, as Dialogflow does; the message itself is not interpreted";
        self.ctx.report.add(
            Fidelity::Approximate,
            file,
            "$.transitionRoutes",
            what,
            note,
        );
        id
    }

    /// Names the page's first step after the page and orders its steps.
    fn finish_page(&mut self, first: usize, entry: &str, name: &str) {
        if entry != name {
            let created_here = self.steps[first..].iter().any(|s| s.id == entry);
            if created_here {
                self.replace_target(first, entry, name);
                for step in &mut self.steps[first..] {
                    if step.id == entry {
                        step.id = name.to_string();
                    }
                }
            } else {
                self.steps
                    .insert(first, Step::new(name, Kind::Route, entry));
            }
        }
        let mut page_steps: Vec<Step> = self.steps.drain(first..).collect();
        let mut ordered = Vec::with_capacity(page_steps.len());
        let mut pending = vec![name.to_string()];
        while let Some(id) = pending.pop() {
            let Some(index) = page_steps.iter().position(|s| s.id == id) else {
                continue;
            };
            let step = page_steps.remove(index);
            let mut targets = step.targets();
            targets.reverse();
            pending.extend(targets);
            ordered.push(step);
        }
        ordered.append(&mut page_steps);
        self.steps.append(&mut ordered);
    }

    /// Replaces a target id in the steps created since `first`.
    pub fn replace_target(&mut self, first: usize, from: &str, to: &str) {
        for step in &mut self.steps[first..] {
            step.retarget(from, to);
        }
    }

    /// Returns the id of a collect step that waits for the user's next
    /// message without asking anything, then checks the page's intents again.
    pub fn silent_wait(&mut self, page: &mut PageCtx<'a>) -> String {
        if let Some(id) = &page.silent_wait {
            return id.clone();
        }
        let id = self.alloc(&format!("{}_wait_again", page.prefix));
        page.silent_wait = Some(id.clone());
        id
    }

    /// Returns the sentence a `semantic_if` uses for an intent: its name, its
    /// description and a few training phrases.
    pub fn semantic_text(&mut self, intent: &str) -> String {
        if let Some(text) = self.ctx.semantic.get(intent) {
            return text.clone();
        }
        let agent = self.ctx.agent;
        let mut text = format!("the user's reply matches the intent \"{intent}\"");
        if let Some(found) = agent.intents.get(intent) {
            if !found.description.trim().is_empty() {
                text.push_str(&format!(" ({})", found.description.trim()));
            }
            let examples: Vec<String> = found
                .phrases
                .get(&agent.default_language)
                .map(|p| {
                    p.iter()
                        .take(3)
                        .map(|e| format!("\"{}\"", e.replace('"', "'")))
                        .collect()
                })
                .unwrap_or_default();
            if !examples.is_empty() {
                text.push_str(&format!(", as in {}", examples.join(", ")));
            }
        }
        self.ctx.semantic.insert(intent.to_string(), text.clone());
        text
    }

    fn find_predecessors(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for page in &self.src.pages {
            let mut targets = Vec::new();
            collect_target_pages(&page.value, &mut targets);
            for target in targets {
                found.entry(target).or_default().insert(page.name.clone());
            }
        }
        found
    }

    /// Returns the reply slot of a page's wait steps.
    pub fn reply_slot(&mut self, page: &mut PageCtx<'a>) -> String {
        if let Some(slot) = &page.reply_slot {
            return slot.clone();
        }
        let slot = format!("{}_reply", page.prefix);
        page.reply_slot = Some(slot.clone());
        slot
    }
}

impl<'a> PageCtx<'a> {
    pub fn new(prefix: &str, name: &str, handlers: Vec<J<'a>>) -> Self {
        PageCtx {
            prefix: prefix.to_string(),
            name: name.to_string(),
            return_to: String::new(),
            handlers,
            silent_wait: None,
            actions: BTreeMap::new(),
            calls: BTreeMap::new(),
            reply_slot: None,
            has_form: false,
            after_reply: false,
        }
    }
}

/// Display names of the pages a page's routes and handlers target.
fn collect_target_pages(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, child) in map {
                if key == "targetPage" {
                    if let Some(name) = child.as_str() {
                        out.push(name.trim().to_string());
                    }
                } else {
                    collect_target_pages(child, out);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect_target_pages(i, out)),
        _ => {}
    }
}
