//! Platform admin endpoints: merchants (create, list, disable) and their first keys.
//! Authenticated with a platform admin key (`pg_admin_…`, from `poigate admin-key create`),
//! which reaches no merchant data itself.

use super::keys::{api_key_view, check_label};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{AdminAuth, ApiJson, parse_json, path_id};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use poigate_api::{
    AdminCreateApiKeyRequest, ApiKeyView, CreateMerchantRequest, ListOf, MerchantView, Problem,
};
use poigate_domain::{ApiKeyMode, MerchantId};

/// Create a merchant
#[utoipa::path(post, path = "/v1/admin/merchants", tag = "platform admin",
    request_body(content = CreateMerchantRequest),
    responses((status = 201, description = "Created", body = MerchantView)),
    security(("admin" = [])))]
pub async fn admin_create_merchant(
    State(state): State<AppState>,
    _admin: AdminAuth,
    ApiJson(body): ApiJson<CreateMerchantRequest>,
) -> Result<(StatusCode, Json<MerchantView>), ApiError> {
    let merchant = state.engine.admin().create_merchant(&body.name).await?;
    Ok((StatusCode::CREATED, Json(MerchantView::new(&merchant))))
}

/// List merchants
#[utoipa::path(get, path = "/v1/admin/merchants", tag = "platform admin",
    responses((status = 200, description = "Every merchant, oldest first", body = ListOf<MerchantView>)),
    security(("admin" = [])))]
pub async fn admin_list_merchants(
    State(state): State<AppState>,
    _admin: AdminAuth,
) -> Result<Json<ListOf<MerchantView>>, ApiError> {
    let merchants = state.engine.admin().list_merchants().await?;
    Ok(Json(ListOf::new(
        merchants.iter().map(MerchantView::new).collect(),
        false,
        None,
    )))
}

/// Disable a merchant
///
/// Its keys (and access tokens) are refused (401) from the next request on. Its data stays.
#[utoipa::path(post, path = "/v1/admin/merchants/{id}/disable", tag = "platform admin",
    params(("id" = String, Path, description = "Merchant id")),
    responses(
        (status = 200, description = "The merchant, disabled", body = MerchantView),
        (status = 404, description = "No such merchant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("admin" = [])))]
pub async fn admin_disable_merchant(
    State(state): State<AppState>,
    _admin: AdminAuth,
    Path(id): Path<String>,
) -> Result<Json<MerchantView>, ApiError> {
    let id: MerchantId = path_id(&id, "merchant")?;
    let merchant = state.engine.admin().disable_merchant(id).await?;
    Ok(Json(MerchantView::new(&merchant)))
}

/// Create an API key for a merchant
///
/// How a merchant gets its first key (test or live); `secret` is in this answer only.
#[utoipa::path(post, path = "/v1/admin/merchants/{id}/api-keys", tag = "platform admin",
    params(("id" = String, Path, description = "Merchant id")),
    request_body(content = Option<AdminCreateApiKeyRequest>),
    responses(
        (status = 201, description = "Created; `secret` is shown this once", body = ApiKeyView),
        (status = 404, description = "No such merchant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("admin" = [])))]
pub async fn admin_create_api_key(
    State(state): State<AppState>,
    _admin: AdminAuth,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<ApiKeyView>), ApiError> {
    let id: MerchantId = path_id(&id, "merchant")?;
    // An empty body is the defaults (a bare POST creates a key).
    let request: AdminCreateApiKeyRequest = if body.iter().all(u8::is_ascii_whitespace) {
        AdminCreateApiKeyRequest::default()
    } else {
        parse_json(&body)?
    };
    check_label(&request.label)?;
    let admin = state.engine.admin();
    admin.get_merchant(id).await?;
    let mode = if request.livemode {
        ApiKeyMode::Live
    } else {
        ApiKeyMode::Test
    };
    let created = admin.create_api_key(id, mode, request.label).await?;
    Ok((
        StatusCode::CREATED,
        Json(api_key_view(&created.record, Some(created.secret))),
    ))
}
