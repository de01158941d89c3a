//! API keys and merchants: the merchant's key endpoints and the platform admin's merchant
//! endpoints (issue 12).

use poigate_domain::{ApiKeyId, MerchantId, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An API key as listed: never its secret (only the SHA-256 is stored).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyView {
    pub id: ApiKeyId,
    /// Always `api_key`.
    pub object: String,
    /// `true` for a live key (`pg_live_…`), `false` for a test key (`pg_test_…`).
    pub livemode: bool,
    /// The first characters of the secret, to recognise the key.
    #[schema(example = "pg_test_3fa8")]
    pub prefix: String,
    pub label: Option<String>,
    pub created_at: Timestamp,
    /// When the key last authenticated a request, to the minute (written at most once a
    /// minute a key).
    pub last_used_at: Option<Timestamp>,
    /// Set once revoked: the key is refused (401) from then on.
    pub revoked_at: Option<Timestamp>,
    /// Only in the answer that created the key: the secret, shown this once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// `POST /v1/api-keys`: a new key of the caller's mode.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// A name to recognise the key by (up to 100 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// `PUT /v1/api-keys/{id}/default-terminal`: the terminal provider dialects use when a
/// documented request names none (CM.com's create body); `null` clears it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetDefaultTerminalRequest {
    /// The terminal's id, POIID or serial number; `null` for none.
    pub terminal: Option<String>,
}

/// An API key's default terminal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DefaultTerminalView {
    /// Always `default_terminal`.
    pub object: String,
    /// The API key.
    #[schema(value_type = String)]
    pub api_key: poigate_domain::ApiKeyId,
    /// The terminal's id, or `null` when the key has none.
    #[schema(value_type = Option<String>)]
    pub terminal: Option<poigate_domain::TerminalId>,
}

/// `POST /v1/admin/merchants/{id}/api-keys`: a key of either mode for a merchant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminCreateApiKeyRequest {
    /// `true` for a live key; `false` (default) for a test key.
    #[serde(default)]
    pub livemode: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// A merchant, as the platform admin sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MerchantView {
    pub id: MerchantId,
    /// Always `merchant`.
    pub object: String,
    pub name: String,
    pub created_at: Timestamp,
    /// Set once disabled: the merchant's keys are refused (401).
    pub disabled_at: Option<Timestamp>,
}

impl MerchantView {
    pub fn new(m: &poigate_domain::Merchant) -> MerchantView {
        MerchantView {
            id: m.id,
            object: "merchant".into(),
            name: m.name.clone(),
            created_at: m.created_at,
            disabled_at: m.disabled_at,
        }
    }
}

/// `POST /v1/admin/merchants`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMerchantRequest {
    /// Up to 100 characters.
    #[schema(example = "Coffee Bar Amsterdam")]
    pub name: String,
}
