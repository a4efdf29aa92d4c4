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

#[cfg(test)]
mod tests {
    #[test]
    fn yaml_1_1_booleans_stay_strings() {
        let value: serde_json::Value = super::from_str("[n, no, off, yes, true]").unwrap();
        assert_eq!(value, serde_json::json!(["n", "no", "off", "yes", true]));
    }
}
