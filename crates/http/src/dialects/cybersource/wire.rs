//! Cybersource cloud-terminal requests and responses, field for field (camelCase).
//!
//! Requests are `{serialNumber, request: {type, …}}`. Fields poigate does not know are
//! ignored, as Cybersource ignores them (a POS that sends a field of a newer version of the
//! API still works); what is malformed or missing is refused. The one exception is
//! `amountDetails`: an amount field poigate does not implement (`cashbackAmount`,
//! `taxDetails`, …) is money, and money is never silently dropped, so it is refused.

use serde::{Deserialize, Serialize};

/// The envelope of every request to `/v1/cloud/transactions[/async]`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Envelope {
    pub serial_number: Option<String>,
    pub request: Option<serde_json::Value>,
}

/// `request`, by its `type`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type")]
pub(super) enum Request {
    /// A sale on the terminal, or with `capture: false` a pre-authorisation.
    #[serde(rename = "PaymentRequest")]
    Payment(Payment),
    /// A card-present refund not linked to an earlier transaction.
    #[serde(rename = "StandaloneRefundRequest")]
    StandaloneRefund(Payment),
    /// A refund of an earlier transaction, without the card.
    #[serde(rename = "LinkedRefundRequest")]
    LinkedRefund(Referenced),
    /// The capture of a pre-authorisation.
    #[serde(rename = "CaptureRequest")]
    Capture(Referenced),
    /// Raising a pre-authorisation by `amountDetails.amount` (the increment).
    #[serde(rename = "IncrementalAuthorizationRequest")]
    IncrementalAuthorization(Referenced),
    /// On-receipt tipping: `amountDetails.amount` is the tip; the pre-authorisation is
    /// captured with it (an overcapture).
    #[serde(rename = "TipAdjustRequest")]
    TipAdjust(Referenced),
    /// A zero-amount check of the card.
    #[serde(rename = "AccountVerificationRequest")]
    AccountVerification(Verification),
    /// Cancel what runs on the terminal.
    #[serde(rename = "CancelRequest")]
    Cancel(Cancel),
    /// Check Transaction Status.
    #[serde(rename = "TransactionLookupRequest")]
    Lookup(Lookup),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Payment {
    pub merchant_reference_code: Option<String>,
    pub amount_details: Option<AmountDetails>,
    /// `false`: a pre-authorisation, captured later with a `CaptureRequest`. Default `true`.
    pub capture: Option<bool>,
    /// `ON_DEVICE`: the terminal asks the cardholder for a tip; `ON_RECEIPT`, `NONE`, `OFF`:
    /// it does not (an on-receipt tip comes later, with a `TipAdjustRequest`).
    pub ask_for_tip: Option<String>,
    /// Accepted and not used: the terminal reads the card the way it can.
    #[allow(dead_code)]
    pub payment_mode: Option<serde_json::Value>,
}

/// A request about an earlier transaction: linked refund, capture, incremental
/// authorisation, tip adjustment. Without `amountDetails`, the whole amount.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Referenced {
    pub transaction_id: Option<String>,
    pub amount_details: Option<AmountDetails>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Verification {
    pub merchant_reference_code: Option<String>,
    pub amount_details: Option<AmountDetails>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Cancel {}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Lookup {
    pub id_type: Option<String>,
    pub id: Option<String>,
}

/// Amounts are decimal strings in major units (`"1.00"`). Unknown amount fields are
/// refused (see the module documentation).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AmountDetails {
    pub amount: Option<String>,
    pub currency: Option<String>,
}

/// `{ "interactionId": … }`: the answer of the asynchronous endpoint.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Accepted {
    pub interaction_id: String,
}

/// `{type: "ErrorResponse", message, developerDescription}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ErrorResponse {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub message: String,
    pub developer_description: String,
}

/// `GET /v1/cloud/interactions/{interactionId}/events`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Events {
    pub interaction_id: String,
    pub transaction_events: Vec<EventView>,
}

/// One transaction event; `message` and `transactionId` only where the type has them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EventView {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub developer_description: Option<String>,
    pub created_at: String,
}

/// A full transaction answer: `PaymentResponse`, `StandaloneRefundResponse`,
/// `LinkedRefundResponse` (with `message`) or `TransactionLookupResponse` (without).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TransactionResponse {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub transaction_details: TransactionDetails,
    pub processing_details: ProcessingDetails,
    pub linked_operations: Vec<LinkedOperation>,
    /// `ADJUSTED` in a `TipAdjustResponse`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tip_adjust_status: Option<&'static str>,
    pub receipts: ReceiptsView,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TransactionDetails {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_reference_code: Option<String>,
    pub submit_time_utc: String,
    pub captured: bool,
    pub amount_details: AmountView,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AmountView {
    pub currency: String,
    pub amount: String,
    pub captured_amount: String,
    pub refundable_amount: String,
    /// The tip a `TipAdjustRequest` added.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub included_tip_amount: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ProcessingDetails {
    pub status: &'static str,
    pub verification_method: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_mode: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card: Option<CardView>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CardView {
    #[serde(rename = "type")]
    pub kind: String,
    pub masked_pan: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LinkedOperation {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub amount: String,
    pub status: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ReceiptsView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_receipt: Option<ReceiptView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_receipt: Option<ReceiptView>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ReceiptView {
    pub preformatted_receipt: String,
}
