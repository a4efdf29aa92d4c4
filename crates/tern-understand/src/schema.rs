//! The JSON Schema of the model's answer. It is written so that OpenAI's
//! strict mode accepts it (every property required, no additional
//! properties) and strings are bounded, because some servers' constrained
//! decoding lets unbounded strings run on with raw newlines.

use serde_json::{Value, json};

pub const SCHEMA_NAME: &str = "tern_commands";
const MAX_TEXT: u32 = 300;

/// The schema, built once: every LLM request sends it.
pub fn output_schema() -> Value {
    static SCHEMA: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    SCHEMA.get_or_init(build_schema).clone()
}

fn build_schema() -> Value {
    let text = json!({ "type": "string", "maxLength": MAX_TEXT });
    let variants = vec![
        variant("start_flow", json!({ "flow": text })),
        variant(
            "set_slot",
            json!({ "slot": text, "value": { "type": ["string", "number", "boolean"] } }),
        ),
        variant(
            "judge",
            json!({ "condition": text, "value": { "type": "boolean" } }),
        ),
        variant(
            "clarify",
            json!({ "flows": { "type": "array", "items": text, "maxItems": 5 } }),
        ),
        variant("handoff", json!({ "reason": text })),
        variant("affirm", json!({})),
        variant("deny", json!({})),
        variant("cancel", json!({})),
        variant("greet", json!({})),
        variant("out_of_scope", json!({})),
        variant("not_understood", json!({})),
    ];
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["commands"],
        "properties": {
            "commands": { "type": "array", "maxItems": 12, "items": { "anyOf": variants } }
        }
    })
}

fn variant(name: &str, fields: Value) -> Value {
    let mut properties = serde_json::Map::new();
    properties.insert(
        "command".into(),
        json!({ "type": "string", "enum": [name] }),
    );
    if let Value::Object(fields) = fields {
        properties.extend(fields);
    }
    let required: Vec<&String> = properties.keys().collect();
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": required,
        "properties": properties,
    })
}
