//! The tests every backend must pass, written once against [`Store`].
//!
//! Tests that share a PostgreSQL database use their own tenant ids, so they
//! can run in parallel. Tests that count every row or prune by age get a
//! database of their own.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use tern_store::{
    Claim, NewEvent, NewUpload, ProcessedMessage, Store, StoreError, StoredEvent, TurnCommit,
};

static NO_RESPONSE: Value = Value::Null;

fn events(kind: &str, count: usize) -> Vec<NewEvent> {
    (0..count)
        .map(|index| NewEvent {
            kind: kind.to_string(),
            payload: json!({ "index": index }),
        })
        .collect()
}

/// Returns a turn without a message id.
fn turn<'a>(
    tenant: &'a str,
    conversation: &'a str,
    expected_version: Option<i64>,
    state: &'a Value,
    events: &'a [NewEvent],
) -> TurnCommit<'a> {
    TurnCommit {
        tenant,
        conversation,
        expected_version,
        state,
        events,
        message_id: None,
        response: &NO_RESPONSE,
        request_digest: None,
        claim_owner: None,
    }
}

async fn transcript_all(store: &Store, tenant: &str, conversation: &str) -> Vec<StoredEvent> {
    store
        .transcript(tenant, conversation, 0, u32::MAX)
        .await
        .expect("transcript")
}

fn seqs(events: &[StoredEvent]) -> Vec<i64> {
    events.iter().map(|event| event.seq).collect()
}

fn assert_conflict(result: Result<i64, StoreError>, conversation: &str) {
    match result {
        Err(StoreError::Conflict {
            conversation: reported,
        }) => assert_eq!(reported, conversation),
        other => panic!("expected a conflict on `{conversation}`, got {other:?}"),
    }
}

pub async fn first_commit_creates_conversation(store: &Store) {
    let tenant = "first-commit";
    let state = json!({ "flow": "greet", "slots": { "name": "Ada" } });
    let response = json!({ "messages": ["Hello, Ada"] });
    let new_events = events("user_message", 2);
    let commit = TurnCommit {
        message_id: Some("m-1"),
        response: &response,
        request_digest: Some("digest-of-m-1"),
        claim_owner: None,
        ..turn(tenant, "c-1", None, &state, &new_events)
    };

    let version = store.commit_turn(commit).await.expect("first commit");
    assert_eq!(version, 1);

    let stored = store
        .load(tenant, "c-1")
        .await
        .expect("load")
        .expect("conversation exists");
    assert_eq!(stored.version, 1);
    assert_eq!(stored.last_seq, 2);
    assert_eq!(stored.state, state);
    assert!(stored.created_at > 0, "created_at {}", stored.created_at);
    assert_eq!(stored.updated_at, stored.created_at);

    let transcript = transcript_all(store, tenant, "c-1").await;
    assert_eq!(seqs(&transcript), [1, 2]);
    assert_eq!(transcript[0].kind, "user_message");
    assert_eq!(transcript[1].payload, json!({ "index": 1 }));
    assert_eq!(transcript[0].created_at, stored.created_at);

    let processed = store
        .processed(tenant, "c-1", "m-1")
        .await
        .expect("processed");
    assert_eq!(
        processed,
        Some(ProcessedMessage {
            response,
            request_digest: Some("digest-of-m-1".to_string()),
        })
    );
    let unknown = store
        .processed(tenant, "c-1", "m-2")
        .await
        .expect("processed");
    assert_eq!(unknown, None);
    let missing = store.load(tenant, "c-2").await.expect("load");
    assert_eq!(missing, None);
}

pub async fn insert_conflicts_when_conversation_exists(store: &Store) {
    let tenant = "insert-conflict";
    let first_state = json!({ "writer": 1 });
    let second_state = json!({ "writer": 2 });
    let first_events = events("first", 1);
    let second_events = events("second", 3);

    let (first, second) = tokio::join!(
        store.commit_turn(turn(tenant, "c", None, &first_state, &first_events)),
        store.commit_turn(turn(tenant, "c", None, &second_state, &second_events)),
    );

    let stored = store
        .load(tenant, "c")
        .await
        .expect("load")
        .expect("conversation exists");
    let transcript = transcript_all(store, tenant, "c").await;
    match (first, second) {
        (Ok(1), second) => {
            assert_conflict(second, "c");
            assert_eq!(stored.state, first_state);
            assert_eq!(seqs(&transcript), [1]);
        }
        (first, Ok(1)) => {
            assert_conflict(first, "c");
            assert_eq!(stored.state, second_state);
            assert_eq!(seqs(&transcript), [1, 2, 3]);
        }
        other => panic!("expected exactly one insert to win, got {other:?}"),
    }
    assert_eq!(stored.version, 1);

    let again = store
        .commit_turn(turn(tenant, "c", None, &first_state, &[]))
        .await;
    assert_conflict(again, "c");
}

pub async fn update_conflicts_on_same_version(store: &Store) {
    let tenant = "update-conflict";
    let state = json!({ "counter": 0 });
    store
        .commit_turn(turn(tenant, "c", None, &state, &[]))
        .await
        .expect("create");

    let first_state = json!({ "writer": 1 });
    let second_state = json!({ "writer": 2 });
    let first_events = events("first", 2);
    let second_events = events("second", 1);
    let (first, second) = tokio::join!(
        store.commit_turn(turn(tenant, "c", Some(1), &first_state, &first_events)),
        store.commit_turn(turn(tenant, "c", Some(1), &second_state, &second_events)),
    );

    let stored = store
        .load(tenant, "c")
        .await
        .expect("load")
        .expect("conversation exists");
    let transcript = transcript_all(store, tenant, "c").await;
    match (first, second) {
        (Ok(2), second) => {
            assert_conflict(second, "c");
            assert_eq!(stored.state, first_state);
            assert_eq!(seqs(&transcript), [1, 2]);
        }
        (first, Ok(2)) => {
            assert_conflict(first, "c");
            assert_eq!(stored.state, second_state);
            assert_eq!(seqs(&transcript), [1]);
        }
        other => panic!("expected exactly one update to win, got {other:?}"),
    }
    assert_eq!(stored.version, 2);

    let stale = store
        .commit_turn(turn(tenant, "c", Some(1), &state, &[]))
        .await;
    assert_conflict(stale, "c");
    let ahead = store
        .commit_turn(turn(tenant, "c", Some(7), &state, &[]))
        .await;
    assert_conflict(ahead, "c");
    let missing = store
        .commit_turn(turn(tenant, "missing", Some(1), &state, &[]))
        .await;
    assert_conflict(missing, "missing");
    assert_eq!(store.load(tenant, "missing").await.expect("load"), None);
}

pub async fn duplicate_message_rolls_back(store: &Store) {
    let tenant = "duplicate-message";
    let state = json!({ "step": "ask_name" });
    let response = json!({ "messages": ["What is your name?"] });
    let first_events = events("user_message", 1);
    let first = TurnCommit {
        message_id: Some("m-1"),
        response: &response,
        request_digest: None,
        claim_owner: None,
        ..turn(tenant, "c", None, &state, &first_events)
    };
    store.commit_turn(first).await.expect("first turn");

    let retried_state = json!({ "step": "ask_age" });
    let retried_response = json!({ "messages": ["How old are you?"] });
    let retried_events = events("user_message", 2);
    let retried = TurnCommit {
        message_id: Some("m-1"),
        response: &retried_response,
        request_digest: None,
        claim_owner: None,
        ..turn(tenant, "c", Some(1), &retried_state, &retried_events)
    };
    let error = store
        .commit_turn(retried)
        .await
        .expect_err("duplicate message id");
    assert_eq!(error.kind(), "duplicate_message");
    match &error {
        StoreError::DuplicateMessage { message_id } => assert_eq!(message_id, "m-1"),
        other => panic!("expected DuplicateMessage, got {other:?}"),
    }

    let stored = store
        .load(tenant, "c")
        .await
        .expect("load")
        .expect("conversation exists");
    assert_eq!(stored.version, 1);
    assert_eq!(stored.last_seq, 1);
    assert_eq!(stored.state, state);
    assert_eq!(seqs(&transcript_all(store, tenant, "c").await), [1]);
    let processed = store
        .processed(tenant, "c", "m-1")
        .await
        .expect("processed");
    assert_eq!(processed.map(|p| p.response), Some(response));

    // The rolled-back turn left no gap in the numbering.
    let next = TurnCommit {
        message_id: Some("m-2"),
        response: &retried_response,
        request_digest: None,
        claim_owner: None,
        ..turn(tenant, "c", Some(1), &retried_state, &retried_events)
    };
    assert_eq!(store.commit_turn(next).await.expect("next turn"), 2);
    assert_eq!(seqs(&transcript_all(store, tenant, "c").await), [1, 2, 3]);
}

pub async fn event_seq_continues_across_turns(store: &Store) {
    let tenant = "event-seq";
    let state = json!({});
    let mut version = None;
    let mut expected_seq = Vec::new();
    for (turn_index, count) in [2, 0, 3, 1].into_iter().enumerate() {
        let kind = format!("turn-{turn_index}");
        let new_events = events(&kind, count);
        let committed = store
            .commit_turn(turn(tenant, "c", version, &state, &new_events))
            .await
            .expect("commit");
        version = Some(committed);
        expected_seq.extend((expected_seq.len() as i64 + 1..).take(count));
    }
    assert_eq!(version, Some(4));
    assert_eq!(expected_seq, [1, 2, 3, 4, 5, 6]);

    let transcript = transcript_all(store, tenant, "c").await;
    assert_eq!(seqs(&transcript), expected_seq);
    let kinds: Vec<&str> = transcript.iter().map(|event| event.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["turn-0", "turn-0", "turn-2", "turn-2", "turn-2", "turn-3"]
    );

    // More events than one INSERT statement carries.
    let many = events("bulk", 1200);
    store
        .commit_turn(turn(tenant, "c", version, &state, &many))
        .await
        .expect("commit of 1200 events");
    let stored = store
        .load(tenant, "c")
        .await
        .expect("load")
        .expect("conversation exists");
    assert_eq!(stored.last_seq, 1206);
    let transcript = transcript_all(store, tenant, "c").await;
    let expected: Vec<i64> = (1..=1206).collect();
    assert_eq!(seqs(&transcript), expected);
    assert_eq!(transcript[1205].payload, json!({ "index": 1199 }));
}

pub async fn transcript_pages_by_seq(store: &Store) {
    let tenant = "transcript-pages";
    let state = json!({});
    let new_events = events("message", 25);
    store
        .commit_turn(turn(tenant, "c", None, &state, &new_events))
        .await
        .expect("commit");

    let mut pages = Vec::new();
    let mut after_seq = 0;
    loop {
        let page = store
            .transcript(tenant, "c", after_seq, 10)
            .await
            .expect("transcript page");
        let Some(last) = page.last() else { break };
        after_seq = last.seq;
        pages.push(seqs(&page));
    }
    let expected: Vec<Vec<i64>> =
        vec![(1..=10).collect(), (11..=20).collect(), (21..=25).collect()];
    assert_eq!(pages, expected);

    let none = store
        .transcript(tenant, "c", 0, 0)
        .await
        .expect("transcript with limit 0");
    assert!(none.is_empty(), "{none:?}");
    let past_end = store
        .transcript(tenant, "c", 25, 10)
        .await
        .expect("transcript past end");
    assert!(past_end.is_empty(), "{past_end:?}");
    let unknown = store
        .transcript(tenant, "other", 0, 10)
        .await
        .expect("transcript");
    assert!(unknown.is_empty(), "{unknown:?}");
}

/// Creates a conversation with 2 events, a processed message id and an
/// upload. Returns the upload id.
async fn populate(store: &Store, tenant: &str, conversation: &str) -> String {
    let state = json!({ "owner": format!("{tenant}/{conversation}") });
    let response = json!({ "messages": ["ok"] });
    let new_events = events("message", 2);
    let commit = TurnCommit {
        message_id: Some("m-1"),
        response: &response,
        request_digest: None,
        claim_owner: None,
        ..turn(tenant, conversation, None, &state, &new_events)
    };
    store.commit_turn(commit).await.expect("commit");
    let upload = NewUpload {
        tenant,
        conversation,
        name: "form.pdf",
        content_type: "application/pdf",
        data: b"%PDF-1.7",
    };
    store.save_upload(upload).await.expect("save upload")
}

async fn assert_populated(store: &Store, tenant: &str, conversation: &str, upload_id: &str) {
    let label = format!("{tenant}/{conversation}");
    let stored = store.load(tenant, conversation).await.expect("load");
    let stored = stored.unwrap_or_else(|| panic!("{label} is missing"));
    assert_eq!(stored.state, json!({ "owner": label }));
    assert_eq!(
        seqs(&transcript_all(store, tenant, conversation).await),
        [1, 2],
        "{label}"
    );
    let processed = store
        .processed(tenant, conversation, "m-1")
        .await
        .expect("processed");
    assert!(processed.is_some(), "{label} lost its processed message id");
    let upload = store
        .load_upload(tenant, upload_id)
        .await
        .expect("load upload");
    assert!(upload.is_some(), "{label} lost its upload");
}

pub async fn delete_removes_only_that_conversation(store: &Store) {
    let tenant = "delete";
    let other_tenant = "delete-other";
    let deleted_upload = populate(store, tenant, "c-1").await;
    let sibling_upload = populate(store, tenant, "c-2").await;
    let other_tenant_upload = populate(store, other_tenant, "c-1").await;

    assert!(
        store
            .delete_conversation(tenant, "c-1")
            .await
            .expect("delete")
    );

    assert_eq!(store.load(tenant, "c-1").await.expect("load"), None);
    assert!(transcript_all(store, tenant, "c-1").await.is_empty());
    assert_eq!(
        store
            .processed(tenant, "c-1", "m-1")
            .await
            .expect("processed"),
        None
    );
    assert_eq!(
        store
            .load_upload(tenant, &deleted_upload)
            .await
            .expect("load upload"),
        None
    );

    assert_populated(store, tenant, "c-2", &sibling_upload).await;
    assert_populated(store, other_tenant, "c-1", &other_tenant_upload).await;

    let again = store
        .delete_conversation(tenant, "c-1")
        .await
        .expect("second delete");
    assert!(!again, "a second delete reported rows");

    // The id can start a new conversation, numbered from the beginning.
    let state = json!({});
    let new_events = events("message", 1);
    let version = store
        .commit_turn(turn(tenant, "c-1", None, &state, &new_events))
        .await
        .expect("recreate");
    assert_eq!(version, 1);
    assert_eq!(seqs(&transcript_all(store, tenant, "c-1").await), [1]);
}

pub async fn delete_removes_upload_only_conversation(store: &Store) {
    let tenant = "delete-uploads";
    let upload = NewUpload {
        tenant,
        conversation: "never-committed",
        name: "photo.jpg",
        content_type: "image/jpeg",
        data: &[0xff, 0xd8, 0xff],
    };
    let id = store.save_upload(upload).await.expect("save upload");

    let removed = store
        .delete_conversation(tenant, "never-committed")
        .await
        .expect("delete");
    assert!(removed, "the upload was not reported as removed");
    assert_eq!(
        store.load_upload(tenant, &id).await.expect("load upload"),
        None
    );
}

pub async fn tenants_are_isolated(store: &Store) {
    let (tenant_a, tenant_b) = ("isolation-a", "isolation-b");
    let state_a = json!({ "tenant": "a" });
    let state_b = json!({ "tenant": "b" });
    let response = json!({ "messages": [] });
    let events_a = events("a", 2);
    let events_b = events("b", 1);

    for (tenant, state, new_events) in [
        (tenant_a, &state_a, &events_a),
        (tenant_b, &state_b, &events_b),
    ] {
        let commit = TurnCommit {
            message_id: Some("m-1"),
            response: &response,
            request_digest: None,
            claim_owner: None,
            ..turn(tenant, "shared-id", None, state, new_events)
        };
        let version = store
            .commit_turn(commit)
            .await
            .expect("create in each tenant");
        assert_eq!(version, 1, "{tenant}");
    }

    let updated = json!({ "tenant": "a", "turn": 2 });
    store
        .commit_turn(turn(tenant_a, "shared-id", Some(1), &updated, &events_a))
        .await
        .expect("update in tenant a");

    let stored_a = store
        .load(tenant_a, "shared-id")
        .await
        .expect("load")
        .expect("a exists");
    let stored_b = store
        .load(tenant_b, "shared-id")
        .await
        .expect("load")
        .expect("b exists");
    assert_eq!((stored_a.version, stored_a.last_seq), (2, 4));
    assert_eq!((stored_b.version, stored_b.last_seq), (1, 1));
    assert_eq!(stored_a.state, updated);
    assert_eq!(stored_b.state, state_b);
    assert_eq!(
        seqs(&transcript_all(store, tenant_b, "shared-id").await),
        [1]
    );
    assert!(
        store
            .processed(tenant_b, "shared-id", "m-1")
            .await
            .expect("processed")
            .is_some()
    );

    let upload = NewUpload {
        tenant: tenant_a,
        conversation: "shared-id",
        name: "a.txt",
        content_type: "text/plain",
        data: b"tenant a",
    };
    let id = store.save_upload(upload).await.expect("save upload");
    assert!(
        store
            .load_upload(tenant_a, &id)
            .await
            .expect("load upload")
            .is_some()
    );
    assert_eq!(
        store.load_upload(tenant_b, &id).await.expect("load upload"),
        None
    );
}

/// Needs a database of its own, because pruning spans every tenant.
pub async fn prune_removes_stale_conversations(store: &Store) {
    let tenant = "prune";
    let orphan = NewUpload {
        tenant,
        conversation: "never-committed",
        name: "old.txt",
        content_type: "text/plain",
        data: b"old",
    };
    store.save_upload(orphan).await.expect("save orphan upload");
    let stale_upload = populate(store, tenant, "stale").await;
    let stale = store
        .load(tenant, "stale")
        .await
        .expect("load")
        .expect("stale exists");

    // Millisecond timestamps: make sure the fresh rows come later.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let fresh_upload = populate(store, tenant, "fresh").await;
    let fresh = store
        .load(tenant, "fresh")
        .await
        .expect("load")
        .expect("fresh exists");
    assert!(stale.updated_at < fresh.updated_at);

    let report = store
        .prune_updated_before(fresh.updated_at)
        .await
        .expect("prune");
    assert_eq!(report.conversations, 1);
    assert_eq!(report.events, 2);
    assert_eq!(report.processed_messages, 1);
    assert_eq!(
        report.uploads, 2,
        "the stale conversation's upload and the orphan"
    );

    assert_eq!(store.load(tenant, "stale").await.expect("load"), None);
    assert!(transcript_all(store, tenant, "stale").await.is_empty());
    assert_eq!(
        store
            .load_upload(tenant, &stale_upload)
            .await
            .expect("load upload"),
        None
    );
    assert_populated(store, tenant, "fresh", &fresh_upload).await;

    let nothing = store
        .prune(Duration::from_secs(3600))
        .await
        .expect("prune by age");
    assert_eq!(nothing, tern_store::PruneReport::default());

    let stats = store.stats().await.expect("stats");
    assert_eq!((stats.conversations, stats.events), (1, 2));
    assert_eq!((stats.processed_messages, stats.uploads), (1, 1));
}

pub async fn uploads_round_trip(store: &Store) {
    let tenant = "uploads";
    let every_byte: Vec<u8> = (0..=255).collect();
    let cases: [(&str, &str, &[u8]); 2] = [
        ("bytes.bin", "application/octet-stream", &every_byte),
        ("empty.txt", "text/plain", &[]),
    ];

    let mut ids = BTreeSet::new();
    for (name, content_type, data) in cases {
        let upload = NewUpload {
            tenant,
            conversation: "c",
            name,
            content_type,
            data,
        };
        let before = unix_ms_now();
        let id = store.save_upload(upload).await.expect("save upload");
        assert_eq!(id.len(), 32, "{id}");
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");

        let loaded = store
            .load_upload(tenant, &id)
            .await
            .expect("load upload")
            .expect("found");
        assert_eq!(loaded.id, id);
        assert_eq!(loaded.conversation, "c");
        assert_eq!(loaded.name, name);
        assert_eq!(loaded.content_type, content_type);
        assert_eq!(loaded.size, data.len() as i64);
        assert_eq!(loaded.data, data);
        assert!(
            loaded.created_at >= before,
            "{} < {before}",
            loaded.created_at
        );
        ids.insert(id);
    }
    assert_eq!(ids.len(), 2, "ids repeat: {ids:?}");

    let unknown = store
        .load_upload(tenant, "0123456789abcdef0123456789abcdef")
        .await;
    assert_eq!(unknown.expect("load upload"), None);
}

fn unix_ms_now() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    since_epoch.as_millis() as i64
}

pub async fn json_values_round_trip(store: &Store) {
    let tenant = "json";
    let state = json!({
        "text": "Grüße, 世界 👋 \"quoted\" \\ back\nslash",
        "numbers": [0, -1, 1.5, 9_007_199_254_740_993_i64, i64::MAX, u64::MAX],
        "nested": { "list": [null, true, false, [], {}], "empty": "" },
    });
    let payload = json!(["array payload", { "k": 1 }]);
    let response = json!("a bare string");
    let new_events = [NewEvent {
        kind: "mixed".to_string(),
        payload: payload.clone(),
    }];
    let commit = TurnCommit {
        message_id: Some("m"),
        response: &response,
        request_digest: None,
        claim_owner: None,
        ..turn(tenant, "c", None, &state, &new_events)
    };
    store.commit_turn(commit).await.expect("commit");

    let stored = store
        .load(tenant, "c")
        .await
        .expect("load")
        .expect("exists");
    assert_eq!(stored.state, state);
    assert_eq!(transcript_all(store, tenant, "c").await[0].payload, payload);
    assert_eq!(
        store
            .processed(tenant, "c", "m")
            .await
            .expect("processed")
            .map(|p| p.response),
        Some(response)
    );
}

/// 20 tasks each add 1 to a counter 5 times, reloading and retrying on
/// every conflict. No increment may be lost or applied twice.
pub async fn concurrent_increments_are_exact(store: &Store) {
    const TASKS: usize = 20;
    const INCREMENTS: usize = 5;
    const MAX_ATTEMPTS: usize = 10_000;
    let tenant = "concurrent";
    let initial = json!({ "counter": 0 });
    store
        .commit_turn(turn(tenant, "c", None, &initial, &[]))
        .await
        .expect("create");

    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let store = store.clone();
        tasks.spawn(async move {
            let mut conflicts = 0;
            for increment in 0..INCREMENTS {
                let message_id = format!("task-{task}-increment-{increment}");
                let new_events = vec![NewEvent {
                    kind: "increment".to_string(),
                    payload: json!({ "message": message_id }),
                }];
                let mut attempts = 0;
                loop {
                    attempts += 1;
                    assert!(attempts <= MAX_ATTEMPTS, "{message_id} never committed");
                    let stored = store
                        .load(tenant, "c")
                        .await
                        .expect("load")
                        .expect("exists");
                    let counter = stored.state["counter"].as_i64().expect("counter");
                    let state = json!({ "counter": counter + 1 });
                    let response = json!({ "counter": counter + 1 });
                    let commit = TurnCommit {
                        message_id: Some(&message_id),
                        response: &response,
                        request_digest: None,
                        claim_owner: None,
                        ..turn(tenant, "c", Some(stored.version), &state, &new_events)
                    };
                    match store.commit_turn(commit).await {
                        Ok(_) => break,
                        Err(StoreError::Conflict { .. }) => conflicts += 1,
                        Err(error) => panic!("{message_id}: {error}"),
                    }
                }
            }
            conflicts
        });
    }
    let mut conflicts = 0;
    while let Some(result) = tasks.join_next().await {
        conflicts += result.expect("task panicked");
    }

    let stored = store
        .load(tenant, "c")
        .await
        .expect("load")
        .expect("exists");
    let total = (TASKS * INCREMENTS) as i64;
    assert_eq!(stored.version, total + 1, "after {conflicts} conflicts");
    assert_eq!(stored.state["counter"], json!(total));
    assert_eq!(stored.last_seq, total);

    let transcript = transcript_all(store, tenant, "c").await;
    let expected: Vec<i64> = (1..=total).collect();
    assert_eq!(seqs(&transcript), expected);
    let committed: BTreeSet<String> = transcript
        .iter()
        .map(|event| {
            event.payload["message"]
                .as_str()
                .expect("message id")
                .to_string()
        })
        .collect();
    assert_eq!(
        committed.len(),
        TASKS * INCREMENTS,
        "an increment committed twice"
    );
}

/// Needs a database of its own, because it counts every row.
pub async fn stats_count_rows_and_bytes(store: &Store) {
    let empty = store.stats().await.expect("stats of an empty store");
    assert_eq!(
        (
            empty.conversations,
            empty.events,
            empty.processed_messages,
            empty.uploads
        ),
        (0, 0, 0, 0)
    );

    populate(store, "stats", "c-1").await;
    populate(store, "stats", "c-2").await;
    let stats = store.stats().await.expect("stats");
    assert_eq!(stats.conversations, 2);
    assert_eq!(stats.events, 4);
    assert_eq!(stats.processed_messages, 2);
    assert_eq!(stats.uploads, 2);
    let bytes = stats.bytes.expect("database size");
    assert!(bytes > 0, "{bytes}");
}

pub async fn ping_succeeds(store: &Store) {
    store.ping().await.expect("ping");
}

/// Connecting again finds the migrations applied and the data in place.
pub async fn reconnect_keeps_data(store: &Store, url: &str) {
    let state = json!({ "kept": true });
    store
        .commit_turn(turn("reconnect", "c", None, &state, &[]))
        .await
        .expect("commit");

    let options = tern_store::StoreOptions::default();
    let again = Store::connect(url, options).await.expect("second connect");
    assert_eq!(again.backend(), store.backend());
    let stored = again
        .load("reconnect", "c")
        .await
        .expect("load")
        .expect("exists");
    assert_eq!(stored.state, state);
    again.close().await;
}

const CLAIM_MS: i64 = 60_000;

fn claim<'a>(
    tenant: &'a str,
    conversation: &'a str,
    expected_version: Option<i64>,
    owner: &'a str,
    duration_ms: i64,
) -> Claim<'a> {
    Claim {
        tenant,
        conversation,
        expected_version,
        owner,
        duration_ms,
        state: &NO_RESPONSE,
    }
}

fn is_conflict<T: std::fmt::Debug>(result: &Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Conflict { .. }))
}

pub async fn claim_blocks_other_writers(store: &Store) {
    let tenant = "claim-blocks";
    let state = json!({ "step": 1 });
    store
        .commit_turn(turn(tenant, "c", None, &state, &[]))
        .await
        .expect("create");

    let version = store
        .claim(claim(tenant, "c", Some(1), "owner-a", CLAIM_MS))
        .await
        .expect("first claim");
    assert_eq!(version, 1);
    let claimed = store
        .load(tenant, "c")
        .await
        .expect("load")
        .expect("exists");
    assert!(
        claimed
            .claim_until
            .is_some_and(|until| until > claimed.updated_at),
        "{claimed:?}"
    );
    // The owner may extend its claim; nobody else may claim or commit.
    store
        .claim(claim(tenant, "c", Some(1), "owner-a", CLAIM_MS))
        .await
        .expect("extend the claim");
    let other_claim = store
        .claim(claim(tenant, "c", Some(1), "owner-b", CLAIM_MS))
        .await;
    assert!(is_conflict(&other_claim), "{other_claim:?}");
    let unclaimed_commit = store
        .commit_turn(turn(tenant, "c", Some(1), &state, &[]))
        .await;
    assert!(is_conflict(&unclaimed_commit), "{unclaimed_commit:?}");
    let other_commit = store
        .commit_turn(TurnCommit {
            claim_owner: Some("owner-b"),
            ..turn(tenant, "c", Some(1), &state, &[])
        })
        .await;
    assert!(is_conflict(&other_commit), "{other_commit:?}");

    let committed = store
        .commit_turn(TurnCommit {
            claim_owner: Some("owner-a"),
            ..turn(tenant, "c", Some(1), &state, &[])
        })
        .await
        .expect("the owner commits");
    assert_eq!(committed, 2);
    // The commit cleared the claim.
    let cleared = store
        .load(tenant, "c")
        .await
        .expect("load")
        .expect("exists");
    assert_eq!(cleared.claim_until, None);
    store
        .commit_turn(turn(tenant, "c", Some(2), &state, &[]))
        .await
        .expect("commit after the claim cleared");
    let stale_claim = store
        .claim(claim(tenant, "c", Some(2), "owner-b", CLAIM_MS))
        .await;
    assert!(is_conflict(&stale_claim), "{stale_claim:?}");
}

pub async fn claim_creates_new_conversation(store: &Store) {
    let tenant = "claim-creates";
    let version = store
        .claim(claim(tenant, "c", None, "owner-a", CLAIM_MS))
        .await
        .expect("claim a new conversation");
    assert_eq!(version, 0);
    let stored = store
        .load(tenant, "c")
        .await
        .expect("load")
        .expect("the claim created the row");
    assert_eq!(stored.version, 0);
    assert_eq!(stored.last_seq, 0);

    let second = store
        .claim(claim(tenant, "c", None, "owner-b", CLAIM_MS))
        .await;
    assert!(is_conflict(&second), "{second:?}");
    let insert = store
        .commit_turn(turn(tenant, "c", None, &NO_RESPONSE, &[]))
        .await;
    assert!(is_conflict(&insert), "{insert:?}");

    let new_events = events("user_message", 1);
    let committed = store
        .commit_turn(TurnCommit {
            claim_owner: Some("owner-a"),
            ..turn(tenant, "c", Some(0), &NO_RESPONSE, &new_events)
        })
        .await
        .expect("the owner commits");
    assert_eq!(committed, 1);
    assert_eq!(seqs(&transcript_all(store, tenant, "c").await), [1]);
}

pub async fn expired_or_released_claim_frees_conversation(store: &Store) {
    let tenant = "claim-frees";
    let state = json!({ "step": 1 });
    store
        .commit_turn(turn(tenant, "c", None, &state, &[]))
        .await
        .expect("create");

    // A claim that has already expired blocks nobody.
    store
        .claim(claim(tenant, "c", Some(1), "owner-a", -1))
        .await
        .expect("expired claim");
    store
        .claim(claim(tenant, "c", Some(1), "owner-b", CLAIM_MS))
        .await
        .expect("claim over an expired one");

    // Releasing by another owner changes nothing; the owner's release
    // frees the conversation.
    store
        .release_claim(tenant, "c", "owner-a")
        .await
        .expect("release by a former owner");
    let blocked = store
        .commit_turn(turn(tenant, "c", Some(1), &state, &[]))
        .await;
    assert!(is_conflict(&blocked), "{blocked:?}");
    store
        .release_claim(tenant, "c", "owner-b")
        .await
        .expect("release by the owner");
    let version = store
        .commit_turn(turn(tenant, "c", Some(1), &state, &[]))
        .await
        .expect("commit after the release");
    assert_eq!(version, 2);
}
