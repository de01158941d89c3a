//! NMI's `async_status_guid` / `platformId`: the UUID of poigate's interaction, hyphenated.
//!
//! A request refused because the POI device is busy has no interaction of its own, yet NMI
//! answers it with a guid of its own that polls as `poiDeviceInUse`. poigate derives that
//! guid from the interaction holding the device and 32 random bits: the first 12 bytes of
//! the blocking interaction's UUID (its millisecond time and 42 of its random bits) with
//! the version nibble set to 8 (RFC 9562 "custom" UUIDs), then 4 random bytes. Every
//! refusal has its own guid (a client that keys its polls by guid keeps them apart), and
//! nothing is stored: polling it looks for the caller's interaction whose id starts with
//! those 12 bytes, so an invented guid is still `404`.

use poigate_domain::InteractionId;
use uuid::Uuid;

/// What a guid names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Guid {
    /// An interaction started by `transact.php`.
    Interaction(InteractionId),
    /// A request refused while an interaction held the device (the guid itself).
    DeviceInUse(Uuid),
}

const VERSION_BYTE: usize = 6;
/// The bytes of the blocking interaction's id a busy guid keeps.
const KEPT: usize = 12;

fn with_version(uuid: Uuid, version: u8) -> Uuid {
    let mut bytes = *uuid.as_bytes();
    bytes[VERSION_BYTE] = (bytes[VERSION_BYTE] & 0x0f) | (version << 4);
    Uuid::from_bytes(bytes)
}

impl Guid {
    /// A new guid for a request refused while `blocking` held the device.
    pub(super) fn device_in_use(blocking: InteractionId) -> Guid {
        let mut bytes = *blocking.uuid().as_bytes();
        // The random tail of a fresh UUIDv7: 32 bits no other refusal shares.
        bytes[KEPT..].copy_from_slice(&Uuid::now_v7().as_bytes()[KEPT..]);
        Guid::DeviceInUse(with_version(Uuid::from_bytes(bytes), 8))
    }

    /// The text NMI shows: a hyphenated lowercase UUID.
    pub(super) fn render(self) -> String {
        let uuid = match self {
            Guid::Interaction(id) => id.uuid(),
            Guid::DeviceInUse(guid) => guid,
        };
        uuid.hyphenated().to_string()
    }

    /// Parses a guid from a path; `None` for anything that cannot be one of ours.
    pub(super) fn parse(text: &str) -> Option<Guid> {
        let uuid = Uuid::try_parse(text.trim()).ok()?;
        match uuid.get_version_num() {
            7 => Some(Guid::Interaction(InteractionId::from_uuid(uuid))),
            8 => Some(Guid::DeviceInUse(uuid)),
            _ => None,
        }
    }
}

/// The smallest id above every interaction id a busy guid can name (a `before` cursor:
/// the candidate sorts first, newest first).
pub(super) fn blocking_bound(guid: Uuid) -> InteractionId {
    let mut bytes = *with_version(guid, 7).as_bytes();
    bytes[KEPT..].copy_from_slice(&[0xff; 4]);
    let bound = u128::from_be_bytes(bytes).saturating_add(1);
    InteractionId::from_uuid(Uuid::from_u128(bound))
}

/// Whether `id` is the interaction busy guid `guid` was derived from.
pub(super) fn is_blocking(guid: Uuid, id: InteractionId) -> bool {
    with_version(guid, 7).as_bytes()[..KEPT] == id.uuid().as_bytes()[..KEPT]
}

#[cfg(test)]
mod tests {
    use super::*;
    use poigate_domain::Timestamp;

    #[test]
    fn round_trips_and_every_refusal_has_its_own_guid() {
        let id = InteractionId::generate(Timestamp::from_millis(1_716_901_890_939));
        let g = Guid::Interaction(id);
        assert_eq!(g.render(), id.uuid().hyphenated().to_string());
        assert_eq!(Guid::parse(&g.render()), Some(g));
        let busy = Guid::device_in_use(id);
        let again = Guid::device_in_use(id);
        assert_ne!(busy, again, "each refusal its own guid");
        assert_ne!(busy.render(), g.render());
        assert_eq!(busy.render().len(), 36);
        assert_eq!(Guid::parse(&busy.render()), Some(busy));
        let Guid::DeviceInUse(uuid) = busy else {
            panic!("a busy guid");
        };
        assert!(is_blocking(uuid, id));
        assert!(blocking_bound(uuid).uuid() > id.uuid());
        let other = InteractionId::generate(Timestamp::from_millis(1_716_901_890_940));
        assert!(!is_blocking(uuid, other));
    }

    #[test]
    fn refuses_what_cannot_be_ours() {
        assert_eq!(Guid::parse("not-a-guid"), None);
        // The seed's example guid is a version-4 UUID: not poigate's.
        assert_eq!(Guid::parse("70a6272c-4949-4515-956a-6e5ae4d5a10c"), None);
    }
}
