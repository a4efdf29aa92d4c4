//! Test harness: a Tern server started with `build_state` and `run` on a
//! loopback port, over SQLite or PostgreSQL, and helpers that talk to it
//! over HTTP.
//!
//! [`backend_tests!`] turns each test body `async fn name(backend: Backend)`
//! into two tests, `sqlite::name` and `postgres::name`. The SQLite half
//! gives every server its own file in a temporary directory. The PostgreSQL
//! half needs a running server (see [`postgres`]) and fails, never skips,
//! when it cannot reach it.

// Each test binary uses only part of the harness.
#![allow(dead_code)]

pub mod postgres;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tern_mock_llm::MockServer;
use tern_server::config::{Config, DEFAULT_APOLOGY, LlmSettings};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// HMAC key the test servers sign action calls with; test webhooks verify
/// signatures with it.
pub const HMAC_KEY: &str = "tern-test-hmac-key";

/// Upper bound for any single HTTP exchange in a test, so that a hung
/// server fails the test instead of stalling the suite.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Generates two `#[tokio::test]`s per listed body, one per backend:
/// `sqlite::NAME` and `postgres::NAME`, each calling `NAME(backend)`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres).await;
                }
            )*
        }
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database for one or more test servers.
pub struct Database {
    pub url: String,
    /// Kept until the servers are gone, because dropping it deletes the
    /// SQLite file.
    _directory: Option<tempfile::TempDir>,
}

impl Database {
    /// Creates a fresh SQLite file, or returns the PostgreSQL database of
    /// this test binary (created on first use).
    pub async fn create(backend: Backend) -> Database {
        match backend {
            Backend::Sqlite => {
                let directory = tempfile::tempdir().expect("create a temporary directory");
                let url = format!("sqlite://{}", directory.path().join("tern.db").display());
                Database {
                    url,
                    _directory: Some(directory),
                }
            }
            Backend::Postgres => Database {
                url: postgres::binary_database_url().await,
                _directory: None,
            },
        }
    }
}

/// Returns a conversation id no other test of this binary uses, because
/// the PostgreSQL tests of one binary share a database.
pub fn conversation_id(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Returns the configuration every test server starts from: the bundled
/// example assistant, the offline understander, no keys except the HMAC
/// key, and short timeouts.
pub fn base_config(database_url: &str) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().expect("valid address"),
        flows: None,
        actions: None,
        responses: None,
        database_url: database_url.to_string(),
        llm: LlmSettings {
            provider: "offline".into(),
            base_url: None,
            model: None,
            mode: None,
            api_key: None,
            timeout: Duration::from_secs(5),
            max_retries: 0,
            max_concurrency: 16,
            apology: DEFAULT_APOLOGY.into(),
        },
        admin_key: None,
        client_key: None,
        hmac_key: Some(HMAC_KEY.into()),
        cors_origins: Vec::new(),
        retention: None,
        max_upload_bytes: 256 * 1024,
        shutdown_timeout: Duration::from_secs(5),
        log_json: false,
    }
}

/// Points `config` at a mock LLM speaking the OpenAI API.
pub fn use_mock_llm(config: &mut Config, mock: &MockServer) {
    config.llm.provider = "openai".into();
    config.llm.base_url = Some(mock.base_url());
    config.llm.model = Some("mock".into());
}

/// Points `config` at a flow set and actions file instead of the example.
pub fn use_flows(config: &mut Config, flows: &Path, actions: Option<&Path>) {
    config.flows = Some(flows.to_path_buf());
    config.actions = actions.map(Path::to_path_buf);
}

/// A running server. Dropping it fires the shutdown future without waiting
/// for the server to stop.
pub struct TestServer {
    pub address: SocketAddr,
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    database: Arc<Database>,
}

impl TestServer {
    /// Starts a server with the base configuration on a new database.
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, |_| {}).await
    }

    /// Starts a server on a new database after `configure` has adjusted the
    /// base configuration.
    pub async fn start_with(backend: Backend, configure: impl FnOnce(&mut Config)) -> TestServer {
        let database = Arc::new(Database::create(backend).await);
        Self::start_on(database, configure).await
    }

    /// Starts a server on an existing database, which other servers may share.
    pub async fn start_on(
        database: Arc<Database>,
        configure: impl FnOnce(&mut Config),
    ) -> TestServer {
        let mut config = base_config(&database.url);
        configure(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let address = listener.local_addr().expect("listener address");
        let state = tern_server::build_state(config, address)
            .await
            .unwrap_or_else(|error| panic!("cannot build the server state: {error:#}"));
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(tern_server::run(state, listener, async move {
            let _ = stopped.await;
        }));
        TestServer {
            address,
            http: client(),
            shutdown: Some(shutdown),
            task: Some(task),
            database,
        }
    }

    pub fn database(&self) -> Arc<Database> {
        self.database.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub fn messages_url(&self, conversation: &str) -> String {
        self.url(&format!("/api/v1/conversations/{conversation}/messages"))
    }

    /// Posts a message body and returns the raw response.
    pub async fn post_message(&self, conversation: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.messages_url(conversation))
            .json(body)
            .send()
            .await
            .unwrap_or_else(|error| panic!("POST message to `{conversation}` failed: {error}"))
    }

    /// Sends a message body and returns the reply, failing unless the
    /// status is 200.
    pub async fn send_json(&self, conversation: &str, body: Value) -> Value {
        let response = self.post_message(conversation, &body).await;
        expect_ok(response, &format!("message {body} to `{conversation}`")).await
    }

    /// Sends `text` and returns the reply, failing unless the status is 200.
    pub async fn send(&self, conversation: &str, text: &str) -> Value {
        self.send_json(conversation, json!({ "text": text })).await
    }

    /// Uploads a file and returns the attachment the server created,
    /// failing unless the status is 201.
    pub async fn upload(
        &self,
        conversation: &str,
        name: &str,
        content_type: &str,
        data: Vec<u8>,
    ) -> Value {
        let response = self
            .http
            .post(self.url(&format!(
                "/api/v1/conversations/{conversation}/uploads?name={name}"
            )))
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(data)
            .send()
            .await
            .expect("POST upload");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(
            status,
            StatusCode::CREATED,
            "upload `{name}`: expected 201, got {status} with body {text}"
        );
        serde_json::from_str(&text).expect("the upload response is JSON")
    }

    /// Returns `GET /api/v1/conversations/{id}`, or `None` on 404.
    pub async fn conversation(&self, conversation: &str) -> Option<Value> {
        self.read_conversation(conversation, None).await
    }

    /// Returns `GET /api/v1/conversations/{id}` sent with an admin key, or
    /// `None` on 404.
    pub async fn conversation_with_key(
        &self,
        conversation: &str,
        admin_key: &str,
    ) -> Option<Value> {
        self.read_conversation(conversation, Some(admin_key)).await
    }

    async fn read_conversation(
        &self,
        conversation: &str,
        admin_key: Option<&str>,
    ) -> Option<Value> {
        let mut request = self
            .http
            .get(self.url(&format!("/api/v1/conversations/{conversation}")));
        if let Some(key) = admin_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.expect("GET conversation");
        if response.status() == StatusCode::NOT_FOUND {
            return None;
        }
        Some(expect_ok(response, &format!("GET conversation `{conversation}`")).await)
    }

    /// Returns every transcript event of a conversation, reading all pages.
    pub async fn transcript(&self, conversation: &str) -> Vec<Value> {
        let mut events = Vec::new();
        let mut after = 0;
        loop {
            let url = self.url(&format!(
                "/api/v1/conversations/{conversation}/transcript?after={after}&limit=500"
            ));
            let response = self.http.get(url).send().await.expect("GET transcript");
            // An unknown conversation has no events; the 404 itself is
            // checked where it matters.
            if after == 0 && response.status() == StatusCode::NOT_FOUND {
                return events;
            }
            let page = expect_ok(response, &format!("GET transcript of `{conversation}`")).await;
            let batch = page["events"].as_array().cloned().unwrap_or_default();
            if batch.is_empty() {
                return events;
            }
            after = batch
                .last()
                .and_then(|event| event["seq"].as_i64())
                .expect("events have a seq");
            events.extend(batch);
        }
    }

    pub async fn metrics(&self) -> String {
        let response = self
            .http
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("GET /metrics");
        assert_eq!(response.status(), StatusCode::OK, "GET /metrics");
        response.text().await.expect("metrics body")
    }

    /// Fires the shutdown future that `run` was given.
    pub fn begin_shutdown(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Waits for `run` to return, failing after `limit`.
    pub async fn wait_stopped(&mut self, limit: Duration) -> anyhow::Result<()> {
        let task = self
            .task
            .take()
            .expect("the server was started and not yet awaited");
        match tokio::time::timeout(limit, task).await {
            Ok(joined) => joined.expect("the server task panicked"),
            Err(_) => panic!("the server did not stop within {limit:?}"),
        }
    }

    /// Shuts the server down and waits for it, failing if `run` returns an
    /// error.
    pub async fn stop(mut self) {
        self.begin_shutdown();
        self.wait_stopped(Duration::from_secs(10))
            .await
            .expect("the server stopped with an error");
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.begin_shutdown();
    }
}

/// Builds an HTTP client that never uses a proxy from the environment,
/// because all test traffic goes to loopback.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("build the HTTP client")
}

/// Reads a JSON body, failing with the status and body unless it is 200.
pub async fn expect_ok(response: reqwest::Response, what: &str) -> Value {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(
        status,
        StatusCode::OK,
        "{what}: expected 200, got {status} with body {text}"
    );
    serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("{what}: the body is not JSON ({error}): {text}"))
}

/// Checks that a response is an API error with this status and code, and
/// returns its `error` object.
pub async fn expect_error(
    response: reqwest::Response,
    status: StatusCode,
    code: &str,
    what: &str,
) -> Value {
    let actual = response.status();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(
        actual, status,
        "{what}: expected {status}, got {actual} with body {text}"
    );
    assert!(
        content_type.starts_with("application/json"),
        "{what}: content type is `{content_type}`, body {text}"
    );
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("{what}: the body is not JSON ({error}): {text}"));
    let error = body["error"].clone();
    assert_eq!(error["code"], code, "{what}: body {text}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: no message in {text}"
    );
    if let Some(hint) = error.get("hint") {
        assert!(
            hint.as_str().is_some_and(|h| !h.is_empty()),
            "{what}: empty hint in {text}"
        );
    }
    error
}

/// Returns the texts of a reply's `messages`.
pub fn texts(reply: &Value) -> Vec<String> {
    reply["messages"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .filter_map(|m| m["text"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Counts the transcript events of one kind.
pub fn count_kind(events: &[Value], kind: &str) -> usize {
    events.iter().filter(|event| event["kind"] == kind).count()
}

/// Reads a Prometheus counter from `/metrics` text: the sum over the series
/// of `name` whose labels include all of `labels`. A series not yet
/// recorded counts as 0.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, series_labels) = match series.split_once('{') {
                Some((series_name, rest)) => (series_name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if series_name != name {
                return None;
            }
            let all = labels.iter().all(|(key, expected)| {
                series_labels
                    .split(',')
                    .any(|pair| pair == format!("{key}=\"{expected}\""))
            });
            if all { value.parse::<f64>().ok() } else { None }
        })
        .sum()
}

/// Binds a loopback port and releases it, so that nothing listens there
/// for the rest of the test (barring another process taking it).
pub async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    listener.local_addr().expect("listener address").port()
}
