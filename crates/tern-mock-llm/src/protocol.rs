//! The two APIs the mock serves: reading a request and writing replies and
//! errors in the shape each API defines.

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Marks the line after which the understanding layer writes its context
/// as one JSON object.
pub use tern_understand::prompt::CONTEXT_MARKER;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Api {
    /// OpenAI Chat Completions.
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
}

/// The parts of a chat request that shape the reply.
pub(crate) struct Incoming {
    pub model: String,
    /// Text of the last user message.
    pub user_content: String,
    /// The tool to call when the request offers tools; `None` selects text.
    pub tool: Option<String>,
    /// Chars of prompt text, for the estimated `usage`.
    pub prompt_chars: usize,
}

/// The text the mock's "model" produces.
pub(crate) enum Output {
    Json(Value),
    /// Text that need not be JSON, for faults such as `bad_json`.
    Text(String),
}

impl Output {
    fn text(&self) -> String {
        match self {
            Output::Json(value) => value.to_string(),
            Output::Text(text) => text.clone(),
        }
    }
}

impl Api {
    /// Reads a request body. The error names the missing field.
    pub(crate) fn parse(self, body: &Value) -> Result<Incoming, String> {
        let messages = body
            .get("messages")
            .and_then(Value::as_array)
            .ok_or("the request has no `messages` array")?;
        if body.get("stream").and_then(Value::as_bool) == Some(true) {
            return Err("the mock does not stream responses; send `stream: false`".to_string());
        }
        let user_content = messages
            .iter()
            .rev()
            .find(|message| message.get("role").and_then(Value::as_str) == Some("user"))
            .and_then(|message| message.get("content"))
            .map(content_text)
            .ok_or("the request has no message with role `user`")?;

        let tools = body
            .get("tools")
            .and_then(Value::as_array)
            .filter(|tools| !tools.is_empty());
        let tool = tools.map(|tools| self.tool_name(body, tools));
        let mut prompt_chars: usize = messages
            .iter()
            .filter_map(|message| message.get("content"))
            .map(|content| content_text(content).chars().count())
            .sum();
        if let Some(system) = body.get("system") {
            prompt_chars += content_text(system).chars().count();
        }
        if let Some(tools) = tools {
            prompt_chars += Value::from(tools.clone()).to_string().chars().count();
        }

        let model = body
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or("tern-mock")
            .to_string();
        Ok(Incoming {
            model,
            user_content,
            tool,
            prompt_chars,
        })
    }

    /// Returns the forced tool's name, else the first tool's.
    fn tool_name(self, body: &Value, tools: &[Value]) -> String {
        let (forced, first) = match self {
            Api::OpenAi => ("/tool_choice/function/name", "/function/name"),
            Api::Anthropic => ("/tool_choice/name", "/name"),
        };
        body.pointer(forced)
            .or_else(|| tools[0].pointer(first))
            .and_then(Value::as_str)
            .unwrap_or("reply")
            .to_string()
    }

    /// Builds a 200 response with `output` in the shape the request selected.
    pub(crate) fn reply(self, incoming: &Incoming, output: &Output, id: u64) -> (Response, Usage) {
        let text = output.text();
        let usage = Usage {
            prompt_tokens: estimate_tokens(incoming.prompt_chars),
            completion_tokens: estimate_tokens(text.chars().count()),
        };
        let body = match self {
            Api::OpenAi => openai_reply(incoming, text, id, usage),
            Api::Anthropic => anthropic_reply(incoming, output, text, id, usage),
        };
        (Json(body).into_response(), usage)
    }

    /// Builds an error response in the API's error shape.
    pub(crate) fn error(self, status: StatusCode, message: &str) -> Response {
        let kind = match status {
            StatusCode::TOO_MANY_REQUESTS => "rate_limit_error",
            StatusCode::GATEWAY_TIMEOUT => "timeout_error",
            status if status.is_server_error() => match self {
                Api::OpenAi => "server_error",
                Api::Anthropic => "api_error",
            },
            _ => "invalid_request_error",
        };
        let body = match self {
            Api::OpenAi => {
                json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
            }
            Api::Anthropic => json!({"type": "error", "error": {"type": kind, "message": message}}),
        };
        (status, Json(body)).into_response()
    }

    /// Builds a 429 response with `Retry-After: 1`.
    pub(crate) fn rate_limited(self) -> Response {
        let mut response = self.error(
            StatusCode::TOO_MANY_REQUESTS,
            "mock rate limit: retry in 1 s",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        response
    }

    /// Builds a 200 response whose body stops in the middle of the JSON.
    pub(crate) fn malformed(self, id: u64) -> Response {
        let body = match self {
            Api::OpenAi => {
                format!("{{\"id\": \"chatcmpl-mock-{id}\", \"choices\": [{{\"message\": ")
            }
            Api::Anthropic => format!("{{\"id\": \"msg_mock_{id}\", \"content\": [{{\"type\": "),
        };
        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

fn openai_reply(incoming: &Incoming, text: String, id: u64, usage: Usage) -> Value {
    let (message, finish_reason) = match &incoming.tool {
        Some(name) => (
            json!({
                "role": "assistant",
                "content": null,
                "tool_calls": [{
                    "id": format!("call_mock_{id}"),
                    "type": "function",
                    "function": {"name": name, "arguments": text},
                }],
            }),
            "tool_calls",
        ),
        None => (
            json!({"role": "assistant", "content": text, "refusal": null}),
            "stop",
        ),
    };
    json!({
        "id": format!("chatcmpl-mock-{id}"),
        "object": "chat.completion",
        "created": unix_seconds(),
        "model": incoming.model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        },
    })
}

fn anthropic_reply(
    incoming: &Incoming,
    output: &Output,
    text: String,
    id: u64,
    usage: Usage,
) -> Value {
    // A tool_use block can only carry JSON, so text that is not JSON comes
    // back as a text block, as from a model that ignored the tool.
    let (block, stop_reason) = match (&incoming.tool, output) {
        (Some(name), Output::Json(input)) => (
            json!({"type": "tool_use", "id": format!("toolu_mock_{id}"), "name": name, "input": input}),
            "tool_use",
        ),
        _ => (json!({"type": "text", "text": text}), "end_turn"),
    };
    json!({
        "id": format!("msg_mock_{id}"),
        "type": "message",
        "role": "assistant",
        "model": incoming.model,
        "content": [block],
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens},
    })
}

/// Returns the text of a message content: a string, or the `text` fields of
/// an array of parts or blocks, joined by newlines.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// Returns the text that scripts match: the `message` field of the JSON
/// object that follows a `CONTEXT:` line, or else the whole content.
pub fn user_text(content: &str) -> Cow<'_, str> {
    let Some(start) = context_start(content) else {
        return Cow::Borrowed(content);
    };
    let rest = content[start + CONTEXT_MARKER.len()..].trim_start();
    // The object may be followed by more text, so only the first value is read.
    let mut values = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
    match values.next() {
        Some(Ok(Value::Object(mut context))) => match context.remove("message") {
            Some(Value::String(message)) => Cow::Owned(message),
            _ => Cow::Borrowed(content),
        },
        _ => Cow::Borrowed(content),
    }
}

/// Byte offset of the first `CONTEXT:` that starts a line.
fn context_start(content: &str) -> Option<usize> {
    content
        .match_indices(CONTEXT_MARKER)
        .map(|(at, _)| at)
        .find(|&at| at == 0 || content[..at].ends_with('\n'))
}

/// Tokens as chars / 4, rounded up: a rough average for English text.
fn estimate_tokens(chars: usize) -> u64 {
    chars.div_ceil(4) as u64
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_reads_the_context_message() {
        let content = "CONTEXT:\n{\"flows\": [], \"message\": \"renew my \\\"iqama\\\"\"}";
        assert_eq!(user_text(content), "renew my \"iqama\"");
        let same_line = "Turn info\nCONTEXT: {\"message\": \"hi\"}\ntrailing text";
        assert_eq!(user_text(same_line), "hi");
    }

    #[test]
    fn user_text_falls_back_to_the_content() {
        assert_eq!(user_text("just a message"), "just a message");
        assert_eq!(user_text("CONTEXT: not json"), "CONTEXT: not json");
        assert_eq!(
            user_text("CONTEXT: {\"other\": 1}"),
            "CONTEXT: {\"other\": 1}"
        );
        // The marker counts only at the start of a line.
        assert_eq!(
            user_text("see CONTEXT: {\"message\": \"x\"}"),
            "see CONTEXT: {\"message\": \"x\"}"
        );
    }

    #[test]
    fn openai_request_is_read() {
        let body = json!({
            "model": "gpt-test",
            "messages": [
                {"role": "system", "content": "sys"},
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": [{"type": "text", "text": "last"}]},
            ],
            "tools": [{"type": "function", "function": {"name": "other"}}],
            "tool_choice": {"type": "function", "function": {"name": "commands"}},
        });
        let incoming = Api::OpenAi.parse(&body).unwrap();
        assert_eq!(incoming.model, "gpt-test");
        assert_eq!(incoming.user_content, "last");
        assert_eq!(incoming.tool.as_deref(), Some("commands"));
        assert!(incoming.prompt_chars > "sysfirstoklast".len());
    }

    #[test]
    fn anthropic_tool_falls_back_to_the_first() {
        let body = json!({
            "system": [{"type": "text", "text": "sys"}],
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"name": "commands", "input_schema": {}}],
        });
        let incoming = Api::Anthropic.parse(&body).unwrap();
        assert_eq!(incoming.model, "tern-mock");
        assert_eq!(incoming.tool.as_deref(), Some("commands"));
    }

    #[test]
    fn invalid_requests_are_explained() {
        let error = Api::OpenAi.parse(&json!({"model": "m"})).err().unwrap();
        assert_eq!(error, "the request has no `messages` array");
        let streaming = json!({"messages": [{"role": "user", "content": "x"}], "stream": true});
        let error = Api::OpenAi.parse(&streaming).err().unwrap();
        assert_eq!(
            error,
            "the mock does not stream responses; send `stream: false`"
        );
        let error = Api::OpenAi
            .parse(&json!({"messages": [{"role": "system", "content": "x"}]}))
            .err()
            .unwrap();
        assert_eq!(error, "the request has no message with role `user`");
    }

    #[test]
    fn tokens_are_estimated_from_chars() {
        assert_eq!(estimate_tokens(0), 0);
        assert_eq!(estimate_tokens(1), 1);
        assert_eq!(estimate_tokens(8), 2);
        assert_eq!(estimate_tokens(9), 3);
    }
}
