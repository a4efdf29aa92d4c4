//! Running conversation tests. Every turn goes through the same pipeline as
//! the server ([`tern_understand::run_turn`]): the context is built, the
//! commands are checked, the engine runs and its needs are met. Only the
//! source of the commands differs by [`Mode`].

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use tern_engine::{ActionOutcome, Command, DialogueState, Engine, Responses};
use tern_flow::FlowSet;
use tern_flow::actions::{ActionRegistry, load_actions};
use tern_understand::context::HistoryTurn;
use tern_understand::turn::{ActionRunner, TurnInput, run_turn};

use crate::compare::compare_turn;
use crate::format::{TestCase, TestFile, Turn, read_test_file};
use crate::scripted::{Scripted, file_values, mock_understander};

/// Where a turn's commands come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Straight from the test file.
    Direct,
    /// From a mock LLM server on loopback, over HTTP, scripted with the
    /// test file's commands: the provider client, the prompt and the output
    /// parser all take part.
    MockLlm,
}

/// Flows, actions and engine messages that a test file runs against.
pub struct Assistant {
    pub flows: FlowSet,
    pub actions: Option<ActionRegistry>,
    pub responses: Responses,
}

impl Assistant {
    /// Loads what a test file names; any error in the flows is reported
    /// instead of running the tests.
    pub fn load(file: &TestFile) -> Result<Assistant, String> {
        let loaded = tern_flow::load_paths(&file.flows).map_err(|e| e.to_string())?;
        let mut problems: Vec<String> = loaded
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(ToString::to_string)
            .collect();
        let actions = match &file.actions {
            Some(path) => {
                let (registry, diagnostics) = load_actions(path).map_err(|e| e.to_string())?;
                problems.extend(
                    diagnostics
                        .iter()
                        .filter(|d| d.is_error())
                        .map(ToString::to_string),
                );
                Some(registry)
            }
            None => None,
        };
        if problems.is_empty() {
            let validation = tern_flow::validate::validate(&loaded.flows, actions.as_ref());
            problems.extend(
                validation
                    .iter()
                    .filter(|d| d.is_error())
                    .map(ToString::to_string),
            );
        }
        if !problems.is_empty() {
            return Err(format!("the flows have errors:\n{}", problems.join("\n")));
        }
        let responses = match &file.responses {
            Some(path) => read_responses(path)?,
            None => Responses::default(),
        };
        Ok(Assistant {
            flows: loaded.flows,
            actions,
            responses,
        })
    }

    fn engine(&self) -> Engine<'_> {
        let engine = Engine::new(&self.flows, &self.responses);
        match &self.actions {
            Some(actions) => engine.with_actions(actions),
            None => engine,
        }
    }
}

fn read_responses(path: &Path) -> Result<Responses, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    Responses::from_yaml(&path.display().to_string(), &text)
}

/// The results of one test file.
#[derive(Debug, Default)]
pub struct FileReport {
    pub path: PathBuf,
    /// Set when the file or its assistant could not be loaded.
    pub error: Option<String>,
    pub tests: Vec<TestReport>,
    /// User messages sent and LLM calls made for them (mock mode only).
    pub user_messages: usize,
    pub llm_calls: usize,
    /// Turns that needed more than one LLM call: test name, turn, calls.
    pub multi_call_turns: Vec<(String, usize, usize)>,
}

#[derive(Debug)]
pub struct TestReport {
    pub name: String,
    pub line: u32,
    pub failures: Vec<TurnFailure>,
}

impl TestReport {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// One turn whose results differ from the expectations.
#[derive(Debug)]
pub struct TurnFailure {
    pub turn: usize,
    pub line: u32,
    pub user: String,
    pub details: Vec<String>,
}

pub fn run_file(path: &Path, mode: Mode) -> FileReport {
    let mut report = FileReport {
        path: path.to_path_buf(),
        ..Default::default()
    };
    let file = match read_test_file(path) {
        Ok(file) => file,
        Err(error) => {
            return FileReport {
                error: Some(error.to_string()),
                ..report
            };
        }
    };
    let assistant = match Assistant::load(&file) {
        Ok(assistant) => assistant,
        Err(error) => {
            return FileReport {
                error: Some(error),
                ..report
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            return FileReport {
                error: Some(format!("cannot start the async runtime: {error}")),
                ..report
            };
        }
    };
    for test in &file.tests {
        let result = runtime.block_on(run_test(&assistant, test, mode, &mut report));
        report.tests.push(result);
    }
    report
}

async fn run_test(
    assistant: &Assistant,
    test: &TestCase,
    mode: Mode,
    report: &mut FileReport,
) -> TestReport {
    let mut state = DialogueState {
        slots: test.slots.clone(),
        ..Default::default()
    };
    let mut history: Vec<HistoryTurn> = Vec::new();
    let mut failures = Vec::new();
    for (index, turn) in test.turns.iter().enumerate() {
        let (next_state, mut details, calls) =
            run_one(assistant, state, &history, turn, mode).await;
        if mode == Mode::MockLlm {
            report.user_messages += 1;
            report.llm_calls += calls;
            if calls > 1 {
                report
                    .multi_call_turns
                    .push((test.name.clone(), index + 1, calls));
            }
        }
        history.push(HistoryTurn::user(turn.user.clone()));
        state = next_state.state;
        for message in &next_state.messages {
            history.push(HistoryTurn::bot(message.text.clone()));
        }
        details.extend(compare_turn(
            turn,
            &state,
            &next_state.messages,
            &next_state.events,
        ));
        if !details.is_empty() {
            failures.push(TurnFailure {
                turn: index + 1,
                line: turn.line,
                user: turn.user.clone(),
                details,
            });
        }
    }
    TestReport {
        name: test.name.clone(),
        line: test.line,
        failures,
    }
}

async fn run_one(
    assistant: &Assistant,
    state: DialogueState,
    history: &[HistoryTurn],
    turn: &Turn,
    mode: Mode,
) -> (tern_understand::TurnOutput, Vec<String>, usize) {
    let engine = assistant.engine();
    let stubs = Stubs {
        turn,
        missing: std::sync::Mutex::new(Vec::new()),
    };
    let (commands, uploads) = file_values(&turn.commands);
    let input = TurnInput {
        message: &turn.user,
        history,
        extra_commands: uploads,
    };
    let mut problems = Vec::new();
    let output = match mode {
        Mode::Direct => {
            let scripted = Scripted::new(commands, turn);
            run_turn(&engine, &scripted, &stubs, state, input).await
        }
        Mode::MockLlm => {
            match mock_understander(&commands, turn, &upcoming(&engine, &state, &commands)).await {
                Ok((understander, server)) => {
                    let output = run_turn(&engine, &understander, &stubs, state, input).await;
                    server.shutdown().await;
                    output
                }
                Err(error) => {
                    problems.push(error);
                    return (empty_output(state), problems, 0);
                }
            }
        }
    };
    if let Some(failure) = &output.failure {
        problems.push(format!("the turn failed: {failure:?}"));
    }
    problems.extend(stubs.missing.into_inner().unwrap_or_default());
    let calls = output.calls.len();
    (output, problems, calls)
}

/// Conditions a model would judge with this message: those after the open
/// question, and those after the first question of a flow it starts.
fn upcoming(engine: &Engine<'_>, state: &DialogueState, commands: &[Command]) -> Vec<String> {
    let mut conditions = engine.upcoming_conditions(state);
    for command in commands {
        if let Command::StartFlow { flow } = command
            && let Some(flow) = engine.flows().flow(flow)
            && let Some(first) = flow.first_step()
        {
            conditions.extend(tern_engine::conditions_after(flow, &first.id));
        }
    }
    conditions
}

fn empty_output(state: DialogueState) -> tern_understand::TurnOutput {
    tern_understand::TurnOutput {
        state,
        commands: Vec::new(),
        dropped: Vec::new(),
        messages: Vec::new(),
        events: Vec::new(),
        calls: Vec::new(),
        failure: None,
    }
}

/// Action results from the turn's `actions:` stubs.
struct Stubs<'t> {
    turn: &'t Turn,
    missing: std::sync::Mutex<Vec<String>>,
}

impl ActionRunner for Stubs<'_> {
    fn run<'a>(
        &'a self,
        action: &'a str,
        _parameters: &'a Map<String, Value>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ActionOutcome> + Send + 'a>> {
        let result = self.turn.actions.get(action).cloned().unwrap_or_else(|| {
            let message = format!(
                "action `{action}` was called but the turn has no `actions: {{{action}: ...}}` stub"
            );
            if let Ok(mut missing) = self.missing.lock() {
                missing.push(message);
            }
            ActionOutcome::Failure {
                error: "no stub in the test".into(),
            }
        });
        Box::pin(async move { result })
    }
}

/// The JSON the scripted model answers with for a list of commands.
pub(crate) fn commands_reply(commands: &[Command]) -> Value {
    let items: Vec<Value> = commands
        .iter()
        .filter_map(|c| serde_json::to_value(c).ok())
        .collect();
    json!({ "commands": items })
}
