//! RecordBatch (magic v2) headers: parse, CRC32C check, and the in-place rewrites the leader makes.
//!
//! On-disk and on-wire layout (big-endian), as in Kafka's `DefaultRecordBatch`:
//! ```text
//!  0 baseOffset i64 | 8 batchLength i32 | 12 partitionLeaderEpoch i32 | 16 magic i8 | 17 crc u32
//! 21 attributes i16 | 23 lastOffsetDelta i32 | 27 baseTimestamp i64 | 35 maxTimestamp i64
//! 43 producerId i64 | 51 producerEpoch i16 | 53 baseSequence i32 | 57 recordCount i32 | 61 records
//! ```
//! The CRC covers attributes..end, so baseOffset and partitionLeaderEpoch can be rewritten freely;
//! changing maxTimestamp or attributes (LogAppendTime) requires a new CRC.

/// Bytes before the records of a v2 batch.
pub const HEADER_LEN: usize = 61;
/// baseOffset + batchLength: what precedes the length-counted part.
pub const LOG_OVERHEAD: usize = 12;
/// Where baseOffset (i64) is: the offset of the batch's first record.
pub const BASE_OFFSET_OFFSET: usize = 0;
/// Where batchLength (i32) is: the bytes after it, to the batch's end.
pub const LENGTH_OFFSET: usize = 8;
/// Where partitionLeaderEpoch (i32) is; outside the CRC, set by the leader.
pub const PARTITION_LEADER_EPOCH_OFFSET: usize = 12;
/// Where magic (i8) is: the batch format version, 2 here.
pub const MAGIC_OFFSET: usize = 16;
/// Where the CRC32C (u32) of attributes..end is.
pub const CRC_OFFSET: usize = 17;
/// Where attributes (i16) are: codec, timestamp type, transactional, control, delete horizon.
pub const ATTRIBUTES_OFFSET: usize = 21;
/// Where lastOffsetDelta (i32) is: the last record's offset minus baseOffset.
pub const LAST_OFFSET_DELTA_OFFSET: usize = 23;
/// Where baseTimestamp (i64, ms) is: what record timestamp deltas are relative to.
pub const BASE_TIMESTAMP_OFFSET: usize = 27;
/// Where maxTimestamp (i64, ms) is: the largest record timestamp, or the LogAppendTime.
pub const MAX_TIMESTAMP_OFFSET: usize = 35;
/// Where producerId (i64) is; -1 for a batch of no idempotent producer.
pub const PRODUCER_ID_OFFSET: usize = 43;
/// Where producerEpoch (i16) is.
pub const PRODUCER_EPOCH_OFFSET: usize = 51;
/// Where baseSequence (i32) is: the first record's producer sequence, -1 for none.
pub const BASE_SEQUENCE_OFFSET: usize = 53;
/// Where recordCount (i32) is.
pub const RECORD_COUNT_OFFSET: usize = 57;
/// Where the records begin.
pub const RECORDS_OFFSET: usize = 61;
// The layout above, checked at compile time: each field ends where the next begins.
const _: () = {
    assert!(BASE_OFFSET_OFFSET == 0 && LENGTH_OFFSET == BASE_OFFSET_OFFSET + 8);
    assert!(PARTITION_LEADER_EPOCH_OFFSET == LENGTH_OFFSET + 4 && LOG_OVERHEAD == PARTITION_LEADER_EPOCH_OFFSET);
    assert!(MAGIC_OFFSET == PARTITION_LEADER_EPOCH_OFFSET + 4 && CRC_OFFSET == MAGIC_OFFSET + 1);
    assert!(ATTRIBUTES_OFFSET == CRC_OFFSET + 4 && LAST_OFFSET_DELTA_OFFSET == ATTRIBUTES_OFFSET + 2);
    assert!(BASE_TIMESTAMP_OFFSET == LAST_OFFSET_DELTA_OFFSET + 4 && MAX_TIMESTAMP_OFFSET == BASE_TIMESTAMP_OFFSET + 8);
    assert!(PRODUCER_ID_OFFSET == MAX_TIMESTAMP_OFFSET + 8 && PRODUCER_EPOCH_OFFSET == PRODUCER_ID_OFFSET + 8);
    assert!(BASE_SEQUENCE_OFFSET == PRODUCER_EPOCH_OFFSET + 2 && RECORD_COUNT_OFFSET == BASE_SEQUENCE_OFFSET + 4);
    assert!(RECORDS_OFFSET == RECORD_COUNT_OFFSET + 4 && RECORDS_OFFSET == HEADER_LEN);
};
/// The magic of the only batch format Odradek reads and writes (Kafka's `MAGIC_VALUE_V2`).
pub const MAGIC_V2: i8 = 2;
/// Attribute bits 0-2: the compression codec's id (see `compression::codec_of`).
pub const COMPRESSION_CODEC_MASK: i16 = 0x07;
/// Attribute bit 3: the timestamps are LogAppendTime (the broker's), not CreateTime.
pub const TIMESTAMP_TYPE_BIT: i16 = 0x08;
/// Attribute bit 4: the batch belongs to a transaction.
pub const TRANSACTIONAL_FLAG: i16 = 0x10;
/// Attribute bit 5: the batch is a control batch (a transaction marker).
pub const CONTROL_FLAG: i16 = 0x20;
/// Attribute bit 6: the base timestamp holds the delete horizon the log cleaner set (KIP-534).
pub const DELETE_HORIZON_FLAG: i16 = 0x40;
/// A control record's type (its key's second i16) for an ABORT marker.
pub const CONTROL_TYPE_ABORT: i16 = 0;
/// A control record's type for a COMMIT marker.
pub const CONTROL_TYPE_COMMIT: i16 = 1;
/// Bytes of a control record's key: version i16, type i16.
const CONTROL_KEY_LEN: usize = 4;
/// Where a control record's type is in its key.
const CONTROL_KEY_TYPE_OFFSET: usize = 2;
const _: () = assert!(CONTROL_KEY_LEN == CONTROL_KEY_TYPE_OFFSET + 2);

/// Why a batch was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BatchError {
    /// The buffer ends before the header, or before the end its batchLength gives.
    #[error("batch truncated: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes the batch needs.
        need: usize,
        /// Bytes there are.
        have: usize,
    },
    /// batchLength is too short for the rest of a header.
    #[error("batch length {0} is invalid")]
    BadLength(i32),
    /// Not a v2 batch.
    #[error("unsupported magic {0}")]
    BadMagic(i8),
    /// The CRC32C of attributes..end is not the one stored.
    #[error("CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Crc {
        /// The CRC in the header.
        stored: u32,
        /// The CRC of the bytes.
        computed: u32,
    },
    /// A negative count or delta, or more records than the offset range holds.
    #[error("record count {count} does not match last offset delta {delta}")]
    BadCount {
        /// recordCount.
        count: i32,
        /// lastOffsetDelta.
        delta: i32,
    },
    /// The records section cannot be decompressed, decoded or encoded.
    #[error("records cannot be decoded: {0}")]
    Records(String),
}

/// The header fields of one batch, read without touching its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// The offset of the batch's first record.
    pub base_offset: i64,
    /// Whole batch size in bytes, including the 12-byte log overhead.
    pub size: usize,
    /// The format version; always `MAGIC_V2` once parsed.
    pub magic: i8,
    /// The attribute bits (`COMPRESSION_CODEC_MASK`, `TIMESTAMP_TYPE_BIT`, the flags).
    pub attributes: i16,
    /// The last record's offset minus `base_offset`.
    pub last_offset_delta: i32,
    /// What record timestamp deltas are relative to (ms), or the delete horizon.
    pub base_timestamp: i64,
    /// The largest record timestamp (ms), or the LogAppendTime.
    pub max_timestamp: i64,
    /// The idempotent producer's id; -1 for none.
    pub producer_id: i64,
    /// The producer's epoch; -1 for none.
    pub producer_epoch: i16,
    /// The first record's producer sequence; -1 for none.
    pub base_sequence: i32,
    /// Records in the batch: `last_offset_delta + 1`, fewer once compaction removed some.
    pub record_count: i32,
}

impl BatchHeader {
    /// Saturating: a header read off a damaged file may hold any base offset.
    pub fn last_offset(&self) -> i64 {
        self.base_offset.saturating_add(self.last_offset_delta as i64)
    }
    /// The offset after the batch's last: where the next batch starts (saturating too).
    pub fn next_offset(&self) -> i64 {
        self.last_offset().saturating_add(1)
    }
    /// A control batch: a transaction marker, not data.
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_FLAG != 0
    }
    /// Part of a transaction, so read_committed consumers see it only once committed.
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_FLAG != 0
    }
    /// Written by an idempotent or transactional producer, so its sequence is checked.
    pub fn has_producer_id(&self) -> bool {
        self.producer_id >= 0
    }
    /// When the cleaner may drop the batch's tombstones (ms since the epoch), once one set it.
    pub fn delete_horizon(&self) -> Option<i64> {
        (self.attributes & DELETE_HORIZON_FLAG != 0).then_some(self.base_timestamp)
    }
    /// The sequence of the batch's last record; sequences wrap at i32::MAX as in Kafka.
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return self.base_sequence;
        }
        let delta = self.last_offset_delta as i64;
        ((self.base_sequence as i64 + delta) % (i32::MAX as i64 + 1)) as i32
    }
}

fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn i64_at(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// Reads the header of the batch at the start of `buf`, checking lengths and magic only.
pub fn parse_header(buf: &[u8]) -> Result<BatchHeader, BatchError> {
    if buf.len() < HEADER_LEN {
        return Err(BatchError::Truncated { need: HEADER_LEN, have: buf.len() });
    }
    let batch_length = i32_at(buf, LENGTH_OFFSET);
    if batch_length < (HEADER_LEN - LOG_OVERHEAD) as i32 {
        return Err(BatchError::BadLength(batch_length));
    }
    let magic = buf[MAGIC_OFFSET] as i8;
    if magic != MAGIC_V2 {
        return Err(BatchError::BadMagic(magic));
    }
    Ok(BatchHeader {
        base_offset: i64_at(buf, BASE_OFFSET_OFFSET),
        size: LOG_OVERHEAD + batch_length as usize,
        magic,
        attributes: i16_at(buf, ATTRIBUTES_OFFSET),
        last_offset_delta: i32_at(buf, LAST_OFFSET_DELTA_OFFSET),
        base_timestamp: i64_at(buf, BASE_TIMESTAMP_OFFSET),
        max_timestamp: i64_at(buf, MAX_TIMESTAMP_OFFSET),
        producer_id: i64_at(buf, PRODUCER_ID_OFFSET),
        producer_epoch: i16_at(buf, PRODUCER_EPOCH_OFFSET),
        base_sequence: i32_at(buf, BASE_SEQUENCE_OFFSET),
        record_count: i32_at(buf, RECORD_COUNT_OFFSET),
    })
}

/// Parses and fully validates the batch at the start of `buf` (length, magic, CRC, counts).
pub fn validate(buf: &[u8]) -> Result<BatchHeader, BatchError> {
    let h = parse_header(buf)?;
    if buf.len() < h.size {
        return Err(BatchError::Truncated { need: h.size, have: buf.len() });
    }
    let stored = u32::from_be_bytes([buf[CRC_OFFSET], buf[CRC_OFFSET + 1], buf[CRC_OFFSET + 2], buf[CRC_OFFSET + 3]]);
    let computed = crc32c::crc32c(&buf[ATTRIBUTES_OFFSET..h.size]);
    if stored != computed {
        return Err(BatchError::Crc { stored, computed });
    }
    if h.record_count < 0 || h.last_offset_delta < 0 || (h.last_offset_delta as i64 + 1) < h.record_count as i64 {
        return Err(BatchError::BadCount { count: h.record_count, delta: h.last_offset_delta });
    }
    Ok(h)
}

/// Validates every batch in a produce payload; returns their headers in order.
pub fn validate_all(mut buf: &[u8]) -> Result<Vec<BatchHeader>, BatchError> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let h = validate(buf)?;
        buf = &buf[h.size..];
        out.push(h);
    }
    Ok(out)
}

/// Appends `v` as a zigzag varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Reads a zigzag varint (record fields use them) at `*pos`, advancing it.
pub(crate) fn varint(b: &[u8], pos: &mut usize) -> Option<i64> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos)?;
        *pos += 1;
        v |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            return Some(((v >> 1) as i64) ^ -((v & 1) as i64));
        }
    }
    None
}

/// The type of a control batch's marker: Some(true) for COMMIT, Some(false) for ABORT.
/// Control records are never compressed; their key is `[version i16][type i16]`.
pub fn control_marker(batch: &[u8]) -> Option<bool> {
    let mut pos = HEADER_LEN;
    let _length = varint(batch, &mut pos)?;
    pos += 1; // record attributes
    let _ts_delta = varint(batch, &mut pos)?;
    let _offset_delta = varint(batch, &mut pos)?;
    let key_len = varint(batch, &mut pos)?;
    if key_len < CONTROL_KEY_LEN as i64 || batch.len() < pos + CONTROL_KEY_LEN {
        return None;
    }
    let at = pos + CONTROL_KEY_TYPE_OFFSET;
    match i16::from_be_bytes([batch[at], batch[at + 1]]) {
        CONTROL_TYPE_ABORT => Some(false),
        CONTROL_TYPE_COMMIT => Some(true),
        _ => None,
    }
}

/// A new batch with `template`'s header (base offset, last offset delta, base timestamp, producer
/// fields, transactional/timestamp-type bits) around another records section: `records` already
/// compressed with codec `codec_id`, holding `record_count` records, the largest timestamp
/// `max_timestamp`. With `delete_horizon`, the base timestamp becomes that horizon (the
/// records' timestamp deltas must already be relative to it). Length and CRC are recomputed.
pub fn rebuild(template: &[u8], records: &[u8], record_count: i32, codec_id: i16, max_timestamp: i64, delete_horizon: Option<i64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + records.len());
    out.extend_from_slice(&template[..HEADER_LEN]);
    out.extend_from_slice(records);
    let batch_length = (out.len() - LOG_OVERHEAD) as i32;
    out[LENGTH_OFFSET..LENGTH_OFFSET + 4].copy_from_slice(&batch_length.to_be_bytes());
    let mut attrs = (i16_at(template, ATTRIBUTES_OFFSET) & !COMPRESSION_CODEC_MASK) | (codec_id & COMPRESSION_CODEC_MASK);
    if let Some(horizon) = delete_horizon {
        attrs |= DELETE_HORIZON_FLAG;
        out[BASE_TIMESTAMP_OFFSET..BASE_TIMESTAMP_OFFSET + 8].copy_from_slice(&horizon.to_be_bytes());
    }
    out[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attrs.to_be_bytes());
    out[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&max_timestamp.to_be_bytes());
    out[RECORD_COUNT_OFFSET..RECORD_COUNT_OFFSET + 4].copy_from_slice(&record_count.to_be_bytes());
    let crc = crc32c::crc32c(&out[ATTRIBUTES_OFFSET..]);
    out[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    out
}

/// The CRC of a batch given as its header (the first `HEADER_LEN` bytes) and the rest.
fn crc_of(header: &[u8], body: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&header[ATTRIBUTES_OFFSET..HEADER_LEN]), body)
}

/// Sets a CreateTime batch's max timestamp in its header (inside the CRC, so the CRC is
/// recomputed over the header and `body`, the rest of the batch).
pub fn set_max_timestamp(header: &mut [u8], body: &[u8], max_timestamp: i64) {
    header[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&max_timestamp.to_be_bytes());
    let crc = crc_of(header, body);
    header[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Rewrites the fields the leader owns, all in the batch's header (so the produce path stamps a
/// copy of the 61 header bytes and writes the records from the request as they are): base offset
/// and leader epoch (outside the CRC), and for LogAppendTime the timestamp type and max timestamp
/// (inside it, so the CRC is recomputed over the header and `body`, the rest of the batch).
pub fn stamp(header: &mut [u8], body: &[u8], base_offset: i64, leader_epoch: i32, log_append_time: Option<i64>) {
    header[BASE_OFFSET_OFFSET..BASE_OFFSET_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
    header[PARTITION_LEADER_EPOCH_OFFSET..PARTITION_LEADER_EPOCH_OFFSET + 4].copy_from_slice(&leader_epoch.to_be_bytes());
    if let Some(now) = log_append_time {
        let attrs = i16_at(header, ATTRIBUTES_OFFSET) | TIMESTAMP_TYPE_BIT;
        header[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attrs.to_be_bytes());
        header[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&now.to_be_bytes());
        let crc = crc_of(header, body);
        header[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    }
}

/// Batch helpers the other modules' tests build on.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal, valid, uncompressed batch with `n` empty records.
    pub(crate) fn sample_batch(n: i32, ts: i64) -> Vec<u8> {
        let mut records = Vec::new();
        for i in 0..n {
            // length, attributes, timestampDelta, offsetDelta, keyLen(-1), valueLen(0), headers(0)
            let body = [0u8, 0, (i * 2) as u8, 1, 0, 0];
            records.push((body.len() * 2) as u8);
            records.extend_from_slice(&body);
        }
        let mut b = vec![0u8; HEADER_LEN];
        b.extend_from_slice(&records);
        let len = (b.len() - LOG_OVERHEAD) as i32;
        b[LENGTH_OFFSET..LENGTH_OFFSET + 4].copy_from_slice(&len.to_be_bytes());
        b[MAGIC_OFFSET] = MAGIC_V2 as u8;
        b[LAST_OFFSET_DELTA_OFFSET..LAST_OFFSET_DELTA_OFFSET + 4].copy_from_slice(&(n - 1).to_be_bytes());
        b[BASE_TIMESTAMP_OFFSET..BASE_TIMESTAMP_OFFSET + 8].copy_from_slice(&ts.to_be_bytes());
        b[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&ts.to_be_bytes());
        b[PRODUCER_ID_OFFSET..PRODUCER_ID_OFFSET + 8].copy_from_slice(&(-1i64).to_be_bytes());
        b[RECORD_COUNT_OFFSET..RECORD_COUNT_OFFSET + 4].copy_from_slice(&n.to_be_bytes());
        let crc = crc32c::crc32c(&b[ATTRIBUTES_OFFSET..]);
        b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        b
    }

    #[test]
    fn validates_and_detects_corruption() {
        let b = sample_batch(3, 1000);
        let h = validate(&b).unwrap();
        assert_eq!(h.record_count, 3);
        assert_eq!(h.size, b.len());
        let mut bad = b.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(matches!(validate(&bad), Err(BatchError::Crc { .. })));
        assert!(matches!(validate(&b[..b.len() - 1]), Err(BatchError::Truncated { .. })));
        let mut m = b.clone();
        m[MAGIC_OFFSET] = 1;
        assert_eq!(validate(&m), Err(BatchError::BadMagic(1)));
    }

    #[test]
    fn stamping_keeps_crc_valid() {
        let mut b = sample_batch(2, 5);
        let (header, body) = b.split_at_mut(HEADER_LEN);
        stamp(header, body, 42, 0, None);
        assert_eq!(validate(&b).unwrap().base_offset, 42);
        let (header, body) = b.split_at_mut(HEADER_LEN);
        stamp(header, body, 43, 0, Some(99));
        let h = validate(&b).unwrap();
        assert_eq!((h.base_offset, h.max_timestamp, h.attributes & TIMESTAMP_TYPE_BIT), (43, 99, TIMESTAMP_TYPE_BIT));
        let (header, body) = b.split_at_mut(HEADER_LEN);
        set_max_timestamp(header, body, 7);
        assert_eq!(validate(&b).unwrap().max_timestamp, 7);
    }
}
