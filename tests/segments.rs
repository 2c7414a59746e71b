//! Segment rolling with a tiny segment size: many .log files, every offset still readable.

mod common;

use std::time::Duration;

use common::*;
use rdkafka::consumer::Consumer;
use rdkafka::producer::FutureRecord;
use rdkafka::{Offset, TopicPartitionList};

const N: i64 = 2000;
const BASE_TS: i64 = 1_620_000_000_000;

fn value_of(i: i64) -> Vec<u8> {
    let mut v = format!("seg-value-{i:06}-").into_bytes();
    v.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, 60 + (i % 40) as usize));
    v
}

fn produce_small_batches(b: &TestBroker, topic: &str, range: std::ops::Range<i64>) {
    let producer = b.producer_with(&[("linger.ms", "0"), ("batch.num.messages", "10")]);
    let mut futs = Vec::new();
    for i in range.clone() {
        let key = format!("k{i}");
        let value = value_of(i);
        let rec = FutureRecord::<[u8], [u8]>::to(topic)
            .partition(0)
            .key(key.as_bytes())
            .payload(&value[..])
            .timestamp(BASE_TS + i);
        futs.push((i, send_retry(&producer, rec)));
    }
    for (i, f) in futs {
        assert_eq!(await_delivery(f), (0, i), "record {i}");
    }
}

fn read_from(b: &TestBroker, topic: &str, start: i64, n: usize) -> Vec<Consumed> {
    let c = b.consumer();
    assign(&c, topic, &[(0, start)]);
    poll_n(&c, n, Duration::from_secs(30))
}

fn check(recs: &[Consumed], start: i64) {
    for (k, r) in recs.iter().enumerate() {
        let i = start + k as i64;
        assert_eq!(r.offset, i, "record {k} when reading from {start}");
        assert_eq!(r.key.as_deref(), Some(format!("k{i}").as_bytes()), "key at {i}");
        assert_eq!(r.value.as_deref(), Some(&value_of(i)[..]), "value at {i}");
        assert_eq!(r.timestamp, Some(BASE_TS + i), "timestamp at {i}");
    }
}

/// Verifies the segment layout and reads every offset, from the start and from seeks around
/// segment boundaries.
fn verify_segmented(b: &TestBroker, topic: &str, total: i64) -> Vec<i64> {
    let segs = segment_files(&b.partition_dir(topic, 0));
    let bases: Vec<i64> = segs.iter().map(|s| s.0).collect();
    eprintln!("{topic}-0: {} segments, bases {:?}...", bases.len(), &bases[..bases.len().min(10)]);
    assert!(bases.len() >= 20, "expected many segments with 4 KiB segments, got {}: {bases:?}", bases.len());
    assert_eq!(bases[0], 0, "first segment base offset");
    for w in bases.windows(2) {
        assert!(w[0] < w[1], "segment bases not increasing: {bases:?}");
    }
    for (base, path) in &segs {
        let len = std::fs::metadata(path).unwrap().len();
        assert!(len > 0, "empty non-active segment {base}");
        // A segment may exceed segment.bytes only when it holds a single batch larger than it.
        assert!(len <= 4096 + 2048, "segment {base} is {len} bytes, far above segment.bytes=4096");
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        assert_eq!(name, format!("{base:020}.log"), "segment file naming");
    }

    // Everything from the start.
    let all = read_from(b, topic, 0, total as usize);
    check(&all, 0);

    // Seeks into several segments: at, just after and just before segment bases.
    let picks: Vec<usize> = vec![1, 2, bases.len() / 3, bases.len() / 2, bases.len() - 2, bases.len() - 1];
    let c = b.consumer();
    assign(&c, topic, &[(0, 0)]);
    poll_n(&c, 1, Duration::from_secs(20));
    for &k in &picks {
        let base = bases[k];
        for target in [base, base + 1, base - 1] {
            if target >= total {
                continue;
            }
            c.seek(topic, 0, Offset::Offset(target), OP_TIMEOUT).expect("seek");
            let n = 3.min((total - target) as usize);
            let recs = poll_n(&c, n, Duration::from_secs(20));
            check(&recs, target);
            // Also via a fresh assignment.
            let recs = read_from(b, topic, target, n);
            check(&recs, target);
        }
    }

    // Timestamp lookups land in the right segment.
    for &k in &picks {
        let target = bases[k];
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Offset(BASE_TS + target)).unwrap();
        let res = c.offsets_for_times(tpl, OP_TIMEOUT).unwrap();
        assert_eq!(res.elements()[0].offset(), Offset::Offset(target), "offsets_for_times into segment {k}");
    }
    assert_eq!(c.fetch_watermarks(topic, 0, OP_TIMEOUT).unwrap(), (0, total));
    bases
}

#[test]
fn broker_wide_small_segments() {
    let mut b = TestBroker::start_with(&[("log.segment.bytes", "4096")]);
    let topic = topic_name("small-seg");
    b.create_topic(&topic, 1, &[]);
    produce_small_batches(&b, &topic, 0..N);
    let bases = verify_segmented(&b, &topic, N);

    // Restart: all segments are loaded again and the log continues at the right offset.
    b.stop();
    b.restart();
    let bases2 = verify_segmented(&b, &topic, N);
    assert_eq!(bases, bases2, "segments changed across a clean restart");
    produce_small_batches(&b, &topic, N..N + 200);
    verify_segmented(&b, &topic, N + 200);
}

#[test]
fn topic_config_small_segments_auto_created_topic_unaffected() {
    let b = TestBroker::start();
    let topic = topic_name("topic-seg");
    b.create_topic(&topic, 1, &[("segment.bytes", "4096")]);
    produce_small_batches(&b, &topic, 0..N);
    verify_segmented(&b, &topic, N);

    // An auto-created topic on the same broker uses the broker default (1 GiB): one segment.
    let other = topic_name("default-seg");
    produce_small_batches(&b, &other, 0..300);
    let segs = segment_files(&b.partition_dir(&other, 0));
    assert_eq!(segs.len(), 1, "default topic should not roll: {segs:?}");
}
