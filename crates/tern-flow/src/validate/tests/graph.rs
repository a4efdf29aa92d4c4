use super::{HEADER_LINES, error_codes, one_flow, only, validate_steps, validate_yaml, with_code};

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

#[test]
fn loop_of_responses_has_no_input() {
    let diagnostics = validate_steps(
        r#"
- id: ask
  collect: answer
  description: "Anything?"
- id: ping
  response: "Ping"
  next: route
- id: route
  next: pong
- id: pong
  response: "Pong"
  next: ping
"#,
    );
    let error = only(&diagnostics, "loop_without_input");
    assert_eq!(error.line, HEADER_LINES + 4);
    assert_eq!(error.path, "flows.main.steps[1]");
    assert!(
        error.message.contains("`ping` → `route` → `pong` → `ping`"),
        "{}",
        error.message
    );
}

#[test]
fn loop_back_to_collect_is_fine() {
    let diagnostics = validate_steps(
        r#"
- id: ask_choice
  collect: menu_choice
  description: "1 or 2?"
  next:
    - if: "slots.menu_choice == '1'"
      then: one
  else: invalid
- id: invalid
  response: "Please answer 1 or 2"
  next: ask_choice
- id: one
  response: "One"
"#,
    );
    assert!(error_codes(&diagnostics).is_empty(), "{diagnostics:#?}");
}

#[test]
fn action_retrying_itself_has_no_input() {
    let diagnostics = validate_steps(
        r#"
- id: check
  action: check_status
  next: END
  else: check
"#,
    );
    let error = only(&diagnostics, "loop_without_input");
    assert!(
        error.message.contains("`check` → `check`"),
        "{}",
        error.message
    );
}

#[test]
fn loop_through_call_depends_on_called_flow() {
    let with_helper = |helper_steps: &str| {
        let mut yaml = one_flow(
            r#"
- id: run_helper
  call: helper
- id: retry
  next: run_helper
"#,
        );
        yaml.push_str(
            "  helper:\n    name: Helper\n    description: Called in a loop\n    steps:\n",
        );
        for line in helper_steps.trim_matches('\n').lines() {
            yaml.push_str("      ");
            yaml.push_str(line);
            yaml.push('\n');
        }
        validate_yaml(&yaml, None)
    };

    let waits = with_helper("- id: ask\n  collect: answer\n  description: \"Anything?\"\n");
    assert!(
        with_code(&waits, "loop_without_input").is_empty(),
        "{waits:#?}"
    );

    let never_waits = with_helper("- id: hi\n  response: Hi\n");
    let error = only(&never_waits, "loop_without_input");
    assert!(
        error
            .message
            .contains("`run_helper` → `retry` → `run_helper`"),
        "{}",
        error.message
    );

    let waits_on_one_path = with_helper(
        r#"
- id: route
  next:
    - if: "slots.answer == null"
      then: ask
  else: END
- id: ask
  collect: answer
  description: "Anything?"
"#,
    );
    assert_eq!(
        with_code(&waits_on_one_path, "loop_without_input").len(),
        1,
        "{waits_on_one_path:#?}"
    );
}

#[test]
fn branches_without_else_warn() {
    let diagnostics = validate_steps(
        r#"
- id: ask_help
  collect: needs_help
  collect_type: boolean
  description: "Do you need help?"
  next:
    - if: "slots.needs_help == true"
      then: help
- id: help
  response: "Here to help"
"#,
    );
    let warning = only(&diagnostics, "no_else");
    assert!(!warning.is_error());
    assert_eq!(warning.path, "flows.main.steps[0].next");
    assert!(
        warning.message.contains("the flow ends"),
        "{}",
        warning.message
    );
}

#[test]
fn literal_true_branch_needs_no_else() {
    let diagnostics = validate_steps(
        r#"
- id: ask_help
  collect: needs_help
  collect_type: boolean
  description: "Do you need help?"
  next:
    - if: "slots.needs_help == true"
      then: help
    - if: "true"
      then: END
- id: help
  response: "Here to help"
"#,
    );
    assert!(
        with_code(&diagnostics, "no_else").is_empty(),
        "{diagnostics:#?}"
    );
}

#[test]
fn semantic_branches_mixed_with_if() {
    let diagnostics = validate_steps(
        r#"
- id: ask
  collect: request
  description: "How can I help?"
  next:
    - semantic_if: "user is unhappy"
      then: sorry
    - if: "slots.request == 'help'"
      then: help
  else: help
- id: sorry
  response: "Sorry to hear that"
  next: help
- id: help
  response: "Here to help"
"#,
    );
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
}

#[test]
fn long_loop_found_without_deep_recursion() {
    const STEPS: usize = 5000;
    let mut steps = String::new();
    for index in 0..STEPS {
        let next = (index + 1) % STEPS;
        steps.push_str(&format!(
            "- id: s{index}\n  response: \"Step {index}\"\n  next: s{next}\n"
        ));
    }
    let diagnostics = validate_steps(&steps);
    let error = only(&diagnostics, "loop_without_input");
    assert!(
        error.message.starts_with("steps `s0` → `s1` → `s2`"),
        "{}",
        &error.message[..80]
    );
    assert_eq!(error_codes(&diagnostics), ["loop_without_input"]);
}
