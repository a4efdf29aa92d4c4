//! The `tern` binary run as a user would: exit codes and output of
//! `validate` and `test` on the repository's own flows and tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tern(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tern"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the tern binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn validate_corpus_with_actions_passes() {
    let output = tern(&[
        "validate",
        "--actions",
        "tests/fixtures/actions/corpus_actions.yml",
        "tests/fixtures/flowent",
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("3 flows in 3 files: 0 errors"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn validate_example_assistant_passes() {
    let output = tern(&[
        "validate",
        "--actions",
        "examples/municipal/actions.yml",
        "examples/municipal/flows",
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
}

#[test]
fn validate_broken_files_exits_one_with_positions() {
    let output = tern(&[
        "validate",
        "--actions",
        "tests/fixtures/actions/invalid_actions.yml",
        "tests/fixtures/invalid/unknown_next_target.yml",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    let expected = "error[unknown_step]: tests/fixtures/invalid/unknown_next_target.yml:";
    assert!(text.contains(expected), "{text}");
}

#[test]
fn validate_missing_path_exits_two() {
    let output = tern(&["validate", "no/such/flows.yml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("no/such/flows.yml"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn validate_without_paths_is_usage_error() {
    let output = tern(&["validate"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn validate_json_output_is_one_object_per_line() {
    let output = tern(&["validate", "--json", "tests/fixtures/flowent"]);
    for line in stdout(&output).lines() {
        let value: serde_json::Value = serde_json::from_str(line).expect("each line is JSON");
        assert!(value.get("code").is_some(), "{line}");
    }
}

#[test]
fn conversation_tests_pass() {
    let output = tern(&["test", "examples/municipal/tests", "tests/conversations"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains(" 0 failed"), "{}", stdout(&output));
}

/// The same conversations through a mock LLM server over HTTP: the prompt,
/// the provider client and the output checks take part, and every user
/// message costs exactly one LLM call.
#[test]
fn conversation_tests_pass_through_mock_llm() {
    let output = tern(&[
        "test",
        "--mock-llm",
        "examples/municipal/tests",
        "tests/conversations",
    ]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("(1.000 per message)"), "{text}");
}

#[test]
fn wrong_expectation_fails_with_diff() {
    let dir = tempfile::tempdir().unwrap();
    let flows = root().join("tests/fixtures/flowent/simple_greeting.yml");
    let test = format!(
        "flows: {}\ntests:\n  - name: wrong greeting\n    turns:\n      - user: hi\n        \
         commands: [start_flow: simple_greeting_flow]\n        bot: [\"What's your name?\"]\n",
        flows.display()
    );
    let path = dir.path().join("wrong.yml");
    std::fs::write(&path, test).unwrap();
    let output = tern(&["test", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(text.contains("FAIL"), "{text}");
    assert!(text.contains("-What's your name?"), "{text}");
    assert!(text.contains("+What is your name?"), "{text}");
}

#[test]
fn test_file_with_bad_command_reports_line() {
    let dir = tempfile::tempdir().unwrap();
    let flows = root().join("tests/fixtures/flowent/simple_greeting.yml");
    let test = format!(
        "flows: {}\ntests:\n  - name: typo\n    turns:\n      - user: hi\n        commands: [strat_flow: x]\n",
        flows.display()
    );
    let path = dir.path().join("typo.yml");
    std::fs::write(&path, test).unwrap();
    let output = tern(&["test", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(text.contains("typo.yml:6:"), "{text}");
    assert!(text.contains("unknown command `strat_flow`"), "{text}");
}

#[test]
fn test_missing_path_exits_two() {
    let output = tern(&["test", "no/such/tests"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn import_rasa_project_validates_and_tests_pass() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("quickstart");
    let source = root().join("crates/tern-import/tests/fixtures/rasa/quickstart");
    let output = tern(&[
        "import",
        "rasa",
        source.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(out.join("IMPORT_REPORT.md").exists());
    let tests = tern(&["test", out.join("tests").to_str().unwrap()]);
    assert_eq!(tests.status.code(), Some(0), "{}", stdout(&tests));
}

#[test]
fn import_refuses_existing_output_and_missing_source() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mine.txt"), "keep").unwrap();
    let source = root().join("crates/tern-import/tests/fixtures/rasa/quickstart");
    let output = tern(&[
        "import",
        "rasa",
        source.to_str().unwrap(),
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("already exists"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("mine.txt")).unwrap(),
        "keep"
    );
    let missing = tern(&[
        "import",
        "dialogflow-cx",
        "no/such/agent.zip",
        "--out",
        dir.path().join("x").to_str().unwrap(),
    ]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("no/such/agent.zip"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn chat_in_process_answers_each_line() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("chat.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_tern"))
        .args(["chat", "--database-url", &database])
        .current_dir(root())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("tern chat starts");
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"hello\nI want to pay a parking fine\n/quit\n")
        .unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));
    assert!(
        text.contains("bot> Hello! This is the Riverside City Services assistant."),
        "{text}"
    );
    assert!(
        text.contains("bot> What is the licence plate number of the vehicle?"),
        "{text}"
    );
}

#[test]
fn chat_with_bad_url_fails() {
    for url in [
        "garbage",
        "http://127.0.0.1:9/api",
        "http://127.0.0.1:9?x=1",
        "ftp://127.0.0.1",
    ] {
        let output = tern(&["chat", "--url", url]);
        assert_eq!(output.status.code(), Some(2), "{url}: {}", stderr(&output));
        assert!(
            stderr(&output).contains(&format!("invalid --url `{url}`")),
            "{}",
            stderr(&output)
        );
    }
}

#[test]
fn chat_with_bad_conversation_id_fails() {
    let output = tern(&[
        "chat",
        "--url",
        "http://127.0.0.1:9",
        "--conversation",
        "a/b",
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("a/b"), "{}", stderr(&output));
}

#[test]
fn chat_exits_one_when_messages_fail() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tern"))
        .args(["chat", "--url", "http://127.0.0.1:9"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("tern chat starts");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"hello\n").unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("1 message(s) failed"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn validate_unreadable_actions_file_reports_only_it() {
    let dir = tempfile::tempdir().unwrap();
    let actions = dir.path().join("actions.yml");
    std::fs::write(&actions, "actions:\n  - nam: y\n").unwrap();
    let output = tern(&[
        "validate",
        "--actions",
        actions.to_str().unwrap(),
        "examples/municipal/flows",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(text.contains("error[invalid_action]"), "{text}");
    assert!(!text.contains("unknown_action"), "{text}");
    assert!(text.contains("actions_not_checked"), "{text}");
}
