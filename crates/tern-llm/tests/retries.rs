//! Failure handling against the mock server: retries, `Retry-After`,
//! timeouts, invalid responses and the concurrency limit. Attempts are
//! counted from the mock's statistics; durations have lower bounds only.

mod common;

use std::time::{Duration, Instant};

use common::{config_for, request, start_mock};
use tern_llm::{LlmError, ProviderKind, StructuredMode, build_client};
use tern_mock_llm::{Latency, MockConfig, MockServer};

const SCRIPT: &str = r#"
rules:
  - match: "^limited once$"
    fault: rate_limited
    once: true
  - match: "^flaky$"
    fault: server_error
    once: true
  - match: "^always failing$"
    fault: server_error
  - match: "^hang$"
    fault: timeout
  - match: "^malformed$"
    fault: malformed
default: {commands: []}
"#;

const OPENAI: ProviderKind = ProviderKind::OpenAi;
const MODE: StructuredMode = StructuredMode::JsonSchema;

#[tokio::test]
async fn rate_limit_honours_retry_after() {
    let server = start_mock(SCRIPT).await;
    let client = build_client(config_for(&server, OPENAI, MODE)).unwrap();

    let started = Instant::now();
    let response = client.chat(&request("limited once")).await.unwrap();
    assert_eq!(response.attempts, 2);
    assert_eq!(response.text, r#"{"commands":[]}"#);
    // The mock sends `Retry-After: 1`; the backoff alone would wait ~10 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.stats().requests, 2);
    server.shutdown().await;
}

#[tokio::test]
async fn server_error_then_success() {
    let server = start_mock(SCRIPT).await;
    let client = build_client(config_for(&server, OPENAI, MODE)).unwrap();
    let response = client.chat(&request("flaky")).await.unwrap();
    assert_eq!(response.attempts, 2);
    assert_eq!(server.stats().requests, 2);
    server.shutdown().await;
}

#[tokio::test]
async fn persistent_server_error_gives_up() {
    let server = start_mock(SCRIPT).await;
    let mut config = config_for(&server, OPENAI, MODE);
    config.max_retries = 3;
    let client = build_client(config).unwrap();

    let error = client.chat(&request("always failing")).await.unwrap_err();
    assert_eq!(error.kind(), "server_error");
    match &error {
        LlmError::Status { status, body } => {
            assert_eq!(*status, 500);
            assert!(body.contains("mock server error"), "{body}");
        }
        other => panic!("expected a status error, got {other:?}"),
    }
    assert_eq!(server.stats().requests, 4, "max_retries + 1 attempts");
    server.shutdown().await;
}

#[tokio::test]
async fn zero_retries_makes_one_attempt() {
    let server = start_mock(SCRIPT).await;
    let mut config = config_for(&server, OPENAI, MODE);
    config.max_retries = 0;
    let client = build_client(config).unwrap();
    let error = client.chat(&request("flaky")).await.unwrap_err();
    assert_eq!(error.kind(), "server_error");
    assert_eq!(server.stats().requests, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn timeout_is_retried_then_reported() {
    let server = start_mock(SCRIPT).await;
    let mut config = config_for(&server, OPENAI, MODE);
    config.timeout = Duration::from_millis(200);
    config.max_retries = 1;
    let client = build_client(config).unwrap();

    let error = client.chat(&request("hang")).await.unwrap_err();
    assert!(matches!(error, LlmError::Timeout), "{error:?}");
    assert_eq!(error.kind(), "timeout");
    assert_eq!(server.stats().requests, 2);
    server.shutdown().await;
}

#[tokio::test]
async fn malformed_body_is_not_retried() {
    let server = start_mock(SCRIPT).await;
    let client = build_client(config_for(&server, OPENAI, MODE)).unwrap();
    let error = client.chat(&request("malformed")).await.unwrap_err();
    assert_eq!(error.kind(), "invalid_response");
    assert!(
        error.to_string().contains("the body is not JSON"),
        "{error}"
    );
    assert_eq!(server.stats().requests, 1);
    server.shutdown().await;
}

/// The mock rejects an unknown `[fault:...]` marker with 400.
#[tokio::test]
async fn client_error_returns_at_once() {
    let server = start_mock(SCRIPT).await;
    let client = build_client(config_for(&server, OPENAI, MODE)).unwrap();
    let error = client
        .chat(&request("[fault:no_such_fault]"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "client_error");
    assert!(!error.is_retryable());
    match &error {
        LlmError::Status { status, body } => {
            assert_eq!(*status, 400);
            assert!(body.contains("unknown fault"), "{body}");
        }
        other => panic!("expected a status error, got {other:?}"),
    }
    assert_eq!(server.stats().requests, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn connection_refused_is_a_connect_error() {
    // Bind and drop a listener to find a port where nothing listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = tern_llm::LlmConfig::new(OPENAI, "test-model");
    config.base_url = format!("http://127.0.0.1:{port}/v1");
    config.backoff_base = Duration::from_millis(1);
    config.max_retries = 1;
    let client = build_client(config).unwrap();

    let error = client.chat(&request("hello")).await.unwrap_err();
    assert_eq!(error.kind(), "connect", "{error}");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn concurrency_limit_caps_requests_in_flight() {
    let config = MockConfig {
        latency: Latency::Fixed(Duration::from_millis(150)),
        ..MockConfig::default()
    };
    let server = MockServer::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let mut llm_config = config_for(&server, OPENAI, MODE);
    llm_config.max_concurrency = 2;
    let client = build_client(llm_config).unwrap();

    let calls = (0..6).map(|i| {
        let client = client.clone();
        tokio::spawn(async move { client.chat(&request(&format!("message {i}"))).await })
    });
    let handles: Vec<_> = calls.collect();
    for handle in handles {
        let response = handle.await.unwrap().unwrap();
        assert_eq!(response.attempts, 1);
    }

    let stats = server.stats();
    assert_eq!(stats.requests, 6);
    assert_eq!(stats.max_in_flight, 2);
    server.shutdown().await;
}
