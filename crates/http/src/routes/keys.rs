//! A merchant's API keys: list (with `last_used_at`), create (the secret shown once) and
//! revoke (refused from the next request on, on every node that shares the coordinator).

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Auth, parse_json, path_id};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use poigate_api::{ApiKeyView, CreateApiKeyRequest, ListOf, Problem};
use poigate_domain::{ApiKeyId, ApiKeyMode};
use poigate_engine::ApiKeyRecord;

pub(crate) fn api_key_view(k: &ApiKeyRecord, secret: Option<String>) -> ApiKeyView {
    ApiKeyView {
        id: k.id,
        object: "api_key".into(),
        livemode: k.mode == ApiKeyMode::Live,
        prefix: k.display_prefix.clone(),
        label: k.label.clone(),
        created_at: k.created_at,
        last_used_at: k.last_used_at,
        revoked_at: k.revoked_at,
        secret,
    }
}

/// A label, when given, is 1 to 100 characters.
pub(crate) fn check_label(label: &Option<String>) -> Result<(), ApiError> {
    match label {
        Some(l) if l.trim().is_empty() || l.chars().count() > 100 => Err(ApiError::invalid_field(
            "label",
            "invalid_length",
            "1 to 100 characters",
        )),
        _ => Ok(()),
    }
}

/// List the merchant's API keys
///
/// Every key of the merchant, of both modes and revoked ones too, oldest first. Secrets are
/// never shown again after creation.
#[utoipa::path(get, path = "/v1/api-keys", tag = "api keys",
    responses((status = 200, description = "The merchant's keys", body = ListOf<ApiKeyView>)),
    security(("bearer" = [])))]
pub async fn list_api_keys(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<Json<ListOf<ApiKeyView>>, ApiError> {
    let keys = state
        .engine
        .admin()
        .list_api_keys(caller.merchant_id)
        .await?;
    Ok(Json(ListOf::new(
        keys.iter().map(|k| api_key_view(k, None)).collect(),
        false,
        None,
    )))
}

/// Create an API key
///
/// The new key has the caller's mode (a test key creates test keys, a live key live keys).
/// `secret` is in this answer only: store it now.
#[utoipa::path(post, path = "/v1/api-keys", tag = "api keys",
    request_body(content = Option<CreateApiKeyRequest>),
    responses((status = 201, description = "Created; `secret` is shown this once", body = ApiKeyView)),
    security(("bearer" = [])))]
pub async fn create_api_key(
    State(state): State<AppState>,
    Auth(caller): Auth,
    body: Bytes,
) -> Result<(StatusCode, Json<ApiKeyView>), ApiError> {
    // An empty body is the defaults (a bare POST creates a key).
    let request: CreateApiKeyRequest = if body.iter().all(u8::is_ascii_whitespace) {
        CreateApiKeyRequest::default()
    } else {
        parse_json(&body)?
    };
    check_label(&request.label)?;
    let created = state
        .engine
        .admin()
        .create_api_key(caller.merchant_id, caller.mode, request.label)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(api_key_view(&created.record, Some(created.secret))),
    ))
}

/// Revoke an API key
///
/// Takes effect at once: the key's next request is refused (401), and access tokens issued
/// for it stop working too. A key may revoke itself. Revoking a revoked key answers it as is.
#[utoipa::path(post, path = "/v1/api-keys/{id}/revoke", tag = "api keys",
    params(("id" = String, Path, description = "API key id")),
    responses(
        (status = 200, description = "The key, revoked", body = ApiKeyView),
        (status = 404, description = "No such key for this merchant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<Json<ApiKeyView>, ApiError> {
    let id: ApiKeyId = path_id(&id, "api key")?;
    let admin = state.engine.admin();
    admin.get_api_key(caller.merchant_id, id).await?;
    admin.revoke_api_key(caller.merchant_id, id).await?;
    let key = admin.get_api_key(caller.merchant_id, id).await?;
    Ok(Json(api_key_view(&key, None)))
}
