//! The group-commit writer of the SQLite backend: one OS thread that owns a
//! rusqlite connection and commits the turns and claims queued for it in
//! batches.
//!
//! Each batch is one `BEGIN IMMEDIATE` transaction, so it costs one commit
//! (and, with `synchronous = FULL`, one fsync) however many turns it holds.
//! Each turn runs inside its own `SAVEPOINT`, so a failed version check or a
//! duplicate message id rolls back that turn alone. A caller's reply is sent
//! only after the batch's `COMMIT` succeeded.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use rusqlite::{Connection, OpenFlags, OptionalExtension, named_params};
use tokio::sync::{mpsc, oneshot};

use crate::sql::{self, first_new_seq, now_unix_ms};
use crate::{Claim, StoreError, TurnCommit};

/// Turns committed per transaction at most. A larger batch holds the write
/// lock longer for other processes that share the file, and its failure
/// (such as `SQLITE_BUSY` after busy_timeout) fails more turns at once.
const MAX_BATCH: usize = 256;

/// Prepared statements the connection keeps: one per statement below.
const STATEMENT_CACHE_CAPACITY: usize = 16;

/// One event row per statement. The cached statement is reused for every
/// event, so a multi-row `VALUES` list would save nothing in this thread.
const INSERT_EVENT: &str = "\
    INSERT INTO events (tenant_id, conversation_id, seq, kind, payload, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6)";

/// A handle to the writer thread, shared by every clone of the store.
#[derive(Debug)]
pub(super) struct Writer {
    sender: mpsc::UnboundedSender<Message>,
    /// Set by [`Writer::close`], to tell a closed store from a crashed thread
    /// when a job cannot be sent.
    closed: AtomicBool,
    thread: std::sync::Mutex<Option<JoinHandle<()>>>,
}

// Nearly every message is a write, so boxing it to shrink the rare `Close`
// would only add an allocation per turn.
#[expect(clippy::large_enum_variant)]
#[derive(Debug)]
enum Message {
    Write(Job),
    /// Commits the jobs queued before it, then stops the thread, which
    /// drops the sender after closing the connection.
    Close(oneshot::Sender<()>),
}

/// A write queued for the thread, and where its result goes.
#[derive(Debug)]
struct Job {
    write: Write,
    reply: oneshot::Sender<Result<i64, StoreError>>,
}

/// The writes the thread runs, each inside its own savepoint of a batch.
#[derive(Debug)]
enum Write {
    Turn(TurnJob),
    Claim(ClaimJob),
    Release(ReleaseJob),
}

/// A claim with owned data. See [`crate::Store::claim`].
#[derive(Debug)]
struct ClaimJob {
    tenant: String,
    conversation: String,
    expected_version: Option<i64>,
    owner: String,
    until: i64,
    /// Stored when the claim creates the conversation.
    state: String,
    now: i64,
}

/// A release of a claim that `owner` may still own.
#[derive(Debug)]
struct ReleaseJob {
    tenant: String,
    conversation: String,
    owner: String,
}

/// A turn with owned data, its JSON values already serialized to the text
/// that sqlx's `Json` stores.
#[derive(Debug)]
struct TurnJob {
    tenant: String,
    conversation: String,
    expected_version: Option<i64>,
    state: String,
    /// `(kind, payload)` of each new event.
    events: Vec<(String, String)>,
    message_id: Option<String>,
    response: String,
    request_digest: Option<String>,
    claim_owner: Option<String>,
    now: i64,
}

/// Settings of the writer's connection, matching the sqlx connections.
#[derive(Debug, Clone, Copy)]
pub(super) struct WriterOptions {
    pub synchronous_normal: bool,
    pub busy_timeout: std::time::Duration,
}

impl Writer {
    /// Opens the connection on `path` and starts the thread. The schema must
    /// already be migrated.
    pub(super) fn start(path: &Path, options: WriterOptions) -> Result<Arc<Writer>, StoreError> {
        let connection =
            open_connection(path, options).map_err(|error| StoreError::SqliteFile {
                path: path.to_path_buf(),
                source: Box::new(error),
            })?;
        let (sender, receiver) = mpsc::unbounded_channel();
        let thread = std::thread::Builder::new()
            .name("tern-sqlite-writer".to_string())
            .spawn(move || run(connection, receiver))
            .map_err(|error| StoreError::SqliteFile {
                path: path.to_path_buf(),
                source: format!("cannot start the writer thread: {error}").into(),
            })?;
        Ok(Arc::new(Writer {
            sender,
            closed: AtomicBool::new(false),
            thread: std::sync::Mutex::new(Some(thread)),
        }))
    }

    /// Queues a turn and waits until its batch committed or failed.
    pub(super) async fn commit_turn(&self, turn: &TurnCommit<'_>) -> Result<i64, StoreError> {
        let job = TurnJob {
            tenant: turn.tenant.to_string(),
            conversation: turn.conversation.to_string(),
            expected_version: turn.expected_version,
            state: to_json_text(turn.state)?,
            events: turn
                .events
                .iter()
                .map(|event| Ok((event.kind.clone(), to_json_text(&event.payload)?)))
                .collect::<Result<_, StoreError>>()?,
            message_id: turn.message_id.map(str::to_string),
            request_digest: turn.request_digest.map(str::to_string),
            claim_owner: turn.claim_owner.map(str::to_string),
            response: to_json_text(turn.response)?,
            now: now_unix_ms(),
        };
        self.run(Write::Turn(job)).await
    }

    /// Queues a claim and waits until its batch committed or failed.
    pub(super) async fn claim(&self, claim: &Claim<'_>) -> Result<i64, StoreError> {
        let now = now_unix_ms();
        let job = ClaimJob {
            tenant: claim.tenant.to_string(),
            conversation: claim.conversation.to_string(),
            expected_version: claim.expected_version,
            owner: claim.owner.to_string(),
            until: now.saturating_add(claim.duration_ms),
            state: to_json_text(claim.state)?,
            now,
        };
        self.run(Write::Claim(job)).await
    }

    /// Queues the release of a claim and waits until it is written.
    pub(super) async fn release_claim(
        &self,
        tenant: &str,
        conversation: &str,
        owner: &str,
    ) -> Result<(), StoreError> {
        let job = ReleaseJob {
            tenant: tenant.to_string(),
            conversation: conversation.to_string(),
            owner: owner.to_string(),
        };
        self.run(Write::Release(job)).await.map(|_| ())
    }

    async fn run(&self, write: Write) -> Result<i64, StoreError> {
        let (reply, result) = oneshot::channel();
        if self
            .sender
            .send(Message::Write(Job { write, reply }))
            .is_err()
        {
            return Err(self.stopped_error());
        }
        // The sender of `result` is dropped without a reply only when the
        // thread panicked or exited while the job was queued.
        result.await.unwrap_or_else(|_| Err(self.stopped_error()))
    }

    /// Commits the queued turns and stops the thread. Later commits fail with
    /// a closed-pool error, like the store's sqlx pools after closing.
    pub(super) async fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let (done, stopped) = oneshot::channel();
        if self.sender.send(Message::Close(done)).is_ok() {
            // An error means the thread is gone already, which is the goal.
            let _ = stopped.await;
        }
        let thread = match self.thread.lock() {
            Ok(mut thread) => thread.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(thread) = thread {
            // The thread has replied to `Close` or is gone, so it ends at once.
            let joined = tokio::task::spawn_blocking(move || thread.join()).await;
            if !matches!(joined, Ok(Ok(()))) {
                tracing::error!("the SQLite writer thread panicked");
            }
        }
    }

    fn stopped_error(&self) -> StoreError {
        if self.closed.load(Ordering::SeqCst) {
            StoreError::Database(sqlx::Error::PoolClosed)
        } else {
            tracing::error!("the SQLite writer thread stopped unexpectedly");
            StoreError::Database(sqlx::Error::WorkerCrashed)
        }
    }
}

fn to_json_text(value: &serde_json::Value) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|error| StoreError::SqliteWrite(Box::new(error)))
}

fn open_connection(path: &Path, options: WriterOptions) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags)?;
    connection.busy_timeout(options.busy_timeout)?;
    // The sqlx writer has already switched the file to WAL, so this only
    // checks it.
    let journal_mode: String =
        connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !journal_mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(journal_mode, path = %path.display(), "SQLite is not in WAL mode");
    }
    let synchronous = if options.synchronous_normal {
        "NORMAL"
    } else {
        "FULL"
    };
    connection.pragma_update(None, "synchronous", synchronous)?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    Ok(connection)
}

/// Runs the thread's loop: waits for a job, takes the jobs queued behind it up
/// to [`MAX_BATCH`], and commits them in one transaction.
fn run(connection: Connection, mut receiver: mpsc::UnboundedReceiver<Message>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut close_replies = Vec::new();
    while let Some(message) = receiver.blocking_recv() {
        let mut next = Some(message);
        while let Some(message) = next {
            match message {
                Message::Write(job) => batch.push(job),
                Message::Close(reply) => {
                    // Later sends fail, but the jobs already queued are still
                    // received and committed before `blocking_recv` ends.
                    receiver.close();
                    close_replies.push(reply);
                }
            }
            next = if batch.len() < MAX_BATCH {
                receiver.try_recv().ok()
            } else {
                None
            };
        }
        if !batch.is_empty() {
            commit_batch(&connection, &mut batch);
        }
    }

    if let Err((_, error)) = connection.close() {
        tracing::warn!(%error, "closing the SQLite writer connection failed");
    }
    for reply in close_replies {
        let _ = reply.send(());
    }
}

/// Commits `batch` in one transaction and replies to every job, leaving
/// `batch` empty.
fn commit_batch(connection: &Connection, batch: &mut Vec<Job>) {
    if let Err(error) = execute(connection, "BEGIN IMMEDIATE") {
        tracing::error!(%error, turns = batch.len(), "SQLite writer cannot begin a transaction");
        fail_all(batch.drain(..), &error);
        return;
    }

    let mut results = Vec::with_capacity(batch.len());
    for job in batch.iter() {
        match write_in_savepoint(connection, job) {
            Ok(result) => results.push(result),
            Err(error) => {
                // A failed savepoint leaves the transaction in an unknown
                // state, so the whole batch is rolled back.
                tracing::error!(%error, turns = batch.len(), "SQLite writer batch failed");
                roll_back(connection);
                fail_all(batch.drain(..), &error);
                return;
            }
        }
    }

    if let Err(error) = execute(connection, "COMMIT") {
        tracing::error!(%error, turns = batch.len(), "SQLite writer cannot commit");
        roll_back(connection);
        fail_all(batch.drain(..), &error);
        return;
    }
    for (job, result) in batch.drain(..).zip(results) {
        // The caller may have stopped waiting, which is not an error here.
        let _ = job.reply.send(result);
    }
}

/// Runs one turn inside a savepoint. The inner result is the turn's own
/// outcome, and the outer error fails the whole batch.
fn write_in_savepoint(
    connection: &Connection,
    job: &Job,
) -> rusqlite::Result<Result<i64, StoreError>> {
    execute(connection, "SAVEPOINT turn")?;
    let written = match &job.write {
        Write::Turn(turn) => write_turn(connection, turn),
        Write::Claim(claim) => write_claim(connection, claim),
        Write::Release(release) => write_release(connection, release),
    };
    match written {
        Ok(Ok(version)) => {
            execute(connection, "RELEASE turn")?;
            Ok(Ok(version))
        }
        Ok(Err(rejected)) => {
            execute(connection, "ROLLBACK TO turn")?;
            execute(connection, "RELEASE turn")?;
            Ok(Err(rejected))
        }
        Err(error) => Err(error),
    }
}

/// Runs the statements of one turn: the same statements of [`sql`] and the
/// same checks as the PostgreSQL backend. The inner error is a conflict or a
/// duplicate message id, after which the caller rolls back to the savepoint.
fn write_turn(connection: &Connection, job: &TurnJob) -> rusqlite::Result<Result<i64, StoreError>> {
    let event_count = job.events.len() as i64;
    let (version, last_seq) = match job.expected_version {
        None => {
            let inserted = connection
                .prepare_cached(sql::INSERT_CONVERSATION)?
                .execute(named_params! {
                    "$1": job.tenant,
                    "$2": job.conversation,
                    "$3": event_count,
                    "$4": job.state,
                    "$5": job.now,
                })?;
            if inserted == 0 {
                return Ok(Err(conflict(job)));
            }
            (1, event_count)
        }
        Some(expected_version) => {
            let updated: Option<(i64, i64)> = connection
                .prepare_cached(sql::UPDATE_CONVERSATION)?
                .query_row(
                    named_params! {
                        "$1": job.tenant,
                        "$2": job.conversation,
                        "$3": event_count,
                        "$4": job.state,
                        "$5": job.now,
                        "$6": expected_version,
                        "$7": job.claim_owner,
                    },
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            match updated {
                Some(row) => row,
                None => return Ok(Err(conflict(job))),
            }
        }
    };

    let mut insert_event = connection.prepare_cached(INSERT_EVENT)?;
    let first_seq = first_new_seq(last_seq, job.events.len());
    for ((kind, payload), seq) in job.events.iter().zip(first_seq..) {
        insert_event.execute(named_params! {
            "$1": job.tenant,
            "$2": job.conversation,
            "$3": seq,
            "$4": kind,
            "$5": payload,
            "$6": job.now,
        })?;
    }

    if let Some(message_id) = &job.message_id {
        let inserted =
            connection
                .prepare_cached(sql::INSERT_PROCESSED)?
                .execute(named_params! {
                    "$1": job.tenant,
                    "$2": job.conversation,
                    "$3": message_id,
                    "$4": job.response,
                    "$5": job.now,
                    "$6": job.request_digest,
                })?;
        if inserted == 0 {
            return Ok(Err(StoreError::DuplicateMessage {
                message_id: message_id.clone(),
            }));
        }
    }
    Ok(Ok(version))
}

fn write_claim(
    connection: &Connection,
    job: &ClaimJob,
) -> rusqlite::Result<Result<i64, StoreError>> {
    let affected = match job.expected_version {
        None => connection
            .prepare_cached(sql::INSERT_CLAIMED_CONVERSATION)?
            .execute(named_params! {
                "$1": job.tenant,
                "$2": job.conversation,
                "$3": job.state,
                "$4": job.now,
                "$5": job.owner,
                "$6": job.until,
            })?,
        Some(version) => connection
            .prepare_cached(sql::CLAIM_CONVERSATION)?
            .execute(named_params! {
                "$1": job.tenant,
                "$2": job.conversation,
                "$3": job.owner,
                "$4": job.until,
                "$5": version,
                "$6": job.now,
            })?,
    };
    if affected == 0 {
        return Ok(Err(sql::claim_conflict(
            &job.tenant,
            &job.conversation,
            job.expected_version,
        )));
    }
    Ok(Ok(job.expected_version.unwrap_or(0)))
}

fn write_release(
    connection: &Connection,
    job: &ReleaseJob,
) -> rusqlite::Result<Result<i64, StoreError>> {
    connection
        .prepare_cached(sql::RELEASE_CLAIM)?
        .execute(named_params! {
            "$1": job.tenant,
            "$2": job.conversation,
            "$3": job.owner,
        })?;
    Ok(Ok(0))
}

fn conflict(job: &TurnJob) -> StoreError {
    tracing::debug!(
        tenant = job.tenant.as_str(),
        conversation = job.conversation.as_str(),
        expected_version = job.expected_version,
        "version check failed"
    );
    StoreError::Conflict {
        conversation: job.conversation.clone(),
    }
}

fn execute(connection: &Connection, statement: &str) -> rusqlite::Result<()> {
    connection.prepare_cached(statement)?.execute([])?;
    Ok(())
}

/// Rolls back the open transaction, if SQLite has not already done so after
/// the error, logging a failure because the batch already fails.
fn roll_back(connection: &Connection) {
    if connection.is_autocommit() {
        return;
    }
    if let Err(error) = connection.execute_batch("ROLLBACK") {
        tracing::error!(%error, "SQLite writer rollback failed");
    }
}

fn fail_all(jobs: impl Iterator<Item = Job>, error: &rusqlite::Error) {
    for job in jobs {
        let _ = job
            .reply
            .send(Err(StoreError::SqliteWrite(error.to_string().into())));
    }
}
