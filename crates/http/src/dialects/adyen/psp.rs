//! Adyen's `pspReference`: 16 characters, derived from poigate's ids and resolvable back
//! without a table of its own.
//!
//! Why this encoding: poigate's ids are UUIDv7 (48-bit millisecond time, then random bits),
//! 122 meaningful bits, more than 16 characters can carry. A `pspReference` keeps the
//! leading 80 of them, skipping the fixed version and variant bits: the time (48 bits) and
//! the first 32 random bits, in Crockford's base 32 (16 × 5 bits; upper case letters and
//! digits, as Adyen's own references). Because ids are time-ordered and the store pages by
//! `id < before ORDER BY id DESC`, the interaction a reference names is the newest of the
//! caller's interactions below the end of its prefix range: one indexed lookup, no new
//! table, no migration, and the same answer on every node. Two interactions of one merchant
//! sharing a reference would need the same millisecond and the same 32 random bits (about
//! one in four billion per pair created in that millisecond); that case is detected and
//! refused rather than guessed (see [`Lookup`]).

use poigate_domain::{Interaction, InteractionId, OperationId};
use poigate_engine::{Caller, Engine, EngineError, InteractionFilter};
use uuid::Uuid;

/// Crockford's base 32 alphabet (no I, L, O, U).
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Bits below the reference's 80 in the UUID's 128, once the 6 fixed bits are counted.
const HIDDEN: u32 = 42;

/// The 80 meaningful leading bits of a UUIDv7: time (48), `rand_a` (12), the first 20 bits
/// of `rand_b` (after the version nibble and the variant bits).
fn leading_bits(uuid: Uuid) -> u128 {
    let v = uuid.as_u128();
    let time = v >> 80; // 48 bits
    let rand_a = (v >> 64) & 0xfff; // 12 bits after the version nibble
    let rand_b_top = (v >> HIDDEN) & 0xf_ffff; // 20 bits after the 2 variant bits
    (time << 32) | (rand_a << 20) | rand_b_top
}

/// The lowest UUIDv7 whose leading bits are `bits`.
fn lowest_with(bits: u128) -> u128 {
    let time = bits >> 32;
    let rand_a = (bits >> 20) & 0xfff;
    let rand_b_top = bits & 0xf_ffff;
    (time << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | (rand_b_top << HIDDEN)
}

fn encode(bits: u128) -> String {
    (0..16)
        .rev()
        .map(|i| char::from(ALPHABET[((bits >> (i * 5)) & 0x1f) as usize]))
        .collect()
}

/// The 80 bits a reference carries; `None` when it is not 16 base-32 characters.
fn decode(reference: &str) -> Option<u128> {
    if reference.len() != 16 {
        return None;
    }
    reference.bytes().try_fold(0u128, |acc, b| {
        let b = b.to_ascii_uppercase();
        // Crockford's reading aids: O is 0, I and L are 1.
        let b = match b {
            b'O' => b'0',
            b'I' | b'L' => b'1',
            other => other,
        };
        let digit = ALPHABET.iter().position(|&c| c == b)?;
        Some((acc << 5) | digit as u128)
    })
}

/// The `pspReference` of a payment (its interaction).
pub fn of_interaction(id: InteractionId) -> String {
    encode(leading_bits(id.uuid()))
}

/// The `pspReference` of a modification (a capture, refund, cancel).
pub fn of_operation(id: OperationId) -> String {
    encode(leading_bits(id.uuid()))
}

/// Where to look for the interaction a reference names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lookup {
    bits: u128,
    /// The first id above the reference's range: the store's exclusive `before` cursor.
    pub before: InteractionId,
}

impl Lookup {
    /// Whether `id` is one the reference names.
    pub fn matches(&self, id: InteractionId) -> bool {
        leading_bits(id.uuid()) == self.bits
    }
}

/// The range of interaction ids a reference names; `None` for text that is not a reference.
pub fn lookup(reference: &str) -> Option<Lookup> {
    let bits = decode(reference)?;
    let end = lowest_with(bits).checked_add(1u128 << HIDDEN)?;
    Some(Lookup {
        bits,
        before: InteractionId::from_uuid(Uuid::from_u128(end)),
    })
}

/// The caller's interaction a `pspReference` names: `None` for text that is not a
/// reference, for no such interaction, and for the (improbable) reference shared by two.
pub async fn resolve(
    engine: &Engine,
    caller: &Caller,
    reference: &str,
) -> Result<Option<Interaction>, EngineError> {
    let Some(range) = lookup(reference) else {
        return Ok(None);
    };
    let filter = InteractionFilter {
        before: Some(range.before),
        limit: 2,
        ..InteractionFilter::default()
    };
    let found: Vec<Interaction> = engine
        .interactions()
        .find(caller, &filter)
        .await?
        .into_iter()
        .filter(|i| range.matches(i.id))
        .collect();
    match found.as_slice() {
        [one] => Ok(Some(one.clone())),
        [] => Ok(None),
        _ => {
            tracing::warn!(reference, "pspReference names two interactions; refused");
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poigate_domain::Timestamp;

    #[test]
    fn sixteen_upper_case_characters_that_name_their_id() {
        for ms in [0i64, 1, 1_700_000_000_000, 4_102_444_800_000] {
            let id = InteractionId::generate(Timestamp::from_millis(ms));
            let psp = of_interaction(id);
            assert_eq!(psp.len(), 16, "{psp}");
            assert!(
                psp.bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()),
                "{psp}"
            );
            let range = lookup(&psp).expect("a reference");
            assert!(range.matches(id));
            assert!(id < range.before, "{id} below {}", range.before);
            assert_eq!(lookup(&psp.to_lowercase()), Some(range));
        }
    }

    #[test]
    fn the_range_holds_exactly_the_ids_with_the_same_leading_bits() {
        let id = InteractionId::generate(Timestamp::from_millis(1_700_000_000_000));
        let range = lookup(&of_interaction(id)).expect("a reference");
        let low = InteractionId::from_uuid(Uuid::from_u128(lowest_with(range.bits)));
        assert!(range.matches(low));
        assert!(low <= id);
        let top = InteractionId::from_uuid(Uuid::from_u128(range.before.uuid().as_u128() - 1));
        assert!(range.matches(top));
        assert!(!range.matches(range.before));
    }

    #[test]
    fn other_text_is_not_a_reference() {
        for bad in [
            "",
            "881617891407973",
            "88161789140797388",
            "ABCDEFGHJKMNPQR!",
            "txn_0192f6a1b2c37",
        ] {
            assert!(lookup(bad).is_none(), "{bad}");
        }
    }
}
