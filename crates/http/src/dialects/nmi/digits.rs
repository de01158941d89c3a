//! Stable decimal strings derived from values poigate already has, for NMI fields that are
//! digits in NMI's world but have no counterpart in poigate (error `refid`, Customer Vault
//! id, the masked merchant number). FNV-1a: tiny, and stable across Rust releases (unlike
//! `std`'s hasher), so an id shown once is the same id forever.

/// 64-bit FNV-1a of `parts`, each followed by a separator.
fn fnv1a(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(0x1f)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// `len` decimal digits (1 to 19) derived from `parts`, the first one never `0`.
pub(super) fn digits(parts: &[&str], len: u32) -> String {
    let len = len.clamp(1, 19);
    let low = 10_u64.pow(len - 1);
    let span = 9 * low;
    (low + fnv1a(parts) % span).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_of_the_requested_length() {
        let a = digits(&["mch_1", "476173", "0010"], 10);
        assert_eq!(a.len(), 10);
        assert!(!a.starts_with('0'));
        assert_eq!(a, digits(&["mch_1", "476173", "0010"], 10));
        assert_ne!(a, digits(&["mch_2", "476173", "0010"], 10));
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(digits(&["ab", "c"], 8), digits(&["a", "bc"], 8));
        // Pinned: the value must never change between releases.
        assert_eq!(digits(&["poigate"], 8), "22389753");
        assert_eq!(fnv1a(&[]), 0xcbf2_9ce4_8422_2325);
    }
}
