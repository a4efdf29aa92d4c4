//! Counters kept in atomics, so that concurrent requests update them without
//! a lock.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::config::Fault;

/// A snapshot of the server's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MockStats {
    /// Chat requests received (health and model-list requests not included).
    pub requests: u64,
    /// Chat requests being handled now.
    pub in_flight: u64,
    /// The highest `in_flight` seen.
    pub max_in_flight: u64,
    /// Chat requests that got a rule's reply, a fixed reply or a derived one.
    pub replies: u64,
    /// Chat requests rejected with 400 because they were not a valid request.
    pub bad_requests: u64,
    /// Faults applied, by fault name; every fault has an entry, zero or not.
    pub by_fault: BTreeMap<&'static str, u64>,
    /// Estimated tokens of all replies and faults that returned 200.
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

#[derive(Default)]
pub(crate) struct Stats {
    requests: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    replies: AtomicU64,
    bad_requests: AtomicU64,
    faults: [AtomicU64; Fault::ALL.len()],
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
}

/// Counts one request in flight until dropped, including when the client
/// disconnects and the handler is cancelled.
pub(crate) struct InFlight<'a>(&'a Stats);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Stats {
    pub(crate) fn enter(&self) -> InFlight<'_> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.max_in_flight.fetch_max(now, Ordering::Relaxed);
        InFlight(self)
    }

    pub(crate) fn reply(&self) {
        self.replies.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn bad_request(&self) {
        self.bad_requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn fault(&self, fault: Fault) {
        self.faults[fault.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn tokens(&self, prompt: u64, completion: u64) {
        self.prompt_tokens.fetch_add(prompt, Ordering::Relaxed);
        self.completion_tokens
            .fetch_add(completion, Ordering::Relaxed);
    }

    /// Reads every counter. The counters are read one by one, so a snapshot
    /// taken under load may mix moments by a few requests.
    pub(crate) fn snapshot(&self) -> MockStats {
        let by_fault = Fault::ALL
            .into_iter()
            .map(|fault| {
                (
                    fault.name(),
                    self.faults[fault.index()].load(Ordering::Relaxed),
                )
            })
            .collect();
        MockStats {
            requests: self.requests.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            max_in_flight: self.max_in_flight.load(Ordering::Relaxed),
            replies: self.replies.load(Ordering::Relaxed),
            bad_requests: self.bad_requests.load(Ordering::Relaxed),
            by_fault,
            prompt_tokens: self.prompt_tokens.load(Ordering::Relaxed),
            completion_tokens: self.completion_tokens.load(Ordering::Relaxed),
        }
    }
}
