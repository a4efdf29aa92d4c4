//! The flow file as written, before any checks: every field optional and
//! carrying its position, so that the conversion can report each missing or
//! wrong field precisely instead of failing on the first one.

use std::fmt;

use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde_saphyr::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    pub flows: Option<Spanned<IndexMap<String, Spanned<RawFlow>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFlow {
    pub id: Option<Spanned<String>>,
    pub name: Option<Spanned<String>>,
    pub description: Option<Spanned<String>>,
    pub nlu_trigger: Option<Spanned<RawTrigger>>,
    pub guard: Option<Spanned<String>>,
    pub persisted_slots: Option<Vec<Spanned<String>>>,
    pub steps: Option<Spanned<Vec<Spanned<RawStep>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrigger {
    #[serde(default)]
    pub intents: Vec<Spanned<RawIntent>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIntent {
    pub intent: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub id: Option<Spanned<String>>,
    pub collect: Option<Spanned<String>>,
    pub collect_type: Option<Spanned<String>>,
    pub description: Option<Spanned<String>>,
    pub collect_confirmation: Option<bool>,
    pub send_confirmation: Option<bool>,
    pub set_slot_as: Option<Spanned<String>>,
    pub ask_before_filling: Option<bool>,
    pub options: Option<Spanned<Vec<RawOption>>>,
    pub validation: Option<Spanned<RawValidation>>,
    pub action: Option<Spanned<String>>,
    pub result_slot: Option<Spanned<String>>,
    pub response: Option<Spanned<String>>,
    pub buttons: Option<Vec<RawButton>>,
    pub call: Option<Spanned<String>>,
    pub link: Option<Spanned<String>>,
    pub set_slots: Option<Spanned<IndexMap<String, Spanned<serde_json::Value>>>>,
    pub handoff: Option<Spanned<RawHandoff>>,
    pub next: Option<Spanned<RawNext>>,
    #[serde(rename = "else")]
    pub otherwise: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawOption {
    Plain(String),
    Detailed {
        value: String,
        title: Option<String>,
        #[serde(default)]
        synonyms: Vec<String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawButton {
    Plain(String),
    Detailed {
        title: String,
        payload: Option<String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawValidation {
    pub pattern: Option<Spanned<String>>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    #[serde(default)]
    pub allowed_values: Vec<String>,
    pub message: Option<Spanned<String>>,
    pub max_attempts: Option<u32>,
    pub on_max_attempts: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawHandoff {
    Flag(bool),
    Reason(String),
    Detailed {
        reason: Option<String>,
        message: Option<String>,
    },
}

/// `next:` is either a target or a list of conditional branches.
#[derive(Debug)]
pub enum RawNext {
    Target(String),
    Branches(Vec<Spanned<RawBranch>>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBranch {
    #[serde(rename = "if")]
    pub condition: Option<Spanned<String>>,
    pub semantic_if: Option<Spanned<String>>,
    pub then: Option<Spanned<String>>,
}

// Written by hand rather than with `#[serde(untagged)]`: an untagged enum
// buffers its input, and the buffered copy no longer carries the positions
// that the branches need for their error messages.
impl<'de> Deserialize<'de> for RawNext {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NextVisitor)
    }
}

struct NextVisitor;

impl<'de> Visitor<'de> for NextVisitor {
    type Value = RawNext;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a step id, END, or a list of `if`/`semantic_if` branches")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<RawNext, E> {
        Ok(RawNext::Target(value.to_string()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawNext, A::Error> {
        let mut branches = Vec::new();
        while let Some(branch) = seq.next_element()? {
            branches.push(branch);
        }
        Ok(RawNext::Branches(branches))
    }
}
