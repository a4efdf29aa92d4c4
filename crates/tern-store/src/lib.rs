//! Conversation storage for Tern, in an embedded SQLite file (the default) or
//! in PostgreSQL.
//!
//! Each conversation is one row with its dialogue state as JSON and a version
//! number. Each turn appends event rows, records the client's message id with
//! the response sent for it, and replaces the state, all in one transaction
//! ([`Store::commit_turn`]). Uploaded files are stored beside them.
//!
//! Invariants:
//! - Every table leads its primary key with `tenant_id`, and every query of a
//!   turn is keyed by `(tenant_id, conversation_id)`. On PostgreSQL no
//!   transaction spans two conversations, except the single `DELETE` with
//!   which [`Store::prune`] removes old uploads that have no conversation.
//!   On SQLite one writer thread commits up to 256 queued turns in one
//!   transaction, each in its own savepoint, so a failed version check or
//!   duplicate message id still rolls back only that turn.
//! - Writers take no locks of their own. A commit names the version it was
//!   computed from and fails with [`StoreError::Conflict`] when another
//!   writer committed first, so several server instances can share one
//!   database without routing a conversation to one of them.
//! - A client message id is stored once per conversation. A second commit
//!   with it fails with [`StoreError::DuplicateMessage`] and writes nothing.
//! - No transaction stays open across an await on anything but the database.
//!
//! NOTE: only PostgreSQL 15 and the bundled SQLite 3.46 are tested. The PostgreSQL
//! schema avoids advisory locks and LISTEN/NOTIFY for the sake of Citus,
//! CockroachDB and YugabyteDB, but it has not run on them.

mod error;
mod migrate;
mod postgres;
mod queries;
mod sql;
mod sqlite;
mod types;
mod url;

use std::time::Duration;

pub use error::StoreError;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use types::{
    Claim, NewEvent, NewUpload, ProcessedMessage, PruneReport, StoreOptions, StoreStats,
    StoredConversation, StoredEvent, TurnCommit, UnixMillis, Upload,
};

/// A conversation store on one of the supported databases.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Store {
    /// Connects to the database a URL names and applies the schema migrations
    /// the database lacks.
    ///
    /// Accepted URLs are `sqlite://PATH` or `sqlite:PATH`, and `postgres://...`
    /// or `postgresql://...` in libpq's URL form. A missing SQLite file and its
    /// parent directory are created. In-memory SQLite databases are rejected.
    ///
    /// NOTE: sqlx is built without TLS, so `sslmode=require` and stricter
    /// modes fail to connect.
    pub async fn connect(url: &str, options: StoreOptions) -> Result<Store, StoreError> {
        match url::backend_of(url)? {
            url::Backend::Sqlite => Ok(Store::Sqlite(SqliteStore::connect(url, &options).await?)),
            url::Backend::Postgres => Ok(Store::Postgres(PgStore::connect(url, &options).await?)),
        }
    }

    /// Returns `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Loads a conversation's row with one primary-key lookup.
    pub async fn load(
        &self,
        tenant: &str,
        conversation: &str,
    ) -> Result<Option<StoredConversation>, StoreError> {
        match self {
            Store::Sqlite(store) => store.load(tenant, conversation).await,
            Store::Postgres(store) => store.load(tenant, conversation).await,
        }
    }

    /// Returns the response stored for a client message id that a committed
    /// turn of this conversation already processed.
    pub async fn processed(
        &self,
        tenant: &str,
        conversation: &str,
        message_id: &str,
    ) -> Result<Option<ProcessedMessage>, StoreError> {
        match self {
            Store::Sqlite(store) => store.processed(tenant, conversation, message_id).await,
            Store::Postgres(store) => store.processed(tenant, conversation, message_id).await,
        }
    }

    /// Commits one turn in one transaction and returns the conversation's new
    /// version.
    ///
    /// The transaction writes the state row, checking the version: with
    /// `expected_version: None` it inserts the row, and with `Some(v)` it
    /// updates the row only while its version is still `v`. It then appends
    /// the events with consecutive `seq` numbers after the conversation's
    /// last one, and records `message_id` with `response`.
    ///
    /// # Errors
    ///
    /// - [`StoreError::Conflict`] when the version check fails: the row
    ///   exists (for `None`) or has another version or none (for `Some`).
    ///   PostgreSQL's serialization failures and deadlocks are reported as
    ///   conflicts too, since the same reload and retry resolves them.
    /// - [`StoreError::DuplicateMessage`] when `message_id` was already
    ///   processed in this conversation.
    ///
    /// Either way the transaction is rolled back and nothing is written.
    ///
    /// NOTE: PostgreSQL rejects the character U+0000 in text and JSONB values,
    /// which SQLite stores, so such a commit fails only on PostgreSQL.
    pub async fn commit_turn(&self, turn: TurnCommit<'_>) -> Result<i64, StoreError> {
        match self {
            Store::Sqlite(store) => store.commit_turn(turn).await,
            Store::Postgres(store) => store.commit_turn(turn).await,
        }
    }

    /// Claims a conversation for one turn before the turn calls webhooks, and
    /// returns the version the turn must commit against.
    ///
    /// Until the claim expires or the owner's commit clears it, commits and
    /// claims by other owners fail with a conflict, so a turn that runs on
    /// several instances at once calls its webhooks on one of them only.
    /// Claiming again with the same owner extends the claim. With
    /// `expected_version: None` the claim creates the conversation at
    /// version 0 with `claim.state`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] when the version check fails or another
    /// owner holds a claim that has not expired.
    pub async fn claim(&self, claim: Claim<'_>) -> Result<i64, StoreError> {
        match self {
            Store::Sqlite(store) => store.claim(claim).await,
            Store::Postgres(store) => store.claim(claim).await,
        }
    }

    /// Clears a claim that `owner` still holds, for a turn that ends without
    /// a commit. Does nothing when the claim is gone.
    pub async fn release_claim(
        &self,
        tenant: &str,
        conversation: &str,
        owner: &str,
    ) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(store) => store.release_claim(tenant, conversation, owner).await,
            Store::Postgres(store) => store.release_claim(tenant, conversation, owner).await,
        }
    }

    /// Returns up to `limit` events with `seq` greater than `after_seq`, in
    /// `seq` order. Pass the last `seq` returned to read the next page.
    pub async fn transcript(
        &self,
        tenant: &str,
        conversation: &str,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        match self {
            Store::Sqlite(store) => {
                store
                    .transcript(tenant, conversation, after_seq, limit)
                    .await
            }
            Store::Postgres(store) => {
                store
                    .transcript(tenant, conversation, after_seq, limit)
                    .await
            }
        }
    }

    /// Deletes a conversation with its events, processed message ids and
    /// uploads, in one transaction. Returns whether any row existed.
    pub async fn delete_conversation(
        &self,
        tenant: &str,
        conversation: &str,
    ) -> Result<bool, StoreError> {
        match self {
            Store::Sqlite(store) => store.delete_conversation(tenant, conversation).await,
            Store::Postgres(store) => store.delete_conversation(tenant, conversation).await,
        }
    }

    /// Deletes, in every tenant, the conversations that no turn updated within
    /// `older_than`, with all their rows. See [`Store::prune_updated_before`].
    pub async fn prune(&self, older_than: Duration) -> Result<PruneReport, StoreError> {
        self.prune_updated_before(sql::cutoff_before_now(older_than))
            .await
    }

    /// Deletes, in every tenant, the conversations last updated before
    /// `cutoff` (unix milliseconds) with all their rows, and also the uploads
    /// created before `cutoff` whose conversation has no row.
    ///
    /// Each conversation is deleted in its own transaction, which keeps it
    /// when a turn commits to it during pruning.
    pub async fn prune_updated_before(
        &self,
        cutoff: UnixMillis,
    ) -> Result<PruneReport, StoreError> {
        let report = match self {
            Store::Sqlite(store) => store.prune_updated_before(cutoff).await?,
            Store::Postgres(store) => store.prune_updated_before(cutoff).await?,
        };
        tracing::info!(
            cutoff,
            conversations = report.conversations,
            events = report.events,
            processed_messages = report.processed_messages,
            uploads = report.uploads,
            "pruned conversations"
        );
        Ok(report)
    }

    /// Stores a file and returns its new id: 32 random hex digits.
    pub async fn save_upload(&self, upload: NewUpload<'_>) -> Result<String, StoreError> {
        match self {
            Store::Sqlite(store) => store.save_upload(upload).await,
            Store::Postgres(store) => store.save_upload(upload).await,
        }
    }

    /// Loads a stored file by the id [`Store::save_upload`] returned. Another
    /// tenant's file is not found.
    pub async fn load_upload(&self, tenant: &str, id: &str) -> Result<Option<Upload>, StoreError> {
        match self {
            Store::Sqlite(store) => store.load_upload(tenant, id).await,
            Store::Postgres(store) => store.load_upload(tenant, id).await,
        }
    }

    /// Runs a small query on the conversations table, for readiness checks:
    /// it fails when the database is unreachable or its tables are gone.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(store) => store.ping().await,
            Store::Postgres(store) => store.ping().await,
        }
    }

    /// Counts the rows of every table and reads the database size. The counts
    /// read each table in full, so this is for benchmarks and admin pages,
    /// not for frequent polling.
    pub async fn stats(&self) -> Result<StoreStats, StoreError> {
        match self {
            Store::Sqlite(store) => store.stats().await,
            Store::Postgres(store) => store.stats().await,
        }
    }

    /// Closes every connection, waiting for the ones in use to be returned.
    /// SQLite first commits the turns already queued for its writer thread.
    pub async fn close(&self) {
        match self {
            Store::Sqlite(store) => store.close().await,
            Store::Postgres(store) => store.close().await,
        }
    }
}
