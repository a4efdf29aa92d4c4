//! The `tern` command.

use std::process::ExitCode;

use clap::Parser;

mod cli;
mod commands;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let (level, json) = match &cli.command {
        cli::Command::Serve(args) => ("info", args.log_json),
        cli::Command::MockLlm(_) => ("info", false),
        _ => ("warn", false),
    };
    cli::init_tracing(cli.verbose, level, json);
    match commands::run(cli.command) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
