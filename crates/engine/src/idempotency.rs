//! Request fingerprints and the in-flight guard of idempotent creates.
//!
//! The fingerprint is SHA-256 over a canonical rendering of the *parsed* request, so two
//! bodies that differ only in whitespace or key order are the same request, while any
//! difference in meaning (another amount, another terminal) is a different one.
//!
//! The in-flight guard answers a retry that arrives while the first request is still being
//! created with 409 instead of letting it race: the database's unique index would catch the
//! race too, but the client deserves a clear "still in progress" rather than a replay of a
//! response that is not durable yet.

use poigate_domain::{MerchantId, NewInteraction};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// Checks an `Idempotency-Key`: 1 to 255 printable ASCII characters without spaces, and no
/// card data (a key holding track data is refused, not hashed and forgotten: the client is
/// sending card data and must hear so). Only the key's SHA-256 is stored.
pub fn check_key(errors: &mut poigate_domain::ValidationErrors, key: Option<&str>) {
    let Some(key) = key else {
        return;
    };
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        errors.add(
            "Idempotency-Key",
            "invalid_idempotency_key",
            "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces",
        );
    } else {
        poigate_domain::card_data::check_value(errors, "Idempotency-Key", key);
    }
}

/// SHA-256 of the canonical form of a create request.
pub fn fingerprint(new: &NewInteraction) -> [u8; 32] {
    let mut canonical = serde_json::json!({
        "terminal": new.terminal_id.to_string(),
        "type": new.kind.as_str(),
        "amount": { "value": new.amount.value(), "currency": new.amount.currency().code() },
        "reference": new.reference,
        "sale_id": new.sale_id,
        "service_id": new.service_id,
        "timeout_seconds": new.timeout_seconds,
        "metadata": new.metadata,
        "webhooks": new.webhooks,
    });
    // Only when asked, so fingerprints stored before tipping existed still match.
    if new.ask_for_tip {
        canonical["ask_for_tip"] = serde_json::Value::Bool(true);
    }
    let mut hasher = Sha256::new();
    hasher.update(canonical.to_string().as_bytes());
    hasher.finalize().into()
}

/// Keys of creates that are running right now.
#[derive(Default, Clone)]
pub struct InFlight {
    keys: Arc<Mutex<HashSet<(MerchantId, String)>>>,
}

/// Holds keys while a create runs; releases them when dropped.
pub struct InFlightGuard {
    owner: InFlight,
    merchant: MerchantId,
    keys: Vec<String>,
}

impl InFlight {
    /// Claims all `keys` or none: `None` when any of them is in flight already.
    pub fn claim(&self, merchant: MerchantId, keys: Vec<String>) -> Option<InFlightGuard> {
        let mut set = match self.keys.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if keys.iter().any(|k| set.contains(&(merchant, k.clone()))) {
            return None;
        }
        for k in &keys {
            set.insert((merchant, k.clone()));
        }
        Some(InFlightGuard {
            owner: self.clone(),
            merchant,
            keys,
        })
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let mut set = match self.owner.keys.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        for k in self.keys.drain(..) {
            set.remove(&(self.merchant, k));
        }
    }
}
