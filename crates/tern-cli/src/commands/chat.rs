//! `tern chat`: a conversation in the terminal. Each line typed is one user
//! message, and `/quit` or end of input stops. The exit code is 1 when a
//! message failed, so scripts that pipe messages in notice.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use anyhow::Context;
use serde_json::{Value, json};
use tern_server::config::Config;
use tern_server::error::ApiError;
use tern_server::turn::{MessageRequest, check_id, check_request, process};

use crate::cli::ChatArgs;

pub fn run(args: ChatArgs) -> anyhow::Result<ExitCode> {
    let conversation = args
        .conversation
        .clone()
        .unwrap_or_else(new_conversation_id);
    check_id("conversation id", &conversation)
        .map_err(|error| anyhow::anyhow!("{}", describe(&error)))?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let failed = runtime.block_on(async move {
        match &args.url {
            Some(url) => chat_remote(url, &conversation, args.local.client_key.as_deref()).await,
            None => chat_local(args.local, &conversation).await,
        }
    })?;
    if failed > 0 {
        eprintln!("{failed} message(s) failed");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Formats an API error with its hint, as the terminal shows it.
fn describe(error: &ApiError) -> String {
    match &error.hint {
        Some(hint) => format!("{error} (hint: {hint})"),
        None => error.to_string(),
    }
}

fn new_conversation_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("chat-{nanos:x}")
}

/// Reads lines until `/quit` or end of input, sending each to `send`, and
/// returns the number of messages that failed.
async fn repl<F, Fut>(mut send: F) -> anyhow::Result<usize>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Value>>,
{
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut failed = 0;
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
            Err(error) => {
                failed += 1;
                eprintln!("error: {error:#}");
            }
        }
    }
    Ok(failed)
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

async fn chat_remote(url: &str, conversation: &str, key: Option<&str>) -> anyhow::Result<usize> {
    // The message path is appended to the URL, so a path, a query or a
    // fragment would send the messages somewhere else.
    let usable = reqwest::Url::parse(url).ok().is_some_and(|parsed| {
        matches!(parsed.scheme(), "http" | "https")
            && parsed.host().is_some()
            && parsed.path() == "/"
            && parsed.query().is_none()
            && parsed.fragment().is_none()
    });
    if !usable {
        anyhow::bail!(
            "invalid --url `{url}`: give the server's base address without a path, such as http://127.0.0.1:8080"
        );
    }
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
                let error = &body["error"];
                let message = error["message"].as_str().unwrap_or_default();
                match error["hint"].as_str() {
                    Some(hint) => anyhow::bail!("{status}: {message} (hint: {hint})"),
                    None => anyhow::bail!("{status}: {message}"),
                }
            }
            if !body["messages"].is_array() {
                anyhow::bail!(
                    "the answer has no `messages`; check that --url points at a Tern server"
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
) -> anyhow::Result<usize> {
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
            check_request(conversation, &request)
                .map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
            process(&state, conversation, request)
                .await
                .map_err(|e| anyhow::anyhow!("{}", describe(&e)))
        }
    })
    .await
}
