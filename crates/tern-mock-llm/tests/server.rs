//! The mock server over a real loopback socket, driven with reqwest.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tern_mock_llm::{DefaultReply, Latency, MockConfig, MockServer, parse_script};

const SCRIPT: &str = r#"
rules:
  - match: "(?i)renew.*iqama"
    reply: {commands: [{command: start_flow, flow: iqama_renewal_flow}]}
  - match: "^slow$"
    latency_ms: 300
    reply: {commands: []}
  - match: "^flaky$"
    fault: server_error
    times: 2
  - match: "^flaky$"
    reply: {commands: [{command: greet}]}
  - match: "^hello$"
    once: true
    reply: {commands: [{command: greet}]}
  - match: "^boom$"
    fault: server_error
  - match: "^limited$"
    fault: rate_limited
  - match: "^malformed$"
    fault: malformed
  - match: "^bad json$"
    fault: bad_json
  - match: "^off schema$"
    fault: schema_breaking
  - match: "^empty$"
    fault: empty
  - match: "^hang$"
    fault: timeout
default: {commands: [{command: not_understood}]}
"#;

fn scripted_config() -> MockConfig {
    let script = parse_script(Path::new("test.yml"), SCRIPT).expect("the test script is valid");
    MockConfig {
        script: Some(script),
        ..MockConfig::default()
    }
}

async fn start(config: MockConfig) -> MockServer {
    let listen = "127.0.0.1:0".parse().expect("a valid socket address");
    MockServer::start(listen, config)
        .await
        .expect("the mock binds a loopback port")
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("the HTTP client builds")
}

fn openai_body(user: &str) -> Value {
    json!({
        "model": "gpt-test",
        "messages": [
            {"role": "system", "content": "Answer with JSON."},
            {"role": "user", "content": user},
        ],
        "response_format": {"type": "json_schema", "json_schema": {"name": "commands", "schema": {}}},
    })
}

async fn post_openai(server: &MockServer, user: &str) -> reqwest::Response {
    http()
        .post(format!("{}/chat/completions", server.base_url()))
        .json(&openai_body(user))
        .send()
        .await
        .expect("the mock responds")
}

/// Sends an OpenAI request and returns the `message.content` of its 200
/// response.
async fn openai_content(server: &MockServer, user: &str) -> String {
    let response = post_openai(server, user).await;
    assert_eq!(response.status(), StatusCode::OK, "user text {user:?}");
    let body: Value = response.json().await.expect("the reply is JSON");
    let content = body["choices"][0]["message"]["content"].as_str();
    content.expect("the reply has message.content").to_string()
}

#[tokio::test]
async fn health_and_models() {
    let server = start(MockConfig::default()).await;
    let health = http()
        .get(format!("http://{}/health", server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    let models: Value = http()
        .get(format!("{}/models", server.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["id"], "tern-mock");
    server.shutdown().await;
}

#[tokio::test]
async fn openai_content_reply_shape() {
    let server = start(scripted_config()).await;
    let response = post_openai(&server, "Please renew my Iqama").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();

    assert!(
        body["id"].as_str().unwrap().starts_with("chatcmpl-mock-"),
        "{body}"
    );
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "gpt-test");
    assert!(body["created"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    let content: Value =
        serde_json::from_str(body["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(
        content,
        json!({"commands": [{"command": "start_flow", "flow": "iqama_renewal_flow"}]})
    );
    assert!(body["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    assert!(body["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    server.shutdown().await;
}

#[tokio::test]
async fn path_without_v1_is_served() {
    let server = start(scripted_config()).await;
    let response = http()
        .post(format!("http://{}/chat/completions", server.addr))
        .json(&openai_body("renew iqama"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    server.shutdown().await;
}

#[tokio::test]
async fn openai_tool_call_shape() {
    let server = start(scripted_config()).await;
    let request = json!({
        "model": "gpt-test",
        "messages": [{"role": "user", "content": "renew iqama"}],
        "tools": [{"type": "function", "function": {"name": "commands", "parameters": {}}}],
        "tool_choice": {"type": "function", "function": {"name": "commands"}},
    });
    let body: Value = http()
        .post(format!("{}/chat/completions", server.base_url()))
        .json(&request)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let message = &body["choices"][0]["message"];
    assert_eq!(message["content"], Value::Null);
    assert_eq!(message["tool_calls"][0]["type"], "function");
    assert_eq!(message["tool_calls"][0]["function"]["name"], "commands");
    let arguments: Value = serde_json::from_str(
        message["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(arguments["commands"][0]["flow"], "iqama_renewal_flow");
    server.shutdown().await;
}

#[tokio::test]
async fn anthropic_tool_use_and_text_shapes() {
    let server = start(scripted_config()).await;
    let url = format!("{}/messages", server.base_url());
    let with_tool = json!({
        "model": "claude-test",
        "max_tokens": 100,
        "system": "Answer with the tool.",
        "messages": [{"role": "user", "content": "renew iqama"}],
        "tools": [{"name": "commands", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "tool", "name": "commands"},
    });
    let body: Value = http()
        .post(&url)
        .json(&with_tool)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["type"], "message");
    assert_eq!(body["model"], "claude-test");
    assert_eq!(body["stop_reason"], "tool_use");
    assert_eq!(body["content"][0]["type"], "tool_use");
    assert_eq!(body["content"][0]["name"], "commands");
    assert_eq!(
        body["content"][0]["input"]["commands"][0]["flow"],
        "iqama_renewal_flow"
    );
    assert!(body["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert!(body["usage"]["output_tokens"].as_u64().unwrap() > 0);

    let text_only = json!({"model": "claude-test", "max_tokens": 100,
        "messages": [{"role": "user", "content": "renew iqama"}]});
    let body: Value = http()
        .post(&url)
        .json(&text_only)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(body["content"][0]["type"], "text");
    let text: Value = serde_json::from_str(body["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(text["commands"][0]["flow"], "iqama_renewal_flow");
    server.shutdown().await;
}

#[tokio::test]
async fn context_message_is_matched() {
    let server = start(scripted_config()).await;
    let user = "CONTEXT:\n{\"flows\": [], \"message\": \"hello\"}";
    let content = openai_content(&server, user).await;
    assert_eq!(content, r#"{"commands":[{"command":"greet"}]}"#);
    // The whole content does not match `^hello$`, so only the context's
    // message can have matched.
    server.shutdown().await;
}

#[tokio::test]
async fn times_falls_through_then_once_is_used_up() {
    let server = start(scripted_config()).await;
    for _ in 0..2 {
        let response = post_openai(&server, "flaky").await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
    assert_eq!(
        openai_content(&server, "flaky").await,
        r#"{"commands":[{"command":"greet"}]}"#
    );

    assert_eq!(
        openai_content(&server, "hello").await,
        r#"{"commands":[{"command":"greet"}]}"#
    );
    assert_eq!(
        openai_content(&server, "hello").await,
        r#"{"commands":[{"command":"not_understood"}]}"#,
        "a used-up `once` rule falls through to the default"
    );
    assert_eq!(server.stats().by_fault["server_error"], 2);
    server.shutdown().await;
}

#[tokio::test]
async fn http_faults() {
    let server = start(scripted_config()).await;

    let limited = post_openai(&server, "limited").await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers()["retry-after"], "1");
    let error: Value = limited.json().await.unwrap();
    assert_eq!(error["error"]["type"], "rate_limit_error");

    let boom = post_openai(&server, "boom").await;
    assert_eq!(boom.status(), StatusCode::INTERNAL_SERVER_ERROR);

    let malformed = post_openai(&server, "malformed").await;
    assert_eq!(malformed.status(), StatusCode::OK);
    let text = malformed.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");

    let stats = server.stats();
    assert_eq!(stats.by_fault["rate_limited"], 1);
    assert_eq!(stats.by_fault["server_error"], 1);
    assert_eq!(stats.by_fault["malformed"], 1);
    server.shutdown().await;
}

#[tokio::test]
async fn output_faults() {
    let server = start(scripted_config()).await;
    let bad_json = openai_content(&server, "bad json").await;
    assert!(
        serde_json::from_str::<Value>(&bad_json).is_err(),
        "{bad_json}"
    );
    assert_eq!(openai_content(&server, "off schema").await, r#"{"foo":1}"#);
    assert_eq!(openai_content(&server, "empty").await, "");
    server.shutdown().await;
}

#[tokio::test]
async fn fault_marker_overrides_rules() {
    let server = start(scripted_config()).await;
    let response = post_openai(&server, "renew iqama [fault:server_error]").await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);

    let unknown = post_openai(&server, "[fault:explode]").await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    let error: Value = unknown.json().await.unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("unknown fault `explode`"), "{message}");
    assert!(message.contains("rate_limited"), "{message}");
    server.shutdown().await;
}

#[tokio::test]
async fn derive_uses_the_prompt_context() {
    let server = start(MockConfig::default()).await;
    let context = json!({
        "flows": [{
            "id": "iqama_renewal_flow",
            "name": "Renew iqama",
            "description": "Renews the residence permit (iqama)",
            "intents": ["renew_iqama"],
        }],
        "message": "I want to renew my iqama",
    });
    let user = format!("CONTEXT:\n{context}");
    let expected = tern_understand::offline::derive_reply(&user).unwrap();
    assert!(
        expected.to_string().contains("iqama_renewal_flow"),
        "{expected}"
    );

    let content: Value = serde_json::from_str(&openai_content(&server, &user).await).unwrap();
    assert_eq!(content, expected);

    let plain: Value =
        serde_json::from_str(&openai_content(&server, "no context here").await).unwrap();
    assert_eq!(plain, json!({"commands": []}));
    server.shutdown().await;
}

#[tokio::test]
async fn default_fault_applies_without_rules() {
    let config = MockConfig {
        default_reply: DefaultReply::Fault(tern_mock_llm::Fault::RateLimited),
        ..MockConfig::default()
    };
    let server = start(config).await;
    assert_eq!(
        post_openai(&server, "anything").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    server.shutdown().await;
}

#[tokio::test]
async fn rule_latency_delays_the_answer() {
    let server = start(scripted_config()).await;
    let started = Instant::now();
    openai_content(&server, "slow").await;
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn concurrent_requests_overlap() {
    let config = MockConfig {
        latency: Latency::Uniform {
            min: Duration::from_millis(200),
            max: Duration::from_millis(250),
        },
        ..MockConfig::default()
    };
    let server = start(config).await;
    let client = http();
    let url = format!("{}/chat/completions", server.base_url());
    let requests = (0..200).map(|i| {
        let client = client.clone();
        let url = url.clone();
        tokio::spawn(async move {
            client
                .post(url)
                .json(&openai_body(&format!("message {i}")))
                .send()
                .await
                .unwrap()
                .status()
        })
    });
    let handles: Vec<_> = requests.collect();
    let mut statuses = Vec::with_capacity(handles.len());
    for handle in handles {
        statuses.push(handle.await.unwrap());
    }
    assert!(
        statuses.iter().all(|status| *status == StatusCode::OK),
        "{statuses:?}"
    );

    let stats = server.stats();
    assert_eq!(stats.requests, 200);
    assert_eq!(stats.replies, 200);
    assert_eq!(stats.in_flight, 0);
    // Handled one at a time, the maximum would be 1.
    assert!(stats.max_in_flight >= 50, "{stats:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn requests_are_recorded_with_redacted_keys() {
    let config = MockConfig {
        record_limit: 2,
        ..scripted_config()
    };
    let server = start(config).await;
    for user in ["first", "second", "third"] {
        http()
            .post(format!("{}/chat/completions", server.base_url()))
            .bearer_auth("sk-secret")
            .header("x-api-key", "other-secret")
            .header("x-trace", "t-1")
            .json(&openai_body(user))
            .send()
            .await
            .unwrap();
    }

    let recorded = server.requests();
    assert_eq!(
        recorded.len(),
        2,
        "the oldest request is dropped at the limit"
    );
    assert_eq!(recorded[0].body["messages"][1]["content"], "second");
    assert_eq!(recorded[1].path, "/v1/chat/completions");

    assert_eq!(
        recorded[1].header("Authorization"),
        Some("Bearer <redacted>")
    );
    assert_eq!(recorded[1].header("x-api-key"), Some("<redacted>"));
    assert_eq!(recorded[1].header("x-trace"), Some("t-1"));

    assert_eq!(server.stats().requests, 3);
    server.shutdown().await;
}

#[tokio::test]
async fn invalid_requests_get_400() {
    let server = start(scripted_config()).await;
    let url = format!("{}/chat/completions", server.base_url());
    let not_json = http().post(&url).body("{nope").send().await.unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    let no_messages = http()
        .post(&url)
        .json(&json!({"model": "m"}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_messages.status(), StatusCode::BAD_REQUEST);
    let error: Value = no_messages.json().await.unwrap();
    assert_eq!(
        error["error"]["message"],
        "the request has no `messages` array"
    );
    assert_eq!(server.stats().bad_requests, 2);
    assert_eq!(server.requests()[0].body, json!("{nope"));
    server.shutdown().await;
}

#[tokio::test]
async fn unknown_route_lists_the_routes() {
    let server = start(MockConfig::default()).await;
    let response = http()
        .post(format!("http://{}/v1/completions", server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let error: Value = response.json().await.unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("no route for POST /v1/completions"),
        "{message}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_a_hanging_request() {
    let server = start(scripted_config()).await;
    let url = format!("{}/chat/completions", server.base_url());
    let pending =
        tokio::spawn(async move { http().post(url).json(&openai_body("hang")).send().await });
    while server.stats().in_flight == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let started = Instant::now();
    server.shutdown().await;
    // Without the early end, shutdown would wait out its 5 s grace period.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let response = pending.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}
