//! Loading flow files: one file, several files or directories of them, merged
//! into one [`FlowSet`].
//!
//! Loading never stops at the first problem. Syntax errors stop only their own
//! file; field-level problems become diagnostics and the step or flow is kept
//! in a degraded form so that later checks still run on the rest.

mod convert;
mod outline;
mod raw;

use std::fs;
use std::path::{Path, PathBuf};

use crate::diagnostic::{Diagnostic, Severity};
use crate::model::FlowSet;

/// The flows found, with every problem found while reading them.
#[derive(Debug, Default)]
pub struct Loaded {
    pub flows: FlowSet,
    pub diagnostics: Vec<Diagnostic>,
}

/// An input that could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read `{path}`: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("no flow files (*.yml, *.yaml) found in `{0}`")]
    NoFiles(PathBuf),
}

/// Loads every path: files as given, directories searched recursively for
/// `*.yml` and `*.yaml` files in name order.
pub fn load_paths<P: AsRef<Path>>(paths: &[P]) -> Result<Loaded, LoadError> {
    let mut files = Vec::new();
    for path in paths {
        collect_files(path.as_ref(), &mut files)?;
    }
    let mut loaded = Loaded::default();
    for file in files {
        let text = fs::read_to_string(&file).map_err(|cause| LoadError::Io {
            path: file.clone(),
            cause,
        })?;
        load_source(&mut loaded, file, &text);
    }
    Ok(loaded)
}

/// Loads flows from text, as if read from `path`. Used by tests and by
/// callers that hold flow files in memory.
pub fn load_str(path: impl Into<PathBuf>, text: &str) -> Loaded {
    load_texts([(path.into(), text)])
}

/// Loads several in-memory files into one flow set, as [`load_paths`]
/// would load them from disk.
pub fn load_texts<'t>(files: impl IntoIterator<Item = (PathBuf, &'t str)>) -> Loaded {
    let mut loaded = Loaded::default();
    for (path, text) in files {
        load_source(&mut loaded, path, text);
    }
    loaded
}

fn collect_files(path: &Path, files: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let io_error = |cause| LoadError::Io {
        path: path.to_path_buf(),
        cause,
    };
    let metadata = fs::metadata(path).map_err(io_error)?;
    if !metadata.is_dir() {
        files.push(path.to_path_buf());
        return Ok(());
    }
    let before = files.len();
    walk_directory(path, files)?;
    if files.len() == before {
        return Err(LoadError::NoFiles(path.to_path_buf()));
    }
    Ok(())
}

fn walk_directory(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let io_error = |cause| LoadError::Io {
        path: dir.to_path_buf(),
        cause,
    };
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(io_error)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io_error)?;
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            walk_directory(&entry, files)?;
        } else if is_flow_file(&entry) {
            files.push(entry);
        }
    }
    Ok(())
}

fn is_flow_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yml" | "yaml")
    )
}

fn load_source(loaded: &mut Loaded, path: PathBuf, text: &str) {
    let file = loaded.flows.sources.len() as u32;
    loaded.flows.sources.push(path.clone());
    if text.trim().is_empty() {
        loaded
            .diagnostics
            .push(file_error(&path, "file is empty", 1, 1));
        return;
    }
    match crate::yaml::from_str::<raw::RawFile>(text) {
        Ok(raw) => convert::convert_file(loaded, file, raw),
        Err(error) => loaded.diagnostics.push(syntax_error(&path, text, &error)),
    }
}

fn syntax_error(path: &Path, text: &str, error: &serde_saphyr::Error) -> Diagnostic {
    let summary = crate::yaml::SyntaxError::from_error(error);
    let message = summary.message;
    let mut diagnostic = file_error(path, &message, summary.line, summary.column);
    diagnostic.code = "invalid_yaml";
    diagnostic.hint = syntax_hint(&message);
    diagnostic.path = outline::field_path(text, summary.line);
    diagnostic
}

fn syntax_hint(message: &str) -> Option<String> {
    if !message.contains("unknown field") {
        return None;
    }
    let close = unknown_field_suggestion(message);
    Some(match close {
        Some(field) => format!("did you mean `{field}`? docs/flows.md lists every field"),
        None => "check the spelling; docs/flows.md lists every field".to_string(),
    })
}

/// Finds the expected field closest to the unknown one in a message such as
/// "unknown field `colect`, expected one of id, collect, ...".
fn unknown_field_suggestion(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once("unknown field `")?;
    let (unknown, rest) = rest.split_once('`')?;
    let (_, expected) = rest.split_once("expected ")?;
    let expected = expected.strip_prefix("one of ").unwrap_or(expected);
    let candidates = expected
        .split(',')
        .map(|field| field.trim().trim_matches('`'))
        .filter(|field| !field.is_empty());
    crate::validate::suggest::closest(unknown, candidates)
}

fn file_error(path: &Path, message: &str, line: u32, column: u32) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        code: "invalid_file",
        file: Some(path.to_path_buf()),
        line,
        column,
        path: String::new(),
        message: message.to_string(),
        hint: None,
    }
}

#[cfg(test)]
mod tests {
    use super::syntax_hint;

    #[test]
    fn unknown_field_hint_suggests_closest() {
        let message = "unknown field `respone`, expected one of id, collect, response, next";
        assert_eq!(
            syntax_hint(message).as_deref(),
            Some("did you mean `response`? docs/flows.md lists every field")
        );
        let far = "unknown field `zzz`, expected one of id, collect";
        assert_eq!(
            syntax_hint(far).as_deref(),
            Some("check the spelling; docs/flows.md lists every field")
        );
        assert_eq!(syntax_hint("expected sequence start"), None);
    }
}
