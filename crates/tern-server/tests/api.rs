//! The HTTP API over a real loopback port, with the bundled example
//! assistant and the offline understander: conversations, idempotency, the
//! Rasa channel, access control, input validation, uploads, live replies
//! and the system endpoints. Every test runs on SQLite and on PostgreSQL.

mod common;

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Value, json};

use common::{
    Backend, TestServer, conversation_id, count_kind, expect_error, expect_ok, metric, texts,
};

const GREETING: &str =
    "Hello! This is the Riverside City Services assistant. How can I help you today?";
const ANYTHING_ELSE: &str = "Is there anything else I can do for you today?";
const ASK_PLATE: &str = "What is the licence plate number of the vehicle?";

backend_tests!(
    first_conversation_uses_demo_back_office,
    same_message_id_replays_response,
    concurrent_duplicate_message_id_runs_once,
    rasa_channel_returns_recipient_messages,
    admin_endpoints_open_on_loopback_without_key,
    admin_key_required_when_configured,
    client_key_required_when_configured,
    delete_removes_all_conversation_data,
    invalid_message_requests_rejected,
    invalid_requests_on_other_endpoints_rejected,
    upload_fills_file_slot,
    invalid_uploads_rejected,
    foreign_upload_id_rejected,
    agent_answers_and_releases_handoff,
    rasa_errors_name_rasa_fields,
    stream_delivers_reply_event,
    system_endpoints_respond,
);

async fn first_conversation_uses_demo_back_office(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = conversation_id("first");

    let greeting = server.send(&id, "hello").await;
    assert_eq!(greeting["conversation_id"], id.as_str());
    assert_eq!(texts(&greeting), [GREETING]);
    assert_eq!(greeting["flow"], Value::Null);
    assert_eq!(greeting["step"], Value::Null);
    assert_eq!(greeting["handed_off"], false);
    assert_eq!(greeting["llm_calls"], 0);

    let started = server.send(&id, "I want to pay a parking fine").await;
    assert_eq!(started["flow"], "pay_parking_fine");
    assert_eq!(started["step"], "ask_plate");
    assert_eq!(texts(&started), [ASK_PLATE]);

    // The plate fills the slot, and `lookup_fine` runs against the demo back
    // office on the same server, which checks the request's signature.
    let looked_up = server.send(&id, "ABC 123").await;
    assert_eq!(looked_up["flow"], "pay_parking_fine");
    assert_eq!(looked_up["step"], "ask_pay_decision");
    let stored = server
        .conversation(&id)
        .await
        .expect("the conversation is stored");
    let slots = &stored["state"]["slots"];
    assert_eq!(slots["plate_number"], "ABC 123");
    // The demo back office derives the amount from the plate: $105 here,
    // below the $150 over which the flow mentions instalments.
    assert_eq!(slots["lookup_fine_result"], 105);
    assert_eq!(
        texts(&looked_up),
        [
            "Plate ABC 123 has unpaid fines of $105.".to_string(),
            "Would you like to pay now, or do you want to dispute the fine?".to_string(),
        ]
    );
    let buttons: Vec<&str> = looked_up["messages"][1]["buttons"]
        .as_array()
        .expect("the question has buttons")
        .iter()
        .filter_map(|button| button["title"].as_str())
        .collect();
    assert_eq!(buttons, ["Pay now", "Dispute the fine", "Not now"]);

    // The offline understander never judges `semantic_if`, so the step
    // takes its `else` and the flow ends.
    let finished = server.send(&id, "not now").await;
    assert_eq!(finished["flow"], Value::Null);
    assert_eq!(finished["step"], Value::Null);
    let finished_texts = texts(&finished);
    assert!(
        finished_texts[0].starts_with("Okay. You can pay any time"),
        "{finished}"
    );
    assert_eq!(
        finished_texts.last().map(String::as_str),
        Some(ANYTHING_ELSE)
    );

    // The offline rules read a plain "no" as the answer to that question.
    let goodbye = server.send(&id, "no").await;
    assert_eq!(
        texts(&goodbye),
        ["Thank you for contacting Riverside City Services. Goodbye!"]
    );

    let events = server.transcript(&id).await;
    assert_eq!(count_kind(&events, "user_message"), 5);
    assert_eq!(count_kind(&events, "action_succeeded"), 1, "{events:#?}");
    let stored = server
        .conversation(&id)
        .await
        .expect("the conversation is stored");
    assert_eq!(stored["version"], 5);
    server.stop().await;
}

async fn same_message_id_replays_response(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = conversation_id("idempotent");
    let request = json!({ "text": "I want to pay a parking fine", "message_id": "m-1" });

    let first = server.send_json(&id, request.clone()).await;
    let second = server.send_json(&id, request.clone()).await;
    assert_eq!(first, second);
    // The replay is the stored text itself, keys in the same order.
    let again = server
        .post_message(&id, &request)
        .await
        .text()
        .await
        .expect("body");
    assert_eq!(again, serde_json::to_string(&first).expect("serialize"));
    assert_eq!(first["message_id"], "m-1");
    assert_eq!(first["step"], "ask_plate");

    let events = server.transcript(&id).await;
    assert_eq!(count_kind(&events, "user_message"), 1, "{events:#?}");
    let stored = server
        .conversation(&id)
        .await
        .expect("the conversation is stored");
    assert_eq!(stored["version"], 1);

    // The same id with another text is refused, not answered with the first
    // reply, and runs no turn.
    let reused = server
        .post_message(&id, &json!({ "text": "ABC 1234", "message_id": "m-1" }))
        .await;
    let error = expect_error(
        reused,
        StatusCode::CONFLICT,
        "message_id_reused",
        "a message id reused for another text",
    )
    .await;
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|message| message.contains("`m-1`")),
        "{error}"
    );
    assert_eq!(count_kind(&server.transcript(&id).await, "user_message"), 1);

    // A new id is a new message.
    let next = server
        .send_json(&id, json!({ "text": "ABC 1234", "message_id": "m-2" }))
        .await;
    assert_eq!(next["step"], "ask_pay_decision");
    let events = server.transcript(&id).await;
    assert_eq!(count_kind(&events, "user_message"), 2);

    // Message ids are per conversation: the same id elsewhere runs a turn.
    let other = conversation_id("idempotent");
    let elsewhere = server.send_json(&other, request).await;
    assert_eq!(elsewhere["conversation_id"], other.as_str());
    assert_eq!(
        count_kind(&server.transcript(&other).await, "user_message"),
        1
    );
    server.stop().await;
}

async fn concurrent_duplicate_message_id_runs_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = conversation_id("duplicates");
    let request = json!({ "text": "I want to pay a parking fine", "message_id": "same" });

    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (http, url, body) = (
            server.http.clone(),
            server.messages_url(&id),
            request.clone(),
        );
        tasks.push(tokio::spawn(async move {
            http.post(url).json(&body).send().await
        }));
    }
    let mut bodies = Vec::new();
    for task in tasks {
        let response = task.await.expect("task").expect("request");
        bodies.push(expect_ok(response, "duplicate message").await);
    }
    assert!(bodies.iter().all(|body| *body == bodies[0]), "{bodies:#?}");

    let events = server.transcript(&id).await;
    assert_eq!(count_kind(&events, "user_message"), 1, "{events:#?}");
    server.stop().await;
}

async fn rasa_channel_returns_recipient_messages(backend: Backend) {
    let server = TestServer::start(backend).await;
    let sender = conversation_id("rasa");
    let url = server.url("/webhooks/rest/webhook");

    let response = server
        .http
        .post(&url)
        .json(&json!({ "sender": sender, "message": "hello" }))
        .send()
        .await
        .expect("POST");
    let reply = expect_ok(response, "Rasa hello").await;
    assert_eq!(reply, json!([{ "recipient_id": sender, "text": GREETING }]));

    let response = server
        .http
        .post(&url)
        .json(&json!({ "sender": sender, "message": "what services do you offer", "metadata": { "channel": "web" } }))
        .send()
        .await
        .expect("POST");
    let reply = expect_ok(response, "Rasa services").await;
    let items = reply.as_array().expect("a list");
    assert_eq!(items.len(), 2, "{reply}");
    for item in items {
        assert_eq!(item["recipient_id"], sender.as_str());
        assert!(
            item["text"].as_str().is_some_and(|t| !t.is_empty()),
            "{item}"
        );
    }
    assert!(
        items[0]["text"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Welcome to Riverside City Services"),
        "{reply}"
    );
    let buttons = items[0]["buttons"]
        .as_array()
        .expect("the service menu has buttons");
    assert_eq!(
        buttons[0],
        json!({ "title": "Report a street problem", "payload": "Report a street problem" })
    );
    assert_eq!(
        buttons[3],
        json!({ "title": "Library card", "payload": "I want to renew my library card" })
    );
    assert!(items[1].get("buttons").is_none(), "{reply}");

    // The channel writes to the same conversation as the REST API.
    let events = server.transcript(&sender).await;
    assert_eq!(count_kind(&events, "user_message"), 2);
    server.stop().await;
}

async fn admin_endpoints_open_on_loopback_without_key(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = conversation_id("loopback");
    server.send(&id, "hello").await;

    let conversation = server
        .http
        .get(server.url(&format!("/api/v1/conversations/{id}")))
        .send()
        .await
        .expect("GET");
    let conversation = expect_ok(conversation, "GET conversation").await;
    assert_eq!(conversation["conversation_id"], id.as_str());
    assert_eq!(conversation["version"], 1);
    assert!(conversation["state"].is_object(), "{conversation}");
    assert!(conversation["history"].is_array(), "{conversation}");

    let transcript = server
        .http
        .get(server.url(&format!("/api/v1/conversations/{id}/transcript")))
        .send()
        .await
        .expect("GET");
    let transcript = expect_ok(transcript, "GET transcript").await;
    assert_eq!(transcript["events"][0]["kind"], "user_message");
    assert_eq!(transcript["events"][0]["payload"]["text"], "hello");

    let flows = server
        .http
        .get(server.url("/api/v1/flows"))
        .send()
        .await
        .expect("GET");
    let flows = expect_ok(flows, "GET flows").await;
    let ids: Vec<&str> = flows["flows"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert!(ids.contains(&"pay_parking_fine"), "{ids:?}");

    let deleted = server
        .http
        .delete(server.url(&format!("/api/v1/conversations/{id}")))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    server.stop().await;
}

async fn admin_key_required_when_configured(backend: Backend) {
    let server = TestServer::start_with(backend, |config| {
        config.admin_key = Some("admin-secret".into())
    })
    .await;
    let id = conversation_id("admin");
    // Messages need no admin key.
    server.send(&id, "hello").await;

    let paths = [
        format!("/api/v1/conversations/{id}"),
        format!("/api/v1/conversations/{id}/transcript"),
        "/api/v1/flows".to_string(),
    ];
    for path in &paths {
        let url = server.url(path);
        let missing = server.http.get(&url).send().await.expect("GET");
        expect_error(
            missing,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            &format!("GET {path} without a key"),
        )
        .await;
        let wrong = server
            .http
            .get(&url)
            .bearer_auth("admin-secreT")
            .send()
            .await
            .expect("GET");
        expect_error(
            wrong,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            &format!("GET {path} with a wrong key"),
        )
        .await;
        let client_header = server
            .http
            .get(&url)
            .header(AUTHORIZATION, "admin-secret")
            .send()
            .await
            .expect("GET");
        expect_error(
            client_header,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            &format!("GET {path} without `Bearer`"),
        )
        .await;
        let bearer = server
            .http
            .get(&url)
            .bearer_auth("admin-secret")
            .send()
            .await
            .expect("GET");
        expect_ok(bearer, &format!("GET {path} with Bearer")).await;
        let api_key = server
            .http
            .get(&url)
            .header("x-api-key", "admin-secret")
            .send()
            .await
            .expect("GET");
        expect_ok(api_key, &format!("GET {path} with X-Api-Key")).await;
    }

    let url = server.url(&format!("/api/v1/conversations/{id}"));
    let missing = server.http.delete(&url).send().await.expect("DELETE");
    expect_error(
        missing,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "DELETE without a key",
    )
    .await;
    assert!(
        server
            .conversation_with_key(&id, "admin-secret")
            .await
            .is_some(),
        "a rejected DELETE removed the conversation"
    );
    let deleted = server
        .http
        .delete(&url)
        .bearer_auth("admin-secret")
        .send()
        .await
        .expect("DELETE");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert!(
        server
            .conversation_with_key(&id, "admin-secret")
            .await
            .is_none()
    );
    server.stop().await;
}

async fn client_key_required_when_configured(backend: Backend) {
    let server = TestServer::start_with(backend, |config| {
        config.client_key = Some("client-secret".into())
    })
    .await;
    let id = conversation_id("client");
    let body = json!({ "text": "hello" });

    let missing = server.post_message(&id, &body).await;
    expect_error(
        missing,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "message without a key",
    )
    .await;
    let wrong = server
        .http
        .post(server.messages_url(&id))
        .bearer_auth("wrong")
        .json(&body)
        .send()
        .await
        .expect("POST");
    expect_error(
        wrong,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "message with a wrong key",
    )
    .await;
    // The rejected requests reached no turn.
    assert!(server.conversation(&id).await.is_none());

    let bearer = server
        .http
        .post(server.messages_url(&id))
        .bearer_auth("client-secret")
        .json(&body)
        .send()
        .await
        .expect("POST");
    assert_eq!(
        texts(&expect_ok(bearer, "message with Bearer").await),
        [GREETING]
    );
    let api_key = server
        .http
        .post(server.messages_url(&id))
        .header("x-api-key", "client-secret")
        .json(&body)
        .send()
        .await
        .expect("POST");
    expect_ok(api_key, "message with X-Api-Key").await;

    let rasa_body = json!({ "sender": id, "message": "hello" });
    let rasa = server
        .http
        .post(server.url("/webhooks/rest/webhook"))
        .json(&rasa_body)
        .send()
        .await
        .expect("POST");
    expect_error(
        rasa,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "Rasa message without a key",
    )
    .await;
    let rasa = server
        .http
        .post(server.url("/webhooks/rest/webhook"))
        .bearer_auth("client-secret")
        .json(&rasa_body)
        .send()
        .await
        .expect("POST");
    expect_ok(rasa, "Rasa message with Bearer").await;

    let stream = server
        .http
        .get(server.url(&format!("/api/v1/conversations/{id}/stream")))
        .send()
        .await
        .expect("GET");
    expect_error(
        stream,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "stream without a key",
    )
    .await;
    let upload = server
        .http
        .post(server.url(&format!("/api/v1/conversations/{id}/uploads?name=a.txt")))
        .body("data")
        .send()
        .await
        .expect("POST");
    expect_error(
        upload,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "upload without a key",
    )
    .await;

    // Without an admin key, admin endpoints stay open to loopback clients.
    assert_eq!(count_kind(&server.transcript(&id).await, "user_message"), 3);
    server.stop().await;
}

async fn delete_removes_all_conversation_data(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = conversation_id("delete");
    let request = json!({ "text": "I want to pay a parking fine", "message_id": "d-1" });
    server.send_json(&id, request.clone()).await;
    let upload = server
        .upload(&id, "note.txt", "text/plain", b"remove me".to_vec())
        .await;
    let upload_url = server.url(&format!(
        "/api/v1/uploads/{}",
        upload["upload_id"].as_str().expect("upload id")
    ));
    let stored = server
        .http
        .get(&upload_url)
        .send()
        .await
        .expect("GET upload");
    assert_eq!(stored.status(), StatusCode::OK);

    let url = server.url(&format!("/api/v1/conversations/{id}"));
    let deleted = server.http.delete(&url).send().await.expect("DELETE");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    let state = server.http.get(&url).send().await.expect("GET");
    expect_error(
        state,
        StatusCode::NOT_FOUND,
        "conversation_not_found",
        "GET after DELETE",
    )
    .await;
    let transcript = server
        .http
        .get(format!("{url}/transcript"))
        .send()
        .await
        .expect("GET transcript");
    expect_error(
        transcript,
        StatusCode::NOT_FOUND,
        "conversation_not_found",
        "transcript after DELETE",
    )
    .await;
    let gone = server
        .http
        .get(&upload_url)
        .send()
        .await
        .expect("GET upload");
    expect_error(
        gone,
        StatusCode::NOT_FOUND,
        "upload_not_found",
        "GET upload after DELETE",
    )
    .await;
    let again = server.http.delete(&url).send().await.expect("DELETE");
    expect_error(
        again,
        StatusCode::NOT_FOUND,
        "conversation_not_found",
        "second DELETE",
    )
    .await;

    // DELETE also removes the processed message ids, so the same id runs a
    // new turn.
    let replayed = server.send_json(&id, request).await;
    assert_eq!(replayed["step"], "ask_plate");
    let stored = server
        .conversation(&id)
        .await
        .expect("the conversation is stored again");
    assert_eq!(stored["version"], 1);
    assert_eq!(count_kind(&server.transcript(&id).await, "user_message"), 1);
    server.stop().await;
}

async fn invalid_message_requests_rejected(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = conversation_id("invalid");
    let url = server.messages_url(&id);
    let attachment = json!({ "name": "a.jpg", "url": "https://example.com/a.jpg" });
    let json_cases = [
        (
            "unknown field",
            json!({ "text": "hi", "colour": "red" }),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "text of wrong type",
            json!({ "text": 5 }),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "body not an object",
            json!(["hi"]),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "blank text",
            json!({ "text": "   " }),
            StatusCode::BAD_REQUEST,
            "empty_message",
        ),
        (
            "no text and no attachments",
            json!({}),
            StatusCode::BAD_REQUEST,
            "empty_message",
        ),
        (
            "NUL character in text",
            json!({ "text": "77 \u{0000}" }),
            StatusCode::BAD_REQUEST,
            "invalid_text",
        ),
        (
            "control character in attachment name",
            json!({ "text": "hi", "attachments": [{ "name": "a\r\nb.jpg", "url": "https://example.com/a.jpg" }] }),
            StatusCode::BAD_REQUEST,
            "invalid_text",
        ),
        (
            "attachment URL that is not http",
            json!({ "text": "hi", "attachments": [{ "name": "a.jpg", "url": "javascript:alert(1)" }] }),
            StatusCode::BAD_REQUEST,
            "invalid_attachment",
        ),
        (
            "attachment URL without a host",
            json!({ "text": "hi", "attachments": [{ "name": "a.jpg", "url": "http://" }] }),
            StatusCode::BAD_REQUEST,
            "invalid_attachment",
        ),
        (
            "attachment name over 255 characters",
            json!({ "text": "hi", "attachments": [{ "name": "a".repeat(256), "url": "https://example.com/a.jpg" }] }),
            StatusCode::BAD_REQUEST,
            "invalid_text",
        ),
        (
            "text too long",
            json!({ "text": "x".repeat(4_001) }),
            StatusCode::BAD_REQUEST,
            "message_too_long",
        ),
        (
            "invalid message_id",
            json!({ "text": "hi", "message_id": "m 1" }),
            StatusCode::BAD_REQUEST,
            "invalid_id",
        ),
        (
            "empty message_id",
            json!({ "text": "hi", "message_id": "" }),
            StatusCode::BAD_REQUEST,
            "invalid_id",
        ),
        (
            "body over 64 KiB",
            json!({ "text": "x".repeat(70_000) }),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
        (
            "too many attachments",
            json!({ "text": "hi", "attachments": vec![attachment.clone(); 11] }),
            StatusCode::BAD_REQUEST,
            "too_many_attachments",
        ),
        (
            "attachment without url or upload",
            json!({ "text": "hi", "attachments": [{ "name": "a.jpg" }] }),
            StatusCode::BAD_REQUEST,
            "invalid_attachment",
        ),
        (
            "attachment without name",
            json!({ "text": "hi", "attachments": [{ "name": " ", "url": "https://example.com/a" }] }),
            StatusCode::BAD_REQUEST,
            "invalid_attachment",
        ),
        (
            "attachment with unknown field",
            json!({ "text": "hi", "attachments": [{ "name": "a", "url": "u", "path": "/etc" }] }),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
    ];
    for (case, body, status, code) in json_cases {
        let response = server
            .http
            .post(&url)
            .json(&body)
            .send()
            .await
            .expect("POST");
        expect_error(response, status, code, case).await;
    }

    let raw_cases = [
        (
            "invalid JSON",
            Some("application/json"),
            "{\"text\": ",
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "empty body",
            Some("application/json"),
            "",
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "wrong content type",
            Some("text/plain"),
            "{\"text\": \"hi\"}",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "no content type",
            None,
            "{\"text\": \"hi\"}",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
    ];
    for (case, content_type, body, status, code) in raw_cases {
        let mut request = server.http.post(&url).body(body);
        if let Some(content_type) = content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        let response = request.send().await.expect("POST");
        expect_error(response, status, code, case).await;
    }

    let long_id = "c".repeat(201);
    for bad_id in ["bad%20id", "bad%2Fid", "caf%C3%A9", long_id.as_str()] {
        let response = server.post_message(bad_id, &json!({ "text": "hi" })).await;
        expect_error(
            response,
            StatusCode::BAD_REQUEST,
            "invalid_id",
            &format!("conversation id `{bad_id}`"),
        )
        .await;
    }

    let unknown = server
        .http
        .post(server.url(&format!("/api/v1/conversation/{id}/messages")))
        .json(&json!({ "text": "hi" }))
        .send()
        .await
        .expect("POST");
    expect_error(
        unknown,
        StatusCode::NOT_FOUND,
        "route_not_found",
        "unknown route",
    )
    .await;
    let wrong_method = server.http.get(&url).send().await.expect("GET");
    assert_eq!(
        wrong_method
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok()),
        Some("POST")
    );
    expect_error(
        wrong_method,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "GET on the message endpoint",
    )
    .await;

    // Nothing reached the engine.
    assert!(server.conversation(&id).await.is_none());
    assert!(server.transcript(&id).await.is_empty());
    server.stop().await;
}

async fn invalid_requests_on_other_endpoints_rejected(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = conversation_id("other-invalid");
    let bad = "bad%20id";

    let cases = [
        (
            "GET conversation",
            server
                .http
                .get(server.url(&format!("/api/v1/conversations/{bad}"))),
        ),
        (
            "GET transcript",
            server
                .http
                .get(server.url(&format!("/api/v1/conversations/{bad}/transcript"))),
        ),
        (
            "DELETE conversation",
            server
                .http
                .delete(server.url(&format!("/api/v1/conversations/{bad}"))),
        ),
        (
            "GET stream",
            server
                .http
                .get(server.url(&format!("/api/v1/conversations/{bad}/stream"))),
        ),
        (
            "POST upload",
            server
                .http
                .post(server.url(&format!("/api/v1/conversations/{bad}/uploads?name=a.txt")))
                .body("x"),
        ),
        (
            "GET upload",
            server
                .http
                .get(server.url(&format!("/api/v1/uploads/{bad}"))),
        ),
    ];
    for (case, request) in cases {
        let response = request.send().await.expect("request");
        expect_error(response, StatusCode::BAD_REQUEST, "invalid_id", case).await;
    }

    let missing = server
        .http
        .get(server.url(&format!("/api/v1/conversations/{id}")))
        .send()
        .await
        .expect("GET");
    expect_error(
        missing,
        StatusCode::NOT_FOUND,
        "conversation_not_found",
        "unknown conversation",
    )
    .await;
    let missing = server
        .http
        .delete(server.url(&format!("/api/v1/conversations/{id}")))
        .send()
        .await
        .expect("DELETE");
    expect_error(
        missing,
        StatusCode::NOT_FOUND,
        "conversation_not_found",
        "DELETE unknown conversation",
    )
    .await;
    let missing = server
        .http
        .get(server.url(&format!("/api/v1/conversations/{id}/transcript")))
        .send()
        .await
        .expect("GET transcript");
    expect_error(
        missing,
        StatusCode::NOT_FOUND,
        "conversation_not_found",
        "transcript of unknown conversation",
    )
    .await;
    let missing = server
        .http
        .get(server.url("/api/v1/uploads/0123456789abcdef0123456789abcdef"))
        .send()
        .await
        .expect("GET");
    expect_error(
        missing,
        StatusCode::NOT_FOUND,
        "upload_not_found",
        "unknown upload",
    )
    .await;
    for query in ["after=abc", "limit=-1", "limit=many", "after=-5", "limit=0"] {
        let url = server.url(&format!("/api/v1/conversations/{id}/transcript?{query}"));
        let response = server.http.get(url).send().await.expect("GET");
        expect_error(
            response,
            StatusCode::BAD_REQUEST,
            "invalid_query",
            &format!("transcript ?{query}"),
        )
        .await;
    }

    let rasa = server.url("/webhooks/rest/webhook");
    let rasa_cases = [
        (
            "Rasa invalid JSON",
            Some("application/json"),
            "{\"sender\":".to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "Rasa wrong content type",
            Some("text/plain"),
            json!({ "sender": id, "message": "hi" }).to_string(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "Rasa missing message",
            Some("application/json"),
            json!({ "sender": id }).to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "Rasa bad sender",
            Some("application/json"),
            json!({ "sender": "a b", "message": "hi" }).to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_id",
        ),
        (
            "Rasa empty message",
            Some("application/json"),
            json!({ "sender": id, "message": "" }).to_string(),
            StatusCode::BAD_REQUEST,
            "empty_message",
        ),
        (
            "Rasa message too long",
            Some("application/json"),
            json!({ "sender": id, "message": "x".repeat(4_001) }).to_string(),
            StatusCode::BAD_REQUEST,
            "message_too_long",
        ),
        (
            "Rasa body over 64 KiB",
            Some("application/json"),
            json!({ "sender": id, "message": "x".repeat(70_000) }).to_string(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
    ];
    for (case, content_type, body, status, code) in rasa_cases {
        let mut request = server.http.post(&rasa).body(body);
        if let Some(content_type) = content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        let response = request.send().await.expect("POST");
        let error = expect_error(response, status, code, case).await;
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            let message = error["message"].as_str().unwrap_or_default();
            assert!(message.contains("64 KiB"), "{case}: {message}");
        }
    }

    for (method, path) in [
        ("GET", "/nope"),
        ("POST", "/api/v2/conversations/x/messages"),
        ("GET", "/api/v1/conversations"),
    ] {
        let request = match method {
            "GET" => server.http.get(server.url(path)),
            _ => server
                .http
                .post(server.url(path))
                .json(&json!({ "text": "hi" })),
        };
        let response = request.send().await.expect("request");
        expect_error(
            response,
            StatusCode::NOT_FOUND,
            "route_not_found",
            &format!("{method} {path}"),
        )
        .await;
    }

    // Nothing reached the engine.
    assert!(server.conversation(&id).await.is_none());
    assert!(server.transcript(&id).await.is_empty());
    server.stop().await;
}

async fn upload_fills_file_slot(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = conversation_id("upload");

    assert_eq!(
        server.send(&id, "I want to report a pothole").await["step"],
        "ask_issue_type"
    );
    assert_eq!(server.send(&id, "pothole").await["step"], "ask_location");
    let photo_request = server.send(&id, "Corner of Elm and Oak").await;
    assert_eq!(photo_request["step"], "ask_photo");
    assert_eq!(
        texts(&photo_request),
        ["Please upload a photo of the problem."]
    );

    let photo = b"\xff\xd8\xff\xe0 not really a JPEG".to_vec();
    let attachment = server
        .upload(&id, "pothole.jpg", "image/jpeg", photo.clone())
        .await;
    assert_eq!(attachment["name"], "pothole.jpg");
    assert_eq!(attachment["content_type"], "image/jpeg");
    assert_eq!(attachment["size"], photo.len());
    let upload_id = attachment["upload_id"]
        .as_str()
        .expect("upload id")
        .to_string();

    let confirm = server
        .send_json(
            &id,
            json!({ "text": "here it is", "attachments": [attachment] }),
        )
        .await;
    assert_eq!(confirm["step"], "confirm_report", "{confirm}");
    // The text beside the file is no confusion: the file answers the question.
    assert!(
        !texts(&confirm)
            .iter()
            .any(|text| text.contains("didn't understand")),
        "{confirm}"
    );
    let stored = server
        .conversation(&id)
        .await
        .expect("the conversation is stored");
    let slot = &stored["state"]["slots"]["issue_photo"];
    assert_eq!(slot["upload_id"], upload_id.as_str(), "{stored}");
    assert_eq!(slot["name"], "pothole.jpg");

    let downloaded = server
        .http
        .get(server.url(&format!("/api/v1/uploads/{upload_id}")))
        .send()
        .await
        .expect("GET upload");
    assert_eq!(downloaded.status(), StatusCode::OK);
    assert_eq!(downloaded.headers()[CONTENT_TYPE], "image/jpeg");
    assert_eq!(downloaded.headers()["x-content-type-options"], "nosniff");
    let disposition = downloaded.headers()["content-disposition"]
        .to_str()
        .expect("ASCII header")
        .to_string();
    assert!(disposition.contains("pothole.jpg"), "{disposition}");
    assert_eq!(
        downloaded.bytes().await.expect("body").as_ref(),
        photo.as_slice()
    );

    // A name with folders is offered for saving by its last part only.
    let pathlike = server
        .upload(&id, "..%2F..%2Fetc%2Fpasswd", "text/plain", b"x".to_vec())
        .await;
    let pathlike_id = pathlike["upload_id"].as_str().expect("upload id");
    let downloaded = server
        .http
        .get(server.url(&format!("/api/v1/uploads/{pathlike_id}")))
        .send()
        .await
        .expect("GET upload");
    assert_eq!(
        downloaded.headers()["content-disposition"],
        "attachment; filename=\"passwd\""
    );

    // The report, photo included, passes the action's schema and reaches the
    // demo back office.
    let filed = server.send(&id, "yes").await;
    let filed_text = texts(&filed).join(" ");
    assert!(
        filed_text.contains("Your service request number is SR-"),
        "{filed}"
    );
    server.stop().await;
}

async fn invalid_uploads_rejected(backend: Backend) {
    let server = TestServer::start_with(backend, |config| config.max_upload_bytes = 1024).await;
    let id = conversation_id("bad-upload");
    let url = |query: &str| server.url(&format!("/api/v1/conversations/{id}/uploads{query}"));

    let empty = server
        .http
        .post(url("?name=a.txt"))
        .body(Vec::<u8>::new())
        .send()
        .await
        .expect("POST");
    expect_error(
        empty,
        StatusCode::BAD_REQUEST,
        "empty_upload",
        "empty upload",
    )
    .await;
    let long_name = server
        .http
        .post(url(&format!("?name={}.txt", "a".repeat(300))))
        .body("data")
        .send()
        .await
        .expect("POST");
    expect_error(
        long_name,
        StatusCode::BAD_REQUEST,
        "invalid_text",
        "upload name over 255 characters",
    )
    .await;
    let unnamed = server
        .http
        .post(url(""))
        .body("data")
        .send()
        .await
        .expect("POST");
    expect_error(
        unnamed,
        StatusCode::BAD_REQUEST,
        "missing_file_name",
        "upload without a name",
    )
    .await;
    let blank = server
        .http
        .post(url("?name=%20"))
        .body("data")
        .send()
        .await
        .expect("POST");
    expect_error(
        blank,
        StatusCode::BAD_REQUEST,
        "missing_file_name",
        "upload with a blank name",
    )
    .await;
    let large = server
        .http
        .post(url("?name=big.bin"))
        .body(vec![0u8; 1025])
        .send()
        .await
        .expect("POST");
    expect_error(
        large,
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        "upload over the limit",
    )
    .await;

    let fits = server
        .http
        .post(url("?name=small.bin"))
        .body(vec![0u8; 1024])
        .send()
        .await
        .expect("POST");
    assert_eq!(fits.status(), StatusCode::CREATED);
    server.stop().await;
}

/// Errors on the Rasa channel name the fields Rasa clients send.
async fn rasa_errors_name_rasa_fields(backend: Backend) {
    let server = TestServer::start(backend).await;
    let url = server.url("/webhooks/rest/webhook");
    let cases = [
        (
            json!({ "sender": "rasa-1", "message": "  " }),
            "empty_message",
            "`message`",
        ),
        (
            json!({ "sender": "a b", "message": "hi" }),
            "invalid_id",
            "invalid sender",
        ),
    ];
    for (body, code, expected) in cases {
        let response = server
            .http
            .post(&url)
            .json(&body)
            .send()
            .await
            .expect("POST");
        let error = expect_error(response, StatusCode::BAD_REQUEST, code, "Rasa bad input").await;
        let message = error["message"].as_str().unwrap_or_default().to_string();
        assert!(message.contains(expected), "{message}");
    }

    // A body without `message` gets an example of Rasa's body, not the
    // native API's.
    let response = server
        .http
        .post(&url)
        .json(&json!({ "sender": "rasa-1" }))
        .send()
        .await
        .expect("POST");
    let error = expect_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_json",
        "no message",
    )
    .await;
    let hint = error["hint"].as_str().unwrap_or_default();
    assert!(hint.contains(r#""sender""#), "{hint}");
    assert!(hint.contains(r#""message""#), "{hint}");
    server.stop().await;
}

/// After a hand-over an agent answers through the admin API, and releasing
/// gives the conversation back to the assistant.
async fn agent_answers_and_releases_handoff(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = conversation_id("agent");
    let agent_url = server.url(&format!("/api/v1/conversations/{id}/agent"));

    let unknown = server
        .http
        .post(&agent_url)
        .json(&json!({ "text": "hi" }))
        .send()
        .await
        .expect("POST");
    expect_error(
        unknown,
        StatusCode::NOT_FOUND,
        "conversation_not_found",
        "agent before any message",
    )
    .await;

    server.send(&id, "hello").await;
    let early = server
        .http
        .post(&agent_url)
        .json(&json!({ "text": "hi" }))
        .send()
        .await
        .expect("POST");
    expect_error(
        early,
        StatusCode::CONFLICT,
        "not_handed_off",
        "agent before the hand-over",
    )
    .await;

    let handed = server.send(&id, "I want to speak to a person").await;
    assert_eq!(handed["handed_off"], true, "{handed}");
    let silent = server.send(&id, "hello?").await;
    assert!(texts(&silent).is_empty(), "{silent}");

    let empty = server
        .http
        .post(&agent_url)
        .json(&json!({}))
        .send()
        .await
        .expect("POST");
    expect_error(
        empty,
        StatusCode::BAD_REQUEST,
        "empty_message",
        "agent request without text",
    )
    .await;
    let answered = server
        .http
        .post(&agent_url)
        .json(&json!({ "text": "Hi, this is Dana from the city.", "release": true }))
        .send()
        .await
        .expect("POST");
    let answered = expect_ok(answered, "agent message").await;
    assert_eq!(answered["handed_off"], false);

    let events = server.transcript(&id).await;
    assert_eq!(count_kind(&events, "agent_message"), 1);
    assert_eq!(count_kind(&events, "handoff_released"), 1);
    let back = server.send(&id, "hello").await;
    assert!(!texts(&back).is_empty(), "{back}");
    server.stop().await;
}

/// An attachment may only name an upload of its own conversation.
async fn foreign_upload_id_rejected(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = conversation_id("upload-owner");
    let other = conversation_id("upload-other");
    let stored = server
        .upload(&owner, "photo.jpg", "image/jpeg", vec![1u8; 16])
        .await;
    let upload_id = stored["upload_id"].as_str().expect("upload_id").to_string();

    for (conversation, upload) in [(&other, upload_id.as_str()), (&owner, "0123456789abcdef")] {
        let body = json!({
            "text": "here is the photo",
            "attachments": [{"name": "photo.jpg", "upload_id": upload}],
        });
        let response = server.post_message(conversation, &body).await;
        expect_error(
            response,
            StatusCode::BAD_REQUEST,
            "upload_not_found",
            "foreign upload",
        )
        .await;
        assert!(server.transcript(conversation).await.is_empty());
    }
    server.stop().await;
}

async fn stream_delivers_reply_event(backend: Backend) {
    // A long shutdown timeout, so that a stream holding up the shutdown
    // shows as a stop that does not finish in time.
    let mut server = TestServer::start_with(backend, |config| {
        config.shutdown_timeout = Duration::from_secs(60)
    })
    .await;
    let id = conversation_id("stream");

    let mut stream = server
        .http
        .get(server.url(&format!("/api/v1/conversations/{id}/stream")))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("GET stream");
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(
        stream.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/event-stream")
    );

    let reply = server.send(&id, "hello").await;

    let mut received = String::new();
    let event = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let chunk = stream
                .chunk()
                .await
                .expect("read the stream")
                .expect("the stream stays open");
            received.push_str(&String::from_utf8_lossy(&chunk));
            if let Some(event) = first_event(&received) {
                return event;
            }
        }
    })
    .await
    .expect("a reply event within 10 s");
    assert_eq!(event.0, "reply");
    let data: Value = serde_json::from_str(&event.1).expect("the event data is JSON");
    assert_eq!(data, reply);

    // Shutting down ends the stream instead of waiting for the subscriber.
    server.begin_shutdown();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while stream.chunk().await.is_ok_and(|chunk| chunk.is_some()) {}
    })
    .await;
    assert!(
        ended.is_ok(),
        "the stream stayed open after the shutdown began"
    );
    server
        .wait_stopped(Duration::from_secs(10))
        .await
        .expect("the server stops cleanly");
}

/// Returns the name and data of the first complete event in SSE text.
fn first_event(text: &str) -> Option<(String, String)> {
    let normalized = text.replace("\r\n", "\n");
    for block in normalized
        .split("\n\n")
        .take(normalized.matches("\n\n").count())
    {
        let mut name = None;
        let mut data = Vec::new();
        for line in block.lines() {
            if let Some(value) = line.strip_prefix("event:") {
                name = Some(value.trim().to_string());
            } else if let Some(value) = line.strip_prefix("data:") {
                data.push(value.strip_prefix(' ').unwrap_or(value).to_string());
            }
        }
        if let Some(name) = name {
            return Some((name, data.join("\n")));
        }
    }
    None
}

async fn system_endpoints_respond(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = conversation_id("system");

    let health = server
        .http
        .get(server.url("/health"))
        .send()
        .await
        .expect("GET /health");
    assert_eq!(
        expect_ok(health, "GET /health").await,
        json!({ "status": "ok" })
    );

    let ready = server
        .http
        .get(server.url("/ready"))
        .send()
        .await
        .expect("GET /ready");
    let ready = expect_ok(ready, "GET /ready").await;
    assert_eq!(ready["status"], "ready");
    let backend_name = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(ready["database"], backend_name);

    server.send(&id, "hello").await;
    let metrics = server.metrics().await;
    assert!(metrics.contains("tern_turns_total"), "{metrics}");
    assert!(
        metric(&metrics, "tern_turns_total", &[("outcome", "ok")]) >= 1.0,
        "{metrics}"
    );

    let openapi = server
        .http
        .get(server.url("/openapi.json"))
        .send()
        .await
        .expect("GET /openapi.json");
    let openapi = expect_ok(openapi, "GET /openapi.json").await;
    let paths = openapi["paths"].as_object().expect("`paths` is an object");
    assert!(
        paths["/api/v1/conversations/{id}/messages"]["post"].is_object(),
        "{paths:?}"
    );
    for path in [
        "/api/v1/conversations/{id}",
        "/api/v1/conversations/{id}/transcript",
        "/api/v1/conversations/{id}/stream",
        "/api/v1/conversations/{id}/uploads",
        "/api/v1/uploads/{id}",
        "/api/v1/flows",
        "/webhooks/rest/webhook",
        "/health",
        "/ready",
        "/metrics",
    ] {
        assert!(
            paths.contains_key(path),
            "/openapi.json does not list `{path}`"
        );
    }
    server.stop().await;
}
