//! Rasa flow conditions (`if:` of branches, flow guards and collect
//! rejections) translated into Tern's condition language.
//!
//! Rasa writes conditions in the `pypred` predicate syntax: `slots.x` or a
//! bare slot name, `and`/`or`/`not`, `is`/`is not`, `=`/`==`/`!=`, `<`,
//! `<=`, `>`, `>=`, quoted strings, numbers, `true`/`false` in any letter
//! case and `null`/`None`. Tern writes `slots.x`, `&&`, `||`, `!` and `==`.

/// A parsed condition.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Ast {
    Or(Box<Ast>, Box<Ast>),
    And(Box<Ast>, Box<Ast>),
    Not(Box<Ast>),
    Compare(Box<Ast>, Op, Box<Ast>),
    Slot(String),
    Literal(Literal),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `contains`: membership in a list or a substring of a text.
    Contains,
    /// `matches`: a regular expression match.
    Matches,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Literal {
    String(String),
    /// The number as written, which is also valid in Tern.
    Number(String),
    Bool(bool),
    Null,
    /// pypred's `empty`: an empty text, list or map.
    Empty,
}

/// A condition in Tern's syntax, with what changed in meaning.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Translated {
    pub text: String,
    pub approximations: Vec<String>,
}

/// Translates a Rasa condition. `slot_name` maps a Rasa slot name to the
/// Tern slot name (they differ only when the Rasa name is not a valid Tern
/// identifier). The error gives the reason why the condition cannot be
/// expressed.
pub(crate) fn translate(
    source: &str,
    slot_name: &dyn Fn(&str) -> String,
) -> Result<Translated, String> {
    let ast = parse(source, slot_name)?;
    let mut translated = Translated::default();
    translated.text = print(&ast, 0, &mut translated.approximations)?;
    translated.approximations.dedup();
    Ok(translated)
}

/// Translates a YAML value written as a condition: text is parsed,
/// booleans become `true`/`false`.
pub(crate) fn translate_value(
    value: &crate::rasa::yaml_in::Node,
    slot_name: &dyn Fn(&str) -> String,
) -> Result<Translated, String> {
    if let Some(flag) = value.as_bool() {
        return Ok(Translated {
            text: flag.to_string(),
            approximations: Vec::new(),
        });
    }
    match value.scalar_text() {
        Some(text) => translate(&text, slot_name),
        None => Err(format!("a condition must be text, not {}", value.kind())),
    }
}

pub(crate) fn parse(source: &str, slot_name: &dyn Fn(&str) -> String) -> Result<Ast, String> {
    let tokens = tokenize(source)?;
    if tokens.is_empty() {
        return Err("the condition is empty".into());
    }
    let mut parser = Parser {
        tokens,
        position: 0,
        slot_name,
    };
    let ast = parser.or()?;
    match parser.peek() {
        None => Ok(ast),
        Some(token) => Err(format!(
            "unexpected {} after the end of the condition",
            token.describe()
        )),
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    String(String),
    Number(String),
    Symbol(&'static str),
    Open,
    Close,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Word(word) => format!("`{word}`"),
            Token::String(text) => format!("the string {text:?}"),
            Token::Number(number) => format!("the number {number}"),
            Token::Symbol(symbol) => format!("`{symbol}`"),
            Token::Open => "`(`".into(),
            Token::Close => "`)`".into(),
        }
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self, Token::Word(w) if w.eq_ignore_ascii_case(word))
    }
}

fn tokenize(source: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            tokens.push(Token::Open);
            i += 1;
        } else if c == ')' {
            tokens.push(Token::Close);
            i += 1;
        } else if c == '"' || c == '\'' {
            let (text, end) = read_string(&chars, i)?;
            tokens.push(Token::String(text));
            i = end;
        } else if c.is_ascii_digit() || (c == '-' && next.is_some_and(|n| n.is_ascii_digit())) {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            tokens.push(Token::Number(chars[start..i].iter().collect()));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric()
                    || chars[i] == '_'
                    || chars[i] == '.'
                    || chars[i] == '-')
            {
                i += 1;
            }
            tokens.push(Token::Word(chars[start..i].iter().collect()));
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let symbol = match two.as_str() {
                "==" => Some("=="),
                "!=" => Some("!="),
                "<=" => Some("<="),
                ">=" => Some(">="),
                "&&" => Some("&&"),
                "||" => Some("||"),
                _ => None,
            };
            if let Some(symbol) = symbol {
                tokens.push(Token::Symbol(symbol));
                i += 2;
                continue;
            }
            let symbol = match c {
                '=' => "=",
                '<' => "<",
                '>' => ">",
                '!' => "!",
                other => return Err(format!("unexpected character `{other}`")),
            };
            tokens.push(Token::Symbol(symbol));
            i += 1;
        }
    }
    Ok(tokens)
}

fn read_string(chars: &[char], start: usize) -> Result<(String, usize), String> {
    let quote = chars[start];
    let mut text = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                text.push(match chars[i + 1] {
                    'n' => '\n',
                    't' => '\t',
                    other => other,
                });
                i += 2;
            }
            c if c == quote => return Ok((text, i + 1)),
            c => {
                text.push(c);
                i += 1;
            }
        }
    }
    Err("a string is not closed".into())
}

struct Parser<'a> {
    tokens: Vec<Token>,
    position: usize,
    slot_name: &'a dyn Fn(&str) -> String,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position)
    }

    fn advance(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.position).cloned();
        self.position += 1;
        token
    }

    fn or(&mut self) -> Result<Ast, String> {
        let mut left = self.and()?;
        while self
            .peek()
            .is_some_and(|t| t.is_word("or") || *t == Token::Symbol("||"))
        {
            self.advance();
            let right = self.and()?;
            left = Ast::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Ast, String> {
        let mut left = self.not()?;
        while self
            .peek()
            .is_some_and(|t| t.is_word("and") || *t == Token::Symbol("&&"))
        {
            self.advance();
            let right = self.not()?;
            left = Ast::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Ast, String> {
        if self
            .peek()
            .is_some_and(|t| t.is_word("not") || *t == Token::Symbol("!"))
        {
            self.advance();
            return Ok(Ast::Not(Box::new(self.not()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Ast, String> {
        let left = self.operand()?;
        let op = match self.peek() {
            Some(Token::Symbol("==" | "=")) => Op::Eq,
            Some(Token::Symbol("!=")) => Op::Ne,
            Some(Token::Symbol("<")) => Op::Lt,
            Some(Token::Symbol("<=")) => Op::Le,
            Some(Token::Symbol(">")) => Op::Gt,
            Some(Token::Symbol(">=")) => Op::Ge,
            Some(token) if token.is_word("is") => {
                self.advance();
                if self.peek().is_some_and(|t| t.is_word("not")) {
                    self.advance();
                    let right = self.operand()?;
                    return Ok(Ast::Compare(Box::new(left), Op::Ne, Box::new(right)));
                }
                let right = self.operand()?;
                return Ok(Ast::Compare(Box::new(left), Op::Eq, Box::new(right)));
            }
            Some(token) if token.is_word("contains") => Op::Contains,
            Some(token) if token.is_word("matches") => Op::Matches,
            _ => return Ok(left),
        };
        self.advance();
        let right = self.operand()?;
        Ok(Ast::Compare(Box::new(left), op, Box::new(right)))
    }

    fn operand(&mut self) -> Result<Ast, String> {
        match self.advance() {
            Some(Token::Open) => {
                let inner = self.or()?;
                match self.advance() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err("a `(` is not closed".into()),
                }
            }
            Some(Token::String(text)) => Ok(Ast::Literal(Literal::String(text))),
            Some(Token::Number(number)) => Ok(Ast::Literal(Literal::Number(number))),
            Some(Token::Word(word)) => self.word(&word),
            Some(token) => Err(format!("expected a value, found {}", token.describe())),
            None => Err("the condition ends where a value is expected".into()),
        }
    }

    fn word(&self, word: &str) -> Result<Ast, String> {
        let lower = word.to_ascii_lowercase();
        match lower.as_str() {
            "true" => return Ok(Ast::Literal(Literal::Bool(true))),
            "false" => return Ok(Ast::Literal(Literal::Bool(false))),
            "null" | "none" | "undefined" => return Ok(Ast::Literal(Literal::Null)),
            "empty" => return Ok(Ast::Literal(Literal::Empty)),
            "and" | "or" | "not" | "is" | "contains" | "matches" | "in" => {
                return Err(format!("expected a value, found `{word}`"));
            }
            _ => {}
        }
        if let Some(name) = word.strip_prefix("slots.") {
            if name.is_empty() || name.contains('.') {
                return Err(format!("`{word}` is not a slot reference"));
            }
            return Ok(Ast::Slot((self.slot_name)(name)));
        }
        if let Some((namespace, _)) = word.split_once('.') {
            return Err(format!(
                "`{word}` refers to Rasa's `{namespace}` namespace, which Tern conditions cannot read; only slots are available"
            ));
        }
        Ok(Ast::Slot((self.slot_name)(word)))
    }
}

fn precedence(ast: &Ast) -> u8 {
    match ast {
        Ast::Or(..) => 1,
        Ast::And(..) => 2,
        Ast::Not(..) => 3,
        Ast::Compare(..) => 4,
        Ast::Slot(_) | Ast::Literal(_) => 5,
    }
}

fn print(ast: &Ast, minimum: u8, notes: &mut Vec<String>) -> Result<String, String> {
    let text = match ast {
        Ast::Or(left, right) => {
            format!("{} || {}", print(left, 1, notes)?, print(right, 2, notes)?)
        }
        Ast::And(left, right) => {
            format!("{} && {}", print(left, 2, notes)?, print(right, 3, notes)?)
        }
        Ast::Not(inner) => {
            // `!` binds looser than a comparison in Tern, so `!a == b` would
            // already mean `!(a == b)`; the brackets make that visible.
            let minimum = if matches!(**inner, Ast::Compare(..)) {
                5
            } else {
                3
            };
            format!("!{}", print(inner, minimum, notes)?)
        }
        Ast::Compare(left, op, right) => print_comparison(left, *op, right, notes)?,
        Ast::Slot(name) => format!("slots.{name}"),
        Ast::Literal(literal) => print_literal(literal)?,
    };
    if precedence(ast) < minimum {
        Ok(format!("({text})"))
    } else {
        Ok(text)
    }
}

fn print_comparison(
    left: &Ast,
    op: Op,
    right: &Ast,
    notes: &mut Vec<String>,
) -> Result<String, String> {
    if matches!(right, Ast::Literal(Literal::Empty)) || matches!(left, Ast::Literal(Literal::Empty))
    {
        let other = if matches!(right, Ast::Literal(Literal::Empty)) {
            left
        } else {
            right
        };
        notes.push(
            "`empty` became a truthiness test, so `0` and `false` also count as empty".into(),
        );
        let operand = print(other, 5, notes)?;
        return match op {
            Op::Eq => Ok(format!("!{operand}")),
            Op::Ne => Ok(format!("!!{operand}")),
            _ => Err("`empty` can only be compared with `is`, `is not`, `==` or `!=`".into()),
        };
    }
    let symbol = match op {
        Op::Eq => "==",
        Op::Ne => "!=",
        Op::Lt => "<",
        Op::Le => "<=",
        Op::Gt => ">",
        Op::Ge => ">=",
        Op::Contains => {
            notes.push(
                "`contains` became `==`, which Tern reads as list membership; a substring test on text has no equivalent"
                    .into(),
            );
            "=="
        }
        Op::Matches => {
            return Err("Tern conditions have no regular-expression match (`matches`)".into());
        }
    };
    Ok(format!(
        "{} {symbol} {}",
        print(left, 5, notes)?,
        print(right, 5, notes)?
    ))
}

fn print_literal(literal: &Literal) -> Result<String, String> {
    Ok(match literal {
        Literal::String(text) => {
            let escaped = text
                .replace('\\', "\\\\")
                .replace('\'', "\\'")
                .replace('\n', "\\n")
                .replace('\t', "\\t");
            format!("'{escaped}'")
        }
        Literal::Number(number) => number.clone(),
        Literal::Bool(flag) => flag.to_string(),
        Literal::Null => "null".into(),
        Literal::Empty => return Err("`empty` can only be compared with a value".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(name: &str) -> String {
        name.to_string()
    }

    fn tern(source: &str) -> String {
        match translate(source, &same) {
            Ok(translated) => translated.text,
            Err(error) => format!("error: {error}"),
        }
    }

    #[test]
    fn translation_table() {
        let cases = [
            ("slots.x", "slots.x"),
            ("x", "slots.x"),
            ("not has_sufficient_funds", "!slots.has_sufficient_funds"),
            (
                "slots.a and slots.b or slots.c",
                "slots.a && slots.b || slots.c",
            ),
            (
                "slots.a and (slots.b or slots.c)",
                "slots.a && (slots.b || slots.c)",
            ),
            ("slots.x is not true", "slots.x != true"),
            ("slots.x is 'a'", "slots.x == 'a'"),
            (
                "slots.replacement_reason = \"lost\"",
                "slots.replacement_reason == 'lost'",
            ),
            ("slots.n == 3", "slots.n == 3"),
            ("slots.n != -2.5", "slots.n != -2.5"),
            (
                "slots.n > 10 AND slots.n < 20",
                "slots.n > 10 && slots.n < 20",
            ),
            (
                "slots.n >= 1 && slots.n <= 2",
                "slots.n >= 1 && slots.n <= 2",
            ),
            ("slots.ok is True", "slots.ok == true"),
            ("slots.ok == FALSE", "slots.ok == false"),
            ("slots.x is null", "slots.x == null"),
            ("slots.x is not None", "slots.x != null"),
            ("not slots.x = 'a'", "!(slots.x == 'a')"),
            ("not (slots.a or slots.b)", "!(slots.a || slots.b)"),
            ("not not slots.a", "!!slots.a"),
            ("slots.name == \"it's\"", "slots.name == 'it\\'s'"),
            ("slots.list contains 'a'", "slots.list == 'a'"),
            ("slots.x is empty", "!slots.x"),
            ("slots.x is not empty", "!!slots.x"),
            ("true", "true"),
            ("False", "false"),
        ];
        for (rasa, expected) in cases {
            assert_eq!(tern(rasa), expected, "translating `{rasa}`");
        }
    }

    #[test]
    fn translations_parse_in_tern() {
        for rasa in [
            "not has_funds",
            "slots.a and (slots.b or not slots.c)",
            "slots.x = 'it\\'s'",
            "x is empty",
        ] {
            let text = translate(rasa, &same).unwrap().text;
            assert!(
                tern_flow::expr::Expr::parse(&text).is_ok(),
                "Tern rejects `{text}` from `{rasa}`"
            );
        }
    }

    #[test]
    fn untranslatable_conditions_say_why() {
        assert!(tern("context.multiple_flows_interrupted").contains("`context` namespace"));
        assert!(tern("slots.x matches '^a'").contains("regular-expression"));
        assert!(tern("slots.x ==").contains("ends where a value is expected"));
        assert!(tern("(slots.x").contains("not closed"));
        assert!(tern("slots.x # 1").contains("unexpected character"));
        assert!(tern("").contains("empty"));
    }

    #[test]
    fn approximations_are_noted() {
        let translated = translate("slots.tags contains 'vip'", &same).unwrap();
        assert_eq!(translated.approximations.len(), 1);
        let translated = translate("slots.x == 1", &same).unwrap();
        assert!(translated.approximations.is_empty());
    }

    #[test]
    fn slot_names_are_mapped() {
        let rename = |name: &str| name.replace('-', "_");
        assert_eq!(
            translate("slots.user-name == 'a'", &rename).unwrap().text,
            "slots.user_name == 'a'"
        );
    }
}
