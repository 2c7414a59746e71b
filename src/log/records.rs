//! The few paths that must rebuild a batch's records — compaction, recompression to a topic's
//! `compression.type`, ListOffsets by timestamp — read them here (validation walks them in place
//! in `validator`). Produce and fetch never come here for ordinary topics: they keep batches as bytes.
//!
//! Records are handled as raw byte slices (only length, timestamp, offset and key are read) and
//! re-assembled byte for byte, so nothing of a record is lost or reordered — kafka-protocol's
//! `Record` keeps headers in a map, which would merge duplicate header keys. Decompression is
//! bounded (`compression::decompress`).

use super::batch::{self, BatchError, BatchHeader, CONTROL_TYPE_ABORT, CONTROL_TYPE_COMMIT, HEADER_LEN, TIMESTAMP_TYPE_BIT};
use super::compression::{self, codec_id, codec_of};
use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions};
use std::ops::Range;

/// The fewest bytes a v2 record takes: one each for its length, attributes, timestamp delta,
/// offset delta, key length, value length and header count.
const MIN_RECORD_LEN: usize = 7;
/// The version of the control record key and value Kafka writes (`ControlRecordType`,
/// `EndTransactionMarker`).
const CONTROL_RECORD_VERSION: i16 = 0;

/// One record of a batch, located in its (decompressed) records section.
#[derive(Debug, Clone)]
pub struct RawRecord {
    /// The whole record, its length varint included: what re-assembling a batch copies.
    pub bytes: Range<usize>,
    /// The record's offset: base offset plus its offset delta.
    pub offset: i64,
    /// The record's timestamp (ms): base timestamp plus its delta, or the LogAppendTime.
    pub timestamp: i64,
    /// None for a null key.
    pub key: Option<Range<usize>>,
    /// The value is null: a tombstone.
    pub value_is_null: bool,
}

/// A batch's records, decompressed: `section` holds them back to back.
pub struct Records {
    /// The records section, decompressed.
    pub section: Bytes,
    /// The records, in order, as ranges of `section`.
    pub records: Vec<RawRecord>,
}

impl Records {
    /// The key of `r` (one of `records`), None if null.
    pub fn key(&self, r: &RawRecord) -> Option<&[u8]> {
        r.key.clone().map(|k| &self.section[k])
    }
}

/// The records of one v2 batch (`bytes` is exactly the batch, header included), decompressed to
/// at most `limit` bytes (the partition's `max.message.bytes`: a stored batch never held more).
pub fn read(h: &BatchHeader, bytes: &[u8], limit: usize) -> Result<Records, BatchError> {
    let body = &bytes[HEADER_LEN..h.size];
    let section = match codec_of(h.attributes).map_err(codec_error)? {
        Compression::None => Bytes::copy_from_slice(body),
        codec => Bytes::from(compression::decompress(codec, body, limit).map_err(codec_error)?),
    };
    let log_append_time = h.attributes & TIMESTAMP_TYPE_BIT != 0;
    let bad = || BatchError::Records("record truncated or malformed".into());
    // The count on disk never reserves more records than the section can hold.
    let mut records = Vec::with_capacity((h.record_count.max(0) as usize).min(section.len() / MIN_RECORD_LEN));
    let mut pos = 0usize;
    while pos < section.len() {
        let start = pos;
        let len = batch::varint(&section, &mut pos).ok_or_else(bad)?;
        let end = pos.checked_add(usize::try_from(len).map_err(|_| bad())?).filter(|&e| e <= section.len()).ok_or_else(bad)?;
        let body = &section[..end];
        pos += 1; // attributes
        let ts_delta = batch::varint(body, &mut pos).ok_or_else(bad)?;
        let offset_delta = batch::varint(body, &mut pos).ok_or_else(bad)?;
        let key_len = batch::varint(body, &mut pos).ok_or_else(bad)?;
        let key = match key_len {
            -1 => None,
            n if n >= 0 && pos + n as usize <= end => {
                let k = pos..pos + n as usize;
                pos = k.end;
                Some(k)
            }
            _ => return Err(bad()),
        };
        let value_len = batch::varint(body, &mut pos).ok_or_else(bad)?;
        records.push(RawRecord {
            bytes: start..end,
            offset: h.base_offset.wrapping_add(offset_delta),
            timestamp: if log_append_time { h.max_timestamp } else { h.base_timestamp.saturating_add(ts_delta) },
            key,
            value_is_null: value_len < 0,
        });
        pos = end;
    }
    Ok(Records { section, records })
}

/// A copy of `batch` (whose records `recs` are) holding only the records `kept`, in codec
/// `target` (`None`: its own). As Kafka does for v2 batches, base offset and last offset delta
/// stay those of the original, so producer sequences and the log's offsets are unchanged.
/// With `delete_horizon` (the log cleaner's, KIP-534) the batch's base timestamp becomes the
/// horizon and every record's timestamp delta is re-encoded against it, so record timestamps
/// stay what they were.
/// None if nothing is kept.
pub fn rewrite<'a>(
    h: &BatchHeader,
    batch: &[u8],
    recs: &Records,
    kept: impl IntoIterator<Item = &'a RawRecord>,
    target: Option<Compression>,
    delete_horizon: Option<i64>,
) -> Result<Option<Vec<u8>>, BatchError> {
    let mut raw = Vec::with_capacity(recs.section.len());
    let (mut count, mut max_ts) = (0i32, i64::MIN);
    for r in kept {
        let record = &recs.section[r.bytes.clone()];
        match delete_horizon {
            None => raw.extend_from_slice(record),
            Some(horizon) => rebase_timestamp(&mut raw, record, h.base_timestamp, horizon)?,
        }
        count += 1;
        max_ts = max_ts.max(r.timestamp);
    }
    if count == 0 {
        return Ok(None);
    }
    if h.attributes & TIMESTAMP_TYPE_BIT != 0 {
        max_ts = h.max_timestamp;
    }
    let target = match target {
        Some(t) => t,
        None => codec_of(h.attributes).map_err(codec_error)?,
    };
    let packed = compression::compress(target, &raw).map_err(codec_error)?;
    Ok(Some(batch::rebuild(batch, &packed, count, codec_id(target), max_ts, delete_horizon)))
}

/// Appends `record` (length varint included) with its timestamp delta moved from base
/// timestamp `from` to `to`; every other byte is copied as it is.
fn rebase_timestamp(out: &mut Vec<u8>, record: &[u8], from: i64, to: i64) -> Result<(), BatchError> {
    let bad = || BatchError::Records("record truncated or malformed".into());
    let mut pos = 0;
    batch::varint(record, &mut pos).ok_or_else(bad)?;
    let attributes = *record.get(pos).ok_or_else(bad)?;
    pos += 1;
    let delta = batch::varint(record, &mut pos).ok_or_else(bad)?;
    let rest = &record[pos..];
    let mut body = vec![attributes];
    batch::put_varint(&mut body, from.wrapping_add(delta).wrapping_sub(to));
    body.extend_from_slice(rest);
    batch::put_varint(out, body.len() as i64);
    out.extend_from_slice(&body);
    Ok(())
}

/// The batch's records section in codec `target`, every record kept as it is.
pub fn recompress(h: &BatchHeader, batch: &[u8], target: Compression, limit: usize) -> Result<Vec<u8>, BatchError> {
    let recs = read(h, batch, limit)?;
    Ok(rewrite(h, batch, &recs, &recs.records, Some(target), None)?.unwrap_or_else(|| batch[..h.size].to_vec()))
}

/// A topic's `compression.type`: `None` for `producer` (keep what the producer sent).
pub fn parse_compression_type(value: &str) -> Option<Option<Compression>> {
    Some(match value {
        "producer" => None,
        "uncompressed" => Some(Compression::None),
        "gzip" => Some(Compression::Gzip),
        "snappy" => Some(Compression::Snappy),
        "lz4" => Some(Compression::Lz4),
        "zstd" => Some(Compression::Zstd),
        _ => return None,
    })
}

/// The most an internal topic's batch may inflate to when replayed.
const INTERNAL_INFLATE_LIMIT: usize = 16 << 20;

fn codec_error(e: compression::CodecError) -> BatchError {
    BatchError::Records(e.to_string())
}

/// Decodes a whole batch into kafka-protocol records: for internal topics' own, header-less
/// records (never for client data, whose duplicate header keys a `Record` would merge).
pub fn decode(bytes: &[u8]) -> Result<(Compression, Vec<Record>), BatchError> {
    // kafka-protocol inflates without a bound: a compressed batch (which Odradek's coordinators
    // never write) is first inflated here with one, so a damaged file cannot bomb a replay.
    let h = batch::parse_header(bytes)?;
    let codec = codec_of(h.attributes).map_err(codec_error)?;
    if codec != Compression::None && bytes.len() >= h.size {
        compression::decompress(codec, &bytes[HEADER_LEN..h.size], INTERNAL_INFLATE_LIMIT).map_err(codec_error)?;
    }
    let mut buf = Bytes::copy_from_slice(bytes);
    let set = RecordBatchDecoder::decode(&mut buf).map_err(|e| BatchError::Records(e.to_string()))?;
    Ok((set.compression, set.records))
}

/// A record as a non-transactional, non-idempotent producer writes it (no headers): what the
/// coordinators store, and what tests and the fuzzer build batches from.
pub fn plain_record(offset: i64, timestamp: i64, key: Option<Bytes>, value: Option<Bytes>) -> Record {
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: kafka_protocol::records::TimestampType::Creation,
        offset,
        sequence: -1,
        timestamp,
        key,
        value,
        headers: Default::default(),
    }
}

/// One v2 batch of broker-made records (internal topics, transaction markers).
pub fn encode<'a>(records: impl IntoIterator<Item = &'a Record>, compression: Compression) -> Result<BytesMut, BatchError> {
    let records: Vec<&Record> = records.into_iter().collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(&mut buf, records, &RecordEncodeOptions { version: 2, compression })
        .map_err(|e| BatchError::Records(e.to_string()))?;
    Ok(buf)
}

/// A transaction marker: the control batch that commits or aborts `producer_id`'s transaction
/// in a partition (key: version 0 and the control type, ABORT 0 / COMMIT 1; value: version 0 and
/// the coordinator epoch, as Kafka's `EndTransactionMarker`).
pub fn end_txn_marker(producer_id: i64, producer_epoch: i16, commit: bool, coordinator_epoch: i32, timestamp: i64) -> Result<BytesMut, BatchError> {
    use bytes::BufMut;
    let mut key = BytesMut::new();
    key.put_i16(CONTROL_RECORD_VERSION);
    key.put_i16(if commit { CONTROL_TYPE_COMMIT } else { CONTROL_TYPE_ABORT });
    let mut value = BytesMut::new();
    value.put_i16(CONTROL_RECORD_VERSION);
    value.put_i32(coordinator_epoch);
    let record = Record {
        transactional: true,
        control: true,
        producer_id,
        producer_epoch,
        timestamp,
        key: Some(key.freeze()),
        value: Some(value.freeze()),
        ..plain_record(0, timestamp, None, None)
    };
    encode([&record], Compression::None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::TimestampType;

    const LIMIT: usize = 1 << 20;

    fn sample() -> Vec<u8> {
        let records: Vec<Record> = (0..10)
            .map(|i| Record {
                transactional: false,
                control: false,
                partition_leader_epoch: 0,
                producer_id: 7,
                producer_epoch: 1,
                timestamp_type: TimestampType::Creation,
                offset: i,
                sequence: 3 + i as i32,
                timestamp: 1000 + i,
                key: (i != 4).then(|| Bytes::from(format!("k{i}"))),
                value: (i != 5).then(|| Bytes::from(vec![b'v'; 200])),
                headers: Default::default(),
                delete_horizon: false,
            })
            .collect();
        encode(&records, Compression::None).unwrap().to_vec()
    }

    #[test]
    fn recompress_keeps_every_record_byte_for_byte() {
        let plain = sample();
        let h = batch::validate(&plain).unwrap();
        let before = read(&h, &plain, LIMIT).unwrap();
        assert_eq!(before.records.len(), 10);
        assert_eq!(before.key(&before.records[4]), None);
        assert_eq!(before.key(&before.records[3]), Some(&b"k3"[..]));
        assert!(before.records[5].value_is_null && !before.records[6].value_is_null);
        assert_eq!((before.records[9].offset, before.records[9].timestamp), (9, 1009));
        for target in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd, Compression::None] {
            let packed = recompress(&h, &plain, target, LIMIT).unwrap();
            let p = batch::validate(&packed).unwrap();
            assert_eq!(codec_of(p.attributes), Ok(target));
            assert_eq!((p.producer_id, p.base_sequence, p.record_count, p.last_offset_delta, p.max_timestamp), (7, 3, 10, 9, 1009));
            assert_eq!(read(&p, &packed, LIMIT).unwrap().section, before.section, "{target:?}");
            if target != Compression::None {
                assert!(packed.len() < plain.len(), "{target:?} should shrink repetitive values");
            }
        }
    }

    #[test]
    fn rewrite_keeps_base_and_last_offset() {
        let plain = sample();
        let h = batch::validate(&plain).unwrap();
        let recs = read(&h, &plain, LIMIT).unwrap();
        let kept = rewrite(&h, &plain, &recs, recs.records.iter().filter(|r| r.offset == 2 || r.offset == 6), None, None).unwrap().unwrap();
        let k = batch::validate(&kept).unwrap();
        assert_eq!((k.base_offset, k.last_offset_delta, k.record_count, k.max_timestamp), (0, 9, 2, 1006));
        let offsets: Vec<i64> = read(&k, &kept, LIMIT).unwrap().records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, [2, 6]);
        assert!(rewrite(&h, &plain, &recs, [], None, None).unwrap().is_none());
    }

    #[test]
    fn rewrite_with_delete_horizon_keeps_record_timestamps() {
        let plain = sample();
        let h = batch::validate(&plain).unwrap();
        assert_eq!(h.delete_horizon(), None);
        let recs = read(&h, &plain, LIMIT).unwrap();
        // A horizon far from the records' timestamps: every delta changes size and sign.
        let horizon = 1_700_000_000_000;
        for target in [None, Some(Compression::Zstd)] {
            let out = rewrite(&h, &plain, &recs, &recs.records, target, Some(horizon)).unwrap().unwrap();
            let o = batch::validate(&out).expect("valid batch, CRC included");
            assert_eq!((o.delete_horizon(), o.base_timestamp, o.max_timestamp), (Some(horizon), horizon, 1009));
            assert_eq!((o.base_offset, o.last_offset_delta, o.record_count, o.base_sequence), (0, 9, 10, 3));
            // kafka-protocol reads the same records, with their original timestamps.
            let (_, decoded) = decode(&out).unwrap();
            let (_, original) = decode(&plain).unwrap();
            assert_eq!(decoded.len(), 10);
            for (d, o) in decoded.iter().zip(&original) {
                assert_eq!((d.offset, d.timestamp, &d.key, &d.value, d.sequence), (o.offset, o.timestamp, &o.key, &o.value, o.sequence));
                assert!(d.delete_horizon, "{target:?}");
            }
            // Filtered again later: the horizon stays, the deltas stay relative to it.
            let again = read(&o, &out, LIMIT).unwrap();
            let kept = rewrite(&o, &out, &again, again.records.iter().filter(|r| r.offset >= 5), None, None).unwrap().unwrap();
            let k = batch::validate(&kept).unwrap();
            assert_eq!(k.delete_horizon(), Some(horizon));
            let ts: Vec<(i64, i64)> = read(&k, &kept, LIMIT).unwrap().records.iter().map(|r| (r.offset, r.timestamp)).collect();
            assert_eq!(ts, (5..10).map(|i| (i, 1000 + i)).collect::<Vec<_>>());
        }
    }
}
