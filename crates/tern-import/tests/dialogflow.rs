#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.
//! Dialogflow importers against real exports (the corpus copies under
//! `tests/fixtures/dialogflow/`) and small hand-made agents.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use tern_import::dialogflow::{import_cx, import_es, translate_cx_condition};
use tern_import::{Fidelity, ImportError, Project, validate_project, write_project};

fn fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/dialogflow")
        .join(relative)
}

fn errors(project: &Project) -> Vec<String> {
    validate_project(project)
        .into_iter()
        .filter(|d| d.is_error())
        .map(|d| d.to_string())
        .collect()
}

fn file<'a>(project: &'a Project, name: &str) -> &'a str {
    project
        .files
        .get(Path::new(name))
        .map(String::as_str)
        .unwrap_or_else(|| panic!("no file {name}"))
}

fn has_item(project: &Project, fidelity: Fidelity, what: &str) -> bool {
    project
        .report
        .items
        .iter()
        .any(|i| i.fidelity == fidelity && i.what.contains(what))
}

/// Writes a folder of JSON files into a zip, with the given entry prefix.
fn zip_folder(folder: &Path, prefix: &str, extra: &[(&str, &str)]) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    let mut writer = zip::ZipWriter::new(file.reopen().unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut pending = vec![folder.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let relative = path
                .strip_prefix(folder)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            writer
                .start_file(format!("{prefix}{relative}"), options)
                .unwrap();
            writer.write_all(&std::fs::read(&path).unwrap()).unwrap();
        }
    }
    for (name, text) in extra {
        writer.start_file(*name, options).unwrap();
        writer.write_all(text.as_bytes()).unwrap();
    }
    writer.finish().unwrap();
    file
}

/// Copies a fixture folder so a test can change it.
fn copy_fixture(relative: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let source = fixture(relative);
    let mut pending = vec![source.clone()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            let target = dir.path().join(path.strip_prefix(&source).unwrap());
            if path.is_dir() {
                std::fs::create_dir_all(&target).unwrap();
                pending.push(path);
            } else {
                std::fs::copy(&path, &target).unwrap();
            }
        }
    }
    dir
}

// Corpus exports ----------------------------------------------------------

#[test]
fn cx_goodbye_graffiti_imports_without_errors() {
    let project = import_cx(&fixture("cx/goodbye-graffiti/agent.zip")).unwrap();
    assert_eq!(errors(&project), Vec::<String>::new());
    assert!(
        project
            .files
            .contains_key(Path::new("flows/default_start_flow.yml"))
    );
    assert!(
        project
            .files
            .contains_key(Path::new("flows/address_collection.yml"))
    );
    assert!(
        project
            .files
            .contains_key(Path::new("flows/waiting_room.yml"))
    );
    insta::assert_snapshot!("cx_goodbye_graffiti_report", project.report.to_markdown());
}

#[test]
fn cx_caller_data_collection_imports_without_errors() {
    let project = import_cx(&fixture("cx/caller-data-collection/agent.zip")).unwrap();
    assert_eq!(errors(&project), Vec::<String>::new());
    let start = file(&project, "flows/default_start_flow.yml");
    assert!(start.contains("call: caller_flow"), "{start}");
    insta::assert_snapshot!(
        "cx_caller_data_collection_report",
        project.report.to_markdown()
    );
}

#[test]
fn es_bike_shop_imports_without_errors() {
    let project = import_es(&fixture("es/bike-shop")).unwrap();
    assert_eq!(errors(&project), Vec::<String>::new());
    insta::assert_snapshot!("es_bike_shop_report", project.report.to_markdown());
}

#[test]
fn cx_fixture_imports_without_errors() {
    let project = import_cx(&fixture("cx/city-clinic")).unwrap();
    assert_eq!(errors(&project), Vec::<String>::new());
    insta::assert_snapshot!("cx_city_clinic_report", project.report.to_markdown());
}

// Converted test cases ------------------------------------------------------

#[test]
fn cx_test_cases_pass_as_conversation_tests() {
    let project = import_cx(&fixture("cx/city-clinic")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("assistant");
    write_project(&project, &out, false).unwrap();
    let report = tern_convtest::run_file(
        &out.join("tests/dialogflow_test_cases.yml"),
        tern_convtest::Mode::Direct,
    );
    assert_eq!(
        report.error,
        None,
        "{}",
        file(&project, "tests/dialogflow_test_cases.yml")
    );
    assert_eq!(report.tests.len(), 2);
    for test in &report.tests {
        assert!(
            test.passed(),
            "{}: {:#?}\n{}",
            test.name,
            test.failures,
            file(&project, "tests/dialogflow_test_cases.yml")
        );
    }
}

// Zip handling and names ---------------------------------------------------

#[test]
fn cx_zip_with_top_folder_and_macos_junk() {
    let junk = [
        ("__MACOSX/clinic/._agent.json", "\u{0}\u{5}junk"),
        ("clinic/.DS_Store", "junk"),
        ("clinic/flows/._Booking", "junk"),
    ];
    let zip = zip_folder(&fixture("cx/city-clinic"), "clinic/", &junk);
    let from_zip = import_cx(zip.path()).unwrap();
    let from_folder = import_cx(&fixture("cx/city-clinic")).unwrap();
    assert_eq!(errors(&from_zip), Vec::<String>::new());
    assert_eq!(from_zip.files, from_folder.files);
}

#[test]
fn cx_percent_encoded_page_files_are_read() {
    let project = import_cx(&fixture("cx/goodbye-graffiti/agent.zip")).unwrap();
    let flow = file(&project, "flows/address_collection.yml");
    assert!(
        flow.contains("- id: collect_address"),
        "page `> collect address` is stored as `%3e collect address.json`"
    );
    assert!(flow.contains("- id: address_validation_api"));
    let actions = file(&project, "actions.yml");
    assert!(
        actions.contains("prebuilt_components_address_collection_address_validation_validation")
    );
}

#[test]
fn cx_trailing_space_names_still_link() {
    let project = import_cx(&fixture("cx/city-clinic")).unwrap();
    let flow = file(&project, "flows/booking.yml");
    assert!(
        flow.contains("- id: book\n"),
        "page `Book ` keeps its steps: {flow}"
    );
    assert!(has_item(&project, Fidelity::Mapped, "page `Book`"));
}

// Mapping rules -------------------------------------------------------------

#[test]
fn cx_form_parameters_become_typed_collects() {
    let project = import_cx(&fixture("cx/city-clinic")).unwrap();
    let flow = file(&project, "flows/booking.yml");
    assert!(
        flow.contains("collect: department\n        collect_type: choice"),
        "{flow}"
    );
    assert!(flow.contains("synonyms: [heart, cardio]"), "{flow}");
    assert!(
        flow.contains("collect: visit_date\n        collect_type: date"),
        "{flow}"
    );
    assert!(
        flow.contains("collect: phone\n        collect_type: phone"),
        "{flow}"
    );
    assert!(
        flow.contains("message: \"Please choose cardiology or dermatology.\""),
        "{flow}"
    );
    assert!(flow.contains("max_attempts: 3"), "{flow}");
    assert!(has_item(
        &project,
        Fidelity::Unmapped,
        "`sys.no-input-1` re-prompt"
    ));
    assert!(has_item(
        &project,
        Fidelity::Approximate,
        "optional form parameter `notes`"
    ));
}

#[test]
fn cx_intent_page_waits_and_judges_intents() {
    let project = import_cx(&fixture("cx/city-clinic")).unwrap();
    let flow = file(&project, "flows/booking.yml");
    assert!(flow.contains("collect: confirm_reply"), "{flow}");
    assert!(
        flow.contains(
            "description: \"You want slots.department on slots.visit_date. Shall I book it?\""
        ),
        "{flow}"
    );
    assert!(
        flow.contains("semantic_if: \"the user's reply matches the intent \\\"confirm.yes\\\""),
        "{flow}"
    );
    assert!(
        flow.contains("description: \"Please answer yes or no.\""),
        "the no-match re-prompt: {flow}"
    );
}

#[test]
fn cx_start_flow_triggers_and_greeting() {
    let project = import_cx(&fixture("cx/city-clinic")).unwrap();
    let start = file(&project, "flows/default_start_flow.yml");
    assert!(start.contains("- intent: \"book.appointment\""), "{start}");
    assert!(
        !start.contains("Default Welcome Intent\n"),
        "the greeting route is not a trigger: {start}"
    );
    assert!(start.contains("call: booking"), "{start}");
    let responses = file(&project, "responses.yml");
    assert!(
        responses.contains("greeting: \"Welcome to the City Clinic. How can I help?\""),
        "{responses}"
    );
    assert!(
        responses.contains("not_understood: \"Sorry, I did not catch that.\""),
        "{responses}"
    );
    assert!(responses.contains("anything_else: \"\""), "{responses}");
}

#[test]
fn cx_other_languages_are_comments_and_reported() {
    let project = import_cx(&fixture("cx/city-clinic")).unwrap();
    let start = file(&project, "flows/default_start_flow.yml");
    assert!(
        start.contains("# book.appointment (ar): أريد حجز موعد | احجز لي زيارة"),
        "{start}"
    );
    let booking = file(&project, "flows/booking.yml");
    assert!(booking.contains("# ar: لنحجز موعدك."), "{booking}");
    assert!(has_item(
        &project,
        Fidelity::Approximate,
        "`ar` training phrases of `book.appointment`"
    ));
    assert!(has_item(
        &project,
        Fidelity::Unmapped,
        "`ar` entries of `department`"
    ));
    assert!(has_item(&project, Fidelity::Unmapped, "`ar` message"));
}

#[test]
fn cx_webhook_becomes_action_with_error_path() {
    let project = import_cx(&fixture("cx/city-clinic")).unwrap();
    let actions = file(&project, "actions.yml");
    assert!(actions.contains("- name: booking_create"), "{actions}");
    assert!(
        actions.contains("webhook_url: \"https://hooks.example.com/clinic/book\""),
        "{actions}"
    );
    assert!(
        !actions.contains("not-copied"),
        "headers are never copied: {actions}"
    );
    let flow = file(&project, "flows/booking.yml");
    assert!(flow.contains("action: booking_create"), "{flow}");
    assert!(
        flow.contains("response: \"Sorry, the booking system is not answering.\""),
        "{flow}"
    );
    assert!(
        project
            .report
            .to_do
            .iter()
            .any(|t| t.contains("booking_create") && t.contains("credentials"))
    );
}

#[test]
fn cx_secret_bearing_webhook_url_is_not_copied() {
    let project = import_cx(&fixture("cx/goodbye-graffiti/agent.zip")).unwrap();
    let actions = file(&project, "actions.yml");
    assert!(!actions.contains("googleapis.com"), "{actions}");
    assert!(!actions.contains("key="), "{actions}");
    assert!(actions.contains("https://webhook.invalid/"), "{actions}");
}

#[test]
fn cx_special_targets() {
    let project = import_cx(&fixture("cx/city-clinic")).unwrap();
    let flow = file(&project, "flows/booking.yml");
    assert!(
        flow.contains("handoff:"),
        "END_FLOW_WITH_HUMAN_ESCALATION: {flow}"
    );
    assert!(has_item(
        &project,
        Fidelity::Approximate,
        "target `End Session`"
    ));

    let caller = import_cx(&fixture("cx/caller-data-collection/agent.zip")).unwrap();
    assert!(has_item(&caller, Fidelity::Mapped, "target `Start Page`"));
    assert!(has_item(
        &caller,
        Fidelity::Approximate,
        "target `Current Page`"
    ));
    assert!(has_item(&caller, Fidelity::Mapped, "target `End Flow`"));
    let graffiti = import_cx(&fixture("cx/goodbye-graffiti/agent.zip")).unwrap();
    assert!(has_item(
        &graffiti,
        Fidelity::Approximate,
        "target `Previous Page`"
    ));
    assert!(has_item(
        &graffiti,
        Fidelity::Approximate,
        "target `END_FLOW_WITH_FAILURE`"
    ));
}

#[test]
fn cx_flow_transitions_avoid_recursive_calls() {
    let project = import_cx(&fixture("cx/caller-data-collection/agent.zip")).unwrap();
    let caller = file(&project, "flows/caller_flow.yml");
    assert!(caller.contains("call: flow_data_collection"), "{caller}");
    assert!(!caller.contains("call: default_start_flow"), "{caller}");
    assert!(has_item(
        &project,
        Fidelity::Approximate,
        "transition to flow `Default Start Flow`"
    ));
}

#[test]
fn cx_route_groups_are_expanded() {
    let project = import_cx(&fixture("cx/caller-data-collection/agent.zip")).unwrap();
    assert!(has_item(
        &project,
        Fidelity::Mapped,
        "route group `rg-behaviors`"
    ));
    let flow = file(&project, "flows/flow_data_collection.yml");
    assert!(
        flow.contains("slots.data_collection_type == \\\"phone-number\\\""),
        "{flow}"
    );
}

#[test]
fn cx_untranslatable_condition_is_disabled_and_kept() {
    let project = import_cx(&fixture("cx/goodbye-graffiti/agent.zip")).unwrap();
    let flow = file(&project, "flows/address_collection.yml");
    assert!(flow.contains("# NOT TRANSLATED"), "{flow}");
    assert!(flow.contains("$sys.func.COUNT($flow.unconfimed_elems) = 0"));
    assert!(has_item(
        &project,
        Fidelity::Unmapped,
        "condition `$sys.func.COUNT($flow.unconfimed_elems) = 0`"
    ));
    assert!(
        project
            .report
            .to_do
            .iter()
            .any(|t| t.contains("NOT TRANSLATED"))
    );
}

#[test]
fn cx_generators_are_unmapped() {
    let project = import_cx(&fixture("cx/goodbye-graffiti/agent.zip")).unwrap();
    assert!(has_item(
        &project,
        Fidelity::Unmapped,
        "generator `Report Summary`"
    ));
    assert!(has_item(
        &project,
        Fidelity::Unmapped,
        "generator `Welcome Generator`"
    ));
}

#[test]
fn condition_translation_table() {
    for (cx, tern) in [
        (
            "$session.params.a = \"x\" AND $flow.b != 2",
            "slots.a == \"x\" && slots.b != 2",
        ),
        (
            "$page.params.status = \"FINAL\" OR $session.params.c",
            "true",
        ),
        ("NOT $session.params.done = true", "!slots.done == true"),
        ("$session.params.count >= 3", "slots.count >= 3"),
        ("$session.params.x = null", "slots.x == null"),
    ] {
        assert_eq!(translate_cx_condition(cx).as_deref(), Ok(tern), "{cx}");
    }
    assert!(translate_cx_condition("$sys.func.LEN($flow.a) > 3").is_err());
}

#[test]
fn es_follow_up_continues_parent_flow() {
    let project = import_es(&fixture("es/bike-shop")).unwrap();
    let flow = file(&project, "flows/make_appointment.yml");
    assert!(
        flow.contains("collect: date\n        collect_type: date"),
        "{flow}"
    );
    assert!(flow.contains("collect: time\n"), "{flow}");
    assert!(flow.contains("collect: make_appointment_reply"), "{flow}");
    assert!(flow.contains("semantic_if: \"the user's reply matches the follow-up intent \\\"Make Appointment - custom\\\""), "{flow}");
    assert!(
        flow.contains("collect: appointment_type\n        collect_type: choice"),
        "{flow}"
    );
    assert!(
        flow.contains("slots.appointment_type for tomorrow, slots.date, at slots.time"),
        "{flow}"
    );
    assert!(
        !project
            .files
            .contains_key(Path::new("flows/make_appointment_custom.yml"))
    );
    assert!(has_item(
        &project,
        Fidelity::Approximate,
        "follow-up intent `Make Appointment - custom`"
    ));
}

#[test]
fn es_welcome_fallback_and_webhook() {
    let project = import_es(&fixture("es/bike-shop")).unwrap();
    let responses = file(&project, "responses.yml");
    assert!(
        responses
            .contains("greeting: \"Hi, welcome to Hogarth's bike shop.  How can I help you?\""),
        "{responses}"
    );
    assert!(responses.contains("not_understood:"), "{responses}");
    let hours = file(&project, "flows/hours.yml");
    assert!(hours.contains("action: fulfillment"), "{hours}");
    assert!(
        file(&project, "actions.yml")
            .contains("webhook_url: \"https://webhook.invalid/fulfillment\"")
    );
    assert!(
        project
            .report
            .to_do
            .iter()
            .any(|t| t.contains("fulfillment"))
    );
}

#[test]
fn es_input_context_becomes_guard() {
    let dir = copy_fixture("es/bike-shop");
    let hours = dir.path().join("intents/Hours.json");
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&hours).unwrap()).unwrap();
    value["contexts"] = serde_json::json!(["shop-open"]);
    std::fs::write(&hours, value.to_string()).unwrap();
    let welcome = dir.path().join("intents/Make Appointment.json");
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&welcome).unwrap()).unwrap();
    value["responses"][0]["affectedContexts"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "shop-open", "lifespan": 5}));
    std::fs::write(&welcome, value.to_string()).unwrap();
    let project = import_es(dir.path()).unwrap();
    assert_eq!(errors(&project), Vec::<String>::new());
    assert!(
        file(&project, "flows/hours.yml").contains("guard: \"slots.context_shop_open == true\"")
    );
    let appointment = file(&project, "flows/make_appointment.yml");
    assert!(
        appointment.contains("context_shop_open: true"),
        "{appointment}"
    );
    assert!(
        appointment.contains("persisted_slots: [context_shop_open]"),
        "{appointment}"
    );
}

// Bad input ------------------------------------------------------------------

#[test]
fn missing_export_is_a_read_error() {
    let error = import_cx(Path::new("/nonexistent/agent.zip")).unwrap_err();
    assert!(matches!(error, ImportError::Read { .. }), "{error}");
}

#[test]
fn missing_agent_json_is_rejected() {
    let dir = copy_fixture("cx/city-clinic");
    std::fs::remove_file(dir.path().join("agent.json")).unwrap();
    let error = import_cx(dir.path()).unwrap_err();
    assert!(
        error.to_string().contains("no `agent.json` found"),
        "{error}"
    );
}

#[test]
fn broken_json_names_file_and_line() {
    let dir = copy_fixture("cx/city-clinic");
    std::fs::write(
        dir.path().join("flows/Booking/pages/Confirm.json"),
        "{\n  \"displayName\": \"Confirm\",\n  oops\n}",
    )
    .unwrap();
    let error = import_cx(dir.path()).unwrap_err().to_string();
    assert!(error.contains("Confirm.json"), "{error}");
    assert!(error.contains("line 3"), "{error}");
}

#[test]
fn not_a_zip_is_rejected() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(b"this is not a zip").unwrap();
    let error = import_cx(file.path()).unwrap_err().to_string();
    assert!(error.contains("not a readable zip file"), "{error}");
}

#[test]
fn route_without_intent_or_condition_is_rejected() {
    let dir = copy_fixture("cx/city-clinic");
    let path = dir.path().join("flows/Booking/pages/Booked.json");
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    value["transitionRoutes"][0]
        .as_object_mut()
        .unwrap()
        .remove("condition");
    std::fs::write(&path, value.to_string()).unwrap();
    let error = import_cx(dir.path()).unwrap_err().to_string();
    assert!(error.contains("Booked.json"), "{error}");
    assert!(error.contains("$.transitionRoutes[0]"), "{error}");
    assert!(error.contains("neither"), "{error}");
}

#[test]
fn route_with_unknown_target_page_is_rejected() {
    let dir = copy_fixture("cx/city-clinic");
    let path = dir.path().join("flows/Booking/pages/Booked.json");
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    value["transitionRoutes"][0]["targetPage"] = serde_json::json!("Nowhere");
    std::fs::write(&path, value.to_string()).unwrap();
    let error = import_cx(dir.path()).unwrap_err().to_string();
    assert!(
        error.contains("$.transitionRoutes[0].targetPage"),
        "{error}"
    );
    assert!(error.contains("`Nowhere`"), "{error}");
}

#[test]
fn wrongly_shaped_field_names_json_path() {
    let dir = copy_fixture("cx/city-clinic");
    let path = dir.path().join("flows/Booking/pages/Booked.json");
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    value["transitionRoutes"] = serde_json::json!({"condition": "true"});
    std::fs::write(&path, value.to_string()).unwrap();
    let error = import_cx(dir.path()).unwrap_err().to_string();
    assert!(error.contains("$.transitionRoutes"), "{error}");
    assert!(error.contains("expected a list"), "{error}");
}

#[test]
fn es_export_given_to_cx_importer_is_rejected() {
    let error = import_cx(&fixture("es/bike-shop")).unwrap_err().to_string();
    assert!(error.contains("ES importer"), "{error}");
    let error = import_es(&fixture("cx/city-clinic"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("CX importer"), "{error}");
}

#[test]
fn failed_import_writes_nothing() {
    let dir = copy_fixture("cx/city-clinic");
    std::fs::write(dir.path().join("agent.json"), "{").unwrap();
    assert!(import_cx(dir.path()).is_err());
    assert!(!dir.path().join("flows/default_start_flow.yml").exists());
}
