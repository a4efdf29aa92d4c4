//! Each file in `tests/fixtures/invalid/` (at the workspace root) is a flow
//! file with exactly one error, declared in its first line as
//! `# expect: <code> at line <N>`. Loading and validating the file alone
//! must report that error and no other.

use std::fs;
use std::path::{Path, PathBuf};

use tern_flow::actions::{ActionRegistry, load_actions};
use tern_flow::validate::validate;
use tern_flow::{Diagnostic, load_paths};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn invalid_files() -> Vec<PathBuf> {
    let dir = workspace_root().join("tests/fixtures/invalid");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    files
}

fn actions() -> ActionRegistry {
    let path = workspace_root().join("tests/fixtures/actions/invalid_actions.yml");
    let (registry, problems) = load_actions(&path).expect("actions file is readable");
    assert!(problems.is_empty(), "invalid actions file: {problems:#?}");
    registry
}

/// Loads and validates one file; returns the loader's and the validator's
/// diagnostics together, sorted by position.
fn check(path: &Path, registry: &ActionRegistry) -> Vec<Diagnostic> {
    let loaded = load_paths(&[path]).expect("fixture is readable");
    let mut diagnostics = loaded.diagnostics;
    diagnostics.extend(validate(&loaded.flows, Some(registry)));
    diagnostics.sort_by_key(|d| (d.line, d.column));
    diagnostics
}

/// Returns the code and line declared by the file's `# expect: <code> at line <N>`.
fn expectation(path: &Path) -> (String, u32) {
    let text = fs::read_to_string(path).expect("fixture is readable");
    let first = text.lines().next().unwrap_or_default();
    let parsed = first.strip_prefix("# expect: ").and_then(|rest| {
        let (code, line) = rest.split_once(" at line ")?;
        Some((code.trim().to_string(), line.trim().parse().ok()?))
    });
    parsed.unwrap_or_else(|| {
        panic!(
            "{}: first line must be `# expect: <code> at line <N>`, found `{first}`",
            path.display()
        )
    })
}

#[test]
fn each_file_has_its_one_error() {
    let registry = actions();
    let files = invalid_files();
    assert!(
        files.len() >= 20,
        "expected at least 20 fixtures, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    for path in &files {
        let (code, line) = expectation(path);
        let diagnostics = check(path, &registry);
        let errors: Vec<&Diagnostic> = diagnostics.iter().filter(|d| d.is_error()).collect();
        let matches = errors.len() == 1 && errors[0].code == code && errors[0].line == line;
        if !matches {
            let found: Vec<String> = errors.iter().map(|d| d.to_string()).collect();
            failures.push(format!(
                "{}: expected `{code}` at line {line}, found:\n{}",
                path.display(),
                found.join("\n")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_code_appears() {
    let codes: Vec<String> = invalid_files()
        .iter()
        .map(|path| expectation(path).0)
        .collect();
    for code in [
        "invalid_yaml",
        "missing_field",
        "invalid_identifier",
        "unknown_collect_type",
        "duplicate_step",
        "conflicting_fields",
        "invalid_condition",
        "invalid_slot_reference",
        "unknown_step",
        "unknown_flow",
        "recursive_call",
        "slot_not_collected",
        "self_reference",
        "unknown_action",
        "missing_action_parameter",
        "loop_without_input",
    ] {
        assert!(
            codes.iter().any(|c| c == code),
            "no fixture expects `{code}`"
        );
    }
}

#[test]
fn rendered_diagnostics_snapshot() {
    let root = workspace_root();
    let registry = actions();
    let mut rendered = String::new();
    for path in invalid_files() {
        let relative = path.strip_prefix(&root).unwrap_or(&path).to_path_buf();
        rendered.push_str(&format!("== {}\n", relative.display()));
        for mut diagnostic in check(&path, &registry) {
            diagnostic.file = diagnostic
                .file
                .map(|file| file.strip_prefix(&root).unwrap_or(&file).to_path_buf());
            rendered.push_str(&diagnostic.to_string());
            rendered.push('\n');
        }
        rendered.push('\n');
    }
    insta::assert_snapshot!(rendered);
}
