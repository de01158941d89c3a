//! Device credentials of the terminal link: pairing codes, device keys, revocation.
//!
//! A link terminal is registered by the merchant, which gets a one-time pairing code. The
//! device (or the person installing it) exchanges the code, with the terminal's serial
//! number, for a device key: shown once, stored as SHA-256 only. The device authenticates
//! its link connection with that key. Re-pairing replaces the key; revoking closes the live
//! connection and invalidates the key.

use super::millis;
use crate::auth;
use crate::error::EngineError;
use crate::services::{Admin, Devices};
use poigate_domain::{
    Interaction, MerchantId, Terminal, TerminalConnection, TerminalId, Timestamp,
};
use poigate_store::{CredentialKind, DeviceCredential, StoreError};

/// A pairing code as shown to the merchant (once).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairingCode {
    /// `ABCDE-FGHJK`.
    pub code: String,
    pub expires_at: Timestamp,
}

/// A terminal that just received its device key (shown once).
#[derive(Clone, Debug)]
pub struct PairedDevice {
    pub terminal: Terminal,
    pub device_key: String,
}

fn no_randomness(e: getrandom::Error) -> EngineError {
    EngineError::Randomness(e.to_string())
}

impl Admin<'_> {
    /// Issues a fresh pairing code for a link terminal of `merchant`; an earlier unused code
    /// stops working. In-process terminals have nothing to pair.
    pub async fn issue_pairing_code(
        &self,
        merchant: MerchantId,
        terminal: &Terminal,
    ) -> Result<PairingCode, EngineError> {
        if terminal.merchant_id != merchant {
            return Err(EngineError::NotFound("terminal"));
        }
        if terminal.connection != TerminalConnection::Link {
            return Err(EngineError::NotAllowed(
                "this terminal runs in-process; only link terminals are paired",
            ));
        }
        let code = auth::generate_pairing_code().map_err(no_randomness)?;
        let canonical = auth::normalize_pairing_code(&code).ok_or(EngineError::NotAllowed(
            "generated pairing code is malformed",
        ))?;
        let now = self.engine.now();
        let expires_at = now.plus_millis(millis(self.engine.inner.config.pairing_code_ttl));
        self.engine
            .inner
            .store
            .add_pairing_code(&DeviceCredential {
                secret_hash: auth::hash_secret(&canonical),
                terminal_id: terminal.id,
                kind: CredentialKind::PairingCode,
                created_at: now,
                expires_at: Some(expires_at),
                used_at: None,
                revoked_at: None,
            })
            .await?;
        Ok(PairingCode { code, expires_at })
    }

    /// Revokes a terminal's device key (and any unused pairing code) and closes its live
    /// connection. The terminal stays registered and can be paired again with a new code.
    /// An interaction it was running stays `in_progress`: poigate never invents an outcome.
    pub async fn revoke_terminal(
        &self,
        merchant: MerchantId,
        terminal: &Terminal,
    ) -> Result<u64, EngineError> {
        if terminal.merchant_id != merchant {
            return Err(EngineError::NotFound("terminal"));
        }
        let revoked = self
            .engine
            .inner
            .store
            .revoke_device_credentials(terminal.id, self.engine.now())
            .await?;
        self.engine.close_connection(terminal).await;
        tracing::info!(terminal = %terminal.id, revoked, "terminal credentials revoked");
        Ok(revoked)
    }
}

impl Devices<'_> {
    /// Exchanges a pairing code for a device key. The serial number must be the terminal's:
    /// a code read off the wrong box does not pair it. Any earlier device key of the
    /// terminal stops working and its live connection is closed.
    pub async fn pair_device(
        &self,
        pairing_code: &str,
        serial_number: &str,
    ) -> Result<PairedDevice, EngineError> {
        let canonical =
            auth::normalize_pairing_code(pairing_code).ok_or(EngineError::InvalidPairingCode)?;
        let code_hash = auth::hash_secret(&canonical);
        let now = self.engine.now();
        let code = self
            .engine
            .inner
            .store
            .find_device_credential(&code_hash)
            .await?
            .filter(|c| c.kind == CredentialKind::PairingCode && c.is_usable(now))
            .ok_or(EngineError::InvalidPairingCode)?;
        let terminal = self
            .engine
            .inner
            .store
            .get_terminal(code.terminal_id)
            .await?
            .filter(|t| t.serial_number == serial_number)
            .ok_or(EngineError::InvalidPairingCode)?;
        let device_key = auth::generate_device_key().map_err(no_randomness)?;
        let record = DeviceCredential {
            secret_hash: auth::hash_secret(&device_key),
            terminal_id: terminal.id,
            kind: CredentialKind::DeviceKey,
            created_at: now,
            expires_at: None,
            used_at: None,
            revoked_at: None,
        };
        match self
            .engine
            .inner
            .store
            .redeem_pairing_code(&code_hash, &record)
            .await
        {
            Ok(()) => {}
            Err(StoreError::NotFound(_)) => return Err(EngineError::InvalidPairingCode),
            Err(e) => return Err(e.into()),
        }
        self.engine.ensure_registered(&terminal).await;
        self.engine.close_connection(&terminal).await;
        tracing::info!(terminal = %terminal.id, "terminal paired");
        Ok(PairedDevice {
            terminal,
            device_key,
        })
    }

    /// The link terminal a device key authenticates, or `None` for unknown, revoked or
    /// malformed keys (deliberately indistinguishable).
    pub async fn authenticate_device(&self, key: &str) -> Result<Option<Terminal>, EngineError> {
        if !auth::device_key_well_formed(key) {
            return Ok(None);
        }
        let hash = auth::hash_secret(key);
        let Some(credential) = self
            .engine
            .inner
            .store
            .find_device_credential(&hash)
            .await?
        else {
            return Ok(None);
        };
        if credential.kind != CredentialKind::DeviceKey
            || !auth::hashes_equal(&credential.secret_hash, &hash)
            || !credential.is_usable(self.engine.now())
        {
            return Ok(None);
        }
        let terminal = self
            .engine
            .inner
            .store
            .get_terminal(credential.terminal_id)
            .await?
            .filter(|t| t.connection == TerminalConnection::Link);
        if let Some(t) = &terminal {
            self.engine.ensure_registered(t).await;
        }
        Ok(terminal)
    }

    /// The interaction a terminal holds right now (not final), as last committed. The link
    /// uses it after a reconnect to re-send an unacknowledged start or a pending cancel.
    pub async fn live_interaction_of(&self, terminal: TerminalId) -> Option<Interaction> {
        if self.engine.memory_is_truth() {
            let id = self.engine.inner.registry.active(terminal)?;
            let entry = self.engine.inner.live.get(id)?;
            return Some((*entry.snapshot()).clone());
        }
        // In a cluster the interaction may have been created on another node: the newest
        // interaction of the terminal, when it is not final, is its live one (the database
        // allows one).
        let merchant = self.engine.inner.registry.terminal(terminal)?.merchant_id;
        let filter = poigate_store::InteractionFilter {
            terminal_id: Some(terminal),
            limit: 1,
            ..Default::default()
        };
        match self
            .engine
            .inner
            .store
            .find_interactions(merchant, &filter)
            .await
        {
            Ok(found) => found.into_iter().next().filter(|i| !i.is_final()),
            Err(e) => {
                tracing::warn!(%terminal, error = %e, "live interaction not read; the next connect tries again");
                None
            }
        }
    }
}
