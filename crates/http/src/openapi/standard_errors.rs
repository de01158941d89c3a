//! The error answers every operation shares, added to the document from the operation's
//! shape rather than repeated in ~50 annotations (where one would be forgotten).
//!
//! The rules mirror what the extractors and the error mapping do, for `/v1/` operations
//! (`/oauth/token` answers in the RFC's own error shape, declared on it):
//! - an operation with a bearer security requirement answers `401 unauthorized`;
//! - one with query parameters, a JSON body or an `Idempotency-Key` answers
//!   `400 invalid_request` / `invalid_json` / `invalid_query`;
//! - one with path parameters answers `404 not_found` (an id that does not parse is also a 404:
//!   it names nothing of this merchant);
//! - one with a JSON body answers `413 payload_too_large` and `415 unsupported_media_type`;
//! - one with an `Idempotency-Key` answers `409 idempotency_in_progress` and
//!   `422 idempotency_mismatch`;
//! - every `/v1/` operation may answer `503 unavailable` (with `Retry-After`) while storage
//!   does not answer.
//!
//! - an authenticated operation answers `429 rate_limited` (with `Retry-After`): too many
//!   refused credentials from one address or key prefix, or too many requests for one key
//!   (`[rate_limits]`, docs/security.md); every `/v1/` operation may also answer
//!   `503 over_capacity` when the connection limit is reached.
//!
//! Answers an operation declares itself (with its specific codes) are kept as they are.

use utoipa::Modify;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

pub(crate) struct StandardErrors;

impl Modify for StandardErrors {
    fn modify(&self, openapi: &mut OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                add_standard_errors(path, op);
            }
        }
    }
}

fn add_standard_errors(path: &str, op: &mut Operation) {
    let params = op.parameters.as_deref().unwrap_or_default();
    let has = |place: fn(&ParameterIn) -> bool| params.iter().any(|p| place(&p.parameter_in));
    let has_query = has(|p| matches!(p, ParameterIn::Query));
    let has_path = has(|p| matches!(p, ParameterIn::Path));
    let has_idempotency = params.iter().any(|p| p.name == "Idempotency-Key");
    let has_body = op.request_body.is_some();
    let has_json_body = op
        .request_body
        .as_ref()
        .is_some_and(|b| b.content.contains_key("application/json"));
    let authenticated = op
        .security
        .as_ref()
        .is_some_and(|s| !s.is_empty() && path.starts_with("/v1/"));
    let api = path.starts_with("/v1/");

    let mut add = |code: &str, description: &str| {
        op.responses
            .responses
            .entry(code.to_string())
            .or_insert_with(|| problem(description));
    };
    if api && (has_query || has_body || has_idempotency) {
        add(
            "400",
            "`invalid_request` (see `errors` for the fields), `invalid_json` or `invalid_query`",
        );
    }
    if authenticated {
        add(
            "401",
            "`unauthorized`: missing, unknown or revoked API key (or a disabled merchant)",
        );
    }
    if has_path {
        add("404", "`not_found`: no such object for this key");
    }
    if has_idempotency {
        add(
            "409",
            "`idempotency_in_progress`: a request with this Idempotency-Key is still running",
        );
        add(
            "422",
            "`idempotency_mismatch`: this Idempotency-Key was used with a different request",
        );
    }
    if has_json_body && api {
        add("413", "`payload_too_large`: the body exceeds 64 KiB");
        add(
            "415",
            "`unsupported_media_type`: send the body with Content-Type: application/json",
        );
    }
    if authenticated {
        add(
            "429",
            "`rate_limited`: too many refused credentials from this address or key prefix, or too many requests for this key; retry after `Retry-After` seconds",
        );
    }
    if api {
        add(
            "503",
            "`unavailable`: storage does not answer, or `over_capacity`: the connection limit is reached; retry after `Retry-After` seconds",
        );
    }
}

/// A problem+json answer referring to the `Problem` schema.
fn problem(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build(),
    )
}
