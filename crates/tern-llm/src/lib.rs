//! LLM provider clients for Tern.
//!
//! A client sends one [`ChatRequest`] (system prompt, user message, JSON
//! Schema) and returns the JSON text the model produced. Two API families are
//! supported:
//!
//! - OpenAI Chat Completions, as served by OpenAI, llama.cpp, Ollama, vLLM
//!   and others, with four ways to ask for structured output
//!   ([`StructuredMode`]), because such servers differ exactly there;
//! - Anthropic Messages, with structured output through a forced tool call.
//!
//! Every client applies a timeout per attempt, retries timeouts, 429, 5xx and
//! connection failures with exponential backoff and jitter (honouring
//! `Retry-After`, capped at 30 s), and limits the requests in flight with a
//! semaphore. The client does not validate the returned JSON against the
//! schema: servers in prompt-only mode, or ones that ignore the schema, can
//! return anything, so the caller must check it.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use tern_llm::{ChatRequest, LlmConfig, ProviderKind, build_client};
//!
//! let mut config = LlmConfig::new(ProviderKind::OpenAi, "gpt-4o-mini");
//! config.api_key = std::env::var("OPENAI_API_KEY").ok();
//! let client = build_client(config)?;
//! let request = ChatRequest {
//!     system: "Extract the commands.".into(),
//!     user: "I want to renew my iqama".into(),
//!     schema_name: "commands".into(),
//!     schema: serde_json::json!({"type": "object"}),
//!     max_tokens: 400,
//!     temperature: 0.0,
//! };
//! let response = client.chat(&request).await?;
//! println!("{} ({} attempts)", response.text, response.attempts);
//! # Ok(())
//! # }
//! ```

mod anthropic;
mod client;
mod config;
mod error;
mod openai;
mod structured;
mod transport;
mod types;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use anthropic::ANTHROPIC_VERSION;
pub use config::{LlmConfig, ParseNameError, ProviderKind, StructuredMode};
pub use error::{ConfigError, LlmError, MAX_ERROR_BODY_CHARS};
pub use transport::MAX_RETRY_AFTER;
pub use types::{ChatRequest, ChatResponse, Usage};

use client::{HttpClient, Protocol};
use transport::Transport;

/// A configured connection to one model.
pub trait LlmClient: Send + Sync {
    /// Sends `request` and returns the model's output, after any retries.
    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> Pin<Box<dyn Future<Output = Result<ChatResponse, LlmError>> + Send + 'a>>;

    /// Describes the client for logs and startup messages, such as
    /// `openai-compatible http://127.0.0.1:9/v1 model gpt-4o-mini, mode json_schema`.
    /// The text never contains the API key.
    fn describe(&self) -> String;
}

/// Builds a client for `config`, checking the settings first.
pub fn build_client(config: LlmConfig) -> Result<Arc<dyn LlmClient>, ConfigError> {
    if config.model.trim().is_empty() {
        return Err(ConfigError::MissingModel);
    }
    let mode = config.effective_mode();
    if !config.provider.supports(mode) {
        let supported: Vec<&str> = StructuredMode::ALL
            .into_iter()
            .filter(|candidate| config.provider.supports(*candidate))
            .map(StructuredMode::name)
            .collect();
        return Err(ConfigError::UnsupportedMode {
            provider: config.provider.name(),
            mode: mode.name(),
            supported: supported.join(", "),
        });
    }

    let base_url = transport::parse_base_url(&config.base_url)?;
    let model = config.model.clone();
    match config.provider {
        ProviderKind::OpenAi => {
            let headers = openai::headers(&config)?;
            let protocol = openai::OpenAi { model, mode };
            assemble(
                &config,
                &base_url,
                headers,
                protocol,
                "openai-compatible",
                openai::PATH,
            )
        }
        ProviderKind::Anthropic => {
            let headers = anthropic::headers(&config)?;
            let protocol = anthropic::Anthropic { model, mode };
            assemble(
                &config,
                &base_url,
                headers,
                protocol,
                "anthropic",
                anthropic::PATH,
            )
        }
    }
}

fn assemble<P: Protocol>(
    config: &LlmConfig,
    base_url: &reqwest::Url,
    headers: reqwest::header::HeaderMap,
    protocol: P,
    label: &str,
    path: &str,
) -> Result<Arc<dyn LlmClient>, ConfigError> {
    let transport = Transport::new(config, base_url, headers)?;
    let description = format!(
        "{label} {} model {}, mode {}",
        transport::display_url(base_url),
        config.model,
        config.effective_mode()
    );
    Ok(Arc::new(HttpClient {
        protocol,
        transport,
        url: transport::endpoint(base_url, path),
        description,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_names_endpoint_model_and_mode() {
        let mut config = LlmConfig::new(ProviderKind::OpenAi, "gpt-4o-mini");
        config.base_url = "http://127.0.0.1:9/v1/".into();
        config.api_key = Some("sk-secret".into());
        let client = build_client(config).unwrap();
        assert_eq!(
            client.describe(),
            "openai-compatible http://127.0.0.1:9/v1 model gpt-4o-mini, mode json_schema"
        );
    }

    #[test]
    fn anthropic_rejects_response_format_modes() {
        let mut config = LlmConfig::new(ProviderKind::Anthropic, "claude");
        config.mode = Some(StructuredMode::JsonSchema);
        let error = build_client(config).err().unwrap();
        assert_eq!(
            error.to_string(),
            "structured-output mode `json_schema` is not supported by provider `anthropic`; \
             use one of: tool_call, prompt_only"
        );
    }

    #[test]
    fn invalid_settings_are_rejected() {
        let mut config = LlmConfig::new(ProviderKind::OpenAi, " ");
        assert!(matches!(
            build_client(config.clone()),
            Err(ConfigError::MissingModel)
        ));
        config.model = "m".into();
        config.max_concurrency = 0;
        assert!(matches!(
            build_client(config.clone()),
            Err(ConfigError::ZeroConcurrency)
        ));
        config.max_concurrency = 1;
        config.timeout = std::time::Duration::ZERO;
        assert!(matches!(
            build_client(config.clone()),
            Err(ConfigError::ZeroTimeout)
        ));
        config.timeout = LlmConfig::DEFAULT_TIMEOUT;
        config.extra_headers = vec![("X-Bad".into(), "line\nbreak".into())];
        assert!(matches!(
            build_client(config),
            Err(ConfigError::InvalidHeader { .. })
        ));
    }
}
