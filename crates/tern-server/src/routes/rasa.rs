//! Rasa's REST channel, so existing Rasa front ends work unchanged:
//! `POST /webhooks/rest/webhook` with `{sender, message}` answers a list of
//! `{recipient_id, text, buttons}`.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use super::conversations::{RASA_EXAMPLE, json_error};
use crate::auth::require_client;
use crate::error::ApiError;
use crate::state::AppState;
use crate::turn::{FieldNames, MessageRequest, check_request_named, process};

#[derive(Deserialize)]
pub struct RasaMessage {
    sender: String,
    message: String,
    /// Accepted for compatibility with Rasa clients; not used.
    #[serde(default)]
    #[allow(dead_code)]
    metadata: Option<Value>,
}

pub async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<RasaMessage>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    require_client(state.config.client_key.as_deref(), &headers)?;
    let Json(message) = body.map_err(json_error(RASA_EXAMPLE))?;
    let request = MessageRequest {
        text: message.message,
        message_id: None,
        attachments: Vec::new(),
    };
    check_request_named(&message.sender, &request, FieldNames::RASA)?;
    let reply = process(&state, &message.sender, request).await?;
    let messages = reply["messages"].as_array().cloned().unwrap_or_default();
    let out: Vec<Value> = messages
        .into_iter()
        .map(|m| {
            let mut item = json!({ "recipient_id": message.sender, "text": m["text"] });
            if let Some(buttons) = m
                .get("buttons")
                .and_then(Value::as_array)
                .filter(|b| !b.is_empty())
            {
                item["buttons"] = json!(buttons);
            }
            item
        })
        .collect();
    Ok(Json(Value::Array(out)))
}
