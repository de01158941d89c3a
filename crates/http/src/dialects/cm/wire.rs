//! CM.com's JSON shapes, field for field (camelCase).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Serialize)]
pub struct CmError {
    pub message: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct WebhookSpec {
    pub url: String,
    pub events: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct ReturnUrls {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expired: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

/// `POST …/creditcard/v1/transactions`. Other fields, such as `consumer` and `cardDetails`
/// (an online checkout's card entry), are accepted and ignored: the terminal reads the card.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateTransaction {
    pub reference: String,
    #[serde(default)]
    pub description: Option<String>,
    pub amount: i64,
    pub currency: String,
    #[serde(default)]
    pub expires_at: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub webhooks: Vec<WebhookSpec>,
    #[serde(default)]
    pub return_url: Option<String>,
    #[serde(default)]
    pub return_urls: Option<ReturnUrls>,
    /// poigate extension: the terminal (id, POIID or serial number).
    #[serde(default)]
    pub terminal: Option<String>,
}

#[derive(Serialize)]
pub struct Redirect {
    pub url: String,
}

#[derive(Serialize)]
pub struct Action {
    pub redirect: Redirect,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Refunds {
    pub refunded_amount: i64,
    pub refunded_pending_amount: i64,
}

/// The transaction as `GET …/transactions/{transactionId}` answers it (every seed field).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionView {
    pub id: String,
    pub order_id: String,
    pub reference: String,
    pub amount: i64,
    pub currency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    pub webhooks: Vec<WebhookSpec>,
    pub status: &'static str,
    pub action: Option<Action>,
    pub created_at: String,
    pub refunds: Refunds,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_urls: Option<ReturnUrls>,
}

/// One refund of a transaction (`GET …/transactions/{transactionId}/refunds`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundView {
    pub id: String,
    pub transaction_id: String,
    pub amount: i64,
    pub currency: String,
    /// `PENDING`, `SUCCEEDED` or `FAILED`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub created_at: String,
}

/// A webhook request body.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub created_at: String,
    pub event: String,
    pub transaction: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment: Option<String>,
}

/// Metadata keys under which the CM.com fields poigate has no column for are kept.
pub mod keys {
    pub const DIALECT: &str = "dialect";
    pub const DESCRIPTION: &str = "cm.description";
    pub const EXPIRES_AT: &str = "cm.expires_at";
    pub const LANGUAGE: &str = "cm.language";
    pub const COUNTRY: &str = "cm.country";
    pub const RETURN_URL: &str = "cm.return_url";
    pub const RETURN_SUCCESS: &str = "cm.return_urls.success";
    pub const RETURN_CANCELLED: &str = "cm.return_urls.cancelled";
    pub const RETURN_EXPIRED: &str = "cm.return_urls.expired";
    pub const RETURN_FAILED: &str = "cm.return_urls.failed";
}

pub type Metadata = BTreeMap<String, String>;

/// `POST …/transactions/{transactionId}/refunds` (as CM.com's other payment methods have it).
#[derive(Deserialize, Default)]
pub struct CreateRefund {
    /// Minor units; default: all that is left.
    #[serde(default)]
    pub amount: Option<i64>,
    #[serde(default)]
    pub reason: Option<String>,
}
