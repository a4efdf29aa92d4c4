//! Integration tests of `tern-store` against real databases: one suite, run
//! once on SQLite files and once on PostgreSQL.
//!
//! The PostgreSQL half needs a running server. It reads the URL of a user
//! allowed to create databases from `TERN_TEST_POSTGRES_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/postgres`, and fails when the server
//! cannot be reached.

mod postgres;
mod sqlite;
mod suite;

use tern_store::{Store, StoreOptions};

/// Generates one `#[tokio::test]` per suite function, each on a store from
/// `open_shared()` or `open_isolated()` as defined where the macro is used.
/// Isolated stores are for tests that count or prune rows across tenants.
macro_rules! suite_tests {
    (shared: [$($shared:ident),* $(,)?], isolated: [$($isolated:ident),* $(,)?] $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $shared() {
                let database = open_shared().await;
                crate::suite::$shared(&database.store).await;
                database.finish().await;
            }
        )*
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $isolated() {
                let database = open_isolated().await;
                crate::suite::$isolated(&database.store).await;
                database.finish().await;
            }
        )*

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn reconnect_keeps_data() {
            let database = open_shared().await;
            crate::suite::reconnect_keeps_data(&database.store, &database.url).await;
            database.finish().await;
        }
    };
}
pub(crate) use suite_tests;

/// Runs [`suite_tests`] with the whole suite.
macro_rules! all_suite_tests {
    () => {
        crate::suite_tests! {
            shared: [
                first_commit_creates_conversation,
                insert_conflicts_when_conversation_exists,
                update_conflicts_on_same_version,
                duplicate_message_rolls_back,
                event_seq_continues_across_turns,
                transcript_pages_by_seq,
                delete_removes_only_that_conversation,
                delete_removes_upload_only_conversation,
                tenants_are_isolated,
                uploads_round_trip,
                json_values_round_trip,
                concurrent_increments_are_exact,
                claim_blocks_other_writers,
                claim_creates_new_conversation,
                expired_or_released_claim_frees_conversation,
                ping_succeeds,
            ],
            isolated: [prune_removes_stale_conversations, stats_count_rows_and_bytes],
        }
    };
}
pub(crate) use all_suite_tests;

/// A connected store, and what to remove once the test is done.
pub struct TestDatabase {
    pub store: Store,
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    /// Kept until the test finishes, because dropping it deletes the files.
    TempDir(tempfile::TempDir),
    DropPostgresDatabase {
        name: String,
    },
    Nothing,
}

impl TestDatabase {
    async fn connect(url: String, cleanup: Cleanup) -> TestDatabase {
        let store = Store::connect(&url, StoreOptions::default())
            .await
            .unwrap_or_else(|error| panic!("cannot open the test store: {error}"));
        TestDatabase {
            store,
            url,
            cleanup,
        }
    }

    /// Closes the store and removes what the test created. A test that
    /// panics skips this; its PostgreSQL database is dropped by a later run.
    async fn finish(self) {
        self.store.close().await;
        match self.cleanup {
            Cleanup::TempDir(directory) => drop(directory),
            Cleanup::DropPostgresDatabase { name } => postgres::drop_database(&name).await,
            Cleanup::Nothing => {}
        }
    }
}

#[tokio::test]
async fn unsupported_url_is_rejected_with_masked_password() {
    let error = Store::connect(
        "mysql://root:hunter2@db.internal/tern",
        StoreOptions::default(),
    )
    .await
    .expect_err("mysql URL");
    assert_eq!(error.kind(), "invalid_url");

    let message = error.to_string();
    assert!(
        message.contains("`mysql://root:***@db.internal/tern`"),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");
    assert!(message.contains("unsupported scheme `mysql`"), "{message}");
    assert!(message.contains("`sqlite://PATH`"), "{message}");
    assert!(message.contains("`postgres://"), "{message}");
}

#[tokio::test]
async fn url_without_scheme_is_rejected() {
    let error = Store::connect("/var/lib/tern/tern.db", StoreOptions::default())
        .await
        .expect_err("bare path");
    assert_eq!(error.kind(), "invalid_url");
    let message = error.to_string();
    assert!(message.contains("`/var/lib/tern/tern.db`"), "{message}");
    assert!(message.contains("the URL has no scheme"), "{message}");
}
