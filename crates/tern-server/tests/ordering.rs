//! Ordering and lost updates: many messages to one conversation at once,
//! through one server and through two servers sharing one database. Inside
//! a process a per-conversation lock orders the turns. Between processes
//! only the store's version-checked commit does, and a turn that loses the
//! race runs again on the new state. Every test runs on SQLite and on
//! PostgreSQL.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};

use common::{Backend, Database, TestServer, conversation_id, count_kind, expect_error, expect_ok};

backend_tests!(
    concurrent_messages_to_one_conversation_all_commit,
    two_instances_alternating_lose_nothing,
    two_instances_concurrent_lose_nothing,
    two_instances_agent_messages_all_stored,
);

/// Replies to concurrent messages, and the number of 409
/// `conversation_busy` responses that were resent.
struct Delivery {
    replies: Vec<Value>,
    busy: usize,
}

/// Resends of one message after `conversation_busy` before the test fails.
const MAX_RESENDS: usize = 10;

/// Sends `count` messages at once, message `i` to server `i % servers.len()`,
/// each with its own `message_id`. A 409 `conversation_busy` is resent with
/// the same id, as the error's hint instructs.
async fn send_concurrently(servers: &[&TestServer], conversation: &str, count: usize) -> Delivery {
    let mut tasks = Vec::new();
    for index in 0..count {
        let server = servers[index % servers.len()];
        let (http, url) = (server.http.clone(), server.messages_url(conversation));
        let body = json!({ "text": format!("message number {index}"), "message_id": format!("m-{index}") });
        tasks.push(tokio::spawn(async move {
            let mut busy = 0;
            loop {
                let response = http
                    .post(&url)
                    .json(&body)
                    .send()
                    .await
                    .expect("POST message");
                if response.status() == StatusCode::CONFLICT && busy < MAX_RESENDS {
                    expect_error(
                        response,
                        StatusCode::CONFLICT,
                        "conversation_busy",
                        "conflict",
                    )
                    .await;
                    busy += 1;
                    continue;
                }
                return (expect_ok(response, &format!("message {index}")).await, busy);
            }
        }));
    }
    let mut delivery = Delivery {
        replies: Vec::new(),
        busy: 0,
    };
    for task in tasks {
        let (reply, busy) = task.await.expect("task");
        delivery.replies.push(reply);
        delivery.busy += busy;
    }
    delivery
}

/// Checks that the transcript contains each of `count` messages exactly once,
/// that `seq` runs 1, 2, 3... without gaps, and that turns do not
/// interleave: each user message is followed by its own bot reply before
/// the next user message.
fn check_transcript(events: &[Value], count: usize) {
    assert_eq!(count_kind(events, "user_message"), count, "{events:#?}");
    for (index, event) in events.iter().enumerate() {
        assert_eq!(
            event["seq"],
            index + 1,
            "seq gap or repeat at event {index}: {events:#?}"
        );
    }
    let texts: BTreeSet<String> = events
        .iter()
        .filter(|event| event["kind"] == "user_message")
        .filter_map(|event| event["payload"]["text"].as_str().map(String::from))
        .collect();
    let expected: BTreeSet<String> = (0..count)
        .map(|index| format!("message number {index}"))
        .collect();
    assert_eq!(texts, expected);
    let kinds: Vec<&str> = events
        .iter()
        .filter_map(|event| event["kind"].as_str())
        .collect();
    for turn in kinds.split(|kind| *kind == "user_message").skip(1) {
        assert!(
            turn.contains(&"bot_message"),
            "a turn without its reply: {kinds:?}"
        );
    }
}

async fn concurrent_messages_to_one_conversation_all_commit(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = conversation_id("concurrent");

    let delivery = send_concurrently(&[&server], &id, 20).await;
    for (index, reply) in delivery.replies.iter().enumerate() {
        assert_eq!(reply["message_id"], format!("m-{index}"));
    }
    // One instance orders its turns with a lock, so no commit conflicts.
    assert_eq!(delivery.busy, 0);

    check_transcript(&server.transcript(&id).await, 20);
    let stored = server
        .conversation(&id)
        .await
        .expect("the conversation is stored");
    assert_eq!(stored["version"], 20);
    server.stop().await;
}

async fn two_instances_alternating_lose_nothing(backend: Backend) {
    let database = Arc::new(Database::create(backend).await);
    let first = TestServer::start_on(database.clone(), |_| {}).await;
    let second = TestServer::start_on(database, |_| {}).await;
    let id = conversation_id("alternating");

    // Each instance loads the state the other one committed.
    let started = first.send(&id, "I want to pay a parking fine").await;
    assert_eq!(started["step"], "ask_plate");
    let looked_up = second.send(&id, "ABC 123").await;
    assert_eq!(looked_up["step"], "ask_pay_decision");
    let finished = first.send(&id, "not now").await;
    assert_eq!(finished["flow"], Value::Null);

    for index in 0..10 {
        let server = if index % 2 == 0 { &first } else { &second };
        let body = json!({ "text": format!("message number {index}"), "message_id": format!("m-{index}") });
        server.send_json(&id, body).await;
    }

    // A message id processed by one instance is replayed by the other.
    let replay = second
        .send_json(
            &id,
            json!({ "text": "message number 0", "message_id": "m-0" }),
        )
        .await;
    assert_eq!(replay["message_id"], "m-0");

    let events = first.transcript(&id).await;
    assert_eq!(events, second.transcript(&id).await);
    assert_eq!(count_kind(&events, "user_message"), 13, "{events:#?}");
    let stored = second
        .conversation(&id)
        .await
        .expect("the conversation is stored");
    assert_eq!(stored["version"], 13);
    first.stop().await;
    second.stop().await;
}

async fn two_instances_concurrent_lose_nothing(backend: Backend) {
    let database = Arc::new(Database::create(backend).await);
    let first = TestServer::start_on(database.clone(), |_| {}).await;
    let second = TestServer::start_on(database, |_| {}).await;
    let id = conversation_id("two-instances");

    // Two instances draining queues for one conversation make a few turns
    // lose the commit race five times in a row, which fails them with 409
    // `conversation_busy`. The helper resends those, and each message must
    // still be committed exactly once.
    let delivery = send_concurrently(&[&first, &second], &id, 20).await;
    for (index, reply) in delivery.replies.iter().enumerate() {
        assert_eq!(reply["message_id"], format!("m-{index}"));
    }

    check_transcript(&first.transcript(&id).await, 20);
    let stored = first
        .conversation(&id)
        .await
        .expect("the conversation is stored");
    assert_eq!(stored["version"], 20);
    first.stop().await;
    second.stop().await;
}

async fn two_instances_agent_messages_all_stored(backend: Backend) {
    let database = Arc::new(Database::create(backend).await);
    let first = TestServer::start_on(database.clone(), |_| {}).await;
    let second = TestServer::start_on(database, |_| {}).await;
    let id = conversation_id("agents");
    let handed = first.send(&id, "I want to talk to a human").await;
    assert_eq!(handed["handed_off"], true, "{handed}");

    // Agent messages arriving at both instances at once conflict on the
    // version check; each is written again on the new state.
    let mut tasks = Vec::new();
    for index in 0..10 {
        let server = if index % 2 == 0 { &first } else { &second };
        let (http, url) = (
            server.http.clone(),
            server.url(&format!("/api/v1/conversations/{id}/agent")),
        );
        tasks.push(tokio::spawn(async move {
            let body = json!({ "text": format!("agent message {index}") });
            http.post(url).json(&body).send().await.expect("POST agent")
        }));
    }
    for task in tasks {
        let response = task.await.expect("task");
        expect_ok(response, "agent message").await;
    }

    let events = first.transcript(&id).await;
    assert_eq!(count_kind(&events, "agent_message"), 10, "{events:#?}");
    first.stop().await;
    second.stop().await;
}
