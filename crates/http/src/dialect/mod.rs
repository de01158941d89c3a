//! The shape every provider dialect has, and the registry the native API mounts them from.
//!
//! A **dialect** is a provider's API (Cybersource, NMI, Adyen, CM.com, …) spoken on
//! poigate's engine under a path prefix, so that a POS built for that provider only changes
//! its base URL. It is a translation layer: it parses the provider's requests, calls the
//! [`Engine`](poigate_engine::Engine), and renders the provider's answers and webhooks. No
//! business rule lives in a dialect.
//!
//! Implementing [`Dialect`] is the only thing a dialect needs; registering it in a
//! [`DialectRegistry`] mounts it. It provides exactly:
//!
//! - its [name](Dialect::name), [prefix](Dialect::prefix) and [router](Dialect::router);
//! - where its clients put their credential ([`Dialect::CREDENTIALS`]). Authentication itself
//!   is one shared mechanism, [`authenticate`]: take the credential from the first place the
//!   request has it, ask the engine once (API key or access token alike), and render a refusal
//!   in the dialect's own shape;
//! - its error answer ([`Dialect::Error`], an [`ErrorShape`]): how a refused credential and
//!   how **every** [`EngineError`] look in this provider's API;
//! - optionally, the webhook formats it owns ([`Dialect::webhook_formats`]), how it renders
//!   them and how its receivers acknowledge a delivery.
//!
//! ## Why the error mapping must be exhaustive
//!
//! [`ErrorShape::from_engine`] is written as one `match` over [`EngineError`] with every
//! variant named and **no `_ =>` or binding catch-all** (enforced with
//! `#[deny(clippy::wildcard_enum_match_arm)]` on each mapping). A catch-all decides for
//! errors that do not exist yet: Adyen once turned every unlisted error into a `503`, so a
//! client mistake the engine learned to name could reach the client as a server failure.
//! Without a catch-all, a new `EngineError` variant fails to compile until every dialect (and
//! the native API, [`crate::error::ApiError`]) has decided what it means for its clients. The
//! rule each mapping follows: what the client must fix is a 4xx (or the provider's own
//! in-band refusal); storage being unavailable is the one legitimate `503`, always with
//! `Retry-After`.

mod auth;
mod registry;

pub use auth::{
    CredentialPlace, FormFields, Unauthenticated, authenticate, credential, with_retry_after,
};
pub(crate) use auth::{Refusal, check};
pub use registry::{DialectRegistry, MountedDialect, RegistryError};

use crate::AppState;
use axum::Router;
use axum::response::IntoResponse;
use poigate_domain::OutboxMessage;
use poigate_engine::EngineError;

/// A provider's API on poigate's engine. See the [module documentation](self).
pub trait Dialect: Send + Sync + 'static {
    /// The dialect's error answer: what a refused credential and every engine error become.
    type Error: ErrorShape;

    /// Where clients put their credential, tried in this order (the first place present is
    /// the one used).
    const CREDENTIALS: &'static [CredentialPlace];

    /// A short stable name (`"adyen"`), for logs and the registry.
    fn name(&self) -> &'static str;

    /// The path prefix it is mounted under (`"/adyen"`): a leading `/`, no trailing one.
    fn prefix(&self) -> &'static str;

    /// Its routes, relative to the prefix, with their fallbacks in the dialect's error shape.
    fn router(&self) -> Router<AppState>;

    /// The webhook formats it renders: exact names (`"adyen"`) or families ending in `.`
    /// (`"cm."` owns `cm.0.finalstatus`; see [`poigate_webhooks::render::format_family`]).
    /// None by default.
    fn webhook_formats(&self) -> &'static [&'static str] {
        &[]
    }

    /// The body of `message` in `format` (one it owns).
    fn render_webhook(&self, message: &OutboxMessage, format: &str) -> Result<Vec<u8>, String> {
        let _ = message;
        Err(format!(
            "the {} dialect renders no webhook format `{format}`",
            self.name()
        ))
    }

    /// The `webhook-id` of a delivery of `message` in `format` (one it owns); default: the
    /// message id. Stable across attempts (receivers de-duplicate retries by it); override
    /// when the provider sends one message as several distinct notifications.
    fn webhook_id(&self, message: &OutboxMessage, format: &str) -> String {
        let _ = format;
        message.id.to_string()
    }

    /// Whether a receiver's answer acknowledges a delivery in `format` (default: any 2xx).
    fn webhook_acknowledged(&self, format: &str, status: u16, body: &[u8]) -> bool {
        let _ = (format, body);
        (200..300).contains(&status)
    }
}

/// A dialect's error answer.
pub trait ErrorShape: IntoResponse + Sized + Send + 'static {
    /// The answer for an engine error. Write it as one exhaustive `match` (no catch-all, see
    /// the [module documentation](self)); only `EngineError::Store` and
    /// `EngineError::Randomness` (the server cannot serve right now) may answer `503`, and that
    /// answer carries `Retry-After`.
    fn from_engine(error: EngineError) -> Self;

    /// The answer for a request whose credential is missing or refused, or that the rate
    /// limits refuse ([`Unauthenticated::RateLimited`]: `429` with `Retry-After`, in the
    /// provider's error body).
    fn unauthenticated(why: Unauthenticated) -> Self;
}

/// One engine error of every kind, for the tests of every mapping. The `match` in
/// [`covers`](tests::covers) fails to compile when a variant is added, so the samples are
/// completed along with the mappings.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::error::ApiError;
    use axum::http::{StatusCode, header};
    use poigate_domain::{InteractionId, MoneyRuleError, ValidationErrors};

    pub(crate) fn engine_error_samples() -> Vec<EngineError> {
        let mut invalid = ValidationErrors::new();
        invalid.add("amount", "invalid", "must be positive");
        let samples = vec![
            EngineError::NotFound("interaction"),
            EngineError::TerminalNotFound("nope".into()),
            EngineError::Validation(invalid),
            EngineError::TerminalBusy {
                blocking: InteractionId::from_uuid(uuid::Uuid::now_v7()),
            },
            EngineError::TerminalOffline,
            EngineError::IdempotencyMismatch,
            EngineError::IdempotencyInProgress,
            EngineError::Duplicate("terminal"),
            EngineError::WrongTerminal,
            EngineError::UnknownInteraction,
            EngineError::InvalidReport("bad".into()),
            EngineError::WrongSeq { expected: 2 },
            EngineError::InvalidPairingCode,
            EngineError::NotAllowed("already final"),
            EngineError::LivemodeMismatch,
            EngineError::MoneyRule(MoneyRuleError::NotCapturable),
            EngineError::Transition(poigate_domain::DomainError::AlreadyFinal(
                poigate_domain::Status::Approved,
            )),
            EngineError::Store(poigate_store::StoreError::Unavailable("disk gone".into())),
            EngineError::Randomness("no entropy".into()),
        ];
        samples.iter().for_each(covers);
        samples
    }

    /// Names every variant: adding one to `EngineError` breaks this until a sample is added.
    fn covers(e: &EngineError) {
        match e {
            EngineError::NotFound(_)
            | EngineError::TerminalNotFound(_)
            | EngineError::Validation(_)
            | EngineError::TerminalBusy { .. }
            | EngineError::TerminalOffline
            | EngineError::IdempotencyMismatch
            | EngineError::IdempotencyInProgress
            | EngineError::Duplicate(_)
            | EngineError::WrongTerminal
            | EngineError::UnknownInteraction
            | EngineError::InvalidReport(_)
            | EngineError::WrongSeq { .. }
            | EngineError::InvalidPairingCode
            | EngineError::NotAllowed(_)
            | EngineError::LivemodeMismatch
            | EngineError::Transition(_)
            | EngineError::MoneyRule(_)
            | EngineError::Store(_)
            | EngineError::Randomness(_) => {}
        }
    }

    /// The rule every mapping follows: storage unavailable is a 503 with `Retry-After`,
    /// nothing else is a 5xx.
    pub(crate) fn check_mapping(
        shape: &str,
        map: impl Fn(EngineError) -> axum::response::Response,
    ) {
        for sample in engine_error_samples() {
            // Server-side unavailability (storage, the OS's randomness) is the only 503.
            let is_store = matches!(sample, EngineError::Store(_) | EngineError::Randomness(_));
            let what = sample.to_string();
            let response = map(sample);
            let status = response.status();
            if is_store {
                assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{shape}: {what}");
                assert!(
                    response.headers().contains_key(header::RETRY_AFTER),
                    "{shape}: a 503 without Retry-After"
                );
            } else {
                assert!(
                    !status.is_server_error(),
                    "{shape}: `{what}` answered {status}"
                );
            }
        }
    }

    #[test]
    fn every_dialect_answers_only_storage_failures_with_a_5xx() {
        for dialect in DialectRegistry::standard().dialects() {
            check_mapping(dialect.name(), |e| dialect.engine_error(e));
            for why in [Unauthenticated::Missing, Unauthenticated::Invalid] {
                let status = dialect.unauthenticated(why).status();
                // A 4xx, or the provider's own in-band refusal (NMI's transact.php answers
                // `response=3` with HTTP 200): never a success status the client could
                // mistake, which each dialect's tests check in its body.
                let in_band = dialect.name() == "nmi" && status == StatusCode::OK;
                assert!(
                    (status.is_client_error() || in_band)
                        && status != StatusCode::TOO_MANY_REQUESTS,
                    "{}: {why:?} → {status}",
                    dialect.name()
                );
            }
            let limited = dialect.unauthenticated(Unauthenticated::RateLimited {
                retry_after_seconds: 7,
            });
            assert_eq!(
                limited.status(),
                StatusCode::TOO_MANY_REQUESTS,
                "{}",
                dialect.name()
            );
            assert_eq!(
                limited
                    .headers()
                    .get(header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok()),
                Some("7"),
                "{}",
                dialect.name()
            );
        }
        check_mapping("native", |e| ApiError::from(e).into_response());
    }
}
