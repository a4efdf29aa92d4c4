//! The suite on SQLite, each test on a file in a temporary directory of its
//! own, plus SQLite's own cases.

use serde_json::json;
use tern_store::{NewEvent, Store, StoreError, StoreOptions, TurnCommit};

use crate::{Cleanup, TestDatabase};

async fn open_shared() -> TestDatabase {
    open_isolated().await
}

async fn open_isolated() -> TestDatabase {
    let directory = tempfile::tempdir().expect("temporary directory");
    let url = format!(
        "sqlite://{}?mode=rwc",
        directory.path().join("tern.db").display()
    );
    TestDatabase::connect(url, Cleanup::TempDir(directory)).await
}

crate::all_suite_tests!();

#[tokio::test]
async fn connect_creates_missing_directories() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let path = directory.path().join("nested/deeper/tern.db");
    let url = format!("sqlite:{}", path.display());

    let store = Store::connect(&url, StoreOptions::default())
        .await
        .expect("connect");
    assert_eq!(store.backend(), "sqlite");
    assert!(path.is_file(), "{} was not created", path.display());
    store.close().await;
}

#[tokio::test]
async fn unusable_path_error_names_path() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let blocker = directory.path().join("blocker");
    std::fs::write(&blocker, b"a file where a directory should be").expect("write blocker");
    let path = blocker.join("sub/tern.db");
    let url = format!("sqlite://{}", path.display());

    let error = Store::connect(&url, StoreOptions::default())
        .await
        .expect_err("a file as parent directory");
    assert_eq!(error.kind(), "sqlite_file");
    let message = error.to_string();
    assert!(
        message.contains(&format!("`{}`", path.display())),
        "{message}"
    );
    assert!(message.contains("cannot create directory"), "{message}");
}

#[tokio::test]
async fn directory_as_database_error_names_path() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", directory.path().display());

    let error = Store::connect(&url, StoreOptions::default())
        .await
        .expect_err("a directory as database file");
    assert_eq!(error.kind(), "sqlite_file");
    let message = error.to_string();
    assert!(
        message.contains(&format!("`{}`", directory.path().display())),
        "{message}"
    );
}

#[tokio::test]
async fn commits_go_through_wal() {
    let database = open_isolated().await;
    let state = json!({});
    let create = TurnCommit {
        tenant: "wal",
        conversation: "c",
        expected_version: None,
        state: &state,
        events: &[],
        message_id: None,
        response: &serde_json::Value::Null,
        request_digest: None,
        claim_owner: None,
    };
    database.store.commit_turn(create).await.expect("commit");

    let path = database
        .url
        .trim_start_matches("sqlite://")
        .trim_end_matches("?mode=rwc");
    let wal = std::path::PathBuf::from(format!("{path}-wal"));
    assert!(
        wal.is_file(),
        "{} is missing, so WAL mode is off",
        wal.display()
    );
    database.finish().await;
}

#[tokio::test]
async fn in_memory_database_is_rejected() {
    for url in [
        "sqlite::memory:",
        "sqlite://:memory:",
        "sqlite://tern.db?mode=memory",
    ] {
        let error = Store::connect(url, StoreOptions::default())
            .await
            .expect_err("in-memory database");
        assert_eq!(error.kind(), "invalid_url", "{url}");
        let message = error.to_string();
        assert!(
            message.contains("in-memory SQLite databases are not supported"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn url_without_path_is_rejected() {
    let error = Store::connect("sqlite://", StoreOptions::default())
        .await
        .expect_err("no path");
    assert_eq!(error.kind(), "invalid_url");
    assert!(
        error.to_string().contains("the URL has no file path"),
        "{error}"
    );
}

/// Two stores on one file act like two server processes: each has its own
/// writer connection, and SQLite's file lock with busy_timeout orders them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_share_one_file() {
    let database = open_isolated().await;
    let second = Store::connect(&database.url, StoreOptions::default())
        .await
        .expect("second store on the same file");
    let state = json!({ "counter": 0 });
    let create = TurnCommit {
        tenant: "two-stores",
        conversation: "c",
        expected_version: None,
        state: &state,
        events: &[],
        message_id: None,
        response: &serde_json::Value::Null,
        request_digest: None,
        claim_owner: None,
    };
    database.store.commit_turn(create).await.expect("create");

    let mut tasks = tokio::task::JoinSet::new();
    for (task, store) in [database.store.clone(), second.clone()]
        .into_iter()
        .cycle()
        .take(8)
        .enumerate()
    {
        tasks.spawn(async move {
            for increment in 0..3 {
                loop {
                    let stored = store
                        .load("two-stores", "c")
                        .await
                        .expect("load")
                        .expect("exists");
                    let counter = stored.state["counter"].as_i64().expect("counter");
                    let state = json!({ "counter": counter + 1 });
                    let new_events = [NewEvent {
                        kind: "increment".to_string(),
                        payload: json!({ "task": task, "increment": increment }),
                    }];
                    let commit = TurnCommit {
                        tenant: "two-stores",
                        conversation: "c",
                        expected_version: Some(stored.version),
                        state: &state,
                        events: &new_events,
                        message_id: None,
                        response: &serde_json::Value::Null,
                        request_digest: None,
                        claim_owner: None,
                    };
                    match store.commit_turn(commit).await {
                        Ok(_) => break,
                        Err(StoreError::Conflict { .. }) => continue,
                        Err(error) => panic!("task {task}: {error}"),
                    }
                }
            }
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.expect("task panicked");
    }

    let stored = second
        .load("two-stores", "c")
        .await
        .expect("load")
        .expect("exists");
    assert_eq!(stored.version, 25);
    assert_eq!(stored.state["counter"], json!(24));
    assert_eq!(stored.last_seq, 24);
    second.close().await;
    database.finish().await;
}

/// SQLite stores U+0000 in JSON text, which PostgreSQL rejects.
#[tokio::test]
async fn nul_character_round_trips() {
    let database = open_isolated().await;
    let state = json!({ "text": "before\u{0}after" });
    let create = TurnCommit {
        tenant: "nul-character",
        conversation: "c",
        expected_version: None,
        state: &state,
        events: &[],
        message_id: None,
        response: &serde_json::Value::Null,
        request_digest: None,
        claim_owner: None,
    };

    database.store.commit_turn(create).await.expect("commit");
    let stored = database
        .store
        .load("nul-character", "c")
        .await
        .expect("load");
    assert_eq!(stored.expect("exists").state, state);
    database.finish().await;
}

/// The writer commits concurrent turns in shared transactions, each turn in
/// its own savepoint. Conflicts and duplicate message ids in a batch must
/// roll back only their own turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commits_are_exact() {
    const CONVERSATIONS: usize = 200;
    const COMMITS_PER_CONVERSATION: usize = 10;
    const EVENTS_PER_COMMIT: usize = 2;

    let database = open_isolated().await;
    let store = database.store.clone();
    let empty = json!({ "counter": 0 });
    for conversation in 0..CONVERSATIONS {
        let create = TurnCommit {
            tenant: "batched",
            conversation: &format!("c{conversation}"),
            expected_version: None,
            state: &empty,
            events: &[],
            message_id: None,
            response: &serde_json::Value::Null,
            request_digest: None,
            claim_owner: None,
        };
        store.commit_turn(create).await.expect("create");
    }

    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..CONVERSATIONS * COMMITS_PER_CONVERSATION {
        let store = store.clone();
        tasks.spawn(async move {
            let conversation = format!("c{}", task % CONVERSATIONS);
            let message_id = format!("m{}", task / CONVERSATIONS);
            let response = json!({ "task": task });
            let new_events: Vec<NewEvent> = (0..EVENTS_PER_COMMIT)
                .map(|index| NewEvent {
                    kind: "increment".to_string(),
                    payload: json!({ "task": task, "index": index }),
                })
                .collect();
            let committed_version = loop {
                let stored = store
                    .load("batched", &conversation)
                    .await
                    .expect("load")
                    .expect("exists");
                let counter = stored.state["counter"].as_i64().expect("counter");
                let state = json!({ "counter": counter + 1 });
                let commit = TurnCommit {
                    tenant: "batched",
                    conversation: &conversation,
                    expected_version: Some(stored.version),
                    state: &state,
                    events: &new_events,
                    message_id: Some(&message_id),
                    response: &response,
                    request_digest: None,
                    claim_owner: None,
                };
                match store.commit_turn(commit).await {
                    Ok(version) => break version,
                    Err(StoreError::Conflict { .. }) => continue,
                    Err(error) => panic!("task {task}: {error}"),
                }
            };

            // Resending the same message id must write nothing, whichever
            // error the store reports first.
            let state = json!({ "counter": -1 });
            let resend = TurnCommit {
                tenant: "batched",
                conversation: &conversation,
                expected_version: Some(committed_version),
                state: &state,
                events: &new_events,
                message_id: Some(&message_id),
                response: &serde_json::Value::Null,
                request_digest: None,
                claim_owner: None,
            };
            match store.commit_turn(resend).await {
                Err(StoreError::DuplicateMessage { .. } | StoreError::Conflict { .. }) => {}
                other => panic!("task {task}: resend returned {other:?}"),
            }
            (task, committed_version)
        });
    }

    let mut versions = vec![Vec::new(); CONVERSATIONS];
    while let Some(result) = tasks.join_next().await {
        let (task, version) = result.expect("task panicked");
        versions[task % CONVERSATIONS].push(version);
    }

    let expected_versions: Vec<i64> = (2..=1 + COMMITS_PER_CONVERSATION as i64).collect();
    let expected_seqs: Vec<i64> =
        (1..=(COMMITS_PER_CONVERSATION * EVENTS_PER_COMMIT) as i64).collect();
    for (conversation, mut committed) in versions.into_iter().enumerate() {
        let name = format!("c{conversation}");
        committed.sort_unstable();
        assert_eq!(committed, expected_versions, "versions returned for {name}");

        let stored = store
            .load("batched", &name)
            .await
            .expect("load")
            .expect("exists");
        assert_eq!(
            stored.version,
            1 + COMMITS_PER_CONVERSATION as i64,
            "version of {name}"
        );
        assert_eq!(
            stored.state["counter"],
            json!(COMMITS_PER_CONVERSATION),
            "counter of {name}"
        );
        assert_eq!(
            stored.last_seq,
            (COMMITS_PER_CONVERSATION * EVENTS_PER_COMMIT) as i64,
            "last_seq of {name}"
        );

        let events = store
            .transcript("batched", &name, 0, 1000)
            .await
            .expect("transcript");
        let seqs: Vec<i64> = events.iter().map(|event| event.seq).collect();
        assert_eq!(seqs, expected_seqs, "event seqs of {name}");
        for pair in events.chunks(EVENTS_PER_COMMIT) {
            assert_eq!(
                pair[0].payload["task"], pair[1].payload["task"],
                "one commit's events are not consecutive in {name}"
            );
        }

        for commit in 0..COMMITS_PER_CONVERSATION {
            let task = commit * CONVERSATIONS + conversation;
            let response = store
                .processed("batched", &name, &format!("m{commit}"))
                .await
                .expect("processed");
            assert_eq!(
                response.map(|p| p.response),
                Some(json!({ "task": task })),
                "response to m{commit} in {name}"
            );
        }
    }
    database.finish().await;
}

/// A closed store rejects commits with an error instead of leaving the
/// caller waiting for the stopped writer thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_after_close_fails() {
    let database = open_isolated().await;
    let store = database.store.clone();
    database.finish().await;

    let state = json!({});
    let create = TurnCommit {
        tenant: "closed",
        conversation: "c",
        expected_version: None,
        state: &state,
        events: &[],
        message_id: None,
        response: &serde_json::Value::Null,
        request_digest: None,
        claim_owner: None,
    };
    let result = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        store.commit_turn(create),
    )
    .await
    .expect("commit on a closed store timed out");
    let error = result.expect_err("commit on a closed store");
    assert_eq!(error.kind(), "database");
}
