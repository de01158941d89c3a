//! Wire types of webhook endpoints and the delivery log.

use poigate_domain::{DeliveryId, MessageId, Timestamp, WebhookEndpointId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `POST /v1/webhook-endpoints`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookEndpointRequest {
    #[schema(example = "https://pos.example.com/poigate-webhooks")]
    pub url: String,
    /// Event types to receive; `["*"]` (the default) for all: `interaction.updated`,
    /// `interaction.completed`, `transaction.updated`, `transaction.refund.updated`,
    /// `terminal.online`, `terminal.offline`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Payload format: `native` (default, the envelope below) or a provider dialect's
    /// (`adyen`: Terminal API event notifications).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// `PATCH /v1/webhook-endpoints/{id}`: only the given fields change. Enabling an endpoint
/// the gateway disabled (after a `410 Gone`) clears its `disabled_reason`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookEndpointRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// Secret rotation: the old secret keeps signing beside the new one for the overlap.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecretRequest {
    /// Seconds the previous secret keeps signing (default 86400, at most 7 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap_seconds: Option<u64>,
}

/// A webhook endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WebhookEndpointView {
    #[schema(value_type = String)]
    pub id: WebhookEndpointId,
    /// Always `webhook_endpoint`.
    pub object: String,
    /// `true` for an object of live mode, `false` for test mode: a key sees only objects of
    /// its own mode.
    #[serde(default)]
    pub livemode: bool,
    pub url: String,
    /// `native` or a provider dialect's format.
    pub format: String,
    pub description: Option<String>,
    pub events: Vec<String>,
    pub enabled: bool,
    /// Why the gateway disabled it (e.g. the target answered 410 Gone).
    pub disabled_reason: Option<String>,
    /// The new signing secret (`whsec_…`): only in the answer that created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One signing secret of an endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SecretView {
    pub secret: String,
    pub created_at: Timestamp,
    /// When a rotated-out secret stops signing.
    pub expires_at: Option<Timestamp>,
}

/// What an endpoint's receiver did with a test event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WebhookTestView {
    /// Always `webhook_test`.
    pub object: String,
    /// The endpoint.
    pub endpoint: String,
    /// The `webhook-id` the test event was sent with (`type` is `webhook.test`).
    pub webhook_id: String,
    /// Whether the receiver answered 2xx.
    pub delivered: bool,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Why it was not delivered: a refused target, a timeout, the HTTP status.
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// The secrets that currently sign (newest last).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SecretsView {
    /// Always `webhook_secrets`.
    pub object: String,
    pub secrets: Vec<SecretView>,
}

/// One attempt of a delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AttemptView {
    pub attempt: u32,
    pub started_at: Timestamp,
    /// HTTP status of the answer; `null` when there was none (timeout, refused connection).
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
}

/// The delivery of one message to one target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryView {
    #[schema(value_type = String)]
    pub id: DeliveryId,
    /// Always `webhook_delivery`.
    pub object: String,
    /// The `webhook-id` header: the same on every attempt.
    #[schema(value_type = String)]
    pub webhook_id: MessageId,
    /// The endpoint, or `null` for a per-interaction callback.
    #[schema(value_type = Option<String>)]
    pub endpoint: Option<WebhookEndpointId>,
    pub url: String,
    pub event_type: String,
    /// The object the event is about (interaction, terminal or transaction id).
    pub subject: String,
    /// `pending`, `succeeded` or `failed`.
    pub status: String,
    pub next_attempt_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub attempts: Vec<AttemptView>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// `GET /v1/webhook-deliveries` query.
#[derive(Clone, Debug, Default, Deserialize, Serialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListDeliveriesQuery {
    /// Endpoint id.
    pub endpoint: Option<String>,
    /// Event type, e.g. `interaction.completed`.
    pub event: Option<String>,
    /// `pending`, `succeeded` or `failed`.
    #[param(pattern = "^(pending|succeeded|failed)$")]
    pub status: Option<String>,
    /// Interaction, terminal or transaction id the event is about.
    pub subject: Option<String>,
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// The body of every native webhook, and the `data` of each message of the merchant event
/// stream (`GET /v1/events/stream`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WebhookEvent {
    /// The message id (`msg_…`), also the `webhook-id` header: the same for every attempt.
    pub id: String,
    /// The event type, e.g. `interaction.completed`.
    #[serde(rename = "type")]
    pub event_type: String,
    pub created_at: poigate_domain::Timestamp,
    /// The object as it was when the event happened: an interaction, a terminal, a
    /// transaction, or an operation with its transaction, in the native API's shape.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// One message of the merchant event stream (`GET /v1/events/stream`), as the
/// `text/event-stream` fields: schema checkers and generated clients read it as one object
/// per message. `data` is a [`WebhookEvent`] in JSON (for `ready` and `gap`, a small
/// object saying so).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MerchantEventStreamMessage {
    /// `<epoch>-<n>`, to resume after with `Last-Event-ID` (absent on `gap` and
    /// `reconnect`).
    pub id: Option<String>,
    /// The event type (`interaction.completed` …), or `ready`, `gap`, `reconnect`.
    pub event: String,
    /// The webhook body, a `WebhookEvent` in JSON.
    #[schema(content_media_type = "application/json")]
    pub data: String,
}
