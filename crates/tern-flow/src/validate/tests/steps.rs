use super::{HEADER_LINES, error_codes, only, validate_steps, with_code};

#[test]
fn choice_branch_with_unknown_option() {
    let diagnostics = validate_steps(
        r#"
- id: ask_color
  collect: color
  collect_type: choice
  options: [red, green]
  description: "Red or green?"
  next:
    - if: "slots.color == 'red'"
      then: END
    - if: "slots.color == 'purple'"
      then: END
  else: END
"#,
    );
    let warning = only(&diagnostics, "unknown_option");
    assert!(!warning.is_error());
    assert_eq!(warning.line, HEADER_LINES + 9);
    assert_eq!(warning.path, "flows.main.steps[0].next[1].if");
    assert_eq!(
        warning.message,
        "condition `slots.color == 'purple'` compares slot `color` with `purple`, \
         which is not one of its options"
    );
    assert_eq!(
        warning.hint.as_deref(),
        Some("the options of `color` are `red`, `green`")
    );
}

#[test]
fn choice_checked_in_later_route_step() {
    let diagnostics = validate_steps(
        r#"
- id: ask_color
  collect: color
  collect_type: choice
  options:
    - value: red
      title: Red
    - value: green
  description: "Red or green?"
- id: route
  next:
    - if: "slots.color == 'green' || slots.color == 'blue'"
      then: END
    - if: "slots.color == 'Red'"
      then: END
  else: END
"#,
    );
    let warnings = with_code(&diagnostics, "unknown_option");
    assert_eq!(warnings.len(), 1, "{diagnostics:#?}");
    assert_eq!(warnings[0].path, "flows.main.steps[1].next[1].if");
}

#[test]
fn choice_slot_also_set_elsewhere_not_checked() {
    let diagnostics = validate_steps(
        r#"
- id: preset
  set_slots:
    color: purple
- id: ask_color
  collect: color
  collect_type: choice
  options: [red, green]
  description: "Red or green?"
  next:
    - if: "slots.color == 'purple'"
      then: END
  else: END
"#,
    );
    assert!(
        with_code(&diagnostics, "unknown_option").is_empty(),
        "{diagnostics:#?}"
    );
}

#[test]
fn min_on_string_is_ignored() {
    let diagnostics = validate_steps(
        r#"
- id: ask_name
  collect: name
  description: "Name?"
  validation:
    min: 2
    max: 40
"#,
    );
    let paths: Vec<&str> = with_code(&diagnostics, "ignored_validation")
        .iter()
        .map(|d| d.path.as_str())
        .collect();
    assert_eq!(
        paths,
        [
            "flows.main.steps[0].validation.min",
            "flows.main.steps[0].validation.max"
        ]
    );
    assert_eq!(
        diagnostics[0].message,
        "`min` is ignored because slot `name` has collect_type `string`"
    );
    assert!(error_codes(&diagnostics).is_empty());
}

#[test]
fn pattern_on_number_is_ignored() {
    let diagnostics = validate_steps(
        r#"
- id: ask_age
  collect: age
  collect_type: number
  description: "Age?"
  validation:
    pattern: "^[0-9]+$"
"#,
    );
    let warning = only(&diagnostics, "ignored_validation");
    assert_eq!(warning.path, "flows.main.steps[0].validation.pattern");
    assert_eq!(warning.line, HEADER_LINES + 6);
}

#[test]
fn matching_validation_is_fine() {
    let diagnostics = validate_steps(
        r#"
- id: ask_age
  collect: age
  collect_type: integer
  description: "Age?"
  validation:
    min: 0
    max: 130
- id: ask_plate
  collect: plate
  description: "Plate number?"
  validation:
    pattern: "^[A-Z]{3}[0-9]{4}$"
"#,
    );
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
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
fn handoff_false_is_ignored_with_warning() {
    let yaml = super::one_flow("- id: hello\n  response: Hello\n  handoff: false\n  next: END\n");
    let loaded = crate::load_str("test.yml", &yaml);
    let warnings: Vec<_> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.code == "ignored_field")
        .collect();
    assert_eq!(warnings.len(), 1, "{:#?}", loaded.diagnostics);
    assert!(warnings[0].message.contains("no effect"));
    assert!(
        !loaded.diagnostics.iter().any(|d| d.is_error()),
        "{:#?}",
        loaded.diagnostics
    );
    let step = &loaded.flows.flows["main"].steps[0];
    assert!(
        matches!(step.kind, crate::model::StepKind::Response(_)),
        "{:?}",
        step.kind
    );
}

#[test]
fn braced_slot_reference_warns() {
    let yaml = super::one_flow(
        "- id: ask\n  collect: name\n  description: Name?\n- id: hello\n  response: Hello {slots.name}\n  next: END\n",
    );
    let loaded = crate::load_str("test.yml", &yaml);
    let warnings: Vec<_> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.code == "braced_slot_reference")
        .collect();
    assert_eq!(warnings.len(), 1, "{:#?}", loaded.diagnostics);
    assert_eq!(warnings[0].path, "flows.main.steps[1].response");
    assert!(!warnings[0].is_error());
}
