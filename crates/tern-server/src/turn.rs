//! One user message through the server: ordering, idempotency, loading the
//! state, the turn pipeline (understanding, engine, actions), and one
//! version-checked commit of the new state with the turn's events.
//!
//! No database transaction is open while the LLM or a webhook is called:
//! the state is read, the turn runs, and the commit checks that nobody else
//! committed in between. On a conflict (another instance handled a message
//! of the same conversation meanwhile) the turn runs again on the new state.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tern_engine::{ActionOutcome, BotMessage, Command, DialogueState, Engine};
use tern_flow::SlotType;
use tern_store::{NewEvent, StoreError, TurnCommit};
use tern_understand::context::{HISTORY_WINDOW, HistoryTurn};
use tern_understand::turn::{ActionRunner, TurnInput, TurnOutput, run_turn};
use tern_understand::{LlmCall, TurnFailure};

use crate::claim::{ClaimState, TurnClaim, claim_wait, release};
use crate::error::ApiError;
use crate::metrics as m;
use crate::replay::{replay, request_digest};
use crate::state::Shared;

/// Longest user message accepted, in chars.
pub const MAX_TEXT_CHARS: usize = 4_000;
const MAX_ID_CHARS: usize = 200;
/// Longest file name accepted, in chars: the common file-system limit.
const MAX_NAME_CHARS: usize = 255;
const MAX_ATTACHMENTS: usize = 10;
/// Turns run again after a version conflict before giving up. Each retry
/// waits a random delay that doubles from [`CONFLICT_BACKOFF_MS`], so two
/// instances draining messages of one conversation stop colliding.
pub(crate) const MAX_CONFLICT_RETRIES: u32 = 8;
const CONFLICT_BACKOFF_MS: u64 = 5;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageRequest {
    #[serde(default)]
    pub text: String,
    pub message_id: Option<String>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// A file sent with a message: by URL, or by the id of an upload stored on
/// this server.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    pub name: String,
    pub content_type: Option<String>,
    pub size: Option<u64>,
    pub url: Option<String>,
    pub upload_id: Option<String>,
}

/// The stored state of a conversation: the engine's state and a short
/// window of recent turns for the prompt.
#[derive(Debug, Default, Serialize, Deserialize)]
struct SavedState {
    dialogue: DialogueState,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    history: Vec<HistoryTurn>,
}

/// Names of the request fields in error messages, which differ between
/// the message API and the Rasa channel.
#[derive(Clone, Copy)]
pub struct FieldNames {
    pub conversation: &'static str,
    pub text: &'static str,
}

impl FieldNames {
    pub const MESSAGE_API: FieldNames = FieldNames {
        conversation: "conversation id",
        text: "text",
    };
    pub const RASA: FieldNames = FieldNames {
        conversation: "sender",
        text: "message",
    };
}

/// Checks a message API request before anything else sees it.
pub fn check_request(conversation: &str, request: &MessageRequest) -> Result<(), ApiError> {
    check_request_named(conversation, request, FieldNames::MESSAGE_API)
}

/// Checks a request, naming its fields as the client wrote them.
pub fn check_request_named(
    conversation: &str,
    request: &MessageRequest,
    names: FieldNames,
) -> Result<(), ApiError> {
    check_id(names.conversation, conversation)?;
    if let Some(id) = &request.message_id {
        check_id("message_id", id)?;
    }
    check_text(names.text, &request.text)?;
    for attachment in &request.attachments {
        check_name("attachments[].name", &attachment.name)?;
        for value in [&attachment.content_type, &attachment.url]
            .into_iter()
            .flatten()
        {
            check_name("attachments[]", value)?;
        }
    }
    let chars = request.text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(ApiError::bad_request(
            "message_too_long",
            format!(
                "`{}` has {chars} characters; the limit is {MAX_TEXT_CHARS}",
                names.text
            ),
        ));
    }
    if request.text.trim().is_empty() && request.attachments.is_empty() {
        return Err(ApiError::bad_request(
            "empty_message",
            format!("the message has no `{}` and no `attachments`", names.text),
        )
        .hint(format!("send {{\"{}\": \"...\"}}", names.text)));
    }
    if request.attachments.len() > MAX_ATTACHMENTS {
        return Err(ApiError::bad_request(
            "too_many_attachments",
            format!("at most {MAX_ATTACHMENTS} attachments per message"),
        ));
    }
    for attachment in &request.attachments {
        if attachment.name.trim().is_empty()
            || (attachment.url.is_none() && attachment.upload_id.is_none())
        {
            return Err(ApiError::bad_request("invalid_attachment", format!("attachment `{}` needs a `name` and a `url` or `upload_id`", attachment.name))
                .hint("upload the file with POST /api/v1/conversations/{id}/uploads first, or give its URL"));
        }
        check_name("attachment name", &attachment.name)?;
        if let Some(url) = &attachment.url
            && !is_web_url(url)
        {
            return Err(ApiError::bad_request(
                "invalid_attachment",
                format!(
                    "attachment `{}` has the URL `{url}`, which is not an http:// or https:// URL",
                    attachment.name
                ),
            )
            .hint("give a web address, or upload the file and send its upload_id"));
        }
    }
    Ok(())
}

/// Rejects control characters other than line breaks and tabs: they have
/// no place in a chat message, and PostgreSQL cannot store U+0000.
pub fn check_text(field: &str, text: &str) -> Result<(), ApiError> {
    let bad = text
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'));
    match bad {
        None => Ok(()),
        Some(c) => Err(ApiError::bad_request(
            "invalid_text",
            format!(
                "`{field}` contains the control character U+{:04X}",
                c as u32
            ),
        )
        .hint("remove control characters; line breaks and tabs are allowed")),
    }
}

/// Rejects every control character, line breaks included: names end up in
/// HTTP headers and log lines.
/// Returns whether `url` is an `http://` or `https://` URL with a host. The
/// scheme may be in any case, as URL schemes are case-insensitive.
fn is_web_url(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    (scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
        && !host.is_empty()
}

pub fn check_name(field: &str, text: &str) -> Result<(), ApiError> {
    let length = text.chars().count();
    if length > MAX_NAME_CHARS {
        return Err(ApiError::bad_request(
            "invalid_text",
            format!("`{field}` has {length} characters; at most {MAX_NAME_CHARS} are allowed"),
        )
        .hint("shorten the file name"));
    }
    match text.chars().find(|c| c.is_control()) {
        None => Ok(()),
        Some(c) => Err(ApiError::bad_request(
            "invalid_text",
            format!(
                "`{field}` contains the control character U+{:04X}",
                c as u32
            ),
        )
        .hint("remove control characters and line breaks")),
    }
}

pub fn check_id(what: &str, id: &str) -> Result<(), ApiError> {
    let valid = !id.is_empty()
        && id != "."
        && id != ".."
        && id.chars().count() <= MAX_ID_CHARS
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:@".contains(c));
    if valid {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "invalid_id",
            format!(
                "invalid {what} `{}`",
                id.chars().take(60).collect::<String>()
            ),
        )
        .hint(format!(
            "use 1 to {MAX_ID_CHARS} ASCII letters, digits or `-_.:@`"
        )))
    }
}

/// Handles one message and returns the JSON response body. Every log line
/// of the turn, including those of the webhook caller, carries the
/// conversation id through the span.
#[tracing::instrument(name = "turn", skip_all, fields(conversation = %conversation))]
pub async fn process(
    shared: &Shared,
    conversation: &str,
    request: MessageRequest,
) -> Result<Value, ApiError> {
    let started = Instant::now();
    let tenant = shared.tenant.as_str();
    let _turn = shared
        .locks
        .acquire(format!("{tenant}/{conversation}"))
        .await;
    // Only a message id is stored with a fingerprint, so messages without
    // one skip the hashing.
    let digest = request
        .message_id
        .as_ref()
        .map(|_| request_digest(&request));
    if let Some(id) = &request.message_id
        && let Some(previous) = shared
            .store
            .processed(tenant, conversation, id)
            .await
            .map_err(store_error)?
    {
        return replay(
            previous,
            conversation,
            id,
            digest.as_deref().unwrap_or_default(),
        );
    }
    check_uploads(shared, conversation, &request).await?;
    for retry in 0..MAX_CONFLICT_RETRIES {
        match attempt(shared, conversation, &request, digest.as_deref(), started).await {
            Err(Retry::Conflict) => {
                metrics::counter!(m::CONFLICT_RETRIES).increment(1);
                tracing::info!(
                    conversation,
                    retry,
                    "another instance committed first; running the turn again"
                );
                tokio::time::sleep(conflict_backoff(retry)).await;
            }
            Err(Retry::Duplicate) => {
                let id = request.message_id.as_deref().unwrap_or_default();
                let previous = shared
                    .store
                    .processed(tenant, conversation, id)
                    .await
                    .map_err(store_error)?;
                return match previous {
                    Some(previous) => replay(
                        previous,
                        conversation,
                        id,
                        digest.as_deref().unwrap_or_default(),
                    ),
                    None => Err(ApiError::internal(
                        "duplicate message without a stored response",
                        &id,
                    )),
                };
            }
            Err(Retry::Failed(error)) => return Err(error),
            Ok(body) => return Ok(body),
        }
    }
    metrics::counter!(m::ERRORS, "kind" => "conflict").increment(1);
    Err(ApiError::new(
        axum::http::StatusCode::CONFLICT,
        "conversation_busy",
        "the conversation kept changing while this message was handled",
    )
    .hint("send the message again with the same message_id"))
}

pub(crate) fn conflict_backoff(retry: u32) -> std::time::Duration {
    use rand::RngExt;
    let ceiling = CONFLICT_BACKOFF_MS << retry.min(6);
    std::time::Duration::from_millis(rand::rng().random_range(1..=ceiling))
}

async fn release_held(shared: &Shared, conversation: &str, owner: Option<&str>) {
    if let Some(owner) = owner {
        release(shared, conversation, owner).await;
    }
}

/// Every `upload_id` must name an upload of this conversation.
async fn check_uploads(
    shared: &Shared,
    conversation: &str,
    request: &MessageRequest,
) -> Result<(), ApiError> {
    for id in request
        .attachments
        .iter()
        .filter_map(|a| a.upload_id.as_deref())
    {
        check_id("upload_id", id)?;
        let upload = shared
            .store
            .load_upload(&shared.tenant, id)
            .await
            .map_err(store_error)?;
        if upload.is_none_or(|u| u.conversation != conversation) {
            return Err(ApiError::bad_request("upload_not_found", format!("no upload `{id}` in this conversation"))
                .hint("upload the file with POST /api/v1/conversations/{id}/uploads and use the returned upload_id"));
        }
    }
    Ok(())
}

/// Reads the conversation's row: its version (`None` when new) and state.
async fn load_saved(
    shared: &Shared,
    conversation: &str,
) -> Result<(Option<i64>, SavedState), Retry> {
    let stored = loop {
        let stored = shared
            .store
            .load(&shared.tenant, conversation)
            .await
            .map_err(|e| Retry::Failed(store_error(e)))?;
        let Some(wait) = stored.as_ref().and_then(claim_wait) else {
            break stored;
        };
        tracing::debug!(
            conversation,
            "another instance is calling webhooks for this conversation; waiting for its commit"
        );
        tokio::time::sleep(wait).await;
    };
    let Some(row) = stored else {
        return Ok((None, SavedState::default()));
    };
    let saved = serde_json::from_value::<SavedState>(row.state).unwrap_or_else(|error| {
        tracing::error!(conversation, %error, "stored state is unreadable; starting the conversation afresh");
        SavedState::default()
    });
    Ok((Some(row.version), saved))
}

/// Runs the understanding, the engine and the action calls for the message.
async fn run_message(
    shared: &Shared,
    conversation: &str,
    request: &MessageRequest,
    version: Option<i64>,
    saved: &SavedState,
    claim: &TurnClaim<'_>,
) -> TurnOutput {
    let engine = shared.engine();
    let uploads = attachment_commands(&engine, &saved.dialogue, &request.attachments);
    let turn_key = match &request.message_id {
        Some(id) => format!("{conversation}/m/{id}"),
        None => format!("{conversation}/v/{}", version.unwrap_or(0)),
    };
    let runner = Actions {
        shared,
        turn_key,
        calls: std::sync::atomic::AtomicU32::new(0),
        claim,
    };
    let input = TurnInput {
        message: &request.text,
        history: &saved.history,
        extra_commands: uploads,
    };
    run_turn(
        &engine,
        &shared.understander,
        &runner,
        saved.dialogue.clone(),
        input,
    )
    .await
}

enum Retry {
    Conflict,
    Duplicate,
    Failed(ApiError),
}

/// Runs the turn once on the stored state and commits it.
async fn attempt(
    shared: &Shared,
    conversation: &str,
    request: &MessageRequest,
    digest: Option<&str>,
    started: Instant,
) -> Result<Value, Retry> {
    let tenant = shared.tenant.as_str();
    let (loaded_version, saved) = load_saved(shared, conversation).await?;
    // Only a claim that creates the conversation stores this state, so it
    // is built for new conversations alone.
    let initial_state = match loaded_version {
        None => json!(SavedState::default()),
        Some(_) => Value::Null,
    };
    let claim = TurnClaim::new(shared, conversation, loaded_version, initial_state);
    let output = run_message(
        shared,
        conversation,
        request,
        loaded_version,
        &saved,
        &claim,
    )
    .await;
    record_llm_calls(&output.calls);
    let (claim, owner) = claim.finish();
    let (version, claim_owner) = match claim {
        ClaimState::Unclaimed => (loaded_version, None),
        ClaimState::Held { version, .. } => (Some(version), Some(owner.as_str())),
        ClaimState::Lost => return Err(Retry::Conflict),
        ClaimState::Failed(error) => {
            release(shared, conversation, &owner).await;
            return Err(Retry::Failed(store_error(error)));
        }
    };

    let (dialogue, messages) = match &output.failure {
        None => (output.state.clone(), output.messages.clone()),
        Some(failure) => {
            log_failure(conversation, failure);
            let apology = BotMessage {
                text: shared.config.llm.apology.clone(),
                buttons: Vec::new(),
            };
            (saved.dialogue.clone(), vec![apology])
        }
    };
    let history = next_history(saved.history, &request.text, &messages);
    let state = json!(SavedState {
        dialogue: dialogue.clone(),
        history
    });
    let body = response_body(conversation, request, &dialogue, &messages, &output);
    let events = turn_events(request, &output, &messages);

    let commit = TurnCommit {
        tenant,
        conversation,
        expected_version: version,
        state: &state,
        events: &events,
        // A failed turn is recorded without its message id, so the client's
        // retry with the same id is handled anew instead of replaying the
        // apology.
        message_id: if output.failure.is_some() {
            None
        } else {
            request.message_id.as_deref()
        },
        response: &body,
        request_digest: digest,
        claim_owner,
    };
    match shared.store.commit_turn(commit).await {
        Ok(_) => {}
        Err(StoreError::Conflict { .. }) => return Err(Retry::Conflict),
        Err(StoreError::DuplicateMessage { .. }) => {
            release_held(shared, conversation, claim_owner).await;
            return Err(Retry::Duplicate);
        }
        Err(error) => {
            release_held(shared, conversation, claim_owner).await;
            return Err(Retry::Failed(store_error(error)));
        }
    }
    finish_metrics(&output, started);
    shared.streams.publish(conversation, &body);
    Ok(body)
}

fn store_error(error: StoreError) -> ApiError {
    ApiError::store("database operation failed", &error)
}

fn log_failure(conversation: &str, failure: &TurnFailure) {
    match failure {
        TurnFailure::Understanding(failure) => {
            metrics::counter!(m::ERRORS, "kind" => failure.error.kind()).increment(1);
            tracing::error!(conversation, error = %failure.error, kind = failure.error.kind(), "the LLM failed; sent the apology and kept the state");
        }
        TurnFailure::TooManyNeeds => {
            metrics::counter!(m::ERRORS, "kind" => "too_many_actions").increment(1);
            tracing::error!(
                conversation,
                "the flows called too many actions in one turn; kept the state"
            );
        }
    }
}

/// An uploaded file answers the open `file` question.
fn attachment_commands(
    engine: &Engine<'_>,
    state: &DialogueState,
    attachments: &[Attachment],
) -> Vec<Command> {
    let Some(collect) = engine
        .asked_collect(state)
        .filter(|c| c.slot_type == SlotType::File)
    else {
        return Vec::new();
    };
    let Some(first) = attachments.first() else {
        return Vec::new();
    };
    let value = serde_json::to_value(first).unwrap_or(Value::Null);
    let value = strip_nulls(value);
    vec![Command::SetSlot {
        slot: collect.store_as.clone(),
        value,
    }]
}

fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).collect())
        }
        other => other,
    }
}

fn next_history(
    mut history: Vec<HistoryTurn>,
    text: &str,
    messages: &[BotMessage],
) -> Vec<HistoryTurn> {
    history.push(HistoryTurn::user(text));
    history.extend(messages.iter().map(|m| HistoryTurn::bot(m.text.clone())));
    let excess = history.len().saturating_sub(HISTORY_WINDOW);
    history.drain(..excess);
    history
}

fn response_body(
    conversation: &str,
    request: &MessageRequest,
    state: &DialogueState,
    messages: &[BotMessage],
    output: &TurnOutput,
) -> Value {
    json!({
        "conversation_id": conversation,
        "message_id": request.message_id,
        "messages": messages,
        "flow": state.active_flow(),
        "step": state.active_step(),
        "handed_off": state.handed_off,
        "llm_calls": output.calls.len(),
    })
}

/// The turn's history rows: the user message, LLM calls, the engine's
/// events and the bot messages, in that order.
fn turn_events(
    request: &MessageRequest,
    output: &TurnOutput,
    messages: &[BotMessage],
) -> Vec<NewEvent> {
    let mut events = vec![event(
        "user_message",
        json!({
            "text": request.text,
            "message_id": request.message_id,
            "attachments": request.attachments,
        }),
    )];
    for call in &output.calls {
        events.push(event("llm_call", json!(call)));
    }
    if !output.commands.is_empty() {
        events.push(event("commands", json!(output.commands)));
    }
    for engine_event in &output.events {
        let payload = serde_json::to_value(engine_event).unwrap_or(Value::Null);
        events.push(event(engine_event.name(), payload));
    }
    if let Some(failure) = &output.failure {
        let reason = match failure {
            TurnFailure::Understanding(f) => f.error.to_string(),
            TurnFailure::TooManyNeeds => "too many action calls in one turn".into(),
        };
        events.push(event("turn_failed", json!({ "reason": reason })));
    }
    for message in messages {
        events.push(event("bot_message", json!(message)));
    }
    events
}

fn event(kind: &str, payload: Value) -> NewEvent {
    NewEvent {
        kind: kind.to_string(),
        payload,
    }
}

fn record_llm_calls(calls: &[LlmCall]) {
    for call in calls {
        metrics::counter!(m::LLM_CALLS, "purpose" => call.purpose, "outcome" => call.outcome)
            .increment(1);
        metrics::counter!(m::LLM_TOKENS, "kind" => "prompt")
            .increment(u64::from(call.prompt_tokens));
        metrics::counter!(m::LLM_TOKENS, "kind" => "completion")
            .increment(u64::from(call.completion_tokens));
        metrics::histogram!(m::LLM_SECONDS).record(call.latency_ms as f64 / 1000.0);
    }
}

fn finish_metrics(output: &TurnOutput, started: Instant) {
    let outcome = if output.failure.is_some() {
        "failed"
    } else {
        "ok"
    };
    metrics::counter!(m::TURNS, "outcome" => outcome).increment(1);
    let total = started.elapsed().as_secs_f64();
    let llm: f64 = output
        .calls
        .iter()
        .map(|c| c.latency_ms as f64 / 1000.0)
        .sum();
    metrics::histogram!(m::TURN_SECONDS).record(total);
    metrics::histogram!(m::TURN_SECONDS_WITHOUT_LLM).record((total - llm).max(0.0));
    for dropped in &output.dropped {
        tracing::info!(command = %dropped.command, reason = %dropped.reason, "dropped a command from the model");
    }
    if !output.dropped.is_empty() {
        metrics::counter!(m::COMMANDS_DROPPED).increment(output.dropped.len() as u64);
    }
}

/// Runs action webhooks for the engine. Each call carries an idempotency
/// key made of the conversation, the message (its id, or the state version
/// it was handled from) and the call's number within the turn, so a repeat
/// of the same turn sends the same keys.
struct Actions<'s> {
    shared: &'s Shared,
    turn_key: String,
    calls: std::sync::atomic::AtomicU32,
    claim: &'s TurnClaim<'s>,
}

impl ActionRunner for Actions<'_> {
    fn run<'a>(
        &'a self,
        action: &'a str,
        parameters: &'a Map<String, Value>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ActionOutcome> + Send + 'a>> {
        Box::pin(async move {
            let Some(definition) = self.shared.assistant.actions.get(action) else {
                metrics::counter!(m::ACTION_CALLS, "action" => action.to_string(), "outcome" => "unknown_action").increment(1);
                return ActionOutcome::Failure {
                    error: format!("action `{action}` is not registered"),
                };
            };
            if !self.claim.before_call().await {
                return ActionOutcome::Failure {
                    error: "the conversation changed on another instance; the turn runs again"
                        .to_string(),
                };
            }
            let number = self
                .calls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1;
            let key = format!("{}/{number}/{action}", self.turn_key);
            let report = self
                .shared
                .caller
                .call_with_key(definition, parameters, Some(&key))
                .await;
            let outcome = report.error_kind.unwrap_or("ok");
            metrics::counter!(m::ACTION_CALLS, "action" => action.to_string(), "outcome" => outcome).increment(1);
            metrics::histogram!(m::ACTION_SECONDS).record(report.latency.as_secs_f64());
            report.outcome
        })
    }
}

#[cfg(test)]
mod tests {
    use super::is_web_url;

    #[test]
    fn web_url_needs_http_scheme_and_host() {
        for url in [
            "https://example.com/a.jpg",
            "HTTP://127.0.0.1/a",
            "http://h?x=1",
        ] {
            assert!(is_web_url(url), "{url}");
        }
        for url in [
            "http://",
            "http:/x",
            "javascript:alert(1)",
            "ftp://h/a",
            "https:///a",
        ] {
            assert!(!is_web_url(url), "{url}");
        }
    }
}
