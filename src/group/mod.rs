//! The group coordinator (classic protocol) and the committed-offset store behind it.

pub mod config;
pub mod coordinator;
pub mod offsets;

pub use coordinator::{GroupCoordinator, GroupState};
pub use offsets::{Committed, OffsetStore, OFFSETS_TOPIC};

use bytes::{Buf, Bytes};
use kafka_protocol::messages::ConsumerProtocolSubscription;
use kafka_protocol::protocol::Decodable;

/// Topics named in a consumer-protocol subscription (`[version i16][ConsumerProtocolSubscription]`).
pub fn decode_subscription(metadata: &Bytes) -> Vec<String> {
    let mut b = metadata.clone();
    if b.remaining() < 2 {
        return Vec::new();
    }
    let version = b.get_i16().clamp(0, 3);
    ConsumerProtocolSubscription::decode(&mut b, version)
        .map(|s| s.topics.iter().map(|t| t.to_string()).collect())
        .unwrap_or_default()
}
