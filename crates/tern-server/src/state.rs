//! What every request handler shares.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::Value;
use tern_actions::ActionCaller;
use tern_engine::Engine;
use tern_store::Store;
use tern_understand::Understander;
use tokio::sync::broadcast;

use crate::assistant::Assistant;
use crate::config::Config;
use crate::ordering::ConversationLocks;

pub type AppState = Arc<Shared>;

pub struct Shared {
    pub assistant: Assistant,
    pub store: Store,
    pub understander: Understander,
    pub caller: ActionCaller,
    pub locks: ConversationLocks,
    pub streams: Streams,
    pub metrics: PrometheusHandle,
    pub config: Config,
    /// NOTE: one tenant per server for now; the store keys every row by
    /// tenant already, so serving several needs only a way to pick one per
    /// request (an API key per tenant).
    pub tenant: String,
    /// Key the demonstration back office verifies webhook signatures with.
    pub hmac_key: Vec<u8>,
}

impl Shared {
    pub fn engine(&self) -> Engine<'_> {
        Engine::new(&self.assistant.flows, &self.assistant.responses)
            .with_actions(&self.assistant.actions)
    }
}

/// Live subscribers to a conversation's replies (server-sent events).
/// Replies reach subscribers connected to the instance that handled the
/// message.
#[derive(Default)]
pub struct Streams {
    senders: Mutex<HashMap<String, broadcast::Sender<Value>>>,
    /// Set by [`Streams::close`]; read and written with `senders` locked.
    closed: AtomicBool,
}

/// Replies kept for a slow subscriber before it starts missing some.
const STREAM_BUFFER: usize = 32;

impl Streams {
    pub fn subscribe(&self, conversation: &str) -> broadcast::Receiver<Value> {
        let mut senders = self.senders.lock().unwrap_or_else(|p| p.into_inner());
        if self.closed.load(Ordering::Relaxed) {
            // A receiver without a sender ends the subscriber's stream at once.
            return broadcast::channel(1).1;
        }
        senders.retain(|_, sender| sender.receiver_count() > 0);
        senders
            .entry(conversation.to_string())
            .or_insert_with(|| broadcast::channel(STREAM_BUFFER).0)
            .subscribe()
    }

    pub fn publish(&self, conversation: &str, reply: &Value) {
        let senders = self.senders.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sender) = senders.get(conversation) {
            // An error only means nobody listens any more.
            let _ = sender.send(reply.clone());
        }
    }

    /// Ends every subscriber's stream, now and for later subscriptions, so
    /// that open streams do not hold up a graceful shutdown.
    pub fn close(&self) {
        let mut senders = self.senders.lock().unwrap_or_else(|p| p.into_inner());
        self.closed.store(true, Ordering::Relaxed);
        senders.clear();
    }
}
