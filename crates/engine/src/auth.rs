//! API key secrets: generation, hashing, and the constant-time check.
//!
//! A secret is `pg_test_` or `pg_live_` followed by 48 hex digits (192 random bits from the
//! OS). Only its SHA-256 is stored. Lookup is by hash (an index hit leaks nothing useful:
//! finding a hash does not help find a preimage), and the hash found is compared again in
//! constant time. Unknown and revoked keys get the same answer.

use poigate_domain::ApiKeyMode;
use sha2::{Digest, Sha256};

pub fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A fresh random secret for `mode`.
pub fn generate_secret(mode: ApiKeyMode) -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes)?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{}{hex}", mode.secret_prefix()))
}

/// Whether `secret` has the shape of a poigate key (cheap rejection before any lookup).
pub fn well_formed(secret: &str) -> bool {
    ApiKeyMode::of_secret(secret).is_some() && secret.len() <= 128 && secret.is_ascii()
}

/// Constant-time equality of two hashes.
pub fn hashes_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_prefixed_and_long() {
        let a = generate_secret(ApiKeyMode::Test).expect("random");
        let b = generate_secret(ApiKeyMode::Test).expect("random");
        assert!(a.starts_with("pg_test_"));
        assert_eq!(a.len(), 8 + 48);
        assert_ne!(a, b);
        assert!(well_formed(&a));
        assert!(!well_formed("Bearer nonsense"));
    }

    #[test]
    fn constant_time_compare_is_correct() {
        let h = hash_secret("pg_test_x");
        assert!(hashes_equal(&h, &hash_secret("pg_test_x")));
        assert!(!hashes_equal(&h, &hash_secret("pg_test_y")));
    }
}
