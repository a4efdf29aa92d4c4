//! Errors of the store.

use std::path::PathBuf;

/// A failed store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The version check of a commit failed: another writer committed to the
    /// conversation first, or the conversation was created (when the commit
    /// expected none) or deleted in the meantime. Nothing was written. The
    /// caller reloads the conversation and retries the turn.
    #[error(
        "conversation `{conversation}` was changed by another writer; reload it and retry the turn"
    )]
    Conflict { conversation: String },

    /// The client message id was already processed in this conversation.
    /// Nothing was written; [`crate::Store::processed`] returns the response
    /// stored for it.
    #[error("message `{message_id}` was already processed; send the stored response instead")]
    DuplicateMessage { message_id: String },

    /// The database URL is not one the store accepts. `url` has its password
    /// replaced by `***`.
    #[error(
        "invalid database URL `{url}`: {reason}; expected `sqlite://PATH`, `sqlite:PATH` \
         or `postgres://USER:PASSWORD@HOST:PORT/DATABASE` (`postgresql://` also works)"
    )]
    InvalidUrl { url: String, reason: String },

    /// The SQLite database file, or the directory for it, could not be created
    /// or opened.
    #[error("cannot open SQLite database `{}`: {source}", path.display())]
    SqliteFile {
        path: PathBuf,
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The first connection to PostgreSQL failed. `url` has its password
    /// replaced by `***`.
    #[error(
        "cannot connect to PostgreSQL at `{url}`: {source}; \
         check that the server runs, accepts this user and has this database \
         (create a missing one with `createdb`)"
    )]
    Connect { url: String, source: sqlx::Error },

    /// Any other database failure.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),

    /// A failure of the SQLite connection that commits turns, which is a
    /// rusqlite connection rather than an sqlx one.
    #[error("SQLite write failed: {0}")]
    SqliteWrite(Box<dyn std::error::Error + Send + Sync>),

    /// Applying the embedded schema migrations failed.
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Returns a stable snake_case name for metrics, logs and API error codes.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::Conflict { .. } => "conflict",
            StoreError::DuplicateMessage { .. } => "duplicate_message",
            StoreError::InvalidUrl { .. } => "invalid_url",
            StoreError::SqliteFile { .. } => "sqlite_file",
            StoreError::Connect { .. } => "connect",
            StoreError::Database(_) | StoreError::SqliteWrite(_) => "database",
            StoreError::Migration(_) => "migration",
        }
    }

    /// Returns whether the database answers but lacks Tern's tables, as after
    /// it was dropped and created again while the server ran.
    pub fn is_missing_schema(&self) -> bool {
        let StoreError::Database(sqlx::Error::Database(error)) = self else {
            return false;
        };
        error.code().as_deref() == Some("42P01") || error.message().contains("no such table")
    }

    /// Returns whether the database cannot be reached or has gone away (a
    /// closed connection, a pool timeout, a dropped database or schema),
    /// as opposed to a failure of one statement.
    pub fn is_unavailable(&self) -> bool {
        let StoreError::Database(error) = self else {
            return matches!(self, StoreError::Connect { .. });
        };
        match error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            // SQLSTATE class 08 is a connection exception, 57P01 to 57P03 an
            // administrator shutdown or a server that is starting, 3D000 a
            // database that does not exist and 42P01 a missing table.
            sqlx::Error::Database(database_error) => database_error.code().is_some_and(|code| {
                code.starts_with("08")
                    || code.starts_with("57P")
                    || code == "3D000"
                    || code == "42P01"
            }),
            _ => false,
        }
    }
}
