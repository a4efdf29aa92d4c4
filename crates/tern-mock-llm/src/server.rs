//! The server's lifecycle, the state shared by requests, and the request log.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::serve::ListenerExt;
use serde_json::Value;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{Latency, MockConfig};
use crate::decide::Responder;
use crate::routes::router;
use crate::stats::{MockStats, Stats};

/// How long the `timeout` fault delays a response before it gives up with
/// 504.
pub const TIMEOUT_FAULT_DELAY: Duration = Duration::from_secs(120);
/// Connections the kernel queues before they are accepted. Large because a
/// load test opens thousands at once; Linux caps it at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 4096;
/// How long [`MockServer::shutdown`] waits for open connections to close.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// One chat request as received, for tests to inspect.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub path: String,
    /// Header names in lowercase. Values of `authorization`, `x-api-key`,
    /// `api-key` and `proxy-authorization` are replaced by `<redacted>`,
    /// keeping the scheme of `authorization` (`Bearer <redacted>`).
    pub headers: Vec<(String, String)>,
    /// The body, or the raw text as a JSON string if it was not JSON.
    pub body: Value,
}

impl RecordedRequest {
    /// Returns the value of header `name`, ignoring case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(candidate, _)| candidate.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// A running mock server. Dropping it stops the server without waiting.
pub struct MockServer {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: JoinHandle<io::Result<()>>,
}

impl MockServer {
    /// Binds `listen` (port 0 picks a free port, see [`MockServer::addr`])
    /// and serves until [`MockServer::shutdown`]. Must run inside a Tokio
    /// runtime.
    pub async fn start(listen: SocketAddr, config: MockConfig) -> io::Result<MockServer> {
        let listener = bind(listen)?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::new(Shared::new(config, stopped.clone()));
        tracing::info!(
            %addr,
            rules = shared.responder.rule_count(),
            default_reply = ?shared.responder.default_reply(),
            "mock LLM server listening"
        );

        let app = router(shared.clone());
        let listener = listener.tap_io(|stream| {
            // Small replies should not wait for Nagle's algorithm.
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, "could not set TCP_NODELAY");
            }
        });
        let mut stopped = stopped;
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                })
                .await
        });
        Ok(MockServer {
            addr,
            shared,
            stop,
            task,
        })
    }

    /// Returns the OpenAI-style base URL, such as `http://127.0.0.1:8089/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Returns the recorded chat requests, oldest first, at most
    /// [`MockConfig::record_limit`] of them.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        let recorded = self
            .shared
            .recorded
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        recorded.iter().cloned().collect()
    }

    pub fn stats(&self) -> MockStats {
        self.shared.stats.snapshot()
    }

    /// Stops accepting connections, ends requests that are still waiting
    /// (they get 503), and waits up to 5 s for connections to close.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        match tokio::time::timeout(SHUTDOWN_GRACE, &mut self.task).await {
            Ok(Ok(Ok(()))) => tracing::info!(addr = %self.addr, "mock LLM server stopped"),
            Ok(Ok(Err(error))) => {
                tracing::warn!(addr = %self.addr, %error, "mock LLM server failed")
            }
            Ok(Err(error)) => {
                tracing::warn!(addr = %self.addr, %error, "mock LLM server task failed")
            }
            Err(_) => {
                tracing::warn!(
                    addr = %self.addr,
                    grace_s = SHUTDOWN_GRACE.as_secs(),
                    "connections still open after the grace period; closing them"
                );
                self.task.abort();
            }
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

fn bind(listen: SocketAddr) -> io::Result<TcpListener> {
    let socket = if listen.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(listen)?;
    socket.listen(LISTEN_BACKLOG)
}

/// State shared by all requests. Only the request log takes a lock, and only
/// to push one entry.
pub(crate) struct Shared {
    pub latency: Latency,
    pub responder: Responder,
    pub stats: Stats,
    pub next_id: AtomicU64,
    record_limit: usize,
    recorded: Mutex<VecDeque<RecordedRequest>>,
    stopped: watch::Receiver<bool>,
}

impl Shared {
    fn new(config: MockConfig, stopped: watch::Receiver<bool>) -> Self {
        let (rules, script_default) = match config.script {
            Some(script) => (script.rules, script.default_reply),
            None => (Vec::new(), None),
        };
        let default_reply = script_default.unwrap_or(config.default_reply);
        Self {
            latency: config.latency,
            responder: Responder::new(rules, default_reply),
            stats: Stats::default(),
            next_id: AtomicU64::new(1),
            record_limit: config.record_limit,
            recorded: Mutex::new(VecDeque::new()),
            stopped,
        }
    }

    pub(crate) fn record(&self, uri: &Uri, headers: &HeaderMap, body: &Value) {
        if self.record_limit == 0 {
            return;
        }
        let request = RecordedRequest {
            path: uri.path().to_string(),
            headers: headers
                .iter()
                .map(|(name, value)| redact_header(name.as_str(), value))
                .collect(),
            body: body.clone(),
        };
        let mut recorded = self.recorded.lock().unwrap_or_else(PoisonError::into_inner);
        if recorded.len() >= self.record_limit {
            recorded.pop_front();
        }
        recorded.push_back(request);
    }

    /// Sleeps for `delay`; returns false if the server began to shut down.
    pub(crate) async fn sleep(&self, delay: Duration) -> bool {
        if delay.is_zero() {
            return !*self.stopped.borrow();
        }
        let mut stopped = self.stopped.clone();
        tokio::select! {
            () = tokio::time::sleep(delay) => true,
            _ = stopped.wait_for(|stop| *stop) => false,
        }
    }
}

fn redact_header(name: &str, value: &HeaderValue) -> (String, String) {
    let text = String::from_utf8_lossy(value.as_bytes());
    let recorded_value = match name {
        "authorization" | "proxy-authorization" => match text.split_once(' ') {
            Some((scheme, _)) => format!("{scheme} <redacted>"),
            None => "<redacted>".to_string(),
        },
        "x-api-key" | "api-key" => "<redacted>".to_string(),
        _ => text.into_owned(),
    };
    (name.to_string(), recorded_value)
}
