//! Values passed to and returned by the store.

use serde_json::Value;

/// Timestamps are unix milliseconds (UTC), taken from the clock of the
/// process that wrote the row.
pub type UnixMillis = i64;

/// The stored row of one conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredConversation {
    /// 1 after the first commit, then one more per committed turn.
    pub version: i64,
    /// The `seq` of the conversation's newest event, 0 when it has none.
    pub last_seq: i64,
    /// NOTE: PostgreSQL stores JSON as JSONB, which does not keep the order of
    /// object keys, so keys may come back in another order than written.
    pub state: Value,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
    /// The expiry of a claim that no commit or release has cleared yet. It
    /// may lie in the past: an expired claim blocks nobody.
    pub claim_until: Option<UnixMillis>,
}

/// Everything one turn writes, committed in one transaction by
/// [`crate::Store::commit_turn`].
#[derive(Debug, Clone, Copy)]
pub struct TurnCommit<'a> {
    pub tenant: &'a str,
    pub conversation: &'a str,
    /// The version the turn was computed from, or `None` when the turn
    /// creates the conversation.
    pub expected_version: Option<i64>,
    /// The new dialogue state, replacing the stored one.
    pub state: &'a Value,
    /// Events to append, numbered in order after the conversation's last one.
    pub events: &'a [NewEvent],
    /// The client's idempotency key for the user message, if it sent one.
    pub message_id: Option<&'a str>,
    /// The response sent for `message_id`, returned by
    /// [`crate::Store::processed`] when the client retries. Ignored without a
    /// `message_id`.
    pub response: &'a Value,
    /// A fingerprint of the request that carried `message_id`, stored with
    /// it so that a client reusing the id for another message can be told
    /// apart from one retrying the same message.
    pub request_digest: Option<&'a str>,
    /// The owner of the claim this turn took with [`crate::Store::claim`],
    /// if it took one. The commit clears the claim.
    pub claim_owner: Option<&'a str>,
}

/// A turn's claim on a conversation before it calls webhooks, taken with
/// [`crate::Store::claim`].
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    pub tenant: &'a str,
    pub conversation: &'a str,
    /// The version the turn was computed from, or `None` when the
    /// conversation does not exist yet.
    pub expected_version: Option<i64>,
    /// A value unique to the turn, such as a random token.
    pub owner: &'a str,
    /// How long the claim lasts from now, in milliseconds.
    pub duration_ms: i64,
    /// The state stored when the claim creates the conversation.
    pub state: &'a Value,
}

/// What a committed turn recorded for a client message id.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessedMessage {
    /// The response sent for the message.
    pub response: Value,
    /// The fingerprint the turn stored with the message id, if any.
    pub request_digest: Option<String>,
}

/// An event to append to a conversation's history.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub kind: String,
    pub payload: Value,
}

/// An event of a conversation's history.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Position in the conversation, counting from 1 without gaps.
    pub seq: i64,
    pub kind: String,
    pub payload: Value,
    pub created_at: UnixMillis,
}

/// A file to store with [`crate::Store::save_upload`].
#[derive(Debug, Clone, Copy)]
pub struct NewUpload<'a> {
    pub tenant: &'a str,
    /// The conversation the file belongs to. It need not have a committed
    /// turn yet.
    pub conversation: &'a str,
    /// The file name the client sent.
    pub name: &'a str,
    /// The media type, such as `application/pdf`.
    pub content_type: &'a str,
    pub data: &'a [u8],
}

/// A stored file.
#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    pub id: String,
    pub conversation: String,
    pub name: String,
    pub content_type: String,
    /// Length of `data` in bytes.
    pub size: i64,
    pub data: Vec<u8>,
    pub created_at: UnixMillis,
}

/// Rows removed by [`crate::Store::prune`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub conversations: u64,
    pub events: u64,
    pub processed_messages: u64,
    /// Uploads of the removed conversations, plus uploads older than the
    /// cutoff whose conversation has no stored row.
    pub uploads: u64,
}

impl PruneReport {
    pub(crate) fn add(&mut self, other: PruneReport) {
        self.conversations += other.conversations;
        self.events += other.events;
        self.processed_messages += other.processed_messages;
        self.uploads += other.uploads;
    }
}

/// Row counts and size of the store's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreStats {
    pub conversations: i64,
    pub events: i64,
    pub processed_messages: i64,
    pub uploads: i64,
    /// Bytes the tables take on disk, or `None` when the database cannot
    /// report it. SQLite: the whole database file, including its free pages
    /// and the migration table, as of the latest commit. PostgreSQL: the four
    /// tables with their indexes and TOAST data.
    pub bytes: Option<i64>,
}

/// Connection settings for [`crate::Store::connect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Maximum number of open database connections; 0 counts as 1.
    /// PostgreSQL uses all of them as one pool. SQLite keeps one writer
    /// connection, so that writers queue in the process instead of failing
    /// with `SQLITE_BUSY`, and uses the rest (at least 1) for reads. It also
    /// opens one more connection, outside this count, on the thread that
    /// commits turns.
    pub max_connections: u32,
    /// SQLite only: `PRAGMA synchronous = NORMAL` instead of `FULL`. In WAL
    /// mode NORMAL keeps every commit across a crash of the process, but a
    /// power loss or operating system crash can lose the latest commits.
    pub sqlite_synchronous_normal: bool,
    /// PostgreSQL only: `SET synchronous_commit = off` on every connection.
    /// Commits return before the WAL reaches disk, so a server crash can lose
    /// the latest commits (never corrupt the database).
    pub postgres_synchronous_commit_off: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 8,
            sqlite_synchronous_normal: true,
            postgres_synchronous_commit_off: false,
        }
    }
}
