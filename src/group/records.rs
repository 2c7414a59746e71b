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
//!
//! This file is the codec only; `offset_metadata_manager` keeps the records' in-memory view.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// The internal topic the records live in.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Key version of an offset commit (0 is read too: the same layout).
const OFFSET_COMMIT_KEY_VERSION: i16 = 1;
/// Key version of a group metadata record.
const GROUP_METADATA_KEY_VERSION: i16 = 2;
/// The OffsetCommitValue version written (0-3 are read).
const OFFSET_COMMIT_VALUE_VERSION: i16 = 3;
/// The GroupMetadataValue version written (0-3 are read).
const GROUP_METADATA_VALUE_VERSION: i16 = 3;
/// A null string's length.
const NULL_LENGTH: i16 = -1;

/// One committed offset.
#[derive(Debug, Clone, PartialEq)]
pub struct Committed {
    /// The next offset the group will consume.
    pub offset: i64,
    /// The leader epoch of the last consumed record (-1 if unknown).
    pub leader_epoch: i32,
    /// The client's metadata string.
    pub metadata: String,
    /// When it was committed (ms since epoch): offset retention counts from it.
    pub commit_timestamp: i64,
}

/// What survives a restart of a group besides its offsets.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoredGroup {
    /// "consumer", ... (empty if never set).
    pub protocol_type: String,
    /// The generation stored.
    pub generation: i32,
    /// The selected protocol (None for an empty group).
    pub protocol: Option<String>,
    /// The leader's member id (None for an empty group).
    pub leader: Option<String>,
    /// When the group entered its state (ms since epoch; -1 before value version 2).
    pub state_timestamp: i64,
    /// Empty for an empty group; otherwise the members of the generation, with assignments.
    pub members: Vec<StoredMember>,
}

/// A member of a stable group as stored (Kafka's MemberMetadata).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoredMember {
    /// The member's id.
    pub member_id: String,
    /// Its `group.instance.id`, if static.
    pub instance_id: Option<String>,
    /// The client id it joined with.
    pub client_id: String,
    /// `/ip` it joined from.
    pub client_host: String,
    /// Its rebalance timeout.
    pub rebalance_timeout_ms: i32,
    /// Its session timeout.
    pub session_timeout_ms: i32,
    /// The member's metadata for the group's protocol.
    pub subscription: Bytes,
    /// Its assignment in the stored generation.
    pub assignment: Bytes,
}

/// A change to one group's records, as written to `__consumer_offsets`.
#[derive(Debug, Clone)]
pub enum Change {
    /// An offset commit for one partition.
    Commit {
        /// The committed partition's topic.
        topic: String,
        /// The committed partition.
        partition: i32,
        /// The offset and its metadata.
        value: Committed,
    },
    /// A tombstone for one partition's committed offset.
    DeleteOffset {
        /// The partition's topic.
        topic: String,
        /// The partition.
        partition: i32,
    },
    /// The group's metadata.
    Group(StoredGroup),
    /// A tombstone for the group's metadata (the group is deleted).
    DeleteGroup,
}

/// What a record's key names.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordKey {
    /// A committed offset (key versions 0 and 1).
    Offset {
        /// The group.
        group: String,
        /// The partition's topic.
        topic: String,
        /// The partition.
        partition: i32,
    },
    /// A group's metadata (key version 2).
    Group {
        /// The group.
        group: String,
    },
}

/// The key of a `__consumer_offsets` record; `None` for malformed bytes or a key this broker
/// does not keep (Kafka's newer record types).
pub fn decode_key(mut key: Bytes) -> Option<RecordKey> {
    if key.remaining() < 2 {
        return None;
    }
    match key.get_i16() {
        0 | OFFSET_COMMIT_KEY_VERSION => {
            let group = get_str(&mut key)?;
            let topic = get_str(&mut key)?;
            let partition = get_i32(&mut key)?;
            Some(RecordKey::Offset { group, topic, partition })
        }
        GROUP_METADATA_KEY_VERSION => Some(RecordKey::Group { group: get_str(&mut key)? }),
        _ => None,
    }
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
            b.put_i16(NULL_LENGTH);
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

/// The key and value (None: a tombstone) of one change; None if a string is too long for its i16 length.
pub fn encode_change(group: &str, c: &Change) -> Option<(Bytes, Option<Bytes>)> {
    let mut key = BytesMut::new();
    let value = match c {
        Change::Commit { topic, partition, value } => {
            key.put_i16(OFFSET_COMMIT_KEY_VERSION);
            put_str(&mut key, group)?;
            put_str(&mut key, topic)?;
            key.put_i32(*partition);
            let mut v = BytesMut::new();
            v.put_i16(OFFSET_COMMIT_VALUE_VERSION);
            v.put_i64(value.offset);
            v.put_i32(value.leader_epoch);
            put_str(&mut v, &value.metadata)?;
            v.put_i64(value.commit_timestamp);
            Some(v.freeze())
        }
        Change::DeleteOffset { topic, partition } => {
            key.put_i16(OFFSET_COMMIT_KEY_VERSION);
            put_str(&mut key, group)?;
            put_str(&mut key, topic)?;
            key.put_i32(*partition);
            None
        }
        Change::Group(g) => {
            key.put_i16(GROUP_METADATA_KEY_VERSION);
            put_str(&mut key, group)?;
            let mut v = BytesMut::new();
            v.put_i16(GROUP_METADATA_VALUE_VERSION);
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
            key.put_i16(GROUP_METADATA_KEY_VERSION);
            put_str(&mut key, group)?;
            None
        }
    };
    Some((key.freeze(), value))
}

/// OffsetCommitValue versions 0-3; `None` for malformed bytes.
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
    if !(0..=GROUP_METADATA_VALUE_VERSION).contains(&version) {
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
