//! Reading a Dialogflow export, a folder or a `.zip` as the console
//! exports it, into memory.
//!
//! Console zips often wrap the agent in an extra top folder and, when made
//! on a Mac, carry `__MACOSX/` resource forks, `._*` files and `.DS_Store`.
//! The junk is dropped and the paths are made relative to the folder that
//! contains `agent.json`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::project::ImportError;

/// The files of an export, by path relative to the agent root, with `/` as
/// the separator.
#[derive(Debug, Default)]
pub struct Export {
    /// The folder or zip that was read, for error messages.
    pub origin: PathBuf,
    pub files: BTreeMap<String, Vec<u8>>,
}

/// The largest file read from an export. Real agent files are far smaller.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

impl Export {
    /// Reads a folder or a zip file and finds the agent root, the folder of
    /// the shallowest `agent.json`.
    pub fn read(path: &Path, kind: &'static str) -> Result<Export, ImportError> {
        let mut files = if path.is_dir() {
            read_folder(path)?
        } else if path.is_file() {
            read_zip(path)?
        } else {
            let cause = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder");
            return Err(ImportError::Read {
                path: path.to_path_buf(),
                cause,
            });
        };
        files.retain(|name, _| !is_junk(name));
        let root = files
            .keys()
            .filter(|name| name.rsplit('/').next() == Some("agent.json"))
            .min_by_key(|name| (name.matches('/').count(), name.len()))
            .map(|name| name[..name.len() - "agent.json".len()].to_string())
            .ok_or_else(|| {
                ImportError::NotAProject(
                    path.to_path_buf(),
                    kind,
                    "no `agent.json` found; export the agent from the Dialogflow console and pass the zip or its unpacked folder".into(),
                )
            })?;
        let files = files
            .into_iter()
            .filter_map(|(name, bytes)| {
                name.strip_prefix(&root)
                    .map(|rest| (rest.to_string(), bytes))
            })
            .collect();
        Ok(Export {
            origin: path.to_path_buf(),
            files,
        })
    }

    /// Returns the path of a file for error messages: inside the export,
    /// prefixed with the export itself.
    pub fn error_path(&self, name: &str) -> PathBuf {
        self.origin.join(name)
    }

    /// Parses a JSON file; syntax errors name the line and column.
    pub fn json(&self, name: &str) -> Result<Value, ImportError> {
        let bytes = self.files.get(name).ok_or_else(|| {
            ImportError::invalid(
                self.error_path(name),
                "",
                "the file is missing from the export",
            )
        })?;
        let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
        serde_json::from_slice(bytes).map_err(|error| {
            ImportError::invalid(
                self.error_path(name),
                format!("line {}, column {}", error.line(), error.column()),
                format!("invalid JSON: {error}"),
            )
        })
    }

    /// Returns the files directly inside `folder` (not in its subfolders) whose names end
    /// with `suffix`, in name order.
    pub fn files_in(&self, folder: &str, suffix: &str) -> Vec<String> {
        let prefix = format!("{folder}/");
        self.files
            .keys()
            .filter(|name| {
                name.strip_prefix(&prefix)
                    .is_some_and(|rest| !rest.contains('/') && rest.ends_with(suffix))
            })
            .cloned()
            .collect()
    }

    /// Returns the immediate subfolders of `folder`, in name order.
    pub fn subfolders(&self, folder: &str) -> Vec<String> {
        let prefix = format!("{folder}/");
        let mut found: Vec<String> = self
            .files
            .keys()
            .filter_map(|name| {
                let rest = name.strip_prefix(&prefix)?;
                let (sub, _) = rest.split_once('/')?;
                Some(format!("{prefix}{sub}"))
            })
            .collect();
        found.dedup();
        found
    }

    /// Returns the main JSON file of an element folder such as `flows/Main`: the one
    /// `.json` file directly inside it, preferring the one named like the
    /// folder. The console names it after the folder, but percent-encoding
    /// and trailing spaces can make the two spellings differ.
    pub fn main_file(&self, folder: &str) -> Option<String> {
        let candidates = self.files_in(folder, ".json");
        let folder_name = folder.rsplit('/').next().unwrap_or(folder);
        let wanted = format!("{folder}/{folder_name}.json");
        if candidates.contains(&wanted) {
            return Some(wanted);
        }
        let wanted = decode_name(folder_name).trim().to_string();
        candidates
            .iter()
            .find(|name| file_stem(name).trim() == wanted)
            .or_else(|| candidates.first())
            .cloned()
    }
}

/// Returns a file's name without folder and `.json`, percent-decoded.
pub fn file_stem(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    decode_name(base.strip_suffix(".json").unwrap_or(base))
}

/// Decodes the percent-encoding the console uses for characters that file
/// systems reject, such as `%3e` for `>` and `%3a` for `:`.
pub fn decode_name(name: &str) -> String {
    percent_encoding::percent_decode_str(name)
        .decode_utf8_lossy()
        .into_owned()
}

/// Returns whether a path is macOS metadata rather than part of the export.
fn is_junk(name: &str) -> bool {
    name.split('/')
        .any(|part| part == "__MACOSX" || part == ".DS_Store" || part.starts_with("._"))
}

fn read_folder(root: &Path) -> Result<BTreeMap<String, Vec<u8>>, ImportError> {
    let mut files = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let entries = std::fs::read_dir(&folder).map_err(|cause| ImportError::Read {
            path: folder.clone(),
            cause,
        })?;
        for entry in entries {
            let entry = entry.map_err(|cause| ImportError::Read {
                path: folder.clone(),
                cause,
            })?;
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let Ok(relative) = path.strip_prefix(root) else {
                continue;
            };
            let name = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            if is_junk(&name) || !name.ends_with(".json") {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|cause| ImportError::Read {
                path: path.clone(),
                cause,
            })?;
            files.insert(name, bytes);
        }
    }
    Ok(files)
}

fn read_zip(path: &Path) -> Result<BTreeMap<String, Vec<u8>>, ImportError> {
    let file = std::fs::File::open(path).map_err(|cause| ImportError::Read {
        path: path.to_path_buf(),
        cause,
    })?;
    let invalid = |message: String| ImportError::invalid(path, "", message);
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|error| invalid(format!("not a readable zip file ({error}); pass the zip exported by the Dialogflow console or its unpacked folder")))?;
    let mut files = BTreeMap::new();
    for index in 0..archive.len() {
        let mut entry = archive
            .by_index(index)
            .map_err(|error| invalid(format!("cannot read zip entry {index}: {error}")))?;
        if entry.is_dir() {
            continue;
        }
        let name = entry
            .name()
            .map_err(|error| invalid(format!("zip entry {index} has an unreadable name: {error}")))?
            .into_owned();
        if is_junk(&name) || !name.ends_with(".json") {
            continue;
        }
        if entry.size() > MAX_FILE_BYTES {
            return Err(invalid(format!(
                "zip entry `{name}` is larger than {MAX_FILE_BYTES} bytes"
            )));
        }
        let mut bytes = Vec::new();
        (&mut entry)
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|error| invalid(format!("cannot unpack zip entry `{name}`: {error}")))?;
        files.insert(name.trim_start_matches('/').to_string(), bytes);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junk_paths() {
        assert!(is_junk("__MACOSX/agent/._agent.json"));
        assert!(is_junk("agent/.DS_Store"));
        assert!(is_junk("agent/flows/._Main.json"));
        assert!(!is_junk("agent/flows/Main/Main.json"));
    }

    #[test]
    fn decodes_console_names() {
        assert_eq!(
            file_stem("flows/A/pages/%3e collect address.json"),
            "> collect address"
        );
        assert_eq!(decode_name("hooks%3avalidate"), "hooks:validate");
    }
}
