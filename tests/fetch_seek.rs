//! Positioned reads: assign/seek to middle offsets (also inside a batch), ListOffsets by
//! timestamp, and long-poll wake-up latency.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rdkafka::consumer::Consumer;
use rdkafka::producer::FutureRecord;
use rdkafka::{Offset, TopicPartitionList};

const BATCHES: i64 = 50;
const PER_BATCH: i64 = 10;
const N: i64 = BATCHES * PER_BATCH;
const BASE_TS: i64 = 1_650_000_000_000;

fn ts_of(i: i64) -> i64 {
    BASE_TS + i * 10
}

fn value_of(i: i64) -> Vec<u8> {
    format!("record-{i:05}-{}", "p".repeat((i % 37) as usize)).into_bytes()
}

/// Produces N records to partition 0 in batches of exactly PER_BATCH records (a full batch is
/// sent at once; each batch is awaited before the next), so offsets 10k+1..10k+9 are inside a
/// batch.
fn produce_batched(b: &TestBroker, topic: &str, codec: &str) {
    let t0 = Instant::now();
    // A batch is sent as soon as it holds batch.num.messages records.
    let producer = b.producer_with(&[
        ("linger.ms", "1000"),
        ("batch.num.messages", &PER_BATCH.to_string()),
        ("compression.type", codec),
    ]);
    for batch in 0..BATCHES {
        let mut futs = Vec::new();
        for j in 0..PER_BATCH {
            let i = batch * PER_BATCH + j;
            let key = format!("k{i}");
            let value = value_of(i);
            let rec = FutureRecord::<[u8], [u8]>::to(topic)
                .partition(0)
                .key(key.as_bytes())
                .payload(&value[..])
                .timestamp(ts_of(i));
            futs.push(send_retry(&producer, rec));
        }
        for (j, f) in futs.into_iter().enumerate() {
            assert_eq!(await_delivery(f), (0, batch * PER_BATCH + j as i64));
        }
    }
    eprintln!("produced {N} records in {BATCHES} batches in {:?}", t0.elapsed());
    // Check the on-disk batch layout the seeks below rely on.
    let data = std::fs::read(b.partition_dir(topic, 0).join("00000000000000000000.log")).expect("read segment");
    let batches: Vec<(i64, i32)> = log_batches(&data).iter().map(|h| (h.base_offset, h.last_offset_delta)).collect();
    let want: Vec<(i64, i32)> = (0..BATCHES).map(|k| (k * PER_BATCH, PER_BATCH as i32 - 1)).collect();
    assert_eq!(batches, want, "stored batches (base offset, last offset delta)");
}

fn check_from(recs: &[Consumed], start: i64) {
    for (k, r) in recs.iter().enumerate() {
        let i = start + k as i64;
        assert_eq!(r.offset, i, "record {k} after seeking to {start}");
        assert_eq!(r.value.as_deref(), Some(&value_of(i)[..]), "value at offset {i}");
        assert_eq!(r.key.as_deref(), Some(format!("k{i}").as_bytes()), "key at offset {i}");
        assert_eq!(r.timestamp, Some(ts_of(i)), "timestamp at offset {i}");
    }
}

fn seek_middle(codec: &str) {
    let b = TestBroker::start();
    let topic = topic_name(&format!("seek-{codec}"));
    b.create_topic(&topic, 1, &[]);
    produce_batched(&b, &topic, codec);

    // Fresh consumer assigned at each start offset reads exactly [start, N).
    for start in [0, 1, 5, 10, 123, 250, 255, 399, 491, N - 1] {
        let c = b.consumer();
        assign(&c, &topic, &[(0, start)]);
        let recs = poll_n(&c, (N - start) as usize, Duration::from_secs(20));
        check_from(&recs, start);
        assert_no_more(&c, Duration::from_millis(200));
    }
    // Assign at the end: nothing arrives.
    let c = b.consumer();
    assign(&c, &topic, &[(0, N)]);
    assert_no_more(&c, Duration::from_millis(500));

    // seek() on a consumer that is already fetching, backwards and forwards.
    let c = b.consumer();
    assign(&c, &topic, &[(0, 0)]);
    let first = poll_n(&c, 3, Duration::from_secs(20));
    check_from(&first, 0);
    for target in [333i64, 17, 444, 0, 498] {
        c.seek(&topic, 0, Offset::Offset(target), OP_TIMEOUT).expect("seek");
        // After a seek librdkafka discards pre-seek messages; the next record must be `target`.
        let recs = poll_n(&c, 5.min((N - target) as usize), Duration::from_secs(20));
        check_from(&recs, target);
    }
}

#[test]
fn seek_to_middle_offsets_uncompressed() {
    seek_middle("none");
}

#[test]
fn seek_to_middle_offsets_zstd() {
    seek_middle("zstd");
}

#[test]
fn offsets_for_times_is_exact() {
    let b = TestBroker::start();
    let topic = topic_name("times");
    b.create_topic(&topic, 1, &[]);
    produce_batched(&b, &topic, "lz4");
    let c = b.consumer();
    assert_eq!(c.fetch_watermarks(&topic, 0, OP_TIMEOUT).unwrap(), (0, N));

    // (query timestamp, expected offset): exact hits (batch starts, middles, ends), timestamps
    // between records (-> the next record), before the first (-> 0).
    let mut cases: Vec<(i64, i64)> = Vec::new();
    for i in [0, 1, 9, 10, 11, 15, 99, 100, 101, 255, 256, 300, 488, N - 1] {
        cases.push((ts_of(i), i));
        if i > 0 {
            cases.push((ts_of(i) - 3, i));
        }
    }
    cases.push((0, 0));
    cases.push((BASE_TS - 100_000, 0));
    for (ts, expect) in &cases {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&topic, 0, Offset::Offset(*ts)).unwrap();
        let res = c.offsets_for_times(tpl, OP_TIMEOUT).expect("offsets_for_times");
        let e = res.elements();
        assert_eq!(e.len(), 1);
        assert!(e[0].error().is_ok(), "error for ts {ts}: {:?}", e[0].error());
        assert_eq!(e[0].offset(), Offset::Offset(*expect), "offsets_for_times({ts})");
    }
    // After the last timestamp: no such offset (-1, which librdkafka reports as End).
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Offset(ts_of(N - 1) + 1)).unwrap();
    let res = c.offsets_for_times(tpl, OP_TIMEOUT).expect("offsets_for_times");
    assert_eq!(res.elements()[0].offset(), Offset::End, "timestamp after the last record");

    // Consuming from a looked-up offset starts exactly there.
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Offset(ts_of(377) - 1)).unwrap();
    let res = c.offsets_for_times(tpl, OP_TIMEOUT).unwrap();
    assert_eq!(res.elements()[0].offset(), Offset::Offset(377));
    let c2 = b.consumer();
    c2.assign(&res).unwrap();
    let recs = poll_n(&c2, 5, Duration::from_secs(20));
    check_from(&recs, 377);
}

#[test]
fn long_poll_wakes_on_produce() {
    let b = TestBroker::start();
    let topic = topic_name("long-poll");
    b.create_topic(&topic, 2, &[]);
    let producer = b.producer_with(&[("linger.ms", "0")]);
    // Warm the producer's connection and metadata on the other partition.
    produce_one(&producer, &topic, Some(1), b"warm", b"up");

    let c = b.consumer_with(&[("fetch.wait.max.ms", "5000"), ("fetch.min.bytes", "1")]);
    assign(&c, &topic, &[(0, 0)]);
    // Let the consumer settle into a long poll on the empty partition.
    assert_no_more(&c, Duration::from_millis(1500));

    for round in 0..3i64 {
        let value = format!("wake-{round}");
        let t0 = Instant::now();
        let fut = send_retry(&producer, FutureRecord::<[u8], [u8]>::to(&topic).partition(0).key(&b"k"[..]).payload(value.as_bytes()));
        let got = poll_n(&c, 1, Duration::from_secs(10));
        let latency = t0.elapsed();
        assert_eq!(await_delivery(fut), (0, round));
        assert_eq!(got[0].offset, round);
        assert_eq!(got[0].value.as_deref(), Some(value.as_bytes()));
        eprintln!("round {round}: record arrived {latency:?} after produce");
        assert!(
            latency < Duration::from_secs(2),
            "round {round}: consumer got the record {latency:?} after produce; a parked fetch (max.wait 5 s) must be woken by the append"
        );
        // Idle again long enough for the consumer to be parked in a fresh long poll.
        assert_no_more(&c, Duration::from_millis(1200));
    }
}
