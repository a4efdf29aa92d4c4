//! Command-line options of `tern bench` and their checked form, [`Settings`].

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;

use crate::scenario::ScenarioName;

pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Base URL of the server under test. Must be a loopback address.
    #[arg(long, value_name = "URL", conflicts_with = "spawn")]
    pub url: Option<String>,
    /// Launch `tern serve` as a child process (and `tern mock-llm` when
    /// --llm-latency-ms is given), and measure its cold start, idle memory
    /// and idle CPU before the load. A configuration file named by
    /// TERN_CONFIG still applies to the child, such as one that raises
    /// `llm_max_concurrency`.
    #[arg(long)]
    pub spawn: bool,
    /// With --spawn: the server's database [default: a new SQLite file in a
    /// temporary directory]. Without --spawn: the database of the server
    /// under test, read only to measure its growth.
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// Latency of the mock LLM in milliseconds. With --spawn this starts
    /// `tern mock-llm` with that latency; in both modes it is subtracted
    /// per LLM call for the "minus LLM" latency figures.
    #[arg(long, value_name = "MS")]
    pub llm_latency_ms: Option<u64>,
    /// Concurrent sessions, each with its own conversation.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub sessions: usize,
    /// Length of the load in seconds, ramp-up included. Also the time limit
    /// of the single-conversation scenario.
    #[arg(long, default_value_t = 60.0, value_name = "SECS")]
    pub duration: f64,
    /// Seconds over which the sessions start, evenly spaced [default: the
    /// think time, so that first messages arrive at the steady rate].
    #[arg(long, value_name = "SECS")]
    pub ramp_up: Option<f64>,
    /// Seconds a session waits after a reply before sending its next
    /// message, with a uniform jitter of ±20%.
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub think_time: f64,
    /// Send N turns at once, each the first message of its own
    /// conversation, and measure until every response has arrived, instead
    /// of the timed load.
    #[arg(long, value_name = "N")]
    pub burst: Option<usize>,
    /// Conversations the sessions run: parking-fine, appointment,
    /// report-issue, mixed, or single-conversation (one session sending
    /// --turns messages back to back).
    #[arg(long, default_value = "parking-fine", value_name = "NAME")]
    pub scenario: ScenarioName,
    /// Messages sent by the single-conversation scenario.
    #[arg(long, default_value_t = 5_000, value_name = "N")]
    pub turns: usize,
    /// Turns per latency block in the single-conversation scenario.
    #[arg(long, default_value_t = 500, value_name = "N")]
    pub block_size: usize,
    /// Seconds before a request counts as timed out.
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    pub timeout: f64,
    /// With --spawn: seconds of the idle window in which the server's CPU
    /// use is sampled before the load.
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    pub idle_secs: f64,
    /// Process id of the server under test, to sample its memory and CPU
    /// from /proc.
    #[arg(long, value_name = "PID", conflicts_with = "spawn")]
    pub server_pid: Option<u32>,
    /// Key the server requires on the message endpoints.
    #[arg(
        long,
        env = "TERN_CLIENT_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub client_key: Option<String>,
    /// Write every figure of the report to this file as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// Kind of load of a run, from the checked options.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// Sessions running conversations in a loop for a fixed time.
    Load {
        sessions: usize,
        duration: Duration,
        ramp_up: Duration,
        think_time: Duration,
    },
    /// N first messages sent at once.
    Burst { turns: usize },
    /// One session sending `turns` messages back to back, timed in blocks.
    Single {
        turns: usize,
        block_size: usize,
        time_limit: Duration,
    },
}

/// Checked settings of one run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub url: String,
    pub spawn: bool,
    pub database_url: Option<String>,
    pub llm_latency: Option<Duration>,
    pub scenario: ScenarioName,
    pub mode: Mode,
    pub timeout: Duration,
    pub idle_window: Duration,
    pub server_pid: Option<u32>,
    pub client_key: Option<String>,
    pub json: Option<PathBuf>,
}

impl Settings {
    /// Checks the options. The URL is replaced by the child server's address
    /// later when `spawn` is set.
    pub fn from_args(args: BenchArgs) -> anyhow::Result<Settings> {
        let url = args.url.clone().unwrap_or_else(|| DEFAULT_URL.to_string());
        check_loopback(&url)?;
        let timeout = seconds("--timeout", args.timeout)?;
        if timeout.is_zero() {
            bail!(
                "invalid --timeout `{}`: use a positive number of seconds",
                args.timeout
            );
        }
        let mode = mode(&args)?;
        Ok(Settings {
            url: url.trim_end_matches('/').to_string(),
            spawn: args.spawn,
            database_url: args.database_url,
            llm_latency: args.llm_latency_ms.map(Duration::from_millis),
            scenario: args.scenario,
            mode,
            timeout,
            idle_window: seconds("--idle-secs", args.idle_secs)?,
            server_pid: args.server_pid,
            client_key: args.client_key.filter(|key| !key.is_empty()),
            json: args.json,
        })
    }
}

fn mode(args: &BenchArgs) -> anyhow::Result<Mode> {
    let duration = seconds("--duration", args.duration)?;
    if let Some(turns) = args.burst {
        if args.scenario == ScenarioName::SingleConversation {
            bail!(
                "--burst sends one message to each of many conversations; use it with another --scenario than single-conversation"
            );
        }
        if turns == 0 {
            bail!("invalid --burst `0`: send at least one turn");
        }
        return Ok(Mode::Burst { turns });
    }
    if args.scenario == ScenarioName::SingleConversation {
        if args.turns == 0 || args.block_size == 0 {
            bail!("--turns and --block-size must be at least 1");
        }
        return Ok(Mode::Single {
            turns: args.turns,
            block_size: args.block_size,
            time_limit: duration,
        });
    }
    if args.sessions == 0 {
        bail!("invalid --sessions `0`: run at least one session");
    }
    if duration.is_zero() {
        bail!(
            "invalid --duration `{}`: use a positive number of seconds",
            args.duration
        );
    }
    let think_time = seconds("--think-time", args.think_time)?;
    let ramp_up = match args.ramp_up {
        Some(value) => seconds("--ramp-up", value)?,
        None => think_time,
    };
    Ok(Mode::Load {
        sessions: args.sessions,
        duration,
        ramp_up: ramp_up.min(duration),
        think_time,
    })
}

fn seconds(flag: &str, value: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        anyhow::anyhow!("invalid {flag} `{value}`: use a number of seconds, 0 or more")
    })
}

/// Rejects URLs whose host is not on this machine, so that the load never
/// leaves the loopback interface.
pub fn check_loopback(url: &str) -> anyhow::Result<()> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|error| anyhow::anyhow!("invalid --url `{url}`: {error}"))?;
    let host = parsed.host_str().unwrap_or_default();
    let address = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost"
        || address
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!(
            "--url `{url}` is not a loopback address; tern bench only sends load to 127.0.0.1, ::1 or localhost"
        );
    }
    Ok(())
}
