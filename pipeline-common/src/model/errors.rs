//! Validation errors, one per offending field, ready for a 422 body.

use serde::Serialize;
use std::fmt;

/// One invalid field of a pipeline definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Path of the field in the REST body, e.g. `stages[2].patterns[0].regex`.
    pub field: String,
    /// What is wrong with it, for a human.
    pub message: String,
}

/// Every invalid field found while building a definition; never empty when returned as an error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    /// No errors yet.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Records an error on `field`.
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The recorded errors.
    pub fn errors(&self) -> &[FieldError] {
        &self.0
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", e.field, e.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

impl IntoIterator for ValidationErrors {
    type Item = FieldError;
    type IntoIter = std::vec::IntoIter<FieldError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}
