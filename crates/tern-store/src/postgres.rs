//! The PostgreSQL backend: one connection pool.
//!
//! Ordering between writers rests on the version check of each commit alone.
//! The store takes no advisory locks, not even for migrations, and uses no
//! LISTEN/NOTIFY, because not every PostgreSQL-compatible database has them.
//! The sqlx 0.8 documentation of `Migrator::set_locking` names CockroachDB as
//! lacking advisory locks.

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::types::Json;
use sqlx::{ConnectOptions, Connection, Executor, Postgres, QueryBuilder, Transaction};

use crate::queries;
use crate::sql::{self, first_new_seq, now_unix_ms};
use crate::url::{invalid_url, mask_password};
use crate::{
    Claim, NewUpload, ProcessedMessage, PruneReport, StoreError, StoreOptions, StoreStats,
    StoredConversation, StoredEvent, TurnCommit, Upload, migrate,
};

/// A pooled connection idle for longer than this is pinged before use, so a
/// connection the server or a proxy closed meanwhile is replaced instead of
/// failing a query. Busy connections skip the round trip.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(30);

/// Attempts to apply migrations. Instances starting together against a new
/// database race to create the same tables, and the losers' transactions
/// fail, but their next attempt finds the migrations applied.
const MIGRATION_ATTEMPTS: u32 = 3;

/// A conversation store in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// A few connections with `synchronous_commit = off` for claims. A claim
    /// only keeps other instances waiting, so it need not survive a database
    /// crash, after which every turn in flight fails anyway. Committing it
    /// without waiting for the WAL flush saves a disk sync per webhook call,
    /// and other sessions see it all the same.
    claims: PgPool,
}

impl PgStore {
    /// Connects, applies the pending migrations, and opens the pool.
    pub(crate) async fn connect(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let connect_options =
            PgConnectOptions::from_str(url).map_err(|error| invalid_url(url, error.to_string()))?;
        let masked_url = mask_password(url);
        let connect_error = |source| StoreError::Connect {
            url: masked_url.clone(),
            source,
        };

        // One plain connection first, to report why connecting fails: a pool
        // retries a refused connection until its acquire timeout and then
        // reports only the timeout.
        let mut connection = connect_options.connect().await.map_err(connect_error)?;
        if options.postgres_synchronous_commit_off {
            // Run here too, so that a server that rejects the setting fails
            // the connect instead of every pooled connection.
            connection.execute(SET_SYNCHRONOUS_COMMIT_OFF).await?;
        }
        connection.close().await?;

        let mut pool_options = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .test_before_acquire(false)
            .before_acquire(|connection, metadata| {
                Box::pin(async move {
                    if metadata.idle_for < IDLE_BEFORE_PING {
                        return Ok(true);
                    }
                    match connection.ping().await {
                        Ok(()) => Ok(true),
                        Err(error) => {
                            tracing::info!(
                                %error,
                                "replacing a PostgreSQL connection that failed its ping"
                            );
                            Ok(false)
                        }
                    }
                })
            });
        if options.postgres_synchronous_commit_off {
            pool_options = pool_options.after_connect(|connection, _metadata| {
                Box::pin(async move {
                    connection.execute(SET_SYNCHRONOUS_COMMIT_OFF).await?;
                    Ok(())
                })
            });
        }
        let pool = pool_options
            .connect_with(connect_options.clone())
            .await
            .map_err(connect_error)?;
        let claims = PgPoolOptions::new()
            .max_connections(options.max_connections.clamp(1, MAX_CLAIM_CONNECTIONS))
            .after_connect(|connection, _metadata| {
                Box::pin(async move {
                    connection.execute(SET_SYNCHRONOUS_COMMIT_OFF).await?;
                    Ok(())
                })
            })
            .connect_lazy_with(connect_options);
        apply_migrations(&pool).await?;

        tracing::info!(
            url = %masked_url,
            max_connections = options.max_connections,
            synchronous_commit_off = options.postgres_synchronous_commit_off,
            "opened PostgreSQL store"
        );
        Ok(PgStore { pool, claims })
    }

    pub(crate) async fn load(
        &self,
        tenant: &str,
        conversation: &str,
    ) -> Result<Option<StoredConversation>, StoreError> {
        queries::load(&self.pool, tenant, conversation).await
    }

    pub(crate) async fn processed(
        &self,
        tenant: &str,
        conversation: &str,
        message_id: &str,
    ) -> Result<Option<ProcessedMessage>, StoreError> {
        queries::processed(&self.pool, tenant, conversation, message_id).await
    }

    pub(crate) async fn commit_turn(&self, turn: TurnCommit<'_>) -> Result<i64, StoreError> {
        let now = now_unix_ms();
        let result = async {
            let mut transaction = self.pool.begin().await?;
            match write_turn(&mut transaction, &turn, now).await {
                Ok(version) => {
                    transaction.commit().await?;
                    Ok(version)
                }
                Err(error) => {
                    queries::roll_back(transaction).await;
                    Err(error)
                }
            }
        }
        .await;

        match result {
            Err(StoreError::Database(error)) if is_serialization_failure(&error) => {
                tracing::debug!(%error, "serialization failure reported as a conflict");
                Err(sql::conflict(&turn))
            }
            other => other,
        }
    }

    pub(crate) async fn claim(&self, claim: Claim<'_>) -> Result<i64, StoreError> {
        let now = now_unix_ms();
        let until = now.saturating_add(claim.duration_ms);
        let query = match claim.expected_version {
            None => sqlx::query(sql::INSERT_CLAIMED_CONVERSATION)
                .bind(claim.tenant)
                .bind(claim.conversation)
                .bind(Json(claim.state))
                .bind(now)
                .bind(claim.owner)
                .bind(until),
            Some(version) => sqlx::query(sql::CLAIM_CONVERSATION)
                .bind(claim.tenant)
                .bind(claim.conversation)
                .bind(claim.owner)
                .bind(until)
                .bind(version)
                .bind(now),
        };
        if query.execute(&self.claims).await?.rows_affected() == 0 {
            return Err(sql::claim_conflict(
                claim.tenant,
                claim.conversation,
                claim.expected_version,
            ));
        }
        Ok(claim.expected_version.unwrap_or(0))
    }

    pub(crate) async fn release_claim(
        &self,
        tenant: &str,
        conversation: &str,
        owner: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(sql::RELEASE_CLAIM)
            .bind(tenant)
            .bind(conversation)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn transcript(
        &self,
        tenant: &str,
        conversation: &str,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        queries::transcript(&self.pool, tenant, conversation, after_seq, limit).await
    }

    pub(crate) async fn delete_conversation(
        &self,
        tenant: &str,
        conversation: &str,
    ) -> Result<bool, StoreError> {
        let mut transaction = self.pool.begin().await?;
        let removed =
            queries::delete_rows::<Postgres>(&mut *transaction, tenant, conversation, None).await?;
        transaction.commit().await?;
        Ok(removed.is_some_and(|report| report != PruneReport::default()))
    }

    pub(crate) async fn prune_updated_before(
        &self,
        cutoff: i64,
    ) -> Result<PruneReport, StoreError> {
        queries::prune_updated_before(&self.pool, &self.pool, || self.pool.begin(), cutoff).await
    }

    pub(crate) async fn save_upload(&self, upload: NewUpload<'_>) -> Result<String, StoreError> {
        queries::save_upload(&self.pool, upload).await
    }

    pub(crate) async fn load_upload(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<Upload>, StoreError> {
        queries::load_upload(&self.pool, tenant, id).await
    }

    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query(sql::PING).execute(&self.pool).await?;
        Ok(())
    }

    pub(crate) async fn stats(&self) -> Result<StoreStats, StoreError> {
        let (conversations, events, processed_messages, uploads): (i64, i64, i64, i64) =
            sqlx::query_as(sql::COUNT_ROWS)
                .fetch_one(&self.pool)
                .await?;

        // A PostgreSQL-compatible database may lack pg_total_relation_size, and
        // the counts are still worth returning without the size.
        let bytes: Result<(i64,), sqlx::Error> = sqlx::query_as(
            "SELECT (pg_total_relation_size('conversations') \
             + pg_total_relation_size('events') \
             + pg_total_relation_size('processed_messages') \
             + pg_total_relation_size('uploads'))::BIGINT",
        )
        .fetch_one(&self.pool)
        .await;
        let bytes = match bytes {
            Ok((bytes,)) => Some(bytes),
            Err(error) => {
                tracing::warn!(%error, "cannot read the size of the store's tables");
                None
            }
        };
        Ok(StoreStats {
            conversations,
            events,
            processed_messages,
            uploads,
            bytes,
        })
    }

    pub(crate) async fn close(&self) {
        self.claims.close().await;
        self.pool.close().await;
    }
}

const SET_SYNCHRONOUS_COMMIT_OFF: &str = "SET synchronous_commit = off";

/// Connections of the claim pool at most. A claim is one short statement.
const MAX_CLAIM_CONNECTIONS: u32 = 8;

async fn apply_migrations(pool: &PgPool) -> Result<(), StoreError> {
    let mut migrator = migrate::migrator(migrate::POSTGRES).await?;
    // sqlx would otherwise serialize migrators with pg_advisory_lock.
    migrator.set_locking(false);

    let mut attempt = 1;
    loop {
        match run_migrations(&migrator, pool).await {
            Ok(()) => return Ok(()),
            Err(error) if attempt < MIGRATION_ATTEMPTS && is_execution_failure(&error) => {
                tracing::warn!(%error, attempt, "applying migrations failed, retrying");
                tokio::time::sleep(Duration::from_millis(200) * attempt).await;
                attempt += 1;
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// Runs `migrator` through a boxed future. Awaiting `migrator.run` directly
/// would make [`PgStore::connect`] fail to be `Send`, because the compiler
/// cannot prove the `Acquire` bound of `run` for every lifetime.
fn run_migrations<'a>(
    migrator: &'a Migrator,
    pool: &'a PgPool,
) -> Pin<Box<dyn Future<Output = Result<(), MigrateError>> + Send + 'a>> {
    Box::pin(migrator.run(pool))
}

/// Returns whether a migration failed while running SQL, as a concurrent
/// migrator can make it, rather than on a mismatch between the database and
/// the binary.
fn is_execution_failure(error: &MigrateError) -> bool {
    matches!(
        error,
        MigrateError::Execute(_) | MigrateError::ExecuteMigration(..)
    )
}

/// Returns whether the database aborted a transaction to keep transactions
/// serializable (SQLSTATE 40001) or to break a deadlock (40P01). Retrying
/// the turn from a fresh load resolves both, as it does a version conflict.
fn is_serialization_failure(error: &sqlx::Error) -> bool {
    let sqlx::Error::Database(database_error) = error else {
        return false;
    };
    matches!(database_error.code().as_deref(), Some("40001" | "40P01"))
}

/// Runs the statements of one turn in `transaction`, which the caller commits
/// or rolls back. Returns the conversation's new version.
async fn write_turn(
    transaction: &mut Transaction<'static, Postgres>,
    turn: &TurnCommit<'_>,
    now: i64,
) -> Result<i64, StoreError> {
    let event_count = turn.events.len() as i64;
    let (version, last_seq) = match turn.expected_version {
        None => {
            let inserted = sqlx::query(sql::INSERT_CONVERSATION)
                .bind(turn.tenant)
                .bind(turn.conversation)
                .bind(event_count)
                .bind(Json(turn.state))
                .bind(now)
                .execute(&mut **transaction)
                .await?;
            if inserted.rows_affected() == 0 {
                return Err(sql::conflict(turn));
            }
            (1, event_count)
        }
        Some(expected_version) => {
            let updated: Option<(i64, i64)> = sqlx::query_as(sql::UPDATE_CONVERSATION)
                .bind(turn.tenant)
                .bind(turn.conversation)
                .bind(event_count)
                .bind(Json(turn.state))
                .bind(now)
                .bind(expected_version)
                .bind(turn.claim_owner)
                .fetch_optional(&mut **transaction)
                .await?;
            updated.ok_or_else(|| sql::conflict(turn))?
        }
    };

    insert_events(
        transaction,
        turn,
        first_new_seq(last_seq, turn.events.len()),
        now,
    )
    .await?;

    if let Some(message_id) = turn.message_id {
        let inserted = sqlx::query(sql::INSERT_PROCESSED)
            .bind(turn.tenant)
            .bind(turn.conversation)
            .bind(message_id)
            .bind(sql::response_text(turn.response)?)
            .bind(now)
            .bind(turn.request_digest)
            .execute(&mut **transaction)
            .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::DuplicateMessage {
                message_id: message_id.to_string(),
            });
        }
    }
    Ok(version)
}

async fn insert_events(
    connection: &mut PgConnection,
    turn: &TurnCommit<'_>,
    first_seq: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    let mut next_seq = first_seq;
    for chunk in turn.events.chunks(sql::EVENTS_PER_INSERT) {
        let mut insert = QueryBuilder::<Postgres>::new(sql::INSERT_EVENTS);
        insert.push_values(chunk.iter().zip(next_seq..), |mut values, (event, seq)| {
            values
                .push_bind(turn.tenant)
                .push_bind(turn.conversation)
                .push_bind(seq)
                .push_bind(event.kind.as_str())
                .push_bind(Json(&event.payload))
                .push_bind(now);
        });
        insert.build().execute(&mut *connection).await?;
        next_seq += chunk.len() as i64;
    }
    Ok(())
}
