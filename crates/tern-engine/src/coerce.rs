//! Turning a proposed slot value into the collect step's type, and checking
//! the step's validation rules. The understanding layer may send a number
//! as a string or a yes as "نعم"; this is where such values become typed.
//!
//! Errors are short phrases ("that is not a valid email address") that the
//! engine places into its re-ask message.

use chrono::NaiveDate;
use serde_json::{Number, Value};
use tern_flow::{ChoiceOption, Collect, SlotType, Validation};

/// Converts `value` to the type of `collect`, then applies its validation.
pub fn coerce_and_validate(collect: &Collect, value: &Value) -> Result<Value, String> {
    let typed = coerce(collect.slot_type, &collect.options, value)?;
    match &collect.validation {
        Some(rules) => validate(rules, typed),
        None => Ok(typed),
    }
}

pub fn coerce(
    slot_type: SlotType,
    options: &[ChoiceOption],
    value: &Value,
) -> Result<Value, String> {
    if value.is_null() {
        return Err("no value was given".into());
    }
    match slot_type {
        SlotType::String => to_text(value).map(Value::String),
        SlotType::Number => to_number(value).map(number_value),
        SlotType::Integer => to_integer(value),
        SlotType::Boolean => to_bool(value).map(Value::Bool),
        SlotType::File => to_file(value),
        SlotType::Date => to_date(value),
        SlotType::Email => to_email(value),
        SlotType::Phone => to_phone(value),
        SlotType::Choice => to_choice(options, value),
    }
}

fn to_text(value: &Value) -> Result<String, String> {
    let text = match value {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return Err("a text answer was expected".into()),
    };
    if text.is_empty() {
        return Err("the answer was empty".into());
    }
    Ok(text)
}

/// Replaces Arabic-Indic and Eastern Arabic-Indic digits with ASCII digits,
/// and the Arabic decimal separator with a dot.
pub fn normalize_digits(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{0660}'..='\u{0669}' => char::from(b'0' + (c as u32 - 0x0660) as u8),
            '\u{06F0}'..='\u{06F9}' => char::from(b'0' + (c as u32 - 0x06F0) as u8),
            '\u{066B}' => '.',
            _ => c,
        })
        .collect()
}

fn to_number(value: &Value) -> Result<f64, String> {
    let parsed = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => parse_number_text(&normalize_digits(s.trim())),
        _ => None,
    };
    match parsed {
        Some(n) if n.is_finite() => Ok(n),
        _ => Err("that is not a number".into()),
    }
}

/// Reads `1500`, `1,500`, `1,500.25` and the decimal comma of `1,5`.
fn parse_number_text(text: &str) -> Option<f64> {
    let grouped = groups_thousands(text);
    let plain = if grouped {
        text.replace(',', "")
    } else if text.matches(',').count() == 1 && !text.contains('.') {
        text.replace(',', ".")
    } else {
        text.to_string()
    };
    plain.parse::<f64>().ok()
}

/// Whether commas group thousands: `1,500` or `12,345,678.5`.
fn groups_thousands(text: &str) -> bool {
    let integer = text.split('.').next().unwrap_or_default();
    let integer = integer.strip_prefix('-').unwrap_or(integer);
    let groups: Vec<&str> = integer.split(',').collect();
    groups.len() > 1
        && (1..=3).contains(&groups[0].len())
        && groups[1..].iter().all(|g| g.len() == 3)
        && groups.iter().all(|g| g.chars().all(|c| c.is_ascii_digit()))
}

fn number_value(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Value::Number(Number::from(n as i64))
    } else {
        Number::from_f64(n)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

fn to_integer(value: &Value) -> Result<Value, String> {
    let n = to_number(value).map_err(|_| "that is not a whole number".to_string())?;
    if n.fract() != 0.0 || n.abs() >= 9.0e15 {
        return Err("that is not a whole number".into());
    }
    Ok(Value::Number(Number::from(n as i64)))
}

const YES_WORDS: &[&str] = &[
    "yes", "y", "yeah", "yep", "sure", "ok", "okay", "true", "correct", "right", "1", "نعم", "أجل",
    "اي", "ايوه", "صح", "oui", "sí", "si", "ja",
];
const NO_WORDS: &[&str] = &[
    "no",
    "n",
    "nope",
    "nah",
    "false",
    "wrong",
    "incorrect",
    "0",
    "لا",
    "كلا",
    "non",
    "nein",
];

/// Words that may come with a yes or a no without changing it, as in
/// "yes please" or "no thanks".
const COURTESY_WORDS: &[&str] = &[
    "please",
    "thanks",
    "thank",
    "you",
    "much",
    "very",
    "من",
    "فضلك",
    "شكرا",
    "شكراً",
    "merci",
    "danke",
    "gracias",
];

/// Reads yes/no words in English, Arabic and a few other languages. The
/// message may repeat the answer or add courtesy words ("yes please", "no
/// thank you", "yeah sure"); any other word, or both a yes and a no, makes
/// it no answer.
pub fn parse_yes_no(text: &str) -> Option<bool> {
    let text = normalize_digits(text.trim()).to_lowercase();
    let words = text
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '.' | '!' | '?' | '،'))
        .filter(|word| !word.is_empty());
    let mut answer = None;
    for word in words {
        let this = if YES_WORDS.contains(&word) {
            true
        } else if NO_WORDS.contains(&word) {
            false
        } else if COURTESY_WORDS.contains(&word) {
            continue;
        } else {
            return None;
        };
        if answer.is_some_and(|earlier| earlier != this) {
            return None;
        }
        answer = Some(this);
    }
    answer
}

fn to_bool(value: &Value) -> Result<bool, String> {
    let parsed = match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) if n.as_f64() == Some(1.0) => Some(true),
        Value::Number(n) if n.as_f64() == Some(0.0) => Some(false),
        Value::String(s) => parse_yes_no(s),
        _ => None,
    };
    parsed.ok_or_else(|| "please answer yes or no".into())
}

fn to_file(value: &Value) -> Result<Value, String> {
    let named = value
        .as_object()
        .and_then(|o| o.get("name"))
        .and_then(Value::as_str)
        .is_some_and(|n| !n.trim().is_empty());
    if named {
        Ok(value.clone())
    } else {
        Err("a file upload was expected".into())
    }
}

const DATE_FORMATS: &[&str] = &["%Y-%m-%d", "%Y/%m/%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y"];

fn to_date(value: &Value) -> Result<Value, String> {
    let text = value
        .as_str()
        .map(|s| normalize_digits(s.trim()))
        .unwrap_or_default();
    DATE_FORMATS
        .iter()
        .find_map(|format| NaiveDate::parse_from_str(&text, format).ok())
        .map(|date| Value::String(date.format("%Y-%m-%d").to_string()))
        .ok_or_else(|| "that is not a valid date (for example 2026-03-31)".into())
}

fn to_email(value: &Value) -> Result<Value, String> {
    let text = value.as_str().unwrap_or_default().trim();
    let invalid = || "that is not a valid email address".to_string();
    let (local, domain) = text.rsplit_once('@').ok_or_else(invalid)?;
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-');
    let local_ok = !local.is_empty() && !local.chars().any(|c| c.is_whitespace() || c == '@');
    if !domain_ok || !local_ok {
        return Err(invalid());
    }
    Ok(Value::String(format!("{local}@{}", domain.to_lowercase())))
}

fn to_phone(value: &Value) -> Result<Value, String> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => normalize_digits(s.trim()),
        _ => String::new(),
    };
    let plus = text.starts_with('+') || text.starts_with("00");
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let allowed = text
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    let digits = if text.starts_with("00") {
        digits[2..].to_string()
    } else {
        digits
    };
    if !allowed || !(7..=15).contains(&digits.len()) {
        return Err("that is not a valid phone number".into());
    }
    Ok(Value::String(if plus {
        format!("+{digits}")
    } else {
        digits
    }))
}

fn to_choice(options: &[ChoiceOption], value: &Value) -> Result<Value, String> {
    let text = match value {
        Value::String(s) => normalize_digits(s.trim()),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    let wanted = text.to_lowercase();
    let by_name = options.iter().find(|option| {
        option.value.to_lowercase() == wanted
            || option.title.to_lowercase() == wanted
            || option.synonyms.iter().any(|s| s.to_lowercase() == wanted)
    });
    let by_number = || {
        let index: usize = wanted.parse().ok()?;
        options.get(index.checked_sub(1)?)
    };
    match by_name.or_else(by_number) {
        Some(option) => Ok(Value::String(option.value.clone())),
        None => {
            let titles: Vec<&str> = options.iter().map(|o| o.title.as_str()).collect();
            Err(format!("please choose one of: {}", titles.join(", ")))
        }
    }
}

fn validate(rules: &Validation, value: Value) -> Result<Value, String> {
    // Patterns apply to text values only; the validator warns when one is
    // set on a number, boolean or file slot.
    if let Some(pattern) = &rules.pattern
        && let Some(text) = value.as_str()
        && !pattern.value.is_match(text)
    {
        return Err("that is not in the expected format".into());
    }
    if let Some(n) = value.as_f64() {
        if rules.min.is_some_and(|min| n < min) {
            return Err(format!("the value must be at least {}", plain(rules.min)));
        }
        if rules.max.is_some_and(|max| n > max) {
            return Err(format!("the value must be at most {}", plain(rules.max)));
        }
    }
    if rules.allowed_values.is_empty() {
        return Ok(value);
    }
    let text = tern_flow::template::render_value(&value).to_lowercase();
    match rules
        .allowed_values
        .iter()
        .find(|a| a.to_lowercase() == text)
    {
        Some(allowed) if value.is_string() => Ok(Value::String(allowed.clone())),
        Some(_) => Ok(value),
        None => Err(format!(
            "please choose one of: {}",
            rules.allowed_values.join(", ")
        )),
    }
}

fn plain(n: Option<f64>) -> String {
    tern_flow::template::render_value(&n.map(number_value).unwrap_or(Value::Null))
}

#[cfg(test)]
mod tests;
