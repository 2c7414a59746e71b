//! Bad input over the raw protocol: requests and record batches that lie about their sizes,
//! counts, offsets, timestamps and codecs, decompression bombs, damaged segment files and plain
//! garbage. Every test runs its own broker, stores some keyed records first and, after the
//! attack, checks that the broker still serves: the process is alive, a fresh connection gets
//! ApiVersions and Metadata answered, a stock client (librdkafka) produces and consumes, the
//! broker's RSS stays bounded, and the records stored before the attack read back byte for byte.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::raw::{api_versions_req, decode_response, encode_request, frame, RawConn};
use common::*;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Record, RecordBatchDecoder};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CORRUPT_MESSAGE: i16 = 2;
const MESSAGE_TOO_LARGE: i16 = 10;
const INVALID_RECORD: i16 = 87;
/// The broker's resident set must stay below this during and after every attack.
const RSS_LIMIT_KIB: u64 = 300 * 1024;
const SEED_RECORDS: usize = 24;
/// How long the broker may take to answer or close a connection after a bad request.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

// ------------------------------------------------------------------ wire writing

/// Big-endian request bytes, written field by field.
struct W(Vec<u8>);

impl W {
    fn new() -> W {
        W(Vec::new())
    }
    fn i8(mut self, v: i8) -> W {
        self.0.push(v as u8);
        self
    }
    fn i16(mut self, v: i16) -> W {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn i32(mut self, v: i32) -> W {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn i64(mut self, v: i64) -> W {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// STRING: i16 length + bytes.
    fn str(self, s: &str) -> W {
        let mut w = self.i16(s.len() as i16);
        w.0.extend_from_slice(s.as_bytes());
        w
    }
    /// UNSIGNED_VARINT.
    fn uv(mut self, mut v: u64) -> W {
        while v >= 0x80 {
            self.0.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
        self
    }
    /// COMPACT_STRING: unsigned varint length + 1, then bytes.
    fn cstr(self, s: &str) -> W {
        let mut w = self.uv(s.len() as u64 + 1);
        w.0.extend_from_slice(s.as_bytes());
        w
    }
    fn done(self) -> Vec<u8> {
        self.0
    }
}

/// A request header (v1, or v2 with its empty tagged-field section when `flexible`) with the
/// 5-byte client id "abcde"; header v0 (for the APIs that use it) has no client id.
fn request_header(key: i16, version: i16, corr: i32, header_version: i16) -> W {
    let w = W::new().i16(key).i16(version).i32(corr);
    match header_version {
        0 => w,
        1 => w.str("abcde"),
        _ => w.str("abcde").uv(0),
    }
}

/// The request header version kafka-protocol gives `key` at `version` (1 for unknown keys).
fn header_version_of(key: i16, version: i16) -> i16 {
    ApiKey::try_from(key).map(|k| k.request_header_version(version)).unwrap_or(1)
}

// ------------------------------------------------------------------ record batches

/// Appends `v` as a zigzag varint (the record fields' encoding).
fn put_varint(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn put_nullable(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => put_varint(out, -1),
        Some(b) => {
            put_varint(out, b.len() as i64);
            out.extend_from_slice(b);
        }
    }
}

/// One v2 record without headers: length, attributes, timestamp delta, offset delta, key, value.
fn record(offset_delta: i32, ts_delta: i64, key: Option<&[u8]>, value: Option<&[u8]>) -> Vec<u8> {
    let mut body = vec![0u8];
    put_varint(&mut body, ts_delta);
    put_varint(&mut body, offset_delta as i64);
    put_nullable(&mut body, key);
    put_nullable(&mut body, value);
    put_varint(&mut body, 0);
    with_length(&body)
}

/// `body` prefixed with its length as a varint (how a record is framed).
fn with_length(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 5);
    put_varint(&mut out, body.len() as i64);
    out.extend_from_slice(body);
    out
}

/// Every header field of a v2 record batch, to be encoded around any records section.
#[derive(Clone, Copy, Debug)]
struct Batch {
    base_offset: i64,
    leader_epoch: i32,
    magic: i8,
    attributes: i16,
    last_offset_delta: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    record_count: i32,
}

impl Batch {
    /// A plain header for `records` records, all at `ts`, no producer id.
    fn new(records: i32, ts: i64) -> Batch {
        Batch {
            base_offset: 0,
            leader_epoch: -1,
            magic: 2,
            attributes: 0,
            last_offset_delta: records - 1,
            base_timestamp: ts,
            max_timestamp: ts,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            record_count: records,
        }
    }

    /// The batch bytes: this header, then `records` as given; batch length and CRC32C
    /// (over attributes..end) computed.
    fn encode(&self, records: &[u8]) -> Vec<u8> {
        let mut b = W::new()
            .i64(self.base_offset)
            .i32((49 + records.len()) as i32)
            .i32(self.leader_epoch)
            .i8(self.magic)
            .i32(0) // CRC, below
            .i16(self.attributes)
            .i32(self.last_offset_delta)
            .i64(self.base_timestamp)
            .i64(self.max_timestamp)
            .i64(self.producer_id)
            .i16(self.producer_epoch)
            .i32(self.base_sequence)
            .i32(self.record_count)
            .done();
        assert_eq!(b.len(), 61);
        b.extend_from_slice(records);
        reseal(&mut b);
        b
    }
}

/// Recomputes the CRC32C of a batch after its bytes were changed.
fn reseal(b: &mut [u8]) {
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// An uncompressed batch of keyed records with timestamps ts, ts + step, ...
fn kv_batch(ts: i64, step: i64, kvs: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut recs = Vec::new();
    for (i, (k, v)) in kvs.iter().enumerate() {
        recs.extend(record(i as i32, i as i64 * step, Some(k), Some(v)));
    }
    let mut h = Batch::new(kvs.len() as i32, ts);
    h.max_timestamp = ts + (kvs.len() as i64 - 1) * step;
    h.encode(&recs)
}

fn kvs(tag: &str, n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    (0..n).map(|i| (format!("{tag}-k{i}").into_bytes(), format!("{tag}-v{i}").into_bytes())).collect()
}

/// Record timestamps: ten minutes ago, well inside any retention.
fn base_ts() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    now - 600_000
}

/// (base offset, last offset delta, max timestamp) of every batch in fetched record bytes.
fn stored_batches(mut b: &[u8]) -> Vec<(i64, i32, i64)> {
    let mut out = Vec::new();
    while b.len() >= 61 {
        let size = 12 + i32::from_be_bytes(b[8..12].try_into().unwrap()) as usize;
        if size > b.len() {
            break; // a partial batch at the end of a fetch
        }
        let base = i64::from_be_bytes(b[0..8].try_into().unwrap());
        let delta = i32::from_be_bytes(b[23..27].try_into().unwrap());
        let max_ts = i64::from_be_bytes(b[35..43].try_into().unwrap());
        out.push((base, delta, max_ts));
        b = &b[size..];
    }
    out
}

fn decode_records(bytes: &Bytes) -> Vec<Record> {
    let mut b = bytes.clone();
    RecordBatchDecoder::decode_all(&mut b).expect("decode fetched batches").into_iter().flat_map(|s| s.records).collect()
}

// ------------------------------------------------------------------ typed requests

fn tname(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn produce_req(topic: &str, partition: i32, records: Vec<u8>) -> ProduceRequest {
    ProduceRequest::default().with_acks(-1).with_timeout_ms(10_000).with_topic_data(vec![TopicProduceData::default()
        .with_name(tname(topic))
        .with_partition_data(vec![PartitionProduceData::default().with_index(partition).with_records(Some(Bytes::from(records)))])])
}

fn fetch_req(topic: &str, partition: i32, offset: i64) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(8 << 20)
        .with_topics(vec![FetchTopic::default().with_topic(tname(topic)).with_partitions(vec![FetchPartition::default()
            .with_partition(partition)
            .with_fetch_offset(offset)
            .with_partition_max_bytes(8 << 20)])])
}

/// Metadata for `topics`, never auto-creating (the flag exists from v4 on).
fn metadata_req(topics: &[&str], version: i16) -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(Some(topics.iter().map(|t| MetadataRequestTopic::default().with_name(Some(tname(t)))).collect()))
        .with_allow_auto_topic_creation(version < 4)
}

impl RawConn {
    fn produce_batch(&mut self, topic: &str, partition: i32, records: Vec<u8>) -> PartitionProduceResponse {
        let v = self.pick::<ProduceRequest>(9);
        let resp = self.call(v, &produce_req(topic, partition, records));
        assert_eq!(resp.responses.len(), 1, "produce response topics");
        assert_eq!(resp.responses[0].partition_responses.len(), 1, "produce response partitions");
        resp.responses[0].partition_responses[0].clone()
    }

    /// ListOffsets v7: (error, offset, timestamp).
    fn list_offset_iso(&mut self, topic: &str, partition: i32, ts: i64, isolation: i8) -> (i16, i64, i64) {
        let v = self.pick::<ListOffsetsRequest>(7);
        let req = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_isolation_level(isolation).with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(tname(topic))
                .with_partitions(vec![ListOffsetsPartition::default().with_partition_index(partition).with_timestamp(ts)]),
        ]);
        let resp = self.call(v, &req);
        let p = &resp.topics[0].partitions[0];
        (p.error_code, p.offset, p.timestamp)
    }

    fn list_offset(&mut self, topic: &str, partition: i32, ts: i64) -> (i16, i64, i64) {
        self.list_offset_iso(topic, partition, ts, 0)
    }

    /// ListOffsets latest (the log end offset).
    fn latest(&mut self, topic: &str, partition: i32) -> i64 {
        let (err, off, _) = self.list_offset(topic, partition, -1);
        assert_eq!(err, 0, "ListOffsets(latest) of {topic}-{partition}");
        off
    }

    /// Fetch from `offset`: (high watermark, record bytes).
    fn fetch_records(&mut self, topic: &str, partition: i32, offset: i64) -> (i64, Bytes) {
        let v = self.pick::<FetchRequest>(12);
        let resp = self.call(v, &fetch_req(topic, partition, offset));
        assert_eq!(resp.error_code, 0, "fetch top-level error");
        let p = &resp.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "fetch {topic}-{partition} at {offset}");
        (p.high_watermark, p.records.clone().unwrap_or_default())
    }
}

// ------------------------------------------------------------------ raw replies

#[derive(Debug)]
enum Reply {
    /// EOF or reset before any byte of a response.
    Closed,
    /// One response frame (without its size prefix).
    Frame(Vec<u8>),
}

enum Filled {
    Full,
    Eof(usize),
    Timeout,
}

fn read_full(s: &mut TcpStream, buf: &mut [u8]) -> Filled {
    let mut got = 0;
    while got < buf.len() {
        match s.read(&mut buf[got..]) {
            Ok(0) => return Filled::Eof(got),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => return Filled::Timeout,
            Err(_) => return Filled::Eof(got), // reset: the broker closed with our bytes unread
        }
    }
    Filled::Full
}

/// The next response frame, or Closed; panics if the broker does neither within `timeout`.
fn read_reply(s: &mut TcpStream, timeout: Duration, what: &str) -> Reply {
    s.set_read_timeout(Some(timeout)).unwrap();
    let mut len = [0u8; 4];
    match read_full(s, &mut len) {
        Filled::Full => {}
        Filled::Eof(0) => return Reply::Closed,
        Filled::Eof(n) => panic!("{what}: the connection closed {n} bytes into a response size"),
        Filled::Timeout => panic!("{what}: the broker neither answered nor closed the connection within {timeout:?}"),
    }
    let n = i32::from_be_bytes(len);
    assert!((4..=(64 << 20)).contains(&n), "{what}: response size {n}");
    let mut body = vec![0u8; n as usize];
    match read_full(s, &mut body) {
        Filled::Full => Reply::Frame(body),
        Filled::Eof(got) => panic!("{what}: the connection closed {got} bytes into a {n}-byte response"),
        Filled::Timeout => panic!("{what}: a {n}-byte response stalled"),
    }
}

fn connect(b: &TestBroker) -> TcpStream {
    let s = TcpStream::connect(b.bootstrap()).unwrap_or_else(|e| panic!("cannot connect to the broker ({e}): did the previous bad input kill it?"));
    s.set_nodelay(true).unwrap();
    s
}

/// Sends `bytes` on a new connection, shuts down our sending side and reads until the broker
/// closes: returns the response frames it sent meanwhile. The broker must close (our EOF tells
/// it nothing more comes) within REPLY_TIMEOUT.
fn send_and_drain(b: &TestBroker, bytes: &[u8], what: &str) -> Vec<Vec<u8>> {
    let mut s = connect(b);
    let _ = s.write_all(bytes); // the broker may close before it read everything
    let _ = s.shutdown(Shutdown::Write);
    let mut frames = Vec::new();
    loop {
        match read_reply(&mut s, REPLY_TIMEOUT, what) {
            Reply::Closed => return frames,
            Reply::Frame(f) => frames.push(f),
        }
        assert!(frames.len() <= 64, "{what}: more than 64 responses to one write");
    }
}

/// Decodes a response to `key` at `version` (header and body must parse exactly).
fn check_response(key: i16, version: i16, f: &[u8], corr: i32) {
    match key {
        0 => drop(decode_response::<ProduceRequest>(f, corr, version)),
        1 => drop(decode_response::<FetchRequest>(f, corr, version)),
        2 => drop(decode_response::<ListOffsetsRequest>(f, corr, version)),
        3 => drop(decode_response::<MetadataRequest>(f, corr, version)),
        8 => drop(decode_response::<OffsetCommitRequest>(f, corr, version)),
        11 => drop(decode_response::<JoinGroupRequest>(f, corr, version)),
        19 => drop(decode_response::<CreateTopicsRequest>(f, corr, version)),
        _ => panic!("no response decoder for api {key}"),
    }
}

// ------------------------------------------------------------------ liveness

/// Records stored through a stock client before an attack, to be read back after it.
struct Seed {
    topic: String,
    records: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Seed {
    fn len(&self) -> i64 {
        self.records.len() as i64
    }
}

/// Produces SEED_RECORDS keyed records with binary values (every byte value occurs) through
/// librdkafka, each acknowledged at the next offset.
fn seed(b: &TestBroker) -> Seed {
    let topic = topic_name("seed");
    b.create_topic(&topic, 1, &[]);
    let records: Vec<(Vec<u8>, Vec<u8>)> = (0..SEED_RECORDS)
        .map(|i| {
            let key = format!("seed-key-{i:03}").into_bytes();
            let value: Vec<u8> = (0..(40 + i * 29)).map(|j| ((i * 97 + j * 13) % 256) as u8).collect();
            (key, value)
        })
        .collect();
    let producer = b.producer();
    for (i, (k, v)) in records.iter().enumerate() {
        assert_eq!(produce_one(&producer, &topic, Some(0), k, v), (0, i as i64), "seed record {i}");
    }
    Seed { topic, records }
}

/// VmRSS of `pid` in KiB; None once the process has exited (a dying process has no VmRSS).
fn try_rss_kib(pid: i32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|n| n.parse().ok())
}

/// The broker's VmRSS in KiB, panicking (naming `what`) if the process is gone.
fn rss_kib(b: &TestBroker, what: &str) -> u64 {
    try_rss_kib(b.pid()).unwrap_or_else(|| panic!("the broker process exited after {what}\n--- broker output tail ---\n{}", b.log_tail(40)))
}

fn assert_rss_bounded(b: &TestBroker, what: &str) {
    let rss = rss_kib(b, what);
    assert!(rss < RSS_LIMIT_KIB, "broker RSS {} MiB after {what} (limit {} MiB)", rss / 1024, RSS_LIMIT_KIB / 1024);
}

/// Cheap check inside loops: the process is alive and a new connection gets ApiVersions.
fn assert_serving(b: &mut TestBroker, what: &str) {
    assert!(b.is_running(), "the broker died after {what}\n--- broker output tail ---\n{}", b.log_tail(40));
    let mut c = RawConn::connect_raw(b);
    let resp = c.call(3, &api_versions_req());
    assert_eq!(resp.error_code, 0, "ApiVersions after {what}");
}

/// The full check after a class of bad input.
fn assert_alive(b: &mut TestBroker, seed: &Seed, what: &str) {
    assert!(b.is_running(), "the broker died after {what}\n--- broker output tail ---\n{}", b.log_tail(40));

    // A fresh connection: ApiVersions, then Metadata at an old and at the newest version.
    let mut c = RawConn::connect(b);
    for key in [0i16, 1, 2, 3, 18] {
        assert!(c.versions.contains_key(&key), "api {key} not advertised after {what}");
    }
    for v in [1, c.pick::<MetadataRequest>(12)] {
        let md = c.call(v, &metadata_req(&[&seed.topic], v));
        assert_eq!(md.brokers.len(), 1, "Metadata v{v} brokers after {what}");
        assert_eq!((md.brokers[0].node_id.0, md.brokers[0].port), (0, b.port() as i32), "Metadata v{v} broker after {what}");
        assert_eq!(md.topics.len(), 1);
        let t = &md.topics[0];
        assert_eq!((t.error_code, t.partitions.len()), (0, 1), "Metadata v{v} of the seed topic after {what}");
        assert_eq!(t.partitions[0].leader_id.0, 0, "Metadata v{v} leader after {what}");
    }

    // A stock client still produces and consumes.
    let topic = topic_name("alive");
    b.create_topic(&topic, 1, &[]);
    let producer = b.producer();
    let fresh: Vec<(Vec<u8>, Vec<u8>)> = (0..3).map(|i| (format!("alive-k{i}").into_bytes(), format!("alive-v{i}-{what}").into_bytes())).collect();
    for (i, (k, v)) in fresh.iter().enumerate() {
        assert_eq!(produce_one(&producer, &topic, Some(0), k, v), (0, i as i64), "stock producer after {what}");
    }
    let consumer = b.consumer();
    assign(&consumer, &topic, &[(0, 0)]);
    let got = poll_n(&consumer, 3, Duration::from_secs(30));
    for (i, (r, (k, v))) in got.iter().zip(&fresh).enumerate() {
        assert_eq!((r.offset, r.key.as_deref(), r.value.as_deref()), (i as i64, Some(&k[..]), Some(&v[..])), "stock consumer after {what}");
    }

    assert_rss_bounded(b, what);

    // The records stored before the attack, byte for byte, and nothing else.
    let all = read_all(b, &seed.topic, 1);
    let recs = &all[&0];
    assert_eq!(recs.len(), seed.records.len(), "seed topic record count after {what}");
    for (i, (r, (k, v))) in recs.iter().zip(&seed.records).enumerate() {
        assert_eq!(r.key.as_deref(), Some(&k[..]), "seed key {i} after {what}");
        assert_eq!(r.value.as_deref(), Some(&v[..]), "seed value {i} after {what}");
    }
}

/// Produces each (description, batch) to `topic`-0 and asserts the error code is one of
/// `allowed` (any non-zero code when `allowed` is empty) and that the log end did not move.
fn assert_refused(b: &mut TestBroker, c: &mut RawConn, topic: &str, cases: Vec<(String, Vec<u8>)>, allowed: &[i16]) {
    let before = c.latest(topic, 0);
    let v = c.pick::<ProduceRequest>(9);
    for (what, batch) in cases {
        // Sent and read here (not with RawConn::call) so that a broker that drops the
        // connection or dies is reported against the batch that did it.
        let corr = c.corr();
        c.write(&frame(&encode_request(corr, v, &produce_req(topic, 0, batch))));
        let f = match read_reply(&mut c.s, REPLY_TIMEOUT, &what) {
            Reply::Frame(f) => f,
            Reply::Closed => {
                std::thread::sleep(Duration::from_millis(200));
                panic!("{what}: the broker closed the connection instead of answering (process alive: {})\n--- broker output tail ---\n{}", b.is_running(), b.log_tail(40));
            }
        };
        let resp = decode_response::<ProduceRequest>(&f, corr, v);
        let p = &resp.responses[0].partition_responses[0];
        eprintln!("[bad_input] {what}: error {} ({:?})", p.error_code, p.error_message);
        if allowed.is_empty() {
            assert_ne!(p.error_code, 0, "{what}: accepted at offset {}", p.base_offset);
        } else {
            assert!(allowed.contains(&p.error_code), "{what}: error code {} (expected one of {allowed:?}), base offset {}", p.error_code, p.base_offset);
        }
        assert!(b.is_running(), "the broker died after {what}");
        assert_eq!(c.latest(topic, 0), before, "the log end of {topic}-0 moved after {what}");
    }
}

// ------------------------------------------------------------------ 1. huge array counts

/// Requests whose first (or a nested) array count, bytes length or tagged-field size claims up
/// to 2^32 elements with nothing behind it: the broker must not reserve memory for the claim.
#[test]
fn huge_array_counts_close_the_connection_without_allocating() {
    let mut b = TestBroker::start();
    let seed = seed(&b);
    let huge = 0xffff_ffffu64;
    let max = i32::MAX;

    let first = request_header(3, 1, 1, 1).i32(max).done();
    assert_eq!(first.len(), 19, "the 19-byte Metadata v1 request");

    // (description, api key, version, request header version, body)
    let cases: Vec<(&str, i16, i16, i16, Vec<u8>)> = vec![
        ("Metadata v1: topics count 2^31-1", 3, 1, 1, W::new().i32(max).done()),
        ("Metadata v12: compact topics count 0xffffffff", 3, 12, 2, W::new().uv(huge).done()),
        ("Metadata v12: compact topics count 2^31", 3, 12, 2, W::new().uv(0x8000_0000).done()),
        ("Metadata v12: tagged field count 0xffffffff", 3, 12, 2, W::new().uv(0).i8(0).i8(0).uv(huge).done()),
        ("Metadata v12: tagged field size 0xffffffff", 3, 12, 2, W::new().uv(0).i8(0).i8(0).uv(1).uv(0).uv(huge).done()),
        ("Produce v3: topic_data count 2^31-1", 0, 3, 1, W::new().i16(-1).i16(-1).i32(1000).i32(max).done()),
        ("Produce v9: compact topic_data count 0xffffffff", 0, 9, 2, W::new().uv(0).i16(-1).i32(1000).uv(huge).done()),
        ("Produce v3: partition_data count 2^31-1", 0, 3, 1, W::new().i16(-1).i16(-1).i32(1000).i32(1).str("t").i32(max).done()),
        ("Produce v9: compact partition_data count 0xffffffff", 0, 9, 2, W::new().uv(0).i16(-1).i32(1000).uv(2).cstr("t").uv(huge).done()),
        ("Produce v3: records length 2^31-1", 0, 3, 1, W::new().i16(-1).i16(-1).i32(1000).i32(1).str("t").i32(1).i32(0).i32(max).done()),
        ("Produce v9: compact records length 0xffffffff", 0, 9, 2, W::new().uv(0).i16(-1).i32(1000).uv(2).cstr("t").uv(2).i32(0).uv(huge).done()),
        ("Fetch v4: topics count 2^31-1", 1, 4, 1, W::new().i32(-1).i32(0).i32(0).i32(1 << 20).i8(0).i32(max).done()),
        ("Fetch v12: compact topics count 0xffffffff", 1, 12, 2, W::new().i32(-1).i32(0).i32(0).i32(1 << 20).i8(0).i32(0).i32(-1).uv(huge).done()),
        ("ListOffsets v1: topics count 2^31-1", 2, 1, 1, W::new().i32(-1).i32(max).done()),
        ("ListOffsets v6: compact topics count 0xffffffff", 2, 6, 2, W::new().i32(-1).i8(0).uv(huge).done()),
        ("CreateTopics v2: topics count 2^31-1", 19, 2, 1, W::new().i32(max).done()),
        ("CreateTopics v5: compact topics count 0xffffffff", 19, 5, 2, W::new().uv(huge).done()),
        ("JoinGroup v1: protocols count 2^31-1", 11, 1, 1, W::new().str("g").i32(10_000).i32(10_000).str("").str("consumer").i32(max).done()),
        ("JoinGroup v6: compact protocols count 0xffffffff", 11, 6, 2, W::new().cstr("g").i32(10_000).i32(10_000).cstr("").uv(0).cstr("consumer").uv(huge).done()),
        ("OffsetCommit v2: topics count 2^31-1", 8, 2, 1, W::new().str("g").i32(1).str("m").i64(-1).i32(max).done()),
        ("OffsetCommit v8: compact topics count 0xffffffff", 8, 8, 2, W::new().cstr("g").i32(1).cstr("m").uv(0).uv(huge).done()),
    ];

    // A client connected before the attack keeps being served throughout.
    let mut bystander = RawConn::connect(&b);
    let mv = bystander.pick::<MetadataRequest>(12);
    let (mut closed, mut answered) = (0, 0);
    for (i, (what, key, version, hv, body)) in cases.iter().enumerate() {
        let corr = 1000 + i as i32;
        let mut req = request_header(*key, *version, corr, *hv).done();
        req.extend_from_slice(body);
        let mut s = connect(&b);
        s.write_all(&frame(&req)).expect("write the request");
        match read_reply(&mut s, REPLY_TIMEOUT, what) {
            Reply::Closed => closed += 1,
            Reply::Frame(f) => {
                check_response(*key, *version, &f, corr);
                answered += 1;
            }
        }
        assert!(b.is_running(), "the broker died after {what}\n--- broker output tail ---\n{}", b.log_tail(40));
        let rss = rss_kib(&b, what);
        assert!(rss < RSS_LIMIT_KIB, "broker RSS {} MiB after {what}", rss / 1024);
        assert_eq!(bystander.call(3, &api_versions_req()).error_code, 0, "bystander ApiVersions after {what}");
        let md = bystander.call(mv, &metadata_req(&[&seed.topic], mv));
        assert_eq!(md.topics[0].error_code, 0, "bystander Metadata after {what}");
    }
    eprintln!("[bad_input] huge counts: {closed} connections closed, {answered} answered");
    assert_alive(&mut b, &seed, "huge array counts");
}

// ------------------------------------------------------------------ 2. record count lies

/// A 61-byte batch (header only, valid CRC) claiming i32::MAX records with a matching offset
/// range, to a compacted and to a plain topic; also the claim over one real record, and over a
/// zstd records section of one record.
#[test]
fn header_only_batch_claiming_i32_max_records_is_refused() {
    let mut b = TestBroker::start();
    let seed = seed(&b);
    let compacted = topic_name("compacted");
    b.create_topic(&compacted, 1, &[("cleanup.policy", "compact")]);
    let mut c = RawConn::connect(&b);
    let ts = base_ts();
    let p = c.produce_batch(&compacted, 0, kv_batch(ts, 1, &[(b"ck".to_vec(), b"cv".to_vec())]));
    assert_eq!((p.error_code, p.base_offset), (0, 0), "keyed record to the compacted topic");

    let mut h = Batch::new(1, ts);
    h.last_offset_delta = i32::MAX - 1;
    h.record_count = i32::MAX;
    assert_eq!(h.last_offset_delta as i64 + 1, h.record_count as i64);
    let header_only = h.encode(&[]);
    assert_eq!(header_only.len(), 61, "a header-only batch is 61 bytes");
    let one = record(0, 0, Some(b"k"), Some(b"v"));
    let mut hz = h;
    hz.attributes = 4;
    let cases = |topic: &str| -> Vec<(String, Vec<u8>)> {
        vec![
            (format!("{topic}: 61-byte batch, recordCount = lastOffsetDelta + 1 = i32::MAX"), header_only.clone()),
            (format!("{topic}: recordCount i32::MAX over one record"), h.encode(&one)),
            (format!("{topic}: recordCount i32::MAX over a zstd section of one record"), hz.encode(&zstd::bulk::compress(&one, 3).unwrap())),
        ]
    };
    assert_refused(&mut b, &mut c, &compacted, cases(&compacted), &[INVALID_RECORD, CORRUPT_MESSAGE]);
    assert_refused(&mut b, &mut c, &seed.topic, cases(&seed.topic), &[INVALID_RECORD, CORRUPT_MESSAGE]);
    assert_rss_bounded(&b, "i32::MAX record counts");

    // The compacted topic still holds exactly its record.
    let all = read_all(&b, &compacted, 1);
    assert_eq!(all[&0].len(), 1);
    assert_eq!((all[&0][0].key.as_deref(), all[&0][0].value.as_deref()), (Some(&b"ck"[..]), Some(&b"cv"[..])));
    assert_alive(&mut b, &seed, "record count lies");
}

// ------------------------------------------------------------------ 3. shortened segment

/// 400 single-record batches in one segment, a clean stop, the .log cut to 20,000 bytes (in the
/// middle of a batch), a restart: offsets already handed out are not handed out again, the
/// surviving records read back intact, and the file does not grow back (no zero fill).
#[test]
fn shortened_active_segment_never_reuses_offsets_or_regrows() {
    const N: usize = 400;
    const CUT: u64 = 20_000;
    let mut b = TestBroker::start();
    let seed = seed(&b);
    let topic = topic_name("cut");
    b.create_topic(&topic, 1, &[]);
    let ts = base_ts();
    let sent: Vec<(Vec<u8>, Vec<u8>)> = (0..N)
        .map(|i| (format!("cut-key-{i:04}").into_bytes(), (0..300).map(|j| ((i * 31 + j * 7) % 251) as u8).collect()))
        .collect();
    let mut c = RawConn::connect(&b);
    for (i, kv) in sent.iter().enumerate() {
        let p = c.produce_batch(&topic, 0, kv_batch(ts + i as i64, 1, std::slice::from_ref(kv)));
        assert_eq!((p.error_code, p.base_offset), (0, i as i64), "produce {i}");
    }
    drop(c);
    b.stop();

    let segs = segment_files(&b.partition_dir(&topic, 0));
    assert_eq!(segs.len(), 1, "one segment expected: {segs:?}");
    let path = segs[0].1.clone();
    let original = fs::read(&path).unwrap();
    assert!(original.len() > 16 * 1024, "segment is only {} bytes", original.len());
    assert_eq!(log_batches(&original).len(), N, "one batch per produce");
    let survivors = log_batches(&original[..CUT as usize]);
    let kept = survivors.len();
    let kept_bytes = survivors.last().map(|h| h.file_pos + h.size).unwrap_or(0);
    assert!(kept > 0 && (kept_bytes as u64) < CUT, "the cut must fall inside a batch (kept {kept} batches, {kept_bytes} bytes)");
    fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(CUT).unwrap();
    eprintln!("[bad_input] cut {} to {CUT} bytes: {kept} whole batches ({kept_bytes} bytes) remain", path.display());

    b.restart();
    let mut c = RawConn::connect(&b);
    let leo = c.latest(&topic, 0);
    assert!(leo >= N as i64, "log end offset {leo} after the cut: offsets below {N} were already assigned and must not be reused");

    // The surviving records, byte for byte.
    let (_, bytes) = c.fetch_records(&topic, 0, 0);
    let recs = decode_records(&bytes);
    assert_eq!(recs.len(), kept, "records readable after the cut");
    for (i, (r, (k, v))) in recs.iter().zip(&sent).enumerate() {
        assert_eq!((r.offset, r.key.as_deref(), r.value.as_deref()), (i as i64, Some(&k[..]), Some(&v[..])), "surviving record {i}");
    }

    // A new produce continues above every assigned offset, right after the surviving bytes.
    let new_batch = kv_batch(base_ts(), 1, &[(b"after-cut".to_vec(), b"after-cut-value".to_vec())]);
    let new_len = new_batch.len() as u64;
    let p = c.produce_batch(&topic, 0, new_batch);
    assert_eq!(p.error_code, 0, "produce after the cut");
    assert!(p.base_offset >= N as i64, "new produce got base offset {} (offsets below {N} were already assigned)", p.base_offset);
    let len = fs::metadata(&path).unwrap().len();
    assert!(len <= CUT + new_len, "the segment is {len} bytes after one {new_len}-byte append to a {CUT}-byte file: it grew back");
    let total: u64 = segment_files(&b.partition_dir(&topic, 0)).iter().map(|(_, p)| fs::metadata(p).unwrap().len()).sum();
    assert_eq!(total, kept_bytes as u64 + new_len, "segment bytes = surviving batches + the new batch (no zero fill)");
    let now = fs::read(&path).unwrap();
    assert_eq!(&now[..kept_bytes], &original[..kept_bytes], "surviving batches rewritten");

    // A stock consumer reads the survivors, then the new record across the gap.
    let consumer = b.consumer();
    assign(&consumer, &topic, &[(0, 0)]);
    let got = poll_n(&consumer, kept + 1, Duration::from_secs(30));
    for (i, (r, (k, v))) in got.iter().zip(&sent).take(kept).enumerate() {
        assert_eq!((r.offset, r.key.as_deref(), r.value.as_deref()), (i as i64, Some(&k[..]), Some(&v[..])), "consumed survivor {i}");
    }
    assert_eq!((got[kept].offset, got[kept].value.as_deref()), (p.base_offset, Some(&b"after-cut-value"[..])));
    drop(consumer);

    // And the state holds across another clean restart.
    drop(c);
    b.restart();
    let mut c = RawConn::connect(&b);
    assert_eq!(c.latest(&topic, 0), p.base_offset + 1, "log end after a second restart");
    assert_eq!(fs::metadata(&path).unwrap().len(), len, "segment length after a second restart");
    assert_alive(&mut b, &seed, "a shortened segment");
}

// ------------------------------------------------------------------ 4. control batches

/// Clients may not write control batches (transaction markers), nor batches whose producer
/// fields contradict each other.
#[test]
fn client_control_and_inconsistent_producer_batches_are_refused() {
    let mut b = TestBroker::start();
    let seed = seed(&b);
    let mut c = RawConn::connect(&b);
    let ts = base_ts();
    let marker = |commit: bool| record(0, 0, Some(&[0, 0, 0, commit as u8]), Some(&[0, 0, 0, 0, 0, 0]));
    let plain = record(0, 0, Some(b"k"), Some(b"v"));
    let with = |attributes: i16, pid: i64, epoch: i16, seq: i32, recs: &[u8]| {
        let mut h = Batch::new(1, ts);
        h.attributes = attributes;
        h.producer_id = pid;
        h.producer_epoch = epoch;
        h.base_sequence = seq;
        h.encode(recs)
    };
    let cases = vec![
        ("COMMIT marker in a transactional control batch of producer 4242".to_string(), with(0x30, 4242, 0, -1, &marker(true))),
        ("ABORT marker in a transactional control batch of producer 4242".to_string(), with(0x30, 4242, 0, -1, &marker(false))),
        ("COMMIT marker, control bit without the transactional bit".to_string(), with(0x20, 4242, 0, -1, &marker(true))),
        ("ABORT marker without a producer id".to_string(), with(0x20, -1, -1, -1, &marker(false))),
        ("control batch with a sequence".to_string(), with(0x30, 4242, 0, 0, &marker(true))),
        ("producer id 77 with base sequence -1".to_string(), with(0, 77, 0, -1, &plain)),
        ("transactional bit without a producer id".to_string(), with(0x10, -1, -1, -1, &plain)),
        ("transactional bit without a producer id, with a sequence".to_string(), with(0x10, -1, -1, 0, &plain)),
    ];
    assert_refused(&mut b, &mut c, &seed.topic, cases, &[INVALID_RECORD]);
    // No transaction was opened by any of them: the last stable offset is the log end.
    let (err, lso, _) = c.list_offset_iso(&seed.topic, 0, -1, 1);
    assert_eq!((err, lso), (0, seed.len()), "read_committed log end (last stable offset)");
    assert_alive(&mut b, &seed, "client control batches");
}

// ------------------------------------------------------------------ 5. stored lies

/// A batch whose header maxTimestamp is i64::MAX/2 while its records carry ordinary timestamps
/// is accepted, but timestamp lookups and MAX_TIMESTAMP answer from the records, before and
/// after a clean restart and after a kill -9 recovery.
#[test]
fn lying_max_timestamp_does_not_break_timestamp_lookups_across_restarts() {
    let mut b = TestBroker::start();
    let seed = seed(&b);
    let topic = topic_name("lies");
    b.create_topic(&topic, 1, &[]);
    let t = base_ts();
    let mut c = RawConn::connect(&b);

    let before = kvs("before", 3); // t-300, t-200, t-100
    let liar = kvs("liar", 3); // t, t+10, t+20, header maxTimestamp i64::MAX/2
    let after = kvs("after", 3); // t+50, t+60, t+70
    let p = c.produce_batch(&topic, 0, kv_batch(t - 300, 100, &before));
    assert_eq!((p.error_code, p.base_offset), (0, 0));
    let mut recs = Vec::new();
    for (i, (k, v)) in liar.iter().enumerate() {
        recs.extend(record(i as i32, i as i64 * 10, Some(k), Some(v)));
    }
    let mut h = Batch::new(3, t);
    h.max_timestamp = i64::MAX / 2;
    let p = c.produce_batch(&topic, 0, h.encode(&recs));
    assert_eq!((p.error_code, p.base_offset), (0, 3), "a batch with a lying maxTimestamp is accepted (as Kafka does)");
    let p = c.produce_batch(&topic, 0, kv_batch(t + 50, 10, &after));
    assert_eq!((p.error_code, p.base_offset), (0, 6));
    let all_kvs: Vec<_> = before.iter().chain(&liar).chain(&after).cloned().collect();
    let all_ts = [t - 300, t - 200, t - 100, t, t + 10, t + 20, t + 50, t + 60, t + 70];

    let check = |c: &mut RawConn, when: &str| {
        for (target, want) in [
            (t - 250, (0, 1, t - 200)),
            (t + 5, (0, 4, t + 10)),
            (t + 15, (0, 5, t + 20)),
            (t + 21, (0, 6, t + 50)),
            (t + 30, (0, 6, t + 50)),
            (t + 65, (0, 8, t + 70)),
            (t + 1000, (0, -1, -1)),
            (i64::MAX / 4, (0, -1, -1)),
        ] {
            assert_eq!(c.list_offset(&topic, 0, target), want, "ListOffsets(timestamp t{:+}) {when}", target - t);
        }
        assert_eq!(c.list_offset(&topic, 0, -3), (0, 8, t + 70), "ListOffsets(MAX_TIMESTAMP) {when}");
        assert_eq!(c.latest(&topic, 0), 9, "log end {when}");
        let (_, bytes) = c.fetch_records(&topic, 0, 0);
        let stored: Vec<(i64, i64)> = stored_batches(&bytes).iter().map(|&(base, _, max)| (base, max)).collect();
        assert_eq!(stored, vec![(0, t - 100), (3, t + 20), (6, t + 70)], "stored batch maxTimestamps {when} (Kafka writes the records' maximum)");
        let got: Vec<(i64, i64, Vec<u8>, Vec<u8>)> =
            decode_records(&bytes).iter().map(|r| (r.offset, r.timestamp, r.key.clone().unwrap().to_vec(), r.value.clone().unwrap().to_vec())).collect();
        let want: Vec<(i64, i64, Vec<u8>, Vec<u8>)> =
            all_kvs.iter().enumerate().map(|(i, (k, v))| (i as i64, all_ts[i], k.clone(), v.clone())).collect();
        assert_eq!(got, want, "records {when}");
    };
    check(&mut c, "after the appends");
    drop(c);
    b.stop();
    b.restart();
    check(&mut RawConn::connect(&b), "after a clean restart");
    b.kill9();
    b.restart();
    check(&mut RawConn::connect(&b), "after kill -9 and recovery");
    assert_alive(&mut b, &seed, "a lying maxTimestamp");
}

/// Offset ranges that do not match the records, codec ids that are no codec, and codec flags
/// over bytes that are no such stream: all refused, nothing stored.
#[test]
fn offset_range_lies_and_bad_codecs_are_refused() {
    let mut b = TestBroker::start();
    let seed = seed(&b);
    let mut c = RawConn::connect(&b);
    let ts = base_ts();
    let three: Vec<u8> = (0..3).flat_map(|i| record(i, i as i64, Some(b"k"), Some(b"v"))).collect();
    let with = |f: &dyn Fn(&mut Batch), recs: &[u8]| {
        let mut h = Batch::new(3, ts);
        f(&mut h);
        h.encode(recs)
    };

    assert_refused(
        &mut b,
        &mut c,
        &seed.topic,
        vec![("lastOffsetDelta 10^9 with 3 records".to_string(), with(&|h: &mut Batch| h.last_offset_delta = 1_000_000_000, &three))],
        &[INVALID_RECORD],
    );
    assert_refused(
        &mut b,
        &mut c,
        &seed.topic,
        vec![
            ("lastOffsetDelta i32::MAX with 3 records".to_string(), with(&|h: &mut Batch| h.last_offset_delta = i32::MAX, &three)),
            ("lastOffsetDelta -1 with 3 records".to_string(), with(&|h: &mut Batch| h.last_offset_delta = -1, &three)),
            ("lastOffsetDelta 1 with 3 records".to_string(), with(&|h: &mut Batch| h.last_offset_delta = 1, &three)),
            ("recordCount 0 over 3 records".to_string(), with(&|h: &mut Batch| h.record_count = 0, &three)),
            ("recordCount -1 over 3 records".to_string(), with(&|h: &mut Batch| h.record_count = -1, &three)),
            ("recordCount 4, lastOffsetDelta 3 over 3 records".to_string(), with(&|h: &mut Batch| { h.record_count = 4; h.last_offset_delta = 3 }, &three)),
            ("base offset 5".to_string(), with(&|h: &mut Batch| h.base_offset = 5, &three)),
        ],
        &[INVALID_RECORD, CORRUPT_MESSAGE],
    );

    let mut rng = StdRng::seed_from_u64(0xbad_c0de);
    let mut cases = Vec::new();
    for codec in [5i16, 6, 7] {
        cases.push((format!("unknown codec id {codec}"), with(&|h: &mut Batch| h.attributes = codec, &three)));
    }
    for (codec, name) in [(1i16, "gzip"), (2, "snappy"), (3, "lz4"), (4, "zstd")] {
        for n in [16usize, 300, 5000] {
            let noise: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            cases.push((format!("{name} flag over {n} random bytes"), with(&|h: &mut Batch| h.attributes = codec, &noise)));
        }
        cases.push((format!("{name} flag over uncompressed records"), with(&|h: &mut Batch| h.attributes = codec, &three)));
    }
    // A real gzip/zstd stream header followed by noise.
    let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    gz.extend((0..500).map(|_| rng.random::<u8>()));
    cases.push(("gzip header then random bytes".to_string(), with(&|h: &mut Batch| h.attributes = 1, &gz)));
    let mut zs = vec![0x28, 0xb5, 0x2f, 0xfd];
    zs.extend((0..500).map(|_| rng.random::<u8>()));
    cases.push(("zstd magic then random bytes".to_string(), with(&|h: &mut Batch| h.attributes = 4, &zs)));
    assert_refused(&mut b, &mut c, &seed.topic, cases, &[]);
    assert_alive(&mut b, &seed, "offset range lies and bad codecs");
}

// ------------------------------------------------------------------ 6. decompression bombs

/// The start of a one-record records section whose (null-keyed) value is `value_len` bytes:
/// the record length varint and every field up to the value's bytes.
fn bomb_record_head(value_len: usize) -> Vec<u8> {
    let mut head = vec![0u8]; // attributes
    put_varint(&mut head, 0); // timestamp delta
    put_varint(&mut head, 0); // offset delta
    put_varint(&mut head, -1); // null key
    put_varint(&mut head, value_len as i64);
    let mut out = Vec::new();
    put_varint(&mut out, (head.len() + value_len + 1) as i64); // + the header count byte
    out.extend(head);
    out
}

/// `head`, `zeros` zero bytes and the record's header count (0), through `w`.
fn write_bomb(w: &mut impl Write, head: &[u8], zeros: usize) {
    let chunk = vec![0u8; 1 << 20];
    w.write_all(head).unwrap();
    for _ in 0..zeros >> 20 {
        w.write_all(&chunk).unwrap();
    }
    w.write_all(&[0]).unwrap();
}

fn zstd_frame(head: &[u8], zeros: usize, tail: &[u8]) -> Vec<u8> {
    let mut enc = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
    let chunk = vec![0u8; 1 << 20];
    enc.write_all(head).unwrap();
    for _ in 0..zeros >> 20 {
        enc.write_all(&chunk).unwrap();
    }
    enc.write_all(tail).unwrap();
    enc.finish().unwrap()
}

/// How many bytes a stream inflates to (checked in the test, so the bombs are real).
fn inflated_len(mut r: impl Read) -> u64 {
    std::io::copy(&mut r, &mut std::io::sink()).expect("inflate the bomb")
}

/// Tiny batches whose records inflate to 64 MiB (gzip, zstd) and 1 GiB (16 concatenated zstd
/// frames): refused after at most max.message.bytes of output, with the broker's RSS bounded
/// during and after, while another connection's ApiVersions is answered within 1 s.
#[test]
fn decompression_bombs_are_refused_with_bounded_memory() {
    const MIB64: usize = 64 << 20;
    let mut b = TestBroker::start();
    let seed = seed(&b);
    let topic = topic_name("bomb");
    b.create_topic(&topic, 1, &[]);
    let ts = base_ts();

    // zstd, 1 GiB: a frame with the record's head, 16 frames of 64 MiB of zeros, a frame with
    // the header count.
    let head_1g = bomb_record_head(16 * MIB64);
    let zero_frame = zstd_frame(&[], MIB64, &[]);
    let mut zstd_1g = zstd_frame(&head_1g, 0, &[]);
    for _ in 0..16 {
        zstd_1g.extend_from_slice(&zero_frame);
    }
    zstd_1g.extend(zstd_frame(&[], 0, &[0]));
    assert_eq!(inflated_len(zstd::stream::read::Decoder::new(&zstd_1g[..]).unwrap()), (head_1g.len() + 16 * MIB64 + 1) as u64);
    // zstd and gzip, 64 MiB, one stream each.
    let head_64 = bomb_record_head(MIB64);
    let zstd_64 = zstd_frame(&head_64, MIB64, &[0]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    write_bomb(&mut gz, &head_64, MIB64);
    let gzip_64 = gz.finish().unwrap();
    assert_eq!(inflated_len(flate2::read::GzDecoder::new(&gzip_64[..])), (head_64.len() + MIB64 + 1) as u64);
    assert_eq!(inflated_len(zstd::stream::read::Decoder::new(&zstd_64[..]).unwrap()), (head_64.len() + MIB64 + 1) as u64);

    let batch = |codec: i16, section: &[u8]| {
        let mut h = Batch::new(1, ts);
        h.attributes = codec;
        h.encode(section)
    };
    let bombs: Vec<(&str, Vec<u8>)> = vec![("zstd 1 GiB", batch(4, &zstd_1g)), ("zstd 64 MiB", batch(4, &zstd_64)), ("gzip 64 MiB", batch(1, &gzip_64))];
    for (what, bytes) in &bombs {
        eprintln!("[bad_input] {what} bomb: {} bytes", bytes.len());
        assert!(bytes.len() < 100 * 1024, "{what} bomb is {} bytes", bytes.len());
    }

    // One at a time first, each answered exactly.
    let mut c = RawConn::connect(&b);
    for (what, bytes) in &bombs {
        let p = c.produce_batch(&topic, 0, bytes.clone());
        assert!([MESSAGE_TOO_LARGE, INVALID_RECORD].contains(&p.error_code), "{what}: error code {}", p.error_code);
        assert_rss_bounded(&b, what);
    }

    // Then 2 connections with 30 bombs pipelined on each, while RSS is sampled and ApiVersions
    // is asked on other connections.
    let pid = b.pid();
    let stop = Arc::new(AtomicBool::new(false));
    let max_rss = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (stop, max_rss) = (stop.clone(), max_rss.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                // 0 once the broker is gone; that is reported by the checks after the bombs.
                max_rss.fetch_max(try_rss_kib(pid).unwrap_or(0), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let senders: Vec<_> = (0..2)
        .map(|n| {
            let mut conn = RawConn::connect(&b);
            let v = conn.pick::<ProduceRequest>(9);
            let mut bytes = Vec::new();
            let mut corrs = Vec::new();
            for i in 0..30 {
                let corr = 10_000 * (n + 1) + i;
                let (_, bomb) = &bombs[i as usize % bombs.len()];
                bytes.extend(frame(&encode_request(corr, v, &produce_req(&topic, 0, bomb.clone()))));
                corrs.push(corr);
            }
            let started = started_tx.clone();
            std::thread::spawn(move || {
                started.send(()).unwrap();
                conn.write(&bytes);
                corrs
                    .into_iter()
                    .map(|corr| decode_response::<ProduceRequest>(&conn.read_frame(), corr, v).responses[0].partition_responses[0].error_code)
                    .collect::<Vec<i16>>()
            })
        })
        .collect();
    started_rx.recv().unwrap();
    started_rx.recv().unwrap();
    let mut latencies = Vec::new();
    let mut persistent = RawConn::connect(&b);
    loop {
        let t0 = Instant::now();
        let fresh = RawConn::connect(&b); // ApiVersions on a new connection
        latencies.push(t0.elapsed());
        let t0 = Instant::now();
        assert_eq!(persistent.call(3, &api_versions_req()).error_code, 0);
        latencies.push(t0.elapsed());
        drop(fresh);
        if senders.iter().all(|s| s.is_finished()) && latencies.len() >= 6 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let codes: Vec<i16> = senders.into_iter().flat_map(|s| s.join().expect("bomb sender")).collect();
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::SeqCst);
    sampler.join().unwrap();
    let max_rss = max_rss.load(Ordering::SeqCst);
    let slowest = latencies.iter().max().unwrap();
    eprintln!("[bad_input] bombs: {} answered, max RSS {} MiB, {} ApiVersions, slowest {slowest:?}", codes.len(), max_rss / 1024, latencies.len());
    assert_eq!(codes.len(), 60);
    assert!(codes.iter().all(|c| [MESSAGE_TOO_LARGE, INVALID_RECORD].contains(c)), "bomb error codes {codes:?}");
    assert!(max_rss < RSS_LIMIT_KIB, "broker RSS reached {} MiB while inflating bombs", max_rss / 1024);
    assert!(*slowest < Duration::from_secs(1), "an ApiVersions took {slowest:?} while bombs were processed");
    assert_eq!(c.latest(&topic, 0), 0, "a bomb was stored");
    assert_alive(&mut b, &seed, "decompression bombs");
}

// ------------------------------------------------------------------ 7. garbage records

/// Batches with a valid CRC whose records area does not parse.
#[test]
fn garbage_records_under_a_valid_crc_are_refused() {
    let mut b = TestBroker::start();
    let seed = seed(&b);
    let mut c = RawConn::connect(&b);
    let ts = base_ts();
    let three = |h: &mut Batch| *h = Batch::new(3, ts);
    let with = |recs: &[u8], f: &dyn Fn(&mut Batch)| {
        let mut h = Batch::new(1, ts);
        f(&mut h);
        h.encode(recs)
    };
    let good = |i: i32| record(i, i as i64, Some(b"key"), Some(b"value"));
    let good3: Vec<u8> = (0..3).flat_map(good).collect();

    let mut overrun = Vec::new();
    put_varint(&mut overrun, 1000);
    overrun.extend_from_slice(&[0, 0, 0, 1, 1, 0]);
    let mut negative = Vec::new();
    put_varint(&mut negative, -5);
    negative.extend_from_slice(&[0, 0, 0, 1, 1, 0]);
    let mut huge_len = Vec::new();
    put_varint(&mut huge_len, i32::MAX as i64);
    huge_len.extend_from_slice(&[0, 0, 0, 1, 1, 0]);
    let long_varint = [0xffu8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0, 0];
    let header_count = {
        let mut body = vec![0u8, 0, 0, 1, 1]; // attributes, ts 0, offset 0, null key, null value
        put_varint(&mut body, i32::MAX as i64);
        with_length(&body)
    };
    let negative_headers = {
        let mut body = vec![0u8, 0, 0, 1, 1];
        put_varint(&mut body, -3);
        with_length(&body)
    };
    let key_overrun = {
        let mut body = vec![0u8, 0, 0];
        put_varint(&mut body, 10_000);
        body.extend_from_slice(b"short");
        with_length(&body)
    };
    let mut trailing = good3.clone();
    trailing.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    let two_of_three: Vec<u8> = (0..2).flat_map(good).collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&[0u8; 30]).unwrap();
    let gzip_zeros = gz.finish().unwrap();

    let cases = vec![
        ("3 records declared, 30 zero bytes".to_string(), with(&[0u8; 30], &three)),
        ("1 record declared, 1 zero byte".to_string(), with(&[0u8; 1], &|_| {})),
        ("record length 1000 overruns the batch".to_string(), with(&overrun, &|_| {})),
        ("record length i32::MAX".to_string(), with(&huge_len, &|_| {})),
        ("negative record length".to_string(), with(&negative, &|_| {})),
        ("record length varint of 11 bytes".to_string(), with(&long_varint, &|_| {})),
        ("header count i32::MAX".to_string(), with(&header_count, &|_| {})),
        ("negative header count".to_string(), with(&negative_headers, &|_| {})),
        ("key length overruns the record".to_string(), with(&key_overrun, &|_| {})),
        ("3 records declared, 2 present".to_string(), with(&two_of_three, &three)),
        ("3 records then 4 garbage bytes".to_string(), with(&trailing, &three)),
        ("gzip stream of zero bytes as records".to_string(), with(&gzip_zeros, &|h: &mut Batch| { three(h); h.attributes = 1 })),
        ("zstd stream of zero bytes as records".to_string(), with(&zstd::bulk::compress(&[0u8; 30], 3).unwrap(), &|h: &mut Batch| { three(h); h.attributes = 4 })),
    ];
    assert_refused(&mut b, &mut c, &seed.topic, cases, &[INVALID_RECORD, CORRUPT_MESSAGE]);
    // The partition's earlier records still read back, raw and through librdkafka (below).
    let (hw, bytes) = c.fetch_records(&seed.topic, 0, 0);
    assert_eq!(hw, seed.len());
    let recs = decode_records(&bytes);
    assert_eq!(recs.len(), seed.records.len());
    for (r, (k, v)) in recs.iter().zip(&seed.records) {
        assert_eq!((r.key.as_deref(), r.value.as_deref()), (Some(&k[..]), Some(&v[..])));
    }
    assert_alive(&mut b, &seed, "garbage records");
}

// ------------------------------------------------------------------ 8. generic garbage

/// Valid requests (without size prefix) for the garbage tests to cut and mutate.
fn valid_requests(c: &RawConn, seed_topic: &str, target: &str) -> Vec<(&'static str, Vec<u8>)> {
    let mv = c.pick::<MetadataRequest>(12);
    let pv = c.pick::<ProduceRequest>(9);
    let fv = c.pick::<FetchRequest>(12);
    vec![
        ("Metadata", encode_request(7, mv, &metadata_req(&[seed_topic, target], mv))),
        ("Produce", encode_request(8, pv, &produce_req(target, 0, kv_batch(base_ts(), 1, &kvs("mutated", 3))))),
        ("Fetch", encode_request(9, fv, &fetch_req(target, 0, 0))),
        ("ApiVersions", encode_request(10, 3, &api_versions_req())),
    ]
}

/// A response frame must echo the correlation id of the request it answers.
fn assert_echoes(frames: &[Vec<u8>], request: &[u8], what: &str) {
    if let Some(f) = frames.first() {
        assert!(f.len() >= 4, "{what}: response of {} bytes", f.len());
        if request.len() >= 8 {
            assert_eq!(&f[..4], &request[4..8], "{what}: response correlation id");
        }
    }
}

/// A few hundred frames of random bytes, with and without a valid request header in front, and
/// random byte streams: the broker closes or answers, and never dies.
#[test]
fn random_frames_never_crash_the_broker() {
    let mut b = TestBroker::start();
    let seed = seed(&b);
    let versions: Vec<(i16, (i16, i16))> = {
        let mut v: Vec<_> = RawConn::connect(&b).versions.into_iter().collect();
        v.sort();
        v
    };
    let mut rng = StdRng::seed_from_u64(0x0d2a_dec0);
    for i in 0..350 {
        let len = rng.random_range(0..300usize);
        let mut body: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let (what, bytes) = if i < 100 {
            (format!("random frame #{i} ({len} bytes)"), frame(&body))
        } else if i < 300 {
            // A real api key and version with a well-formed header, then noise.
            let (key, (min, max)) = versions[rng.random_range(0..versions.len())];
            let version = rng.random_range(min..=max);
            let corr = rng.random::<i32>();
            let mut req = request_header(key, version, corr, header_version_of(key, version)).done();
            req.append(&mut body);
            (format!("api {key} v{version} header then {len} random bytes (#{i})"), frame(&req))
        } else {
            (format!("random stream #{i} ({len} bytes)"), body)
        };
        let frames = send_and_drain(&b, &bytes, &what);
        if i < 300 {
            assert_echoes(&frames, &bytes[4..], &what);
        }
        assert!(b.is_running(), "the broker died after {what}\n--- broker output tail ---\n{}", b.log_tail(40));
        if i % 50 == 49 {
            assert_serving(&mut b, &what);
        }
    }
    assert_alive(&mut b, &seed, "random frames");
}

/// Valid requests cut at every length: framed as short frames (which the broker must close or
/// answer) and as a full size prefix followed by part of the body and EOF (never answered).
#[test]
fn truncated_frames_are_never_answered_as_whole() {
    let mut b = TestBroker::start();
    let seed = seed(&b);
    let target = topic_name("truncated");
    b.create_topic(&target, 1, &[]);
    let requests = valid_requests(&RawConn::connect(&b), &seed.topic, &target);
    let mut short_answered = 0;
    for (name, req) in &requests {
        for cut in 0..req.len() {
            // 1) A consistent frame of the first `cut` bytes.
            let what = format!("{name} request cut to a {cut}-byte frame");
            let mut s = connect(&b);
            s.write_all(&frame(&req[..cut])).unwrap();
            match read_reply(&mut s, REPLY_TIMEOUT, &what) {
                Reply::Closed => {}
                Reply::Frame(f) => {
                    assert_echoes(&[f], &req[..cut], &what);
                    short_answered += 1;
                }
            }
            // 2) The full size prefix, `cut` bytes, then EOF.
            let what = format!("{name} request: size prefix {} but {cut} bytes, then EOF", req.len());
            let mut bytes = (req.len() as i32).to_be_bytes().to_vec();
            bytes.extend_from_slice(&req[..cut]);
            let frames = send_and_drain(&b, &bytes, &what);
            assert!(frames.is_empty(), "{what}: a partial request was answered");
            assert!(b.is_running(), "the broker died after {what}");
        }
        assert_serving(&mut b, &format!("{name} requests cut at every length"));
        // The whole request is answered (the cuts are the only fault).
        let frames = send_and_drain(&b, &frame(req), name);
        assert_eq!(frames.len(), 1, "the whole {name} request");
        assert_echoes(&frames, req, name);
    }
    eprintln!("[bad_input] truncated frames: {short_answered} short frames were answered");
    assert_alive(&mut b, &seed, "truncated frames");
}

/// Size prefixes that lie: larger than what follows (then EOF, or a held connection), negative,
/// above socket.request.max.bytes, too small for a header.
#[test]
fn size_prefix_lies_close_the_connection_with_bounded_memory() {
    let max: i32 = 104_857_600; // socket.request.max.bytes (the default, set explicitly)
    let mut b = TestBroker::start_with(&[("socket.request.max.bytes", "104857600")]);
    let seed = seed(&b);
    let filler = vec![0x42u8; 1 << 16];

    // Claims more than is sent, then EOF: closed, nothing answered.
    for claim in [8i32, 100, 1000, 65_536, 1 << 20, max] {
        for sent in [0usize, 4, 7, 50, 4096] {
            if sent >= claim as usize {
                continue;
            }
            let what = format!("size {claim} with {sent} bytes, then EOF");
            let mut bytes = claim.to_be_bytes().to_vec();
            bytes.extend_from_slice(&filler[..sent]);
            assert!(send_and_drain(&b, &bytes, &what).is_empty(), "{what}: answered");
            assert!(b.is_running(), "the broker died after {what}");
        }
    }
    // Claims more than is sent, then the client just goes away (no orderly EOF first).
    for i in 0..50 {
        let mut s = connect(&b);
        let mut bytes = 1_000_000i32.to_be_bytes().to_vec();
        bytes.extend_from_slice(&filler[..i * 100]);
        s.write_all(&bytes).unwrap();
        drop(s);
    }
    assert_serving(&mut b, "50 abandoned partial frames");
    // Half a size prefix.
    for n in 1..4 {
        assert!(send_and_drain(&b, &max.to_be_bytes()[..n], "partial size prefix").is_empty());
    }

    // Negative and oversized prefixes: the broker closes on its own, without waiting for more.
    for size in [-1i32, -2, -(1 << 20), i32::MIN, max + 1, max + 1000, i32::MAX] {
        let what = format!("size prefix {size}");
        let mut s = connect(&b);
        let mut bytes = size.to_be_bytes().to_vec();
        bytes.extend_from_slice(&filler[..100]);
        s.write_all(&bytes).unwrap();
        match read_reply(&mut s, REPLY_TIMEOUT, &what) {
            Reply::Closed => {}
            Reply::Frame(f) => panic!("{what}: answered with {} bytes instead of closing", f.len()),
        }
        assert!(b.is_running(), "the broker died after {what}");
    }
    // Frames too short for a request header.
    for size in 0..8usize {
        let what = format!("frame of {size} bytes");
        let mut s = connect(&b);
        s.write_all(&frame(&[0, 18, 0, 3, 0, 0, 0, 1][..size])).unwrap();
        match read_reply(&mut s, REPLY_TIMEOUT, &what) {
            Reply::Closed => {}
            Reply::Frame(f) => panic!("{what}: answered with {} bytes instead of closing", f.len()),
        }
    }

    // Connections that each claim socket.request.max.bytes and send 2 MiB, held open: memory
    // follows what was sent, not what was claimed, and other clients are served meanwhile.
    let rss_before = rss_kib(&b, "the size-prefix lies");
    let held: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = connect(&b);
            s.write_all(&max.to_be_bytes()).unwrap();
            for _ in 0..32 {
                s.write_all(&filler).unwrap();
            }
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let rss_held = rss_kib(&b, "8 connections holding partial 100 MiB frames");
    let t0 = Instant::now();
    assert_serving(&mut b, "8 connections holding partial 100 MiB frames");
    let took = t0.elapsed();
    eprintln!("[bad_input] RSS before {} MiB, with 8 held partial frames {} MiB; ApiVersions took {took:?}", rss_before / 1024, rss_held / 1024);
    assert!(rss_held < RSS_LIMIT_KIB, "broker RSS {} MiB with 8 partial 100 MiB frames of 2 MiB each", rss_held / 1024);
    assert!(took < Duration::from_secs(1), "ApiVersions took {took:?} while partial frames were held");
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    assert_alive(&mut b, &seed, "size prefix lies");
}

/// Every api key 0..=100 at versions -1..=20 with an empty and with a short body: the broker
/// closes the connection or answers (echoing the correlation id), never crashes.
#[test]
fn every_api_key_and_version_with_empty_or_short_body_is_handled() {
    let mut b = TestBroker::start();
    let seed = seed(&b);
    let mut conn: Option<TcpStream> = None;
    let mut corr = 0i32;
    let (mut closed, mut answered) = (0u32, Vec::new());
    for key in 0..=100i16 {
        for version in -1..=20i16 {
            let hv = header_version_of(key, version);
            for body in [&[][..], &[0u8, 0, 0, 1, 0][..]] {
                corr += 1;
                let what = format!("api {key} v{version} with a {}-byte body", body.len());
                let mut req = request_header(key, version, corr, hv).done();
                req.extend_from_slice(body);
                let s = conn.get_or_insert_with(|| connect(&b));
                let _ = s.write_all(&frame(&req));
                match read_reply(s, REPLY_TIMEOUT, &what) {
                    Reply::Closed => {
                        closed += 1;
                        conn = None;
                    }
                    Reply::Frame(f) => {
                        assert_eq!(&f[..4], &corr.to_be_bytes(), "{what}: correlation id");
                        answered.push((key, version, body.len()));
                    }
                }
            }
        }
        assert!(b.is_running(), "the broker died on api key {key}\n--- broker output tail ---\n{}", b.log_tail(40));
    }
    eprintln!("[bad_input] api sweep: {closed} closed, {} answered: {answered:?}", answered.len());
    // ApiVersions v0 has an empty body, and a too-new ApiVersions gets a v0 answer (KIP-511).
    assert!(answered.contains(&(18, 0, 0)), "ApiVersions v0 with an empty body was not answered");
    assert!(answered.contains(&(18, 20, 0)), "ApiVersions v20 was not answered with UNSUPPORTED_VERSION");
    assert!(closed > 1000, "only {closed} requests closed the connection");
    assert_alive(&mut b, &seed, "every api key and version");
}

/// Valid Metadata, Produce and Fetch requests with random bytes flipped (not the api key):
/// closed or answered, never a crash, and whatever was appended reads back as valid batches.
#[test]
fn mutated_valid_requests_never_crash_or_store_corrupt_batches() {
    let mut b = TestBroker::start();
    let seed = seed(&b);
    let target = topic_name("mutate");
    b.create_topic(&target, 1, &[]);
    let requests = valid_requests(&RawConn::connect(&b), &seed.topic, &target);
    let mut rng = StdRng::seed_from_u64(0x5eed_f00d);
    let mut answered = 0;
    for round in 0..150 {
        for (name, req) in requests.iter().take(3) {
            let mut m = req.clone();
            // One flip for Fetch (it could otherwise turn both max_wait and min_bytes into a
            // long poll); up to three for the others.
            let flips = if *name == "Fetch" { 1 } else { rng.random_range(1..=3) };
            let mut at = Vec::new();
            for _ in 0..flips {
                let pos = rng.random_range(2..m.len());
                m[pos] ^= rng.random_range(1..=255u8);
                at.push(pos);
            }
            let what = format!("{name} request mutated at {at:?} (round {round})");
            let frames = send_and_drain(&b, &frame(&m), &what);
            assert_echoes(&frames, &m, &what);
            answered += frames.len();
            assert!(b.is_running(), "the broker died after {what}\n--- broker output tail ---\n{}", b.log_tail(40));
        }
        if round % 50 == 49 {
            assert_serving(&mut b, &format!("{} mutated requests", (round + 1) * 3));
        }
    }
    eprintln!("[bad_input] mutations: {answered} responses to 450 mutated requests");
    // Whatever the mutated produces appended is a sequence of whole, valid batches.
    let all = read_all(&b, &target, 1);
    for r in &all[&0] {
        assert!(r.key.as_deref().is_some_and(|k| k.starts_with(b"mutated-k")), "unexpected record in {target}: {r:?}");
    }
    assert_alive(&mut b, &seed, "mutated requests");
}

/// Batches with a wrong CRC (in the CRC field, the header or the records) or a magic other than
/// 2 are refused and nothing is stored.
#[test]
fn bad_crc_and_wrong_magic_are_refused() {
    let mut b = TestBroker::start();
    let seed = seed(&b);
    let mut c = RawConn::connect(&b);
    let good = kv_batch(base_ts(), 1, &kvs("crc", 3));
    let flipped = |at: usize| {
        let mut v = good.clone();
        v[at] ^= 0x01;
        v
    };
    let last = good.len() - 1;
    let crc_cases = vec![
        ("CRC field flipped".to_string(), flipped(17)),
        ("attributes flipped under the CRC".to_string(), flipped(22)),
        ("maxTimestamp flipped under the CRC".to_string(), flipped(40)),
        ("recordCount flipped under the CRC".to_string(), flipped(60)),
        ("last record byte flipped under the CRC".to_string(), flipped(last)),
        ("CRC zeroed".to_string(), {
            let mut v = good.clone();
            v[17..21].fill(0);
            v
        }),
    ];
    assert_refused(&mut b, &mut c, &seed.topic, crc_cases, &[CORRUPT_MESSAGE]);
    let mut magic_cases = Vec::new();
    for magic in [0u8, 1, 3, 0xff] {
        let mut v = good.clone();
        v[16] = magic;
        magic_cases.push((format!("magic {magic} (CRC as stored)"), v.clone()));
        reseal(&mut v);
        magic_cases.push((format!("magic {magic} (CRC recomputed)"), v));
    }
    assert_refused(&mut b, &mut c, &seed.topic, magic_cases, &[]);
    // The same batch, intact, is accepted at the log end: the faults were the only problem.
    let p = c.produce_batch(&seed.topic, 0, good);
    assert_eq!((p.error_code, p.base_offset), (0, seed.len()), "the intact batch");
    // From here on the seed topic holds these 3 records too.
    let mut seed = seed;
    seed.records.extend(kvs("crc", 3));
    assert_alive(&mut b, &seed, "bad CRCs and wrong magic");
}
