//! Message texts: Dialogflow parameter references become Tern template
//! references (`slots.NAME`), and SSML markup is removed.

use super::names::slot_name;

/// A message text converted to a Tern template.
#[derive(Debug, Default, PartialEq)]
pub struct Converted {
    pub text: String,
    /// Slots the text references.
    pub slots: Vec<String>,
    /// References Tern cannot express, as written in the source, such as
    /// `$sys.func.ADD(...)` or `$request.generative.summary`.
    pub unmapped: Vec<String>,
    /// Approximations made, one sentence each.
    pub notes: Vec<String>,
}

impl Converted {
    pub fn uses_generator(&self) -> bool {
        self.unmapped
            .iter()
            .any(|r| r.starts_with("$request.generative."))
    }
}

/// Converts a Dialogflow CX text. `$session.params.X`, `$page.params.X`,
/// `$flow.X` and `$intent.params.X` become `slots.x`.
pub fn cx_text(source: &str) -> Converted {
    let (source, ssml) = strip_ssml(source);
    let mut converted = convert(&protect_literal_slots(&source), Dialect::Cx);
    if ssml {
        converted.notes.push("SSML markup was removed".into());
    }
    converted
}

/// Converts a Dialogflow ES text. `$name` and `#context.name` become
/// `slots.name`.
pub fn es_text(source: &str) -> Converted {
    let (source, ssml) = strip_ssml(source);
    let mut converted = convert(&protect_literal_slots(&source), Dialect::Es);
    if ssml {
        converted.notes.push("SSML markup was removed".into());
    }
    converted
}

/// Plain text copied into a Tern template field (a flow description, a
/// training phrase) with no references of its own.
pub fn plain(source: &str) -> String {
    protect_literal_slots(source.trim())
}

/// Shortens a text for the report to at most 60 characters.
pub fn short(text: &str) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= 60 {
        text
    } else {
        text.chars().take(57).collect::<String>() + "..."
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Dialect {
    Cx,
    Es,
}

fn convert(source: &str, dialect: Dialect) -> Converted {
    let mut out = Converted::default();
    let chars: Vec<char> = source.chars().collect();
    let mut text = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let starts_reference = match dialect {
            Dialect::Cx => c == '$' && chars.get(i + 1).is_some_and(|n| n.is_ascii_alphabetic()),
            Dialect::Es => {
                (c == '$' || c == '#')
                    && chars
                        .get(i + 1)
                        .is_some_and(|n| n.is_ascii_alphabetic() || *n == '_')
            }
        };
        if !starts_reference {
            text.push(c);
            i += 1;
            continue;
        }
        let end = reference_end(&chars, i + 1, dialect == Dialect::Cx || c == '#');
        let reference: String = chars[i..end].iter().collect();
        i = end;
        match resolve(&reference, dialect) {
            Resolved::Slot { name, note } => {
                if text.ends_with(|p: char| p.is_ascii_alphanumeric() || p == '_' || p == '.') {
                    text.push(' ');
                }
                text.push_str("slots.");
                text.push_str(&name);
                if !out.slots.contains(&name) {
                    out.slots.push(name);
                }
                if let Some(note) = note {
                    out.notes.push(note);
                }
            }
            Resolved::Unmapped => {
                text.push_str(&reference);
                out.unmapped.push(reference);
            }
        }
    }
    out.text = text.trim().to_string();
    out
}

/// Finds the end of a reference: identifier characters, `-`, dots between
/// names, and for `$sys.func.` calls the balanced argument list.
fn reference_end(chars: &[char], mut i: usize, allow_dash: bool) -> usize {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || (c == '-' && allow_dash);
    loop {
        while i < chars.len() && word(chars[i]) {
            i += 1;
        }
        let continues = chars.get(i) == Some(&'.')
            && chars
                .get(i + 1)
                .is_some_and(|c| c.is_ascii_alphabetic() || *c == '_');
        if !continues {
            break;
        }
        i += 1;
    }
    while i > 0 && chars[i - 1] == '-' {
        i -= 1;
    }
    if chars.get(i) == Some(&'(') {
        let mut depth = 0;
        while i < chars.len() {
            match chars[i] {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        return i + 1;
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }
    i
}

enum Resolved {
    Slot { name: String, note: Option<String> },
    Unmapped,
}

fn resolve(reference: &str, dialect: Dialect) -> Resolved {
    let path: Vec<&str> = match dialect {
        Dialect::Cx => {
            let Some(rest) = [
                "$session.params.",
                "$page.params.",
                "$flow.",
                "$intent.params.",
            ]
            .iter()
            .find_map(|prefix| reference.strip_prefix(prefix)) else {
                return Resolved::Unmapped;
            };
            if reference.contains('(') {
                return Resolved::Unmapped;
            }
            rest.split('.').collect()
        }
        Dialect::Es => {
            let rest = &reference[1..];
            let mut parts: Vec<&str> = rest.split('.').collect();
            if reference.starts_with('#') {
                if parts.len() < 2 {
                    return Resolved::Unmapped;
                }
                parts.remove(0);
            }
            parts
        }
    };
    let Some((name, fields)) = path.split_first() else {
        return Resolved::Unmapped;
    };
    let note = match fields {
        [] => None,
        ["resolved"] => None,
        ["original"] => Some(format!(
            "`{reference}` (the words the user said) shows the stored value instead"
        )),
        _ => Some(format!(
            "`{reference}` reads a field of a structured value; Tern shows the whole value of `{}`",
            slot_name(name)
        )),
    };
    Resolved::Slot {
        name: slot_name(name),
        note,
    }
}

/// Removes SSML tags (`<speak>`, `<break/>`, `<say-as>`); returns whether
/// there were any.
pub fn strip_ssml(text: &str) -> (String, bool) {
    let lower = text.to_ascii_lowercase();
    let looks_like_ssml = [
        "<speak",
        "<break",
        "<say-as",
        "<prosody",
        "<emphasis",
        "<sub ",
        "<audio",
        "<p>",
        "<s>",
    ]
    .iter()
    .any(|tag| lower.contains(tag));
    if !looks_like_ssml {
        return (text.to_string(), false);
    }
    let mut out = String::new();
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    (out.split_whitespace().collect::<Vec<_>>().join(" "), true)
}

/// Keeps a literal `slots.` in source text from being read as a Tern
/// reference by writing its dot as U+2024 (ONE DOT LEADER), which looks the
/// same. Tern templates have no escape syntax.
fn protect_literal_slots(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(index) = rest.find("slots.") {
        let (head, tail) = rest.split_at(index);
        out.push_str(head);
        let before = out.chars().last();
        let after = tail["slots.".len()..].chars().next();
        let glued = before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        let ends_sentence = after.is_none_or(char::is_whitespace);
        if glued || ends_sentence {
            out.push_str("slots.");
        } else {
            out.push_str("slots\u{2024}");
        }
        rest = &tail["slots.".len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cx_references_become_slots() {
        let converted = cx_text("We will call you on $session.params.caller_id today");
        assert_eq!(converted.text, "We will call you on slots.caller_id today");
        assert_eq!(converted.slots, ["caller_id"]);
        let converted = cx_text("Phone: $session.params.data-collection-phone-number.");
        assert_eq!(converted.text, "Phone: slots.data_collection_phone_number.");
        assert_eq!(cx_text("$flow.failure_msg").text, "slots.failure_msg");
    }

    #[test]
    fn cx_functions_and_generators_stay_unmapped() {
        let converted = cx_text("$request.generative.report-summary");
        assert!(converted.uses_generator());
        let converted = cx_text("Total: $sys.func.ADD($flow.a, 1)");
        assert_eq!(converted.unmapped, ["$sys.func.ADD($flow.a, 1)"]);
    }

    #[test]
    fn ssml_is_removed() {
        let converted = cx_text("<speak>I got $flow.formatted_address. Is that right?</speak>");
        assert_eq!(
            converted.text,
            "I got slots.formatted_address. Is that right?"
        );
        assert_eq!(converted.notes.len(), 1);
    }

    #[test]
    fn es_references_and_contexts() {
        let converted =
            es_text("A $AppointmentType on #MakeAppointment-followup.date at $time.original.");
        assert_eq!(
            converted.text,
            "A slots.appointment_type on slots.date at slots.time."
        );
        assert_eq!(converted.slots, ["appointment_type", "date", "time"]);
        assert_eq!(converted.notes.len(), 1);
        assert_eq!(es_text("It costs $5").text, "It costs $5");
    }

    #[test]
    fn literal_slots_word_is_protected() {
        assert_eq!(
            plain("no free slots.Call us"),
            "no free slots\u{2024}Call us"
        );
        assert_eq!(plain("no free slots."), "no free slots.");
    }
}
