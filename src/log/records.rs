//! The few paths that must look inside a batch — compaction, recompression to a topic's
//! `compression.type`, Kafka's keyless-record check on compacted topics, a missing maxTimestamp —
//! do it here. Produce and fetch never come here for ordinary topics: they keep batches as bytes.
//!
//! Records are handled as raw byte slices (only length, timestamp, offset and key are read) and
//! re-assembled byte for byte, so nothing of a record is lost or reordered — kafka-protocol's
//! `Record` keeps headers in a map, which would merge duplicate header keys. The codecs are
//! kafka-protocol's (xerial-framed snappy, KIP-57 lz4 frames, as Kafka writes them).

use super::batch::{self, BatchError, BatchHeader, HEADER_LEN};
use bytes::{Bytes, BytesMut};
use kafka_protocol::compression::{Compressor, Decompressor, Gzip, Lz4, Snappy, Zstd};
use kafka_protocol::records::{Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions};
use std::ops::Range;

/// One record of a batch, located in its (decompressed) records section.
#[derive(Debug, Clone)]
pub struct RawRecord {
    /// The whole record, its length varint included: what re-assembling a batch copies.
    pub bytes: Range<usize>,
    pub offset: i64,
    pub timestamp: i64,
    /// None for a null key.
    pub key: Option<Range<usize>>,
    pub value_is_null: bool,
}

/// A batch's records, decompressed: `section` holds them back to back.
pub struct Records {
    pub section: Bytes,
    pub records: Vec<RawRecord>,
}

impl Records {
    pub fn key(&self, r: &RawRecord) -> Option<&[u8]> {
        r.key.clone().map(|k| &self.section[k])
    }
}

/// The records of one v2 batch (`bytes` is exactly the batch, header included).
pub fn read(h: &BatchHeader, bytes: &[u8]) -> Result<Records, BatchError> {
    let section = decompress(codec(h.attributes), Bytes::copy_from_slice(&bytes[HEADER_LEN..h.size]))?;
    let log_append_time = h.attributes & 0x08 != 0;
    let bad = || BatchError::Records("record truncated or malformed".into());
    let mut records = Vec::with_capacity(h.record_count.max(0) as usize);
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
            offset: h.base_offset + offset_delta,
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
    if h.attributes & 0x08 != 0 {
        max_ts = h.max_timestamp;
    }
    let target = target.unwrap_or_else(|| codec(h.attributes));
    let packed = compress(target, &raw)?;
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
pub fn recompress(h: &BatchHeader, batch: &[u8], target: Compression) -> Result<Vec<u8>, BatchError> {
    let recs = read(h, batch)?;
    Ok(rewrite(h, batch, &recs, &recs.records, Some(target), None)?.unwrap_or_else(|| batch[..h.size].to_vec()))
}

/// The codec in a batch's attributes (bits 0-2).
pub fn codec(attributes: i16) -> Compression {
    match attributes & 0x07 {
        1 => Compression::Gzip,
        2 => Compression::Snappy,
        3 => Compression::Lz4,
        4 => Compression::Zstd,
        _ => Compression::None,
    }
}

fn codec_id(c: Compression) -> i16 {
    match c {
        Compression::None => 0,
        Compression::Gzip => 1,
        Compression::Snappy => 2,
        Compression::Lz4 => 3,
        Compression::Zstd => 4,
    }
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

fn codec_error(e: anyhow::Error) -> BatchError {
    BatchError::Records(format!("{e:#}"))
}

fn decompress(c: Compression, mut data: Bytes) -> Result<Bytes, BatchError> {
    let all = |b: &mut Bytes| Ok(std::mem::take(b));
    match c {
        Compression::None => Ok(data),
        Compression::Gzip => Gzip::decompress(&mut data, all),
        Compression::Snappy => Snappy::decompress(&mut data, all),
        Compression::Lz4 => Lz4::decompress(&mut data, all),
        Compression::Zstd => Zstd::decompress(&mut data, all),
    }
    .map_err(codec_error)
}

fn compress(c: Compression, raw: &[u8]) -> Result<BytesMut, BatchError> {
    let mut out = BytesMut::with_capacity(raw.len() / 2 + 64);
    let put = |tmp: &mut BytesMut| {
        tmp.extend_from_slice(raw);
        Ok(())
    };
    match c {
        Compression::None => {
            out.extend_from_slice(raw);
            Ok(())
        }
        Compression::Gzip => Gzip::compress(&mut out, put),
        Compression::Snappy => Snappy::compress(&mut out, put),
        Compression::Lz4 => Lz4::compress(&mut out, put),
        Compression::Zstd => Zstd::compress(&mut out, put),
    }
    .map_err(codec_error)?;
    Ok(out)
}

/// Decodes a whole batch into kafka-protocol records: for internal topics' own, header-less
/// records (never for client data, whose duplicate header keys a `Record` would merge).
pub fn decode(bytes: &[u8]) -> Result<(Compression, Vec<Record>), BatchError> {
    let mut buf = Bytes::copy_from_slice(bytes);
    let set = RecordBatchDecoder::decode(&mut buf).map_err(|e| BatchError::Records(e.to_string()))?;
    Ok((set.compression, set.records))
}

/// One v2 batch of broker-made records (internal topics, transaction markers).
pub fn encode<'a>(records: impl IntoIterator<Item = &'a Record>, compression: Compression) -> Result<BytesMut, BatchError> {
    let records: Vec<&Record> = records.into_iter().collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(&mut buf, records, &RecordEncodeOptions { version: 2, compression })
        .map_err(|e| BatchError::Records(e.to_string()))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::TimestampType;

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
        let before = read(&h, &plain).unwrap();
        assert_eq!(before.records.len(), 10);
        assert_eq!(before.key(&before.records[4]), None);
        assert_eq!(before.key(&before.records[3]), Some(&b"k3"[..]));
        assert!(before.records[5].value_is_null && !before.records[6].value_is_null);
        assert_eq!((before.records[9].offset, before.records[9].timestamp), (9, 1009));
        for target in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd, Compression::None] {
            let packed = recompress(&h, &plain, target).unwrap();
            let p = batch::validate(&packed).unwrap();
            assert_eq!(codec(p.attributes), target);
            assert_eq!((p.producer_id, p.base_sequence, p.record_count, p.last_offset_delta, p.max_timestamp), (7, 3, 10, 9, 1009));
            assert_eq!(read(&p, &packed).unwrap().section, before.section, "{target:?}");
            if target != Compression::None {
                assert!(packed.len() < plain.len(), "{target:?} should shrink repetitive values");
            }
        }
    }

    #[test]
    fn rewrite_keeps_base_and_last_offset() {
        let plain = sample();
        let h = batch::validate(&plain).unwrap();
        let recs = read(&h, &plain).unwrap();
        let kept = rewrite(&h, &plain, &recs, recs.records.iter().filter(|r| r.offset == 2 || r.offset == 6), None, None).unwrap().unwrap();
        let k = batch::validate(&kept).unwrap();
        assert_eq!((k.base_offset, k.last_offset_delta, k.record_count, k.max_timestamp), (0, 9, 2, 1006));
        let offsets: Vec<i64> = read(&k, &kept).unwrap().records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, [2, 6]);
        assert!(rewrite(&h, &plain, &recs, [], None, None).unwrap().is_none());
    }

    #[test]
    fn rewrite_with_delete_horizon_keeps_record_timestamps() {
        let plain = sample();
        let h = batch::validate(&plain).unwrap();
        assert_eq!(h.delete_horizon(), None);
        let recs = read(&h, &plain).unwrap();
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
            let again = read(&o, &out).unwrap();
            let kept = rewrite(&o, &out, &again, again.records.iter().filter(|r| r.offset >= 5), None, None).unwrap().unwrap();
            let k = batch::validate(&kept).unwrap();
            assert_eq!(k.delete_horizon(), Some(horizon));
            let ts: Vec<(i64, i64)> = read(&k, &kept).unwrap().records.iter().map(|r| (r.offset, r.timestamp)).collect();
            assert_eq!(ts, (5..10).map(|i| (i, 1000 + i)).collect::<Vec<_>>());
        }
    }
}
