//! The beacon contract, in both of its forms.
//!
//! The browser sends JSON (`BEACON.md`); the edge turns it into [`proto::Beacon`] (protobuf, defined in
//! `proto/rum/v1/beacon.proto`) which is what travels on Kafka or the in-process channel. This crate owns
//! that translation: [`BeaconDecoder`] parses with simd-json, enforces the per-beacon [`DecodeLimits`],
//! validates every field and rejects bad events one by one (with a [`DecodeReason`]) while keeping the
//! rest of the beacon. [`render`] turns a decoded beacon back into BEACON.md-shaped JSON for operators.
//!
//! It must never do I/O, depend on tokio or rdkafka, or panic on any input: every byte sequence is
//! either a decoded beacon or a reason.

#![forbid(unsafe_code)]

#[cfg(any(test, feature = "arbitrary"))]
pub mod arbitrary;
mod decode;
mod encode;
pub mod json;
pub mod limits;
pub mod proto;
mod reason;
pub mod render;
pub mod stable_hash;

pub use decode::{
    BeaconDecoder, BeaconRejection, DecodedBeacon, EventRejection, JSON_PADDING, JsonParser,
};
pub use encode::encode_beacon;
pub use limits::DecodeLimits;
pub use reason::DecodeReason;

/// The JSON `type` of each event kind, in the order of `rum.v1.Event`'s oneof (field 1 first):
/// the `type` label of the edge's and the aggregator's event counters.
pub const EVENT_TYPES: [&str; 10] = [
    "vital",
    "nav",
    "error",
    "request",
    "custom",
    "action",
    "event",
    "loaf",
    "resources",
    "calls",
];
