//! Request bodies and query parameters.

use poigate_domain::{CallbackSubscription, InteractionType};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// An amount as the native API takes it: integer minor units and a currency code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AmountInput {
    /// Minor units (1250 = 12.50 EUR). Zero only for `validate`.
    #[schema(example = 1250)]
    pub value: i64,
    /// ISO 4217 code.
    #[schema(example = "EUR")]
    pub currency: String,
}

/// `POST /v1/interactions`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInteractionRequest {
    /// Terminal id (`tml_…`), POIID (`V400m-324688179`) or serial number.
    #[schema(example = "V400m-324688179")]
    pub terminal: String,
    #[serde(rename = "type")]
    pub kind: InteractionType,
    pub amount: AmountInput,
    /// Free text (1 to 255 characters), e.g. the POS order number; searchable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The POS (cash register) id, nexo SaleID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sale_id: Option<String>,
    /// The POS's id for this request, nexo ServiceID; with `sale_id` a natural idempotency
    /// key kept 48 hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    /// Card-interaction timeout enforced by the terminal, 10 to 600 (default 120).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u32>,
    /// Up to 20 string pairs stored with the interaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
    /// Per-interaction webhook subscriptions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<Vec<CallbackSubscription>>,
    /// `on_terminal`: the terminal asks the cardholder for a tip before the card (a `sale`
    /// or an `auth` only). The outcome and the transaction then carry `tip_amount`, and the
    /// transaction's `amount` is the total (amount plus tip).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tip: Option<TipRequest>,
}

/// How a tip is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TipRequest {
    /// The cardholder chooses a tip on the terminal.
    OnTerminal,
}

impl CreateInteractionRequest {
    /// A request with only the required fields.
    pub fn new(
        terminal: impl Into<String>,
        kind: InteractionType,
        value: i64,
        currency: impl Into<String>,
    ) -> CreateInteractionRequest {
        CreateInteractionRequest {
            terminal: terminal.into(),
            kind,
            amount: AmountInput {
                value,
                currency: currency.into(),
            },
            reference: None,
            sale_id: None,
            service_id: None,
            timeout_seconds: None,
            metadata: None,
            webhooks: None,
            tip: None,
        }
    }
}

/// `POST /v1/terminals`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTerminalRequest {
    #[schema(example = "324688179")]
    pub serial_number: String,
    #[schema(example = "V400m")]
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `simulated` (default) or `device`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<poigate_domain::TerminalKind>,
    /// `in_process` (the default for `simulated`) or `link` (the default and only choice for
    /// `device`; a simulated terminal on the link is run by `poigate terminal-sim`). A link
    /// terminal's answer carries a one-time `pairing_code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<poigate_domain::TerminalConnection>,
}

/// `POST /v1/terminal-link/pair`: a device exchanges its pairing code for a device key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PairRequest {
    /// The code shown when the terminal was registered (`ABCDE-FGHJK`; case and dashes do
    /// not matter).
    #[schema(example = "7KQ2M-X9D4T")]
    pub pairing_code: String,
    /// The device's own serial number: it must be the registered terminal's.
    #[schema(example = "324688179")]
    pub serial_number: String,
}

/// `GET /v1/interactions/{id}` query.
#[derive(Clone, Debug, Default, Deserialize, Serialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct GetInteractionQuery {
    /// Long-poll: wait up to this many seconds (0 to 60) for the final state, or with
    /// `after_seq` for any event newer than `after_seq`.
    #[param(minimum = 0, maximum = 60)]
    pub wait: Option<u64>,
    pub after_seq: Option<u64>,
}

/// Event list order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    #[default]
    Asc,
    Desc,
}

/// `GET /v1/interactions/{id}/events` query.
#[derive(Clone, Debug, Default, Deserialize, Serialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListEventsQuery {
    /// 1 to 1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// Only events with `seq` greater than this.
    pub after_seq: Option<u64>,
    /// `asc` (default) or `desc` (newest first).
    pub order: Option<Order>,
}

/// `GET /v1/interactions` query: lookup by POS references.
#[derive(Clone, Debug, Default, Deserialize, Serialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListInteractionsQuery {
    pub sale_id: Option<String>,
    pub service_id: Option<String>,
    pub reference: Option<String>,
    /// Terminal id, POIID or serial number.
    pub terminal: Option<String>,
    /// `pending`, `in_progress`, `approved`, `declined`, `cancelled` or `failed`.
    #[param(pattern = "^(pending|in_progress|approved|declined|cancelled|failed)$")]
    pub status: Option<String>,
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only interactions created at or after this time (RFC 3339, e.g.
    /// `2026-11-30T00:00:00Z`).
    pub created_after: Option<String>,
    /// Only interactions created before this time (RFC 3339).
    pub created_before: Option<String>,
}

/// `POST /v1/interactions/{id}/cancel` query.
#[derive(Clone, Debug, Default, Deserialize, Serialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CancelQuery {
    /// Wait up to this many seconds (0 to 60) for the terminal to decide.
    #[param(minimum = 0, maximum = 60)]
    pub wait: Option<u64>,
}

/// `POST /v1/test-helpers/terminals/{id}/present-card`: the test card to present.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresentCardRequest {
    /// `approve` (default), `decline`, `insufficient_funds`, `card_blocked`,
    /// `card_expired`, `invalid_card`, `pin_incorrect`. Amount triggers still win.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// `visa` (default), `mastercard`, `maestro`, `amex`, `discover`, `jcb`, `unionpay`, `diners`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<poigate_domain::CardBrand>,
    /// `chip` (default), `contactless`, `swipe`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_mode: Option<poigate_domain::EntryMode>,
    /// `online_pin` (default), `offline_pin`, `signature`, `offline_pin_signature`,
    /// `consumer_device`, `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvm: Option<poigate_domain::Cvm>,
}
