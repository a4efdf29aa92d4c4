//! Rasa flow steps converted into Tern steps.
//!
//! Rasa nests steps inside `then` and `else` branches; Tern has one flat
//! step list per flow. Nested steps are placed right after the step that
//! branches to them, and every step's successor is kept explicit (see
//! [`super::model`]). A step without an `id` gets `step_N`, where `N` is
//! its position among all steps of the flow in document order.

use std::collections::{HashMap, HashSet};

use super::collect::convert_collect;
use super::domain::Domain;
use super::model::{Next, Step, StepKind, Target};
use super::text::Text;
use super::yaml_in::Node;
use super::{Ctx, Loc, action_name, condition, identifier, patterns, responses};
use crate::report::Fidelity;

/// Rasa's built-in actions, which have no Tern equivalent as a step.
const BUILT_IN_ACTIONS: [&str; 24] = [
    "action_listen",
    "action_restart",
    "action_session_start",
    "action_default_fallback",
    "action_deactivate_loop",
    "action_revert_fallback_events",
    "action_default_ask_affirmation",
    "action_default_ask_rephrase",
    "action_two_stage_fallback",
    "action_back",
    "action_unlikely_intent",
    "action_extract_slots",
    "action_cancel_flow",
    "action_clean_stack",
    "action_correct_flow_slot",
    "action_run_slot_rejections",
    "action_trigger_chitchat",
    "action_trigger_search",
    "action_hangup",
    "action_repeat_bot_messages",
    "action_cancel_interrupted_flow",
    "action_continue_interrupted_flow",
    "action_block_digression",
    "action_reset_routing",
];

/// Builds the steps of one flow.
pub(crate) struct StepBuilder<'a> {
    pub ctx: &'a mut Ctx,
    pub domain: &'a Domain,
    file: &'a str,
    pub flow_id: &'a str,
    flow_ids: &'a HashMap<String, String>,
    /// Step ids by the address of their YAML node.
    ids: HashMap<usize, String>,
    known_ids: HashSet<String>,
    steps: Vec<Step>,
    /// Slots whose collect step has `reset_after_flow_ends: false`.
    pub persisted: Vec<String>,
}

fn address(node: &Node) -> usize {
    node as *const Node as usize
}

impl<'a> StepBuilder<'a> {
    pub fn new(
        ctx: &'a mut Ctx,
        domain: &'a Domain,
        file: &'a str,
        flow_id: &'a str,
        flow_ids: &'a HashMap<String, String>,
    ) -> StepBuilder<'a> {
        StepBuilder {
            ctx,
            domain,
            file,
            flow_id,
            flow_ids,
            ids: HashMap::new(),
            known_ids: HashSet::new(),
            steps: Vec::new(),
            persisted: Vec::new(),
        }
    }

    pub fn loc(&self, line: u32) -> Loc {
        Loc {
            file: self.file.to_string(),
            line,
        }
    }

    /// Converts the flow's `steps` list.
    pub fn build(&mut self, steps: &Node) {
        let mut all = Vec::new();
        collect_step_nodes(steps.items(), &mut all);
        for node in &all {
            if let Some(id) = node.get("id").and_then(Node::scalar_text) {
                self.known_ids.insert(id.clone());
                self.ids.insert(address(node), id);
            }
        }
        for (index, node) in all.iter().enumerate() {
            if self.ids.contains_key(&address(node)) {
                continue;
            }
            let mut id = format!("step_{}", index + 1);
            while self.known_ids.contains(&id) {
                id.push('_');
            }
            self.known_ids.insert(id.clone());
            self.ids.insert(address(node), id);
        }
        self.convert_list(steps.items(), Target::End);
    }

    pub fn finish(self) -> (Vec<Step>, Vec<String>) {
        (self.steps, self.persisted)
    }

    fn id_of(&self, node: &Node) -> String {
        self.ids
            .get(&address(node))
            .cloned()
            .unwrap_or_else(|| format!("step_line_{}", node.line))
    }

    fn convert_list(&mut self, list: &[Node], end: Target) {
        for (index, node) in list.iter().enumerate() {
            let successor = list
                .get(index + 1)
                .map_or_else(|| end.clone(), |next| Target::Step(self.id_of(next)));
            self.convert_step(node, successor);
        }
    }

    fn convert_step(&mut self, node: &Node, successor: Target) {
        let id = self.id_of(node);
        let loc = self.loc(node.line);
        let (next, nested) = self.convert_next(node, &successor, &id);
        let mut step = Step::new(id.clone(), StepKind::Route, next, loc.clone());
        if !node.is_map() {
            self.unmapped_step(
                &mut step,
                "a step",
                format!(
                    "expected a mapping, found {}; replaced by a step that only moves on",
                    node.kind()
                ),
            );
        } else {
            self.fill_kind(node, &mut step);
        }
        if let Some(description) = node.get("description").and_then(Node::scalar_text)
            && !matches!(step.kind, StepKind::Collect(_))
        {
            step.comments
                .push(format!("Rasa description: {description}"));
        }
        self.steps.push(step);
        // NOTE: The importer ends the flow after the last step of a nested
        // list without `next`; this was not verified against Rasa.
        for list in nested {
            self.convert_list(list.items(), Target::End);
        }
    }

    /// Reports a step that could not be converted and comments it in the
    /// flow file.
    pub fn unmapped_step(
        &mut self,
        step: &mut Step,
        what: impl Into<String>,
        note: impl Into<String>,
    ) {
        let note = note.into();
        let what = format!(
            "flow `{}` step `{}`: {}",
            self.flow_id,
            step.id,
            what.into()
        );
        step.comments
            .push(format!("Not converted from Rasa: {note}"));
        self.ctx.add(Fidelity::Unmapped, &step.loc, what, note);
    }

    fn fill_kind(&mut self, node: &Node, step: &mut Step) {
        const KINDS: [&str; 6] = ["collect", "action", "set_slots", "call", "link", "noop"];
        let kind = node
            .entries()
            .iter()
            .find(|(k, _)| KINDS.contains(&k.name.as_str()))
            .map(|(k, _)| k.name.clone());
        let allowed: &[&str] = match kind.as_deref() {
            Some("collect") => &[
                "collect",
                "utter",
                "ask_before_filling",
                "reset_after_flow_ends",
                "rejections",
                "force_slot_filling",
            ],
            Some(other) => &[KINDS[KINDS.iter().position(|k| *k == other).unwrap_or(0)]],
            None => &[],
        };
        for (key, _) in node.entries() {
            let name = key.name.as_str();
            if ["id", "next", "description"].contains(&name) || allowed.contains(&name) {
                continue;
            }
            let what = format!("flow `{}` step `{}` field `{name}`", self.flow_id, step.id);
            let note = if KINDS.contains(&name) {
                "a second step kind in the same step; only the first is converted".to_string()
            } else if name == "metadata" {
                "step metadata has no Tern equivalent; ignored".to_string()
            } else if kind.is_none() {
                "this step kind has no Tern equivalent".to_string()
            } else {
                "not a field of this step kind that the importer knows; ignored".to_string()
            };
            self.ctx
                .add(Fidelity::Unmapped, &self.loc(key.line), what, note);
        }
        match kind.as_deref() {
            Some("collect") => convert_collect(self, node, step),
            Some("action") => self.convert_action(node, step),
            Some("set_slots") => self.convert_set_slots(node, step),
            Some("call") => self.convert_flow_reference(node, step, "call"),
            Some("link") => self.convert_flow_reference(node, step, "link"),
            Some(_) => {}
            None => {
                let kinds: Vec<&str> = node
                    .entries()
                    .iter()
                    .map(|(k, _)| k.name.as_str())
                    .filter(|k| !["id", "next", "description"].contains(k))
                    .collect();
                let note = if kinds.is_empty() {
                    "the step has no kind; it only moves on".to_string()
                } else {
                    format!(
                        "the step kind `{}` has no Tern equivalent; replaced by a step that only moves on",
                        kinds.join("`, `")
                    )
                };
                self.unmapped_step(step, "unknown step kind", note);
            }
        }
    }

    fn convert_action(&mut self, node: &Node, step: &mut Step) {
        let Some(name) = node.get("action").and_then(Node::scalar_text) else {
            self.unmapped_step(step, "action", "the action has no name");
            return;
        };
        if name.starts_with("utter_") {
            self.convert_utterance(&name, step);
        } else if BUILT_IN_ACTIONS.contains(&name.as_str()) {
            let note = format!(
                "the Rasa built-in action `{name}` has no Tern step; the step only moves on"
            );
            self.unmapped_step(step, format!("action `{name}`"), note);
        } else {
            let tern_name = action_name(&name);
            let declared = self.domain.actions.contains_key(&name);
            super::actions::register(
                self.ctx,
                &name,
                &tern_name,
                self.flow_id,
                declared,
                &step.loc,
            );
            step.kind = StepKind::Action {
                name: tern_name,
                result_slot: None,
            };
        }
    }

    /// Turns an `action: utter_*` step into a response step.
    pub fn convert_utterance(&mut self, name: &str, step: &mut Step) {
        step.utter = Some(name.to_string());
        match responses::convert(self.domain, name) {
            Some(converted) if !converted.text.is_blank() => {
                self.ctx.used_responses.insert(name.to_string());
                step.kind = StepKind::Response {
                    text: converted.text,
                    buttons: converted.buttons,
                };
            }
            found => {
                let reason = if found.is_some() {
                    "has no text"
                } else if patterns::engine_message_for(name).is_some() {
                    "is a Rasa default response that this project does not define"
                } else {
                    "is not defined in the domain"
                };
                if found.is_some() {
                    self.ctx.used_responses.insert(name.to_string());
                }
                let placeholder = format!("TODO: write the text of the Rasa response {name}.");
                step.kind = StepKind::Response {
                    text: Text::literal(placeholder),
                    buttons: Vec::new(),
                };
                let note =
                    format!("the response `{name}` {reason}; the step sends a placeholder text");
                self.unmapped_step(step, format!("response `{name}`"), note);
                self.ctx.add_to_do(format!(
                    "Write the text of response step `{}` in flows/{}.yml: the Rasa response `{name}` {reason}.",
                    step.id, self.flow_id
                ));
            }
        }
    }

    fn convert_set_slots(&mut self, node: &Node, step: &mut Step) {
        let value = node.get("set_slots");
        let mut values = Vec::new();
        let entries: Vec<&(super::yaml_in::Key, Node)> = match value {
            Some(list) if list.is_seq() => list
                .items()
                .iter()
                .flat_map(|item| item.entries())
                .collect(),
            Some(map) => map.entries().iter().collect(),
            None => Vec::new(),
        };
        for (key, value) in entries {
            values.push((identifier(&key.name), value.to_json()));
        }
        if values.is_empty() {
            self.unmapped_step(step, "set_slots", "no slots to set; the step only moves on");
            return;
        }
        step.kind = StepKind::SetSlots(values);
    }

    fn convert_flow_reference(&mut self, node: &Node, step: &mut Step, kind: &str) {
        let Some(target) = node.get(kind).and_then(Node::scalar_text) else {
            self.unmapped_step(step, kind, "the step names no flow");
            return;
        };
        if let Some(id) = self.flow_ids.get(&target) {
            step.kind = if kind == "call" {
                StepKind::Call(id.clone())
            } else {
                StepKind::Link(id.clone())
            };
            return;
        }
        if target == "pattern_human_handoff" {
            step.kind = StepKind::Handoff {
                reason: None,
                message: None,
            };
            self.ctx.add(
                Fidelity::Approximate,
                &step.loc,
                format!("flow `{}` step `{}`: {kind} `{target}`", self.flow_id, step.id),
                "became a `handoff` step, which hands the conversation to a person and stops every flow",
            );
            return;
        }
        let note = if target.starts_with("pattern_") {
            format!("the pattern `{target}` has no Tern flow; the step only moves on")
        } else {
            format!("no converted flow is called `{target}`; the step only moves on")
        };
        self.unmapped_step(step, format!("{kind} `{target}`"), note);
    }

    /// Converts the step's `next`, returning the nested step lists that its
    /// branches hold, to be converted after the step itself.
    fn convert_next<'n>(
        &mut self,
        node: &'n Node,
        successor: &Target,
        id: &str,
    ) -> (Next, Vec<&'n Node>) {
        let mut nested = Vec::new();
        let Some(next) = node.get("next") else {
            return (Next::Goto(successor.clone()), nested);
        };
        if let Some(text) = next.scalar_text() {
            return (
                Next::Goto(self.target(&text, next.line, id, successor)),
                nested,
            );
        }
        if !next.is_seq() {
            let what = format!("flow `{}` step `{id}` next", self.flow_id);
            self.ctx.add(Fidelity::Unmapped, &self.loc(next.line), what, format!("expected a step id or a list of branches, found {}; the step moves on to the following one", next.kind()));
            return (Next::Goto(successor.clone()), nested);
        }
        let (branches, otherwise) = self.convert_branches(next, id, &mut nested);
        if branches.is_empty() {
            return (
                Next::Goto(otherwise.unwrap_or_else(|| successor.clone())),
                nested,
            );
        }
        // NOTE: Rasa's behaviour when no branch is true and there is no
        // `else` is not verified. The importer assumes that the step falls
        // through to the following one.
        let otherwise = Some(otherwise.unwrap_or_else(|| successor.clone()));
        (
            Next::Branches {
                branches,
                otherwise,
            },
            nested,
        )
    }

    /// Converts a list of branches into Tern conditions and targets, and the
    /// target of its `else` entry.
    fn convert_branches<'n>(
        &mut self,
        next: &'n Node,
        id: &str,
        nested: &mut Vec<&'n Node>,
    ) -> (Vec<(String, Target)>, Option<Target>) {
        let mut branches = Vec::new();
        let mut otherwise = None;
        for branch in next.items() {
            for (key, _) in branch.entries() {
                if !["if", "then", "else"].contains(&key.name.as_str()) {
                    let what = format!(
                        "flow `{}` step `{id}` branch field `{}`",
                        self.flow_id, key.name
                    );
                    let note = if branch.get("else").is_some() {
                        "not a branch field; ignored, so the branch goes to its `else` target"
                    } else {
                        "not a branch field; ignored"
                    };
                    self.ctx
                        .add(Fidelity::Unmapped, &self.loc(key.line), what, note);
                }
            }

            if let Some(target) = branch.get("else") {
                otherwise = Some(self.branch_target(target, id, nested));
                continue;
            }
            let Some(condition_node) = branch.get("if") else {
                let what = format!("flow `{}` step `{id}` branch", self.flow_id);
                self.ctx.add(
                    Fidelity::Unmapped,
                    &self.loc(branch.line),
                    what,
                    "a branch without `if` or `else`; ignored",
                );
                continue;
            };
            let then = match branch.get("then") {
                Some(target) => self.branch_target(target, id, nested),
                None => Target::End,
            };
            let condition = self.branch_condition(condition_node, id);
            branches.push((condition, then));
        }
        (branches, otherwise)
    }

    fn branch_target<'n>(
        &mut self,
        target: &'n Node,
        id: &str,
        nested: &mut Vec<&'n Node>,
    ) -> Target {
        if let Some(text) = target.scalar_text() {
            return self.target(&text, target.line, id, &Target::End);
        }
        if let Some(first) = target.items().first() {
            nested.push(target);
            return Target::Step(self.id_of(first));
        }
        Target::End
    }

    fn branch_condition(&mut self, node: &Node, id: &str) -> String {
        let what = format!("flow `{}` step `{id}` condition", self.flow_id);
        let loc = self.loc(node.line);
        match condition::translate_value(node, &identifier) {
            Ok(translated) => {
                if !translated.approximations.is_empty() {
                    let note = format!(
                        "`{}`: {}",
                        translated.text,
                        translated.approximations.join("; ")
                    );
                    self.ctx.add(Fidelity::Approximate, &loc, what, note);
                }
                translated.text
            }
            Err(reason) => {
                let source = node.scalar_text().unwrap_or_default();
                self.ctx.add(Fidelity::Unmapped, &loc, what, format!("`{source}`: {reason}; the branch is written as `false`, so it is never taken"));
                self.ctx.add_to_do(format!("Rewrite the condition of step `{id}` in flows/{}.yml: the Rasa condition `{source}` was replaced by `false`.", self.flow_id));
                "false".to_string()
            }
        }
    }

    fn target(&mut self, text: &str, line: u32, id: &str, fallback: &Target) -> Target {
        if text == "END" {
            return Target::End;
        }
        if self.known_ids.contains(text) {
            return Target::Step(text.to_string());
        }
        let what = format!("flow `{}` step `{id}` target `{text}`", self.flow_id);
        let fallback_text = fallback.as_str().to_string();
        self.ctx.add(
            Fidelity::Unmapped,
            &self.loc(line),
            what,
            format!("the flow has no step with this id; `{fallback_text}` is used instead"),
        );
        fallback.clone()
    }
}

/// Collects every step node of the flow in document order: each step,
/// then the steps nested in its branches.
fn collect_step_nodes<'n>(list: &'n [Node], out: &mut Vec<&'n Node>) {
    for node in list {
        out.push(node);
        if let Some(next) = node.get("next") {
            for branch in next.items() {
                for key in ["then", "else"] {
                    if let Some(nested) = branch.get(key).filter(|n| n.is_seq()) {
                        collect_step_nodes(nested.items(), out);
                    }
                }
            }
        }
    }
}
