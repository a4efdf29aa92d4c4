//! Calls against real webhook servers on 127.0.0.1 that check each request's
//! signature with `verify` and respond with a scripted reply.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Map, Value, json};
use tern_actions::{ActionCaller, ActionError, CallReport, CallerConfig, canonical_json, verify};
use tern_engine::ActionOutcome;
use tern_flow::actions::{ActionDef, ActionRegistry};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const KEY: &[u8] = b"webhook-test-key";

/// Scripted response of the test webhook to a correctly signed request.
#[derive(Clone)]
enum Reply {
    Json(StatusCode, Value),
    Text(StatusCode, &'static str),
    /// A 200 response with a body of this many bytes and a Content-Length.
    Large(usize),
    /// A success reply sent after this delay.
    Slow(Duration),
    /// A redirect to another path.
    Redirect,
}

/// One request as the webhook saw it.
#[derive(Clone, Debug)]
struct Received {
    payload: Value,
    signature_valid: bool,
    canonical: bool,
    content_type: Option<String>,
}

struct ServerState {
    reply: Reply,
    received: Mutex<Vec<Received>>,
}

struct Webhook {
    url: String,
    state: Arc<ServerState>,
}

impl Webhook {
    fn received(&self) -> Vec<Received> {
        self.state
            .received
            .lock()
            .expect("request log lock")
            .clone()
    }
}

async fn start_webhook(reply: Reply) -> Webhook {
    let state = Arc::new(ServerState {
        reply,
        received: Mutex::new(Vec::new()),
    });
    let app = Router::new()
        .route("/hook", post(handle))
        .with_state(Arc::clone(&state));
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let url = format!(
        "http://{}/hook",
        listener.local_addr().expect("bound address")
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Webhook { url, state }
}

async fn handle(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let signature_valid = verify(KEY, &body).is_ok();
    let payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let received = Received {
        canonical: canonical_json(&payload).as_bytes() == &body[..],
        payload,
        signature_valid,
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string),
    };
    state
        .received
        .lock()
        .expect("request log lock")
        .push(received);

    if !signature_valid {
        let reply = json!({"result": "", "error": "invalid signature"});
        return (StatusCode::UNAUTHORIZED, axum::Json(reply)).into_response();
    }
    match state.reply.clone() {
        Reply::Json(status, value) => (status, axum::Json(value)).into_response(),
        Reply::Text(status, text) => (status, text).into_response(),
        Reply::Large(size) => {
            let body = format!(r#"{{"result":"{}","error":""}}"#, "x".repeat(size));
            (StatusCode::OK, body).into_response()
        }
        Reply::Slow(delay) => {
            tokio::time::sleep(delay).await;
            (
                StatusCode::OK,
                axum::Json(json!({"result": "late", "error": ""})),
            )
                .into_response()
        }
        Reply::Redirect => (
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, "/elsewhere")],
        )
            .into_response(),
    }
}

/// Starts a server that responds to one request with a chunked 200 response of
/// `chunks` chunks of 1 KiB, so the body has no Content-Length.
async fn start_chunked_webhook(chunks: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let url = format!(
        "http://{}/hook",
        listener.local_addr().expect("bound address")
    );
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept the request");
        read_request(&mut socket).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
        if socket.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = format!("400\r\n{}\r\n", "x".repeat(1024));
        for _ in 0..chunks {
            // The client closes the connection once it has read enough.
            if socket.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
        }
        let _ = socket.write_all(b"0\r\n\r\n").await;
    });
    url
}

/// Reads an HTTP/1.1 request head and its Content-Length body.
async fn read_request(socket: &mut tokio::net::TcpStream) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let read = socket.read(&mut chunk).await.expect("read the request");
        if read == 0 {
            return;
        }
        buffer.extend_from_slice(&chunk[..read]);
        let text = String::from_utf8_lossy(&buffer);
        let Some(head_end) = text.find("\r\n\r\n") else {
            continue;
        };
        let length = text[..head_end]
            .lines()
            .find_map(|line| {
                line.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().to_string())
            })
            .and_then(|value| value.parse::<usize>().ok())
            .unwrap_or(0);
        if buffer.len() >= head_end + 4 + length {
            return;
        }
    }
}

fn action(url: &str) -> ActionDef {
    ActionDef {
        name: "check_fine".to_string(),
        description: "Looks up unpaid traffic fines".to_string(),
        webhook_url: url.to_string(),
        json_schema: json!({
            "type": "object",
            "properties": {
                "plate_number": {"type": "string"},
                "year": {"type": "integer"}
            },
            "required": ["plate_number"]
        }),
        line: 1,
    }
}

fn parameters(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("parameters must be an object, got {other}"),
    }
}

fn caller() -> ActionCaller {
    ActionCaller::new(CallerConfig::new(KEY)).expect("valid caller config")
}

fn caller_with(change: impl FnOnce(&mut CallerConfig)) -> ActionCaller {
    let mut config = CallerConfig::new(KEY);
    change(&mut config);
    ActionCaller::new(config).expect("valid caller config")
}

fn failure_text(report: &CallReport) -> &str {
    match &report.outcome {
        ActionOutcome::Failure { error } => error,
        ActionOutcome::Success { result } => {
            panic!("expected a failure, got success with {result}")
        }
    }
}

#[tokio::test]
async fn string_result_succeeds() {
    let webhook = start_webhook(Reply::Json(
        StatusCode::OK,
        json!({"result": "2 fines", "error": ""}),
    ))
    .await;
    let report = caller()
        .call(
            &action(&webhook.url),
            &parameters(json!({"plate_number": "ABC 123"})),
        )
        .await;

    assert_eq!(
        report.outcome,
        ActionOutcome::Success {
            result: json!("2 fines")
        }
    );
    assert_eq!(report.status, Some(200));
    assert_eq!(report.error_kind, None);

    let received = webhook.received();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert!(request.signature_valid);
    assert!(
        request.canonical,
        "body is not canonical JSON: {}",
        request.payload
    );
    assert_eq!(request.content_type.as_deref(), Some("application/json"));
    assert_eq!(request.payload["action_name"], "check_fine");
    assert_eq!(
        request.payload["parameters"],
        json!({"plate_number": "ABC 123"})
    );
    assert!(request.payload["timestamp"].as_u64().unwrap() > 1_600_000_000);
    assert!(request.payload.get("test").is_none());
}

#[tokio::test]
async fn object_result_succeeds() {
    let result = json!({"fines": [{"amount": 150.5, "currency": "SAR"}], "total": 1});
    let webhook = start_webhook(Reply::Json(
        StatusCode::OK,
        json!({"result": result, "error": ""}),
    ))
    .await;
    let report = caller()
        .call(
            &action(&webhook.url),
            &parameters(json!({"plate_number": "ABC 123"})),
        )
        .await;

    assert_eq!(report.outcome, ActionOutcome::Success { result });
    assert_eq!(report.error_kind, None);
}

#[tokio::test]
async fn non_ascii_parameters_verified() {
    let webhook = start_webhook(Reply::Json(
        StatusCode::OK,
        json!({"result": "ok", "error": ""}),
    ))
    .await;
    let values = json!({"plate_number": "أ ب ج ١٢٣ <&> 😀", "year": 2024});
    let report = caller()
        .call(&action(&webhook.url), &parameters(values.clone()))
        .await;

    assert_eq!(report.error_kind, None, "{:?}", report.outcome);
    let received = webhook.received();
    assert!(received[0].signature_valid);
    assert!(received[0].canonical);
    assert_eq!(received[0].payload["parameters"], values);
}

#[tokio::test]
async fn error_field_fails() {
    let reply = json!({"result": "", "error": "plate not registered"});
    let webhook = start_webhook(Reply::Json(StatusCode::OK, reply)).await;
    let report = caller()
        .call(
            &action(&webhook.url),
            &parameters(json!({"plate_number": "ABC 123"})),
        )
        .await;

    assert_eq!(
        report.outcome,
        ActionOutcome::Failure {
            error: "plate not registered".to_string()
        }
    );
    assert_eq!(report.status, Some(200));
    assert_eq!(report.error_kind, Some("action_error"));
}

#[tokio::test]
async fn server_error_status_fails() {
    let webhook = start_webhook(Reply::Text(StatusCode::INTERNAL_SERVER_ERROR, "boom")).await;
    let report = caller()
        .call(
            &action(&webhook.url),
            &parameters(json!({"plate_number": "ABC 123"})),
        )
        .await;

    assert_eq!(report.status, Some(500));
    assert_eq!(report.error_kind, Some("http_status"));
    assert_eq!(
        failure_text(&report),
        "webhook returned HTTP 500 Internal Server Error"
    );
}

#[tokio::test]
async fn slow_reply_times_out() {
    let webhook = start_webhook(Reply::Slow(Duration::from_secs(5))).await;
    let caller = caller_with(|config| config.timeout = Duration::from_millis(300));
    let report = caller
        .call(
            &action(&webhook.url),
            &parameters(json!({"plate_number": "ABC 123"})),
        )
        .await;

    assert_eq!(report.error_kind, Some("timeout"));
    assert_eq!(report.status, None);
    assert_eq!(failure_text(&report), "webhook timed out after 300 ms");
    assert!(
        report.latency >= Duration::from_millis(300),
        "latency {:?}",
        report.latency
    );
    assert!(
        report.latency < Duration::from_secs(3),
        "latency {:?}",
        report.latency
    );
}

#[tokio::test]
async fn oversized_body_with_length_fails() {
    let webhook = start_webhook(Reply::Large(10_000)).await;
    let caller = caller_with(|config| config.max_response_bytes = 4096);
    let report = caller
        .call(
            &action(&webhook.url),
            &parameters(json!({"plate_number": "ABC 123"})),
        )
        .await;

    assert_eq!(report.error_kind, Some("too_large"));
    assert_eq!(report.status, Some(200));
    assert_eq!(
        failure_text(&report),
        "webhook response body exceeds the limit of 4096 bytes"
    );
}

#[tokio::test]
async fn oversized_chunked_body_fails() {
    let url = start_chunked_webhook(64).await;
    let caller = caller_with(|config| config.max_response_bytes = 4096);
    let report = caller
        .call(
            &action(&url),
            &parameters(json!({"plate_number": "ABC 123"})),
        )
        .await;

    assert_eq!(report.error_kind, Some("too_large"));
    assert_eq!(report.status, Some(200));
}

#[tokio::test]
async fn body_at_limit_accepted() {
    let webhook = start_webhook(Reply::Large(100)).await;
    let limit = r#"{"result":"","error":""}"#.len() + 100;
    let caller = caller_with(|config| config.max_response_bytes = limit);
    let report = caller
        .call(
            &action(&webhook.url),
            &parameters(json!({"plate_number": "ABC 123"})),
        )
        .await;

    assert_eq!(report.error_kind, None, "{:?}", report.outcome);
}

#[tokio::test]
async fn invalid_json_fails() {
    let webhook = start_webhook(Reply::Text(StatusCode::OK, "<html>not json</html>")).await;
    let report = caller()
        .call(
            &action(&webhook.url),
            &parameters(json!({"plate_number": "ABC 123"})),
        )
        .await;

    assert_eq!(report.error_kind, Some("invalid_response"));
    assert_eq!(report.status, Some(200));
    let text = failure_text(&report);
    assert!(
        text.starts_with("webhook response is not valid JSON"),
        "{text}"
    );
    assert!(text.contains("<html>not json</html>"), "{text}");
}

#[tokio::test]
async fn missing_result_fails() {
    let webhook = start_webhook(Reply::Json(StatusCode::OK, json!({"status": "ok"}))).await;
    let report = caller()
        .call(
            &action(&webhook.url),
            &parameters(json!({"plate_number": "ABC 123"})),
        )
        .await;

    assert_eq!(report.error_kind, Some("invalid_response"));
}

#[tokio::test]
async fn missing_required_parameter_not_sent() {
    let webhook = start_webhook(Reply::Json(
        StatusCode::OK,
        json!({"result": "ok", "error": ""}),
    ))
    .await;
    let report = caller()
        .call(&action(&webhook.url), &parameters(json!({"year": 2020})))
        .await;

    assert_eq!(report.error_kind, Some("invalid_parameters"));
    assert_eq!(report.status, None);
    assert_eq!(
        failure_text(&report),
        "invalid parameters for action `check_fine`: missing required parameter `plate_number`"
    );
    assert!(webhook.received().is_empty());
}

#[tokio::test]
async fn wrong_parameter_type_not_sent() {
    let webhook = start_webhook(Reply::Json(
        StatusCode::OK,
        json!({"result": "ok", "error": ""}),
    ))
    .await;
    let values = json!({"plate_number": "ABC 123", "year": "twenty-twenty"});
    let report = caller()
        .call(&action(&webhook.url), &parameters(values))
        .await;

    assert_eq!(report.error_kind, Some("invalid_parameters"));
    let text = failure_text(&report);
    assert!(text.contains("parameter `year`"), "{text}");
    assert!(text.contains("integer"), "{text}");
    assert!(!text.contains("twenty-twenty"), "{text}");
    assert!(webhook.received().is_empty());
}

#[tokio::test]
async fn test_call_sends_test_flag() {
    let webhook = start_webhook(Reply::Json(
        StatusCode::OK,
        json!({"result": "ready", "error": ""}),
    ))
    .await;
    let report = caller().test_call(&action(&webhook.url)).await;

    assert_eq!(
        report.outcome,
        ActionOutcome::Success {
            result: json!("ready")
        }
    );
    let received = webhook.received();
    assert_eq!(received.len(), 1);
    assert!(received[0].signature_valid);
    assert!(received[0].canonical);
    assert_eq!(received[0].payload["test"], json!(true));
    assert_eq!(received[0].payload["parameters"], json!({}));
}

#[tokio::test]
async fn test_call_accepts_any_2xx_body() {
    let webhook = start_webhook(Reply::Text(StatusCode::OK, "OK")).await;
    let report = caller().test_call(&action(&webhook.url)).await;

    assert_eq!(
        report.outcome,
        ActionOutcome::Success {
            result: Value::Null
        }
    );
}

#[tokio::test]
async fn test_call_fails_on_error_status() {
    let webhook = start_webhook(Reply::Text(StatusCode::NOT_FOUND, "no such hook")).await;
    let report = caller().test_call(&action(&webhook.url)).await;

    assert_eq!(report.error_kind, Some("http_status"));
    assert_eq!(report.status, Some(404));
}

#[tokio::test]
async fn wrong_key_rejected_by_webhook() {
    let webhook = start_webhook(Reply::Json(
        StatusCode::OK,
        json!({"result": "ok", "error": ""}),
    ))
    .await;
    let caller = caller_with(|config| config.hmac_key = b"some-other-key".to_vec());
    let report = caller
        .call(
            &action(&webhook.url),
            &parameters(json!({"plate_number": "ABC 123"})),
        )
        .await;

    assert!(!webhook.received()[0].signature_valid);
    assert_eq!(report.error_kind, Some("http_status"));
    assert_eq!(
        failure_text(&report),
        "webhook returned HTTP 401 Unauthorized: invalid signature"
    );
}

#[tokio::test]
async fn refused_connection_fails() {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let url = format!(
        "http://{}/hook",
        listener.local_addr().expect("bound address")
    );
    drop(listener);
    let report = caller()
        .call(
            &action(&url),
            &parameters(json!({"plate_number": "ABC 123"})),
        )
        .await;

    assert_eq!(report.error_kind, Some("connect"));
    assert_eq!(report.status, None);
    let text = failure_text(&report);
    assert!(
        text.starts_with("failed to connect to the webhook"),
        "{text}"
    );
    assert!(
        !text.contains("127.0.0.1"),
        "the URL must stay out of the message: {text}"
    );
}

#[tokio::test]
async fn invalid_url_fails() {
    let report = caller()
        .call(
            &action("not a url"),
            &parameters(json!({"plate_number": "ABC 123"})),
        )
        .await;

    assert_eq!(report.error_kind, Some("connect"));
    assert!(
        failure_text(&report).starts_with("invalid webhook URL"),
        "{}",
        failure_text(&report)
    );
}

#[tokio::test]
async fn oversized_request_not_sent() {
    let webhook = start_webhook(Reply::Json(
        StatusCode::OK,
        json!({"result": "ok", "error": ""}),
    ))
    .await;
    let caller = caller_with(|config| config.max_request_bytes = 200);
    let values = json!({"plate_number": "x".repeat(500)});
    let report = caller
        .call(&action(&webhook.url), &parameters(values))
        .await;

    assert_eq!(report.error_kind, Some("too_large"));
    assert!(webhook.received().is_empty());
}

#[tokio::test]
async fn redirect_not_followed() {
    let webhook = start_webhook(Reply::Redirect).await;
    let report = caller()
        .call(
            &action(&webhook.url),
            &parameters(json!({"plate_number": "ABC 123"})),
        )
        .await;

    assert_eq!(report.error_kind, Some("http_status"));
    assert_eq!(report.status, Some(307));
    assert_eq!(webhook.received().len(), 1);
}

#[tokio::test]
async fn invalid_schema_fails() {
    let webhook = start_webhook(Reply::Json(
        StatusCode::OK,
        json!({"result": "ok", "error": ""}),
    ))
    .await;
    let mut broken = action(&webhook.url);
    broken.json_schema = json!({"type": "object", "properties": {"year": {"type": "integr"}}});
    let report = caller()
        .call(&broken, &parameters(json!({"year": 1})))
        .await;

    assert_eq!(report.error_kind, Some("invalid_schema"));
    assert!(webhook.received().is_empty());
}

#[test]
fn compile_schemas_reports_invalid() {
    let mut registry = ActionRegistry::default();
    let good = action("http://127.0.0.1:9/hook");
    let mut broken = action("http://127.0.0.1:9/hook");
    broken.name = "broken".to_string();
    broken.json_schema = json!({"type": 5});
    registry.actions.insert(good.name.clone(), good);
    registry.actions.insert(broken.name.clone(), broken);

    let errors = caller().compile_schemas(&registry);
    assert_eq!(errors.len(), 1);
    assert!(matches!(&errors[0], ActionError::InvalidSchema { action, .. } if action == "broken"));
}

#[test]
fn empty_key_rejected() {
    let error = ActionCaller::new(CallerConfig::new(Vec::new())).unwrap_err();
    assert!(matches!(error, ActionError::EmptyKey));
}

#[test]
fn zero_limits_rejected() {
    let mut config = CallerConfig::new(KEY);
    config.timeout = Duration::ZERO;
    assert!(matches!(
        ActionCaller::new(config),
        Err(ActionError::InvalidConfig(_))
    ));

    let mut config = CallerConfig::new(KEY);
    config.max_response_bytes = 0;
    assert!(matches!(
        ActionCaller::new(config),
        Err(ActionError::InvalidConfig(_))
    ));
}

#[test]
fn config_debug_hides_key() {
    let text = format!("{:?}", CallerConfig::new(KEY));
    assert!(!text.contains("webhook-test-key"), "{text}");
    assert!(text.contains("redacted"), "{text}");
}
