use super::{HEADER_LINES, error_codes, one_flow, only, validate_steps, validate_yaml, with_code};
use crate::actions::ActionRegistry;

const ACTIONS: &str = r#"
actions:
  - name: authenticate_user
    description: Checks the user's credentials
    webhook_url: http://127.0.0.1:9400/actions/authenticate_user
    json_schema:
      type: object
      properties:
        iqama_number: { type: string }
        password: { type: string }
      required: [iqama_number, password]
  - name: list_services
    description: Lists the available services
    webhook_url: http://127.0.0.1:9400/actions/list_services
"#;

#[test]
fn without_registry_warns_once() {
    let diagnostics = validate_steps(
        r#"
- id: first
  action: one
- id: second
  action: two
"#,
    );
    let warning = only(&diagnostics, "actions_not_checked");
    assert!(!warning.is_error());
    assert_eq!(warning.file, None);
    assert_eq!(warning.line, 0);
    assert_eq!(
        warning.hint.as_deref(),
        Some("pass --actions FILE to check action names and parameters")
    );
    assert!(error_codes(&diagnostics).is_empty());
}

#[test]
fn without_action_steps_no_warning() {
    let diagnostics = validate_steps("- id: hello\n  response: Hello\n");
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
}

#[test]
fn unregistered_action_suggests_closest() {
    let yaml = one_flow("- id: services\n  action: list_service\n  next: END\n  else: END\n");
    let diagnostics = validate_yaml(&yaml, Some(ACTIONS));
    let error = only(&diagnostics, "unknown_action");
    assert_eq!(error.line, HEADER_LINES + 2);
    assert_eq!(error.path, "flows.main.steps[0].action");
    assert!(error.message.contains("`list_service`"));
    assert_eq!(error.hint.as_deref(), Some("did you mean `list_services`?"));
    assert_eq!(error_codes(&diagnostics), ["unknown_action"]);
}

#[test]
fn required_parameters_collected() {
    let yaml = one_flow(
        r#"
- id: ask_iqama
  collect: iqama_number
  description: "Iqama number?"
- id: ask_password
  collect: password
  description: "Password?"
- id: login
  action: authenticate_user
  next: END
  else: END
"#,
    );
    let diagnostics = validate_yaml(&yaml, Some(ACTIONS));
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
}

#[test]
fn missing_required_parameter() {
    let yaml = one_flow(
        r#"
- id: ask_iqama
  collect: iqama_number
  description: "Iqama number?"
- id: login
  action: authenticate_user
  next: END
  else: END
"#,
    );
    let diagnostics = validate_yaml(&yaml, Some(ACTIONS));
    let error = only(&diagnostics, "missing_action_parameter");
    assert_eq!(error.line, HEADER_LINES + 5);
    assert_eq!(error.path, "flows.main.steps[1].action");
    assert_eq!(
        error.message,
        "action `authenticate_user` requires parameter `password`, \
         but slot `password` is not collected by any flow"
    );
}

#[test]
fn parameter_collected_on_one_path_only() {
    let yaml = one_flow(
        r#"
- id: ask_iqama
  collect: iqama_number
  description: "Iqama number?"
  next:
    - if: "slots.iqama_number == '0'"
      then: login
  else: ask_password
- id: ask_password
  collect: password
  description: "Password?"
- id: login
  action: authenticate_user
  next: END
  else: END
"#,
    );
    let diagnostics = validate_yaml(&yaml, Some(ACTIONS));
    let error = only(&diagnostics, "missing_action_parameter");
    assert!(
        error.message.ends_with(
            "is not collected on every path reaching this step (e.g. via step `ask_iqama`)"
        ),
        "{}",
        error.message
    );
    assert_eq!(with_code(&diagnostics, "unknown_action").len(), 0);
}

#[test]
fn empty_registry_hint_names_actions_flag() {
    let yaml = one_flow("- id: services\n  action: list_services\n  next: END\n  else: END\n");
    let loaded = crate::load_str("flows.yml", &yaml);
    let registry = ActionRegistry::default();
    let diagnostics = crate::validate::validate(&loaded.flows, Some(&registry));
    let error = only(&diagnostics, "unknown_action");
    assert_eq!(
        error.hint.as_deref(),
        Some("give an actions file that registers `list_services` with --actions FILE")
    );
}
