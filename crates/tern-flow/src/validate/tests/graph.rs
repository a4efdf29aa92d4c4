use super::{HEADER_LINES, one_flow, only, validate_steps, validate_yaml, with_code};

#[test]
fn step_nothing_points_to_is_unreachable() {
    let diagnostics = validate_steps(
        r#"
- id: hello
  response: "Hello"
  next: END
- id: orphan
  response: "Never shown"
"#,
    );
    let warning = only(&diagnostics, "unreachable_step");
    assert!(!warning.is_error());
    assert_eq!(warning.line, HEADER_LINES + 4);
    assert_eq!(warning.path, "flows.main.steps[1]");
    assert!(warning.message.contains("`orphan`"));
}

#[test]
fn failure_and_max_attempts_targets_are_reachable() {
    let diagnostics = validate_steps(
        r#"
- id: ask_age
  collect: age
  collect_type: number
  description: "Age?"
  validation:
    min: 0
    max_attempts: 3
    on_max_attempts: give_up
  next: check
- id: check
  action: check_age
  next: END
  else: failed
- id: failed
  response: "The check failed"
  next: END
- id: give_up
  response: "Let us stop here"
"#,
    );
    assert!(
        with_code(&diagnostics, "unreachable_step").is_empty(),
        "{diagnostics:#?}"
    );
}

#[test]
fn steps_after_link_and_handoff_are_unreachable() {
    let yaml = format!(
        "{}  other:\n    name: Other\n    description: Linked\n    steps:\n      \
         - id: hi\n        response: Hi\n",
        one_flow(
            r#"
- id: to_other
  link: other
- id: after_link
  handoff: true
- id: after_handoff
  response: "Never"
"#
        )
    );
    let diagnostics = validate_yaml(&yaml, None);
    let paths: Vec<&str> = with_code(&diagnostics, "unreachable_step")
        .iter()
        .map(|d| d.path.as_str())
        .collect();
    assert_eq!(paths, ["flows.main.steps[1]", "flows.main.steps[2]"]);
}
