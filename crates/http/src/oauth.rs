//! `POST /oauth/token`: the OAuth 2.0 client-credentials grant (RFC 6749 §4.4).
//!
//! The client secret is an API key, given as `client_secret` in a form or JSON body, or as the
//! password of HTTP Basic authentication (the `client_id` is not checked: the key identifies
//! the merchant). The answer is `{"access_token", "token_type": "Bearer", "expires_in"}`; the
//! token is accepted wherever an API key is. Errors use the RFC's shape
//! (`{"error": "invalid_client"}` …), which is what OAuth client libraries expect.

use crate::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

/// The fields of a token request (form-encoded or JSON). Documentation only: the handler
/// reads the fields itself, so that every malformed request gets the RFC's error shape.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenRequest {
    /// Must be `client_credentials`.
    pub grant_type: String,
    /// The API key (or send it as the HTTP Basic password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Not checked: the key identifies the merchant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client`, `unsupported_grant_type`.
    pub error: String,
    pub error_description: String,
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = (
        status,
        Json(OAuthError {
            error: error.into(),
            error_description: description.into(),
        }),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"poigate\""),
        );
    }
    response
}

/// The form or JSON fields of a token request.
fn fields(headers: &HeaderMap, body: &Bytes) -> HashMap<String, String> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json"));
    if is_json {
        serde_json::from_slice::<HashMap<String, serde_json::Value>>(body)
            .map(|m| {
                m.into_iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        url::form_urlencoded::parse(body).into_owned().collect()
    }
}

fn basic_password(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':')
        .map(|(_, password)| password.to_string())
}

/// Get an access token for an API key
#[utoipa::path(post, path = "/oauth/token", tag = "authentication",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded", description = "`grant_type=client_credentials&client_secret=<API key>` (or HTTP Basic with the API key as password)"),
    responses(
        (status = 200, description = "A short-lived bearer token", body = TokenResponse),
        (status = 400, description = "`invalid_request` or `unsupported_grant_type`", body = OAuthError),
        (status = 401, description = "`invalid_client`: unknown or revoked API key", body = OAuthError),
        (status = 429, description = "`rate_limited`: too many refused keys from this client or for this key prefix; see `Retry-After`", body = poigate_api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn issue_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = fields(&headers, &body);
    match fields.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only grant_type=client_credentials is supported",
            );
        }
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is required",
            );
        }
    }
    let Some(secret) = fields
        .get("client_secret")
        .cloned()
        .or_else(|| basic_password(&headers))
    else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "send the API key as client_secret or as the HTTP Basic password",
        );
    };
    let limits = &state.limits;
    let address = limits.client_address(&headers);
    if let Err(l) = limits.before_auth(address, Some(&secret)) {
        return crate::error::ApiError::rate_limited(l.retry_after_seconds).into_response();
    }
    match state.engine.admin().issue_access_token(&secret).await {
        Ok(Some(token)) => Json(TokenResponse {
            access_token: token.token,
            token_type: "Bearer".into(),
            expires_in: token.expires_in_seconds,
        })
        .into_response(),
        Ok(None) => match limits.auth_failed(address, Some(&secret)) {
            Ok(()) => oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "unknown or revoked API key",
            ),
            Err(l) => crate::error::ApiError::rate_limited(l.retry_after_seconds).into_response(),
        },
        Err(e) => crate::error::ApiError::from(e).into_response(),
    }
}
