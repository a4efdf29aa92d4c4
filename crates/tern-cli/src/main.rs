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
        // Start-up warnings of the in-process server (such as the missing
        // admin key) mean nothing in a terminal chat.
        cli::Command::Chat(_) => ("error", false),
        _ => ("warn", false),
    };
    cli::init_tracing(cli.verbose, level, json);
    match commands::run(cli.command) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", describe(&error));
            ExitCode::from(2)
        }
    }
}

/// Joins an error with its causes, leaving out a cause whose text an
/// earlier message already contains: many errors quote their cause in
/// their own message and also return it as their source.
fn describe(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let message = cause.to_string();
        if text.contains(&message) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&message);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn quoted_cause_printed_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let error = anyhow::Error::new(io).context("cannot read `a.yml`: no such file");
        assert_eq!(describe(&error), "cannot read `a.yml`: no such file");
    }

    #[test]
    fn new_cause_appended() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let error = anyhow::Error::new(io).context("reading the actions file");
        assert_eq!(describe(&error), "reading the actions file: no such file");
    }
}
