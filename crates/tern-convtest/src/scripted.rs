//! The two command sources of conversation tests: the test file's commands
//! given directly, and the same commands answered by a mock LLM server.

use std::sync::Arc;

use serde_json::Value;
use tern_engine::Command;
use tern_llm::{LlmConfig, ProviderKind, build_client};
use tern_mock_llm::{DefaultReply, MockConfig, MockServer, Rule, RuleAction, Script};
use tern_understand::context::PromptContext;
use tern_understand::turn::Understand;
use tern_understand::understander::{Failure, LlmCall, Understanding};
use tern_understand::{Understander, check_commands};

use crate::format::Turn;
use crate::runner::commands_reply;

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Splits off `set_slot` commands whose value is a file object: files come
/// with the message as attachments, not from the understanding layer.
pub fn file_values(commands: &[Command]) -> (Vec<Command>, Vec<Command>) {
    commands.iter().cloned().partition(|command| {
        !matches!(
            command,
            Command::SetSlot {
                value: Value::Object(_),
                ..
            }
        )
    })
}

/// Verdicts a turn provides: its `judgements:` and its `judge` commands.
fn verdicts(turn: &Turn) -> Vec<(String, bool)> {
    let mut verdicts: Vec<(String, bool)> = turn
        .judgements
        .iter()
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    for command in &turn.commands {
        if let Command::Judge { condition, value } = command {
            verdicts.push((condition.clone(), *value));
        }
    }
    verdicts
}

/// The test file's commands, checked like a model's answer.
pub struct Scripted {
    commands: Vec<Command>,
    verdicts: Vec<(String, bool)>,
}

impl Scripted {
    pub fn new(commands: Vec<Command>, turn: &Turn) -> Self {
        let mut commands = commands;
        let verdicts = verdicts(turn);
        commands.extend(verdicts.iter().map(|(c, v)| Command::Judge {
            condition: c.clone(),
            value: *v,
        }));
        Self { commands, verdicts }
    }
}

impl Understand for Scripted {
    /// Like a model, judges every upcoming condition in the same answer;
    /// the ones the test leaves out are false.
    fn understand<'a>(
        &'a self,
        context: &'a PromptContext,
    ) -> BoxFuture<'a, Result<Understanding, Failure>> {
        let mut commands = self.commands.clone();
        let started: Vec<&String> = commands
            .iter()
            .filter_map(|c| match c {
                Command::StartFlow { flow } => Some(flow),
                _ => None,
            })
            .collect();
        let flow_conditions = context
            .flows
            .iter()
            .filter(|f| started.contains(&&f.id))
            .flat_map(|f| &f.conditions);
        let upcoming: Vec<String> = context
            .conditions
            .iter()
            .chain(flow_conditions)
            .cloned()
            .collect();
        for condition in &upcoming {
            if !self.verdicts.iter().any(|(c, _)| c == condition) {
                commands.push(Command::Judge {
                    condition: condition.clone(),
                    value: false,
                });
            }
        }
        let (commands, dropped) = check_commands(context, dedup_judgements(&commands));
        Box::pin(async move {
            Ok(Understanding {
                commands,
                dropped,
                calls: Vec::new(),
            })
        })
    }

    fn judge<'a>(
        &'a self,
        context: &'a PromptContext,
    ) -> BoxFuture<'a, Result<(Vec<(String, bool)>, Vec<LlmCall>), Failure>> {
        let answer = context
            .conditions
            .iter()
            .map(|c| {
                (
                    c.clone(),
                    self.verdicts
                        .iter()
                        .find(|(k, _)| k == c)
                        .is_some_and(|(_, v)| *v),
                )
            })
            .collect();
        Box::pin(async move { Ok((answer, Vec::new())) })
    }
}

/// Verdicts for conditions not judged in this call would be dropped as
/// unknown; only the upcoming ones are kept by the check, the rest are
/// answered when the engine asks.
fn dedup_judgements(commands: &[Command]) -> Vec<Command> {
    let mut out: Vec<Command> = Vec::new();
    for command in commands {
        if !out.contains(command) {
            out.push(command.clone());
        }
    }
    out
}

/// Starts a mock LLM that answers the turn's first request with its
/// commands (and verdicts) and a second request, if the engine asks for
/// judgements after an action, with the verdicts; and a client for it.
/// Like a real model, the first answer judges every upcoming condition:
/// those the test leaves out are false.
pub async fn mock_understander(
    commands: &[Command],
    turn: &Turn,
    upcoming: &[String],
) -> Result<(Understander, MockServer), String> {
    let mut verdicts = verdicts(turn);
    for condition in upcoming {
        if !verdicts.iter().any(|(c, _)| c == condition) {
            verdicts.push((condition.clone(), false));
        }
    }
    let judges: Vec<Command> = verdicts
        .iter()
        .map(|(c, v)| Command::Judge {
            condition: c.clone(),
            value: *v,
        })
        .collect();
    let mut first = commands.to_vec();
    first.extend(judges.iter().cloned());
    let rule = |reply: Value| Rule {
        pattern: regex::Regex::new("(?s).*").expect("the pattern is valid"),
        action: RuleAction::Reply(reply),
        latency: None,
        limit: Some(1),
        line: 0,
    };
    let script = Script {
        rules: vec![
            rule(commands_reply(&dedup_judgements(&first))),
            rule(commands_reply(&judges)),
        ],
        default_reply: Some(DefaultReply::Fixed(commands_reply(&[]))),
    };
    let config = MockConfig {
        script: Some(script),
        ..Default::default()
    };
    let listen = "127.0.0.1:0".parse().expect("the address is valid");
    let server = MockServer::start(listen, config)
        .await
        .map_err(|e| format!("cannot start the mock LLM: {e}"))?;
    let mut llm = LlmConfig::new(ProviderKind::OpenAi, "mock");
    llm.base_url = server.base_url();
    llm.max_retries = 0;
    let client = build_client(llm).map_err(|e| format!("cannot build the LLM client: {e}"))?;
    Ok((Understander::Llm(Arc::clone(&client)), server))
}
