//! Committed offsets and group metadata, kept as Kafka keeps them: records in the internal
//! compacted topic `__consumer_offsets`, replayed into memory on start.
//!
//! Record layout follows Kafka's group coordinator (big-endian, i16-length strings):
//! - offset commit: key `[v1][group][topic][partition i32]`,
//!   value `[v3][offset i64][leader epoch i32][metadata][commit timestamp i64]`;
//! - group metadata: key `[v2][group]`, value `[v3][protocol type][generation i32]
//!   [protocol?][leader?][state timestamp i64][members i32: [member id][instance id?][client id]
//!   [client host][rebalance timeout i32][session timeout i32][subscription bytes]
//!   [assignment bytes]]` (Kafka's GroupMetadataValue v3; versions 0–2 are read too). Written
//!   when a rebalance completes (with members and assignments) and when a group becomes empty,
//!   so members keep their generation and partitions across a restart.
//!
//! A null value is a tombstone. The partition of a group is `abs(javaHashCode(group)) % N`.

use crate::log::LogManager;
use crate::internal_topic::{InternalTopic, InternalTopicError};
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
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub state_timestamp: i64,
    /// Empty for an empty group; otherwise the members of the generation, with assignments.
    pub members: Vec<StoredMember>,
}

/// A member of a stable group as stored (Kafka's MemberMetadata).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoredMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    /// The member's metadata for the group's protocol.
    pub subscription: Bytes,
    pub assignment: Bytes,
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

/// A string with its i16 length; None if it is too long for one (as Kafka's generated
/// writers refuse to serialize it), never a wrong length prefix.
fn put_str(b: &mut BytesMut, s: &str) -> Option<()> {
    b.put_i16(i16::try_from(s.len()).ok()?);
    b.put_slice(s.as_bytes());
    Some(())
}

fn put_nullable(b: &mut BytesMut, s: Option<&str>) -> Option<()> {
    match s {
        Some(s) => put_str(b, s),
        None => {
            b.put_i16(-1);
            Some(())
        }
    }
}

/// `n` bytes after a length prefix; a negative length (null) reads as empty.
fn take(b: &mut Bytes, n: i64) -> Option<Bytes> {
    let n = usize::try_from(n).unwrap_or(0);
    (b.remaining() >= n).then(|| b.split_to(n))
}

fn get_str(b: &mut Bytes) -> Option<String> {
    let n = (b.remaining() >= 2).then(|| b.get_i16())?;
    String::from_utf8(take(b, n.into())?.to_vec()).ok()
}

/// A nullable string: `Some(None)` for null, `None` when the bytes are malformed.
fn get_nullable(b: &mut Bytes) -> Option<Option<String>> {
    if b.remaining() < 2 {
        return None;
    }
    if b.chunk()[..2] == [0xff, 0xff] {
        b.advance(2);
        return Some(None);
    }
    get_str(b).map(Some)
}

fn put_bytes(b: &mut BytesMut, v: &[u8]) {
    b.put_i32(v.len() as i32);
    b.put_slice(v);
}

fn get_bytes(b: &mut Bytes) -> Option<Bytes> {
    let n = get_i32(b)?;
    take(b, n.into())
}

fn get_i32(b: &mut Bytes) -> Option<i32> {
    (b.remaining() >= 4).then(|| b.get_i32())
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
                match value.map(decode_group) {
                    Some(Some(g)) => {
                        groups.insert(group, g);
                    }
                    // Not a tombstone: the group and its offsets stay as they were.
                    Some(None) => tracing::warn!(group, "skipping a group metadata record that cannot be read"),
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

fn encode_change(group: &str, c: &Change) -> Option<(Bytes, Option<Bytes>)> {
    let mut key = BytesMut::new();
    let value = match c {
        Change::Commit { topic, partition, value } => {
            key.put_i16(1);
            put_str(&mut key, group)?;
            put_str(&mut key, topic)?;
            key.put_i32(*partition);
            let mut v = BytesMut::new();
            v.put_i16(3);
            v.put_i64(value.offset);
            v.put_i32(value.leader_epoch);
            put_str(&mut v, &value.metadata)?;
            v.put_i64(value.commit_timestamp);
            Some(v.freeze())
        }
        Change::DeleteOffset { topic, partition } => {
            key.put_i16(1);
            put_str(&mut key, group)?;
            put_str(&mut key, topic)?;
            key.put_i32(*partition);
            None
        }
        Change::Group(g) => {
            key.put_i16(2);
            put_str(&mut key, group)?;
            let mut v = BytesMut::new();
            v.put_i16(3);
            put_str(&mut v, &g.protocol_type)?;
            v.put_i32(g.generation);
            put_nullable(&mut v, g.protocol.as_deref())?;
            put_nullable(&mut v, g.leader.as_deref())?;
            v.put_i64(g.state_timestamp);
            v.put_i32(g.members.len() as i32);
            for m in &g.members {
                put_str(&mut v, &m.member_id)?;
                put_nullable(&mut v, m.instance_id.as_deref())?;
                put_str(&mut v, &m.client_id)?;
                put_str(&mut v, &m.client_host)?;
                v.put_i32(m.rebalance_timeout_ms);
                v.put_i32(m.session_timeout_ms);
                put_bytes(&mut v, &m.subscription);
                put_bytes(&mut v, &m.assignment);
            }
            Some(v.freeze())
        }
        Change::DeleteGroup => {
            key.put_i16(2);
            put_str(&mut key, group)?;
            None
        }
    };
    Some((key.freeze(), value))
}

pub fn decode_offset(mut v: Bytes) -> Option<Committed> {
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

/// GroupMetadataValue versions 0–3; `None` for anything else or malformed bytes.
pub fn decode_group(mut v: Bytes) -> Option<StoredGroup> {
    if v.remaining() < 2 {
        return None;
    }
    let version = v.get_i16();
    if !(0..=3).contains(&version) {
        return None;
    }
    let protocol_type = get_str(&mut v)?;
    let generation = get_i32(&mut v)?;
    let protocol = get_nullable(&mut v)?;
    let leader = get_nullable(&mut v)?;
    let state_timestamp = if version >= 2 {
        if v.remaining() < 8 {
            return None;
        }
        v.get_i64()
    } else {
        -1
    };
    let count = get_i32(&mut v)?.max(0);
    let mut members = Vec::new();
    for _ in 0..count {
        let member_id = get_str(&mut v)?;
        let instance_id = if version >= 3 { get_nullable(&mut v)? } else { None };
        let client_id = get_str(&mut v)?;
        let client_host = get_str(&mut v)?;
        let session_or_rebalance = get_i32(&mut v)?;
        let (rebalance_timeout_ms, session_timeout_ms) =
            if version >= 1 { (session_or_rebalance, get_i32(&mut v)?) } else { (session_or_rebalance, session_or_rebalance) };
        let subscription = get_bytes(&mut v)?;
        let assignment = get_bytes(&mut v)?;
        members.push(StoredMember {
            member_id,
            instance_id,
            client_id,
            client_host,
            rebalance_timeout_ms,
            session_timeout_ms,
            subscription,
            assignment,
        });
    }
    Some(StoredGroup { protocol_type, generation, protocol, leader, state_timestamp, members })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_record_roundtrip() {
        let c = Committed { offset: 42, leader_epoch: 0, metadata: "m".into(), commit_timestamp: 7 };
        let (_, v) = encode_change("g", &Change::Commit { topic: "t".into(), partition: 1, value: c.clone() }).unwrap();
        assert_eq!(decode_offset(v.unwrap()), Some(c));
    }

    #[test]
    fn group_record_roundtrip_and_old_versions() {
        let member = |id: &str, inst: Option<&str>| StoredMember {
            member_id: id.into(),
            instance_id: inst.map(String::from),
            client_id: "client".into(),
            client_host: "/127.0.0.1".into(),
            rebalance_timeout_ms: 300_000,
            session_timeout_ms: 10_000,
            subscription: Bytes::from_static(b"sub"),
            assignment: Bytes::from_static(b"assigned"),
        };
        let g = StoredGroup {
            protocol_type: "consumer".into(),
            generation: 7,
            protocol: Some("range".into()),
            leader: Some("a".into()),
            state_timestamp: 1234,
            members: vec![member("a", None), member("b", Some("inst-b"))],
        };
        let (_, v) = encode_change("g", &Change::Group(g.clone())).unwrap();
        let v = v.unwrap();
        assert_eq!(decode_group(v.clone()), Some(g.clone()));
        // Every truncation is refused, never misread.
        for n in 0..v.len() {
            assert_eq!(decode_group(v.slice(..n)), None, "{n} of {} bytes", v.len());
        }
        // An empty group: null protocol and leader.
        let empty = StoredGroup { protocol_type: "consumer".into(), generation: 8, state_timestamp: 99, ..Default::default() };
        let (_, v) = encode_change("g", &Change::Group(empty.clone())).unwrap();
        assert!(encode_change(&"g".repeat(40_000), &Change::DeleteGroup).is_none(), "an over-long group id is refused, not written");
        assert_eq!(decode_group(v.unwrap()), Some(empty));
        // Version 0: no state timestamp, no instance id, one timeout (used for both).
        let mut v0 = BytesMut::new();
        v0.put_i16(0);
        put_str(&mut v0, "consumer").unwrap();
        v0.put_i32(3);
        put_str(&mut v0, "range").unwrap();
        put_str(&mut v0, "a").unwrap();
        v0.put_i32(1);
        put_str(&mut v0, "a").unwrap();
        put_str(&mut v0, "client").unwrap();
        put_str(&mut v0, "/127.0.0.1").unwrap();
        v0.put_i32(10_000);
        put_bytes(&mut v0, b"sub");
        put_bytes(&mut v0, b"assigned");
        let d = decode_group(v0.freeze()).expect("v0");
        assert_eq!((d.generation, d.state_timestamp, d.protocol.as_deref(), d.leader.as_deref()), (3, -1, Some("range"), Some("a")));
        let want = StoredMember { rebalance_timeout_ms: 10_000, ..member("a", None) };
        assert_eq!(d.members, vec![want]);
        // The flexible version 4 is not read.
        let mut v4 = BytesMut::new();
        v4.put_i16(4);
        v4.put_slice(&[0; 16]);
        assert_eq!(decode_group(v4.freeze()), None);
    }
}
