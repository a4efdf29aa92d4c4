//! The Anthropic client against the mock server.

mod common;

use common::{client_for, config_for, request, schema, start_mock};
use serde_json::{Value, json};
use tern_llm::{ANTHROPIC_VERSION, ProviderKind, StructuredMode, build_client};

const SCRIPT: &str = r#"
rules:
  - match: "renew"
    reply: {commands: [{command: start_flow, flow: iqama_renewal_flow}]}
  - match: "^bad json$"
    fault: bad_json
  - match: "^limited once$"
    fault: rate_limited
    once: true
default: {commands: []}
"#;

const EXPECTED: &str = r#"{"commands":[{"command":"start_flow","flow":"iqama_renewal_flow"}]}"#;

#[tokio::test]
async fn tool_call_request_shape() {
    let server = start_mock(SCRIPT).await;
    let mut config = config_for(&server, ProviderKind::Anthropic, StructuredMode::ToolCall);
    config.api_key = Some("sk-ant-secret".into());
    let client = build_client(config).unwrap();
    let response = client.chat(&request("renew my iqama")).await.unwrap();
    assert_eq!(response.text, EXPECTED);
    assert!(response.usage.prompt_tokens > 0);
    assert!(response.usage.completion_tokens > 0);

    let recorded = &server.requests()[0];
    assert_eq!(recorded.path, "/v1/messages");
    assert_eq!(recorded.header("x-api-key"), Some("<redacted>"));
    assert_eq!(
        recorded.header("anthropic-version"),
        Some(ANTHROPIC_VERSION)
    );
    assert_eq!(recorded.header("authorization"), None);

    let body = &recorded.body;
    assert_eq!(body["model"], "test-model");
    assert_eq!(body["max_tokens"], 200);
    assert_eq!(body["system"], "Turn the message into commands.");
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": "renew my iqama"}])
    );
    assert_eq!(body["tools"][0]["name"], "commands");
    assert_eq!(body["tools"][0]["input_schema"], schema());
    assert!(
        body["tools"][0]["description"]
            .as_str()
            .is_some_and(|text| !text.is_empty())
    );
    assert_eq!(
        body["tool_choice"],
        json!({"type": "tool", "name": "commands"})
    );
    assert!(body.get("response_format").is_none());
    server.shutdown().await;
}

#[tokio::test]
async fn default_mode_is_tool_call() {
    let server = start_mock(SCRIPT).await;
    let mut config = config_for(&server, ProviderKind::Anthropic, StructuredMode::ToolCall);
    config.mode = None;
    let client = build_client(config).unwrap();
    assert!(
        client.describe().starts_with("anthropic http://127.0.0.1:"),
        "{}",
        client.describe()
    );
    assert!(
        client
            .describe()
            .ends_with("model test-model, mode tool_call"),
        "{}",
        client.describe()
    );
    client.chat(&request("renew")).await.unwrap();
    assert!(server.requests()[0].body.get("tools").is_some());
    server.shutdown().await;
}

#[tokio::test]
async fn prompt_only_reads_the_text_block() {
    let server = start_mock(SCRIPT).await;
    let client = client_for(&server, ProviderKind::Anthropic, StructuredMode::PromptOnly);
    let response = client.chat(&request("renew")).await.unwrap();
    assert_eq!(response.text, EXPECTED);

    let body = &server.requests()[0].body;
    assert!(body.get("tools").is_none());
    let system = body["system"].as_str().unwrap();
    assert!(system.contains("Answer with JSON only"), "{system}");
    server.shutdown().await;
}

/// A tool_use block can only hold JSON, so the mock sends invalid JSON as a
/// text block, as a model that ignored the tool would.
#[tokio::test]
async fn text_instead_of_tool_use_is_returned() {
    let server = start_mock(SCRIPT).await;
    let client = client_for(&server, ProviderKind::Anthropic, StructuredMode::ToolCall);
    let response = client.chat(&request("bad json")).await.unwrap();
    assert!(
        serde_json::from_str::<Value>(&response.text).is_err(),
        "{}",
        response.text
    );
    server.shutdown().await;
}

#[tokio::test]
async fn rate_limit_is_retried() {
    let server = start_mock(SCRIPT).await;
    let client = client_for(&server, ProviderKind::Anthropic, StructuredMode::ToolCall);
    let response = client.chat(&request("limited once")).await.unwrap();
    assert_eq!(response.attempts, 2);
    assert_eq!(server.stats().requests, 2);
    server.shutdown().await;
}
