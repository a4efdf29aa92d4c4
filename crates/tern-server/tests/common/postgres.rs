//! The PostgreSQL database of one test binary.
//!
//! The URL of a user allowed to create databases comes from
//! `TERN_TEST_POSTGRES_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/postgres`. Each test binary creates
//! one database named `tern_server_test_<pid>_<nanoseconds>` on first use
//! and shares it between its tests, which keep apart by conversation id.
//! Rust's test harness has no hook that runs after the last test, so the
//! database outlives the run, and each run first drops the databases whose
//! process has exited.

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{Connection, Executor, PgConnection};
use tern_store::{Store, StoreOptions};
use tokio::sync::OnceCell;

const ADMIN_URL_VARIABLE: &str = "TERN_TEST_POSTGRES_URL";
const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const DATABASE_PREFIX: &str = "tern_server_test_";

static BINARY_DATABASE_URL: OnceCell<String> = OnceCell::const_new();

/// Returns the URL of this binary's database, creating it on first use.
pub async fn binary_database_url() -> String {
    BINARY_DATABASE_URL
        .get_or_init(create_binary_database)
        .await
        .clone()
}

async fn create_binary_database() -> String {
    drop_leftover_databases().await;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    let name = format!("{DATABASE_PREFIX}{}_{nanos}", std::process::id());
    let mut admin = admin_connection().await;
    admin
        .execute(format!("CREATE DATABASE \"{name}\"").as_str())
        .await
        .unwrap_or_else(|error| panic!("cannot create the test database `{name}`: {error}"));
    close_quietly(admin).await;
    let url = database_url(&name);
    // Migrate once here, so that servers starting in parallel find the
    // schema in place.
    let store = Store::connect(&url, StoreOptions::default())
        .await
        .unwrap_or_else(|error| panic!("cannot migrate the test database `{name}`: {error}"));
    store.close().await;
    url
}

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
             The PostgreSQL half of the server tests needs a running server. Start the local \
             one, for example with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) \
             main start` on Debian, or set {ADMIN_URL_VARIABLE} to the URL of a user allowed to \
             create databases.",
            tern_server::mask_password(&url)
        ),
    }
}

/// Drops the test databases of earlier runs whose process has exited.
async fn drop_leftover_databases() {
    let mut admin = admin_connection().await;
    let names: Vec<(String,)> =
        sqlx::query_as("SELECT datname FROM pg_database WHERE starts_with(datname, $1)")
            .bind(DATABASE_PREFIX)
            .fetch_all(&mut admin)
            .await
            .expect("list the leftover test databases");
    for (name,) in names {
        let pid = name[DATABASE_PREFIX.len()..]
            .split('_')
            .next()
            .unwrap_or_default();
        if process_exists(pid) {
            continue;
        }
        if let Err(error) = admin
            .execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str())
            .await
        {
            eprintln!("cannot drop the leftover test database `{name}`: {error}");
        }
    }
    close_quietly(admin).await;
}

/// Returns whether a process with this id runs. Only Linux can tell through
/// /proc; elsewhere every process counts as running, so nothing is dropped.
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
