//! Statements outside a turn's commit that both backends run with the same
//! SQL and the same types, written once over sqlx's database traits. Each
//! backend passes its own pool: SQLite its reader pool for reads and its
//! writer pool for writes, PostgreSQL its one pool.

use std::future::Future;

use sqlx::{Database, Encode, Executor, IntoArguments, Pool, Transaction, Type};

use crate::sql::new_upload_id;
use crate::sql::{self, ConversationRow, EventRow, UploadRow};
use crate::{
    NewUpload, ProcessedMessage, PruneReport, StoreError, StoredConversation, StoredEvent, Upload,
};

pub(crate) async fn load<'e, DB, E>(
    executor: E,
    tenant: &str,
    conversation: &str,
) -> Result<Option<StoredConversation>, StoreError>
where
    DB: Database,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    E: Executor<'e, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    ConversationRow: for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let row: Option<ConversationRow> = sqlx::query_as(sql::LOAD_CONVERSATION)
        .bind(tenant)
        .bind(conversation)
        .fetch_optional(executor)
        .await?;
    Ok(row.map(sql::conversation_from_row))
}

pub(crate) async fn processed<'e, DB, E>(
    executor: E,
    tenant: &str,
    conversation: &str,
    message_id: &str,
) -> Result<Option<ProcessedMessage>, StoreError>
where
    DB: Database,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    E: Executor<'e, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    (String, Option<String>): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let row: Option<(String, Option<String>)> = sqlx::query_as(sql::LOAD_RESPONSE)
        .bind(tenant)
        .bind(conversation)
        .bind(message_id)
        .fetch_optional(executor)
        .await?;
    let Some((text, request_digest)) = row else {
        return Ok(None);
    };
    let response = serde_json::from_str(&text).map_err(|error| {
        StoreError::Database(sqlx::Error::Decode(
            format!("stored response of message `{message_id}` is not JSON: {error}").into(),
        ))
    })?;
    Ok(Some(ProcessedMessage {
        response,
        request_digest,
    }))
}

pub(crate) async fn transcript<'e, DB, E>(
    executor: E,
    tenant: &str,
    conversation: &str,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<StoredEvent>, StoreError>
where
    DB: Database,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    E: Executor<'e, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    EventRow: for<'r> sqlx::FromRow<'r, DB::Row>,
{
    if limit == 0 {
        return Ok(Vec::new());
    }
    let rows: Vec<EventRow> = sqlx::query_as(sql::TRANSCRIPT)
        .bind(tenant)
        .bind(conversation)
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(executor)
        .await?;
    Ok(rows.into_iter().map(sql::event_from_row).collect())
}

pub(crate) async fn load_upload<'e, DB, E>(
    executor: E,
    tenant: &str,
    id: &str,
) -> Result<Option<Upload>, StoreError>
where
    DB: Database,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    E: Executor<'e, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    UploadRow: for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let row: Option<UploadRow> = sqlx::query_as(sql::LOAD_UPLOAD)
        .bind(tenant)
        .bind(id)
        .fetch_optional(executor)
        .await?;
    Ok(row.map(sql::upload_from_row))
}

pub(crate) async fn save_upload<'e, DB, E>(
    executor: E,
    upload: NewUpload<'_>,
) -> Result<String, StoreError>
where
    DB: Database,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    E: Executor<'e, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> &'q String: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    let id = new_upload_id();
    sqlx::query(sql::INSERT_UPLOAD)
        .bind(upload.tenant)
        .bind(&id)
        .bind(upload.conversation)
        .bind(upload.name)
        .bind(upload.content_type)
        .bind(upload.data.len() as i64)
        .bind(upload.data)
        .bind(sql::now_unix_ms())
        .execute(executor)
        .await?;
    Ok(id)
}

/// The number of rows a statement changed, which sqlx reports per driver.
pub(crate) trait RowsAffected {
    fn rows(&self) -> u64;
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows(&self) -> u64 {
        self.rows_affected()
    }
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows(&self) -> u64 {
        self.rows_affected()
    }
}

/// Deletes every row of one conversation on `connection`, inside the
/// caller's transaction. With `stale_before`, returns `None` when the
/// conversation was updated at or after that time, and the caller must roll
/// back.
pub(crate) async fn delete_rows<DB>(
    connection: &mut DB::Connection,
    tenant: &str,
    conversation: &str,
    stale_before: Option<i64>,
) -> Result<Option<PruneReport>, StoreError>
where
    DB: Database,
    DB::QueryResult: RowsAffected,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    let mut removed = PruneReport::default();
    // Children first, because the foreign keys are checked per statement. If
    // a turn commits meanwhile, the stale check below no longer matches and
    // the caller rolls these deletes back.
    for (statement, count) in [
        (sql::DELETE_EVENTS, &mut removed.events),
        (sql::DELETE_PROCESSED, &mut removed.processed_messages),
        (sql::DELETE_UPLOADS, &mut removed.uploads),
    ] {
        let result = sqlx::query(statement)
            .bind(tenant)
            .bind(conversation)
            .execute(&mut *connection)
            .await?;
        *count = result.rows();
    }

    let deleted = match stale_before {
        None => sqlx::query(sql::DELETE_CONVERSATION)
            .bind(tenant)
            .bind(conversation)
            .execute(&mut *connection)
            .await?
            .rows(),
        Some(cutoff) => {
            let deleted = sqlx::query(sql::DELETE_STALE_CONVERSATION)
                .bind(tenant)
                .bind(conversation)
                .bind(cutoff)
                .execute(&mut *connection)
                .await?
                .rows();
            if deleted == 0 {
                return Ok(None);
            }
            deleted
        }
    };
    removed.conversations = deleted;
    Ok(Some(removed))
}

/// Deletes the conversations not updated since `cutoff`, each in its own
/// transaction opened by `begin`, then the uploads of conversations that
/// never got a message. Reads go to `reader` and writes to `writer`.
pub(crate) async fn prune_updated_before<DB, B, F>(
    reader: &Pool<DB>,
    writer: &Pool<DB>,
    begin: B,
    cutoff: i64,
) -> Result<PruneReport, StoreError>
where
    DB: Database,
    DB::QueryResult: RowsAffected,
    B: Fn() -> F,
    F: Future<Output = Result<Transaction<'static, DB>, sqlx::Error>>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    (String, String): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let mut report = PruneReport::default();
    loop {
        let stale: Vec<(String, String)> = sqlx::query_as(sql::SELECT_STALE_CONVERSATIONS)
            .bind(cutoff)
            .bind(sql::PRUNE_BATCH)
            .fetch_all(reader)
            .await?;

        for (tenant, conversation) in &stale {
            let mut transaction = begin().await?;
            match delete_rows::<DB>(&mut transaction, tenant, conversation, Some(cutoff)).await? {
                Some(removed) => {
                    transaction.commit().await?;
                    report.add(removed);
                }
                // A turn committed since the batch was read.
                None => roll_back(transaction).await,
            }
        }

        if (stale.len() as i64) < sql::PRUNE_BATCH {
            break;
        }
    }

    let orphans = sqlx::query(sql::DELETE_ORPHAN_UPLOADS)
        .bind(cutoff)
        .execute(writer)
        .await?;
    report.uploads += orphans.rows();
    Ok(report)
}

/// Rolls back, logging a failure instead of returning it, because the caller
/// is already returning the error that made it roll back.
pub(crate) async fn roll_back<DB: Database>(transaction: Transaction<'static, DB>) {
    if let Err(error) = transaction.rollback().await {
        tracing::warn!(%error, database = DB::NAME, "rollback failed");
    }
}
