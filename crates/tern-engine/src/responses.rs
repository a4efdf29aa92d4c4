//! Messages the engine sends on its own (re-asks, confirmations, repair).
//! Every one can be replaced per assistant from a `responses.yml` file; an
//! empty text switches that message off.
//!
//! Placeholders in braces are filled in when the message is sent: `{slot}`,
//! `{value}`, `{flow}` (the flow's name), `{flows}` (a list of flow names),
//! `{question}` (the question being repeated) and `{reason}`.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Responses {
    /// Question for a collect step without a description.
    pub ask_slot: String,
    /// Re-ask after an invalid value; `{reason}` says what was wrong.
    pub invalid_value: String,
    /// Sent after `max_attempts` invalid values when the step has no
    /// `on_max_attempts`; the flow is then cancelled.
    pub too_many_attempts: String,
    /// `collect_confirmation: true`.
    pub confirm_value: String,
    /// `send_confirmation: true`.
    pub value_saved: String,
    pub slot_corrected: String,
    pub flow_cancelled: String,
    pub nothing_to_cancel: String,
    /// Sent when a flow ends and a paused one can be resumed.
    pub resume_offer: String,
    pub flow_resumed: String,
    pub clarify: String,
    pub greeting: String,
    pub out_of_scope: String,
    pub not_understood: String,
    /// Sent when the requested flow's guard does not hold.
    pub flow_unavailable: String,
    pub handoff: String,
    /// Sent after the last flow ends.
    pub anything_else: String,
    /// Sent when the user says yes to `anything_else` without a request.
    pub how_can_i_help: String,
    /// Sent when the user says no to `anything_else`.
    pub goodbye: String,
    /// Sent when the flows are broken at run time.
    pub internal_error: String,
    pub yes: String,
    pub no: String,
}

impl Default for Responses {
    fn default() -> Self {
        Self {
            ask_slot: "Please provide your {slot}.".into(),
            invalid_value: "Sorry, {reason}. {question}".into(),
            too_many_attempts: "Sorry, I still could not get a valid {slot}, so I have stopped \
                                {flow}. You can start again at any time."
                .into(),
            confirm_value: "Is this correct: {value}?".into(),
            value_saved: "Saved your {slot}: {value}.".into(),
            slot_corrected: "Okay, I have updated your {slot} to {value}.".into(),
            flow_cancelled: "Okay, I have stopped {flow}.".into(),
            nothing_to_cancel: "There is nothing in progress to cancel.".into(),
            resume_offer: "Would you like to continue with {flow}?".into(),
            flow_resumed: "Let's continue with {flow}.".into(),
            clarify: "Which of these do you mean: {flows}?".into(),
            greeting: "Hello! How can I help you today?".into(),
            out_of_scope: "Sorry, I can't help with that.".into(),
            not_understood: "Sorry, I didn't understand that.".into(),
            flow_unavailable: "Sorry, {flow} is not available right now.".into(),
            handoff: "I'm connecting you with a member of our team. Please wait.".into(),
            anything_else: "Is there anything else I can help you with?".into(),
            how_can_i_help: "What can I help you with?".into(),
            goodbye: "Thank you, goodbye!".into(),
            internal_error: "Sorry, something went wrong on our side. Please try again later."
                .into(),
            yes: "Yes".into(),
            no: "No".into(),
        }
    }
}

impl Responses {
    /// Parses a responses file (YAML). `name` is the file's name for the
    /// error message; unknown keys are errors, so a typo is not ignored.
    pub fn from_yaml(name: &str, text: &str) -> Result<Responses, String> {
        tern_flow::yaml::from_str(text).map_err(|error| {
            let summary = tern_flow::yaml::SyntaxError::from_error(&error);
            format!(
                "invalid responses file `{name}` at line {}: {}",
                summary.line, summary.message
            )
        })
    }
}

/// Fills `{name}` placeholders. Unknown placeholders stay as written, so a
/// typo in an override is visible rather than silently dropped.
pub fn fill(text: &str, values: &[(&str, &str)]) -> String {
    let mut out = text.to_string();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_replaces_known_placeholders() {
        let text = fill("Is this correct: {value}?", &[("value", "42")]);
        assert_eq!(text, "Is this correct: 42?");
    }

    #[test]
    fn fill_keeps_unknown_placeholders() {
        let text = fill("Hi {nme}", &[("name", "Sara")]);
        assert_eq!(text, "Hi {nme}");
    }

    #[test]
    fn overrides_parse_partially() {
        let parsed: Responses = serde_json::from_str(r#"{"greeting": "مرحبا"}"#).unwrap();
        assert_eq!(parsed.greeting, "مرحبا");
        assert_eq!(parsed.yes, "Yes");
    }

    #[test]
    fn from_yaml_names_file_and_key() {
        let error = Responses::from_yaml("responses.yml", "greting: hi\n").unwrap_err();
        assert!(error.contains("responses.yml"), "{error}");
        assert!(error.contains("greting"), "{error}");
        let parsed = Responses::from_yaml("responses.yml", "greeting: hi\n").unwrap();
        assert_eq!(parsed.greeting, "hi");
    }

    #[test]
    fn unknown_override_key_rejected() {
        let parsed = serde_json::from_str::<Responses>(r#"{"greting": "hi"}"#);
        assert!(parsed.is_err());
    }
}
