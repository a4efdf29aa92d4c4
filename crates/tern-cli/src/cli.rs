//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "tern", version, about = "Tern: a conversational AI server for YAML business flows")]
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

pub fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}
