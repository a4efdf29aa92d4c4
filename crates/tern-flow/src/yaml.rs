//! YAML parsing settings shared by every file Tern reads.
//!
//! Booleans follow YAML 1.2: only `true` and `false` are booleans, so an
//! answer such as `n` or `no` in a flow or test file stays a string, as
//! it would be in a user's message.

use serde::de::DeserializeOwned;

pub fn options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    options
}

/// Parses YAML text with [`options`].
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, serde_saphyr::Error> {
    serde_saphyr::from_str_with_options(text, options())
}

/// A YAML error reduced to its position and a one-line message, without
/// the source snippet serde-saphyr appends and without the position it
/// repeats at the start of the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based; 1 when serde-saphyr gives no position.
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl SyntaxError {
    pub fn from_error(error: &serde_saphyr::Error) -> SyntaxError {
        let (line, column) = error
            .location()
            .map(|l| (l.line() as u32, l.column() as u32))
            .unwrap_or((1, 1));
        let text = error.to_string();
        let first = text.lines().next().unwrap_or_default().trim();
        let first = first.strip_prefix("error: ").unwrap_or(first);
        SyntaxError {
            line,
            column,
            message: user_message(strip_position(first)),
        }
    }
}

/// Replaces advice meant for programmers using serde-saphyr (its parser
/// options) with advice for the person editing the file.
fn user_message(message: &str) -> String {
    match message.split_once(", set DuplicateKeyPolicy") {
        Some((duplicate, _)) => format!("{duplicate}; remove one of the two entries"),
        None => message.to_string(),
    }
}

fn strip_position(line: &str) -> &str {
    let Some(rest) = line.strip_prefix("line ") else {
        return line;
    };
    match rest.split_once(": ") {
        Some((position, message)) if position.contains(" column ") => message,
        _ => line,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn syntax_error_has_position_and_one_line() {
        let error = super::from_str::<std::collections::BTreeMap<String, u32>>("a: 1\nb: [x\n")
            .unwrap_err();
        let summary = super::SyntaxError::from_error(&error);
        assert!(summary.line >= 2, "{summary:?}");
        assert!(!summary.message.contains('\n'), "{summary:?}");
        assert!(!summary.message.starts_with("line "), "{summary:?}");
    }

    #[test]
    fn duplicate_key_advice_is_for_the_file() {
        let error =
            super::from_str::<std::collections::BTreeMap<String, u32>>("a: 1\na: 2\n").unwrap_err();
        let summary = super::SyntaxError::from_error(&error);
        assert!(summary.message.contains("duplicate"), "{summary:?}");
        assert!(
            !summary.message.contains("DuplicateKeyPolicy"),
            "{summary:?}"
        );
        assert!(
            summary.message.ends_with("remove one of the two entries"),
            "{summary:?}"
        );
    }

    #[test]
    fn yaml_1_1_booleans_stay_strings() {
        let value: serde_json::Value = super::from_str("[n, no, off, yes, true]").unwrap();
        assert_eq!(value, serde_json::json!(["n", "no", "off", "yes", true]));
    }
}
