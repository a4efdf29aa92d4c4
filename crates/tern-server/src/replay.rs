//! Client message ids: a retry of the same message receives the first
//! response again, and an id reused for a different message is rejected.

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
    // Serializing plain structs of strings and numbers does not fail. If it
    // did, the digest would still cover the text.
    hasher.update(serde_json::to_vec(&request.attachments).unwrap_or_default());
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Returns the stored response for a message whose id a committed turn
/// already recorded, or a conflict when the request differs from the first.
///
/// Rows stored without a fingerprint are replayed.
pub fn replay(
    previous: ProcessedMessage,
    conversation: &str,
    message_id: &str,
    digest: &str,
) -> Result<Value, ApiError> {
    match previous.request_digest {
        Some(stored) if stored != digest => {
            tracing::info!(
                conversation,
                message_id,
                "rejected a message whose message_id was used for a different message"
            );
            Err(reused(message_id))
        }
        _ => {
            metrics::counter!(crate::metrics::TURNS, "outcome" => "replayed").increment(1);
            Ok(previous.response)
        }
    }
}

fn reused(message_id: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "message_id_reused",
        format!(
            "message_id `{message_id}` was already used for a different message in this conversation"
        ),
    )
    .hint(
        "give each new message its own message_id; resend the same text and \
         attachments with this id to get the first response again",
    )
}
