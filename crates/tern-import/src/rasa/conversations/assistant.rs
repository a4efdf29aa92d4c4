//! The converted assistant as used by the test conversion: the loaded
//! flows, run in Tern's engine, and facts about the converted steps, such
//! as which step sends which Rasa response and which flow collects which
//! slot.

use std::collections::{HashMap, HashSet};

use indexmap::IndexMap;
use regex::Regex;
use serde_json::Value as Json;
use tern_engine::{
    ActionOutcome, BotMessage, Command, DialogueState, Engine, Event, Need, Responses, Waiting,
};
use tern_flow::FlowSet;

use crate::rasa::domain::{Domain, RasaButton, Slot};
use crate::rasa::model::{Flow, Next, StepKind};
use crate::rasa::{Ctx, identifier, patterns, responses};

/// Maximum number of action calls and judgement requests in one turn, as
/// in the conversation test runner.
const MAX_NEEDS_PER_TURN: usize = 100;

/// The result of one user turn in the engine.
#[derive(Clone, Debug)]
pub(crate) struct TurnRun {
    pub state: DialogueState,
    pub messages: Vec<BotMessage>,
    pub events: Vec<Event>,
    /// Actions the turn called, in order, without repeats.
    pub actions_called: Vec<String>,
    /// Actions called without a stub; they failed.
    pub unstubbed: Vec<String>,
}

/// A collect step's facts.
#[derive(Clone, Debug)]
pub(crate) struct CollectInfo {
    pub slot: String,
    pub utter: Option<String>,
}

pub(crate) struct Assistant {
    pub flows: FlowSet,
    pub responses: Responses,
    /// Regular expressions that match the messages of each Rasa response.
    utter_patterns: HashMap<String, Vec<Regex>>,
    /// Steps that send each Rasa response, as `(flow, step index)`.
    pub utter_places: HashMap<String, Vec<(String, usize)>>,
    pub flow_intents: HashMap<String, Vec<String>>,
    pub collected_by: HashMap<String, Vec<String>>,
    callees: HashMap<String, Vec<String>>,
    pub result_slots: HashMap<String, String>,
    condition_literals: HashMap<String, Vec<Json>>,
    pub slots: HashMap<String, Slot>,
    collects: HashMap<(String, String), CollectInfo>,
    pub startable: HashSet<String>,
    /// Buttons of each Rasa response, with their payloads.
    pub buttons: HashMap<String, Vec<RasaButton>>,
    /// Rasa responses whose text became an engine message.
    engine_utters: HashMap<String, &'static str>,
}

impl Assistant {
    pub fn new(ctx: &Ctx, domain: &Domain, flows: FlowSet, responses: Responses) -> Assistant {
        let mut assistant = Assistant {
            flows,
            responses,
            utter_patterns: HashMap::new(),
            utter_places: HashMap::new(),
            flow_intents: HashMap::new(),
            collected_by: HashMap::new(),
            callees: HashMap::new(),
            result_slots: HashMap::new(),
            condition_literals: HashMap::new(),
            slots: domain
                .slots
                .values()
                .map(|s| (identifier(&s.name), s.clone()))
                .collect(),
            collects: HashMap::new(),
            startable: HashSet::new(),
            buttons: domain
                .responses
                .iter()
                .filter_map(|(name, r)| {
                    r.variations
                        .first()
                        .map(|v| (name.clone(), v.buttons.clone()))
                })
                .collect(),
            engine_utters: ctx
                .message_utters
                .iter()
                .map(|(utter, key)| (utter.clone(), *key))
                .collect(),
        };
        for flow in ctx.flows.values() {
            assistant.learn_flow(flow);
        }
        for (name, _) in &domain.responses {
            if let Some(converted) = responses::convert(domain, name)
                && let Ok(pattern) = Regex::new(&converted.text.to_regex())
            {
                assistant
                    .utter_patterns
                    .entry(name.clone())
                    .or_default()
                    .push(pattern);
            }
        }
        assistant
    }

    fn learn_flow(&mut self, flow: &Flow) {
        if !flow.intents.is_empty() {
            self.startable.insert(flow.id.clone());
        }
        for intent in &flow.intents {
            self.flow_intents
                .entry(intent.clone())
                .or_default()
                .push(flow.id.clone());
        }
        let literal = Regex::new(r#"slots\.([A-Za-z_][A-Za-z0-9_]*)\s*(?:==|!=)\s*('(?:[^'\\]|\\.)*'|-?[0-9.]+|true|false)"#).expect("valid regex");
        for (index, step) in flow.steps.iter().enumerate() {
            if let Some(utter) = &step.utter {
                self.utter_places
                    .entry(utter.clone())
                    .or_default()
                    .push((flow.id.clone(), index));
                let text = match &step.kind {
                    StepKind::Response { text, .. } => Some(text),
                    StepKind::Collect(collect) => collect.description.as_ref(),
                    _ => None,
                };
                if let Some(pattern) = text.and_then(|t| Regex::new(&t.to_regex()).ok()) {
                    self.utter_patterns
                        .entry(utter.clone())
                        .or_default()
                        .insert(0, pattern);
                }
            }
            match &step.kind {
                StepKind::Collect(collect) => {
                    self.collected_by
                        .entry(collect.slot.clone())
                        .or_default()
                        .push(flow.id.clone());
                    let info = CollectInfo {
                        slot: collect.slot.clone(),
                        utter: step.utter.clone(),
                    };
                    self.collects
                        .insert((flow.id.clone(), step.id.clone()), info);
                }
                StepKind::Action { name, result_slot } => {
                    let slot = result_slot
                        .clone()
                        .unwrap_or_else(|| format!("{name}_result"));
                    self.result_slots.insert(name.clone(), slot);
                }
                StepKind::Call(other) | StepKind::Link(other) => {
                    self.callees
                        .entry(flow.id.clone())
                        .or_default()
                        .push(other.clone());
                }
                _ => {}
            }
            if let Next::Branches { branches, .. } = &step.next {
                for (condition, _) in branches {
                    for captures in literal.captures_iter(condition) {
                        let value = literal_json(&captures[2]);
                        let values = self
                            .condition_literals
                            .entry(captures[1].to_string())
                            .or_default();
                        if !values.contains(&value) {
                            values.push(value);
                        }
                    }
                }
            }
        }
    }

    /// Runs one user turn, with the results of actions taken from `stubs`.
    pub fn run(
        &self,
        state: &DialogueState,
        commands: &[Command],
        stubs: &IndexMap<String, Json>,
    ) -> TurnRun {
        let engine = Engine::new(&self.flows, &self.responses);
        let mut run = TurnRun {
            state: DialogueState::default(),
            messages: Vec::new(),
            events: Vec::new(),
            actions_called: Vec::new(),
            unstubbed: Vec::new(),
        };
        let mut outcome = engine.handle(state.clone(), commands);
        for _ in 0..MAX_NEEDS_PER_TURN {
            run.messages.append(&mut outcome.messages);
            run.events.append(&mut outcome.events);
            let Some(need) = outcome.need.take() else {
                run.state = outcome.state;
                return run;
            };
            outcome = match need {
                Need::Action { action, .. } => {
                    if !run.actions_called.contains(&action) {
                        run.actions_called.push(action.clone());
                    }
                    let result = match stubs.get(&action) {
                        Some(value) => ActionOutcome::Success {
                            result: value.clone(),
                        },
                        None => {
                            if !run.unstubbed.contains(&action) {
                                run.unstubbed.push(action.clone());
                            }
                            ActionOutcome::Failure {
                                error: "no stub in the test".into(),
                            }
                        }
                    };
                    engine.action_result(outcome.state, result)
                }
                // Rasa flows have no `semantic_if`, so nothing is judged.
                Need::Judgement { .. } => engine.judgements(outcome.state, &[]),
            };
        }
        run.state = outcome.state;
        run
    }

    /// Returns the engine message that a Rasa response stands for: one the
    /// import mapped from a pattern or rule, or a Rasa default response.
    pub fn engine_key(&self, utter: &str) -> Option<&'static str> {
        self.engine_utters
            .get(utter)
            .copied()
            .or_else(|| patterns::engine_message_for(utter))
    }

    /// Returns whether `message` is the one the Rasa test expected.
    pub fn matches(&self, expected: &super::script::Expected, message: &BotMessage) -> bool {
        match expected {
            super::script::Expected::Text(text) => message.text.trim() == text.trim(),
            super::script::Expected::Utter(name) => {
                if let Some(patterns) = self.utter_patterns.get(name)
                    && patterns.iter().any(|p| p.is_match(&message.text))
                {
                    return true;
                }
                match self.engine_key(name) {
                    Some(key) => engine_pattern(&self.responses, key)
                        .is_some_and(|p| p.is_match(&message.text)),
                    None => false,
                }
            }
        }
    }

    /// Returns whether the engine sends nothing for this expected default
    /// response, because the project switched the engine message off.
    pub fn is_silenced(&self, expected: &super::script::Expected) -> bool {
        match expected {
            super::script::Expected::Utter(name) => self.engine_key(name).is_some_and(|key| {
                !self.utter_patterns.contains_key(name)
                    && engine_text(&self.responses, key).trim().is_empty()
            }),
            super::script::Expected::Text(_) => false,
        }
    }

    /// Returns the collect step that waits for the user's value, if any.
    pub fn pending_collect(&self, state: &DialogueState) -> Option<&CollectInfo> {
        if !matches!(state.waiting, Some(Waiting::Slot)) {
            return None;
        }
        let frame = state.active_frame()?;
        self.collects.get(&(frame.flow.clone(), frame.step.clone()))
    }

    /// Returns the flows on the stack and every flow they may call or link
    /// to.
    pub fn active_flows(&self, state: &DialogueState) -> HashSet<String> {
        let mut active: HashSet<String> = state.stack.iter().map(|f| f.flow.clone()).collect();
        let mut queue: Vec<String> = active.iter().cloned().collect();
        while let Some(flow) = queue.pop() {
            for callee in self.callees.get(&flow).into_iter().flatten() {
                if active.insert(callee.clone()) {
                    queue.push(callee.clone());
                }
            }
        }
        active
    }

    /// Returns the result values to try for an action without a known
    /// result: the values its result slot is compared with, then values of
    /// the slot's Rasa type.
    pub fn result_candidates(&self, action: &str) -> Vec<Json> {
        let Some(slot) = self.result_slots.get(action) else {
            return vec![Json::String(format!("example {action} result"))];
        };
        let mut candidates = self
            .condition_literals
            .get(slot)
            .cloned()
            .unwrap_or_default();
        let typed: Vec<Json> = match self.slots.get(slot).map(|s| s.kind.as_str()) {
            Some("bool") => vec![Json::Bool(true), Json::Bool(false)],
            Some("float") => vec![Json::from(1)],
            Some("categorical") => self.slots[slot]
                .values
                .iter()
                .map(|v| Json::String(v.clone()))
                .collect(),
            _ => vec![
                Json::String(format!("example {slot}")),
                Json::Bool(true),
                Json::Bool(false),
            ],
        };
        for value in typed {
            if !candidates.contains(&value) {
                candidates.push(value);
            }
        }
        candidates
    }
}

fn literal_json(text: &str) -> Json {
    match text {
        "true" => Json::Bool(true),
        "false" => Json::Bool(false),
        _ if text.starts_with('\'') => Json::String(
            text[1..text.len() - 1]
                .replace("\\'", "'")
                .replace("\\\\", "\\"),
        ),
        _ => text
            .parse::<i64>()
            .map(Json::from)
            .or_else(|_| text.parse::<f64>().map(Json::from))
            .unwrap_or_else(|_| Json::String(text.to_string())),
    }
}

/// Returns the text of an engine message by its key in `responses.yml`.
pub(crate) fn engine_text<'r>(responses: &'r Responses, key: &str) -> &'r str {
    match key {
        "ask_slot" => &responses.ask_slot,
        "invalid_value" => &responses.invalid_value,
        "too_many_attempts" => &responses.too_many_attempts,
        "confirm_value" => &responses.confirm_value,
        "value_saved" => &responses.value_saved,
        "slot_corrected" => &responses.slot_corrected,
        "flow_cancelled" => &responses.flow_cancelled,
        "nothing_to_cancel" => &responses.nothing_to_cancel,
        "resume_offer" => &responses.resume_offer,
        "flow_resumed" => &responses.flow_resumed,
        "clarify" => &responses.clarify,
        "greeting" => &responses.greeting,
        "out_of_scope" => &responses.out_of_scope,
        "not_understood" => &responses.not_understood,
        "flow_unavailable" => &responses.flow_unavailable,
        "handoff" => &responses.handoff,
        "anything_else" => &responses.anything_else,
        "internal_error" => &responses.internal_error,
        "yes" => &responses.yes,
        "no" => &responses.no,
        _ => "",
    }
}

/// Builds a regular expression that matches an engine message whatever
/// its placeholders are filled with.
fn engine_pattern(responses: &Responses, key: &str) -> Option<Regex> {
    let text = engine_text(responses, key);
    if text.trim().is_empty() {
        return None;
    }
    let placeholder = Regex::new(r"\\\{[a-z_]+\\\}").expect("valid regex");
    let escaped = regex::escape(text);
    let pattern = format!("(?s)^{}$", placeholder.replace_all(&escaped, ".*?"));
    Regex::new(&pattern).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_patterns_match_filled_messages() {
        let responses = Responses::default();
        let pattern = engine_pattern(&responses, "flow_cancelled").unwrap();
        assert!(pattern.is_match("Okay, I have stopped add a contact."));
        assert!(!pattern.is_match("Okay."));
    }

    #[test]
    fn condition_literals_are_read() {
        assert_eq!(literal_json("'it\\'s'"), Json::String("it's".into()));
        assert_eq!(literal_json("3"), Json::from(3));
        assert_eq!(literal_json("true"), Json::Bool(true));
    }
}
