//! NLU training data. Tern's LLM needs no training examples, so each
//! intent's examples are kept as a comment above the flows it starts and
//! listed in the report.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value as Json;

use super::Ctx;
use super::classic::built_in_command;
use super::domain::Domain;
use super::flows::DataSections;
use super::yaml_in::Node;
use crate::report::Fidelity;

/// How many examples of an intent are kept in a flow comment.
const EXAMPLES_IN_COMMENT: usize = 5;

/// `[text](entity)`, `[text](entity:value)` and `[text]{"entity": …}`
/// annotations in Rasa training examples.
static ANNOTATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\[([^\]]+)\](?:\(([^)]+)\)|(\{[^}]*\}))"#).expect("valid regex")
});

/// Removes the entity annotations from an example message. Returns the
/// plain text and the annotated entities as `(entity, value)`.
pub(crate) fn strip_annotations(example: &str) -> (String, Vec<(String, Json)>) {
    let mut entities = Vec::new();
    let text = ANNOTATION.replace_all(example, |captures: &regex::Captures| {
        let text = captures[1].to_string();
        if let Some(simple) = captures.get(2) {
            let (entity, value) = match simple.as_str().split_once(':') {
                Some((entity, value)) => (entity.to_string(), value.to_string()),
                None => (simple.as_str().to_string(), text.clone()),
            };
            entities.push((entity, Json::String(value)));
        } else if let Some(json) = captures.get(3)
            && let Ok(Json::Object(map)) = serde_json::from_str::<Json>(json.as_str())
            && let Some(Json::String(entity)) = map.get("entity")
        {
            let value = map
                .get("value")
                .cloned()
                .unwrap_or_else(|| Json::String(text.clone()));
            entities.push((entity.clone(), value));
        }
        text
    });
    (text.into_owned(), entities)
}

/// Returns the examples of one `nlu` entry, written as a block string of
/// `- ` lines or as a list of `text:` maps.
pub(crate) fn examples(entry: &Node) -> Vec<String> {
    let Some(examples) = entry.get("examples") else {
        return Vec::new();
    };
    if let Some(block) = examples.as_str() {
        return block
            .lines()
            .map(str::trim)
            .filter_map(|line| line.strip_prefix("- ").or_else(|| line.strip_prefix('-')))
            .map(|line| strip_annotations(line.trim()).0)
            .filter(|line| !line.is_empty())
            .collect();
    }
    examples
        .items()
        .iter()
        .filter_map(|item| {
            item.get("text")
                .and_then(Node::scalar_text)
                .or_else(|| item.scalar_text())
        })
        .map(|t| strip_annotations(&t).0)
        .collect()
}

pub(crate) fn attach(ctx: &mut Ctx, domain: &Domain, data: &DataSections) {
    for entry in &data.nlu {
        let loc = entry.here();
        if let Some(intent) = entry.node.get("intent").and_then(Node::scalar_text) {
            let examples = examples(&entry.node);
            let flows: Vec<String> = ctx
                .flows
                .values()
                .filter(|f| f.intents.contains(&intent))
                .map(|f| f.id.clone())
                .collect();
            let count = examples.len();
            let what = format!(
                "intent `{intent}` ({count} example{})",
                if count == 1 { "" } else { "s" }
            );
            if !flows.is_empty() {
                for id in &flows {
                    let Some(flow) = ctx.flows.get_mut(id) else {
                        continue;
                    };
                    let mut comment = format!(
                        "Rasa training examples of `{intent}` (Tern's LLM does not need them):"
                    );
                    for example in examples.iter().take(EXAMPLES_IN_COMMENT) {
                        comment.push_str(&format!("\n- {example}"));
                    }
                    if examples.len() > EXAMPLES_IN_COMMENT {
                        comment.push_str(&format!(
                            "\n({} more in {})",
                            examples.len() - EXAMPLES_IN_COMMENT,
                            entry.file
                        ));
                    }
                    flow.comments.push(comment);
                }
                let note = format!(
                    "starts {}; the examples are kept as comments there, because Tern's LLM chooses flows from their descriptions",
                    flows
                        .iter()
                        .map(|f| format!("`{f}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                ctx.add(Fidelity::Approximate, &loc, what, note);
            } else if let Some(command) = built_in_command(&intent) {
                ctx.add(Fidelity::Approximate, &loc, what, format!("Tern's understanding layer produces the `{command}` command for such messages; the examples are not needed"));
            } else {
                ctx.add(
                    Fidelity::Unmapped,
                    &loc,
                    what,
                    "no converted flow starts from this intent; its examples are not imported",
                );
            }
            continue;
        }
        let (kind, name) = entry
            .node
            .entries()
            .first()
            .map(|(k, v)| (k.name.clone(), v.scalar_text().unwrap_or_default()))
            .unwrap_or_default();
        let note = match kind.as_str() {
            "synonym" => {
                "entity synonyms are not imported; list them as `synonyms` of a choice option where they matter"
            }
            "regex" => {
                "regular expressions for entities are not imported; use a `validation.pattern` on the collect step instead"
            }
            "lookup" => {
                "lookup tables are not imported; use the options of a `choice` collect step instead"
            }
            _ => "not an NLU entry that the importer knows; ignored",
        };
        ctx.add(
            Fidelity::Unmapped,
            &loc,
            format!("NLU {kind} `{name}`"),
            note,
        );
    }
    for (intent, loc) in &domain.intents {
        let in_nlu = data
            .nlu
            .iter()
            .any(|e| e.node.get("intent").and_then(Node::scalar_text).as_deref() == Some(intent));
        if in_nlu {
            continue;
        }
        let flows = ctx
            .flows
            .values()
            .filter(|f| f.intents.contains(intent))
            .count();
        let (fidelity, note) = if flows > 0 {
            (Fidelity::Mapped, "kept as a trigger intent".to_string())
        } else if let Some(command) = built_in_command(intent) {
            (
                Fidelity::Approximate,
                format!("handled by Tern's `{command}` command"),
            )
        } else {
            (
                Fidelity::Unmapped,
                "no converted flow starts from this intent".to_string(),
            )
        };
        ctx.add(fidelity, loc, format!("domain intent `{intent}`"), note);
    }
    for (entity, loc) in &domain.entities {
        ctx.add(
            Fidelity::Approximate,
            loc,
            format!("entity `{entity}`"),
            "Tern's understanding layer extracts slot values directly, so entities are not declared",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn annotations_are_removed() {
        let (text, entities) =
            strip_annotations("a table for [4](number) with [thai]{\"entity\": \"cuisine\"} food");
        assert_eq!(text, "a table for 4 with thai food");
        assert_eq!(
            entities,
            vec![
                ("number".to_string(), json!("4")),
                ("cuisine".to_string(), json!("thai"))
            ]
        );
        let (_, entities) = strip_annotations("[NYC](city:New York)");
        assert_eq!(entities, vec![("city".to_string(), json!("New York"))]);
    }
}
