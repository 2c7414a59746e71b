//! Wire-level tests over a raw TCP connection, with requests encoded by the kafka-protocol crate.

mod common;

use std::collections::HashMap;

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use common::*;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

// ------------------------------------------------------------------ raw client

const API_PRODUCE: i16 = 0;
const API_FETCH: i16 = 1;
const API_LIST_OFFSETS: i16 = 2;
const API_METADATA: i16 = 3;
const API_API_VERSIONS: i16 = 18;

use common::raw::{api_versions_req, decode_response, encode_request, frame, RawConn as Conn};

impl Conn {
    // ---- typed helpers

    fn metadata(&mut self, topics: &[&str], allow_auto_create: bool) -> MetadataResponse {
        let v = self.pick_key(API_METADATA, 12);
        let req = MetadataRequest::default()
            .with_topics(Some(
                topics
                    .iter()
                    .map(|t| MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_string(t.to_string())))))
                    .collect(),
            ))
            .with_allow_auto_topic_creation(allow_auto_create);
        self.call(v, &req)
    }

    /// Metadata with auto-create until the topic reports no error.
    fn ensure_topic(&mut self, topic: &str) -> MetadataResponseTopic {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let md = self.metadata(&[topic], true);
            let t = md.topics.into_iter().next().expect("topic in metadata response");
            if t.error_code == 0 && !t.partitions.is_empty() {
                return t;
            }
            assert!(Instant::now() < deadline, "topic {topic} not available: error {}", t.error_code);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn produce_req(&self, topic: &str, partition: i32, records: Bytes, acks: i16) -> (i16, ProduceRequest) {
        let v = self.pick_key(API_PRODUCE, 9);
        let req = ProduceRequest::default().with_acks(acks).with_timeout_ms(10_000).with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partition_data(vec![PartitionProduceData::default().with_index(partition).with_records(Some(records))]),
        ]);
        (v, req)
    }

    fn produce(&mut self, topic: &str, partition: i32, records: Bytes) -> PartitionProduceResponse {
        let (v, req) = self.produce_req(topic, partition, records, -1);
        let resp = self.call(v, &req);
        assert_eq!(resp.responses.len(), 1);
        assert_eq!(resp.responses[0].name.as_str(), topic);
        assert_eq!(resp.responses[0].partition_responses.len(), 1);
        resp.responses[0].partition_responses[0].clone()
    }

    fn fetch_req(&self, topic: &str, partition: i32, offset: i64, max_wait_ms: i32, min_bytes: i32) -> (i16, FetchRequest) {
        let v = self.pick_key(API_FETCH, 12);
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(max_wait_ms)
            .with_min_bytes(min_bytes)
            .with_max_bytes(10 * 1024 * 1024)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(partition)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(4 * 1024 * 1024)])]);
        (v, req)
    }

    fn fetch(&mut self, topic: &str, partition: i32, offset: i64) -> fetch_response::PartitionData {
        let (v, req) = self.fetch_req(topic, partition, offset, 0, 0);
        let resp = self.call(v, &req);
        one_partition(resp)
    }

    fn list_offset(&mut self, topic: &str, partition: i32, ts: i64) -> (i16, i64) {
        let v = self.pick_key(API_LIST_OFFSETS, 7);
        let req = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![ListOffsetsPartition::default().with_partition_index(partition).with_timestamp(ts)])]);
        let resp = self.call(v, &req);
        let p = &resp.topics[0].partitions[0];
        (p.error_code, p.offset)
    }

    fn latest(&mut self, topic: &str, partition: i32) -> i64 {
        let (err, off) = self.list_offset(topic, partition, -1);
        assert_eq!(err, 0, "ListOffsets(latest) error");
        off
    }
}

fn one_partition(resp: FetchResponse) -> fetch_response::PartitionData {
    assert_eq!(resp.error_code, 0, "top-level fetch error");
    assert_eq!(resp.responses.len(), 1);
    assert_eq!(resp.responses[0].partitions.len(), 1);
    resp.responses[0].partitions[0].clone()
}

fn record(i: usize, key: &[u8], value: &[u8], ts: i64) -> Record {
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: i as i64,
        // offset - sequence must be constant for the encoder to keep records in one batch;
        // this yields base sequence -1 (no idempotence).
        sequence: i as i32 - 1,
        timestamp: ts,
        key: Some(Bytes::copy_from_slice(key)),
        value: Some(Bytes::copy_from_slice(value)),
        headers: Default::default(),
    }
}

/// One record batch holding `kvs`.
fn batch(kvs: &[(Vec<u8>, Vec<u8>)]) -> Bytes {
    let ts0 = 1_700_000_000_000i64;
    let recs: Vec<Record> = kvs.iter().enumerate().map(|(i, (k, v))| record(i, k, v, ts0 + i as i64)).collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(&mut buf, recs.iter(), &RecordEncodeOptions { version: 2, compression: Compression::None })
        .expect("encode batch");
    buf.freeze()
}

fn kvs(prefix: &str, n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    (0..n).map(|i| (format!("{prefix}-k{i}").into_bytes(), format!("{prefix}-v{i}").into_bytes())).collect()
}

/// Decodes all records in a fetch response's record bytes.
fn decode_records(records: &Option<Bytes>) -> Vec<Record> {
    let Some(bytes) = records else { return Vec::new() };
    let mut b = bytes.clone();
    let sets = RecordBatchDecoder::decode_all(&mut b).expect("decode fetched batches");
    sets.into_iter().flat_map(|s| s.records).collect()
}

/// A new connection can still do metadata (auto-create) + produce + fetch.
fn assert_healthy(b: &TestBroker) {
    let mut c = Conn::connect(b);
    let topic = format!("healthy-{}", c.s.local_addr().unwrap().port());
    c.ensure_topic(&topic);
    let start = c.latest(&topic, 0);
    let data = kvs("healthy", 3);
    let p = c.produce(&topic, 0, batch(&data));
    assert_eq!(p.error_code, 0, "healthy produce error");
    assert_eq!(p.base_offset, start);
    let f = c.fetch(&topic, 0, start);
    assert_eq!(f.error_code, 0, "healthy fetch error");
    assert_eq!(f.high_watermark, start + 3);
    let recs = decode_records(&f.records);
    let got: Vec<(i64, Vec<u8>, Vec<u8>)> = recs
        .iter()
        .filter(|r| r.offset >= start)
        .map(|r| (r.offset, r.key.clone().unwrap().to_vec(), r.value.clone().unwrap().to_vec()))
        .collect();
    let want: Vec<(i64, Vec<u8>, Vec<u8>)> =
        data.iter().enumerate().map(|(i, (k, v))| (start + i as i64, k.clone(), v.clone())).collect();
    assert_eq!(got, want, "healthy fetch contents");
}

// ------------------------------------------------------------------ tests

#[test]
fn api_versions_v3_response_header_is_v0() {
    let b = TestBroker::start();
    let mut c = Conn::connect_raw(&b);
    c.write(&frame(&encode_request(42, 3, &api_versions_req())));
    let f = c.read_frame();
    assert_eq!(&f[..4], &42i32.to_be_bytes(), "correlation id");
    // Header v0: the body starts right after the correlation id (no tagged-field byte).
    let mut body = Bytes::copy_from_slice(&f[4..]);
    let resp = ApiVersionsResponse::decode(&mut body, 3).expect("decode ApiVersions v3 body right after the correlation id");
    assert_eq!(bytes::Buf::remaining(&body), 0, "trailing bytes: the response header must not carry a tagged-field byte");
    assert_eq!(resp.error_code, 0);
    let keys: HashMap<i16, (i16, i16)> = resp.api_keys.iter().map(|k| (k.api_key, (k.min_version, k.max_version))).collect();
    eprintln!("advertised: {keys:?}");
    for (key, name) in [(API_PRODUCE, "Produce"), (API_FETCH, "Fetch"), (API_LIST_OFFSETS, "ListOffsets"), (API_METADATA, "Metadata"), (API_API_VERSIONS, "ApiVersions"), (19, "CreateTopics"), (20, "DeleteTopics"), (23, "OffsetForLeaderEpoch")] {
        let (min, max) = *keys.get(&key).unwrap_or_else(|| panic!("{name} ({key}) not advertised"));
        assert!(min <= max, "{name}: min {min} > max {max}");
    }
    let (min, max) = keys[&API_API_VERSIONS];
    assert_eq!(min, 0);
    assert!(max >= 3, "ApiVersions max {max}");
    assert!(keys[&API_PRODUCE].1 >= 7, "Produce must reach v7+ for zstd");
    assert!(keys[&API_FETCH].1 >= 10, "Fetch must reach v10+ for zstd");

    // Every ApiVersions version the broker advertises answers with error 0 and parses exactly.
    for v in min..=max.min(4) {
        let corr = 100 + v as i32;
        c.write(&frame(&encode_request(corr, v, &api_versions_req())));
        let f = c.read_frame();
        let resp = decode_response::<ApiVersionsRequest>(&f, corr, v);
        assert_eq!(resp.error_code, 0, "ApiVersions v{v}");
        assert!(resp.api_keys.iter().any(|k| k.api_key == API_PRODUCE), "ApiVersions v{v} lists Produce");
    }
}

#[test]
fn api_versions_unsupported_version_gets_v0_error_35() {
    let b = TestBroker::start();
    let mut c = Conn::connect_raw(&b);
    // A client from the future: ApiVersions v99 with a flexible (v2) request header.
    let header = RequestHeader::default()
        .with_request_api_key(API_API_VERSIONS)
        .with_request_api_version(99)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("future-client")));
    let mut buf = BytesMut::new();
    header.encode(&mut buf, 2).unwrap();
    api_versions_req().encode(&mut buf, 4).unwrap();
    c.write(&frame(&buf));
    let f = c.read_frame();
    assert_eq!(&f[..4], &7i32.to_be_bytes(), "correlation id");
    let mut body = Bytes::copy_from_slice(&f[4..]);
    let resp = ApiVersionsResponse::decode(&mut body, 0).expect("v0 ApiVersions body");
    assert_eq!(bytes::Buf::remaining(&body), 0, "response must be a plain v0 body (header v0, no tagged fields)");
    assert_eq!(resp.error_code, 35, "UNSUPPORTED_VERSION");
    let av = resp.api_keys.iter().find(|k| k.api_key == API_API_VERSIONS).expect("ApiVersions range listed (KIP-511)");
    assert_eq!(av.min_version, 0);
    assert!(av.max_version >= 3);

    // The client retries on the same connection with a supported version (librdkafka does this).
    let resp = c.call(3, &api_versions_req());
    assert_eq!(resp.error_code, 0);
    assert_healthy(&b);
}

#[test]
fn corrupt_crc_rejected_and_nothing_stored() {
    let b = TestBroker::start();
    let mut c = Conn::connect(&b);
    let topic = "crc-test";
    c.ensure_topic(topic);
    let good = kvs("good", 5);
    let p = c.produce(topic, 0, batch(&good));
    assert_eq!((p.error_code, p.base_offset), (0, 0));
    assert_eq!(c.latest(topic, 0), 5);

    // Flip a byte of the CRC field (batch bytes 17..21).
    let mut bad = batch(&kvs("bad", 3)).to_vec();
    bad[17] ^= 0xff;
    let p = c.produce(topic, 0, Bytes::from(bad));
    assert_eq!(p.error_code, 2, "CORRUPT_MESSAGE for a flipped CRC byte");
    assert_eq!(c.latest(topic, 0), 5, "nothing may be stored from a corrupt batch");

    // Flip a byte of the last record's value (covered by the CRC).
    let mut bad = batch(&kvs("bad", 3)).to_vec();
    let last = bad.len() - 2;
    bad[last] ^= 0x01;
    let p = c.produce(topic, 0, Bytes::from(bad));
    assert_eq!(p.error_code, 2, "CORRUPT_MESSAGE for a flipped payload byte");
    assert_eq!(c.latest(topic, 0), 5);

    // The log holds exactly the good records, and the same connection keeps working.
    let f = c.fetch(topic, 0, 0);
    assert_eq!(f.error_code, 0);
    assert_eq!(f.high_watermark, 5);
    let recs = decode_records(&f.records);
    let got: Vec<(i64, Vec<u8>)> = recs.iter().map(|r| (r.offset, r.value.clone().unwrap().to_vec())).collect();
    let want: Vec<(i64, Vec<u8>)> = good.iter().enumerate().map(|(i, kv)| (i as i64, kv.1.clone())).collect();
    assert_eq!(got, want);
    let p = c.produce(topic, 0, batch(&kvs("after", 2)));
    assert_eq!((p.error_code, p.base_offset), (0, 5));
    assert_healthy(&b);
}

#[test]
fn batch_larger_than_message_max_bytes_rejected() {
    let b = TestBroker::start_with(&[("message.max.bytes", "10000")]);
    let mut c = Conn::connect(&b);
    let topic = "too-large";
    c.ensure_topic(topic);
    let big = batch(&[(b"k".to_vec(), vec![b'x'; 20_000])]);
    assert!(big.len() > 10_000);
    let p = c.produce(topic, 0, big);
    assert_eq!(p.error_code, 10, "MESSAGE_TOO_LARGE for a {}-byte batch", 20_000);
    assert_eq!(c.latest(topic, 0), 0, "nothing stored");
    // Just under the limit is accepted.
    let ok = batch(&[(b"k".to_vec(), vec![b'y'; 9_000])]);
    assert!(ok.len() < 10_000);
    let p = c.produce(topic, 0, ok);
    assert_eq!((p.error_code, p.base_offset), (0, 0));
    let f = c.fetch(topic, 0, 0);
    let recs = decode_records(&f.records);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].value.as_deref(), Some(&vec![b'y'; 9_000][..]));
    assert_healthy(&b);
}

#[test]
fn oversized_frame_closes_connection() {
    let b = TestBroker::start_with(&[("socket.request.max.bytes", "65536")]);
    // Size prefix just above the limit, followed by some bytes.
    let mut c = Conn::connect(&b);
    let mut bytes = 65_537i32.to_be_bytes().to_vec();
    bytes.extend(encode_request(1, 3, &api_versions_req()));
    c.write(&bytes);
    c.expect_closed("size prefix 65537 > socket.request.max.bytes 65536");
    // A huge size prefix.
    let mut c = Conn::connect_raw(&b);
    c.write(&i32::MAX.to_be_bytes());
    c.expect_closed("size prefix i32::MAX");
    // Below the limit a big (padded) request is fine.
    let mut c = Conn::connect(&b);
    let mut req = api_versions_req();
    req.client_software_name = StrBytes::from_string("a".repeat(30_000));
    // Client software name must be a valid identifier only by convention; the broker just answers.
    let resp = c.call(3, &req);
    assert_eq!(resp.error_code, 0);
    assert_healthy(&b);
}

#[test]
fn garbage_closes_connection() {
    let mut b = TestBroker::start();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("HTTP request", b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec()),
        ("negative size prefix", [0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4].to_vec()),
        // Metadata v9 header whose client id claims 32767 bytes but the frame ends.
        ("truncated header", frame(&[0, 3, 0, 9, 0, 0, 0, 7, 0x7f, 0xff])),
        ("frame too short for a header", frame(&[0, 3])),
        // Produce v9 with a body that is pure noise.
        ("noise body", {
            let mut body = vec![0, 0, 0, 9, 0, 0, 0, 8, 0xff, 0xff, 0];
            body.extend((0..64).map(|i| (i * 37 % 251) as u8 | 0x80));
            frame(&body)
        }),
    ];
    for (what, bytes) in cases {
        let mut c = Conn::connect_raw(&b);
        c.write(&bytes);
        c.expect_closed(what);
        assert!(b.is_running(), "broker died after {what}");
    }
    assert_healthy(&b);
}

#[test]
fn unknown_api_key_closes_connection() {
    let b = TestBroker::start();
    let mut c = Conn::connect(&b);
    let header = RequestHeader::default()
        .with_request_api_key(999)
        .with_request_api_version(0)
        .with_correlation_id(5)
        .with_client_id(Some(StrBytes::from_static_str("x")));
    let mut buf = BytesMut::new();
    header.encode(&mut buf, 1).unwrap();
    buf.extend_from_slice(&[0, 0, 0, 0]);
    c.write(&frame(&buf));
    c.expect_closed("api key 999");
    assert_healthy(&b);
}

#[test]
fn abuse_then_fresh_clients_work() {
    let b = TestBroker::start_with(&[("socket.request.max.bytes", "100000"), ("message.max.bytes", "5000")]);
    {
        let mut c = Conn::connect(&b);
        c.ensure_topic("abuse");
        let mut bad = batch(&kvs("bad", 2)).to_vec();
        bad[18] ^= 0x55;
        assert_eq!(c.produce("abuse", 0, Bytes::from(bad)).error_code, 2);
        assert_eq!(c.produce("abuse", 0, batch(&[(b"k".to_vec(), vec![0; 6000])])).error_code, 10);
        c.write(&200_000i32.to_be_bytes());
        c.expect_closed("oversized frame");
    }
    {
        let mut c = Conn::connect_raw(&b);
        c.write(b"\x00\x00\x00\x10garbage-garbage!");
        c.expect_closed("garbage");
    }
    {
        let mut c = Conn::connect(&b);
        let header = RequestHeader::default().with_request_api_key(999).with_request_api_version(3).with_correlation_id(9);
        let mut buf = BytesMut::new();
        header.encode(&mut buf, 1).unwrap();
        c.write(&frame(&buf));
        c.expect_closed("unknown api key");
    }
    {
        let mut c = Conn::connect_raw(&b);
        c.write(&[0, 0]); // half a size prefix, then hang up
    }
    assert_healthy(&b);

    // Real clients too.
    let producer = b.producer();
    let (p, o) = produce_one(&producer, "abuse", Some(0), b"k", b"after-abuse");
    assert_eq!((p, o), (0, 0));
    let consumer = b.consumer();
    assign(&consumer, "abuse", &[(0, 0)]);
    let got = poll_n(&consumer, 1, Duration::from_secs(20));
    assert_eq!(got[0].value.as_deref(), Some(&b"after-abuse"[..]));
}

#[test]
fn pipelined_requests_answered_in_order() {
    let b = TestBroker::start();
    let mut c = Conn::connect(&b);
    c.ensure_topic("pipe");

    // 1) a long-polling fetch on an empty partition, 2) metadata, 3) ApiVersions, all in one write.
    let (fv, freq) = c.fetch_req("pipe", 0, 0, 600, 1);
    let mv = c.pick_key(API_METADATA, 12);
    let mreq = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_static_str("pipe")))),
    ]));
    let mut bytes = frame(&encode_request(1001, fv, &freq));
    bytes.extend(frame(&encode_request(1002, mv, &mreq)));
    bytes.extend(frame(&encode_request(1003, 3, &api_versions_req())));
    let t0 = Instant::now();
    c.write(&bytes);
    let f1 = c.read_frame();
    let waited = t0.elapsed();
    let f2 = c.read_frame();
    let f3 = c.read_frame();
    let fetch = one_partition(decode_response::<FetchRequest>(&f1, 1001, fv));
    assert_eq!(fetch.error_code, 0);
    assert!(decode_records(&fetch.records).is_empty());
    assert!(waited >= Duration::from_millis(400), "fetch with max_wait 600 ms and min_bytes 1 on an empty partition answered after {waited:?}");
    let md = decode_response::<MetadataRequest>(&f2, 1002, mv);
    assert_eq!(md.topics[0].error_code, 0);
    let av = decode_response::<ApiVersionsRequest>(&f3, 1003, 3);
    assert_eq!(av.error_code, 0);

    // Produce then fetch pipelined: the fetch (sent second) sees the produced records.
    let data = kvs("pipe", 4);
    let (pv, preq) = c.produce_req("pipe", 0, batch(&data), -1);
    let (fv, freq) = c.fetch_req("pipe", 0, 0, 0, 0);
    let mut bytes = frame(&encode_request(2001, pv, &preq));
    bytes.extend(frame(&encode_request(2002, fv, &freq)));
    c.write(&bytes);
    let f1 = c.read_frame();
    let f2 = c.read_frame();
    let pr = decode_response::<ProduceRequest>(&f1, 2001, pv);
    assert_eq!(pr.responses[0].partition_responses[0].error_code, 0);
    assert_eq!(pr.responses[0].partition_responses[0].base_offset, 0);
    let fr = one_partition(decode_response::<FetchRequest>(&f2, 2002, fv));
    assert_eq!(fr.high_watermark, 4);
    assert_eq!(decode_records(&fr.records).len(), 4);

    // Many small requests in one write.
    let mut bytes = Vec::new();
    for i in 0..50 {
        bytes.extend(frame(&encode_request(3000 + i, mv, &mreq)));
    }
    c.write(&bytes);
    for i in 0..50 {
        let f = c.read_frame();
        decode_response::<MetadataRequest>(&f, 3000 + i, mv);
    }
}

/// Frames of every size in one stream: small ones (copied out of the read buffer), produce
/// frames just above and far above the broker's 128 KiB read chunk (handed on as views of it),
/// sent all at once and then dribbled (size prefixes split across reads, frames spread over
/// many reads). Every answer comes in order and every record is stored as sent.
#[test]
fn frames_of_all_sizes_split_across_reads() {
    let b = TestBroker::start();
    let mut c = Conn::connect(&b);
    c.ensure_topic("mix");
    let mv = c.pick_key(API_METADATA, 12);
    let mreq = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_static_str("mix")))),
    ]));
    // Records with 1 KiB values; these counts give frames of ~1.5 KiB, ~5 KiB, ~70 KiB, ~300 KiB.
    let counts = [1usize, 4, 66, 290, 1, 290, 66, 4];
    let mut sent: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut offset = 0i64;
    for (round, dribble) in [(1, false), (2, true)] {
        let mut bytes = Vec::new();
        let mut expect = Vec::new(); // (correlation id, records; 0 for metadata)
        for (i, &n) in counts.iter().enumerate() {
            let kv: Vec<(Vec<u8>, Vec<u8>)> = (sent.len()..sent.len() + n)
                .map(|r| (format!("mix-k{r}").into_bytes(), (0..1024).map(|x| (x * 7 + r) as u8).collect()))
                .collect();
            sent.extend(kv.iter().cloned());
            let corr = round * 10_000 + i as i32 * 2;
            let (pv, preq) = c.produce_req("mix", 0, batch(&kv), -1);
            bytes.extend(frame(&encode_request(corr, pv, &preq)));
            expect.push((corr, n));
            bytes.extend(frame(&encode_request(corr + 1, mv, &mreq)));
            expect.push((corr + 1, 0));
        }
        if dribble {
            // Two bytes of the first size prefix, then uneven pieces with pauses between them.
            c.write(&bytes[..2]);
            std::thread::sleep(Duration::from_millis(30));
            let (mut at, mut piece) = (2, 3);
            while at < bytes.len() {
                let end = (at + piece).min(bytes.len());
                c.write(&bytes[at..end]);
                at = end;
                piece = piece * 5 % 70_001 + 1;
                std::thread::sleep(Duration::from_millis(2));
            }
        } else {
            c.write(&bytes);
        }
        let (pv, _) = c.produce_req("mix", 0, Bytes::new(), -1);
        for (corr, n) in expect {
            let f = c.read_frame();
            if n == 0 {
                let md = decode_response::<MetadataRequest>(&f, corr, mv);
                assert_eq!(md.topics[0].error_code, 0);
            } else {
                let pr = decode_response::<ProduceRequest>(&f, corr, pv);
                let p = &pr.responses[0].partition_responses[0];
                assert_eq!(p.error_code, 0, "produce {corr}");
                assert_eq!(p.base_offset, offset, "produce {corr} base offset");
                offset += n as i64;
            }
        }
    }
    // Read everything back: same keys and values, in order.
    let mut got: Vec<Record> = Vec::new();
    while (got.len() as i64) < offset {
        let from = got.len() as i64;
        let p = c.fetch("mix", 0, from);
        assert_eq!(p.error_code, 0);
        let recs: Vec<Record> = decode_records(&p.records).into_iter().filter(|r| r.offset >= from).collect();
        assert!(!recs.is_empty(), "fetch at {from} returned nothing; high watermark {}", p.high_watermark);
        got.extend(recs);
    }
    assert_eq!(got.len(), sent.len());
    for (i, (r, (k, v))) in got.iter().zip(&sent).enumerate() {
        assert_eq!(r.offset, i as i64);
        assert_eq!(r.key.as_deref(), Some(&k[..]), "key of record {i}");
        assert_eq!(r.value.as_deref(), Some(&v[..]), "value of record {i}");
    }
}

/// With `acks.all.fsync` a produce waiting for its fsync does not stop the connection: requests
/// behind it are read and appended meanwhile. Answers must still come in request order, offsets
/// in send order, nothing for acks=0, and an acknowledged produce must not wait for a
/// long-polling fetch sent after it.
#[test]
fn pipelined_produces_with_fsync_answered_in_order() {
    let b = TestBroker::start_with(&[("acks.all.fsync", "true")]);
    let mut c = Conn::connect(&b);
    c.ensure_topic("fsync-pipe");
    c.ensure_topic("fsync-idle");
    let mv = c.pick_key(API_METADATA, 12);
    let mreq = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_static_str("fsync-pipe")))),
    ]));
    // 8 acks=all produces, a metadata, an acks=0 produce, one more acks=all produce: one write.
    let mut bytes = Vec::new();
    let mut pv = 0;
    for i in 0..8 {
        let (v, req) = c.produce_req("fsync-pipe", 0, batch(&kvs(&format!("r{i}-"), 3)), -1);
        pv = v;
        bytes.extend(frame(&encode_request(i + 1, v, &req)));
    }
    bytes.extend(frame(&encode_request(9, mv, &mreq)));
    let (_, req) = c.produce_req("fsync-pipe", 0, batch(&kvs("r8-", 3)), 0);
    bytes.extend(frame(&encode_request(10, pv, &req)));
    let (_, req) = c.produce_req("fsync-pipe", 0, batch(&kvs("r9-", 3)), -1);
    bytes.extend(frame(&encode_request(11, pv, &req)));
    c.write(&bytes);
    for i in 0..8 {
        let f = c.read_frame();
        let pr = decode_response::<ProduceRequest>(&f, i + 1, pv);
        let p = &pr.responses[0].partition_responses[0];
        assert_eq!((p.error_code, p.base_offset), (0, 3 * i as i64), "produce #{} answered out of order", i + 1);
    }
    let md = decode_response::<MetadataRequest>(&c.read_frame(), 9, mv);
    assert_eq!(md.topics[0].error_code, 0);
    let pr = decode_response::<ProduceRequest>(&c.read_frame(), 11, pv);
    assert_eq!(pr.responses[0].partition_responses[0].base_offset, 27, "after 8 acks=all and one acks=0 produce of 3 records");
    let recs = decode_records(&c.fetch("fsync-pipe", 0, 0).records);
    let values: Vec<Vec<u8>> = recs.iter().map(|r| r.value.as_deref().unwrap_or_default().to_vec()).collect();
    let expected: Vec<Vec<u8>> = (0..10).flat_map(|i| kvs(&format!("r{i}-"), 3)).map(|(_, v)| v).collect();
    assert_eq!(values, expected, "records stored in send order");

    // A produce, then a fetch that long-polls an empty partition for 3 s: the produce's answer
    // comes once its fsync is done, not after the fetch.
    let (v, req) = c.produce_req("fsync-pipe", 0, batch(&kvs("late-", 1)), -1);
    let (fv, freq) = c.fetch_req("fsync-idle", 0, 0, 3000, 1);
    let mut bytes = frame(&encode_request(21, v, &req));
    bytes.extend(frame(&encode_request(22, fv, &freq)));
    let t0 = Instant::now();
    c.write(&bytes);
    let pr = decode_response::<ProduceRequest>(&c.read_frame(), 21, v);
    let acked = t0.elapsed();
    assert_eq!(pr.responses[0].partition_responses[0].base_offset, 30);
    let fr = one_partition(decode_response::<FetchRequest>(&c.read_frame(), 22, fv));
    let fetched = t0.elapsed();
    assert_eq!(fr.error_code, 0);
    assert!(fetched >= Duration::from_millis(2500), "the fetch long-polled only {fetched:?}");
    assert!(acked < Duration::from_millis(2000), "the produce was acknowledged after {acked:?}, behind the fetch's long poll");
    assert_healthy(&b);
}

#[test]
fn fetch_semantics() {
    let b = TestBroker::start();
    let mut c = Conn::connect(&b);
    let topic = "fetch-sem";
    c.ensure_topic(topic);
    let data = kvs("f", 5);
    assert_eq!(c.produce(topic, 0, batch(&data)).base_offset, 0);
    assert_eq!(c.produce(topic, 0, batch(&kvs("g", 5))).base_offset, 5);

    // An offset inside a batch returns the containing batch whole (clients skip the head).
    let f = c.fetch(topic, 0, 2);
    assert_eq!(f.error_code, 0);
    let recs = decode_records(&f.records);
    assert_eq!(recs.first().map(|r| r.offset), Some(0), "fetch at offset 2 must start with the containing batch (base 0)");
    assert_eq!(recs.iter().map(|r| r.offset).collect::<Vec<_>>(), (0..10).collect::<Vec<i64>>());
    assert_eq!(f.high_watermark, 10);
    assert_eq!(f.log_start_offset, 0);

    // Out of range.
    let f = c.fetch(topic, 0, 11);
    assert_eq!(f.error_code, 1, "OFFSET_OUT_OF_RANGE beyond the log end");
    let f = c.fetch(topic, 0, -5);
    assert_eq!(f.error_code, 1, "OFFSET_OUT_OF_RANGE for a negative offset");
    // At the log end: no error, no records.
    let f = c.fetch(topic, 0, 10);
    assert_eq!(f.error_code, 0);
    assert!(decode_records(&f.records).is_empty());
    // Unknown partition.
    let f = c.fetch(topic, 7, 0);
    assert_eq!(f.error_code, 3, "UNKNOWN_TOPIC_OR_PARTITION for a missing partition");

    // ListOffsets earliest/latest/by timestamp.
    assert_eq!(c.list_offset(topic, 0, -2), (0, 0));
    assert_eq!(c.list_offset(topic, 0, -1), (0, 10));
    assert_eq!(c.list_offset(topic, 0, 1_700_000_000_003), (0, 3), "first record with timestamp >= target");

    // KIP-74: the first batch is returned whole even when it exceeds max_bytes, else consumers
    // could never make progress.
    let big: Vec<(Vec<u8>, Vec<u8>)> = (0..3).map(|i| (format!("big{i}").into_bytes(), vec![b'0' + i as u8; 3000])).collect();
    assert_eq!(c.produce(topic, 0, batch(&big)).base_offset, 10);
    let (v, mut req) = c.fetch_req(topic, 0, 10, 0, 0);
    req.max_bytes = 100;
    req.topics[0].partitions[0].partition_max_bytes = 100;
    let f = one_partition(c.call(v, &req));
    assert_eq!(f.error_code, 0);
    let recs = decode_records(&f.records);
    assert_eq!(recs.len(), 3, "a batch larger than max_bytes must still be returned whole as the first batch");
    for (r, (k, val)) in recs.iter().zip(&big) {
        assert_eq!((r.key.as_deref(), r.value.as_deref()), (Some(&k[..]), Some(&val[..])));
    }
}

#[test]
fn metadata_names_and_topic_ids() {
    let b = TestBroker::start();
    let mut c = Conn::connect(&b);
    // Invalid names are rejected, not created.
    for bad in ["bad name", "a/b", ".."] {
        let md = c.metadata(&[bad], true);
        assert_eq!(md.topics.len(), 1);
        assert_eq!(md.topics[0].error_code, 17, "INVALID_TOPIC_EXCEPTION for metadata auto-create of {bad:?}");
    }
    // Missing topic without auto-create.
    let md = c.metadata(&["missing-topic"], false);
    assert_eq!(md.topics[0].error_code, 3);

    // Broker list and leader/epoch of an auto-created topic.
    let t = c.ensure_topic("ids");
    assert_eq!(md.brokers.len(), 1);
    assert_eq!((md.brokers[0].node_id.0, md.brokers[0].host.as_str(), md.brokers[0].port), (0, "127.0.0.1", b.port() as i32));
    assert_eq!(t.partitions[0].leader_id.0, 0);
    let mv = c.pick_key(API_METADATA, 12);
    if mv >= 10 {
        assert!(!t.topic_id.is_nil(), "topic id must be a real UUID");
        let again = c.ensure_topic("ids");
        assert_eq!(again.topic_id, t.topic_id, "topic id must be stable");
        let other = c.ensure_topic("ids-2");
        assert_ne!(other.topic_id, t.topic_id, "topic ids must differ between topics");
    }
    if mv >= 7 {
        let again = c.ensure_topic("ids");
        assert_eq!(again.partitions[0].leader_epoch, t.partitions[0].leader_epoch, "leader epoch stable");
        assert!(t.partitions[0].leader_epoch >= 0);
    }
    if mv >= 10 && c.versions.contains_key(&20) {
        // A re-created topic gets a new id.
        let before = c.ensure_topic("ids").topic_id;
        let v = version_range::<DeleteTopicsRequest>(&c).end().min(&5).to_owned();
        let resp = c.call(v, &DeleteTopicsRequest::default().with_timeout_ms(10_000).with_topic_names(vec![TopicName(StrBytes::from_static_str("ids"))]));
        assert_eq!(resp.responses[0].error_code, 0, "delete ids");
        let deadline = Instant::now() + Duration::from_secs(10);
        while c.metadata(&["ids"], false).topics[0].error_code != 3 {
            assert!(Instant::now() < deadline, "ids not deleted");
            std::thread::sleep(Duration::from_millis(50));
        }
        let after = c.ensure_topic("ids").topic_id;
        assert!(!after.is_nil());
        assert_ne!(after, before, "a re-created topic must get a new topic id");
    }
}

#[test]
fn librdkafka_compressed_batches_stay_compressed() {
    // librdkafka silently stops compressing when the broker's ApiVersions does not satisfy its
    // feature checks (Produce min > 2: librdkafka#4956; lz4 additionally needs FindCoordinator
    // advertised); check that what it sends is stored as compressed batches.
    let b = TestBroker::start();
    let topic = topic_name("stored-codec");
    b.create_topic(&topic, 1, &[]);
    let mut c = Conn::connect(&b);
    let mut offset = 0i64;
    let mut wrong = Vec::new();
    for (codec, expect) in [("gzip", Compression::Gzip), ("snappy", Compression::Snappy), ("lz4", Compression::Lz4), ("zstd", Compression::Zstd)] {
        let producer = b.producer_with(&[("compression.type", codec), ("linger.ms", "50")]);
        let mut futs = Vec::new();
        for i in 0..20 {
            let value = format!("{codec} value {i} {}", "z".repeat(200));
            futs.push(send_retry(&producer, rdkafka::producer::FutureRecord::<[u8], [u8]>::to(&topic).partition(0).key(&b"k"[..]).payload(value.as_bytes())));
        }
        for f in futs {
            await_delivery(f);
        }
        let f = c.fetch(&topic, 0, offset);
        assert_eq!(f.error_code, 0);
        let mut raw = f.records.clone().expect("records");
        let infos = RecordBatchDecoder::decode_batch_info(&mut raw).expect("batch info");
        assert!(!infos.is_empty());
        for info in &infos {
            if info.compression != expect {
                wrong.push(format!("compression.type={codec}: batch at {} stored with {:?}", info.min_offset, info.compression));
            }
        }
        // (kafka-protocol is built without codecs here, so count records from the batch headers.)
        assert_eq!(infos.iter().map(|i| i.record_count as i64).sum::<i64>(), 20, "{codec}: records");
        assert_eq!(infos[0].min_offset, offset, "{codec}: first batch base offset");
        offset += 20;
    }
    let advertised: Vec<i16> = c.versions.keys().copied().collect();
    assert!(wrong.is_empty(), "librdkafka did not compress: {wrong:?} (advertised api keys: {advertised:?}; librdkafka enables lz4 only if FindCoordinator (10) is advertised)");
}

/// Intersection of the broker's advertised range and what the kafka-protocol crate can encode.
fn version_range<R: Request>(c: &Conn) -> std::ops::RangeInclusive<i16> {
    let (bmin, bmax) = *c.versions.get(&R::KEY).unwrap_or_else(|| panic!("api {} not advertised", R::KEY));
    let crate_range = <R as kafka_protocol::protocol::Message>::VERSIONS;
    bmin.max(crate_range.min)..=bmax.min(crate_range.max)
}

/// Old clients pin old versions (Sarama, KafkaJS, Burrow, terraform providers): every advertised
/// version of the core APIs must work, not just the newest.
#[test]
fn every_advertised_version_roundtrips() {
    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
    use kafka_protocol::messages::offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};

    let b = TestBroker::start();
    let mut c = Conn::connect(&b);
    let mut adv: Vec<_> = c.versions.iter().collect();
    adv.sort();
    eprintln!("advertised (key, (min, max)): {adv:?}");
    let topic = "sweep";
    let t = c.ensure_topic(topic);
    let topic_id = t.topic_id;
    let epoch = t.partitions[0].leader_epoch;
    let tname = || TopicName(StrBytes::from_static_str("sweep"));

    // Produce: one batch per version, each must land at the next offset.
    let mut next = 0i64;
    for v in version_range::<ProduceRequest>(&c) {
        let mut td = TopicProduceData::default().with_partition_data(vec![
            PartitionProduceData::default().with_index(0).with_records(Some(batch(&kvs(&format!("produce-v{v}"), 2)))),
        ]);
        if v >= 13 {
            td = td.with_topic_id(topic_id);
        } else {
            td = td.with_name(tname());
        }
        let req = ProduceRequest::default().with_acks(-1).with_timeout_ms(10_000).with_topic_data(vec![td]);
        let resp = c.call(v, &req);
        let pr = &resp.responses[0].partition_responses[0];
        assert_eq!((pr.error_code, pr.base_offset), (0, next), "Produce v{v}");
        next += 2;
    }
    assert!(next > 0, "no Produce version in common with the crate");

    // Fetch: every version returns all produced records.
    for v in version_range::<FetchRequest>(&c) {
        let (_, mut req) = c.fetch_req(topic, 0, 0, 0, 0);
        if v >= 13 {
            req.topics[0].topic = TopicName::default();
            req.topics[0].topic_id = topic_id;
        }
        let resp = c.call(v, &req);
        assert_eq!(resp.error_code, 0, "Fetch v{v}");
        if v >= 13 {
            assert_eq!(resp.responses[0].topic_id, topic_id, "Fetch v{v} topic id");
        } else {
            assert_eq!(resp.responses[0].topic.as_str(), topic, "Fetch v{v} topic name");
        }
        let p = &resp.responses[0].partitions[0];
        assert_eq!((p.error_code, p.high_watermark), (0, next), "Fetch v{v}");
        let recs = decode_records(&p.records);
        assert_eq!(recs.iter().map(|r| r.offset).collect::<Vec<_>>(), (0..next).collect::<Vec<_>>(), "Fetch v{v} offsets");
    }

    // Metadata: every version finds the topic with its single partition led by node 0.
    for v in version_range::<MetadataRequest>(&c) {
        let mut req = MetadataRequest::default().with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(tname()))]));
        if v >= 4 {
            req.allow_auto_topic_creation = false;
        }
        let md: MetadataResponse = c.call(v, &req);
        assert_eq!(md.brokers.len(), 1, "Metadata v{v} brokers");
        assert_eq!(md.brokers[0].port, b.port() as i32, "Metadata v{v} broker port");
        assert_eq!(md.topics.len(), 1, "Metadata v{v} topics");
        let mt = &md.topics[0];
        assert_eq!((mt.error_code, mt.partitions.len()), (0, 1), "Metadata v{v}");
        assert_eq!(mt.partitions[0].leader_id.0, 0, "Metadata v{v} leader");
        if v >= 1 {
            // Null topic list = all topics.
            let all: MetadataResponse = c.call(v, &MetadataRequest::default().with_topics(None));
            assert!(all.topics.iter().any(|t| t.name.as_deref().map(|n| n.as_str()) == Some(topic)), "Metadata v{v} all topics");
        }
    }

    // ListOffsets: earliest and latest at every version.
    for v in version_range::<ListOffsetsRequest>(&c) {
        for (ts, want) in [(-2i64, 0i64), (-1, next)] {
            let req = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![ListOffsetsTopic::default()
                .with_name(tname())
                .with_partitions(vec![ListOffsetsPartition::default().with_partition_index(0).with_timestamp(ts)])]);
            let resp = c.call(v, &req);
            let p = &resp.topics[0].partitions[0];
            assert_eq!((p.error_code, p.offset), (0, want), "ListOffsets v{v} timestamp {ts}");
        }
    }

    // OffsetForLeaderEpoch: the current epoch ends at the log end offset.
    if c.versions.contains_key(&23) {
        for v in version_range::<OffsetForLeaderEpochRequest>(&c) {
            let req = OffsetForLeaderEpochRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![OffsetForLeaderTopic::default()
                .with_topic(tname())
                .with_partitions(vec![OffsetForLeaderPartition::default()
                    .with_partition(0)
                    .with_current_leader_epoch(-1)
                    .with_leader_epoch(epoch.max(0))])]);
            let resp = c.call(v, &req);
            let p = &resp.topics[0].partitions[0];
            assert_eq!((p.error_code, p.end_offset), (0, next), "OffsetForLeaderEpoch v{v} for epoch {epoch}");
        }
    }

    // CreateTopics / DeleteTopics at every version.
    for v in version_range::<CreateTopicsRequest>(&c) {
        let name = format!("sweep-created-v{v}");
        let req = CreateTopicsRequest::default().with_timeout_ms(10_000).with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(name.clone())))
            .with_num_partitions(2)
            .with_replication_factor(1)]);
        let resp = c.call(v, &req);
        assert_eq!(resp.topics.len(), 1);
        assert_eq!((resp.topics[0].name.as_str(), resp.topics[0].error_code), (name.as_str(), 0), "CreateTopics v{v}");
        let md = c.metadata(&[&name], false);
        assert_eq!((md.topics[0].error_code, md.topics[0].partitions.len()), (0, 2), "topic created by CreateTopics v{v}");
    }
    for v in version_range::<DeleteTopicsRequest>(&c) {
        let name = format!("sweep-deleted-v{v}");
        c.ensure_topic(&name);
        let mut req = DeleteTopicsRequest::default().with_timeout_ms(10_000);
        if v >= 6 {
            req.topics = vec![DeleteTopicState::default().with_name(Some(TopicName(StrBytes::from_string(name.clone()))))];
        } else {
            req.topic_names = vec![TopicName(StrBytes::from_string(name.clone()))];
        }
        let resp = c.call(v, &req);
        assert_eq!(resp.responses.len(), 1);
        assert_eq!(resp.responses[0].error_code, 0, "DeleteTopics v{v} of {name}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while c.metadata(&[&name], false).topics[0].error_code != 3 {
            assert!(Instant::now() < deadline, "{name} still exists after DeleteTopics v{v}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
