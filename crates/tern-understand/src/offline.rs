//! The offline understander: rules instead of an LLM, for development and
//! as the default when no provider is configured. It reads the same
//! [`PromptContext`] the LLM would see.
//!
//! What it does: starts flows whose intent names, name or description share
//! words with the message; reads yes/no (English and Arabic), numbers
//! (including Arabic-Indic digits), dates, emails, phone numbers and
//! options; treats other text as the value of an open string question;
//! recognises cancel, hand-over and greeting phrases. It never judges a
//! `semantic_if` condition, so the engine takes the `else` path.

use serde_json::{Value, json};
use tern_engine::Command;
use tern_engine::coerce::{coerce, normalize_digits, parse_yes_no};
use tern_flow::{ChoiceOption, SlotType};

use crate::context::{FlowInfo, PromptContext, SlotInfo};
use crate::prompt::read_context;

const CANCEL_PHRASES: &[&str] = &[
    "cancel",
    "stop",
    "never mind",
    "nevermind",
    "forget it",
    "quit",
    "abort",
    "إلغاء",
    "الغاء",
    "توقف",
];
const HANDOFF_PHRASES: &[&str] = &[
    "human",
    "agent",
    "real person",
    "representative",
    "operator",
    "talk to someone",
    "موظف",
    "خدمة العملاء",
];
const GREETINGS: &[&str] = &[
    "hi",
    "hello",
    "hey",
    "good morning",
    "good afternoon",
    "good evening",
    "السلام عليكم",
    "مرحبا",
    "اهلا",
    "أهلا",
    "salam",
];
/// Words too common to say anything about which flow is meant.
const STOPWORDS: &[&str] = &[
    "a", "an", "the", "to", "for", "of", "and", "or", "in", "on", "my", "i", "me", "you", "your",
    "is", "are", "be", "with", "want", "would", "like", "need", "please", "can", "could", "do",
    "help", "about", "it", "this", "that", "some", "get", "from", "by", "at", "user", "flow",
];

/// Commands for the message in `context`.
pub fn understand(context: &PromptContext) -> Vec<Command> {
    let message = normalize_digits(context.message.trim());
    let lower = message.to_lowercase();
    if contains_phrase(&lower, HANDOFF_PHRASES) {
        return vec![Command::Handoff {
            reason: Some("the user asked for a person".into()),
        }];
    }
    if contains_phrase(&lower, CANCEL_PHRASES) && context.active_flow.is_some() {
        return vec![Command::Cancel];
    }
    if context.awaiting.is_some()
        && let Some(answer) = parse_yes_no(&lower)
    {
        return vec![if answer {
            Command::Affirm
        } else {
            Command::Deny
        }];
    }
    let mut flows = matching_flows(context, &lower);
    // While a text question is open, one shared word ("street" in an
    // address) is not enough to switch topics.
    if context
        .asking
        .as_ref()
        .is_some_and(|a| a.slot_type == SlotType::String)
    {
        flows.retain(|flow| flow_score(flow, &meaningful_words(&lower)) >= TOPIC_SWITCH_SCORE);
    }
    if let Some(asking) = &context.asking
        && let Some(value) = extract_value(asking, &message)
        && (flows.is_empty() || asking.slot_type != SlotType::String)
    {
        return vec![Command::SetSlot {
            slot: asking.name.clone(),
            value,
        }];
    }
    match flows.as_slice() {
        [] => {}
        [only] => {
            return vec![Command::StartFlow {
                flow: only.id.clone(),
            }];
        }
        several => {
            return vec![Command::Clarify {
                flows: several.iter().map(|f| f.id.clone()).collect(),
            }];
        }
    }
    if GREETINGS.contains(&lower.trim_end_matches(['!', '.', ' ']).trim()) {
        return vec![Command::Greet];
    }
    vec![Command::NotUnderstood]
}

/// The answer a model would give for a user message built by the prompt
/// renderer, derived with the offline rules. Used by the mock LLM.
pub fn derive_reply(user_message: &str) -> Option<Value> {
    let context = read_context(user_message)?;
    let mut commands: Vec<Value> = understand(&context)
        .into_iter()
        .filter_map(|c| serde_json::to_value(c).ok())
        .collect();
    for condition in &context.conditions {
        commands.push(json!({ "command": "judge", "condition": condition, "value": false }));
    }
    Some(json!({ "commands": commands }))
}

fn contains_phrase(text: &str, phrases: &[&str]) -> bool {
    let words: Vec<&str> = words(text).collect();
    phrases.iter().any(|phrase| {
        let phrase_words: Vec<&str> = words_of(phrase);
        words
            .windows(phrase_words.len())
            .any(|w| w == phrase_words.as_slice())
    })
}

fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '\''))
        .filter(|w| !w.is_empty())
}

fn words_of(phrase: &str) -> Vec<&str> {
    words(phrase).collect()
}

/// Flows sharing the most meaningful words with the message; several when
/// they tie.
/// Score a flow needs to interrupt an open text question: two intent or
/// name words.
const TOPIC_SWITCH_SCORE: usize = 4;

fn meaningful_words(message: &str) -> Vec<String> {
    words(message)
        .filter(|w| !STOPWORDS.contains(w))
        .map(stem)
        .collect()
}

fn matching_flows<'c>(context: &'c PromptContext, message: &str) -> Vec<&'c FlowInfo> {
    let message_words = meaningful_words(message);
    let mut best: Vec<&FlowInfo> = Vec::new();
    let mut best_score = 0;
    for flow in &context.flows {
        let score = flow_score(flow, &message_words);
        if score > best_score {
            best = vec![flow];
            best_score = score;
        } else if score == best_score && score > 0 {
            best.push(flow);
        }
    }
    // One shared word from a long description is weak evidence; it counts
    // only when it is an intent or name word (scored 2 or more).
    if best_score < 2 { Vec::new() } else { best }
}

fn flow_score(flow: &FlowInfo, message_words: &[String]) -> usize {
    let strong: Vec<String> = flow
        .intents
        .iter()
        .flat_map(|i| i.split('_'))
        .chain(words(&flow.name.to_lowercase()).collect::<Vec<_>>())
        .map(|w| w.to_lowercase())
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .map(|w| stem(&w))
        .collect();
    let description = flow.description.to_lowercase();
    let weak: Vec<String> = words(&description)
        .filter(|w| !STOPWORDS.contains(w))
        .map(stem)
        .collect();
    message_words
        .iter()
        .map(|w| {
            if strong.contains(w) {
                2
            } else if weak.contains(w) {
                1
            } else {
                0
            }
        })
        .sum()
}

/// A crude English stem, enough to match "renewal" with "renew" and
/// "appointments" with "appointment".
fn stem(word: &str) -> String {
    let word = word.to_lowercase();
    for suffix in ["als", "al", "ing", "ments", "ment", "es", "s"] {
        if word.len() > suffix.len() + 3
            && let Some(base) = word.strip_suffix(suffix)
        {
            return base.to_string();
        }
    }
    word
}

/// Reads a value of the slot's type out of free text.
fn extract_value(slot: &SlotInfo, message: &str) -> Option<Value> {
    let options: Vec<ChoiceOption> = slot
        .options
        .iter()
        .map(|o| ChoiceOption {
            value: o.clone(),
            title: o.clone(),
            synonyms: Vec::new(),
        })
        .collect();
    let whole = coerce(slot.slot_type, &options, &json!(message)).ok();
    if whole.is_some() {
        return whole;
    }
    candidates(slot.slot_type, message)
        .into_iter()
        .find_map(|candidate| coerce(slot.slot_type, &options, &json!(candidate)).ok())
}

/// Pieces of the message that may hold the value, for types that can be
/// picked out of a sentence.
fn candidates(slot_type: SlotType, message: &str) -> Vec<String> {
    let tokens: Vec<String> = message
        .split_whitespace()
        .map(|t| {
            t.trim_matches(|c: char| ",;:!?()\"'".contains(c))
                .trim_end_matches('.')
                .to_string()
        })
        .filter(|t| !t.is_empty())
        .collect();
    match slot_type {
        SlotType::Number
        | SlotType::Integer
        | SlotType::Date
        | SlotType::Email
        | SlotType::Choice => tokens,
        SlotType::Boolean => tokens,
        SlotType::Phone => vec![
            message
                .chars()
                .filter(|c| c.is_ascii_digit() || *c == '+')
                .collect(),
        ],
        SlotType::String | SlotType::File => Vec::new(),
    }
}
