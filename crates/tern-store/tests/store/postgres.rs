//! The suite on PostgreSQL, plus PostgreSQL's own cases.
//!
//! Each run of the test binary creates one database, named
//! `tern_store_test_<pid>_<nanoseconds>_<sequence>`, shared by the tests that
//! keep to their own tenants, and one more per test that needs the whole
//! database. The per-test databases are dropped when their test passes. The
//! shared one outlives the run, so each run first drops the test databases
//! whose process is gone.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;
use sqlx::{Connection, Executor, PgConnection};
use tern_store::{Store, StoreOptions, TurnCommit};
use tokio::sync::OnceCell;

use crate::{Cleanup, TestDatabase};

const ADMIN_URL_VARIABLE: &str = "TERN_TEST_POSTGRES_URL";
const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const DATABASE_PREFIX: &str = "tern_store_test_";

static SHARED_DATABASE_URL: OnceCell<String> = OnceCell::const_new();
static DATABASE_SEQUENCE: AtomicU32 = AtomicU32::new(0);

async fn open_shared() -> TestDatabase {
    let url = SHARED_DATABASE_URL
        .get_or_init(create_shared_database)
        .await;
    TestDatabase::connect(url.clone(), Cleanup::Nothing).await
}

async fn open_isolated() -> TestDatabase {
    let name = create_database().await;
    TestDatabase::connect(database_url(&name), Cleanup::DropPostgresDatabase { name }).await
}

crate::all_suite_tests!();

fn admin_url() -> String {
    std::env::var(ADMIN_URL_VARIABLE).unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_string())
}

/// Connects as the admin user, failing the test with setup instructions
/// when the server cannot be reached.
async fn admin_connection() -> PgConnection {
    let url = admin_url();
    match PgConnection::connect(&url).await {
        Ok(connection) => connection,
        Err(error) => panic!(
            "cannot connect to PostgreSQL at `{}`: {error}\n\
             The PostgreSQL tests need a running server. Start the local one, for example \
             with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` \
             on Debian, or set {ADMIN_URL_VARIABLE} to the URL of a user allowed to create \
             databases.",
            mask_password(&url)
        ),
    }
}

async fn create_shared_database() -> String {
    drop_leftover_databases().await;
    let url = database_url(&create_database().await);
    // Migrate once here, so that the tests connecting in parallel find the
    // schema in place.
    let store = Store::connect(&url, StoreOptions::default())
        .await
        .unwrap_or_else(|error| panic!("cannot migrate the shared test database: {error}"));
    store.close().await;
    url
}

/// Creates an empty database and returns its name.
async fn create_database() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    let sequence = DATABASE_SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let name = format!("{DATABASE_PREFIX}{}_{nanos}_{sequence}", std::process::id());

    let mut admin = admin_connection().await;
    admin
        .execute(format!("CREATE DATABASE \"{name}\"").as_str())
        .await
        .unwrap_or_else(|error| panic!("cannot create database `{name}`: {error}"));
    close_quietly(admin).await;
    name
}

pub(crate) async fn drop_database(name: &str) {
    let mut admin = admin_connection().await;
    admin
        .execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str())
        .await
        .unwrap_or_else(|error| panic!("cannot drop database `{name}`: {error}"));
    close_quietly(admin).await;
}

/// Drops the test databases of earlier runs whose process has exited.
async fn drop_leftover_databases() {
    let mut admin = admin_connection().await;
    let names: Vec<(String,)> =
        sqlx::query_as("SELECT datname FROM pg_database WHERE starts_with(datname, $1)")
            .bind(DATABASE_PREFIX)
            .fetch_all(&mut admin)
            .await
            .expect("list test databases");
    close_quietly(admin).await;

    for (name,) in names {
        let pid = name[DATABASE_PREFIX.len()..]
            .split('_')
            .next()
            .unwrap_or_default();
        if !process_exists(pid) {
            drop_database(&name).await;
        }
    }
}

/// Returns whether a process with this id runs. Only Linux can tell through /proc;
/// elsewhere every process counts as running, so no database is dropped.
fn process_exists(pid: &str) -> bool {
    if cfg!(target_os = "linux") {
        pid == std::process::id().to_string() || std::path::Path::new("/proc").join(pid).exists()
    } else {
        true
    }
}

async fn close_quietly(connection: PgConnection) {
    if let Err(error) = connection.close().await {
        eprintln!("closing the admin connection failed: {error}");
    }
}

/// Returns the admin URL with its database replaced by `name`.
fn database_url(name: &str) -> String {
    let admin = admin_url();
    let (base, query) = match admin.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (admin.as_str(), String::new()),
    };
    let authority_start = base.find("://").map_or(0, |index| index + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |index| authority_start + index);
    format!("{}/{name}{query}", &base[..path_start])
}

fn mask_password(url: &str) -> String {
    let Some(authority_start) = url.find("://").map(|index| index + 3) else {
        return url.to_string();
    };
    let authority_end = url[authority_start..]
        .find('/')
        .map_or(url.len(), |index| authority_start + index);
    let authority = &url[authority_start..authority_end];
    match (authority.find(':'), authority.rfind('@')) {
        (Some(colon), Some(at)) if colon < at => format!(
            "{}***{}",
            &url[..authority_start + colon + 1],
            &url[authority_start + at..]
        ),
        _ => url.to_string(),
    }
}

#[tokio::test]
async fn unreachable_server_error_masks_password() {
    // Nothing listens on port 1, so the connection is refused at once.
    let url = "postgres://tern:hunter2@127.0.0.1:1/tern";
    let error = Store::connect(url, StoreOptions::default())
        .await
        .expect_err("nothing listens on port 1");
    assert_eq!(error.kind(), "connect");
    let message = error.to_string();
    assert!(
        message.contains("`postgres://tern:***@127.0.0.1:1/tern`"),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");
}

#[tokio::test]
async fn invalid_port_is_rejected() {
    let error = Store::connect("postgresql://tern@db:port/tern", StoreOptions::default())
        .await
        .expect_err("port is not a number");
    assert_eq!(error.kind(), "invalid_url");
    assert!(
        error
            .to_string()
            .contains("`postgresql://tern@db:port/tern`"),
        "{error}"
    );
}

/// Server instances starting together against a new database all apply, or
/// find applied, the same migrations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_connects_migrate_once() {
    let name = create_database().await;
    let url = database_url(&name);

    let mut connects = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let url = url.clone();
        connects.spawn(async move { Store::connect(&url, StoreOptions::default()).await });
    }
    let mut stores = Vec::new();
    while let Some(result) = connects.join_next().await {
        let store = result.expect("connect task panicked");
        stores.push(store.unwrap_or_else(|error| panic!("concurrent connect failed: {error}")));
    }

    let state = json!({});
    let create = TurnCommit {
        tenant: "migrate",
        conversation: "c",
        expected_version: None,
        state: &state,
        events: &[],
        message_id: None,
        response: &serde_json::Value::Null,
        request_digest: None,
        claim_owner: None,
    };
    assert_eq!(stores[0].commit_turn(create).await.expect("commit"), 1);
    for store in stores {
        store.close().await;
    }
    drop_database(&name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synchronous_commit_off_still_commits() {
    let url = SHARED_DATABASE_URL
        .get_or_init(create_shared_database)
        .await;
    let options = StoreOptions {
        postgres_synchronous_commit_off: true,
        ..StoreOptions::default()
    };
    let store = Store::connect(url, options).await.expect("connect");

    let state = json!({ "durable": false });
    let create = TurnCommit {
        tenant: "synchronous-commit-off",
        conversation: "c",
        expected_version: None,
        state: &state,
        events: &[],
        message_id: None,
        response: &serde_json::Value::Null,
        request_digest: None,
        claim_owner: None,
    };
    assert_eq!(store.commit_turn(create).await.expect("commit"), 1);
    let stored = store
        .load("synchronous-commit-off", "c")
        .await
        .expect("load");
    assert_eq!(stored.expect("exists").state, state);
    store.close().await;
}

/// PostgreSQL stores no U+0000 in text or JSONB, which SQLite accepts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_character_fails_commit() {
    let database = open_shared().await;
    let state = json!({ "text": "before\u{0}after" });
    let create = TurnCommit {
        tenant: "nul-character",
        conversation: "c",
        expected_version: None,
        state: &state,
        events: &[],
        message_id: None,
        response: &serde_json::Value::Null,
        request_digest: None,
        claim_owner: None,
    };

    let error = database
        .store
        .commit_turn(create)
        .await
        .expect_err("U+0000 in JSONB");
    assert_eq!(error.kind(), "database", "{error}");
    let stored = database
        .store
        .load("nul-character", "c")
        .await
        .expect("load");
    assert_eq!(stored, None);
    database.finish().await;
}
