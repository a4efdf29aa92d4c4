//! Unit tests of the validation rules, one file per rule module. Each test
//! loads a small flow file from inline YAML and checks what `validate`
//! reports.

mod actions;
mod graph;
mod loops;
mod references;
mod slots;
mod steps;

use crate::diagnostic::Diagnostic;

/// Lines before the first step in the file that [`one_flow`] builds.
const HEADER_LINES: u32 = 8;

/// Builds a file with one user-startable flow `main` whose steps are
/// `steps`, written at column 0. Step line `n` of `steps` is line
/// `HEADER_LINES + n` of the file.
fn one_flow(steps: &str) -> String {
    let mut yaml = String::from(
        "flows:\n  main:\n    name: Main\n    description: Test flow\n    nlu_trigger:\n      \
         intents:\n        - intent: start\n    steps:\n",
    );
    for line in steps.trim_matches('\n').lines() {
        yaml.push_str("      ");
        yaml.push_str(line);
        yaml.push('\n');
    }
    yaml
}

/// Loads `yaml` and validates it. Panics when the loader reports an error,
/// so that each test controls exactly what the validator receives.
fn validate_yaml(yaml: &str, actions: Option<&str>) -> Vec<Diagnostic> {
    let loaded = crate::load_str("test.yml", yaml);
    let loader_errors: Vec<String> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(ToString::to_string)
        .collect();
    assert!(
        loader_errors.is_empty(),
        "the loader reported errors: {loader_errors:#?}"
    );
    let registry = actions.map(|text| {
        let (registry, problems) =
            crate::actions::parse_actions(std::path::Path::new("actions.yml"), text);
        assert!(problems.is_empty(), "invalid actions file: {problems:#?}");
        registry
    });
    super::validate(&loaded.flows, registry.as_ref())
}

/// Validates one flow built by [`one_flow`], without an actions file.
fn validate_steps(steps: &str) -> Vec<Diagnostic> {
    validate_yaml(&one_flow(steps), None)
}

/// Returns the diagnostics with this code.
fn with_code<'a>(diagnostics: &'a [Diagnostic], code: &str) -> Vec<&'a Diagnostic> {
    diagnostics.iter().filter(|d| d.code == code).collect()
}

/// Returns the codes of all errors, in order.
fn error_codes(diagnostics: &[Diagnostic]) -> Vec<&'static str> {
    diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.code)
        .collect()
}

/// Returns the only diagnostic with this code. Panics with the full list
/// otherwise.
fn only<'a>(diagnostics: &'a [Diagnostic], code: &str) -> &'a Diagnostic {
    let found = with_code(diagnostics, code);
    assert_eq!(found.len(), 1, "expected one `{code}` in {diagnostics:#?}");
    found[0]
}
