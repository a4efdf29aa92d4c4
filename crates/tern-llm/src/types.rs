//! The provider-neutral request and response of one chat call.

use std::time::Duration;

use serde::Serialize;

/// One chat call: a system prompt, a user message and the JSON Schema the
/// reply must follow.
#[derive(Clone, Debug)]
pub struct ChatRequest {
    pub system: String,
    pub user: String,
    /// Name of the schema, also used as the tool name in tool-call mode.
    /// Providers accept only `[a-zA-Z0-9_-]`, at most 64 chars; other chars
    /// are replaced by `_` before sending.
    pub schema_name: String,
    pub schema: serde_json::Value,
    pub max_tokens: u32,
    pub temperature: f32,
}

/// The model's output and what producing it cost.
#[derive(Clone, Debug)]
pub struct ChatResponse {
    /// The JSON document the model produced, as text. The client does not
    /// parse or validate it.
    pub text: String,
    pub usage: Usage,
    /// Time from the call to its return, including waiting for a concurrency
    /// slot and any retries.
    pub latency: Duration,
    /// HTTP attempts made, 1 when the first one succeeded.
    pub attempts: u32,
}

/// Token counts as the server reported them; zero where it reported none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}
