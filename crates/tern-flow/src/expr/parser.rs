//! Recursive-descent parser that turns condition source text into a syntax tree.
//!
//! Precedence from lowest to highest: `||`, `&&`, prefix `!`, comparisons, operands.
//! `||` and `&&` chains become one n-ary node, so a long chain adds no tree depth and
//! the tree depth stays bounded by [`MAX_NESTING_DEPTH`].

use serde_json::Value;

use super::ExprError;
use super::lexer::{Lexer, Token, TokenKind, quote_code};

/// Maximum source length in bytes.
pub const MAX_SOURCE_BYTES: usize = 4096;

/// Maximum nesting of parentheses and `!`, counted together. The parser and the evaluator
/// recurse once per level, so this bounds their stack use.
pub const MAX_NESTING_DEPTH: usize = 64;

/// Comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CompareOp {
    Equal,
    NotEqual,
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
}

/// Node of the syntax tree.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    Literal(Value),
    /// Slot reference, with the name after `slots.`.
    Slot(String),
    Not(Box<Node>),
    /// Two or more operands joined by `&&`.
    And(Vec<Node>),
    /// Two or more operands joined by `||`.
    Or(Vec<Node>),
    Compare(CompareOp, Box<Node>, Box<Node>),
}

/// Parses a whole condition. Rejects empty input, input longer than
/// [`MAX_SOURCE_BYTES`] and tokens left over after a complete condition.
pub(super) fn parse(source: &str) -> Result<Node, ExprError> {
    check_length(source)?;
    let mut parser = Parser::new(source)?;
    if parser.current.kind == TokenKind::End {
        return Err(ExprError::new(
            "the condition is empty, write one such as `slots.age >= 18`",
            0,
        ));
    }
    let root = parser.parse_or()?;
    match parser.current.kind {
        TokenKind::End => Ok(root),
        TokenKind::RightParen => Err(ExprError::new("unmatched `)`", parser.current.offset)),
        _ => Err(parser.unexpected("an operator or the end of the condition")),
    }
}

/// Rejects source longer than [`MAX_SOURCE_BYTES`], pointing at the first char past the limit.
fn check_length(source: &str) -> Result<(), ExprError> {
    if source.len() <= MAX_SOURCE_BYTES {
        return Ok(());
    }
    let offset = source
        .char_indices()
        .take_while(|(byte, c)| byte + c.len_utf8() <= MAX_SOURCE_BYTES)
        .count();
    let message = format!(
        "the condition is {} bytes long and exceeds the maximum of {MAX_SOURCE_BYTES} bytes",
        source.len()
    );
    Err(ExprError::new(message, offset))
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    current: Token<'a>,
    /// Text and offset of the token before `current`, for "expected a value after" errors.
    previous: Option<(&'a str, usize)>,
    /// Number of `(` and `!` that enclose `current`.
    depth: usize,
}

impl<'a> Parser<'a> {
    fn new(source: &'a str) -> Result<Self, ExprError> {
        let mut lexer = Lexer::new(source);
        let current = lexer.next_token()?;
        Ok(Parser {
            lexer,
            current,
            previous: None,
            depth: 0,
        })
    }

    /// Moves to the next token and returns the one that was current.
    fn advance(&mut self) -> Result<Token<'a>, ExprError> {
        let next = self.lexer.next_token()?;
        let token = std::mem::replace(&mut self.current, next);
        self.previous = Some((token.text, token.offset));
        Ok(token)
    }

    fn parse_or(&mut self) -> Result<Node, ExprError> {
        self.parse_chain(&TokenKind::Or, Self::parse_and, Node::Or)
    }

    fn parse_and(&mut self) -> Result<Node, ExprError> {
        self.parse_chain(&TokenKind::And, Self::parse_not, Node::And)
    }

    /// Parses `operand (op operand)*` into one `combine` node, or the lone operand.
    fn parse_chain(
        &mut self,
        op: &TokenKind,
        operand: fn(&mut Self) -> Result<Node, ExprError>,
        combine: fn(Vec<Node>) -> Node,
    ) -> Result<Node, ExprError> {
        let first = operand(self)?;
        if self.current.kind != *op {
            return Ok(first);
        }
        let mut operands = vec![first];
        while self.current.kind == *op {
            self.advance()?;
            operands.push(operand(self)?);
        }
        Ok(combine(operands))
    }

    fn parse_not(&mut self) -> Result<Node, ExprError> {
        if self.current.kind != TokenKind::Not {
            return self.parse_comparison();
        }
        let bang = self.advance()?;
        self.enter(bang.offset)?;
        let operand = self.parse_not()?;
        self.depth -= 1;
        Ok(Node::Not(Box::new(operand)))
    }

    /// Parses `operand (op operand)?` and rejects a second comparison operator.
    fn parse_comparison(&mut self) -> Result<Node, ExprError> {
        let left = self.parse_operand()?;
        let Some(op) = compare_op(&self.current.kind) else {
            return Ok(left);
        };
        self.advance()?;
        let right = self.parse_operand()?;
        if compare_op(&self.current.kind).is_some() {
            let message = format!(
                "comparisons cannot be chained, so join them with `&&` as in \
                 `a < b && b < c`, but found a second comparison {}",
                quote_code(self.current.text)
            );
            return Err(ExprError::new(message, self.current.offset));
        }
        Ok(Node::Compare(op, Box::new(left), Box::new(right)))
    }

    fn parse_operand(&mut self) -> Result<Node, ExprError> {
        if self.current.kind == TokenKind::LeftParen {
            return self.parse_group();
        }
        let Some(node) = operand_node(&self.current.kind) else {
            return Err(self.expected_value());
        };
        self.advance()?;
        Ok(node)
    }

    fn parse_group(&mut self) -> Result<Node, ExprError> {
        let open = self.advance()?;
        self.enter(open.offset)?;
        let inner = self.parse_or()?;
        match self.current.kind {
            TokenKind::RightParen => {
                self.advance()?;
                self.depth -= 1;
                Ok(inner)
            }
            TokenKind::End => Err(ExprError::new("missing `)` to close the `(`", open.offset)),
            _ => Err(self.unexpected("`)` or an operator")),
        }
    }

    /// Counts one more level of `(` or `!` nesting, opened at `offset`.
    fn enter(&mut self, offset: usize) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_NESTING_DEPTH {
            let message =
                format!("parentheses and `!` are nested more than {MAX_NESTING_DEPTH} levels deep");
            return Err(ExprError::new(message, offset));
        }
        Ok(())
    }

    fn expected_value(&self) -> ExprError {
        let current = &self.current;
        match (self.previous, &current.kind) {
            (Some((text, offset)), TokenKind::End) => ExprError::new(
                format!("expected a value after {}", quote_code(text)),
                offset,
            ),
            (Some((text, _)), _) => {
                let message = format!(
                    "expected a value after {} but found {}",
                    quote_code(text),
                    describe(current)
                );
                ExprError::new(message, current.offset)
            }
            (None, _) => self.unexpected("a value"),
        }
    }

    fn unexpected(&self, expected: &str) -> ExprError {
        let message = format!("expected {expected} but found {}", describe(&self.current));
        ExprError::new(message, self.current.offset)
    }
}

fn compare_op(kind: &TokenKind) -> Option<CompareOp> {
    match kind {
        TokenKind::Equal => Some(CompareOp::Equal),
        TokenKind::NotEqual => Some(CompareOp::NotEqual),
        TokenKind::Less => Some(CompareOp::Less),
        TokenKind::LessEqual => Some(CompareOp::LessEqual),
        TokenKind::Greater => Some(CompareOp::Greater),
        TokenKind::GreaterEqual => Some(CompareOp::GreaterEqual),
        _ => None,
    }
}

/// Returns the node for a literal or slot token, or `None` for any other token.
fn operand_node(kind: &TokenKind) -> Option<Node> {
    let node = match kind {
        TokenKind::Number(number) => Node::Literal(Value::Number(number.clone())),
        TokenKind::String(text) => Node::Literal(Value::String(text.clone())),
        TokenKind::Bool(value) => Node::Literal(Value::Bool(*value)),
        TokenKind::Null => Node::Literal(Value::Null),
        TokenKind::Slot(name) => Node::Slot(name.clone()),
        _ => return None,
    };
    Some(node)
}

fn describe(token: &Token<'_>) -> String {
    match token.kind {
        TokenKind::End => "the end of the condition".to_owned(),
        _ => quote_code(token.text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(name: &str) -> Node {
        Node::Slot(name.to_owned())
    }

    fn number(value: i64) -> Node {
        Node::Literal(Value::from(value))
    }

    fn compare(op: CompareOp, left: Node, right: Node) -> Node {
        Node::Compare(op, Box::new(left), Box::new(right))
    }

    fn not(operand: Node) -> Node {
        Node::Not(Box::new(operand))
    }

    fn parse_error(source: &str) -> ExprError {
        match parse(source) {
            Ok(node) => panic!("expected an error for {source:?}, got {node:?}"),
            Err(error) => error,
        }
    }

    #[test]
    fn single_comparison() {
        let expected = compare(CompareOp::GreaterEqual, slot("age"), number(18));
        assert_eq!(parse("slots.age >= 18"), Ok(expected));
    }

    #[test]
    fn every_comparison_operator() {
        let cases = [
            ("==", CompareOp::Equal),
            ("!=", CompareOp::NotEqual),
            ("<", CompareOp::Less),
            ("<=", CompareOp::LessEqual),
            (">", CompareOp::Greater),
            (">=", CompareOp::GreaterEqual),
        ];
        for (text, op) in cases {
            let expected = compare(op, slot("a"), number(1));
            assert_eq!(parse(&format!("slots.a {text} 1")), Ok(expected), "{text}");
        }
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let expected = Node::Or(vec![
            slot("a"),
            Node::And(vec![slot("b"), slot("c")]),
            slot("d"),
        ]);
        assert_eq!(
            parse("slots.a || slots.b && slots.c || slots.d"),
            Ok(expected)
        );
    }

    #[test]
    fn chains_are_flat() {
        let expected = Node::And(vec![slot("a"), slot("b"), slot("c")]);
        assert_eq!(parse("slots.a && slots.b && slots.c"), Ok(expected));
    }

    #[test]
    fn parentheses_group() {
        let expected = Node::And(vec![Node::Or(vec![slot("a"), slot("b")]), slot("c")]);
        assert_eq!(parse("(slots.a || slots.b) && slots.c"), Ok(expected));
        assert_eq!(parse("((slots.a))"), Ok(slot("a")));
    }

    #[test]
    fn not_binds_looser_than_comparison() {
        let expected = not(compare(CompareOp::Equal, slot("a"), number(1)));
        assert_eq!(parse("!slots.a == 1"), Ok(expected));
    }

    #[test]
    fn not_binds_tighter_than_and() {
        let expected = Node::And(vec![not(slot("a")), slot("b")]);
        assert_eq!(parse("!slots.a && slots.b"), Ok(expected));
    }

    #[test]
    fn not_is_repeatable() {
        assert_eq!(parse("!!!slots.a"), Ok(not(not(not(slot("a"))))));
        assert_eq!(parse("! ! slots.a"), Ok(not(not(slot("a")))));
    }

    #[test]
    fn literals_as_operands() {
        let cases = [
            ("slots.k == 'work'", Value::from("work")),
            ("slots.k == true", Value::Bool(true)),
            ("slots.k == false", Value::Bool(false)),
            ("slots.k == null", Value::Null),
            ("slots.k == -2.5", Value::from(-2.5)),
        ];
        for (source, literal) in cases {
            let expected = compare(CompareOp::Equal, slot("k"), Node::Literal(literal));
            assert_eq!(parse(source), Ok(expected), "{source}");
        }
    }

    #[test]
    fn empty_input_is_rejected() {
        for source in ["", "   ", "\n\t"] {
            let error = parse_error(source);
            assert_eq!(error.offset, 0);
            assert!(error.message.starts_with("the condition is empty"));
        }
    }

    #[test]
    fn missing_operand_after_operator() {
        let error = parse_error("slots.x == 1 &&");
        assert_eq!(error.message, "expected a value after `&&`");
        assert_eq!(error.offset, 13);
        let error = parse_error("slots.x >=");
        assert_eq!(error.message, "expected a value after `>=`");
        assert_eq!(error.offset, 8);
        assert_eq!(
            super::parse("!").map_err(|e| e.message),
            Err("expected a value after `!`".to_owned())
        );
    }

    #[test]
    fn wrong_token_where_operand_expected() {
        let error = parse_error("slots.x && )");
        assert_eq!(error.message, "expected a value after `&&` but found `)`");
        assert_eq!(error.offset, 11);
        let error = parse_error("&& slots.x");
        assert_eq!(error.message, "expected a value but found `&&`");
        assert_eq!(error.offset, 0);
        let error = parse_error("slots.a == !slots.b");
        assert_eq!(error.message, "expected a value after `==` but found `!`");
    }

    #[test]
    fn trailing_tokens_are_rejected() {
        let error = parse_error("slots.a slots.b");
        assert_eq!(
            error.message,
            "expected an operator or the end of the condition but found `slots.b`"
        );
        assert_eq!(error.offset, 8);
        assert_eq!(super::parse("slots.a -1").map_err(|e| e.offset), Err(8));
    }

    #[test]
    fn unbalanced_parentheses() {
        let error = parse_error("(slots.a || slots.b");
        assert_eq!(error.message, "missing `)` to close the `(`");
        assert_eq!(error.offset, 0);
        let error = parse_error("slots.a)");
        assert_eq!(error.message, "unmatched `)`");
        assert_eq!(error.offset, 7);
        let error = parse_error("(slots.a 1)");
        assert_eq!(error.message, "expected `)` or an operator but found `1`");
        assert_eq!(error.offset, 9);
        let error = parse_error("()");
        assert_eq!(error.message, "expected a value after `(` but found `)`");
    }

    #[test]
    fn chained_comparison_is_rejected() {
        let error = parse_error("slots.a < slots.b < slots.c");
        assert!(error.message.starts_with("comparisons cannot be chained"));
        assert!(error.message.ends_with("second comparison `<`"));
        assert_eq!(error.offset, 18);
        assert!(parse("(slots.a < slots.b) == true").is_ok());
    }

    #[test]
    fn nesting_up_to_limit_parses() {
        let parens = format!("{}slots.a{}", "(".repeat(64), ")".repeat(64));
        assert_eq!(parse(&parens), Ok(slot("a")));
        let bangs = format!("{}slots.a", "!".repeat(64));
        assert!(parse(&bangs).is_ok());
        let mixed = format!("{}slots.a{}", "!(".repeat(32), ")".repeat(32));
        assert!(parse(&mixed).is_ok());
    }

    #[test]
    fn nesting_beyond_limit_is_rejected() {
        let parens = format!("{}slots.a{}", "(".repeat(65), ")".repeat(65));
        let error = parse_error(&parens);
        assert_eq!(error.offset, 64);
        assert!(error.message.contains("more than 64 levels"));
        let bangs = format!("{}slots.a", "!".repeat(65));
        assert_eq!(super::parse(&bangs).map_err(|e| e.offset), Err(64));
        let mixed = format!("{}slots.a{}", "(!".repeat(33), ")".repeat(33));
        assert_eq!(super::parse(&mixed).map_err(|e| e.offset), Err(64));
    }

    #[test]
    fn deep_input_at_length_limit_fails_cleanly() {
        for opener in ["(", "!", "!("] {
            let source = opener.repeat(MAX_SOURCE_BYTES / opener.len());
            assert!(parse_error(&source).message.contains("more than 64 levels"));
        }
    }

    #[test]
    fn long_flat_chain_parses() {
        let source = vec!["slots.a"; 450].join("&&");
        assert!(source.len() <= MAX_SOURCE_BYTES);
        let Ok(Node::And(operands)) = parse(&source) else {
            panic!("expected an `&&` node");
        };
        assert_eq!(operands.len(), 450);
    }

    #[test]
    fn length_limit_counts_bytes() {
        let at_limit = format!("'{}'", "x".repeat(MAX_SOURCE_BYTES - 2));
        assert!(parse(&at_limit).is_ok());
        let over_limit = format!("'{}'", "x".repeat(MAX_SOURCE_BYTES - 1));
        let error = parse_error(&over_limit);
        assert!(
            error.message.contains("4097 bytes long"),
            "{}",
            error.message
        );
        assert_eq!(error.offset, MAX_SOURCE_BYTES);
    }

    #[test]
    fn length_limit_offset_counts_chars() {
        // Each `ب` is 2 bytes, so 2049 of them are 4098 bytes and char 2048 crosses the limit.
        let source = "ب".repeat(2049);
        assert_eq!(parse_error(&source).offset, 2048);
    }

    #[test]
    fn lexer_errors_come_in_source_order() {
        let error = parse_error(") slots.a = 1");
        assert_eq!(error.message, "expected a value but found `)`");
    }
}
