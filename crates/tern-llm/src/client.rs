//! The HTTP client shared by the providers; a [`Protocol`] supplies each
//! provider's request and response shapes.

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use serde_json::Value;

use crate::transport::Transport;
use crate::{ChatRequest, ChatResponse, LlmClient, LlmError, Usage};

/// One provider's API shapes.
pub(crate) trait Protocol: Send + Sync + 'static {
    /// Builds the JSON body for `request`.
    fn request_body(&self, request: &ChatRequest) -> Value;

    /// Extracts the model's output text and the token counts from a 2xx body.
    fn parse_response(&self, body: &Value) -> Result<Output, LlmError>;
}

#[derive(Debug)]
pub(crate) struct Output {
    pub text: String,
    pub usage: Usage,
}

pub(crate) struct HttpClient<P> {
    pub protocol: P,
    pub transport: Transport,
    /// The full endpoint URL.
    pub url: String,
    /// The text [`LlmClient::describe`] returns.
    pub description: String,
}

impl<P: Protocol> HttpClient<P> {
    async fn call(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let started = Instant::now();
        let body = self.protocol.request_body(request);
        let reply = self.transport.post_json(&self.url, &body).await?;
        let output = self.protocol.parse_response(&reply.body)?;
        let latency = started.elapsed();
        tracing::debug!(
            client = %self.description,
            latency_ms = latency.as_millis() as u64,
            attempts = reply.attempts,
            prompt_tokens = output.usage.prompt_tokens,
            completion_tokens = output.usage.completion_tokens,
            "LLM call finished"
        );
        Ok(ChatResponse {
            text: output.text,
            usage: output.usage,
            latency,
            attempts: reply.attempts,
        })
    }
}

impl<P: Protocol> LlmClient for HttpClient<P> {
    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> Pin<Box<dyn Future<Output = Result<ChatResponse, LlmError>> + Send + 'a>> {
        Box::pin(self.call(request))
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

/// Converts an `f32` setting to a JSON number with its shortest decimal form,
/// so that `0.2` is sent as `0.2` and not as `0.20000000298023224`.
/// Returns `None` for NaN and infinities.
pub(crate) fn json_f32(value: f32) -> Option<Value> {
    let shortest: f64 = value.to_string().parse().ok()?;
    serde_json::Number::from_f64(shortest).map(Value::Number)
}

/// Reads a token count at `pointer`; missing or invalid counts are zero and
/// counts above `u32::MAX` saturate.
pub(crate) fn token_count(body: &Value, pointer: &str) -> u32 {
    let count = body.pointer(pointer).and_then(Value::as_u64).unwrap_or(0);
    u32::try_from(count).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_settings_keep_their_decimal_form() {
        assert_eq!(json_f32(0.2).unwrap().to_string(), "0.2");
        assert_eq!(json_f32(0.0).unwrap().to_string(), "0.0");
        assert_eq!(json_f32(1.0).unwrap().to_string(), "1.0");
        assert!(json_f32(f32::NAN).is_none());
    }

    #[test]
    fn token_counts_default_to_zero() {
        let body = serde_json::json!({"usage": {"prompt_tokens": 12, "completion_tokens": -1}});
        assert_eq!(token_count(&body, "/usage/prompt_tokens"), 12);
        assert_eq!(token_count(&body, "/usage/completion_tokens"), 0);
        assert_eq!(token_count(&body, "/usage/missing"), 0);
    }
}
