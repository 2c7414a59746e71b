//! The lean load generator: record batches encoded once with kafka-protocol and re-sent over raw
//! TCP with N requests in flight per connection (a broker answers a connection's requests in
//! order), a fetcher that reads batch headers only, and one-in-flight request loops (ping-pong and
//! fixed-rate produce).

use crate::bench::stats::{CpuMark, Histogram, Row};
use crate::bench::wire::{corr_of, decode_response, read_frame, topic_name, Conn, Frame};
use anyhow::{bail, Context, Result};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{FetchRequest, ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::Request;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType, NO_PARTITION_LEADER_EPOCH,
    NO_PRODUCER_EPOCH, NO_PRODUCER_ID,
};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// Produce request version the bench uses (flexible, topics by name); lower if the broker's max is.
pub const PRODUCE_VERSION: i16 = 9;
/// Fetch request version (the last one that names topics instead of using topic ids).
pub const FETCH_VERSION: i16 = 12;

// The RecordBatch v2 header layout and parser are the broker's own (odradek::log::batch).
use odradek::log::batch::{parse_header, ATTRIBUTES_OFFSET, BASE_SEQUENCE_OFFSET, CRC_OFFSET, HEADER_LEN};

/// One uncompressed RecordBatch v2 of `count` records with `record_bytes`-byte values and no key,
/// from a non-idempotent producer (producer id -1, base sequence -1).
pub fn encode_batch(record_bytes: usize, count: usize) -> Bytes {
    let value: Bytes = (0..record_bytes).map(|i| b'a' + (i % 26) as u8).collect::<Vec<u8>>().into();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let records: Vec<Record> = (0..count)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // kafka-protocol groups records into one batch only while offset - sequence is
            // constant; the base sequence is reset to -1 below.
            sequence: i as i32,
            timestamp: now,
            key: None,
            value: Some(value.clone()),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(&mut buf, &records, &RecordEncodeOptions { version: 2, compression: Compression::None })
        .expect("encode record batch");
    buf[BASE_SEQUENCE_OFFSET..BASE_SEQUENCE_OFFSET + 4].copy_from_slice(&(-1i32).to_be_bytes());
    let crc = crc32c::crc32c(&buf[ATTRIBUTES_OFFSET..]);
    buf[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    let batch = buf.freeze();
    assert_eq!(odradek::log::batch::validate(&batch).map(|h| h.size), Ok(batch.len()), "one valid batch");
    batch
}

/// Records per batch so that a batch is about `batch_bytes` long.
pub fn records_per_batch(record_bytes: usize, batch_bytes: usize) -> usize {
    // ~7-10 bytes of per-record framing without key and headers.
    (batch_bytes.saturating_sub(HEADER_LEN) / (record_bytes + 8)).max(1)
}

/// A produce request carrying one batch for each of `partitions`.
pub fn produce_request(topic: &str, partitions: &[i32], acks: i16, batch: &Bytes) -> ProduceRequest {
    ProduceRequest::default().with_acks(acks).with_timeout_ms(30_000).with_topic_data(vec![TopicProduceData::default()
        .with_name(topic_name(topic))
        .with_partition_data(
            partitions
                .iter()
                .map(|&p| PartitionProduceData::default().with_index(p).with_records(Some(batch.clone())))
                .collect(),
        )])
}

/// A produce request frame carrying `batch` for one partition.
pub fn produce_frame(version: i16, topic: &str, partition: i32, acks: i16, batch: Bytes) -> Frame {
    Frame::encode(version, &produce_request(topic, &[partition], acks, &batch))
}

/// Checks every partition's error code in a produce response.
pub fn check_produce(resp: &ProduceResponse) -> Result<()> {
    for t in &resp.responses {
        for p in &t.partition_responses {
            if p.error_code != 0 {
                bail!("produce {}[{}]: error {} {:?}", t.name.as_str(), p.index, p.error_code, p.error_message);
            }
        }
    }
    Ok(())
}

/// What a lean producer run sends.
#[derive(Clone, Debug)]
pub struct ProduceLoad {
    pub topic: String,
    pub partitions: usize,
    pub connections: usize,
    pub record_bytes: usize,
    pub records_per_batch: usize,
    pub acks: i16,
    /// Requests in flight per connection.
    pub in_flight: usize,
}

/// How long a run lasts: a warm-up then a measured window, or a fixed number of requests per
/// connection, all measured.
#[derive(Clone, Copy, Debug)]
pub enum Plan {
    Timed { warmup: Duration, measure: Duration },
    Requests(u64),
}

/// Counters shared by a run's threads.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    measuring: AtomicBool,
    requests: AtomicU64,
    records: AtomicU64,
    wire_bytes: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Shared {
    fn error(&self, e: impl std::fmt::Display) {
        self.errors.fetch_add(1, Relaxed);
        self.first_error.lock().unwrap().get_or_insert_with(|| e.to_string());
        self.stop.store(true, Relaxed);
    }

    fn snapshot(&self) -> (u64, u64, u64) {
        (self.requests.load(Relaxed), self.records.load(Relaxed), self.wire_bytes.load(Relaxed))
    }
}

/// Partitions that connection `c` of `conns` writes to, round-robin.
fn partitions_of(c: usize, conns: usize, partitions: usize) -> Vec<i32> {
    if partitions >= conns {
        (0..partitions).filter(|p| p % conns == c).map(|p| p as i32).collect()
    } else {
        vec![(c % partitions) as i32]
    }
}

/// Runs the pipelined producer and returns its row (name and group are the caller's).
pub fn produce(addr: SocketAddr, load: &ProduceLoad, plan: Plan, broker_pid: Option<u32>) -> Result<Row> {
    let shared = Arc::new(Shared::default());
    let limit = match plan {
        Plan::Requests(n) => Some(n),
        Plan::Timed { .. } => None,
    };
    if matches!(plan, Plan::Requests(_)) {
        shared.measuring.store(true, Relaxed);
    }
    let batch = encode_batch(load.record_bytes, load.records_per_batch);
    let mark = CpuMark::now(broker_pid); // the window of a Plan::Requests run
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for c in 0..load.connections {
        let conn = Conn::connect(addr)?;
        let version = conn.pick::<ProduceRequest>(PRODUCE_VERSION)?;
        let frames: Vec<Frame> = partitions_of(c, load.connections, load.partitions)
            .into_iter()
            .map(|p| produce_frame(version, &load.topic, p, load.acks, batch.clone()))
            .collect();
        let mut wstream = conn.stream.try_clone()?;
        let mut rstream = conn.stream;
        // Tokens bound the requests in flight; `pending` carries (corr, sent at, records, bytes).
        let (tok_tx, tok_rx) = mpsc::sync_channel::<()>(load.in_flight);
        for _ in 0..load.in_flight {
            tok_tx.send(()).unwrap();
        }
        let (pend_tx, pend_rx) = mpsc::channel::<(i32, Instant, u64, u64)>();
        let records = load.records_per_batch as u64;
        let acks = load.acks;
        let sh = shared.clone();
        writers.push(std::thread::spawn(move || {
            let mut frames = frames;
            let mut corr = 1i32;
            let mut i = 0usize;
            while !sh.stop.load(Relaxed) && limit.is_none_or(|n| (corr as u64) <= n) {
                if tok_rx.recv().is_err() {
                    break;
                }
                let n = frames.len();
                let f = &mut frames[i % n];
                i += 1;
                f.set_corr(corr);
                if pend_tx.send((corr, Instant::now(), records, f.len() as u64)).is_err() {
                    break;
                }
                if let Err(e) = wstream.write_all(&f.bytes) {
                    sh.error(format!("write: {e}"));
                    break;
                }
                corr = corr.wrapping_add(1);
            }
        }));
        let sh = shared.clone();
        readers.push(std::thread::spawn(move || {
            let mut hist = Histogram::default();
            let mut buf = BytesMut::with_capacity(4096);
            while let Ok((corr, sent, records, bytes)) = pend_rx.recv() {
                if acks == 0 {
                    // No response for acks=0.
                } else if let Err(e) = read_frame(&mut rstream, &mut buf) {
                    sh.error(e);
                    break;
                } else {
                    let resp = decode_response::<ProduceRequest>(Bytes::copy_from_slice(&buf), corr, version)
                        .and_then(|r| check_produce(&r));
                    if let Err(e) = resp {
                        sh.error(e);
                        break;
                    }
                }
                if sh.measuring.load(Relaxed) {
                    hist.record(sent.elapsed());
                }
                sh.requests.fetch_add(1, Relaxed);
                sh.records.fetch_add(records, Relaxed);
                sh.wire_bytes.fetch_add(bytes, Relaxed);
                let _ = tok_tx.send(());
            }
            hist
        }));
    }
    let join = |writers: Vec<std::thread::JoinHandle<()>>, readers: Vec<std::thread::JoinHandle<Histogram>>| {
        for w in writers {
            let _ = w.join();
        }
        let mut hist = Histogram::default();
        for r in readers {
            hist.merge(&r.join().expect("reader thread"));
        }
        hist
    };
    let (cpu, start_counts, end_counts, hist) = match plan {
        Plan::Timed { warmup, measure } => {
            sleep_unless(&shared.stop, warmup);
            shared.measuring.store(true, Relaxed);
            let mark = CpuMark::now(broker_pid);
            let start_counts = shared.snapshot();
            sleep_unless(&shared.stop, measure);
            let cpu = mark.since();
            let end_counts = shared.snapshot();
            shared.measuring.store(false, Relaxed);
            shared.stop.store(true, Relaxed);
            (cpu, start_counts, end_counts, join(writers, readers))
        }
        Plan::Requests(_) => {
            let hist = join(writers, readers);
            (mark.since(), (0, 0, 0), shared.snapshot(), hist)
        }
    };
    let mut row = Row {
        source: "lean".into(),
        record_bytes: Some(load.record_bytes),
        acks: Some(load.acks),
        partitions: Some(load.partitions),
        connections: Some(load.connections),
        requests: Some(end_counts.0 - start_counts.0),
        records: end_counts.1 - start_counts.1,
        payload_bytes: (end_counts.1 - start_counts.1) * load.record_bytes as u64,
        wire_bytes: Some(end_counts.2 - start_counts.2),
        latency: hist.summary(),
        latency_of: "request (send -> response)".into(),
        ..Row::default()
    };
    row.errors = shared.errors.load(Relaxed);
    row.first_error = shared.first_error.lock().unwrap().clone();
    Ok(row.finish(&cpu, broker_pid))
}

/// Sleeps for `d`, waking early when `stop` is set (an error in a worker).
fn sleep_unless(stop: &AtomicBool, d: Duration) {
    let end = Instant::now() + d;
    while !stop.load(Relaxed) {
        let now = Instant::now();
        if now >= end {
            return;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
}

/// Offset of the next record after the complete batches in `records`, the records they hold and
/// their bytes; reads batch headers only. A trailing partial batch is ignored.
pub fn walk_batches(records: &[u8], from: i64) -> (i64, u64, u64) {
    let (mut next, mut count, mut bytes, mut pos) = (from, 0u64, 0u64, 0usize);
    while let Ok(h) = parse_header(&records[pos..]) {
        if pos + h.size > records.len() {
            break;
        }
        if h.last_offset() >= next {
            count += h.record_count.max(0) as u64;
            bytes += h.size as u64;
            next = h.last_offset() + 1;
        }
        pos += h.size;
    }
    (next, count, bytes)
}

/// Fetch sizes of the lean fetcher.
#[derive(Clone, Copy, Debug)]
pub struct FetchSizes {
    pub max_bytes: i32,
    pub partition_max_bytes: i32,
}

/// Reads all partitions of `topic` from offset 0 to their high watermark with back-to-back fetches
/// (one in flight), counting records from batch headers.
pub fn fetch_all(
    addr: SocketAddr,
    topic: &str,
    partitions: usize,
    record_bytes: usize,
    sizes: FetchSizes,
    broker_pid: Option<u32>,
) -> Result<Row> {
    let mut conn = Conn::connect(addr)?;
    let version = conn.pick::<FetchRequest>(FETCH_VERSION)?;
    if version < 4 {
        bail!("the broker's Fetch v{version} predates record batches v2");
    }
    let mut offsets = vec![0i64; partitions];
    let mut hw = vec![i64::MAX; partitions];
    let mut hist = Histogram::default();
    let (mut records, mut wire, mut requests) = (0u64, 0u64, 0u64);
    let mut last_progress = Instant::now();
    let mark = CpuMark::now(broker_pid);
    let mut row = Row::default();
    loop {
        let wanted: Vec<FetchPartition> = (0..partitions)
            .filter(|&p| offsets[p] < hw[p])
            .map(|p| {
                FetchPartition::default()
                    .with_partition(p as i32)
                    .with_fetch_offset(offsets[p])
                    .with_current_leader_epoch(-1)
                    .with_last_fetched_epoch(-1)
                    .with_log_start_offset(-1)
                    .with_partition_max_bytes(sizes.partition_max_bytes)
            })
            .collect();
        if wanted.is_empty() {
            break;
        }
        let req = FetchRequest::default()
            .with_replica_id((-1).into())
            .with_max_wait_ms(500)
            .with_min_bytes(1)
            .with_max_bytes(sizes.max_bytes)
            .with_isolation_level(0)
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default().with_topic(topic_name(topic)).with_partitions(wanted)]);
        let t0 = Instant::now();
        let mut f = Frame::encode(version, &req);
        let corr = conn.send_frame(&mut f)?;
        let frame = conn.read_raw()?;
        hist.record(t0.elapsed());
        requests += 1;
        let resp = decode_response::<FetchRequest>(frame.clone(), corr, version)?;
        if resp.error_code != 0 {
            bail!("fetch: error {}", resp.error_code);
        }
        let mut progressed = false;
        for t in &resp.responses {
            for p in &t.partitions {
                let i = p.partition_index as usize;
                if p.error_code != 0 {
                    row.error(format!("fetch {topic}[{i}]: error {}", p.error_code));
                    continue;
                }
                hw[i] = p.high_watermark;
                if let Some(rec) = &p.records {
                    let (next, n, b) = walk_batches(rec, offsets[i]);
                    progressed |= next > offsets[i];
                    offsets[i] = next;
                    records += n;
                    wire += b;
                }
            }
        }
        drop(resp);
        conn.recycle(frame);
        if progressed {
            last_progress = Instant::now();
        } else if last_progress.elapsed() > Duration::from_secs(30) || row.errors > 100 {
            row.error(format!("fetch stalled at offsets {offsets:?}, high watermarks {hw:?}"));
            break;
        }
    }
    let cpu = mark.since();
    row.source = "lean".into();
    row.record_bytes = Some(record_bytes);
    row.partitions = Some(partitions);
    row.connections = Some(1);
    row.records = records;
    row.payload_bytes = records * record_bytes as u64;
    row.wire_bytes = Some(wire);
    row.requests = Some(requests);
    row.latency = hist.summary();
    row.latency_of = "fetch request (send -> whole response read)".into();
    Ok(row.finish(&cpu, broker_pid))
}

/// One request at a time on one connection: back-to-back (`interval` zero) or one every
/// `interval`, for a warm-up then a measured window. `check` validates each response frame.
#[allow(clippy::too_many_arguments, reason = "one argument per knob of the measured run")]
pub fn one_in_flight<R: Request>(
    addr: SocketAddr,
    version_preferred: i16,
    make: impl FnOnce(&Conn, i16) -> Result<R>,
    check: impl Fn(Bytes, i32, i16) -> Result<()>,
    interval: Duration,
    warmup: Duration,
    measure: Duration,
    broker_pid: Option<u32>,
) -> Result<Row> {
    let mut conn = Conn::connect(addr)?;
    let version = conn.pick::<R>(version_preferred)?;
    let req = make(&conn, version)?;
    let mut frame = Frame::encode(version, &req);
    let mut hist = Histogram::default();
    let mut row = Row::default();
    let start = Instant::now();
    let mut next = start;
    let mut mark: Option<(CpuMark, u64, u64)> = None; // (cpu, requests, wire) at measure start
    let (mut requests, mut wire) = (0u64, 0u64);
    loop {
        let now = Instant::now();
        if mark.is_none() && now >= start + warmup {
            mark = Some((CpuMark::now(broker_pid), requests, wire));
        }
        if now >= start + warmup + measure {
            break;
        }
        if !interval.is_zero() {
            if next > now {
                std::thread::sleep(next - now);
            }
            next += interval;
        }
        let t0 = Instant::now();
        let corr = conn.send_frame(&mut frame)?;
        let resp = conn.read_raw()?;
        let rtt = t0.elapsed();
        if corr_of(&resp) != corr {
            bail!("correlation id {} where {corr} was expected", corr_of(&resp));
        }
        if let Err(e) = check(resp.clone(), corr, version) {
            row.error(e);
        }
        conn.recycle(resp);
        if mark.is_some() {
            hist.record(rtt);
        }
        requests += 1;
        wire += frame.len() as u64;
    }
    let (m, r0, w0) = mark.context("measure window never started")?;
    let cpu = m.since();
    row.source = "lean".into();
    row.connections = Some(1);
    row.requests = Some(requests - r0);
    row.wire_bytes = Some(wire - w0);
    row.latency = hist.summary();
    row.latency_of = "request (send -> response), one in flight".into();
    Ok(row.finish(&cpu, broker_pid))
}

/// `check` for produce responses.
pub fn check_produce_frame(frame: Bytes, corr: i32, version: i16) -> Result<()> {
    check_produce(&decode_response::<ProduceRequest>(frame, corr, version)?)
}
