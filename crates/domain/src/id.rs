//! Prefixed, time-ordered identifiers: `mch_…`, `tml_…`, `int_…`, `txn_…`, `key_…`.
//!
//! Each id is a UUIDv7 (48-bit millisecond timestamp + random bits) rendered as the prefix
//! followed by 32 lowercase hex digits. The prefix makes a misplaced id obvious in logs and
//! error messages; the time order keeps B-tree inserts append-mostly and makes ids sort by
//! creation. Dialects that need a bare UUID (Cybersource `interactionId`, NMI
//! `asyncStatusGuid`) render [`uuid()`](InteractionId::uuid) in its hyphenated form.

use crate::time::Timestamp;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// Why a string is not an id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdParseError {
    #[error("expected an id starting with `{expected}`")]
    WrongPrefix { expected: &'static str },
    #[error("malformed id")]
    Malformed,
}

macro_rules! prefixed_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// The text every id of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            /// A fresh time-ordered id for an object created at `now`.
            ///
            /// The random part comes from the `uuid` crate's generator; the time part from
            /// the caller, so an injected clock orders ids too.
            pub fn generate(now: Timestamp) -> Self {
                let ms = u64::try_from(now.as_millis()).unwrap_or(0);
                let ts = uuid::Timestamp::from_unix(
                    uuid::NoContext,
                    ms / 1000,
                    u32::try_from((ms % 1000) * 1_000_000).unwrap_or(0),
                );
                $name(Uuid::new_v7(ts))
            }

            /// The smallest id of an object created at `at` (to the millisecond): ids
            /// sort by creation time, so "created at or after `at`" is "id ≥ this" and
            /// "created before `at`" is "id < this".
            pub fn first_at(at: Timestamp) -> Self {
                let ms = u128::from(u64::try_from(at.as_millis()).unwrap_or(0));
                $name(Uuid::from_u128(ms << 80))
            }

            pub const fn from_uuid(uuid: Uuid) -> Self {
                $name(uuid)
            }

            pub const fn uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{}", $prefix, self.0.simple())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let rest = s
                    .strip_prefix($prefix)
                    .ok_or(IdParseError::WrongPrefix { expected: $prefix })?;
                if rest.len() != 32 || !rest.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(IdParseError::Malformed);
                }
                Uuid::try_parse(rest)
                    .map($name)
                    .map_err(|_| IdParseError::Malformed)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                use utoipa::openapi::schema::{ObjectBuilder, Type};
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(concat!("^", $prefix, "[0-9a-f]{32}$")))
                    .examples([concat!($prefix, "0192f6a1b2c37d4e8f90a1b2c3d4e5f6")])
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}
    };
}

prefixed_id!(
    /// A merchant (tenant).
    MerchantId,
    "mch_"
);
prefixed_id!(
    /// A terminal (POI device), simulated or real.
    TerminalId,
    "tml_"
);
prefixed_id!(
    /// One request sent to a terminal (sale, auth, refund, validate).
    InteractionId,
    "int_"
);
prefixed_id!(
    /// The financial record an interaction with a card result creates.
    TransactionId,
    "txn_"
);
prefixed_id!(
    /// An API key record (never the secret itself).
    ApiKeyId,
    "key_"
);
prefixed_id!(
    /// A webhook endpoint of a merchant.
    WebhookEndpointId,
    "we_"
);
prefixed_id!(
    /// A webhook message (one event occurrence); its text is the `webhook-id` header.
    MessageId,
    "msg_"
);
prefixed_id!(
    /// The delivery of one message to one target.
    DeliveryId,
    "whd_"
);
prefixed_id!(
    /// A follow-up operation on a transaction: capture, void or referenced refund.
    OperationId,
    "op_"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text() {
        let id = InteractionId::generate(Timestamp::from_millis(1_700_000_000_000));
        let text = id.to_string();
        assert!(text.starts_with("int_"));
        assert_eq!(text.len(), 4 + 32);
        assert_eq!(text.parse::<InteractionId>(), Ok(id));
    }

    #[test]
    fn rejects_other_prefixes_and_garbage() {
        let id = TerminalId::generate(Timestamp::from_millis(1));
        let as_text = id.to_string();
        assert_eq!(
            as_text.parse::<InteractionId>(),
            Err(IdParseError::WrongPrefix { expected: "int_" })
        );
        assert_eq!(
            "int_xyz".parse::<InteractionId>(),
            Err(IdParseError::Malformed)
        );
        assert_eq!(
            "int_0192f6a1-b2c3-7d4e-8f90-a1b2c3d4e5f6".parse::<InteractionId>(),
            Err(IdParseError::Malformed)
        );
    }

    #[test]
    fn ids_are_time_ordered() {
        let a = InteractionId::generate(Timestamp::from_millis(1_000));
        let b = InteractionId::generate(Timestamp::from_millis(2_000));
        assert!(a < b);
        assert!(a.to_string() < b.to_string());
    }
}
