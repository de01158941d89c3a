//! Ready-made domain values for tests: this crate's, and other crates' with the `fixtures`
//! feature (a dev-dependency feature; production builds do not compile this module).

use crate::card::{CardBrand, EntryMode, MaskedCard};
use crate::currency::Currency;
use crate::id::{InteractionId, MerchantId, TerminalId, TransactionId};
use crate::interaction::{Interaction, InteractionType, NewInteraction, TerminalOutcome};
use crate::machine::Input;
use crate::money::Money;
use crate::receipt::ReceiptContext;
use crate::time::Timestamp;

/// A new (pending) interaction of `kind` for `value` minor units of `currency`, created at
/// `at` for a fresh merchant and terminal.
pub fn new_interaction(
    kind: InteractionType,
    value: i64,
    currency: &str,
    at: Timestamp,
) -> Interaction {
    let new = NewInteraction {
        ask_for_tip: false,
        merchant_id: MerchantId::generate(at),
        terminal_id: TerminalId::generate(at),
        kind,
        amount: Money::new(value, Currency::from_code(currency).expect("currency")).expect("money"),
        reference: None,
        sale_id: None,
        service_id: None,
        timeout_seconds: None,
        metadata: Default::default(),
        webhooks: vec![],
    };
    Interaction::create(new, InteractionId::generate(at), true, at)
        .expect("valid")
        .0
}

/// A Visa chip card, `476173******0010`.
pub fn visa_chip() -> MaskedCard {
    MaskedCard::new(Some("476173"), "0010", CardBrand::Visa, EntryMode::Chip).expect("card")
}

/// The terminal's report of an approval with [`visa_chip`], as the state machine's input.
pub fn approved_result(at: Timestamp) -> Input {
    Input::TerminalResult {
        outcome: Box::new(TerminalOutcome::Approved {
            tip_amount: None,
            auth_code: "A1B2C3".into(),
            card: visa_chip(),
            emv: None,
        }),
        transaction_id: TransactionId::generate(at),
        receipt_context: ReceiptContext {
            merchant_name: "Fixture Merchant".into(),
            terminal_poiid: "V400m-1".into(),
        },
    }
}
