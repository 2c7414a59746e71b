//! odradek-bench: what a Kafka-compatible broker costs — throughput, latency, broker CPU per GB and
//! per request, memory and startup time. Drives any broker by bootstrap address, or starts this
//! crate's `odradek` itself (then it also measures startup and knows the pid for /proc figures).
//!
//! ```text
//! cargo bench --bench odradek-bench -- [--bootstrap HOST:PORT] [--broker-pid PID]
//!     [--scenarios a,b,...|all] [--json FILE] [--quick] [--tls] [--duration SECS] [--in-flight N]
//!     [--batch-bytes N] [--consume-mib N] [--repeat N]
//! ```
//!
//! --tls gives the bench's own broker an SSL listener too (a throwaway CA and certificate) and runs
//! the rdkafka rows (produce-rdkafka, consume-rdkafka) through it; the lean rows stay plaintext.
//!
//! Without --scenarios it runs a quick subset of every group (well under 2 minutes). Groups:
//! startup, startup-1000, roundtrip, produce-lean, produce-small, produce-rdkafka, consume-lean,
//! consume-rdkafka, latency, floor (the machine's own per-byte cost of a produce and a fetch,
//! measured without a broker: see `bench/floor.rs`), validate (the produce path's validation per
//! byte, CRC only vs LogValidator, no broker: `bench/validate.rs`). With --scenarios the produce groups run
//! their full matrix (record size 100 B / 1 KiB x acks 1 / all x 1 / 8 partitions x 1 / 4
//! connections) unless --quick is given.
//!
//! Two load sources: `lean` encodes record batches once with kafka-protocol and re-sends them on raw
//! TCP with N requests in flight per connection, so the broker rather than the client is the
//! bottleneck; `rdkafka` is librdkafka, a real client. MB = 10^6 bytes of record payload; broker CPU
//! is utime+stime of the broker process from /proc/PID/stat over the measured window.
//!
//! Against another broker (--bootstrap) the bench assumes one node: it sends every request to the
//! bootstrap address and creates its topics with replication factor 1 (and deletes them after).

mod bench;

use anyhow::{bail, Context, Result};
use bench::broker::{temp_data_dir, timed_start, BrokerProc};
use bench::floor;
use bench::tls;
use bench::lean::{self, FetchSizes, Plan};
use bench::rdk;
use bench::stats::{self, Mem, Row};
use bench::wire::{self, Conn};
use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest, ProduceRequest};
use serde::Serialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const GROUPS: &[&str] = &[
    "startup",
    "startup-1000",
    "roundtrip",
    "produce-lean",
    "produce-small",
    "produce-rdkafka",
    "consume-lean",
    "consume-rdkafka",
    "latency",
    "floor",
    "validate",
];

const USAGE: &str = "usage: cargo bench --bench odradek-bench -- [--bootstrap HOST:PORT] [--broker-pid PID]
    [--scenarios GROUP,...|all] [--json FILE] [--quick] [--tls] [--duration SECS] [--in-flight N]
    [--batch-bytes N] [--consume-mib N] [--repeat N]
groups: startup startup-1000 roundtrip produce-lean produce-small produce-rdkafka consume-lean
        consume-rdkafka latency floor validate";

/// Command line.
#[derive(Debug, Serialize)]
struct Args {
    bootstrap: Option<String>,
    broker_pid: Option<u32>,
    scenarios: Vec<String>,
    json: Option<PathBuf>,
    /// Short windows and the quick subset of each matrix.
    quick: bool,
    /// Measured window of timed scenarios.
    measure_s: f64,
    /// Warm-up before each timed window.
    warmup_s: f64,
    in_flight: usize,
    batch_bytes: usize,
    consume_mib: u64,
    latency_s: f64,
    startup_runs: usize,
    /// Runs of each timed scenario; the row shown is the run with the median broker CPU per GB.
    repeat: usize,
    /// The bench's broker also serves an SSL listener, and the rdkafka rows go through it.
    tls: bool,
}

fn parse_args() -> Result<Args> {
    let mut it = std::env::args().skip(1);
    let (mut bootstrap, mut broker_pid, mut scenarios, mut json, mut quick, mut tls) = (None, None, None, None, false, false);
    let (mut duration, mut in_flight, mut batch_bytes, mut consume_mib, mut repeat) = (None, 8, 64 * 1024, None, 1);
    fn val<T: std::str::FromStr>(it: &mut impl Iterator<Item = String>, flag: &str) -> Result<T> {
        let v = it.next().with_context(|| format!("{flag} needs a value"))?;
        v.parse().map_err(|_| anyhow::anyhow!("{flag}: bad value {v:?}"))
    }
    while let Some(a) = it.next() {
        match a.as_str() {
            "--bootstrap" => bootstrap = Some(val::<String>(&mut it, &a)?),
            "--broker-pid" => broker_pid = Some(val(&mut it, &a)?),
            "--scenarios" => scenarios = Some(val::<String>(&mut it, &a)?),
            "--json" => json = Some(val::<PathBuf>(&mut it, &a)?),
            "--quick" => quick = true,
            "--tls" => tls = true,
            "--duration" => duration = Some(val::<f64>(&mut it, &a)?),
            "--in-flight" => in_flight = val::<usize>(&mut it, &a)?.max(1),
            "--batch-bytes" => batch_bytes = val(&mut it, &a)?,
            "--consume-mib" => consume_mib = Some(val(&mut it, &a)?),
            "--repeat" => repeat = val::<usize>(&mut it, &a)?.max(1),
            "--bench" => {} // cargo bench passes it to harness = false targets
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    let scenarios: Vec<String> = match scenarios {
        None => {
            quick = true;
            GROUPS.iter().map(|s| s.to_string()).collect()
        }
        Some(s) if s == "all" => GROUPS.iter().map(|s| s.to_string()).collect(),
        Some(s) => s.split(',').map(|g| g.trim().to_string()).filter(|g| !g.is_empty()).collect(),
    };
    for s in &scenarios {
        if !GROUPS.contains(&s.as_str()) {
            bail!("unknown scenario group {s:?}\n{USAGE}");
        }
    }
    if tls && bootstrap.is_some() {
        bail!("--tls runs the bench's own broker; it cannot be combined with --bootstrap");
    }
    Ok(Args {
        tls,
        bootstrap,
        broker_pid,
        scenarios,
        json,
        quick,
        measure_s: duration.unwrap_or(if quick { 2.0 } else { 5.0 }),
        warmup_s: if quick { 0.5 } else { 1.0 },
        in_flight,
        batch_bytes,
        consume_mib: consume_mib.unwrap_or(if quick { 256 } else { 1024 }),
        latency_s: duration.map(|d| d.max(5.0)).unwrap_or(if quick { 5.0 } else { 30.0 }),
        startup_runs: if quick { 3 } else { 10 },
        repeat,
    })
}

/// The machine the bench ran on.
#[derive(Serialize)]
struct Machine {
    nproc: usize,
    cpu_model: String,
    kernel: String,
    mem_total_kib: u64,
}

impl Machine {
    fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Machine {
            nproc: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            cpu_model: cpuinfo
                .lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .unwrap_or("?")
                .trim()
                .to_string(),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string(),
            mem_total_kib: meminfo
                .lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        }
    }
}

/// The JSON document.
#[derive(Serialize)]
struct Report<'a> {
    tool: &'static str,
    unix_time: u64,
    machine: Machine,
    args: &'a Args,
    /// The broker's address as used by the bench.
    broker_addr: String,
    broker_pid: Option<u32>,
    /// Whether the bench started the broker itself (this crate's binary).
    broker_spawned: bool,
    /// Broker memory 300 ms after start, before any load (only when the bench started it).
    idle_mem: Option<Mem>,
    rows: &'a [Row],
}

/// Runs scenarios against one broker and collects their rows.
struct Bench {
    args: Args,
    addr: SocketAddr,
    bootstrap: String,
    pid: Option<u32>,
    admin: Conn,
    rows: Vec<Row>,
    topic_seq: u32,
    run_id: String,
}

impl Bench {
    fn selected(&self, group: &str) -> bool {
        self.args.scenarios.iter().any(|s| s == group)
    }

    fn warmup(&self) -> Duration {
        Duration::from_secs_f64(self.args.warmup_s)
    }

    fn measure(&self) -> Duration {
        Duration::from_secs_f64(self.args.measure_s)
    }

    /// Creates a fresh topic and waits for its leaders.
    fn topic(&mut self, what: &str, partitions: usize) -> Result<String> {
        self.topic_seq += 1;
        let name = format!("obench-{}-{}-{what}", self.run_id, self.topic_seq);
        self.admin.create_topics(&[(&name, partitions as i32)])?;
        self.admin.wait_for_leaders(&[&name], Duration::from_secs(30))?;
        Ok(name)
    }

    fn drop_topic(&mut self, name: &str) {
        if let Err(e) = self.admin.delete_topics(&[name]) {
            eprintln!("  (could not delete {name}: {e:#})");
        }
    }

    /// Runs one scenario, labels its row and records it (an error becomes a row with the error).
    fn run(&mut self, group: &str, name: String, mut f: impl FnMut(&mut Bench) -> Result<Row>) {
        eprintln!("- {name} ...");
        let t0 = Instant::now();
        let mut rows: Vec<Row> = (0..self.args.repeat)
            .map(|_| {
                f(self).unwrap_or_else(|e| {
                    let mut r = Row::default();
                    r.error(format!("{e:#}"));
                    r
                })
            })
            .collect();
        let mut row = median_run(&mut rows);
        row.group = group.to_string();
        row.name = name;
        let lat = row.latency.as_ref().map(|l| format!(", p50 {:.0} us p99 {:.0} us", l.p50_us, l.p99_us));
        eprintln!(
            "  {:.0} records/s, {:.1} MB/s{}{}{} ({:.1} s)",
            row.records_per_s,
            row.mb_per_s,
            lat.unwrap_or_default(),
            row.broker_cpu_us_per_request.map(|u| format!(", broker {u:.1} us/request")).unwrap_or_default(),
            row.first_error.as_ref().map(|e| format!(", ERROR: {e}")).unwrap_or_default(),
            t0.elapsed().as_secs_f64(),
        );
        if self.args.repeat > 1 {
            eprintln!("  {}", row.note.as_deref().unwrap_or_default());
        }
        self.rows.push(row);
    }

    fn roundtrip(&mut self) {
        let (w, m, pid, addr) = (self.warmup(), self.measure(), self.pid, self.addr);
        self.run("roundtrip", "roundtrip ApiVersions".into(), |_| {
            lean::one_in_flight::<ApiVersionsRequest>(
                addr,
                3,
                |_, _| Ok(wire::api_versions_request()),
                |_, _, _| Ok(()),
                Duration::ZERO,
                w,
                m,
                pid,
            )
        });
        let topic = match self.topic("rt", 1) {
            Ok(t) => t,
            Err(e) => return eprintln!("  roundtrip Metadata skipped: {e:#}"),
        };
        self.run("roundtrip", "roundtrip Metadata (1 topic)".into(), |_| {
            lean::one_in_flight::<MetadataRequest>(
                addr,
                12,
                |c, _| Ok(c.metadata_request(&[&topic])?.1),
                |f, corr, v| wire::decode_response::<MetadataRequest>(f, corr, v).map(drop),
                Duration::ZERO,
                w,
                m,
                pid,
            )
        });
        self.drop_topic(&topic);
    }

    /// The produce matrix: (record bytes, acks, partitions, connections).
    fn matrix(&self, quick: &[(usize, i16, usize, usize)]) -> Vec<(usize, i16, usize, usize)> {
        if self.args.quick {
            return quick.to_vec();
        }
        let mut m = Vec::new();
        for size in [100, 1024] {
            for acks in [1, -1] {
                for parts in [1, 8] {
                    for conns in [1, 4] {
                        m.push((size, acks, parts, conns));
                    }
                }
            }
        }
        m
    }

    fn produce_lean(&mut self) {
        let quick = [(1024, -1, 1, 1), (1024, 1, 1, 1), (100, -1, 1, 1), (1024, -1, 8, 4)];
        for (size, acks, parts, conns) in self.matrix(&quick) {
            let load = lean::ProduceLoad {
                topic: String::new(),
                partitions: parts,
                connections: conns,
                record_bytes: size,
                records_per_batch: lean::records_per_batch(size, self.args.batch_bytes),
                acks,
                in_flight: self.args.in_flight,
            };
            let name = format!("produce-lean {size}B {} p{parts} c{conns}", acks_name(acks));
            self.produce_lean_one("produce-lean", name, load);
        }
    }

    /// Small requests: one 100 B record per produce request, to price a request.
    fn produce_small(&mut self) {
        let cases: &[(i16, usize)] = if self.args.quick { &[(1, 1), (-1, 1)] } else { &[(1, 1), (-1, 1), (1, 4), (-1, 4)] };
        for &(acks, conns) in cases {
            let load = lean::ProduceLoad {
                topic: String::new(),
                partitions: 1,
                connections: conns,
                record_bytes: 100,
                records_per_batch: 1,
                acks,
                in_flight: self.args.in_flight,
            };
            let name = format!("produce-small 1x100B/req {} c{conns}", acks_name(acks));
            self.produce_lean_one("produce-small", name, load);
        }
    }

    fn produce_lean_one(&mut self, group: &str, name: String, mut load: lean::ProduceLoad) {
        let plan = Plan::Timed { warmup: self.warmup(), measure: self.measure() };
        let mut topic: Option<String> = None;
        self.run(group, name, |b| {
            // With --repeat, each run writes a topic of its own; the previous one goes first.
            if let Some(old) = topic.take() {
                b.drop_topic(&old);
            }
            load.topic = b.topic("p", load.partitions)?;
            topic = Some(load.topic.clone());
            let mut row = lean::produce(b.addr, &load, plan, b.pid)?;
            row.note = Some(format!(
                "{} records/request, {} requests in flight per connection",
                load.records_per_batch, load.in_flight
            ));
            Ok(row)
        });
        if let Some(t) = topic {
            self.drop_topic(&t);
        }
    }

    fn produce_rdkafka(&mut self) {
        let quick = [(1024, -1, 1, 1), (100, 1, 1, 1)];
        for (size, acks, parts, producers) in self.matrix(&quick) {
            let name = format!("produce-rdkafka {size}B {} p{parts} c{producers}", acks_name(acks));
            let mut topic: Option<String> = None;
            let (w, m) = (self.warmup().max(Duration::from_secs(1)), self.measure());
            self.run("produce-rdkafka", name, |b| {
                if let Some(old) = topic.take() {
                    b.drop_topic(&old);
                }
                let t = b.topic("r", parts)?;
                topic = Some(t.clone());
                let load =
                    rdk::ProduceLoad { topic: t, partitions: parts, producers, record_bytes: size, acks, linger_ms: 5 };
                let mut row = rdk::produce(&b.bootstrap, &load, w, m, b.pid)?;
                row.note = Some("linger.ms=5, batch.size=1000000".into());
                Ok(row)
            });
            if let Some(t) = topic {
                self.drop_topic(&t);
            }
        }
    }

    /// Produces about `consume_mib` MiB of `size`-byte records into a new 1-partition topic with the
    /// lean producer, then reads it back with the selected consumers.
    fn consume(&mut self) {
        let sizes: &[usize] = if self.args.quick { &[1024] } else { &[1024, 100] };
        for &size in sizes {
            let per_batch = lean::records_per_batch(size, self.args.batch_bytes);
            let requests = (self.args.consume_mib << 20).div_ceil((per_batch * size) as u64);
            let topic = match self.topic("c", 1) {
                Ok(t) => t,
                Err(e) => return eprintln!("  consume skipped: {e:#}"),
            };
            let load = lean::ProduceLoad {
                topic: topic.clone(),
                partitions: 1,
                connections: 1,
                record_bytes: size,
                records_per_batch: per_batch,
                acks: 1,
                in_flight: self.args.in_flight,
            };
            eprintln!("- preloading {} MiB of {size} B records into {topic} ...", self.args.consume_mib);
            let pre = match lean::produce(self.addr, &load, Plan::Requests(requests), self.pid) {
                Ok(r) if r.errors == 0 => r,
                Ok(r) => return eprintln!("  preload failed: {:?}", r.first_error),
                Err(e) => return eprintln!("  preload failed: {e:#}"),
            };
            let expect = pre.records;
            eprintln!("  {expect} records, {:.0} MB/s", pre.mb_per_s);
            let mib = self.args.consume_mib;
            if self.selected("consume-lean") {
                let sizes = FetchSizes { max_bytes: 64 << 20, partition_max_bytes: 16 << 20 };
                self.run("consume-lean", format!("consume-lean {size}B p1 ({mib} MiB)"), |b| {
                    let mut row = lean::fetch_all(b.addr, &topic, 1, size, sizes, b.pid)?;
                    if row.records != expect {
                        row.error(format!("read {} records, {expect} were produced", row.records));
                    }
                    row.note = Some("Fetch max_bytes 64 MiB, partition_max_bytes 16 MiB, one in flight".into());
                    Ok(row)
                });
            }
            if self.selected("consume-rdkafka") {
                self.run("consume-rdkafka", format!("consume-rdkafka {size}B p1 ({mib} MiB)"), |b| {
                    rdk::consume(&b.bootstrap, &topic, 1, size, expect, b.pid)
                });
            }
            self.drop_topic(&topic);
        }
    }

    /// The machine's floor for produce and fetch, measured like the broker's rows (see floor.rs).
    fn floor(&mut self) {
        let dir = match tempfile::Builder::new().prefix("odradek-bench-floor-").tempdir() {
            Ok(d) => d,
            Err(e) => return eprintln!("  floor skipped: {e:#}"),
        };
        let (w, m, bytes) = (self.warmup(), self.measure(), self.args.consume_mib << 20);
        self.run("floor", "floor recv+write".into(), |_| floor::recv_write(dir.path(), w, m));
        self.run("floor", format!("floor sendfile ({} MiB)", self.args.consume_mib), |_| floor::sendfile(dir.path(), bytes));
    }

    /// The produce path's per-byte validation cost, before (CRC) and now (LogValidator), on the
    /// lean generator's batch shapes; no broker (see validate.rs).
    fn validate(&mut self) {
        use bench::validate::{run, Check};
        let (w, m, batch) = (self.warmup(), self.measure(), self.args.batch_bytes);
        for (size, zstd) in [(1024, false), (100, false), (1024, true)] {
            for check in [Check::Crc, Check::Validator] {
                let name = format!("validate {check:?} {size}B{}", if zstd { " zstd" } else { "" });
                self.run("validate", name, |_| run(check, size, batch, zstd, w, m));
            }
        }
    }

    /// 1000 records/s of 100 B, acks=all, one at a time: rdkafka with linger.ms=0, and the lean
    /// client (one produce request per record, one in flight).
    fn latency(&mut self) {
        let (w, m, pid, addr) = (Duration::from_secs(1), Duration::from_secs_f64(self.args.latency_s), self.pid, self.addr);
        let topic = match self.topic("l", 1) {
            Ok(t) => t,
            Err(e) => return eprintln!("  latency skipped: {e:#}"),
        };
        self.run("latency", "latency rdkafka 100B 1000/s acks=all".into(), |b| {
            rdk::fixed_rate(&b.bootstrap, &topic, 100, -1, 1000, w, m, pid)
        });
        let batch = lean::encode_batch(100, 1);
        self.run("latency", "latency lean 100B 1000/s acks=all".into(), |_| {
            let mut row = lean::one_in_flight::<ProduceRequest>(
                addr,
                lean::PRODUCE_VERSION,
                |_, _| Ok(lean::produce_request(&topic, &[0], -1, &batch)),
                lean::check_produce_frame,
                Duration::from_millis(1),
                w,
                m,
                pid,
            )?;
            row.record_bytes = Some(100);
            row.acks = Some(-1);
            row.partitions = Some(1);
            let requests = row.requests.unwrap_or(0);
            Ok(row.with_records(requests, 100))
        });
        self.drop_topic(&topic);
    }
}

fn acks_name(acks: i16) -> &'static str {
    match acks {
        -1 => "acks=all",
        0 => "acks=0",
        _ => "acks=1",
    }
}

/// Startup with an empty data dir: `runs` fresh brokers, each timed from spawn to the first
/// answered ApiVersions; RSS 300 ms later.
fn startup_empty(runs: usize) -> Result<Row> {
    let mut row = Row::default();
    for _ in 0..runs {
        let (_dir, path) = temp_data_dir()?;
        let (t, b) = timed_start(&path, 1)?;
        row.startup_ms.push(t.as_secs_f64() * 1e3);
        std::thread::sleep(Duration::from_millis(300));
        row.broker_mem = stats::mem(b.pid());
        b.stop(Duration::from_secs(30))?;
    }
    Ok(row)
}

/// Startup with 1,000 partitions on disk (10 topics x 100 partitions, one small batch each):
/// created with CreateTopics, broker stopped with SIGTERM, then restarted `runs` times.
fn startup_1000(runs: usize) -> Result<Row> {
    let (_dir, path) = temp_data_dir()?;
    let topics: Vec<String> = (0..10).map(|i| format!("obench-startup-{i}")).collect();
    let names: Vec<&str> = topics.iter().map(|s| s.as_str()).collect();
    {
        let b = BrokerProc::start(&path, 1)?;
        let mut c = Conn::connect(b.addr)?;
        let spec: Vec<(&str, i32)> = names.iter().map(|n| (*n, 100)).collect();
        c.create_topics(&spec)?;
        c.wait_for_leaders(&names, Duration::from_secs(60))?;
        let v = c.pick::<ProduceRequest>(lean::PRODUCE_VERSION)?;
        let batch = lean::encode_batch(100, 10);
        let parts: Vec<i32> = (0..100).collect();
        for t in &names {
            let resp = c.call(v, &lean::produce_request(t, &parts, 1, &batch))?;
            lean::check_produce(&resp)?;
        }
        b.stop(Duration::from_secs(60))?;
    }
    let mut row = Row::default();
    for _ in 0..runs {
        let (t, b) = timed_start(&path, 1)?;
        row.startup_ms.push(t.as_secs_f64() * 1e3);
        let t0 = Instant::now() - t;
        let mut c = Conn::connect(b.addr)?;
        c.wait_for_leaders(&names, Duration::from_secs(60))?;
        row.startup_metadata_ms.push(t0.elapsed().as_secs_f64() * 1e3);
        std::thread::sleep(Duration::from_millis(300));
        row.broker_mem = stats::mem(b.pid());
        drop(c);
        b.stop(Duration::from_secs(60))?;
    }
    row.note = Some("10 topics x 100 partitions, 10 records of 100 B each".into());
    Ok(row)
}

/// With --repeat: the run whose broker CPU per GB (else MB/s) is the median, noting every run's
/// figures; a failed run wins, so errors are never hidden.
fn median_run(rows: &mut Vec<Row>) -> Row {
    if let Some(i) = rows.iter().position(|r| r.first_error.is_some()) {
        return rows.swap_remove(i);
    }
    if rows.len() == 1 {
        return rows.remove(0);
    }
    let key = |r: &Row| r.broker_cpu_s_per_gb.unwrap_or(r.mb_per_s);
    rows.sort_by(|a, b| key(a).total_cmp(&key(b)));
    let all = |f: &dyn Fn(&Row) -> Option<f64>| rows.iter().filter_map(f).map(|v| format!("{v:.2}")).collect::<Vec<_>>().join(" ");
    let note = format!(
        "median of {} runs by broker CPU/GB; CPU-s/GB: {}; MB/s: {}",
        rows.len(),
        all(&|r| r.broker_cpu_s_per_gb),
        all(&|r| Some(r.mb_per_s)),
    );
    let mut row = rows.remove(rows.len() / 2);
    row.note = Some(match row.note.take() {
        Some(n) => format!("{n}; {note}"),
        None => note,
    });
    row
}

fn main() -> ExitCode {
    match real_main() {
        Ok(ok) => {
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("odradek-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs everything; false if some scenario reported errors.
fn real_main() -> Result<bool> {
    let args = parse_args()?;
    let machine = Machine::read();
    let started = Instant::now();
    let mut rows = Vec::new();
    let spawn = args.bootstrap.is_none();
    let sel = |g: &str| args.scenarios.iter().any(|s| s == g);
    eprintln!(
        "odradek-bench: {} CPUs ({}), kernel {}; {}",
        machine.nproc,
        machine.cpu_model,
        machine.kernel,
        if args.quick { "quick" } else { "full" }
    );

    for (group, runs, f) in [
        ("startup", args.startup_runs, startup_empty as fn(usize) -> Result<Row>),
        ("startup-1000", args.startup_runs.min(5), startup_1000),
    ] {
        if !sel(group) {
            continue;
        }
        if !spawn {
            eprintln!("- {group}: skipped (only when the bench starts the broker itself)");
            continue;
        }
        eprintln!("- {group} ({runs} runs) ...");
        let mut row = f(runs).unwrap_or_else(|e| {
            let mut r = Row::default();
            r.error(format!("{e:#}"));
            r
        });
        row.group = group.into();
        row.name = if group == "startup" { "startup empty data dir".into() } else { "startup 1000 partitions".into() };
        eprintln!("  {:?} ms{}", row.startup_ms, row.first_error.as_ref().map(|e| format!(", ERROR: {e}")).unwrap_or_default());
        rows.push(row);
    }

    // The broker under test.
    let mut tls_addr = None;
    let certs = tempfile::Builder::new().prefix("odradek-bench-tls-").tempdir()?;
    let (_dir, broker) = if spawn && args.tls {
        let (dir, path) = temp_data_dir()?;
        let keystore = tls::certificates(certs.path())?;
        let (b, ssl) = BrokerProc::start_tls(&path, 1, &keystore)?;
        tls_addr = Some(ssl);
        (Some(dir), Some(b))
    } else if spawn {
        let (dir, path) = temp_data_dir()?;
        (Some(dir), Some(BrokerProc::start(&path, 1)?))
    } else {
        (None, None)
    };
    let pid = broker.as_ref().map(|b| b.pid()).or(args.broker_pid);
    let bootstrap = match (&args.bootstrap, &broker, tls_addr) {
        (Some(b), _, _) => b.clone(),
        // With --tls the rdkafka rows use the SSL listener; the lean rows stay on PLAINTEXT.
        (None, Some(_), Some(ssl)) => format!("localhost:{}", ssl.port()),
        (None, Some(b), None) => b.addr.to_string(),
        (None, None, _) => unreachable!(),
    };
    let addr = match (&broker, tls_addr) {
        (Some(b), Some(_)) => b.addr,
        _ => wire::resolve(&bootstrap)?,
    };
    let idle_mem = broker.as_ref().and_then(|b| {
        std::thread::sleep(Duration::from_millis(300));
        stats::mem(b.pid())
    });
    if let Some(m) = idle_mem {
        eprintln!("- broker {bootstrap} pid {}: idle RSS {:.1} MiB", pid.unwrap_or(0), m.rss_kib as f64 / 1024.0);
    }
    let admin = Conn::connect(addr).context("connect to the broker")?;
    let run_id = format!("{}", std::process::id());
    let mut bench = Bench { args, addr, bootstrap, pid, admin, rows, topic_seq: 0, run_id };

    if bench.selected("roundtrip") {
        bench.roundtrip();
    }
    if bench.selected("produce-lean") {
        bench.produce_lean();
    }
    if bench.selected("produce-small") {
        bench.produce_small();
    }
    if bench.selected("produce-rdkafka") {
        bench.produce_rdkafka();
    }
    if bench.selected("consume-lean") || bench.selected("consume-rdkafka") {
        bench.consume();
    }
    if bench.selected("latency") {
        bench.latency();
    }
    if bench.selected("floor") {
        bench.floor();
    }
    if bench.selected("validate") {
        bench.validate();
    }

    let Bench { args, bootstrap, rows, .. } = bench;
    println!();
    println!(
        "odradek-bench on {} CPUs ({}), kernel {}; broker {bootstrap}{}; {} mode, {:.0} s",
        machine.nproc,
        machine.cpu_model,
        machine.kernel,
        pid.map(|p| format!(" pid {p}")).unwrap_or_default(),
        if args.quick { "quick" } else { "full" },
        started.elapsed().as_secs_f64()
    );
    println!("MB = 10^6 B of record payload; CPUs/GB = broker CPU-seconds per 10^9 payload bytes; us/req = broker");
    println!("CPU us per request (= CPU-s per 10^6 requests); brk%/cli%/oth% = CPU of the broker / this bench /");
    println!("everything else on the machine (100 = one core; oth% > ~5 means a noisy run); latency: lean = per");
    println!("request, rdkafka = per record; RSS/HWM = broker VmRSS/VmHWM after the scenario; floor rows: no");
    println!("broker, their CPUs/GB and brk% are the one thread doing the bare kernel work (bench/floor.rs)");
    if let Some(m) = idle_mem {
        println!("broker idle RSS after start: {:.1} MiB", m.rss_kib as f64 / 1024.0);
    }
    println!();
    print!("{}", stats::table(&rows));
    let failed: Vec<&Row> = rows.iter().filter(|r| r.errors > 0).collect();
    if !failed.is_empty() {
        println!();
        println!("ERRORS (those rows may be meaningless):");
        for r in &failed {
            println!("  {}: {} error(s), first: {}", r.name, r.errors, r.first_error.as_deref().unwrap_or("?"));
        }
        if let Some(b) = &broker {
            println!("--- last broker log lines ---\n{}", b.log_tail());
        }
    }
    if let Some(path) = &args.json {
        let report = Report {
            tool: "odradek-bench",
            unix_time: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
            machine,
            args: &args,
            broker_addr: bootstrap.clone(),
            broker_pid: pid,
            broker_spawned: spawn,
            idle_mem,
            rows: &rows,
        };
        std::fs::write(path, serde_json::to_string_pretty(&report)?).with_context(|| format!("write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(failed.is_empty())
}
