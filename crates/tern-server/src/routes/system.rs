//! Health, readiness, metrics, the OpenAPI document and the flow list.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::auth::require_admin;
use crate::error::ApiError;
use crate::state::AppState;

const OPENAPI: &str = include_str!("../../openapi.json");
const WEB_CHAT: &str = include_str!("../../web/chat.html");

/// A small web chat page that talks to the message API. A client key, if
/// the server requires one, is passed as `?key=KEY`.
pub async fn web_chat() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        WEB_CHAT,
    )
}

pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready when the database answers.
pub async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    match state.store.ping().await {
        Ok(()) => Ok(Json(
            json!({ "status": "ready", "database": state.store.backend() }),
        )),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            Err(ApiError::database_unavailable(&error))
        }
    }
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// The assistant's flows. Admin-only: flow descriptions are configuration.
pub async fn list_flows(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    require_admin(state.config.admin_key.as_deref(), &headers, peer)?;
    let flows: Vec<Value> = state
        .assistant
        .flows
        .flows
        .values()
        .map(|flow| {
            json!({
                "id": flow.id,
                "name": flow.name,
                "description": flow.description.source(),
                "intents": flow.intents,
                "steps": flow.steps.len(),
                "user_startable": flow.user_startable(),
                "guarded": flow.guard.is_some(),
            })
        })
        .collect();
    Ok(Json(json!({ "flows": flows })))
}

/// A known path called with a method it does not serve. axum adds the
/// `Allow` header listing the methods it does serve.
pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", format!("`{method}` is not allowed on `{}`", uri.path()))
        .hint("the `Allow` header lists the methods this path accepts; GET /openapi.json lists the endpoints")
}

pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found("route_not_found", format!("no route for `{}`", uri.path()))
        .hint("GET /openapi.json lists the endpoints")
}
