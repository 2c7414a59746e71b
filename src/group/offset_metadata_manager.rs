//! Committed offsets, after Kafka's `OffsetMetadataManager`: commits, deletes and expiry, and the
//! in-memory view of `__consumer_offsets` (offsets by group, and each group's stored metadata),
//! rebuilt by replaying the topic on start.
//!
//! Records first, then memory: `write` appends a group's changes as one batch and applies them
//! in memory only once the append succeeded, so memory never holds what the log does not.

use super::records::{decode_group, decode_key, decode_offset, encode_change, Change, Committed, RecordKey, StoredGroup, OFFSETS_TOPIC};
use crate::util::time::now_ms;
use crate::log::LogManager;
use crate::internal_topic::{InternalTopic, InternalTopicError};
use bytes::Bytes;
use kafka_protocol::ResponseError;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// Why a write to `__consumer_offsets` failed.
pub type StoreError = InternalTopicError;

/// One partition's committed offset.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionOffset {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// What is committed for it.
    pub committed: Committed,
}

/// group -> (topic, partition) -> committed offset.
type Offsets = HashMap<String, BTreeMap<(String, i32), Committed>>;

/// The committed offsets and stored group metadata, in memory and in `__consumer_offsets`.
pub struct OffsetStore {
    topic: InternalTopic,
    offsets: Mutex<Offsets>,
    groups: Mutex<HashMap<String, StoredGroup>>,
}

impl OffsetStore {
    /// Replays `__consumer_offsets` if it exists.
    pub fn open(logs: Arc<LogManager>, partitions: i32, segment_bytes: u64) -> OffsetStore {
        let store = OffsetStore {
            topic: InternalTopic::new(logs, OFFSETS_TOPIC, partitions, segment_bytes),
            offsets: Mutex::new(HashMap::new()),
            groups: Mutex::new(HashMap::new()),
        };
        store.replay();
        store
    }

    fn replay(&self) {
        let n = self.topic.replay(|key, value| self.replay_record(key, value));
        if n > 0 {
            tracing::info!(records = n, groups = self.groups().len(), "loaded committed offsets");
        }
    }

    fn lock_offsets(&self) -> std::sync::MutexGuard<'_, Offsets> {
        self.offsets.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_groups(&self) -> std::sync::MutexGuard<'_, HashMap<String, StoredGroup>> {
        self.groups.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies one record (from replay) to the in-memory state.
    fn replay_record(&self, key: Option<Bytes>, value: Option<Bytes>) {
        let Some(key) = key.and_then(decode_key) else { return };
        match key {
            RecordKey::Offset { group, topic, partition } => {
                let mut offsets = self.lock_offsets();
                match value.and_then(decode_offset) {
                    Some(c) => {
                        offsets.entry(group).or_default().insert((topic, partition), c);
                    }
                    None => {
                        if let Some(g) = offsets.get_mut(&group) {
                            g.remove(&(topic, partition));
                        }
                    }
                }
            }
            RecordKey::Group { group } => match value.map(decode_group) {
                Some(Some(g)) => {
                    self.lock_groups().insert(group, g);
                }
                // Not a tombstone: the group and its offsets stay as they were.
                Some(None) => tracing::warn!(group, "skipping a group metadata record that cannot be read"),
                None => {
                    self.lock_groups().remove(&group);
                    self.lock_offsets().remove(&group);
                }
            },
        }
    }

    /// Makes sure the internal topic exists (FindCoordinator does this, as in Kafka).
    pub fn ensure_topic(&self, group: &str) -> Result<(), StoreError> {
        self.topic.partition_for(group).map(|_| ())
    }

    /// The `__consumer_offsets` partition holding `group`.
    pub fn partition_index(&self, group: &str) -> Result<i32, StoreError> {
        self.topic.partition_for(group).map(|p| p.index)
    }

    /// Writes the changes for one group as one batch, then applies them in memory.
    pub fn write(&self, group: &str, changes: Vec<Change>) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let records = changes.iter().map(|c| encode_change(group, c)).collect::<Option<Vec<_>>>().ok_or_else(|| StoreError::Encode {
            topic: OFFSETS_TOPIC,
            reason: "a string field of the group is longer than 32767 bytes".into(),
        })?;
        self.topic.append(group, records)?;
        for c in changes {
            self.apply_change(group, c);
        }
        Ok(())
    }

    fn apply_change(&self, group: &str, c: Change) {
        let mut offsets = self.lock_offsets();
        match c {
            Change::Commit { topic, partition, value } => {
                offsets.entry(group.to_string()).or_default().insert((topic, partition), value);
            }
            Change::DeleteOffset { topic, partition } => {
                if let Some(g) = offsets.get_mut(group) {
                    g.remove(&(topic, partition));
                    if g.is_empty() {
                        offsets.remove(group);
                    }
                }
            }
            Change::Group(g) => {
                self.lock_groups().insert(group.to_string(), g);
            }
            Change::DeleteGroup => {
                offsets.remove(group);
                self.lock_groups().remove(group);
            }
        }
    }

    /// Stores committed offsets (already validated).
    pub fn commit(&self, group: &str, offsets: Vec<PartitionOffset>) -> Result<(), ResponseError> {
        let changes = offsets.into_iter().map(|o| Change::Commit { topic: o.topic, partition: o.partition, value: o.committed }).collect();
        self.write(group, changes).map_err(|e| {
            tracing::error!(group, error = %e, "cannot store offsets");
            ResponseError::CoordinatorNotAvailable
        })
    }

    /// OffsetDelete: tombstones for the given (topic, partition)s.
    pub fn delete(&self, group: &str, partitions: Vec<(String, i32)>) -> Result<(), ResponseError> {
        let changes = partitions.into_iter().map(|(topic, partition)| Change::DeleteOffset { topic, partition }).collect();
        self.write(group, changes).map_err(|e| {
            tracing::error!(group, error = %e, "cannot delete offsets");
            ResponseError::CoordinatorNotAvailable
        })
    }

    /// Tombstones for every committed offset of `group`, then for its metadata (DeleteGroups).
    pub fn delete_group(&self, group: &str) -> Result<(), StoreError> {
        let mut changes: Vec<Change> = self.fetch_all(group).into_iter().map(|o| Change::DeleteOffset { topic: o.topic, partition: o.partition }).collect();
        changes.push(Change::DeleteGroup);
        self.write(group, changes)
    }

    /// KIP-211: offsets of an empty group expire `retention_ms` after the later of their commit
    /// and the group becoming empty (`empty_since`). A failed write is retried at the next check.
    pub fn expire(&self, group: &str, empty_since: i64, retention_ms: i64) {
        let now = now_ms();
        let changes: Vec<Change> = self
            .fetch_all(group)
            .into_iter()
            .filter(|o| o.committed.commit_timestamp.max(empty_since).saturating_add(retention_ms) <= now)
            .map(|o| Change::DeleteOffset { topic: o.topic, partition: o.partition })
            .collect();
        if changes.is_empty() {
            return;
        }
        let n = changes.len();
        match self.write(group, changes) {
            Ok(()) => tracing::info!(group, expired = n, "expired committed offsets"),
            Err(e) => tracing::warn!(group, error = %e, "cannot expire offsets; will retry at the next check"),
        }
    }

    /// The committed offset of one partition.
    pub fn fetch(&self, group: &str, topic: &str, partition: i32) -> Option<Committed> {
        self.lock_offsets().get(group)?.get(&(topic.to_string(), partition)).cloned()
    }

    /// Every committed offset of a group, by topic then partition.
    pub fn fetch_all(&self, group: &str) -> Vec<PartitionOffset> {
        let offsets = self.lock_offsets();
        offsets
            .get(group)
            .map(|g| g.iter().map(|((topic, partition), c)| PartitionOffset { topic: topic.clone(), partition: *partition, committed: c.clone() }).collect())
            .unwrap_or_default()
    }

    /// Whether the group has any committed offset.
    pub fn has_offsets(&self, group: &str) -> bool {
        self.lock_offsets().get(group).is_some_and(|g| !g.is_empty())
    }

    /// Groups known from the log (with offsets or stored metadata).
    pub fn groups(&self) -> HashMap<String, StoredGroup> {
        let mut out = self.lock_groups().clone();
        for g in self.lock_offsets().keys() {
            out.entry(g.clone()).or_default();
        }
        out
    }
}

/// The offset APIs of the coordinator: the API layer goes through these, never to the store.
impl super::GroupCoordinator {
    /// Makes sure `__consumer_offsets` exists (FindCoordinator does this, as in Kafka).
    pub fn ensure_offsets_topic(&self, group: &str) -> Result<(), StoreError> {
        self.offsets.ensure_topic(group)
    }

    /// The `__consumer_offsets` partition holding `group` (AddOffsetsToTxn adds it to a transaction).
    pub fn offsets_partition(&self, group: &str) -> Result<i32, ResponseError> {
        self.offsets.partition_index(group).map_err(|e| {
            tracing::error!(group, error = %e, "cannot find the offsets partition");
            ResponseError::CoordinatorNotAvailable
        })
    }

    /// Stores committed offsets (already validated, and allowed by `check_commit`).
    pub fn commit(&self, group: &str, offsets: Vec<PartitionOffset>) -> Result<(), ResponseError> {
        self.offsets.commit(group, offsets)
    }

    /// OffsetDelete: tombstones for the given (topic, partition)s.
    pub fn delete_offsets(&self, group: &str, partitions: Vec<(String, i32)>) -> Result<(), ResponseError> {
        self.offsets.delete(group, partitions)
    }

    /// The committed offset of one partition (OffsetFetch).
    pub fn committed(&self, group: &str, topic: &str, partition: i32) -> Option<Committed> {
        self.offsets.fetch(group, topic, partition)
    }

    /// Every committed offset of a group, by topic then partition (OffsetFetch of all topics).
    pub fn committed_all(&self, group: &str) -> Vec<PartitionOffset> {
        self.offsets.fetch_all(group)
    }
}
