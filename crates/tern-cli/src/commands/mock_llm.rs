//! `tern mock-llm`: a mock LLM server, on loopback unless `--listen` says
//! otherwise, until ctrl-c.

use std::process::ExitCode;

use anyhow::Context;
use tern_mock_llm::{MockConfig, MockServer, load_script};

use crate::cli::MockLlmArgs;

pub fn run(args: MockLlmArgs) -> anyhow::Result<ExitCode> {
    let script = match &args.script {
        Some(path) => Some(load_script(path)?),
        None => None,
    };
    let config = MockConfig {
        latency: args.latency_ms,
        script,
        default_reply: args.default_reply,
        record_limit: 0,
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let server = MockServer::start(args.listen, config)
            .await
            .with_context(|| format!("cannot listen on {}; pass --listen ADDR, such as 127.0.0.1:0 for a free port", args.listen))?;
        tracing::info!(base_url = %server.base_url(), "mock LLM listening; point TERN_LLM_BASE_URL at it");
        tern_server::shutdown_signal().await;
        let stats = server.stats();
        tracing::info!(requests = stats.requests, max_in_flight = stats.max_in_flight, "mock LLM stopping");
        server.shutdown().await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
