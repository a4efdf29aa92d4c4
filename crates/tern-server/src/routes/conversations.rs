//! Conversation endpoints: messages, state, transcript, deletion, live
//! replies and uploads.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::Stream;
use serde::Deserialize;
use serde_json::{Value, json};
use tern_store::NewUpload;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use crate::auth::{require_admin, require_client};
use crate::error::ApiError;
use crate::state::AppState;
use crate::turn::{MessageRequest, check_id, check_request, process};

pub async fn post_message(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<MessageRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    require_client(state.config.client_key.as_deref(), &headers)?;
    let Json(request) = body.map_err(json_error(MESSAGE_EXAMPLE))?;
    check_request(&id, &request)?;
    process(&state, &id, request).await.map(Json)
}

/// Example bodies named in the hints of JSON errors, one per endpoint.
pub const MESSAGE_EXAMPLE: &str = r#"{"text": "hello"}"#;
pub const RASA_EXAMPLE: &str = r#"{"sender": "user-1", "message": "hello"}"#;
pub const AGENT_EXAMPLE: &str = r#"{"text": "An agent will call you today.", "release": false}"#;

/// Turns axum's JSON rejection into the API's error shape, with a hint that
/// shows `example` as a valid body.
pub fn json_error(example: &'static str) -> impl Fn(JsonRejection) -> ApiError {
    move |rejection| json_rejection(rejection, example)
}

fn json_rejection(rejection: JsonRejection, example: &str) -> ApiError {
    let status = rejection.status();
    // A body that is JSON but of the wrong shape (axum answers 422) is a bad
    // request like any other invalid body.
    let status = if status == StatusCode::UNPROCESSABLE_ENTITY {
        StatusCode::BAD_REQUEST
    } else {
        status
    };
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        _ => "invalid_json",
    };
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(
            status,
            code,
            format!(
                "the JSON body is larger than {} KiB",
                super::MAX_JSON_BYTES / 1024
            ),
        )
        .hint("send a shorter message; files go through the uploads endpoint");
    }
    ApiError::new(status, code, rejection.body_text()).hint(format!(
        "send a JSON body with `Content-Type: application/json`, such as {example}"
    ))
}

/// Turns axum's query-string rejection into the API's error shape.
fn query_error(rejection: QueryRejection) -> ApiError {
    ApiError::bad_request("invalid_query", rejection.body_text())
}

/// Turns a failure to read an upload body into the API's error shape.
fn body_error(rejection: BytesRejection, limit: usize) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the upload is larger than {limit} bytes"),
        )
        .hint("send a smaller file, or raise `max_upload_bytes` in the server configuration");
    }
    ApiError::new(rejection.status(), "invalid_body", rejection.body_text())
}

/// A human agent's message to a handed-over conversation (admin).
pub async fn post_agent_message(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<crate::agent::AgentRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    require_admin(state.config.admin_key.as_deref(), &headers, peer)?;
    check_id("conversation id", &id)?;
    let Json(request) = body.map_err(json_error(AGENT_EXAMPLE))?;
    crate::agent::post(&state, &id, request).await.map(Json)
}

pub async fn get_conversation(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    require_admin(state.config.admin_key.as_deref(), &headers, peer)?;
    check_id("conversation id", &id)?;
    let stored = state
        .store
        .load(&state.tenant, &id)
        .await
        .map_err(|e| ApiError::store("loading a conversation failed", &e))?;
    let row = stored.ok_or_else(|| not_found(&id))?;
    Ok(Json(json!({
        "conversation_id": id,
        "version": row.version,
        "state": row.state.get("dialogue"),
        "history": row.state.get("history"),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    })))
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found("conversation_not_found", format!("no conversation `{id}`"))
}

#[derive(Deserialize)]
pub struct TranscriptQuery {
    #[serde(default)]
    after: i64,
    limit: Option<u32>,
}

/// Most events returned per transcript page.
const MAX_PAGE: u32 = 500;

pub async fn get_transcript(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<TranscriptQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    require_admin(state.config.admin_key.as_deref(), &headers, peer)?;
    check_id("conversation id", &id)?;
    let Query(query) = query.map_err(|rejection| {
        query_error(rejection).hint(
            "`after` is the last `seq` already read and `limit` the page size, both whole numbers",
        )
    })?;
    if query.after < 0 || query.limit == Some(0) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!(
                "invalid page: after={} limit={}",
                query.after,
                query
                    .limit
                    .map_or("none".to_string(), |limit| limit.to_string())
            ),
        )
        .hint("`after` is 0 or the last `seq` already read, and `limit` is 1 or more"));
    }
    let limit = query.limit.unwrap_or(100).min(MAX_PAGE);
    let events = state
        .store
        .transcript(&state.tenant, &id, query.after, limit)
        .await
        .map_err(|e| ApiError::store("reading a transcript failed", &e))?;
    // An empty page is also what an unknown conversation gives, so only then
    // is the conversation's row read to tell the two apart.
    if events.is_empty() {
        let stored = state
            .store
            .load(&state.tenant, &id)
            .await
            .map_err(|e| ApiError::store("loading a conversation failed", &e))?;
        if stored.is_none() {
            return Err(not_found(&id));
        }
    }
    let events: Vec<Value> = events
        .into_iter()
        .map(|e| json!({ "seq": e.seq, "kind": e.kind, "payload": e.payload, "created_at": e.created_at }))
        .collect();
    let next = events.last().and_then(|e| e["seq"].as_i64());
    Ok(Json(
        json!({ "conversation_id": id, "events": events, "next_after": next }),
    ))
}

pub async fn delete_conversation(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_admin(state.config.admin_key.as_deref(), &headers, peer)?;
    check_id("conversation id", &id)?;
    let _turn = state.locks.acquire(format!("{}/{id}", state.tenant)).await;
    let deleted = state
        .store
        .delete_conversation(&state.tenant, &id)
        .await
        .map_err(|e| ApiError::store("deleting a conversation failed", &e))?;
    if deleted {
        tracing::info!(conversation = %id, "conversation deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&id))
    }
}

/// Server-sent events: each reply of the conversation as one `reply` event.
pub async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    require_client(state.config.client_key.as_deref(), &headers)?;
    check_id("conversation id", &id)?;
    let receiver = state.streams.subscribe(&id);
    let events = BroadcastStream::new(receiver).filter_map(|reply| {
        let reply = reply.ok()?;
        Some(Ok(SseEvent::default()
            .event("reply")
            .data(reply.to_string())))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

#[derive(Deserialize)]
pub struct UploadQuery {
    name: Option<String>,
}

pub async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<UploadQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    require_client(state.config.client_key.as_deref(), &headers)?;
    check_id("conversation id", &id)?;
    let Query(query) = query
        .map_err(|rejection| query_error(rejection).hint("add `?name=FILE_NAME` to the URL"))?;
    let body = body.map_err(|rejection| body_error(rejection, state.config.max_upload_bytes))?;
    let name = query.name.filter(|n| !n.trim().is_empty()).ok_or_else(|| {
        ApiError::bad_request("missing_file_name", "the upload has no file name")
            .hint("add `?name=FILE_NAME` to the URL")
    })?;
    crate::turn::check_name("name", &name)?;
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "empty_upload",
            "the upload body is empty",
        ));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream");
    let upload = NewUpload {
        tenant: &state.tenant,
        conversation: &id,
        name: &name,
        content_type,
        data: &body,
    };
    let upload_id = state
        .store
        .save_upload(upload)
        .await
        .map_err(|e| ApiError::store("storing an upload failed", &e))?;
    let attachment = json!({
        "name": name,
        "content_type": content_type,
        "size": body.len(),
        "upload_id": upload_id,
    });
    Ok((StatusCode::CREATED, Json(attachment)))
}

pub async fn get_upload(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require_admin(state.config.admin_key.as_deref(), &headers, peer)?;
    check_id("upload id", &id)?;
    let upload = state
        .store
        .load_upload(&state.tenant, &id)
        .await
        .map_err(|e| ApiError::store("reading an upload failed", &e))?;
    let upload = upload
        .ok_or_else(|| ApiError::not_found("upload_not_found", format!("no upload `{id}`")))?;
    // Only the last path component is offered as the file name, so a name
    // such as `../../etc/passwd` cannot suggest a place to save the file.
    let file_name = upload
        .name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .replace('"', "");
    let disposition = format!("attachment; filename=\"{file_name}\"");
    Ok((
        [
            (header::CONTENT_TYPE, upload.content_type),
            (header::CONTENT_DISPOSITION, disposition),
            // The content type is the uploader's claim, so browsers must not
            // sniff the file into something they would run.
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        upload.data,
    )
        .into_response())
}
