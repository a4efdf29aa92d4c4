//! One module per subcommand.

mod test;
mod validate;

use std::process::ExitCode;

use crate::cli::Command;

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Validate(args) => validate::run(&args),
        Command::Test(args) => test::run(&args),
    }
}
