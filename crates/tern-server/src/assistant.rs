//! The assistant a server runs: flows, actions and engine messages, loaded
//! and validated at start-up. Any error stops the start with the full list.
//!
//! Without `--flows`, the server runs the example city-services assistant
//! compiled into the binary, with its actions answered by a demonstration
//! back office mounted under `/demo/actions/` on the server itself.

use std::path::Path;

use tern_engine::Responses;
use tern_flow::actions::{ActionRegistry, load_actions, parse_actions};
use tern_flow::{Diagnostic, FlowSet};

pub struct Assistant {
    pub flows: FlowSet,
    pub actions: ActionRegistry,
    pub responses: Responses,
    /// Set for the bundled example, whose webhooks the server serves itself.
    pub is_demo: bool,
}

/// The example assistant's files, compiled in so that `tern serve` works
/// from any directory.
const EXAMPLE_FLOWS: &[(&str, &str)] = &[
    (
        "welcome.yml",
        include_str!("../../../examples/municipal/flows/welcome.yml"),
    ),
    (
        "report_issue.yml",
        include_str!("../../../examples/municipal/flows/report_issue.yml"),
    ),
    (
        "parking_fines.yml",
        include_str!("../../../examples/municipal/flows/parking_fines.yml"),
    ),
    (
        "appointments.yml",
        include_str!("../../../examples/municipal/flows/appointments.yml"),
    ),
    (
        "identity.yml",
        include_str!("../../../examples/municipal/flows/identity.yml"),
    ),
    (
        "library.yml",
        include_str!("../../../examples/municipal/flows/library.yml"),
    ),
    (
        "agent.yml",
        include_str!("../../../examples/municipal/flows/agent.yml"),
    ),
];
const EXAMPLE_ACTIONS: &str = include_str!("../../../examples/municipal/actions.yml");
const EXAMPLE_RESPONSES: &str = include_str!("../../../examples/municipal/responses.yml");

#[derive(Debug, thiserror::Error)]
pub enum AssistantError {
    #[error("{0}")]
    Read(String),
    #[error("the assistant has {count} error(s):\n{list}")]
    Invalid { count: usize, list: String },
}

impl Assistant {
    /// Loads the bundled example, with action webhooks pointing at
    /// `demo_base` (the server's own address).
    pub fn example(demo_base: &str) -> Result<Assistant, AssistantError> {
        let files = EXAMPLE_FLOWS
            .iter()
            .map(|(name, text)| (format!("examples/municipal/flows/{name}").into(), *text));
        let loaded = tern_flow::load_texts(files);
        let flows = loaded.flows;
        let mut diagnostics = loaded.diagnostics;
        let (mut actions, problems) =
            parse_actions(Path::new("examples/municipal/actions.yml"), EXAMPLE_ACTIONS);
        diagnostics.extend(problems);
        for action in actions.actions.values_mut() {
            action.webhook_url = format!("{demo_base}/demo/actions/{}", action.name);
        }
        let responses = parse_responses("examples/municipal/responses.yml", EXAMPLE_RESPONSES)?;
        check(&flows, &actions, diagnostics)?;
        Ok(Assistant {
            flows,
            actions,
            responses,
            is_demo: true,
        })
    }

    /// Loads an assistant from files.
    pub fn from_files(
        flows: &Path,
        actions: Option<&Path>,
        responses: Option<&Path>,
    ) -> Result<Assistant, AssistantError> {
        let loaded =
            tern_flow::load_paths(&[flows]).map_err(|e| AssistantError::Read(e.to_string()))?;
        let mut diagnostics = loaded.diagnostics;
        let actions = match actions {
            Some(path) => {
                let (registry, problems) =
                    load_actions(path).map_err(|e| AssistantError::Read(e.to_string()))?;
                diagnostics.extend(problems);
                registry
            }
            None => ActionRegistry::default(),
        };
        let responses = match responses {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    AssistantError::Read(format!("cannot read `{}`: {e}", path.display()))
                })?;
                parse_responses(&path.display().to_string(), &text)?
            }
            None => Responses::default(),
        };
        check(&loaded.flows, &actions, diagnostics)?;
        Ok(Assistant {
            flows: loaded.flows,
            actions,
            responses,
            is_demo: false,
        })
    }
}

fn parse_responses(name: &str, text: &str) -> Result<Responses, AssistantError> {
    Responses::from_yaml(name, text).map_err(AssistantError::Read)
}

/// Runs the validator; errors stop the start, warnings are logged.
fn check(
    flows: &FlowSet,
    actions: &ActionRegistry,
    mut diagnostics: Vec<Diagnostic>,
) -> Result<(), AssistantError> {
    diagnostics.extend(tern_flow::validate::validate(flows, Some(actions)));
    let (errors, warnings): (Vec<&Diagnostic>, Vec<&Diagnostic>) =
        diagnostics.iter().partition(|d| d.is_error());
    for warning in &warnings {
        tracing::warn!("{warning}");
    }
    if errors.is_empty() {
        return Ok(());
    }
    let list = errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    Err(AssistantError::Invalid {
        count: errors.len(),
        list,
    })
}
