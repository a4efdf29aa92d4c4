//! Pieces of structured output shared by the providers.

use crate::ChatRequest;

/// Maximum function name length in the OpenAI API reference, which allows
/// only `[a-zA-Z0-9_-]`. Anthropic tool names allow the same chars and at
/// least as many.
const MAX_TOOL_NAME_CHARS: usize = 64;

/// Description of the forced tool; models read it when deciding what to write.
pub(crate) const TOOL_DESCRIPTION: &str =
    "Records the reply. The arguments must be one JSON object that follows the input schema.";

/// Returns the schema name as a valid tool name: chars outside
/// `[a-zA-Z0-9_-]` become `_`, the result is cut to 64 chars, and an empty
/// name becomes `reply`.
pub(crate) fn tool_name(schema_name: &str) -> String {
    let name: String = schema_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(MAX_TOOL_NAME_CHARS)
        .collect();
    if name.is_empty() {
        "reply".to_string()
    } else {
        name
    }
}

/// Builds the system prompt for prompt-only mode: the caller's prompt, then
/// the schema and the instruction to answer with JSON only.
pub(crate) fn prompt_only_system(request: &ChatRequest) -> String {
    let schema = serde_json::to_string(&request.schema).unwrap_or_else(|_| "{}".to_string());
    format!(
        "{}\n\nAnswer with JSON only: one JSON object that follows this JSON Schema, \
         with no other text and no Markdown code fence.\nJSON Schema:\n{schema}",
        request.system.trim_end()
    )
}

/// Removes a Markdown code fence around the whole text, which models often
/// add in prompt-only mode despite the instruction. Other text is returned
/// unchanged.
pub(crate) fn strip_code_fence(text: &str) -> &str {
    let trimmed = text.trim();
    let Some(rest) = trimmed.strip_prefix("```") else {
        return text;
    };
    let Some(inner) = rest.strip_suffix("```") else {
        return text;
    };
    // The opening fence may name a language (```json) before its newline.
    match inner.split_once('\n') {
        Some((info, body)) if !info.contains('{') => body.trim(),
        _ => inner.trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_name_replaces_invalid_chars() {
        assert_eq!(tool_name("commands"), "commands");
        assert_eq!(tool_name("tern.commands v1"), "tern_commands_v1");
        assert_eq!(tool_name(""), "reply");
        assert_eq!(tool_name(&"a".repeat(80)).len(), 64);
    }

    #[test]
    fn code_fences_are_stripped() {
        assert_eq!(strip_code_fence("```json\n{\"a\": 1}\n```"), "{\"a\": 1}");
        assert_eq!(strip_code_fence("```\n{\"a\": 1}\n```\n"), "{\"a\": 1}");
        assert_eq!(strip_code_fence("```{\"a\": 1}```"), "{\"a\": 1}");
        assert_eq!(strip_code_fence("{\"a\": 1}"), "{\"a\": 1}");
        assert_eq!(
            strip_code_fence("```json\n{\"a\": 1}"),
            "```json\n{\"a\": 1}"
        );
    }

    #[test]
    fn prompt_only_appends_schema() {
        let request = ChatRequest {
            system: "You route messages.\n".into(),
            user: "hi".into(),
            schema_name: "commands".into(),
            schema: serde_json::json!({"type": "object"}),
            max_tokens: 10,
            temperature: 0.0,
        };
        let system = prompt_only_system(&request);
        assert!(
            system.starts_with("You route messages.\n\nAnswer with JSON only"),
            "{system}"
        );
        assert!(
            system.ends_with("JSON Schema:\n{\"type\":\"object\"}"),
            "{system}"
        );
    }
}
