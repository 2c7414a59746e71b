//! Shared harness for Odradek's integration tests.
//!
//! `TestBroker` runs the real `odradek` binary as a child process on a free loopback port with
//! its own temporary data directory. The child's stderr/stdout are forwarded line by line to the
//! test's stderr (so they show up when a test fails) and kept in memory for assertions/reports.
#![allow(dead_code)]

pub mod raw;

use std::collections::HashMap;
use std::future::Future;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use tempfile::TempDir;

pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Generous timeout for client operations (debug builds on a 2-core machine).
pub const OP_TIMEOUT: Duration = Duration::from_secs(30);

/// Raises this process's soft limit on open files to `want` (at most the hard limit); brokers
/// started afterwards inherit it.
pub fn raise_nofile(want: u64) {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain getrlimit/setrlimit on a struct we own.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max.min(want.max(lim.rlim_cur));
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
}

/// Picks a free loopback port by binding port 0 and dropping the listener.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = l.local_addr().unwrap().port();
    drop(l);
    assert_ne!(port, 9092, "never use port 9092");
    port
}

/// The broker binary: `$ODRADEK_BIN` if set (e.g. a release build), else the one cargo built.
pub fn broker_bin() -> String {
    std::env::var("ODRADEK_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_odradek").to_string())
}

pub struct TestBroker {
    child: Option<Child>,
    port: u16,
    data_dir: TempDir,
    overrides: Vec<(String, String)>,
    /// Every stderr/stdout line of every incarnation of the broker.
    log: Arc<Mutex<Vec<String>>>,
    incarnation: u32,
    /// Soft RLIMIT_NOFILE the broker process starts with (None: inherited).
    nofile_soft: Option<u64>,
    /// Listeners besides the first (PLAINTEXT on `port`): name, protocol, port.
    extra_listeners: Vec<(String, String, u16)>,
}

impl TestBroker {
    /// Starts a broker with default settings.
    pub fn start() -> TestBroker {
        Self::start_with(&[])
    }

    /// Starts a broker with extra `--override key=value` settings.
    pub fn start_with(overrides: &[(&str, &str)]) -> TestBroker {
        Self::start_with_listeners(&[], overrides)
    }

    /// Starts a broker with a PLAINTEXT listener on `port()` and one more listener per
    /// `(name, protocol)`, each on its own free loopback port (`listener_port(name)`), advertised
    /// as itself; `overrides` go on top.
    pub fn start_with_listeners(listeners: &[(&str, &str)], overrides: &[(&str, &str)]) -> TestBroker {
        let overrides: Vec<(String, String)> =
            overrides.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let data_dir = tempfile::Builder::new()
            .prefix("odradek-test-")
            .tempdir()
            .expect("create temp data dir");
        let mut broker = TestBroker {
            child: None,
            port: 0,
            data_dir,
            overrides,
            log: Arc::new(Mutex::new(Vec::new())),
            incarnation: 0,
            nofile_soft: None,
            extra_listeners: Vec::new(),
        };
        // The free-port dance is racy with other tests that do the same; retry a few times with
        // a new port if the broker exits before it is ready (e.g. address in use).
        let mut last_err = String::new();
        for _ in 0..3 {
            broker.port = free_port();
            broker.extra_listeners = listeners.iter().map(|(n, p)| (n.to_string(), p.to_string(), free_port())).collect();
            match broker.spawn() {
                Ok(()) => return broker,
                Err(e) => {
                    eprintln!("[harness] broker failed to start on port {}: {e}; retrying", broker.port);
                    last_err = e;
                }
            }
        }
        panic!("broker did not start: {last_err}\n--- broker output ---\n{}", broker.log_text());
    }

    fn args(&self) -> Vec<String> {
        let mut addr = format!("PLAINTEXT://127.0.0.1:{}", self.port);
        let mut map = "PLAINTEXT:PLAINTEXT".to_string();
        for (name, protocol, port) in &self.extra_listeners {
            addr.push_str(&format!(",{name}://127.0.0.1:{port}"));
            map.push_str(&format!(",{name}:{protocol}"));
        }
        let mut args = vec![
            "--listeners".to_string(),
            addr.clone(),
            "--advertised-listeners".to_string(),
            addr,
            "--listener-security-protocol-map".to_string(),
            map,
            "--data-dir".to_string(),
            self.data_dir.path().to_str().unwrap().to_string(),
        ];
        for (k, v) in &self.overrides {
            args.push("--override".to_string());
            args.push(format!("{k}={v}"));
        }
        args
    }

    /// Spawns the broker process and waits for the `listening on` startup line.
    fn spawn(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "broker already running");
        self.incarnation += 1;
        let tag = format!("broker:{}#{}", self.port, self.incarnation);
        let args = self.args();
        let bin = broker_bin();
        eprintln!("[harness] starting {bin} {}", args.join(" "));
        let started = Instant::now();
        let mut cmd = Command::new(&bin);
        if let Some(soft) = self.nofile_soft {
            use std::os::unix::process::CommandExt;
            // SAFETY: the closure runs in the forked child before exec and only calls
            // getrlimit/setrlimit, which are async-signal-safe, on a struct it owns.
            unsafe {
                cmd.pre_exec(move || {
                    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
                    if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    lim.rlim_cur = soft.min(lim.rlim_max);
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn failed: {e}"))?;

        let (ready_tx, ready_rx) = mpsc::channel::<String>();
        let stderr = child.stderr.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        forward_lines(stderr, format!("{tag} err"), self.log.clone(), Some(ready_tx));
        forward_lines(stdout, format!("{tag} out"), self.log.clone(), None);
        self.child = Some(child);

        let deadline = started + STARTUP_TIMEOUT;
        loop {
            let now = Instant::now();
            if now >= deadline {
                self.kill_child();
                return Err(format!("no `listening on` line within {STARTUP_TIMEOUT:?}"));
            }
            match ready_rx.recv_timeout((deadline - now).min(Duration::from_millis(100))) {
                Ok(line) => {
                    let expect = format!("listening on 127.0.0.1:{}", self.port);
                    if !line.contains(&expect) {
                        eprintln!("[harness] WARNING: startup line does not contain `{expect}`: {line}");
                    }
                    eprintln!("[harness] {tag} ready after {:?}", started.elapsed());
                    return Ok(());
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                        self.child = None;
                        return Err(format!("broker exited before ready: {status}"));
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // stderr closed: the process is exiting.
                    let status = self.child.as_mut().unwrap().wait().unwrap();
                    self.child = None;
                    return Err(format!("broker closed stderr before ready: {status}"));
                }
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port of listener `name` (started with `start_with_listeners`).
    pub fn listener_port(&self, name: &str) -> u16 {
        self.extra_listeners.iter().find(|(n, _, _)| n == name).map(|(_, _, p)| *p).unwrap_or_else(|| panic!("no listener {name}"))
    }

    /// `127.0.0.1:<port>` of listener `name`.
    pub fn bootstrap_for(&self, name: &str) -> String {
        format!("127.0.0.1:{}", self.listener_port(name))
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// `<data>/<topic>-<partition>`
    pub fn partition_dir(&self, topic: &str, partition: i32) -> PathBuf {
        self.data_dir.path().join(format!("{topic}-{partition}"))
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("broker not running").id() as i32
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            None => false,
            Some(c) => c.try_wait().unwrap().is_none(),
        }
    }

    /// SIGTERM, then wait; asserts a clean exit (code 0) within 5 s.
    pub fn stop(&mut self) {
        let status = self.stop_status();
        assert!(
            status.success(),
            "broker exited uncleanly after SIGTERM: {status}\n--- broker output tail ---\n{}",
            self.log_tail(40)
        );
    }

    /// SIGTERM, then wait up to 5 s; returns the exit status (panics on timeout).
    pub fn stop_status(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("broker not running");
        let pid = child.id() as libc::pid_t;
        let t0 = Instant::now();
        // SAFETY: kill(2) takes any pid and signal; `pid` is our own unreaped child.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                eprintln!("[harness] broker:{} stopped in {:?}: {status}", self.port, t0.elapsed());
                return status;
            }
            if t0.elapsed() > STOP_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "broker did not exit within {STOP_TIMEOUT:?} of SIGTERM\n--- broker output tail ---\n{}",
                    self.log_tail(40)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILL (kill -9) and reap.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("broker not running");
        // SAFETY: kill(2) takes any pid and signal; this is our own unreaped child.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGKILL);
        }
        let status = child.wait().unwrap();
        eprintln!("[harness] broker:{} killed: {status}", self.port);
    }

    /// The soft limit on open files that later (re)starts of the broker begin with.
    pub fn set_nofile_soft(&mut self, soft: u64) {
        self.nofile_soft = Some(soft);
    }

    /// Starts the broker again with the same port, data dir and args. Stops it first (SIGTERM,
    /// asserting a clean exit) if it is still running.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
        // The port may be briefly unavailable; retry a few times.
        let mut last_err = String::new();
        for attempt in 0..5 {
            match self.spawn() {
                Ok(()) => return,
                Err(e) => {
                    eprintln!("[harness] restart attempt {attempt} failed: {e}");
                    last_err = e;
                    std::thread::sleep(Duration::from_millis(300));
                }
            }
        }
        panic!("broker did not restart: {last_err}\n--- broker output tail ---\n{}", self.log_tail(60));
    }

    fn kill_child(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// All broker output lines so far (all incarnations).
    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    pub fn log_text(&self) -> String {
        self.log_lines().join("\n")
    }

    pub fn log_tail(&self, n: usize) -> String {
        let lines = self.log_lines();
        let start = lines.len().saturating_sub(n);
        lines[start..].join("\n")
    }

    // ---------------------------------------------------------------- rdkafka helpers

    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", self.bootstrap())
            .set("broker.address.family", "v4")
            .set("client.id", "odradek-it");
        c
    }

    /// acks=all, no idempotence (no InitProducerId in this broker version), short linger.
    pub fn producer_config(&self) -> ClientConfig {
        let mut c = self.client_config();
        c.set("acks", "all")
            .set("enable.idempotence", "false")
            .set("linger.ms", "5")
            .set("message.timeout.ms", "30000")
            .set("queue.buffering.max.messages", "500000")
            .set("queue.buffering.max.kbytes", "1048576");
        c
    }

    pub fn producer(&self) -> FutureProducer {
        self.producer_config().create().expect("create producer")
    }

    pub fn producer_with(&self, extra: &[(&str, &str)]) -> FutureProducer {
        let mut c = self.producer_config();
        for (k, v) in extra {
            c.set(*k, *v);
        }
        c.create().expect("create producer")
    }

    /// Consumer config for assign()-only consumption: a group.id is set because librdkafka's
    /// assign() requires one, but we never subscribe or commit.
    pub fn consumer_config(&self) -> ClientConfig {
        let mut c = self.client_config();
        c.set("group.id", "odradek-it-assign-only")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "error")
            .set("enable.partition.eof", "false")
            .set("fetch.wait.max.ms", "200");
        c
    }

    pub fn consumer(&self) -> BaseConsumer {
        self.consumer_config().create().expect("create consumer")
    }

    pub fn consumer_with(&self, extra: &[(&str, &str)]) -> BaseConsumer {
        let mut c = self.consumer_config();
        for (k, v) in extra {
            c.set(*k, *v);
        }
        c.create().expect("create consumer")
    }

    pub fn admin(&self) -> AdminClient<DefaultClientContext> {
        self.client_config().create().expect("create admin client")
    }

    /// Creates a topic through the admin API and asserts success.
    pub fn create_topic(&self, name: &str, partitions: i32, configs: &[(&str, &str)]) {
        let admin = self.admin();
        let mut nt = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        for (k, v) in configs {
            nt = nt.set(k, v);
        }
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        let res = block_on(admin.create_topics([&nt], &opts)).expect("create_topics request");
        assert_eq!(res.len(), 1);
        assert_eq!(res[0], Ok(name.to_string()), "create topic {name}");
        wait_for_topic(&admin_meta_client(self), name, partitions);
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.kill_child();
    }
}

fn admin_meta_client(b: &TestBroker) -> BaseConsumer {
    // A consumer never auto-creates topics through metadata requests (allow.auto.create.topics
    // defaults to false for consumers).
    b.consumer()
}

/// Waits until metadata shows `topic` with `partitions` partitions and no errors.
pub fn wait_for_topic<C: Consumer>(c: &C, topic: &str, partitions: i32) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let md = c.fetch_metadata(Some(topic), Duration::from_secs(5));
        if let Ok(md) = &md {
            if let Some(t) = md.topics().iter().find(|t| t.name() == topic) {
                if t.error().is_none()
                    && t.partitions().len() == partitions as usize
                    && t.partitions().iter().all(|p| p.error().is_none() && p.leader() == 0)
                {
                    return;
                }
            }
        }
        if Instant::now() > deadline {
            panic!("topic {topic} with {partitions} partitions never appeared in metadata: {:?}",
                md.map(|m| m.topics().iter().map(|t| (t.name().to_string(), t.error(), t.partitions().len())).collect::<Vec<_>>()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn forward_lines<R: Read + Send + 'static>(
    r: R,
    tag: String,
    log: Arc<Mutex<Vec<String>>>,
    ready: Option<mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        let mut ready = ready;
        let reader = BufReader::new(r);
        for line in reader.split(b'\n') {
            let Ok(line) = line else { break };
            let line = String::from_utf8_lossy(&line).trim_end().to_string();
            eprintln!("[{tag}] {line}");
            log.lock().unwrap().push(line.clone());
            if line.contains("listening on") {
                if let Some(tx) = ready.take() {
                    let _ = tx.send(line);
                }
            }
        }
    });
}

// -------------------------------------------------------------------- misc helpers

pub fn block_on<F: Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

/// Unique-ish topic name for a test.
pub fn topic_name(prefix: &str) -> String {
    let n: u32 = rand::random();
    format!("{prefix}-{n:08x}")
}

/// Enqueues a record, retrying while librdkafka's local queue is full.
pub fn send_retry(producer: &FutureProducer, mut rec: FutureRecord<'_, [u8], [u8]>) -> DeliveryFuture {
    let deadline = Instant::now() + OP_TIMEOUT;
    loop {
        match producer.send_result(rec) {
            Ok(f) => return f,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) if Instant::now() < deadline => {
                rec = r;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err((e, _)) => panic!("enqueue failed: {e}"),
        }
    }
}

/// Awaits a delivery report, panicking on failure; returns (partition, offset).
pub fn await_delivery(f: DeliveryFuture) -> (i32, i64) {
    match block_on(f) {
        Ok(Ok(d)) => (d.partition, d.offset),
        Ok(Err((e, m))) => panic!("delivery failed: {e} (topic {} partition {})", m.topic(), m.partition()),
        Err(_) => panic!("delivery future cancelled"),
    }
}

/// Produces one record synchronously (acks per producer config) and returns (partition, offset).
pub fn produce_one(producer: &FutureProducer, topic: &str, partition: Option<i32>, key: &[u8], value: &[u8]) -> (i32, i64) {
    let mut rec = FutureRecord::<[u8], [u8]>::to(topic).key(key).payload(value);
    if let Some(p) = partition {
        rec = rec.partition(p);
    }
    await_delivery(send_retry(producer, rec))
}

/// A consumed record, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumed {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub timestamp: Option<i64>,
}

impl Consumed {
    pub fn from_msg(m: &BorrowedMessage<'_>) -> Consumed {
        let headers = m
            .headers()
            .map(|h| h.iter().map(|h| (h.key.to_string(), h.value.map(|v| v.to_vec()))).collect())
            .unwrap_or_default();
        Consumed {
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(|k| k.to_vec()),
            value: m.payload().map(|v| v.to_vec()),
            headers,
            timestamp: m.timestamp().to_millis(),
        }
    }
}

/// Assigns `topic` partitions at the given start offsets.
pub fn assign(consumer: &BaseConsumer, topic: &str, starts: &[(i32, i64)]) {
    let mut tpl = TopicPartitionList::new();
    for &(p, o) in starts {
        tpl.add_partition_offset(topic, p, Offset::Offset(o)).unwrap();
    }
    consumer.assign(&tpl).expect("assign");
}

/// Polls until `n` records have been received (or the timeout expires, which panics).
/// Poll errors are logged and tolerated (they usually are transient), but reported on timeout.
pub fn poll_n(consumer: &BaseConsumer, n: usize, timeout: Duration) -> Vec<Consumed> {
    let mut out = Vec::with_capacity(n);
    let deadline = Instant::now() + timeout;
    let mut errors: Vec<String> = Vec::new();
    while out.len() < n {
        if Instant::now() > deadline {
            panic!(
                "timed out after {timeout:?}: received {} of {n} records; poll errors: {errors:?}; last received: {:?}",
                out.len(),
                out.last().map(|c: &Consumed| (c.partition, c.offset))
            );
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(m)) => out.push(Consumed::from_msg(&m)),
            Some(Err(e)) => {
                eprintln!("[harness] consumer poll error: {e}");
                if errors.len() < 20 {
                    errors.push(e.to_string());
                }
            }
        }
    }
    out
}

/// Polls for `quiet` and asserts that no further record arrives.
pub fn assert_no_more(consumer: &BaseConsumer, quiet: Duration) {
    let deadline = Instant::now() + quiet;
    while Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(50)) {
            panic!("unexpected extra record: partition {} offset {}", m.partition(), m.offset());
        }
    }
}

/// Reads all of `topic`'s partitions from offset 0 up to their high watermarks.
pub fn read_all(b: &TestBroker, topic: &str, partitions: i32) -> HashMap<i32, Vec<Consumed>> {
    let c = b.consumer();
    let mut total = 0usize;
    let mut hw = HashMap::new();
    for p in 0..partitions {
        let (lo, hi) = c.fetch_watermarks(topic, p, OP_TIMEOUT).expect("fetch_watermarks");
        assert_eq!(lo, 0, "log start offset of {topic}-{p}");
        hw.insert(p, hi);
        total += hi as usize;
    }
    let starts: Vec<(i32, i64)> = (0..partitions).map(|p| (p, 0)).collect();
    assign(&c, topic, &starts);
    let all = poll_n(&c, total, Duration::from_secs(60));
    let mut by_p: HashMap<i32, Vec<Consumed>> = (0..partitions).map(|p| (p, Vec::new())).collect();
    for r in all {
        by_p.get_mut(&r.partition).unwrap().push(r);
    }
    for (p, recs) in &by_p {
        for (i, r) in recs.iter().enumerate() {
            assert_eq!(r.offset, i as i64, "{topic}-{p}: offsets must be contiguous from 0");
        }
        assert_eq!(recs.len() as i64, hw[p], "{topic}-{p}: record count vs high watermark");
    }
    by_p
}

/// Lists `*.log` segment files of a partition directory, sorted by base offset.
pub fn segment_files(dir: &Path) -> Vec<(i64, PathBuf)> {
    let mut v: Vec<(i64, PathBuf)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().map(|x| x == "log").unwrap_or(false))
        .filter_map(|p| {
            let stem = p.file_stem()?.to_str()?.to_string();
            let base: i64 = stem.parse().ok()?;
            Some((base, p))
        })
        .collect();
    v.sort();
    v
}

/// One record batch header found in a segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub last_offset_delta: i32,
    pub file_pos: usize,
    /// Total size including the 12-byte offset+length prefix.
    pub size: usize,
}

/// Walks the v2 record batch headers of a segment file's bytes, stopping at the first thing that
/// is not a complete batch following on from the previous one.
pub fn log_batches(data: &[u8]) -> Vec<BatchHeader> {
    let mut out: Vec<BatchHeader> = Vec::new();
    let mut pos = 0usize;
    while pos + 27 <= data.len() {
        let base = i64::from_be_bytes(data[pos..pos + 8].try_into().unwrap());
        let len = i32::from_be_bytes(data[pos + 8..pos + 12].try_into().unwrap());
        if len < 49 || pos + 12 + len as usize > data.len() || data[pos + 16] != 2 {
            break;
        }
        if let Some(prev) = out.last() {
            if base != prev.base_offset + prev.last_offset_delta as i64 + 1 {
                break;
            }
        }
        let delta = i32::from_be_bytes(data[pos + 23..pos + 27].try_into().unwrap());
        out.push(BatchHeader { base_offset: base, last_offset_delta: delta, file_pos: pos, size: 12 + len as usize });
        pos += 12 + len as usize;
    }
    out
}

/// One uncompressed v2 batch (base offset 0, no producer id) of one record, as a client sends it.
pub fn one_record_batch(key: &[u8], value: &[u8], timestamp: i64) -> bytes::Bytes {
    let rec = odradek::log::records::plain_record(0, timestamp, Some(bytes::Bytes::copy_from_slice(key)), Some(bytes::Bytes::copy_from_slice(value)));
    odradek::log::records::encode([&rec], kafka_protocol::records::Compression::None).expect("encode a batch").freeze()
}
