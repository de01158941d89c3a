//! # poigate-domain
//!
//! The pure heart of poigate: identifiers, money, the interaction state machine, events,
//! masked card data, EMV metadata, transactions and receipts.
//!
//! **Owns:** every rule that can be decided from values alone — what a valid amount is, which
//! transition an interaction may take, what a receipt says, what counts as card data that must
//! never be stored.
//!
//! **Must not know about:** I/O of any kind (databases, sockets, files, the system clock),
//! HTTP, JSON wire formats of the dialects, async runtimes. Time comes in as a [`Timestamp`]
//! argument, so every function here is deterministic and property-testable.

pub mod card;
pub mod card_data;
pub mod currency;
pub mod event;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod id;
pub mod interaction;
pub mod machine;
pub mod merchant;
pub mod money;
pub mod operations;
pub mod receipt;
pub mod terminal;
pub mod time;
pub mod transaction;
pub mod validation;
pub mod webhook;

pub use card::{CardBrand, Cvm, EmvData, EntryMode, MaskedCard};
pub use currency::Currency;
pub use event::{Event, EventKind};
pub use id::{
    ApiKeyId, DeliveryId, IdParseError, InteractionId, MerchantId, MessageId, OperationId,
    TerminalId, TransactionId, WebhookEndpointId,
};
pub use interaction::{
    CallbackSubscription, CancelReason, DeclineReason, FailureReason, Interaction, InteractionType,
    NewInteraction, Outcome, Status, TerminalOutcome, TipError,
};
pub use machine::{DomainError, Effect, Input, Transition, apply};
pub use merchant::{ApiKeyMode, Merchant};
pub use money::{Money, MoneyError};
pub use operations::{
    MoneyRuleError, Operation, OperationKind, OperationStatus, TransactionEvent,
    TransactionEventKind,
};
pub use receipt::{Receipt, ReceiptContext, ReceiptCopy, ReceiptLine, Receipts};
pub use terminal::{Terminal, TerminalConnection, TerminalKind, TerminalStatus};
pub use time::Timestamp;
pub use transaction::{Condition, Transaction, TransactionKind, TransactionStatus};
pub use validation::{FieldError, ValidationErrors};
pub use webhook::{
    AttemptResult, EndpointKind, NextStep, OutboxMessage, RetryPolicy, SigningSecret,
    WebhookEndpoint, WebhookEventType, WebhookSubject,
};
