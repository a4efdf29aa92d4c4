//! Dialogflow CX route conditions translated to Tern's condition language.
//!
//! Supported: `$session.params.X`, `$flow.X`, `$page.params.X` and
//! `$intent.params.X` references, `$page.params.status = "FINAL"` (true
//! once the page's form is complete, which is when the imported routes run),
//! `=`, `!=`, `<`, `<=`, `>`, `>=`, `AND`, `OR`, `NOT`, parentheses, quoted
//! strings with backslash escapes, numbers, `true`, `false`, `null` and bare
//! words, which CX reads as strings. System functions (`$sys.func.*`), the
//! `:` operator and other references have no Tern equivalent.

use crate::dialogflow::names::slot_name;

/// Translates a CX condition; the error says what has no Tern equivalent.
pub fn translate(source: &str) -> Result<String, String> {
    let tokens = tokenize(source)?;
    let mut parser = Parser {
        tokens,
        position: 0,
    };
    let expr = parser.or()?;
    if parser.position < parser.tokens.len() {
        return Err(format!(
            "unexpected `{}`",
            parser.tokens[parser.position].text()
        ));
    }
    Ok(print(&fold(expr), 0))
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Reference(String),
    Str(String),
    Number(String),
    Operator(&'static str),
    Open,
    Close,
}

impl Token {
    fn text(&self) -> String {
        match self {
            Token::Word(word) | Token::Reference(word) | Token::Number(word) => word.clone(),
            Token::Str(text) => format!("\"{text}\""),
            Token::Operator(op) => op.to_string(),
            Token::Open => "(".into(),
            Token::Close => ")".into(),
        }
    }
}

fn tokenize(source: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            _ if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            '"' | '\'' => {
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("a string is not closed".into()),
                        Some('\\') => {
                            if let Some(escaped) = chars.get(i + 1) {
                                text.push(*escaped);
                            }
                            i += 2;
                        }
                        Some(q) if *q == c => {
                            i += 1;
                            break;
                        }
                        Some(other) => {
                            text.push(*other);
                            i += 1;
                        }
                    }
                }
                tokens.push(Token::Str(text));
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                tokens.push(Token::Operator("!="));
                i += 2;
            }
            '<' | '>' => {
                let with_equals = chars.get(i + 1) == Some(&'=');
                let op = match (c, with_equals) {
                    ('<', true) => "<=",
                    ('<', false) => "<",
                    ('>', true) => ">=",
                    _ => ">",
                };
                tokens.push(Token::Operator(op));
                i += if with_equals { 2 } else { 1 };
            }
            '=' => {
                tokens.push(Token::Operator("="));
                i += if chars.get(i + 1) == Some(&'=') { 2 } else { 1 };
            }
            ':' => {
                tokens.push(Token::Operator(":"));
                i += 1;
            }
            '$' => {
                let start = i;
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | '-' | '.'))
                {
                    i += 1;
                }
                if chars.get(i) == Some(&'(') {
                    let mut depth = 0;
                    while i < chars.len() {
                        match chars[i] {
                            '(' => depth += 1,
                            ')' => {
                                depth -= 1;
                                if depth == 0 {
                                    i += 1;
                                    break;
                                }
                            }
                            _ => {}
                        }
                        i += 1;
                    }
                }
                tokens.push(Token::Reference(chars[start..i].iter().collect()));
            }
            _ if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                tokens.push(Token::Number(chars[start..i].iter().collect()));
            }
            _ if c.is_alphanumeric() || c == '_' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '-' | '.'))
                {
                    i += 1;
                }
                tokens.push(Token::Word(chars[start..i].iter().collect()));
            }
            other => return Err(format!("unexpected character `{other}`")),
        }
    }
    Ok(tokens)
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Bool(bool),
    Null,
    Number(String),
    Str(String),
    Slot(String),
    /// `$page.params.status`, compared only with `"FINAL"`.
    FormStatus,
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Compare(&'static str, Box<Expr>, Box<Expr>),
}

struct Parser {
    tokens: Vec<Token>,
    position: usize,
}

impl Parser {
    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.tokens.get(self.position), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword))
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut items = vec![self.and()?];
        while self.peek_keyword("OR") {
            self.position += 1;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut items = vec![self.not()?];
        while self.peek_keyword("AND") {
            self.position += 1;
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn not(&mut self) -> Result<Expr, String> {
        if self.peek_keyword("NOT") {
            self.position += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, String> {
        let left = self.operand()?;
        let Some(Token::Operator(op)) = self.tokens.get(self.position).cloned() else {
            return Ok(left);
        };
        self.position += 1;
        let right = self.operand()?;
        if op == ":" {
            return Err("the `:` operator has no Tern equivalent".into());
        }
        let op = if op == "=" { "==" } else { op };
        let status = |e: &Expr| matches!(e, Expr::FormStatus);
        if status(&left) || status(&right) {
            let other = if status(&left) { &right } else { &left };
            let Expr::Str(value) = other else {
                return Err(
                    "`$page.params.status` compared with something other than a string".into(),
                );
            };
            let final_status = value.eq_ignore_ascii_case("FINAL");
            return match op {
                "==" => Ok(Expr::Bool(final_status)),
                "!=" => Ok(Expr::Bool(!final_status)),
                _ => Err(format!("`$page.params.status` with `{op}`")),
            };
        }
        Ok(Expr::Compare(op, Box::new(left), Box::new(right)))
    }

    fn operand(&mut self) -> Result<Expr, String> {
        let token = self
            .tokens
            .get(self.position)
            .cloned()
            .ok_or("the condition ends too early")?;
        self.position += 1;
        match token {
            Token::Open => {
                let inner = self.or()?;
                if self.tokens.get(self.position) != Some(&Token::Close) {
                    return Err("a `(` is not closed".into());
                }
                self.position += 1;
                Ok(inner)
            }
            Token::Str(text) => Ok(Expr::Str(text)),
            Token::Number(number) => {
                let valid = number
                    .trim_start_matches('-')
                    .split('.')
                    .all(|part| !part.is_empty())
                    && number.matches('.').count() <= 1;
                if valid {
                    Ok(Expr::Number(number))
                } else {
                    Err(format!("`{number}` is not a number Tern can read"))
                }
            }
            Token::Word(word) => Ok(match word.to_ascii_lowercase().as_str() {
                "true" => Expr::Bool(true),
                "false" => Expr::Bool(false),
                "null" => Expr::Null,
                _ => Expr::Str(word),
            }),
            Token::Reference(reference) => reference_expr(&reference),
            Token::Operator(op) => Err(format!("unexpected `{op}`")),
            Token::Close => Err("unexpected `)`".into()),
        }
    }
}

fn reference_expr(reference: &str) -> Result<Expr, String> {
    if reference.eq_ignore_ascii_case("$page.params.status") {
        return Ok(Expr::FormStatus);
    }
    if reference.contains('(') {
        return Err(format!(
            "`{reference}` calls a system function, which Tern conditions do not have"
        ));
    }
    let rest = [
        "$session.params.",
        "$page.params.",
        "$flow.",
        "$intent.params.",
    ]
    .iter()
    .find_map(|prefix| reference.strip_prefix(prefix))
    .ok_or_else(|| format!("`{reference}` has no Tern equivalent"))?;
    let mut parts = rest.split('.');
    let name = parts.next().unwrap_or_default();
    let fields: Vec<&str> = parts.collect();
    match fields.as_slice() {
        [] | ["resolved"] | ["original"] => Ok(Expr::Slot(slot_name(name))),
        ["status"] => Err(format!(
            "`{reference}` is the fill status of one form parameter, which Tern does not track"
        )),
        _ => Err(format!(
            "`{reference}` reads a field inside a parameter, which Tern conditions cannot do"
        )),
    }
}

fn fold(expr: Expr) -> Expr {
    match expr {
        Expr::Not(inner) => match fold(*inner) {
            Expr::Bool(value) => Expr::Bool(!value),
            other => Expr::Not(Box::new(other)),
        },
        Expr::And(items) => {
            let mut kept = Vec::new();
            for item in items.into_iter().map(fold) {
                match item {
                    Expr::Bool(true) => {}
                    Expr::Bool(false) => return Expr::Bool(false),
                    other => kept.push(other),
                }
            }
            match kept.len() {
                0 => Expr::Bool(true),
                1 => kept.remove(0),
                _ => Expr::And(kept),
            }
        }
        Expr::Or(items) => {
            let mut kept = Vec::new();
            for item in items.into_iter().map(fold) {
                match item {
                    Expr::Bool(false) => {}
                    Expr::Bool(true) => return Expr::Bool(true),
                    other => kept.push(other),
                }
            }
            match kept.len() {
                0 => Expr::Bool(false),
                1 => kept.remove(0),
                _ => Expr::Or(kept),
            }
        }
        other => other,
    }
}

/// Binding strength in Tern, loosest first: `||`, `&&`, `!`, comparisons,
/// operands.
fn precedence(expr: &Expr) -> u8 {
    match expr {
        Expr::Or(_) => 1,
        Expr::And(_) => 2,
        Expr::Not(_) => 3,
        Expr::Compare(..) => 4,
        _ => 5,
    }
}

fn print(expr: &Expr, minimum: u8) -> String {
    let text = match expr {
        Expr::Bool(value) => value.to_string(),
        Expr::Null => "null".into(),
        Expr::Number(number) => number.clone(),
        Expr::Str(text) => {
            let escaped = text
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
                .replace('\t', "\\t");
            format!("\"{escaped}\"")
        }
        Expr::Slot(name) => format!("slots.{name}"),
        Expr::FormStatus => "true".into(),
        Expr::Not(inner) => format!("!{}", print(inner, 3)),
        Expr::And(items) => items
            .iter()
            .map(|i| print(i, 3))
            .collect::<Vec<_>>()
            .join(" && "),
        Expr::Or(items) => items
            .iter()
            .map(|i| print(i, 2))
            .collect::<Vec<_>>()
            .join(" || "),
        Expr::Compare(op, left, right) => format!("{} {op} {}", print(left, 5), print(right, 5)),
    };
    if precedence(expr) < minimum {
        format!("({text})")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translation_table() {
        for (cx, tern) in [
            ("true", "true"),
            ("$page.params.status = \"FINAL\"", "true"),
            ("$page.params.status != \"FINAL\"", "false"),
            (
                "$session.params.formatted_address = \"\"",
                "slots.formatted_address == \"\"",
            ),
            (
                "$page.params.status = \"FINAL\" AND $session.params.formatted_address != \"Hosier Ln\\, Melbourne VIC\\, Australia\"",
                "slots.formatted_address != \"Hosier Ln, Melbourne VIC, Australia\"",
            ),
            (
                "$flow.waiting_room_counter < 2",
                "slots.waiting_room_counter < 2",
            ),
            (
                "$session.params.more-time-count <= 0",
                "slots.more_time_count <= 0",
            ),
            ("$flow.regionCode = null", "slots.region_code == null"),
            (
                "$session.params.data-collection-mandatory = true",
                "slots.data_collection_mandatory == true",
            ),
            (
                "$session.params.outcome = \"error\" OR $session.params.outcome = \"cancel\"",
                "slots.outcome == \"error\" || slots.outcome == \"cancel\"",
            ),
            (
                "NOT $flow.a = 1 AND ($flow.b > 2 OR $flow.c)",
                "!slots.a == 1 && (slots.b > 2 || slots.c)",
            ),
            ("NOT ($flow.a OR $flow.b)", "!(slots.a || slots.b)"),
            (
                "$flow.webhook_retry_num < $flow.retry_num",
                "slots.webhook_retry_num < slots.retry_num",
            ),
            ("$session.params.color = red", "slots.color == \"red\""),
            (
                "$intent.params.size.resolved = \"large\"",
                "slots.size == \"large\"",
            ),
            ("$flow.x = 'single'", "slots.x == \"single\""),
        ] {
            assert_eq!(translate(cx).as_deref(), Ok(tern), "{cx}");
        }
    }

    #[test]
    fn untranslatable_conditions() {
        for cx in [
            "$sys.func.COUNT($flow.unconfimed_elems) = 0",
            "$session.params.name : \"Jo\"",
            "$page.params.phone.status = \"VALID\"",
            "$request.user-utterance = \"hi\"",
            "$flow.a = \"open",
            "($flow.a = 1",
        ] {
            assert!(translate(cx).is_err(), "{cx}");
        }
    }
}
