//! One module per subcommand.

mod bench;
mod chat;
mod import;
mod mock_llm;
mod serve;
mod test;
mod validate;

use std::process::ExitCode;

use crate::cli::Command;

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Validate(args) => validate::run(&args),
        Command::Test(args) => test::run(&args),
        Command::Serve(args) => serve::run(args),
        Command::Chat(args) => chat::run(args),
        Command::MockLlm(args) => mock_llm::run(args),
        Command::Import(args) => import::run(&args),
        Command::Bench(args) => bench::run(args),
    }
}
