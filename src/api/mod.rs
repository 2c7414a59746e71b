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
pub mod scram;
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
    /// Kafka's AclOperation codes (the bit each sets).
    #[derive(Clone, Copy)]
    #[repr(u32)]
    enum Op {
        Read = 3,
        Write = 4,
        Create = 5,
        Delete = 6,
        Alter = 7,
        Describe = 8,
        ClusterAction = 9,
        DescribeConfigs = 10,
        AlterConfigs = 11,
        IdempotentWrite = 12,
    }
    use Op::*;

    const fn bits(ops: &[Op]) -> i32 {
        let mut v = 0i32;
        let mut i = 0;
        while i < ops.len() {
            v |= 1 << ops[i] as u32;
            i += 1;
        }
        v
    }

    /// What a topic supports (Kafka's `AclEntry.supportedOperations(TOPIC)`).
    pub(crate) const TOPIC: i32 = bits(&[Read, Write, Create, Delete, Alter, Describe, DescribeConfigs, AlterConfigs]);
    /// What a group supports.
    pub(crate) const GROUP: i32 = bits(&[Read, Delete, Describe]);
    /// What the cluster supports.
    pub(crate) const CLUSTER: i32 = bits(&[Create, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite]);

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

/// Answers each item of a request (a topic, say) with `answer` on a blocking thread, as storage
/// work must not run on the async workers. Empty if the work panicked (logged by `blocking`).
pub(crate) async fn blocking_each<T, R>(broker: &Arc<Broker>, items: Vec<T>, answer: impl Fn(&Broker, T) -> R + Send + 'static) -> Vec<R>
where
    T: Send + 'static,
    R: Send + 'static,
{
    let b = broker.clone();
    blocking(move || items.into_iter().map(|item| answer(&b, item)).collect()).await.unwrap_or_default()
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

/// Looks a request's topic up by name once, then answers each of its partitions with `answer`,
/// given the partition (by `index_of`) or why there is none.
pub(crate) fn per_partition<P, R>(
    broker: &Broker,
    topic: &str,
    partitions: Vec<P>,
    index_of: impl Fn(&P) -> i32,
    mut answer: impl FnMut(P, Result<Arc<Partition>, ResponseError>) -> R,
) -> Vec<R> {
    let topic = find_topic(broker, topic, uuid::Uuid::nil());
    partitions
        .into_iter()
        .map(|p| {
            let partition = partition_of(&topic, index_of(&p));
            answer(p, partition)
        })
        .collect()
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
