//! OpenAI Chat Completions (`POST {base_url}/chat/completions`), as served by
//! OpenAI and by the servers that copy its API.

use reqwest::header::{AUTHORIZATION, HeaderMap};
use serde_json::{Value, json};

use crate::client::{Output, Protocol, json_f32, token_count};
use crate::structured::{TOOL_DESCRIPTION, prompt_only_system, strip_code_fence, tool_name};
use crate::transport::header;
use crate::{ChatRequest, ConfigError, LlmConfig, LlmError, StructuredMode, Usage};

pub(crate) const PATH: &str = "/chat/completions";

pub(crate) struct OpenAi {
    pub model: String,
    pub mode: StructuredMode,
}

/// Builds the headers every request carries: the bearer key and the organization.
pub(crate) fn headers(config: &LlmConfig) -> Result<HeaderMap, ConfigError> {
    let mut headers = HeaderMap::new();
    if let Some(key) = config.api_key.as_deref().filter(|key| !key.is_empty()) {
        let (_, value) = header(AUTHORIZATION.as_str(), &format!("Bearer {key}"), true)?;
        headers.insert(AUTHORIZATION, value);
    }
    if let Some(organization) = &config.organization {
        let (name, value) = header("OpenAI-Organization", organization, false)?;
        headers.insert(name, value);
    }
    Ok(headers)
}

impl Protocol for OpenAi {
    fn request_body(&self, request: &ChatRequest) -> Value {
        let system = match self.mode {
            StructuredMode::PromptOnly => prompt_only_system(request),
            _ => request.system.clone(),
        };
        // NOTE: newer OpenAI reasoning models reject `max_tokens` and want
        // `max_completion_tokens`, which many compatible servers do not know.
        let mut body = json!({
            "model": self.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": request.user},
            ],
            "max_tokens": request.max_tokens,
        });
        if let Some(temperature) = json_f32(request.temperature) {
            body["temperature"] = temperature;
        }

        let name = tool_name(&request.schema_name);
        match self.mode {
            StructuredMode::JsonSchema => {
                body["response_format"] = json!({
                    "type": "json_schema",
                    "json_schema": {"name": name, "schema": request.schema, "strict": true},
                });
            }
            StructuredMode::JsonObject => {
                body["response_format"] = json!({"type": "json_object", "schema": request.schema});
            }
            StructuredMode::ToolCall => {
                body["tools"] = json!([{
                    "type": "function",
                    "function": {
                        "name": name,
                        "description": TOOL_DESCRIPTION,
                        "parameters": request.schema,
                    },
                }]);
                body["tool_choice"] = json!({"type": "function", "function": {"name": name}});
            }
            StructuredMode::PromptOnly => {}
        }
        body
    }

    fn parse_response(&self, body: &Value) -> Result<Output, LlmError> {
        let invalid = |message: String| LlmError::InvalidResponse(message);
        let choice = body
            .pointer("/choices/0")
            .ok_or_else(|| invalid("the response has no choices[0]".to_string()))?;
        let message = choice
            .get("message")
            .ok_or_else(|| invalid("the response has no choices[0].message".to_string()))?;
        if choice.get("finish_reason").and_then(Value::as_str) == Some("length") {
            return Err(invalid(
                "the model reached max_tokens before finishing its output; raise max_tokens"
                    .to_string(),
            ));
        }

        // A server that ignores `tools` may still put the output in `content`,
        // so tool-call mode falls back to it and the caller validates the JSON.
        let text = match self.mode {
            StructuredMode::ToolCall => tool_arguments(message).or_else(|| content_text(message)),
            _ => content_text(message),
        };
        let Some(text) = text else {
            return Err(invalid(missing_output(message, self.mode)));
        };
        let text = match self.mode {
            StructuredMode::PromptOnly => strip_code_fence(&text).to_string(),
            _ => text,
        };

        let usage = Usage {
            prompt_tokens: token_count(body, "/usage/prompt_tokens"),
            completion_tokens: token_count(body, "/usage/completion_tokens"),
        };
        Ok(Output { text, usage })
    }
}

/// Returns the first tool call's arguments. The API sends them as a JSON
/// string, but some servers send an object, which is serialized here.
fn tool_arguments(message: &Value) -> Option<String> {
    let arguments = message.pointer("/tool_calls/0/function/arguments")?;
    match arguments {
        Value::String(text) => Some(text.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Returns `message.content` as text: a string, or the joined text parts of
/// a part array.
fn content_text(message: &Value) -> Option<String> {
    match message.get("content")? {
        Value::String(text) => Some(text.clone()),
        Value::Array(parts) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter_map(|part| part.get("text").and_then(Value::as_str))
                .collect();
            Some(texts.concat())
        }
        _ => None,
    }
}

fn missing_output(message: &Value, mode: StructuredMode) -> String {
    if let Some(refusal) = message.get("refusal").and_then(Value::as_str) {
        return format!("the model refused: {refusal}");
    }
    match mode {
        StructuredMode::ToolCall => {
            "choices[0].message has neither tool_calls[0].function.arguments nor content"
                .to_string()
        }
        _ => "choices[0].message.content is missing or null".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(mode: StructuredMode) -> OpenAi {
        OpenAi {
            model: "m".into(),
            mode,
        }
    }

    fn completion(message: Value) -> Value {
        json!({
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 30, "completion_tokens": 4},
        })
    }

    #[test]
    fn content_and_usage_are_read() {
        let body = completion(json!({"role": "assistant", "content": "{\"a\":1}"}));
        let output = client(StructuredMode::JsonSchema)
            .parse_response(&body)
            .unwrap();
        assert_eq!(output.text, "{\"a\":1}");
        assert_eq!(
            output.usage,
            Usage {
                prompt_tokens: 30,
                completion_tokens: 4
            }
        );
    }

    #[test]
    fn tool_arguments_are_read() {
        let message = json!({"content": null, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "x", "arguments": "{\"a\":1}"}}
        ]});
        let output = client(StructuredMode::ToolCall)
            .parse_response(&completion(message))
            .unwrap();
        assert_eq!(output.text, "{\"a\":1}");

        let as_object = json!({"tool_calls": [{"function": {"arguments": {"a": 1}}}]});
        let output = client(StructuredMode::ToolCall)
            .parse_response(&completion(as_object))
            .unwrap();
        assert_eq!(output.text, "{\"a\":1}");
    }

    #[test]
    fn tool_mode_falls_back_to_content() {
        let message = json!({"content": "{\"a\":1}"});
        let output = client(StructuredMode::ToolCall)
            .parse_response(&completion(message))
            .unwrap();
        assert_eq!(output.text, "{\"a\":1}");
    }

    #[test]
    fn prompt_only_strips_fences() {
        let message = json!({"content": "```json\n{\"a\":1}\n```"});
        let output = client(StructuredMode::PromptOnly)
            .parse_response(&completion(message))
            .unwrap();
        assert_eq!(output.text, "{\"a\":1}");
    }

    #[test]
    fn missing_output_is_invalid() {
        let cases = [
            (json!({}), "no choices[0]"),
            (json!({"choices": [{}]}), "no choices[0].message"),
            (
                completion(json!({"content": null})),
                "content is missing or null",
            ),
            (
                completion(json!({"content": null, "refusal": "no"})),
                "the model refused: no",
            ),
            (
                json!({"choices": [{"message": {"content": "{\"a\""}, "finish_reason": "length"}]}),
                "raise max_tokens",
            ),
        ];
        for (body, expected) in cases {
            let error = client(StructuredMode::JsonSchema)
                .parse_response(&body)
                .unwrap_err();
            assert_eq!(error.kind(), "invalid_response");
            assert!(error.to_string().contains(expected), "{error}");
        }
    }

    #[test]
    fn empty_content_passes_through() {
        let output = client(StructuredMode::JsonObject)
            .parse_response(&completion(json!({"content": ""})))
            .unwrap();
        assert_eq!(output.text, "");
    }

    #[test]
    fn headers_mark_the_key_sensitive() {
        let mut config = LlmConfig::new(crate::ProviderKind::OpenAi, "m");
        config.api_key = Some("sk-test".into());
        config.organization = Some("org-1".into());
        let headers = headers(&config).unwrap();
        assert_eq!(headers[AUTHORIZATION], "Bearer sk-test");
        assert!(headers[AUTHORIZATION].is_sensitive());
        assert_eq!(headers["openai-organization"], "org-1");

        config.api_key = Some(String::new());
        config.organization = None;
        assert!(super::headers(&config).unwrap().is_empty());
    }
}
