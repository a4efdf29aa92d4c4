//! Tern's server: the engine behind an HTTP API, with conversation state in
//! SQLite or PostgreSQL, the LLM or offline understander, and action
//! webhooks.
//!
//! [`run`] takes a bound listener and a shutdown future, so `tern serve` and
//! the tests start the server the same way. [`routes::router`] builds the
//! application for tests that need no socket.

pub mod agent;
pub mod assistant;
pub mod auth;
pub mod claim;
pub mod config;
pub mod error;
pub mod metrics;
pub mod ordering;
pub mod replay;
pub mod routes;
pub mod state;
pub mod turn;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tern_actions::{ActionCaller, CallerConfig};
use tern_llm::{LlmConfig, ProviderKind, build_client};
use tern_store::{Store, StoreOptions};
use tern_understand::Understander;
use tokio::net::TcpListener;

use crate::assistant::Assistant;
use crate::config::Config;
use crate::state::{AppState, Shared, Streams};

/// Raises the soft limit on open files to the hard limit: each client
/// connection, LLM connection and webhook call holds a file descriptor, and
/// the usual soft limit of 1024 is far below what thousands of concurrent
/// conversations need.
fn raise_open_files_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current == limit.maximum {
        return;
    }
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => tracing::debug!(limit = ?limit.maximum, "raised the open-files limit"),
        Err(error) => {
            tracing::warn!(%error, "cannot raise the open-files limit; many connections may fail")
        }
    }
}

/// Builds everything a server needs. `address` is where it listens, which
/// the bundled example's demonstration webhooks point at.
pub async fn build_state(config: Config, address: SocketAddr) -> anyhow::Result<AppState> {
    raise_open_files_limit();
    let assistant = match &config.flows {
        Some(path) => {
            Assistant::from_files(path, config.actions.as_deref(), config.responses.as_deref())?
        }
        None => Assistant::example(&format!("http://{address}"))?,
    };
    tracing::info!(
        flows = assistant.flows.flows.len(),
        actions = assistant.actions.actions.len(),
        demo = assistant.is_demo,
        "assistant loaded"
    );
    let understander = understander(&config)?;
    if understander.is_offline() {
        tracing::info!(
            "understanding messages with the offline rule-based understander, not an LLM; set TERN_LLM_PROVIDER to use one"
        );
    } else {
        tracing::info!(llm = %understander.describe(), "understanding messages with an LLM");
    }
    let hmac_key = match &config.hmac_key {
        Some(key) => key.as_bytes().to_vec(),
        None => {
            tracing::info!(
                "no HMAC key configured; signing action calls with a random key generated at start-up"
            );
            random_key()
        }
    };
    let caller = ActionCaller::new(CallerConfig::new(hmac_key.clone()))?;
    let schema_errors = caller.compile_schemas(&assistant.actions);
    if let Some(first) = schema_errors.first() {
        anyhow::bail!("{first}");
    }
    // The database comes last, so that a wrong setting above leaves no new
    // SQLite file behind.
    let store = Store::connect(&config.database_url, StoreOptions::default())
        .await
        .with_context(|| {
            format!(
                "cannot open the database at `{}`",
                mask_password(&config.database_url)
            )
        })?;
    tracing::info!(backend = store.backend(), url = %mask_password(&config.database_url), "database ready");
    if config.admin_key.is_none() {
        tracing::warn!(
            "no admin key configured: conversation data and admin endpoints answer only on loopback"
        );
    }
    Ok(Arc::new(Shared {
        assistant,
        store,
        understander,
        caller,
        locks: Default::default(),
        streams: Streams::default(),
        metrics: crate::metrics::install(),
        config,
        tenant: "default".into(),
        hmac_key,
    }))
}

fn understander(config: &Config) -> anyhow::Result<Understander> {
    let settings = &config.llm;
    let provider = match settings.provider.as_str() {
        "openai" => ProviderKind::OpenAi,
        "anthropic" => ProviderKind::Anthropic,
        _ => return Ok(Understander::Offline),
    };
    let model = settings
        .model
        .clone()
        .context("TERN_LLM_MODEL is required when an LLM provider is set")?;
    let mut llm = LlmConfig::new(provider, model);
    if let Some(url) = &settings.base_url {
        llm.base_url = url.clone();
    }
    llm.api_key = settings.api_key.clone();
    llm.mode = match &settings.mode {
        Some(mode) => Some(mode.parse().map_err(|e| anyhow::anyhow!("{e}"))?),
        None => None,
    };
    llm.timeout = settings.timeout;
    llm.max_retries = settings.max_retries;
    llm.max_concurrency = settings.max_concurrency;
    Ok(Understander::Llm(build_client(llm)?))
}

fn random_key() -> Vec<u8> {
    use rand::RngExt;
    let mut key = vec![0u8; 32];
    rand::rng().fill(&mut key[..]);
    key
}

/// Shows a database URL without its password.
pub fn mask_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((credentials, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// Serves until `shutdown` completes, then ends the open `/stream`
/// subscriptions and lets requests in flight finish for at most the
/// configured shutdown timeout. Requests still running then are cancelled
/// with 503 `shutting_down` before the database is closed; a cancelled turn
/// has committed nothing.
pub async fn run(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let address = listener.local_addr()?;
    let grace = state.config.shutdown_timeout;
    spawn_retention(&state);
    let (abandon_tx, abandon_rx) = tokio::sync::watch::channel(false);
    let app = routes::router(state.clone())
        .layer(axum::middleware::from_fn(move |request, next| {
            cancel_on(abandon_rx.clone(), request, next)
        }))
        .into_make_service_with_connect_info::<SocketAddr>();
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let streams_state = state.clone();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections; finishing requests in flight");
        streams_state.streams.close();
        let _ = stopping_tx.send(());
    };
    tracing::info!(%address, "listening");
    let server = axum::serve(listener, app).with_graceful_shutdown(signal);
    let server = tokio::spawn(async move { server.await });
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => { result??; }
        _ = async {
            let _ = stopping_rx.await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(seconds = grace.as_secs_f64(), "requests still running after the shutdown timeout; cancelling them");
            // Connections run in tasks of their own, which `run` returning
            // does not stop, so `cancel_on` ends their requests.
            let _ = abandon_tx.send(true);
        }
    }
    state.store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Runs a request until it completes or `abandon` turns true. Dropping the
/// handler's future cancels its turn before the commit.
async fn cancel_on(
    mut abandon: tokio::sync::watch::Receiver<bool>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    tokio::select! {
        response = next.run(request) => response,
        _ = abandon.wait_for(|abandoned| *abandoned) => {
            crate::error::ApiError::unavailable("shutting_down", "the server stopped before the request finished")
                .hint("send the request again; a message sent with a message_id is processed at most once")
                .into_response()
        }
    }
}

/// Deletes conversations older than the retention age, once an hour. The
/// task sleeps between runs, so an idle server does no work.
fn spawn_retention(state: &AppState) {
    let Some(age) = state.config.retention else {
        return;
    };
    let state = state.clone();
    tokio::spawn(async move {
        loop {
            match state.store.prune(age).await {
                Ok(report) if report.conversations > 0 => tracing::info!(
                    conversations = report.conversations,
                    events = report.events,
                    "pruned old conversations"
                ),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "pruning old conversations failed; trying again in an hour")
                }
            }
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    });
}

/// Completes on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only ctrl-c stops the server");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
