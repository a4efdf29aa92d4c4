//! Read access to export JSON that keeps the JSON path of every value, so a
//! wrongly shaped field is reported as `file at $.transitionRoutes[2].intent`.

use std::path::Path;

use serde_json::Value;

use crate::project::ImportError;

/// A JSON value with the file and JSON path it came from.
#[derive(Clone)]
pub struct J<'a> {
    pub value: &'a Value,
    /// Path of the file inside the export.
    pub file: &'a str,
    origin: &'a Path,
    /// The JSON path of the value, such as `$.form.parameters[0]`.
    pub path: String,
}

impl<'a> J<'a> {
    pub fn root(value: &'a Value, file: &'a str, origin: &'a Path) -> Self {
        J {
            value,
            file,
            origin,
            path: "$".into(),
        }
    }

    pub fn error(&self, message: impl Into<String>) -> ImportError {
        ImportError::invalid(self.origin.join(self.file), &self.path, message)
    }

    /// Returns a field, if present and not null.
    pub fn get(&self, key: &str) -> Option<J<'a>> {
        let value = self.value.get(key).filter(|v| !v.is_null())?;
        let path = if is_plain_key(key) {
            format!("{}.{key}", self.path)
        } else {
            format!(
                "{}[{}]",
                self.path,
                serde_json::to_string(key).unwrap_or_default()
            )
        };
        Some(J {
            value,
            file: self.file,
            origin: self.origin,
            path,
        })
    }

    /// Returns a string field, or an error for a value of another type.
    pub fn str(&self, key: &str) -> Result<Option<&'a str>, ImportError> {
        match self.get(key) {
            None => Ok(None),
            Some(node) => match node.value {
                Value::String(text) => Ok(Some(text.as_str())),
                _ => Err(node.error(format!("expected a string, found {}", kind(node.value)))),
            },
        }
    }

    /// Returns a string field that must be present.
    pub fn required_str(&self, key: &str) -> Result<&'a str, ImportError> {
        self.str(key)?
            .ok_or_else(|| self.error(format!("the field `{key}` is missing")))
    }

    /// Returns a boolean field, `false` when absent.
    pub fn flag(&self, key: &str) -> Result<bool, ImportError> {
        match self.get(key) {
            None => Ok(false),
            Some(node) => node.value.as_bool().ok_or_else(|| {
                node.error(format!(
                    "expected true or false, found {}",
                    kind(node.value)
                ))
            }),
        }
    }

    /// Returns the elements of an array field, none when it is absent.
    pub fn array(&self, key: &str) -> Result<Vec<J<'a>>, ImportError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(node) => node.elements(),
        }
    }

    /// Returns the elements of this array.
    pub fn elements(&self) -> Result<Vec<J<'a>>, ImportError> {
        let Value::Array(items) = self.value else {
            return Err(self.error(format!("expected a list, found {}", kind(self.value))));
        };
        Ok(items
            .iter()
            .enumerate()
            .map(|(index, value)| J {
                value,
                file: self.file,
                origin: self.origin,
                path: format!("{}[{index}]", self.path),
            })
            .collect())
    }

    /// Returns the strings of an array field, none when it is absent.
    pub fn strings(&self, key: &str) -> Result<Vec<&'a str>, ImportError> {
        self.array(key)?
            .into_iter()
            .map(|node| {
                node.value.as_str().ok_or_else(|| {
                    node.error(format!("expected a string, found {}", kind(node.value)))
                })
            })
            .collect()
    }

    /// Returns an object field, or an error for a value of another type.
    pub fn object(&self, key: &str) -> Result<Option<J<'a>>, ImportError> {
        match self.get(key) {
            None => Ok(None),
            Some(node) if node.value.is_object() => Ok(Some(node)),
            Some(node) => {
                Err(node.error(format!("expected an object, found {}", kind(node.value))))
            }
        }
    }

    /// Returns the path of a field of this object.
    pub fn field_path(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }
}

fn is_plain_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Returns the JSON type of a value, for error messages.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
