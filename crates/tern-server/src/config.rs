//! Server configuration: one struct, read from a YAML file, then the
//! environment, then command-line flags, each overriding the one before.
//! `docs/configuration.md` lists every setting.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Settings given on the command line or in the environment. Every field is
/// optional so that a value from the configuration file is kept unless one
/// of these overrides it.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct ServeArgs {
    /// Configuration file (YAML). Its keys are the setting names below in
    /// snake_case, such as `listen` or `database_url`.
    #[arg(long, env = "TERN_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on, IP:PORT or localhost:PORT [default: 127.0.0.1:8080].
    #[arg(long, env = "TERN_LISTEN", value_name = "ADDR", value_parser = parse_listen)]
    pub listen: Option<SocketAddr>,
    /// Flow file or directory [default: the bundled example assistant].
    #[arg(long, env = "TERN_FLOWS", value_name = "PATH")]
    pub flows: Option<PathBuf>,
    /// Actions file (YAML or JSON).
    #[arg(long, env = "TERN_ACTIONS", value_name = "FILE")]
    pub actions: Option<PathBuf>,
    /// Overrides of the engine's own messages (YAML).
    #[arg(long, env = "TERN_RESPONSES", value_name = "FILE")]
    pub responses: Option<PathBuf>,
    /// `sqlite://PATH` or `postgres://...` [default: sqlite://tern.db].
    #[arg(long, env = "TERN_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// `offline`, `openai` or `anthropic` [default: offline].
    #[arg(long, env = "TERN_LLM_PROVIDER", value_name = "NAME")]
    pub llm_provider: Option<String>,
    /// Base URL of the provider's API, such as `http://127.0.0.1:8089/v1`.
    #[arg(long, env = "TERN_LLM_BASE_URL", value_name = "URL")]
    pub llm_base_url: Option<String>,
    /// Model name sent to the provider, such as `gpt-4o-mini`.
    #[arg(long, env = "TERN_LLM_MODEL", value_name = "NAME")]
    pub llm_model: Option<String>,
    /// Structured-output mode: json_schema, json_object, tool_call or prompt_only.
    #[arg(long, env = "TERN_LLM_MODE", value_name = "MODE")]
    pub llm_mode: Option<String>,
    /// Admin API key for reading and deleting conversations and for the
    /// agent endpoint.
    #[arg(
        long,
        env = "TERN_ADMIN_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub admin_key: Option<String>,
    /// Key clients must send to the message endpoints.
    #[arg(
        long,
        env = "TERN_CLIENT_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub client_key: Option<String>,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "TERN_LOG_JSON")]
    pub log_json: bool,
}

/// The configuration file's shape: the same settings, plus those that have
/// no flag.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default, deserialize_with = "listen_from_file")]
    pub listen: Option<SocketAddr>,
    pub flows: Option<PathBuf>,
    pub actions: Option<PathBuf>,
    pub responses: Option<PathBuf>,
    pub database_url: Option<String>,
    pub llm_provider: Option<String>,
    pub llm_base_url: Option<String>,
    pub llm_model: Option<String>,
    pub llm_mode: Option<String>,
    pub llm_timeout_secs: Option<u64>,
    pub llm_max_retries: Option<u32>,
    pub llm_max_concurrency: Option<usize>,
    pub llm_apology: Option<String>,
    pub admin_key: Option<String>,
    pub client_key: Option<String>,
    pub hmac_key: Option<String>,
    pub cors_origins: Option<Vec<String>>,
    pub retention_days: Option<u64>,
    pub max_upload_bytes: Option<usize>,
    pub shutdown_timeout_secs: Option<u64>,
    pub log_json: Option<bool>,
}

/// The resolved configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// `None` runs the example assistant compiled into the binary.
    pub flows: Option<PathBuf>,
    pub actions: Option<PathBuf>,
    pub responses: Option<PathBuf>,
    pub database_url: String,
    pub llm: LlmSettings,
    pub admin_key: Option<String>,
    pub client_key: Option<String>,
    pub hmac_key: Option<String>,
    pub cors_origins: Vec<String>,
    pub retention: Option<Duration>,
    pub max_upload_bytes: usize,
    pub shutdown_timeout: Duration,
    pub log_json: bool,
}

#[derive(Debug, Clone)]
pub struct LlmSettings {
    pub provider: String,
    pub base_url: Option<String>,
    pub model: Option<String>,
    pub mode: Option<String>,
    pub api_key: Option<String>,
    pub timeout: Duration,
    pub max_retries: u32,
    pub max_concurrency: usize,
    /// Sent to the user when the provider fails for good.
    pub apology: String,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://tern.db";
/// LLM requests in flight at once. At one message per user every few
/// seconds and a one-second model, 20,000 users keep about 2,000 requests
/// in flight; lower it to stay under a provider's rate limit.
pub const DEFAULT_LLM_CONCURRENCY: usize = 4096;
pub const DEFAULT_APOLOGY: &str =
    "Sorry, I'm having trouble understanding messages right now. Please try again in a moment.";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file `{path}`: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration file `{path}`: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("invalid setting `{name}` = `{value}`: {hint}")]
    Setting {
        name: &'static str,
        value: String,
        hint: String,
    },
}

impl Config {
    /// Resolves the settings: file, then environment and flags (clap has
    /// already applied environment-before-flag), then defaults.
    pub fn resolve(args: ServeArgs) -> Result<Config, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let provider = args
            .llm_provider
            .or(file.llm_provider)
            .unwrap_or_else(|| "offline".into());
        check_provider(&provider)?;
        let llm = LlmSettings {
            api_key: api_key(&provider),
            base_url: args.llm_base_url.or(file.llm_base_url),
            model: args.llm_model.or(file.llm_model),
            mode: args.llm_mode.or(file.llm_mode),
            timeout: Duration::from_secs(at_least_one(
                "llm_timeout_secs",
                file.llm_timeout_secs.unwrap_or(30),
            )?),
            max_retries: file.llm_max_retries.unwrap_or(2),
            max_concurrency: at_least_one(
                "llm_max_concurrency",
                file.llm_max_concurrency.unwrap_or(DEFAULT_LLM_CONCURRENCY),
            )?,
            apology: file.llm_apology.unwrap_or_else(|| DEFAULT_APOLOGY.into()),
            provider,
        };
        check_api_key(&llm)?;
        let flows = args.flows.or(file.flows);
        let actions = args.actions.or(file.actions);
        let responses = args.responses.or(file.responses);
        check_assistant_files(flows.as_ref(), actions.as_ref(), responses.as_ref())?;
        Ok(Config {
            listen: args.listen.or(file.listen).unwrap_or_else(default_listen),
            flows,
            actions,
            responses,
            database_url: args
                .database_url
                .or(file.database_url)
                .unwrap_or_else(|| DEFAULT_DATABASE_URL.into()),
            llm,
            admin_key: args.admin_key.or(file.admin_key).filter(|k| !k.is_empty()),
            client_key: args
                .client_key
                .or(file.client_key)
                .filter(|k| !k.is_empty()),
            hmac_key: std::env::var("TERN_HMAC_KEY")
                .ok()
                .or(file.hmac_key)
                .filter(|k| !k.is_empty()),
            cors_origins: file.cors_origins.unwrap_or_default(),
            retention: file.retention_days.map(retention).transpose()?,
            max_upload_bytes: at_least_one(
                "max_upload_bytes",
                file.max_upload_bytes.unwrap_or(10 * 1024 * 1024),
            )?,
            shutdown_timeout: Duration::from_secs(file.shutdown_timeout_secs.unwrap_or(10)),
            log_json: args.log_json || file.log_json.unwrap_or(false),
        })
    }
}

/// Parses a listen address: `IP:PORT`, or `localhost:PORT` for the IPv4
/// loopback address.
pub fn parse_listen(value: &str) -> Result<SocketAddr, String> {
    let resolved = match value.strip_prefix("localhost:") {
        Some(port) => format!("127.0.0.1:{port}"),
        None => value.to_string(),
    };
    resolved.parse().map_err(|_| {
        "expected IP:PORT such as 127.0.0.1:8080 or 0.0.0.0:8080 (set by --listen, TERN_LISTEN \
         or `listen` in the configuration file)"
            .to_string()
    })
}

fn listen_from_file<'de, D>(deserializer: D) -> Result<Option<SocketAddr>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let text = String::deserialize(deserializer)?;
    parse_listen(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// Rejects an actions or responses file given without flows: the bundled
/// example assistant brings its own, so the file would be ignored.
fn check_assistant_files(
    flows: Option<&PathBuf>,
    actions: Option<&PathBuf>,
    responses: Option<&PathBuf>,
) -> Result<(), ConfigError> {
    if flows.is_some() {
        return Ok(());
    }
    let without_flows = [("actions", actions), ("responses", responses)]
        .into_iter()
        .find_map(|(name, path)| path.map(|path| (name, path)));
    match without_flows {
        None => Ok(()),
        Some((name, path)) => Err(ConfigError::Setting {
            name,
            value: path.display().to_string(),
            hint: format!(
                "an {name} file applies to your own flows: give them with --flows PATH \
                 (TERN_FLOWS, or `flows` in the configuration file), or leave the {name} \
                 file out to serve the bundled example"
            ),
        }),
    }
}

/// Rejects a zero for a setting that cannot work with it.
fn at_least_one<T>(name: &'static str, value: T) -> Result<T, ConfigError>
where
    T: PartialEq + Default + std::fmt::Display,
{
    if value == T::default() {
        return Err(ConfigError::Setting {
            name,
            value: value.to_string(),
            hint: format!("set `{name}` to 1 or more, or leave it out for the default"),
        });
    }
    Ok(value)
}

/// Maximum retention in days: about 1,000 years, far beyond any policy,
/// and small enough that the cutoff time cannot overflow.
const MAX_RETENTION_DAYS: u64 = 365_000;

fn retention(days: u64) -> Result<Duration, ConfigError> {
    if days == 0 || days > MAX_RETENTION_DAYS {
        return Err(ConfigError::Setting {
            name: "retention_days",
            value: days.to_string(),
            hint: format!(
                "use a number of days from 1 to {MAX_RETENTION_DAYS}, or leave it out to keep conversations forever"
            ),
        });
    }
    Ok(Duration::from_secs(days * 86_400))
}

fn default_listen() -> SocketAddr {
    DEFAULT_LISTEN
        .parse()
        .expect("the default listen address is valid")
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.into(),
        source,
    })?;
    tern_flow::yaml::from_str(&text).map_err(|error| {
        let summary = tern_flow::yaml::SyntaxError::from_error(&error);
        // serde-saphyr names the expected type but not the key, so the line
        // itself is quoted: it shows the key and the value.
        let source_line = text
            .lines()
            .nth(summary.line.saturating_sub(1) as usize)
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(hide_secret);
        let message = match source_line {
            Some(line) => format!("line {} (`{line}`): {}", summary.line, summary.message),
            None => format!("line {}: {}", summary.line, summary.message),
        };
        ConfigError::Invalid {
            path: path.into(),
            message,
        }
    })
}

/// Replaces the value of a `*_key` line, so that an error never prints a
/// key from the configuration file.
fn hide_secret(line: &str) -> String {
    match line.split_once(':') {
        Some((key, _)) if key.trim().ends_with("_key") => format!("{key}: ***"),
        _ => line.to_string(),
    }
}

fn check_provider(provider: &str) -> Result<(), ConfigError> {
    match provider {
        "offline" | "openai" | "anthropic" => Ok(()),
        other => Err(ConfigError::Setting {
            name: "llm_provider",
            value: other.into(),
            hint: "use `offline`, `openai` or `anthropic`".into(),
        }),
    }
}

/// The provider's key from `TERN_LLM_API_KEY`, else the provider's usual
/// variable. Keys never come from the configuration file, so they stay out
/// of files that get committed.
/// Rejects a hosted provider without an API key: every call would fail
/// with 401. A server at `llm_base_url` may need no key, so it is not
/// checked.
fn check_api_key(llm: &LlmSettings) -> Result<(), ConfigError> {
    if llm.api_key.is_some() || llm.base_url.is_some() {
        return Ok(());
    }
    let usual = match llm.provider.as_str() {
        "openai" => "OPENAI_API_KEY",
        "anthropic" => "ANTHROPIC_API_KEY",
        _ => return Ok(()),
    };
    Err(ConfigError::Setting {
        name: "llm_provider",
        value: llm.provider.clone(),
        hint: format!(
            "no API key is set: export TERN_LLM_API_KEY or {usual}, or point llm_base_url \
             at a server that needs none"
        ),
    })
}

fn api_key(provider: &str) -> Option<String> {
    let usual = match provider {
        "openai" => "OPENAI_API_KEY",
        "anthropic" => "ANTHROPIC_API_KEY",
        _ => return None,
    };
    std::env::var("TERN_LLM_API_KEY")
        .or_else(|_| std::env::var(usual))
        .ok()
        .filter(|k| !k.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_file(text: &str) -> (tempfile::TempDir, ServeArgs) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tern.yml");
        std::fs::write(&path, text).unwrap();
        let args = ServeArgs {
            config: Some(path),
            ..Default::default()
        };
        (dir, args)
    }

    #[test]
    fn file_values_apply_and_flags_override_them() {
        let (_dir, mut args) = with_file("listen: 127.0.0.1:9999\nretention_days: 2\n");
        let config = Config::resolve(args.clone()).unwrap();
        assert_eq!(config.listen.port(), 9999);
        assert_eq!(config.retention, Some(Duration::from_secs(2 * 86_400)));
        args.listen = Some("127.0.0.1:7777".parse().unwrap());
        assert_eq!(Config::resolve(args).unwrap().listen.port(), 7777);
    }

    #[test]
    fn unknown_file_key_names_file_and_line() {
        let (_dir, args) = with_file("listen: 127.0.0.1:9999\nlisten_port: 80\n");
        let error = Config::resolve(args).unwrap_err().to_string();
        assert!(error.contains("tern.yml"), "{error}");
        assert!(error.contains("line 2"), "{error}");
        assert!(error.contains("listen_port"), "{error}");
    }

    #[test]
    fn actions_without_flows_rejected() {
        let args = ServeArgs {
            actions: Some("my-actions.yml".into()),
            ..Default::default()
        };
        let error = Config::resolve(args).unwrap_err().to_string();
        assert!(error.contains("`actions`"), "{error}");
        assert!(error.contains("my-actions.yml"), "{error}");
        assert!(error.contains("--flows"), "{error}");
    }

    #[test]
    fn hosted_provider_without_key_rejected() {
        let settings = |base_url: Option<&str>| LlmSettings {
            provider: "anthropic".into(),
            api_key: None,
            base_url: base_url.map(String::from),
            model: Some("m".into()),
            mode: None,
            timeout: Duration::from_secs(30),
            max_retries: 2,
            max_concurrency: 4,
            apology: DEFAULT_APOLOGY.into(),
        };
        let error = check_api_key(&settings(None)).unwrap_err().to_string();
        assert!(error.contains("`anthropic`"), "{error}");
        assert!(error.contains("ANTHROPIC_API_KEY"), "{error}");
        assert!(check_api_key(&settings(Some("http://127.0.0.1:9/v1"))).is_ok());
    }

    #[test]
    fn listen_accepts_localhost_and_rejects_garbage() {
        assert_eq!(
            parse_listen("localhost:8090"),
            Ok("127.0.0.1:8090".parse().unwrap())
        );
        assert_eq!(
            parse_listen("0.0.0.0:80"),
            Ok("0.0.0.0:80".parse().unwrap())
        );
        let error = parse_listen("garbage").unwrap_err();
        assert!(error.contains("IP:PORT"), "{error}");
        assert!(error.contains("TERN_LISTEN"), "{error}");
    }

    #[test]
    fn file_listen_error_names_format() {
        let (_dir, args) = with_file("listen: garbage\n");
        let error = Config::resolve(args).unwrap_err().to_string();
        assert!(error.contains("tern.yml"), "{error}");
        assert!(error.contains("IP:PORT"), "{error}");
    }

    #[test]
    fn wrong_type_quotes_the_line() {
        let (_dir, args) = with_file("listen: 127.0.0.1:9999\ncors_origins: \"*\"\n");
        let error = Config::resolve(args).unwrap_err().to_string();
        assert!(error.contains("line 2"), "{error}");
        assert!(error.contains("`cors_origins: \"*\"`"), "{error}");
    }

    #[test]
    fn wrong_type_hides_key_value() {
        let (_dir, args) = with_file("admin_key: [123456789]\n");
        let error = Config::resolve(args).unwrap_err().to_string();
        assert!(error.contains("`admin_key: ***`"), "{error}");
        assert!(!error.contains("123456789"), "{error}");
    }

    #[test]
    fn zero_limits_rejected_by_name() {
        for key in [
            "llm_timeout_secs",
            "llm_max_concurrency",
            "max_upload_bytes",
        ] {
            let (_dir, args) = with_file(&format!("{key}: 0\n"));
            let error = Config::resolve(args).unwrap_err().to_string();
            assert!(error.contains(&format!("`{key}`")), "{error}");
            assert!(error.contains("1 or more"), "{error}");
        }
    }

    #[test]
    fn out_of_range_retention_rejected() {
        for days in ["0", "365001", "94368760191893771"] {
            let (_dir, args) = with_file(&format!("retention_days: {days}\n"));
            let error = Config::resolve(args).unwrap_err().to_string();
            assert!(error.contains("retention_days"), "{error}");
            assert!(error.contains(&format!("`{days}`")), "{error}");
            assert!(error.contains("from 1 to 365000"), "{error}");
        }
    }

    #[test]
    fn unknown_provider_lists_valid_ones() {
        let args = ServeArgs {
            llm_provider: Some("gemini".into()),
            ..Default::default()
        };
        let error = Config::resolve(args).unwrap_err().to_string();
        assert!(error.contains("`gemini`"), "{error}");
        assert!(
            error.contains("`offline`, `openai` or `anthropic`"),
            "{error}"
        );
    }

    #[test]
    fn missing_file_is_reported() {
        let args = ServeArgs {
            config: Some("/no/such/tern.yml".into()),
            ..Default::default()
        };
        let error = Config::resolve(args).unwrap_err().to_string();
        assert!(error.contains("/no/such/tern.yml"), "{error}");
    }
}
