//! Condition expressions in flow files, such as `slots.age >= 18 && slots.kind == 'work'`.
//!
//! This module owns the condition language: its lexer, its recursive-descent parser and
//! its evaluator. [`Expr::parse`] checks the syntax once, when a flow is loaded, and
//! [`Expr::evaluate`] computes the condition against the current slot values.
//!
//! # Syntax
//!
//! From lowest to highest precedence:
//! - `a || b` and `a && b`: logical or and and.
//! - `!a`: logical not, repeatable. It binds looser than a comparison, so
//!   `!slots.a == 1` means `!(slots.a == 1)`.
//! - `==`, `!=`, `<`, `<=`, `>`, `>=`: comparisons. They do not chain, so `a < b < c`
//!   is an error.
//! - Operands: `( … )`, numbers (`18`, `-2.5`, no exponent), strings in `'` or `"` with
//!   the escapes `\\`, `\'`, `\"`, `\n` and `\t`, `true`, `false`, `null`, and slot
//!   references `slots.NAME`.
//!
//! A slot name consists of ASCII letters, digits and `_` and does not start with a
//! digit. A slot reference is a single token, so `slots . age` is an error. Whitespace
//! may appear between any other tokens. The source may be at most 4096 bytes long,
//! and parentheses and `!` may be nested at most 64 levels deep, counted together.
//!
//! # Evaluation
//!
//! A slot that is not set evaluates to `null`. [`Expr::evaluate`] returns the
//! truthiness of the result, so a bare `slots.x` is true when `slots.x` is truthy.
//!
//! Truthiness: `null`, `false`, `0`, `""` and `[]` are false. Other numbers, strings and
//! arrays are true, and so is every object. `!`, `&&` and `||` use truthiness, always
//! yield a bool, and `&&` and `||` stop at the first operand that decides the result.
//!
//! `==` applies the first rule that matches, and `a != b` is always `!(a == b)`:
//! 1. `null` equals only `null`, so `slots.x == null` tests whether `slots.x` is unset.
//! 2. Two arrays are equal when they have the same length and equal elements in order.
//! 3. An array equals any other value that equals one of its elements (membership).
//! 4. An object compares as its `name` field, which an uploaded file has. An object
//!    without a `name` field equals nothing, not even itself.
//! 5. Numbers compare by value, so `1 == 1.0`. Bools compare as bools. Strings compare
//!    exactly: case-sensitive and without trimming.
//! 6. A number equals a string whose trimmed text parses as a finite number of the same
//!    value, so a number slot `1` equals `'1'`.
//! 7. A bool equals a string whose trimmed text is `true` or `false` in any ASCII case.
//! 8. Any other pair, such as a number and a bool, is not equal.
//!
//! `<`, `<=`, `>` and `>=` order two numbers, or a number and a numeric string, by value.
//! Two strings compare by value when both are numeric and otherwise by Unicode scalar
//! values, so `'10' > '9'` but `'10' < 'abc'`. Every other pair, including anything with
//! `null`, a bool, an array or an object, is unordered, and all four operators return
//! false for it. Because numeric strings order by value but compare with `==` as text,
//! `'1.0' <= '1'` and `'1.0' >= '1'` are true while `'1.0' == '1'` is false.

mod eval;
mod lexer;
mod parser;

use serde_json::Value;

pub use eval::is_truthy;
pub use parser::{MAX_NESTING_DEPTH, MAX_SOURCE_BYTES};

/// Parsed condition, together with its source text.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    source: String,
    root: parser::Node,
}

impl Expr {
    /// Parses a condition. The error points at the first invalid token, or for source
    /// longer than [`MAX_SOURCE_BYTES`], at the first char past the limit.
    pub fn parse(source: &str) -> Result<Expr, ExprError> {
        let root = parser::parse(source)?;
        Ok(Expr {
            source: source.to_owned(),
            root,
        })
    }

    /// Slot names referenced, in order of first appearance, without duplicates.
    pub fn slot_refs(&self) -> Vec<&str> {
        let mut names = Vec::new();
        collect_slot_refs(&self.root, &mut names);
        names
    }

    /// Evaluates the condition to a bool, the truthiness of [`Expr::value`].
    pub fn evaluate(&self, slots: &dyn SlotLookup) -> bool {
        is_truthy(eval::evaluate(&self.root, slots))
    }

    /// Evaluates the condition to a value: a literal, a copy of a slot value, or the
    /// bool result of an operator.
    pub fn value(&self, slots: &dyn SlotLookup) -> Value {
        eval::evaluate(&self.root, slots).clone()
    }

    /// Source text as passed to [`Expr::parse`].
    pub fn source(&self) -> &str {
        &self.source
    }
}

fn collect_slot_refs<'a>(node: &'a parser::Node, names: &mut Vec<&'a str>) {
    match node {
        parser::Node::Literal(_) => {}
        parser::Node::Slot(name) => {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
        parser::Node::Not(operand) => collect_slot_refs(operand, names),
        parser::Node::And(operands) | parser::Node::Or(operands) => {
            for operand in operands {
                collect_slot_refs(operand, names);
            }
        }
        parser::Node::Compare(_, left, right) => {
            collect_slot_refs(left, names);
            collect_slot_refs(right, names);
        }
    }
}

/// Source of slot values for evaluation.
pub trait SlotLookup {
    /// Returns the value of the slot `name`, or `None` when the slot is not set.
    fn slot(&self, name: &str) -> Option<&Value>;
}

impl SlotLookup for serde_json::Map<String, Value> {
    fn slot(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

impl SlotLookup for indexmap::IndexMap<String, Value> {
    fn slot(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

/// Syntax error in a condition. It displays as the message followed by the 1-based
/// column, for example "expected a value after `&&` at column 14". The column counts
/// chars from the start of the source, so it includes any line breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at column {}", .offset + 1)]
pub struct ExprError {
    /// Description that names the offending token in backticks and, where one is
    /// known, the fix.
    pub message: String,
    /// Position of the error, counted in chars from 0 at the start of the source.
    pub offset: usize,
}

impl ExprError {
    pub(crate) fn new(message: impl Into<String>, offset: usize) -> Self {
        ExprError {
            message: message.into(),
            offset,
        }
    }
}

#[cfg(test)]
mod tests;
