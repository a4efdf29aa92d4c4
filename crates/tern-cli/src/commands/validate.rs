//! `tern validate`: load flows, check them, print diagnostics.

use std::process::ExitCode;

use tern_flow::Diagnostic;
use tern_flow::actions::load_actions;

use crate::cli::ValidateArgs;

pub fn run(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let loaded = tern_flow::load_paths(&args.paths)?;
    let mut diagnostics = loaded.diagnostics;
    let actions = match &args.actions {
        Some(path) => {
            let (registry, problems) = load_actions(path)?;
            // An actions file that could not be read at all registers nothing,
            // and every action step would be reported as unknown on top of
            // the file's own error.
            let unreadable = registry.actions.is_empty() && problems.iter().any(|d| d.is_error());
            diagnostics.extend(problems);
            (!unreadable).then_some(registry)
        }
        None => None,
    };
    diagnostics.extend(tern_flow::validate::validate(
        &loaded.flows,
        actions.as_ref(),
    ));
    print(&diagnostics, args.json)?;
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    if !args.json {
        let flows = loaded.flows.flows.len();
        let files = loaded.flows.sources.len();
        eprintln!(
            "{} in {}: {}, {}",
            counted(flows, "flow"),
            counted(files, "file"),
            counted(errors, "error"),
            counted(warnings, "warning")
        );
    }
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print(diagnostics: &[Diagnostic], json: bool) -> anyhow::Result<()> {
    for diagnostic in diagnostics {
        if json {
            println!("{}", serde_json::to_string(diagnostic)?);
        } else {
            println!("{diagnostic}");
        }
    }
    Ok(())
}

/// Formats a count with its noun, in the singular for one.
fn counted(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}
