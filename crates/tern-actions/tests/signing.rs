//! Checks signed request bodies against independent verifiers: Flowent's
//! Python sample (run with `python3`) and a model of its Go sample.

mod go_json;

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value, json};
use sha2::Sha256;
use tern_actions::{canonical_json, signed_body, verify};

use go_json::{GoValue, GoVerifier, format_go_float};

const KEY: &[u8] = b"tenant-hmac-key-for-tests";
const TIMESTAMP: u64 = 1_645_123_456;

/// A request body under test and whether the Go sample verifier accepts it.
struct Case {
    name: &'static str,
    body: String,
    go_sample_accepts: bool,
}

fn case(name: &'static str, parameters: Value, go_sample_accepts: bool) -> Case {
    let mut payload = Map::new();
    payload.insert("action_name".into(), json!("check_fine"));
    payload.insert("parameters".into(), parameters);
    payload.insert("timestamp".into(), json!(TIMESTAMP));
    Case {
        name,
        body: signed_body(KEY, payload),
        go_sample_accepts,
    }
}

fn test_call_case() -> Case {
    let mut payload = Map::new();
    payload.insert("action_name".into(), json!("check_fine"));
    payload.insert("parameters".into(), json!({}));
    payload.insert("test".into(), json!(true));
    payload.insert("timestamp".into(), json!(TIMESTAMP));
    Case {
        name: "test call",
        body: signed_body(KEY, payload),
        go_sample_accepts: true,
    }
}

fn cases() -> Vec<Case> {
    vec![
        case(
            "ascii",
            json!({"plate_number": "ABC 123", "count": 3}),
            true,
        ),
        test_call_case(),
        case(
            "nested objects",
            json!({"owner": {"id": "1", "address": {"zip": "12345", "lines": ["a", "b"]}},
                   "flags": [true, false, null], "empty": {}}),
            true,
        ),
        case(
            "quotes and backslash",
            json!({"memo": "\"quoted\" \\ a/b"}),
            true,
        ),
        case(
            "control characters",
            json!({"memo": "one\ntwo\tthree\r\u{8}\u{c}\u{1}\u{1f}"}),
            true,
        ),
        case(
            "line separators",
            json!({"memo": "a\u{2028}b\u{2029}c"}),
            true,
        ),
        case(
            "safe integers",
            json!({"small": 42, "negative": -7, "limit": 9_007_199_254_740_992_u64}),
            true,
        ),
        case(
            "fractions",
            json!({"amount": 12.5, "rate": 0.075, "negative": -3.25}),
            true,
        ),
        case("arabic", json!({"name": "محمد", "city": "الرياض"}), false),
        case("latin accents", json!({"name": "José Müller"}), false),
        case("emoji", json!({"mood": "😀"}), false),
        case("non-ascii key", json!({"الاسم": "Ali"}), false),
        case(
            "html characters",
            json!({"note": "<b>fish & chips</b>"}),
            false,
        ),
        case("delete character", json!({"memo": "a\u{7f}b"}), false),
        case(
            "integers beyond 2^53",
            json!({"id": 9_007_199_254_740_993_u64, "max": u64::MAX}),
            false,
        ),
        case("whole float", json!({"amount": 100.0}), false),
        case("zero float", json!({"amount": 0.0}), false),
        case("float 1e16", json!({"distance": 1e16}), false),
        case("float 1e-5", json!({"rate": 0.00001}), false),
        case("float 1.5e-7", json!({"rate": 1.5e-7}), false),
        case("float 1e-10", json!({"rate": 1e-10}), true),
        case("float 2.5e21", json!({"distance": 2.5e21}), true),
        case("whole float 1e22", json!({"distance": 1e22}), true),
        case(
            "parameter named signature",
            json!({"signature": "Ali", "note": ",\"signature\":\""}),
            true,
        ),
    ]
}

fn python3(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new("python3")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| {
            panic!(
                "failed to start `python3` ({error}); the verifier tests need Python 3 on PATH, \
                 for example from the `python3` Debian package"
            )
        });
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin)
        .expect("write to python3");
    child.wait_with_output().expect("wait for python3")
}

/// Runs the Python sample verifier on `body` and returns whether it accepts it.
fn python_accepts(body: &str) -> bool {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/verifiers/verify.py");
    let output = python3(&[script, &hex::encode(KEY)], body.as_bytes());
    match output.status.code() {
        Some(0) => true,
        Some(1) => false,
        _ => panic!(
            "verify.py failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

#[test]
fn python_verifier_accepts_every_payload() {
    for case in cases() {
        assert!(
            python_accepts(&case.body),
            "Python verifier rejected `{}`: {}",
            case.name,
            case.body
        );
    }
}

#[test]
fn python_verifier_rejects_wrong_key() {
    let payload =
        into_map(json!({"action_name": "check_fine", "parameters": {}, "timestamp": TIMESTAMP}));
    let body = signed_body(b"another-tenant", payload);
    assert!(!python_accepts(&body));
}

#[test]
fn rust_verify_accepts_every_payload() {
    for case in cases() {
        assert!(
            verify(KEY, case.body.as_bytes()).is_ok(),
            "verify rejected `{}`",
            case.name
        );
    }
}

#[test]
fn body_is_its_own_canonical_form() {
    for case in cases() {
        let parsed: Value = serde_json::from_str(&case.body).unwrap();
        assert_eq!(canonical_json(&parsed), case.body, "case `{}`", case.name);
    }
}

#[test]
fn body_keys_sorted_with_signature_in_place() {
    let body = test_call_case().body;
    let keys: Vec<String> = into_map(serde_json::from_str(&body).unwrap())
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        keys,
        [
            "action_name",
            "parameters",
            "signature",
            "test",
            "timestamp"
        ]
    );
}

/// A verifier may also cut the top-level `signature` member out of the raw
/// body and sign the rest. That member is the last one with this prefix,
/// because only `test` and `timestamp` follow it and they hold no strings.
#[test]
fn body_without_signature_member_is_signed_text() {
    for case in cases() {
        let start = case
            .body
            .rfind(r#","signature":""#)
            .expect("signature member");
        let value_start = start + r#","signature":""#.len();
        let end = value_start + 64 + 1;
        let signature = &case.body[value_start..end - 1];
        let unsigned = format!("{}{}", &case.body[..start], &case.body[end..]);

        let mut mac = Hmac::<Sha256>::new_from_slice(KEY).expect("HMAC accepts any key length");
        mac.update(unsigned.as_bytes());
        let expected = hex::decode(signature).expect("hex signature");
        assert!(
            mac.verify_slice(&expected).is_ok(),
            "case `{}`: {unsigned}",
            case.name
        );
    }
}

#[test]
fn go_sample_accepts_only_safe_payloads() {
    for case in cases() {
        let accepted = GoVerifier::SAMPLE.accepts(KEY, &case.body);
        assert_eq!(
            accepted, case.go_sample_accepts,
            "Go sample verifier on `{}`: {}",
            case.name, case.body
        );
    }
}

#[test]
fn go_fixed_accepts_every_payload() {
    for case in cases() {
        assert!(
            GoVerifier::FIXED.accepts(KEY, &case.body),
            "fixed Go verifier rejected `{}`",
            case.name
        );
    }
}

#[test]
fn go_model_matches_encoding_json() {
    // Expected texts are what Go 1.22's json.Marshal writes for these values.
    let value =
        go_json::parse(r#"{"b":"<é>&","a":1.0,"c":1e21,"d":1e-7,"e":"\u2028\u007f","f":0.5}"#);
    assert_eq!(
        GoVerifier::SAMPLE.marshal(&value),
        "{\"a\":1,\"b\":\"\\u003cé\\u003e\\u0026\",\"c\":1e+21,\"d\":1e-7,\"e\":\"\\u2028\u{7f}\",\"f\":0.5}"
    );
    assert_eq!(format_go_float(-0.0), "-0");
    assert_eq!(format_go_float(1e20), "100000000000000000000");
    assert_eq!(format_go_float(0.000001), "0.000001");
    assert_eq!(format_go_float(1.5e-10), "1.5e-10");
    assert_eq!(format_go_float(1e100), "1e+100");
}

#[test]
fn go_model_parses_nested_values() {
    let value = go_json::parse(r#" {"a": [1, "x", null, true, {"b": false}]} "#);
    let GoValue::Object(map) = value else {
        panic!("expected an object")
    };
    let GoValue::Array(items) = &map["a"] else {
        panic!("expected an array")
    };
    assert_eq!(items.len(), 5);
    assert_eq!(items[0], GoValue::Number("1".into()));
    assert_eq!(items[1], GoValue::String("x".into()));
}

/// Compares the canonical text of many floats with Python's `repr`, which
/// the Python verifier uses when it serializes the body again.
#[test]
fn floats_match_python_repr() {
    let mut floats = vec![
        0.1,
        0.2,
        0.3,
        1.0 / 3.0,
        2.0 / 3.0,
        1e-4,
        9.999e-5,
        1e-5,
        123e-7,
        1e15,
        9.999999999999998e15,
        1e16,
        1e22,
        1e23,
        5e-324,
        f64::MAX,
        f64::MIN_POSITIVE,
        f64::EPSILON,
        100.0,
        1234.5678,
        -0.0,
        0.0,
    ];
    // A fixed xorshift sequence of bit patterns covers every exponent range.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    while floats.len() < 3000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let float = f64::from_bits(state);
        if float.is_finite() {
            floats.push(float);
        }
    }

    let bits: Vec<String> = floats
        .iter()
        .map(|float| float.to_bits().to_string())
        .collect();
    let script = "import struct, sys\n\
                  for line in sys.stdin:\n    \
                      print(repr(struct.unpack('<d', int(line).to_bytes(8, 'little'))[0]))\n";
    let output = python3(&["-c", script], bits.join("\n").as_bytes());
    assert!(
        output.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    let python_reprs = String::from_utf8(output.stdout).unwrap();
    let python_reprs: Vec<&str> = python_reprs.lines().collect();
    assert_eq!(python_reprs.len(), floats.len());
    for (float, python_repr) in floats.iter().zip(python_reprs) {
        assert_eq!(
            canonical_json(&json!(float)),
            python_repr,
            "bits {:#x}",
            float.to_bits()
        );
    }
}

fn into_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("expected a JSON object, got {other}"),
    }
}
