//! Human agents after a hand-over: while a conversation is handed over the
//! engine stays silent, and an agent answers through the admin API. The
//! agent's messages are stored in the transcript and sent to live
//! subscribers; releasing the conversation gives it back to the assistant.

use serde::Deserialize;
use serde_json::{Value, json};
use tern_store::{NewEvent, StoreError, TurnCommit};

use crate::error::ApiError;
use crate::state::Shared;
use crate::turn::{MAX_CONFLICT_RETRIES, MAX_TEXT_CHARS, check_text, conflict_backoff};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentRequest {
    /// A message to the user; may be empty when only releasing.
    #[serde(default)]
    pub text: String,
    /// Give the conversation back to the assistant after this message.
    #[serde(default)]
    pub release: bool,
}

/// Stores an agent's message (and the release) in one version-checked
/// commit, then sends it to live subscribers.
pub async fn post(
    shared: &Shared,
    conversation: &str,
    request: AgentRequest,
) -> Result<Value, ApiError> {
    check_text("text", &request.text)?;
    if request.text.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::bad_request(
            "message_too_long",
            format!("`text` is longer than {MAX_TEXT_CHARS} characters"),
        ));
    }
    if request.text.trim().is_empty() && !request.release {
        return Err(ApiError::bad_request(
            "empty_message",
            "the request has no `text` and does not release the conversation",
        )
        .hint("send {\"text\": \"...\"}, {\"release\": true}, or both"));
    }
    let tenant = shared.tenant.as_str();
    let _turn = shared
        .locks
        .acquire(format!("{tenant}/{conversation}"))
        .await;
    // Another instance may commit a turn of the conversation in between, as
    // for user messages: the message is then written again on the new state.
    for retry in 0..MAX_CONFLICT_RETRIES {
        match attempt(shared, conversation, &request).await {
            Err(AgentError::Conflict) => {
                metrics::counter!(crate::metrics::CONFLICT_RETRIES).increment(1);
                tokio::time::sleep(conflict_backoff(retry)).await;
            }
            Err(AgentError::Failed(error)) => return Err(error),
            Ok(body) => {
                shared.streams.publish(conversation, &body);
                return Ok(body);
            }
        }
    }
    Err(ApiError::new(
        axum::http::StatusCode::CONFLICT,
        "conversation_busy",
        "the conversation kept changing while the agent message was stored",
    )
    .hint("send the agent message again"))
}

enum AgentError {
    Conflict,
    Failed(ApiError),
}

impl From<ApiError> for AgentError {
    fn from(error: ApiError) -> Self {
        AgentError::Failed(error)
    }
}

/// Loads the conversation and commits the agent's message on it once.
async fn attempt(
    shared: &Shared,
    conversation: &str,
    request: &AgentRequest,
) -> Result<Value, AgentError> {
    let tenant = shared.tenant.as_str();
    let internal = |e: StoreError| ApiError::store("storing an agent message failed", &e);
    let row = shared
        .store
        .load(tenant, conversation)
        .await
        .map_err(internal)?;
    let row = row.ok_or_else(|| {
        ApiError::not_found(
            "conversation_not_found",
            format!("no conversation `{conversation}`"),
        )
    })?;
    let mut state = row.state;
    if state["dialogue"]["handed_off"] != json!(true) {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "not_handed_off",
            "the conversation is not handed over to a person",
        )
        .hint("agents answer only after the assistant hands a conversation over")
        .into());
    }
    let mut events = Vec::new();
    let mut messages = Vec::new();
    if !request.text.trim().is_empty() {
        events.push(NewEvent {
            kind: "agent_message".into(),
            payload: json!({ "text": request.text }),
        });
        messages.push(json!({ "text": request.text }));
    }
    if request.release {
        state["dialogue"]["handed_off"] = json!(false);
        events.push(NewEvent {
            kind: "handoff_released".into(),
            payload: json!({}),
        });
    }
    let body = json!({
        "conversation_id": conversation,
        "messages": messages,
        "from": "agent",
        "handed_off": !request.release,
    });
    let commit = TurnCommit {
        tenant,
        conversation,
        expected_version: Some(row.version),
        state: &state,
        events: &events,
        message_id: None,
        request_digest: None,
        claim_owner: None,
        response: &body,
    };
    match shared.store.commit_turn(commit).await {
        Ok(_) => {}
        Err(StoreError::Conflict { .. }) => return Err(AgentError::Conflict),
        Err(error) => return Err(internal(error).into()),
    }
    tracing::info!(
        conversation,
        release = request.release,
        "agent message stored"
    );
    Ok(body)
}
