use super::{HEADER_LINES, error_codes, one_flow, only, validate_steps, validate_yaml, with_code};

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

/// A loop that a condition can leave may still spin, but only at run time,
/// so it is a warning rather than an error.
#[test]
fn conditional_loop_only_warns() {
    let diagnostics = validate_steps(
        r#"
- id: ask
  collect: answer
  description: "Anything?"
- id: count
  set_slots: { tries: 1 }
- id: decide
  next:
    - if: "slots.tries > 3"
      then: done
  else: count
- id: done
  response: "Done"
"#,
    );
    assert!(with_code(&diagnostics, "loop_without_input").is_empty());
    let warning = only(&diagnostics, "loop_may_not_wait");
    assert!(warning.message.contains("200 steps"), "{}", warning.message);
    assert_eq!(warning.severity, crate::diagnostic::Severity::Warning);
}
