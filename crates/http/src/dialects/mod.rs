//! Provider dialects: the same engine behind four providers' APIs, each a
//! [`Dialect`](crate::dialect::Dialect) mounted under its own prefix (through
//! [`DialectRegistry::standard`](crate::dialect::DialectRegistry::standard)) so that an SDK
//! pointed at `http://host:port/<prefix>` finds the provider's paths.
//!
//! A dialect is a translation layer only: parse the provider's request, call the engine,
//! render the provider's response (and its webhook payloads). No business rule lives here.
//! The mapping tables are in `docs/dialects.md`.

pub mod adyen;
pub mod cm;
pub mod cybersource;
pub(crate) mod flow;
pub mod nmi;

/// Where a `Bearer` or `x-api-key` dialect finds its credential (Cybersource, Adyen, CM.com).
pub(crate) const BEARER_OR_API_KEY: &[crate::dialect::CredentialPlace] = &[
    crate::dialect::CredentialPlace::Bearer,
    crate::dialect::CredentialPlace::Header("x-api-key"),
];
