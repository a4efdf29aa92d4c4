//! Canonical JSON: the byte string that a webhook signature covers.
//!
//! The form is the output of Python's
//! `json.dumps(obj, sort_keys=True, separators=(",", ":"))` with its default
//! `ensure_ascii=True`, so a Python verifier that parses the body and
//! serializes it again produces exactly these bytes:
//!
//! - Object keys are sorted by byte order of their UTF-8 encoding, at every
//!   depth. This equals sorting by code point, which is what Python's
//!   `sort_keys` and Go's map encoding do.
//! - No whitespace between tokens.
//! - In strings (keys and values), `"` and `\` get a backslash, and `\b`, `\f`,
//!   `\n`, `\r` and `\t` use their short escapes. Every other character outside
//!   printable ASCII (U+0020 to U+007E) is written as `\uXXXX` with lowercase
//!   hex: the other control characters, DEL (U+007F) and all non-ASCII text.
//!   Characters above U+FFFF become a UTF-16 surrogate pair (`\ud83d\ude00`).
//!   `/`, `<`, `>` and `&` are written as they are.
//! - Integers that fit in `i64` or `u64` are written in decimal.
//! - Other numbers are `f64` values written as Python's `repr(float)` writes
//!   them, with the shortest digits that parse back to the same value. While
//!   the decimal exponent is from -4 to 15 they are in decimal notation with
//!   at least one digit after the point (`2.0`, `0.0001`). Otherwise they are
//!   in exponent notation with a sign and at least two exponent digits
//!   (`1e-05`, `1.5e+16`). Python reads such a number back as a float and
//!   writes the same text.
//! - `true`, `false` and `null` as usual.

use std::fmt::Write as _;

use serde_json::{Map, Number, Value};

/// Serializes `value` in canonical form (see the module documentation).
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => write_number(out, number),
        Value::String(text) => write_string(out, text),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map),
    }
}

fn write_object(out: &mut String, map: &Map<String, Value>) {
    // The workspace enables serde_json's `preserve_order`, so the map keeps
    // insertion order and the keys must be sorted here.
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));

    out.push('{');
    for (index, (key, value)) in entries.into_iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        write_string(out, key);
        out.push(':');
        write_value(out, value);
    }
    out.push('}');
}

fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' '..='~' => out.push(character),
            _ => {
                let mut units = [0u16; 2];
                for unit in character.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

fn write_number(out: &mut String, number: &Number) {
    if let Some(integer) = number.as_i64() {
        let _ = write!(out, "{integer}");
    } else if let Some(integer) = number.as_u64() {
        let _ = write!(out, "{integer}");
    } else if let Some(float) = number.as_f64().filter(|float| float.is_finite()) {
        write_python_float(out, float);
    } else {
        // NOTE: reached only with serde_json's `arbitrary_precision` feature,
        // for a literal outside the f64 range. Python would read it as an int
        // or an infinity, so such a payload may not verify.
        out.push_str(&number.to_string());
    }
}

/// Writes a finite `value` the way Python's `repr(float)` does.
fn write_python_float(out: &mut String, value: f64) {
    if value == 0.0 {
        out.push_str(if value.is_sign_negative() {
            "-0.0"
        } else {
            "0.0"
        });
        return;
    }

    // Rust's `{:e}` prints the shortest digits that round-trip, as Python's
    // repr does, for example `1.2345e-7`.
    let scientific = format!("{:e}", value.abs());
    let Some((mantissa, exponent)) = scientific.split_once('e') else {
        out.push_str(&scientific);
        return;
    };
    let Ok(exponent) = exponent.parse::<i32>() else {
        out.push_str(&scientific);
        return;
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();

    if value.is_sign_negative() {
        out.push('-');
    }

    // Python switches to exponent notation below 1e-4 and from 1e16 up.
    if (-4..16).contains(&exponent) {
        write_decimal_notation(out, &digits, exponent);
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let sign = if exponent < 0 { '-' } else { '+' };
        let _ = write!(out, "e{sign}{:02}", exponent.unsigned_abs());
    }
}

/// Writes `0.DIGITS × 10^(exponent + 1)` without an exponent.
fn write_decimal_notation(out: &mut String, digits: &str, exponent: i32) {
    let integer_digits = exponent + 1;
    if integer_digits <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n(
            '0',
            integer_digits.unsigned_abs() as usize,
        ));
        out.push_str(digits);
        return;
    }

    let integer_digits = integer_digits as usize;
    if integer_digits >= digits.len() {
        out.push_str(digits);
        out.extend(std::iter::repeat_n('0', integer_digits - digits.len()));
        out.push_str(".0");
    } else {
        out.push_str(&digits[..integer_digits]);
        out.push('.');
        out.push_str(&digits[integer_digits..]);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn float(value: f64) -> String {
        canonical_json(&json!(value))
    }

    #[test]
    fn keys_sorted_at_every_depth() {
        let value = json!({"b": 1, "a": {"z": [ {"y": 1, "x": 2} ], "m": null}});
        assert_eq!(
            canonical_json(&value),
            r#"{"a":{"m":null,"z":[{"x":2,"y":1}]},"b":1}"#
        );
    }

    #[test]
    fn keys_sorted_by_code_point() {
        let value = json!({"é": 1, "z": 2, "Z": 3, "😀": 4, "\u{ffff}": 5});
        assert_eq!(
            canonical_json(&value),
            r#"{"Z":3,"z":2,"\u00e9":1,"\uffff":5,"\ud83d\ude00":4}"#
        );
    }

    #[test]
    fn strings_escaped_like_python() {
        let cases = [
            ("plain", r#""plain""#),
            (
                "quote \" backslash \\ slash /",
                r#""quote \" backslash \\ slash /""#,
            ),
            ("\u{8}\u{c}\n\r\t", r#""\b\f\n\r\t""#),
            ("\u{0}\u{1f}\u{7f}", r#""\u0000\u001f\u007f""#),
            ("<a href='x'>&</a>", r#""<a href='x'>&</a>""#),
            ("مرحبا", r#""\u0645\u0631\u062d\u0628\u0627""#),
            ("é\u{2028}", r#""\u00e9\u2028""#),
            ("😀", r#""\ud83d\ude00""#),
        ];
        for (input, expected) in cases {
            assert_eq!(canonical_json(&json!(input)), expected, "input {input:?}");
        }
    }

    #[test]
    fn integers_in_decimal() {
        assert_eq!(canonical_json(&json!(0)), "0");
        assert_eq!(canonical_json(&json!(-42)), "-42");
        assert_eq!(canonical_json(&json!(i64::MIN)), "-9223372036854775808");
        assert_eq!(canonical_json(&json!(u64::MAX)), "18446744073709551615");
    }

    #[test]
    fn floats_written_like_python_repr() {
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (-2.5, "-2.5"),
            (0.1, "0.1"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.000123, "0.000123"),
            (1.5e-7, "1.5e-07"),
            (123456.789, "123456.789"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.2345e16, "1.2345e+16"),
            (1e21, "1e+21"),
            (1e100, "1e+100"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (9007199254740993.0, "9007199254740992.0"),
        ];
        for (input, expected) in cases {
            assert_eq!(float(input), expected, "input {input:e}");
        }
    }

    #[test]
    fn empty_containers() {
        assert_eq!(
            canonical_json(&json!({"a": {}, "b": []})),
            r#"{"a":{},"b":[]}"#
        );
    }
}
