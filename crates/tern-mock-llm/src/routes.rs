//! Routes and handlers: one chat request from receipt to response.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::config::Fault;
use crate::decide::Outcome;
use crate::protocol::{Api, Incoming, Output, user_text};
use crate::server::{Shared, TIMEOUT_FAULT_DELAY};

pub(crate) fn router(shared: Arc<Shared>) -> Router {
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
async fn answer(
    shared: &Shared,
    api: Api,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let _in_flight = shared.stats.enter();
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let incoming = match read_request(shared, api, uri, headers, body) {
        Ok(incoming) => incoming,
        Err(message) => {
            shared.stats.bad_request();
            return api.error(StatusCode::BAD_REQUEST, &message);
        }
    };
    let decision = match shared.responder.decide(&user_text(&incoming.user_content)) {
        Ok(decision) => decision,
        Err(message) => {
            shared.stats.bad_request();
            return api.error(StatusCode::BAD_REQUEST, &message);
        }
    };
    tracing::debug!(
        id,
        path = uri.path(),
        outcome = ?decision.outcome,
        rule_line = decision.rule_line,
        "mock request"
    );

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

/// Records the request and reads it. The error says why the request is
/// invalid.
fn read_request(
    shared: &Shared,
    api: Api,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Incoming, String> {
    let body: Value = match serde_json::from_slice(body) {
        Ok(body) => body,
        Err(error) => {
            let raw = Value::String(String::from_utf8_lossy(body).into_owned());
            shared.record(uri, headers, &raw);
            return Err(format!("the request body is not JSON: {error}"));
        }
    };
    shared.record(uri, headers, &body);
    api.parse(&body)
}

fn send_output(
    shared: &Shared,
    api: Api,
    incoming: &Incoming,
    output: &Output,
    id: u64,
) -> Response {
    let (response, usage) = api.reply(incoming, output, id);
    shared
        .stats
        .tokens(usage.prompt_tokens, usage.completion_tokens);
    response
}

async fn send_fault(
    shared: &Shared,
    api: Api,
    incoming: &Incoming,
    fault: Fault,
    id: u64,
) -> Response {
    match fault {
        Fault::RateLimited => api.rate_limited(),
        Fault::ServerError => api.error(StatusCode::INTERNAL_SERVER_ERROR, "mock server error"),
        Fault::Timeout => {
            if !shared.sleep(TIMEOUT_FAULT_DELAY).await {
                return shutting_down(api);
            }
            api.error(
                StatusCode::GATEWAY_TIMEOUT,
                "mock timeout: no answer within 120 s",
            )
        }
        Fault::Malformed => api.malformed(id),
        // Cut off in the middle, as a model stopped early would leave it.
        Fault::BadJson => {
            let text = r#"{"commands": [{"command": "start_flow", "flow": "#.to_string();
            send_output(shared, api, incoming, &Output::Text(text), id)
        }
        Fault::SchemaBreaking => {
            send_output(shared, api, incoming, &Output::Json(json!({"foo": 1})), id)
        }
        Fault::Empty => send_output(shared, api, incoming, &Output::Text(String::new()), id),
    }
}

fn shutting_down(api: Api) -> Response {
    api.error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the mock server is shutting down",
    )
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
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": {"message": message, "type": "not_found"}})),
    )
        .into_response()
}
