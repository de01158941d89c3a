//! The asyncstatus answer (`GET /api/asyncstatus/{guid}`), built from an interaction and
//! its transaction. Pure: no engine, no HTTP. The mapping is documented in
//! `docs/dialects.md` (section NMI).

use super::alias::transaction_alias;
use super::digits::digits;
use super::guid::Guid;
use poigate_domain::{
    CancelReason, Condition, Cvm, EntryMode, Interaction, InteractionType, Outcome, Status,
    Transaction, TransactionStatus,
};
use serde::Serialize;

/// Metadata keys under which the NMI dialect keeps request fields that only it reads back.
pub(super) const META_VAULT: &str = "nmi.customer_vault";
pub(super) const META_VAULT_ID: &str = "nmi.customer_vault_id";
/// NMI's `ponumber` (the POS's purchase order number), kept for query.php.
pub(super) const META_PONUMBER: &str = "nmi.ponumber";
/// NMI's `orderdescription`, kept for query.php (`order_description`).
pub(super) const META_ORDER_DESCRIPTION: &str = "nmi.orderdescription";

/// The whole asyncstatus body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AsyncStatus {
    pub transaction: TransactionView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorView>,
    pub platform_id: String,
    pub async_status_guid: String,
    pub async_status: &'static str,
}

/// `transaction`: `id` is `null`, `success` false and the rest empty until a card decision
/// exists (in flight, cancelled, failed, device in use), as in NMI's examples.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TransactionView {
    pub id: Option<u64>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    pub success: bool,
    pub condition: &'static str,
    pub auth_code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emv_meta_data: Option<EmvMetaData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_vault_id: Option<String>,
}

impl TransactionView {
    fn none() -> TransactionView {
        TransactionView {
            id: None,
            kind: None,
            success: false,
            condition: "",
            auth_code: String::new(),
            emv_meta_data: None,
            customer_vault_id: None,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EmvMetaData {
    pub customer_verification_method: &'static str,
    pub application_id: String,
    pub application_label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application_preferred_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application_pan_sequence_number: Option<String>,
    pub transaction_status_information: String,
    pub masked_merchant_number: String,
    pub masked_terminal_number: String,
}

/// `error`: NMI's static code 300, a reference and a message.
#[derive(Debug, Serialize)]
pub(super) struct ErrorView {
    pub code: u16,
    pub refid: String,
    pub message: String,
}

/// NMI's name for what the interaction asked for.
pub(super) fn nmi_type(kind: InteractionType) -> &'static str {
    match kind {
        InteractionType::Sale => "sale",
        InteractionType::Auth => "auth",
        InteractionType::Refund => "credit",
        InteractionType::Validate => "validate",
    }
}

/// `asyncStatus` of an interaction (never `poiDeviceInUse`: that is a refused request).
pub(super) fn async_status(interaction: &Interaction) -> &'static str {
    match (&interaction.status, &interaction.outcome) {
        (Status::Pending | Status::InProgress, _) => "inFlight",
        (_, Some(Outcome::Cancelled { reason })) => match reason {
            CancelReason::Terminal => "cancelledAtTerminal",
            CancelReason::Api => "cancelledByApi",
            CancelReason::Timeout => "cancelledByTimeout",
            CancelReason::NotDelivered => "cancelled",
        },
        _ => "interactionComplete",
    }
}

/// NMI's `condition` (poigate keeps conditions in NMI's vocabulary).
pub(super) fn condition(c: Condition) -> &'static str {
    match c {
        Condition::Pendingsettlement => "pendingsettlement",
        Condition::Pending => "pending",
        Condition::Complete => "complete",
        Condition::Canceled => "canceled",
        Condition::Failed => "failed",
    }
}

fn cvm(c: Cvm) -> &'static str {
    match c {
        Cvm::Signature => "signature",
        Cvm::OfflinePin => "offlinePin",
        Cvm::OnlinePin => "onlinePin",
        Cvm::OfflinePinSignature => "offlinePinSignature",
        // NMI's list has no on-device verification; chip reads never carry it.
        Cvm::ConsumerDevice | Cvm::None => "none",
    }
}

/// `emvMetaData`, for chip reads only ("If the transaction was an EMV/Chip Card insert").
fn emv_meta_data(txn: &Transaction, terminal_serial: &str) -> Option<EmvMetaData> {
    let card = txn.card.as_ref()?;
    let emv = txn.emv.as_ref()?;
    if card.entry_mode() != EntryMode::Chip {
        return None;
    }
    let merchant = txn.merchant_id.to_string();
    let tail: String = {
        let chars: Vec<char> = terminal_serial.chars().collect();
        chars[chars.len().saturating_sub(4)..].iter().collect()
    };
    Some(EmvMetaData {
        customer_verification_method: cvm(emv.cvm),
        application_id: emv.application_id.clone(),
        application_label: emv.application_label.clone(),
        application_preferred_name: emv.application_preferred_name.clone(),
        application_pan_sequence_number: emv.pan_sequence_number.clone(),
        transaction_status_information: emv.tsi.clone(),
        masked_merchant_number: format!("xxxxx{}", digits(&[&merchant], 4)),
        masked_terminal_number: format!("xxxx{tail}"),
    })
}

/// `customerVaultId` when the request asked for the Customer Vault: the id the POS chose,
/// or a stable ten-digit id of the merchant and the masked card (the same card gets the
/// same vault id; nothing beyond the masked card poigate keeps anyway is used).
fn customer_vault_id(interaction: &Interaction, txn: &Transaction) -> Option<String> {
    interaction.metadata.get(META_VAULT)?;
    if let Some(id) = interaction.metadata.get(META_VAULT_ID) {
        return Some(id.clone());
    }
    let card = txn.card.as_ref()?;
    let merchant = txn.merchant_id.to_string();
    Some(digits(
        &[
            &merchant,
            card.bin().unwrap_or(""),
            card.last4(),
            card.brand().label(),
        ],
        10,
    ))
}

fn transaction_view(
    interaction: &Interaction,
    txn: Option<&Transaction>,
    terminal_serial: &str,
) -> TransactionView {
    let Some(txn) = txn else {
        return TransactionView::none();
    };
    let approved = txn.status == TransactionStatus::Approved;
    TransactionView {
        id: Some(transaction_alias(interaction.id)),
        kind: Some(nmi_type(interaction.kind)),
        success: approved,
        condition: condition(txn.condition),
        auth_code: if approved {
            txn.auth_code.clone().unwrap_or_default()
        } else {
            String::new()
        },
        emv_meta_data: emv_meta_data(txn, terminal_serial),
        customer_vault_id: customer_vault_id(interaction, txn),
    }
}

/// The `error` object: for a failed interaction (no card decision: terminal error, card
/// read error, processor unreachable), and while a live interaction's terminal is
/// disconnected or overdue ("a transaction takes more time than usual … check the device").
/// Its `refid` is stable per interaction.
fn error_view(interaction: &Interaction) -> Option<ErrorView> {
    let message = match &interaction.outcome {
        Some(Outcome::Failed { message, .. }) => message.clone(),
        None if !interaction.terminal_connected => {
            "The POI device is not connected; check that it is online".to_string()
        }
        None if interaction.overdue => {
            "The POI device has not answered in the expected time; check that it is connected"
                .to_string()
        }
        _ => return None,
    };
    Some(ErrorView {
        code: 300,
        refid: digits(&[&interaction.id.to_string()], 8),
        message,
    })
}

/// The asyncstatus answer for an interaction started through `transact.php`.
pub(super) fn render(
    interaction: &Interaction,
    txn: Option<&Transaction>,
    terminal_serial: &str,
) -> AsyncStatus {
    let guid = Guid::Interaction(interaction.id).render();
    AsyncStatus {
        transaction: transaction_view(interaction, txn, terminal_serial),
        error: error_view(interaction),
        platform_id: guid.clone(),
        async_status_guid: guid,
        async_status: async_status(interaction),
    }
}

/// The asyncstatus answer for a request refused while another one held the device.
pub(super) fn device_in_use(guid: Guid) -> AsyncStatus {
    let text = guid.render();
    AsyncStatus {
        transaction: TransactionView::none(),
        error: None,
        platform_id: text.clone(),
        async_status_guid: text,
        async_status: "poiDeviceInUse",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poigate_domain::{
        Currency, FailureReason, InteractionId, MerchantId, Money, NewInteraction, TerminalId,
        Timestamp,
    };

    fn interaction(status: Status, outcome: Option<Outcome>) -> Interaction {
        let now = Timestamp::from_millis(1_716_901_890_939);
        let new = NewInteraction {
            ask_for_tip: false,
            merchant_id: MerchantId::generate(now),
            terminal_id: TerminalId::generate(now),
            kind: InteractionType::Sale,
            amount: Money::new(100, Currency::from_code("GBP").expect("GBP")).expect("amount"),
            reference: None,
            sale_id: None,
            service_id: None,
            timeout_seconds: None,
            metadata: Default::default(),
            webhooks: Vec::new(),
        };
        let (mut i, _) =
            Interaction::create(new, InteractionId::generate(now), true, now).expect("valid");
        i.status = status;
        i.outcome = outcome;
        i
    }

    #[test]
    fn every_state_maps_to_its_async_status() {
        let cancelled = |reason| Some(Outcome::Cancelled { reason });
        let table = [
            (Status::Pending, None, "inFlight"),
            (Status::InProgress, None, "inFlight"),
            (
                Status::Approved,
                Some(Outcome::Approved {
                    tip_amount: None,
                    auth_code: "A1".into(),
                }),
                "interactionComplete",
            ),
            (
                Status::Declined,
                Some(Outcome::Declined {
                    reason: poigate_domain::DeclineReason::Refused,
                    message: "Refused".into(),
                }),
                "interactionComplete",
            ),
            (
                Status::Failed,
                Some(Outcome::Failed {
                    reason: FailureReason::TerminalError,
                    message: "boom".into(),
                }),
                "interactionComplete",
            ),
            (
                Status::Cancelled,
                cancelled(CancelReason::Terminal),
                "cancelledAtTerminal",
            ),
            (
                Status::Cancelled,
                cancelled(CancelReason::Api),
                "cancelledByApi",
            ),
            (
                Status::Cancelled,
                cancelled(CancelReason::Timeout),
                "cancelledByTimeout",
            ),
            (
                Status::Cancelled,
                cancelled(CancelReason::NotDelivered),
                "cancelled",
            ),
        ];
        for (status, outcome, expected) in table {
            let i = interaction(status, outcome);
            assert_eq!(async_status(&i), expected, "{status:?}");
            let rendered = render(&i, None, "1850000000");
            assert_eq!(rendered.async_status, expected);
            assert_eq!(rendered.platform_id, rendered.async_status_guid);
            assert_eq!(rendered.transaction.id, None);
            assert_eq!(rendered.error.is_some(), status == Status::Failed);
        }
    }

    #[test]
    fn a_disconnected_or_overdue_live_interaction_carries_error_300() {
        let mut i = interaction(Status::InProgress, None);
        i.terminal_connected = false;
        let r = render(&i, None, "");
        assert_eq!(r.async_status, "inFlight");
        assert_eq!(r.error.as_ref().map(|e| e.code), Some(300));
        let mut i = interaction(Status::InProgress, None);
        i.overdue = true;
        assert!(render(&i, None, "").error.is_some());
    }
}
