use serde_json::{Value, json};
use tern_flow::{ChoiceOption, SlotType};

use super::*;

fn ok(slot_type: SlotType, input: Value) -> Value {
    coerce(slot_type, &[], &input).unwrap_or_else(|e| panic!("{input} rejected: {e}"))
}

fn rejected(slot_type: SlotType, input: Value) -> String {
    coerce(slot_type, &[], &input).expect_err(&format!("{input} accepted"))
}

#[test]
fn string_trims_and_rejects_empty() {
    assert_eq!(ok(SlotType::String, json!("  Sara ")), json!("Sara"));
    assert_eq!(ok(SlotType::String, json!(42)), json!("42"));
    assert!(rejected(SlotType::String, json!("   ")).contains("empty"));
    assert!(rejected(SlotType::String, json!(null)).contains("no value"));
}

#[test]
fn number_accepts_arabic_indic_digits() {
    assert_eq!(ok(SlotType::Number, json!("٤٢")), json!(42));
    assert_eq!(ok(SlotType::Number, json!("۱۲٫۵")), json!(12.5));
    assert_eq!(ok(SlotType::Number, json!("1,500")), json!(1500));
    assert_eq!(ok(SlotType::Number, json!("12,345.5")), json!(12345.5));
    assert_eq!(ok(SlotType::Number, json!("1,5")), json!(1.5));
    assert_eq!(ok(SlotType::Number, json!(3.0)), json!(3));
    assert!(rejected(SlotType::Number, json!("twelve")).contains("not a number"));
    assert!(rejected(SlotType::Number, json!("NaN")).contains("not a number"));
}

#[test]
fn integer_rejects_fractions() {
    assert_eq!(ok(SlotType::Integer, json!("7")), json!(7));
    assert!(rejected(SlotType::Integer, json!(2.5)).contains("whole number"));
}

#[test]
fn boolean_reads_yes_and_no_in_several_languages() {
    for yes in ["yes", "Yes.", "نعم", "ok", "1", "١"] {
        assert_eq!(ok(SlotType::Boolean, json!(yes)), json!(true), "{yes}");
    }
    for no in ["no", "NO!", "لا", "0"] {
        assert_eq!(ok(SlotType::Boolean, json!(no)), json!(false), "{no}");
    }
    assert!(rejected(SlotType::Boolean, json!("maybe")).contains("yes or no"));
}

#[test]
fn date_normalizes_to_iso() {
    assert_eq!(ok(SlotType::Date, json!("2026-03-31")), json!("2026-03-31"));
    assert_eq!(ok(SlotType::Date, json!("31/03/2026")), json!("2026-03-31"));
    assert_eq!(ok(SlotType::Date, json!("٢٠٢٦-٠٣-٣١")), json!("2026-03-31"));
    assert!(rejected(SlotType::Date, json!("2026-02-30")).contains("valid date"));
    assert!(rejected(SlotType::Date, json!("tomorrow")).contains("valid date"));
}

#[test]
fn email_checks_shape_and_lowercases_domain() {
    assert_eq!(
        ok(SlotType::Email, json!("Sara@Example.COM")),
        json!("Sara@example.com")
    );
    for bad in [
        "sara",
        "sara@",
        "@example.com",
        "sara@example",
        "sa ra@example.com",
    ] {
        assert!(
            rejected(SlotType::Email, json!(bad)).contains("email"),
            "{bad}"
        );
    }
}

#[test]
fn phone_keeps_digits_and_plus() {
    assert_eq!(
        ok(SlotType::Phone, json!("+966 50 123 4567")),
        json!("+966501234567")
    );
    assert_eq!(
        ok(SlotType::Phone, json!("00966501234567")),
        json!("+966501234567")
    );
    assert_eq!(
        ok(SlotType::Phone, json!("٠٥٠١٢٣٤٥٦٧")),
        json!("0501234567")
    );
    assert!(rejected(SlotType::Phone, json!("12345")).contains("phone"));
    assert!(rejected(SlotType::Phone, json!("call me")).contains("phone"));
}

#[test]
fn file_needs_a_name() {
    let file = json!({"name": "contract.pdf", "size": 10});
    assert_eq!(ok(SlotType::File, file.clone()), file);
    assert!(rejected(SlotType::File, json!("contract.pdf")).contains("file"));
}

#[test]
fn choice_matches_value_title_synonym_and_number() {
    let options = vec![
        ChoiceOption {
            value: "pothole".into(),
            title: "Pothole".into(),
            synonyms: vec!["hole in the road".into()],
        },
        ChoiceOption {
            value: "streetlight".into(),
            title: "Broken streetlight".into(),
            synonyms: vec![],
        },
    ];
    let choose = |input: &str| coerce(SlotType::Choice, &options, &json!(input));
    assert_eq!(choose("POTHOLE"), Ok(json!("pothole")));
    assert_eq!(choose("broken streetlight"), Ok(json!("streetlight")));
    assert_eq!(choose("Hole in the road"), Ok(json!("pothole")));
    assert_eq!(choose("2"), Ok(json!("streetlight")));
    assert_eq!(choose("٢"), Ok(json!("streetlight")));
    let error = choose("graffiti").unwrap_err();
    assert!(error.contains("Pothole, Broken streetlight"), "{error}");
    assert!(choose("0").is_err());
    assert!(choose("3").is_err());
}

#[test]
fn yes_no_unknown_word_is_none() {
    assert_eq!(parse_yes_no("perhaps"), None);
}

#[test]
fn yes_no_allows_courtesy_words() {
    for yes in [
        "yes please",
        "Yeah, sure!",
        "ok thanks",
        "نعم من فضلك",
        "yes yes",
    ] {
        assert_eq!(parse_yes_no(yes), Some(true), "{yes}");
    }
    for no in ["no thanks", "No, thank you.", "nope thanks", "لا شكرا"] {
        assert_eq!(parse_yes_no(no), Some(false), "{no}");
    }
    for neither in ["yes no", "please", "no I want to pay", "thank you"] {
        assert_eq!(parse_yes_no(neither), None, "{neither}");
    }
}
