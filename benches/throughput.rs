//! Throughput, latency and memory of one Odradek broker, measured with a real client (librdkafka
//! through the `rdkafka` crate). `cargo bench` runs it; it prints numbers and asserts nothing.
//!
//! What it does:
//! 1. starts the broker binary (this crate's `odradek`, release profile under `cargo bench`) on a
//!    free loopback port with a temporary data dir, and reads its RSS while idle;
//! 2. for 100 B and 1 KiB records: produces BENCH_RECORDS records with a FutureProducer
//!    (acks=all, linger.ms=BENCH_LINGER_MS, up to BENCH_WINDOW records in flight), timing each
//!    record from send to acknowledgement;
//! 3. produces BENCH_LATENCY_RECORDS records one at a time (linger.ms=0, wait for each ack):
//!    the unloaded round trip;
//! 4. consumes every topic back from offset 0 with a BaseConsumer and assign() (no groups);
//! 5. reads the broker's RSS (VmRSS, VmHWM) after the runs.
//!
//! Environment: BENCH_RECORDS (default 200000), BENCH_PARTITIONS (1), BENCH_WINDOW (20000),
//! BENCH_LINGER_MS (5), BENCH_LATENCY_RECORDS (2000), BENCH_SIZES (comma list, "100,1024").

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

fn env_num(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

/// The broker process; SIGTERM (then SIGKILL) on drop.
struct Broker {
    child: Child,
    addr: String,
    log_tail: Arc<Mutex<VecDeque<String>>>,
    _dir: tempfile::TempDir,
}

impl Broker {
    fn start(partitions: usize) -> Broker {
        let dir = tempfile::tempdir().expect("temp dir");
        let bin = env!("CARGO_BIN_EXE_odradek");
        let mut child = Command::new(bin)
            .arg("--listeners")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(dir.path())
            .arg("--override")
            .arg(format!("num.partitions={partitions}"))
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        let stderr = child.stderr.take().unwrap();
        let log_tail = Arc::new(Mutex::new(VecDeque::new()));
        let (tx, rx) = mpsc::channel();
        let tail = log_tail.clone();
        // Reads the startup line, then keeps draining stderr (keeping the last lines for errors).
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(t) = &tx {
                    if let Some(rest) = line.split("listening on ").nth(1) {
                        let addr = rest.split(',').next().unwrap_or("").trim().to_string();
                        let _ = t.send(addr);
                        tx = None;
                    }
                }
                let mut q = tail.lock().unwrap();
                if q.len() == 50 {
                    q.pop_front();
                }
                q.push_back(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                let tail = log_tail.lock().unwrap();
                panic!(
                    "broker printed no 'listening on ADDR,' line within 20 s; stderr:\n{}",
                    tail.iter().cloned().collect::<Vec<_>>().join("\n")
                );
            }
        };
        Broker { child, addr, log_tail, _dir: dir }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn data_dir(&self) -> &Path {
        self._dir.path()
    }

    fn print_log_tail(&self) {
        let tail = self.log_tail.lock().unwrap();
        eprintln!("--- last broker log lines ---");
        for l in tail.iter() {
            eprintln!("{l}");
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// (VmRSS, VmHWM) in KiB from /proc/<pid>/status.
fn rss_kib(pid: u32) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Bytes allocated on disk under `p` (st_blocks, so sparse preallocated index files count as
/// what they occupy, not their length).
fn dir_bytes(p: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let Ok(md) = e.metadata() else { continue };
            if md.is_dir() {
                total += dir_bytes(&e.path());
            } else {
                total += md.blocks() * 512;
            }
        }
    }
    total
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn percentile(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted_us.len() as f64 - 1.0) * p).round() as usize;
    sorted_us[i] as f64 / 1000.0
}

fn producer(addr: &str, linger_ms: usize) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("acks", "all")
        .set("linger.ms", linger_ms.to_string())
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("message.timeout.ms", "60000")
        .create()
        .expect("producer")
}

struct ProduceResult {
    records: usize,
    errors: usize,
    first_error: Option<String>,
    elapsed: Duration,
    lat_us: Vec<u32>,
}

/// Sends `n` records of `size` bytes to `topic`, at most `window` unacknowledged at a time,
/// timing each from send_result() to its delivery report.
async fn produce(p: &FutureProducer, topic: &str, n: usize, size: usize, window: usize) -> ProduceResult {
    let payload: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
    let sem = Arc::new(tokio::sync::Semaphore::new(window.max(1)));
    let mut handles = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let permit = sem.clone().acquire_owned().await.unwrap();
        let t0 = Instant::now();
        let mut rec = FutureRecord::<(), [u8]>::to(topic).payload(&payload[..]);
        let fut = loop {
            match p.send_result(rec) {
                Ok(f) => break f,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    rec = r;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err((e, _)) => panic!("send_result: {e}"),
            }
        };
        handles.push(tokio::spawn(async move {
            let r = fut.await;
            let us = t0.elapsed().as_micros().min(u32::MAX as u128) as u32;
            drop(permit);
            match r {
                Ok(Ok(_)) => (us, None),
                Ok(Err((e, _))) => (us, Some(e.to_string())),
                Err(_) => (us, Some("delivery future cancelled".to_string())),
            }
        }));
    }
    let mut lat_us = Vec::with_capacity(n);
    let mut errors = 0;
    let mut first_error = None;
    for h in handles {
        let (us, err) = h.await.unwrap();
        match err {
            None => lat_us.push(us),
            Some(e) => {
                errors += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    let elapsed = start.elapsed();
    lat_us.sort_unstable();
    ProduceResult { records: n, errors, first_error, elapsed, lat_us }
}

struct ConsumeResult {
    records: usize,
    bytes: u64,
    elapsed: Duration,
    error: Option<String>,
}

/// Reads `topic` (all `partitions`) from offset 0 until `expect` records arrived or 30 s pass
/// without progress.
fn consume(addr: &str, topic: &str, partitions: usize, expect: usize) -> ConsumeResult {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", "odradek-bench-unused") // never subscribes nor commits
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "100")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p as i32, Offset::Offset(0)).unwrap();
    }
    c.assign(&tpl).expect("assign");
    let start = Instant::now();
    let mut last_progress = Instant::now();
    let (mut records, mut bytes, mut error) = (0usize, 0u64, None);
    while records < expect {
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                records += 1;
                bytes += m.payload_len() as u64 + m.key().map_or(0, |k| k.len() as u64);
                last_progress = Instant::now();
            }
            Some(Err(e)) => {
                error.get_or_insert(e.to_string());
            }
            None => {}
        }
        if last_progress.elapsed() > Duration::from_secs(30) {
            error.get_or_insert(format!("stalled: no record for 30 s after {records} of {expect}"));
            break;
        }
    }
    ConsumeResult { records, bytes, elapsed: start.elapsed(), error }
}

fn main() {
    let n = env_num("BENCH_RECORDS", 200_000);
    let partitions = env_num("BENCH_PARTITIONS", 1).max(1);
    let window = env_num("BENCH_WINDOW", 20_000).max(1);
    let linger = env_num("BENCH_LINGER_MS", 5);
    let lat_n = env_num("BENCH_LATENCY_RECORDS", 2_000);
    let sizes: Vec<usize> = std::env::var("BENCH_SIZES")
        .unwrap_or_else(|_| "100,1024".into())
        .split(',')
        .map(|s| s.trim().parse().expect("BENCH_SIZES: comma-separated byte counts"))
        .collect();
    let warmup = 1_000.min(n);

    let broker = Broker::start(partitions);
    let pid = broker.pid();
    std::thread::sleep(Duration::from_millis(300));
    let (rss_idle, _) = rss_kib(pid);

    println!();
    println!("odradek throughput bench: broker {} (pid {pid}), {n} records per size, {partitions} partition(s)", broker.addr);
    println!("producer: FutureProducer acks=all linger.ms={linger}, up to {window} records in flight; consumer: BaseConsumer assign() from offset 0");
    println!("MB = 10^6 bytes of record payload; latency = send_result() to delivery report");
    println!();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let mut rows: Vec<String> = Vec::new();
    let header = format!(
        "{:<34} {:>9} {:>12} {:>9} {:>9} {:>9} {:>9}",
        "run", "records", "records/s", "MB/s", "p50 ms", "p99 ms", "max ms"
    );
    let mut produced: Vec<(String, usize, usize)> = Vec::new(); // (topic, size, records acked)
    let mut problems: Vec<String> = Vec::new();

    for &size in &sizes {
        let topic = format!("bench-{size}");
        let p = producer(&broker.addr, linger);
        // Warm-up: creates the topic (auto-create) and the connections, outside the timing.
        let w = rt.block_on(produce(&p, &topic, warmup, size, window));
        if w.errors > 0 {
            problems.push(format!("warm-up {topic}: {} errors, first: {:?}", w.errors, w.first_error));
        }
        let r = rt.block_on(produce(&p, &topic, n, size, window));
        let ok = r.records - r.errors;
        let secs = r.elapsed.as_secs_f64();
        rows.push(format!(
            "{:<34} {:>9} {:>12.0} {:>9.1} {:>9.2} {:>9.2} {:>9.2}",
            format!("produce {size} B"),
            ok,
            ok as f64 / secs,
            (ok * size) as f64 / 1e6 / secs,
            percentile(&r.lat_us, 0.50),
            percentile(&r.lat_us, 0.99),
            percentile(&r.lat_us, 1.0),
        ));
        if r.errors > 0 {
            problems.push(format!("produce {topic}: {} errors, first: {:?}", r.errors, r.first_error));
        }
        produced.push((topic, size, ok + (w.records - w.errors)));
        drop(p);
    }

    // Unloaded round trip: one record at a time, no linger.
    if lat_n > 0 {
        for &size in &sizes {
            let topic = format!("bench-latency-{size}");
            let p = producer(&broker.addr, 0);
            let _ = rt.block_on(produce(&p, &topic, 100.min(lat_n), size, 1)); // warm-up
            let r = rt.block_on(produce(&p, &topic, lat_n, size, 1));
            let ok = r.records - r.errors;
            let secs = r.elapsed.as_secs_f64();
            rows.push(format!(
                "{:<34} {:>9} {:>12.0} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                format!("produce {size} B one at a time"),
                ok,
                ok as f64 / secs,
                (ok * size) as f64 / 1e6 / secs,
                percentile(&r.lat_us, 0.50),
                percentile(&r.lat_us, 0.99),
                percentile(&r.lat_us, 1.0),
            ));
            if r.errors > 0 {
                problems.push(format!("latency {topic}: {} errors, first: {:?}", r.errors, r.first_error));
            }
        }
    }
    let (rss_after_produce, _) = rss_kib(pid);

    for (topic, size, expect) in &produced {
        let r = consume(&broker.addr, topic, partitions, *expect);
        let secs = r.elapsed.as_secs_f64();
        rows.push(format!(
            "{:<34} {:>9} {:>12.0} {:>9.1} {:>9} {:>9} {:>9}",
            format!("consume {size} B"),
            r.records,
            r.records as f64 / secs,
            r.bytes as f64 / 1e6 / secs,
            "-",
            "-",
            "-",
        ));
        if r.records != *expect || r.error.is_some() {
            problems.push(format!(
                "consume {topic}: got {} of {} records; error: {:?}",
                r.records, expect, r.error
            ));
        }
    }
    let (rss_after, hwm) = rss_kib(pid);

    println!("{header}");
    println!("{}", "-".repeat(header.len()));
    for r in &rows {
        println!("{r}");
    }
    println!();
    println!(
        "broker RSS: idle {}, after produce {}, after consume {}, peak (VmHWM) {}",
        mib(rss_idle),
        mib(rss_after_produce),
        mib(rss_after),
        mib(hwm)
    );
    println!("data dir: {:.1} MB allocated on disk", dir_bytes(broker.data_dir()) as f64 / 1e6);
    if !problems.is_empty() {
        println!();
        println!("PROBLEMS (the numbers above may be meaningless):");
        for p in &problems {
            println!("  {p}");
        }
        broker.print_log_tail();
    }
    println!();
}
