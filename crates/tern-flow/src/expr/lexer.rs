//! Lexer for condition expressions, which turns source text into tokens on demand.
//!
//! The lexer also rejects the common mistakes that have an obvious fix (`=`, `and`, a bare
//! slot name, curly quotes) so that the error message can name the fix.

use serde_json::Number;

use super::ExprError;

/// Kind of a token, with the decoded value of literals.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum TokenKind {
    Or,
    And,
    Not,
    Equal,
    NotEqual,
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
    LeftParen,
    RightParen,
    Number(Number),
    String(String),
    Bool(bool),
    Null,
    /// Slot reference `slots.NAME`, with the `NAME` part.
    Slot(String),
    End,
}

/// Token with its source text and position.
#[derive(Debug, Clone)]
pub(super) struct Token<'a> {
    pub kind: TokenKind,
    /// Source text of the token, empty for [`TokenKind::End`].
    pub text: &'a str,
    /// Offset of the token's first char, counted in chars from the start of the source.
    pub offset: usize,
}

/// Cursor over the source that produces one token per [`Lexer::next_token`] call.
pub(super) struct Lexer<'a> {
    source: &'a str,
    /// Byte index of the next char, used for slicing.
    byte: usize,
    /// Char offset of the next char, used in tokens and errors.
    offset: usize,
}

impl<'a> Lexer<'a> {
    pub(super) fn new(source: &'a str) -> Self {
        Lexer {
            source,
            byte: 0,
            offset: 0,
        }
    }

    /// Lexes the next token, or returns [`TokenKind::End`] once the source is exhausted.
    pub(super) fn next_token(&mut self) -> Result<Token<'a>, ExprError> {
        self.bump_while(char::is_whitespace);
        let start = self.byte;
        let offset = self.offset;
        let Some(first) = self.peek() else {
            return Ok(Token {
                kind: TokenKind::End,
                text: "",
                offset,
            });
        };
        let kind = match first {
            '\'' | '"' => self.lex_string(first, offset)?,
            '-' | '0'..='9' => self.lex_number(start, offset)?,
            c if is_name_start(c) => self.lex_word(start, offset)?,
            _ => self.lex_symbol(first, offset)?,
        };
        Ok(Token {
            kind,
            text: &self.source[start..self.byte],
            offset,
        })
    }

    fn peek(&self) -> Option<char> {
        self.source[self.byte..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.byte += c.len_utf8();
        self.offset += 1;
        Some(c)
    }

    fn bump_if(&mut self, expected: char) -> bool {
        if self.peek() == Some(expected) {
            self.bump();
            return true;
        }
        false
    }

    fn bump_while(&mut self, predicate: impl Fn(char) -> bool) {
        while self.peek().is_some_and(&predicate) {
            self.bump();
        }
    }

    fn lex_symbol(&mut self, first: char, offset: usize) -> Result<TokenKind, ExprError> {
        self.bump();
        let kind = match first {
            '(' => TokenKind::LeftParen,
            ')' => TokenKind::RightParen,
            '!' if self.bump_if('=') => TokenKind::NotEqual,
            '!' => TokenKind::Not,
            '<' if self.bump_if('=') => TokenKind::LessEqual,
            '<' => TokenKind::Less,
            '>' if self.bump_if('=') => TokenKind::GreaterEqual,
            '>' => TokenKind::Greater,
            '=' if self.bump_if('=') => TokenKind::Equal,
            '&' if self.bump_if('&') => TokenKind::And,
            '|' if self.bump_if('|') => TokenKind::Or,
            _ => return Err(symbol_error(first, offset)),
        };
        Ok(kind)
    }

    fn lex_string(&mut self, quote: char, offset: usize) -> Result<TokenKind, ExprError> {
        self.bump();
        let mut value = String::new();
        loop {
            match self.bump() {
                None => return Err(unterminated_string(quote, offset)),
                Some(c) if c == quote => return Ok(TokenKind::String(value)),
                Some('\\') => value.push(self.lex_escape(quote, offset)?),
                Some(c) => value.push(c),
            }
        }
    }

    /// Decodes the char after a backslash. `string_offset` is where the string starts.
    fn lex_escape(&mut self, quote: char, string_offset: usize) -> Result<char, ExprError> {
        let backslash_offset = self.offset - 1;
        match self.bump() {
            None => Err(unterminated_string(quote, string_offset)),
            Some('\\') => Ok('\\'),
            Some('\'') => Ok('\''),
            Some('"') => Ok('"'),
            Some('n') => Ok('\n'),
            Some('t') => Ok('\t'),
            Some(other) => Err(ExprError::new(
                format!(
                    "the supported string escapes are `\\\\`, `\\'`, `\\\"`, `\\n` and `\\t`, \
                     not `\\{}`",
                    other.escape_debug()
                ),
                backslash_offset,
            )),
        }
    }

    /// Lexes `-?DIGITS(.DIGITS)?`. Letters, `_` or `.` right after it make it invalid.
    fn lex_number(&mut self, start: usize, offset: usize) -> Result<TokenKind, ExprError> {
        self.bump_if('-');
        if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
            return Err(ExprError::new(
                "`-` is only valid directly before digits, as in `-5`",
                offset,
            ));
        }
        self.bump_while(|c| c.is_ascii_digit());
        if self.bump_if('.') && !self.peek().is_some_and(|c| c.is_ascii_digit()) {
            return Err(self.invalid_number(start, offset));
        }
        self.bump_while(|c| c.is_ascii_digit());
        if self.peek().is_some_and(|c| is_name_char(c) || c == '.') {
            return Err(self.invalid_number(start, offset));
        }
        let text = &self.source[start..self.byte];
        let number = parse_number_literal(text).ok_or_else(|| {
            ExprError::new(format!("number {} is too large", quote_code(text)), offset)
        })?;
        Ok(TokenKind::Number(number))
    }

    fn invalid_number(&mut self, start: usize, offset: usize) -> ExprError {
        self.bump_while(|c| is_name_char(c) || c == '.');
        let text = &self.source[start..self.byte];
        let message = format!(
            "numbers are written as digits with an optional `-` and decimal part, \
             such as `18` or `-2.5`, not {}",
            quote_code(text)
        );
        ExprError::new(message, offset)
    }

    fn lex_word(&mut self, start: usize, offset: usize) -> Result<TokenKind, ExprError> {
        self.bump_while(is_name_char);
        let word = &self.source[start..self.byte];
        match word {
            "true" => Ok(TokenKind::Bool(true)),
            "false" => Ok(TokenKind::Bool(false)),
            "null" => Ok(TokenKind::Null),
            "slots" => self.lex_slot_name(offset),
            _ => Err(word_error(word, offset)),
        }
    }

    /// Lexes the `.NAME` part of a slot reference, right after the word `slots`.
    fn lex_slot_name(&mut self, offset: usize) -> Result<TokenKind, ExprError> {
        if !self.bump_if('.') {
            return Err(ExprError::new(
                "expected `.` and a slot name directly after `slots`, as in `slots.age`",
                offset,
            ));
        }
        let name_start = self.byte;
        match self.peek() {
            Some(c) if is_name_start(c) => {}
            Some(_) => return Err(self.invalid_slot_name(name_start, offset)),
            None => {
                return Err(ExprError::new(
                    "expected a slot name after `slots.`, as in `slots.age`",
                    offset,
                ));
            }
        }
        self.bump_while(is_name_char);
        Ok(TokenKind::Slot(
            self.source[name_start..self.byte].to_owned(),
        ))
    }

    fn invalid_slot_name(&mut self, name_start: usize, offset: usize) -> ExprError {
        if !self.peek().is_some_and(is_name_char) {
            self.bump();
        }
        self.bump_while(is_name_char);
        let found = format!("slots.{}", &self.source[name_start..self.byte]);
        let message = format!(
            "slot names start with an ASCII letter or `_`, as in `slots.age`, not {}",
            quote_code(&found)
        );
        ExprError::new(message, offset)
    }
}

/// Returns whether `c` may start a slot name or a keyword.
pub(super) fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

/// Returns whether `c` may continue a slot name or a keyword.
pub(super) fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Parses a lexed number literal. Integers that fit `i64` stay integers.
/// Returns `None` when the value is too large for an `f64`.
fn parse_number_literal(text: &str) -> Option<Number> {
    if !text.contains('.')
        && let Ok(integer) = text.parse::<i64>()
    {
        return Some(Number::from(integer));
    }
    let float = text.parse::<f64>().ok()?;
    if !float.is_finite() {
        return None;
    }
    Number::from_f64(float)
}

/// Maximum number of chars of source text quoted in an error message.
const MAX_QUOTED_CHARS: usize = 40;

/// Wraps source text in backticks for an error message, shortened to
/// [`MAX_QUOTED_CHARS`] chars and with control chars escaped.
pub(super) fn quote_code(text: &str) -> String {
    let mut quoted = String::from("`");
    for c in text.chars().take(MAX_QUOTED_CHARS) {
        if c.is_control() {
            quoted.extend(c.escape_default());
        } else {
            quoted.push(c);
        }
    }
    if text.chars().nth(MAX_QUOTED_CHARS).is_some() {
        quoted.push('…');
    }
    quoted.push('`');
    quoted
}

fn symbol_error(c: char, offset: usize) -> ExprError {
    let message = match c {
        '=' => "use `==` to compare, not `=`".to_owned(),
        '&' => "use `&&` for a logical and, not `&`".to_owned(),
        '|' => "use `||` for a logical or, not `|`".to_owned(),
        '‘' | '’' | '“' | '”' => {
            format!("quote strings with a straight `'` or `\"`, not `{c}`")
        }
        _ => format!("unexpected character `{}`", c.escape_debug()),
    };
    ExprError::new(message, offset)
}

fn unterminated_string(quote: char, offset: usize) -> ExprError {
    ExprError::new(
        format!("missing closing `{quote}` for the string that starts"),
        offset,
    )
}

/// Builds the error for a word that is neither a keyword nor `slots`.
fn word_error(word: &str, offset: usize) -> ExprError {
    let lower = word.to_ascii_lowercase();
    let message = match lower.as_str() {
        "and" => format!("use `&&` for a logical and, not `{word}`"),
        "or" => format!("use `||` for a logical or, not `{word}`"),
        "not" => format!("use `!` for a logical not, not `{word}`"),
        "true" | "false" | "null" => format!("use `{lower}` in lowercase, not `{word}`"),
        "none" | "nil" => format!("use `null`, not `{word}`"),
        _ => format!("slot references are written `slots.{word}`, not `{word}`"),
    };
    ExprError::new(message, offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lexes the whole source into token kinds, or returns the first error.
    fn kinds(source: &str) -> Result<Vec<TokenKind>, ExprError> {
        let mut lexer = Lexer::new(source);
        let mut kinds = Vec::new();
        loop {
            let token = lexer.next_token()?;
            if token.kind == TokenKind::End {
                return Ok(kinds);
            }
            kinds.push(token.kind);
        }
    }

    fn lex_error(source: &str) -> ExprError {
        match kinds(source) {
            Ok(kinds) => panic!("expected an error for {source:?}, got {kinds:?}"),
            Err(error) => error,
        }
    }

    #[test]
    fn lexes_every_operator() {
        let expected = vec![
            TokenKind::Or,
            TokenKind::And,
            TokenKind::Not,
            TokenKind::Equal,
            TokenKind::NotEqual,
            TokenKind::Less,
            TokenKind::LessEqual,
            TokenKind::Greater,
            TokenKind::GreaterEqual,
            TokenKind::LeftParen,
            TokenKind::RightParen,
        ];
        assert_eq!(kinds("|| && ! == != < <= > >= ( )"), Ok(expected));
    }

    #[test]
    fn operators_need_no_whitespace() {
        let expected = vec![
            TokenKind::Not,
            TokenKind::LeftParen,
            TokenKind::Slot("a".to_owned()),
            TokenKind::LessEqual,
            TokenKind::Number(Number::from(-1)),
            TokenKind::RightParen,
        ];
        assert_eq!(kinds("!(slots.a<=-1)"), Ok(expected));
    }

    #[test]
    fn numbers_keep_integers_exact() {
        assert_eq!(kinds("18"), Ok(vec![TokenKind::Number(Number::from(18))]));
        assert_eq!(kinds("-7"), Ok(vec![TokenKind::Number(Number::from(-7))]));
        assert_eq!(kinds("007"), Ok(vec![TokenKind::Number(Number::from(7))]));
        let max = i64::MAX.to_string();
        let max_kind = TokenKind::Number(Number::from(i64::MAX));
        assert_eq!(kinds(&max), Ok(vec![max_kind]));
    }

    #[test]
    fn numbers_with_decimals_are_floats() {
        let number = |value: f64| Number::from_f64(value).map(TokenKind::Number);
        assert_eq!(kinds("2.5"), Ok(number(2.5).into_iter().collect()));
        assert_eq!(kinds("-0.25"), Ok(number(-0.25).into_iter().collect()));
        assert_eq!(kinds("1.0"), Ok(number(1.0).into_iter().collect()));
    }

    #[test]
    fn integer_beyond_i64_becomes_float() {
        let source = "99999999999999999999";
        let expected = Number::from_f64(1e20).map(TokenKind::Number);
        assert_eq!(kinds(source), Ok(expected.into_iter().collect()));
    }

    #[test]
    fn number_beyond_f64_is_rejected() {
        let source = "9".repeat(400);
        assert!(lex_error(&source).message.contains("is too large"));
    }

    #[test]
    fn malformed_numbers_are_rejected() {
        for source in ["5.", "1e5", "1.2.3", "12abc", "3_000", "-.5"] {
            let error = lex_error(source);
            assert_eq!(error.offset, 0, "offset for {source:?}");
        }
        assert!(lex_error("1e5").message.ends_with("not `1e5`"));
        assert!(lex_error("-.5").message.contains("`-` is only valid"));
        assert!(lex_error("- 5").message.contains("`-` is only valid"));
    }

    #[test]
    fn strings_in_either_quote() {
        let string = |text: &str| Ok(vec![TokenKind::String(text.to_owned())]);
        assert_eq!(kinds("'work'"), string("work"));
        assert_eq!(kinds("\"work\""), string("work"));
        assert_eq!(kinds("''"), string(""));
        assert_eq!(kinds("'it\"s'"), string("it\"s"));
        assert_eq!(kinds("'الرياض'"), string("الرياض"));
    }

    #[test]
    fn string_escapes_are_decoded() {
        let string = |text: &str| Ok(vec![TokenKind::String(text.to_owned())]);
        assert_eq!(kinds(r"'it\'s'"), string("it's"));
        assert_eq!(kinds(r#""say \"hi\"""#), string("say \"hi\""));
        assert_eq!(kinds(r"'a\\b'"), string("a\\b"));
        assert_eq!(kinds(r"'a\nb\tc'"), string("a\nb\tc"));
        assert_eq!(kinds(r#"'\"'"#), string("\""));
    }

    #[test]
    fn unknown_escape_is_rejected() {
        let error = lex_error(r"'a\qb'");
        assert_eq!(error.offset, 2);
        assert!(error.message.ends_with(r"not `\q`"), "{}", error.message);
    }

    #[test]
    fn unterminated_string_points_at_quote() {
        for source in ["slots.a == 'abc", "slots.a == \"abc'", r"slots.a == 'abc\"] {
            let error = lex_error(source);
            assert_eq!(error.offset, 11, "offset for {source:?}");
            assert!(error.message.starts_with("missing closing"));
        }
    }

    #[test]
    fn keywords_and_slots() {
        let expected = vec![
            TokenKind::Bool(true),
            TokenKind::Bool(false),
            TokenKind::Null,
            TokenKind::Slot("user_name".to_owned()),
            TokenKind::Slot("_x9".to_owned()),
        ];
        assert_eq!(
            kinds("true false null slots.user_name slots._x9"),
            Ok(expected)
        );
    }

    #[test]
    fn slot_name_must_be_valid() {
        assert!(lex_error("slots.9a").message.ends_with("not `slots.9a`"));
        assert!(lex_error("slots.-").message.ends_with("not `slots.-`"));
        assert!(lex_error("slots.").message.contains("expected a slot name"));
        assert!(lex_error("slots .a").message.contains("expected `.`"));
        assert!(lex_error("slots").message.contains("expected `.`"));
    }

    #[test]
    fn words_get_a_hint() {
        let cases = [
            ("and", "use `&&` for a logical and, not `and`"),
            ("OR", "use `||` for a logical or, not `OR`"),
            ("not", "use `!` for a logical not, not `not`"),
            ("True", "use `true` in lowercase, not `True`"),
            ("NULL", "use `null` in lowercase, not `NULL`"),
            ("None", "use `null`, not `None`"),
            ("age", "slot references are written `slots.age`, not `age`"),
            (
                "myslots",
                "slot references are written `slots.myslots`, not `myslots`",
            ),
        ];
        for (source, message) in cases {
            assert_eq!(lex_error(source).message, message, "message for {source:?}");
        }
    }

    #[test]
    fn lone_symbols_get_a_hint() {
        let cases = [
            ("=", "use `==` to compare, not `=`"),
            ("&", "use `&&` for a logical and, not `&`"),
            ("|", "use `||` for a logical or, not `|`"),
            ("‘a’", "quote strings with a straight `'` or `\"`, not `‘`"),
            ("#", "unexpected character `#`"),
            ("\u{7}", "unexpected character `\\u{7}`"),
            ("é", "unexpected character `é`"),
        ];
        for (source, message) in cases {
            assert_eq!(lex_error(source).message, message, "message for {source:?}");
        }
    }

    #[test]
    fn offsets_count_chars_not_bytes() {
        let mut lexer = Lexer::new("'دبي' == slots.city");
        let offsets: Vec<usize> = std::iter::from_fn(|| lexer.next_token().ok())
            .take_while(|token| token.kind != TokenKind::End)
            .map(|token| token.offset)
            .collect();
        assert_eq!(offsets, vec![0, 6, 9]);
        assert_eq!(lex_error("'دبي' # 1").offset, 6);
    }

    #[test]
    fn token_text_is_the_source_slice() {
        let mut lexer = Lexer::new("  slots.a   >=\t'x'");
        let texts: Vec<&str> = std::iter::from_fn(|| lexer.next_token().ok())
            .take_while(|token| token.kind != TokenKind::End)
            .map(|token| token.text)
            .collect();
        assert_eq!(texts, vec!["slots.a", ">=", "'x'"]);
    }

    #[test]
    fn quote_code_shortens_and_escapes() {
        assert_eq!(quote_code("a\nb"), "`a\\nb`");
        let long = "x".repeat(50);
        let expected = format!("`{}…`", "x".repeat(MAX_QUOTED_CHARS));
        assert_eq!(quote_code(&long), expected);
        assert_eq!(
            quote_code(&"x".repeat(MAX_QUOTED_CHARS)).chars().count(),
            42
        );
    }
}
