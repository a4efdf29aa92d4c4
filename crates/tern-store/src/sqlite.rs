//! The SQLite backend: one database file in WAL mode, read through a pool.
//! Turns are committed in batches by the writer thread of [`writer`], and the
//! other writes go through one sqlx connection.

mod writer;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::Sqlite;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::queries;
use crate::sql;
use crate::url::invalid_url;
use crate::{
    Claim, NewUpload, ProcessedMessage, PruneReport, StoreError, StoreOptions, StoreStats,
    StoredConversation, StoredEvent, TurnCommit, Upload, migrate,
};

/// How long a statement waits for a lock held by another connection before it
/// fails with `SQLITE_BUSY`. The other connection is either this store's
/// second writer or another process, such as a second server or a
/// maintenance command on the same file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A conversation store in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Commits turns, which are most of the writes, in batches.
    turn_writer: Arc<writer::Writer>,
    /// A pool of exactly one connection for the other writes: deletes,
    /// pruning and uploads. It and `turn_writer` each take SQLite's write
    /// lock with `BEGIN IMMEDIATE`, so they wait for each other for up to
    /// [`BUSY_TIMEOUT`], like two processes on one file.
    writer: SqlitePool,
    /// Readers see every committed write, because WAL mode lets them read
    /// while the writer writes.
    reader: SqlitePool,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens the database file, creating it and its parent directory when
    /// missing, and applies the pending migrations.
    pub(crate) async fn connect(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let path = database_path(url)?;
        create_parent_directory(&path)?;

        let synchronous = if options.sqlite_synchronous_normal {
            SqliteSynchronous::Normal
        } else {
            SqliteSynchronous::Full
        };
        let connect_options = SqliteConnectOptions::from_str(url)
            .map_err(|error| invalid_url(url, error.to_string()))?
            .create_if_missing(true)
            .read_only(false)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .synchronous(synchronous);

        // Only the writer sets WAL mode. The mode is stored in the file, and
        // switching to it needs a lock that busy_timeout does not wait for.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(connect_options.clone().journal_mode(SqliteJournalMode::Wal))
            .await
            .map_err(|error| file_error(&path, error))?;
        let migrator = migrate::migrator(migrate::SQLITE).await?;
        run_migrations(&migrator, &writer).await?;

        let turn_writer = writer::Writer::start(
            &path,
            writer::WriterOptions {
                synchronous_normal: options.sqlite_synchronous_normal,
                busy_timeout: BUSY_TIMEOUT,
            },
        )?;

        let readers = options.max_connections.saturating_sub(1).max(1);
        let reader = SqlitePoolOptions::new()
            .max_connections(readers)
            .test_before_acquire(false)
            .connect_with(connect_options)
            .await
            .map_err(|error| file_error(&path, error))?;

        tracing::info!(path = %path.display(), readers, "opened SQLite store");
        Ok(SqliteStore {
            turn_writer,
            writer,
            reader,
            path,
        })
    }

    /// Returns the path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) async fn load(
        &self,
        tenant: &str,
        conversation: &str,
    ) -> Result<Option<StoredConversation>, StoreError> {
        queries::load(&self.reader, tenant, conversation).await
    }

    pub(crate) async fn processed(
        &self,
        tenant: &str,
        conversation: &str,
        message_id: &str,
    ) -> Result<Option<ProcessedMessage>, StoreError> {
        queries::processed(&self.reader, tenant, conversation, message_id).await
    }

    pub(crate) async fn commit_turn(&self, turn: TurnCommit<'_>) -> Result<i64, StoreError> {
        self.turn_writer.commit_turn(&turn).await
    }

    pub(crate) async fn claim(&self, claim: Claim<'_>) -> Result<i64, StoreError> {
        self.turn_writer.claim(&claim).await
    }

    pub(crate) async fn release_claim(
        &self,
        tenant: &str,
        conversation: &str,
        owner: &str,
    ) -> Result<(), StoreError> {
        self.turn_writer
            .release_claim(tenant, conversation, owner)
            .await
    }

    pub(crate) async fn transcript(
        &self,
        tenant: &str,
        conversation: &str,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        queries::transcript(&self.reader, tenant, conversation, after_seq, limit).await
    }

    pub(crate) async fn delete_conversation(
        &self,
        tenant: &str,
        conversation: &str,
    ) -> Result<bool, StoreError> {
        let mut transaction = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let removed =
            queries::delete_rows::<Sqlite>(&mut *transaction, tenant, conversation, None).await?;
        transaction.commit().await?;
        Ok(removed.is_some_and(|report| report != PruneReport::default()))
    }

    pub(crate) async fn prune_updated_before(
        &self,
        cutoff: i64,
    ) -> Result<PruneReport, StoreError> {
        queries::prune_updated_before(
            &self.reader,
            &self.writer,
            || self.writer.begin_with("BEGIN IMMEDIATE"),
            cutoff,
        )
        .await
    }

    pub(crate) async fn save_upload(&self, upload: NewUpload<'_>) -> Result<String, StoreError> {
        queries::save_upload(&self.writer, upload).await
    }

    pub(crate) async fn load_upload(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<Upload>, StoreError> {
        queries::load_upload(&self.reader, tenant, id).await
    }

    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query(sql::PING).execute(&self.reader).await?;
        sqlx::query(sql::PING).execute(&self.writer).await?;
        Ok(())
    }

    pub(crate) async fn stats(&self) -> Result<StoreStats, StoreError> {
        let (conversations, events, processed_messages, uploads): (i64, i64, i64, i64) =
            sqlx::query_as(sql::COUNT_ROWS)
                .fetch_one(&self.reader)
                .await?;
        // page_count reflects the latest commit even before a checkpoint copies
        // it from the WAL into the file.
        let (bytes,): (i64,) = sqlx::query_as(
            "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
        )
        .fetch_one(&self.reader)
        .await?;
        Ok(StoreStats {
            conversations,
            events,
            processed_messages,
            uploads,
            bytes: Some(bytes),
        })
    }

    pub(crate) async fn close(&self) {
        self.turn_writer.close().await;
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// Runs `migrator` through a boxed future. Awaiting `migrator.run` directly
/// would make [`SqliteStore::connect`] fail to be `Send`, because the compiler
/// cannot prove the `Acquire` bound of `run` for every lifetime.
fn run_migrations<'a>(
    migrator: &'a Migrator,
    writer: &'a SqlitePool,
) -> Pin<Box<dyn Future<Output = Result<(), MigrateError>> + Send + 'a>> {
    Box::pin(migrator.run(writer))
}

/// Returns the file path of a `sqlite:` URL, rejecting in-memory databases.
fn database_path(url: &str) -> Result<PathBuf, StoreError> {
    let without_scheme = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (database, parameters) = without_scheme
        .split_once('?')
        .unwrap_or((without_scheme, ""));
    let in_memory = database == ":memory:"
        || parameters
            .split('&')
            .any(|parameter| parameter == "mode=memory");
    if in_memory {
        return Err(invalid_url(
            url,
            "in-memory SQLite databases are not supported, because the store's writer and \
             reader connections would each open a different one; use a file path, such as a \
             file in a temporary directory for tests",
        ));
    }
    if database.is_empty() {
        return Err(invalid_url(url, "the URL has no file path"));
    }

    let options =
        SqliteConnectOptions::from_str(url).map_err(|error| invalid_url(url, error.to_string()))?;
    Ok(options.get_filename().to_path_buf())
}

fn create_parent_directory(path: &Path) -> Result<(), StoreError> {
    let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    else {
        return Ok(());
    };
    std::fs::create_dir_all(parent).map_err(|error| StoreError::SqliteFile {
        path: path.to_path_buf(),
        source: format!("cannot create directory `{}`: {error}", parent.display()).into(),
    })
}

fn file_error(path: &Path, error: sqlx::Error) -> StoreError {
    StoreError::SqliteFile {
        path: path.to_path_buf(),
        source: Box::new(error),
    }
}
