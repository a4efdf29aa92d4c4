//! `tern import`: convert a Rasa project or a Dialogflow export into a Tern
//! assistant folder with a fidelity report.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tern_import::{Project, validate_project, write_project};

use crate::cli::{ImportArgs, ImportSource};

pub fn run(args: &ImportArgs) -> anyhow::Result<ExitCode> {
    let (kind, path) = match &args.source {
        ImportSource::Rasa { path } => ("rasa", path),
        ImportSource::DialogflowCx { path } => ("dialogflow-cx", path),
        ImportSource::DialogflowEs { path } => ("dialogflow-es", path),
    };
    let progress = spinner(&format!("importing {kind} project `{}`", path.display()));
    let project = match &args.source {
        ImportSource::Rasa { path } => tern_import::rasa::import(path),
        ImportSource::DialogflowCx { path } => tern_import::dialogflow::import_cx(path),
        ImportSource::DialogflowEs { path } => tern_import::dialogflow::import_es(path),
    };
    let project = project.inspect_err(|_| progress.abandon())?;
    progress.set_message("validating the imported flows");
    let errors = validation_errors(&project);
    let out = args.out.clone().unwrap_or_else(|| default_out(path));
    progress.set_message(format!("writing `{}`", out.display()));
    write_project(&project, &out, args.force).inspect_err(|_| progress.abandon())?;
    progress.finish_and_clear();
    println!("{}", project.report.summary());
    for item in &project.report.to_do {
        println!("  to do: {item}");
    }
    println!(
        "wrote `{}` (report: {})",
        out.display(),
        out.join("IMPORT_REPORT.md").display()
    );
    if errors.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "the imported flows have {} validation errors:",
        errors.len()
    );
    for error in &errors {
        eprintln!("{error}");
    }
    Ok(ExitCode::from(1))
}

/// A spinner on stderr while a large project is converted; hidden when
/// stderr is not a terminal, so logs and pipes stay clean.
fn spinner(message: &str) -> indicatif::ProgressBar {
    let progress = indicatif::ProgressBar::new_spinner();
    progress.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    progress.set_message(message.to_string());
    progress.enable_steady_tick(std::time::Duration::from_millis(120));
    progress
}

fn validation_errors(project: &Project) -> Vec<String> {
    validate_project(project)
        .iter()
        .filter(|d| d.is_error())
        .map(ToString::to_string)
        .collect()
}

/// `NAME-tern` next to the input, without a `.zip` extension.
fn default_out(input: &Path) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "imported".into());
    let stem = if stem == "agent" {
        input
            .parent()
            .and_then(|p| p.file_name())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or(stem)
    } else {
        stem
    };
    PathBuf::from(format!("{stem}-tern"))
}
