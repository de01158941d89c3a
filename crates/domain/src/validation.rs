//! Field-level validation errors, collected so a client sees every problem at once.

use serde::Serialize;
use std::fmt;

/// One problem with one input field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// Path of the field in the request, e.g. `amount.value` or `metadata.order`.
    pub field: String,
    /// Stable machine-readable code, e.g. `too_many_decimals`.
    pub code: String,
    /// Human explanation.
    pub message: String,
}

impl FieldError {
    pub fn new(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        FieldError {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        }
    }
}

/// A non-empty list of field errors.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ValidationErrors(Vec<FieldError>);

impl ValidationErrors {
    pub fn new() -> Self {
        ValidationErrors(Vec::new())
    }

    pub fn single(e: FieldError) -> Self {
        ValidationErrors(vec![e])
    }

    pub fn push(&mut self, e: FieldError) {
        self.0.push(e);
    }

    pub fn add(&mut self, field: impl Into<String>, code: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, code, message));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn errors(&self) -> &[FieldError] {
        &self.0
    }

    pub fn into_errors(self) -> Vec<FieldError> {
        self.0
    }

    /// `Ok(value)` when nothing was collected.
    pub fn into_result<T>(self, value: T) -> Result<T, ValidationErrors> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    /// Checks a free-text field: length in characters, no control characters, no card data.
    pub fn check_text(&mut self, field: &str, value: &str, max_chars: usize) {
        let len = value.chars().count();
        if len == 0 {
            self.add(field, "empty", format!("{field} must not be empty"));
        } else if len > max_chars {
            self.add(
                field,
                "too_long",
                format!("{field} must be at most {max_chars} characters"),
            );
        } else if value.chars().any(char::is_control) {
            self.add(
                field,
                "invalid_characters",
                format!("{field} must not contain control characters"),
            );
        } else {
            crate::card_data::check_value(self, field, value);
        }
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for ValidationErrors {}
