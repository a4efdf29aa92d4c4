//! Statements outside a turn's commit that both backends run with the same
//! SQL and the same types, written once over sqlx's database traits. Each
//! backend passes its own pool: SQLite its reader pool for reads and its
//! writer pool for writes, PostgreSQL its one pool.

use serde_json::Value;
use sqlx::types::Json;
use sqlx::{Database, Encode, Executor, IntoArguments, Type};

use crate::sql::new_upload_id;
use crate::sql::{self, ConversationRow, EventRow, UploadRow};
use crate::{NewUpload, ProcessedMessage, StoreError, StoredConversation, StoredEvent, Upload};

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
    (Json<Value>, Option<String>): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let row: Option<(Json<Value>, Option<String>)> = sqlx::query_as(sql::LOAD_RESPONSE)
        .bind(tenant)
        .bind(conversation)
        .bind(message_id)
        .fetch_optional(executor)
        .await?;
    Ok(
        row.map(|(Json(response), request_digest)| ProcessedMessage {
            response,
            request_digest,
        }),
    )
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
