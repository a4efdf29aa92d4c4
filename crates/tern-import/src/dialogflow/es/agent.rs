//! The parts of a Dialogflow ES export:
//!
//! ```text
//! agent.json
//! intents/<intent>.json, intents/<intent>_usersays_<language>.json
//! entities/<entity>.json, entities/<entity>_entries_<language>.json
//! ```

use std::collections::BTreeMap;

use crate::dialogflow::archive::{Export, file_stem};
use crate::dialogflow::entities::{EntityKind, EntityType, option};
use crate::dialogflow::json::J;
use crate::project::ImportError;

pub struct Agent {
    pub language: String,
    pub webhook_url: Option<String>,
    /// Whether agent.json configures webhook credentials or headers, which
    /// are never copied.
    pub webhook_has_credentials: bool,
    /// Intents in file name order.
    pub intents: Vec<Intent>,
    pub entities: BTreeMap<String, EntityType>,
}

#[derive(Debug, Default)]
pub struct Intent {
    pub id: String,
    pub parent: Option<String>,
    pub name: String,
    pub file: String,
    pub is_fallback: bool,
    pub action: String,
    pub events: Vec<String>,
    pub input_contexts: Vec<String>,
    pub output_contexts: Vec<String>,
    pub reset_contexts: bool,
    pub parameters: Vec<Parameter>,
    /// Text responses in the default language, first variant each.
    pub texts: Vec<String>,
    /// Number of variants of each text response.
    pub variant_counts: Vec<usize>,
    /// Suggestion chip and quick reply titles.
    pub buttons: Vec<String>,
    /// (JSON path, type) of responses Tern cannot send.
    pub unmapped_messages: Vec<(String, String)>,
    pub webhook: bool,
    pub phrases: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Default)]
pub struct Parameter {
    pub name: String,
    pub data_type: String,
    pub required: bool,
    pub is_list: bool,
    pub prompts: Vec<String>,
}

impl Intent {
    pub fn is_welcome(&self) -> bool {
        self.action == "input.welcome"
            || self.events.iter().any(|e| e == "WELCOME")
            || self.name.eq_ignore_ascii_case("Default Welcome Intent")
    }
}

impl Agent {
    pub fn read(export: Export) -> Result<Agent, ImportError> {
        if !export.subfolders("flows").is_empty() {
            return Err(ImportError::NotAProject(export.origin.clone(), "Dialogflow ES", "the export has a `flows/` folder, so it is a Dialogflow CX agent; use the CX importer".into()));
        }
        let agent_json = export.json("agent.json")?;
        let root = J::root(&agent_json, "agent.json", &export.origin);
        let language = root.str("language")?.unwrap_or("en").to_string();
        let webhook = root.object("webhook")?;
        let webhook_url = webhook
            .as_ref()
            .map(|w| w.str("url"))
            .transpose()?
            .flatten()
            .filter(|u| !u.is_empty())
            .map(str::to_string);
        let webhook_has_credentials = webhook.as_ref().is_some_and(|w| {
            ["username", "password", "headers"].iter().any(|k| {
                w.get(k).is_some_and(|v| {
                    !v.value.as_str().is_some_and(str::is_empty)
                        && v.value.as_object().is_none_or(|o| !o.is_empty())
                })
            })
        });

        let mut entities = BTreeMap::new();
        for file in export
            .files_in("entities", ".json")
            .into_iter()
            .filter(|f| !f.contains("_entries_"))
        {
            let value = export.json(&file)?;
            let node = J::root(&value, &file, &export.origin);
            let name = node
                .str("name")?
                .map(|n| n.trim().to_string())
                .unwrap_or_else(|| file_stem(&file).trim().to_string());
            let kind = if node.flag("isRegexp")? {
                EntityKind::Regexp
            } else if node.flag("isEnum")? {
                EntityKind::List
            } else {
                EntityKind::Map
            };
            let mut entity = EntityType {
                name: name.clone(),
                file: file.clone(),
                kind,
                ..Default::default()
            };
            let stem = file.strip_suffix(".json").unwrap_or(&file).to_string();
            for entries_file in export
                .files_in("entities", ".json")
                .into_iter()
                .filter(|f| f.starts_with(&format!("{stem}_entries_")))
            {
                let entries_language = entries_file
                    .strip_prefix(&format!("{stem}_entries_"))
                    .and_then(|r| r.strip_suffix(".json"))
                    .unwrap_or_default()
                    .to_string();
                let value = export.json(&entries_file)?;
                let node = J::root(&value, &entries_file, &export.origin);
                let entries = node.elements()?;
                if entries_language != language {
                    entity
                        .other_languages
                        .insert(entries_language, entries.len());
                    continue;
                }
                for entry in entries {
                    entity.entries.push(option(
                        entry.required_str("value")?,
                        &entry.strings("synonyms")?,
                    ));
                }
            }
            entities.insert(name, entity);
        }

        let mut intents = Vec::new();
        let all = export.files_in("intents", ".json");
        for file in all.iter().filter(|f| !f.contains("_usersays_")) {
            let value = export.json(file)?;
            let node = J::root(&value, file, &export.origin);
            let mut intent = read_intent(&node, file, &language)?;
            let stem = file.strip_suffix(".json").unwrap_or(file).to_string();
            for phrases_file in all
                .iter()
                .filter(|f| f.starts_with(&format!("{stem}_usersays_")))
            {
                let phrases_language = phrases_file
                    .strip_prefix(&format!("{stem}_usersays_"))
                    .and_then(|r| r.strip_suffix(".json"))
                    .unwrap_or_default()
                    .to_string();
                let value = export.json(phrases_file)?;
                let node = J::root(&value, phrases_file, &export.origin);
                let mut phrases = Vec::new();
                for phrase in node.elements()? {
                    let mut text = String::new();
                    for part in phrase.array("data")? {
                        text.push_str(part.str("text")?.unwrap_or_default());
                    }
                    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                    if !text.is_empty() {
                        phrases.push(text);
                    }
                }
                intent.phrases.insert(phrases_language, phrases);
            }
            intents.push(intent);
        }
        if intents.is_empty() {
            return Err(ImportError::NotAProject(
                export.origin.clone(),
                "Dialogflow ES",
                "the export has no `intents/` files".into(),
            ));
        }
        Ok(Agent {
            language,
            webhook_url,
            webhook_has_credentials,
            intents,
            entities,
        })
    }

    /// Returns the follow-up intents of an intent, in file order.
    pub fn children(&self, id: &str) -> Vec<&Intent> {
        self.intents
            .iter()
            .filter(|i| i.parent.as_deref() == Some(id))
            .collect()
    }
}

fn read_intent(node: &J, file: &str, language: &str) -> Result<Intent, ImportError> {
    if !node.value.is_object() {
        return Err(node.error("expected a JSON object"));
    }
    let mut intent = Intent {
        id: node.str("id")?.unwrap_or_default().to_string(),
        parent: node.str("parentId")?.map(str::to_string),
        name: node
            .str("name")?
            .map(|n| n.trim().to_string())
            .unwrap_or_else(|| file_stem(file).trim().to_string()),
        file: file.to_string(),
        is_fallback: node.flag("fallbackIntent")?,
        webhook: node.flag("webhookUsed")?,
        input_contexts: node
            .strings("contexts")?
            .into_iter()
            .map(str::to_string)
            .collect(),
        ..Default::default()
    };
    for event in node.array("events")? {
        intent
            .events
            .push(event.str("name")?.unwrap_or_default().to_string());
    }
    let Some(response) = node.array("responses")?.into_iter().next() else {
        return Ok(intent);
    };
    intent.action = response.str("action")?.unwrap_or_default().to_string();
    intent.reset_contexts = response.flag("resetContexts")?;
    for context in response.array("affectedContexts")? {
        let lifespan = context
            .get("lifespan")
            .and_then(|l| l.value.as_i64())
            .unwrap_or(5);
        if lifespan > 0 {
            intent
                .output_contexts
                .push(context.required_str("name")?.to_string());
        }
    }
    for parameter in response.array("parameters")? {
        let prompts = parameter
            .array("prompts")?
            .into_iter()
            .filter(|p| {
                p.value
                    .get("lang")
                    .and_then(|l| l.as_str())
                    .is_none_or(|l| l == language)
            })
            .filter_map(|p| {
                p.value
                    .get("value")
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            })
            .collect();
        intent.parameters.push(Parameter {
            name: parameter.required_str("name")?.to_string(),
            data_type: parameter.str("dataType")?.unwrap_or("@sys.any").to_string(),
            required: parameter.flag("required")?,
            is_list: parameter.flag("isList")?,
            prompts,
        });
    }
    for message in response.array("messages")? {
        let message_language = message.str("lang")?.unwrap_or(language);
        if message_language != language {
            intent
                .unmapped_messages
                .push((message.path.clone(), format!("{message_language} language")));
            continue;
        }
        let kind = match message.value.get("type") {
            Some(serde_json::Value::Number(n)) => n.to_string(),
            Some(serde_json::Value::String(s)) => s.clone(),
            _ => String::new(),
        };
        match kind.as_str() {
            "0" | "simple_response"
                if message.get("platform").is_none() || kind == "simple_response" =>
            {
                let variants: Vec<String> = match message
                    .value
                    .get("speech")
                    .or_else(|| message.value.get("textToSpeech"))
                {
                    Some(serde_json::Value::String(text)) => vec![text.clone()],
                    Some(serde_json::Value::Array(items)) => items
                        .iter()
                        .filter_map(|i| i.as_str().map(str::to_string))
                        .collect(),
                    _ => Vec::new(),
                };
                if let Some(first) = variants.first() {
                    intent.texts.push(first.clone());
                    intent.variant_counts.push(variants.len());
                }
            }
            "suggestion_chips" => {
                for suggestion in message.array("suggestions")? {
                    intent
                        .buttons
                        .push(suggestion.str("title")?.unwrap_or_default().to_string());
                }
            }
            "2" => intent
                .buttons
                .extend(message.strings("replies")?.into_iter().map(str::to_string)),
            other => intent.unmapped_messages.push((
                message.path.clone(),
                if other.is_empty() {
                    "unknown".into()
                } else {
                    other.to_string()
                },
            )),
        }
    }
    Ok(intent)
}
