//! `tern chat`: a conversation in the terminal. Each line typed is one user
//! message; `/quit` or end of input stops.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use anyhow::Context;
use serde_json::{Value, json};
use tern_server::config::Config;
use tern_server::turn::{MessageRequest, check_request, process};

use crate::cli::ChatArgs;

pub fn run(args: ChatArgs) -> anyhow::Result<ExitCode> {
    let conversation = args
        .conversation
        .clone()
        .unwrap_or_else(new_conversation_id);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        match &args.url {
            Some(url) => chat_remote(url, &conversation, args.local.client_key.as_deref()).await,
            None => chat_local(args.local, &conversation).await,
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

fn new_conversation_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("chat-{nanos:x}")
}

/// Reads lines until `/quit` or end of input, sending each to `send`.
async fn repl<F, Fut>(mut send: F) -> anyhow::Result<()>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Value>>,
{
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        print!("you> ");
        std::io::stdout().flush()?;
        let Some(line) = lines.next().transpose()? else {
            break;
        };
        let line = line.trim().to_string();
        if line == "/quit" {
            break;
        }
        if line.is_empty() {
            continue;
        }
        match send(line).await {
            Ok(reply) => print_reply(&reply),
            Err(error) => eprintln!("error: {error:#}"),
        }
    }
    Ok(())
}

fn print_reply(reply: &Value) {
    for message in reply["messages"].as_array().into_iter().flatten() {
        println!("bot> {}", message["text"].as_str().unwrap_or_default());
        let buttons: Vec<&str> = message["buttons"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|b| b["title"].as_str())
            .collect();
        if !buttons.is_empty() {
            println!("     [{}]", buttons.join("] ["));
        }
    }
}

async fn chat_remote(url: &str, conversation: &str, key: Option<&str>) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let endpoint = format!(
        "{}/api/v1/conversations/{conversation}/messages",
        url.trim_end_matches('/')
    );
    println!("Talking to {url} as conversation {conversation}. Type /quit to stop.");
    repl(|text| {
        let mut request = client.post(&endpoint).json(&json!({ "text": text }));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        async move {
            let response = request
                .send()
                .await
                .context("no response from the server")?;
            let status = response.status();
            let body: Value = response
                .json()
                .await
                .context("the server's response is not JSON")?;
            if !status.is_success() {
                anyhow::bail!(
                    "{status}: {}",
                    body["error"]["message"].as_str().unwrap_or_default()
                );
            }
            Ok(body)
        }
    })
    .await
}

async fn chat_local(
    args: tern_server::config::ServeArgs,
    conversation: &str,
) -> anyhow::Result<()> {
    let mut config = Config::resolve(args)?;
    if config.database_url == tern_server::config::DEFAULT_DATABASE_URL {
        config.database_url = format!(
            "sqlite://{}",
            std::env::temp_dir().join("tern-chat.db").display()
        );
    }
    // The in-process server listens too, because the bundled example's
    // demonstration webhooks are served over HTTP.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let state = tern_server::build_state(config, address).await?;
    let background = state.clone();
    tokio::spawn(async move {
        let _ = tern_server::run(background, listener, std::future::pending()).await;
    });
    println!(
        "Talking to the assistant in this process as conversation {conversation}. Type /quit to stop."
    );
    repl(|text| {
        let state = state.clone();
        async move {
            let request = MessageRequest {
                text,
                message_id: None,
                attachments: Vec::new(),
            };
            check_request(conversation, &request).map_err(|e| anyhow::anyhow!("{e}"))?;
            process(&state, conversation, request)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))
        }
    })
    .await
}
