//! Measurement: a log-linear latency histogram, /proc readings (CPU ticks, RSS) of the broker and
//! of the bench itself, and the per-scenario result row.

use serde::Serialize;
use std::time::{Duration, Instant};

/// Sub-buckets per power of two: values are kept with a relative error under 1/64 (~1.6 %).
const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;
const BUCKETS: usize = (SUB as usize) * 60;

/// A latency histogram over nanoseconds: exact below 128 ns, then 64 linear steps per octave.
#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { counts: vec![0; BUCKETS], total: 0, max: 0 }
    }
}

impl Histogram {
    fn index(v: u64) -> usize {
        if v < 2 * SUB {
            return v as usize;
        }
        let shift = (63 - v.leading_zeros()) - SUB_BITS; // >= 1
        ((shift as u64) * SUB + (v >> shift)) as usize
    }

    /// The middle of bucket `i`'s value range.
    fn value(i: usize) -> u64 {
        let i = i as u64;
        if i < 2 * SUB {
            return i;
        }
        let shift = i / SUB - 1;
        let mantissa = i - shift * SUB;
        (mantissa << shift) + (1 << shift) / 2
    }

    pub fn record(&mut self, d: Duration) {
        self.record_ns(d.as_nanos().min(u64::MAX as u128) as u64);
    }

    pub fn record_ns(&mut self, ns: u64) {
        let i = Self::index(ns).min(BUCKETS - 1);
        self.counts[i] += 1;
        self.total += 1;
        self.max = self.max.max(ns);
    }

    pub fn merge(&mut self, o: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a += b;
        }
        self.total += o.total;
        self.max = self.max.max(o.max);
    }

    /// The value (ns) at quantile `q` in 0..=1.
    pub fn quantile_ns(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(Self::value(i).min(self.max));
            }
        }
        Some(self.max)
    }

    pub fn summary(&self) -> Option<Latency> {
        let us = |q| self.quantile_ns(q).map(|ns| ns as f64 / 1e3).unwrap_or(f64::NAN);
        (self.total > 0).then(|| Latency {
            count: self.total,
            p50_us: us(0.5),
            p99_us: us(0.99),
            p999_us: us(0.999),
            max_us: self.max as f64 / 1e3,
        })
    }
}

/// Latency percentiles in microseconds.
#[derive(Clone, Debug, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
}

fn clk_tck() -> f64 {
    // SAFETY: sysconf only reads a system constant; it has no memory-safety preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// utime + stime of a process (all its threads), in seconds; `None` if it is gone.
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let s = std::fs::read_to_string(path).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / clk_tck())
}

/// CPU time all processes of the machine spent in user and system mode (/proc/stat user + nice +
/// system; interrupt time is left out because processes are not charged for it either), in seconds.
pub fn system_busy_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let line = s.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line.split_whitespace().take(3).filter_map(|x| x.parse().ok()).collect();
    (v.len() == 3).then(|| v.iter().sum::<u64>() as f64 / clk_tck())
}

/// Memory of a process from /proc/PID/status, in KiB.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Mem {
    pub rss_kib: u64,
    pub hwm_kib: u64,
    /// Parts of VmRSS: anonymous memory (heap, stacks) and file pages mapped by the process
    /// (e.g. mmapped segments, which the kernel can drop).
    pub rss_anon_kib: Option<u64>,
    pub rss_file_kib: Option<u64>,
}

pub fn mem(pid: u32) -> Option<Mem> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    Some(Mem {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
        rss_anon_kib: field("RssAnon:"),
        rss_file_kib: field("RssFile:"),
    })
}

/// CPU of the broker (when its pid is known) and of the bench process, sampled at the start of a
/// measurement window.
pub struct CpuMark {
    at: Instant,
    broker: Option<f64>,
    client: Option<f64>,
    system: Option<f64>,
    pid: Option<u32>,
}

/// CPU used over a measurement window.
#[derive(Default)]
pub struct CpuUse {
    pub wall_s: f64,
    pub broker_s: Option<f64>,
    pub client_s: Option<f64>,
    /// Busy CPU of the whole machine.
    pub system_s: Option<f64>,
}

impl CpuMark {
    pub fn now(pid: Option<u32>) -> CpuMark {
        CpuMark {
            at: Instant::now(),
            broker: pid.and_then(|p| cpu_seconds(Some(p))),
            client: cpu_seconds(None),
            system: system_busy_seconds(),
            pid,
        }
    }

    pub fn since(&self) -> CpuUse {
        let wall_s = self.at.elapsed().as_secs_f64();
        let broker = self.pid.and_then(|p| cpu_seconds(Some(p)));
        let client = cpu_seconds(None);
        let system = system_busy_seconds();
        CpuUse {
            wall_s,
            broker_s: self.broker.zip(broker).map(|(a, b)| b - a),
            client_s: self.client.zip(client).map(|(a, b)| b - a),
            system_s: self.system.zip(system).map(|(a, b)| b - a),
        }
    }
}

/// One scenario's result; every figure that could not be measured is `None`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Row {
    /// Scenario group, as given to --scenarios.
    pub group: String,
    /// Unique scenario name.
    pub name: String,
    /// Load source: "lean", "rdkafka" or "-".
    pub source: String,
    pub record_bytes: Option<usize>,
    pub acks: Option<i16>,
    pub partitions: Option<usize>,
    pub connections: Option<usize>,
    pub seconds: f64,
    pub records: u64,
    /// Record payload bytes (records x record size); MB/s and CPU/GB use these, GB = 1e9 bytes.
    pub payload_bytes: u64,
    /// Bytes on the wire (request or response frames) when known.
    pub wire_bytes: Option<u64>,
    pub requests: Option<u64>,
    pub records_per_s: f64,
    pub mb_per_s: f64,
    pub requests_per_s: Option<f64>,
    /// Per request (lean, round trip) or per record (rdkafka), see `latency_of`.
    pub latency: Option<Latency>,
    pub latency_of: String,
    pub broker_cpu_s: Option<f64>,
    pub broker_cpu_pct: Option<f64>,
    pub broker_cpu_s_per_gb: Option<f64>,
    pub broker_cpu_s_per_m_requests: Option<f64>,
    pub broker_cpu_us_per_request: Option<f64>,
    pub client_cpu_pct: Option<f64>,
    /// Busy CPU of everything else on the machine (other processes, interrupts) during the window,
    /// 100 = one core: a noise indicator. Only when the broker's pid is known.
    pub other_cpu_pct: Option<f64>,
    /// Broker memory after the scenario.
    pub broker_mem: Option<Mem>,
    /// Startup scenarios: time from spawn to the first answered ApiVersions, per run.
    pub startup_ms: Vec<f64>,
    /// Startup scenarios with topics on disk: spawn -> first Metadata answer that lists all of
    /// them with a leader for every partition, per run.
    pub startup_metadata_ms: Vec<f64>,
    pub errors: u64,
    pub first_error: Option<String>,
    pub note: Option<String>,
}

impl Row {
    /// Fills the derived rates from the counts, the CPU used and the broker's memory.
    pub fn finish(mut self, cpu: &CpuUse, broker_pid: Option<u32>) -> Row {
        let s = cpu.wall_s.max(1e-9);
        self.seconds = cpu.wall_s;
        self.records_per_s = self.records as f64 / s;
        self.mb_per_s = self.payload_bytes as f64 / 1e6 / s;
        self.requests_per_s = self.requests.map(|r| r as f64 / s);
        self.broker_cpu_s = cpu.broker_s;
        self.broker_cpu_pct = cpu.broker_s.map(|c| 100.0 * c / s);
        self.client_cpu_pct = cpu.client_s.map(|c| 100.0 * c / s);
        if let (Some(sys), Some(b), Some(c)) = (cpu.system_s, cpu.broker_s, cpu.client_s) {
            self.other_cpu_pct = Some((100.0 * (sys - b - c) / s).max(0.0));
        }
        if let Some(c) = cpu.broker_s {
            if self.payload_bytes > 0 {
                self.broker_cpu_s_per_gb = Some(c / (self.payload_bytes as f64 / 1e9));
            }
            if let Some(r) = self.requests.filter(|&r| r > 0) {
                self.broker_cpu_s_per_m_requests = Some(c / (r as f64 / 1e6));
                self.broker_cpu_us_per_request = Some(c * 1e6 / r as f64);
            }
        }
        self.broker_mem = broker_pid.and_then(mem);
        self
    }

    /// Sets the record count of a finished row (e.g. one record per request) and the rates
    /// derived from it.
    pub fn with_records(mut self, records: u64, record_bytes: usize) -> Row {
        let s = self.seconds.max(1e-9);
        self.records = records;
        self.payload_bytes = records * record_bytes as u64;
        self.records_per_s = records as f64 / s;
        self.mb_per_s = self.payload_bytes as f64 / 1e6 / s;
        self.broker_cpu_s_per_gb = self.broker_cpu_s.filter(|_| self.payload_bytes > 0).map(|c| c / (self.payload_bytes as f64 / 1e9));
        self
    }

    pub fn error(&mut self, e: impl std::fmt::Display) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(e.to_string());
        }
    }
}

fn opt(v: Option<f64>, prec: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.prec$}"),
        _ => "-".to_string(),
    }
}

/// The median of `v` (upper one for an even count).
pub fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// The aligned text table of throughput/latency rows.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let header = format!(
        "{:<40} {:>10} {:>7} {:>7} {:>8} {:>8} {:>8} {:>7} {:>7} {:>5} {:>5} {:>5} {:>7} {:>7}",
        "scenario",
        "records/s",
        "MB/s",
        "req/s",
        "p50 us",
        "p99 us",
        "p99.9us",
        "CPUs/GB",
        "us/req",
        "brk%",
        "cli%",
        "oth%",
        "RSS MiB",
        "HWM MiB"
    );
    out.push_str(&header);
    out.push('\n');
    out.push_str(&"-".repeat(header.len()));
    out.push('\n');
    for r in rows.iter().filter(|r| r.startup_ms.is_empty()) {
        let lat = r.latency.as_ref();
        out.push_str(&format!(
            "{:<40} {:>10} {:>7} {:>7} {:>8} {:>8} {:>8} {:>7} {:>7} {:>5} {:>5} {:>5} {:>7} {:>7}{}\n",
            r.name,
            opt(Some(r.records_per_s).filter(|_| r.records > 0), 0),
            opt(Some(r.mb_per_s).filter(|_| r.records > 0), 1),
            opt(r.requests_per_s, 0),
            opt(lat.map(|l| l.p50_us), 0),
            opt(lat.map(|l| l.p99_us), 0),
            opt(lat.map(|l| l.p999_us), 0),
            opt(r.broker_cpu_s_per_gb, 2),
            opt(r.broker_cpu_us_per_request, 1),
            opt(r.broker_cpu_pct, 0),
            opt(r.client_cpu_pct, 0),
            opt(r.other_cpu_pct, 0),
            r.broker_mem.map(|m| mib(m.rss_kib)).unwrap_or("-".into()),
            r.broker_mem.map(|m| mib(m.hwm_kib)).unwrap_or("-".into()),
            if r.errors > 0 { format!("  ERRORS: {}", r.errors) } else { String::new() },
        ));
    }
    let startups: Vec<&Row> = rows.iter().filter(|r| !r.startup_ms.is_empty()).collect();
    if !startups.is_empty() {
        out.push('\n');
        out.push_str(&format!(
            "{:<40} {:>5} {:>10} {:>10} {:>10} {:>14} {:>16}\n",
            "startup (spawn -> first ApiVersions answer)",
            "runs",
            "median ms",
            "min ms",
            "max ms",
            "idle RSS MiB",
            "all-topics ms"
        ));
        for r in startups {
            let mut v = r.startup_ms.clone();
            v.sort_by(f64::total_cmp);
            out.push_str(&format!(
                "{:<40} {:>5} {:>10.1} {:>10.1} {:>10.1} {:>14} {:>16}{}\n",
                r.name,
                v.len(),
                v[v.len() / 2],
                v[0],
                v[v.len() - 1],
                r.broker_mem.map(|m| mib(m.rss_kib)).unwrap_or("-".into()),
                median(&r.startup_metadata_ms).map(|m| format!("{m:.1}")).unwrap_or("-".into()),
                if r.errors > 0 { format!("  ERRORS: {}", r.errors) } else { String::new() },
            ));
        }
    }
    out
}
