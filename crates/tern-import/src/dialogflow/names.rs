//! Turning Dialogflow display names into Tern identifiers.

use std::collections::BTreeSet;

/// Returns a snake_case identifier for a display name: camelCase is split, every run
/// of other characters becomes `_`, and a leading digit gets a `_` in front.
/// Returns an empty string when nothing ASCII is left, such as for an
/// Arabic name; callers then pick a numbered name.
pub fn snake_case(name: &str) -> String {
    let mut out = String::new();
    let mut previous: Option<char> = None;
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            let boundary = c.is_ascii_uppercase()
                && previous.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit());
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
        previous = Some(c);
    }
    while out.ends_with('_') {
        out.pop();
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Returns the slot name for a Dialogflow parameter reference: scope prefixes such as
/// `$session.params.` and `$flow.` are dropped first.
pub fn slot_name(parameter: &str) -> String {
    let bare = parameter.trim();
    let bare = [
        "$session.params.",
        "$page.params.",
        "$intent.params.",
        "$flow.",
        "$",
    ]
    .iter()
    .find_map(|prefix| bare.strip_prefix(prefix))
    .unwrap_or(bare);
    let name = snake_case(bare);
    if name.is_empty() {
        "parameter".to_string()
    } else {
        name
    }
}

/// Hands out unique names: a taken name gets `_2`, `_3` and so on.
#[derive(Debug, Default)]
pub struct Names {
    taken: BTreeSet<String>,
}

impl Names {
    pub fn reserve(&mut self, name: &str) {
        self.taken.insert(name.to_string());
    }

    /// Returns a unique name based on `base`, or on `fallback` when `base` is empty.
    pub fn unique(&mut self, base: &str, fallback: &str) -> String {
        let base = if base.is_empty() { fallback } else { base };
        let mut candidate = base.to_string();
        let mut counter = 2;
        while self.taken.contains(&candidate) {
            candidate = format!("{base}_{counter}");
            counter += 1;
        }
        self.taken.insert(candidate.clone());
        candidate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_table() {
        for (input, expected) in [
            ("Default Start Flow", "default_start_flow"),
            ("> collect address", "collect_address"),
            ("AppointmentType", "appointment_type"),
            (
                "data-collection-phone-number",
                "data_collection_phone_number",
            ),
            ("regionCode", "region_code"),
            ("flow.data-collection", "flow_data_collection"),
            ("Make Appointment - custom", "make_appointment_custom"),
            ("2fa check", "_2fa_check"),
            ("Trailing space ", "trailing_space"),
            ("حجز موعد", ""),
        ] {
            assert_eq!(snake_case(input), expected, "{input}");
        }
    }

    #[test]
    fn slot_names_drop_scopes() {
        assert_eq!(
            slot_name("$flow.user_provided_address"),
            "user_provided_address"
        );
        assert_eq!(slot_name("$session.params.item-damaged"), "item_damaged");
        assert_eq!(
            slot_name("address_collection_status"),
            "address_collection_status"
        );
    }

    #[test]
    fn unique_names_count_up() {
        let mut names = Names::default();
        assert_eq!(names.unique("ask", "step"), "ask");
        assert_eq!(names.unique("ask", "step"), "ask_2");
        assert_eq!(names.unique("", "step"), "step");
        assert_eq!(names.unique("", "step"), "step_2");
    }
}
