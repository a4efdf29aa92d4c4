//! `tern serve`: resolve the configuration, bind, build and run the server.

use std::process::ExitCode;

use anyhow::Context;
use tern_server::config::{Config, ServeArgs};

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = Config::resolve(args)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {}; pass --listen ADDR or set TERN_LISTEN",
                    config.listen
                )
            })?;
        let address = listener.local_addr()?;
        let state = tern_server::build_state(config, address).await?;
        tern_server::run(state, listener, tern_server::shutdown_signal()).await
    })?;
    Ok(ExitCode::SUCCESS)
}
