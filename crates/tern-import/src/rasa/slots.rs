//! Rasa slot types mapped to Tern collect types, and the report of every
//! slot with its mappings.

use super::Ctx;
use super::domain::{Domain, Mapping, Slot};
use super::identifier;
use super::model::StepKind;
use crate::report::Fidelity;

/// The collect type and options for a slot of a given Rasa type.
#[derive(Debug, PartialEq)]
pub(crate) struct CollectKind {
    /// `None` for Tern's default, `string`.
    pub collect_type: Option<&'static str>,
    pub options: Vec<String>,
    pub fidelity: Fidelity,
    pub note: String,
}

/// Rasa's `__other__` value catches anything outside the listed values;
/// Tern's choice slots accept only their options.
const OTHER_VALUE: &str = "__other__";

pub(crate) fn collect_type(slot: &Slot) -> CollectKind {
    let kind = |collect_type, fidelity, note: &str| CollectKind {
        collect_type,
        options: Vec::new(),
        fidelity,
        note: note.to_string(),
    };
    match slot.kind.as_str() {
        "text" => kind(None, Fidelity::Mapped, "text slot, collected as `string`"),
        "float" => kind(
            Some("number"),
            Fidelity::Mapped,
            "float slot, collected as `number`",
        ),
        "bool" => kind(
            Some("boolean"),
            Fidelity::Mapped,
            "bool slot, collected as `boolean`",
        ),
        "categorical" => {
            let options: Vec<String> = slot
                .values
                .iter()
                .filter(|v| *v != OTHER_VALUE)
                .cloned()
                .collect();
            if options.is_empty() {
                return kind(
                    None,
                    Fidelity::Approximate,
                    "categorical slot without values, collected as `string`",
                );
            }
            let (fidelity, note) = if slot.values.iter().any(|v| v == OTHER_VALUE) {
                (
                    Fidelity::Approximate,
                    "categorical slot, collected as `choice`; `__other__` is dropped, so other values are rejected",
                )
            } else {
                (
                    Fidelity::Mapped,
                    "categorical slot, collected as `choice` with its values as options",
                )
            };
            CollectKind {
                collect_type: Some("choice"),
                options,
                fidelity,
                note: note.to_string(),
            }
        }
        "list" => kind(
            None,
            Fidelity::Approximate,
            "list slot, collected as `string` because Tern has no list collect type",
        ),
        "any" => kind(
            None,
            Fidelity::Approximate,
            "any slot, collected as `string`",
        ),
        _ => kind(
            None,
            Fidelity::Approximate,
            "custom slot type, collected as `string`",
        ),
    }
}

/// Describes where a Rasa mapping took the slot's value from, as a hint
/// for the flow description.
pub(crate) fn mapping_hint(slot: &str, mapping: &Mapping) -> Option<String> {
    match mapping.kind.as_str() {
        "from_entity" => Some(format!(
            "`{slot}` is the `{}` entity in the user's message",
            mapping.entity.clone().unwrap_or_default()
        )),
        "from_intent" => {
            let value = mapping
                .value
                .as_ref()
                .map(|v| v.to_string())
                .unwrap_or_else(|| "a value".into());
            Some(format!(
                "`{slot}` is {value} when the user expresses `{}`",
                mapping.intent.join("` or `")
            ))
        }
        "from_trigger_intent" => {
            let value = mapping
                .value
                .as_ref()
                .map(|v| v.to_string())
                .unwrap_or_else(|| "a value".into());
            Some(format!(
                "`{slot}` is {value} when the form starts from `{}`",
                mapping.intent.join("` or `")
            ))
        }
        "from_text" => Some(format!("`{slot}` is the whole answer to its question")),
        _ => None,
    }
}

/// Reports every slot: how collect steps read it and what its mappings
/// and settings become.
pub(crate) fn report(ctx: &mut Ctx, domain: &Domain) {
    let collected: Vec<String> = ctx
        .flows
        .values()
        .flat_map(|f| &f.steps)
        .filter_map(|s| match &s.kind {
            StepKind::Collect(collect) => Some(collect.slot.clone()),
            _ => None,
        })
        .collect();
    let results: Vec<String> = ctx
        .flows
        .values()
        .flat_map(|f| &f.steps)
        .filter_map(|s| match &s.kind {
            StepKind::Action {
                result_slot: Some(slot),
                ..
            } => Some(slot.clone()),
            _ => None,
        })
        .collect();
    for slot in domain.slots.values() {
        let tern = identifier(&slot.name);
        let what = format!("slot `{}`", slot.name);
        let mut notes = Vec::new();
        let mut fidelity = Fidelity::Mapped;
        if tern != slot.name {
            notes.push(format!("renamed to `{tern}`"));
            fidelity = Fidelity::Approximate;
        }
        if collected.contains(&tern) {
            let kind = collect_type(slot);
            fidelity = fidelity.max(kind.fidelity);
            notes.push(kind.note);
        } else if results.contains(&tern) {
            fidelity = fidelity.max(Fidelity::Approximate);
            notes.push("set from an action's result, so the webhook must return its value".into());
        } else {
            fidelity = Fidelity::Unmapped;
            notes.push("no converted step collects or sets it, and Tern does not declare slots, so it is not imported".into());
        }
        let kinds: Vec<&str> = slot.mappings.iter().map(|m| m.kind.as_str()).collect();
        let hints: Vec<String> = slot
            .mappings
            .iter()
            .filter_map(|m| mapping_hint(&slot.name, m))
            .collect();
        if !hints.is_empty() {
            fidelity = fidelity.max(Fidelity::Approximate);
            notes.push(format!(
                "Tern's understanding layer extracts the value instead of the Rasa mappings ({})",
                hints.join("; ")
            ));
        }
        for kind in &kinds {
            if ![
                "from_llm",
                "custom",
                "controlled",
                "from_entity",
                "from_intent",
                "from_trigger_intent",
                "from_text",
            ]
            .contains(kind)
            {
                fidelity = fidelity.max(Fidelity::Approximate);
                notes.push(format!("the mapping `{kind}` is not converted"));
            }
        }
        if kinds.iter().any(|k| *k == "custom" || *k == "controlled") {
            if collected.contains(&tern) {
                fidelity = fidelity.max(Fidelity::Approximate);
                notes.push("Rasa fills it only from custom code, but Tern's understanding layer fills the slots that collect steps ask for".into());
            } else {
                notes.push("Rasa sets it from custom code".into());
            }
        }
        if let Some(initial) = &slot.initial_value {
            fidelity = fidelity.max(Fidelity::Approximate);
            notes.push(format!(
                "initial value {initial} is not converted: Tern slots start unset, so set it with a `set_slots` step where it is needed"
            ));
        }
        ctx.add(fidelity, &slot.loc, what, notes.join("; "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rasa::Loc;

    fn slot(kind: &str, values: &[&str]) -> Slot {
        Slot {
            name: "s".into(),
            kind: kind.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
            initial_value: None,
            mappings: Vec::new(),
            loc: Loc {
                file: "domain.yml".into(),
                line: 1,
            },
        }
    }

    #[test]
    fn slot_types_map_to_collect_types() {
        let cases = [
            ("text", None, Fidelity::Mapped),
            ("float", Some("number"), Fidelity::Mapped),
            ("bool", Some("boolean"), Fidelity::Mapped),
            ("list", None, Fidelity::Approximate),
            ("any", None, Fidelity::Approximate),
            ("my.custom.Slot", None, Fidelity::Approximate),
        ];
        for (kind, expected, fidelity) in cases {
            let mapped = collect_type(&slot(kind, &[]));
            assert_eq!(mapped.collect_type, expected, "collect type of {kind}");
            assert_eq!(mapped.fidelity, fidelity, "fidelity of {kind}");
        }
    }

    #[test]
    fn categorical_values_become_options() {
        let mapped = collect_type(&slot("categorical", &["lost", "stolen", "__other__"]));
        assert_eq!(mapped.collect_type, Some("choice"));
        assert_eq!(
            mapped.options,
            vec!["lost".to_string(), "stolen".to_string()]
        );
        assert_eq!(mapped.fidelity, Fidelity::Approximate);
        let mapped = collect_type(&slot("categorical", &[]));
        assert_eq!(mapped.collect_type, None);
    }
}
