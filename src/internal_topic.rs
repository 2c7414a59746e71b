//! An internal, compacted topic that a coordinator keeps its durable state in
//! (`__consumer_offsets`, `__transaction_state`): records are keyed, the latest per key wins,
//! and the whole topic is replayed into memory on start. A key's partition is
//! `abs(javaHashCode(routing key)) % partitions`, as Kafka places groups and transactional ids.

use crate::log::{records, LogManager, Partition, TopicError};
use bytes::Bytes;
use kafka_protocol::records::{Compression, Record};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Why a coordinator could not write its state to its internal topic.
#[derive(Debug, thiserror::Error)]
pub enum InternalTopicError {
    /// The append to the topic's partition failed.
    #[error("cannot write {topic}: {source}")]
    Log {
        /// The internal topic's name.
        topic: &'static str,
        /// Why the partition refused the append.
        source: crate::log::LogError,
    },
    /// The topic did not exist and could not be created.
    #[error("cannot create {topic}: {source}")]
    Topic {
        /// The internal topic's name.
        topic: &'static str,
        /// Why the creation failed.
        source: TopicError,
    },
    /// The records could not be built into a batch, or the topic's partition is missing.
    #[error("cannot encode records for {topic}: {reason}")]
    Encode {
        /// The internal topic's name.
        topic: &'static str,
        /// What went wrong.
        reason: String,
    },
}

/// One internal topic: its name, partition count and segment size, over the broker's logs.
pub struct InternalTopic {
    logs: Arc<LogManager>,
    name: &'static str,
    partitions: i32,
    segment_bytes: u64,
}

/// Java's `String.hashCode`.
pub fn java_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

impl InternalTopic {
    /// An internal topic named `name`, created (compacted, `partitions` partitions of
    /// `segment_bytes` segments) on first use.
    pub fn new(logs: Arc<LogManager>, name: &'static str, partitions: i32, segment_bytes: u64) -> InternalTopic {
        InternalTopic { logs, name, partitions, segment_bytes }
    }

    /// The log manager the topic lives in.
    pub fn logs(&self) -> &Arc<LogManager> {
        &self.logs
    }

    /// Calls `f(key, value)` for every record, partition by partition, in offset order.
    pub fn replay(&self, mut f: impl FnMut(Option<Bytes>, Option<Bytes>)) -> usize {
        let Some(topic) = self.logs.get(self.name) else { return 0 };
        let mut n = 0usize;
        for p in &topic.partitions {
            let res = p.for_each_batch(|h, bytes| {
                if h.is_control() {
                    return true;
                }
                match records::decode(bytes) {
                    Ok((_, batch_records)) => {
                        for r in batch_records {
                            f(r.key, r.value);
                            n += 1;
                        }
                    }
                    Err(e) => tracing::warn!(topic = self.name, partition = p.index, offset = h.base_offset, error = %e, "skipping undecodable batch"),
                }
                true
            });
            if let Err(e) = res {
                tracing::error!(topic = self.name, partition = p.index, error = %e, "cannot replay internal topic");
            }
        }
        n
    }

    /// The partition for `routing_key`, creating the topic on first use.
    pub fn partition_for(&self, routing_key: &str) -> Result<Arc<Partition>, InternalTopicError> {
        let topic = match self.logs.get(self.name) {
            Some(t) => t,
            None => {
                let mut configs = BTreeMap::new();
                configs.insert("cleanup.policy".to_string(), "compact".to_string());
                configs.insert("segment.bytes".to_string(), self.segment_bytes.to_string());
                match self.logs.create_topic(self.name, self.partitions, configs, false) {
                    Ok(t) => t,
                    Err(TopicError::AlreadyExists(_)) => self.logs.get(self.name).ok_or_else(|| self.encode_err("topic vanished"))?,
                    Err(source) => return Err(InternalTopicError::Topic { topic: self.name, source }),
                }
            }
        };
        // Kafka's `Utils.abs`: i32::MIN maps to 0 (its `Math.abs` would stay negative).
        let hash = java_hash(routing_key);
        let abs = if hash == i32::MIN { 0 } else { hash.unsigned_abs() };
        let i = (abs % topic.partitions.len().max(1) as u32) as usize;
        topic.partitions.get(i).cloned().ok_or_else(|| self.encode_err("partition missing"))
    }

    fn encode_err(&self, reason: &str) -> InternalTopicError {
        InternalTopicError::Encode { topic: self.name, reason: reason.to_string() }
    }

    /// Appends `(key, value)` records (value None = tombstone) as one batch, atomically.
    pub fn append(&self, routing_key: &str, records: Vec<(Bytes, Option<Bytes>)>) -> Result<(), InternalTopicError> {
        if records.is_empty() {
            return Ok(());
        }
        let now = crate::util::time::now_ms();
        let records: Vec<Record> = records
            .into_iter()
            .enumerate()
            .map(|(i, (key, value))| records::plain_record(i as i64, now, Some(key), value))
            .collect();
        let buf = records::encode(&records, Compression::None).map_err(|e| self.encode_err(&e.to_string()))?;
        self.partition_for(routing_key)?.append(&buf, crate::log::validator::AppendOrigin::Coordinator).map_err(|source| InternalTopicError::Log { topic: self.name, source })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_matches() {
        assert_eq!(java_hash(""), 0);
        assert_eq!(java_hash("a"), 97);
        assert_eq!(java_hash("ab"), 97 * 31 + 98);
    }
}
