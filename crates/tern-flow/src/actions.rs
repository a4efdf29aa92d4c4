//! The actions file: the actions flows may call, each an HTTP webhook with a
//! JSON Schema of its parameters. The shape follows the registration body of
//! Flowent's action gateway (`name`, `description`, `webhook_url`,
//! `json_schema`), so one definition serves both.
//!
//! ```yaml
//! actions:
//!   - name: check_fine
//!     description: Looks up unpaid traffic fines
//!     webhook_url: http://127.0.0.1:9400/actions/check_fine
//!     json_schema:
//!       type: object
//!       properties: { plate_number: { type: string } }
//!       required: [plate_number]
//! ```

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::diagnostic::{Diagnostic, Severity};

/// Most actions one assistant may register, as in Flowent's gateway.
pub const MAX_ACTIONS: usize = 100;
const MAX_NAME_LEN: usize = 100;
const MAX_DESCRIPTION_LEN: usize = 500;

#[derive(Clone, Debug, PartialEq)]
pub struct ActionDef {
    pub name: String,
    pub description: String,
    pub webhook_url: String,
    pub json_schema: Value,
    pub line: u32,
}

impl ActionDef {
    /// Parameter names the schema lists under `required`.
    pub fn required_parameters(&self) -> Vec<&str> {
        self.json_schema
            .get("required")
            .and_then(Value::as_array)
            .map(|names| names.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    /// Parameter names the schema lists under `properties`.
    pub fn parameters(&self) -> Vec<&str> {
        self.json_schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|props| props.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }
}

#[derive(Clone, Debug, Default)]
pub struct ActionRegistry {
    pub actions: IndexMap<String, ActionDef>,
    pub source: Option<PathBuf>,
}

impl ActionRegistry {
    pub fn get(&self, name: &str) -> Option<&ActionDef> {
        self.actions.get(name)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot read actions file `{path}`: {cause}")]
pub struct ActionsReadError {
    pub path: PathBuf,
    pub cause: std::io::Error,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawActionsFile {
    actions: Vec<Spanned<RawAction>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    // Missing fields read as empty, so that `check_action` reports them for
    // this entry and the rest of the file is still checked.
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    webhook_url: String,
    #[serde(alias = "parameters")]
    json_schema: Option<Value>,
}

/// Reads an actions file (YAML or JSON). Problems in the content become
/// diagnostics; only an unreadable file is an error.
pub fn load_actions(path: &Path) -> Result<(ActionRegistry, Vec<Diagnostic>), ActionsReadError> {
    let text = std::fs::read_to_string(path).map_err(|cause| ActionsReadError {
        path: path.to_path_buf(),
        cause,
    })?;
    Ok(parse_actions(path, &text))
}

/// Parses actions from text, as if read from `path`.
pub fn parse_actions(path: &Path, text: &str) -> (ActionRegistry, Vec<Diagnostic>) {
    let mut registry = ActionRegistry {
        source: Some(path.to_path_buf()),
        ..Default::default()
    };
    let mut diagnostics = Vec::new();
    let raw: RawActionsFile = match crate::yaml::from_str(text) {
        Ok(raw) => raw,
        Err(error) => {
            let crate::yaml::SyntaxError {
                line,
                column,
                message,
            } = crate::yaml::SyntaxError::from_error(&error);
            let hint = "an actions file holds `actions:`, a list of entries with `name`, \
                        `description`, `webhook_url` and `json_schema`";
            diagnostics.push(action_error(path, line, column, "", message, Some(hint)));
            return (registry, diagnostics);
        }
    };
    if raw.actions.len() > MAX_ACTIONS {
        let message = format!(
            "{} actions registered; the limit is {MAX_ACTIONS}",
            raw.actions.len()
        );
        diagnostics.push(action_error(path, 1, 1, "actions", message, None));
    }
    for (index, action) in raw.actions.into_iter().enumerate() {
        let line = action.referenced.line() as u32;
        let column = action.referenced.column() as u32;
        let field = format!("actions[{index}]");
        let def = ActionDef {
            name: action.value.name,
            description: action.value.description,
            webhook_url: action.value.webhook_url,
            json_schema: action.value.json_schema.unwrap_or_else(empty_schema),
            line,
        };
        for problem in check_action(&def) {
            diagnostics.push(action_error(path, line, column, &field, problem, None));
        }
        if registry.actions.contains_key(&def.name) {
            let message = format!("action `{}` is registered twice", def.name);
            diagnostics.push(action_error(path, line, column, &field, message, None));
            continue;
        }
        registry.actions.insert(def.name.clone(), def);
    }
    (registry, diagnostics)
}

fn empty_schema() -> Value {
    serde_json::json!({ "type": "object", "properties": {} })
}

fn check_action(def: &ActionDef) -> Vec<String> {
    let mut problems = Vec::new();
    let name_ok = !def.name.is_empty()
        && def.name.len() <= MAX_NAME_LEN
        && def
            .name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !name_ok {
        problems.push(format!(
            "invalid action name `{}`: use 1 to {MAX_NAME_LEN} lowercase letters, digits or `_`",
            def.name
        ));
    }
    let description_len = def.description.chars().count();
    if description_len == 0 || description_len > MAX_DESCRIPTION_LEN {
        problems.push(format!(
            "description of `{}` has {description_len} characters; it needs 1 to {MAX_DESCRIPTION_LEN}",
            def.name
        ));
    }
    if !(def.webhook_url.starts_with("http://") || def.webhook_url.starts_with("https://")) {
        problems.push(format!(
            "webhook_url `{}` of `{}` is not an http:// or https:// URL",
            def.webhook_url, def.name
        ));
    }
    problems.extend(check_schema(def));
    problems
}

fn check_schema(def: &ActionDef) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(schema) = def.json_schema.as_object() else {
        problems.push(format!(
            "json_schema of `{}` must be a JSON Schema object",
            def.name
        ));
        return problems;
    };
    if let Some(kind) = schema.get("type")
        && kind != "object"
    {
        problems.push(format!(
            "json_schema of `{}` must have `type: object`, found {kind}",
            def.name
        ));
    }
    if let Some(required) = schema.get("required") {
        let all_strings = required
            .as_array()
            .is_some_and(|r| r.iter().all(Value::is_string));
        if !all_strings {
            problems.push(format!(
                "`required` in the json_schema of `{}` must be a list of names",
                def.name
            ));
        }
    }
    // The server compiles the same schema before the first call, so a schema
    // the compiler rejects is an error here, not at start-up.
    if problems.is_empty()
        && let Err(error) = jsonschema::validator_for(&def.json_schema)
    {
        problems.push(format!(
            "json_schema of `{}` is not a valid JSON Schema: {error}",
            def.name
        ));
    }
    problems
}

fn action_error(
    path: &Path,
    line: u32,
    column: u32,
    field: &str,
    message: String,
    hint: Option<&str>,
) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        code: "invalid_action",
        file: Some(path.to_path_buf()),
        line,
        column,
        path: field.to_string(),
        message,
        hint: hint.map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(entry: &str) -> Vec<Diagnostic> {
        let text = format!("actions:\n{entry}");
        parse_actions(Path::new("actions.yml"), &text).1
    }

    #[test]
    fn bad_entries_name_field_and_value() {
        let cases = [
            (
                "  - {name: Bad-Name, description: d, webhook_url: http://127.0.0.1/x}\n",
                "invalid action name `Bad-Name`",
            ),
            (
                "  - {name: a, description: d, webhook_url: ftp://127.0.0.1/x}\n",
                "webhook_url `ftp://127.0.0.1/x` of `a` is not an http",
            ),
            (
                "  - {name: a, description: d, webhook_url: http://127.0.0.1/x, json_schema: {type: array}}\n",
                "must have `type: object`",
            ),
            (
                "  - {name: a, description: d, webhook_url: http://127.0.0.1/x, \
                 json_schema: {type: object, properties: {p: {type: strin}}}}\n",
                "json_schema of `a` is not a valid JSON Schema",
            ),
        ];
        for (entry, expected) in cases {
            let found = problems(entry);
            assert_eq!(found.len(), 1, "{entry}: {found:#?}");
            assert_eq!(found[0].code, "invalid_action", "{entry}");
            assert_eq!(found[0].path, "actions[0]", "{entry}");
            assert!(
                found[0].message.contains(expected),
                "{entry}: {}",
                found[0].message
            );
        }
    }

    #[test]
    fn missing_field_keeps_other_entries() {
        let text = "actions:\n  - {name: a, webhook_url: http://127.0.0.1/x}\n  \
                    - {name: b, description: d, webhook_url: http://127.0.0.1/y}\n";
        let (registry, found) = parse_actions(Path::new("actions.yml"), text);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].message.contains("description of `a`"),
            "{found:#?}"
        );
        assert!(registry.get("b").is_some());
    }

    #[test]
    fn valid_schema_has_no_problems() {
        let entry = "  - {name: a, description: d, webhook_url: http://127.0.0.1/x, \
                     json_schema: {type: object, properties: {p: {type: string}}, required: [p]}}\n";
        assert_eq!(problems(entry), Vec::new());
    }
}
