//! Finding and reading the files of a Rasa project.

use std::path::{Path, PathBuf};

use super::yaml_in::{self, Node};
use super::{Ctx, Loc};
use crate::project::ImportError;
use crate::report::Fidelity;

/// One parsed YAML file of the project.
#[derive(Debug)]
pub(crate) struct SourceFile {
    /// Path relative to the project root, with `/` separators.
    pub name: String,
    pub root: Node,
}

impl SourceFile {
    pub fn loc(&self, line: u32) -> Loc {
        Loc {
            file: self.name.clone(),
            line,
        }
    }
}

/// The project's files by role.
#[derive(Debug, Default)]
pub(crate) struct Sources {
    pub domain: Vec<SourceFile>,
    /// Files under `data/`: flows, patterns, NLU data, rules and stories.
    pub data: Vec<SourceFile>,
    /// Files under `e2e_tests/` and `tests/`: end-to-end test cases and
    /// test stories.
    pub tests: Vec<SourceFile>,
    /// `config.yml`, `endpoints.yml` and `credentials.yml` when present.
    pub settings: Vec<SourceFile>,
}

/// Reads every YAML file of the project at `root`.
pub(crate) fn discover(root: &Path) -> Result<Sources, ImportError> {
    let metadata = std::fs::metadata(root).map_err(|cause| ImportError::Read {
        path: root.to_path_buf(),
        cause,
    })?;
    if !metadata.is_dir() {
        return Err(ImportError::NotAProject(
            root.to_path_buf(),
            "Rasa",
            "expected the project folder, not a file".into(),
        ));
    }
    let mut sources = Sources::default();
    for name in ["domain.yml", "domain.yaml"] {
        let path = root.join(name);
        if path.is_file() {
            sources.domain.push(read(root, &path)?);
        }
    }
    for folder in ["domain"] {
        for path in yaml_files(&root.join(folder))? {
            sources.domain.push(read(root, &path)?);
        }
    }
    for path in yaml_files(&root.join("data"))? {
        sources.data.push(read(root, &path)?);
    }
    for folder in ["e2e_tests", "tests"] {
        for path in yaml_files(&root.join(folder))? {
            sources.tests.push(read(root, &path)?);
        }
    }
    for name in ["config.yml", "endpoints.yml", "credentials.yml"] {
        let path = root.join(name);
        if path.is_file() {
            sources.settings.push(read(root, &path)?);
        }
    }
    if sources.domain.is_empty() && sources.data.is_empty() {
        return Err(ImportError::NotAProject(
            root.to_path_buf(),
            "Rasa",
            "it has no `domain.yml`, no `domain/` folder and no YAML files under `data/`".into(),
        ));
    }
    Ok(sources)
}

fn read(root: &Path, path: &Path) -> Result<SourceFile, ImportError> {
    let text = std::fs::read_to_string(path).map_err(|cause| ImportError::Read {
        path: path.to_path_buf(),
        cause,
    })?;
    let relative = path.strip_prefix(root).unwrap_or(path);
    let name = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/");
    let root_node = yaml_in::parse(relative, &text)?;
    Ok(SourceFile {
        name,
        root: root_node,
    })
}

/// Lists the `*.yml` and `*.yaml` files under `folder`, recursively, in
/// name order. A missing folder has none.
fn yaml_files(folder: &Path) -> Result<Vec<PathBuf>, ImportError> {
    let mut found = Vec::new();
    if folder.is_dir() {
        walk(folder, &mut found)?;
    }
    Ok(found)
}

fn walk(folder: &Path, found: &mut Vec<PathBuf>) -> Result<(), ImportError> {
    let read_error = |cause| ImportError::Read {
        path: folder.to_path_buf(),
        cause,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(folder)
        .map_err(read_error)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(read_error)?;
    entries.sort();
    for entry in entries {
        let hidden = entry
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        if entry.is_dir() {
            walk(&entry, found)?;
        } else if entry.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            found.push(entry);
        }
    }
    Ok(())
}

/// Reports what `config.yml`, `endpoints.yml` and `credentials.yml` set,
/// none of which has a Tern flow equivalent.
pub(crate) fn report_settings(ctx: &mut Ctx, sources: &Sources) {
    for file in &sources.settings {
        for (key, value) in file.root.entries() {
            let loc = file.loc(key.line);
            let what = format!("`{}` in {}", key.name, file.name);
            let note = match (file.name.as_str(), key.name.as_str()) {
                ("config.yml", "pipeline") => {
                    let components: Vec<String> = value.items().iter().filter_map(|c| c.get("name").and_then(Node::scalar_text)).collect();
                    format!(
                        "the NLU pipeline ({}) is replaced by Tern's understanding layer; configure its LLM provider instead",
                        components.join(", ")
                    )
                }
                ("config.yml", "policies") => "dialogue policies are replaced by Tern's deterministic engine, which runs the flows as written".into(),
                ("config.yml", "recipe" | "language" | "assistant_id") => "not needed by Tern".into(),
                ("endpoints.yml", "action_endpoint") => {
                    "the action server is replaced by one webhook per action in actions.yml; the importer writes placeholder URLs".into()
                }
                ("endpoints.yml", "nlg") => "response rephrasing and generation are not available; Tern sends responses as written".into(),
                ("endpoints.yml", "model_groups" | "llm") => "configure Tern's LLM provider in its own configuration".into(),
                ("endpoints.yml", "tracker_store" | "event_broker" | "lock_store" | "timer_store") => {
                    "Tern stores conversations in its own database (SQLite or PostgreSQL)".into()
                }
                ("credentials.yml", _) => {
                    "channel connectors are not imported; Tern serves its HTTP API and a Rasa-compatible REST channel".into()
                }
                _ => "not imported".into(),
            };
            ctx.add(Fidelity::Unmapped, &loc, what, note);
        }
    }
}
