//! NMI's `async_status_guid` / `platformId`: the UUID of poigate's interaction, hyphenated.
//!
//! A request refused because the POI device is busy has no interaction of its own, yet NMI
//! answers it with a guid that polls as `poiDeviceInUse`. poigate derives that guid from
//! the interaction holding the device: the same UUID with its version nibble set to 8
//! instead of 7 (RFC 9562 "custom" UUIDs). Nothing is stored; polling it checks that the
//! blocking interaction exists for the caller's merchant, so an invented guid is still
//! `404`.

use poigate_domain::InteractionId;
use uuid::Uuid;

/// What a guid names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Guid {
    /// An interaction started by `transact.php`.
    Interaction(InteractionId),
    /// A request refused while `blocking` held the device.
    DeviceInUse { blocking: InteractionId },
}

const VERSION_BYTE: usize = 6;

fn with_version(uuid: Uuid, version: u8) -> Uuid {
    let mut bytes = *uuid.as_bytes();
    bytes[VERSION_BYTE] = (bytes[VERSION_BYTE] & 0x0f) | (version << 4);
    Uuid::from_bytes(bytes)
}

impl Guid {
    /// The text NMI shows: a hyphenated lowercase UUID.
    pub(super) fn render(self) -> String {
        let uuid = match self {
            Guid::Interaction(id) => id.uuid(),
            Guid::DeviceInUse { blocking } => with_version(blocking.uuid(), 8),
        };
        uuid.hyphenated().to_string()
    }

    /// Parses a guid from a path; `None` for anything that cannot be one of ours.
    pub(super) fn parse(text: &str) -> Option<Guid> {
        let uuid = Uuid::try_parse(text.trim()).ok()?;
        match uuid.get_version_num() {
            7 => Some(Guid::Interaction(InteractionId::from_uuid(uuid))),
            8 => Some(Guid::DeviceInUse {
                blocking: InteractionId::from_uuid(with_version(uuid, 7)),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poigate_domain::Timestamp;

    #[test]
    fn round_trips_both_kinds() {
        let id = InteractionId::generate(Timestamp::from_millis(1_716_901_890_939));
        let g = Guid::Interaction(id);
        assert_eq!(g.render(), id.uuid().hyphenated().to_string());
        assert_eq!(Guid::parse(&g.render()), Some(g));
        let busy = Guid::DeviceInUse { blocking: id };
        assert_ne!(busy.render(), g.render());
        assert_eq!(busy.render().len(), 36);
        assert_eq!(Guid::parse(&busy.render()), Some(busy));
    }

    #[test]
    fn refuses_what_cannot_be_ours() {
        assert_eq!(Guid::parse("not-a-guid"), None);
        // The seed's example guid is a version-4 UUID: not poigate's.
        assert_eq!(Guid::parse("70a6272c-4949-4515-956a-6e5ae4d5a10c"), None);
    }
}
