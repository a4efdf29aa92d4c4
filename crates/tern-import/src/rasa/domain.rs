//! The Rasa domain: slots, responses, actions, forms, intents and entities,
//! merged from `domain.yml` or from every file of a `domain/` folder.

use indexmap::IndexMap;
use serde_json::Value as Json;

use super::yaml_in::Node;
use super::{Ctx, Loc, SourceFile};
use crate::report::Fidelity;

#[derive(Debug, Default)]
pub(crate) struct Domain {
    pub intents: IndexMap<String, Loc>,
    pub entities: IndexMap<String, Loc>,
    pub slots: IndexMap<String, Slot>,
    pub responses: IndexMap<String, Response>,
    pub actions: IndexMap<String, Loc>,
    pub forms: IndexMap<String, Form>,
}

#[derive(Clone, Debug)]
pub(crate) struct Slot {
    pub name: String,
    /// Rasa's slot type: `text`, `bool`, `float`, `categorical`, `list`,
    /// `any`, or a custom class path.
    pub kind: String,
    pub values: Vec<String>,
    pub initial_value: Option<Json>,
    pub mappings: Vec<Mapping>,
    pub loc: Loc,
}

/// One entry of a slot's `mappings`.
#[derive(Clone, Debug)]
pub(crate) struct Mapping {
    /// `from_llm`, `from_entity`, `from_intent`, `from_text`,
    /// `from_trigger_intent`, `custom`, `controlled`, …
    pub kind: String,
    pub entity: Option<String>,
    pub intent: Vec<String>,
    pub value: Option<Json>,
    /// Forms named in the mapping's `conditions` (`active_loop`).
    pub active_loops: Vec<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct Response {
    pub variations: Vec<Variation>,
    pub loc: Loc,
}

#[derive(Clone, Debug)]
pub(crate) struct Variation {
    pub text: Option<String>,
    pub buttons: Vec<RasaButton>,
    /// Whether the variation has a `condition` on slots.
    pub conditional: bool,
    pub channel: Option<String>,
    /// `metadata: {rephrase: true}`: Rasa rewords the text with an LLM.
    pub rephrase: bool,
    /// Keys that Tern has no place for, such as `image` or `custom`.
    pub unsupported: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RasaButton {
    pub title: String,
    pub payload: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct Form {
    pub name: String,
    pub required_slots: Vec<String>,
    pub ignored_intents: Vec<String>,
    pub loc: Loc,
}

impl Domain {
    pub fn slot(&self, name: &str) -> Option<&Slot> {
        self.slots.get(name)
    }
}

/// Reads and merges the domain files. Later definitions of the same name
/// replace earlier ones, as when Rasa merges a `domain/` folder.
pub(crate) fn read(ctx: &mut Ctx, files: &[SourceFile]) -> Domain {
    let mut domain = Domain::default();
    for file in files {
        read_file(ctx, &mut domain, file);
    }
    domain
}

fn read_file(ctx: &mut Ctx, domain: &mut Domain, file: &SourceFile) {
    for (key, value) in file.root.entries() {
        let loc = file.loc(key.line);
        match key.name.as_str() {
            "version" => {}
            "intents" => read_names(ctx, &mut domain.intents, file, value, "intent"),
            "entities" => read_names(ctx, &mut domain.entities, file, value, "entity"),
            "actions" => read_names(ctx, &mut domain.actions, file, value, "action"),
            "slots" => read_slots(ctx, domain, file, value),
            "responses" => read_responses(ctx, domain, file, value),
            "forms" => read_forms(ctx, domain, file, value),
            "session_config" => ctx.add(
                Fidelity::Unmapped,
                &loc,
                "domain `session_config`",
                "Tern keeps a conversation until it is deleted and has no session expiry or slot carry-over settings",
            ),
            "config" => ctx.add(
                Fidelity::Unmapped,
                &loc,
                "domain `config`",
                "entity and slot featurization settings have no meaning for Tern's LLM understanding",
            ),
            other => ctx.add(Fidelity::Unmapped, &loc, format!("domain key `{other}`"), "not a domain key that the importer knows; ignored"),
        }
    }
}

/// Reads `intents`, `entities` or `actions`: a list of names, or of
/// single-key maps whose key is the name.
fn read_names(
    ctx: &mut Ctx,
    into: &mut IndexMap<String, Loc>,
    file: &SourceFile,
    value: &Node,
    what: &str,
) {
    if value.is_null() {
        return;
    }
    if !value.is_seq() {
        ctx.add(
            Fidelity::Unmapped,
            &file.loc(value.line),
            format!("domain `{what}` list"),
            format!("expected a list, found {}; ignored", value.kind()),
        );
        return;
    }
    for item in value.items() {
        let name = match (item.scalar_text(), item.entries().first()) {
            (Some(name), _) => name,
            (None, Some((key, _))) => key.name.clone(),
            _ => {
                ctx.add(
                    Fidelity::Unmapped,
                    &file.loc(item.line),
                    format!("domain {what}"),
                    format!("expected a name, found {}; ignored", item.kind()),
                );
                continue;
            }
        };
        into.insert(name, file.loc(item.line));
    }
}

fn read_slots(ctx: &mut Ctx, domain: &mut Domain, file: &SourceFile, value: &Node) {
    for (key, node) in value.entries() {
        let loc = file.loc(key.line);
        let kind = node
            .get("type")
            .and_then(Node::scalar_text)
            .unwrap_or_else(|| "text".to_string());
        let values = node
            .get("values")
            .map(|v| v.items().iter().filter_map(Node::scalar_text).collect())
            .unwrap_or_default();
        let initial_value = node
            .get("initial_value")
            .filter(|v| !v.is_null())
            .map(Node::to_json);
        let mappings = node
            .get("mappings")
            .map(|m| m.items().iter().map(read_mapping).collect())
            .unwrap_or_default();
        for (field, field_value) in node.entries() {
            if ![
                "type",
                "values",
                "initial_value",
                "mappings",
                "influence_conversation",
                "min_value",
                "max_value",
                "shared_for_coexistence",
                "validation",
            ]
            .contains(&field.name.as_str())
            {
                ctx.add(
                    Fidelity::Unmapped,
                    &file.loc(field.line),
                    format!("slot `{}` field `{}`", key.name, field.name),
                    "not a slot field that the importer knows; ignored",
                );
            }
            if field.name == "validation" {
                ctx.add(
                    Fidelity::Unmapped,
                    &file.loc(field_value.line),
                    format!("slot `{}` validation", key.name),
                    "slot-level validation is not converted; add `validation` to the collect steps of this slot",
                );
            }
        }
        domain.slots.insert(
            key.name.clone(),
            Slot {
                name: key.name.clone(),
                kind,
                values,
                initial_value,
                mappings,
                loc,
            },
        );
    }
}

fn read_mapping(node: &Node) -> Mapping {
    let text_list = |field: &str| -> Vec<String> {
        match node.get(field) {
            Some(value) if value.is_seq() => {
                value.items().iter().filter_map(Node::scalar_text).collect()
            }
            Some(value) => value.scalar_text().into_iter().collect(),
            None => Vec::new(),
        }
    };
    let active_loops = node
        .get("conditions")
        .map(|c| {
            c.items()
                .iter()
                .filter_map(|i| i.get("active_loop").and_then(Node::scalar_text))
                .collect()
        })
        .unwrap_or_default();
    Mapping {
        kind: node
            .get("type")
            .and_then(Node::scalar_text)
            .unwrap_or_else(|| "from_llm".to_string()),
        entity: node.get("entity").and_then(Node::scalar_text),
        intent: text_list("intent"),
        value: node.get("value").map(Node::to_json),
        active_loops,
    }
}

fn read_responses(ctx: &mut Ctx, domain: &mut Domain, file: &SourceFile, value: &Node) {
    for (key, node) in value.entries() {
        let loc = file.loc(key.line);
        if !node.is_seq() {
            ctx.add(
                Fidelity::Unmapped,
                &loc,
                format!("response `{}`", key.name),
                format!(
                    "expected a list of variations, found {}; ignored",
                    node.kind()
                ),
            );
            continue;
        }
        let variations = node.items().iter().map(read_variation).collect();
        if domain.responses.contains_key(&key.name) {
            ctx.add(
                Fidelity::Approximate,
                &loc,
                format!("response `{}`", key.name),
                "defined more than once; this later definition is used",
            );
        }
        domain
            .responses
            .insert(key.name.clone(), Response { variations, loc });
    }
}

fn read_variation(node: &Node) -> Variation {
    let mut variation = Variation {
        text: node.get("text").and_then(Node::scalar_text),
        buttons: Vec::new(),
        conditional: node.get("condition").is_some(),
        channel: node.get("channel").and_then(Node::scalar_text),
        rephrase: node
            .get("metadata")
            .and_then(|m| m.get("rephrase"))
            .and_then(Node::as_bool)
            .unwrap_or(false),
        unsupported: Vec::new(),
    };
    for (key, value) in node.entries() {
        match key.name.as_str() {
            "text" | "condition" | "channel" | "metadata" | "id" => {}
            "buttons" | "quick_replies" => {
                for button in value.items() {
                    let title = button
                        .get("title")
                        .and_then(Node::scalar_text)
                        .or_else(|| button.scalar_text());
                    if let Some(title) = title {
                        let payload = button.get("payload").and_then(Node::scalar_text);
                        variation.buttons.push(RasaButton { title, payload });
                    }
                }
            }
            other => variation.unsupported.push(other.to_string()),
        }
    }
    variation
}

fn read_forms(ctx: &mut Ctx, domain: &mut Domain, file: &SourceFile, value: &Node) {
    for (key, node) in value.entries() {
        let loc = file.loc(key.line);
        let required = node.get("required_slots");
        // Rasa 3 lists the slot names; Rasa 2 mapped each slot name to its
        // mappings.
        let required_slots: Vec<String> = match required {
            Some(list) if list.is_seq() => {
                list.items().iter().filter_map(Node::scalar_text).collect()
            }
            Some(map) if map.is_map() => {
                ctx.add(
                    Fidelity::Approximate,
                    &file.loc(map.line),
                    format!("form `{}` slot mappings", key.name),
                    "Rasa 2 form mappings under `required_slots` are read only for the slot names; Tern's understanding layer extracts the values",
                );
                map.entries().iter().map(|(k, _)| k.name.clone()).collect()
            }
            _ => Vec::new(),
        };
        let ignored_intents = node
            .get("ignored_intents")
            .map(|v| {
                if v.is_seq() {
                    v.items().iter().filter_map(Node::scalar_text).collect()
                } else {
                    v.scalar_text().into_iter().collect()
                }
            })
            .unwrap_or_default();
        domain.forms.insert(
            key.name.clone(),
            Form {
                name: key.name.clone(),
                required_slots,
                ignored_intents,
                loc,
            },
        );
    }
}
