//! One module per API family (Kafka's `KafkaApis`, cut by family): each turns a decoded request
//! into a response. Handlers take the `Broker`'s parts and the `request` context, and reach the
//! storage only through `crate::log`, never files.

pub mod admin;
pub mod configs;
pub mod fetch;
pub mod groups;
pub mod metadata;
pub mod offsets;
pub mod produce;
pub mod producer_ids;
pub mod txn;

use crate::log::batch::BatchError;
use crate::log::validator::ValidationError;
use crate::log::{LogError, Partition, Topic, LEADER_EPOCH};
use crate::broker::Broker;
use kafka_protocol::ResponseError;
use std::sync::Arc;

/// KIP-430 authorized-operations bit fields (bit n = AclOperation code n). Odradek has no
/// authorizer, so, as Kafka without one, every operation a resource type supports is allowed;
/// a field not asked for is i32::MIN, as in Kafka.
pub(crate) mod authorized_ops {
    // Kafka's AclOperation codes.
    const READ: u32 = 3;
    const WRITE: u32 = 4;
    const CREATE: u32 = 5;
    const DELETE: u32 = 6;
    const ALTER: u32 = 7;
    const DESCRIBE: u32 = 8;
    const CLUSTER_ACTION: u32 = 9;
    const DESCRIBE_CONFIGS: u32 = 10;
    const ALTER_CONFIGS: u32 = 11;
    const IDEMPOTENT_WRITE: u32 = 12;

    const fn bits(ops: &[u32]) -> i32 {
        let mut v = 0i32;
        let mut i = 0;
        while i < ops.len() {
            v |= 1 << ops[i];
            i += 1;
        }
        v
    }
    /// What a topic supports (Kafka's `AclEntry.supportedOperations(TOPIC)`).
    pub(crate) const TOPIC: i32 = bits(&[READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS]);
    /// What a group supports.
    pub(crate) const GROUP: i32 = bits(&[READ, DELETE, DESCRIBE]);
    /// What the cluster supports.
    pub(crate) const CLUSTER: i32 = bits(&[CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE]);

    /// `ops` if the request asked for them, i32::MIN (Kafka's "not asked") otherwise.
    pub(crate) fn if_asked(asked: bool, ops: i32) -> i32 {
        if asked {
            ops
        } else {
            i32::MIN
        }
    }
}

/// Runs blocking storage work off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ResponseError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        tracing::error!(error = %e, "storage task failed");
        ResponseError::UnknownServerError
    })
}

/// The Kafka error a storage failure maps to.
pub(crate) fn log_error_code(e: &LogError) -> ResponseError {
    match e {
        LogError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        LogError::Batch(BatchError::BadMagic(_)) => ResponseError::InvalidRecord,
        LogError::Batch(_) => ResponseError::CorruptMessage,
        LogError::Invalid(ValidationError::Corrupt(BatchError::BadMagic(_))) => ResponseError::InvalidRecord,
        LogError::Invalid(ValidationError::Corrupt(_)) => ResponseError::CorruptMessage,
        LogError::Invalid(ValidationError::TooLarge { .. } | ValidationError::Inflated { .. }) => ResponseError::MessageTooLarge,
        LogError::Invalid(ValidationError::InvalidRecord(_) | ValidationError::NullKey { .. }) => ResponseError::InvalidRecord,
        LogError::Deleted => ResponseError::UnknownTopicOrPartition,
        LogError::Sequence(crate::log::producer_state::SequenceError::OutOfOrder { .. }) => ResponseError::OutOfOrderSequenceNumber,
        LogError::Sequence(crate::log::producer_state::SequenceError::InvalidProducerEpoch { .. }) => ResponseError::InvalidProducerEpoch,
        LogError::Io(_) => ResponseError::KafkaStorageError,
    }
}

/// Checks a client's `current_leader_epoch` (KIP-320): -1 skips the check.
pub(crate) fn check_leader_epoch(current: i32) -> Result<(), ResponseError> {
    match current {
        -1 => Ok(()),
        e if e < LEADER_EPOCH => Err(ResponseError::FencedLeaderEpoch),
        e if e > LEADER_EPOCH => Err(ResponseError::UnknownLeaderEpoch),
        _ => Ok(()),
    }
}

/// A topic by name, or by id when the name is empty and the id is set (KIP-516).
pub(crate) fn find_topic(broker: &Broker, name: &str, id: uuid::Uuid) -> Result<Arc<Topic>, ResponseError> {
    if name.is_empty() {
        // Addressed by topic id (KIP-516); a zero id names no topic.
        return broker.logs.get_by_id(id).filter(|_| !id.is_nil()).ok_or(ResponseError::UnknownTopicId);
    }
    broker.logs.get(name).ok_or(ResponseError::UnknownTopicOrPartition)
}

/// The partition `index` of a topic lookup's outcome, or the lookup's error (Kafka's
/// `getPartitionOrError`).
pub(crate) fn partition_of(topic: &Result<Arc<Topic>, ResponseError>, index: i32) -> Result<Arc<Partition>, ResponseError> {
    topic.as_ref().map_err(|e| *e).and_then(|t| find_partition(t, index))
}

/// The partition `index` of `topic`.
pub(crate) fn find_partition(topic: &Topic, index: i32) -> Result<Arc<Partition>, ResponseError> {
    usize::try_from(index)
        .ok()
        .and_then(|i| topic.partitions.get(i).cloned())
        .ok_or(ResponseError::UnknownTopicOrPartition)
}
