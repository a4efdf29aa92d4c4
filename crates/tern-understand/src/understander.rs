//! The understander a server runs with: the offline rules, or one LLM call
//! per message (plus one repair attempt when the answer is not valid JSON,
//! and one call for judgements the engine asks for after an action).

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tern_engine::Command;
use tern_llm::{ChatRequest, LlmClient, LlmError, Usage};

use crate::context::PromptContext;
use crate::output::{Dropped, OutputError, check_commands, parse_output};
use crate::prompt::render;
use crate::schema::{SCHEMA_NAME, output_schema};

/// Most tokens the model may produce for one answer.
const MAX_OUTPUT_TOKENS: u32 = 600;

#[derive(Clone)]
pub enum Understander {
    Offline,
    Llm(Arc<dyn LlmClient>),
}

/// One request to the model, for accounting.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LlmCall {
    /// `understand`, `repair` or `judge`.
    pub purpose: &'static str,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub latency_ms: u64,
    pub attempts: u32,
    /// `ok`, or the error kind.
    pub outcome: &'static str,
}

/// Commands for one message, with what was dropped and what it cost.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Understanding {
    pub commands: Vec<Command>,
    pub dropped: Vec<Dropped>,
    pub calls: Vec<LlmCall>,
}

/// The model could not be used for this message.
#[derive(Debug, thiserror::Error)]
pub enum UnderstandError {
    #[error("{0}")]
    Llm(#[from] LlmError),
    #[error("{0}")]
    Output(#[from] OutputError),
}

impl UnderstandError {
    /// Stable snake_case name for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            UnderstandError::Llm(error) => error.kind(),
            UnderstandError::Output(_) => "invalid_output",
        }
    }
}

/// A failure together with the calls made before it.
#[derive(Debug)]
pub struct Failure {
    pub error: UnderstandError,
    pub calls: Vec<LlmCall>,
}

impl Understander {
    pub fn describe(&self) -> String {
        match self {
            Understander::Offline => "offline rule-based understander (no LLM)".into(),
            Understander::Llm(client) => client.describe(),
        }
    }

    pub fn is_offline(&self) -> bool {
        matches!(self, Understander::Offline)
    }

    /// Turns the message in `context` into checked commands.
    pub async fn understand(&self, context: &PromptContext) -> Result<Understanding, Failure> {
        let Understander::Llm(client) = self else {
            let commands = crate::offline::understand(context);
            let (commands, dropped) = check_commands(context, commands);
            return Ok(Understanding {
                commands,
                dropped,
                calls: Vec::new(),
            });
        };
        let mut calls = Vec::new();
        let (commands, mut dropped) =
            ask(client.as_ref(), context, "understand", &mut calls).await?;
        let (commands, more) = check_commands(context, commands);
        dropped.extend(more);
        Ok(Understanding {
            commands,
            dropped,
            calls,
        })
    }

    /// Judges `context.conditions`; conditions the model leaves out are
    /// false, which takes the step's `else`.
    pub async fn judge(
        &self,
        context: &PromptContext,
    ) -> Result<(Vec<(String, bool)>, Vec<LlmCall>), Failure> {
        let mut verdicts: Vec<(String, bool)> = context
            .conditions
            .iter()
            .map(|c| (c.clone(), false))
            .collect();
        let Understander::Llm(client) = self else {
            return Ok((verdicts, Vec::new()));
        };
        let mut calls = Vec::new();
        let (commands, _) = ask(client.as_ref(), context, "judge", &mut calls).await?;
        for command in commands {
            if let Command::Judge { condition, value } = command
                && let Some(verdict) = verdicts.iter_mut().find(|(c, _)| *c == condition)
            {
                verdict.1 = value;
            }
        }
        Ok((verdicts, calls))
    }
}

/// One call, and one repair call if the answer cannot be read.
async fn ask(
    client: &dyn LlmClient,
    context: &PromptContext,
    purpose: &'static str,
    calls: &mut Vec<LlmCall>,
) -> Result<(Vec<Command>, Vec<Dropped>), Failure> {
    let prompt = render(context);
    let mut request = ChatRequest {
        system: prompt.system,
        user: prompt.user,
        schema_name: SCHEMA_NAME.into(),
        schema: output_schema(),
        max_tokens: MAX_OUTPUT_TOKENS,
        temperature: 0.0,
    };
    let text = call(client, &request, purpose, calls).await?;
    match parse_output(&text) {
        Ok(parsed) => Ok(parsed),
        Err(error) => {
            tracing::warn!(%error, "the model's answer could not be read; asking once more");
            request.user.push_str(&format!(
                "\n\nYour previous answer could not be used ({error}). Answer with the JSON object only."
            ));
            let text = call(client, &request, "repair", calls).await?;
            parse_output(&text).map_err(|error| Failure {
                error: error.into(),
                calls: calls.clone(),
            })
        }
    }
}

async fn call(
    client: &dyn LlmClient,
    request: &ChatRequest,
    purpose: &'static str,
    calls: &mut Vec<LlmCall>,
) -> Result<String, Failure> {
    let started = Instant::now();
    match client.chat(request).await {
        Ok(response) => {
            calls.push(record(
                purpose,
                response.usage,
                response.latency.as_millis() as u64,
                response.attempts,
                "ok",
            ));
            Ok(response.text)
        }
        Err(error) => {
            let latency = started.elapsed().as_millis() as u64;
            calls.push(record(purpose, Usage::default(), latency, 0, error.kind()));
            Err(Failure {
                error: error.into(),
                calls: calls.clone(),
            })
        }
    }
}

fn record(
    purpose: &'static str,
    usage: Usage,
    latency_ms: u64,
    attempts: u32,
    outcome: &'static str,
) -> LlmCall {
    LlmCall {
        purpose,
        prompt_tokens: usage.prompt_tokens,
        completion_tokens: usage.completion_tokens,
        latency_ms,
        attempts,
        outcome,
    }
}
