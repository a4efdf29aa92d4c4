//! Tests of the Rasa importer: the corpus projects and a classic project
//! end to end (import, validation, converted conversation tests, report
//! snapshot), then one group of tests per mapping rule on small projects.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tern_import::{Fidelity, ImportError, Project, validate_project, write_project};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/rasa")
        .join(name)
}

fn import_fixture(name: &str) -> Project {
    tern_import::rasa::import(&fixture(name)).unwrap_or_else(|e| panic!("importing {name}: {e}"))
}

/// Writes a Rasa project from `(path, text)` pairs into a temporary folder.
fn project_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary folder");
    for (path, text) in files {
        let path = dir.path().join(path);
        let parent = path.parent().expect("a file path has a parent");
        std::fs::create_dir_all(parent).expect("create the fixture folder");
        std::fs::write(path, text).expect("write the fixture file");
    }
    dir
}

fn import_files(files: &[(&str, &str)]) -> Project {
    let dir = project_dir(files);
    tern_import::rasa::import(dir.path()).unwrap_or_else(|e| panic!("import failed: {e}"))
}

fn file<'p>(project: &'p Project, path: &str) -> &'p str {
    project.files.get(Path::new(path)).unwrap_or_else(|| {
        panic!(
            "no file {path}; files: {:?}",
            project.files.keys().collect::<Vec<_>>()
        )
    })
}

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("invalid YAML: {e}\n{text}"))
}

/// Returns the body of flow `id` as JSON.
fn flow(project: &Project, id: &str) -> Value {
    yaml(file(project, &format!("flows/{id}.yml")))["flows"][id].clone()
}

fn step<'f>(flow: &'f Value, id: &str) -> &'f Value {
    flow["steps"]
        .as_array()
        .expect("steps are a list")
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id} in {flow:#}"))
}

fn errors(project: &Project) -> Vec<String> {
    validate_project(project)
        .iter()
        .filter(|d| d.is_error())
        .map(ToString::to_string)
        .collect()
}

/// Report notes of items whose `what` contains `what`.
fn notes(project: &Project, fidelity: Fidelity, what: &str) -> Vec<String> {
    project
        .report
        .items
        .iter()
        .filter(|i| i.fidelity == fidelity && i.what.contains(what))
        .map(|i| i.note.clone())
        .collect()
}

/// Writes the project and runs every converted conversation test file.
/// Returns `(file, test, failure details)` for each test.
fn run_converted_tests(project: &Project) -> Vec<(String, String, Vec<String>)> {
    let dir = tempfile::tempdir().expect("temporary folder");
    let out = dir.path().join("assistant");
    write_project(project, &out, false).expect("write the imported project");
    let mut results = Vec::new();
    let tests = out.join("tests");
    let entries = std::fs::read_dir(&tests).expect("the project has a tests folder");
    let mut paths: Vec<PathBuf> = entries
        .map(|e| e.expect("readable folder entry").path())
        .collect();
    paths.sort();
    for path in paths {
        let report = tern_convtest::run_file(&path, tern_convtest::Mode::Direct);
        let name = path
            .file_name()
            .expect("a file name")
            .to_string_lossy()
            .into_owned();
        assert!(
            report.error.is_none(),
            "{name} could not run: {:?}",
            report.error
        );
        for test in report.tests {
            let details = test
                .failures
                .iter()
                .flat_map(|f| {
                    f.details
                        .iter()
                        .map(move |d| format!("turn {}: {d}", f.turn))
                })
                .collect();
            results.push((name.clone(), test.name, details));
        }
    }
    results
}

fn assert_all_pass(results: &[(String, String, Vec<String>)]) {
    for (file, test, details) in results {
        assert!(
            details.is_empty(),
            "{file}: `{test}` failed:\n{}",
            details.join("\n")
        );
    }
}

const DOMAIN: &str = r#"
version: "3.1"
slots:
  name:
    type: text
  age:
    type: float
  vip:
    type: bool
  colour:
    type: categorical
    values: [red, green]
responses:
  utter_ask_name:
    - text: "What is your name?"
  utter_ask_age:
    - text: "How old are you?"
  utter_ask_vip:
    - text: "Are you a member?"
  utter_ask_colour:
    - text: "Which colour?"
  utter_hello:
    - text: "Hello {name}!"
  utter_bye:
    - text: "Bye."
"#;

// --- Corpus projects -------------------------------------------------

#[test]
fn quickstart_imports_without_errors() {
    let project = import_fixture("quickstart");
    assert_eq!(errors(&project), Vec::<String>::new());
    for path in [
        "flows/add_contact.yml",
        "flows/list_contacts.yml",
        "flows/remove_contact.yml",
        "actions.yml",
    ] {
        assert!(
            project.files.contains_key(Path::new(path)),
            "missing {path}"
        );
    }
    let tests = project
        .files
        .keys()
        .filter(|p| p.starts_with("tests"))
        .count();
    assert_eq!(tests, 8);
}

#[test]
fn quickstart_converted_tests_pass() {
    let project = import_fixture("quickstart");
    let results = run_converted_tests(&project);
    assert_eq!(results.len(), 8);
    assert_all_pass(&results);
}

#[test]
fn quickstart_report() {
    insta::assert_snapshot!(import_fixture("quickstart").report.to_markdown());
}

#[test]
fn masterclass_imports_without_errors() {
    let project = import_fixture("masterclass");
    assert_eq!(errors(&project), Vec::<String>::new());
    let ids: Vec<&str> = [
        "transfer_money",
        "replace_eligible_card",
        "transaction_search",
        "confirm_address",
    ]
    .to_vec();
    for id in ids {
        assert!(
            project
                .files
                .contains_key(Path::new(&format!("flows/{id}.yml"))),
            "missing flow {id}"
        );
    }
    assert!(!project.files.keys().any(|p| p.starts_with("tests")));
}

#[test]
fn masterclass_report() {
    insta::assert_snapshot!(import_fixture("masterclass").report.to_markdown());
}

#[test]
fn money_transfer_imports_without_errors() {
    let project = import_fixture("money_transfer");
    assert_eq!(errors(&project), Vec::<String>::new());
}

#[test]
fn money_transfer_converted_tests_pass() {
    let project = import_fixture("money_transfer");
    let results = run_converted_tests(&project);
    assert_eq!(results.len(), 1);
    assert_all_pass(&results);
}

#[test]
fn money_transfer_report() {
    insta::assert_snapshot!(import_fixture("money_transfer").report.to_markdown());
}

#[test]
fn classic_imports_without_errors() {
    let project = import_fixture("classic");
    assert_eq!(errors(&project), Vec::<String>::new());
}

#[test]
fn classic_converted_tests_pass() {
    let project = import_fixture("classic");
    let results = run_converted_tests(&project);
    let names: Vec<&str> = results.iter().map(|(_, name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "guest books a table",
            "guest asks for the hours and leaves",
            "guest books inside"
        ]
    );
    assert_all_pass(&results);
}

#[test]
fn classic_report() {
    insta::assert_snapshot!(import_fixture("classic").report.to_markdown());
}

#[test]
fn every_report_item_has_file_and_line() {
    for name in ["quickstart", "masterclass", "money_transfer", "classic"] {
        let project = import_fixture(name);
        for item in &project.report.items {
            assert!(!item.source.is_empty(), "{name}: {} has no file", item.what);
            assert!(
                item.location.starts_with("line "),
                "{name}: {} has location {:?}",
                item.what,
                item.location
            );
            let line: u32 = item.location[5..].parse().unwrap_or(0);
            assert!(line > 0, "{name}: {} has no line", item.what);
        }
    }
}

// --- Converted conversation tests ----------------------------------------

#[test]
fn e2e_cancel_becomes_cancel_command() {
    let project = import_fixture("quickstart");
    let test = yaml(file(
        &project,
        "tests/cancelations_user_changes_mind_on_a_whim.yml",
    ));
    let turns = test["tests"][0]["turns"].as_array().unwrap();
    assert_eq!(turns[0]["commands"], json!([{"start_flow": "add_contact"}]));
    assert_eq!(turns[1]["commands"], json!(["cancel"]));
    assert_eq!(
        turns[1]["bot"],
        json!(["Okay, I have stopped add a contact."])
    );
}

#[test]
fn e2e_correction_sets_filled_slot_again() {
    let project = import_fixture("quickstart");
    let test = yaml(file(
        &project,
        "tests/corrections_user_corrects_contact_handle.yml",
    ));
    let turn = &test["tests"][0]["turns"][2];
    assert_eq!(
        turn["commands"],
        json!([{"set_slot": {"add_contact_handle": "@bar"}}])
    );
    assert_eq!(
        turn["bot"],
        json!([
            "Okay, I have updated your add_contact_handle to @bar.",
            "What's the name of the user you want to add?"
        ])
    );
}

#[test]
fn e2e_button_answer_uses_payload() {
    let project = import_fixture("quickstart");
    let test = yaml(file(&project, "tests/happy_paths_user_removes_contact.yml"));
    let turn = &test["tests"][0]["turns"][2];
    assert_eq!(
        turn["commands"],
        json!([{"set_slot": {"remove_contact_confirmation": true}}])
    );
    assert_eq!(
        turn["actions"],
        json!({"remove_contact": {"result": "success"}})
    );
}

#[test]
fn e2e_values_given_ahead_are_inferred() {
    let project = import_fixture("money_transfer");
    let test = yaml(file(&project, "tests/complete_request.yml"));
    let turn = &test["tests"][0]["turns"][0];
    assert_eq!(
        turn["commands"],
        json!([{"start_flow": "transfer_money"}, {"set_slot": {"recipient": "James"}}, {"set_slot": {"amount": 400}}])
    );
    assert_eq!(
        turn["actions"],
        json!({"action_check_sufficient_funds": {"result": true}})
    );
    let notes = notes(
        &project,
        Fidelity::Approximate,
        "test `user corrects recipient",
    );
    assert!(notes[0].contains("inferred from the message"), "{notes:?}");
}

#[test]
fn e2e_mismatch_checks_flow_instead_of_messages() {
    let project = import_files(&[
        ("domain.yml", DOMAIN),
        (
            "data/flows.yml",
            "flows:\n  greet_user:\n    description: greets\n    steps:\n      - collect: name\n      - action: utter_hello\n",
        ),
        (
            "e2e_tests/greet.yml",
            "test_cases:\n  - test_case: unknown reply\n    steps:\n      - user: hi\n      - utter: utter_ask_name\n      - user: Sam\n      - slot_was_set:\n          - name: Sam\n      - utter: utter_something_else\n",
        ),
    ]);
    let test = yaml(file(&project, "tests/greet.yml"));
    let turn = &test["tests"][0]["turns"][1];
    assert!(turn.get("bot").is_none(), "{turn:#}");
    assert!(turn.get("expect").is_none(), "{turn:#}");
    let notes = notes(&project, Fidelity::Approximate, "test `unknown reply`");
    assert!(
        notes[0].contains("Rasa expected `utter_something_else`"),
        "{notes:?}"
    );
    assert_all_pass(&run_converted_tests(&project));
}

#[test]
fn story_with_checkpoint_is_listed_not_converted() {
    let project = import_fixture("classic");
    let notes = notes(
        &project,
        Fidelity::Unmapped,
        "story `guest asks for something else`",
    );
    assert_eq!(notes.len(), 1);
    assert!(notes[0].contains("`checkpoint`"), "{notes:?}");
    assert!(notes[0].contains("bot: `utter_hours`"), "{notes:?}");
}

#[test]
fn story_the_flows_cannot_reproduce_is_listed() {
    let project = import_fixture("classic");
    let notes = notes(
        &project,
        Fidelity::Unmapped,
        "story `guest chats about the weather`",
    );
    assert!(
        notes[0].contains("do not reproduce this story"),
        "{notes:?}"
    );
}

// --- Flows and steps ------------------------------------------------------

#[test]
fn nested_then_steps_are_flattened() {
    let flows = r#"
flows:
  check:
    description: checks membership
    steps:
      - collect: vip
        next:
          - if: slots.vip
            then:
              - collect: age
                next:
                  - if: slots.age < 18
                    then:
                      - action: utter_bye
                        next: END
                  - else: greet
          - else: END
      - id: greet
        action: utter_bye
"#;
    let project = import_files(&[("domain.yml", DOMAIN), ("data/flows.yml", flows)]);
    assert_eq!(errors(&project), Vec::<String>::new());
    let flow = flow(&project, "check");
    let ids: Vec<&str> = flow["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["step_1", "step_2", "step_3", "greet"]);
    assert_eq!(
        step(&flow, "step_1")["next"],
        json!([{"if": "slots.vip", "then": "step_2"}])
    );
    assert_eq!(step(&flow, "step_1")["else"], json!("END"));
    assert_eq!(
        step(&flow, "step_2")["next"],
        json!([{"if": "slots.age < 18", "then": "step_3"}])
    );
    assert_eq!(step(&flow, "step_2")["else"], json!("greet"));
    assert_eq!(step(&flow, "step_3")["next"], json!("END"));
    assert!(step(&flow, "greet").get("next").is_none());
}

#[test]
fn fall_through_after_nested_steps_is_explicit() {
    let flows = r#"
flows:
  check:
    description: checks membership
    steps:
      - collect: vip
        next:
          - if: slots.vip
            then:
              - action: utter_hello
          - else: done
      - id: done
        action: utter_bye
      - noop: true
        next: END
"#;
    let domain = DOMAIN.replace("Hello {name}!", "Hello member!");
    let project = import_files(&[("domain.yml", domain.as_str()), ("data/flows.yml", flows)]);
    assert_eq!(errors(&project), Vec::<String>::new());
    let flow = flow(&project, "check");
    // The last step of a nested list ends the flow; it does not fall
    // through to the step that follows it in the flattened list.
    assert_eq!(step(&flow, "step_2")["next"], json!("END"));
    assert_eq!(step(&flow, "step_1")["else"], json!("done"));
    let route = step(&flow, "step_4");
    assert_eq!(
        route.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["id"]
    );
}

#[test]
fn set_slots_call_and_link_are_converted() {
    let flows = r#"
flows:
  main:
    description: main
    steps:
      - set_slots:
          - vip: true
          - colour: red
      - call: helper
      - link: other
  helper:
    description: helper
    if: False
    steps:
      - action: utter_bye
  other:
    description: other
    steps:
      - link: pattern_human_handoff
"#;
    let project = import_files(&[("domain.yml", DOMAIN), ("data/flows.yml", flows)]);
    assert_eq!(errors(&project), Vec::<String>::new());
    let main = flow(&project, "main");
    assert_eq!(
        step(&main, "step_1")["set_slots"],
        json!({"vip": true, "colour": "red"})
    );
    assert_eq!(step(&main, "step_2")["call"], json!("helper"));
    assert_eq!(step(&main, "step_3")["link"], json!("other"));
    assert!(flow(&project, "helper").get("nlu_trigger").is_none());
    assert_eq!(
        main["nlu_trigger"],
        json!({"intents": [{"intent": "main"}]})
    );
    assert_eq!(
        step(&flow(&project, "other"), "step_1")["handoff"],
        json!(true)
    );
}

#[test]
fn guard_and_trigger_are_converted() {
    let flows = r#"
flows:
  members:
    name: members only
    description: for members
    if: vip and not age < 18
    nlu_trigger:
      - intent:
          name: members_area
          confidence_threshold: 0.8
      - intent: lounge
    persisted_slots: [vip]
    steps:
      - action: utter_bye
"#;
    let project = import_files(&[("domain.yml", DOMAIN), ("data/flows.yml", flows)]);
    let flow = flow(&project, "members");
    assert_eq!(flow["guard"], json!("slots.vip && !(slots.age < 18)"));
    assert_eq!(
        flow["nlu_trigger"],
        json!({"intents": [{"intent": "members_area"}, {"intent": "lounge"}]})
    );
    assert_eq!(flow["persisted_slots"], json!(["vip"]));
    assert_eq!(flow["name"], json!("members only"));
    let trigger = notes(
        &project,
        Fidelity::Approximate,
        "flow `members` nlu_trigger",
    );
    assert!(trigger[0].contains("confidence thresholds"), "{trigger:?}");
}

#[test]
fn condition_translation_table() {
    let cases = [
        ("slots.vip", "slots.vip"),
        ("vip", "slots.vip"),
        ("not vip", "!slots.vip"),
        ("slots.vip is not true", "slots.vip != true"),
        ("slots.vip is True", "slots.vip == true"),
        ("slots.colour = \"red\"", "slots.colour == 'red'"),
        (
            "slots.colour == 'red' or slots.colour != 'green'",
            "slots.colour == 'red' || slots.colour != 'green'",
        ),
        (
            "slots.age > 18 and slots.age < 65",
            "slots.age > 18 && slots.age < 65",
        ),
        (
            "slots.age >= 18 AND (vip OR slots.age <= 2)",
            "slots.age >= 18 && (slots.vip || slots.age <= 2)",
        ),
        ("slots.name is null", "slots.name == null"),
        ("slots.name is not None", "slots.name != null"),
        ("not slots.colour == 'red'", "!(slots.colour == 'red')"),
    ];
    for (rasa, tern) in cases {
        let flows = format!(
            "flows:\n  guarded:\n    description: d\n    if: {}\n    steps:\n      - action: utter_bye\n",
            json!(rasa)
        );
        let project = import_files(&[("domain.yml", DOMAIN), ("data/flows.yml", &flows)]);
        assert_eq!(
            flow(&project, "guarded")["guard"],
            json!(tern),
            "translating `{rasa}`"
        );
        assert_eq!(
            errors(&project),
            Vec::<String>::new(),
            "translating `{rasa}`"
        );
    }
}

#[test]
fn untranslatable_branch_condition_is_false_and_reported() {
    let flows = r#"
flows:
  check:
    description: d
    steps:
      - collect: name
        next:
          - if: context.is_reset_only
            then: END
          - else: bye
      - id: bye
        action: utter_bye
"#;
    let project = import_files(&[("domain.yml", DOMAIN), ("data/flows.yml", flows)]);
    assert_eq!(
        step(&flow(&project, "check"), "step_1")["next"],
        json!([{"if": "false", "then": "END"}])
    );
    let unmapped = notes(&project, Fidelity::Unmapped, "condition");
    assert!(unmapped[0].contains("`context` namespace"), "{unmapped:?}");
    assert!(
        project
            .report
            .to_do
            .iter()
            .any(|t| t.contains("Rewrite the condition"))
    );
}

#[test]
fn unknown_step_kind_is_reported_not_fatal() {
    let flows = r#"
flows:
  chat:
    description: d
    steps:
      - generation_prompt: "say something nice"
      - action: utter_bye
"#;
    let project = import_files(&[("domain.yml", DOMAIN), ("data/flows.yml", flows)]);
    assert_eq!(errors(&project), Vec::<String>::new());
    let flow = flow(&project, "chat");
    assert_eq!(step(&flow, "step_1").as_object().unwrap().len(), 1);
    let unmapped = notes(&project, Fidelity::Unmapped, "unknown step kind");
    assert!(unmapped[0].contains("`generation_prompt`"), "{unmapped:?}");
}

#[test]
fn missing_response_gets_placeholder_and_to_do() {
    let flows = "flows:\n  chat:\n    description: d\n    steps:\n      - action: utter_missing\n";
    let project = import_files(&[("domain.yml", DOMAIN), ("data/flows.yml", flows)]);
    assert_eq!(errors(&project), Vec::<String>::new());
    let response = step(&flow(&project, "chat"), "step_1")["response"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(response.contains("utter_missing"), "{response}");
    assert!(
        project
            .report
            .to_do
            .iter()
            .any(|t| t.contains("utter_missing")),
        "{:?}",
        project.report.to_do
    );
}

#[test]
fn collect_without_question_uses_description() {
    let flows = "flows:\n  ask:\n    description: d\n    steps:\n      - collect: city\n        description: the city to travel to\n";
    let project = import_files(&[("domain.yml", DOMAIN), ("data/flows.yml", flows)]);
    let step = step(&flow(&project, "ask"), "step_1").clone();
    assert_eq!(step["description"], json!("the city to travel to"));
    let approximate = notes(&project, Fidelity::Approximate, "collect `city`");
    assert!(
        approximate[0].contains("not defined in the domain"),
        "{approximate:?}"
    );
    assert!(
        approximate[0].contains("description is used as the question"),
        "{approximate:?}"
    );
}

#[test]
fn collect_options_from_collect_fields() {
    let flows = r#"
flows:
  ask:
    description: d
    steps:
      - collect: age
        reset_after_flow_ends: false
        ask_before_filling: true
        rejections:
          - if: slots.age < 18
            utter: utter_bye
          - if: slots.age > 120
            utter: utter_bye
      - collect: colour
"#;
    let project = import_files(&[("domain.yml", DOMAIN), ("data/flows.yml", flows)]);
    assert_eq!(errors(&project), Vec::<String>::new());
    let flow = flow(&project, "ask");
    let age = step(&flow, "step_1");
    assert_eq!(age["collect_type"], json!("number"));
    assert_eq!(age["ask_before_filling"], json!(true));
    assert_eq!(
        age["validation"],
        json!({"min": 18, "max": 120, "message": "Bye. How old are you?"})
    );
    assert_eq!(flow["persisted_slots"], json!(["age"]));
    let colour = step(&flow, "step_2");
    assert_eq!(colour["collect_type"], json!("choice"));
    assert_eq!(colour["options"], json!(["red", "green"]));
}

#[test]
fn unmappable_rejection_is_reported() {
    let flows = "flows:\n  ask:\n    description: d\n    steps:\n      - collect: name\n        rejections:\n          - if: slots.name matches '^x'\n            utter: utter_bye\n";
    let project = import_files(&[("domain.yml", DOMAIN), ("data/flows.yml", flows)]);
    assert!(
        step(&flow(&project, "ask"), "step_1")
            .get("validation")
            .is_none()
    );
    let unmapped = notes(&project, Fidelity::Unmapped, "rejections");
    assert!(
        unmapped[0].contains("`pattern` says what to accept"),
        "{unmapped:?}"
    );
}

// --- Slots and responses --------------------------------------------------

#[test]
fn slot_types_map_to_collect_types() {
    let domain = r#"
slots:
  a: {type: text}
  b: {type: float}
  c: {type: bool}
  d: {type: categorical, values: [x, y, __other__]}
  e: {type: list}
  f: {type: any}
"#;
    let steps: String = ["a", "b", "c", "d", "e", "f"]
        .iter()
        .map(|s| format!("      - collect: {s}\n        description: q\n"))
        .collect();
    let flows = format!("flows:\n  all:\n    description: d\n    steps:\n{steps}");
    let project = import_files(&[("domain.yml", domain), ("data/flows.yml", &flows)]);
    assert_eq!(errors(&project), Vec::<String>::new());
    let flow = flow(&project, "all");
    let types: Vec<Value> = flow["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["collect_type"].clone())
        .collect();
    assert_eq!(
        types,
        [
            json!(null),
            json!("number"),
            json!("boolean"),
            json!("choice"),
            json!(null),
            json!(null)
        ]
    );
    assert_eq!(step(&flow, "step_4")["options"], json!(["x", "y"]));
    for slot in ["slot `d`", "slot `e`", "slot `f`"] {
        assert_eq!(
            notes(&project, Fidelity::Approximate, slot).len(),
            1,
            "{slot}"
        );
    }
    assert_eq!(notes(&project, Fidelity::Mapped, "slot `b`").len(), 1);
}

#[test]
fn responses_keep_first_variation_buttons_and_slots() {
    let domain = r#"
slots:
  amount: {type: float}
responses:
  utter_ask_amount:
    - text: "How much?"
      buttons:
        - title: "Ten"
          payload: "10"
        - title: "All"
          payload: "/SetSlots(amount=100)"
  utter_done:
    - text: "Sent ${amount}USD."
    - text: "Done."
    - condition:
        - type: slot
          name: amount
          value: 0
      text: "Nothing sent."
"#;
    let flows = "flows:\n  pay:\n    description: d\n    steps:\n      - collect: amount\n      - action: utter_done\n";
    let project = import_files(&[("domain.yml", domain), ("data/flows.yml", flows)]);
    assert_eq!(errors(&project), Vec::<String>::new());
    let flow = flow(&project, "pay");
    assert_eq!(
        step(&flow, "step_1")["buttons"],
        json!([{"title": "Ten", "payload": "10"}, "All"])
    );
    assert_eq!(
        step(&flow, "step_2")["response"],
        json!("Sent $slots.amount USD.")
    );
    let approximate = notes(&project, Fidelity::Approximate, "response `utter_done`");
    assert!(
        approximate[0].contains("one of 3 variations"),
        "{approximate:?}"
    );
    assert!(
        approximate[0].contains("conditional variation"),
        "{approximate:?}"
    );
    assert!(
        approximate[0].contains("space was added"),
        "{approximate:?}"
    );
}

#[test]
fn custom_actions_become_placeholder_webhooks() {
    let project = import_fixture("quickstart");
    let actions = yaml(file(&project, "actions.yml"));
    let names: Vec<&str> = actions["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["add_contact", "list_contacts", "remove_contact"]);
    assert_eq!(
        actions["actions"][0]["webhook_url"],
        json!("http://127.0.0.1:5055/webhook/add_contact")
    );
    let unmapped = notes(&project, Fidelity::Unmapped, "custom action `add_contact`");
    assert!(
        unmapped[0].contains("custom action code must be rehosted as a webhook"),
        "{unmapped:?}"
    );
    assert_eq!(
        project
            .report
            .to_do
            .iter()
            .filter(|t| t.contains("Rehost the Rasa custom action"))
            .count(),
        3
    );
    let add_contact = flow(&project, "add_contact");
    assert_eq!(
        step(&add_contact, "add_contact")["result_slot"],
        json!("return_value")
    );
}

#[test]
fn custom_code_slot_removed_from_text() {
    let project = import_fixture("quickstart");
    let flow = flow(&project, "remove_contact");
    assert_eq!(
        step(&flow, "step_5")["response"],
        json!("Removed slots.remove_contact_handle from your contacts.")
    );
    assert!(
        project
            .report
            .to_do
            .iter()
            .any(|t| t.contains("step `step_5` in flows/remove_contact.yml"))
    );
}

// --- Patterns -------------------------------------------------------------

#[test]
fn patterns_become_engine_messages() {
    let domain = r#"
responses:
  utter_stopped:
    - text: "Fine, I stopped {{ context.canceled_name }}."
  utter_corrected_previous_input:
    - text: "Got it, updated."
  utter_what_else:
    - text: "What else can I do?"
  utter_clarification_options_rasa:
    - text: "Did you mean {{context.names}}?"
  utter_ask_continue:
    - text: "Shall we go back to {{ context.previous_flow_name }}?"
  utter_no_human:
    - text: "Nobody is available right now."
"#;
    let patterns = r#"
flows:
  pattern_cancel_flow:
    description: cancel
    steps:
      - action: action_cancel_flow
      - action: utter_stopped
  pattern_correction:
    description: correction
    steps:
      - action: action_correct_flow_slot
      - action: utter_corrected_previous_input
  pattern_completed:
    description: completed
    steps:
      - action: utter_what_else
  pattern_clarification:
    description: clarification
    steps:
      - action: action_clarify_flows
      - action: utter_clarification_options_rasa
  pattern_continue_interrupted:
    description: continue
    steps:
      - collect: continue
        utter: utter_ask_continue
  pattern_search:
    description: search
    steps:
      - action: action_trigger_search
  pattern_human_handoff:
    description: the user wants a person
    steps:
      - action: utter_no_human
"#;
    let project = import_files(&[("domain.yml", domain), ("data/patterns.yml", patterns)]);
    assert_eq!(errors(&project), Vec::<String>::new());
    let responses = yaml(file(&project, "responses.yml"));
    assert_eq!(
        responses,
        json!({
            "flow_cancelled": "Fine, I stopped {flow}.",
            "slot_corrected": "Got it, updated.",
            "anything_else": "What else can I do?",
            "clarify": "Did you mean {flows}?",
            "resume_offer": "Shall we go back to {flow}?",
        })
    );
    assert!(
        notes(&project, Fidelity::Unmapped, "pattern `pattern_search`")[0]
            .contains("knowledge-base search")
    );
    let handoff = flow(&project, "human_handoff");
    assert_eq!(
        step(&handoff, "step_1")["response"],
        json!("Nobody is available right now.")
    );
    assert_eq!(step(&handoff, "hand_over")["handoff"], json!(true));
    assert_eq!(
        notes(
            &project,
            Fidelity::Approximate,
            "pattern `pattern_human_handoff`"
        )
        .len(),
        1
    );
}

#[test]
fn default_responses_become_engine_messages() {
    let domain = "responses:\n  utter_can_do_something_else:\n    - text: \"Anything more?\"\n";
    let flows = "flows:\n  chat:\n    description: d\n    steps:\n      - action: utter_can_do_something_else\n";
    let project = import_files(&[("domain.yml", domain), ("data/flows.yml", flows)]);
    assert_eq!(
        yaml(file(&project, "responses.yml")),
        json!({"anything_else": "Anything more?"})
    );
}

#[test]
fn cancel_pattern_response_in_e2e_test_becomes_cancel() {
    let domain = format!(
        "{DOMAIN}\n  utter_stopped:\n    - text: \"Stopped {{{{ context.canceled_name }}}}.\"\n"
    );
    let patterns = "flows:\n  pattern_cancel_flow:\n    description: cancel\n    steps:\n      - action: utter_stopped\n";
    let flows = "flows:\n  ask:\n    description: asks a name\n    steps:\n      - collect: name\n      - action: utter_hello\n";
    let test = "test_cases:\n  - test_case: stops\n    steps:\n      - user: hi\n      - utter: utter_ask_name\n      - user: forget it\n      - utter: utter_stopped\n";
    let project = import_files(&[
        ("domain.yml", domain.as_str()),
        ("data/patterns.yml", patterns),
        ("data/flows.yml", flows),
        ("e2e_tests/stop.yml", test),
    ]);
    let converted = yaml(file(&project, "tests/stop.yml"));
    assert_eq!(
        converted["tests"][0]["turns"][1]["commands"],
        json!(["cancel"])
    );
    assert_eq!(
        converted["tests"][0]["turns"][1]["bot"],
        json!(["Stopped ask."])
    );
    assert_all_pass(&run_converted_tests(&project));
}

// --- Classic projects -----------------------------------------------------

#[test]
fn form_becomes_flow_of_collect_steps() {
    let project = import_fixture("classic");
    let form = flow(&project, "booking_form");
    let slots: Vec<&str> = form["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["collect"].as_str())
        .collect();
    assert_eq!(slots, ["cuisine", "party_size", "outdoor"]);

    assert_eq!(
        step(&form, "ask_party_size")["collect_type"],
        json!("number")
    );
    assert_eq!(
        step(&form, "ask_outdoor")["buttons"],
        json!(["Terrace", "Inside"])
    );
    assert_eq!(
        form["nlu_trigger"],
        json!({"intents": [{"intent": "book_table"}]})
    );

    let description = form["description"].as_str().unwrap();
    assert!(
        description.contains("`party_size` is the `number` entity"),
        "{description}"
    );
    assert!(
        description.contains("`outdoor` is true when the user expresses `affirm`"),
        "{description}"
    );

    // The actions of the rule that submits the form follow the questions.
    assert_eq!(
        step(&form, "step_1")["action"],
        json!("action_reserve_table")
    );
    assert_eq!(
        step(&form, "step_2")["response"],
        json!(
            "Your slots.cuisine table for slots.party_size is reserved. Reference: slots.booking_reference."
        )
    );
}

#[test]
fn rules_become_triggered_flows_or_messages() {
    let project = import_fixture("classic");
    let hours = flow(&project, "opening_hours");
    assert_eq!(
        hours["nlu_trigger"],
        json!({"intents": [{"intent": "opening_hours"}]})
    );
    assert_eq!(
        step(&hours, "step_1")["response"],
        json!("We are open from noon to 11 pm, Tuesday to Sunday.")
    );
    let responses = yaml(file(&project, "responses.yml"));
    assert_eq!(
        responses["greeting"],
        json!("Welcome to Trattoria Nove. I can reserve a table or tell you our opening hours.")
    );
    assert_eq!(
        responses["out_of_scope"],
        json!("I can only help with reservations and opening hours.")
    );
    let submit = notes(
        &project,
        Fidelity::Approximate,
        "rule `submit the booking form`",
    );
    assert!(
        submit[0].contains("run at the end of flows/booking_form.yml"),
        "{submit:?}"
    );
}

#[test]
fn nlu_examples_become_flow_comments() {
    let project = import_fixture("classic");
    let text = file(&project, "flows/opening_hours.yml");
    assert!(
        text.contains("# Rasa training examples of `opening_hours`"),
        "{text}"
    );
    assert!(text.contains("# - when are you open"), "{text}");
    let unmapped = notes(&project, Fidelity::Unmapped, "intent `inform`");
    assert!(
        unmapped[0].contains("no converted flow starts from this intent"),
        "{unmapped:?}"
    );
}

#[test]
fn story_entities_fill_slots() {
    let project = import_fixture("classic");
    let test = yaml(file(&project, "tests/test_stories.yml"));
    let turns = &test["tests"][1]["turns"];
    assert_eq!(
        turns[0]["user"],
        json!("a table for 2 with italian food please")
    );
    assert_eq!(
        turns[0]["commands"],
        json!([{"start_flow": "booking_form"}, {"set_slot": {"party_size": "2"}}, {"set_slot": {"cuisine": "italian"}}])
    );
    assert_eq!(
        turns[1]["commands"],
        json!([{"set_slot": {"outdoor": false}}])
    );
    assert_eq!(
        turns[1]["actions"],
        json!({"action_reserve_table": {"result": "TN-7"}})
    );
}

#[test]
fn rule_slot_condition_becomes_guard() {
    let domain = "intents: [check]\nslots:\n  tier: {type: text}\nresponses:\n  utter_gold:\n    - text: \"Gold members get a free drink.\"\n";
    let rules = "rules:\n  - rule: gold perk\n    condition:\n      - slot_was_set:\n          - tier: gold\n    steps:\n      - intent: check\n      - action: utter_gold\n";
    let project = import_files(&[("domain.yml", domain), ("data/rules.yml", rules)]);
    let flow = flow(&project, "check");
    assert_eq!(flow["guard"], json!("slots.tier == 'gold'"));
    assert_eq!(
        flow["nlu_trigger"],
        json!({"intents": [{"intent": "check"}]})
    );
    let approximate = notes(&project, Fidelity::Approximate, "rule `gold perk`");
    assert!(
        approximate[0].contains("became the flow's guard"),
        "{approximate:?}"
    );
}

// --- Bad input ------------------------------------------------------------

#[test]
fn missing_folder_is_a_read_error() {
    let error = tern_import::rasa::import(Path::new("/nonexistent/rasa/project")).unwrap_err();
    assert!(matches!(error, ImportError::Read { .. }), "{error}");
}

#[test]
fn folder_without_rasa_files_is_not_a_project() {
    let dir = project_dir(&[("README.md", "# notes\n")]);
    let error = tern_import::rasa::import(dir.path()).unwrap_err();
    assert!(matches!(error, ImportError::NotAProject(..)), "{error}");
    assert!(error.to_string().contains("domain.yml"), "{error}");
}

#[test]
fn file_instead_of_folder_is_not_a_project() {
    let error = tern_import::rasa::import(&fixture("quickstart").join("config.yml")).unwrap_err();
    assert!(matches!(error, ImportError::NotAProject(..)), "{error}");
}

#[test]
fn broken_yaml_names_file_and_line() {
    let dir = project_dir(&[
        ("domain.yml", DOMAIN),
        (
            "data/flows.yml",
            "flows:\n  a:\n    steps: [\n      - collect: x\n",
        ),
    ]);
    let error = tern_import::rasa::import(dir.path()).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, ImportError::Invalid { .. }), "{message}");
    assert!(message.contains("data/flows.yml"), "{message}");
    assert!(message.contains("line "), "{message}");
}

#[test]
fn flow_without_steps_is_reported() {
    let flows = "flows:\n  empty:\n    description: d\n  full:\n    description: d\n    steps:\n      - action: utter_bye\n";
    let project = import_files(&[("domain.yml", DOMAIN), ("data/flows.yml", flows)]);
    assert!(!project.files.contains_key(Path::new("flows/empty.yml")));
    assert!(notes(&project, Fidelity::Unmapped, "flow `empty`")[0].contains("no steps"));
    assert_eq!(errors(&project), Vec::<String>::new());
}
