//! The flow model: what a loaded flow set contains.
//!
//! Everything here is immutable after loading. Positions point back into the
//! source files so that the validator and the engine can name the exact place
//! a problem comes from. Step lookups by id go through [`Flow::step`], which
//! uses an index built at load time.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;

use crate::expr::Expr;
use crate::template::Template;

/// A place in a source file: 1-based line and column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Pos {
    /// Index into [`FlowSet::sources`].
    pub file: u32,
    pub line: u32,
    pub column: u32,
}

/// A value together with where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Located<T> {
    pub value: T,
    pub pos: Pos,
}

impl<T> Located<T> {
    pub fn new(value: T, pos: Pos) -> Self {
        Self { value, pos }
    }
}

/// All flows of one assistant, loaded from one or more files.
#[derive(Clone, Debug, Default)]
pub struct FlowSet {
    pub flows: IndexMap<String, Flow>,
    /// Files the flows came from, indexed by [`Pos::file`].
    pub sources: Vec<PathBuf>,
}

impl FlowSet {
    pub fn flow(&self, id: &str) -> Option<&Flow> {
        self.flows.get(id)
    }

    /// Formats a position as `path:line:column`.
    pub fn locate(&self, pos: Pos) -> String {
        let path = self
            .sources
            .get(pos.file as usize)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "<input>".to_string());
        format!("{path}:{}:{}", pos.line, pos.column)
    }
}

/// One business process.
#[derive(Clone, Debug)]
pub struct Flow {
    pub id: String,
    pub name: String,
    pub description: Template,
    /// Intent names that start this flow (`nlu_trigger.intents`).
    pub intents: Vec<String>,
    /// Extension: the flow may be started only while this condition holds.
    pub guard: Option<Located<Expr>>,
    pub steps: Vec<Step>,
    /// Extension: slots kept after the flow ends (others are cleared).
    pub persisted_slots: Vec<String>,
    pub pos: Pos,
    step_index: HashMap<String, usize>,
}

impl Flow {
    pub fn new(
        id: String,
        name: String,
        description: Template,
        intents: Vec<String>,
        guard: Option<Located<Expr>>,
        steps: Vec<Step>,
        pos: Pos,
    ) -> Self {
        let mut step_index = HashMap::with_capacity(steps.len());
        for (index, step) in steps.iter().enumerate() {
            step_index.entry(step.id.clone()).or_insert(index);
        }
        let persisted_slots = Vec::new();
        Self {
            id,
            name,
            description,
            intents,
            guard,
            steps,
            persisted_slots,
            pos,
            step_index,
        }
    }

    pub fn step(&self, id: &str) -> Option<&Step> {
        self.step_index.get(id).map(|&i| &self.steps[i])
    }

    pub fn step_position(&self, id: &str) -> Option<usize> {
        self.step_index.get(id).copied()
    }

    pub fn first_step(&self) -> Option<&Step> {
        self.steps.first()
    }

    /// Whether users can start this flow themselves (it has trigger intents).
    pub fn user_startable(&self) -> bool {
        !self.intents.is_empty()
    }
}

/// One step of a flow.
#[derive(Clone, Debug)]
pub struct Step {
    pub id: String,
    pub kind: StepKind,
    pub next: Next,
    /// The step's `else`: fallback when no condition matches, and the failure
    /// path of an action.
    pub otherwise: Option<Located<Target>>,
    pub pos: Pos,
}

#[derive(Clone, Debug)]
pub enum StepKind {
    Collect(Box<Collect>),
    Action(ActionStep),
    Response(Response),
    /// A step with only `id` and `next`: it routes and does nothing else.
    Route,
    /// Extension: run another flow, then come back to this step's `next`.
    Call(Located<String>),
    /// Extension: end this flow and hand over to another one for good.
    Link(Located<String>),
    /// Extension: assign fixed values to slots.
    SetSlots(IndexMap<String, Located<Value>>),
    /// Extension: hand the conversation over to a human agent.
    Handoff(Handoff),
}

impl StepKind {
    /// The step type's name as written in flow files.
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Collect(_) => "collect",
            StepKind::Action(_) => "action",
            StepKind::Response(_) => "response",
            StepKind::Route => "route",
            StepKind::Call(_) => "call",
            StepKind::Link(_) => "link",
            StepKind::SetSlots(_) => "set_slots",
            StepKind::Handoff(_) => "handoff",
        }
    }
}

/// The transition out of a step.
#[derive(Clone, Debug, Default)]
pub enum Next {
    /// No `next`: continue with the following step in the list, or end the
    /// flow after the last one.
    #[default]
    FallThrough,
    Goto(Located<Target>),
    Branches(Vec<Branch>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Step(String),
    End,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Step(id) => f.write_str(id),
            Target::End => f.write_str("END"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Branch {
    pub condition: Condition,
    pub then: Located<Target>,
    pub pos: Pos,
}

#[derive(Clone, Debug)]
pub enum Condition {
    /// A programmatic condition over slots.
    If(Expr),
    /// A plain-language condition judged by the understanding layer.
    Semantic(String),
}

/// The type a collected value is coerced to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotType {
    #[default]
    String,
    Number,
    Boolean,
    File,
    /// Extension types.
    Integer,
    Date,
    Email,
    Phone,
    Choice,
}

impl SlotType {
    pub const NAMES: &'static [&'static str] = &[
        "string", "number", "boolean", "file", "integer", "date", "email", "phone", "choice",
    ];

    pub fn parse(name: &str) -> Option<SlotType> {
        Some(match name {
            "string" => SlotType::String,
            "number" => SlotType::Number,
            "boolean" => SlotType::Boolean,
            "file" => SlotType::File,
            "integer" => SlotType::Integer,
            "date" => SlotType::Date,
            "email" => SlotType::Email,
            "phone" => SlotType::Phone,
            "choice" => SlotType::Choice,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            SlotType::String => "string",
            SlotType::Number => "number",
            SlotType::Boolean => "boolean",
            SlotType::File => "file",
            SlotType::Integer => "integer",
            SlotType::Date => "date",
            SlotType::Email => "email",
            SlotType::Phone => "phone",
            SlotType::Choice => "choice",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Collect {
    /// The slot named by `collect:`.
    pub slot: Located<String>,
    /// The slot that receives the value: `set_slot_as` when given, else
    /// `slot`.
    pub store_as: String,
    pub slot_type: SlotType,
    pub description: Template,
    pub confirm: bool,
    pub send_confirmation: bool,
    /// Extension: ask even when the slot already has a value.
    pub ask_before_filling: bool,
    /// Extension: allowed options for `choice` slots.
    pub options: Vec<ChoiceOption>,
    pub validation: Option<Validation>,
    pub buttons: Vec<Button>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChoiceOption {
    pub value: String,
    pub title: String,
    /// Other words that select this option, compared case-insensitively.
    pub synonyms: Vec<String>,
}

/// Extension: rules a collected value must satisfy.
#[derive(Clone, Debug)]
pub struct Validation {
    pub pattern: Option<Located<regex::Regex>>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub allowed_values: Vec<String>,
    /// The re-ask message after an invalid value; may reference slots.
    pub message: Option<Template>,
    pub max_attempts: Option<u32>,
    /// The target once `max_attempts` invalid values were given.
    pub on_max_attempts: Option<Located<Target>>,
}

#[derive(Clone, Debug)]
pub struct ActionStep {
    pub name: Located<String>,
    /// Slot that receives the action's `result`.
    pub result_slot: String,
}

impl ActionStep {
    pub fn default_result_slot(action: &str) -> String {
        format!("{action}_result")
    }
}

#[derive(Clone, Debug)]
pub struct Response {
    pub text: Template,
    pub buttons: Vec<Button>,
}

/// A quick reply shown with a message.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Button {
    pub title: String,
    /// Text sent back as the user's message when the button is pressed.
    pub payload: String,
}

#[derive(Clone, Debug)]
pub struct Handoff {
    pub reason: Option<String>,
    pub message: Option<Template>,
}
