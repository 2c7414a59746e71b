//! Kafka's `LogValidator`: what may be appended to a partition, and by whom.
//!
//! Every append passes through `validate` first; nothing of a refused append is stored. A
//! client is held to Kafka's client rules (`validateBatch`: one batch per partition, base offset
//! 0, record count matching the offset range, no control batches, a producer id needs a
//! sequence); the broker's own coordinators may write control batches. For everyone, each
//! record is walked in place — its varint lengths, offset delta and headers must lie inside the
//! batch and add up to it exactly, as Kafka's `DefaultRecord.readFrom` requires — without an
//! allocation or a copy per record. Compressed batches are decompressed with a bound
//! (`max.message.bytes`) and walked the same way.

use super::batch::{self, BatchError, BatchHeader, HEADER_LEN};
use super::compression::{self, CodecError};
use super::config::LogConfig;
use kafka_protocol::records::Compression;

/// Who is appending (Kafka's `AppendOrigin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOrigin {
    /// A producer's request: Kafka's client rules apply.
    Client,
    /// The group or transaction coordinator (offsets, group records, transaction markers).
    Coordinator,
}

/// What validation needs of the partition's config.
#[derive(Debug, Clone, Copy)]
pub struct ValidationConfig {
    /// `cleanup.policy` includes `compact`: every record needs a key.
    pub compacted: bool,
    /// `max.message.bytes`: the largest batch, and the most a compressed batch may inflate to.
    pub max_message_bytes: usize,
}

/// A batch that passed, with the largest timestamp its records carry.
#[derive(Debug, Clone, Copy)]
pub struct ValidBatch {
    /// The batch's header, as the request carried it.
    pub header: BatchHeader,
    /// The largest record timestamp (CreateTime), which Kafka writes as the batch's
    /// maxTimestamp whatever the producer put there; -1 for a batch without timestamps.
    pub max_timestamp: i64,
}

/// Why an append was refused; each maps to Kafka's error code at the API edge.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ValidationError {
    /// CORRUPT_MESSAGE: the batch framing or CRC is wrong.
    #[error(transparent)]
    Corrupt(#[from] BatchError),
    /// INVALID_RECORD: a rule of Kafka's validator is broken.
    #[error("{0}")]
    InvalidRecord(String),
    /// MESSAGE_TOO_LARGE.
    #[error("batch of {size} bytes exceeds max.message.bytes {max}")]
    TooLarge {
        /// The batch's size in bytes.
        size: usize,
        /// `max.message.bytes`.
        max: usize,
    },
    /// MESSAGE_TOO_LARGE: a compressed batch inflates past max.message.bytes (a bomb, or garbage
    /// claiming a huge size).
    #[error("the batch's records inflate past max.message.bytes {limit}")]
    Inflated {
        /// `max.message.bytes`.
        limit: usize,
    },
    /// INVALID_RECORD with record errors: keyless records on a compacted topic, by their index
    /// in the request's records (ProduceResponse `record_errors`).
    #[error("One or more records have been rejected due to {} record errors in total", .record_indexes.len())]
    NullKey {
        /// The keyless records' indexes, in order.
        record_indexes: Vec<i32>,
    },
}

/// The most bytes a zigzag varint that fits an i32 takes (7 bits each).
const MAX_VARINT32_LEN: usize = 5;

fn invalid(msg: impl Into<String>) -> ValidationError {
    ValidationError::InvalidRecord(msg.into())
}

impl From<CodecError> for ValidationError {
    fn from(e: CodecError) -> Self {
        match e {
            // A bomb is refused as Kafka refuses a batch over max.message.bytes.
            CodecError::TooLarge { limit } => ValidationError::Inflated { limit },
            e => ValidationError::InvalidRecord(e.to_string()),
        }
    }
}

/// Validates the batches of one partition's append (`buf`, as the request carried them).
pub fn validate(buf: &[u8], origin: AppendOrigin, config: &ValidationConfig) -> Result<Vec<ValidBatch>, ValidationError> {
    if buf.is_empty() {
        return Err(invalid("Record batch has no batches at all"));
    }
    let mut out = Vec::with_capacity(1);
    let mut rest = buf;
    let mut null_keys = Vec::new();
    let mut record_index = 0i32;
    while !rest.is_empty() {
        let h = batch::validate(rest).map_err(|e| match e {
            // More records than offsets is a rule of Kafka's validator, not framing.
            BatchError::BadCount { .. } => invalid(e.to_string()),
            e => e.into(),
        })?;
        if h.size > config.max_message_bytes {
            return Err(ValidationError::TooLarge { size: h.size, max: config.max_message_bytes });
        }
        if origin == AppendOrigin::Client {
            client_rules(&h, out.len())?;
        }
        let body = &rest[HEADER_LEN..h.size];
        let max_timestamp = match compression::codec_of(h.attributes)? {
            Compression::None => walk_records(&h, body, config.compacted, record_index, &mut null_keys)?,
            codec => {
                let section = compression::decompress(codec, body, config.max_message_bytes)?;
                walk_records(&h, &section, config.compacted, record_index, &mut null_keys)?
            }
        };
        record_index = record_index.saturating_add(h.record_count);
        out.push(ValidBatch { header: h, max_timestamp });
        rest = &rest[h.size..];
    }
    if !null_keys.is_empty() {
        return Err(ValidationError::NullKey { record_indexes: null_keys });
    }
    Ok(out)
}

/// Kafka's client-origin rules (`UnifiedLog.analyzeAndValidateRecords`, `LogValidator.validateBatch`).
fn client_rules(h: &BatchHeader, earlier_batches: usize) -> Result<(), ValidationError> {
    if earlier_batches > 0 {
        return Err(invalid("Produce requests are only allowed to contain exactly one record batch per partition"));
    }
    if h.base_offset != 0 {
        return Err(invalid(format!("The baseOffset of the record batch in the append should be 0, but it is {}", h.base_offset)));
    }
    let count_from_offsets = h.last_offset_delta as i64 + 1;
    if count_from_offsets <= 0 {
        return Err(invalid(format!("Batch has an invalid offset range: [0, {}]", h.last_offset_delta)));
    }
    if h.record_count <= 0 {
        return Err(invalid(format!("Invalid reported count for record batch: {}", h.record_count)));
    }
    if count_from_offsets != h.record_count as i64 {
        return Err(invalid(format!(
            "Inconsistent batch offset range [0, {}] and count of records {}",
            h.last_offset_delta, h.record_count
        )));
    }
    if h.is_control() {
        return Err(invalid("Clients are not allowed to write control records"));
    }
    if h.has_producer_id() && h.base_sequence < 0 {
        return Err(invalid(format!("Invalid sequence number {} in record batch with producerId {}", h.base_sequence, h.producer_id)));
    }
    if h.is_transactional() && !h.has_producer_id() {
        return Err(invalid("Transactional records need a producer id"));
    }
    Ok(())
}

/// Walks the `record_count` records of `section` (the batch's records, decompressed) in place;
/// returns the largest record timestamp. Keyless records of a compacted topic are listed in
/// `null_keys` by their index in the request (the first of this batch being `first_index`).
fn walk_records(h: &BatchHeader, section: &[u8], compacted: bool, first_index: i32, null_keys: &mut Vec<i32>) -> Result<i64, ValidationError> {
    let mut pos = 0usize;
    let mut max_timestamp = -1i64;
    for i in 0..h.record_count.max(0) {
        if pos >= section.len() {
            return Err(invalid(format!("Incorrect declared batch size: {} records declared, {i} found", h.record_count)));
        }
        let len = varint32(section, &mut pos)?;
        let end = usize::try_from(len)
            .ok()
            .and_then(|n| pos.checked_add(n))
            .filter(|&e| e <= section.len())
            .ok_or_else(|| invalid(format!("Invalid record size {len}: {} bytes remain in the batch", section.len() - pos)))?;
        let record = &section[..end];
        pos += 1; // attributes (unused in v2)
        let ts_delta = batch::varint(record, &mut pos).ok_or_else(|| truncated(i))?;
        let offset_delta = varint32(record, &mut pos)?;
        if offset_delta != i {
            return Err(invalid(format!("Record {i} has offset delta {offset_delta}")));
        }
        let key_len = varint32(record, &mut pos)?;
        skip_bytes(record, &mut pos, key_len, true).ok_or_else(|| truncated(i))?;
        let value_len = varint32(record, &mut pos)?;
        skip_bytes(record, &mut pos, value_len, true).ok_or_else(|| truncated(i))?;
        let headers = varint32(record, &mut pos)?;
        if headers < 0 {
            return Err(invalid(format!("Found invalid number of record headers {headers}")));
        }
        for _ in 0..headers {
            let key_len = varint32(record, &mut pos)?;
            skip_bytes(record, &mut pos, key_len, false).ok_or_else(|| invalid("Invalid header key"))?;
            let value_len = varint32(record, &mut pos)?;
            skip_bytes(record, &mut pos, value_len, true).ok_or_else(|| invalid("Invalid header value"))?;
        }
        if pos != end {
            return Err(invalid(format!("Invalid record size: expected to read {len} bytes in record payload, but instead read {}", len as usize - (end - pos))));
        }
        max_timestamp = max_timestamp.max(h.base_timestamp.wrapping_add(ts_delta));
        if compacted && key_len < 0 && !h.is_control() {
            null_keys.push(first_index.saturating_add(i));
        }
    }
    if pos != section.len() {
        return Err(invalid("Incorrect declared batch size, records still remaining in file"));
    }
    Ok(max_timestamp)
}

fn truncated(i: i32) -> ValidationError {
    invalid(format!("Record {i} is truncated"))
}

/// A zigzag varint that must fit an i32 (Kafka's `readVarint`), bounded by `b`.
fn varint32(b: &[u8], pos: &mut usize) -> Result<i32, ValidationError> {
    let start = *pos;
    batch::varint(b, pos)
        .filter(|_| *pos - start <= MAX_VARINT32_LEN)
        .and_then(|v| i32::try_from(v).ok())
        .ok_or_else(|| invalid("Invalid or truncated varint in a record"))
}

/// Moves `pos` past a length-prefixed field of `len` bytes (-1 is null where `nullable`);
/// None if the field does not fit.
fn skip_bytes(b: &[u8], pos: &mut usize, len: i32, nullable: bool) -> Option<()> {
    match len {
        -1 if nullable => Some(()),
        n if n >= 0 => {
            let end = pos.checked_add(n as usize).filter(|&e| e <= b.len())?;
            *pos = end;
            Some(())
        }
        _ => None,
    }
}

/// The batches re-encoded with the topic's `compression.type`, one batch for each (markers and
/// batches already in that codec stay as they are). Producer id, epoch, sequences and timestamps are kept, as Kafka does.
pub fn recompress_all(batches: &[u8], valid: &[ValidBatch], target: kafka_protocol::records::Compression, limit: usize) -> Result<Vec<u8>, BatchError> {
    let mut out = Vec::with_capacity(batches.len());
    let mut rest = batches;
    for v in valid {
        let h = &v.header;
        let (bytes, tail) = rest.split_at(h.size);
        rest = tail;
        if h.is_control() || compression::codec_of(h.attributes) == Ok(target) {
            out.extend_from_slice(bytes);
        } else {
            out.extend_from_slice(&super::records::recompress(h, bytes, target, limit)?);
        }
    }
    Ok(out)
}

impl ValidationConfig {
    /// What the validator needs of a partition's config.
    pub fn of(c: &LogConfig) -> ValidationConfig {
        ValidationConfig {
            compacted: c.cleanup_policy.compact(),
            max_message_bytes: usize::try_from(c.max_message_bytes).unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::tests::sample_batch;
    use crate::log::batch::{
        ATTRIBUTES_OFFSET, BASE_OFFSET_OFFSET, BASE_SEQUENCE_OFFSET, CONTROL_FLAG, CRC_OFFSET, LAST_OFFSET_DELTA_OFFSET, LENGTH_OFFSET,
        PRODUCER_ID_OFFSET, RECORD_COUNT_OFFSET, TRANSACTIONAL_FLAG,
    };

    const CONFIG: ValidationConfig = ValidationConfig { compacted: false, max_message_bytes: 1 << 20 };

    /// Sets the i32 at `at` and fixes the CRC.
    fn with_i32(mut b: Vec<u8>, at: usize, v: i32) -> Vec<u8> {
        b[at..at + 4].copy_from_slice(&v.to_be_bytes());
        reseal(b)
    }

    fn reseal(mut b: Vec<u8>) -> Vec<u8> {
        let crc = crc32c::crc32c(&b[ATTRIBUTES_OFFSET..]);
        b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        b
    }

    fn code(r: Result<Vec<ValidBatch>, ValidationError>) -> &'static str {
        match r {
            Ok(_) => "ok",
            Err(ValidationError::Corrupt(_)) => "corrupt",
            Err(ValidationError::InvalidRecord(_)) => "invalid",
            Err(ValidationError::TooLarge { .. } | ValidationError::Inflated { .. }) => "too large",
            Err(ValidationError::NullKey { .. }) => "null key",
        }
    }

    #[test]
    fn a_good_batch_passes_with_its_records_max_timestamp() {
        let b = sample_batch(3, 1000);
        let v = validate(&b, AppendOrigin::Client, &CONFIG).unwrap();
        // sample_batch's records all have timestamp delta 0.
        assert_eq!((v.len(), v[0].max_timestamp, v[0].header.record_count), (1, 1000, 3));
    }

    #[test]
    fn client_rules_are_kafkas() {
        let b = sample_batch(3, 1000);
        // recordCount i32::MAX with lastOffsetDelta to match: the records are not there.
        let huge = with_i32(with_i32(b.clone(), RECORD_COUNT_OFFSET, i32::MAX), LAST_OFFSET_DELTA_OFFSET, i32::MAX - 1);
        assert_eq!(code(validate(&huge, AppendOrigin::Client, &CONFIG)), "invalid");
        // lastOffsetDelta 10^9 with 3 records.
        assert_eq!(code(validate(&with_i32(b.clone(), LAST_OFFSET_DELTA_OFFSET, 1_000_000_000), AppendOrigin::Client, &CONFIG)), "invalid");
        assert_eq!(code(validate(&with_i32(b.clone(), LAST_OFFSET_DELTA_OFFSET, i32::MAX), AppendOrigin::Client, &CONFIG)), "invalid");
        // More records than the offset range holds.
        assert_eq!(code(validate(&with_i32(b.clone(), RECORD_COUNT_OFFSET, 4), AppendOrigin::Coordinator, &CONFIG)), "invalid");
        // A control batch (attribute bit 5) from a client; the coordinator may write it.
        let mut control = b.clone();
        control[ATTRIBUTES_OFFSET + 1] |= CONTROL_FLAG as u8;
        let control = reseal(control);
        assert_eq!(code(validate(&control, AppendOrigin::Client, &CONFIG)), "invalid");
        assert_eq!(code(validate(&control, AppendOrigin::Coordinator, &CONFIG)), "ok");
        // Transactional without a producer id; a producer id without a sequence.
        let mut txn = b.clone();
        txn[ATTRIBUTES_OFFSET + 1] |= TRANSACTIONAL_FLAG as u8;
        assert_eq!(code(validate(&reseal(txn), AppendOrigin::Client, &CONFIG)), "invalid");
        let mut pid = b.clone();
        pid[PRODUCER_ID_OFFSET..PRODUCER_ID_OFFSET + 8].copy_from_slice(&7i64.to_be_bytes());
        pid[BASE_SEQUENCE_OFFSET..BASE_SEQUENCE_OFFSET + 4].copy_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(code(validate(&reseal(pid), AppendOrigin::Client, &CONFIG)), "invalid");
        // Codec ids 5-7; two batches; a base offset other than 0.
        let mut codec = b.clone();
        codec[ATTRIBUTES_OFFSET + 1] |= 0x05;
        assert_eq!(code(validate(&reseal(codec), AppendOrigin::Client, &CONFIG)), "invalid");
        assert_eq!(code(validate(&[b.clone(), b.clone()].concat(), AppendOrigin::Client, &CONFIG)), "invalid");
        assert_eq!(code(validate(&[b.clone(), b.clone()].concat(), AppendOrigin::Coordinator, &CONFIG)), "ok");
        let mut based = b.clone();
        based[BASE_OFFSET_OFFSET..BASE_OFFSET_OFFSET + 8].copy_from_slice(&5i64.to_be_bytes());
        assert_eq!(code(validate(&based, AppendOrigin::Client, &CONFIG)), "invalid");
        assert_eq!(code(validate(&b, AppendOrigin::Client, &ValidationConfig { max_message_bytes: b.len() - 1, ..CONFIG })), "too large");
    }

    #[test]
    fn records_that_do_not_parse_are_refused() {
        let b = sample_batch(3, 1000);
        // Zeroed records area (valid CRC): length 0 records with nothing in them.
        let mut zeroed = b.clone();
        zeroed[HEADER_LEN..].fill(0);
        assert_eq!(code(validate(&reseal(zeroed), AppendOrigin::Client, &CONFIG)), "invalid");
        // A record length that overruns the batch.
        let mut overrun = b.clone();
        overrun[HEADER_LEN] = 0x7e;
        assert_eq!(code(validate(&reseal(overrun), AppendOrigin::Client, &CONFIG)), "invalid");
        // Trailing bytes after the declared records.
        let mut trailing = b.clone();
        trailing.push(0);
        let len = (trailing.len() - batch::LOG_OVERHEAD) as i32;
        assert_eq!(code(validate(&with_i32(trailing, LENGTH_OFFSET, len), AppendOrigin::Client, &CONFIG)), "invalid");
        // Every truncation of the records section (header lengths fixed up) is refused.
        for cut in HEADER_LEN..b.len() {
            let t = b[..cut].to_vec();
            let len = (t.len() - batch::LOG_OVERHEAD) as i32;
            assert_ne!(code(validate(&with_i32(t, LENGTH_OFFSET, len), AppendOrigin::Client, &CONFIG)), "ok", "cut at {cut}");
        }
        // A record offset delta out of order.
        let mut delta = b.clone();
        delta[HEADER_LEN + 3] = 4; // record 0's offset delta: zigzag 4 = 2
        assert_eq!(code(validate(&reseal(delta), AppendOrigin::Client, &CONFIG)), "invalid");
    }

    #[test]
    fn compacted_topics_need_keys_and_bombs_are_refused() {
        let b = sample_batch(2, 1000);
        match validate(&b, AppendOrigin::Client, &ValidationConfig { compacted: true, ..CONFIG }) {
            Err(ValidationError::NullKey { record_indexes }) => assert_eq!(record_indexes, vec![0, 1]),
            other => panic!("{other:?}"),
        }
        // A zstd records section of one record whose value is 4 MiB of zeros.
        let mut record = vec![0u8, 0, 0, 1];
        batch::put_varint(&mut record, 4 << 20);
        record.extend(std::iter::repeat_n(0u8, 4 << 20));
        record.push(0);
        let mut raw = Vec::new();
        batch::put_varint(&mut raw, record.len() as i64);
        raw.extend_from_slice(&record);
        let packed = compression::compress(Compression::Zstd, &raw).unwrap();
        let bomb = batch::rebuild(&sample_batch(1, 1000), &packed, 1, 4, 1000, None);
        assert!(bomb.len() < 4096);
        assert_eq!(code(validate(&bomb, AppendOrigin::Client, &CONFIG)), "too large");
        assert_eq!(code(validate(&bomb, AppendOrigin::Client, &ValidationConfig { max_message_bytes: 5 << 20, ..CONFIG })), "ok");
    }
}
