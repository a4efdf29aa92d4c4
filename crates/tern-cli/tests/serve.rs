#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.
//! `tern serve` as a separate process: a killed server loses no committed
//! turn, and a database that goes away gets clear errors.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(database_url: &str, log: &Path) -> Server {
        let port = free_port();
        let log = std::fs::File::create(log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_tern"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--database-url",
                database_url,
            ])
            .env_remove("TERN_CONFIG")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("tern serve starts");
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(response) = reqwest::blocking::get(format!("{}/ready", self.base))
                && response.status().is_success()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the server did not become ready within 30 s");
    }

    fn send(&self, conversation: &str, text: &str) -> reqwest::blocking::Response {
        reqwest::blocking::Client::new()
            .post(format!(
                "{}/api/v1/conversations/{conversation}/messages",
                self.base
            ))
            .json(&json!({ "text": text }))
            .send()
            .expect("the server answers")
    }

    fn transcript(&self, conversation: &str) -> Vec<Value> {
        let url = format!(
            "{}/api/v1/conversations/{conversation}/transcript?limit=500",
            self.base
        );
        let body: Value = reqwest::blocking::get(url).unwrap().json().unwrap();
        body["events"].as_array().cloned().unwrap_or_default()
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A SIGKILL loses nothing that was answered: every answered message is in
/// the transcript after a restart, and the conversation goes on.
#[test]
fn killed_server_keeps_committed_turns() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("tern.db").display());
    let server = Server::start(&database, &dir.path().join("first.log"));
    for text in ["hello", "I want to pay a parking fine", "ABC 1234"] {
        assert!(server.send("kill-test", text).status().is_success());
    }
    server.kill();

    let server = Server::start(&database, &dir.path().join("second.log"));
    let users: Vec<String> = server
        .transcript("kill-test")
        .iter()
        .filter(|e| e["kind"] == "user_message")
        .map(|e| {
            e["payload"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(users, ["hello", "I want to pay a parking fine", "ABC 1234"]);
    // The restarted server goes on from the stored state: the open question
    // (pay now or later) takes this answer.
    let next: Value = server.send("kill-test", "not now").json().unwrap();
    assert!(!next["messages"].as_array().unwrap().is_empty(), "{next}");
    let stored: Value =
        reqwest::blocking::get(format!("{}/api/v1/conversations/kill-test", server.base))
            .unwrap()
            .json()
            .unwrap();
    assert_eq!(stored["version"], 4);
}

fn psql(sql: &str) {
    let admin = std::env::var("TERN_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let status = Command::new("psql")
        .args([admin.as_str(), "-q", "-c", sql])
        .status();
    assert!(
        status.is_ok_and(|s| s.success()),
        "psql failed for `{sql}`; PostgreSQL must run on 127.0.0.1:5432 (see README) or set TERN_TEST_POSTGRES_URL"
    );
}

/// When the database disappears, messages get a JSON 500 and readiness a
/// 503; nothing panics.
#[test]
fn lost_database_gives_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("tern_cli_lost_{}", std::process::id());
    psql(&format!("DROP DATABASE IF EXISTS {name}"));
    psql(&format!("CREATE DATABASE {name}"));
    let admin = std::env::var("TERN_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let url = match admin.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("TERN_TEST_POSTGRES_URL has no database part: {admin}"),
    };
    let server = Server::start(&url, &dir.path().join("serve.log"));
    assert!(server.send("lost-db", "hello").status().is_success());

    psql(&format!("DROP DATABASE {name} WITH (FORCE)"));

    let failed = server.send("lost-db", "I want to pay a parking fine");
    assert_eq!(failed.status().as_u16(), 503);
    let body: Value = failed.json().unwrap();
    assert_eq!(body["error"]["code"], "database_unavailable");
    assert!(
        body["error"]["hint"]
            .as_str()
            .is_some_and(|hint| hint.contains("the database exists")),
        "{body}"
    );
    let ready = reqwest::blocking::get(format!("{}/ready", server.base)).unwrap();
    assert_eq!(ready.status().as_u16(), 503);
    let body: Value = ready.json().unwrap();
    assert_eq!(body["error"]["code"], "database_unavailable");

    // Created again but empty: not ready, and the error says why.
    psql(&format!("CREATE DATABASE {name}"));
    let ready = reqwest::blocking::get(format!("{}/ready", server.base)).unwrap();
    assert_eq!(ready.status().as_u16(), 503);
    let body: Value = ready.json().unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("no conversation tables")),
        "{body}"
    );
    assert!(
        body["error"]["hint"]
            .as_str()
            .is_some_and(|hint| hint.contains("restart tern serve")),
        "{body}"
    );
    drop(server);
    psql(&format!("DROP DATABASE {name} WITH (FORCE)"));
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(!log.contains("panicked"), "{log}");
    assert!(log.contains("the database is unavailable"), "{log}");
}
