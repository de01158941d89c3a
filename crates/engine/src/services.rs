//! The engine's services: one handle per concern, each borrowing the one engine.
//!
//! `Engine` was one object with some sixty public methods; a reader looking for "what can
//! the link do to the engine" or "what does the money API change" had to read all of them.
//! Now each concern is its own type, and a caller names the concern it uses:
//!
//! | service | who calls it | what it does |
//! |---|---|---|
//! | [`Interactions`] | the native API and the dialects | create, cancel, get, long-poll, events, lookup |
//! | [`Devices`] | the terminal link and the in-process simulator | reports, presence, pairing, device keys |
//! | [`Transactions`] | the API | money after the sale: capture, void, refunds, settlement |
//! | [`Admin`] | the API, the admin CLI | merchants, API keys and access tokens, terminals, pairing codes |
//! | [`Webhooks`] | the API | endpoints, secrets, the delivery log |
//!
//! A service is a borrowed view (`engine.transactions().settle(…)`): it owns nothing, so it costs
//! nothing to obtain and cannot outlive the engine.

use crate::engine::Engine;

macro_rules! service {
    ($(#[$doc:meta])* $name:ident, $accessor:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy)]
        pub struct $name<'e> {
            pub(crate) engine: &'e Engine,
        }

        impl Engine {
            $(#[$doc])*
            pub fn $accessor(&self) -> $name<'_> {
                $name { engine: self }
            }
        }
    };
}

service!(
    /// Interactions as the POS sees them: create, cancel, status, long-poll, events, lookup.
    Interactions,
    interactions
);
service!(
    /// What terminals do to the engine: reports, presence, pairing, device authentication.
    Devices,
    devices
);
service!(
    /// Money after the sale: transactions, capture, void, refunds, settlement.
    Transactions,
    transactions
);
service!(
    /// Merchants, API keys, access tokens, terminals and their pairing codes.
    Admin,
    admin
);
service!(
    /// Webhook endpoints, signing secrets and the delivery log.
    Webhooks,
    webhooks
);
