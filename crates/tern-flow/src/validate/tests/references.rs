use super::{HEADER_LINES, error_codes, one_flow, only, validate_steps, validate_yaml, with_code};

#[test]
fn unknown_next_target_suggests_closest_step() {
    let diagnostics = validate_steps(
        r#"
- id: ask_name
  collect: user_name
  description: "What is your name?"
  next: greet_usr
- id: greet_user
  response: "Hello slots.user_name"
"#,
    );
    let error = only(&diagnostics, "unknown_step");
    assert!(error.is_error());
    assert_eq!(error.line, HEADER_LINES + 4);
    assert_eq!(error.path, "flows.main.steps[0].next");
    assert!(error.message.contains("`greet_usr`"), "{}", error.message);
    assert_eq!(error.hint.as_deref(), Some("did you mean `greet_user`?"));
    // `greet_user` is unreachable only because of the misspelling.
    assert!(
        with_code(&diagnostics, "unreachable_step").is_empty(),
        "{diagnostics:#?}"
    );
}

#[test]
fn unknown_then_else_and_max_attempts_targets() {
    let diagnostics = validate_steps(
        r#"
- id: ask_age
  collect: age
  collect_type: number
  description: "How old are you?"
  validation:
    min: 0
    max_attempts: 2
    on_max_attempts: too_many
  next:
    - if: "slots.age >= 18"
      then: adult
  else: minor
- id: adult
  response: "Welcome"
"#,
    );
    let paths: Vec<&str> = with_code(&diagnostics, "unknown_step")
        .iter()
        .map(|d| d.path.as_str())
        .collect();
    assert_eq!(
        paths,
        [
            "flows.main.steps[0].validation.on_max_attempts",
            "flows.main.steps[0].else",
        ]
    );
    assert_eq!(error_codes(&diagnostics), ["unknown_step", "unknown_step"]);
}

#[test]
fn unknown_branch_target_has_branch_path() {
    let diagnostics = validate_steps(
        r#"
- id: ask
  collect: answer
  collect_type: boolean
  description: "Yes or no?"
  next:
    - if: "slots.answer == true"
      then: yes_step
  else: END
"#,
    );
    let error = only(&diagnostics, "unknown_step");
    assert_eq!(error.path, "flows.main.steps[0].next[0].then");
    assert_eq!(error.line, HEADER_LINES + 7);
}

#[test]
fn lowercase_end_gets_capitals_hint() {
    let diagnostics = validate_steps(
        r#"
- id: bye
  response: "Bye"
  next: end
"#,
    );
    let error = only(&diagnostics, "unknown_step");
    assert_eq!(
        error.hint.as_deref(),
        Some("write `END` in capitals to end the flow")
    );
}

#[test]
fn unknown_target_without_close_match_lists_steps() {
    let diagnostics = validate_steps(
        r#"
- id: first
  response: "One"
  next: something_unrelated
- id: second
  response: "Two"
"#,
    );
    let error = only(&diagnostics, "unknown_step");
    assert_eq!(
        error.hint.as_deref(),
        Some("existing steps: `first`, `second`")
    );
}

#[test]
fn call_and_link_to_unknown_flow() {
    let diagnostics = validate_steps(
        r#"
- id: run_check
  call: check_idenity
- id: hand_over
  link: somewhere_else
"#,
    );
    let errors = with_code(&diagnostics, "unknown_flow");
    assert_eq!(errors.len(), 2, "{diagnostics:#?}");
    assert_eq!(errors[0].path, "flows.main.steps[0].call");
    assert_eq!(errors[0].line, HEADER_LINES + 2);
    assert!(errors[0].message.contains("`check_idenity`"));
    assert_eq!(errors[1].path, "flows.main.steps[1].link");
    assert!(errors[1].message.contains("`somewhere_else`"));
}

#[test]
fn unknown_flow_suggests_closest_flow() {
    let yaml = format!(
        "{}  check_identity:\n    name: Check\n    description: Checks\n    steps:\n      \
         - id: ask\n        collect: iqama_number\n        description: \"Iqama?\"\n",
        one_flow("- id: run\n  call: check_idenity\n")
    );
    let diagnostics = validate_yaml(&yaml, None);
    let error = only(&diagnostics, "unknown_flow");
    assert_eq!(
        error.hint.as_deref(),
        Some("did you mean `check_identity`?")
    );
}

#[test]
fn flow_calling_itself_is_recursive() {
    let diagnostics = validate_steps(
        r#"
- id: ask
  collect: answer
  description: "Anything?"
- id: again
  call: main
"#,
    );
    let error = only(&diagnostics, "recursive_call");
    assert_eq!(error.message, "flow `main` calls itself");
    assert_eq!(error.path, "flows.main.steps[1].call");
    assert_eq!(error.line, HEADER_LINES + 5);
}

#[test]
fn call_cycle_reported_once() {
    let yaml = r#"
flows:
  first:
    name: First
    description: Calls second
    nlu_trigger:
      intents:
        - intent: start
    steps:
      - id: ask
        collect: answer
        description: "Anything?"
      - id: to_second
        call: second
  second:
    name: Second
    description: Calls first
    steps:
      - id: to_first
        call: first
"#;
    let diagnostics = validate_yaml(yaml, None);
    let error = only(&diagnostics, "recursive_call");
    assert_eq!(
        error.message,
        "flow `first` calls itself through `first` → `second` → `first`"
    );
    assert_eq!(error.path, "flows.first.steps[1].call");
}

#[test]
fn link_back_is_not_recursion() {
    let yaml = r#"
flows:
  first:
    name: First
    description: Links to second
    nlu_trigger:
      intents:
        - intent: start
    steps:
      - id: to_second
        link: second
  second:
    name: Second
    description: Links back
    steps:
      - id: to_first
        link: first
"#;
    let diagnostics = validate_yaml(yaml, None);
    assert!(
        with_code(&diagnostics, "recursive_call").is_empty(),
        "{diagnostics:#?}"
    );
}

#[test]
fn flow_nothing_starts_is_unstartable() {
    let yaml = format!(
        "{}  orphan:\n    name: Orphan\n    description: Nobody starts it\n    steps:\n      \
         - id: hello\n        response: Hello\n  helper:\n    name: Helper\n    \
         description: Called by main\n    steps:\n      - id: hi\n        response: Hi\n",
        one_flow("- id: run\n  call: helper\n")
    );
    let diagnostics = validate_yaml(&yaml, None);
    let warning = only(&diagnostics, "unstartable_flow");
    assert!(!warning.is_error());
    assert_eq!(warning.path, "flows.orphan");
    assert!(warning.message.contains("`orphan`"));
}

#[test]
fn flow_ids_differing_by_case_warn() {
    let yaml = format!(
        "{}  Main:\n    name: Other main\n    description: Same id in capitals\n    nlu_trigger:\n      \
         intents:\n        - intent: other\n    steps:\n      - id: hi\n        response: Hi\n",
        one_flow("- id: hello\n  response: Hello\n")
    );
    let diagnostics = validate_yaml(&yaml, None);
    let warning = only(&diagnostics, "flow_id_case_collision");
    assert_eq!(warning.path, "flows.Main");
    assert!(
        warning.message.contains("`main` and `Main`"),
        "{}",
        warning.message
    );
}

#[test]
fn called_flow_linking_back_is_recursive() {
    let yaml = format!(
        "{}  helper:\n    name: Helper\n    description: Links back to main\n    steps:\n      \
         - id: back\n        link: main\n",
        one_flow(
            "- id: ask\n  collect: answer\n  description: \"Anything?\"\n- id: run\n  call: helper\n"
        )
    );
    let diagnostics = validate_yaml(&yaml, None);
    let error = only(&diagnostics, "recursive_call");
    assert_eq!(error.path, "flows.main.steps[1].call");
    assert_eq!(
        error.message,
        "flow `main` calls itself through `main` → `helper` → `main`"
    );
}
