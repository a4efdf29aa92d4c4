//! `tern test`: run conversation test files and print a report with diffs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use tern_convtest::{FileReport, Mode, run_file};

use crate::cli::TestArgs;

pub fn run(args: &TestArgs) -> anyhow::Result<ExitCode> {
    let mut files = Vec::new();
    for path in &args.paths {
        collect(path, &mut files).with_context(|| format!("reading `{}`", path.display()))?;
    }
    if files.is_empty() {
        anyhow::bail!("no test files (*.yml, *.yaml) found in the given paths");
    }
    let mode = if args.mock_llm {
        Mode::MockLlm
    } else {
        Mode::Direct
    };
    let (mut passed, mut failed, mut broken) = (0, 0, 0);
    let (mut messages, mut calls) = (0, 0);
    let mut multi_call_turns = Vec::new();
    for file in &files {
        let report = run_file(file, mode);
        print_report(&report);
        messages += report.user_messages;
        calls += report.llm_calls;
        for (test, turn, count) in &report.multi_call_turns {
            multi_call_turns.push(format!(
                "{}: {test}, turn {turn}: {count} calls",
                report.path.display()
            ));
        }
        if report.error.is_some() {
            broken += 1;
        }
        passed += report.tests.iter().filter(|t| t.passed()).count();
        failed += report.tests.iter().filter(|t| !t.passed()).count();
    }
    if mode == Mode::MockLlm {
        let per_message = if messages == 0 {
            0.0
        } else {
            calls as f64 / messages as f64
        };
        println!(
            "\nLLM calls: {calls} for {messages} user messages ({per_message:.3} per message)"
        );
        for line in &multi_call_turns {
            println!("  {line}");
        }
    }
    let unreadable = match broken {
        1 => "1 file could not run".to_string(),
        n => format!("{n} files could not run"),
    };
    println!("\n{passed} passed, {failed} failed, {unreadable}");
    Ok(if failed == 0 && broken == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn collect(path: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if !path.is_dir() {
        std::fs::metadata(path)?;
        files.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for entry in entries {
        let is_yaml = matches!(
            entry.extension().and_then(|e| e.to_str()),
            Some("yml" | "yaml")
        );
        if entry.is_dir() {
            collect(&entry, files)?;
        } else if is_yaml {
            files.push(entry);
        }
    }
    Ok(())
}

fn print_report(report: &FileReport) {
    let path = report.path.display();
    if let Some(error) = &report.error {
        println!("ERROR {path}\n  {}", error.replace('\n', "\n  "));
        return;
    }
    for test in &report.tests {
        if test.passed() {
            println!("ok    {path}:{} {}", test.line, test.name);
            continue;
        }
        println!("FAIL  {path}:{} {}", test.line, test.name);
        for failure in &test.failures {
            println!(
                "  turn {} (line {}), user: {:?}",
                failure.turn, failure.line, failure.user
            );
            for detail in &failure.details {
                println!("    {}", detail.replace('\n', "\n    "));
            }
        }
    }
}
