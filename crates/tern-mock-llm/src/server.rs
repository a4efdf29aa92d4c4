//! The HTTP server: routes, the per-request decision, latency and shutdown.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use regex::Regex;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{DefaultReply, Fault, Latency, MockConfig};
use crate::protocol::{Api, Incoming, Output, user_text};
use crate::script::{Rule, RuleAction};
use crate::stats::{MockStats, Stats};

/// How long the `timeout` fault holds a request before giving up with 504.
pub const TIMEOUT_FAULT_DELAY: Duration = Duration::from_secs(120);
/// Connections the kernel queues before they are accepted. Large because a
/// load test opens thousands at once; Linux caps it at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 4096;
/// How long [`MockServer::shutdown`] waits for open connections to close.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// `[fault:NAME]` in a user text applies that fault whatever the script says.
static FAULT_MARKER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[fault:([A-Za-z0-9_]*)\]").expect("the fault marker regex is valid"));

/// One chat request as received, for tests to inspect.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub path: String,
    /// Header names in lowercase. Values of `authorization`, `x-api-key`,
    /// `api-key` and `proxy-authorization` are replaced by `<redacted>`,
    /// keeping the scheme of `authorization` (`Bearer <redacted>`).
    pub headers: Vec<(String, String)>,
    /// The body, or the raw text as a JSON string if it was not JSON.
    pub body: Value,
}

impl RecordedRequest {
    /// The value of header `name`, ignoring case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(candidate, _)| candidate.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// A running mock server. Dropping it stops the server without waiting.
pub struct MockServer {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: JoinHandle<io::Result<()>>,
}

impl MockServer {
    /// Binds `listen` (port 0 picks a free port, see [`MockServer::addr`])
    /// and serves until [`MockServer::shutdown`]. Must run inside a Tokio
    /// runtime.
    pub async fn start(listen: SocketAddr, config: MockConfig) -> io::Result<MockServer> {
        let listener = bind(listen)?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::new(Shared::new(config, stopped.clone()));
        tracing::info!(
            %addr,
            rules = shared.rules.len(),
            default_reply = ?shared.default_reply,
            "mock LLM server listening"
        );

        let app = router(shared.clone());
        let listener = listener.tap_io(|stream| {
            // Small replies should not wait for Nagle's algorithm.
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, "could not set TCP_NODELAY");
            }
        });
        let mut stopped = stopped;
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                })
                .await
        });
        Ok(MockServer { addr, shared, stop, task })
    }

    /// The OpenAI-style base URL, such as `http://127.0.0.1:8089/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The recorded chat requests, oldest first, at most
    /// [`MockConfig::record_limit`] of them.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        let recorded = self.shared.recorded.lock().unwrap_or_else(PoisonError::into_inner);
        recorded.iter().cloned().collect()
    }

    pub fn stats(&self) -> MockStats {
        self.shared.stats.snapshot()
    }

    /// Stops accepting connections, ends requests that are still waiting
    /// (they get 503), and waits up to 5 s for connections to close.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        match tokio::time::timeout(SHUTDOWN_GRACE, &mut self.task).await {
            Ok(Ok(Ok(()))) => tracing::info!(addr = %self.addr, "mock LLM server stopped"),
            Ok(Ok(Err(error))) => tracing::warn!(addr = %self.addr, %error, "mock LLM server failed"),
            Ok(Err(error)) => tracing::warn!(addr = %self.addr, %error, "mock LLM server task failed"),
            Err(_) => {
                tracing::warn!(
                    addr = %self.addr,
                    grace_s = SHUTDOWN_GRACE.as_secs(),
                    "connections still open after the grace period; closing them"
                );
                self.task.abort();
            }
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

fn bind(listen: SocketAddr) -> io::Result<TcpListener> {
    let socket = if listen.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(listen)?;
    socket.listen(LISTEN_BACKLOG)
}

/// State shared by all requests. Only the request log takes a lock, and only
/// to push one entry.
struct Shared {
    latency: Latency,
    rules: Vec<Rule>,
    /// Uses of each rule, for `times` and `once`.
    rule_uses: Vec<AtomicU64>,
    default_reply: DefaultReply,
    stats: Stats,
    record_limit: usize,
    recorded: Mutex<VecDeque<RecordedRequest>>,
    next_id: AtomicU64,
    stopped: watch::Receiver<bool>,
}

impl Shared {
    fn new(config: MockConfig, stopped: watch::Receiver<bool>) -> Self {
        let (rules, script_default) = match config.script {
            Some(script) => (script.rules, script.default_reply),
            None => (Vec::new(), None),
        };
        Self {
            latency: config.latency,
            rule_uses: rules.iter().map(|_| AtomicU64::new(0)).collect(),
            rules,
            default_reply: script_default.unwrap_or(config.default_reply),
            stats: Stats::default(),
            record_limit: config.record_limit,
            recorded: Mutex::new(VecDeque::new()),
            next_id: AtomicU64::new(1),
            stopped,
        }
    }

    fn record(&self, uri: &Uri, headers: &HeaderMap, body: &Value) {
        if self.record_limit == 0 {
            return;
        }
        let request = RecordedRequest {
            path: uri.path().to_string(),
            headers: headers.iter().map(|(name, value)| redact_header(name.as_str(), value)).collect(),
            body: body.clone(),
        };
        let mut recorded = self.recorded.lock().unwrap_or_else(PoisonError::into_inner);
        if recorded.len() >= self.record_limit {
            recorded.pop_front();
        }
        recorded.push_back(request);
    }

    /// Picks the answer for a user text: a `[fault:NAME]` marker, else the
    /// first matching rule that is not used up, else the default.
    fn decide(&self, text: &str) -> Result<Decision, String> {
        if let Some(marker) = FAULT_MARKER.captures(text) {
            let fault = marker[1].parse::<Fault>().map_err(|error| format!("{error} (in `{}`)", &marker[0]))?;
            return Ok(Decision { outcome: Outcome::Fault(fault), latency: None, rule_line: None });
        }
        for (rule, uses) in self.rules.iter().zip(&self.rule_uses) {
            if !rule.pattern.is_match(text) {
                continue;
            }
            if let Some(limit) = rule.limit {
                let taken = uses.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                    (used < limit).then_some(used + 1)
                });
                if taken.is_err() {
                    continue;
                }
            }
            let outcome = match &rule.action {
                RuleAction::Reply(reply) => Outcome::Reply(reply.clone()),
                RuleAction::Fault(fault) => Outcome::Fault(*fault),
            };
            return Ok(Decision { outcome, latency: rule.latency, rule_line: Some(rule.line) });
        }
        let outcome = match &self.default_reply {
            DefaultReply::Derive => Outcome::Derive,
            DefaultReply::Fixed(reply) => Outcome::Reply(reply.clone()),
            DefaultReply::Fault(fault) => Outcome::Fault(*fault),
        };
        Ok(Decision { outcome, latency: None, rule_line: None })
    }

    /// Sleeps for `delay`; returns false if the server began to shut down.
    async fn sleep(&self, delay: Duration) -> bool {
        if delay.is_zero() {
            return !*self.stopped.borrow();
        }
        let mut stopped = self.stopped.clone();
        tokio::select! {
            () = tokio::time::sleep(delay) => true,
            _ = stopped.wait_for(|stop| *stop) => false,
        }
    }
}

struct Decision {
    outcome: Outcome,
    /// The rule's own latency, which replaces the server's.
    latency: Option<Duration>,
    rule_line: Option<u64>,
}

#[derive(Debug)]
enum Outcome {
    Reply(Value),
    Derive,
    Fault(Fault),
}

fn redact_header(name: &str, value: &axum::http::HeaderValue) -> (String, String) {
    let text = String::from_utf8_lossy(value.as_bytes());
    let shown = match name {
        "authorization" | "proxy-authorization" => match text.split_once(' ') {
            Some((scheme, _)) => format!("{scheme} <redacted>"),
            None => "<redacted>".to_string(),
        },
        "x-api-key" | "api-key" => "<redacted>".to_string(),
        _ => text.into_owned(),
    };
    (name.to_string(), shown)
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(openai_chat))
        .route("/chat/completions", post(openai_chat))
        .route("/v1/messages", post(anthropic_messages))
        .route("/messages", post(anthropic_messages))
        .route("/v1/models", get(models))
        .route("/models", get(models))
        .route("/health", get(health))
        .fallback(not_found)
        .with_state(shared)
}

async fn openai_chat(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(&shared, Api::OpenAi, &uri, &headers, &body).await
}

async fn anthropic_messages(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(&shared, Api::Anthropic, &uri, &headers, &body).await
}

/// Handles one chat request from receipt to response.
async fn answer(shared: &Shared, api: Api, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Response {
    let _in_flight = shared.stats.enter();
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);

    let body: Value = match serde_json::from_slice(body) {
        Ok(body) => body,
        Err(error) => {
            let raw = Value::String(String::from_utf8_lossy(body).into_owned());
            shared.record(uri, headers, &raw);
            shared.stats.bad_request();
            return api.error(StatusCode::BAD_REQUEST, &format!("the request body is not JSON: {error}"));
        }
    };
    shared.record(uri, headers, &body);
    let incoming = match api.parse(&body) {
        Ok(incoming) => incoming,
        Err(message) => {
            shared.stats.bad_request();
            return api.error(StatusCode::BAD_REQUEST, &message);
        }
    };
    let decision = match shared.decide(&user_text(&incoming.user_content)) {
        Ok(decision) => decision,
        Err(message) => {
            shared.stats.bad_request();
            return api.error(StatusCode::BAD_REQUEST, &message);
        }
    };
    tracing::debug!(id, path = uri.path(), outcome = ?decision.outcome, rule_line = decision.rule_line, "mock request");

    let delay = decision.latency.unwrap_or_else(|| shared.latency.sample());
    if !shared.sleep(delay).await {
        return shutting_down(api);
    }
    match decision.outcome {
        Outcome::Reply(reply) => {
            shared.stats.reply();
            send_output(shared, api, &incoming, &Output::Json(reply), id)
        }
        Outcome::Derive => {
            shared.stats.reply();
            let derived = tern_understand::offline::derive_reply(&incoming.user_content)
                .unwrap_or_else(|| json!({"commands": []}));
            send_output(shared, api, &incoming, &Output::Json(derived), id)
        }
        Outcome::Fault(fault) => {
            shared.stats.fault(fault);
            send_fault(shared, api, &incoming, fault, id).await
        }
    }
}

fn send_output(shared: &Shared, api: Api, incoming: &Incoming, output: &Output, id: u64) -> Response {
    let (response, usage) = api.reply(incoming, output, id);
    shared.stats.tokens(usage.prompt_tokens, usage.completion_tokens);
    response
}

async fn send_fault(shared: &Shared, api: Api, incoming: &Incoming, fault: Fault, id: u64) -> Response {
    match fault {
        Fault::RateLimited => api.rate_limited(),
        Fault::ServerError => api.error(StatusCode::INTERNAL_SERVER_ERROR, "mock server error"),
        Fault::Timeout => {
            if !shared.sleep(TIMEOUT_FAULT_DELAY).await {
                return shutting_down(api);
            }
            api.error(StatusCode::GATEWAY_TIMEOUT, "mock timeout: no answer within 120 s")
        }
        Fault::Malformed => api.malformed(id),
        // Cut off in the middle, as a model stopped early would leave it.
        Fault::BadJson => {
            let text = r#"{"commands": [{"command": "start_flow", "flow": "#.to_string();
            send_output(shared, api, incoming, &Output::Text(text), id)
        }
        Fault::SchemaBreaking => send_output(shared, api, incoming, &Output::Json(json!({"foo": 1})), id),
        Fault::Empty => send_output(shared, api, incoming, &Output::Text(String::new()), id),
    }
}

fn shutting_down(api: Api) -> Response {
    api.error(StatusCode::SERVICE_UNAVAILABLE, "the mock server is shutting down")
}

async fn models() -> Json<Value> {
    // Fields of both APIs' model lists, so either kind of client can read it.
    Json(json!({
        "object": "list",
        "data": [{
            "id": "tern-mock",
            "object": "model",
            "type": "model",
            "display_name": "Tern mock LLM",
            "created": 0,
            "owned_by": "tern-mock-llm",
        }],
        "has_more": false,
    }))
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn not_found(method: Method, uri: Uri) -> Response {
    let message = format!(
        "no route for {method} {}; the mock serves POST /v1/chat/completions, \
         POST /v1/messages, GET /v1/models and GET /health",
        uri.path()
    );
    (StatusCode::NOT_FOUND, Json(json!({"error": {"message": message, "type": "not_found"}})))
        .into_response()
}
