//! The group coordinator (classic protocol) and the committed offsets behind it, cut as Kafka's
//! `group-coordinator` module is:
//! - `classic/`: the state machine (`state`), a member (`member`), a group (`group`);
//! - `group_metadata_manager`: the group APIs (`GroupCoordinator`);
//! - `offset_metadata_manager`: committed offsets, in memory and in `__consumer_offsets`;
//! - `records`: the `__consumer_offsets` key and value formats;
//! - `requests`: what the APIs hand the coordinator and get back;
//! - `timer`: session, rebalance and offset-expiry timers;
//! - `config`: the settings.
//!
//! Records first, then memory: every change that must survive a restart is written to
//! `__consumer_offsets` before it is applied.

pub mod classic;
pub mod config;
pub mod group_metadata_manager;
pub mod offset_metadata_manager;
pub mod records;
pub mod requests;
pub mod timer;

pub use classic::{GroupState, Protocol};
pub use group_metadata_manager::GroupCoordinator;
pub use offset_metadata_manager::{OffsetStore, PartitionOffset};
pub use records::{Committed, OFFSETS_TOPIC};
pub use requests::Reply;

use bytes::{Buf, Bytes};
use kafka_protocol::messages::ConsumerProtocolSubscription;
use kafka_protocol::protocol::Decodable;

/// The newest ConsumerProtocolSubscription version this broker decodes.
const MAX_SUBSCRIPTION_VERSION: i16 = 3;

/// Topics named in a consumer-protocol subscription (`[version i16][ConsumerProtocolSubscription]`).
pub fn decode_subscription(metadata: &Bytes) -> Vec<String> {
    let mut b = metadata.clone();
    if b.remaining() < 2 {
        return Vec::new();
    }
    let version = b.get_i16().clamp(0, MAX_SUBSCRIPTION_VERSION);
    ConsumerProtocolSubscription::decode(&mut b, version)
        .map(|s| s.topics.iter().map(|t| t.to_string()).collect())
        .unwrap_or_default()
}
