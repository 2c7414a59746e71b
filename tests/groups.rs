//! Consumer-group integration tests: real librdkafka consumers (rdkafka 0.39) in `subscribe()`
//! mode against the real broker binary.
//!
//! Every member runs in its own thread (or, for the "killed member" test, in a child process that
//! re-executes this test binary, see `zz_child_consumer_process`). Each member reports its
//! rebalance callbacks to a shared `Tracker` that records which member owns which partition:
//! ownership starts in `pre_rebalance(Assign)` and ends in `pre_rebalance(Revoke)`; a member
//! can only be given a partition after every previous owner has revoked it and rejoined, so an
//! assignment of a partition that another member still owns is reported as overlap, and so is a
//! record received from a partition the member does not own.
//! Members commit every record synchronously right after receiving it, and commit the positions
//! of revoked partitions in the revoke callback, so a rebalance never causes re-delivery and
//! "every record exactly once" is a strict check.
//!
//! All waits poll with deadlines; the only fixed-length windows are the ones that assert that
//! something does NOT happen (static membership: no rebalance).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use common::*;
use kafka_protocol::messages::offset_delete_request::{OffsetDeleteRequestPartition, OffsetDeleteRequestTopic};
use kafka_protocol::messages::{GroupId, OffsetDeleteRequest, OffsetDeleteResponse, RequestHeader, ResponseHeader, TopicName};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use rdkafka::admin::AdminOptions;
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, RebalanceProtocol};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::Message;
use rdkafka::producer::FutureProducer;
use rdkafka::{Offset, TopicPartitionList};

/// Fast rebalances: short initial delay, and short session timeouts allowed.
const GROUP_OVERRIDES: &[(&str, &str)] = &[
    ("group.initial.rebalance.delay.ms", "200"),
    ("group.min.session.timeout.ms", "1000"),
];

const HEARTBEAT_MS: u64 = 300;
/// Session timeout of in-process members unless a test says otherwise: long, so that a prompt
/// hand-over can only come from LeaveGroup / a proper rebalance, never from an expiry.
const LONG_SESSION_MS: u64 = 10_000;

fn start_broker() -> TestBroker {
    TestBroker::start_with(GROUP_OVERRIDES)
}

// ====================================================================== ownership tracking

#[derive(Default)]
struct TrackerInner {
    /// partition -> owning member
    owner: BTreeMap<i32, String>,
    violations: Vec<String>,
    log: Vec<String>,
}

struct Tracker {
    t0: Instant,
    inner: Mutex<TrackerInner>,
}

impl Tracker {
    fn new() -> Arc<Tracker> {
        Arc::new(Tracker { t0: Instant::now(), inner: Mutex::new(TrackerInner::default()) })
    }

    fn stamp(&self) -> String {
        format!("{:>6}ms", self.t0.elapsed().as_millis())
    }

    fn assign(&self, member: &str, parts: &[i32]) {
        let stamp = self.stamp();
        let mut g = self.inner.lock().unwrap();
        for &p in parts {
            if let Some(o) = g.owner.get(&p) {
                if o != member {
                    let v = format!("{stamp}: partition {p} assigned to {member} while {o} still owns it");
                    g.violations.push(v);
                }
            }
            g.owner.insert(p, member.to_string());
        }
        g.log.push(format!("{stamp} {member} +{parts:?}"));
    }

    fn revoke(&self, member: &str, parts: &[i32]) {
        let stamp = self.stamp();
        let mut g = self.inner.lock().unwrap();
        for &p in parts {
            if g.owner.get(&p).map(|s| s.as_str()) == Some(member) {
                g.owner.remove(&p);
            }
        }
        g.log.push(format!("{stamp} {member} -{parts:?}"));
    }

    /// Ownership of a member that can no longer consume (killed process).
    fn release_all(&self, member: &str) -> BTreeSet<i32> {
        let stamp = self.stamp();
        let mut g = self.inner.lock().unwrap();
        let mine: BTreeSet<i32> = g.owner.iter().filter(|(_, o)| o.as_str() == member).map(|(p, _)| *p).collect();
        g.owner.retain(|_, o| o != member);
        g.log.push(format!("{stamp} {member} released {mine:?} (process killed)"));
        mine
    }

    fn owner_of(&self, p: i32) -> Option<String> {
        self.inner.lock().unwrap().owner.get(&p).cloned()
    }

    fn snapshot(&self) -> BTreeMap<String, BTreeSet<i32>> {
        let g = self.inner.lock().unwrap();
        let mut m: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
        for (p, o) in &g.owner {
            m.entry(o.clone()).or_default().insert(*p);
        }
        m
    }

    fn owned_by(&self, member: &str) -> BTreeSet<i32> {
        self.snapshot().remove(member).unwrap_or_default()
    }

    fn violation(&self, v: String) {
        let stamp = self.stamp();
        self.inner.lock().unwrap().violations.push(format!("{stamp}: {v}"));
    }

    fn violations(&self) -> Vec<String> {
        self.inner.lock().unwrap().violations.clone()
    }

    fn describe(&self) -> String {
        let g = self.inner.lock().unwrap();
        let start = g.log.len().saturating_sub(40);
        format!(
            "ownership now: {:?}\nviolations: {:?}\nrebalance events (last 40):\n  {}",
            g.owner,
            g.violations,
            g.log[start..].join("\n  ")
        )
    }
}

/// Per-member counters and errors.
#[derive(Default)]
struct MemberStats {
    assigns: AtomicUsize,
    revokes: AtomicUsize,
    /// rebalance callbacks in order: ('+' assign / '-' revoke, partitions)
    events: Mutex<Vec<(char, Vec<i32>)>>,
    errors: Mutex<Vec<String>>,
    protocol: Mutex<String>,
    closed: AtomicBool,
}

impl MemberStats {
    fn error(&self, e: String) {
        let mut g = self.errors.lock().unwrap();
        if g.len() < 50 {
            g.push(e);
        }
    }
    fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }
    fn events(&self) -> Vec<(char, Vec<i32>)> {
        self.events.lock().unwrap().clone()
    }
}

/// One consumed record.
#[derive(Debug, Clone)]
struct Rec {
    member: String,
    partition: i32,
    offset: i64,
    key: String,
}

#[derive(Default)]
struct Sink {
    recs: Mutex<Vec<Rec>>,
}

impl Sink {
    fn new() -> Arc<Sink> {
        Arc::new(Sink::default())
    }
    fn push(&self, r: Rec) {
        self.recs.lock().unwrap().push(r);
    }
    fn all(&self) -> Vec<Rec> {
        self.recs.lock().unwrap().clone()
    }
    fn len(&self) -> usize {
        self.recs.lock().unwrap().len()
    }
}

fn parts_of(tpl: &TopicPartitionList, topic: &str) -> Vec<i32> {
    let mut v: Vec<i32> = tpl.elements().iter().filter(|e| e.topic() == topic).map(|e| e.partition()).collect();
    v.sort();
    v
}

struct TrackCtx {
    name: String,
    topic: String,
    tracker: Arc<Tracker>,
    stats: Arc<MemberStats>,
    /// partition -> next offset to read (last received + 1), kept by the polling thread.
    positions: Arc<Mutex<HashMap<i32, i64>>>,
    /// Commit the positions of revoked partitions in the revoke callback (the usual
    /// ConsumerRebalanceListener pattern). Needed with cooperative-sticky: members keep consuming
    /// during the rebalance, so a per-record commit can legitimately fail with ILLEGAL_GENERATION /
    /// REBALANCE_IN_PROGRESS (as with Kafka), and the revoke-time commit is what hands over the
    /// exact position.
    commit_on_revoke: bool,
}

impl ClientContext for TrackCtx {}

impl ConsumerContext for TrackCtx {
    fn pre_rebalance(&self, c: &BaseConsumer<Self>, r: &Rebalance<'_>) {
        match r {
            Rebalance::Assign(tpl) => {
                let ps = parts_of(tpl, &self.topic);
                self.tracker.assign(&self.name, &ps);
                self.stats.assigns.fetch_add(1, Ordering::SeqCst);
                self.stats.events.lock().unwrap().push(('+', ps));
            }
            Rebalance::Revoke(tpl) => {
                let ps = parts_of(tpl, &self.topic);
                // Ownership ends here, not in post_rebalance: librdkafka's assign()/
                // incremental_unassign() inside the callback lets its own thread rejoin the group
                // at once, so other members may legitimately be assigned these partitions before
                // post_rebalance runs. No record can be delivered to this member in between (this
                // whole callback runs inside one poll call).
                self.tracker.revoke(&self.name, &ps);
                self.stats.revokes.fetch_add(1, Ordering::SeqCst);
                self.stats.events.lock().unwrap().push(('-', ps.clone()));
                let mut pos = self.positions.lock().unwrap();
                let mut commit = TopicPartitionList::new();
                for p in &ps {
                    if let Some(o) = pos.remove(p) {
                        commit.add_partition_offset(&self.topic, *p, Offset::Offset(o)).unwrap();
                    }
                }
                drop(pos);
                if self.commit_on_revoke && commit.count() > 0 {
                    if let Err(e) = c.commit(&commit, CommitMode::Sync) {
                        self.stats.error(format!("sync commit of revoked partitions {commit:?} failed: {e}"));
                    }
                }
            }
            Rebalance::Error(e) => self.stats.error(format!("rebalance error: {e}")),
        }
    }

}

fn protocol_name(p: RebalanceProtocol) -> &'static str {
    match p {
        RebalanceProtocol::None => "None",
        RebalanceProtocol::Eager => "Eager",
        RebalanceProtocol::Cooperative => "Cooperative",
    }
}

// ====================================================================== group members

/// Config shared by in-process members and the child-process member.
fn member_config(bootstrap: &str, group: &str, name: &str, session_ms: u64) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("client.id", name)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("session.timeout.ms", session_ms.to_string())
        .set("heartbeat.interval.ms", HEARTBEAT_MS.to_string())
        .set("max.poll.interval.ms", "20000")
        .set("fetch.wait.max.ms", "100");
    c
}

struct MemberSpec {
    name: String,
    group: String,
    topic: String,
    session_ms: u64,
    extra: Vec<(String, String)>,
    /// Commit only records with offset < this (None: commit every record).
    commit_below: Option<i64>,
}

impl MemberSpec {
    fn new(name: &str, group: &str, topic: &str) -> MemberSpec {
        MemberSpec {
            name: name.to_string(),
            group: group.to_string(),
            topic: topic.to_string(),
            session_ms: LONG_SESSION_MS,
            extra: Vec::new(),
            commit_below: None,
        }
    }
    fn set(mut self, k: &str, v: &str) -> Self {
        self.extra.push((k.to_string(), v.to_string()));
        self
    }
    fn session_ms(mut self, ms: u64) -> Self {
        self.session_ms = ms;
        self
    }
    fn commit_below(mut self, o: i64) -> Self {
        self.commit_below = Some(o);
        self
    }
}

/// A subscribed consumer polling in its own thread.
struct Member {
    name: String,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
    stats: Arc<MemberStats>,
}

impl Member {
    fn start(b: &TestBroker, spec: MemberSpec, tracker: &Arc<Tracker>, sink: &Arc<Sink>) -> Member {
        let mut cfg = member_config(&b.bootstrap(), &spec.group, &spec.name, spec.session_ms);
        for (k, v) in &spec.extra {
            cfg.set(k, v);
        }
        let stats = Arc::new(MemberStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let positions = Arc::new(Mutex::new(HashMap::new()));
        let ctx = TrackCtx {
            name: spec.name.clone(),
            topic: spec.topic.clone(),
            tracker: tracker.clone(),
            stats: stats.clone(),
            positions: positions.clone(),
            commit_on_revoke: spec.commit_below.is_none(),
        };
        let (tracker, sink, st, stop2) = (tracker.clone(), sink.clone(), stats.clone(), stop.clone());
        let name = spec.name.clone();
        let handle = std::thread::Builder::new()
            .name(format!("member-{name}"))
            .spawn(move || {
                let consumer: BaseConsumer<TrackCtx> = cfg.create_with_context(ctx).expect("create member consumer");
                consumer.subscribe(&[spec.topic.as_str()]).expect("subscribe");
                while !stop2.load(Ordering::SeqCst) {
                    match consumer.poll(Duration::from_millis(50)) {
                        None => {}
                        Some(Err(e)) => st.error(format!("poll: {e}")),
                        Some(Ok(m)) => {
                            let (p, o) = (m.partition(), m.offset());
                            let owner = tracker.owner_of(p);
                            if owner.as_deref() != Some(name.as_str()) {
                                tracker.violation(format!(
                                    "{name} received {}-{p}@{o} while the partition is owned by {owner:?}",
                                    m.topic()
                                ));
                            }
                            let key = m.key().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default();
                            sink.push(Rec { member: name.clone(), partition: p, offset: o, key });
                            positions.lock().unwrap().insert(p, o + 1);
                            if spec.commit_below.is_none_or(|lim| o < lim) {
                                if let Err(e) = consumer.commit_message(&m, CommitMode::Sync) {
                                    st.error(format!("sync commit of {p}@{o} failed: {e}"));
                                }
                            }
                        }
                    }
                    *st.protocol.lock().unwrap() = protocol_name(consumer.rebalance_protocol()).to_string();
                }
                // Dropping closes the consumer: revoke callback, LeaveGroup (dynamic members).
                drop(consumer);
                st.closed.store(true, Ordering::SeqCst);
            })
            .expect("spawn member thread");
        Member { name: spec.name, stop, handle: Some(handle), stats }
    }

    fn assigns(&self) -> usize {
        self.stats.assigns.load(Ordering::SeqCst)
    }
    fn revokes(&self) -> usize {
        self.stats.revokes.load(Ordering::SeqCst)
    }

    /// Stops polling and closes the consumer; waits (bounded) for the close to finish.
    fn close(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        join_bounded(self.handle.take().unwrap(), &format!("close of member {}", self.name));
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        // Never block in drop (a panicking test may have a dead broker): just detach.
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn join_bounded(h: JoinHandle<()>, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !h.is_finished() {
        if Instant::now() > deadline {
            panic!("{what} did not finish within 30 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    if h.join().is_err() {
        panic!("{what}: thread panicked");
    }
}

/// Closes several members concurrently (one rebalance instead of one per member).
fn close_all(members: Vec<Member>) {
    for m in &members {
        m.stop.store(true, Ordering::SeqCst);
    }
    for m in members {
        m.close();
    }
}

fn member_errors(members: &[&Member]) -> String {
    members
        .iter()
        .map(|m| format!("{}: errors {:?}", m.name, m.stats.errors()))
        .collect::<Vec<_>>()
        .join("\n")
}

// ====================================================================== child-process member

const CHILD_ENV: &str = "ODRADEK_GROUPS_CHILD";

/// Not a test of its own: when the environment variable ODRADEK_GROUPS_CHILD is set, this runs a
/// group member until it is killed (the parent test re-executes this binary with only this
/// test selected). It reports on stdout: `@@ASSIGN p,p`, `@@REVOKE p,p`, `@@MSG p o key` (after
/// the synchronous commit of that record), `@@ERR ...`.
#[test]
fn zz_child_consumer_process() {
    let Ok(spec) = std::env::var(CHILD_ENV) else { return };
    let f: Vec<&str> = spec.split('|').collect();
    let (bootstrap, group, topic, name, session_ms) = (f[0], f[1], f[2], f[3], f[4].parse::<u64>().unwrap());

    struct ChildCtx {
        topic: String,
    }
    fn say(s: String) {
        let out = std::io::stdout();
        let mut l = out.lock();
        let _ = writeln!(l, "{s}");
        let _ = l.flush();
    }
    fn join(ps: &[i32]) -> String {
        ps.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(",")
    }
    impl ClientContext for ChildCtx {}
    impl ConsumerContext for ChildCtx {
        fn pre_rebalance(&self, _c: &BaseConsumer<Self>, r: &Rebalance<'_>) {
            match r {
                Rebalance::Assign(tpl) => say(format!("@@ASSIGN {}", join(&parts_of(tpl, &self.topic)))),
                Rebalance::Error(e) => say(format!("@@ERR rebalance error: {e}")),
                Rebalance::Revoke(tpl) => say(format!("@@REVOKE {}", join(&parts_of(tpl, &self.topic)))),
            }
        }
    }

    let cfg = member_config(bootstrap, group, name, session_ms);
    let consumer: BaseConsumer<ChildCtx> =
        cfg.create_with_context(ChildCtx { topic: topic.to_string() }).expect("child: create consumer");
    consumer.subscribe(&[topic]).expect("child: subscribe");
    let deadline = Instant::now() + Duration::from_secs(120); // safety net if the parent vanished
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(50)) {
            None => {}
            Some(Err(e)) => say(format!("@@ERR poll: {e}")),
            Some(Ok(m)) => {
                let key = m.key().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default();
                if let Err(e) = consumer.commit_message(&m, CommitMode::Sync) {
                    say(format!("@@ERR sync commit of {}@{} failed: {e}", m.partition(), m.offset()));
                }
                say(format!("@@MSG {} {} {key}", m.partition(), m.offset()));
            }
        }
    }
    std::process::exit(3);
}

/// A group member running in a child process (no LeaveGroup when SIGKILLed).
struct ChildMember {
    name: String,
    child: Option<Child>,
    stats: Arc<MemberStats>,
}

impl ChildMember {
    fn spawn(
        b: &TestBroker,
        group: &str,
        topic: &str,
        name: &str,
        session_ms: u64,
        tracker: &Arc<Tracker>,
        sink: &Arc<Sink>,
    ) -> ChildMember {
        let spec = format!("{}|{group}|{topic}|{name}|{session_ms}", b.bootstrap());
        let exe = std::env::current_exe().expect("current_exe");
        let mut child = Command::new(exe)
            .args(["zz_child_consumer_process", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, spec)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn child consumer");
        let stats = Arc::new(MemberStats::default());
        let (out, err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let (tracker, sink, st, nm) = (tracker.clone(), sink.clone(), stats.clone(), name.to_string());
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                // libtest prints "test zz_child_consumer_process ... " without a newline first.
                let line = match line.find("@@") {
                    Some(i) => line[i..].to_string(),
                    None => line,
                };
                let parse = |s: &str| -> Vec<i32> { s.split(',').filter(|x| !x.is_empty()).map(|x| x.parse().unwrap()).collect() };
                if let Some(rest) = line.strip_prefix("@@ASSIGN ") {
                    let ps = parse(rest);
                    tracker.assign(&nm, &ps);
                    st.assigns.fetch_add(1, Ordering::SeqCst);
                    st.events.lock().unwrap().push(('+', ps));
                } else if line == "@@ASSIGN" {
                    tracker.assign(&nm, &[]);
                    st.assigns.fetch_add(1, Ordering::SeqCst);
                } else if let Some(rest) = line.strip_prefix("@@REVOKE") {
                    let ps = parse(rest.trim());
                    tracker.revoke(&nm, &ps);
                    st.revokes.fetch_add(1, Ordering::SeqCst);
                    st.events.lock().unwrap().push(('-', ps));
                } else if let Some(rest) = line.strip_prefix("@@MSG ") {
                    let mut it = rest.splitn(3, ' ');
                    let p: i32 = it.next().unwrap().parse().unwrap();
                    let o: i64 = it.next().unwrap().parse().unwrap();
                    let key = it.next().unwrap_or("").to_string();
                    let owner = tracker.owner_of(p);
                    if owner.as_deref() != Some(nm.as_str()) {
                        tracker.violation(format!("{nm} received partition {p}@{o} while it is owned by {owner:?}"));
                    }
                    sink.push(Rec { member: nm.clone(), partition: p, offset: o, key });
                } else if let Some(rest) = line.strip_prefix("@@ERR ") {
                    st.error(rest.to_string());
                } else {
                    eprintln!("[child {nm} out] {line}");
                }
            }
        });
        let nm = name.to_string();
        std::thread::spawn(move || {
            let mut s = String::new();
            let mut err = err;
            let _ = err.read_to_string(&mut s);
            for l in s.lines() {
                eprintln!("[child {nm} err] {l}");
            }
        });
        ChildMember { name: name.to_string(), child: Some(child), stats }
    }

    fn kill9(&mut self) {
        let mut c = self.child.take().expect("child not running");
        // SAFETY: kill(2) takes any pid and signal; this is our own unreaped child.
        unsafe {
            libc::kill(c.id() as libc::pid_t, libc::SIGKILL);
        }
        let st = c.wait().expect("wait child");
        eprintln!("[test] child member {} killed: {st}", self.name);
    }
}

impl Drop for ChildMember {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

// ====================================================================== producing and checking

/// (partition, offset) -> key
type Expected = HashMap<(i32, i64), String>;

/// Produces `per_partition` records to each partition (explicit partitions), returns where each
/// one landed.
fn produce(producer: &FutureProducer, topic: &str, partitions: i32, per_partition: usize, tag: &str) -> Expected {
    let mut futs = Vec::new();
    for i in 0..per_partition {
        for p in 0..partitions {
            let key = format!("{tag}-p{p}-{i}");
            let rec = rdkafka::producer::FutureRecord::<[u8], [u8]>::to(topic)
                .partition(p)
                .key(key.as_bytes())
                .payload(b"v");
            let f = send_retry(producer, rec);
            futs.push((key, f));
        }
    }
    let mut out = Expected::new();
    for (key, f) in futs {
        let (p, o) = await_delivery(f);
        out.insert((p, o), key);
    }
    out
}

/// Produces continuously (one record per partition every ~20 ms) until finished.
struct BgProducer {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Expected>,
}

impl BgProducer {
    fn start(b: &TestBroker, topic: &str, partitions: i32, tag: &str) -> BgProducer {
        let producer = b.producer();
        let stop = Arc::new(AtomicBool::new(false));
        let (s2, topic, tag) = (stop.clone(), topic.to_string(), tag.to_string());
        let handle = std::thread::spawn(move || {
            let mut out = Expected::new();
            let mut round = 0usize;
            loop {
                out.extend(produce(&producer, &topic, partitions, 1, &format!("{tag}{round}")));
                round += 1;
                if s2.load(Ordering::SeqCst) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            out
        });
        BgProducer { stop, handle }
    }

    fn finish(self) -> Expected {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().expect("producer thread")
    }
}

/// Problems with "every expected record consumed exactly once, nothing else".
fn exactly_once_problems(expected: &Expected, recs: &[Rec]) -> Vec<String> {
    let mut seen: HashMap<(i32, i64), Vec<&Rec>> = HashMap::new();
    for r in recs {
        seen.entry((r.partition, r.offset)).or_default().push(r);
    }
    let mut problems = Vec::new();
    let mut keys: Vec<_> = expected.keys().copied().collect();
    keys.sort();
    for k in &keys {
        match seen.get(k) {
            None => problems.push(format!("missing {}@{} ({})", k.0, k.1, expected[k])),
            Some(v) if v.len() > 1 => problems.push(format!(
                "{}@{} consumed {} times, by {:?}",
                k.0,
                k.1,
                v.len(),
                v.iter().map(|r| r.member.as_str()).collect::<Vec<_>>()
            )),
            Some(v) if v[0].key != expected[k] => {
                problems.push(format!("{}@{}: key {:?}, produced {:?}", k.0, k.1, v[0].key, expected[k]))
            }
            _ => {}
        }
    }
    for (k, v) in &seen {
        if !expected.contains_key(k) {
            problems.push(format!("unexpected record {}@{} (key {:?}, by {})", k.0, k.1, v[0].key, v[0].member));
        }
    }
    problems.sort();
    problems
}

fn assert_exactly_once(what: &str, expected: &Expected, sink: &Sink, diag: &dyn Fn() -> String) {
    let problems = exactly_once_problems(expected, &sink.all());
    assert!(
        problems.is_empty(),
        "{what}: {} problem(s) with 'every record exactly once' ({} expected, {} received); first: {:#?}\n{}",
        problems.len(),
        expected.len(),
        sink.len(),
        &problems[..problems.len().min(30)],
        diag()
    );
}

/// Waits until every expected record has been received at least once.
fn wait_all_consumed(what: &str, expected: &Expected, sink: &Sink, timeout: Duration, diag: &dyn Fn() -> String) {
    let deadline = Instant::now() + timeout;
    loop {
        let recs = sink.all();
        let seen: BTreeSet<(i32, i64)> = recs.iter().map(|r| (r.partition, r.offset)).collect();
        let missing: Vec<_> = expected.keys().filter(|k| !seen.contains(k)).collect();
        if missing.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            let mut m: Vec<_> = missing.into_iter().copied().collect();
            m.sort();
            panic!(
                "{what}: {} of {} records not consumed within {timeout:?}; first missing: {:?}\n{}",
                m.len(),
                expected.len(),
                &m[..m.len().min(20)],
                diag()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool, diag: &dyn Fn() -> String) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for: {what}\n{}", diag());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ====================================================================== group admin helpers

#[derive(Debug, Clone)]
struct MemberDesc {
    id: String,
    client_id: String,
    /// decoded ConsumerProtocolAssignment: (topic, partition)
    assignment: BTreeSet<(String, i32)>,
}

#[derive(Debug, Clone)]
struct GroupDesc {
    name: String,
    state: String,
    protocol_type: String,
    protocol: String,
    members: Vec<MemberDesc>,
}

/// Decodes a ConsumerProtocolAssignment (v0-v3: version, [topic, [partition]], user data).
fn decode_assignment(b: &[u8]) -> Result<BTreeSet<(String, i32)>, String> {
    let mut out = BTreeSet::new();
    if b.is_empty() {
        return Ok(out);
    }
    let mut pos = 0usize;
    let mut take = |n: usize| -> Result<&[u8], String> {
        if pos + n > b.len() {
            return Err(format!("assignment truncated at {pos} (+{n}) of {}: {b:02x?}", b.len()));
        }
        let s = &b[pos..pos + n];
        pos += n;
        Ok(s)
    };
    let _version = i16::from_be_bytes(take(2)?.try_into().unwrap());
    let ntopics = i32::from_be_bytes(take(4)?.try_into().unwrap());
    for _ in 0..ntopics.max(0) {
        let len = i16::from_be_bytes(take(2)?.try_into().unwrap());
        let topic = String::from_utf8_lossy(take(len.max(0) as usize)?).into_owned();
        let np = i32::from_be_bytes(take(4)?.try_into().unwrap());
        for _ in 0..np.max(0) {
            let p = i32::from_be_bytes(take(4)?.try_into().unwrap());
            out.insert((topic.clone(), p));
        }
    }
    Ok(out)
}

fn group_desc(info: &rdkafka::groups::GroupInfo) -> GroupDesc {
    GroupDesc {
        name: info.name().to_string(),
        state: info.state().to_string(),
        protocol_type: info.protocol_type().to_string(),
        protocol: info.protocol().to_string(),
        members: info
            .members()
            .iter()
            .map(|m| MemberDesc {
                id: m.id().to_string(),
                client_id: m.client_id().to_string(),
                assignment: decode_assignment(m.assignment().unwrap_or(&[]))
                    .unwrap_or_else(|e| panic!("member {} of {}: {e}", m.id(), info.name())),
            })
            .collect(),
    }
}

/// DescribeGroups for one group (through librdkafka's rd_kafka_list_groups).
fn describe_group(c: &BaseConsumer, group: &str) -> Result<GroupDesc, String> {
    let list = c.fetch_group_list(Some(group), Duration::from_secs(10)).map_err(|e| e.to_string())?;
    let gs: Vec<GroupDesc> = list.groups().iter().map(group_desc).collect();
    match gs.as_slice() {
        [g] => Ok(g.clone()),
        _ => Err(format!("describe {group}: {} groups returned: {gs:?}", gs.len())),
    }
}

/// ListGroups (+ DescribeGroups of each) through librdkafka.
fn list_groups(c: &BaseConsumer) -> Vec<GroupDesc> {
    let list = c.fetch_group_list(None, Duration::from_secs(10)).expect("fetch_group_list(None)");
    list.groups().iter().map(group_desc).collect()
}

/// A plain client for group admin calls and committed-offset queries of `group` (it never
/// subscribes, so it never joins the group).
fn helper_consumer(b: &TestBroker, group: &str) -> BaseConsumer {
    b.consumer_with(&[("group.id", group)])
}

fn committed(c: &BaseConsumer, topic: &str, partitions: i32) -> BTreeMap<i32, Offset> {
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let got = c.committed_offsets(tpl, Duration::from_secs(10)).expect("committed_offsets");
    got.elements().iter().map(|e| (e.partition(), e.offset())).collect()
}

/// Waits until `members` (by name) together own all `partitions`, with the sorted partition
/// counts `sizes`, and the broker describes the group as Stable with exactly that many members.
#[allow(clippy::too_many_arguments, reason = "each argument is one expectation of the wait, named at every call")]
fn wait_owned(
    helper: &BaseConsumer,
    group: &str,
    tracker: &Tracker,
    members: &[&str],
    sizes: &[usize],
    partitions: i32,
    timeout: Duration,
    diag: &dyn Fn() -> String,
) {
    let want_members: BTreeSet<String> = members.iter().map(|s| s.to_string()).collect();
    let mut want_sizes = sizes.to_vec();
    want_sizes.sort();
    let last_desc = Mutex::new(String::from("(not described yet)"));
    wait_until(
        &format!("{members:?} to own all {partitions} partitions with sizes {sizes:?}, group Stable"),
        timeout,
        || {
            let snap = tracker.snapshot();
            let owners: BTreeSet<String> = snap.keys().cloned().collect();
            let mut got_sizes: Vec<usize> = snap.values().map(|s| s.len()).collect();
            got_sizes.sort();
            let covered: usize = got_sizes.iter().sum();
            let zero_members = want_sizes.iter().filter(|s| **s == 0).count();
            if !owners.is_subset(&want_members)
                || owners.len() + zero_members != want_members.len()
                || covered != partitions as usize
                || got_sizes.iter().filter(|s| **s > 0).copied().collect::<Vec<_>>()
                    != want_sizes.iter().filter(|s| **s > 0).copied().collect::<Vec<_>>()
            {
                return false;
            }
            match describe_group(helper, group) {
                Ok(d) => {
                    let ok = d.state == "Stable" && d.members.len() == members.len();
                    *last_desc.lock().unwrap() = format!("{d:?}");
                    ok
                }
                Err(e) => {
                    *last_desc.lock().unwrap() = e;
                    false
                }
            }
        },
        &|| format!("{}\nlast describe (only once the tracker matched): {}\n{}", tracker.describe(), last_desc.lock().unwrap(), diag()),
    );
}

// ------------------------------------------------------------------ raw OffsetDelete (API 47)

/// Sends OffsetDelete v0 over a fresh TCP connection (rdkafka 0.39 has no DeleteConsumerGroupOffsets).
fn offset_delete(b: &TestBroker, group: &str, topic: &str, partitions: &[i32]) -> OffsetDeleteResponse {
    let req = OffsetDeleteRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_topics(vec![OffsetDeleteRequestTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(
                partitions.iter().map(|p| OffsetDeleteRequestPartition::default().with_partition_index(*p)).collect(),
            )]);
    let version = 0i16;
    let corr = 7i32;
    let header = RequestHeader::default()
        .with_request_api_key(OffsetDeleteRequest::KEY)
        .with_request_api_version(version)
        .with_correlation_id(corr)
        .with_client_id(Some(StrBytes::from_static_str("odradek-groups-test")));
    let mut buf = BytesMut::new();
    header.encode(&mut buf, OffsetDeleteRequest::header_version(version)).unwrap();
    req.encode(&mut buf, version).unwrap();
    let mut s = TcpStream::connect(b.bootstrap()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut framed = (buf.len() as i32).to_be_bytes().to_vec();
    framed.extend_from_slice(&buf);
    s.write_all(&framed).expect("write OffsetDelete");
    let mut len = [0u8; 4];
    s.read_exact(&mut len).expect("read OffsetDelete response size (connection closed?)");
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).expect("read OffsetDelete response");
    let mut body = Bytes::from(body);
    let h = ResponseHeader::decode(&mut body, OffsetDeleteResponse::header_version(version)).expect("response header");
    assert_eq!(h.correlation_id, corr);
    let resp = OffsetDeleteResponse::decode(&mut body, version).expect("decode OffsetDelete response");
    assert_eq!(bytes::Buf::remaining(&body), 0, "trailing bytes after OffsetDelete response");
    resp
}

fn offset_delete_partition_errors(r: &OffsetDeleteResponse) -> BTreeMap<i32, i16> {
    r.topics.iter().flat_map(|t| t.partitions.iter().map(|p| (p.partition_index, p.error_code))).collect()
}

// ====================================================================== tests

/// 3 members on 6 partitions own 2 each and read everything exactly once; a 4th joins while
/// records flow (no partition ever owned twice); a member that closes hands over promptly.
#[test]
fn members_split_partitions_and_rebalance_without_overlap() {
    let b = start_broker();
    let topic = topic_name("grp-split");
    let group = "split-group";
    b.create_topic(&topic, 6, &[]);
    let producer = b.producer();
    let mut expected = produce(&producer, &topic, 6, 40, "first");
    let tracker = Tracker::new();
    let sink = Sink::new();
    let helper = helper_consumer(&b, group);

    let mut members: Vec<Member> = ["m1", "m2", "m3"]
        .iter()
        .map(|n| Member::start(&b, MemberSpec::new(n, group, &topic), &tracker, &sink))
        .collect();
    let diag = || {
        format!(
            "{}\n{}\n--- broker log tail ---\n{}",
            tracker.describe(),
            member_errors(&members.iter().collect::<Vec<_>>()),
            b.log_tail(40)
        )
    };
    wait_owned(&helper, group, &tracker, &["m1", "m2", "m3"], &[2, 2, 2], 6, Duration::from_secs(30), &diag);
    let t_join = tracker.snapshot();
    wait_all_consumed("3 members", &expected, &sink, Duration::from_secs(30), &diag);
    assert_exactly_once("3 members, before the 4th joins", &expected, &sink, &diag);
    // Each member read exactly the partitions it owns.
    for r in sink.all() {
        assert!(t_join[&r.member].contains(&r.partition), "{} read partition {} it does not own: {t_join:?}", r.member, r.partition);
    }

    // A 4th member joins while records keep coming.
    let bg = BgProducer::start(&b, &topic, 6, "during-join");
    members.push(Member::start(&b, MemberSpec::new("m4", group, &topic), &tracker, &sink));
    let diag = || {
        format!(
            "{}\n{}\n--- broker log tail ---\n{}",
            tracker.describe(),
            member_errors(&members.iter().collect::<Vec<_>>()),
            b.log_tail(40)
        )
    };
    wait_owned(&helper, group, &tracker, &["m1", "m2", "m3", "m4"], &[1, 1, 2, 2], 6, Duration::from_secs(30), &diag);
    let after_join = tracker.snapshot();
    eprintln!("[test] after m4 joined: {after_join:?}");

    // m2 closes (LeaveGroup): its partitions move well before the 10 s session timeout.
    let i = members.iter().position(|m| m.name == "m2").unwrap();
    let m2 = members.remove(i);
    let t0 = Instant::now();
    m2.close();
    let diag = || {
        format!(
            "{}\n{}\n--- broker log tail ---\n{}",
            tracker.describe(),
            member_errors(&members.iter().collect::<Vec<_>>()),
            b.log_tail(40)
        )
    };
    wait_owned(&helper, group, &tracker, &["m1", "m3", "m4"], &[2, 2, 2], 6, Duration::from_secs(30), &diag);
    let handover = t0.elapsed();
    eprintln!("[test] partitions of the closed member re-owned after {handover:?}");
    assert!(
        handover < Duration::from_millis(4000),
        "a closed member's partitions were re-assigned only after {handover:?} (session.timeout.ms {LONG_SESSION_MS}): \
         LeaveGroup must trigger an immediate rebalance\n{}",
        diag()
    );

    expected.extend(bg.finish());
    let more = produce(&producer, &topic, 6, 5, "after-leave");
    expected.extend(more);
    wait_all_consumed("after m2 left", &expected, &sink, Duration::from_secs(30), &diag);
    assert_exactly_once("3 -> 4 -> 3 members", &expected, &sink, &diag);
    let v = tracker.violations();
    assert!(v.is_empty(), "partition ownership overlapped or a record came from an unowned partition: {v:#?}\n{}", diag());

    // Every record was committed: the group's committed offsets are the end offsets.
    let mut ends = BTreeMap::new();
    for p in 0..6 {
        ends.insert(p, Offset::Offset(helper.fetch_watermarks(&topic, p, OP_TIMEOUT).unwrap().1));
    }
    wait_until("committed offsets == end offsets", Duration::from_secs(10), || committed(&helper, &topic, 6) == ends, &|| {
        format!("committed {:?}, ends {ends:?}\n{}", committed(&helper, &topic, 6), diag())
    });
    close_all(members);
}

/// A member whose process is SIGKILLed (no LeaveGroup) keeps its partitions until its session
/// times out; then the others take them over and nothing is lost or read twice.
#[test]
fn killed_member_loses_partitions_after_session_timeout() {
    const CHILD_SESSION_MS: u64 = 2500;
    let b = start_broker();
    let topic = topic_name("grp-kill");
    let group = "kill-group";
    b.create_topic(&topic, 6, &[]);
    let producer = b.producer();
    let tracker = Tracker::new();
    let sink = Sink::new();
    let helper = helper_consumer(&b, group);

    let mut child = ChildMember::spawn(&b, group, &topic, "child", CHILD_SESSION_MS, &tracker, &sink);
    let child_stats = child.stats.clone();
    let members: Vec<Member> = ["a", "b"]
        .iter()
        .map(|n| Member::start(&b, MemberSpec::new(n, group, &topic), &tracker, &sink))
        .collect();
    let diag = || {
        format!(
            "{}\n{}\nchild errors: {:?}\n--- broker log tail ---\n{}",
            tracker.describe(),
            member_errors(&members.iter().collect::<Vec<_>>()),
            child_stats.errors(),
            b.log_tail(40)
        )
    };
    wait_owned(&helper, group, &tracker, &["a", "b", "child"], &[2, 2, 2], 6, Duration::from_secs(40), &diag);
    let mut expected = produce(&producer, &topic, 6, 10, "before-kill");
    wait_all_consumed("a, b and the child", &expected, &sink, Duration::from_secs(30), &diag);
    assert!(sink.all().iter().any(|r| r.member == "child"), "the child member consumed nothing\n{}", diag());

    let t0 = Instant::now();
    child.kill9();
    let lost = tracker.release_all("child");
    assert_eq!(lost.len(), 2, "{}", diag());
    expected.extend(produce(&producer, &topic, 6, 10, "after-kill"));

    let diag = || {
        format!(
            "{}\n{}\n--- broker log tail ---\n{}",
            tracker.describe(),
            member_errors(&members.iter().collect::<Vec<_>>()),
            b.log_tail(40)
        )
    };
    wait_owned(
        &helper,
        group,
        &tracker,
        &["a", "b"],
        &[3, 3],
        6,
        Duration::from_millis(CHILD_SESSION_MS + 15_000),
        &diag,
    );
    let took = t0.elapsed();
    eprintln!("[test] killed member's partitions {lost:?} re-owned after {took:?} (session.timeout.ms {CHILD_SESSION_MS})");
    // The broker can only notice a silent member by its session expiring: not before
    // session.timeout.ms minus one heartbeat interval (plus some scheduling slack).
    let min = Duration::from_millis(CHILD_SESSION_MS - HEARTBEAT_MS - 500);
    assert!(
        took >= min,
        "the killed member's partitions moved after only {took:?}, before its session ({CHILD_SESSION_MS} ms) could have \
         expired (Kafka does not evict members on disconnect)\n{}",
        diag()
    );
    assert!(
        took <= Duration::from_millis(CHILD_SESSION_MS + 6000),
        "the killed member's partitions moved only after {took:?} (session.timeout.ms {CHILD_SESSION_MS})\n{}",
        diag()
    );
    assert!(
        b.log_lines().iter().any(|l| l.contains("session expired")),
        "no 'session expired' line in the broker log\n{}",
        diag()
    );

    wait_all_consumed("after the kill", &expected, &sink, Duration::from_secs(30), &diag);
    assert_exactly_once("3 members, one killed", &expected, &sink, &diag);
    let v = tracker.violations();
    assert!(v.is_empty(), "ownership violations: {v:#?}\n{}", diag());
    close_all(members);
}

/// Two groups on one topic each read every record (fan-out), independently.
#[test]
fn second_group_reads_every_record_independently() {
    let b = start_broker();
    let topic = topic_name("grp-fanout");
    b.create_topic(&topic, 4, &[]);
    let producer = b.producer();
    let expected = produce(&producer, &topic, 4, 50, "fan");

    let (t1, s1, t2, s2) = (Tracker::new(), Sink::new(), Tracker::new(), Sink::new());
    let g1: Vec<Member> = ["g1-a", "g1-b"]
        .iter()
        .map(|n| Member::start(&b, MemberSpec::new(n, "fanout-1", &topic), &t1, &s1))
        .collect();
    let g2: Vec<Member> = ["g2-a", "g2-b", "g2-c"]
        .iter()
        .map(|n| Member::start(&b, MemberSpec::new(n, "fanout-2", &topic), &t2, &s2))
        .collect();
    let diag = || {
        format!(
            "group 1: {}\ngroup 2: {}\n{}\n--- broker log tail ---\n{}",
            t1.describe(),
            t2.describe(),
            member_errors(&g1.iter().chain(g2.iter()).collect::<Vec<_>>()),
            b.log_tail(40)
        )
    };
    let h1 = helper_consumer(&b, "fanout-1");
    let h2 = helper_consumer(&b, "fanout-2");
    wait_owned(&h1, "fanout-1", &t1, &["g1-a", "g1-b"], &[2, 2], 4, Duration::from_secs(30), &diag);
    wait_owned(&h2, "fanout-2", &t2, &["g2-a", "g2-b", "g2-c"], &[1, 1, 2], 4, Duration::from_secs(30), &diag);
    wait_all_consumed("group fanout-1", &expected, &s1, Duration::from_secs(30), &diag);
    wait_all_consumed("group fanout-2", &expected, &s2, Duration::from_secs(30), &diag);
    // More records after both are running: both get them.
    let mut expected = expected;
    expected.extend(produce(&producer, &topic, 4, 10, "fan2"));
    wait_all_consumed("group fanout-1", &expected, &s1, Duration::from_secs(30), &diag);
    wait_all_consumed("group fanout-2", &expected, &s2, Duration::from_secs(30), &diag);
    assert_exactly_once("group fanout-1", &expected, &s1, &diag);
    assert_exactly_once("group fanout-2", &expected, &s2, &diag);
    assert!(t1.violations().is_empty() && t2.violations().is_empty(), "{}", diag());
    // Each group has its own committed offsets, both at the end.
    let ends: BTreeMap<i32, Offset> = (0..4).map(|p| (p, Offset::Offset(60))).collect();
    for h in [&h1, &h2] {
        wait_until("committed == 60 everywhere", Duration::from_secs(10), || committed(h, &topic, 4) == ends, &|| {
            format!("committed {:?}\n{}", committed(h, &topic, 4), diag())
        });
    }
    let mut all = g1;
    all.extend(g2);
    close_all(all);
}

/// Commit (synchronously) part of a topic, restart the broker (SIGTERM, or kill -9), and check
/// that a new member of the group resumes exactly after the commits.
fn resume_after_restart(kill9: bool) {
    let mut b = start_broker();
    let topic = topic_name(if kill9 { "grp-resume-kill" } else { "grp-resume-term" });
    let group = if kill9 { "resume-kill9" } else { "resume-sigterm" };
    b.create_topic(&topic, 3, &[]);
    let producer = b.producer();
    let expected = produce(&producer, &topic, 3, 30, "r");
    drop(producer);
    let limits: BTreeMap<i32, i64> = [(0, 7), (1, 13), (2, 21)].into_iter().collect();

    let mut cfg = member_config(&b.bootstrap(), group, "first", LONG_SESSION_MS);
    let c: BaseConsumer = cfg.create().expect("consumer");
    c.subscribe(&[topic.as_str()]).unwrap();
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while (0..3).any(|p| next.get(&p).copied().unwrap_or(0) < limits[&p]) {
        assert!(Instant::now() < deadline, "first consumer: commits reached only {next:?}\n{}", b.log_tail(30));
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let (p, o) = (m.partition(), m.offset());
                if o < limits[&p] {
                    c.commit_message(&m, CommitMode::Sync)
                        .unwrap_or_else(|e| panic!("sync commit of {p}@{o}: {e}\n{}", b.log_tail(30)));
                    next.insert(p, o + 1);
                }
            }
            Some(Err(e)) => eprintln!("[test] poll error: {e}"),
            None => {}
        }
    }
    let want: BTreeMap<i32, Offset> = limits.iter().map(|(p, o)| (*p, Offset::Offset(*o))).collect();
    assert_eq!(committed(&helper_consumer(&b, group), &topic, 3), want, "committed offsets before the restart");

    if kill9 {
        // The member is still in the group when the broker dies.
        b.kill9();
        let t = Instant::now();
        let h = std::thread::spawn(move || drop(c));
        join_bounded(h, "closing the consumer of a killed broker");
        eprintln!("[test] consumer closed {:?} after the broker was killed", t.elapsed());
    } else {
        drop(c); // LeaveGroup
        b.stop(); // SIGTERM, asserts exit 0
    }
    b.restart();

    // The committed offsets survived.
    let helper = helper_consumer(&b, group);
    assert_eq!(committed(&helper, &topic, 3), want, "committed offsets after the restart\n{}", b.log_tail(40));

    // A new member resumes exactly there.
    cfg = member_config(&b.bootstrap(), group, "second", LONG_SESSION_MS);
    let c2: BaseConsumer = cfg.create().expect("consumer");
    c2.subscribe(&[topic.as_str()]).unwrap();
    let total: usize = limits.values().map(|l| (30 - l) as usize).sum();
    let mut got: Vec<(i32, i64, String)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.len() < total {
        assert!(Instant::now() < deadline, "second consumer got {} of {total} records: {got:?}\n{}", got.len(), b.log_tail(30));
        match c2.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => got.push((
                m.partition(),
                m.offset(),
                String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
            )),
            Some(Err(e)) => eprintln!("[test] poll error: {e}"),
            None => {}
        }
    }
    for p in 0..3 {
        let offs: Vec<i64> = got.iter().filter(|r| r.0 == p).map(|r| r.1).collect();
        let want: Vec<i64> = (limits[&p]..30).collect();
        assert_eq!(offs, want, "partition {p}: offsets read after the restart (committed {})", limits[&p]);
    }
    for (p, o, k) in &got {
        assert_eq!(&expected[&(*p, *o)], k, "record {p}@{o}");
    }
    assert_no_more_c(&c2, Duration::from_millis(300));
}

fn assert_no_more_c(c: &BaseConsumer, quiet: Duration) {
    let deadline = Instant::now() + quiet;
    while Instant::now() < deadline {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(50)) {
            panic!("unexpected extra record {}@{}", m.partition(), m.offset());
        }
    }
}

#[test]
fn committed_offsets_survive_clean_restart() {
    resume_after_restart(false);
}

#[test]
fn committed_offsets_survive_kill9() {
    resume_after_restart(true);
}

/// cooperative-sticky: when a member joins, the existing members only give up what moves to
/// it; the partitions they keep stay assigned throughout.
#[test]
fn cooperative_sticky_rebalance_is_incremental() {
    let b = start_broker();
    let topic = topic_name("grp-coop");
    let group = "coop-group";
    b.create_topic(&topic, 6, &[]);
    let producer = b.producer();
    let mut expected = produce(&producer, &topic, 6, 20, "c0");
    let tracker = Tracker::new();
    let sink = Sink::new();
    let helper = helper_consumer(&b, group);
    let spec = |n: &str| MemberSpec::new(n, group, &topic).set("partition.assignment.strategy", "cooperative-sticky");

    let mut members = vec![Member::start(&b, spec("a"), &tracker, &sink), Member::start(&b, spec("b"), &tracker, &sink)];
    let diag = |members: &Vec<Member>| {
        format!(
            "{}\n{}\nevents: {:?}\n--- broker log tail ---\n{}",
            tracker.describe(),
            member_errors(&members.iter().collect::<Vec<_>>()),
            members.iter().map(|m| (m.name.clone(), m.stats.events())).collect::<Vec<_>>(),
            b.log_tail(40)
        )
    };
    wait_owned(&helper, group, &tracker, &["a", "b"], &[3, 3], 6, Duration::from_secs(30), &|| diag(&members));
    wait_all_consumed("a and b", &expected, &sink, Duration::from_secs(30), &|| diag(&members));
    for m in &members {
        assert_eq!(*m.stats.protocol.lock().unwrap(), "Cooperative", "rebalance protocol of {}", m.name);
    }
    let before = tracker.snapshot();
    let marks: Vec<usize> = members.iter().map(|m| m.stats.events().len()).collect();

    let bg = BgProducer::start(&b, &topic, 6, "coop-join");
    members.push(Member::start(&b, spec("c"), &tracker, &sink));
    wait_owned(&helper, group, &tracker, &["a", "b", "c"], &[2, 2, 2], 6, Duration::from_secs(30), &|| diag(&members));
    let after = tracker.snapshot();
    eprintln!("[test] cooperative: before {before:?}, after {after:?}");
    for (i, name) in ["a", "b"].iter().enumerate() {
        let (was, now) = (&before[*name], &after[*name]);
        assert!(now.is_subset(was), "sticky: {name} had {was:?} and now has {now:?}\n{}", diag(&members));
        let evs = members[i].stats.events()[marks[i]..].to_vec();
        let revoked: BTreeSet<i32> = evs.iter().filter(|e| e.0 == '-').flat_map(|e| e.1.iter().copied()).collect();
        assert!(
            revoked.is_disjoint(now),
            "incremental rebalance: {name} lost partitions {:?} that it still has at the end ({now:?}); events since c joined: {evs:?}\n{}",
            revoked.intersection(now).collect::<Vec<_>>(),
            diag(&members)
        );
        let want_revoked: BTreeSet<i32> = was.difference(now).copied().collect();
        assert_eq!(revoked, want_revoked, "{name}: revoked partitions (events {evs:?})");
    }
    expected.extend(bg.finish());
    wait_all_consumed("a, b, c", &expected, &sink, Duration::from_secs(30), &|| diag(&members));
    assert_exactly_once("cooperative rebalance", &expected, &sink, &|| diag(&members));
    let v = tracker.violations();
    assert!(v.is_empty(), "ownership violations: {v:#?}\n{}", diag(&members));
    assert_eq!(*members[2].stats.protocol.lock().unwrap(), "Cooperative");
    close_all(members);
}

/// Static membership (KIP-345): a member with group.instance.id that restarts within its
/// session timeout gets its partitions back and the others do not rebalance at all.
#[test]
fn static_member_restart_gets_same_partitions_without_rebalance() {
    static_member_restart(None, "c");
}

/// The same when the member that restarts is the group's leader: librdkafka joins with
/// JoinGroup v5, and Kafka (before v9) answers with the old leader id, so that the returning
/// member does not compute an assignment a Stable group would not hand out (librdkafka's 0102).
#[test]
fn static_leader_restart_without_rebalance() {
    static_member_restart(None, "a");
}

/// The same with cooperative-sticky, whose subscription metadata carries the owned partitions
/// (so the restarted member's metadata differs from its previous incarnation's; Kafka only
/// checks that the selected protocol is unchanged and does not rebalance).
#[test]
fn static_member_restart_cooperative_sticky_without_rebalance() {
    static_member_restart(Some("cooperative-sticky"), "c");
}

/// Members a (the leader: it joins first), b and c; `restarting` closes and comes back.
fn static_member_restart(strategy: Option<&str>, restarting: &str) {
    const SESSION_MS: u64 = 4000;
    let b = start_broker();
    let topic = topic_name("grp-static");
    let group = "static-group";
    b.create_topic(&topic, 6, &[]);
    let producer = b.producer();
    let mut expected = produce(&producer, &topic, 6, 10, "s0");
    let tracker = Tracker::new();
    let sink = Sink::new();
    let helper = helper_consumer(&b, group);
    let spec = |n: &str| {
        let s = MemberSpec::new(n, group, &topic).set("group.instance.id", &format!("instance-{n}")).session_ms(SESSION_MS);
        match strategy {
            Some(st) => s.set("partition.assignment.strategy", st),
            None => s,
        }
    };

    // a first (so it is the leader), then b and c.
    let mut members = vec![Member::start(&b, spec("a"), &tracker, &sink)];
    let diag = |members: &Vec<Member>| {
        format!(
            "{}\n{}\n--- broker log tail ---\n{}",
            tracker.describe(),
            member_errors(&members.iter().collect::<Vec<_>>()),
            b.log_tail(50)
        )
    };
    wait_owned(&helper, group, &tracker, &["a"], &[6], 6, Duration::from_secs(30), &|| diag(&members));
    members.push(Member::start(&b, spec("b"), &tracker, &sink));
    members.push(Member::start(&b, spec("c"), &tracker, &sink));
    wait_owned(&helper, group, &tracker, &["a", "b", "c"], &[2, 2, 2], 6, Duration::from_secs(30), &|| diag(&members));
    wait_all_consumed("a, b, c", &expected, &sink, Duration::from_secs(30), &|| diag(&members));
    let before = tracker.snapshot();
    let r = ["a", "b", "c"].iter().position(|n| *n == restarting).expect("a, b or c");
    let counts = |ms: &Vec<Member>| -> Vec<(usize, usize)> {
        ms.iter().enumerate().filter(|(i, _)| *i != r).map(|(_, m)| (m.assigns(), m.revokes())).collect()
    };
    let counts_before = counts(&members);
    let rebalances_before = b.log_lines().iter().filter(|l| l.contains("preparing rebalance")).count();

    // It closes (a static member sends no LeaveGroup) and comes back with the same instance id.
    let old = members.remove(r);
    let t0 = Instant::now();
    old.close();
    members.insert(r, Member::start(&b, spec(restarting), &tracker, &sink));
    wait_until("the restarted static member to own partitions", Duration::from_secs(20), || !tracker.owned_by(restarting).is_empty(), &|| {
        diag(&members)
    });
    let back_after = t0.elapsed();
    eprintln!("[test] static member {restarting} back with {:?} after {back_after:?}", tracker.owned_by(restarting));
    assert_eq!(tracker.owned_by(restarting), before[restarting], "the restarted static member's partitions\n{}", diag(&members));
    assert!(back_after < Duration::from_millis(SESSION_MS), "rejoin took {back_after:?}\n{}", diag(&members));

    // New records are read by all three, and no rebalance happens: not at the rejoin, and not
    // when the old incarnation's session timeout (counted from the close) would have expired.
    expected.extend(produce(&producer, &topic, 6, 10, "s1"));
    wait_all_consumed("after the static rejoin", &expected, &sink, Duration::from_secs(30), &|| diag(&members));
    let quiet_until = t0 + Duration::from_millis(SESSION_MS + 1500);
    while Instant::now() < quiet_until {
        assert_eq!(
            counts(&members),
            counts_before,
            "the other members' rebalance callbacks fired ((assigns, revokes)) after static member {restarting} restarted\n{}",
            diag(&members)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(tracker.snapshot(), before, "assignments changed\n{}", diag(&members));
    let rebalances_after = b.log_lines().iter().filter(|l| l.contains("preparing rebalance")).count();
    assert_eq!(rebalances_after, rebalances_before, "the broker logged new rebalances\n{}", diag(&members));
    let d = describe_group(&helper, group).unwrap();
    assert_eq!((d.state.as_str(), d.members.len()), ("Stable", 3), "{d:?}");
    assert_exactly_once("static membership", &expected, &sink, &|| diag(&members));
    assert!(tracker.violations().is_empty(), "{}", diag(&members));
    close_all(members);
}

/// A broker restart, clean and then kill -9, is not a rebalance: the group's generation,
/// members and assignments are stored when its rebalance completes and loaded at start, as
/// Kafka loads a group from `__consumer_offsets`. The members' heartbeats keep being answered,
/// nobody's partitions move, and reading goes on where it was.
#[test]
fn members_keep_their_partitions_across_broker_restarts() {
    let mut b = start_broker();
    let topic = topic_name("grp-restart");
    let group = "restart-group";
    b.create_topic(&topic, 4, &[]);
    let producer = b.producer();
    let mut expected = produce(&producer, &topic, 4, 5, "r0");
    let tracker = Tracker::new();
    let sink = Sink::new();
    let helper = helper_consumer(&b, group);
    let members: Vec<Member> =
        ["a", "b"].iter().map(|n| Member::start(&b, MemberSpec::new(n, group, &topic), &tracker, &sink)).collect();
    let diag = |b: &TestBroker| {
        format!(
            "{}\n{}\n--- broker log tail ---\n{}",
            tracker.describe(),
            member_errors(&members.iter().collect::<Vec<_>>()),
            b.log_tail(50)
        )
    };
    wait_owned(&helper, group, &tracker, &["a", "b"], &[2, 2], 4, Duration::from_secs(30), &|| diag(&b));
    wait_all_consumed("before the restarts", &expected, &sink, Duration::from_secs(30), &|| diag(&b));
    let before = tracker.snapshot();
    let counts = || -> Vec<(usize, usize)> { members.iter().map(|m| (m.assigns(), m.revokes())).collect() };
    let counts_before = counts();
    let rebalances = |b: &TestBroker| b.log_lines().iter().filter(|l| l.contains("preparing rebalance")).count();
    let rebalances_before = rebalances(&b);

    for (round, kill9) in [(1, false), (2, true)] {
        let what = if kill9 { "kill -9" } else { "clean stop" };
        if kill9 {
            b.kill9();
        } else {
            b.stop();
        }
        b.restart();
        assert!(
            b.log_lines().iter().any(|l| l.contains("loaded stable group")),
            "after the {what}: the group was not loaded with its members\n{}",
            diag(&b)
        );
        expected.extend(produce(&producer, &topic, 4, 5, &format!("r{round}")));
        wait_all_consumed(&format!("after the {what}"), &expected, &sink, Duration::from_secs(30), &|| diag(&b));
        // Several heartbeats (300 ms apart) go by: none may be refused into a rejoin.
        let quiet_until = Instant::now() + Duration::from_millis(2000);
        while Instant::now() < quiet_until {
            assert_eq!(counts(), counts_before, "after the {what}: rebalance callbacks fired ((assigns, revokes) of a, b)\n{}", diag(&b));
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(tracker.snapshot(), before, "after the {what}: assignments changed\n{}", diag(&b));
        let d = describe_group(&helper, group).unwrap_or_else(|e| panic!("{e}\n{}", diag(&b)));
        assert_eq!((d.state.as_str(), d.members.len()), ("Stable", 2), "after the {what}: {d:?}");
        assert_eq!(rebalances(&b), rebalances_before, "after the {what}: the broker logged a rebalance\n{}", diag(&b));
    }
    assert_exactly_once("across two broker restarts", &expected, &sink, &|| diag(&b));
    assert!(tracker.violations().is_empty(), "{}", diag(&b));
    close_all(members);
}

/// List and describe groups, lag from committed vs end offsets, OffsetDelete, DeleteGroups.
#[test]
fn admin_list_describe_lag_and_delete() {
    let b = start_broker();
    let topic = topic_name("grp-admin");
    let group = "admin-group";
    b.create_topic(&topic, 4, &[]);
    let producer = b.producer();
    let expected = produce(&producer, &topic, 4, 10, "adm");
    let tracker = Tracker::new();
    let sink = Sink::new();
    let helper = helper_consumer(&b, group);
    let members: Vec<Member> = ["adm-1", "adm-2"]
        .iter()
        .map(|n| Member::start(&b, MemberSpec::new(n, group, &topic).commit_below(7), &tracker, &sink))
        .collect();
    let diag = || {
        format!(
            "{}\n{}\n--- broker log tail ---\n{}",
            tracker.describe(),
            member_errors(&members.iter().collect::<Vec<_>>()),
            b.log_tail(40)
        )
    };
    wait_owned(&helper, group, &tracker, &["adm-1", "adm-2"], &[2, 2], 4, Duration::from_secs(30), &diag);
    wait_all_consumed("admin members", &expected, &sink, Duration::from_secs(30), &diag);
    let seven: BTreeMap<i32, Offset> = (0..4).map(|p| (p, Offset::Offset(7))).collect();
    wait_until("committed offsets 7 everywhere", Duration::from_secs(10), || committed(&helper, &topic, 4) == seven, &|| {
        format!("committed {:?}\n{}", committed(&helper, &topic, 4), diag())
    });

    // ListGroups
    let listed = list_groups(&helper);
    let ours: Vec<&GroupDesc> = listed.iter().filter(|g| g.name == group).collect();
    assert_eq!(ours.len(), 1, "ListGroups: {listed:?}");

    // DescribeGroups
    let d = describe_group(&helper, group).unwrap();
    assert_eq!(d.name, group);
    assert_eq!(d.state, "Stable", "{d:?}");
    assert_eq!(d.protocol_type, "consumer", "{d:?}");
    assert_eq!(d.protocol, "range", "librdkafka's default assignor list is range,roundrobin: {d:?}");
    assert_eq!(d.members.len(), 2, "{d:?}");
    let snap = tracker.snapshot();
    let mut all = BTreeSet::new();
    for m in &d.members {
        assert!(!m.id.is_empty(), "member id: {d:?}");
        let want: BTreeSet<(String, i32)> = snap
            .get(&m.client_id)
            .unwrap_or_else(|| panic!("described member client id {:?} is not one of ours: {d:?}", m.client_id))
            .iter()
            .map(|p| (topic.clone(), *p))
            .collect();
        assert_eq!(m.assignment, want, "assignment of {} as described by the broker", m.client_id);
        all.extend(m.assignment.iter().cloned());
    }
    assert_eq!(all.len(), 4, "{d:?}");
    let clients: BTreeSet<&str> = d.members.iter().map(|m| m.client_id.as_str()).collect();
    assert_eq!(clients, ["adm-1", "adm-2"].into_iter().collect::<BTreeSet<_>>());

    // Lag = end offset - committed offset.
    let com = committed(&helper, &topic, 4);
    for p in 0..4 {
        let (lo, hi) = helper.fetch_watermarks(&topic, p, OP_TIMEOUT).unwrap();
        assert_eq!((lo, hi), (0, 10), "watermarks of partition {p}");
        let Offset::Offset(c) = com[&p] else { panic!("partition {p}: committed {:?}", com[&p]) };
        assert_eq!(hi - c, 3, "lag of partition {p}");
    }

    // OffsetDelete while the group is subscribed to the topic: GROUP_SUBSCRIBED_TO_TOPIC (86).
    let r = offset_delete(&b, group, &topic, &[0, 1]);
    assert_eq!(r.error_code, 0, "OffsetDelete top-level error on an active group: {r:?}");
    assert_eq!(
        offset_delete_partition_errors(&r),
        [(0, 86), (1, 86)].into_iter().collect(),
        "OffsetDelete of a subscribed topic's partitions must fail with GROUP_SUBSCRIBED_TO_TOPIC: {r:?}"
    );
    assert_eq!(committed(&helper, &topic, 4), seven, "offsets after a refused OffsetDelete");
    // OffsetDelete for an unknown group: GROUP_ID_NOT_FOUND (69).
    let r = offset_delete(&b, "no-such-group", &topic, &[0]);
    assert_eq!(r.error_code, 69, "OffsetDelete of an unknown group: {r:?}");

    // DeleteGroups of a group with members: NON_EMPTY_GROUP.
    let admin = b.admin();
    let opts = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
    let res = block_on(admin.delete_groups(&[group], &opts)).expect("delete_groups request");
    assert_eq!(res, vec![Err((group.to_string(), RDKafkaErrorCode::NonEmptyGroup))], "deleting a group with members");
    assert_eq!(committed(&helper, &topic, 4), seven, "offsets after a refused DeleteGroups");

    // Members leave: the group is Empty.
    close_all(members);
    wait_until(
        "the group to be Empty",
        Duration::from_secs(15),
        || describe_group(&helper, group).map(|d| d.state == "Empty" && d.members.is_empty()).unwrap_or(false),
        &|| format!("{:?}\n{}", describe_group(&helper, group), b.log_tail(30)),
    );

    // OffsetDelete now works.
    let r = offset_delete(&b, group, &topic, &[0, 1]);
    assert_eq!(r.error_code, 0, "{r:?}");
    assert_eq!(offset_delete_partition_errors(&r), [(0, 0), (1, 0)].into_iter().collect(), "{r:?}");
    let want: BTreeMap<i32, Offset> =
        [(0, Offset::Invalid), (1, Offset::Invalid), (2, Offset::Offset(7)), (3, Offset::Offset(7))].into_iter().collect();
    assert_eq!(committed(&helper, &topic, 4), want, "offsets after deleting those of partitions 0 and 1");

    // DeleteGroups of an empty group: ok, and its offsets are gone.
    let res = block_on(admin.delete_groups(&[group], &opts)).expect("delete_groups request");
    assert_eq!(res, vec![Ok(group.to_string())], "deleting an empty group\n{}", b.log_tail(20));
    let none: BTreeMap<i32, Offset> = (0..4).map(|p| (p, Offset::Invalid)).collect();
    assert_eq!(committed(&helper, &topic, 4), none, "offsets of a deleted group");
    let listed = list_groups(&helper);
    assert!(listed.iter().all(|g| g.name != group), "a deleted group is still listed: {listed:?}");
    // Deleting it again / an unknown group: GROUP_ID_NOT_FOUND.
    let res = block_on(admin.delete_groups(&[group], &opts)).expect("delete_groups request");
    assert_eq!(res, vec![Err((group.to_string(), RDKafkaErrorCode::GroupIdNotFound))], "deleting a deleted group");
}
