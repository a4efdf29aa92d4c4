//! An imported assistant in memory, its validation, and writing it to disk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tern_flow::actions::parse_actions;
use tern_flow::{Diagnostic, FlowSet};

use crate::report::Report;

/// The files of an imported assistant, by path relative to the output
/// folder: `flows/*.yml`, `actions.yml`, `responses.yml`, `tests/*.yml`,
/// and the report as `IMPORT_REPORT.md` and `import_report.json`.
#[derive(Debug, Default)]
pub struct Project {
    pub files: BTreeMap<PathBuf, String>,
    pub report: Report,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read `{path}`: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("`{file}`{location}: {message}")]
    Invalid {
        file: PathBuf,
        location: String,
        message: String,
    },
    #[error("`{0}` is not a {1} project: {2}")]
    NotAProject(PathBuf, &'static str, String),
    #[error(
        "the output folder `{0}` already exists and is not empty; choose another with --out or pass --force to replace it"
    )]
    OutputExists(PathBuf),
    #[error("cannot write `{path}`: {cause}")]
    Write {
        path: PathBuf,
        cause: std::io::Error,
    },
}

impl ImportError {
    /// An error in a source file at a line or JSON path.
    pub fn invalid(
        file: impl Into<PathBuf>,
        location: impl AsRef<str>,
        message: impl Into<String>,
    ) -> Self {
        let location = location.as_ref();
        let location = if location.is_empty() {
            String::new()
        } else {
            format!(" at {location}")
        };
        ImportError::Invalid {
            file: file.into(),
            location,
            message: message.into(),
        }
    }
}

/// Loads the project's flows and actions like `tern validate` would and
/// returns every problem.
pub fn validate_project(project: &Project) -> Vec<Diagnostic> {
    let flow_files = project
        .files
        .iter()
        .filter(|(path, _)| path.starts_with("flows"))
        .map(|(path, text)| (path.clone(), text.as_str()));
    let loaded = tern_flow::load_texts(flow_files);
    let flows: FlowSet = loaded.flows;
    let mut diagnostics = loaded.diagnostics;
    let actions = project.files.get(Path::new("actions.yml")).map(|text| {
        let (registry, problems) = parse_actions(Path::new("actions.yml"), text);
        diagnostics.extend(problems);
        registry
    });
    diagnostics.extend(tern_flow::validate::validate(&flows, actions.as_ref()));
    diagnostics
}

/// Writes the project into `out`, which must not exist or be empty unless
/// `force` is set. Files are written into a sibling temporary folder first,
/// which then takes the place of `out`, so an interrupted import leaves no
/// partial output.
pub fn write_project(project: &Project, out: &Path, force: bool) -> Result<(), ImportError> {
    let occupied = out.exists()
        && std::fs::read_dir(out)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true);
    if occupied && !force {
        return Err(ImportError::OutputExists(out.to_path_buf()));
    }
    let staging = staging_path(out);
    let write_error = |path: &Path, cause| ImportError::Write {
        path: path.to_path_buf(),
        cause,
    };
    let _ = std::fs::remove_dir_all(&staging);
    for (relative, text) in &project.files {
        let path = staging.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| write_error(parent, e))?;
        }
        std::fs::write(&path, text).map_err(|e| write_error(&path, e))?;
    }
    let report_json = serde_json::to_string_pretty(&project.report).unwrap_or_default();
    std::fs::write(staging.join("import_report.json"), report_json)
        .map_err(|e| write_error(&staging, e))?;
    std::fs::write(
        staging.join("IMPORT_REPORT.md"),
        project.report.to_markdown(),
    )
    .map_err(|e| write_error(&staging, e))?;
    if out.exists() {
        std::fs::remove_dir_all(out).map_err(|e| write_error(out, e))?;
    }
    std::fs::rename(&staging, out).map_err(|e| write_error(out, e))
}

fn staging_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "import".into());
    out.with_file_name(format!(".{name}.importing-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_non_empty_output_without_force() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("keep.txt"), "mine").unwrap();
        let project = Project::default();
        let error = write_project(&project, dir.path(), false).unwrap_err();
        assert!(matches!(error, ImportError::OutputExists(_)));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("keep.txt")).unwrap(),
            "mine"
        );
    }

    #[test]
    fn writes_files_and_report() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("assistant");
        let mut project = Project::default();
        project
            .files
            .insert("flows/a.yml".into(), "flows: {}\n".into());
        write_project(&project, &out, false).unwrap();
        assert!(out.join("flows/a.yml").exists());
        assert!(out.join("IMPORT_REPORT.md").exists());
        assert!(out.join("import_report.json").exists());
    }
}
