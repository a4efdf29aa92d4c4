//! SQL statements that both backends run unchanged, and helpers they share.
//!
//! SQLite accepts PostgreSQL's `$N` placeholders, and both accept
//! `ON CONFLICT ... DO NOTHING` and `RETURNING`. Every statement a turn runs
//! is keyed by `(tenant_id, conversation_id)`.

use serde_json::Value;
use sqlx::types::Json;

use crate::{StoreError, StoredConversation, StoredEvent, TurnCommit, Upload};

/// Checks that the database answers and still has the schema: a database
/// dropped and created again empty fails here, not on the first message.
pub(crate) const PING: &str = "SELECT 1 FROM conversations LIMIT 1";

pub(crate) const LOAD_CONVERSATION: &str = "\
    SELECT version, last_seq, state, created_at, updated_at, claim_until FROM conversations \
    WHERE tenant_id = $1 AND conversation_id = $2";

pub(crate) const LOAD_RESPONSE: &str = "\
    SELECT response, request_digest FROM processed_messages \
    WHERE tenant_id = $1 AND conversation_id = $2 AND message_id = $3";

/// Binds: tenant, conversation, last_seq, state, now. Affects 0 rows when the
/// conversation exists.
pub(crate) const INSERT_CONVERSATION: &str = "\
    INSERT INTO conversations \
    (tenant_id, conversation_id, version, last_seq, state, created_at, updated_at) \
    VALUES ($1, $2, 1, $3, $4, $5, $5) \
    ON CONFLICT (tenant_id, conversation_id) DO NOTHING";

/// Binds: tenant, conversation, number of new events, state, now, expected
/// version, claim owner. Returns no row when the version check fails or
/// another owner's claim has not expired. Clears the claim.
pub(crate) const UPDATE_CONVERSATION: &str = "\
    UPDATE conversations \
    SET version = version + 1, last_seq = last_seq + $3, state = $4, updated_at = $5, \
        claim_owner = NULL, claim_until = NULL \
    WHERE tenant_id = $1 AND conversation_id = $2 AND version = $6 \
      AND (claim_owner IS NULL OR claim_owner = $7 OR claim_until < $5) \
    RETURNING version, last_seq";

/// Binds: tenant, conversation, owner, until, expected version, now.
/// Affects no row when the version check fails or another owner's claim
/// has not expired.
pub(crate) const CLAIM_CONVERSATION: &str = "\
    UPDATE conversations SET claim_owner = $3, claim_until = $4 \
    WHERE tenant_id = $1 AND conversation_id = $2 AND version = $5 \
      AND (claim_owner IS NULL OR claim_owner = $3 OR claim_until < $6)";

/// Binds: tenant, conversation, state, now, owner, until. Creates the
/// conversation at version 0, claimed. Affects no row when it exists.
pub(crate) const INSERT_CLAIMED_CONVERSATION: &str = "\
    INSERT INTO conversations \
    (tenant_id, conversation_id, version, last_seq, state, created_at, updated_at, \
     claim_owner, claim_until) \
    VALUES ($1, $2, 0, 0, $3, $4, $4, $5, $6) \
    ON CONFLICT (tenant_id, conversation_id) DO NOTHING";

/// Binds: tenant, conversation, owner.
pub(crate) const RELEASE_CLAIM: &str = "\
    UPDATE conversations SET claim_owner = NULL, claim_until = NULL \
    WHERE tenant_id = $1 AND conversation_id = $2 AND claim_owner = $3";

/// Followed by one `VALUES` tuple per event.
pub(crate) const INSERT_EVENTS: &str =
    "INSERT INTO events (tenant_id, conversation_id, seq, kind, payload, created_at) ";

/// Events per `INSERT` statement. 6 binds each keep a statement far below
/// SQLite's limit of 32766 bound parameters and PostgreSQL's of 65535.
pub(crate) const EVENTS_PER_INSERT: usize = 500;

/// Affects 0 rows when the message id was processed before.
pub(crate) const INSERT_PROCESSED: &str = "\
    INSERT INTO processed_messages \
    (tenant_id, conversation_id, message_id, response, created_at, request_digest) \
    VALUES ($1, $2, $3, $4, $5, $6) \
    ON CONFLICT (tenant_id, conversation_id, message_id) DO NOTHING";

pub(crate) const TRANSCRIPT: &str = "\
    SELECT seq, kind, payload, created_at FROM events \
    WHERE tenant_id = $1 AND conversation_id = $2 AND seq > $3 \
    ORDER BY seq LIMIT $4";

pub(crate) const DELETE_EVENTS: &str =
    "DELETE FROM events WHERE tenant_id = $1 AND conversation_id = $2";

pub(crate) const DELETE_PROCESSED: &str =
    "DELETE FROM processed_messages WHERE tenant_id = $1 AND conversation_id = $2";

pub(crate) const DELETE_UPLOADS: &str =
    "DELETE FROM uploads WHERE tenant_id = $1 AND conversation_id = $2";

pub(crate) const DELETE_CONVERSATION: &str =
    "DELETE FROM conversations WHERE tenant_id = $1 AND conversation_id = $2";

/// Deletes the conversation only while it is still older than the cutoff in
/// `$3`, so that a turn committed during pruning keeps it.
pub(crate) const DELETE_STALE_CONVERSATION: &str = "\
    DELETE FROM conversations \
    WHERE tenant_id = $1 AND conversation_id = $2 AND updated_at < $3";

pub(crate) const SELECT_STALE_CONVERSATIONS: &str = "\
    SELECT tenant_id, conversation_id FROM conversations \
    WHERE updated_at < $1 ORDER BY updated_at LIMIT $2";

/// Conversations removed per batch while pruning. Each one is deleted in its
/// own transaction, so no transaction spans conversations.
pub(crate) const PRUNE_BATCH: i64 = 256;

pub(crate) const DELETE_ORPHAN_UPLOADS: &str = "\
    DELETE FROM uploads WHERE created_at < $1 AND NOT EXISTS ( \
        SELECT 1 FROM conversations \
        WHERE conversations.tenant_id = uploads.tenant_id \
        AND conversations.conversation_id = uploads.conversation_id)";

pub(crate) const INSERT_UPLOAD: &str = "\
    INSERT INTO uploads \
    (tenant_id, upload_id, conversation_id, name, content_type, size, data, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

pub(crate) const LOAD_UPLOAD: &str = "\
    SELECT upload_id, conversation_id, name, content_type, size, data, created_at \
    FROM uploads WHERE tenant_id = $1 AND upload_id = $2";

/// Counts every row, so it reads each table in full.
pub(crate) const COUNT_ROWS: &str = "\
    SELECT (SELECT COUNT(*) FROM conversations), (SELECT COUNT(*) FROM events), \
    (SELECT COUNT(*) FROM processed_messages), (SELECT COUNT(*) FROM uploads)";

/// Returns the current time in unix milliseconds.
pub(crate) fn now_unix_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

/// Returns the cutoff for [`crate::Store::prune`]: now minus `age`, in unix
/// milliseconds.
pub(crate) fn cutoff_before_now(age: std::time::Duration) -> i64 {
    let age_ms = i64::try_from(age.as_millis()).unwrap_or(i64::MAX);
    now_unix_ms().saturating_sub(age_ms)
}

/// Returns a new upload id: 128 random bits as 32 hex digits, so that ids
/// cannot be guessed from one another.
pub(crate) fn new_upload_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Returns the `seq` of the first event a commit appended, from the
/// conversation's `last_seq` after the commit.
pub(crate) fn first_new_seq(last_seq_after: i64, event_count: usize) -> i64 {
    last_seq_after - event_count as i64 + 1
}

/// Returns [`StoreError::Conflict`] for a turn whose version check failed.
/// The conflict returned when a claim affects no row.
pub(crate) fn claim_conflict(
    tenant: &str,
    conversation: &str,
    expected_version: Option<i64>,
) -> StoreError {
    tracing::debug!(
        tenant,
        conversation,
        expected_version,
        "claim failed: the conversation changed or another turn owns a claim on it"
    );
    StoreError::Conflict {
        conversation: conversation.to_string(),
    }
}

pub(crate) fn conflict(turn: &TurnCommit<'_>) -> StoreError {
    tracing::debug!(
        tenant = turn.tenant,
        conversation = turn.conversation,
        expected_version = turn.expected_version,
        "version check failed"
    );
    StoreError::Conflict {
        conversation: turn.conversation.to_string(),
    }
}

/// Columns of [`LOAD_CONVERSATION`].
pub(crate) type ConversationRow = (i64, i64, Json<Value>, i64, i64, Option<i64>);

pub(crate) fn conversation_from_row(row: ConversationRow) -> StoredConversation {
    let (version, last_seq, Json(state), created_at, updated_at, claim_until) = row;
    StoredConversation {
        version,
        last_seq,
        state,
        created_at,
        updated_at,
        claim_until,
    }
}

/// Columns of [`TRANSCRIPT`].
pub(crate) type EventRow = (i64, String, Json<Value>, i64);

pub(crate) fn event_from_row(row: EventRow) -> StoredEvent {
    let (seq, kind, Json(payload), created_at) = row;
    StoredEvent {
        seq,
        kind,
        payload,
        created_at,
    }
}

/// Columns of [`LOAD_UPLOAD`].
pub(crate) type UploadRow = (String, String, String, String, i64, Vec<u8>, i64);

pub(crate) fn upload_from_row(row: UploadRow) -> Upload {
    let (id, conversation, name, content_type, size, data, created_at) = row;
    Upload {
        id,
        conversation,
        name,
        content_type,
        size,
        data,
        created_at,
    }
}

/// Serializes a response for the `processed_messages.response` text column.
pub(crate) fn response_text(response: &Value) -> Result<String, StoreError> {
    serde_json::to_string(response)
        .map_err(|error| StoreError::Database(sqlx::Error::Encode(Box::new(error))))
}
