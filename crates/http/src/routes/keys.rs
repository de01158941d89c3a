//! A merchant's API keys: list (with `last_used_at`), create (the secret shown once) and
//! revoke (refused from the next request on, on every node that shares the coordinator).

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Auth, parse_json, path_id};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use poigate_api::{
    ApiKeyView, CreateApiKeyRequest, DefaultTerminalView, ListOf, Problem,
    SetDefaultTerminalRequest,
};
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

/// Set an API key's default terminal
///
/// The terminal provider dialects use when a provider's documented request names none
/// (CM.com's create body has no terminal field). Per key, so each POS lane — its own key,
/// or the OAuth client of that key — has its own terminal. `null` clears it.
#[utoipa::path(put, path = "/v1/api-keys/{id}/default-terminal", tag = "api keys",
    params(("id" = String, Path, description = "API key id")),
    request_body = SetDefaultTerminalRequest,
    responses(
        (status = 200, description = "The key's default terminal", body = DefaultTerminalView),
        (status = 422, description = "No such terminal for this merchant and mode", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such key for this merchant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn set_default_terminal(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<DefaultTerminalView>, ApiError> {
    let id: ApiKeyId = path_id(&id, "api key")?;
    let request: SetDefaultTerminalRequest = parse_json(&body)?;
    let admin = state.engine.admin();
    admin.get_api_key(caller.merchant_id, id).await?;
    let terminal = admin
        .set_default_terminal(&caller, id, request.terminal.as_deref())
        .await?;
    Ok(Json(DefaultTerminalView {
        object: "default_terminal".into(),
        api_key: id,
        terminal: terminal.map(|t| t.id),
    }))
}
