//! The server with an LLM: `tern_mock_llm::MockServer` speaks the OpenAI
//! API on loopback, deriving its answers from the prompt unless a script
//! or a `[fault:NAME]` marker in the message selects another reply. Also graceful
//! shutdown, which needs a slow LLM to hold a turn in flight.
//!
//! Metrics are process-wide, so the tests of this binary run one at a time
//! under [`SERIAL`] and compare counters before and after.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tern_mock_llm::{Latency, MockConfig, MockServer, parse_script};
use tokio::sync::Mutex;

use common::{
    Backend, TestServer, conversation_id, count_kind, expect_error, expect_ok, metric, texts,
    use_mock_llm,
};

static SERIAL: Mutex<()> = Mutex::const_new(());

const APOLOGY: &str = "The assistant is unavailable for a moment; please send that again.";
const GREETING: &str =
    "Hello! This is the Riverside City Services assistant. How can I help you today?";

backend_tests!(
    one_llm_call_per_message,
    provider_failure_sends_apology_and_keeps_state,
    malformed_output_repaired_on_second_call,
    malformed_output_twice_sends_apology,
    shutdown_finishes_turn_in_flight,
    shutdown_timeout_bounds_wait,
);

async fn start_mock(config: MockConfig) -> MockServer {
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("valid address");
    MockServer::start(loopback, config)
        .await
        .expect("start the mock LLM")
}

/// Returns the counter delta between two `/metrics` texts.
fn delta(before: &str, after: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    metric(after, name, labels) - metric(before, name, labels)
}

async fn one_llm_call_per_message(backend: Backend) {
    let _serial = SERIAL.lock().await;
    let mock = start_mock(MockConfig::default()).await;
    let server = TestServer::start_with(backend, |config| use_mock_llm(config, &mock)).await;
    let id = conversation_id("llm");
    let before = server.metrics().await;

    let steps = [
        ("hello", Value::Null),
        ("I want to pay a parking fine", json!("ask_plate")),
        ("ABC 123", json!("ask_pay_decision")),
    ];
    for (text, step) in steps {
        let reply = server.send(&id, text).await;
        assert_eq!(reply["step"], step, "{text}: {reply}");
        assert_eq!(reply["llm_calls"], 1, "{text}: {reply}");
    }
    assert_eq!(mock.stats().requests, 3);

    let after = server.metrics().await;
    assert_eq!(delta(&before, &after, "tern_llm_calls_total", &[]), 3.0);
    assert_eq!(
        delta(
            &before,
            &after,
            "tern_llm_calls_total",
            &[("purpose", "understand"), ("outcome", "ok")]
        ),
        3.0
    );
    assert_eq!(
        delta(&before, &after, "tern_turns_total", &[("outcome", "ok")]),
        3.0
    );
    assert!(
        delta(
            &before,
            &after,
            "tern_llm_tokens_total",
            &[("kind", "prompt")]
        ) > 0.0
    );

    // The request carries the model, the schema and the user's text.
    let request = mock
        .requests()
        .into_iter()
        .next()
        .expect("a recorded request");
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(request.body["model"], "mock");
    assert_eq!(request.body["response_format"]["type"], "json_schema");
    let user = request.body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .expect("a user message");
    assert_eq!(
        tern_mock_llm::user_text(user["content"].as_str().expect("text content")),
        "hello"
    );

    // The open question's `semantic_if` conditions go with the same call,
    // so judging them costs no second call.
    let judged = server.send(&id, "not now").await;
    assert_eq!(judged["llm_calls"], 1, "{judged}");
    assert_eq!(judged["flow"], Value::Null, "{judged}");
    let last = mock
        .requests()
        .into_iter()
        .last()
        .expect("a recorded request");
    let prompt = last.body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .expect("a user message")
        .to_string();
    assert!(
        prompt.contains("the resident wants to pay the fine now"),
        "{prompt}"
    );
    let end = server.metrics().await;
    assert_eq!(
        delta(
            &after,
            &end,
            "tern_llm_calls_total",
            &[("purpose", "judge")]
        ),
        0.0
    );

    let events = server.transcript(&id).await;
    assert_eq!(count_kind(&events, "llm_call"), 4, "{events:#?}");
    server.stop().await;
    mock.shutdown().await;
}

async fn provider_failure_sends_apology_and_keeps_state(backend: Backend) {
    let _serial = SERIAL.lock().await;
    let mock = start_mock(MockConfig::default()).await;
    let server = TestServer::start_with(backend, |config| {
        use_mock_llm(config, &mock);
        config.llm.max_retries = 1;
        config.llm.apology = APOLOGY.into();
    })
    .await;
    let id = conversation_id("llm-down");
    assert_eq!(
        server.send(&id, "I want to pay a parking fine").await["step"],
        "ask_plate"
    );
    let state_before = server
        .conversation(&id)
        .await
        .expect("the conversation is stored");
    let metrics_before = server.metrics().await;
    let requests_before = mock.stats().requests;

    // The marker makes the mock return HTTP 500 to every attempt.
    let reply = server.send(&id, "ABC 123 [fault:server_error]").await;
    assert_eq!(texts(&reply), [APOLOGY]);
    assert_eq!(reply["flow"], "pay_parking_fine");
    assert_eq!(reply["step"], "ask_plate");
    assert_eq!(
        mock.stats().requests - requests_before,
        2,
        "one attempt and one retry"
    );
    assert_eq!(mock.stats().by_fault["server_error"], 2);

    let state_after = server
        .conversation(&id)
        .await
        .expect("the conversation is stored");
    assert_eq!(state_after["state"], state_before["state"]);
    let metrics_after = server.metrics().await;
    assert_eq!(
        delta(
            &metrics_before,
            &metrics_after,
            "tern_errors_total",
            &[("kind", "server_error")]
        ),
        1.0
    );
    assert_eq!(
        delta(
            &metrics_before,
            &metrics_after,
            "tern_turns_total",
            &[("outcome", "failed")]
        ),
        1.0
    );
    let events = server.transcript(&id).await;
    assert_eq!(count_kind(&events, "turn_failed"), 1, "{events:#?}");

    // The conversation goes on once the provider responds again.
    let recovered = server.send(&id, "ABC 123").await;
    assert_eq!(recovered["step"], "ask_pay_decision", "{recovered}");
    server.stop().await;
    mock.shutdown().await;
}

async fn malformed_output_repaired_on_second_call(backend: Backend) {
    let _serial = SERIAL.lock().await;
    // The first reply is cut-off JSON. The repair request carries the same
    // user text, so the second rule replies to it.
    let script = parse_script(
        Path::new("repair.yml"),
        r#"
rules:
  - match: "^I want to pay a parking fine$"
    fault: bad_json
    once: true
  - match: "^I want to pay a parking fine$"
    reply: {commands: [{command: start_flow, flow: pay_parking_fine}]}
"#,
    )
    .expect("valid script");
    let mock = start_mock(MockConfig {
        script: Some(script),
        ..MockConfig::default()
    })
    .await;
    let server = TestServer::start_with(backend, |config| use_mock_llm(config, &mock)).await;
    let id = conversation_id("llm-repair");
    let before = server.metrics().await;

    let reply = server.send(&id, "I want to pay a parking fine").await;
    assert_eq!(reply["flow"], "pay_parking_fine", "{reply}");
    assert_eq!(reply["step"], "ask_plate");
    assert_eq!(reply["llm_calls"], 2);
    assert_eq!(mock.stats().by_fault["bad_json"], 1);

    let after = server.metrics().await;
    assert_eq!(
        delta(
            &before,
            &after,
            "tern_llm_calls_total",
            &[("purpose", "understand"), ("outcome", "ok")]
        ),
        1.0
    );
    assert_eq!(
        delta(
            &before,
            &after,
            "tern_llm_calls_total",
            &[("purpose", "repair"), ("outcome", "ok")]
        ),
        1.0
    );
    let events = server.transcript(&id).await;
    let purposes: Vec<&str> = events
        .iter()
        .filter(|event| event["kind"] == "llm_call")
        .filter_map(|event| event["payload"]["purpose"].as_str())
        .collect();
    assert_eq!(purposes, ["understand", "repair"]);
    server.stop().await;
    mock.shutdown().await;
}

async fn malformed_output_twice_sends_apology(backend: Backend) {
    let _serial = SERIAL.lock().await;
    let mock = start_mock(MockConfig::default()).await;
    let server = TestServer::start_with(backend, |config| {
        use_mock_llm(config, &mock);
        config.llm.apology = APOLOGY.into();
    })
    .await;
    let id = conversation_id("llm-garbled");
    let before = server.metrics().await;

    let reply = server.send(&id, "hello [fault:bad_json]").await;
    assert_eq!(texts(&reply), [APOLOGY]);
    assert_eq!(reply["llm_calls"], 2, "the first call and one repair");
    assert_eq!(mock.stats().by_fault["bad_json"], 2);
    let after = server.metrics().await;
    assert_eq!(
        delta(
            &before,
            &after,
            "tern_errors_total",
            &[("kind", "invalid_output")]
        ),
        1.0
    );
    let stored = server
        .conversation(&id)
        .await
        .expect("the conversation is stored");
    assert_eq!(
        stored["state"],
        json!({}),
        "a failed first turn leaves the empty state"
    );
    server.stop().await;
    mock.shutdown().await;
}

async fn shutdown_finishes_turn_in_flight(backend: Backend) {
    let _serial = SERIAL.lock().await;
    let latency = Latency::Fixed(Duration::from_millis(500));
    let mock = start_mock(MockConfig {
        latency,
        ..MockConfig::default()
    })
    .await;
    let mut server = TestServer::start_with(backend, |config| use_mock_llm(config, &mock)).await;
    let id = conversation_id("shutdown");

    let (http, url) = (server.http.clone(), server.messages_url(&id));
    let in_flight = tokio::spawn(async move {
        http.post(url)
            .json(&json!({ "text": "hello" }))
            .send()
            .await
    });
    wait_for_llm_request(&mock).await;
    server.begin_shutdown();

    let response = in_flight
        .await
        .expect("task")
        .expect("the turn in flight gets a response");
    let reply = expect_ok(response, "message in flight during shutdown").await;
    assert_eq!(texts(&reply), [GREETING]);
    server
        .wait_stopped(Duration::from_secs(10))
        .await
        .expect("the server stops cleanly");

    let after_stop = common::client()
        .post(server.messages_url(&id))
        .json(&json!({ "text": "hello" }))
        .send()
        .await;
    assert!(
        after_stop.is_err(),
        "the stopped server still responded: {after_stop:?}"
    );
    mock.shutdown().await;

    // The turn was committed before the response was sent.
    let restarted = TestServer::start_on(server.database(), |_| {}).await;
    let events = restarted.transcript(&id).await;
    assert_eq!(count_kind(&events, "user_message"), 1);
    restarted.stop().await;
}

async fn shutdown_timeout_bounds_wait(backend: Backend) {
    let _serial = SERIAL.lock().await;
    let latency = Latency::Fixed(Duration::from_secs(30));
    let mock = start_mock(MockConfig {
        latency,
        ..MockConfig::default()
    })
    .await;
    let mut server = TestServer::start_with(backend, |config| {
        use_mock_llm(config, &mock);
        config.shutdown_timeout = Duration::from_millis(200);
    })
    .await;
    let id = conversation_id("shutdown-timeout");

    let (http, url) = (server.http.clone(), server.messages_url(&id));
    let in_flight = tokio::spawn(async move {
        http.post(url)
            .json(&json!({ "text": "hello" }))
            .send()
            .await
    });
    wait_for_llm_request(&mock).await;
    server.begin_shutdown();

    // `run` returns after the shutdown timeout, long before the LLM
    // answers, and cancels the turn, which commits nothing.
    server
        .wait_stopped(Duration::from_secs(10))
        .await
        .expect("the server stops cleanly");
    let response = tokio::time::timeout(Duration::from_secs(10), in_flight)
        .await
        .expect("the cancelled request ends within 10 s")
        .expect("task")
        .expect("the cancelled request gets a response");
    expect_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "shutting_down",
        "request cancelled by shutdown",
    )
    .await;
    mock.shutdown().await;

    let restarted = TestServer::start_on(server.database(), |_| {}).await;
    assert!(restarted.conversation(&id).await.is_none());
    assert!(restarted.transcript(&id).await.is_empty());
    restarted.stop().await;
}

/// Waits until the mock LLM is handling a request, so that the turn is in
/// flight.
async fn wait_for_llm_request(mock: &MockServer) {
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        while mock.stats().in_flight == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "no LLM request arrived within 10 s");
}
