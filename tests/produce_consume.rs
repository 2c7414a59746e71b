//! Bulk produce/consume round trips through librdkafka, once per compression codec.
//!
//! 100k keyed records (headers, explicit timestamps, a few null values) over a 3-partition topic
//! with acks=all, consumed back with assign() from offset 0 and compared byte for byte. Two more
//! runs give the topic a `compression.type` other than `producer`: the broker then recompresses
//! every batch to it (as Kafka does), here with an idempotent producer, whose sequences must survive.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;

const RECORDS: u64 = 100_000;
const PARTITIONS: i32 = 3;
const KEYS: u64 = 1000;
const BASE_TS: i64 = 1_600_000_000_000;

struct Expected {
    key: Vec<u8>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    ts: i64,
}

fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

fn expected(seq: u64, codec: &str) -> Expected {
    let key = format!("key-{:04}", (seq * 7919) % KEYS).into_bytes();
    let value = if seq % 997 == 13 {
        None // tombstone-style null value
    } else {
        let mut v = format!("value-{seq}-").into_bytes();
        // Half compressible text, half pseudo-random bytes, variable length.
        let len = 10 + (seq % 150) as usize;
        let mut x = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        for i in 0..len {
            if i % 2 == 0 {
                x = xorshift(x);
                v.push(x as u8);
            } else {
                v.push(b'a' + (i % 26) as u8);
            }
        }
        Some(v)
    };
    let headers = vec![
        ("seq".to_string(), Some(seq.to_be_bytes().to_vec())),
        ("codec".to_string(), Some(codec.as_bytes().to_vec())),
        ("empty".to_string(), Some(Vec::new())),
        ("null".to_string(), None),
        ("seq".to_string(), Some(format!("dup-{seq}").into_bytes())), // duplicate header key
    ];
    let ts = BASE_TS + (seq as i64) * 3;
    Expected { key, value, headers, ts }
}

fn run_codec(codec: &str) {
    run(codec, None)
}

/// Produces with the producer's `codec`; with `topic_codec`, the topic's compression.type is set
/// to it and every stored batch must be in that codec.
fn run(codec: &str, topic_codec: Option<&str>) {
    let t0 = Instant::now();
    let broker = TestBroker::start();
    let topic = topic_name(&format!("bulk-{codec}"));
    let topic_configs: Vec<(&str, &str)> = topic_codec.map(|c| ("compression.type", c)).into_iter().collect();
    broker.create_topic(&topic, PARTITIONS, &topic_configs);

    let producer = broker.producer_with(&[
        ("enable.idempotence", if topic_codec.is_some() { "true" } else { "false" }),
        ("compression.type", codec),
        ("linger.ms", "20"),
        ("batch.num.messages", "5000"),
        ("batch.size", "1000000"),
    ]);

    // Produce everything, then collect all delivery reports.
    let mut futures = Vec::with_capacity(RECORDS as usize);
    for seq in 0..RECORDS {
        let e = expected(seq, codec);
        let mut headers = OwnedHeaders::new_with_capacity(e.headers.len());
        for (k, v) in &e.headers {
            headers = headers.insert(Header { key: k.as_str(), value: v.as_deref() });
        }
        let mut rec = FutureRecord::<[u8], [u8]>::to(&topic)
            .key(&e.key[..])
            .headers(headers)
            .timestamp(e.ts);
        if let Some(v) = &e.value {
            rec = rec.payload(&v[..]);
        }
        futures.push(send_retry(&producer, rec));
    }
    let mut delivered: HashMap<(i32, i64), u64> = HashMap::new();
    let mut per_partition = [0i64; PARTITIONS as usize];
    for (seq, f) in futures.into_iter().enumerate() {
        let (p, o) = await_delivery(f);
        assert!((0..PARTITIONS).contains(&p), "bad partition {p}");
        assert!(delivered.insert((p, o), seq as u64).is_none(), "offset {p}/{o} acknowledged twice");
        per_partition[p as usize] += 1;
    }
    eprintln!("[{codec}] produced {RECORDS} in {:?}; per partition {per_partition:?}", t0.elapsed());
    for p in 0..PARTITIONS {
        assert!(per_partition[p as usize] > 0, "partition {p} got no records (keys not spread?)");
    }

    // Consume back from offset 0 of every partition.
    let t1 = Instant::now();
    let consumer = broker.consumer_with(&[("fetch.max.bytes", "8388608")]);
    let starts: Vec<(i32, i64)> = (0..PARTITIONS).map(|p| (p, 0)).collect();
    assign(&consumer, &topic, &starts);
    let records = poll_n(&consumer, RECORDS as usize, Duration::from_secs(120));
    assert_no_more(&consumer, Duration::from_millis(300));
    eprintln!("[{codec}] consumed {RECORDS} in {:?}", t1.elapsed());

    let mut next_offset = [0i64; PARTITIONS as usize];
    let mut key_partition: HashMap<Vec<u8>, i32> = HashMap::new();
    let mut key_last_seq: HashMap<Vec<u8>, u64> = HashMap::new();
    let mut seen = vec![false; RECORDS as usize];
    for r in &records {
        let p = r.partition;
        assert_eq!(r.offset, next_offset[p as usize], "partition {p}: offsets must be contiguous and in order");
        next_offset[p as usize] += 1;

        let seq_hdr = r.headers.first().and_then(|h| h.1.clone()).expect("seq header");
        let seq = u64::from_be_bytes(seq_hdr.as_slice().try_into().expect("8-byte seq header"));
        assert!(seq < RECORDS, "bad seq {seq}");
        assert!(!seen[seq as usize], "seq {seq} consumed twice");
        seen[seq as usize] = true;
        assert_eq!(delivered.get(&(p, r.offset)), Some(&seq), "record at {p}/{} is not the one acknowledged there", r.offset);

        let e = expected(seq, codec);
        assert_eq!(r.key.as_deref(), Some(&e.key[..]), "key of seq {seq}");
        assert_eq!(r.value, e.value, "value of seq {seq}");
        assert_eq!(r.headers, e.headers, "headers of seq {seq}");
        assert_eq!(r.timestamp, Some(e.ts), "timestamp of seq {seq}");

        let kp = *key_partition.entry(e.key.clone()).or_insert(p);
        assert_eq!(kp, p, "key {:?} appeared in partitions {kp} and {p}", String::from_utf8_lossy(&e.key));
        if let Some(last) = key_last_seq.insert(e.key.clone(), seq) {
            assert!(last < seq, "per-key order broken for key {:?}: seq {last} before {seq}", String::from_utf8_lossy(&e.key));
        }
    }
    assert!(seen.iter().all(|s| *s), "not every record was consumed");
    assert_eq!(next_offset, per_partition, "consumed per-partition counts vs acknowledged");

    // High watermarks agree.
    for p in 0..PARTITIONS {
        let (lo, hi) = consumer_watermarks(&broker, &topic, p);
        assert_eq!((lo, hi), (0, per_partition[p as usize]), "watermarks of partition {p}");
    }
    // The batches on disk carry the requested codec (attributes bits 0-2). This catches clients
    // that silently fall back to no compression because of what the broker advertises
    // (librdkafka enables lz4 only when FindCoordinator is advertised, zstd only with Produce v7+).
    // librdkafka legitimately sends a batch uncompressed when compressing does not shrink it,
    // which happens for tiny batches, so uncompressed batches of a few records are tolerated.
    let want = topic_codec.unwrap_or(codec);
    let want_codec: i16 = match want { "none" | "uncompressed" => 0, "gzip" => 1, "snappy" => 2, "lz4" => 3, "zstd" => 4, _ => unreachable!() };
    let mut stored: HashMap<i16, usize> = HashMap::new();
    for p in 0..PARTITIONS {
        for (_, path) in segment_files(&broker.partition_dir(&topic, p)) {
            let data = std::fs::read(&path).unwrap();
            let batches = log_batches(&data);
            let covered = batches.last().map(|h| h.base_offset + h.last_offset_delta as i64 + 1);
            assert_eq!(covered, Some(per_partition[p as usize]), "segment walk of partition {p}");
            for h in batches {
                let attrs = i16::from_be_bytes(data[h.file_pos + 21..h.file_pos + 23].try_into().unwrap());
                let id = attrs & 7;
                *stored.entry(id).or_default() += 1;
                // The broker recompresses everything; only the producer may skip tiny batches.
                let tiny_uncompressed = id == 0 && h.last_offset_delta < 5 && topic_codec.is_none();
                assert!(id == want_codec || tiny_uncompressed,
                    "compression.type={want}: batch {p}/{} with {} records stored with codec id {id}",
                    h.base_offset, h.last_offset_delta + 1);
            }
        }
    }
    assert!(stored.get(&want_codec).copied().unwrap_or(0) > 0, "no batch stored with codec {want}: {stored:?}");
    eprintln!("[{codec}] stored batches per codec id: {stored:?}");
    eprintln!("[{codec}] total {:?}", t0.elapsed());
}

fn consumer_watermarks(b: &TestBroker, topic: &str, p: i32) -> (i64, i64) {
    use rdkafka::consumer::Consumer;
    b.consumer().fetch_watermarks(topic, p, OP_TIMEOUT).expect("fetch_watermarks")
}

#[test]
fn roundtrip_100k_none() {
    run_codec("none");
}

#[test]
fn roundtrip_100k_gzip() {
    run_codec("gzip");
}

#[test]
fn roundtrip_100k_snappy() {
    run_codec("snappy");
}

#[test]
fn roundtrip_100k_lz4() {
    run_codec("lz4");
}

#[test]
fn roundtrip_100k_zstd() {
    run_codec("zstd");
}

#[test]
fn topic_compression_type_zstd_recompresses_lz4() {
    run("lz4", Some("zstd"));
}

#[test]
fn topic_compression_type_uncompressed_decompresses_gzip() {
    run("gzip", Some("uncompressed"));
}
