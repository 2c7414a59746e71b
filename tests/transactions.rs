//! Idempotent and transactional producers against the real broker binary, driven by librdkafka
//! (rdkafka 0.39): exactly-once delivery of an idempotent producer across broker kill -9 / SIGTERM
//! restarts (plus a raw-protocol check of duplicate and sequence-gap handling), commit/abort
//! visibility under read_committed / read_uncommitted (also from offsets inside aborted
//! transactions, across segments and restarts, and with two producers interleaved), the last
//! stable offset, consume-transform-produce with offsets in the transaction across an application
//! crash (the application runs in a child process that is SIGKILLed), fencing (also across a
//! broker crash), transaction timeouts across a broker kill -9, and the max-timeout check.
//!
//! Reading "everything" never relies on a quiet period: after the interesting records, the test
//! writes a plain (non-transactional) `END` record to every partition and reads until it has seen
//! `END` everywhere. A read_committed consumer can only get there once the last stable offset has
//! moved past every transaction before it.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use common::*;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseRecord, FutureProducer, FutureRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

const TXN_OVERRIDES: &[(&str, &str)] = &[
    ("group.initial.rebalance.delay.ms", "100"),
    ("group.min.session.timeout.ms", "1000"),
    ("transaction.abort.timed.out.transaction.cleanup.interval.ms", "500"),
];

const END: &str = "END";

// ====================================================================== helpers

/// A transactional producer. message.timeout.ms is left to librdkafka (it must be <=
/// transaction.timeout.ms and defaults to it).
fn txn_producer_config(bootstrap: &str, txn_id: &str, extra: &[(&str, &str)]) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("client.id", "odradek-it-txn")
        .set("transactional.id", txn_id)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("reconnect.backoff.ms", "50")
        .set("reconnect.backoff.max.ms", "500");
    for (k, v) in extra {
        c.set(*k, *v);
    }
    c
}

fn txn_producer(b: &TestBroker, txn_id: &str, extra: &[(&str, &str)]) -> FutureProducer {
    txn_producer_config(&b.bootstrap(), txn_id, extra).create().expect("create transactional producer")
}

/// Sends `values` to `topic`/`partition` and waits until the broker acknowledged all of them
/// (inside a transaction this is what makes them reach the log before an abort).
fn send_all(p: &FutureProducer, topic: &str, partition: i32, values: &[String]) {
    let futs: Vec<_> = values
        .iter()
        .map(|v| {
            let rec = FutureRecord::<[u8], [u8]>::to(topic).partition(partition).key(v.as_bytes()).payload(v.as_bytes());
            send_retry(p, rec)
        })
        .collect();
    for f in futs {
        await_delivery(f);
    }
}

/// Writes a plain `END` record to every partition (non-transactional producer).
fn write_end(b: &TestBroker, topic: &str, partitions: i32) {
    let p = b.producer();
    for part in 0..partitions {
        produce_one(&p, topic, Some(part), b"end", END.as_bytes());
    }
}

/// Reads every partition from offset 0 until an `END` record has been seen on each; returns
/// (offset, value) per partition up to (without) the first END. Every value must be non-null UTF-8
/// (a control record handed to the application would show up here) and offsets must increase.
fn read_until_end(b: &TestBroker, topic: &str, partitions: i32, isolation: &str, timeout: Duration) -> BTreeMap<i32, Vec<(i64, String)>> {
    let starts: Vec<(i32, i64)> = (0..partitions).map(|p| (p, 0)).collect();
    read_until_end_from(b, topic, &starts, isolation, timeout)
}

/// Like `read_until_end`, starting at the given (partition, offset)s.
fn read_until_end_from(b: &TestBroker, topic: &str, starts: &[(i32, i64)], isolation: &str, timeout: Duration) -> BTreeMap<i32, Vec<(i64, String)>> {
    let partitions = starts.len() as i32;
    let c = b.consumer_with(&[("isolation.level", isolation)]);
    assign(&c, topic, starts);
    let mut out: BTreeMap<i32, Vec<(i64, String)>> = starts.iter().map(|(p, _)| (*p, Vec::new())).collect();
    let mut done: BTreeSet<i32> = BTreeSet::new();
    let mut errors: Vec<String> = Vec::new();
    let deadline = Instant::now() + timeout;
    while done.len() < partitions as usize {
        if Instant::now() > deadline {
            let hw: Vec<_> = starts.iter().map(|(p, _)| (*p, c.fetch_watermarks(topic, *p, Duration::from_secs(5)).ok())).collect();
            panic!(
                "{isolation} consumer of {topic}: no END on partitions {:?} within {timeout:?}; got {:?} records per partition, \
                 last offsets {:?}; watermarks as seen by this consumer {hw:?}; poll errors {errors:?}",
                starts.iter().map(|(p, _)| *p).filter(|p| !done.contains(p)).collect::<Vec<_>>(),
                out.iter().map(|(p, v)| (*p, v.len())).collect::<Vec<_>>(),
                out.iter().map(|(p, v)| (*p, v.last().map(|x| x.0))).collect::<Vec<_>>(),
            );
        }
        match c.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(e)) if errors.len() < 20 => errors.push(e.to_string()),
            Some(Err(_)) => {}
            Some(Ok(m)) => {
                let p = m.partition();
                let v = match m.payload() {
                    None => panic!("{isolation}: record with a null value at {topic}-{p}@{} (control record?)", m.offset()),
                    Some(v) => String::from_utf8(v.to_vec())
                        .unwrap_or_else(|_| panic!("{isolation}: non-UTF-8 value at {topic}-{p}@{}: {v:02x?}", m.offset())),
                };
                if done.contains(&p) {
                    continue; // past this partition's first END
                }
                let list = out.get_mut(&p).unwrap();
                if let Some((last, _)) = list.last() {
                    assert!(m.offset() > *last, "{isolation}: offsets went backwards on {topic}-{p}: {last} then {}", m.offset());
                }
                if v == END {
                    done.insert(p);
                } else {
                    list.push((m.offset(), v));
                }
            }
        }
    }
    out
}

fn values(recs: &[(i64, String)]) -> Vec<String> {
    recs.iter().map(|(_, v)| v.clone()).collect()
}

/// True if `e` says that the producer was fenced by a newer instance.
fn is_fenced(e: &KafkaError) -> bool {
    match e {
        KafkaError::Transaction(r) => {
            r.is_fatal()
                || matches!(
                    r.code(),
                    RDKafkaErrorCode::ProducerFenced | RDKafkaErrorCode::InvalidProducerEpoch | RDKafkaErrorCode::Fenced
                )
        }
        other => matches!(
            other.rdkafka_error_code(),
            Some(RDKafkaErrorCode::ProducerFenced | RDKafkaErrorCode::InvalidProducerEpoch | RDKafkaErrorCode::Fenced)
        ),
    }
}

fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ====================================================================== idempotent producer

#[derive(Default)]
struct DeliveryLog {
    acked: AtomicUsize,
    failed: Mutex<Vec<String>>,
}

impl ClientContext for DeliveryLog {}

impl ProducerContext for DeliveryLog {
    type DeliveryOpaque = Box<(i32, u32)>;
    fn delivery(&self, r: &DeliveryResult<'_>, o: Self::DeliveryOpaque) {
        match r {
            Ok(_) => {
                self.acked.fetch_add(1, Ordering::SeqCst);
            }
            Err((e, _)) => {
                let mut f = self.failed.lock().unwrap();
                if f.len() < 50 {
                    f.push(format!("partition {} seq {}: {e}", o.0, o.1));
                } else {
                    f.push(String::new());
                }
            }
        }
    }
}

#[test]
fn idempotent_producer_exactly_once_across_broker_restarts() {
    const PARTS: i32 = 3;
    let mut b = TestBroker::start_with(TXN_OVERRIDES);
    let topic = topic_name("idem");
    // Small segments: producer state snapshots at segment rolls and recovery across several segments.
    b.create_topic(&topic, PARTS, &[("segment.bytes", "65536")]);

    let mut cfg = b.client_config();
    cfg.set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "60000")
        .set("reconnect.backoff.ms", "50")
        .set("reconnect.backoff.max.ms", "500")
        .set("queue.buffering.max.messages", "500000");
    let producer: Arc<ThreadedProducer<DeliveryLog>> =
        Arc::new(cfg.create_with_context(DeliveryLog::default()).expect("create idempotent producer"));

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let handle = {
        let (producer, stop, sent, topic) = (producer.clone(), stop.clone(), sent.clone(), topic.clone());
        std::thread::spawn(move || {
            let mut seq: u32 = 0;
            while !stop.load(Ordering::SeqCst) {
                for p in 0..PARTS {
                    let v = format!("p{p}-{seq:07}");
                    let mut rec = BaseRecord::<str, str, Box<(i32, u32)>>::with_opaque_to(&topic, Box::new((p, seq))).partition(p).payload(v.as_str());
                    let deadline = Instant::now() + Duration::from_secs(60);
                    loop {
                        match producer.send(rec) {
                            Ok(()) => break,
                            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) if Instant::now() < deadline => {
                                rec = r;
                                std::thread::sleep(Duration::from_millis(5));
                            }
                            Err((e, _)) => panic!("enqueue failed: {e}"),
                        }
                    }
                    sent.fetch_add(1, Ordering::SeqCst);
                }
                seq += 1;
                // Pacing so that the stream spans the broker restarts (not an assertion).
                if seq.is_multiple_of(4) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            seq
        })
    };

    let acked = || producer.context().acked.load(Ordering::SeqCst);
    let step = 2000;
    wait_until("first acks", Duration::from_secs(30), || acked() >= step);
    for (i, crash) in [true, false, true].into_iter().enumerate() {
        eprintln!(
            "[test] restart {i}: {} acked, {} sent: {} the broker",
            acked(),
            sent.load(Ordering::SeqCst),
            if crash { "kill -9" } else { "SIGTERM" }
        );
        if crash {
            b.kill9();
        } else {
            b.stop();
        }
        b.restart();
        let mark = acked();
        wait_until("acks after the restart", Duration::from_secs(60), || acked() >= mark + step);
    }
    stop.store(true, Ordering::SeqCst);
    let rounds = handle.join().expect("producer thread");
    let total = rounds as usize * PARTS as usize;
    producer.flush(Duration::from_secs(60)).expect("flush");
    wait_until("all delivery reports", Duration::from_secs(60), || {
        acked() + producer.context().failed.lock().unwrap().len() >= total
    });
    let failed = producer.context().failed.lock().unwrap().clone();
    assert!(failed.is_empty(), "{} of {total} deliveries failed, e.g. {:?}", failed.len(), &failed[..failed.len().min(10)]);
    assert_eq!(acked(), total);

    let all = read_all(&b, &topic, PARTS);
    for p in 0..PARTS {
        let got: Vec<String> = all[&p].iter().map(|r| String::from_utf8(r.value.clone().unwrap()).unwrap()).collect();
        let want: Vec<String> = (0..rounds).map(|s| format!("p{p}-{s:07}")).collect();
        if got != want {
            let dups = got.len() as i64 - got.iter().collect::<BTreeSet<_>>().len() as i64;
            let first_diff = got.iter().zip(&want).position(|(a, b)| a != b);
            panic!(
                "{topic}-{p}: {} records in the log, {} produced; {dups} duplicates; first difference at offset {first_diff:?}: got {:?} want {:?}",
                got.len(),
                want.len(),
                first_diff.map(|i| &got[i]),
                first_diff.map(|i| &want[i])
            );
        }
    }
    eprintln!("[test] {total} records exactly once across three broker restarts");
}

// ====================================================================== raw idempotent produce

/// Minimal raw Kafka connection (requests encoded by kafka-protocol).
use common::raw::RawConn as Conn;

impl Conn {
    /// InitProducerId without a transactional id: (error, producer id, epoch).
    fn init_producer_id(&mut self) -> (i16, i64, i16) {
        let v = self.pick::<InitProducerIdRequest>(4);
        let req = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(i32::MAX)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        let r = self.call(v, &req);
        (r.error_code, r.producer_id.0, r.producer_epoch)
    }

    /// Produces one idempotent batch (acks=all): (error, base offset).
    fn produce_idempotent(&mut self, topic: &str, pid: i64, epoch: i16, base_seq: i32, values: &[&str]) -> (i16, i64) {
        // Current timestamps: as in Kafka, a producer whose last batch timestamp is older than
        // producer.id.expiration.ms is not loaded from the snapshot after a restart.
        let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis() as i64;
        let recs: Vec<Record> = values
            .iter()
            .enumerate()
            .map(|(i, v)| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: pid,
                producer_epoch: epoch,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: base_seq + i as i32,
                timestamp: now + i as i64,
                key: None,
                value: Some(Bytes::copy_from_slice(v.as_bytes())),
                headers: Default::default(),
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(&mut buf, recs.iter(), &RecordEncodeOptions { version: 2, compression: Compression::None })
            .expect("encode batch");
        let v = self.pick::<ProduceRequest>(9);
        let req = ProduceRequest::default().with_acks(-1).with_timeout_ms(10_000).with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default().with_index(0).with_records(Some(buf.freeze()))])]);
        let r = self.call(v, &req);
        let p = &r.responses[0].partition_responses[0];
        (p.error_code, p.base_offset)
    }
}

const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;

#[test]
fn idempotent_produce_dedups_retries_and_rejects_gaps_raw() {
    let mut b = TestBroker::start_with(TXN_OVERRIDES);
    let topic = topic_name("idem-raw");
    b.create_topic(&topic, 1, &[]);
    let mut c = Conn::connect(&b);
    let (err, pid, epoch) = c.init_producer_id();
    assert_eq!(err, 0, "InitProducerId");
    assert!(pid >= 0 && epoch >= 0, "pid {pid} epoch {epoch}");

    assert_eq!(c.produce_idempotent(&topic, pid, epoch, 0, &["a0", "a1", "a2"]), (0, 0), "first batch");
    assert_eq!(c.produce_idempotent(&topic, pid, epoch, 0, &["a0", "a1", "a2"]), (0, 0), "retry of the first batch: original offset");
    assert_eq!(c.produce_idempotent(&topic, pid, epoch, 3, &["b3", "b4"]), (0, 3), "second batch");
    let (e, _) = c.produce_idempotent(&topic, pid, epoch, 10, &["gap"]);
    assert_eq!(e, OUT_OF_ORDER_SEQUENCE_NUMBER, "a sequence gap");
    assert_eq!(c.produce_idempotent(&topic, pid, epoch, 0, &["a0", "a1", "a2"]), (0, 0), "an older retry within the last 5 batches");
    let hw = || b.consumer().fetch_watermarks(&topic, 0, OP_TIMEOUT).unwrap().1;
    assert_eq!(hw(), 5, "duplicates must not be appended");
    drop(c);

    // After a crash the producer state is rebuilt from the log.
    b.kill9();
    b.restart();
    let mut c = Conn::connect(&b);
    assert_eq!(c.produce_idempotent(&topic, pid, epoch, 3, &["b3", "b4"]), (0, 3), "retry of the last batch after kill -9");
    let (e, _) = c.produce_idempotent(&topic, pid, epoch, 7, &["gap"]);
    assert_eq!(e, OUT_OF_ORDER_SEQUENCE_NUMBER, "a sequence gap after kill -9");
    assert_eq!(c.produce_idempotent(&topic, pid, epoch, 5, &["c5"]), (0, 5), "next batch after kill -9");
    let (err, pid2, _) = c.init_producer_id();
    assert_eq!(err, 0);
    assert_ne!(pid2, pid, "producer ids must be unique across restarts");
    drop(c);

    // ... and after a clean restart.
    b.restart();
    let mut c = Conn::connect(&b);
    assert_eq!(c.produce_idempotent(&topic, pid, epoch, 5, &["c5"]), (0, 5), "retry after a clean restart");
    assert_eq!(c.produce_idempotent(&topic, pid, epoch, 6, &["d6"]), (0, 6));
    let (err, pid3, _) = c.init_producer_id();
    assert_eq!(err, 0);
    assert!(pid3 != pid && pid3 != pid2, "producer ids must be unique across restarts: {pid} {pid2} {pid3}");

    let all = read_all(&b, &topic, 1);
    let vals: Vec<String> = all[&0].iter().map(|r| String::from_utf8(r.value.clone().unwrap()).unwrap()).collect();
    assert_eq!(vals, vec!["a0", "a1", "a2", "b3", "b4", "c5", "d6"]);
}

// ====================================================================== commit / abort

#[test]
fn read_committed_sees_only_committed_transactions() {
    const PARTS: i32 = 3;
    const PER: usize = 5;
    let b = TestBroker::start_with(TXN_OVERRIDES);
    let topic = topic_name("txn-ca");
    b.create_topic(&topic, PARTS, &[]);

    let p = txn_producer(&b, "txn-commit-abort", &[]);
    p.init_transactions(OP_TIMEOUT).expect("init_transactions");
    // Per partition: every record in produce order, and the committed ones.
    let mut all: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    let mut committed: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    let plan = [true, false, true, false, false, true, false];
    for (t, &commit) in plan.iter().enumerate() {
        p.begin_transaction().expect("begin_transaction");
        for part in 0..PARTS {
            let vals: Vec<String> =
                (0..PER).map(|i| format!("t{t}-{}-p{part}-{i}", if commit { "commit" } else { "abort" })).collect();
            send_all(&p, &topic, part, &vals);
            all.entry(part).or_default().extend(vals.iter().cloned());
            if commit {
                committed.entry(part).or_default().extend(vals);
            }
        }
        if commit {
            p.commit_transaction(OP_TIMEOUT).expect("commit_transaction");
        } else {
            p.flush(OP_TIMEOUT).expect("flush before abort");
            p.abort_transaction(OP_TIMEOUT).expect("abort_transaction");
        }
    }
    write_end(&b, &topic, PARTS);

    let rc = read_until_end(&b, &topic, PARTS, "read_committed", Duration::from_secs(30));
    let ru = read_until_end(&b, &topic, PARTS, "read_uncommitted", Duration::from_secs(30));
    for part in 0..PARTS {
        assert_eq!(values(&rc[&part]), committed[&part], "read_committed view of {topic}-{part}");
        assert_eq!(values(&ru[&part]), all[&part], "read_uncommitted view of {topic}-{part}");
        // Each transaction's records are contiguous and followed by exactly one marker.
        let offsets: Vec<i64> = ru[&part].iter().map(|r| r.0).collect();
        let want: Vec<i64> =
            (0..plan.len()).flat_map(|t| (0..PER).map(move |i| (t * (PER + 1) + i) as i64)).collect();
        assert_eq!(offsets, want, "offsets of {topic}-{part} (one commit/abort marker after each transaction)");
    }
    // A read_committed consumer that starts inside an aborted transaction (the abort's first
    // offset is below the fetch offset) must still skip the rest of it; one starting inside a
    // committed transaction sees the rest of that one.
    for start in [2i64, 7, 8, 10, 11, 14, 20, 21, 26, 33] {
        let got = read_until_end_from(&b, &topic, &[(1, start)], "read_committed", Duration::from_secs(30));
        let want: Vec<String> = ru[&1].iter().filter(|(o, v)| *o >= start && v.contains("-commit-")).map(|(_, v)| v.clone()).collect();
        assert_eq!(values(&got[&1]), want, "read_committed from {topic}-1@{start}");
    }

    // No transaction open any more: the last stable offset equals the high watermark.
    let c = b.consumer_with(&[("isolation.level", "read_committed")]);
    let u = b.consumer_with(&[("isolation.level", "read_uncommitted")]);
    for part in 0..PARTS {
        let lso = c.fetch_watermarks(&topic, part, OP_TIMEOUT).unwrap().1;
        let hw = u.fetch_watermarks(&topic, part, OP_TIMEOUT).unwrap().1;
        assert_eq!(lso, hw, "{topic}-{part}: LSO vs high watermark with no open transaction");
        assert_eq!(hw, (plan.len() * (PER + 1) + 1) as i64, "{topic}-{part}: high watermark");
    }
}

#[test]
fn open_transaction_holds_back_read_committed_until_commit() {
    let b = TestBroker::start_with(TXN_OVERRIDES);
    let topic = topic_name("txn-lso");
    b.create_topic(&topic, 1, &[]);

    let p = txn_producer(&b, "txn-lso", &[]);
    p.init_transactions(OP_TIMEOUT).expect("init_transactions");
    p.begin_transaction().expect("begin_transaction");
    let tx_vals: Vec<String> = (0..3).map(|i| format!("tx-{i}")).collect();
    send_all(&p, &topic, 0, &tx_vals);
    p.flush(OP_TIMEOUT).unwrap();
    // Non-transactional records after the open transaction's first offset.
    let plain = b.producer();
    produce_one(&plain, &topic, Some(0), b"k", b"plain-0");
    produce_one(&plain, &topic, Some(0), b"k", b"plain-1");

    let rc = b.consumer_with(&[("isolation.level", "read_committed")]);
    let ru = b.consumer_with(&[("isolation.level", "read_uncommitted")]);
    assert_eq!(ru.fetch_watermarks(&topic, 0, OP_TIMEOUT).unwrap().1, 5, "high watermark");
    assert_eq!(
        rc.fetch_watermarks(&topic, 0, OP_TIMEOUT).unwrap().1,
        0,
        "read_committed ListOffsets(latest) must return the last stable offset = the open transaction's first offset"
    );
    // read_uncommitted sees everything now; read_committed sees nothing (bounded check).
    assign(&ru, &topic, &[(0, 0)]);
    let got = poll_n(&ru, 5, Duration::from_secs(20));
    assert_eq!(got.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
    assign(&rc, &topic, &[(0, 0)]);
    assert_no_more(&rc, Duration::from_millis(1500));

    p.commit_transaction(OP_TIMEOUT).expect("commit_transaction");
    let got = poll_n(&rc, 5, Duration::from_secs(20));
    let vals: Vec<String> = got.iter().map(|r| String::from_utf8(r.value.clone().unwrap()).unwrap()).collect();
    assert_eq!(vals, vec!["tx-0", "tx-1", "tx-2", "plain-0", "plain-1"]);
    assert_eq!(got.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
    assert_eq!(rc.fetch_watermarks(&topic, 0, OP_TIMEOUT).unwrap().1, 6, "LSO after commit (marker at 5)");
}

#[test]
fn interleaved_transactions_of_two_producers_on_one_partition() {
    // X aborts, Y commits, with their records (and plain ones) interleaved in one partition: the
    // aborted-transaction list must identify X's records by producer id, not by offset range.
    let b = TestBroker::start_with(TXN_OVERRIDES);
    let topic = topic_name("txn-mix");
    b.create_topic(&topic, 1, &[]);
    let x = txn_producer(&b, "txn-mix-x", &[]);
    let y = txn_producer(&b, "txn-mix-y", &[]);
    let plain = b.producer();
    x.init_transactions(OP_TIMEOUT).expect("X init");
    y.init_transactions(OP_TIMEOUT).expect("Y init");
    x.begin_transaction().unwrap();
    y.begin_transaction().unwrap();
    let mut want_committed = Vec::new();
    let mut want_all = Vec::new();
    for i in 0..4 {
        let (xv, yv, pv) = (format!("x-{i}"), format!("y-{i}"), format!("plain-{i}"));
        send_all(&x, &topic, 0, std::slice::from_ref(&xv));
        send_all(&y, &topic, 0, std::slice::from_ref(&yv));
        produce_one(&plain, &topic, Some(0), b"k", pv.as_bytes());
        want_all.extend([xv, yv.clone(), pv.clone()]);
        want_committed.extend([yv, pv]);
    }
    x.flush(OP_TIMEOUT).unwrap();
    x.abort_transaction(OP_TIMEOUT).expect("X abort");
    y.commit_transaction(OP_TIMEOUT).expect("Y commit");
    write_end(&b, &topic, 1);
    let rc = read_until_end(&b, &topic, 1, "read_committed", Duration::from_secs(30));
    assert_eq!(values(&rc[&0]), want_committed, "read_committed view");
    let ru = read_until_end(&b, &topic, 1, "read_uncommitted", Duration::from_secs(30));
    assert_eq!(values(&ru[&0]), want_all, "read_uncommitted view");
    assert_eq!(ru[&0].iter().map(|r| r.0).collect::<Vec<_>>(), (0..12).collect::<Vec<i64>>(), "offsets");
}

#[test]
fn aborted_transactions_across_segments_and_restarts() {
    let mut b = TestBroker::start_with(TXN_OVERRIDES);
    let topic = topic_name("txn-seg");
    b.create_topic(&topic, 1, &[("segment.bytes", "1024")]);
    let p = txn_producer(&b, "txn-seg-id", &[("linger.ms", "0")]);
    p.init_transactions(OP_TIMEOUT).expect("init_transactions");
    let pad = "p".repeat(60);
    let mut all = Vec::new();
    let mut committed = Vec::new();
    // Large transactions, one record per batch, so that each one spans several segments.
    for (t, commit) in [(0, false), (1, true), (2, false), (3, false), (4, true)] {
        p.begin_transaction().unwrap();
        for i in 0..25 {
            let v = format!("t{t}-{}-{i:02}-{pad}", if commit { "commit" } else { "abort" });
            send_all(&p, &topic, 0, std::slice::from_ref(&v));
            all.push(v.clone());
            if commit {
                committed.push(v);
            }
        }
        if commit {
            p.commit_transaction(OP_TIMEOUT).expect("commit");
        } else {
            p.flush(OP_TIMEOUT).unwrap();
            p.abort_transaction(OP_TIMEOUT).expect("abort");
        }
    }
    drop(p);
    write_end(&b, &topic, 1);
    let segs = segment_files(&b.partition_dir(&topic, 0)).len();
    assert!(segs >= 10, "expected many segments with segment.bytes=1024, got {segs}");

    let check = |b: &TestBroker, when: &str| {
        let rc = read_until_end(b, &topic, 1, "read_committed", Duration::from_secs(30));
        assert_eq!(values(&rc[&0]), committed, "read_committed from 0 {when}");
        let ru = read_until_end(b, &topic, 1, "read_uncommitted", Duration::from_secs(30));
        assert_eq!(values(&ru[&0]), all, "read_uncommitted {when}");
        // Start in the middle of aborted transactions t0 (offsets 0..25), t2 (52..77), t3 (78..103).
        for start in [13i64, 60, 90] {
            let got = read_until_end_from(b, &topic, &[(0, start)], "read_committed", Duration::from_secs(30));
            let want: Vec<String> =
                ru[&0].iter().filter(|(o, v)| *o >= start && v.contains("-commit-")).map(|(_, v)| v.clone()).collect();
            assert_eq!(values(&got[&0]), want, "read_committed from offset {start} {when}");
        }
    };
    check(&b, "before restarts");
    b.restart();
    check(&b, "after SIGTERM + restart");
    b.kill9();
    b.restart();
    check(&b, "after kill -9 + restart");
}

// ====================================================================== fencing

#[test]
fn second_producer_with_same_transactional_id_fences_the_first() {
    let b = TestBroker::start_with(TXN_OVERRIDES);
    let topic = topic_name("txn-fence");
    b.create_topic(&topic, 1, &[]);
    let txn_id = "txn-fence-id";

    let a = txn_producer(&b, txn_id, &[]);
    a.init_transactions(OP_TIMEOUT).expect("A init_transactions");
    a.begin_transaction().unwrap();
    send_all(&a, &topic, 0, &["A1-0".into(), "A1-1".into()]);
    a.commit_transaction(OP_TIMEOUT).expect("A commit 1");
    a.begin_transaction().unwrap();
    send_all(&a, &topic, 0, &["A2-0".into()]);
    a.flush(OP_TIMEOUT).unwrap();

    let bp = txn_producer(&b, txn_id, &[]);
    bp.init_transactions(OP_TIMEOUT).expect("B init_transactions (must abort A's open transaction)");

    // A's next transactional operation must fail as fenced.
    let rec = FutureRecord::<[u8], [u8]>::to(&topic).partition(0).payload(b"A2-1");
    let send = a.send_result(rec).map_err(|(e, _)| e);
    let commit = a.commit_transaction(OP_TIMEOUT);
    match &commit {
        Ok(()) => panic!("A's commit after being fenced succeeded (send: {:?})", send.is_ok()),
        Err(e) => {
            eprintln!("[test] A commit after fencing: {e}");
            assert!(is_fenced(e), "A's commit failed, but not with a fencing/fatal error: {e:?}");
        }
    }
    let again = a.begin_transaction();
    assert!(again.is_err(), "A must stay unusable after being fenced");
    drop(a);

    bp.begin_transaction().unwrap();
    send_all(&bp, &topic, 0, &["B1-0".into()]);
    bp.commit_transaction(OP_TIMEOUT).expect("B commit");
    write_end(&b, &topic, 1);
    let rc = read_until_end(&b, &topic, 1, "read_committed", Duration::from_secs(30));
    assert_eq!(values(&rc[&0]), vec!["A1-0", "A1-1", "B1-0"], "read_committed after fencing");
}

#[test]
fn fencing_holds_across_a_broker_crash() {
    let mut b = TestBroker::start_with(TXN_OVERRIDES);
    let topic = topic_name("txn-fence-crash");
    b.create_topic(&topic, 1, &[]);
    let txn_id = "txn-fence-crash-id";
    let a = txn_producer(&b, txn_id, &[]);
    a.init_transactions(OP_TIMEOUT).expect("A init");
    a.begin_transaction().unwrap();
    send_all(&a, &topic, 0, &["A-0".into()]);
    a.flush(OP_TIMEOUT).unwrap();

    b.kill9();
    b.restart();
    let bp = txn_producer(&b, txn_id, &[]);
    bp.init_transactions(OP_TIMEOUT).expect("B init after the crash");

    // The zombie A (epoch from before the crash) must be fenced by the state B's init persisted.
    let rec = FutureRecord::<[u8], [u8]>::to(&topic).partition(0).payload(b"A-1");
    let _ = a.send_result(rec);
    match a.commit_transaction(OP_TIMEOUT) {
        Ok(()) => panic!("the zombie producer committed after being fenced"),
        Err(e) => {
            eprintln!("[test] zombie commit: {e}");
            assert!(is_fenced(&e), "zombie commit failed, but not as fenced: {e:?}");
        }
    }
    drop(a);
    bp.begin_transaction().unwrap();
    send_all(&bp, &topic, 0, &["B-0".into()]);
    bp.commit_transaction(OP_TIMEOUT).expect("B commit");
    b.restart();
    write_end(&b, &topic, 1);
    let rc = read_until_end(&b, &topic, 1, "read_committed", Duration::from_secs(30));
    assert_eq!(values(&rc[&0]), vec!["B-0"], "read_committed");
}

// ====================================================================== timeouts / broker crash

#[test]
fn broker_kill9_with_open_transaction_times_out_and_unblocks_read_committed() {
    let mut b = TestBroker::start_with(TXN_OVERRIDES);
    let topic = topic_name("txn-crash");
    b.create_topic(&topic, 2, &[]);

    let p = txn_producer(&b, "txn-crash-timeout", &[("transaction.timeout.ms", "3000")]);
    p.init_transactions(OP_TIMEOUT).expect("init_transactions");
    p.begin_transaction().unwrap();
    for part in 0..2 {
        send_all(&p, &topic, part, &[format!("c1-p{part}-0"), format!("c1-p{part}-1")]);
    }
    p.commit_transaction(OP_TIMEOUT).expect("commit");
    p.begin_transaction().unwrap();
    for part in 0..2 {
        send_all(&p, &topic, part, &(0..3).map(|i| format!("open-p{part}-{i}")).collect::<Vec<_>>());
    }
    p.flush(OP_TIMEOUT).unwrap();
    // The application goes away with its transaction open, then the broker crashes.
    drop(p);
    b.kill9();
    b.restart();
    let restarted = Instant::now();

    let plain = b.producer();
    for part in 0..2 {
        produce_one(&plain, &topic, Some(part), b"k", format!("after-p{part}").as_bytes());
    }
    write_end(&b, &topic, 2);
    let rc = read_until_end(&b, &topic, 2, "read_committed", Duration::from_secs(30));
    eprintln!("[test] read_committed reached END {:?} after the restart", restarted.elapsed());
    for part in 0..2 {
        assert_eq!(
            values(&rc[&part]),
            vec![format!("c1-p{part}-0"), format!("c1-p{part}-1"), format!("after-p{part}")],
            "read_committed view of {topic}-{part} after the broker aborted the timed-out transaction"
        );
    }
    let ru = read_until_end(&b, &topic, 2, "read_uncommitted", Duration::from_secs(30));
    for part in 0..2 {
        assert_eq!(ru[&part].len(), 6, "read_uncommitted view of {topic}-{part}: {:?}", ru[&part]);
    }
}

#[test]
fn reinit_after_broker_kill9_aborts_open_transaction_immediately() {
    let mut b = TestBroker::start_with(TXN_OVERRIDES);
    let topic = topic_name("txn-reinit");
    b.create_topic(&topic, 2, &[]);
    let txn_id = "txn-reinit-id";
    // A long timeout: only the re-initialisation can end this transaction within the test.
    let p = txn_producer(&b, txn_id, &[("transaction.timeout.ms", "120000")]);
    p.init_transactions(OP_TIMEOUT).expect("init_transactions");
    p.begin_transaction().unwrap();
    for part in 0..2 {
        send_all(&p, &topic, part, &(0..3).map(|i| format!("open-p{part}-{i}")).collect::<Vec<_>>());
    }
    p.flush(OP_TIMEOUT).unwrap();
    drop(p);
    b.kill9();
    b.restart();
    let restarted = Instant::now();
    // The restarted broker still knows the open transaction: the LSO is its first offset.
    {
        let rc = b.consumer_with(&[("isolation.level", "read_committed")]);
        let ru = b.consumer_with(&[("isolation.level", "read_uncommitted")]);
        for part in 0..2 {
            assert_eq!(ru.fetch_watermarks(&topic, part, OP_TIMEOUT).unwrap().1, 3, "high watermark of {topic}-{part} after restart");
            assert_eq!(rc.fetch_watermarks(&topic, part, OP_TIMEOUT).unwrap().1, 0, "LSO of {topic}-{part} after restart (open transaction)");
        }
    }

    let p2 = txn_producer(&b, txn_id, &[("transaction.timeout.ms", "120000")]);
    p2.init_transactions(OP_TIMEOUT).expect("init_transactions after restart");
    p2.begin_transaction().unwrap();
    for part in 0..2 {
        send_all(&p2, &topic, part, &[format!("new-p{part}-0"), format!("new-p{part}-1")]);
    }
    p2.commit_transaction(OP_TIMEOUT).expect("commit after re-init");
    write_end(&b, &topic, 2);
    let rc = read_until_end(&b, &topic, 2, "read_committed", Duration::from_secs(30));
    let took = restarted.elapsed();
    for part in 0..2 {
        assert_eq!(values(&rc[&part]), vec![format!("new-p{part}-0"), format!("new-p{part}-1")], "read_committed {topic}-{part}");
        // 3 aborted records, their abort marker, then the new ones.
        assert_eq!(rc[&part].iter().map(|r| r.0).collect::<Vec<_>>(), vec![4, 5], "offsets in {topic}-{part}");
    }
    assert!(took < Duration::from_secs(60), "took {took:?}: the open transaction was not aborted by the re-init");
}

#[test]
fn commit_after_broker_side_timeout_abort_fails() {
    let b = TestBroker::start_with(TXN_OVERRIDES);
    let topic = topic_name("txn-late");
    b.create_topic(&topic, 1, &[]);
    let p = txn_producer(&b, "txn-late-commit", &[("transaction.timeout.ms", "2000")]);
    p.init_transactions(OP_TIMEOUT).expect("init_transactions");
    p.begin_transaction().unwrap();
    send_all(&p, &topic, 0, &["late-0".into(), "late-1".into()]);
    p.flush(OP_TIMEOUT).unwrap();
    // Wait for the broker to abort: the abort marker (offset 2) is written and the LSO catches up.
    let rc = b.consumer_with(&[("isolation.level", "read_committed")]);
    let t0 = Instant::now();
    wait_until("the broker to abort the timed-out transaction", Duration::from_secs(20), || {
        rc.fetch_watermarks(&topic, 0, OP_TIMEOUT).unwrap().1 == 3
    });
    eprintln!("[test] transaction aborted by the broker after {:?}", t0.elapsed());
    let r = p.commit_transaction(OP_TIMEOUT);
    eprintln!("[test] commit after the broker-side abort: {r:?}");
    assert!(r.is_err(), "commit of a transaction the broker already aborted must fail");
    drop(p);
    write_end(&b, &topic, 1);
    let got = read_until_end(&b, &topic, 1, "read_committed", Duration::from_secs(30));
    assert!(got[&0].is_empty(), "records of the aborted transaction are visible: {:?}", got[&0]);
}

#[test]
fn transaction_timeout_above_broker_max_is_rejected() {
    let b = TestBroker::start_with(&[("transaction.max.timeout.ms", "10000")]);
    let p = txn_producer(&b, "txn-too-long", &[("transaction.timeout.ms", "20000")]);
    match p.init_transactions(OP_TIMEOUT) {
        Ok(()) => panic!("init_transactions with transaction.timeout.ms=20000 > transaction.max.timeout.ms=10000 succeeded"),
        Err(e) => {
            eprintln!("[test] init_transactions: {e}");
            assert_eq!(e.rdkafka_error_code(), Some(RDKafkaErrorCode::InvalidTransactionTimeout), "error: {e:?}");
        }
    }
    drop(p);
    let ok = txn_producer(&b, "txn-at-max", &[("transaction.timeout.ms", "10000")]);
    ok.init_transactions(OP_TIMEOUT).expect("init_transactions with transaction.timeout.ms == max");
}

// ====================================================================== consume-transform-produce

const CHILD_ENV: &str = "ODRADEK_TXN_CHILD";
const CTP_BATCH: usize = 40;

struct AppSpec {
    bootstrap: String,
    input: String,
    output: String,
    group: String,
    txn_id: String,
    partitions: i32,
    /// After this many commits, begin one more transaction (records + offsets), flush it, report
    /// `@@OPEN` and hang until killed.
    open_after: Option<usize>,
}

impl AppSpec {
    fn encode(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}|{}|{}",
            self.bootstrap,
            self.input,
            self.output,
            self.group,
            self.txn_id,
            self.partitions,
            self.open_after.map(|n| n.to_string()).unwrap_or_default()
        )
    }
    fn decode(s: &str) -> AppSpec {
        let f: Vec<&str> = s.split('|').collect();
        AppSpec {
            bootstrap: f[0].into(),
            input: f[1].into(),
            output: f[2].into(),
            group: f[3].into(),
            txn_id: f[4].into(),
            partitions: f[5].parse().unwrap(),
            open_after: if f[6].is_empty() { None } else { Some(f[6].parse().unwrap()) },
        }
    }
}

fn transform(p: i32, offset: i64, value: &[u8]) -> String {
    format!("out-{p}-{offset}-{}", String::from_utf8_lossy(value).to_uppercase())
}

/// The application: a group member on the input topic and a transactional producer; every batch
/// of input records becomes one transaction with the output records and the consumed offsets.
/// Returns the number of committed transactions once the group's committed offsets reach the
/// input's end offsets (or hangs with an open transaction if `open_after` says so).
fn run_ctp_app(spec: &AppSpec, say: &dyn Fn(String)) -> usize {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &spec.bootstrap)
        .set("broker.address.family", "v4")
        .set("client.id", "odradek-it-ctp")
        .set("group.id", &spec.group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .set("session.timeout.ms", "3000")
        .set("heartbeat.interval.ms", "500")
        .set("max.poll.interval.ms", "20000")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "100")
        .create()
        .expect("app: create consumer");
    consumer.subscribe(&[&spec.input]).expect("app: subscribe");
    let producer: FutureProducer =
        txn_producer_config(&spec.bootstrap, &spec.txn_id, &[("transaction.timeout.ms", "30000")]).create().expect("app: create producer");
    producer.init_transactions(OP_TIMEOUT).expect("app: init_transactions");

    let mut ends = TopicPartitionList::new();
    let mut end_of: HashMap<i32, i64> = HashMap::new();
    for p in 0..spec.partitions {
        let (_, hi) = consumer.fetch_watermarks(&spec.input, p, OP_TIMEOUT).expect("app: input watermarks");
        end_of.insert(p, hi);
        ends.add_partition(&spec.input, p);
    }

    let mut commits = 0usize;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        assert!(Instant::now() < deadline, "app: not done after 90 s ({commits} commits)");
        let mut batch: Vec<(i32, i64, Vec<u8>, Vec<u8>)> = Vec::new();
        while batch.len() < CTP_BATCH {
            match consumer.poll(Duration::from_millis(100)) {
                None => break,
                Some(Err(e)) => say(format!("@@ERR poll: {e}")),
                Some(Ok(m)) => batch.push((
                    m.partition(),
                    m.offset(),
                    m.key().unwrap_or_default().to_vec(),
                    m.payload().unwrap_or_default().to_vec(),
                )),
            }
        }
        if batch.is_empty() {
            let committed = consumer.committed_offsets(ends.clone(), OP_TIMEOUT).expect("app: committed offsets");
            let done = (0..spec.partitions).all(|p| {
                committed.find_partition(&spec.input, p).map(|e| e.offset()) == Some(Offset::Offset(end_of[&p]))
            });
            if done {
                return commits;
            }
            continue;
        }
        let hang = spec.open_after == Some(commits);
        producer.begin_transaction().expect("app: begin_transaction");
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        for (p, o, k, v) in &batch {
            let out = transform(*p, *o, v);
            let rec = FutureRecord::<[u8], [u8]>::to(&spec.output).partition(*p).key(k.as_slice()).payload(out.as_bytes());
            drop(send_retry(&producer, rec));
            let n = next.entry(*p).or_insert(0);
            *n = (*n).max(o + 1);
        }
        let mut offsets = TopicPartitionList::new();
        for (p, o) in &next {
            offsets.add_partition_offset(&spec.input, *p, Offset::Offset(*o)).unwrap();
        }
        let cgm = consumer.group_metadata().expect("app: group metadata");
        producer.send_offsets_to_transaction(&offsets, &cgm, OP_TIMEOUT).expect("app: send_offsets_to_transaction");
        if hang {
            producer.flush(OP_TIMEOUT).expect("app: flush");
            say(format!("@@OPEN {}", batch.len()));
            let until = Instant::now() + Duration::from_secs(120);
            while Instant::now() < until {
                let _ = consumer.poll(Duration::from_millis(100));
            }
            std::process::exit(3);
        }
        producer.commit_transaction(OP_TIMEOUT).expect("app: commit_transaction");
        commits += 1;
        say(format!("@@COMMIT {commits} {}", batch.len()));
    }
}

/// Not a test of its own: with ODRADEK_TXN_CHILD set, runs the consume-transform-produce
/// application (the parent re-executes this binary with only this test selected, then SIGKILLs it).
#[test]
fn zz_child_ctp_app() {
    let Ok(spec) = std::env::var(CHILD_ENV) else { return };
    let spec = AppSpec::decode(&spec);
    let say = |s: String| {
        let out = std::io::stdout();
        let mut l = out.lock();
        let _ = writeln!(l, "{s}");
        let _ = l.flush();
    };
    run_ctp_app(&spec, &say);
    say("@@DONE".into());
}

struct ChildApp {
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
}

impl ChildApp {
    fn spawn(spec: &AppSpec) -> ChildApp {
        let exe = std::env::current_exe().expect("current_exe");
        let mut child = Command::new(exe)
            .args(["zz_child_ctp_app", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, spec.encode())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn child app");
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let line = match line.find("@@") {
                    Some(i) => line[i..].to_string(),
                    None => line,
                };
                eprintln!("[child app out] {line}");
                let _ = tx.send(line);
            }
        });
        let mut err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            for l in s.lines() {
                eprintln!("[child app err] {l}");
            }
        });
        ChildApp { child: Some(child), lines: rx }
    }

    /// Waits for a line starting with `prefix`; returns all lines seen so far.
    fn wait_for(&mut self, prefix: &str, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let now = Instant::now();
            assert!(now < deadline, "child app: no `{prefix}` within {timeout:?}; lines: {seen:?}");
            match self.lines.recv_timeout(deadline - now) {
                Ok(l) => {
                    let hit = l.starts_with(prefix);
                    assert!(!l.starts_with("@@DONE"), "child app finished before `{prefix}`: {seen:?}");
                    seen.push(l);
                    if hit {
                        return seen;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let st = self.child.as_mut().unwrap().wait().unwrap();
                    panic!("child app exited ({st}) before `{prefix}`; lines: {seen:?}");
                }
            }
        }
    }

    fn kill9(&mut self) {
        let mut c = self.child.take().expect("child not running");
        // SAFETY: kill(2) takes any pid and signal; this is our own unreaped child.
        unsafe {
            libc::kill(c.id() as libc::pid_t, libc::SIGKILL);
        }
        let st = c.wait().expect("wait child");
        eprintln!("[test] child app killed: {st}");
    }
}

impl Drop for ChildApp {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn consume_transform_produce_exactly_once_across_app_kill() {
    const PARTS: i32 = 3;
    const PER: usize = 200;
    let mut b = TestBroker::start_with(TXN_OVERRIDES);
    let input = topic_name("ctp-in");
    let output = topic_name("ctp-out");
    b.create_topic(&input, PARTS, &[]);
    b.create_topic(&output, PARTS, &[]);
    let plain = b.producer();
    let mut futs = Vec::new();
    for p in 0..PARTS {
        for i in 0..PER {
            let v = format!("in-p{p}-{i}");
            futs.push(send_retry(&plain, FutureRecord::<[u8], [u8]>::to(&input).partition(p).key(v.as_bytes()).payload(v.as_bytes())));
        }
    }
    for f in futs {
        await_delivery(f);
    }
    let spec = AppSpec {
        bootstrap: b.bootstrap(),
        input: input.clone(),
        output: output.clone(),
        group: format!("{input}-app"),
        txn_id: format!("{input}-app-txn"),
        partitions: PARTS,
        open_after: Some(4),
    };

    // First incarnation: commits 4 transactions, then dies with a 5th one open (records and
    // offsets sent, records flushed to the output topic).
    let mut app = ChildApp::spawn(&spec);
    let lines = app.wait_for("@@OPEN", Duration::from_secs(60));
    assert_eq!(lines.iter().filter(|l| l.starts_with("@@COMMIT")).count(), 4, "child lines: {lines:?}");
    app.kill9();

    // Second incarnation, same transactional.id and group: must abort the zombie's transaction
    // and continue from the committed offsets.
    let spec2 = AppSpec { open_after: None, ..spec };
    let t0 = Instant::now();
    let commits = run_ctp_app(&spec2, &|s| eprintln!("[app 2] {s}"));
    eprintln!("[test] second app incarnation: {commits} commits in {:?}", t0.elapsed());

    write_end(&b, &output, PARTS);
    let rc = read_until_end(&b, &output, PARTS, "read_committed", Duration::from_secs(30));
    let ru = read_until_end(&b, &output, PARTS, "read_uncommitted", Duration::from_secs(30));
    let mut committed_total = 0;
    for p in 0..PARTS {
        let want: Vec<String> = (0..PER).map(|i| transform(p, i as i64, format!("in-p{p}-{i}").as_bytes())).collect();
        let got = values(&rc[&p]);
        committed_total += got.len();
        if got != want {
            let set: BTreeSet<&String> = got.iter().collect();
            let missing: Vec<&String> = want.iter().filter(|w| !set.contains(w)).take(5).collect();
            panic!(
                "output {output}-{p} (read_committed): {} records, want {}; {} duplicates; missing e.g. {missing:?}; first records {:?}",
                got.len(),
                want.len(),
                got.len() - set.len(),
                &got[..got.len().min(5)]
            );
        }
    }
    let uncommitted_total: usize = ru.values().map(|v| v.len()).sum();
    assert!(
        uncommitted_total > committed_total,
        "the killed app's open transaction should have left aborted records in the log ({uncommitted_total} vs {committed_total})"
    );

    // The group's committed offsets are the input's end offsets.
    let c = b.consumer_with(&[("group.id", spec2.group.as_str())]);
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTS {
        tpl.add_partition(&input, p);
    }
    let check_committed = |c: &BaseConsumer, when: &str| {
        let committed = c.committed_offsets(tpl.clone(), OP_TIMEOUT).expect("committed offsets");
        for p in 0..PARTS {
            assert_eq!(
                committed.find_partition(&input, p).map(|e| e.offset()),
                Some(Offset::Offset(PER as i64)),
                "committed offset of group {} on {input}-{p} {when}",
                spec2.group
            );
        }
    };
    check_committed(&c, "");
    drop(c);

    // Offsets committed through transactions (and the aborted one that was not) survive a crash.
    b.kill9();
    b.restart();
    let c = b.consumer_with(&[("group.id", spec2.group.as_str())]);
    check_committed(&c, "after broker kill -9 + restart");
    write_end(&b, &output, PARTS);
    let rc2 = read_until_end(&b, &output, PARTS, "read_committed", Duration::from_secs(30));
    for p in 0..PARTS {
        assert_eq!(values(&rc2[&p]), values(&rc[&p]), "read_committed output {output}-{p} after broker restart");
    }
}

// ====================================================================== transaction admin APIs

/// DescribeProducers, ListTransactions and DescribeTransactions report an open transaction,
/// and then its completion.
#[test]
fn transaction_admin_apis_report_open_and_completed_transactions() {
    let b = TestBroker::start_with(&[("group.initial.rebalance.delay.ms", "100")]);
    let topic = topic_name("txadmin");
    b.create_topic(&topic, 2, &[]);
    let p = txn_producer(&b, "admin-txn", &[]);
    p.init_transactions(OP_TIMEOUT).expect("init_transactions");
    p.begin_transaction().expect("begin");
    send_all(&p, &topic, 1, &["a".to_string(), "b".to_string()]);

    let mut c = Conn::connect(&b);
    // ListTransactions: the open one is Ongoing; a state filter that excludes it hides it.
    let v = c.pick::<ListTransactionsRequest>(1);
    let list = c.call(v, &ListTransactionsRequest::default());
    let ours: Vec<_> = list.transaction_states.iter().filter(|t| t.transactional_id.as_str() == "admin-txn").collect();
    assert_eq!(ours.len(), 1, "ListTransactions: {list:?}");
    assert_eq!(ours[0].transaction_state.as_str(), "Ongoing");
    let pid = ours[0].producer_id;
    let filtered = c.call(v, &ListTransactionsRequest::default().with_state_filters(vec![StrBytes::from_static_str("CompleteCommit")]));
    assert!(filtered.transaction_states.iter().all(|t| t.transactional_id.as_str() != "admin-txn"), "{filtered:?}");

    // DescribeTransactions: state, producer, and the partition in the transaction.
    let dv = c.pick::<DescribeTransactionsRequest>(0);
    let desc = c.call(
        dv,
        &DescribeTransactionsRequest::default()
            .with_transactional_ids(vec![TransactionalId(StrBytes::from_static_str("admin-txn")), TransactionalId(StrBytes::from_static_str("nope"))]),
    );
    let d = &desc.transaction_states[0];
    assert_eq!((d.error_code, d.transaction_state.as_str(), d.producer_id), (0, "Ongoing", pid), "{desc:?}");
    let parts: Vec<(String, Vec<i32>)> = d.topics.iter().map(|t| (t.topic.0.to_string(), t.partitions.clone())).collect();
    assert_eq!(parts, vec![(topic.clone(), vec![1])]);
    assert_eq!(desc.transaction_states[1].error_code, 105, "unknown id -> TRANSACTIONAL_ID_NOT_FOUND");

    // DescribeProducers: partition 1 has the producer with its open transaction at offset 0.
    let pv = c.pick::<DescribeProducersRequest>(0);
    let dp = describe_producers(&mut c, pv, &topic, vec![0, 1]);
    let by_part: HashMap<i32, &describe_producers_response::PartitionResponse> =
        dp.topics[0].partitions.iter().map(|p| (p.partition_index, p)).collect();
    assert!(by_part[&0].active_producers.is_empty(), "{dp:?}");
    let prod = &by_part[&1].active_producers;
    assert_eq!(prod.len(), 1, "{dp:?}");
    assert_eq!((prod[0].producer_id, prod[0].current_txn_start_offset, prod[0].last_sequence), (pid, 0, 1));

    // After the commit: CompleteCommit, no partitions, no open transaction in the partition.
    p.commit_transaction(OP_TIMEOUT).expect("commit");
    let desc = c.call(dv, &DescribeTransactionsRequest::default().with_transactional_ids(vec![TransactionalId(StrBytes::from_static_str("admin-txn"))]));
    assert_eq!(desc.transaction_states[0].transaction_state.as_str(), "CompleteCommit");
    assert!(desc.transaction_states[0].topics.is_empty());
    let dp = describe_producers(&mut c, pv, &topic, vec![1]);
    assert_eq!(dp.topics[0].partitions[0].active_producers[0].current_txn_start_offset, -1);
}

/// As Kafka's ProducerStateManager does at load: a producer idle for producer.id.expiration.ms
/// is not loaded from the producer snapshot, though the periodic check (10 min here) has not run;
/// one that is not idle that long is loaded.
#[test]
fn expired_producers_are_not_loaded_from_the_snapshot() {
    const EXPIRATION_MS: u64 = 6000;
    let mut b = TestBroker::start_with(&[
        ("producer.id.expiration.ms", &EXPIRATION_MS.to_string()),
        ("producer.id.expiration.check.interval.ms", "600000"),
    ]);
    let topic = topic_name("pidload");
    b.create_topic(&topic, 1, &[]);
    let idem = b.producer_with(&[("enable.idempotence", "true")]);
    let written = Instant::now();
    send_all(&idem, &topic, 0, &["i1".to_string()]);
    drop(idem);
    let describe = |b: &TestBroker| -> usize {
        let mut c = Conn::connect(b);
        let pv = c.pick::<DescribeProducersRequest>(0);
        let dp = describe_producers(&mut c, pv, &topic, vec![0]);
        dp.topics[0].partitions[0].active_producers.len()
    };
    assert_eq!(describe(&b), 1, "the producer is known after its write");

    // Restarted well within the expiration: loaded from the snapshot.
    b.stop();
    b.restart();
    assert_eq!(describe(&b), 1, "loaded after a restart {:?} after the write", written.elapsed());
    assert!(written.elapsed() < Duration::from_millis(EXPIRATION_MS - 1000), "restart too slow for this test: {:?}", written.elapsed());

    // Restarted after it: not loaded, though no periodic check ran.
    b.stop();
    let idle_until = written + Duration::from_millis(EXPIRATION_MS + 500);
    std::thread::sleep(idle_until.saturating_duration_since(Instant::now()));
    b.restart();
    assert_eq!(describe(&b), 0, "an expired producer was loaded from the snapshot");
}

/// DescribeProducers for some partitions of one topic.
fn describe_producers(c: &mut Conn, version: i16, topic: &str, partitions: Vec<i32>) -> DescribeProducersResponse {
    c.call(
        version,
        &DescribeProducersRequest::default().with_topics(vec![describe_producers_request::TopicRequest::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_indexes(partitions)]),
    )
}

/// producer.id.expiration.ms, checked every producer.id.expiration.check.interval.ms (Kafka's
/// PeriodicProducerExpirationCheck): an idle idempotent producer's state is dropped, one with an
/// open transaction is kept.
#[test]
fn idle_producers_expire_but_not_with_an_open_transaction() {
    let b = TestBroker::start_with(&[
        ("producer.id.expiration.ms", "1500"),
        ("producer.id.expiration.check.interval.ms", "200"),
        ("group.initial.rebalance.delay.ms", "100"),
    ]);
    let topic = topic_name("pidexp");
    b.create_topic(&topic, 2, &[]);
    let idem = b.producer_with(&[("enable.idempotence", "true")]);
    send_all(&idem, &topic, 0, &["i1".to_string(), "i2".to_string()]);
    let t = txn_producer(&b, "expiry-txn", &[]);
    t.init_transactions(OP_TIMEOUT).expect("init_transactions");
    t.begin_transaction().expect("begin");
    send_all(&t, &topic, 1, &["t1".to_string()]);

    let mut c = Conn::connect(&b);
    let pv = c.pick::<DescribeProducersRequest>(0);
    let describe = |c: &mut Conn| -> (usize, usize) {
        let dp = describe_producers(c, pv, &topic, vec![0, 1]);
        let count = |i: i32| dp.topics[0].partitions.iter().find(|p| p.partition_index == i).map_or(0, |p| p.active_producers.len());
        (count(0), count(1))
    };
    assert_eq!(describe(&mut c), (1, 1), "both producers known right after their writes");
    let deadline = Instant::now() + Duration::from_secs(20);
    while describe(&mut c).0 != 0 {
        assert!(Instant::now() < deadline, "the idle idempotent producer never expired");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(describe(&mut c), (0, 1), "the producer with an open transaction stays");
    t.commit_transaction(OP_TIMEOUT).expect("commit");
}
