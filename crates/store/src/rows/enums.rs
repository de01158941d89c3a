//! Row forms of the domain's plain enums: the stored names are spelled out here, so a
//! renamed or added domain variant fails to compile until its stored name is decided.

use poigate_domain as d;
use serde::{Deserialize, Serialize};

/// A row enum `$row` with one stored name per variant of the domain enum `$domain`, and
/// exhaustive conversions both ways.
macro_rules! unit_row {
    ($(#[$meta:meta])* $row:ident <=> $domain:path { $($variant:ident = $name:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
        pub enum $row {
            $(#[serde(rename = $name)] $variant),+
        }

        impl From<$domain> for $row {
            fn from(value: $domain) -> Self {
                use $domain as D;
                match value {
                    $(D::$variant => $row::$variant),+
                }
            }
        }

        impl From<$row> for $domain {
            fn from(value: $row) -> Self {
                use $domain as D;
                match value {
                    $($row::$variant => D::$variant),+
                }
            }
        }
    };
}

unit_row!(InteractionTypeRow <=> d::InteractionType {
    Sale = "sale", Auth = "auth", Refund = "refund", Validate = "validate",
});
unit_row!(StatusRow <=> d::Status {
    Pending = "pending", InProgress = "in_progress", Approved = "approved",
    Declined = "declined", Cancelled = "cancelled", Failed = "failed",
});
unit_row!(CancelReasonRow <=> d::CancelReason {
    Api = "api", Terminal = "terminal", Timeout = "timeout", NotDelivered = "not_delivered",
});
unit_row!(DeclineReasonRow <=> d::DeclineReason {
    Refused = "refused", InsufficientFunds = "insufficient_funds", CardBlocked = "card_blocked",
    CardExpired = "card_expired", InvalidAmount = "invalid_amount", InvalidCard = "invalid_card",
    PinIncorrect = "pin_incorrect",
});
unit_row!(FailureReasonRow <=> d::FailureReason {
    TerminalError = "terminal_error", CardReadError = "card_read_error",
    ProcessorUnavailable = "processor_unavailable", Unsupported = "unsupported",
});
unit_row!(CardBrandRow <=> d::CardBrand {
    Visa = "visa", Mastercard = "mastercard", Maestro = "maestro", Amex = "amex",
    Discover = "discover", Jcb = "jcb", Unionpay = "unionpay", Diners = "diners", Other = "other",
});
unit_row!(EntryModeRow <=> d::EntryMode {
    Chip = "chip", Contactless = "contactless", Swipe = "swipe",
});
unit_row!(CvmRow <=> d::Cvm {
    OnlinePin = "online_pin", OfflinePin = "offline_pin", Signature = "signature",
    OfflinePinSignature = "offline_pin_signature", ConsumerDevice = "consumer_device", None = "none",
});
unit_row!(TransactionKindRow <=> d::TransactionKind {
    Sale = "sale", Auth = "auth", Refund = "refund", Validate = "validate",
});
unit_row!(TransactionStatusRow <=> d::TransactionStatus {
    Approved = "approved", Declined = "declined",
});
unit_row!(ConditionRow <=> d::Condition {
    Pendingsettlement = "pendingsettlement", Pending = "pending", Complete = "complete",
    Canceled = "canceled", Failed = "failed",
});
unit_row!(ReceiptCopyRow <=> d::ReceiptCopy {
    Customer = "customer", Merchant = "merchant",
});
unit_row!(OperationKindRow <=> d::OperationKind {
    Capture = "capture", Void = "void", Refund = "refund", Increment = "increment",
});
unit_row!(OperationStatusRow <=> d::OperationStatus {
    Pending = "pending", Succeeded = "succeeded", Failed = "failed",
});
unit_row!(WebhookEventTypeRow <=> d::WebhookEventType {
    InteractionUpdated = "interaction.updated", InteractionCompleted = "interaction.completed",
    TransactionUpdated = "transaction.updated",
    TransactionRefundUpdated = "transaction.refund.updated",
    TerminalOnline = "terminal.online", TerminalOffline = "terminal.offline",
});
unit_row!(TerminalKindRow <=> d::TerminalKind {
    Simulated = "simulated", Device = "device",
});
unit_row!(
    /// Rows written before terminals had a connection read as in-process.
    TerminalConnectionRow <=> d::TerminalConnection {
    InProcess = "in_process", Link = "link",
});
unit_row!(TerminalStatusRow <=> d::TerminalStatus {
    Online = "online", Busy = "busy", Offline = "offline",
});
unit_row!(EndpointKindRow <=> d::EndpointKind {
    Endpoint = "endpoint", Callbacks = "callbacks",
});

// Written by hand: the enum comes out of `unit_row!`, which derives no `Default`.
#[allow(clippy::derivable_impls)]
impl Default for TerminalConnectionRow {
    fn default() -> Self {
        TerminalConnectionRow::InProcess
    }
}

impl ConditionRow {
    /// The stored name (also kept in its own column for settlement queries).
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionRow::Pendingsettlement => "pendingsettlement",
            ConditionRow::Pending => "pending",
            ConditionRow::Complete => "complete",
            ConditionRow::Canceled => "canceled",
            ConditionRow::Failed => "failed",
        }
    }
}
