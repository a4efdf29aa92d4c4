//! The OpenAI-compatible client against the mock server: the request body
//! and headers of each structured-output mode, and the output read back.

mod common;

use common::{client_for, config_for, request, schema, start_mock};
use serde_json::{Value, json};
use tern_llm::{ProviderKind, StructuredMode, build_client};

const SCRIPT: &str = r#"
rules:
  - match: "renew"
    reply: {commands: [{command: start_flow, flow: iqama_renewal_flow}]}
  - match: "^bad json$"
    fault: bad_json
  - match: "^off schema$"
    fault: schema_breaking
  - match: "^empty$"
    fault: empty
"#;

const EXPECTED: &str = r#"{"commands":[{"command":"start_flow","flow":"iqama_renewal_flow"}]}"#;

/// Sends one "renew" request in `mode` and returns the recorded body.
async fn body_sent_in(mode: StructuredMode) -> Value {
    let server = start_mock(SCRIPT).await;
    let client = client_for(&server, ProviderKind::OpenAi, mode);
    let response = client
        .chat(&request("renew my iqama"))
        .await
        .expect("the mock replies");
    assert_eq!(response.text, EXPECTED, "mode {mode}");
    assert_eq!(response.attempts, 1);
    let recorded = server.requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].path, "/v1/chat/completions");
    server.shutdown().await;
    recorded[0].body.clone()
}

#[tokio::test]
async fn json_schema_request_shape() {
    let body = body_sent_in(StructuredMode::JsonSchema).await;
    assert_eq!(body["model"], "test-model");
    assert_eq!(body["max_tokens"], 200);
    assert_eq!(body["temperature"], json!(0.2));
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "Turn the message into commands."},
            {"role": "user", "content": "renew my iqama"},
        ])
    );
    assert_eq!(
        body["response_format"],
        json!({
            "type": "json_schema",
            "json_schema": {"name": "commands", "schema": schema(), "strict": true},
        })
    );
    assert!(body.get("tools").is_none());
}

#[tokio::test]
async fn json_object_request_shape() {
    let body = body_sent_in(StructuredMode::JsonObject).await;
    assert_eq!(
        body["response_format"],
        json!({"type": "json_object", "schema": schema()})
    );
    assert_eq!(
        body["messages"][0]["content"],
        "Turn the message into commands."
    );
}

#[tokio::test]
async fn tool_call_request_shape() {
    let body = body_sent_in(StructuredMode::ToolCall).await;
    assert!(body.get("response_format").is_none());
    let tool = &body["tools"][0];
    assert_eq!(tool["type"], "function");
    assert_eq!(tool["function"]["name"], "commands");
    assert_eq!(tool["function"]["parameters"], schema());
    assert!(
        tool["function"]["description"]
            .as_str()
            .is_some_and(|text| !text.is_empty())
    );
    assert_eq!(
        body["tool_choice"],
        json!({"type": "function", "function": {"name": "commands"}})
    );
}

#[tokio::test]
async fn prompt_only_request_shape() {
    let body = body_sent_in(StructuredMode::PromptOnly).await;
    assert!(body.get("response_format").is_none());
    assert!(body.get("tools").is_none());
    let system = body["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.starts_with("Turn the message into commands.\n\n"),
        "{system}"
    );
    assert!(system.contains("Answer with JSON only"), "{system}");
    assert!(system.contains(&schema().to_string()), "{system}");
}

#[tokio::test]
async fn headers_carry_key_organization_and_extras() {
    let server = start_mock(SCRIPT).await;
    let mut config = config_for(&server, ProviderKind::OpenAi, StructuredMode::JsonSchema);
    config.api_key = Some("sk-test-secret".into());
    config.organization = Some("org-tern".into());
    config.extra_headers = vec![("X-Tenant".into(), "municipal".into())];
    let client = build_client(config).unwrap();
    client.chat(&request("renew")).await.unwrap();

    let recorded = &server.requests()[0];
    assert_eq!(recorded.header("authorization"), Some("Bearer <redacted>"));
    assert_eq!(recorded.header("openai-organization"), Some("org-tern"));
    assert_eq!(recorded.header("x-tenant"), Some("municipal"));
    assert_eq!(recorded.header("content-type"), Some("application/json"));
    assert!(!client.describe().contains("sk-test-secret"));
    server.shutdown().await;
}

#[tokio::test]
async fn no_key_sends_no_authorization() {
    let server = start_mock(SCRIPT).await;
    let client = client_for(&server, ProviderKind::OpenAi, StructuredMode::JsonSchema);
    client.chat(&request("renew")).await.unwrap();
    assert_eq!(server.requests()[0].header("authorization"), None);
    server.shutdown().await;
}

#[tokio::test]
async fn usage_is_reported() {
    let server = start_mock(SCRIPT).await;
    let client = client_for(&server, ProviderKind::OpenAi, StructuredMode::JsonSchema);
    let response = client.chat(&request("renew")).await.unwrap();
    assert!(response.usage.prompt_tokens > 0, "{:?}", response.usage);
    assert!(response.usage.completion_tokens > 0, "{:?}", response.usage);
    let stats = server.stats();
    assert_eq!(u64::from(response.usage.prompt_tokens), stats.prompt_tokens);
    assert_eq!(
        u64::from(response.usage.completion_tokens),
        stats.completion_tokens
    );
    server.shutdown().await;
}

/// The client returns whatever JSON text the model produced; checking it
/// against the schema is the caller's job.
#[tokio::test]
async fn output_is_passed_through_unchecked() {
    let server = start_mock(SCRIPT).await;
    for mode in [StructuredMode::JsonSchema, StructuredMode::ToolCall] {
        let client = client_for(&server, ProviderKind::OpenAi, mode);
        let bad = client.chat(&request("bad json")).await.unwrap();
        assert!(
            serde_json::from_str::<Value>(&bad.text).is_err(),
            "mode {mode}: {}",
            bad.text
        );
        let off_schema = client.chat(&request("off schema")).await.unwrap();
        assert_eq!(off_schema.text, r#"{"foo":1}"#, "mode {mode}");
        let empty = client.chat(&request("empty")).await.unwrap();
        assert_eq!(empty.text, "", "mode {mode}");
    }
    server.shutdown().await;
}
