//! Committed offsets and group metadata, kept as Kafka keeps them: records in the internal
//! compacted topic `__consumer_offsets`, replayed into memory on start.
//!
//! Record layout follows Kafka's group coordinator (big-endian, i16-length strings):
//! - offset commit: key `[v1][group][topic][partition i32]`,
//!   value `[v3][offset i64][leader epoch i32][metadata][commit timestamp i64]`;
//! - group metadata: key `[v2][group]`, value `[v3][protocol type][generation i32]
//!   [protocol?][leader?][state timestamp i64][members: 0]` (members are not restored: after a
//!   restart consumers rejoin, as they would after a coordinator move).
//!
//! A null value is a tombstone. The partition of a group is `abs(javaHashCode(group)) % N`.

use crate::log::LogManager;
use crate::meta::internal_topic::{InternalTopic, InternalTopicError};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// One committed offset.
#[derive(Debug, Clone, PartialEq)]
pub struct Committed {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
}

/// What survives a restart of a group besides its offsets.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoredGroup {
    pub protocol_type: String,
    pub generation: i32,
    pub state_timestamp: i64,
}

pub type StoreError = InternalTopicError;

/// A change to write.
pub enum Change {
    Commit { topic: String, partition: i32, value: Committed },
    DeleteOffset { topic: String, partition: i32 },
    Group(StoredGroup),
    DeleteGroup,
}

type Offsets = HashMap<String, BTreeMap<(String, i32), Committed>>;

pub struct OffsetStore {
    topic: InternalTopic,
    offsets: Mutex<Offsets>,
    groups: Mutex<HashMap<String, StoredGroup>>,
}

fn put_str(b: &mut BytesMut, s: &str) {
    b.put_i16(s.len() as i16);
    b.put_slice(s.as_bytes());
}

fn put_nullable(b: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_str(b, s),
        None => b.put_i16(-1),
    }
}

fn get_str(b: &mut Bytes) -> Option<String> {
    if b.remaining() < 2 {
        return None;
    }
    let n = b.get_i16();
    if n < 0 {
        return Some(String::new());
    }
    if b.remaining() < n as usize {
        return None;
    }
    String::from_utf8(b.split_to(n as usize).to_vec()).ok()
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
        let n = self.topic.replay(|key, value| self.apply(key, value));
        if n > 0 {
            tracing::info!(records = n, groups = self.groups().len(), "loaded committed offsets");
        }
    }

    /// Applies one record (from replay) to the in-memory state.
    fn apply(&self, key: Option<Bytes>, value: Option<Bytes>) {
        let Some(mut key) = key else { return };
        if key.remaining() < 2 {
            return;
        }
        match key.get_i16() {
            0 | 1 => {
                let (Some(group), Some(topic)) = (get_str(&mut key), get_str(&mut key)) else { return };
                if key.remaining() < 4 {
                    return;
                }
                let partition = key.get_i32();
                let mut offsets = self.offsets.lock().unwrap_or_else(|p| p.into_inner());
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
            2 => {
                let Some(group) = get_str(&mut key) else { return };
                let mut groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
                match value.and_then(decode_group) {
                    Some(g) => {
                        groups.insert(group, g);
                    }
                    None => {
                        groups.remove(&group);
                        self.offsets.lock().unwrap_or_else(|p| p.into_inner()).remove(&group);
                    }
                }
            }
            _ => {}
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
        self.topic.append(group, changes.iter().map(|c| encode_change(group, c)).collect())?;
        for c in changes {
            self.apply_change(group, c);
        }
        Ok(())
    }

    fn apply_change(&self, group: &str, c: Change) {
        let mut offsets = self.offsets.lock().unwrap_or_else(|p| p.into_inner());
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
                self.groups.lock().unwrap_or_else(|p| p.into_inner()).insert(group.to_string(), g);
            }
            Change::DeleteGroup => {
                offsets.remove(group);
                self.groups.lock().unwrap_or_else(|p| p.into_inner()).remove(group);
            }
        }
    }

    pub fn fetch(&self, group: &str, topic: &str, partition: i32) -> Option<Committed> {
        let offsets = self.offsets.lock().unwrap_or_else(|p| p.into_inner());
        offsets.get(group)?.get(&(topic.to_string(), partition)).cloned()
    }

    /// Every committed offset of a group, by topic then partition.
    pub fn fetch_all(&self, group: &str) -> Vec<((String, i32), Committed)> {
        let offsets = self.offsets.lock().unwrap_or_else(|p| p.into_inner());
        offsets.get(group).map(|g| g.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
    }

    pub fn has_offsets(&self, group: &str) -> bool {
        self.offsets.lock().unwrap_or_else(|p| p.into_inner()).get(group).is_some_and(|g| !g.is_empty())
    }

    /// Groups known from the log (with offsets or stored metadata).
    pub fn groups(&self) -> HashMap<String, StoredGroup> {
        let mut out = self.groups.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for g in self.offsets.lock().unwrap_or_else(|p| p.into_inner()).keys() {
            out.entry(g.clone()).or_default();
        }
        out
    }
}

fn encode_change(group: &str, c: &Change) -> (Bytes, Option<Bytes>) {
    let mut key = BytesMut::new();
    let value = match c {
        Change::Commit { topic, partition, value } => {
            key.put_i16(1);
            put_str(&mut key, group);
            put_str(&mut key, topic);
            key.put_i32(*partition);
            let mut v = BytesMut::new();
            v.put_i16(3);
            v.put_i64(value.offset);
            v.put_i32(value.leader_epoch);
            put_str(&mut v, &value.metadata);
            v.put_i64(value.commit_timestamp);
            Some(v.freeze())
        }
        Change::DeleteOffset { topic, partition } => {
            key.put_i16(1);
            put_str(&mut key, group);
            put_str(&mut key, topic);
            key.put_i32(*partition);
            None
        }
        Change::Group(g) => {
            key.put_i16(2);
            put_str(&mut key, group);
            let mut v = BytesMut::new();
            v.put_i16(3);
            put_str(&mut v, &g.protocol_type);
            v.put_i32(g.generation);
            put_nullable(&mut v, None);
            put_nullable(&mut v, None);
            v.put_i64(g.state_timestamp);
            v.put_i32(0);
            Some(v.freeze())
        }
        Change::DeleteGroup => {
            key.put_i16(2);
            put_str(&mut key, group);
            None
        }
    };
    (key.freeze(), value)
}

fn decode_offset(mut v: Bytes) -> Option<Committed> {
    if v.remaining() < 2 {
        return None;
    }
    let version = v.get_i16();
    if v.remaining() < 8 {
        return None;
    }
    let offset = v.get_i64();
    let leader_epoch = if version >= 3 && v.remaining() >= 4 { v.get_i32() } else { -1 };
    let metadata = get_str(&mut v)?;
    let commit_timestamp = if v.remaining() >= 8 { v.get_i64() } else { 0 };
    Some(Committed { offset, leader_epoch, metadata, commit_timestamp })
}

fn decode_group(mut v: Bytes) -> Option<StoredGroup> {
    if v.remaining() < 2 {
        return None;
    }
    let _version = v.get_i16();
    let protocol_type = get_str(&mut v)?;
    if v.remaining() < 4 {
        return None;
    }
    let generation = v.get_i32();
    let _protocol = get_str(&mut v)?;
    let _leader = get_str(&mut v)?;
    let state_timestamp = if v.remaining() >= 8 { v.get_i64() } else { 0 };
    Some(StoredGroup { protocol_type, generation, state_timestamp })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_record_roundtrip() {
        let c = Committed { offset: 42, leader_epoch: 0, metadata: "m".into(), commit_timestamp: 7 };
        let (_, v) = encode_change("g", &Change::Commit { topic: "t".into(), partition: 1, value: c.clone() });
        assert_eq!(decode_offset(v.unwrap()), Some(c));
    }
}
