//! Problems found while loading and validating flows, reported like a
//! compiler: severity, stable code, file, line, column, field path, message
//! and an optional hint.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable identifier of the rule, such as `unknown_step`.
    pub code: &'static str,
    pub file: Option<PathBuf>,
    pub line: u32,
    pub column: u32,
    /// Field path inside the file, such as `flows.greet.steps[2].next`.
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{severity}[{}]: ", self.code)?;
        if let Some(file) = &self.file {
            write!(f, "{}:{}:{}: ", file.display(), self.line, self.column)?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Counts errors in a list of diagnostics.
pub fn error_count(diagnostics: &[Diagnostic]) -> usize {
    diagnostics.iter().filter(|d| d.is_error()).count()
}

/// Whether `name` is a valid flow id or slot name: ASCII letters, digits and
/// `_`, not starting with a digit.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifier_rules() {
        assert!(is_identifier("user_name"));
        assert!(is_identifier("_private"));
        assert!(is_identifier("a1"));
        assert!(!is_identifier("1a"));
        assert!(!is_identifier("user-name"));
        assert!(!is_identifier("user name"));
        assert!(!is_identifier(""));
        assert!(!is_identifier("اسم"));
    }
}
