//! Renders poigate's interactions and transactions as Adyen messages: the `PaymentResponse`
//! (for `/sync`, transaction status and event notifications alike), message headers, and the
//! `Reject` event notification Adyen's cloud sends when a terminal cannot be reached.

use super::encode::{Form, major_units, timestamp, tx_date_time};
use super::outcome::{NexoResult, of_outcome};
use super::psp;
use super::receipt::payment_receipts;
use super::request::Qualifier;
use super::wire::*;
use base64::Engine as _;
use poigate_domain::{
    CardBrand, Cvm, EntryMode, Interaction, InteractionType, Money, Outcome, Timestamp,
    Transaction, TransactionStatus,
};

/// Metadata the dialect stores on the interactions it creates, so that whatever renders them
/// later (a status request, a webhook) can answer with the POS's own references.
pub mod meta {
    /// `adyen` on interactions created through this dialect.
    pub const DIALECT: &str = "dialect";
    pub const DIALECT_VALUE: &str = "adyen";
    /// The request's `POIID`.
    pub const POIID: &str = "adyen_poiid";
    /// `SaleData.SaleTransactionID.TimeStamp` (its `TransactionID` is the `reference`).
    pub const SALE_TIMESTAMP: &str = "adyen_sale_timestamp";
}

/// Adyen's reconciliation id for a terminal's current batch (constant on Adyen's test
/// platform, `1000` in every example).
pub const RECONCILIATION_ID: &str = "1000";

/// The header of a response to a request of `category`.
pub fn response_header(
    category: &str,
    sale_id: Option<&str>,
    service_id: Option<&str>,
    poiid: Option<&str>,
) -> MessageHeader {
    MessageHeader {
        protocol_version: Some("3.0".into()),
        message_class: "Service".into(),
        message_category: category.into(),
        message_type: "Response".into(),
        sale_id: sale_id.map(str::to_string),
        service_id: service_id.map(str::to_string),
        poiid: poiid.map(str::to_string),
    }
}

/// The terminal's POIID as the POS addressed it (the dialect records it), else its id.
pub fn poiid_of(interaction: &Interaction) -> String {
    interaction
        .metadata
        .get(meta::POIID)
        .cloned()
        .unwrap_or_else(|| interaction.terminal_id.to_string())
}

/// The header a payment's response was (or would have been) sent with.
pub fn payment_header(interaction: &Interaction) -> MessageHeader {
    response_header(
        "Payment",
        interaction.sale_id.as_deref(),
        interaction.service_id.as_deref(),
        Some(&poiid_of(interaction)),
    )
}

/// `POITransactionID.TransactionID`: Adyen's `<tender reference>.<pspReference>`, the
/// interaction id as the tender reference, followed by `.` and the 16-character
/// `pspReference` once there is a card decision (only the tender reference before).
pub fn poi_transaction_id(interaction: &Interaction) -> String {
    match interaction.transaction_id {
        Some(_) => format!("{}.{}", interaction.id, psp::of_interaction(interaction.id)),
        None => interaction.id.to_string(),
    }
}

fn poi_data(interaction: &Interaction) -> PoiData {
    PoiData {
        poi_transaction_id: TransactionIdentification {
            time_stamp: timestamp(interaction.created_at),
            transaction_id: poi_transaction_id(interaction),
        },
        poi_reconciliation_id: Some(RECONCILIATION_ID.into()),
    }
}

fn sale_data(interaction: &Interaction) -> SaleData {
    SaleData {
        sale_transaction_id: interaction.reference.as_ref().map(|reference| {
            TransactionIdentification {
                time_stamp: interaction
                    .metadata
                    .get(meta::SALE_TIMESTAMP)
                    .cloned()
                    .unwrap_or_else(|| timestamp(interaction.created_at)),
                transaction_id: reference.clone(),
            }
        }),
    }
}

/// Adyen's payment method variant names (`mc`, `visa` …).
fn brand(b: CardBrand) -> &'static str {
    match b {
        CardBrand::Visa => "visa",
        CardBrand::Mastercard => "mc",
        CardBrand::Maestro => "maestro",
        CardBrand::Amex => "amex",
        CardBrand::Discover => "discover",
        CardBrand::Jcb => "jcb",
        CardBrand::Unionpay => "cup",
        CardBrand::Diners => "diners",
        CardBrand::Other => "unknown",
    }
}

/// nexo `EntryMode` and Adyen's `posEntryMode`.
fn entry_mode(m: EntryMode) -> (&'static str, &'static str) {
    match m {
        EntryMode::Chip => ("ICC", "ICC"),
        EntryMode::Contactless => ("Tapped", "CLESS_CHIP"),
        EntryMode::Swipe => ("MagStripe", "MAGSTRIPE"),
    }
}

fn authentication(cvm: Cvm) -> Option<Vec<&'static str>> {
    match cvm {
        Cvm::OnlinePin => Some(vec!["OnlinePIN"]),
        Cvm::OfflinePin => Some(vec!["OfflinePIN"]),
        Cvm::Signature => Some(vec!["PaperSignature"]),
        Cvm::OfflinePinSignature => Some(vec!["OfflinePIN", "PaperSignature"]),
        Cvm::ConsumerDevice | Cvm::None => None,
    }
}

fn payment_type(interaction: &Interaction) -> &'static str {
    match interaction.kind {
        InteractionType::Refund => "Refund",
        _ => "Normal",
    }
}

fn payment_result(interaction: &Interaction, txn: &Transaction) -> PaymentResult {
    let approved = txn.status == TransactionStatus::Approved;
    PaymentResult {
        payment_type: payment_type(interaction),
        payment_instrument_data: txn.card.as_ref().map(|card| PaymentInstrumentData {
            payment_instrument_type: "Card",
            card_data: CardData {
                entry_mode: vec![entry_mode(card.entry_mode()).0],
                masked_pan: match card.bin() {
                    Some(bin) => format!("{bin} **** {}", card.last4()),
                    None => format!("**** {}", card.last4()),
                },
                payment_brand: brand(card.brand()),
            },
        }),
        amounts_resp: AmountsResp {
            authorized_amount: if approved {
                major_units(txn.amount)
            } else {
                serde_json::Number::from(0)
            },
            currency: txn.amount.currency().code(),
            tip_amount: txn
                .tip_amount
                .filter(|_| approved)
                .and_then(|tip| Money::new(tip, txn.amount.currency()).ok())
                .map(major_units),
        },
        online_flag: true,
        payment_acquirer_data: PaymentAcquirerData {
            acquirer_poiid: poiid_of(interaction),
            acquirer_transaction_id: TransactionIdentification {
                time_stamp: timestamp(txn.created_at),
                transaction_id: txn.id.to_string(),
            },
            approval_code: txn.auth_code.clone(),
            merchant_id: txn.merchant_id.to_string(),
        },
        authentication_method: txn
            .emv
            .as_ref()
            .filter(|_| approved)
            .and_then(|e| authentication(e.cvm)),
    }
}

/// `AdditionalResponse` of a card decision: Adyen's keys, masked card data only.
fn decision_details(interaction: &Interaction, txn: &Transaction, mapped: &NexoResult) -> String {
    let (txdate, txtime) = tx_date_time(txn.created_at);
    let card = txn.card.as_ref();
    let mut form = Form::new()
        .add(
            "transactionType",
            if interaction.kind == InteractionType::Refund {
                "REFUND"
            } else {
                "GOODS_SERVICES"
            },
        )
        .add("pspReference", psp::of_interaction(interaction.id))
        .add_opt("merchantReference", interaction.reference.as_deref())
        // A pre-authorisation says so, as the request asked (`authorisationType=PreAuth`):
        // authorised, not captured; `transactionType` stays the nexo purchase it is.
        .add_opt(
            "authorisationType",
            (interaction.kind == InteractionType::Auth).then_some("PreAuth"),
        );
    form = match txn.status {
        TransactionStatus::Approved => form.add_opt("authCode", txn.auth_code.as_deref()),
        TransactionStatus::Declined => form
            .add_opt("refusalReason", mapped.refusal_reason)
            .add_opt("message", mapped.message),
    };
    form.add_opt("paymentMethod", card.map(|c| brand(c.brand())))
        .add_opt("cardBin", card.and_then(|c| c.bin()))
        .add_opt("cardSummary", card.map(|c| c.last4()))
        .add_opt("posEntryMode", card.map(|c| entry_mode(c.entry_mode()).1))
        .add_opt("AID", txn.emv.as_ref().map(|e| e.application_id.as_str()))
        .add_opt(
            "applicationPreferredName",
            txn.emv.as_ref().map(|e| {
                e.application_preferred_name
                    .clone()
                    .unwrap_or_else(|| e.application_label.clone())
            }),
        )
        .add("posAuthAmountCurrency", txn.amount.currency().code())
        .add(
            "posAuthAmountValue",
            if txn.status == TransactionStatus::Approved {
                txn.amount.value().to_string()
            } else {
                "0".to_string()
            },
        )
        .add("posOriginalAmountValue", txn.amount.value().to_string())
        .add("iso8601TxDate", txn.created_at.to_rfc3339())
        .add("txdate", txdate)
        .add("txtime", txtime)
        .add("offline", "false")
        .encode()
}

/// The `PaymentResponse` of a final interaction. `receipts` lists the copies to include.
pub fn payment_response(
    interaction: &Interaction,
    transaction: Option<&Transaction>,
    receipts: &[Qualifier],
) -> PaymentResponse {
    let mapped = interaction
        .outcome
        .as_ref()
        .map(of_outcome)
        .unwrap_or(NexoResult {
            result: "Failure",
            error_condition: Some("InProgress"),
            refusal_reason: None,
            message: Some("Uncompleted transaction"),
        });
    let additional = match (transaction, &interaction.outcome) {
        (Some(txn), Some(Outcome::Approved { .. } | Outcome::Declined { .. })) => {
            decision_details(interaction, txn, &mapped)
        }
        _ => Form::new()
            .add_opt("refusalReason", mapped.refusal_reason)
            .add_opt("message", mapped.message)
            .add_opt("merchantReference", interaction.reference.as_deref())
            .encode(),
    };
    let receipts = transaction
        .map(|t| payment_receipts(&t.receipts, receipts))
        .filter(|r| !r.is_empty());
    PaymentResponse {
        poi_data: Some(poi_data(interaction)),
        sale_data: sale_data(interaction),
        payment_receipt: receipts,
        payment_result: transaction.map(|t| payment_result(interaction, t)),
        response: Response {
            result: mapped.result,
            error_condition: mapped.error_condition,
            additional_response: Some(additional).filter(|a| !a.is_empty()),
        },
    }
}

/// A whole `/sync`-style answer for a final payment.
pub fn payment_message(
    interaction: &Interaction,
    transaction: Option<&Transaction>,
    receipts: &[Qualifier],
) -> ResponseEnvelope {
    let mut message = SaleToPoiResponse::new(payment_header(interaction));
    message.payment = Some(payment_response(interaction, transaction, receipts));
    message.into_envelope()
}

/// The references a `Reject` echoes.
#[derive(Debug, Clone, Default)]
pub struct Echoed<'a> {
    pub sale_id: Option<&'a str>,
    pub service_id: Option<&'a str>,
    pub poiid: Option<&'a str>,
}

/// Adyen's `EventNotification` `Reject`: what the cloud answers when the terminal did not
/// take the request (unknown, offline, or silent). `rejected` is the request as sent.
pub fn reject(
    echo: &Echoed<'_>,
    message: &str,
    rejected: Option<&[u8]>,
    now: Timestamp,
) -> EventEnvelope {
    EventEnvelope {
        request: EventMessage {
            event: EventNotification {
                event_to_notify: "Reject",
                event_details: Some(Form::new().add("message", message).encode_plus()),
                rejected_message: rejected
                    .map(|bytes| base64::engine::general_purpose::STANDARD.encode(bytes)),
                time_stamp: now.to_rfc3339(),
            },
            header: event_header(echo),
        },
    }
}

/// The header of a notification the POI sends on its own.
pub fn event_header(echo: &Echoed<'_>) -> MessageHeader {
    MessageHeader {
        protocol_version: Some("3.0".into()),
        message_class: "Event".into(),
        message_category: "Event".into(),
        message_type: "Notification".into(),
        sale_id: echo.sale_id.map(str::to_string),
        service_id: echo.service_id.map(str::to_string),
        poiid: echo.poiid.map(str::to_string),
    }
}

/// Adyen's words when a terminal never answered.
pub const NO_RESPONSE_FROM_POI: &str = "Did not receive a response from the POI.";
