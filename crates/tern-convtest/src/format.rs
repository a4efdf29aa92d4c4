//! The conversation test file format.
//!
//! ```yaml
//! flows: ../flows            # file or directory, relative to this file
//! actions: ../actions.yml    # optional
//! responses: ../responses.yml  # optional overrides of the engine's messages
//! tests:
//!   - name: greets by name
//!     turns:
//!       - user: hello
//!         commands: [start_flow: simple_greeting_flow]
//!         bot: ["What is your name?"]
//!       - user: Sara
//!         commands: [set_slot: {user_name: Sara}]
//!         expect: { slots: {user_name: Sara}, step: ask_help }
//! ```
//!
//! Commands are written compactly: `start_flow: ID`, `set_slot: {NAME: VALUE, ...}`,
//! `cancel`, `affirm`, `deny`, `greet`, `out_of_scope`, `not_understood`,
//! `clarify: [ID, ...]`, `handoff` or `handoff: REASON`, and
//! `judge: {CONDITION: true|false}`.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;
use tern_engine::{ActionOutcome, Command};

/// A parsed conversation test file.
#[derive(Debug)]
pub struct TestFile {
    pub path: PathBuf,
    pub flows: Vec<PathBuf>,
    pub actions: Option<PathBuf>,
    pub responses: Option<PathBuf>,
    pub tests: Vec<TestCase>,
}

#[derive(Debug)]
pub struct TestCase {
    pub name: String,
    pub line: u32,
    pub slots: IndexMap<String, Value>,
    pub turns: Vec<Turn>,
}

#[derive(Debug)]
pub struct Turn {
    pub line: u32,
    pub user: String,
    pub commands: Vec<Command>,
    /// Results for actions the turn calls, by action name.
    pub actions: IndexMap<String, ActionOutcome>,
    /// Verdicts for `semantic_if` conditions the engine asks about.
    pub judgements: IndexMap<String, bool>,
    pub bot: Option<Vec<ExpectedMessage>>,
    pub expect: Expect,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ExpectedMessage {
    Text(String),
    WithButtons(MessageWithButtons),
}

/// A message whose buttons are checked too; unknown keys are rejected so
/// that a misspelt `buttons` cannot silently expect none.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageWithButtons {
    pub text: String,
    #[serde(default)]
    pub buttons: Vec<String>,
}

impl ExpectedMessage {
    pub fn text(&self) -> &str {
        match self {
            ExpectedMessage::Text(text) => text,
            ExpectedMessage::WithButtons(message) => &message.text,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Slot values after the turn; `null` means the slot is unset.
    #[serde(default)]
    pub slots: IndexMap<String, Value>,
    /// Active flow after the turn; `null` means none.
    #[serde(default, deserialize_with = "present")]
    pub flow: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub step: Option<Option<String>>,
    /// Events that must occur, in this order, among the turn's events:
    /// names, or maps with `event` and the fields to compare.
    #[serde(default)]
    pub events: Vec<Value>,
    pub handed_off: Option<bool>,
}

/// Distinguishes `flow: null` (expect none) from a missing key.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("cannot read `{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: PathBuf,
        line: u32,
        column: u32,
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    flows: PathList,
    actions: Option<String>,
    responses: Option<String>,
    tests: Vec<Spanned<RawTest>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum PathList {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTest {
    name: String,
    #[serde(default)]
    slots: IndexMap<String, Value>,
    turns: Vec<Spanned<RawTurn>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTurn {
    user: String,
    #[serde(default)]
    commands: Vec<Spanned<Value>>,
    #[serde(default)]
    actions: IndexMap<String, Value>,
    #[serde(default)]
    judgements: IndexMap<String, bool>,
    bot: Option<Vec<ExpectedMessage>>,
    #[serde(default)]
    expect: Expect,
}

pub fn read_test_file(path: &Path) -> Result<TestFile, FormatError> {
    let text = std::fs::read_to_string(path).map_err(|source| FormatError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_test_file(path, &text)
}

pub fn parse_test_file(path: &Path, text: &str) -> Result<TestFile, FormatError> {
    let raw: RawFile = tern_flow::yaml::from_str(text).map_err(|error| {
        let tern_flow::yaml::SyntaxError {
            line,
            column,
            message,
        } = tern_flow::yaml::SyntaxError::from_error(&error);
        FormatError::Invalid {
            path: path.to_path_buf(),
            line,
            column,
            message,
        }
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let flows = match raw.flows {
        PathList::One(one) => vec![base.join(one)],
        PathList::Many(many) => many.into_iter().map(|p| base.join(p)).collect(),
    };
    let tests = raw
        .tests
        .into_iter()
        .map(|test| convert_test(path, test))
        .collect::<Result<_, _>>()?;
    Ok(TestFile {
        path: path.to_path_buf(),
        flows,
        actions: raw.actions.map(|p| base.join(p)),
        responses: raw.responses.map(|p| base.join(p)),
        tests,
    })
}

fn convert_test(path: &Path, raw: Spanned<RawTest>) -> Result<TestCase, FormatError> {
    let line = raw.referenced.line() as u32;
    let raw = raw.value;
    let turns = raw
        .turns
        .into_iter()
        .map(|turn| convert_turn(path, turn))
        .collect::<Result<_, _>>()?;
    Ok(TestCase {
        name: raw.name,
        line,
        slots: raw.slots,
        turns,
    })
}

fn convert_turn(path: &Path, raw: Spanned<RawTurn>) -> Result<Turn, FormatError> {
    let line = raw.referenced.line() as u32;
    let raw = raw.value;
    let mut commands = Vec::new();
    for command in raw.commands {
        let (line, column) = (
            command.referenced.line() as u32,
            command.referenced.column() as u32,
        );
        let parsed = parse_commands(&command.value).map_err(|message| FormatError::Invalid {
            path: path.to_path_buf(),
            line,
            column,
            message,
        })?;
        commands.extend(parsed);
    }
    let mut actions = IndexMap::new();
    for (name, stub) in raw.actions {
        let outcome = parse_action_stub(&stub).map_err(|message| FormatError::Invalid {
            path: path.to_path_buf(),
            line,
            column: 1,
            message: format!("action `{name}`: {message}"),
        })?;
        actions.insert(name, outcome);
    }
    Ok(Turn {
        line,
        user: raw.user,
        commands,
        actions,
        judgements: raw.judgements,
        bot: raw.bot,
        expect: raw.expect,
    })
}

const COMMAND_FORMS: &str = "start_flow: ID, set_slot: {NAME: VALUE}, cancel, affirm, deny, \
     greet, out_of_scope, not_understood, clarify: [ID, ...], handoff, judge: {CONDITION: BOOL}";

/// Parses one compact command entry; `set_slot` and `judge` maps may hold
/// several entries and so give several commands.
pub fn parse_commands(value: &Value) -> Result<Vec<Command>, String> {
    if let Some(word) = value.as_str() {
        return parse_bare(word).map(|c| vec![c]);
    }
    let Some(map) = value.as_object().filter(|m| m.len() == 1) else {
        return Err(format!(
            "invalid command `{value}`; write one of: {COMMAND_FORMS}"
        ));
    };
    let (name, argument) = map.iter().next().expect("the map has one entry");
    match name.as_str() {
        "start_flow" => Ok(vec![Command::StartFlow {
            flow: text_argument(name, argument)?,
        }]),
        "set_slot" | "set_slots" => map_argument(name, argument).map(|m| {
            m.iter()
                .map(|(k, v)| Command::SetSlot {
                    slot: k.clone(),
                    value: v.clone(),
                })
                .collect()
        }),
        "judge" => map_argument(name, argument)?
            .iter()
            .map(|(k, v)| match v.as_bool() {
                Some(value) => Ok(Command::Judge {
                    condition: k.clone(),
                    value,
                }),
                None => Err(format!(
                    "`judge` verdict for `{k}` must be true or false, found `{v}`"
                )),
            })
            .collect(),
        "clarify" => {
            let flows: Option<Vec<String>> = argument
                .as_array()
                .and_then(|a| a.iter().map(|id| id.as_str().map(String::from)).collect());
            flows
                .map(|flows| vec![Command::Clarify { flows }])
                .ok_or_else(|| format!("`clarify` takes a list of flow ids, found `{argument}`"))
        }
        "handoff" => Ok(vec![Command::Handoff {
            reason: argument.as_str().map(String::from),
        }]),
        other => Err(format!(
            "unknown command `{other}`; write one of: {COMMAND_FORMS}"
        )),
    }
}

fn parse_bare(word: &str) -> Result<Command, String> {
    Ok(match word {
        "cancel" => Command::Cancel,
        "affirm" => Command::Affirm,
        "deny" => Command::Deny,
        "greet" => Command::Greet,
        "out_of_scope" => Command::OutOfScope,
        "not_understood" => Command::NotUnderstood,
        "handoff" => Command::Handoff { reason: None },
        other => {
            return Err(format!(
                "unknown command `{other}`; write one of: {COMMAND_FORMS}"
            ));
        }
    })
}

fn text_argument(name: &str, argument: &Value) -> Result<String, String> {
    argument
        .as_str()
        .map(String::from)
        .ok_or_else(|| format!("`{name}` takes a flow id, found `{argument}`"))
}

fn map_argument<'v>(
    name: &str,
    argument: &'v Value,
) -> Result<&'v serde_json::Map<String, Value>, String> {
    argument.as_object().ok_or_else(|| {
        format!("`{name}` takes a map such as `{{slot_name: value}}`, found `{argument}`")
    })
}

fn parse_action_stub(stub: &Value) -> Result<ActionOutcome, String> {
    const FORMS: &str = "a stub is `{result: VALUE}` or `{error: MESSAGE}`";
    let map = stub.as_object().ok_or(FORMS)?;
    if let Some(extra) = map.keys().find(|k| *k != "result" && *k != "error") {
        return Err(format!("unknown key `{extra}`; {FORMS}"));
    }
    match (map.get("result"), map.get("error")) {
        (_, Some(Value::String(error))) if !error.is_empty() => Ok(ActionOutcome::Failure {
            error: error.clone(),
        }),
        (Some(result), _) => Ok(ActionOutcome::Success {
            result: result.clone(),
        }),
        _ => Err(FORMS.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compact_commands_parse() {
        let cases = [
            (json!("cancel"), vec![Command::Cancel]),
            (
                json!({"start_flow": "a"}),
                vec![Command::StartFlow { flow: "a".into() }],
            ),
            (
                json!({"handoff": "angry"}),
                vec![Command::Handoff {
                    reason: Some("angry".into()),
                }],
            ),
            (
                json!({"judge": {"x": true}}),
                vec![Command::Judge {
                    condition: "x".into(),
                    value: true,
                }],
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_commands(&input).unwrap(), expected, "input {input}");
        }
    }

    #[test]
    fn set_slot_map_gives_several_commands() {
        let commands = parse_commands(&json!({"set_slot": {"a": 1, "b": "x"}})).unwrap();
        assert_eq!(commands.len(), 2);
    }

    #[test]
    fn unknown_command_names_value_and_forms() {
        let error = parse_commands(&json!("cancle")).unwrap_err();
        assert!(error.contains("`cancle`"), "{error}");
        assert!(error.contains("start_flow: ID"), "{error}");
    }

    #[test]
    fn judge_needs_boolean() {
        let error = parse_commands(&json!({"judge": {"x": "yes"}})).unwrap_err();
        assert!(error.contains("true or false"), "{error}");
    }

    #[test]
    fn bad_yaml_reports_line() {
        let text = "flows: x\ntests:\n  - name: a\n    turns:\n      - usr: hi\n";
        let error = parse_test_file(Path::new("t.yml"), text).unwrap_err();
        let message = error.to_string();
        assert!(message.starts_with("t.yml:5:"), "{message}");
    }

    #[test]
    fn action_stub_forms() {
        assert_eq!(
            parse_action_stub(&json!({"result": "ok"})).unwrap(),
            ActionOutcome::Success {
                result: json!("ok")
            }
        );
        assert_eq!(
            parse_action_stub(&json!({"result": "", "error": "down"})).unwrap(),
            ActionOutcome::Failure {
                error: "down".into()
            }
        );
        assert!(parse_action_stub(&json!("ok")).is_err());
    }
}
