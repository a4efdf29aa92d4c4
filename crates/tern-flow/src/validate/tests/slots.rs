use super::{HEADER_LINES, error_codes, one_flow, only, validate_steps, validate_yaml, with_code};

#[test]
fn slot_collected_on_one_branch_fails_after_join() {
    let diagnostics = validate_steps(
        r#"
- id: ask_kind
  collect: kind
  description: "Work or family?"
  next:
    - if: "slots.kind == 'work'"
      then: ask_employer
  else: skip_employer
- id: ask_employer
  collect: employer
  description: "Who is your employer?"
  next: summary
- id: skip_employer
  response: "No employer needed"
  next: summary
- id: summary
  response: "Thanks, slots.employer"
"#,
    );
    let error = only(&diagnostics, "slot_not_collected");
    assert_eq!(error.line, HEADER_LINES + 15);
    assert_eq!(error.path, "flows.main.steps[3].response");
    assert_eq!(
        error.message,
        "slot `employer` is not collected on every path reaching this step (e.g. via step `skip_employer`)"
    );
    assert_eq!(error_codes(&diagnostics), ["slot_not_collected"]);
}

#[test]
fn slot_collected_on_both_branches_is_fine() {
    let diagnostics = validate_steps(
        r#"
- id: ask_kind
  collect: kind
  description: "Work or family?"
  next:
    - if: "slots.kind == 'work'"
      then: ask_employer
  else: ask_sponsor
- id: ask_employer
  collect: employer
  description: "Who is your employer?"
  next: summary
- id: ask_sponsor
  collect: employer
  description: "Who is your sponsor?"
  next: summary
- id: summary
  response: "Thanks, slots.employer"
"#,
    );
    assert!(error_codes(&diagnostics).is_empty(), "{diagnostics:#?}");
}

#[test]
fn loop_back_to_collect_keeps_slot() {
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
  response: "slots.menu_choice is not an option"
  next: ask_choice
- id: one
  response: "You chose slots.menu_choice"
"#,
    );
    assert!(error_codes(&diagnostics).is_empty(), "{diagnostics:#?}");
}

#[test]
fn action_failure_path_lacks_result_slot() {
    let diagnostics = validate_steps(
        r#"
- id: check
  action: check_fines
  next: show
  else: failed
- id: show
  response: "Your fines: slots.check_fines_result"
  next: END
- id: failed
  response: "Could not check: slots.check_fines_result"
"#,
    );
    let error = only(&diagnostics, "slot_not_collected");
    assert_eq!(error.path, "flows.main.steps[2].response");
    assert_eq!(error.line, HEADER_LINES + 8);
    assert_eq!(
        error.message,
        "slot `check_fines_result` is set by step `check` only when its action succeeds, \
         and this step is on its failure path"
    );
    assert_eq!(
        error.hint.as_deref(),
        Some("use `slots.check_fines_result` only on the `next` path of step `check`")
    );
}

#[test]
fn action_result_slot_can_be_renamed() {
    let diagnostics = validate_steps(
        r#"
- id: check
  action: check_fines
  result_slot: fines
  next:
    - if: "slots.fines > 0"
      then: show
  else: END
- id: show
  response: "You owe slots.fines"
"#,
    );
    assert!(error_codes(&diagnostics).is_empty(), "{diagnostics:#?}");
}

#[test]
fn set_slot_as_stores_under_other_name() {
    let diagnostics = validate_steps(
        r#"
- id: ask_name
  collect: name
  set_slot_as: customer_name
  description: "Your name?"
- id: greet
  response: "Hello slots.customer_name"
- id: greet_again
  response: "Hello again slots.name"
"#,
    );
    let error = only(&diagnostics, "slot_not_collected");
    assert_eq!(error.path, "flows.main.steps[2].response");
    assert_eq!(error.message, "slot `name` is not collected by any flow");
}

#[test]
fn collect_referencing_own_slot_is_error() {
    let diagnostics = validate_steps(
        r#"
- id: ask_name
  collect: user_name
  description: "Is slots.user_name your name?"
"#,
    );
    let error = only(&diagnostics, "self_reference");
    assert!(error.is_error());
    assert_eq!(error.path, "flows.main.steps[0].description");
    assert_eq!(error.line, HEADER_LINES + 1);
    assert!(error.message.contains("`user_name`"));
    assert_eq!(error_codes(&diagnostics), ["self_reference"]);
}

#[test]
fn collect_referencing_own_store_name_is_error() {
    let diagnostics = validate_steps(
        r#"
- id: ask_name
  collect: name
  set_slot_as: customer_name
  description: "Is slots.customer_name right?"
"#,
    );
    assert_eq!(error_codes(&diagnostics), ["self_reference"]);
}

#[test]
fn validation_message_referencing_own_slot_is_error() {
    let diagnostics = validate_steps(
        r#"
- id: ask_email
  collect: email
  collect_type: email
  description: "Your email?"
  validation:
    message: "slots.email is not an email address"
"#,
    );
    let error = only(&diagnostics, "self_reference");
    assert_eq!(error.path, "flows.main.steps[0].validation.message");
}

#[test]
fn collect_conditions_see_own_slot() {
    let diagnostics = validate_steps(
        r#"
- id: ask_age
  collect: age
  collect_type: number
  description: "How old are you?"
  next:
    - if: "slots.age >= 18"
      then: adult
  else: END
- id: adult
  response: "Welcome"
"#,
    );
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
}

#[test]
fn condition_on_uncollected_slot() {
    let diagnostics = validate_steps(
        r#"
- id: route
  next:
    - if: "slots.age >= 18"
      then: adult
  else: END
- id: adult
  response: "Welcome"
- id: ask_age
  collect: age
  collect_type: number
  description: "How old are you?"
"#,
    );
    let error = only(&diagnostics, "slot_not_collected");
    assert_eq!(error.path, "flows.main.steps[0].next[0].if");
    assert_eq!(error.line, HEADER_LINES + 3);
    assert_eq!(
        error.message,
        "slot `age` is not collected on any path reaching this step"
    );
    assert_eq!(
        error.hint.as_deref(),
        Some(
            "step `ask_age` collects it, but on no path that reaches this step; collect it earlier"
        )
    );
}

#[test]
fn unknown_slot_suggests_spelling() {
    let diagnostics = validate_steps(
        r#"
- id: ask_name
  collect: user_name
  description: "Your name?"
- id: greet
  response: "Hello slots.user_nam"
"#,
    );
    let error = only(&diagnostics, "slot_not_collected");
    assert_eq!(
        error.message,
        "slot `user_nam` is not collected by any flow"
    );
    assert_eq!(error.hint.as_deref(), Some("did you mean `user_name`?"));
}

#[test]
fn max_attempts_path_lacks_slot() {
    let diagnostics = validate_steps(
        r#"
- id: ask_age
  collect: age
  collect_type: number
  description: "Age?"
  validation:
    min: 0
    max_attempts: 3
    on_max_attempts: summary
- id: summary
  response: "Age: slots.age"
"#,
    );
    let error = only(&diagnostics, "slot_not_collected");
    assert!(
        error
            .message
            .contains("(e.g. via step `ask_age` after too many invalid values)"),
        "{}",
        error.message
    );
}

#[test]
fn only_max_attempts_path_lacks_slot() {
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
  next: END
- id: give_up
  response: "Could not understand slots.age"
"#,
    );
    let error = only(&diagnostics, "slot_not_collected");
    assert_eq!(
        error.message,
        "slot `age` is set by step `ask_age` only when a valid value is given, \
         and this step is on its `on_max_attempts` path"
    );
}

#[test]
fn set_slots_and_handoff_messages() {
    let diagnostics = validate_steps(
        r#"
- id: defaults
  set_slots:
    language: en
- id: to_agent
  handoff:
    reason: needs a human
    message: "An agent will continue in slots.language, slots.topic"
"#,
    );
    let error = only(&diagnostics, "slot_not_collected");
    assert_eq!(error.path, "flows.main.steps[1].handoff.message");
    assert!(
        error.message.starts_with("slot `topic`"),
        "{}",
        error.message
    );
}

#[test]
fn unreachable_steps_have_no_slot_errors() {
    let diagnostics = validate_steps(
        r#"
- id: hello
  response: "Hello"
  next: END
- id: orphan
  response: "Hello slots.nobody"
"#,
    );
    assert!(error_codes(&diagnostics).is_empty(), "{diagnostics:#?}");
}

/// Builds a file with flow `main` (the given steps) and flow `helper`.
fn with_helper(main_steps: &str, helper_steps: &str) -> String {
    let mut yaml = one_flow(main_steps);
    yaml.push_str("  helper:\n    name: Helper\n    description: Called by main\n    steps:\n");
    for line in helper_steps.trim_matches('\n').lines() {
        yaml.push_str("      ");
        yaml.push_str(line);
        yaml.push('\n');
    }
    yaml
}

#[test]
fn call_adds_slots_collected_on_every_path() {
    let yaml = with_helper(
        r#"
- id: identify
  call: helper
- id: thanks
  response: "Thanks slots.iqama_number, slots.nickname"
"#,
        r#"
- id: ask_iqama
  collect: iqama_number
  description: "Iqama number?"
  next:
    - if: "slots.iqama_number == '1'"
      then: ask_nickname
  else: END
- id: ask_nickname
  collect: nickname
  description: "Nickname?"
"#,
    );
    let diagnostics = validate_yaml(&yaml, None);
    let error = only(&diagnostics, "slot_not_collected");
    assert_eq!(error.path, "flows.main.steps[1].response");
    assert!(
        error.message.starts_with("slot `nickname`"),
        "{}",
        error.message
    );
}

#[test]
fn called_flow_sees_caller_slots() {
    let yaml = with_helper(
        r#"
- id: ask_iqama
  collect: iqama_number
  description: "Iqama number?"
- id: verify
  call: helper
"#,
        r#"
- id: confirm
  response: "Checking slots.iqama_number"
"#,
    );
    let diagnostics = validate_yaml(&yaml, None);
    assert!(error_codes(&diagnostics).is_empty(), "{diagnostics:#?}");
}

#[test]
fn called_flow_with_trigger_starts_empty() {
    let mut yaml = with_helper(
        r#"
- id: ask_iqama
  collect: iqama_number
  description: "Iqama number?"
- id: verify
  call: helper
"#,
        r#"
- id: confirm
  response: "Checking slots.iqama_number"
"#,
    );
    yaml = yaml.replace(
        "description: Called by main\n",
        "description: Called by main\n    nlu_trigger:\n      intents:\n        - intent: verify\n",
    );
    let diagnostics = validate_yaml(&yaml, None);
    let error = only(&diagnostics, "slot_not_collected");
    assert_eq!(error.path, "flows.helper.steps[0].response");
    assert_eq!(
        error.message,
        "slot `iqama_number` is not collected in flow `helper` before this step"
    );
}

#[test]
fn guard_with_unknown_slot_warns() {
    let yaml = r#"
flows:
  main:
    name: Main
    description: Guarded
    guard: "slots.logged_in == true && slots.user_name != null"
    nlu_trigger:
      intents:
        - intent: start
    steps:
      - id: ask_name
        collect: user_name
        description: "Name?"
"#;
    let diagnostics = validate_yaml(yaml, None);
    let warning = only(&diagnostics, "unknown_slot");
    assert!(!warning.is_error());
    assert_eq!(warning.line, 6);
    assert_eq!(warning.path, "flows.main.guard");
    assert!(
        warning.message.contains("`logged_in`"),
        "{}",
        warning.message
    );
    assert!(error_codes(&diagnostics).is_empty(), "{diagnostics:#?}");
}

#[test]
fn diagnostics_sorted_by_line() {
    let diagnostics = validate_steps(
        r#"
- id: first
  response: "slots.a"
- id: second
  response: "slots.b"
  next: missing
"#,
    );
    let lines: Vec<u32> = diagnostics.iter().map(|d| d.line).collect();
    let mut sorted = lines.clone();
    sorted.sort_unstable();
    assert_eq!(lines, sorted);
    assert_eq!(with_code(&diagnostics, "slot_not_collected").len(), 2);
    assert_eq!(with_code(&diagnostics, "unknown_step").len(), 1);
}

#[test]
fn flow_started_from_unreachable_step_is_checked() {
    let yaml = with_helper(
        r#"
- id: hello
  response: "Hello"
  next: END
- id: never
  call: helper
"#,
        r#"
- id: confirm
  response: "Checking slots.iqama_number"
- id: ask_iqama
  collect: iqama_number
  description: "Iqama number?"
"#,
    );
    let diagnostics = validate_yaml(&yaml, None);
    let error = only(&diagnostics, "slot_not_collected");
    assert_eq!(error.path, "flows.helper.steps[0].response");
}

#[test]
fn called_flow_ending_in_link_passes_slots() {
    let mut yaml = with_helper(
        r#"
- id: identify
  call: helper
- id: thanks
  response: "Thanks slots.iqama_number"
"#,
        r#"
- id: hand_over
  link: ask_number
"#,
    );
    yaml.push_str(
        "  ask_number:\n    name: Ask number\n    description: Linked from helper\n    steps:\n      \
         - id: ask\n        collect: iqama_number\n        description: \"Iqama number?\"\n",
    );
    let diagnostics = validate_yaml(&yaml, None);
    assert!(error_codes(&diagnostics).is_empty(), "{diagnostics:#?}");
}
