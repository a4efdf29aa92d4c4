//! `tern bench` run as a user would: against a server it spawns with the
//! offline understander and SQLite in a temporary directory. No assertion
//! is about timing, because test machines are shared and noisy.

use std::process::{Command, Output};

use serde_json::Value;

fn tern(args: &[&str], directory: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tern"))
        .args(args)
        .current_dir(directory)
        .env_remove("TERN_CLIENT_KEY")
        .output()
        .expect("the tern binary runs")
}

fn describe(output: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn bench_spawned_server_has_no_errors() {
    let directory = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", directory.path().join("bench.db").display());
    let report_path = directory.path().join("report.json");
    let args = [
        "bench",
        "--spawn",
        "--database-url",
        &database_url,
        "--sessions",
        "50",
        "--duration",
        "3",
        "--think-time",
        "0.5",
        "--idle-secs",
        "0.5",
        "--json",
        report_path.to_str().unwrap(),
    ];
    let output = tern(&args, directory.path());
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    let run = &report["run"];
    assert!(run["turns"].as_u64().unwrap() > 0, "{run}");
    assert_eq!(run["errors"], serde_json::json!({}), "{run}");
    assert!(run["conversations_finished"].as_u64().unwrap() > 0, "{run}");
    assert_eq!(
        run["llm_calls_per_turn"], 0.0,
        "the offline understander makes no LLM calls"
    );
    assert!(
        report["startup"]["cold_start_ms"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    assert!(
        report["startup"]["idle_rss_kib"].as_u64().unwrap() > 0,
        "{report}"
    );
    assert_eq!(report["database"]["backend"], "sqlite");
    assert!(
        report["database"]["rows_per_turn"]
            .as_f64()
            .is_none_or(|rows| rows > 0.0),
        "{report}"
    );
    let server = report["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|process| process["name"] == "server");
    assert!(server.is_some(), "{report}");
    assert_eq!(
        report["server_view"]["turns"], run["turns"],
        "the server counted the same turns"
    );

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("errors                0"), "{stdout}");
}

#[test]
fn bench_rejects_remote_url() {
    let directory = tempfile::tempdir().unwrap();
    let output = tern(
        &[
            "bench",
            "--url",
            "http://192.0.2.10:8080",
            "--duration",
            "1",
        ],
        directory.path(),
    );
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not a loopback address"), "{stderr}");
}

#[test]
fn bench_rejects_unknown_scenario() {
    let directory = tempfile::tempdir().unwrap();
    let output = tern(&["bench", "--scenario", "fastest"], directory.path());
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown scenario `fastest`"), "{stderr}");
}

#[test]
fn bench_without_server_says_how_to_start_one() {
    let directory = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let output = tern(
        &["bench", "--url", &url, "--duration", "1"],
        directory.path(),
    );
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("pass --spawn"), "{stderr}");
}
