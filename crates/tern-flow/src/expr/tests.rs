//! Tests of the public `Expr` API: whole conditions from parse to evaluation.

use std::cell::RefCell;

use indexmap::IndexMap;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;

/// Builds a slot map from a JSON object literal.
fn slots(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("slots must be a JSON object, got {other}"),
    }
}

fn parse(source: &str) -> Expr {
    match Expr::parse(source) {
        Ok(expr) => expr,
        Err(error) => panic!("failed to parse {source:?}: {error}"),
    }
}

fn check(source: &str, slot_values: &Value) -> bool {
    parse(source).evaluate(&slots(slot_values.clone()))
}

/// Slot lookup that records every requested slot name.
struct RecordingLookup {
    values: Map<String, Value>,
    requested: RefCell<Vec<String>>,
}

impl SlotLookup for RecordingLookup {
    fn slot(&self, name: &str) -> Option<&Value> {
        self.requested.borrow_mut().push(name.to_owned());
        self.values.get(name)
    }
}

#[test]
fn conditions_from_flow_files() {
    let adult = json!({"age": 30, "kind": "work", "flag": true, "choice": 1});
    let child = json!({"age": 12, "kind": "home", "flag": false, "choice": "2"});
    let cases = [
        ("slots.age >= 18", true, false),
        ("slots.age < 18 && slots.age >= 0", false, true),
        ("slots.kind == 'work'", true, false),
        ("slots.flag == true", true, false),
        ("slots.choice == '1'", true, false),
        ("slots.choice == 2", false, true),
    ];
    for (source, adult_result, child_result) in cases {
        assert_eq!(check(source, &adult), adult_result, "{source} for adult");
        assert_eq!(check(source, &child), child_result, "{source} for child");
    }
}

#[test]
fn unset_slot_is_null() {
    let empty = json!({});
    assert_eq!(
        parse("slots.missing").value(&slots(empty.clone())),
        Value::Null
    );
    assert!(check("slots.missing == null", &empty));
    assert!(!check("slots.missing != null", &empty));
    assert!(!check("slots.missing", &empty));
    assert!(check("!slots.missing", &empty));
    assert!(!check("slots.missing == ''", &empty));
    assert!(!check("slots.missing == 0", &empty));
    assert!(!check("slots.missing < 1", &empty));
    assert!(!check("slots.missing >= 1", &empty));
}

#[test]
fn set_slot_is_not_null() {
    let values = json!({"a": "", "b": 0, "c": false, "d": []});
    for name in ["a", "b", "c", "d"] {
        let source = format!("slots.{name} == null");
        assert!(!check(&source, &values), "{source}");
    }
}

#[test]
fn bare_slot_is_its_truthiness() {
    let cases = [
        (json!(null), false),
        (json!(true), true),
        (json!(false), false),
        (json!(0), false),
        (json!(3), true),
        (json!(""), false),
        (json!("no"), true),
        (json!([]), false),
        (json!([0]), true),
        (json!({}), true),
    ];
    for (value, expected) in cases {
        let values = json!({ "x": value });
        assert_eq!(check("slots.x", &values), expected, "slots.x = {value}");
        assert_eq!(check("!slots.x", &values), !expected, "!slots.x = {value}");
        assert_eq!(check("!!slots.x", &values), expected, "!!slots.x = {value}");
    }
}

#[test]
fn equality_rules_end_to_end() {
    let values = json!({
        "n": 1, "s": "1", "b": true, "list": ["a", "b"],
        "file": {"name": "id.png", "size": 3}, "blob": {"size": 3}
    });
    let cases = [
        ("slots.n == '1'", true),
        ("slots.n == ' 1.0 '", true),
        ("slots.s == 1", true),
        ("slots.s == '1.0'", false),
        ("slots.b == 'TRUE'", true),
        ("slots.b == 1", false),
        ("slots.list == 'b'", true),
        ("slots.list != 'b'", false),
        ("slots.list == 'c'", false),
        ("slots.file == 'id.png'", true),
        ("slots.blob == slots.blob", false),
        ("slots.blob != slots.blob", true),
        ("null == null", true),
        ("1 == 1.0", true),
        ("'a' == \"a\"", true),
    ];
    for (source, expected) in cases {
        assert_eq!(check(source, &values), expected, "{source}");
    }
}

#[test]
fn ordering_rules_end_to_end() {
    let values = json!({"n": 5, "s": "10", "t": "abc", "b": true, "list": [1]});
    let cases = [
        ("slots.n < 10", true),
        ("slots.s > slots.n", true),
        ("slots.s > '9'", true),
        ("slots.t > 'abb'", true),
        ("slots.t < slots.n", false),
        ("slots.t >= slots.n", false),
        ("slots.b > false", false),
        ("slots.b <= true", false),
        ("slots.list >= 1", false),
        ("slots.missing < 1", false),
        ("'1.0' <= '1'", true),
        ("'1.0' >= '1'", true),
        ("'1.0' == '1'", false),
    ];
    for (source, expected) in cases {
        assert_eq!(check(source, &values), expected, "{source}");
    }
}

#[test]
fn operators_yield_bools() {
    let values = slots(json!({"a": "text", "b": 7}));
    assert_eq!(parse("slots.a && slots.b").value(&values), json!(true));
    assert_eq!(
        parse("slots.missing || slots.b").value(&values),
        json!(true)
    );
    assert_eq!(parse("slots.missing || ''").value(&values), json!(false));
    assert_eq!(parse("!slots.b").value(&values), json!(false));
    assert_eq!(parse("slots.b > 1").value(&values), json!(true));
}

#[test]
fn value_returns_operands_as_is() {
    let values = slots(json!({"list": [1, "a"]}));
    assert_eq!(parse("slots.list").value(&values), json!([1, "a"]));
    assert_eq!(parse("'it\\'s'").value(&values), json!("it's"));
    assert_eq!(parse("-2.5").value(&values), json!(-2.5));
    assert_eq!(parse("(18)").value(&values), json!(18));
}

#[test]
fn and_or_short_circuit() {
    let lookup = RecordingLookup {
        values: slots(json!({"yes": true, "no": false})),
        requested: RefCell::new(Vec::new()),
    };
    assert!(!parse("slots.no && slots.skipped").evaluate(&lookup));
    assert!(parse("slots.yes || slots.skipped").evaluate(&lookup));
    assert!(parse("slots.no || slots.yes && slots.yes").evaluate(&lookup));
    let requested = lookup.requested.borrow();
    assert!(!requested.contains(&"skipped".to_owned()), "{requested:?}");
    assert_eq!(requested.len(), 5);
}

#[test]
fn indexmap_slots_work() {
    let mut values: IndexMap<String, Value> = IndexMap::new();
    values.insert("age".to_owned(), json!(20));
    assert!(parse("slots.age >= 18").evaluate(&values));
    assert!(!parse("slots.other >= 18").evaluate(&values));
}

#[test]
fn unicode_strings_compare() {
    let values = json!({"city": "الرياض"});
    assert!(check("slots.city == 'الرياض'", &values));
    assert!(!check("slots.city == 'جدة'", &values));
}

#[test]
fn slot_refs_in_first_appearance_order() {
    let expr = parse("slots.b > 1 && (slots.a == slots.b || !slots.c) && slots.a");
    assert_eq!(expr.slot_refs(), vec!["b", "a", "c"]);
    assert_eq!(parse("1 == 1").slot_refs(), Vec::<&str>::new());
}

#[test]
fn source_is_kept_verbatim() {
    let source = "  slots.a   ==  'x' ";
    assert_eq!(parse(source).source(), source);
}

#[test]
fn equal_sources_parse_equal() {
    assert_eq!(parse("slots.a == 1"), parse("slots.a == 1"));
    assert_ne!(parse("slots.a == 1"), parse("slots.a==1"));
}

#[test]
fn error_display_shows_column() {
    let error = Expr::parse("slots.x == 1 &&").err();
    let display = error.map(|error| error.to_string());
    assert_eq!(
        display.as_deref(),
        Some("expected a value after `&&` at column 14")
    );
}

/// Renders the error for each source, one per line, for review as a snapshot.
fn error_table(sources: &[&str]) -> String {
    let mut table = String::new();
    for source in sources {
        let result = match Expr::parse(source) {
            Ok(expr) => format!("parsed {:?}", expr.source()),
            Err(error) => error.to_string(),
        };
        table.push_str(&format!("{source:<28} => {result}\n"));
    }
    table
}

#[test]
fn error_messages() {
    let sources = [
        "",
        "slots.age = 18",
        "slots.age >= 18 and slots.ok",
        "age >= 18",
        "slots.flag == True",
        "slots.a & slots.b",
        "slots.a | slots.b",
        "slots.a == 'open",
        "slots.a == 'x\\q'",
        "slots.a == 1e3",
        "slots.a == - 1",
        "slots.9lives",
        "slots.",
        "slots.a < slots.b < slots.c",
        "(slots.a",
        "slots.a)",
        "slots.a slots.b",
        "slots.a == #",
        "slots.a == ‘x’",
        "slots.a == ",
        "!",
    ];

    insta::assert_snapshot!(error_table(&sources), @r#"
                                 => the condition is empty, write one such as `slots.age >= 18` at column 1
    slots.age = 18               => use `==` to compare, not `=` at column 11
    slots.age >= 18 and slots.ok => use `&&` for a logical and, not `and` at column 17
    age >= 18                    => slot references are written `slots.age`, not `age` at column 1
    slots.flag == True           => use `true` in lowercase, not `True` at column 15
    slots.a & slots.b            => use `&&` for a logical and, not `&` at column 9
    slots.a | slots.b            => use `||` for a logical or, not `|` at column 9
    slots.a == 'open             => missing closing `'` for the string that starts at column 12
    slots.a == 'x\q'             => the supported string escapes are `\\`, `\'`, `\"`, `\n` and `\t`, not `\q` at column 14
    slots.a == 1e3               => numbers are written as digits with an optional `-` and decimal part, such as `18` or `-2.5`, not `1e3` at column 12
    slots.a == - 1               => `-` is only valid directly before digits, as in `-5` at column 12
    slots.9lives                 => slot names start with an ASCII letter or `_`, as in `slots.age`, not `slots.9lives` at column 1
    slots.                       => expected a slot name after `slots.`, as in `slots.age` at column 1
    slots.a < slots.b < slots.c  => comparisons cannot be chained, so join them with `&&` as in `a < b && b < c`, but found a second comparison `<` at column 19
    (slots.a                     => missing `)` to close the `(` at column 1
    slots.a)                     => unmatched `)` at column 8
    slots.a slots.b              => expected an operator or the end of the condition but found `slots.b` at column 9
    slots.a == #                 => unexpected character `#` at column 12
    slots.a == ‘x’               => quote strings with a straight `'` or `"`, not `‘` at column 12
    slots.a ==                   => expected a value after `==` at column 9
    !                            => expected a value after `!` at column 1
    "#);
}

/// Tokens, valid and invalid, that the generated sources are built from.
const TOKEN_ALPHABET: &[&str] = &[
    "slots.a", "slots.b", "slots._c", "slots.", "slots", "(", ")", "!", "&&", "||", "==", "!=",
    "<", "<=", ">", ">=", "=", "&", "|", "1", "-2.5", "0", "'a'", "\"1\"", "'", "\"", "\\", "true",
    "false", "null", "age", "-", ".", "5.", "'x\\'y'", "ب", " ",
];

fn token_soup() -> impl Strategy<Value = String> {
    let token = proptest::sample::select(TOKEN_ALPHABET);
    proptest::collection::vec((token, proptest::bool::ANY), 0..24).prop_map(|tokens| {
        let mut source = String::new();
        for (token, space) in tokens {
            source.push_str(token);
            if space {
                source.push(' ');
            }
        }
        source
    })
}

/// JSON values of every type, nested up to three levels, with numeric and bool strings.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1.0e6..1.0e6f64).prop_map(Value::from),
        proptest::sample::select(vec!["", "1", " 1.0 ", "-2", "TRUE", "false", "a", "ب"])
            .prop_map(Value::from),
        "[a-c0-9 ]{0,4}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::option::of(inner).prop_map(|name| {
                let mut fields = Map::new();
                fields.insert("size".to_owned(), json!(1));
                if let Some(name) = name {
                    fields.insert("name".to_owned(), name);
                }
                Value::Object(fields)
            }),
        ]
    })
}

fn sample_slot_maps() -> Vec<Map<String, Value>> {
    vec![
        Map::new(),
        slots(json!({"a": 1, "b": "1", "_c": true})),
        slots(json!({"a": [1, "a"], "b": {"name": "a"}, "_c": null})),
        slots(json!({"a": "", "b": -2.5, "_c": {"size": 0}})),
    ]
}

/// Evaluates `slots.a OP slots.b` with the given slot values.
fn compare_slots(op: &str, a: &Value, b: &Value) -> bool {
    let values = slots(json!({"a": a, "b": b}));
    parse(&format!("slots.a {op} slots.b")).evaluate(&values)
}

proptest! {
    #[test]
    fn parse_never_panics_on_any_text(source in any::<String>()) {
        if let Ok(expr) = Expr::parse(&source) {
            for values in sample_slot_maps() {
                let _ = expr.value(&values);
            }
        }
    }

    #[test]
    fn parsed_token_soup_evaluates(source in token_soup()) {
        let Ok(expr) = Expr::parse(&source) else {
            return Ok(());
        };
        prop_assert_eq!(expr.source(), source.as_str());
        for name in expr.slot_refs() {
            let reference = format!("slots.{name}");
            prop_assert!(source.contains(&reference), "slot {} not in source", name);
        }
        for values in sample_slot_maps() {
            let value = expr.value(&values);
            prop_assert_eq!(expr.evaluate(&values), is_truthy(&value));
        }
    }

    #[test]
    fn not_equal_negates_equal(a in json_value(), b in json_value()) {
        prop_assert_eq!(compare_slots("!=", &a, &b), !compare_slots("==", &a, &b));
    }

    #[test]
    fn equality_is_symmetric(a in json_value(), b in json_value()) {
        prop_assert_eq!(compare_slots("==", &a, &b), compare_slots("==", &b, &a));
    }

    #[test]
    fn ordering_is_antisymmetric(a in json_value(), b in json_value()) {
        prop_assert_eq!(compare_slots("<", &a, &b), compare_slots(">", &b, &a));
        prop_assert_eq!(compare_slots("<=", &a, &b), compare_slots(">=", &b, &a));
        prop_assert!(!(compare_slots("<", &a, &b) && compare_slots(">", &a, &b)));
    }

    #[test]
    fn double_not_is_truthiness(a in json_value()) {
        let values = slots(json!({"a": a.clone()}));
        prop_assert_eq!(parse("!!slots.a").evaluate(&values), is_truthy(&a));
        prop_assert_eq!(parse("slots.a").evaluate(&values), is_truthy(&a));
    }

    #[test]
    fn numbers_equal_their_text(n in any::<i64>(), f in -1.0e9..1.0e9f64) {
        let integer = json!(n);
        prop_assert!(compare_slots("==", &integer, &json!(n.to_string())));
        let float = json!(f);
        prop_assert!(compare_slots("==", &float, &json!(f.to_string())));
        prop_assert!(compare_slots("<=", &float, &json!(f.to_string())));
    }
}
