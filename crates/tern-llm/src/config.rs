//! Client configuration: which provider, where it is, and how to call it.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The API family a server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ProviderKind {
    /// OpenAI Chat Completions, as served by OpenAI and by the many servers
    /// that copy its API (llama.cpp, Ollama, vLLM, ...).
    #[serde(rename = "openai")]
    OpenAi,
    /// Anthropic Messages.
    #[serde(rename = "anthropic")]
    Anthropic,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 2] = [ProviderKind::OpenAi, ProviderKind::Anthropic];

    /// Returns the name used in configuration files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
        }
    }

    /// Returns the provider's public API endpoint, used when no base URL is set.
    pub fn default_base_url(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "https://api.openai.com/v1",
            ProviderKind::Anthropic => "https://api.anthropic.com/v1",
        }
    }

    /// Returns the structured-output mode used when the configuration sets none.
    pub fn default_mode(self) -> StructuredMode {
        match self {
            ProviderKind::OpenAi => StructuredMode::JsonSchema,
            ProviderKind::Anthropic => StructuredMode::ToolCall,
        }
    }

    /// Returns whether the provider's API can express `mode`. Anthropic has no
    /// `response_format`, so only tool calls and prompt instructions work.
    pub fn supports(self, mode: StructuredMode) -> bool {
        match self {
            ProviderKind::OpenAi => true,
            ProviderKind::Anthropic => {
                matches!(mode, StructuredMode::ToolCall | StructuredMode::PromptOnly)
            }
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ProviderKind {
    type Err = ParseNameError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.name() == text)
            .ok_or_else(|| ParseNameError::new("provider", text, Self::ALL.map(Self::name)))
    }
}

/// The request field or instruction that makes the model produce JSON
/// following the schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StructuredMode {
    /// `response_format: {type: "json_schema", json_schema: {name, schema, strict: true}}`.
    /// OpenAI's strict mode requires every property to be listed in
    /// `required` and `additionalProperties: false` on every object.
    JsonSchema,
    /// `response_format: {type: "json_object", schema}`, the form that
    /// llama.cpp's server uses to constrain output to a schema. The server of
    /// llama-cpp-python 0.3.36 rejects `json_schema` with HTTP 500.
    JsonObject,
    /// A forced call of a tool whose parameters are the schema. The reply is
    /// the call's arguments.
    ToolCall,
    /// The schema is written into the system prompt with an instruction to
    /// answer with JSON only. Nothing constrains the output, so the caller
    /// must validate it.
    PromptOnly,
}

impl StructuredMode {
    pub const ALL: [StructuredMode; 4] = [
        StructuredMode::JsonSchema,
        StructuredMode::JsonObject,
        StructuredMode::ToolCall,
        StructuredMode::PromptOnly,
    ];

    /// Returns the name used in configuration files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            StructuredMode::JsonSchema => "json_schema",
            StructuredMode::JsonObject => "json_object",
            StructuredMode::ToolCall => "tool_call",
            StructuredMode::PromptOnly => "prompt_only",
        }
    }
}

impl fmt::Display for StructuredMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for StructuredMode {
    type Err = ParseNameError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|mode| mode.name() == text)
            .ok_or_else(|| {
                ParseNameError::new("structured-output mode", text, Self::ALL.map(Self::name))
            })
    }
}

/// A name that matches none of the valid names of a setting.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {setting} `{value}`; expected one of: {}", .valid.join(", "))]
pub struct ParseNameError {
    pub setting: &'static str,
    pub value: String,
    pub valid: Vec<&'static str>,
}

impl ParseNameError {
    fn new<const N: usize>(setting: &'static str, value: &str, valid: [&'static str; N]) -> Self {
        Self {
            setting,
            value: value.to_string(),
            valid: valid.to_vec(),
        }
    }
}

/// Settings for one LLM client. `Debug` hides the API key and the values of
/// the extra headers.
#[derive(Clone)]
pub struct LlmConfig {
    pub provider: ProviderKind,
    /// The API root, such as `http://127.0.0.1:8089/v1`; the client appends
    /// `/chat/completions` or `/messages`.
    pub base_url: String,
    pub model: String,
    pub api_key: Option<String>,
    /// Sent as `OpenAI-Organization`; ignored for Anthropic.
    pub organization: Option<String>,
    /// Headers added to every request after the provider's own, replacing
    /// any of the same name.
    pub extra_headers: Vec<(String, String)>,
    /// `None` selects [`ProviderKind::default_mode`].
    pub mode: Option<StructuredMode>,
    /// Limit for one attempt, from sending the request to reading the whole
    /// response. Waiting for a concurrency slot and retry delays do not count.
    pub timeout: Duration,
    /// Retries after the first attempt, for retryable errors only.
    pub max_retries: u32,
    /// Requests in flight at once through this client; more wait their turn.
    pub max_concurrency: usize,
    /// Delay before the first retry; each further retry doubles it.
    pub backoff_base: Duration,
}

impl LlmConfig {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
    pub const DEFAULT_MAX_RETRIES: u32 = 2;
    pub const DEFAULT_MAX_CONCURRENCY: usize = 64;
    pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_millis(250);

    /// Creates a configuration for `model` at the provider's public endpoint,
    /// with no key and the default limits.
    pub fn new(provider: ProviderKind, model: impl Into<String>) -> Self {
        Self {
            provider,
            base_url: provider.default_base_url().to_string(),
            model: model.into(),
            api_key: None,
            organization: None,
            extra_headers: Vec::new(),
            mode: None,
            timeout: Self::DEFAULT_TIMEOUT,
            max_retries: Self::DEFAULT_MAX_RETRIES,
            max_concurrency: Self::DEFAULT_MAX_CONCURRENCY,
            backoff_base: Self::DEFAULT_BACKOFF_BASE,
        }
    }

    /// The mode requests use: the configured one or the provider's default.
    pub fn effective_mode(&self) -> StructuredMode {
        self.mode.unwrap_or_else(|| self.provider.default_mode())
    }
}

impl fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self
            .extra_headers
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        f.debug_struct("LlmConfig")
            .field("provider", &self.provider)
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("organization", &self.organization)
            .field("extra_headers", &header_names)
            .field("mode", &self.mode)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("max_concurrency", &self.max_concurrency)
            .field("backoff_base", &self.backoff_base)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_names_round_trip() {
        for mode in StructuredMode::ALL {
            assert_eq!(mode.name().parse::<StructuredMode>(), Ok(mode));
            let json = serde_json::to_string(&mode).unwrap();
            assert_eq!(json, format!("\"{}\"", mode.name()));
        }
    }

    #[test]
    fn unknown_mode_lists_valid_names() {
        let error = "json".parse::<StructuredMode>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid structured-output mode `json`; expected one of: \
             json_schema, json_object, tool_call, prompt_only"
        );
    }

    #[test]
    fn provider_names_round_trip() {
        for kind in ProviderKind::ALL {
            assert_eq!(kind.name().parse::<ProviderKind>(), Ok(kind));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.name()));
        }
        let error = "open_ai".parse::<ProviderKind>().unwrap_err();
        assert!(
            error
                .to_string()
                .contains("expected one of: openai, anthropic"),
            "{error}"
        );
    }

    #[test]
    fn default_modes_per_provider() {
        let openai = LlmConfig::new(ProviderKind::OpenAi, "m");
        assert_eq!(openai.effective_mode(), StructuredMode::JsonSchema);
        let anthropic = LlmConfig::new(ProviderKind::Anthropic, "m");
        assert_eq!(anthropic.effective_mode(), StructuredMode::ToolCall);
        assert_eq!(anthropic.base_url, "https://api.anthropic.com/v1");
    }

    #[test]
    fn debug_hides_secrets() {
        let mut config = LlmConfig::new(ProviderKind::OpenAi, "m");
        config.api_key = Some("sk-secret".into());
        config.extra_headers = vec![("X-Token".into(), "header-secret".into())];
        let text = format!("{config:?}");
        assert!(!text.contains("sk-secret"), "{text}");
        assert!(!text.contains("header-secret"), "{text}");
        assert!(text.contains("X-Token"), "{text}");
    }
}
