//! Dialogflow ES: each top-level intent becomes a Tern flow.

use std::path::Path;

use crate::project::{ImportError, Project};

pub fn import(_path: &Path) -> Result<Project, ImportError> {
    Err(ImportError::NotAProject(_path.to_path_buf(), "Dialogflow ES", "not implemented".into()))
}
