//! NMI's numeric `transaction.id` for a poigate transaction.
//!
//! NMI transaction ids are integers (`4869813602`), while poigate's are UUIDv7s. Each
//! interaction has at most one transaction, so the alias is derived from the interaction
//! id: its 48-bit millisecond timestamp (counted from 2020-01-01) shifted left by 12 bits,
//! plus the UUID's 12 random `rand_a` bits. That is stable, at most 53 bits until the year
//! 2089 (exact in JavaScript), and reversible without storing anything: the timestamp and
//! the random bits locate the interaction in the merchant's time-ordered list.

use poigate_domain::{Interaction, InteractionId, Operation, OperationId, OperationKind};
use poigate_engine::{Caller, Engine, EngineError, InteractionFilter};
use uuid::Uuid;

/// 2020-01-01T00:00:00Z in milliseconds since the epoch.
const EPOCH_MS: u64 = 1_577_836_800_000;
const RAND_BITS: u32 = 12;

fn millis_of(uuid: Uuid) -> u64 {
    let b = uuid.as_bytes();
    b[..6]
        .iter()
        .fold(0, |acc, byte| (acc << 8) | u64::from(*byte))
}

fn rand_a_of(uuid: Uuid) -> u64 {
    let b = uuid.as_bytes();
    (u64::from(b[6] & 0x0f) << 8) | u64::from(b[7])
}

/// The numeric id NMI shows for the transaction of interaction `id`.
pub(super) fn transaction_alias(id: InteractionId) -> u64 {
    uuid_alias(id.uuid())
}

/// The same derivation for any UUIDv7 (a referenced refund's operation id: NMI gives a
/// refund a transaction id of its own).
pub(super) fn uuid_alias(uuid: Uuid) -> u64 {
    (millis_of(uuid).saturating_sub(EPOCH_MS) << RAND_BITS) | rand_a_of(uuid)
}

/// The interaction whose transaction has the numeric id `alias`, for the caller's merchant.
pub(super) async fn resolve(
    engine: &Engine,
    caller: &Caller,
    alias: u64,
) -> Result<Option<Interaction>, EngineError> {
    let millis = (alias >> RAND_BITS).saturating_add(EPOCH_MS);
    let rand_a = alias & ((1 << RAND_BITS) - 1);
    // The largest UUIDv7 with this timestamp and these random bits: everything the alias
    // can name sorts just below it, newest first.
    let mut bytes = [0xff_u8; 16];
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    bytes[6] = 0x70 | u8::try_from(rand_a >> 8).unwrap_or(0x0f);
    bytes[7] = u8::try_from(rand_a & 0xff).unwrap_or(0xff);
    bytes[8] = 0xbf;
    let filter = InteractionFilter {
        before: Some(InteractionId::from_uuid(Uuid::from_bytes(bytes))),
        limit: 4,
        ..InteractionFilter::default()
    };
    let found = engine.interactions().find(caller, &filter).await?;
    Ok(found
        .into_iter()
        .find(|i| transaction_alias(i.id) == alias && millis_of(i.id.uuid()) == millis))
}

/// The smallest and largest UUIDv7 an alias can name: its millisecond and its `rand_a`.
fn alias_range(alias: u64) -> (Uuid, Uuid) {
    let millis = (alias >> RAND_BITS).saturating_add(EPOCH_MS);
    let rand_a = alias & ((1 << RAND_BITS) - 1);
    let bound = |fill: u8, variant: u8| {
        let mut bytes = [fill; 16];
        bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
        bytes[6] = 0x70 | u8::try_from(rand_a >> 8).unwrap_or(0x0f);
        bytes[7] = u8::try_from(rand_a & 0xff).unwrap_or(0xff);
        bytes[8] = variant;
        Uuid::from_bytes(bytes)
    };
    (bound(0x00, 0x80), bound(0xff, 0xbf))
}

/// The referenced refund whose NMI `transactionid` is `alias` (NMI gives a refund a
/// transaction id of its own, [`uuid_alias`] of the operation id), for the caller's
/// merchant.
pub(super) async fn resolve_refund(
    engine: &Engine,
    caller: &Caller,
    alias: u64,
) -> Result<Option<Operation>, EngineError> {
    let (from, to) = alias_range(alias);
    let found = engine
        .transactions()
        .operations_between(
            caller,
            OperationId::from_uuid(from),
            OperationId::from_uuid(to),
        )
        .await?;
    Ok(found
        .into_iter()
        .find(|op| op.kind == OperationKind::Refund && uuid_alias(op.id.uuid()) == alias))
}

#[cfg(test)]
mod tests {
    use super::*;
    use poigate_domain::Timestamp;

    #[test]
    fn alias_is_time_and_random_bits_and_fits_javascript() {
        let id = InteractionId::generate(Timestamp::from_millis(1_716_901_890_939));
        let alias = transaction_alias(id);
        assert_eq!(alias >> RAND_BITS, 1_716_901_890_939 - EPOCH_MS);
        assert_eq!(alias & 0xfff, rand_a_of(id.uuid()));
        let in_2089 = InteractionId::generate(Timestamp::from_millis(3_776_000_000_000));
        assert!(transaction_alias(in_2089) < (1 << 53));
        let (from, to) = alias_range(alias);
        assert!(from <= id.uuid() && id.uuid() <= to);
        assert_eq!((uuid_alias(from), uuid_alias(to)), (alias, alias));
    }
}
