//! The real-client load source: librdkafka through the `rdkafka` crate. Producers time each record
//! from send to its delivery report; the consumer reads assigned partitions from the beginning.

use crate::bench::stats::{CpuMark, Histogram, Row};
use anyhow::{Context, Result};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// With `--tls`: the CA that signed the broker's certificate; every rdkafka client then speaks SSL.
pub static TLS_CA: OnceLock<PathBuf> = OnceLock::new();

/// A client config for `bootstrap`, over TLS when the bench runs with `--tls`.
fn client_config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap);
    if let Some(ca) = TLS_CA.get() {
        c.set("security.protocol", "SSL").set("ssl.ca.location", ca.display().to_string());
    }
    c
}

/// Delivery bookkeeping of one producer: the opaque of each record is its send time in ns since
/// `base`.
struct Deliveries {
    base: Instant,
    measuring: Arc<AtomicBool>,
    acked: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
    hist: Mutex<Histogram>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = usize;

    fn delivery(&self, r: &DeliveryResult<'_>, sent_ns: usize) {
        match r {
            Ok(_) => {
                self.acked.fetch_add(1, Relaxed);
                if self.measuring.load(Relaxed) {
                    let now = self.base.elapsed().as_nanos() as u64;
                    self.hist.lock().unwrap().record_ns(now.saturating_sub(sent_ns as u64));
                }
            }
            Err((e, _)) => {
                self.errors.fetch_add(1, Relaxed);
                self.first_error.lock().unwrap().get_or_insert_with(|| e.to_string());
            }
        }
    }
}

type BenchProducer = ThreadedProducer<Deliveries>;

fn producer(bootstrap: &str, acks: i16, linger_ms: u32, measuring: Arc<AtomicBool>) -> Result<BenchProducer> {
    let ctx = Deliveries {
        base: Instant::now(),
        measuring,
        acked: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        first_error: Mutex::new(None),
        hist: Mutex::new(Histogram::default()),
    };
    client_config(bootstrap)
        .set("acks", if acks < 0 { "all".to_string() } else { acks.to_string() })
        .set("linger.ms", linger_ms.to_string())
        .set("enable.idempotence", "false")
        .set("compression.type", "none")
        .set("queue.buffering.max.messages", "200000")
        .set("queue.buffering.max.kbytes", "262144")
        .set("batch.size", "1000000")
        .set("message.timeout.ms", "60000")
        .create_with_context(ctx)
        .context("create rdkafka producer")
}

/// Sends one record; waits (briefly sleeping) while librdkafka's queue is full.
fn send(p: &BenchProducer, topic: &str, payload: &[u8], stop: &AtomicBool) -> Result<(), KafkaError> {
    let mut rec = BaseRecord::<(), [u8], usize>::with_opaque_to(topic, p.context().base.elapsed().as_nanos() as usize)
        .payload(payload);
    loop {
        match p.send(rec) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                if stop.load(Relaxed) {
                    return Ok(());
                }
                rec = r;
                std::thread::sleep(Duration::from_micros(200));
            }
            Err((e, _)) => return Err(e),
        }
    }
}

/// What an rdkafka producer run sends.
#[derive(Clone, Debug)]
pub struct ProduceLoad {
    pub topic: String,
    pub partitions: usize,
    pub producers: usize,
    pub record_bytes: usize,
    pub acks: i16,
    pub linger_ms: u32,
}

/// `producers` producers, each on its own thread, sending as fast as librdkafka accepts records
/// (it picks partitions); a warm-up, then a measured window.
pub fn produce(
    bootstrap: &str,
    load: &ProduceLoad,
    warmup: Duration,
    measure: Duration,
    broker_pid: Option<u32>,
) -> Result<Row> {
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let payload: Arc<Vec<u8>> = Arc::new((0..load.record_bytes).map(|i| b'a' + (i % 26) as u8).collect());
    let mut producers = Vec::new();
    for _ in 0..load.producers {
        producers.push(Arc::new(producer(bootstrap, load.acks, load.linger_ms, measuring.clone())?));
    }
    let threads: Vec<_> = producers
        .iter()
        .map(|p| {
            let (p, stop, payload, topic) = (p.clone(), stop.clone(), payload.clone(), load.topic.clone());
            std::thread::spawn(move || {
                while !stop.load(Relaxed) {
                    if let Err(e) = send(&p, &topic, &payload, &stop) {
                        p.context().errors.fetch_add(1, Relaxed);
                        p.context().first_error.lock().unwrap().get_or_insert_with(|| e.to_string());
                        break;
                    }
                }
            })
        })
        .collect();
    let acked = || producers.iter().map(|p| p.context().acked.load(Relaxed)).sum::<u64>();
    std::thread::sleep(warmup);
    measuring.store(true, Relaxed);
    let mark = CpuMark::now(broker_pid);
    let a0 = acked();
    std::thread::sleep(measure);
    let cpu = mark.since();
    let records = acked() - a0;
    measuring.store(false, Relaxed);
    stop.store(true, Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let mut row = Row::default();
    let mut hist = Histogram::default();
    for p in &producers {
        if let Err(e) = p.flush(Duration::from_secs(60)) {
            row.error(format!("flush: {e}"));
        }
        let ctx = p.context();
        hist.merge(&ctx.hist.lock().unwrap());
        row.errors += ctx.errors.load(Relaxed);
        if row.first_error.is_none() {
            row.first_error = ctx.first_error.lock().unwrap().clone();
        }
    }
    row.source = "rdkafka".into();
    row.record_bytes = Some(load.record_bytes);
    row.acks = Some(load.acks);
    row.partitions = Some(load.partitions);
    row.connections = Some(load.producers);
    row.records = records;
    row.payload_bytes = records * load.record_bytes as u64;
    row.latency = hist.summary();
    row.latency_of = "record (send -> delivery report), saturated".into();
    Ok(row.finish(&cpu, broker_pid))
}

/// One producer (linger.ms=0) sending `rate` records per second: a warm-up, then a measured window
/// in which each record is timed from send to its delivery report.
#[allow(clippy::too_many_arguments, reason = "one argument per knob of the measured run")]
pub fn fixed_rate(
    bootstrap: &str,
    topic: &str,
    record_bytes: usize,
    acks: i16,
    rate: u32,
    warmup: Duration,
    measure: Duration,
    broker_pid: Option<u32>,
) -> Result<Row> {
    let measuring = Arc::new(AtomicBool::new(false));
    let p = producer(bootstrap, acks, 0, measuring.clone())?;
    let payload: Vec<u8> = (0..record_bytes).map(|i| b'a' + (i % 26) as u8).collect();
    let never = AtomicBool::new(false);
    let interval = Duration::from_secs(1) / rate;
    let start = Instant::now();
    let mut next = start;
    let mut mark = None;
    let mut a0 = 0;
    let mut end = start + warmup + measure;
    loop {
        let now = Instant::now();
        if mark.is_none() && now >= start + warmup {
            // Let the warm-up records drain before measuring.
            let _ = p.flush(Duration::from_secs(10));
            measuring.store(true, Relaxed);
            a0 = p.context().acked.load(Relaxed);
            mark = Some(CpuMark::now(broker_pid));
            next = Instant::now();
            end = next + measure;
        }
        if now >= end {
            break;
        }
        if next > now {
            std::thread::sleep(next - now);
        }
        next += interval;
        send(&p, topic, &payload, &never).context("send")?;
    }
    let mut row = Row::default();
    if let Err(e) = p.flush(Duration::from_secs(30)) {
        row.error(format!("flush: {e}"));
    }
    let cpu = mark.context("measure window never started")?.since();
    measuring.store(false, Relaxed);
    let ctx = p.context();
    let records = ctx.acked.load(Relaxed) - a0;
    row.errors += ctx.errors.load(Relaxed);
    row.first_error = ctx.first_error.lock().unwrap().clone();
    row.source = "rdkafka".into();
    row.record_bytes = Some(record_bytes);
    row.acks = Some(acks);
    row.partitions = Some(1);
    row.connections = Some(1);
    row.records = records;
    row.payload_bytes = records * record_bytes as u64;
    row.latency = ctx.hist.lock().unwrap().summary();
    row.latency_of = format!("record (send -> delivery report) at {rate}/s, linger.ms=0");
    let mut row = row.finish(&cpu, broker_pid);
    row.note = Some("window includes the final flush".into());
    Ok(row)
}

/// Reads all `partitions` of `topic` from the beginning with assign() until `expect` records
/// arrived (or 30 s pass without one).
pub fn consume(
    bootstrap: &str,
    topic: &str,
    partitions: usize,
    record_bytes: usize,
    expect: u64,
    broker_pid: Option<u32>,
) -> Result<Row> {
    let c: BaseConsumer = client_config(bootstrap)
        .set("group.id", "odradek-bench-unused") // never joins nor commits
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "100")
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", "8388608")
        .set("receive.message.max.bytes", "104857600")
        // librdkafka stops fetching for fetch.queue.backoff.ms (1 s by default) whenever its local
        // queue holds queued.min.messages; with small records that idles the consumer.
        .set("queued.min.messages", "1000000")
        .set("fetch.queue.backoff.ms", "1")
        .create()
        .context("create rdkafka consumer")?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p as i32, Offset::Beginning)?;
    }
    c.assign(&tpl)?;
    let mut row = Row::default();
    let mark = CpuMark::now(broker_pid);
    let (mut records, mut bytes) = (0u64, 0u64);
    let mut last_progress = Instant::now();
    while records < expect {
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                records += 1;
                bytes += m.payload_len() as u64;
                last_progress = Instant::now();
            }
            Some(Err(e)) => row.error(e),
            None => {}
        }
        if last_progress.elapsed() > Duration::from_secs(30) {
            row.error(format!("stalled: no record for 30 s after {records} of {expect}"));
            break;
        }
    }
    let cpu = mark.since();
    if bytes != records * record_bytes as u64 {
        row.error(format!("payload bytes {bytes} != {records} records x {record_bytes} B"));
    }
    row.source = "rdkafka".into();
    row.record_bytes = Some(record_bytes);
    row.partitions = Some(partitions);
    row.connections = Some(1);
    row.records = records;
    row.payload_bytes = bytes;
    Ok(row.finish(&cpu, broker_pid))
}
