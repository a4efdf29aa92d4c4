//! The Tern flows being built, before they are written as YAML.
//!
//! Every step records where it goes next explicitly. Only when writing
//! does [`flow_document`] leave out a `next` that the step list's order
//! already implies, so that nested Rasa steps can be flattened in any
//! order without changing the routes.

use serde_json::Value as Json;

use super::Loc;
use super::text::Text;
use super::yaml_out::Yaml;

#[derive(Clone, Debug)]
pub(crate) struct Flow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub intents: Vec<String>,
    pub guard: Option<String>,
    pub persisted_slots: Vec<String>,
    pub steps: Vec<Step>,
    /// Comment lines written above the flow.
    pub comments: Vec<String>,
    pub loc: Loc,
}

#[derive(Clone, Debug)]
pub(crate) struct Step {
    pub id: String,
    pub kind: StepKind,
    pub next: Next,
    /// Comment lines written above the step.
    pub comments: Vec<String>,
    /// The Rasa response this step sends: the response of a response step,
    /// or the question of a collect step.
    pub utter: Option<String>,
    pub loc: Loc,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Target {
    Step(String),
    End,
}

impl Target {
    pub fn as_str(&self) -> &str {
        match self {
            Target::Step(id) => id,
            Target::End => "END",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Next {
    Goto(Target),
    /// Conditional routes in order, then the fallback. On an action step
    /// the fallback is also taken when the action fails.
    Branches {
        branches: Vec<(String, Target)>,
        otherwise: Option<Target>,
    },
}

#[derive(Clone, Debug)]
pub(crate) enum StepKind {
    Collect(Box<Collect>),
    Action {
        name: String,
        result_slot: Option<String>,
    },
    Response {
        text: Text,
        buttons: Vec<Button>,
    },
    Route,
    Call(String),
    Link(String),
    SetSlots(Vec<(String, Json)>),
    Handoff {
        reason: Option<String>,
        message: Option<Text>,
    },
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Collect {
    pub slot: String,
    pub collect_type: Option<&'static str>,
    pub description: Option<Text>,
    pub ask_before_filling: bool,
    pub options: Vec<String>,
    pub buttons: Vec<Button>,
    pub validation: Option<Validation>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Validation {
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub allowed_values: Vec<String>,
    pub pattern: Option<String>,
    pub message: Option<Text>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Button {
    pub title: String,
    pub payload: Option<String>,
}

impl Step {
    pub fn new(id: String, kind: StepKind, next: Next, loc: Loc) -> Step {
        Step {
            id,
            kind,
            next,
            comments: Vec::new(),
            utter: None,
            loc,
        }
    }

    /// Slots that the step's texts reference.
    pub fn template_slots(&self) -> Vec<String> {
        let mut slots: Vec<String> = Vec::new();
        let mut add = |text: &Text| slots.extend(text.slots().into_iter().map(String::from));
        match &self.kind {
            StepKind::Response { text, .. } => add(text),
            StepKind::Collect(collect) => {
                if let Some(text) = &collect.description {
                    add(text);
                }
                if let Some(message) = collect.validation.as_ref().and_then(|v| v.message.as_ref())
                {
                    add(message);
                }
            }
            StepKind::Handoff {
                message: Some(text),
                ..
            } => add(text),
            _ => {}
        }
        slots
    }

    /// Returns the slots this step assigns: the collected slot, the
    /// action's result slot or the slots of `set_slots`.
    pub fn assigned_slots(&self) -> Vec<String> {
        match &self.kind {
            StepKind::Collect(collect) => vec![collect.slot.clone()],
            StepKind::Action { name, result_slot } => vec![
                result_slot
                    .clone()
                    .unwrap_or_else(|| format!("{name}_result")),
            ],
            StepKind::SetSlots(values) => values.iter().map(|(slot, _)| slot.clone()).collect(),
            _ => Vec::new(),
        }
    }

    /// Returns every target the step can go to.
    pub fn targets(&self) -> Vec<&Target> {
        match &self.next {
            Next::Goto(target) => vec![target],
            Next::Branches {
                branches,
                otherwise,
            } => branches
                .iter()
                .map(|(_, t)| t)
                .chain(otherwise.iter())
                .collect(),
        }
    }
}

/// Builds the flow file of a flow: `flows: {ID: …}`, with the flow's
/// comments above its id.
pub(crate) fn flow_document(flow: &Flow) -> Yaml {
    let mut body = Yaml::map();
    body.push("name", flow.name.as_str().into());
    body.push("description", flow.description.as_str().into());
    if let Some(guard) = &flow.guard {
        body.push("guard", guard.as_str().into());
    }
    if !flow.intents.is_empty() {
        let intents = flow
            .intents
            .iter()
            .map(|i| Yaml::map().with("intent", i.as_str().into()))
            .collect();
        body.push(
            "nlu_trigger",
            Yaml::map().with("intents", Yaml::Seq(intents)),
        );
    }
    if !flow.persisted_slots.is_empty() {
        body.push(
            "persisted_slots",
            Yaml::Seq(
                flow.persisted_slots
                    .iter()
                    .map(|s| s.as_str().into())
                    .collect(),
            ),
        );
    }
    let steps = flow
        .steps
        .iter()
        .enumerate()
        .map(|(index, step)| {
            let natural = flow
                .steps
                .get(index + 1)
                .map_or(Target::End, |s| Target::Step(s.id.clone()));
            step_yaml(step, &natural)
        })
        .collect();
    body.push("steps", Yaml::Seq(steps));
    let mut flows = Yaml::map();
    flows.push_commented(flow.id.as_str(), body, flow.comments.clone());
    Yaml::map().with("flows", flows)
}

fn step_yaml(step: &Step, natural: &Target) -> Yaml {
    let mut yaml = Yaml::map();
    yaml.push_commented("id", step.id.as_str().into(), step.comments.clone());
    match &step.kind {
        StepKind::Collect(collect) => collect_fields(&mut yaml, collect),
        StepKind::Action { name, result_slot } => {
            yaml.push("action", name.as_str().into());
            if let Some(slot) = result_slot {
                yaml.push("result_slot", slot.as_str().into());
            }
        }
        StepKind::Response { text, buttons } => {
            yaml.push("response", text.to_template().0.into());
            push_buttons(&mut yaml, buttons);
        }
        StepKind::Route => {}
        StepKind::Call(flow) => yaml.push("call", flow.as_str().into()),
        StepKind::Link(flow) => yaml.push("link", flow.as_str().into()),
        StepKind::SetSlots(values) => {
            let mut map = Yaml::map();
            for (slot, value) in values {
                map.push(slot.as_str(), Yaml::from_json(value));
            }
            yaml.push("set_slots", map);
        }
        StepKind::Handoff { reason, message } => {
            let handoff = match (reason, message) {
                (None, None) => Yaml::Bool(true),
                (Some(reason), None) => reason.as_str().into(),
                _ => {
                    let mut map = Yaml::map();
                    if let Some(reason) = reason {
                        map.push("reason", reason.as_str().into());
                    }
                    if let Some(message) = message {
                        map.push("message", message.to_template().0.into());
                    }
                    map
                }
            };
            yaml.push("handoff", handoff);
        }
    }
    // `link` and `handoff` steps never continue, so they take no `next`.
    if matches!(step.kind, StepKind::Link(_) | StepKind::Handoff { .. }) {
        return yaml;
    }
    match &step.next {
        Next::Goto(target) if target == natural => {}
        Next::Goto(target) => yaml.push("next", target.as_str().into()),
        Next::Branches {
            branches,
            otherwise,
        } => {
            let items = branches
                .iter()
                .map(|(condition, target)| {
                    Yaml::map()
                        .with("if", condition.as_str().into())
                        .with("then", target.as_str().into())
                })
                .collect();
            yaml.push("next", Yaml::Seq(items));
            if let Some(target) = otherwise {
                yaml.push("else", target.as_str().into());
            }
        }
    }
    yaml
}

fn collect_fields(yaml: &mut Yaml, collect: &Collect) {
    yaml.push("collect", collect.slot.as_str().into());
    if let Some(kind) = collect.collect_type {
        yaml.push("collect_type", kind.into());
    }
    if let Some(description) = &collect.description {
        yaml.push("description", description.to_template().0.into());
    }
    if collect.ask_before_filling {
        yaml.push("ask_before_filling", true.into());
    }
    if !collect.options.is_empty() {
        yaml.push(
            "options",
            Yaml::Seq(collect.options.iter().map(|o| o.as_str().into()).collect()),
        );
    }
    push_buttons(yaml, &collect.buttons);
    if let Some(validation) = &collect.validation {
        let mut map = Yaml::map();
        if let Some(pattern) = &validation.pattern {
            map.push("pattern", pattern.as_str().into());
        }
        if let Some(min) = validation.min {
            map.push("min", number(min));
        }
        if let Some(max) = validation.max {
            map.push("max", number(max));
        }
        if !validation.allowed_values.is_empty() {
            map.push(
                "allowed_values",
                Yaml::Seq(
                    validation
                        .allowed_values
                        .iter()
                        .map(|v| v.as_str().into())
                        .collect(),
                ),
            );
        }
        if let Some(message) = &validation.message {
            map.push("message", message.to_template().0.into());
        }
        yaml.push("validation", map);
    }
}

fn push_buttons(yaml: &mut Yaml, buttons: &[Button]) {
    if buttons.is_empty() {
        return;
    }
    let items = buttons
        .iter()
        .map(|button| match &button.payload {
            None => button.title.as_str().into(),
            Some(payload) => Yaml::map()
                .with("title", button.title.as_str().into())
                .with("payload", payload.as_str().into()),
        })
        .collect();
    yaml.push("buttons", Yaml::Seq(items));
}

/// Converts a number for writing, a whole number without a fraction.
fn number(value: f64) -> Yaml {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        Yaml::Number((value as i64).into())
    } else {
        serde_json::Number::from_f64(value).map_or(Yaml::Null, Yaml::Number)
    }
}
