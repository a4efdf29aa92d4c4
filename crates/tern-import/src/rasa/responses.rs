//! Rasa responses (`utter_*`) turned into the texts and buttons of Tern
//! steps, and button payloads read back for test conversion.

use serde_json::Value as Json;

use super::Ctx;
use super::domain::{Domain, RasaButton, Response, Variation};
use super::identifier;
use super::model::Button;
use super::text::Text;
use crate::report::Fidelity;

/// A response as Tern sends it, with what was lost on the way.
#[derive(Clone, Debug)]
pub(crate) struct Converted {
    pub text: Text,
    pub buttons: Vec<Button>,
    pub notes: Vec<String>,
}

/// The message or command a button sends when pressed.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Payload {
    /// `/SetSlots(name=value, …)`: sets slots directly.
    SetSlots(Vec<(String, Json)>),
    /// `/intent` or `/intent{"entity": "value"}`: a classic intent with
    /// entities.
    Intent {
        name: String,
        entities: Vec<(String, Json)>,
    },
    /// Any other text, sent as the user's message.
    Text(String),
}

/// Picks the variation Tern sends: the first one without a channel or a
/// condition, else the first one.
fn chosen_variation(response: &Response) -> Option<&Variation> {
    response
        .variations
        .iter()
        .find(|v| v.channel.is_none() && !v.conditional && v.text.is_some())
        .or_else(|| response.variations.iter().find(|v| v.text.is_some()))
        .or_else(|| response.variations.first())
}

/// Converts the response `name`, or returns `None` when the domain does
/// not define it.
pub(crate) fn convert(domain: &Domain, name: &str) -> Option<Converted> {
    let response = domain.responses.get(name)?;
    let mut notes = Vec::new();
    let Some(variation) = chosen_variation(response) else {
        notes.push("the response has no variations".to_string());
        return Some(Converted {
            text: Text::default(),
            buttons: Vec::new(),
            notes,
        });
    };

    let count = response.variations.len();
    if count > 1 {
        notes.push(format!(
            "Rasa picks one of {count} variations; Tern always sends this one"
        ));
    }
    let conditional = response.variations.iter().filter(|v| v.conditional).count();
    if conditional > 0 {
        notes.push(format!(
            "{conditional} conditional variation(s) are dropped; add a route step with `if` branches to choose between texts"
        ));
    }
    if response.variations.iter().any(|v| v.channel.is_some()) {
        notes.push("channel-specific variations are dropped".to_string());
    }
    if variation.rephrase {
        notes
            .push("Rasa rephrases this response with an LLM; Tern sends it as written".to_string());
    }
    for key in &variation.unsupported {
        notes.push(format!("`{key}` is not supported and is dropped"));
    }

    let source = variation.text.clone().unwrap_or_default();
    if variation.text.is_none() {
        notes.push("the response has no text".to_string());
    }
    let slot_name = |placeholder: &str| {
        domain
            .slots
            .contains_key(placeholder)
            .then(|| identifier(placeholder))
    };
    let (text, text_notes) = Text::parse(&source, &slot_name);
    for placeholder in text_notes.unknown_placeholders {
        notes.push(format!(
            "`{{{placeholder}}}` names no slot and is sent as written"
        ));
    }
    if text_notes.jinja {
        notes.push("Jinja template syntax is not supported and is sent as written".to_string());
    }
    if text.to_template().1 {
        notes.push("a space was added next to a slot reference, because Tern's templates have no delimiters".to_string());
    }
    let buttons = variation
        .buttons
        .iter()
        .map(|b| convert_button(b, &mut notes))
        .collect();
    Some(Converted {
        text,
        buttons,
        notes,
    })
}

fn convert_button(button: &RasaButton, notes: &mut Vec<String>) -> Button {
    match button.payload.as_deref() {
        None => Button {
            title: button.title.clone(),
            payload: None,
        },
        Some(payload) if payload == button.title => Button {
            title: button.title.clone(),
            payload: None,
        },
        Some(payload) if payload.starts_with('/') => {
            notes.push(format!(
                "button `{}`: the payload `{payload}` is dropped, so the button sends its title and the understanding layer interprets it",
                button.title
            ));
            Button {
                title: button.title.clone(),
                payload: None,
            }
        }
        Some(payload) => Button {
            title: button.title.clone(),
            payload: Some(payload.to_string()),
        },
    }
}

/// Reads a button payload.
pub(crate) fn parse_payload(payload: &str) -> Payload {
    let trimmed = payload.trim();
    if let Some(inner) = trimmed
        .strip_prefix("/SetSlots(")
        .and_then(|rest| rest.strip_suffix(')'))
    {
        let values = inner
            .split(',')
            .filter_map(|pair| pair.split_once('='))
            .map(|(name, value)| (identifier(name.trim()), scalar_value(value.trim())))
            .collect();
        return Payload::SetSlots(values);
    }
    if let Some(rest) = trimmed.strip_prefix('/') {
        let (name, entities) = match rest.find('{') {
            Some(brace) => (&rest[..brace], &rest[brace..]),
            None => (rest, ""),
        };
        let entities = serde_json::from_str::<serde_json::Map<String, Json>>(entities)
            .map(|map| map.into_iter().collect())
            .unwrap_or_default();
        return Payload::Intent {
            name: name.trim().to_string(),
            entities,
        };
    }
    Payload::Text(trimmed.to_string())
}

/// Reads a value written in a `/SetSlots` payload: `true`, `false`,
/// `null`, numbers and quoted or bare text.
fn scalar_value(text: &str) -> Json {
    match text {
        "true" | "True" => Json::Bool(true),
        "false" | "False" => Json::Bool(false),
        "null" | "None" => Json::Null,
        _ => {
            if let Ok(number) = text.parse::<i64>() {
                return Json::from(number);
            }
            if let Some(number) = text
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
            {
                return Json::Number(number);
            }
            let unquoted = text.trim_matches(|c| c == '"' || c == '\'');
            Json::String(unquoted.to_string())
        }
    }
}

/// Reports every response once: converted ones with their notes, unused
/// ones as not imported.
pub(crate) fn report(ctx: &mut Ctx, domain: &Domain) {
    for (name, response) in &domain.responses {
        if !ctx.used_responses.contains(name) {
            let note = if super::patterns::engine_message_for(name).is_some() {
                "a Rasa default response; see the pattern and engine message entries"
            } else {
                "not used by any converted flow, so not imported"
            };
            ctx.add(
                Fidelity::Unmapped,
                &response.loc,
                format!("response `{name}`"),
                note,
            );
            continue;
        }
        let Some(converted) = convert(domain, name) else {
            continue;
        };
        if converted.notes.is_empty() {
            ctx.add(
                Fidelity::Mapped,
                &response.loc,
                format!("response `{name}`"),
                "converted without changes",
            );
        } else {
            ctx.add(
                Fidelity::Approximate,
                &response.loc,
                format!("response `{name}`"),
                converted.notes.join("; "),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payloads_are_read() {
        assert_eq!(
            parse_payload("/SetSlots(add_contact_confirmation=true)"),
            Payload::SetSlots(vec![("add_contact_confirmation".into(), json!(true))])
        );
        assert_eq!(
            parse_payload("/SetSlots(a=3, b=two words)"),
            Payload::SetSlots(vec![
                ("a".into(), json!(3)),
                ("b".into(), json!("two words"))
            ])
        );
        assert_eq!(
            parse_payload("/inform{\"cuisine\": \"thai\"}"),
            Payload::Intent {
                name: "inform".into(),
                entities: vec![("cuisine".into(), json!("thai"))]
            }
        );
        assert_eq!(
            parse_payload("/affirm"),
            Payload::Intent {
                name: "affirm".into(),
                entities: vec![]
            }
        );
        assert_eq!(parse_payload("hello"), Payload::Text("hello".into()));
    }
}
