//! Entity types, system and custom, mapped to Tern collect types. Shared by
//! the ES and CX importers.

use std::collections::BTreeMap;

use super::yaml::ChoiceOption;
use crate::report::Fidelity;

/// A custom entity type of the agent.
#[derive(Debug, Clone, Default)]
pub struct EntityType {
    pub name: String,
    /// The file that defines it, for the report.
    pub file: String,
    pub kind: EntityKind,
    /// Entries in the agent's default language.
    pub entries: Vec<ChoiceOption>,
    /// Entry count per other language, which Tern options do not hold.
    pub other_languages: BTreeMap<String, usize>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum EntityKind {
    /// Values with synonyms (CX `KIND_MAP`, ES default).
    #[default]
    Map,
    /// Values that are their own synonyms (CX `KIND_LIST`, ES `isEnum`).
    List,
    /// Regular expressions (CX `KIND_REGEXP`, ES `isRegexp`).
    Regexp,
}

/// The way a parameter of some entity type is collected in Tern.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotKind {
    pub collect_type: Option<&'static str>,
    pub options: Vec<ChoiceOption>,
    pub pattern: Option<String>,
    pub fidelity: Fidelity,
    pub note: String,
}

impl SlotKind {
    fn new(
        collect_type: Option<&'static str>,
        fidelity: Fidelity,
        note: impl Into<String>,
    ) -> Self {
        SlotKind {
            collect_type,
            options: Vec::new(),
            pattern: None,
            fidelity,
            note: note.into(),
        }
    }
}

/// Returns the collect settings for an entity reference such as `@sys.date` or
/// `@AppointmentType`.
pub fn slot_kind(entity: &str, custom: &BTreeMap<String, EntityType>) -> SlotKind {
    let name = entity.trim().trim_start_matches('@');
    if let Some(system) = name.strip_prefix("sys.") {
        return system_kind(system);
    }
    let Some(entity_type) = custom.get(name.trim()) else {
        return SlotKind::new(
            None,
            Fidelity::Approximate,
            format!(
                "entity type `@{name}` is not in the export, so the value is collected as text"
            ),
        );
    };
    let composite = entity_type.entries.iter().any(|e| e.value.contains('@'));
    match entity_type.kind {
        _ if entity_type.entries.is_empty() => SlotKind::new(
            None,
            Fidelity::Approximate,
            format!(
                "entity type `@{name}` has no entries in the default language, so the value is collected as text"
            ),
        ),
        EntityKind::Regexp => {
            let alternatives: Vec<String> = entity_type
                .entries
                .iter()
                .map(|e| format!("(?:{})", e.value))
                .collect();
            SlotKind {
                pattern: Some(alternatives.join("|")),
                ..SlotKind::new(
                    None,
                    Fidelity::Approximate,
                    format!(
                        "regular-expression entity `@{name}` became a `validation.pattern`; Dialogflow uses RE2 syntax, so check the pattern"
                    ),
                )
            }
        }
        _ if composite => SlotKind::new(
            None,
            Fidelity::Approximate,
            format!(
                "composite entity `@{name}` refers to other entity types, so the value is collected as text"
            ),
        ),
        _ => SlotKind {
            options: entity_type.entries.clone(),
            ..SlotKind::new(
                Some("choice"),
                Fidelity::Mapped,
                format!("entity type `@{name}` became `choice` options with its synonyms"),
            )
        },
    }
}

fn system_kind(name: &str) -> SlotKind {
    use Fidelity::{Approximate, Mapped};
    match name {
        "any" => SlotKind::new(None, Mapped, "`@sys.any` is collected as text"),
        "number" => SlotKind::new(Some("number"), Mapped, "`@sys.number` is a `number`"),
        "number-integer" | "cardinal" => SlotKind::new(
            Some("integer"),
            Mapped,
            format!("`@sys.{name}` is an `integer`"),
        ),
        "ordinal" => SlotKind::new(
            Some("integer"),
            Approximate,
            "`@sys.ordinal` is an `integer`; words such as \"second\" must be turned into numbers by the understanding layer",
        ),
        "date" => SlotKind::new(
            Some("date"),
            Mapped,
            "`@sys.date` is a `date`, stored as YYYY-MM-DD",
        ),
        "email" => SlotKind::new(Some("email"), Mapped, "`@sys.email` is an `email`"),
        "phone-number" => SlotKind::new(Some("phone"), Mapped, "`@sys.phone-number` is a `phone`"),
        "time" | "date-time" | "date-period" | "time-period" => SlotKind::new(
            None,
            Approximate,
            format!("`@sys.{name}` has no Tern type, so the value is collected as text"),
        ),
        "person" | "given-name" | "last-name" | "geo-city" | "geo-country" | "geo-state"
        | "location" | "address" | "street-address" | "zip-code" => SlotKind::new(
            None,
            Approximate,
            format!("`@sys.{name}` is collected as text instead of a structured value"),
        ),
        other => SlotKind::new(
            None,
            Approximate,
            format!("`@sys.{other}` has no Tern type, so the value is collected as text"),
        ),
    }
}

/// Returns the options of an entity's entries: synonyms equal to the value, in any
/// letter case, are dropped because Tern matches the value itself.
pub fn option(value: &str, synonyms: &[&str]) -> ChoiceOption {
    let value = value.trim().to_string();
    let mut kept: Vec<String> = Vec::new();
    for synonym in synonyms {
        let synonym = synonym.trim();
        if synonym.is_empty()
            || synonym.eq_ignore_ascii_case(&value)
            || kept.iter().any(|k| k.eq_ignore_ascii_case(synonym))
        {
            continue;
        }
        kept.push(synonym.to_string());
    }
    ChoiceOption {
        value,
        synonyms: kept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_entity_table() {
        let none = BTreeMap::new();
        for (entity, expected) in [
            ("@sys.number", Some("number")),
            ("@sys.number-integer", Some("integer")),
            ("@sys.date", Some("date")),
            ("@sys.email", Some("email")),
            ("@sys.phone-number", Some("phone")),
            ("@sys.time", None),
            ("@sys.any", None),
            ("@sys.address", None),
        ] {
            assert_eq!(slot_kind(entity, &none).collect_type, expected, "{entity}");
        }
        assert_eq!(slot_kind("@sys.any", &none).fidelity, Fidelity::Mapped);
        assert_eq!(
            slot_kind("@sys.time", &none).fidelity,
            Fidelity::Approximate
        );
    }

    #[test]
    fn custom_entity_becomes_choice() {
        let mut custom = BTreeMap::new();
        let entries = vec![option("fix", &["fix", "repair", "Repair", " mend "])];
        custom.insert(
            "AppointmentType".to_string(),
            EntityType {
                name: "AppointmentType".into(),
                entries,
                ..Default::default()
            },
        );
        let kind = slot_kind("@AppointmentType", &custom);
        assert_eq!(kind.collect_type, Some("choice"));
        assert_eq!(kind.options[0].synonyms, ["repair", "mend"]);
    }

    #[test]
    fn regexp_entity_becomes_pattern() {
        let mut custom = BTreeMap::new();
        let entries = vec![option("[A-Z]{3}\\d{3}", &[])];
        custom.insert(
            "plate".to_string(),
            EntityType {
                name: "plate".into(),
                kind: EntityKind::Regexp,
                entries,
                ..Default::default()
            },
        );
        let kind = slot_kind("@plate", &custom);
        assert_eq!(kind.pattern.as_deref(), Some("(?:[A-Z]{3}\\d{3})"));
        assert_eq!(kind.collect_type, None);
    }
}
