//! The offline understander: rules instead of an LLM, for development and
//! as the default when no provider is configured. It reads the same
//! [`PromptContext`] the LLM would see.
//!
//! What it does: starts flows whose intent names, name or description share
//! words with the message; reads yes/no (English and Arabic), numbers
//! (including Arabic-Indic digits), dates, emails, phone numbers and
//! options; treats other text as the value of an open string question;
//! recognises cancel, hand-over and greeting phrases. It judges a
//! `semantic_if` condition true only when the message's words clearly
//! match it (such as the button "Pay now" for "the resident wants to pay
//! the fine now"); otherwise every condition is false and the engine takes
//! the `else` path.

use serde_json::{Value, json};
use tern_engine::Command;
use tern_engine::coerce::{coerce, normalize_digits, parse_yes_no};
use tern_flow::{ChoiceOption, SlotType};

use crate::context::{FlowInfo, PromptContext, SlotInfo};
use crate::prompt::read_context;

/// Words that cancel only when the message is short, because in a longer
/// answer ("at the bus stop on Elm Road") they are part of it.
const CANCEL_WORDS: &[&str] = &["cancel", "stop", "quit", "abort", "إلغاء", "الغاء", "توقف"];
/// Phrases that cancel wherever they appear.
const CANCEL_PHRASES: &[&str] = &[
    "never mind",
    "nevermind",
    "forget it",
    "cancel that",
    "stop this",
];
/// Words that ask for a person only in a short message.
const HANDOFF_WORDS: &[&str] = &["human", "agent", "representative", "operator", "موظف"];
/// Phrases that ask for a person wherever they appear.
const HANDOFF_PHRASES: &[&str] = &[
    "real person",
    "talk to a human",
    "speak to a human",
    "talk to a person",
    "speak to a person",
    "talk to someone",
    "speak to someone",
    "talk to an agent",
    "speak to an agent",
    "human agent",
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
    let mut commands = understand_message(context);
    commands.extend(judge_conditions(context));
    commands
}

/// Most words a message may have for a cancel or hand-over phrase in it to
/// count while a text question is open: in a longer answer such as "outside
/// the travel agent on Main Street" the phrase is part of the answer.
const MAX_COMMAND_WORDS_IN_ANSWER: usize = 4;

fn understand_message(context: &PromptContext) -> Vec<Command> {
    let message = normalize_digits(context.message.trim());
    let lower = message.to_lowercase();
    let answering_text = context
        .asking
        .as_ref()
        .is_some_and(|a| a.slot_type == SlotType::String);
    let may_be_command = !answering_text || words(&lower).count() <= MAX_COMMAND_WORDS_IN_ANSWER;
    let handoff = contains_phrase(&lower, HANDOFF_PHRASES)
        || (may_be_command && contains_phrase(&lower, HANDOFF_WORDS));
    if handoff {
        return vec![Command::Handoff {
            reason: Some("the user asked for a person".into()),
        }];
    }
    let cancel = contains_phrase(&lower, CANCEL_PHRASES)
        || (may_be_command && contains_phrase(&lower, CANCEL_WORDS));
    // With nothing running, only a bare "cancel" or "never mind" is one, so
    // that the engine can say there is nothing to cancel; a longer message
    // ("cancel my appointment") may be a request for a flow.
    if cancel && (context.active_flow.is_some() || words(&lower).count() <= 2) {
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
    let commands: Vec<Value> = understand(&context)
        .into_iter()
        .filter_map(|c| serde_json::to_value(c).ok())
        .collect();
    Some(json!({ "commands": commands }))
}

/// Verdicts for the conditions in `context`: the one condition that shares
/// the most words with the message is true when it shares at least two, or
/// every meaningful word of a short message; all others are false.
fn judge_conditions(context: &PromptContext) -> Vec<Command> {
    let message = meaningful_words(&normalize_digits(&context.message.to_lowercase()));
    let score = |condition: &str| {
        let condition_words = meaningful_words(&condition.to_lowercase());
        message
            .iter()
            .filter(|w| condition_words.contains(w))
            .count()
    };
    let best = context
        .conditions
        .iter()
        .map(|c| (c, score(c)))
        .filter(|(_, s)| *s >= 2 || (*s >= 1 && *s == message.len()))
        .max_by_key(|(_, s)| *s)
        .map(|(c, _)| c.clone());
    context
        .conditions
        .iter()
        .map(|c| Command::Judge {
            condition: c.clone(),
            value: Some(c) == best.as_ref(),
        })
        .collect()
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

/// The value part of "my plate is ABC 123", "it's ABC 123" and the like.
fn strip_lead_in(message: &str) -> &str {
    static LEAD_IN: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let pattern = LEAD_IN.get_or_init(|| {
        regex::Regex::new(r"(?i)^(?:(?:my|the|our)\s+[\w\s]{1,30}?\s+(?:is|are)|it\s+is|it's|that's|that\s+is)\s+(.+)$")
            .expect("the pattern is valid")
    });
    match pattern.captures(message).and_then(|c| c.get(1)) {
        Some(value) => value.as_str(),
        None => message,
    }
}

/// Reads a value of the slot's type out of free text.
fn extract_value(slot: &SlotInfo, message: &str) -> Option<Value> {
    let message = strip_lead_in(message.trim());
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
