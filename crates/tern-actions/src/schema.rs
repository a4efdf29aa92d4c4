//! Parameter checks against each action's JSON Schema.
//!
//! Schemas are compiled on first use and cached by action name. A cached
//! validator is reused while the action's schema is unchanged, so a reloaded
//! actions file with a new schema under the same name is compiled again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use jsonschema::error::ValidationErrorKind;
use jsonschema::{ValidationError, Validator};
use serde_json::{Map, Value};
use tern_flow::actions::ActionDef;

/// Maximum number of schema violations listed in one error message.
const MAX_LISTED_VIOLATIONS: usize = 5;

#[derive(Default)]
pub(crate) struct SchemaCache {
    compiled: Mutex<HashMap<String, CompiledSchema>>,
}

struct CompiledSchema {
    schema: Value,
    validator: Arc<Validator>,
}

impl SchemaCache {
    /// Returns the validator for `action`, compiling its schema if the cache
    /// has none or an outdated one. The error is the compiler's message.
    pub(crate) fn validator(&self, action: &ActionDef) -> Result<Arc<Validator>, String> {
        let mut compiled = self.compiled.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = compiled.get(&action.name)
            && entry.schema == action.json_schema
        {
            return Ok(Arc::clone(&entry.validator));
        }

        let validator = Arc::new(
            jsonschema::validator_for(&action.json_schema).map_err(|error| error.to_string())?,
        );
        compiled.insert(
            action.name.clone(),
            CompiledSchema {
                schema: action.json_schema.clone(),
                validator: Arc::clone(&validator),
            },
        );
        Ok(validator)
    }
}

/// Checks `parameters` against `validator` and describes every violation.
///
/// The description names the parameter and the rule but never the value,
/// because parameter values are user data and the message is logged.
pub(crate) fn check_parameters(
    validator: &Validator,
    parameters: &Map<String, Value>,
) -> Result<(), String> {
    let instance = Value::Object(parameters.clone());
    let mut violations: Vec<String> = Vec::new();
    for error in validator.iter_errors(&instance) {
        let violation = describe(&error);
        if !violations.contains(&violation) {
            violations.push(violation);
        }
    }
    if violations.is_empty() {
        return Ok(());
    }

    let total = violations.len();
    violations.truncate(MAX_LISTED_VIOLATIONS);
    let mut message = violations.join("; ");
    if total > MAX_LISTED_VIOLATIONS {
        message.push_str(&format!("; and {} more", total - MAX_LISTED_VIOLATIONS));
    }
    Err(message)
}

fn describe(error: &ValidationError<'_>) -> String {
    let subject = subject_of(error);
    match error.kind() {
        ValidationErrorKind::Required { property } => match property.as_str() {
            Some(name) if subject.is_none() => format!("missing required parameter `{name}`"),
            Some(name) => format!(
                "missing required field `{name}` in {}",
                placeholder(&subject)
            ),
            None => format!("missing required parameter {property}"),
        },
        ValidationErrorKind::AdditionalProperties { unexpected } if subject.is_none() => {
            let names: Vec<String> = unexpected.iter().map(|name| format!("`{name}`")).collect();
            format!(
                "unexpected parameter {} (the schema sets `additionalProperties: false`)",
                names.join(", ")
            )
        }
        _ => error.masked_with(placeholder(&subject)).to_string(),
    }
}

/// Names the failing part of the parameters as a dotted path, such as
/// `address.city` or `items.0`. `None` is the parameter object itself.
fn subject_of(error: &ValidationError<'_>) -> Option<String> {
    let segments: Vec<String> = error
        .instance_path()
        .segments()
        .map(|segment| segment.to_string())
        .collect();
    if segments.is_empty() {
        None
    } else {
        Some(segments.join("."))
    }
}

fn placeholder(subject: &Option<String>) -> String {
    match subject {
        Some(path) => format!("parameter `{path}`"),
        None => "the parameter object".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn action(schema: Value) -> ActionDef {
        ActionDef {
            name: "check_fine".to_string(),
            description: "Looks up unpaid fines".to_string(),
            webhook_url: "http://127.0.0.1:9/hook".to_string(),
            json_schema: schema,
            line: 1,
        }
    }

    fn check(schema: Value, parameters: Value) -> Result<(), String> {
        let cache = SchemaCache::default();
        let validator = cache.validator(&action(schema)).unwrap();
        let Value::Object(parameters) = parameters else {
            unreachable!()
        };
        check_parameters(&validator, &parameters)
    }

    fn plate_schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "plate_number": {"type": "string", "minLength": 3},
                "year": {"type": "integer"},
                "owner": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}
            },
            "required": ["plate_number"]
        })
    }

    #[test]
    fn valid_parameters_pass() {
        assert_eq!(
            check(
                plate_schema(),
                json!({"plate_number": "ABC123", "year": 2020})
            ),
            Ok(())
        );
    }

    #[test]
    fn missing_required_named() {
        let message = check(plate_schema(), json!({"year": 2020})).unwrap_err();
        assert_eq!(message, "missing required parameter `plate_number`");
    }

    #[test]
    fn wrong_type_named_without_value() {
        let message = check(
            plate_schema(),
            json!({"plate_number": "ABC123", "year": "secret-2020"}),
        )
        .unwrap_err();
        assert!(message.contains("parameter `year`"), "{message}");
        assert!(message.contains("integer"), "{message}");
        assert!(!message.contains("secret-2020"), "{message}");
    }

    #[test]
    fn nested_violation_uses_dotted_path() {
        let message = check(
            plate_schema(),
            json!({"plate_number": "ABC123", "owner": {}}),
        )
        .unwrap_err();
        assert_eq!(message, "missing required field `id` in parameter `owner`");
    }

    #[test]
    fn several_violations_listed() {
        let message =
            check(plate_schema(), json!({"plate_number": "AB", "year": 1.5})).unwrap_err();
        assert!(
            message.contains("parameter `plate_number` is shorter than 3 characters"),
            "{message}"
        );
        assert!(message.contains("parameter `year`"), "{message}");
        assert!(!message.contains("\"AB\""), "{message}");
    }

    #[test]
    fn additional_properties_named() {
        let schema = json!({"type": "object", "properties": {}, "additionalProperties": false});
        let message = check(schema, json!({"extra": 1})).unwrap_err();
        assert!(
            message.contains("unexpected parameter `extra`"),
            "{message}"
        );
    }

    #[test]
    fn invalid_schema_rejected() {
        let cache = SchemaCache::default();
        let error = cache
            .validator(&action(json!({"type": "strng"})))
            .unwrap_err();
        assert!(!error.is_empty());
    }

    #[test]
    fn changed_schema_recompiled() {
        let cache = SchemaCache::default();
        let first = cache.validator(&action(json!({"type": "object"}))).unwrap();
        let again = cache.validator(&action(json!({"type": "object"}))).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        let changed = cache
            .validator(&action(json!({"type": "object", "required": ["a"]})))
            .unwrap();
        assert!(!Arc::ptr_eq(&first, &changed));
    }
}
