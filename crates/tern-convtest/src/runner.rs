//! Running conversation tests against the engine.

use std::path::{Path, PathBuf};

use tern_engine::{ActionOutcome, BotMessage, Command, DialogueState, Engine, Event, Need, Responses};
use tern_flow::actions::{load_actions, ActionRegistry};
use tern_flow::FlowSet;

use crate::compare::compare_turn;
use crate::format::{read_test_file, TestCase, TestFile, Turn};

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
        let mut problems: Vec<String> = loaded.diagnostics.iter().filter(|d| d.is_error()).map(ToString::to_string).collect();
        let actions = match &file.actions {
            Some(path) => {
                let (registry, diagnostics) = load_actions(path).map_err(|e| e.to_string())?;
                problems.extend(diagnostics.iter().filter(|d| d.is_error()).map(ToString::to_string));
                Some(registry)
            }
            None => None,
        };
        if problems.is_empty() {
            let validation = tern_flow::validate::validate(&loaded.flows, actions.as_ref());
            problems.extend(validation.iter().filter(|d| d.is_error()).map(ToString::to_string));
        }
        if !problems.is_empty() {
            return Err(format!("the flows have errors:\n{}", problems.join("\n")));
        }
        let responses = match &file.responses {
            Some(path) => read_responses(path)?,
            None => Responses::default(),
        };
        Ok(Assistant { flows: loaded.flows, actions, responses })
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
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    tern_flow::yaml::from_str(&text).map_err(|e| {
        let first = e.to_string().lines().next().unwrap_or_default().to_string();
        format!("invalid responses file `{}`: {first}", path.display())
    })
}

/// The results of one test file.
#[derive(Debug)]
pub struct FileReport {
    pub path: PathBuf,
    /// Set when the file or its assistant could not be loaded.
    pub error: Option<String>,
    pub tests: Vec<TestReport>,
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

pub fn run_file(path: &Path) -> FileReport {
    let file = match read_test_file(path) {
        Ok(file) => file,
        Err(error) => return FileReport { path: path.to_path_buf(), error: Some(error.to_string()), tests: Vec::new() },
    };
    let assistant = match Assistant::load(&file) {
        Ok(assistant) => assistant,
        Err(error) => return FileReport { path: path.to_path_buf(), error: Some(error), tests: Vec::new() },
    };
    let tests = file.tests.iter().map(|test| run_test(&assistant, test)).collect();
    FileReport { path: path.to_path_buf(), error: None, tests }
}

fn run_test(assistant: &Assistant, test: &TestCase) -> TestReport {
    let mut state = DialogueState { slots: test.slots.clone(), ..Default::default() };
    let mut failures = Vec::new();
    for (index, turn) in test.turns.iter().enumerate() {
        let result = run_turn(assistant, state, turn);
        let mut details = result.problems;
        details.extend(compare_turn(turn, &result.state, &result.messages, &result.events));
        if !details.is_empty() {
            failures.push(TurnFailure { turn: index + 1, line: turn.line, user: turn.user.clone(), details });
        }
        state = result.state;
    }
    TestReport { name: test.name.clone(), line: test.line, failures }
}

struct TurnResult {
    state: DialogueState,
    messages: Vec<BotMessage>,
    events: Vec<Event>,
    problems: Vec<String>,
}

/// Most needs (action calls, judgements) one turn may raise; more means the
/// flows loop through actions.
const MAX_NEEDS_PER_TURN: usize = 100;

fn run_turn(assistant: &Assistant, state: DialogueState, turn: &Turn) -> TurnResult {
    let engine = assistant.engine();
    let mut commands = turn.commands.clone();
    commands.extend(turn.judgements.iter().map(|(k, v)| Command::Judge { condition: k.clone(), value: *v }));
    let mut outcome = engine.handle(state, &commands);
    let mut messages = std::mem::take(&mut outcome.messages);
    let mut events = std::mem::take(&mut outcome.events);
    let mut problems = Vec::new();
    let mut needs = 0;
    while let Some(need) = outcome.need.take() {
        needs += 1;
        if needs > MAX_NEEDS_PER_TURN {
            problems.push(format!("the turn raised more than {MAX_NEEDS_PER_TURN} action calls or judgements"));
            break;
        }
        outcome = match need {
            Need::Action { action, .. } => {
                let result = turn.actions.get(&action).cloned().unwrap_or_else(|| {
                    problems.push(format!("action `{action}` was called but the turn has no `actions: {{{action}: ...}}` stub"));
                    ActionOutcome::Failure { error: "no stub in the test".into() }
                });
                engine.action_result(outcome.state, result)
            }
            Need::Judgement { conditions } => {
                let verdicts: Vec<(String, bool)> = conditions
                    .iter()
                    .map(|c| (c.clone(), turn.judgements.get(c).copied().unwrap_or(false)))
                    .collect();
                engine.judgements(outcome.state, &verdicts)
            }
        };
        messages.append(&mut outcome.messages);
        events.append(&mut outcome.events);
    }
    TurnResult { state: outcome.state, messages, events, problems }
}
