//! HMAC-SHA256 signatures of webhook requests.
//!
//! A request body is a JSON object whose `signature` member is the lowercase
//! hex HMAC-SHA256, under the tenant's key, of the canonical JSON of the same
//! object without `signature`. The body itself is also written in canonical
//! form, so a verifier that parses it, removes `signature` and serializes the
//! rest again with sorted keys gets the signed bytes back.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

use crate::canonical::canonical_json;

type HmacSha256 = Hmac<Sha256>;

/// Name of the body member that carries the signature.
pub const SIGNATURE_FIELD: &str = "signature";

/// Computes the lowercase hex HMAC-SHA256 of `canonical_json(payload)`.
///
/// `payload` must not contain a `signature` member yet.
pub fn sign(key: &[u8], payload: &Value) -> String {
    hex::encode(mac_of(key, payload).finalize().into_bytes())
}

/// Signs `payload` and returns the request body: the canonical JSON of
/// `payload` with `signature` added in its sorted position. A `signature`
/// member already present in `payload` is replaced.
pub fn signed_body(key: &[u8], mut payload: Map<String, Value>) -> String {
    payload.remove(SIGNATURE_FIELD);
    let mut payload = Value::Object(payload);
    let signature = sign(key, &payload);
    if let Value::Object(map) = &mut payload {
        map.insert(SIGNATURE_FIELD.to_string(), Value::String(signature));
    }
    canonical_json(&payload)
}

/// Errors returned by [`verify`].
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("request body is not valid JSON: {0}")]
    InvalidJson(#[source] serde_json::Error),
    #[error("request body is not a JSON object")]
    NotAnObject,
    #[error("request body has no `signature` member")]
    MissingSignature,
    #[error("`signature` is not a hex string of 64 characters")]
    MalformedSignature,
    #[error("signature does not match the body under this key")]
    Mismatch,
}

/// Checks the signature of a webhook request body under `key`.
///
/// This parses `body`, removes `signature`, computes the HMAC of the canonical
/// JSON of the rest and compares it in constant time. It does not check
/// `timestamp`: a webhook that must resist replayed requests should also
/// reject timestamps older than a few minutes.
///
/// ```
/// use serde_json::json;
///
/// let payload = json!({"action_name": "check_fine", "parameters": {}, "timestamp": 1645123456});
/// let body = tern_actions::signed_body(b"tenant-key", payload.as_object().unwrap().clone());
/// assert!(tern_actions::verify(b"tenant-key", body.as_bytes()).is_ok());
/// assert!(tern_actions::verify(b"other-key", body.as_bytes()).is_err());
/// ```
pub fn verify(key: &[u8], body: &[u8]) -> Result<(), VerifyError> {
    let value: Value = serde_json::from_slice(body).map_err(VerifyError::InvalidJson)?;
    let Value::Object(mut payload) = value else {
        return Err(VerifyError::NotAnObject);
    };
    let signature = match payload.remove(SIGNATURE_FIELD) {
        Some(Value::String(signature)) => signature,
        Some(_) => return Err(VerifyError::MalformedSignature),
        None => return Err(VerifyError::MissingSignature),
    };
    let expected = hex::decode(&signature).map_err(|_| VerifyError::MalformedSignature)?;
    if expected.len() != 32 {
        return Err(VerifyError::MalformedSignature);
    }

    mac_of(key, &Value::Object(payload))
        .verify_slice(&expected)
        .map_err(|_| VerifyError::Mismatch)
}

fn mac_of(key: &[u8], payload: &Value) -> HmacSha256 {
    // HMAC takes keys of any length: longer ones are hashed, shorter padded.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA256 accepts keys of every length"),
    };
    mac.update(canonical_json(payload).as_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const KEY: &[u8] = b"tenant-key";

    fn payload() -> Map<String, Value> {
        let value = json!({
            "timestamp": 1_645_123_456,
            "parameters": {"plate_number": "ABC 123", "city": "الرياض"},
            "action_name": "check_fine",
        });
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn sign_matches_known_hmac() {
        // Reference value from Python:
        // hmac.new(b"tenant-key", b'{"a":1}', hashlib.sha256).hexdigest()
        assert_eq!(
            sign(KEY, &json!({"a": 1})),
            "eaab150eb6120375f98eb131ea04453b07650ef17f65f04809743465559560b2"
        );
    }

    #[test]
    fn signed_body_is_canonical() {
        let body = signed_body(KEY, payload());
        let parsed: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(canonical_json(&parsed), body);
        assert!(body.starts_with(r#"{"action_name":"check_fine","parameters":"#));
        assert!(body.contains(r#","signature":""#));
        assert!(body.ends_with(r#","timestamp":1645123456}"#));
    }

    #[test]
    fn verify_accepts_signed_body() {
        let body = signed_body(KEY, payload());
        assert!(verify(KEY, body.as_bytes()).is_ok());
    }

    #[test]
    fn verify_accepts_reordered_body() {
        let body = signed_body(KEY, payload());
        let parsed: Value = serde_json::from_str(&body).unwrap();
        let pretty = serde_json::to_string_pretty(&parsed).unwrap();
        assert!(verify(KEY, pretty.as_bytes()).is_ok());
    }

    #[test]
    fn verify_rejects_wrong_key() {
        let body = signed_body(KEY, payload());
        assert!(matches!(
            verify(b"other-key", body.as_bytes()),
            Err(VerifyError::Mismatch)
        ));
    }

    #[test]
    fn verify_rejects_tampered_body() {
        let body = signed_body(KEY, payload()).replace("ABC 123", "XYZ 999");
        assert!(matches!(
            verify(KEY, body.as_bytes()),
            Err(VerifyError::Mismatch)
        ));
    }

    #[test]
    fn verify_rejects_malformed_input() {
        assert!(matches!(
            verify(KEY, b"{"),
            Err(VerifyError::InvalidJson(_))
        ));
        assert!(matches!(verify(KEY, b"[1]"), Err(VerifyError::NotAnObject)));
        assert!(matches!(
            verify(KEY, b"{\"a\":1}"),
            Err(VerifyError::MissingSignature)
        ));
        let short = br#"{"a":1,"signature":"abcd"}"#;
        assert!(matches!(
            verify(KEY, short),
            Err(VerifyError::MalformedSignature)
        ));
        let not_hex = format!(r#"{{"a":1,"signature":"{}"}}"#, "z".repeat(64));
        assert!(matches!(
            verify(KEY, not_hex.as_bytes()),
            Err(VerifyError::MalformedSignature)
        ));
        let number = br#"{"a":1,"signature":7}"#;
        assert!(matches!(
            verify(KEY, number),
            Err(VerifyError::MalformedSignature)
        ));
    }
}
