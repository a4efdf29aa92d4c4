//! Sending one user turn to the server and checking the response.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::stats::ErrorKind;

/// One HTTP client shared by all sessions, so connections are pooled.
#[derive(Clone)]
pub struct TurnClient {
    http: reqwest::Client,
    base_url: String,
    client_key: Option<String>,
}

/// The parts of a reply the bench checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub flow: Option<String>,
    pub step: Option<String>,
    pub llm_calls: u64,
}

/// The outcome of one turn.
#[derive(Debug)]
pub enum TurnOutcome {
    Answered {
        reply: Reply,
        latency: Duration,
        answered: Instant,
    },
    Failed {
        kind: ErrorKind,
        message: String,
    },
}

/// Idle keep-alive connections the bench holds open to the server.
const MAX_IDLE_CONNECTIONS: usize = 4096;

impl TurnClient {
    pub fn new(
        base_url: &str,
        client_key: Option<String>,
        timeout: Duration,
    ) -> anyhow::Result<TurnClient> {
        let http = reqwest::Client::builder()
            // The load stays on loopback even when a proxy is configured in
            // the environment.
            .no_proxy()
            // Sessions share connections like browsers behind a load
            // balancer would; keeping one idle connection per session
            // would exhaust the server's open-files limit long before its
            // other limits.
            .pool_max_idle_per_host(MAX_IDLE_CONNECTIONS)
            .pool_idle_timeout(Duration::from_secs(300))
            .tcp_nodelay(true)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .timeout(timeout)
            .build()?;
        Ok(TurnClient {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            client_key,
        })
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Posts `body` as a message of `conversation` and checks the reply.
    pub async fn send(&self, conversation: &str, body: &Value) -> TurnOutcome {
        let url = format!(
            "{}/api/v1/conversations/{conversation}/messages",
            self.base_url
        );
        let mut request = self.http.post(url).json(body);
        if let Some(key) = &self.client_key {
            request = request.bearer_auth(key);
        }
        let sent = Instant::now();
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => return failed_request(&error),
        };
        let status = response.status();
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes,
            Err(error) => return failed_request(&error),
        };
        let answered = Instant::now();
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes);
            return TurnOutcome::Failed {
                kind: ErrorKind::HttpStatus(status.as_u16()),
                message: format!("{status}: {}", text.chars().take(300).collect::<String>()),
            };
        }
        match parse_reply(&bytes) {
            Ok(reply) => TurnOutcome::Answered {
                reply,
                latency: answered - sent,
                answered,
            },
            Err(message) => TurnOutcome::Failed {
                kind: ErrorKind::UnexpectedReply,
                message,
            },
        }
    }
}

fn failed_request(error: &reqwest::Error) -> TurnOutcome {
    let kind = if error.is_timeout() {
        ErrorKind::Timeout
    } else if error.is_connect() {
        ErrorKind::Connect
    } else {
        ErrorKind::Request
    };
    TurnOutcome::Failed {
        kind,
        message: error_chain(error),
    }
}

/// Joins the error and its sources on one line, such as "error sending
/// request: connection refused".
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Reads a message response: JSON with a non-empty `messages` array, no
/// hand-over, and `flow`, `step` and `llm_calls`.
pub fn parse_reply(bytes: &[u8]) -> Result<Reply, String> {
    let body: Value = serde_json::from_slice(bytes).map_err(|error| {
        let start = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
        format!("the response is not JSON ({error}): {start}")
    })?;
    let messages = body["messages"].as_array().map_or(0, Vec::len);
    if messages == 0 {
        return Err(format!("the reply has no messages: {}", clip(&body)));
    }
    if body["handed_off"].as_bool() == Some(true) {
        return Err(format!("the conversation was handed off: {}", clip(&body)));
    }
    Ok(Reply {
        flow: body["flow"].as_str().map(str::to_string),
        step: body["step"].as_str().map(str::to_string),
        llm_calls: body["llm_calls"].as_u64().unwrap_or(0),
    })
}

fn clip(body: &Value) -> String {
    body.to_string().chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_with_messages_parsed() {
        let body = br#"{"messages":[{"text":"What is the plate?"}],"flow":"pay_parking_fine","step":"ask_plate","handed_off":false,"llm_calls":1}"#;
        let reply = parse_reply(body).unwrap();
        assert_eq!(reply.flow.as_deref(), Some("pay_parking_fine"));
        assert_eq!(reply.step.as_deref(), Some("ask_plate"));
        assert_eq!(reply.llm_calls, 1);
    }

    #[test]
    fn reply_without_flow_parsed() {
        let body = br#"{"messages":[{"text":"Done."}],"flow":null,"step":null,"handed_off":false,"llm_calls":0}"#;
        let reply = parse_reply(body).unwrap();
        assert_eq!(reply.flow, None);
        assert_eq!(reply.step, None);
        assert_eq!(reply.llm_calls, 0);
    }

    #[test]
    fn empty_messages_rejected() {
        let error = parse_reply(br#"{"messages":[],"flow":null}"#).unwrap_err();
        assert!(error.contains("no messages"), "{error}");
    }

    #[test]
    fn non_json_rejected() {
        let error = parse_reply(b"<html>busy</html>").unwrap_err();
        assert!(error.contains("not JSON"), "{error}");
        assert!(error.contains("<html>busy"), "{error}");
    }

    #[test]
    fn hand_off_rejected() {
        let body = br#"{"messages":[{"text":"Connecting you."}],"handed_off":true}"#;
        let error = parse_reply(body).unwrap_err();
        assert!(error.contains("handed off"), "{error}");
    }

    #[tokio::test]
    async fn refused_connection_is_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let client =
            TurnClient::new(&format!("http://{address}"), None, Duration::from_secs(2)).unwrap();
        let outcome = client.send("c1", &serde_json::json!({"text": "hi"})).await;
        match outcome {
            TurnOutcome::Failed { kind, .. } => assert_eq!(kind, ErrorKind::Connect),
            other => panic!("expected a connect error, got {other:?}"),
        }
    }
}
