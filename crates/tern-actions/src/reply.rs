//! Reading and interpreting a webhook's response.

use reqwest::{Response, StatusCode};
use serde_json::Value;

/// Maximum length of a response body excerpt in an error message, in characters.
const EXCERPT_CHARS: usize = 120;

/// A call failure, before it becomes a [`crate::CallReport`].
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) kind: &'static str,
    pub(crate) status: Option<u16>,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            status: None,
            message: message.into(),
        }
    }

    pub(crate) fn with_status(mut self, status: StatusCode) -> Self {
        self.status = Some(status.as_u16());
        self
    }
}

/// Failure of [`read_limited`] before the end of the body.
pub(crate) enum ReadError {
    TooLarge,
    Failed(reqwest::Error),
}

/// Reads the response body, stopping as soon as it grows beyond
/// `max_bytes`, so an oversized body is never held in memory whole.
pub(crate) async fn read_limited(
    response: &mut Response,
    max_bytes: usize,
) -> Result<Vec<u8>, ReadError> {
    if response
        .content_length()
        .is_some_and(|length| length > max_bytes as u64)
    {
        return Err(ReadError::TooLarge);
    }

    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ReadError::Failed)? {
        if body.len() + chunk.len() > max_bytes {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Builds the failure for a non-2xx status, adding the webhook's `error`
/// text when the body carries one.
pub(crate) fn status_failure(status: StatusCode, body: &[u8]) -> Failure {
    let mut message = format!("webhook returned HTTP {status}");
    if let Ok(Value::Object(reply)) = serde_json::from_slice::<Value>(body)
        && let Some(Value::String(error)) = reply.get("error")
        && !error.is_empty()
    {
        message.push_str(": ");
        message.push_str(error);
    }
    Failure::new("http_status", message).with_status(status)
}

/// Interprets a 2xx body `{result, error}`.
///
/// A non-empty `error` string fails the call with that text. Otherwise
/// `result` is the outcome: Flowent documents it as a string, but any JSON
/// value is accepted. A registration test call (`test`) only needs the 2xx
/// status, so there a body without a usable `result` yields `null`.
pub(crate) fn interpret(body: &[u8], test: bool) -> Result<Value, Failure> {
    let reply = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(reply)) => reply,
        Ok(_) | Err(_) if test => return Ok(Value::Null),
        Ok(other) => {
            return Err(Failure::new(
                "invalid_response",
                format!(
                    "webhook response must be a JSON object with `result` and `error`, got {}: `{}`",
                    json_type(&other),
                    excerpt(body)
                ),
            ));
        }
        Err(error) => {
            return Err(Failure::new(
                "invalid_response",
                format!(
                    "webhook response is not valid JSON ({error}): `{}`",
                    excerpt(body)
                ),
            ));
        }
    };

    match reply.get("error") {
        None | Some(Value::Null) => {}
        Some(Value::String(error)) if error.is_empty() => {}
        Some(Value::String(error)) => return Err(Failure::new("action_error", error.clone())),
        Some(other) => {
            return Err(Failure::new(
                "invalid_response",
                format!(
                    "`error` in the webhook response must be a string, got {}",
                    json_type(other)
                ),
            ));
        }
    }

    match reply.get("result") {
        Some(result) => Ok(result.clone()),
        None if test => Ok(Value::Null),
        None => Err(Failure::new(
            "invalid_response",
            format!(
                "webhook response has no `result` member: `{}`",
                excerpt(body)
            ),
        )),
    }
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut excerpt: String = text.chars().take(EXCERPT_CHARS).collect();
    if text.chars().nth(EXCERPT_CHARS).is_some() {
        excerpt.push('…');
    }
    excerpt
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn string_result_accepted() {
        assert_eq!(
            interpret(br#"{"result":"done","error":""}"#, false).unwrap(),
            json!("done")
        );
    }

    #[test]
    fn object_result_accepted() {
        let result = interpret(br#"{"result":{"fines":2},"error":null}"#, false).unwrap();
        assert_eq!(result, json!({"fines": 2}));
    }

    #[test]
    fn error_text_fails() {
        let failure = interpret(br#"{"result":"","error":"plate not found"}"#, false).unwrap_err();
        assert_eq!(failure.kind, "action_error");
        assert_eq!(failure.message, "plate not found");
    }

    #[test]
    fn missing_result_invalid() {
        let failure = interpret(br#"{"error":""}"#, false).unwrap_err();
        assert_eq!(failure.kind, "invalid_response");
    }

    #[test]
    fn non_string_error_invalid() {
        let failure = interpret(br#"{"result":"","error":{"code":1}}"#, false).unwrap_err();
        assert_eq!(failure.kind, "invalid_response");
    }

    #[test]
    fn non_object_invalid() {
        let failure = interpret(b"[1,2]", false).unwrap_err();
        assert_eq!(failure.kind, "invalid_response");
        assert!(failure.message.contains("an array"), "{}", failure.message);
    }

    #[test]
    fn test_call_needs_only_2xx() {
        assert_eq!(interpret(b"OK", true).unwrap(), Value::Null);
        assert_eq!(interpret(b"", true).unwrap(), Value::Null);
        assert_eq!(interpret(br#"{"status":"ok"}"#, true).unwrap(), Value::Null);
        assert_eq!(interpret(br#"{"result":"ok"}"#, true).unwrap(), json!("ok"));
        let failure = interpret(br#"{"result":"","error":"down"}"#, true).unwrap_err();
        assert_eq!(failure.kind, "action_error");
    }

    #[test]
    fn excerpt_truncated_on_char_boundary() {
        let body = "é".repeat(EXCERPT_CHARS + 10);
        let text = excerpt(body.as_bytes());
        assert_eq!(text.chars().count(), EXCERPT_CHARS + 1);
        assert!(text.ends_with('…'));
    }

    #[test]
    fn status_failure_includes_error_text() {
        let failure = status_failure(
            StatusCode::BAD_GATEWAY,
            br#"{"result":"","error":"upstream down"}"#,
        );
        assert_eq!(failure.kind, "http_status");
        assert_eq!(failure.status, Some(502));
        assert_eq!(
            failure.message,
            "webhook returned HTTP 502 Bad Gateway: upstream down"
        );
    }
}
