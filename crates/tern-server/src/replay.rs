//! Client message ids: a retry of the same message gets the first answer
//! back, and an id reused for a different message is refused.

use axum::http::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tern_store::ProcessedMessage;

use crate::error::ApiError;
use crate::turn::MessageRequest;

/// Returns a fingerprint of what the client sent: the text and the
/// attachments, as SHA-256 in hex. The message id itself is left out.
pub fn request_digest(request: &MessageRequest) -> String {
    let mut hasher = Sha256::new();
    hasher.update(request.text.as_bytes());
    hasher.update([0]);
    // Serializing a list of plain structs cannot fail; an empty input
    // would still tell texts apart.
    hasher.update(serde_json::to_vec(&request.attachments).unwrap_or_default());
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Answers a message whose id a committed turn already recorded: the stored
/// response when the request is the same, a conflict when it differs.
///
/// Rows written without a fingerprint are replayed, as before.
pub fn replay(
    previous: ProcessedMessage,
    message_id: &str,
    digest: &str,
) -> Result<Value, ApiError> {
    match previous.request_digest {
        Some(stored) if stored != digest => Err(ApiError::new(
            StatusCode::CONFLICT,
            "message_id_reused",
            format!(
                "message_id `{message_id}` was already used for a different message in this conversation"
            ),
        )
        .hint(
            "give each new message its own message_id; resend the same text and \
             attachments with this id to get the first answer again",
        )),
        _ => {
            metrics::counter!(crate::metrics::TURNS, "outcome" => "replayed").increment(1);
            Ok(previous.response)
        }
    }
}
