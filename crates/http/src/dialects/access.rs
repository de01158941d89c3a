//! Who is calling a dialect endpoint. Every provider has its own error shape, so this only
//! says *why* a credential was refused; the dialect renders the answer.

use crate::AppState;
use poigate_engine::{Caller, EngineError};

/// Why a request has no caller.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// No credential at all (some providers answer this differently from a bad one).
    Missing,
    /// Unknown, revoked or malformed key; expired or tampered access token
    /// (deliberately indistinguishable).
    Invalid,
    /// Storage did not answer: not the caller's fault.
    Unavailable(EngineError),
}

/// The caller a credential (API key or access token) authenticates.
pub(crate) async fn authenticate(
    state: &AppState,
    credential: Option<&str>,
) -> Result<Caller, Refusal> {
    let secret = match credential.map(str::trim) {
        Some(s) if !s.is_empty() => s,
        _ => return Err(Refusal::Missing),
    };
    match state.engine.admin().authenticate(secret).await {
        Ok(Some(caller)) => Ok(caller),
        Ok(None) => Err(Refusal::Invalid),
        Err(e) => Err(Refusal::Unavailable(e)),
    }
}
