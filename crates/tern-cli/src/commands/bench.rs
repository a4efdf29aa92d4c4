//! `tern bench`: run the benchmark, print its table on stdout, and write
//! the JSON report when asked.

use std::process::ExitCode;

use anyhow::Context;

pub fn run(args: tern_bench::BenchArgs) -> anyhow::Result<ExitCode> {
    let json = args.json.clone();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let report = runtime.block_on(tern_bench::run(args))?;
    print!("{}", tern_bench::render_table(&report));
    if let Some(path) = &json {
        tern_bench::write_json(&report, path)?;
    }
    if report.run.error_total() > 0 {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
