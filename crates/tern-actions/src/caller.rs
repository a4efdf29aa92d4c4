//! The HTTP client that calls action webhooks.

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::header::CONTENT_TYPE;
use serde_json::{Map, Value};
use tern_engine::ActionOutcome;
use tern_flow::actions::{ActionDef, ActionRegistry};

use crate::reply::{self, Failure, ReadError};
use crate::schema::{self, SchemaCache};
use crate::signature::signed_body;

/// Webhook timeout of Flowent's gateway.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Payload limit of Flowent's gateway ("1 MB"), read as 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// Header carrying the caller's key for repeated calls.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// Settings of an [`ActionCaller`].
#[derive(Clone)]
pub struct CallerConfig {
    /// The tenant's HMAC key. It must not be empty: a server without a
    /// configured key should generate a random one at start-up.
    pub hmac_key: Vec<u8>,
    /// Time limit for one call, from connecting to the end of the
    /// response body.
    pub timeout: Duration,
    /// Largest response body accepted, in bytes.
    pub max_response_bytes: usize,
    /// Largest request body sent, in bytes.
    pub max_request_bytes: usize,
}

impl CallerConfig {
    /// Creates a configuration with Flowent's limits: a 30 s timeout and
    /// 1 MiB bodies.
    pub fn new(hmac_key: impl Into<Vec<u8>>) -> Self {
        Self {
            hmac_key: hmac_key.into(),
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_BODY_BYTES,
            max_request_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

impl fmt::Debug for CallerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallerConfig")
            .field(
                "hmac_key",
                &format_args!("<{} bytes, redacted>", self.hmac_key.len()),
            )
            .field("timeout", &self.timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("max_request_bytes", &self.max_request_bytes)
            .finish()
    }
}

/// Errors in setting up an [`ActionCaller`] or compiling action schemas.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error(
        "the HMAC key is empty: configure the tenant key, or generate a random key at start-up"
    )]
    EmptyKey,
    #[error("invalid caller configuration: {0}")]
    InvalidConfig(&'static str),
    #[error("failed to build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("json_schema of action `{action}` is not a valid JSON Schema: {message}")]
    InvalidSchema { action: String, message: String },
}

/// Outcome of one webhook call with its status, latency and failure kind.
#[derive(Clone, Debug, PartialEq)]
pub struct CallReport {
    pub outcome: ActionOutcome,
    /// HTTP status of the response. `None` when no response arrived, and
    /// after a timeout.
    pub status: Option<u16>,
    /// Time from the start of the call to its outcome.
    pub latency: Duration,
    /// Failure class, `None` on success: `invalid_parameters`,
    /// `invalid_schema`, `timeout`, `connect`, `http_status`, `too_large`,
    /// `invalid_response` or `action_error`.
    pub error_kind: Option<&'static str>,
}

/// Calls action webhooks: checks parameters against the action's schema,
/// sends the signed request and interprets the response.
///
/// One caller serves all calls of a tenant. It is cheap to share behind an
/// `Arc`, and its HTTP client keeps connections alive between calls.
pub struct ActionCaller {
    client: reqwest::Client,
    hmac_key: Vec<u8>,
    timeout: Duration,
    max_response_bytes: usize,
    max_request_bytes: usize,
    schemas: SchemaCache,
}

impl fmt::Debug for ActionCaller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActionCaller")
            .field("timeout", &self.timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("max_request_bytes", &self.max_request_bytes)
            .finish_non_exhaustive()
    }
}

struct Reply {
    status: u16,
    result: Value,
}

impl ActionCaller {
    /// Returns the time limit of one webhook call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Creates a caller, rejecting an empty key, a zero timeout or a zero
    /// body limit.
    pub fn new(config: CallerConfig) -> Result<Self, ActionError> {
        if config.hmac_key.is_empty() {
            return Err(ActionError::EmptyKey);
        }
        if config.timeout.is_zero() {
            return Err(ActionError::InvalidConfig(
                "timeout must be greater than zero",
            ));
        }
        if config.max_response_bytes == 0 || config.max_request_bytes == 0 {
            return Err(ActionError::InvalidConfig(
                "body limits must be greater than zero",
            ));
        }

        // Redirects are not followed: a 301 or 302 would turn the POST into
        // a GET without the signed body.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.timeout)
            .user_agent(concat!("tern-actions/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ActionError::Client)?;

        Ok(Self {
            client,
            hmac_key: config.hmac_key,
            timeout: config.timeout,
            max_response_bytes: config.max_response_bytes,
            max_request_bytes: config.max_request_bytes,
            schemas: SchemaCache::default(),
        })
    }

    /// Compiles the schema of every action in `registry` ahead of the first
    /// call and returns one error for each schema that does not compile.
    pub fn compile_schemas(&self, registry: &ActionRegistry) -> Vec<ActionError> {
        registry
            .actions
            .values()
            .filter_map(|action| {
                self.schemas
                    .validator(action)
                    .err()
                    .map(|message| ActionError::InvalidSchema {
                        action: action.name.clone(),
                        message,
                    })
            })
            .collect()
    }

    /// Calls `action` with `parameters`.
    ///
    /// Parameters that break the action's JSON Schema fail the call before
    /// any request is sent. Every failure comes back as
    /// [`ActionOutcome::Failure`] with a kind in [`CallReport::error_kind`].
    pub async fn call(&self, action: &ActionDef, parameters: &Map<String, Value>) -> CallReport {
        self.call_with_key(action, parameters, None).await
    }

    /// Like [`ActionCaller::call`], and sends `key` as the `Idempotency-Key`
    /// header. Callers give the same key when they repeat the same call (a
    /// retried message, or two server instances handling one message), so
    /// a webhook can recognise the repeat. The header is outside the signed
    /// body, so verifiers are unaffected.
    pub async fn call_with_key(
        &self,
        action: &ActionDef,
        parameters: &Map<String, Value>,
        key: Option<&str>,
    ) -> CallReport {
        let started = Instant::now();
        let names: Vec<&str> = parameters.keys().map(String::as_str).collect();
        tracing::debug!(action = %action.name, parameters = ?names, "calling action webhook");

        let result = match self.check_parameters(action, parameters) {
            Ok(()) => {
                let payload = request_payload(action, parameters.clone(), false);
                self.send(action, payload, false, key).await
            }
            Err(failure) => Err(failure),
        };
        report(action, started, result)
    }

    /// Sends the registration test call: `parameters: {}` and `test: true`.
    ///
    /// The schema is not checked, and the webhook passes with any 2xx status
    /// unless its body is a JSON object with a non-empty `error`.
    pub async fn test_call(&self, action: &ActionDef) -> CallReport {
        let started = Instant::now();
        tracing::debug!(action = %action.name, "sending registration test call");

        let payload = request_payload(action, Map::new(), true);
        let result = self.send(action, payload, true, None).await;
        report(action, started, result)
    }

    fn check_parameters(
        &self,
        action: &ActionDef,
        parameters: &Map<String, Value>,
    ) -> Result<(), Failure> {
        let validator = self.schemas.validator(action).map_err(|message| {
            Failure::new(
                "invalid_schema",
                format!(
                    "json_schema of action `{}` is not a valid JSON Schema: {message}",
                    action.name
                ),
            )
        })?;
        schema::check_parameters(&validator, parameters).map_err(|violations| {
            Failure::new(
                "invalid_parameters",
                format!(
                    "invalid parameters for action `{}`: {violations}",
                    action.name
                ),
            )
        })
    }

    async fn send(
        &self,
        action: &ActionDef,
        payload: Map<String, Value>,
        test: bool,
        key: Option<&str>,
    ) -> Result<Reply, Failure> {
        let body = signed_body(&self.hmac_key, payload);
        if body.len() > self.max_request_bytes {
            return Err(Failure::new(
                "too_large",
                format!(
                    "request body for action `{}` is {} bytes, above the limit of {} bytes",
                    action.name,
                    body.len(),
                    self.max_request_bytes
                ),
            ));
        }

        let mut request = self
            .client
            .post(&action.webhook_url)
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(key) = key {
            request = request.header(IDEMPOTENCY_KEY, key);
        }

        // One bound covers connecting, sending and reading the whole body.
        match tokio::time::timeout(self.timeout, self.exchange(request, test)).await {
            Ok(result) => result,
            Err(_) => Err(timeout_failure(self.timeout)),
        }
    }

    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
        test: bool,
    ) -> Result<Reply, Failure> {
        let mut response = request
            .send()
            .await
            .map_err(|error| self.send_failure(&error))?;
        let status = response.status();
        let body = match reply::read_limited(&mut response, self.max_response_bytes).await {
            Ok(body) => body,
            Err(ReadError::TooLarge) => {
                let message = format!(
                    "webhook response body exceeds the limit of {} bytes",
                    self.max_response_bytes
                );
                return Err(Failure::new("too_large", message).with_status(status));
            }
            Err(ReadError::Failed(error)) => {
                let message = format!("failed to read the webhook response{}", causes(&error));
                return Err(Failure::new("connect", message).with_status(status));
            }
        };

        if !status.is_success() {
            return Err(reply::status_failure(status, &body));
        }
        let result =
            reply::interpret(&body, test).map_err(|failure| failure.with_status(status))?;
        Ok(Reply {
            status: status.as_u16(),
            result,
        })
    }

    fn send_failure(&self, error: &reqwest::Error) -> Failure {
        let causes = causes(error);
        if error.is_timeout() {
            timeout_failure(self.timeout)
        } else if error.is_builder() {
            Failure::new("connect", format!("invalid webhook URL{causes}"))
        } else if error.is_connect() {
            Failure::new(
                "connect",
                format!("failed to connect to the webhook{causes}"),
            )
        } else {
            Failure::new(
                "connect",
                format!("failed to send the request to the webhook{causes}"),
            )
        }
    }
}

fn timeout_failure(timeout: Duration) -> Failure {
    Failure::new(
        "timeout",
        format!("webhook timed out after {} ms", timeout.as_millis()),
    )
}

/// Formats the causes of a reqwest error as `: cause: cause`. reqwest's own
/// message is left out because it contains the URL, which may carry a token
/// in its query string.
fn causes(error: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn report(action: &ActionDef, started: Instant, result: Result<Reply, Failure>) -> CallReport {
    let latency = started.elapsed();
    let latency_ms = latency.as_millis() as u64;
    match result {
        Ok(reply) => {
            tracing::debug!(action = %action.name, status = reply.status, latency_ms, "action webhook succeeded");
            CallReport {
                outcome: ActionOutcome::Success {
                    result: reply.result,
                },
                status: Some(reply.status),
                latency,
                error_kind: None,
            }
        }
        Err(failure) => {
            tracing::warn!(
                action = %action.name,
                kind = failure.kind,
                status = failure.status,
                latency_ms,
                error = %failure.message,
                "action webhook failed"
            );
            CallReport {
                outcome: ActionOutcome::Failure {
                    error: failure.message,
                },
                status: failure.status,
                latency,
                error_kind: Some(failure.kind),
            }
        }
    }
}

/// Builds the request object without its signature.
fn request_payload(
    action: &ActionDef,
    parameters: Map<String, Value>,
    test: bool,
) -> Map<String, Value> {
    let mut payload = Map::new();
    payload.insert(
        "action_name".to_string(),
        Value::String(action.name.clone()),
    );
    payload.insert("parameters".to_string(), Value::Object(parameters));
    if test {
        payload.insert("test".to_string(), Value::Bool(true));
    }
    payload.insert("timestamp".to_string(), Value::from(unix_seconds()));
    payload
}

fn unix_seconds() -> u64 {
    // A clock before 1970 yields 0, so webhooks that check freshness reject
    // the call instead of Tern panicking here.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}
