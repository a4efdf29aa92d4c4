//! Message texts: Rasa's `{slot}` placeholders turned into Tern's bare
//! `slots.NAME` template references.

use std::collections::HashSet;

/// A message as literal text and slot references.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Text {
    pub pieces: Vec<Piece>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Piece {
    Literal(String),
    Slot(String),
}

/// Changes that [`Text::parse`] made beyond the placeholder syntax.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct TextNotes {
    /// `{name}` placeholders that name no slot; they stay as written.
    pub unknown_placeholders: Vec<String>,
    /// Whether the text uses Jinja (`{{ … }}` or `{% … %}`), which Tern's
    /// templates cannot express; it stays as written.
    pub jinja: bool,
}

impl Text {
    pub fn literal(text: impl Into<String>) -> Text {
        Text {
            pieces: vec![Piece::Literal(text.into())],
        }
    }

    /// Parses a Rasa response text. `slot_name` maps a placeholder name to
    /// the Tern slot name, or `None` when the name is not a slot.
    pub fn parse(source: &str, slot_name: &dyn Fn(&str) -> Option<String>) -> (Text, TextNotes) {
        let mut notes = TextNotes {
            jinja: source.contains("{{") || source.contains("{%"),
            ..TextNotes::default()
        };
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = source;
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let close = after.find('}');
            let name = close.map(|c| &after[..c]);
            match name {
                Some(name) if is_placeholder_name(name) && !rest[open..].starts_with("{{") => {
                    literal.push_str(&rest[..open]);
                    match slot_name(name) {
                        Some(slot) => {
                            if !literal.is_empty() {
                                pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                            }
                            pieces.push(Piece::Slot(slot));
                        }
                        None => {
                            notes.unknown_placeholders.push(name.to_string());
                            literal.push_str(&rest[open..open + name.len() + 2]);
                        }
                    }
                    rest = &after[name.len() + 1..];
                }
                _ => {
                    literal.push_str(&rest[..=open]);
                    rest = after;
                }
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        (Text { pieces }, notes)
    }

    pub fn slots(&self) -> Vec<&str> {
        self.pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Slot(name) => Some(name.as_str()),
                Piece::Literal(_) => None,
            })
            .collect()
    }

    pub fn is_blank(&self) -> bool {
        self.pieces
            .iter()
            .all(|p| matches!(p, Piece::Literal(text) if text.trim().is_empty()))
    }

    /// Returns the text without references to the slots in `dropped`.
    /// Brackets that only contained a dropped reference and doubled spaces
    /// are removed too.
    pub fn without(&self, dropped: &HashSet<String>) -> Text {
        let mut pieces: Vec<Piece> = Vec::new();
        let mut removed_after_open = false;
        for piece in &self.pieces {
            match piece {
                Piece::Slot(name) if dropped.contains(name) => {
                    if let Some(Piece::Literal(previous)) = pieces.last_mut()
                        && (previous.ends_with('(') || previous.ends_with('['))
                    {
                        previous.pop();
                        removed_after_open = true;
                    }
                }
                Piece::Literal(text) => {
                    let mut text = text.clone();
                    if removed_after_open && (text.starts_with(')') || text.starts_with(']')) {
                        text.remove(0);
                    }
                    removed_after_open = false;
                    match pieces.last_mut() {
                        Some(Piece::Literal(previous)) => previous.push_str(&text),
                        _ => pieces.push(Piece::Literal(text)),
                    }
                }
                Piece::Slot(name) => {
                    removed_after_open = false;
                    pieces.push(Piece::Slot(name.clone()));
                }
            }
        }
        for piece in &mut pieces {
            if let Piece::Literal(text) = piece {
                *text = tidy_spaces(text);
            }
        }
        pieces.retain(|p| !matches!(p, Piece::Literal(text) if text.is_empty()));
        Text { pieces }
    }

    /// Renders the text as a Tern template. A space is put between a
    /// reference and an adjacent letter, digit, `_` or `.`, because the
    /// template language has no delimiters: `{amount}USD` would otherwise
    /// read as the slot `amountUSD`. Returns the template and whether such a
    /// space was added.
    pub fn to_template(&self) -> (String, bool) {
        let mut out = String::new();
        let mut spaced = false;
        for (index, piece) in self.pieces.iter().enumerate() {
            match piece {
                Piece::Literal(text) => {
                    let glued = index > 0
                        && matches!(self.pieces[index - 1], Piece::Slot(_))
                        && text
                            .chars()
                            .next()
                            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
                    if glued {
                        out.push(' ');
                        spaced = true;
                    }
                    out.push_str(text);
                }
                Piece::Slot(name) => {
                    let glued = out
                        .chars()
                        .last()
                        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
                        || matches!(
                            index.checked_sub(1).map(|i| &self.pieces[i]),
                            Some(Piece::Slot(_))
                        );
                    if glued {
                        out.push(' ');
                        spaced = true;
                    }
                    out.push_str("slots.");
                    out.push_str(name);
                }
            }
        }
        (out, spaced)
    }

    /// Builds a regular expression that matches the rendered message
    /// whatever the slot values are.
    pub fn to_regex(&self) -> String {
        let (template, _) = self.to_template();
        let reference = regex::Regex::new(r"slots\.[A-Za-z_][A-Za-z0-9_]*").expect("valid regex");
        let mut pattern = String::from("(?s)^");
        let mut last = 0;
        for found in reference.find_iter(&template) {
            pattern.push_str(&regex::escape(&template[last..found.start()]));
            pattern.push_str(".*?");
            last = found.end();
        }
        pattern.push_str(&regex::escape(&template[last..]));
        pattern.push('$');
        pattern
    }
}

fn is_placeholder_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn tidy_spaces(text: &str) -> String {
    let mut out = text.to_string();
    while out.contains("  ") {
        out = out.replace("  ", " ");
    }
    for punctuation in [" .", " ,", " !", " ?"] {
        out = out.replace(punctuation, &punctuation[1..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(name: &str) -> Option<String> {
        ["amount", "recipient", "handle", "name"]
            .contains(&name)
            .then(|| name.to_string())
    }

    #[test]
    fn placeholders_become_references() {
        let (text, notes) =
            Text::parse("All done. ${amount} has been sent to {recipient}.", &known);
        assert_eq!(
            text.to_template().0,
            "All done. $slots.amount has been sent to slots.recipient."
        );
        assert_eq!(notes, TextNotes::default());
    }

    #[test]
    fn glued_placeholders_get_a_space() {
        let (text, _) = Text::parse("{amount}USD x{name}", &known);
        assert_eq!(
            text.to_template(),
            ("slots.amount USD x slots.name".to_string(), true)
        );
        let (text, _) = Text::parse("{name}({handle})", &known);
        assert_eq!(
            text.to_template(),
            ("slots.name(slots.handle)".to_string(), false)
        );
    }

    #[test]
    fn unknown_placeholders_and_jinja_stay() {
        let (text, notes) = Text::parse("Hi {user} {{ context.x }}", &known);
        assert_eq!(text.to_template().0, "Hi {user} {{ context.x }}");
        assert_eq!(notes.unknown_placeholders, vec!["user".to_string()]);
        assert!(notes.jinja);
    }

    #[test]
    fn dropped_reference_takes_its_brackets() {
        let (text, _) = Text::parse("Removed {handle}({name}) from your contacts.", &known);
        let dropped = HashSet::from(["name".to_string()]);
        assert_eq!(
            text.without(&dropped).to_template().0,
            "Removed slots.handle from your contacts."
        );
        let (text, _) = Text::parse("Thanks {name}, bye", &known);
        assert_eq!(text.without(&dropped).to_template().0, "Thanks, bye");
    }

    #[test]
    fn regex_matches_any_value() {
        let (text, _) = Text::parse("Send ${amount} to {recipient}?", &known);
        let pattern = regex::Regex::new(&text.to_regex()).unwrap();
        assert!(pattern.is_match("Send $400 to James?"));
        assert!(!pattern.is_match("Send 400 to James?"));
    }
}
