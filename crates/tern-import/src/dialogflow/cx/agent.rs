//! The parts of a Dialogflow CX export, read from the console's JSON
//! package layout:
//!
//! ```text
//! agent.json
//! flows/<flow>/<flow>.json, pages/*.json, transitionRouteGroups/*.json
//! intents/<intent>/<intent>.json, trainingPhrases/<language>.json
//! entityTypes/<type>/<type>.json, entities/<language>.json
//! webhooks/*.json, generators/<generator>/..., testCases/*.json
//! transitionRouteGroups/*.json (agent-level route groups)
//! ```
//!
//! Elements refer to each other by display name, so display names (trimmed)
//! are the keys here, never the ids.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::dialogflow::archive::{Export, file_stem};
use crate::dialogflow::entities::{EntityKind, EntityType, option};
use crate::dialogflow::json::J;
use crate::project::ImportError;

/// A JSON file of the export with its path.
#[derive(Debug)]
pub struct Source {
    pub file: String,
    pub name: String,
    pub value: Value,
}

#[derive(Debug)]
pub struct FlowSource {
    pub flow: Source,
    pub pages: Vec<Source>,
    pub groups: Vec<Source>,
}

#[derive(Debug, Default)]
pub struct Intent {
    pub name: String,
    pub file: String,
    pub description: String,
    pub is_fallback: bool,
    /// Training phrases by language code.
    pub phrases: BTreeMap<String, Vec<String>>,
    pub phrase_files: BTreeMap<String, String>,
}

#[derive(Debug)]
pub struct Webhook {
    pub name: String,
    pub file: String,
    pub url: Option<String>,
    /// Whether the export configures credentials (headers, user name,
    /// OAuth, secrets), which are never copied.
    pub has_credentials: bool,
}

#[derive(Debug)]
pub struct Generator {
    pub name: String,
    pub file: String,
    pub prompt: String,
}

pub struct Agent {
    pub export: Export,
    pub default_language: String,
    /// The start flow first, then the others by name.
    pub flows: Vec<FlowSource>,
    pub agent_groups: Vec<Source>,
    pub intents: BTreeMap<String, Intent>,
    pub entities: BTreeMap<String, EntityType>,
    pub webhooks: BTreeMap<String, Webhook>,
    /// Generators by their id, the last segment of the resource name that
    /// fulfillments use.
    pub generators: BTreeMap<String, Generator>,
    pub test_cases: Vec<Source>,
}

impl Agent {
    pub fn read(export: Export) -> Result<Agent, ImportError> {
        let agent_json = export.json("agent.json")?;
        let root = J::root(&agent_json, "agent.json", &export.origin);
        let default_language = root.str("defaultLanguageCode")?.unwrap_or("en").to_string();
        let start_flow = root
            .str("startFlow")?
            .unwrap_or("Default Start Flow")
            .trim()
            .to_string();
        if export.subfolders("flows").is_empty() {
            return Err(ImportError::NotAProject(
                export.origin.clone(),
                "Dialogflow CX",
                "the export has no `flows/` folder; for a Dialogflow ES agent use the ES importer"
                    .into(),
            ));
        }

        let mut flows = Vec::new();
        for folder in export.subfolders("flows") {
            let file = export.main_file(&folder).ok_or_else(|| {
                ImportError::invalid(
                    export.error_path(&folder),
                    "",
                    "the flow folder has no flow JSON file",
                )
            })?;
            let flow = source(&export, &file)?;
            let pages = export
                .files_in(&format!("{folder}/pages"), ".json")
                .iter()
                .map(|f| source(&export, f))
                .collect::<Result<_, _>>()?;
            let groups = export
                .files_in(&format!("{folder}/transitionRouteGroups"), ".json")
                .iter()
                .map(|f| source(&export, f))
                .collect::<Result<_, _>>()?;
            flows.push(FlowSource {
                flow,
                pages,
                groups,
            });
        }
        flows.sort_by_key(|f| (f.flow.name != start_flow, f.flow.name.clone()));
        if flows.first().is_none_or(|f| f.flow.name != start_flow) {
            let message = format!(
                "`startFlow` names `{start_flow}`, but the export has no flow with that display name"
            );
            return Err(ImportError::invalid(
                export.error_path("agent.json"),
                "$.startFlow",
                message,
            ));
        }
        let agent_groups = export
            .files_in("transitionRouteGroups", ".json")
            .iter()
            .map(|f| source(&export, f))
            .collect::<Result<_, _>>()?;

        let mut intents = BTreeMap::new();
        for folder in export.subfolders("intents") {
            let Some(file) = export.main_file(&folder) else {
                continue;
            };
            let value = export.json(&file)?;
            let node = J::root(&value, &file, &export.origin);
            let mut intent = Intent {
                name: display_name(&node, &file)?,
                file: file.clone(),
                description: node.str("description")?.unwrap_or_default().to_string(),
                is_fallback: node.flag("isFallback")?,
                ..Default::default()
            };
            for phrase_file in export.files_in(&format!("{folder}/trainingPhrases"), ".json") {
                let language = file_stem(&phrase_file);
                let value = export.json(&phrase_file)?;
                let node = J::root(&value, &phrase_file, &export.origin);
                let mut phrases = Vec::new();
                for phrase in node.array("trainingPhrases")? {
                    let mut text = String::new();
                    for part in phrase.array("parts")? {
                        text.push_str(part.str("text")?.unwrap_or_default());
                    }
                    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                    if !text.is_empty() {
                        phrases.push(text);
                    }
                }
                intent
                    .phrase_files
                    .insert(language.clone(), phrase_file.clone());
                intent.phrases.insert(language, phrases);
            }
            intents.insert(intent.name.clone(), intent);
        }

        let mut entities = BTreeMap::new();
        for folder in export.subfolders("entityTypes") {
            let Some(file) = export.main_file(&folder) else {
                continue;
            };
            let value = export.json(&file)?;
            let node = J::root(&value, &file, &export.origin);
            let kind = match node.str("kind")?.unwrap_or("KIND_MAP") {
                "KIND_LIST" => EntityKind::List,
                "KIND_REGEXP" => EntityKind::Regexp,
                _ => EntityKind::Map,
            };
            let mut entity = EntityType {
                name: display_name(&node, &file)?,
                file: file.clone(),
                kind,
                ..Default::default()
            };
            for entries_file in export.files_in(&format!("{folder}/entities"), ".json") {
                let language = file_stem(&entries_file);
                let value = export.json(&entries_file)?;
                let node = J::root(&value, &entries_file, &export.origin);
                let entries = node.array("entities")?;
                if language != default_language {
                    entity.other_languages.insert(language, entries.len());
                    continue;
                }
                for entry in entries {
                    let value = entry.required_str("value")?;
                    entity
                        .entries
                        .push(option(value, &entry.strings("synonyms")?));
                }
            }
            entities.insert(entity.name.clone(), entity);
        }

        let mut webhooks = BTreeMap::new();
        for file in export.files_in("webhooks", ".json") {
            let value = export.json(&file)?;
            let node = J::root(&value, &file, &export.origin);
            let service = match node.object("genericWebService")? {
                Some(service) => Some(service),
                None => node
                    .object("serviceDirectory")?
                    .and_then(|s| s.get("genericWebService")),
            };
            let url = service
                .as_ref()
                .map(|s| s.str("uri"))
                .transpose()?
                .flatten()
                .map(str::to_string);
            let has_credentials = service.as_ref().is_some_and(|s| {
                [
                    "username",
                    "password",
                    "requestHeaders",
                    "oauthConfig",
                    "secretVersionForUsernamePassword",
                    "secretVersionsForRequestHeaders",
                    "serviceAgentAuth",
                ]
                .iter()
                .any(|key| s.get(key).is_some())
            });
            let webhook = Webhook {
                name: display_name(&node, &file)?,
                file: file.clone(),
                url,
                has_credentials,
            };
            webhooks.insert(webhook.name.clone(), webhook);
        }

        let mut generators = BTreeMap::new();
        for folder in export.subfolders("generators") {
            let Some(file) = export.main_file(&folder) else {
                continue;
            };
            let value = export.json(&file)?;
            let node = J::root(&value, &file, &export.origin);
            let id = node
                .str("name")?
                .unwrap_or_default()
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string();
            let mut prompt = String::new();
            for phrase_file in export.files_in(&format!("{folder}/phrases"), ".json") {
                let value = export.json(&phrase_file)?;
                let node = J::root(&value, &phrase_file, &export.origin);
                for text in node.array("promptTexts")? {
                    if prompt.is_empty() {
                        prompt = text.str("text")?.unwrap_or_default().trim().to_string();
                    }
                }
            }
            let generator = Generator {
                name: display_name(&node, &file)?,
                file: file.clone(),
                prompt,
            };
            generators.insert(
                if id.is_empty() {
                    generator.name.clone()
                } else {
                    id
                },
                generator,
            );
        }

        let test_cases = export
            .files_in("testCases", ".json")
            .iter()
            .map(|f| source(&export, f))
            .collect::<Result<_, _>>()?;

        Ok(Agent {
            export,
            default_language,
            flows,
            agent_groups,
            intents,
            entities,
            webhooks,
            generators,
            test_cases,
        })
    }

    /// A JSON node for a source file.
    pub fn node<'a>(&'a self, source: &'a Source) -> J<'a> {
        J::root(&source.value, &source.file, &self.export.origin)
    }
}

fn source(export: &Export, file: &str) -> Result<Source, ImportError> {
    let value = export.json(file)?;
    let name = display_name(&J::root(&value, file, &export.origin), file)?;
    Ok(Source {
        file: file.to_string(),
        name,
        value,
    })
}

/// The trimmed `displayName`, or the decoded file name when it is missing.
fn display_name(node: &J, file: &str) -> Result<String, ImportError> {
    if !node.value.is_object() {
        return Err(node.error(format!(
            "expected a JSON object, found {}",
            crate::dialogflow::json::kind(node.value)
        )));
    }
    Ok(match node.str("displayName")? {
        Some(name) if !name.trim().is_empty() => name.trim().to_string(),
        _ => file_stem(file).trim().to_string(),
    })
}
