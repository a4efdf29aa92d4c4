//! Action webhooks: a small flow set in a temporary directory whose action
//! points at an axum webhook started by the test. The webhook checks each
//! request's signature with `tern_actions::verify` under the key it
//! expects. Every test runs on SQLite and on PostgreSQL.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use common::{
    Backend, Database, HMAC_KEY, TestServer, closed_port, conversation_id, count_kind,
    expect_error, expect_ok, texts, use_flows,
};

const FLOWS: &str = r#"
flows:
  check_order:
    name: Check an order
    description: Looks up the delivery status of an order.
    nlu_trigger:
      intents:
        - intent: check_order
    steps:
      - id: ask_order_number
        collect: order_number
        description: What is the order number?
      - id: lookup_status
        action: order_status
        result_slot: order_status
        next: show_status
        else: lookup_failed
      - id: show_status
        response: Order slots.order_number is slots.order_status.
        next: ask_updates
      - id: ask_updates
        collect: wants_updates
        collect_type: boolean
        description: Would you like a message when the status changes?
        next:
          - if: slots.wants_updates == true
            then: updates_on
        else: updates_off
      - id: updates_on
        response: I will message you when order slots.order_number is no longer slots.order_status.
        next: END
      - id: updates_off
        response: Okay, no messages.
        next: END
      - id: lookup_failed
        response: Sorry, I could not look up the order.
        next: END
"#;

const LOOKUP_FAILED: &str = "Sorry, I could not look up the order.";

backend_tests!(
    webhook_result_used_by_later_response,
    webhook_error_takes_else_path,
    webhook_down_takes_else_path,
    wrong_signing_key_takes_else_path,
    two_instances_call_webhook_once,
);

/// One request the webhook received.
#[derive(Clone, Debug)]
struct Received {
    action: String,
    verified: bool,
    body: Value,
    idempotency_key: Option<String>,
}

/// A local webhook that verifies signatures with `key` and returns the
/// `order_status` of an order number: `A-404` is unknown, anything else is
/// shipped. Order numbers starting with `SLOW` take 300 ms to answer.
struct Webhook {
    address: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    _task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct WebhookState {
    key: Vec<u8>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Webhook {
    async fn start(key: &str) -> Webhook {
        let received = Arc::new(Mutex::new(Vec::new()));
        let state = WebhookState {
            key: key.as_bytes().to_vec(),
            received: received.clone(),
        };
        let app = axum::Router::new()
            .route("/actions/{name}", post(answer))
            .with_state(state);
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the webhook port");
        let address = listener.local_addr().expect("webhook address");
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the webhook serves");
        });
        Webhook {
            address,
            received,
            _task: task,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("webhook log").clone()
    }
}

async fn answer(
    State(state): State<WebhookState>,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<Value>) {
    let idempotency_key = headers
        .get(tern_actions::IDEMPOTENCY_KEY)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let verified = tern_actions::verify(&state.key, &body).is_ok();
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let order = parsed["parameters"]["order_number"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    state.received.lock().expect("webhook log").push(Received {
        action: name,
        verified,
        body: parsed,
        idempotency_key,
    });
    if order.starts_with("SLOW") {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    if !verified {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "result": "", "error": "invalid signature" })),
        );
    }
    if order == "A-404" {
        return (
            StatusCode::OK,
            Json(json!({ "result": "", "error": "no order with that number" })),
        );
    }
    (
        StatusCode::OK,
        Json(json!({ "result": "shipped", "error": "" })),
    )
}

/// Writes the flow set and an actions file whose webhook is `webhook_url`,
/// returning the directory (deleted on drop) and the two paths.
fn write_assistant(webhook_url: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let directory = tempfile::tempdir().expect("create a temporary directory");
    let flows = directory.path().join("flows");
    std::fs::create_dir(&flows).expect("create the flows directory");
    std::fs::write(flows.join("orders.yml"), FLOWS).expect("write the flow file");
    let actions = directory.path().join("actions.yml");
    let text = format!(
        r#"actions:
  - name: order_status
    description: Returns the delivery status of an order.
    webhook_url: {webhook_url}
    json_schema:
      type: object
      properties:
        order_number: {{type: string}}
      required: [order_number]
"#
    );
    std::fs::write(&actions, text).expect("write the actions file");
    (directory, flows, actions)
}

/// Starts a server running the order flow against `webhook_url`, signing
/// with `hmac_key`.
async fn start_server(
    backend: Backend,
    webhook_url: &str,
    hmac_key: &str,
) -> (TestServer, tempfile::TempDir) {
    let (directory, flows, actions) = write_assistant(webhook_url);
    let server = TestServer::start_with(backend, |config| {
        use_flows(config, &flows, Some(&actions));
        config.hmac_key = Some(hmac_key.into());
    })
    .await;
    (server, directory)
}

async fn webhook_result_used_by_later_response(backend: Backend) {
    let webhook = Webhook::start(HMAC_KEY).await;
    let (server, _directory) = start_server(
        backend,
        &format!("http://{}/actions/order_status", webhook.address),
        HMAC_KEY,
    )
    .await;
    let id = conversation_id("order");

    let order_request = server.send(&id, "check my order").await;
    assert_eq!(order_request["flow"], "check_order");
    assert_eq!(texts(&order_request), ["What is the order number?"]);

    let looked_up = server.send(&id, "A-100").await;
    assert_eq!(
        texts(&looked_up),
        [
            "Order A-100 is shipped.",
            "Would you like a message when the status changes?"
        ]
    );
    assert_eq!(looked_up["step"], "ask_updates");

    let received = webhook.received();
    assert_eq!(received.len(), 1, "{received:#?}");
    let call = &received[0];
    assert_eq!(call.action, "order_status");
    assert!(call.verified, "the signature did not verify: {call:#?}");
    assert_eq!(call.body["action_name"], "order_status");
    assert_eq!(call.body["parameters"], json!({ "order_number": "A-100" }));
    // The key names the conversation, the state version the message was
    // handled from, and the call's number in the turn.
    assert_eq!(
        call.idempotency_key.as_deref(),
        Some(format!("{id}/v/1/1/order_status").as_str())
    );
    assert!(
        call.body["timestamp"]
            .as_u64()
            .is_some_and(|t| t > 1_600_000_000),
        "{call:#?}"
    );

    // The result, stored in the slot, reaches a response of a later turn.
    let later = server.send(&id, "yes").await;
    assert_eq!(
        texts(&later)[0],
        "I will message you when order A-100 is no longer shipped."
    );
    assert_eq!(webhook.received().len(), 1, "the action ran again");
    let events = server.transcript(&id).await;
    assert_eq!(count_kind(&events, "action_succeeded"), 1);
    server.stop().await;
}

async fn webhook_error_takes_else_path(backend: Backend) {
    let webhook = Webhook::start(HMAC_KEY).await;
    let (server, _directory) = start_server(
        backend,
        &format!("http://{}/actions/order_status", webhook.address),
        HMAC_KEY,
    )
    .await;
    let id = conversation_id("order-error");

    server.send(&id, "check my order").await;
    let failed = server.send(&id, "A-404").await;
    assert_eq!(texts(&failed)[0], LOOKUP_FAILED, "{failed}");
    assert_eq!(failed["flow"], Value::Null);

    assert!(webhook.received().iter().all(|call| call.verified));
    let events = server.transcript(&id).await;
    let failure = events
        .iter()
        .find(|event| event["kind"] == "action_failed")
        .expect("an action_failed event");
    assert_eq!(
        failure["payload"]["error"], "no order with that number",
        "{failure}"
    );
    let stored = server
        .conversation(&id)
        .await
        .expect("the conversation is stored");
    assert!(
        stored["state"]["slots"].get("order_status").is_none(),
        "{stored}"
    );
    server.stop().await;
}

async fn webhook_down_takes_else_path(backend: Backend) {
    let port = closed_port().await;
    let (server, _directory) = start_server(
        backend,
        &format!("http://127.0.0.1:{port}/actions/order_status"),
        HMAC_KEY,
    )
    .await;
    let id = conversation_id("order-down");

    server.send(&id, "check my order").await;
    let failed = server.send(&id, "A-100").await;
    assert_eq!(texts(&failed)[0], LOOKUP_FAILED, "{failed}");
    assert_eq!(failed["flow"], Value::Null);
    let events = server.transcript(&id).await;
    assert_eq!(count_kind(&events, "action_failed"), 1, "{events:#?}");
    server.stop().await;
}

async fn wrong_signing_key_takes_else_path(backend: Backend) {
    let webhook = Webhook::start(HMAC_KEY).await;
    let (server, _directory) = start_server(
        backend,
        &format!("http://{}/actions/order_status", webhook.address),
        "another-key",
    )
    .await;
    let id = conversation_id("order-unsigned");

    server.send(&id, "check my order").await;
    let failed = server.send(&id, "A-100").await;
    assert_eq!(texts(&failed)[0], LOOKUP_FAILED, "{failed}");
    let received = webhook.received();
    assert_eq!(received.len(), 1, "{received:#?}");
    assert!(
        !received[0].verified,
        "a request signed with another key verified"
    );
    server.stop().await;
}

/// Posts a message, resending it while the answer is 409
/// `conversation_busy`, as that error's hint instructs.
async fn send_until_committed(server: &TestServer, conversation: &str, body: Value) -> Value {
    for _ in 0..20 {
        let response = server.post_message(conversation, &body).await;
        if response.status() != StatusCode::CONFLICT {
            return expect_ok(response, &format!("message {body}")).await;
        }
        expect_error(response, StatusCode::CONFLICT, "conversation_busy", "busy").await;
    }
    panic!("message {body} was still busy after 20 attempts");
}

async fn two_instances_call_webhook_once(backend: Backend) {
    let webhook = Webhook::start(HMAC_KEY).await;
    let (_directory, flows, actions) =
        write_assistant(&format!("http://{}/actions/order_status", webhook.address));
    let configure = |config: &mut tern_server::config::Config| {
        use_flows(config, &flows, Some(&actions));
        config.hmac_key = Some(HMAC_KEY.into());
    };
    let database = Arc::new(Database::create(backend).await);
    let first = TestServer::start_on(database.clone(), configure).await;
    let second = TestServer::start_on(database, configure).await;
    let id = conversation_id("claim");
    let asked = first.send(&id, "check my order").await;
    assert_eq!(asked["step"], "ask_order_number");

    // Both instances load the conversation at the order number question, so
    // both turns would call the slow webhook. The claim lets one call it;
    // the other turn runs again on the committed state.
    let (one, two) = tokio::join!(
        send_until_committed(
            &first,
            &id,
            json!({ "text": "SLOW-1", "message_id": "m-1" })
        ),
        send_until_committed(
            &second,
            &id,
            json!({ "text": "SLOW-2", "message_id": "m-2" })
        ),
    );
    let shipped = [&one, &two]
        .iter()
        .filter(|reply| {
            texts(reply)
                .iter()
                .any(|text| text.ends_with("is shipped."))
        })
        .count();
    assert_eq!(shipped, 1, "{one:#?} {two:#?}");

    let received = webhook.received();
    assert_eq!(received.len(), 1, "{received:#?}");
    let events = first.transcript(&id).await;
    assert_eq!(count_kind(&events, "user_message"), 3, "{events:#?}");
    assert_eq!(count_kind(&events, "action_succeeded"), 1, "{events:#?}");
    first.stop().await;
    second.stop().await;
}
