//! Flowent's three example flows, copied into `tests/fixtures/flowent/` at
//! the workspace root, load and validate without errors when the actions
//! they run are registered.

use std::path::{Path, PathBuf};

use tern_flow::actions::{ActionRegistry, load_actions};
use tern_flow::validate::validate;
use tern_flow::{Diagnostic, load_paths};

const FILES: [&str; 3] = [
    "simple_greeting.yml",
    "iqama_renewal.yml",
    "intelligent_service_router.yml",
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn corpus_actions() -> ActionRegistry {
    let path = fixtures().join("actions/corpus_actions.yml");
    let (registry, problems) = load_actions(&path).expect("actions file is readable");
    assert!(problems.is_empty(), "invalid actions file: {problems:#?}");
    registry
}

fn check(paths: &[PathBuf], registry: Option<&ActionRegistry>) -> Vec<Diagnostic> {
    let loaded = load_paths(paths).expect("fixtures are readable");
    let mut diagnostics = loaded.diagnostics;
    diagnostics.extend(validate(&loaded.flows, registry));
    diagnostics
}

fn errors(diagnostics: &[Diagnostic]) -> Vec<String> {
    diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(ToString::to_string)
        .collect()
}

#[test]
fn each_file_validates_without_errors() {
    let registry = corpus_actions();
    for file in FILES {
        let path = fixtures().join("flowent").join(file);
        let diagnostics = check(&[path], Some(&registry));
        assert_eq!(errors(&diagnostics), Vec::<String>::new(), "{file}");
    }
}

#[test]
fn all_files_together_validate_without_errors() {
    let paths: Vec<PathBuf> = FILES
        .iter()
        .map(|file| fixtures().join("flowent").join(file))
        .collect();
    let diagnostics = check(&paths, Some(&corpus_actions()));
    assert_eq!(errors(&diagnostics), Vec::<String>::new());
}

#[test]
fn greeting_warns_about_missing_else() {
    let path = fixtures().join("flowent/simple_greeting.yml");
    let diagnostics = check(&[path], Some(&corpus_actions()));
    let codes: Vec<&str> = diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["no_else"]);
    assert_eq!(
        diagnostics[0].path,
        "flows.simple_greeting_flow.steps[2].next"
    );
}

#[test]
fn iqama_renewal_without_actions_file_warns() {
    let path = fixtures().join("flowent/iqama_renewal.yml");
    let diagnostics = check(&[path], None);
    let warnings: Vec<&Diagnostic> = diagnostics
        .iter()
        .filter(|d| d.code == "actions_not_checked")
        .collect();
    assert_eq!(warnings.len(), 1, "{diagnostics:#?}");
    assert!(errors(&diagnostics).is_empty());
}

#[test]
fn iqama_renewal_without_password_action_parameter_fails() {
    let mut registry = corpus_actions();
    let verify = registry
        .actions
        .get_mut("verify_family_status")
        .expect("registered");
    verify.json_schema["required"] = serde_json::json!(["iqama_number", "employment_contract"]);
    let path = fixtures().join("flowent/iqama_renewal.yml");
    let diagnostics = check(&[path], Some(&registry));
    let errors: Vec<&Diagnostic> = diagnostics.iter().filter(|d| d.is_error()).collect();
    assert_eq!(errors.len(), 1, "{diagnostics:#?}");
    assert_eq!(errors[0].code, "missing_action_parameter");
    assert!(
        errors[0].message.contains("`employment_contract`"),
        "{}",
        errors[0].message
    );
}
