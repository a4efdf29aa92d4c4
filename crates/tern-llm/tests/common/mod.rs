//! Helpers shared by the tests that run clients against the mock server.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tern_llm::{ChatRequest, LlmClient, LlmConfig, ProviderKind, StructuredMode, build_client};
use tern_mock_llm::{MockConfig, MockServer, parse_script};

/// Starts the mock on a free loopback port with the given script.
pub async fn start_mock(script: &str) -> MockServer {
    let script = parse_script(Path::new("test.yml"), script).expect("the test script is valid");
    let config = MockConfig {
        script: Some(script),
        ..MockConfig::default()
    };
    let listen = "127.0.0.1:0".parse().expect("a valid socket address");
    MockServer::start(listen, config)
        .await
        .expect("the mock binds a loopback port")
}

/// Builds a configuration for `server` with short delays, so retries stay
/// fast.
pub fn config_for(server: &MockServer, provider: ProviderKind, mode: StructuredMode) -> LlmConfig {
    let mut config = LlmConfig::new(provider, "test-model");
    config.base_url = server.base_url();
    config.mode = Some(mode);
    config.backoff_base = Duration::from_millis(10);
    config.timeout = Duration::from_secs(10);
    config
}

pub fn client_for(
    server: &MockServer,
    provider: ProviderKind,
    mode: StructuredMode,
) -> Arc<dyn LlmClient> {
    build_client(config_for(server, provider, mode)).expect("the test configuration is valid")
}

pub fn schema() -> serde_json::Value {
    json!({
        "type": "object",
        "properties": {"commands": {"type": "array", "items": {"type": "object"}}},
        "required": ["commands"],
        "additionalProperties": false,
    })
}

pub fn request(user: &str) -> ChatRequest {
    ChatRequest {
        system: "Turn the message into commands.".into(),
        user: user.into(),
        schema_name: "commands".into(),
        schema: schema(),
        max_tokens: 200,
        temperature: 0.2,
    }
}
