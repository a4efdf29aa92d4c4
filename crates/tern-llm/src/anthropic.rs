//! Anthropic Messages (`POST {base_url}/messages`). Structured output comes
//! from forcing a tool whose `input_schema` is the schema, because the API
//! has no `response_format`.

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::client::{Output, Protocol, json_f32, token_count};
use crate::structured::{TOOL_DESCRIPTION, prompt_only_system, strip_code_fence, tool_name};
use crate::transport::header;
use crate::{ChatRequest, ConfigError, LlmConfig, LlmError, StructuredMode, Usage};

pub(crate) const PATH: &str = "/messages";

/// The API version this client's request and response shapes follow.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

pub(crate) struct Anthropic {
    pub model: String,
    /// [`StructuredMode::ToolCall`] or [`StructuredMode::PromptOnly`];
    /// `build_client` rejects the others.
    pub mode: StructuredMode,
}

/// Builds the headers every request carries: the key and the API version.
pub(crate) fn headers(config: &LlmConfig) -> Result<HeaderMap, ConfigError> {
    let mut headers = HeaderMap::new();
    if let Some(key) = config.api_key.as_deref().filter(|key| !key.is_empty()) {
        let (name, value) = header("x-api-key", key, true)?;
        headers.insert(name, value);
    }
    let (name, value) = header("anthropic-version", ANTHROPIC_VERSION, false)?;
    headers.insert(name, value);
    Ok(headers)
}

impl Protocol for Anthropic {
    fn request_body(&self, request: &ChatRequest) -> Value {
        let system = match self.mode {
            StructuredMode::PromptOnly => prompt_only_system(request),
            _ => request.system.clone(),
        };
        let mut body = json!({
            "model": self.model,
            "max_tokens": request.max_tokens,
            "messages": [{"role": "user", "content": request.user}],
        });
        // The API rejects an empty system text, so it is left out.
        if !system.is_empty() {
            body["system"] = Value::String(system);
        }
        if let Some(temperature) = json_f32(request.temperature) {
            body["temperature"] = temperature;
        }
        if self.mode == StructuredMode::ToolCall {
            let name = tool_name(&request.schema_name);
            body["tools"] = json!([{
                "name": name,
                "description": TOOL_DESCRIPTION,
                "input_schema": request.schema,
            }]);
            body["tool_choice"] = json!({"type": "tool", "name": name});
        }
        body
    }

    fn parse_response(&self, body: &Value) -> Result<Output, LlmError> {
        let invalid = |message: &str| LlmError::InvalidResponse(message.to_string());
        if body.get("stop_reason").and_then(Value::as_str) == Some("max_tokens") {
            return Err(invalid(
                "the model reached max_tokens before finishing its output; raise max_tokens",
            ));
        }
        let blocks = body
            .get("content")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("the response has no content array"))?;

        let tool_input = blocks
            .iter()
            .find(|block| block.get("type").and_then(Value::as_str) == Some("tool_use"))
            .and_then(|block| block.get("input"));
        // A model that ignores the forced tool replies with text blocks. The
        // caller validates that text like any other output.
        let text = match tool_input {
            Some(input) if self.mode == StructuredMode::ToolCall => input.to_string(),
            _ => {
                let texts: Vec<&str> = blocks
                    .iter()
                    .filter(|block| block.get("type").and_then(Value::as_str) == Some("text"))
                    .filter_map(|block| block.get("text").and_then(Value::as_str))
                    .collect();
                if texts.is_empty() {
                    return Err(invalid(
                        "the response has neither a tool_use block nor a text block",
                    ));
                }
                strip_code_fence(&texts.concat()).to_string()
            }
        };

        // Cached prompt tokens are reported apart from `input_tokens`.
        let prompt_tokens = token_count(body, "/usage/input_tokens")
            .saturating_add(token_count(body, "/usage/cache_creation_input_tokens"))
            .saturating_add(token_count(body, "/usage/cache_read_input_tokens"));
        let usage = Usage {
            prompt_tokens,
            completion_tokens: token_count(body, "/usage/output_tokens"),
        };
        Ok(Output { text, usage })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(mode: StructuredMode) -> Anthropic {
        Anthropic {
            model: "claude".into(),
            mode,
        }
    }

    #[test]
    fn tool_use_input_is_serialized() {
        let body = json!({
            "content": [
                {"type": "text", "text": "Here you go."},
                {"type": "tool_use", "id": "t", "name": "commands", "input": {"commands": []}},
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 20, "output_tokens": 5, "cache_read_input_tokens": 3},
        });
        let output = client(StructuredMode::ToolCall)
            .parse_response(&body)
            .unwrap();
        assert_eq!(output.text, "{\"commands\":[]}");
        assert_eq!(
            output.usage,
            Usage {
                prompt_tokens: 23,
                completion_tokens: 5
            }
        );
    }

    #[test]
    fn text_blocks_are_joined() {
        let body = json!({"content": [{"type": "text", "text": "{\"a\":"}, {"type": "text", "text": "1}"}]});
        let output = client(StructuredMode::PromptOnly)
            .parse_response(&body)
            .unwrap();
        assert_eq!(output.text, "{\"a\":1}");
        let output = client(StructuredMode::ToolCall)
            .parse_response(&body)
            .unwrap();
        assert_eq!(output.text, "{\"a\":1}");
    }

    #[test]
    fn missing_output_is_invalid() {
        let cases = [
            (json!({}), "no content array"),
            (
                json!({"content": []}),
                "neither a tool_use block nor a text block",
            ),
            (
                json!({"content": [], "stop_reason": "max_tokens"}),
                "raise max_tokens",
            ),
        ];
        for (body, expected) in cases {
            let error = client(StructuredMode::ToolCall)
                .parse_response(&body)
                .unwrap_err();
            assert!(error.to_string().contains(expected), "{error}");
        }
    }

    #[test]
    fn empty_system_is_left_out() {
        let request = ChatRequest {
            system: String::new(),
            user: "hi".into(),
            schema_name: "commands".into(),
            schema: json!({"type": "object"}),
            max_tokens: 50,
            temperature: 0.0,
        };
        let body = client(StructuredMode::ToolCall).request_body(&request);
        assert!(body.get("system").is_none(), "{body}");
        assert_eq!(
            body["tool_choice"],
            json!({"type": "tool", "name": "commands"})
        );
    }
}
