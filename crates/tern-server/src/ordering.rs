//! Per-conversation ordering inside one process: messages of the same
//! conversation run one at a time, in arrival order (tokio's mutex queues
//! waiters fairly). Across processes, the store's version check orders
//! commits; this only avoids wasted work and duplicate webhook calls within
//! one instance.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// Entries are dropped once no request holds them; the map is swept when it
/// has grown by this many entries since the last sweep.
const SWEEP_EVERY: usize = 4096;

#[derive(Default)]
pub struct ConversationLocks {
    inner: Mutex<LockMap>,
}

#[derive(Default)]
struct LockMap {
    locks: HashMap<String, Weak<AsyncMutex<()>>>,
    inserted_since_sweep: usize,
}

impl ConversationLocks {
    /// Waits for the conversation's turn and holds it until the guard drops.
    pub async fn acquire(&self, key: String) -> OwnedMutexGuard<()> {
        let lock = self.entry(key);
        lock.lock_owned().await
    }

    fn entry(&self, key: String) -> Arc<AsyncMutex<()>> {
        let mut map = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(existing) = map.locks.get(&key).and_then(Weak::upgrade) {
            return existing;
        }
        let lock = Arc::new(AsyncMutex::new(()));
        map.locks.insert(key, Arc::downgrade(&lock));
        map.inserted_since_sweep += 1;
        if map.inserted_since_sweep >= SWEEP_EVERY {
            map.locks.retain(|_, weak| weak.strong_count() > 0);
            map.inserted_since_sweep = 0;
        }
        lock
    }

    /// Conversations with a request in flight or queued.
    pub fn active(&self) -> usize {
        let map = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.locks.values().filter(|w| w.strong_count() > 0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn same_conversation_runs_one_at_a_time_in_order() {
        let locks = Arc::new(ConversationLocks::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let running = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for index in 0..10 {
            let (locks, order, running) = (locks.clone(), order.clone(), running.clone());
            tasks.push(tokio::spawn(async move {
                let _guard = locks.acquire("t/c".into()).await;
                assert_eq!(running.fetch_add(1, Ordering::SeqCst), 0);
                order.lock().unwrap().push(index);
                tokio::time::sleep(Duration::from_millis(2)).await;
                running.fetch_sub(1, Ordering::SeqCst);
            }));
            // Let each task queue before the next starts.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), (0..10).collect::<Vec<_>>());
        assert_eq!(locks.active(), 0);
    }

    #[tokio::test]
    async fn different_conversations_do_not_wait() {
        let locks = ConversationLocks::default();
        let _first = locks.acquire("t/a".into()).await;
        let second =
            tokio::time::timeout(Duration::from_secs(1), locks.acquire("t/b".into())).await;
        assert!(second.is_ok());
    }
}
