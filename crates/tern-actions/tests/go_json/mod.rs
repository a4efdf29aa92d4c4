//! A model of a webhook verifier written in Go with `encoding/json`.
//!
//! Flowent's Go sample decodes the body into a `map[string]interface{}`,
//! deletes `signature`, and compares the HMAC-SHA256 of `json.Marshal` of
//! the rest. This module reproduces the rules of Go 1.22 and later that
//! decide those bytes:
//!
//! - Map keys are sorted by byte order.
//! - Numbers decode to `float64`, unless the decoder has `UseNumber()`, which
//!   keeps the literal text. A `float64` is written in the shortest form that
//!   round-trips, without an exponent for magnitudes from 1e-6 to below 1e21
//!   (`1`, not `1.0`), and otherwise as `1e+21` or `1e-7`.
//! - Strings escape `"` and `\`, write `\b`, `\f`, `\n`, `\r` and `\t` short
//!   (Go 1.21 and earlier wrote `\b` and `\f` as `\u0008` and `\u000c`), write
//!   other control characters as `\u00XX`, and escape U+2028 and U+2029.
//!   With HTML escaping on, the default of `json.Marshal`, `<`, `>` and `&`
//!   become `\u003c`, `\u003e` and `\u0026`. DEL and non-ASCII text stay raw.
//!
//! [`GoVerifier::FIXED`] models the changes a Go webhook needs to accept
//! every Tern request. It decodes with `UseNumber()` and encodes with an
//! `Encoder` that has `SetEscapeHTML(false)`, trimming its trailing newline.
//! A final pass over the output writes DEL and every non-ASCII character as
//! lowercase `\uXXXX`, with surrogate pairs above U+FFFF.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Decoder and encoder settings of a Go verifier.
#[derive(Clone, Copy, Debug)]
pub struct GoVerifier {
    pub use_number: bool,
    pub escape_html: bool,
    pub escape_non_ascii: bool,
}

impl GoVerifier {
    /// Flowent's sample: `json.Unmarshal` into a map, then `json.Marshal`.
    pub const SAMPLE: Self = Self {
        use_number: false,
        escape_html: true,
        escape_non_ascii: false,
    };

    /// The sample with the changes that make it match Tern's canonical form.
    pub const FIXED: Self = Self {
        use_number: true,
        escape_html: false,
        escape_non_ascii: true,
    };

    /// Returns whether this verifier accepts `body` signed under `key`.
    pub fn accepts(&self, key: &[u8], body: &str) -> bool {
        let GoValue::Object(mut payload) = parse(body) else {
            return false;
        };
        let Some(GoValue::String(signature)) = payload.remove("signature") else {
            return false;
        };
        let Ok(expected) = hex::decode(signature) else {
            return false;
        };
        let message = self.marshal(&GoValue::Object(payload));

        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
        mac.update(message.as_bytes());
        mac.verify_slice(&expected).is_ok()
    }

    /// Returns the text this verifier signs for `value`.
    pub fn marshal(&self, value: &GoValue) -> String {
        let mut out = String::new();
        self.write_value(&mut out, value);
        if self.escape_non_ascii {
            escape_non_ascii(&out)
        } else {
            out
        }
    }

    fn write_value(&self, out: &mut String, value: &GoValue) {
        match value {
            GoValue::Null => out.push_str("null"),
            GoValue::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
            GoValue::Number(literal) if self.use_number => out.push_str(literal),
            GoValue::Number(literal) => {
                let float: f64 = literal.parse().expect("JSON number literal");
                out.push_str(&format_go_float(float));
            }
            GoValue::String(text) => self.write_string(out, text),
            GoValue::Array(items) => {
                out.push('[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    self.write_value(out, item);
                }
                out.push(']');
            }
            GoValue::Object(map) => {
                // BTreeMap<String, _> iterates in byte order, as Go sorts keys.
                out.push('{');
                for (index, (key, item)) in map.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    self.write_string(out, key);
                    out.push(':');
                    self.write_value(out, item);
                }
                out.push('}');
            }
        }
    }

    fn write_string(&self, out: &mut String, text: &str) {
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
                '<' | '>' | '&' if self.escape_html => {
                    let _ = write!(out, "\\u{:04x}", character as u32);
                }
                '\u{0}'..='\u{1f}' | '\u{2028}' | '\u{2029}' => {
                    let _ = write!(out, "\\u{:04x}", character as u32);
                }
                _ => out.push(character),
            }
        }
        out.push('"');
    }
}

/// Formats a float64 as encoding/json's `floatEncoder` does.
pub fn format_go_float(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude == 0.0 || (1e-6..1e21).contains(&magnitude) {
        // strconv 'f' with precision -1: shortest round-trip digits, no exponent.
        return format!("{value}");
    }

    // strconv 'e' pads the exponent to two digits, then encoding/json
    // shortens `e-07` to `e-7`. Positive exponents keep the `+` and padding.
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("LowerExp has an exponent");
    let exponent: i32 = exponent.parse().expect("LowerExp exponent is an integer");
    if exponent < 0 {
        format!("{mantissa}e-{}", exponent.unsigned_abs())
    } else {
        format!("{mantissa}e+{exponent:02}")
    }
}

/// Writes DEL and non-ASCII characters of Go's output as `\uXXXX`.
fn escape_non_ascii(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        if character.is_ascii() && character != '\u{7f}' {
            out.push(character);
            continue;
        }
        let mut units = [0u16; 2];
        for unit in character.encode_utf16(&mut units) {
            let _ = write!(out, "\\u{unit:04x}");
        }
    }
    out
}

/// A decoded JSON value as Go stores it in an `interface{}`. Numbers keep
/// their literal so the model can decode them either way.
#[derive(Debug, PartialEq)]
pub enum GoValue {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<GoValue>),
    Object(BTreeMap<String, GoValue>),
}

/// Parses a JSON text. The test bodies are well-formed, so this panics on
/// malformed input instead of reporting errors.
pub fn parse(text: &str) -> GoValue {
    let mut parser = Parser { text, position: 0 };
    let value = parser.value();
    parser.skip_whitespace();
    assert_eq!(
        parser.position,
        text.len(),
        "trailing text after JSON value"
    );
    value
}

struct Parser<'a> {
    text: &'a str,
    position: usize,
}

impl Parser<'_> {
    fn value(&mut self) -> GoValue {
        self.skip_whitespace();
        match self.peek() {
            b'{' => self.object(),
            b'[' => self.array(),
            b'"' => GoValue::String(self.string()),
            b't' => self.literal("true", GoValue::Bool(true)),
            b'f' => self.literal("false", GoValue::Bool(false)),
            b'n' => self.literal("null", GoValue::Null),
            _ => self.number(),
        }
    }

    fn object(&mut self) -> GoValue {
        self.expect(b'{');
        let mut map = BTreeMap::new();
        self.skip_whitespace();
        if self.peek() == b'}' {
            self.position += 1;
            return GoValue::Object(map);
        }
        loop {
            self.skip_whitespace();
            let key = self.string();
            self.skip_whitespace();
            self.expect(b':');
            let value = self.value();
            // Go keeps the last value of a duplicate key.
            map.insert(key, value);
            self.skip_whitespace();
            if self.peek() == b',' {
                self.position += 1;
                continue;
            }
            self.expect(b'}');
            return GoValue::Object(map);
        }
    }

    fn array(&mut self) -> GoValue {
        self.expect(b'[');
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == b']' {
            self.position += 1;
            return GoValue::Array(items);
        }
        loop {
            items.push(self.value());
            self.skip_whitespace();
            if self.peek() == b',' {
                self.position += 1;
                continue;
            }
            self.expect(b']');
            return GoValue::Array(items);
        }
    }

    /// Finds the end of a string token and lets serde_json decode its escapes.
    fn string(&mut self) -> String {
        let start = self.position;
        self.expect(b'"');
        loop {
            match self.peek() {
                b'\\' => self.position += 2,
                b'"' => break,
                _ => self.position += 1,
            }
        }
        self.position += 1;
        serde_json::from_str(&self.text[start..self.position]).expect("valid JSON string")
    }

    fn number(&mut self) -> GoValue {
        let start = self.position;
        while self.position < self.text.len() && b"+-.eE0123456789".contains(&self.peek()) {
            self.position += 1;
        }
        assert!(
            self.position > start,
            "unexpected character at byte {start}"
        );
        GoValue::Number(self.text[start..self.position].to_string())
    }

    fn literal(&mut self, word: &str, value: GoValue) -> GoValue {
        assert!(
            self.text[self.position..].starts_with(word),
            "expected `{word}`"
        );
        self.position += word.len();
        value
    }

    fn expect(&mut self, byte: u8) {
        assert_eq!(
            self.peek(),
            byte,
            "expected `{}` at byte {}",
            byte as char,
            self.position
        );
        self.position += 1;
    }

    fn peek(&self) -> u8 {
        self.text.as_bytes()[self.position]
    }

    fn skip_whitespace(&mut self) {
        while self.position < self.text.len() && self.peek().is_ascii_whitespace() {
            self.position += 1;
        }
    }
}
