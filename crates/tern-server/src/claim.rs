//! A turn's claim on its conversation before the first webhook call.
//!
//! Without a claim, two instances handling messages of one conversation at
//! once could both call a webhook and only then find out, at the commit,
//! that one of them ran on stale state. The claim is a version-checked write
//! of an owner and an expiry on the conversation's row, and the turn calls
//! the webhook only if the claim succeeds. Other instances cannot commit or
//! claim until the owner's commit clears it or it expires. No transaction
//! stays open while the webhook runs.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use tern_store::{Claim, StoreError, StoredConversation};

use crate::state::Shared;

/// Interval between reads of a conversation that another turn has claimed.
const CLAIM_POLL: Duration = Duration::from_millis(50);

/// Time added to the webhook timeout for the claim's lifetime, covering the
/// commit that follows the last call.
const CLAIM_MARGIN: Duration = Duration::from_secs(10);

/// The state of a turn's claim.
#[derive(Debug)]
pub enum ClaimState {
    /// No claim, because the turn called no webhook.
    Unclaimed,
    /// The turn owns the claim, taken or last extended at `taken`, and
    /// commits against this version.
    Held { version: i64, taken: Instant },
    /// Another instance changed or claimed the conversation first, so the
    /// turn must run again on the new state.
    Lost,
    /// The store failed while claiming.
    Failed(StoreError),
}

/// The claim of one attempt at a turn.
pub struct TurnClaim<'s> {
    shared: &'s Shared,
    conversation: &'s str,
    /// The version the turn was computed from (`None` for a new
    /// conversation).
    loaded_version: Option<i64>,
    /// The state stored when claiming creates the conversation, unused
    /// when the conversation exists.
    initial_state: Value,
    /// A random token naming this attempt.
    owner: String,
    state: Mutex<ClaimState>,
}

impl<'s> TurnClaim<'s> {
    pub fn new(
        shared: &'s Shared,
        conversation: &'s str,
        loaded_version: Option<i64>,
        initial_state: Value,
    ) -> Self {
        Self {
            shared,
            conversation,
            loaded_version,
            initial_state,
            owner: format!("{:032x}", rand::random::<u128>()),
            state: Mutex::new(ClaimState::Unclaimed),
        }
    }

    /// Takes or extends the claim before a webhook call. Returns false when
    /// the call must not run.
    pub async fn before_call(&self) -> bool {
        let expected_version = match &*self.lock() {
            ClaimState::Unclaimed => self.loaded_version,
            // A claim younger than the margin still outlasts a whole webhook
            // call, so it needs no extension.
            ClaimState::Held { taken, .. } if taken.elapsed() <= CLAIM_MARGIN => return true,
            ClaimState::Held { version, .. } => Some(*version),
            ClaimState::Lost | ClaimState::Failed(_) => return false,
        };
        let lifetime = self.shared.caller.timeout() + CLAIM_MARGIN;
        let claim = Claim {
            tenant: &self.shared.tenant,
            conversation: self.conversation,
            expected_version,
            owner: &self.owner,
            duration_ms: i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX),
            state: &self.initial_state,
        };
        let next = match self.shared.store.claim(claim).await {
            Ok(version) => ClaimState::Held {
                version,
                taken: Instant::now(),
            },
            Err(StoreError::Conflict { .. }) => {
                tracing::info!(
                    conversation = self.conversation,
                    "another instance changed or claimed the conversation; skipping the webhook call"
                );
                ClaimState::Lost
            }
            Err(error) => {
                tracing::error!(conversation = self.conversation, %error, "failed to claim the conversation before a webhook call");
                ClaimState::Failed(error)
            }
        };
        let allowed = matches!(next, ClaimState::Held { .. });
        *self.lock() = next;
        allowed
    }

    /// Returns the claim's final state and the owner to commit with.
    pub fn finish(self) -> (ClaimState, String) {
        let state = self
            .state
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        (state, self.owner)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ClaimState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Clears a claim after a turn that ends without a commit, so other
/// instances need not wait for it to expire.
pub async fn release(shared: &Shared, conversation: &str, owner: &str) {
    if let Err(error) = shared
        .store
        .release_claim(&shared.tenant, conversation, owner)
        .await
    {
        tracing::warn!(conversation, %error, "failed to release the conversation's claim; it expires on its own");
    }
}

/// Returns how long to wait before reading a conversation again when
/// another turn's claim on it has not expired, or `None` to go ahead.
///
/// Running the turn during the claim would only lose at the commit and
/// repeat the LLM call, so the turn waits until the claim is cleared or
/// expires, reading the row every [`CLAIM_POLL`].
pub fn claim_wait(stored: &StoredConversation) -> Option<Duration> {
    let until = stored.claim_until?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        });
    let remaining = u64::try_from(until.checked_sub(now)?).ok()?;
    (remaining > 0).then(|| CLAIM_POLL.min(Duration::from_millis(remaining)))
}
