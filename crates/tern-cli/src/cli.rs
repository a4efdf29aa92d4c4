//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tern",
    version,
    about = "Tern: a conversational AI server for YAML business flows"
)]
pub struct Cli {
    /// Log more: -v for debug, -vv for trace. `RUST_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Check flow files; exits 0 without errors (warnings allowed), 1 with
    /// errors, 2 when a file cannot be read.
    Validate(ValidateArgs),
    /// Run scripted conversation tests; exits 0 when all pass, 1 when any
    /// fails, 2 when a file cannot be read.
    Test(TestArgs),
    /// Run the server. Without settings it serves the bundled example
    /// assistant on 127.0.0.1:8080 with an SQLite file and the offline
    /// understander.
    Serve(tern_server::config::ServeArgs),
    /// Talk to an assistant in the terminal: a running server with --url,
    /// or the bundled example (or --flows) in this process.
    Chat(ChatArgs),
    /// Run a mock LLM server speaking the OpenAI and Anthropic chat APIs,
    /// for tests and benchmarks.
    MockLlm(MockLlmArgs),
    /// Send load to a server on loopback, or to one it starts with
    /// --spawn, and report throughput, latency, errors, memory, CPU and
    /// database growth. Exits 1 when any turn failed.
    Bench(tern_bench::BenchArgs),
    /// Convert a Rasa project or a Dialogflow export into a Tern assistant
    /// folder with a fidelity report. Exits 1 when the imported flows have
    /// validation errors.
    Import(ImportArgs),
}

#[derive(clap::Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub source: ImportSource,
    /// Output folder [default: NAME-tern in the current directory].
    #[arg(long, global = true, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace the output folder if it exists.
    #[arg(long, global = true)]
    pub force: bool,
}

#[derive(Subcommand)]
pub enum ImportSource {
    /// A Rasa project folder (CALM flows or classic NLU-era files).
    Rasa { path: PathBuf },
    /// A Dialogflow CX export: the folder or the .zip as exported.
    DialogflowCx { path: PathBuf },
    /// A Dialogflow ES export: the folder or the .zip as exported.
    DialogflowEs { path: PathBuf },
}

#[derive(clap::Args)]
pub struct ChatArgs {
    /// Base URL of a running Tern server, such as http://127.0.0.1:8080.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Conversation id [default: a new random one].
    #[arg(long, value_name = "ID")]
    pub conversation: Option<String>,
    /// Without --url: settings of the in-process server. With --url,
    /// `--client-key` is sent to the server.
    #[command(flatten)]
    pub local: tern_server::config::ServeArgs,
}

#[derive(clap::Args)]
pub struct MockLlmArgs {
    /// Address to listen on, IP:PORT or localhost:PORT.
    #[arg(
        long,
        default_value = "127.0.0.1:8089",
        value_name = "ADDR",
        value_parser = tern_server::config::parse_listen
    )]
    pub listen: std::net::SocketAddr,
    /// Delay before each answer in milliseconds: `1000`, or a range such as `800..1200`.
    #[arg(long, default_value = "0", value_name = "MS")]
    pub latency_ms: tern_mock_llm::Latency,
    /// Script of replies by user-text pattern (YAML).
    #[arg(long, value_name = "FILE")]
    pub script: Option<PathBuf>,
    /// Answer when no rule matches: `derive` (from the prompt's context), a
    /// fault name, or a JSON object.
    #[arg(long, default_value = "derive", value_name = "REPLY")]
    pub default_reply: tern_mock_llm::DefaultReply,
}

#[derive(clap::Args)]
pub struct ValidateArgs {
    /// Actions file (YAML or JSON) to check action steps against.
    #[arg(long, value_name = "FILE")]
    pub actions: Option<PathBuf>,
    /// Print diagnostics as JSON lines instead of text.
    #[arg(long)]
    pub json: bool,
    /// Flow files or directories of them.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

#[derive(clap::Args)]
pub struct TestArgs {
    /// Send each turn through a mock LLM server on loopback, so the prompt,
    /// the provider client and the output checks take part, and report the
    /// LLM calls per user message.
    #[arg(long)]
    pub mock_llm: bool,
    /// Conversation test files or directories of them.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// Sets up logging to stderr. `quiet_level` applies without -v: `info` for
/// servers, `warn` for one-shot commands.
pub fn init_tracing(verbose: u8, quiet_level: &str, json: bool) {
    let default = match verbose {
        0 => quiet_level,
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour codes only help a terminal; in a log file they are noise.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
