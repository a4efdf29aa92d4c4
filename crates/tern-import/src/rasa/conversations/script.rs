//! Rasa end-to-end test cases and stories read into one neutral shape: a
//! list of user turns, each with what Rasa expected after it.

use indexmap::IndexMap;
use serde_json::Value as Json;

use crate::rasa::files::SourceFile;
use crate::rasa::flows::Item;
use crate::rasa::nlu::{examples, strip_annotations};
use crate::rasa::yaml_in::Node;
use crate::rasa::{Loc, identifier};

/// One conversation to convert.
#[derive(Clone, Debug)]
pub(crate) struct Script {
    pub name: String,
    pub loc: Loc,
    /// Slot values the conversation starts with (e2e `fixtures`).
    pub slots: IndexMap<String, Json>,
    pub turns: Vec<ScriptTurn>,
    /// Problems that do not stop the conversion, such as bot messages
    /// before the first user message.
    pub notes: Vec<String>,
    /// The reason why the conversation cannot be expressed at all, such as
    /// a story with checkpoints or alternatives.
    pub unsupported: Option<String>,
    /// A short rendering of the steps, listed in the report when the
    /// conversation cannot become a test.
    pub summary: Vec<String>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct ScriptTurn {
    pub line: u32,
    pub user: String,
    /// The classic intent of the message, when the source names it.
    pub intent: Option<String>,
    pub entities: Vec<(String, Json)>,
    /// Slots Rasa set after the message; `None` when only the name is
    /// given.
    pub slots_set: Vec<(String, Option<Json>)>,
    /// Bot messages Rasa expected after the message, in order.
    pub bot: Vec<Expected>,
    /// Custom actions Rasa expected to run.
    pub actions: Vec<String>,
    /// Flows that Rasa's assertions expect to start.
    pub flows_started: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Expected {
    /// A response by name.
    Utter(String),
    /// A message by its exact text.
    Text(String),
}

impl Expected {
    pub fn describe(&self) -> String {
        match self {
            Expected::Utter(name) => format!("`{name}`"),
            Expected::Text(text) => format!("{text:?}"),
        }
    }
}

/// Reads the `test_cases` of an end-to-end test file.
pub(crate) fn e2e_scripts(file: &SourceFile) -> Vec<Script> {
    let fixtures = read_fixtures(&file.root);
    let mut scripts = Vec::new();
    for case in file
        .root
        .get("test_cases")
        .map(Node::items)
        .unwrap_or_default()
    {
        let name = case
            .get("test_case")
            .and_then(Node::scalar_text)
            .unwrap_or_else(|| format!("test at line {}", case.line));
        let mut script = Script {
            name,
            loc: file.loc(case.line),
            slots: IndexMap::new(),
            turns: Vec::new(),
            notes: Vec::new(),
            unsupported: None,
            summary: Vec::new(),
        };
        for fixture in case.get("fixtures").map(Node::items).unwrap_or_default() {
            let Some(fixture) = fixture.scalar_text() else {
                continue;
            };
            match fixtures.get(&fixture) {
                Some(values) => script.slots.extend(values.clone()),
                None => script
                    .notes
                    .push(format!("the fixture `{fixture}` is not defined")),
            }
        }
        for step in case.get("steps").map(Node::items).unwrap_or_default() {
            read_e2e_step(&mut script, step);
        }
        scripts.push(script);
    }
    scripts
}

fn read_fixtures(root: &Node) -> IndexMap<String, IndexMap<String, Json>> {
    let mut fixtures = IndexMap::new();
    for fixture in root.get("fixtures").map(Node::items).unwrap_or_default() {
        for (name, values) in fixture.entries() {
            let mut slots = IndexMap::new();
            for item in values.items() {
                for (slot, value) in item.entries() {
                    slots.insert(identifier(&slot.name), value.to_json());
                }
            }
            fixtures.insert(name.name.clone(), slots);
        }
    }
    fixtures
}

fn read_e2e_step(script: &mut Script, step: &Node) {
    let Some((key, value)) = step.entries().first() else {
        return;
    };
    match key.name.as_str() {
        "user" => {
            let user = value.scalar_text().unwrap_or_default().trim().to_string();
            script.summary.push(format!("user: {user}"));
            let mut turn = ScriptTurn {
                line: step.line,
                user,
                ..ScriptTurn::default()
            };
            if let Some(assertions) = step.get("assertions") {
                read_assertions(script, &mut turn, assertions);
            }
            script.turns.push(turn);
        }
        "bot" | "utter" => {
            let expected = match key.name.as_str() {
                "bot" => Expected::Text(value.scalar_text().unwrap_or_default()),
                _ => Expected::Utter(value.scalar_text().unwrap_or_default()),
            };
            script.summary.push(format!("bot: {}", expected.describe()));
            push_expected(script, expected, step.line);
        }
        "slot_was_set" => {
            let slots = read_slot_list(value);
            match script.turns.last_mut() {
                Some(turn) => turn.slots_set.extend(slots),
                None => script.notes.push(format!(
                    "line {}: slots set before the first user message are not checked",
                    step.line
                )),
            }
        }
        "slot_was_not_set" => {
            script.notes.push(format!(
                "line {}: `slot_was_not_set` is not converted",
                step.line
            ));
        }
        "action" => {
            let name = value.scalar_text().unwrap_or_default();
            if let Some(turn) = script.turns.last_mut() {
                turn.actions.push(name);
            }
        }
        other => script.notes.push(format!(
            "line {}: the step `{other}` is not converted",
            step.line
        )),
    }
}

fn push_expected(script: &mut Script, expected: Expected, line: u32) {
    match script.turns.last_mut() {
        Some(turn) => turn.bot.push(expected),
        None => script.notes.push(format!(
            "line {line}: the bot message {} comes before the first user message, and Tern sends nothing before the user writes",
            expected.describe()
        )),
    }
}

/// Reads `slot_was_set` entries: `- name: value`, `- name`, or the
/// assertion form `- {name: NAME, value: VALUE}`.
fn read_slot_list(value: &Node) -> Vec<(String, Option<Json>)> {
    let mut slots = Vec::new();
    for item in value.items() {
        if let Some(name) = item.scalar_text() {
            slots.push((identifier(&name), None));
        } else if let Some(name) = item.get("name").and_then(Node::scalar_text) {
            slots.push((identifier(&name), item.get("value").map(Node::to_json)));
        } else {
            for (name, value) in item.entries() {
                slots.push((identifier(&name.name), Some(value.to_json())));
            }
        }
    }
    slots
}

/// Reads the assertion form of e2e tests (`assertions:` under a user step).
fn read_assertions(script: &mut Script, turn: &mut ScriptTurn, assertions: &Node) {
    for assertion in assertions.items() {
        let Some((key, value)) = assertion.entries().first() else {
            continue;
        };
        match key.name.as_str() {
            "flow_started" => {
                if let Some(flow) = value.scalar_text() {
                    turn.flows_started.push(flow);
                }
            }
            "slot_was_set" => turn.slots_set.extend(read_slot_list(value)),
            "bot_uttered" => match value.get("utter_name").and_then(Node::scalar_text) {
                Some(name) => turn.bot.push(Expected::Utter(name)),
                None => script.notes.push(format!(
                    "line {}: `bot_uttered` without `utter_name` is not converted",
                    assertion.line
                )),
            },
            "action_executed" => {
                if let Some(name) = value.scalar_text() {
                    turn.actions.push(name);
                }
            }
            other => script.notes.push(format!(
                "line {}: the assertion `{other}` is not converted",
                assertion.line
            )),
        }
    }
}

/// Reads stories (training stories under `data/` or test stories under
/// `tests/`). `nlu` gives example messages for intents without a `user`
/// text.
pub(crate) fn story_scripts(stories: &[Item], nlu: &[Item], forms: &[String]) -> Vec<Script> {
    let mut scripts = Vec::new();
    for story in stories {
        let name = story
            .node
            .get("story")
            .and_then(Node::scalar_text)
            .unwrap_or_else(|| format!("story at line {}", story.node.line));
        let mut script = Script {
            name,
            loc: story.here(),
            slots: IndexMap::new(),
            turns: Vec::new(),
            notes: Vec::new(),
            unsupported: None,
            summary: Vec::new(),
        };
        for step in story.node.get("steps").map(Node::items).unwrap_or_default() {
            read_story_step(&mut script, step, nlu, forms);
        }
        scripts.push(script);
    }
    scripts
}

fn read_story_step(script: &mut Script, step: &Node, nlu: &[Item], forms: &[String]) {
    let Some((key, value)) = step.entries().first() else {
        return;
    };
    match key.name.as_str() {
        "intent" | "user" => {
            let intent = step.get("intent").and_then(Node::scalar_text);
            let mut entities = Vec::new();
            for entity in step.get("entities").map(Node::items).unwrap_or_default() {
                if let Some(name) = entity.get("entity").and_then(Node::scalar_text) {
                    entities.push((
                        name,
                        entity.get("value").map(Node::to_json).unwrap_or(Json::Null),
                    ));
                } else {
                    for (name, value) in entity.entries() {
                        entities.push((name.name.clone(), value.to_json()));
                    }
                }
            }
            let user = match step.get("user").and_then(Node::scalar_text) {
                Some(text) => {
                    let (text, annotated) = strip_annotations(text.trim());
                    entities.extend(annotated);
                    text
                }
                None => example_for(intent.as_deref().unwrap_or_default(), &entities, nlu),
            };
            script.summary.push(format!(
                "user ({}): {user}",
                intent.clone().unwrap_or_default()
            ));
            script.turns.push(ScriptTurn {
                line: step.line,
                user,
                intent,
                entities,
                ..ScriptTurn::default()
            });
        }
        "action" => {
            let name = value.scalar_text().unwrap_or_default();
            script.summary.push(format!("bot: `{name}`"));
            if name.starts_with("utter_") {
                push_expected(script, Expected::Utter(name), step.line);
            } else if name != "action_listen"
                && !forms.contains(&name)
                && let Some(turn) = script.turns.last_mut()
            {
                turn.actions.push(name);
            }
        }
        "bot" => {
            let text = value.scalar_text().unwrap_or_default();
            script.summary.push(format!("bot: {text:?}"));
            push_expected(script, Expected::Text(text), step.line);
        }
        "slot_was_set" => {
            let slots = read_slot_list(value);
            if let Some(turn) = script.turns.last_mut() {
                turn.slots_set.extend(slots);
            }
        }
        "active_loop" => {}
        "checkpoint" | "or" => {
            script.unsupported = Some(format!(
                "the story uses `{}` (line {}), which a linear conversation test cannot express",
                key.name, step.line
            ));
        }
        other => script.notes.push(format!(
            "line {}: the step `{other}` is not converted",
            step.line
        )),
    }
}

/// Picks a training example of an intent to stand in for a story's
/// message: one that annotates the same entities, with the story's values
/// put in, else the first example, else the intent as a payload.
fn example_for(intent: &str, entities: &[(String, Json)], nlu: &[Item]) -> String {
    let entry = nlu.iter().find(|entry| {
        entry
            .node
            .get("intent")
            .and_then(Node::scalar_text)
            .as_deref()
            == Some(intent)
    });
    let Some(entry) = entry else {
        return format!("/{intent}");
    };
    let raw = raw_examples(&entry.node);
    let wanted: Vec<&str> = entities.iter().map(|(name, _)| name.as_str()).collect();
    for example in &raw {
        let (_, annotated) = strip_annotations(example);
        let names: Vec<&str> = annotated.iter().map(|(name, _)| name.as_str()).collect();
        if !wanted.is_empty()
            && names.len() == wanted.len()
            && wanted.iter().all(|w| names.contains(w))
        {
            return fill_annotations(example, entities);
        }
    }
    match raw.first() {
        Some(example) if wanted.is_empty() => strip_annotations(example).0,
        _ => {
            let values: Vec<String> = entities
                .iter()
                .map(|(_, v)| v.as_str().map_or_else(|| v.to_string(), String::from))
                .collect();
            let first = examples(&entry.node)
                .into_iter()
                .next()
                .unwrap_or_else(|| format!("/{intent}"));
            if values.is_empty() {
                first
            } else {
                values.join(" ")
            }
        }
    }
}

/// Returns the example lines of an `nlu` entry with their annotations.
fn raw_examples(entry: &Node) -> Vec<String> {
    let Some(block) = entry.get("examples").and_then(Node::as_str) else {
        return Vec::new();
    };
    block
        .lines()
        .map(str::trim)
        .filter_map(|line| line.strip_prefix("- "))
        .map(|line| line.trim().to_string())
        .collect()
}

/// Replaces each annotated part of `example` with the story's value of
/// that entity.
fn fill_annotations(example: &str, entities: &[(String, Json)]) -> String {
    let mut text = example.to_string();
    for (name, value) in entities {
        let value = value
            .as_str()
            .map_or_else(|| value.to_string(), String::from);
        let pattern = regex::Regex::new(&format!(
            r"\[[^\]]+\]\({}(?::[^)]*)?\)",
            regex::escape(name)
        ))
        .expect("valid regex");
        text = pattern.replace(&text, regex::NoExpand(&value)).into_owned();
    }
    strip_annotations(&text).0
}
