//! HTTP for all providers: the per-attempt timeout, retries with backoff,
//! `Retry-After` and the concurrency limit.
//!
//! Each attempt holds one semaphore permit only while its request is in
//! flight, so clients waiting out a backoff do not block other calls.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use rand::RngExt;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::error::{MAX_ERROR_BODY_CHARS, truncate_chars};
use crate::{ConfigError, LlmConfig, LlmError};

/// Maximum delay before a retry that a server's `Retry-After` can impose.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Maximum computed backoff delay, before jitter.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Maximum chars of an unparsable 2xx body quoted in the error.
const MAX_QUOTED_BODY_CHARS: usize = 200;

/// A parsed 2xx JSON body and the attempts it took.
pub(crate) struct Reply {
    pub body: Value,
    pub attempts: u32,
}

/// A failed attempt, with the server's requested delay where it sent one.
struct Failure {
    error: LlmError,
    retry_after: Option<Duration>,
}

impl From<LlmError> for Failure {
    fn from(error: LlmError) -> Self {
        Self {
            error,
            retry_after: None,
        }
    }
}

pub(crate) struct Transport {
    http: reqwest::Client,
    limiter: Semaphore,
    timeout: Duration,
    max_retries: u32,
    backoff_base: Duration,
    /// Provider name for log lines.
    provider: &'static str,
}

impl Transport {
    /// Builds the HTTP client. `headers` are the provider's own; the
    /// configuration's extra headers are added after them and replace any of
    /// the same name.
    pub(crate) fn new(
        config: &LlmConfig,
        base_url: &Url,
        mut headers: HeaderMap,
    ) -> Result<Self, ConfigError> {
        if config.max_concurrency == 0 {
            return Err(ConfigError::ZeroConcurrency);
        }
        if config.timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout);
        }
        for (name, value) in &config.extra_headers {
            let (name, value) = header(name, value, false)?;
            headers.insert(name, value);
        }

        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .redirect(reqwest::redirect::Policy::none());
        // A proxy from the environment must not capture traffic meant for a
        // server on this machine, such as a local model or the mock.
        if is_loopback(base_url) {
            builder = builder.no_proxy();
        }
        let http = builder
            .build()
            .map_err(|error| ConfigError::HttpClient(error_chain(&error)))?;

        Ok(Self {
            http,
            limiter: Semaphore::new(config.max_concurrency),
            timeout: config.timeout,
            max_retries: config.max_retries,
            backoff_base: config.backoff_base,
            provider: config.provider.name(),
        })
    }

    /// Posts `body` to `url` and returns the parsed JSON of the first 2xx
    /// response, retrying retryable failures up to `max_retries` times.
    pub(crate) async fn post_json(&self, url: &str, body: &Value) -> Result<Reply, LlmError> {
        let payload = body.to_string().into_bytes();
        let max_attempts = self.max_retries.saturating_add(1);
        let mut attempt = 1;
        loop {
            let failure = match self.attempt(url, &payload).await {
                Ok(body) => {
                    return Ok(Reply {
                        body,
                        attempts: attempt,
                    });
                }
                Err(failure) => failure,
            };
            if !failure.error.is_retryable() || attempt >= max_attempts {
                return Err(failure.error);
            }

            let delay = match failure.retry_after {
                Some(requested) => requested.min(MAX_RETRY_AFTER),
                None => backoff_delay(self.backoff_base, attempt),
            };
            tracing::warn!(
                provider = self.provider,
                attempt,
                max_attempts,
                status = failure.error.status(),
                kind = failure.error.kind(),
                delay_ms = delay.as_millis() as u64,
                error = %failure.error,
                "LLM request failed; retrying"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// Sends one request under a concurrency permit and the timeout.
    async fn attempt(&self, url: &str, payload: &[u8]) -> Result<Value, Failure> {
        let _permit = self
            .limiter
            .acquire()
            .await
            .expect("the limiter semaphore is never closed");
        match tokio::time::timeout(self.timeout, self.exchange(url, payload)).await {
            Ok(result) => result,
            Err(_elapsed) => Err(LlmError::Timeout.into()),
        }
    }

    async fn exchange(&self, url: &str, payload: &[u8]) -> Result<Value, Failure> {
        let response = self
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(payload.to_vec())
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        let retry_after = response.headers().get(RETRY_AFTER).and_then(|value| {
            let text = value.to_str().ok()?;
            parse_retry_after(text, SystemTime::now())
        });
        let bytes = response.bytes().await.map_err(transport_error)?;

        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|error| {
                let start = truncate_chars(&String::from_utf8_lossy(&bytes), MAX_QUOTED_BODY_CHARS);
                LlmError::InvalidResponse(format!(
                    "the body is not JSON ({error}); it starts with: {start}"
                ))
                .into()
            });
        }
        let retry_after = retry_after.map(|delay| delay.min(MAX_RETRY_AFTER));
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(Failure {
                error: LlmError::RateLimited { retry_after },
                retry_after,
            });
        }
        let body = truncate_chars(&String::from_utf8_lossy(&bytes), MAX_ERROR_BODY_CHARS);
        let error = LlmError::Status {
            status: status.as_u16(),
            body,
        };
        let retry_after = if status == StatusCode::SERVICE_UNAVAILABLE {
            retry_after
        } else {
            None
        };
        Err(Failure { error, retry_after })
    }
}

/// Builds a header, marking it sensitive so that it is hidden from debug
/// output. The error never shows the value.
pub(crate) fn header(
    name: &str,
    value: &str,
    sensitive: bool,
) -> Result<(HeaderName, HeaderValue), ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidHeader {
        name: name.to_string(),
        reason,
    };
    let header_name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| invalid("the name is not a valid HTTP header name".to_string()))?;
    let mut header_value = HeaderValue::from_str(value).map_err(|_| {
        invalid("the value contains a control char or a non-ASCII char".to_string())
    })?;
    header_value.set_sensitive(sensitive);
    Ok((header_name, header_value))
}

/// Parses and checks the base URL, such as `http://127.0.0.1:8089/v1`.
pub(crate) fn parse_base_url(base_url: &str) -> Result<Url, ConfigError> {
    let invalid = |reason: &str| ConfigError::InvalidBaseUrl {
        url: redact_url(base_url),
        reason: reason.to_string(),
    };
    let url = Url::parse(base_url.trim()).map_err(|error| invalid(&error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "remove the query and fragment; the client appends the API path",
        ));
    }
    // Credentials in the URL would show up in error messages and logs.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "remove the user name and password; set the API key or an extra header instead",
        ));
    }
    Ok(url)
}

/// Returns the endpoint URL: the base URL without a trailing slash, then
/// `path`, such as `/chat/completions`.
pub(crate) fn endpoint(base_url: &Url, path: &str) -> String {
    format!("{}{path}", base_url.as_str().trim_end_matches('/'))
}

/// Returns the URL for logs and descriptions, without any user name or
/// password.
pub(crate) fn display_url(url: &Url) -> String {
    let mut without_credentials = url.clone();
    let _ = without_credentials.set_username("");
    let _ = without_credentials.set_password(None);
    without_credentials
        .as_str()
        .trim_end_matches('/')
        .to_string()
}

/// Redacts `user:password@` in a URL that may not parse.
fn redact_url(text: &str) -> String {
    match Url::parse(text) {
        Ok(url) => display_url(&url),
        Err(_) if text.contains('@') => "<URL with credentials, hidden>".to_string(),
        Err(_) => text.to_string(),
    }
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Parses `Retry-After` as delay seconds or as an HTTP date. A date in the
/// past gives zero.
pub(crate) fn parse_retry_after(text: &str, now: SystemTime) -> Option<Duration> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(text).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Returns the delay before retry `retry` (1-based), drawn from `[d/2, d]`
/// where `d = base * 2^(retry-1)`, capped at 10 s. The jitter spreads out
/// clients that failed at the same moment.
pub(crate) fn backoff_delay(base: Duration, retry: u32) -> Duration {
    let factor = 2u32.saturating_pow(retry.saturating_sub(1));
    let full = base.saturating_mul(factor).min(MAX_BACKOFF);
    let half = full / 2;
    let jitter_nanos = rand::rng().random_range(0..=half.as_nanos() as u64);
    half + Duration::from_nanos(jitter_nanos)
}

fn transport_error(error: reqwest::Error) -> Failure {
    if error.is_timeout() {
        return LlmError::Timeout.into();
    }
    LlmError::Connect(error_chain(&error)).into()
}

/// Formats the error and its sources, joined with `: `.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));

        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(7)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(7));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));

        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[test]
    fn backoff_doubles_within_jitter_bounds() {
        let base = Duration::from_millis(100);
        for _ in 0..50 {
            let first = backoff_delay(base, 1);
            assert!(
                first >= Duration::from_millis(50) && first <= base,
                "{first:?}"
            );
            let third = backoff_delay(base, 3);
            assert!(third >= Duration::from_millis(200), "{third:?}");
            assert!(third <= Duration::from_millis(400), "{third:?}");
        }
        assert!(backoff_delay(base, 40) <= MAX_BACKOFF);
        assert_eq!(backoff_delay(Duration::ZERO, 3), Duration::ZERO);
    }

    #[test]
    fn base_url_checks() {
        let url = parse_base_url("http://127.0.0.1:8089/v1/").unwrap();
        assert_eq!(
            endpoint(&url, "/chat/completions"),
            "http://127.0.0.1:8089/v1/chat/completions"
        );
        assert!(is_loopback(&url));
        assert!(is_loopback(&parse_base_url("http://[::1]:9/v1").unwrap()));
        assert!(is_loopback(&parse_base_url("http://localhost:9").unwrap()));
        assert!(!is_loopback(
            &parse_base_url("https://api.openai.com/v1").unwrap()
        ));

        let error = parse_base_url("ftp://127.0.0.1/v1").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("the scheme must be http or https"),
            "{error}"
        );
        let error = parse_base_url("127.0.0.1:8089").unwrap_err();
        assert!(
            error.to_string().starts_with("invalid LLM base URL"),
            "{error}"
        );
        let error = parse_base_url("http://h/v1?key=1").unwrap_err();
        assert!(error.to_string().contains("remove the query"), "{error}");
    }

    #[test]
    fn credentials_in_base_url_are_rejected() {
        let error = parse_base_url("https://user:pass@example.test/v1").unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("remove the user name and password"),
            "{message}"
        );
        assert!(!message.contains("pass@"), "{message}");
    }

    #[test]
    fn display_url_hides_credentials() {
        let url = Url::parse("https://user:pass@example.test/v1").unwrap();
        assert_eq!(display_url(&url), "https://example.test/v1");
    }

    #[test]
    fn header_errors_hide_the_value() {
        let error = header("X-Token", "secret\nvalue", false).unwrap_err();
        assert!(!error.to_string().contains("secret"), "{error}");
        assert!(error.to_string().contains("X-Token"), "{error}");
        assert!(header("bad name", "v", false).is_err());
    }
}
