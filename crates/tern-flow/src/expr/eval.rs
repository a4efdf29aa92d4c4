//! Evaluator for condition syntax trees: truthiness, equality and ordering of JSON values.
//!
//! The rules are listed in the `expr` module documentation, and each function below
//! implements one of them.

use std::cmp::Ordering;

use serde_json::{Number, Value};

use super::SlotLookup;
use super::parser::{CompareOp, Node};

static NULL: Value = Value::Null;
static TRUE: Value = Value::Bool(true);
static FALSE: Value = Value::Bool(false);

/// Evaluates `node` without copying slot values. Unset slots are `null`, and
/// operators always yield a bool.
pub(super) fn evaluate<'a>(node: &'a Node, slots: &'a dyn SlotLookup) -> &'a Value {
    match node {
        Node::Literal(value) => value,
        Node::Slot(name) => slots.slot(name).unwrap_or(&NULL),
        Node::Not(operand) => bool_value(!is_node_truthy(operand, slots)),
        // `all` and `any` stop at the first operand that decides the result.
        Node::And(operands) => {
            let all_true = operands
                .iter()
                .all(|operand| is_node_truthy(operand, slots));
            bool_value(all_true)
        }
        Node::Or(operands) => {
            let any_true = operands
                .iter()
                .any(|operand| is_node_truthy(operand, slots));
            bool_value(any_true)
        }
        Node::Compare(op, left, right) => {
            bool_value(compare(*op, evaluate(left, slots), evaluate(right, slots)))
        }
    }
}

fn is_node_truthy(node: &Node, slots: &dyn SlotLookup) -> bool {
    is_truthy(evaluate(node, slots))
}

fn bool_value(value: bool) -> &'static Value {
    if value { &TRUE } else { &FALSE }
}

fn compare(op: CompareOp, left: &Value, right: &Value) -> bool {
    match op {
        CompareOp::Equal => values_equal(left, right),
        CompareOp::NotEqual => !values_equal(left, right),
        CompareOp::Less => compare_values(left, right) == Some(Ordering::Less),
        CompareOp::LessEqual => compare_values(left, right).is_some_and(Ordering::is_le),
        CompareOp::Greater => compare_values(left, right) == Some(Ordering::Greater),
        CompareOp::GreaterEqual => compare_values(left, right).is_some_and(Ordering::is_ge),
    }
}

/// Returns the truthiness of a value. `null`, `false`, `0`, `""` and `[]` are false, and
/// everything else, including every object, is true.
pub fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(flag) => *flag,
        Value::Number(number) => number.as_f64().is_some_and(|float| float != 0.0),
        Value::String(text) => !text.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(_) => true,
    }
}

/// Implements `==`. The order of the match arms matters. `null` comes before array
/// membership, so `[null] == null` is false, and arrays come before objects, so a list
/// of files equals the name of one of the files.
pub(super) fn values_equal(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Null, _) | (_, Value::Null) => left.is_null() && right.is_null(),
        (Value::Array(left_items), Value::Array(right_items)) => {
            left_items.len() == right_items.len()
                && left_items
                    .iter()
                    .zip(right_items)
                    .all(|(left_item, right_item)| values_equal(left_item, right_item))
        }
        (Value::Array(items), other) | (other, Value::Array(items)) => {
            items.iter().any(|item| values_equal(item, other))
        }
        (Value::Object(fields), other) | (other, Value::Object(fields)) => fields
            .get("name")
            .is_some_and(|name| values_equal(name, other)),
        _ => scalars_equal(left, right),
    }
}

/// Implements `==` for two values that are each a bool, number or string.
fn scalars_equal(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Number(left), Value::Number(right)) => {
            compare_numbers(left, right) == Some(Ordering::Equal)
        }
        (Value::Bool(left), Value::Bool(right)) => left == right,
        (Value::String(left), Value::String(right)) => left == right,
        (Value::Number(number), Value::String(text))
        | (Value::String(text), Value::Number(number)) => parse_number_text(text)
            .is_some_and(|parsed| compare_numbers(number, &parsed) == Some(Ordering::Equal)),
        (Value::Bool(flag), Value::String(text)) | (Value::String(text), Value::Bool(flag)) => {
            parse_bool_text(text) == Some(*flag)
        }
        _ => false,
    }
}

/// Implements the order behind `<`, `<=`, `>` and `>=`. `None` means the values are
/// not ordered, which makes all four operators false.
pub(super) fn compare_values(left: &Value, right: &Value) -> Option<Ordering> {
    match (left, right) {
        (Value::Number(left), Value::Number(right)) => compare_numbers(left, right),
        (Value::Number(left), Value::String(right)) => {
            compare_numbers(left, &parse_number_text(right)?)
        }
        (Value::String(left), Value::Number(right)) => {
            compare_numbers(&parse_number_text(left)?, right)
        }
        (Value::String(left), Value::String(right)) => {
            match (parse_number_text(left), parse_number_text(right)) {
                (Some(left), Some(right)) => compare_numbers(&left, &right),
                // Rust orders `str` by UTF-8 bytes, which is the order of Unicode scalar values.
                _ => Some(left.cmp(right)),
            }
        }
        _ => None,
    }
}

/// Compares two JSON numbers. Integers compare exactly. When one side is a float,
/// both convert to `f64`, so integers beyond 2^53 may compare equal to a nearby float.
fn compare_numbers(left: &Number, right: &Number) -> Option<Ordering> {
    if let (Some(left), Some(right)) = (left.as_i64(), right.as_i64()) {
        return Some(left.cmp(&right));
    }
    if let (Some(left), Some(right)) = (left.as_u64(), right.as_u64()) {
        return Some(left.cmp(&right));
    }
    left.as_f64()?.partial_cmp(&right.as_f64()?)
}

/// Parses a string slot value as a number after trimming whitespace. Accepts Rust's
/// integer and `f64` syntax (`18`, `+3`, `-2.5`, `1e3`) but not `inf` or `NaN`.
pub(super) fn parse_number_text(text: &str) -> Option<Number> {
    let trimmed = text.trim();
    if let Ok(integer) = trimmed.parse::<i64>() {
        return Some(Number::from(integer));
    }
    if let Ok(integer) = trimmed.parse::<u64>() {
        return Some(Number::from(integer));
    }
    let float = trimmed.parse::<f64>().ok()?;
    if !float.is_finite() {
        return None;
    }
    Number::from_f64(float)
}

/// Parses `"true"` or `"false"`, trimmed and in any ASCII case.
fn parse_bool_text(text: &str) -> Option<bool> {
    let trimmed = text.trim();
    if trimmed.eq_ignore_ascii_case("true") {
        Some(true)
    } else if trimmed.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn truthiness_of_each_type() {
        let cases = [
            (json!(null), false),
            (json!(false), false),
            (json!(true), true),
            (json!(0), false),
            (json!(0.0), false),
            (json!(-0.0), false),
            (json!(1), true),
            (json!(-0.5), true),
            (json!(u64::MAX), true),
            (json!(""), false),
            (json!(" "), true),
            (json!("0"), true),
            (json!("false"), true),
            (json!([]), false),
            (json!([null]), true),
            (json!({}), true),
        ];
        for (value, expected) in cases {
            assert_eq!(is_truthy(&value), expected, "truthiness of {value}");
        }
    }

    #[test]
    fn null_equals_only_null() {
        assert!(values_equal(&json!(null), &json!(null)));
        for other in [
            json!(false),
            json!(0),
            json!(""),
            json!("null"),
            json!([]),
            json!({}),
        ] {
            assert!(!values_equal(&json!(null), &other), "null == {other}");
            assert!(!values_equal(&other, &json!(null)), "{other} == null");
        }
        assert!(!values_equal(&json!([null]), &json!(null)));
    }

    #[test]
    fn numbers_compare_numerically() {
        assert!(values_equal(&json!(1), &json!(1.0)));
        assert!(values_equal(&json!(-0.0), &json!(0)));
        assert!(!values_equal(&json!(1), &json!(1.5)));
        assert!(values_equal(&json!(u64::MAX), &json!(u64::MAX)));
        assert!(!values_equal(&json!(u64::MAX), &json!(-1)));
        assert!(!values_equal(&json!(i64::MAX), &json!(i64::MAX - 1)));
    }

    #[test]
    fn strings_compare_exactly() {
        assert!(values_equal(&json!("work"), &json!("work")));
        assert!(!values_equal(&json!("work"), &json!("Work")));
        assert!(!values_equal(&json!("work"), &json!(" work")));
        assert!(!values_equal(&json!("1"), &json!("1.0")));
    }

    #[test]
    fn number_equals_numeric_string() {
        let equal = [
            ("1", 1.0),
            (" 1 ", 1.0),
            ("1.0", 1.0),
            ("1e3", 1000.0),
            ("+2", 2.0),
        ];
        for (text, number) in equal {
            assert!(
                values_equal(&json!(number), &json!(text)),
                "{number} == {text:?}"
            );
            assert!(
                values_equal(&json!(text), &json!(number)),
                "{text:?} == {number}"
            );
        }
        assert!(values_equal(&json!(1), &json!("1")));
        let unequal = [
            ("one", 1.0),
            ("", 0.0),
            ("inf", f64::MAX),
            ("NaN", 0.0),
            ("1x", 1.0),
        ];
        for (text, number) in unequal {
            assert!(
                !values_equal(&json!(number), &json!(text)),
                "{number} == {text:?}"
            );
        }
    }

    #[test]
    fn bool_equals_bool_string() {
        for text in ["true", "TRUE", " True "] {
            assert!(values_equal(&json!(true), &json!(text)), "true == {text:?}");
            assert!(
                !values_equal(&json!(false), &json!(text)),
                "false == {text:?}"
            );
        }
        assert!(values_equal(&json!("False"), &json!(false)));
        assert!(!values_equal(&json!(true), &json!("yes")));
        assert!(!values_equal(&json!(true), &json!("1")));
    }

    #[test]
    fn number_never_equals_bool() {
        assert!(!values_equal(&json!(1), &json!(true)));
        assert!(!values_equal(&json!(0), &json!(false)));
        assert!(!values_equal(&json!(false), &json!(0)));
    }

    #[test]
    fn arrays_compare_element_wise() {
        assert!(values_equal(&json!([1, "a"]), &json!(["1", "a"])));
        assert!(values_equal(&json!([]), &json!([])));
        assert!(!values_equal(&json!([1, 2]), &json!([2, 1])));
        assert!(!values_equal(&json!([1, 2]), &json!([1])));
        assert!(!values_equal(&json!([[1, 2], 3]), &json!([1, 2])));
    }

    #[test]
    fn array_equals_scalar_it_contains() {
        let list = json!(["a", 2, true]);
        for member in [json!("a"), json!(2), json!("2"), json!(true)] {
            assert!(values_equal(&list, &member), "{list} == {member}");
            assert!(values_equal(&member, &list), "{member} == {list}");
        }
        assert!(!values_equal(&list, &json!("b")));
        assert!(!values_equal(&json!([]), &json!("")));
    }

    #[test]
    fn objects_compare_by_name() {
        let file = json!({"name": "report.pdf", "size": 10});
        assert!(values_equal(&file, &json!("report.pdf")));
        assert!(values_equal(&json!("report.pdf"), &file));
        assert!(values_equal(&file, &json!({"name": "report.pdf"})));
        assert!(!values_equal(&file, &json!("other.pdf")));
        let nameless = json!({"size": 10});
        assert!(!values_equal(&nameless, &nameless));
        assert!(!values_equal(&nameless, &json!({})));
    }

    #[test]
    fn file_list_contains_file_name() {
        let files = json!([{"name": "a.pdf"}, {"name": "b.png"}]);
        assert!(values_equal(&files, &json!("b.png")));
        assert!(!values_equal(&files, &json!("c.txt")));
    }

    #[test]
    fn ordering_of_numbers_and_numeric_strings() {
        assert_eq!(compare_values(&json!(2), &json!(10)), Some(Ordering::Less));
        assert_eq!(
            compare_values(&json!(2.5), &json!(2)),
            Some(Ordering::Greater)
        );
        assert_eq!(
            compare_values(&json!("10"), &json!(9)),
            Some(Ordering::Greater)
        );
        assert_eq!(
            compare_values(&json!(9), &json!(" 10 ")),
            Some(Ordering::Less)
        );
        assert_eq!(
            compare_values(&json!("10"), &json!("9")),
            Some(Ordering::Greater)
        );
        assert_eq!(
            compare_values(&json!("1.0"), &json!("1")),
            Some(Ordering::Equal)
        );
        assert_eq!(
            compare_values(&json!(-1), &json!(u64::MAX)),
            Some(Ordering::Less)
        );
    }

    #[test]
    fn ordering_of_text_strings() {
        assert_eq!(
            compare_values(&json!("apple"), &json!("banana")),
            Some(Ordering::Less)
        );
        assert_eq!(
            compare_values(&json!("B"), &json!("a")),
            Some(Ordering::Less)
        );
        assert_eq!(
            compare_values(&json!("é"), &json!("z")),
            Some(Ordering::Greater)
        );
        assert_eq!(
            compare_values(&json!("10"), &json!("abc")),
            Some(Ordering::Less)
        );
        let max_bmp = json!("\u{FFFF}");
        let emoji = json!("\u{1F600}");
        assert_eq!(compare_values(&max_bmp, &emoji), Some(Ordering::Less));
    }

    #[test]
    fn unordered_pairs() {
        let cases = [
            (json!(1), json!("abc")),
            (json!(null), json!(1)),
            (json!(null), json!(null)),
            (json!(true), json!(false)),
            (json!(true), json!(1)),
            (json!([1]), json!(1)),
            (json!([1]), json!([2])),
            (json!({"name": "a"}), json!("a")),
        ];
        for (left, right) in cases {
            assert_eq!(compare_values(&left, &right), None, "{left} vs {right}");
            assert_eq!(compare_values(&right, &left), None, "{right} vs {left}");
        }
    }

    #[test]
    fn parse_number_text_forms() {
        assert_eq!(parse_number_text(" 42 "), Some(Number::from(42)));
        assert_eq!(
            parse_number_text("18446744073709551615"),
            Some(Number::from(u64::MAX))
        );
        assert_eq!(parse_number_text("-2.5"), Number::from_f64(-2.5));
        for text in [
            "",
            " ",
            "abc",
            "inf",
            "-infinity",
            "NaN",
            "1e999",
            "1,5",
            "0x10",
        ] {
            assert_eq!(parse_number_text(text), None, "{text:?}");
        }
    }
}
