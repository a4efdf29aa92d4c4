//! Errors of LLM calls and of client configuration.

use std::time::Duration;

/// Maximum chars of an error response body kept in [`LlmError::Status`].
pub const MAX_ERROR_BODY_CHARS: usize = 500;

/// A failed LLM call, after any retries.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// An attempt did not finish within the configured timeout.
    #[error("the LLM request timed out; raise the timeout or check the server's load")]
    Timeout,
    /// HTTP 429. `retry_after` is the server's `Retry-After`, capped at 30 s.
    #[error("the LLM server rejected the request with 429 Too Many Requests{}", retry_hint(.retry_after))]
    RateLimited { retry_after: Option<Duration> },
    /// Any other status outside 2xx. `body` is the start of the response.
    #[error("the LLM server returned HTTP {status}: {body}")]
    Status { status: u16, body: String },
    /// The connection failed, or broke before the whole response arrived.
    #[error("could not reach the LLM server: {0}")]
    Connect(String),
    /// A 2xx response that is not the JSON the API defines, or that contains
    /// no output.
    #[error("invalid response from the LLM server: {0}")]
    InvalidResponse(String),
}

fn retry_hint(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(delay) => format!(" (Retry-After {} s)", delay.as_secs_f32()),
        None => String::new(),
    }
}

impl LlmError {
    /// Returns a stable snake_case name for metrics and logs: `timeout`,
    /// `rate_limited`, `server_error` (5xx), `client_error` (other statuses),
    /// `connect` or `invalid_response`.
    pub fn kind(&self) -> &'static str {
        match self {
            LlmError::Timeout => "timeout",
            LlmError::RateLimited { .. } => "rate_limited",
            LlmError::Status { status, .. } if *status >= 500 => "server_error",
            LlmError::Status { .. } => "client_error",
            LlmError::Connect(_) => "connect",
            LlmError::InvalidResponse(_) => "invalid_response",
        }
    }

    /// Returns whether another attempt may succeed: timeouts, 429, 5xx and connection
    /// failures. A client error or an invalid response would only repeat.
    pub fn is_retryable(&self) -> bool {
        match self {
            LlmError::Timeout | LlmError::RateLimited { .. } | LlmError::Connect(_) => true,
            LlmError::Status { status, .. } => *status >= 500,
            LlmError::InvalidResponse(_) => false,
        }
    }

    /// Returns the HTTP status behind the error, if the server sent one.
    pub fn status(&self) -> Option<u16> {
        match self {
            LlmError::RateLimited { .. } => Some(429),
            LlmError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// An [`crate::LlmConfig`] that cannot produce a working client.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid LLM base URL `{url}`: {reason}")]
    InvalidBaseUrl { url: String, reason: String },
    #[error("the LLM model name is empty; set the model the server should use")]
    MissingModel,
    #[error("max_concurrency is 0, so no request could ever be sent; set it to 1 or more")]
    ZeroConcurrency,
    #[error("the LLM timeout is 0; set a timeout above zero, such as 30 s")]
    ZeroTimeout,
    /// The header value is never shown, because headers often carry secrets.
    #[error("invalid HTTP header `{name}`: {reason}")]
    InvalidHeader { name: String, reason: String },
    #[error(
        "structured-output mode `{mode}` is not supported by provider `{provider}`; \
         use one of: {supported}"
    )]
    UnsupportedMode {
        provider: &'static str,
        mode: &'static str,
        supported: String,
    },
    #[error("could not build the HTTP client: {0}")]
    HttpClient(String),
}

/// Cuts `text` to at most `max_chars` chars, marking the cut with `...`.
pub(crate) fn truncate_chars(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_retryability() {
        let cases = [
            (LlmError::Timeout, "timeout", true),
            (
                LlmError::RateLimited { retry_after: None },
                "rate_limited",
                true,
            ),
            (
                LlmError::Status {
                    status: 503,
                    body: String::new(),
                },
                "server_error",
                true,
            ),
            (
                LlmError::Status {
                    status: 400,
                    body: String::new(),
                },
                "client_error",
                false,
            ),
            (
                LlmError::Status {
                    status: 401,
                    body: String::new(),
                },
                "client_error",
                false,
            ),
            (LlmError::Connect("refused".into()), "connect", true),
            (
                LlmError::InvalidResponse("x".into()),
                "invalid_response",
                false,
            ),
        ];
        for (error, kind, retryable) in cases {
            assert_eq!(error.kind(), kind, "{error}");
            assert_eq!(error.is_retryable(), retryable, "{error}");
        }
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate_chars("abc", 5), "abc");
        assert_eq!(truncate_chars("abcdef", 3), "abc...");
        assert_eq!(truncate_chars("ééééé", 2), "éé...");
    }

    #[test]
    fn rate_limited_message_shows_delay() {
        let error = LlmError::RateLimited {
            retry_after: Some(Duration::from_secs(2)),
        };
        assert_eq!(
            error.to_string(),
            "the LLM server rejected the request with 429 Too Many Requests (Retry-After 2 s)"
        );
    }
}
