//! RFC 9457 problem details with poigate's stable error `code`.

use poigate_domain::{FieldError, InteractionId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The `type` URI of a problem code.
pub fn problem_type_uri(code: &str) -> String {
    format!("https://poigate.dev/problems/{code}")
}

/// An error answer (`application/problem+json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// URI identifying the problem type, derived from `code`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Short summary of the problem type.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// Explanation of this occurrence.
    pub detail: String,
    /// Stable machine-readable code, e.g. `terminal_busy`, `invalid_request`.
    pub code: String,
    /// The offending fields, for validation errors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<FieldErrorBody>,
    /// For `terminal_busy`: the interaction that holds the terminal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub blocking_interaction: Option<InteractionId>,
    /// The request's id (its `X-Request-Id` header, given or generated): quote it to find
    /// the request in the gateway's logs. Added by the server to every problem it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// One invalid field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldErrorBody {
    pub field: String,
    pub code: String,
    pub message: String,
}

impl From<&FieldError> for FieldErrorBody {
    fn from(e: &FieldError) -> Self {
        FieldErrorBody {
            field: e.field.clone(),
            code: e.code.clone(),
            message: e.message.clone(),
        }
    }
}

impl Problem {
    pub fn new(status: u16, code: &str, title: &str, detail: impl Into<String>) -> Problem {
        Problem {
            type_uri: problem_type_uri(code),
            title: title.to_string(),
            status,
            detail: detail.into(),
            code: code.to_string(),
            errors: Vec::new(),
            blocking_interaction: None,
            request_id: None,
        }
    }

    pub fn with_errors(mut self, errors: Vec<FieldErrorBody>) -> Problem {
        self.errors = errors;
        self
    }
}
