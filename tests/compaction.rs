//! Log compaction (`cleanup.policy=compact`), driven through librdkafka against a real broker.
//!
//! Every test records the offset the broker acknowledged for every record it produced, so the
//! assertions are exact: compaction keeps offsets, so any record read back at offset `o` must be
//! byte-for-byte the record acknowledged at `o`; the latest record of every key must always be
//! readable (unless it is a tombstone past `delete.retention.ms`); and once the cleaner has caught
//! up, the closed part of the log must hold exactly the latest offset of every key.
//!
//! Tests: latest value per key + tombstone expiry + disk usage + SIGTERM restart; kill -9 while
//! the cleaner rewrites segments; keyless records refused (INVALID_RECORD); compact,delete also
//! applies retention.ms (compact alone does not); aborted transactions dropped (also after a
//! kill -9); compressed batches of every codec; later passes merging shrunken segments.
//!
//! Cleaning is gated where the test needs an uncompacted baseline (disk usage, a big first pass to
//! kill -9 in the middle of): the topic is created with `min.compaction.lag.ms` = 1 h, and lowered
//! to 0 through AlterConfigs when the test wants the cleaner to start.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use rdkafka::admin::{AdminOptions, AlterConfig, ResourceSpecifier};
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

/// `log.cleaner.backoff.ms` for every broker in this file (the default is 15 s).
const CLEANER_BACKOFF_MS: &str = "300";
const SEGMENT_BYTES: &str = "4096";
const GATE_LAG_MS: &str = "3600000";

type Key = Vec<u8>;
type Value = Option<Vec<u8>>;

/// A record as the tests compare them: offset, key, value.
type KeyedRecord = (i64, Option<Vec<u8>>, Option<Vec<u8>>);

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn show_v(v: &Value) -> String {
    match v {
        None => "<tombstone>".into(),
        Some(v) => show(v),
    }
}

// ------------------------------------------------------------------------------ topic configs

/// The compacted topic's full config set (AlterConfigs replaces all overrides, so it is resent whole).
fn compact_configs(policy: &str, delete_retention_ms: &str, lag_ms: &str) -> Vec<(String, String)> {
    [
        ("cleanup.policy", policy),
        ("segment.bytes", SEGMENT_BYTES),
        ("delete.retention.ms", delete_retention_ms),
        ("min.cleanable.dirty.ratio", "0.01"),
        ("min.compaction.lag.ms", lag_ms),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn refs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn admin_opts() -> AdminOptions {
    AdminOptions::new().request_timeout(Some(OP_TIMEOUT)).operation_timeout(Some(Duration::from_secs(10)))
}

fn describe_topic_config(b: &TestBroker, topic: &str, key: &str) -> Option<String> {
    let admin = b.admin();
    let res = block_on(admin.describe_configs([&ResourceSpecifier::Topic(topic)], &admin_opts())).expect("describe_configs");
    let r = res.into_iter().next().expect("one resource").expect("describe_configs result");
    r.get(key).and_then(|e| e.value.clone())
}

/// AlterConfigs (the full set), then verifies through DescribeConfigs that `check` took effect
/// (rdkafka 0.39 does not surface per-resource AlterConfigs errors).
fn alter_topic(b: &TestBroker, topic: &str, configs: &[(String, String)], check: (&str, &str)) {
    let admin = b.admin();
    let mut ac = AlterConfig::new(ResourceSpecifier::Topic(topic));
    for (k, v) in configs {
        ac = ac.set(k, v);
    }
    let res = block_on(admin.alter_configs([&ac], &admin_opts())).expect("alter_configs request");
    assert_eq!(res.len(), 1);
    assert!(res[0].is_ok(), "alter_configs {topic}: {:?}", res[0]);
    let got = describe_topic_config(b, topic, check.0);
    assert_eq!(got.as_deref(), Some(check.1), "{topic}: {} after AlterConfigs", check.0);
}

// ------------------------------------------------------------------------------ producing

/// Everything acknowledged on partition 0 of a topic: offset -> (key, value, timestamp).
#[derive(Default)]
struct Acked {
    recs: BTreeMap<i64, (Key, Value, i64)>,
}

impl Acked {
    fn end(&self) -> i64 {
        self.recs.keys().next_back().map(|o| o + 1).unwrap_or(0)
    }

    /// Latest offset of every key among offsets below `boundary`.
    fn latest_below(&self, boundary: i64) -> HashMap<Key, i64> {
        let mut m = HashMap::new();
        for (&o, (k, _, _)) in self.recs.range(..boundary) {
            m.insert(k.clone(), o);
        }
        m
    }
}

fn compaction_producer(b: &TestBroker) -> FutureProducer {
    // Batches that fit several to a 4 KiB segment.
    b.producer_with(&[("batch.size", "3000"), ("linger.ms", "2"), ("compression.type", "none")])
}

/// Produces records to partition 0 (all enqueued, then all awaited) and records their offsets.
fn produce_all(p: &FutureProducer, topic: &str, recs: &[(Key, Value)], acked: &mut Acked) {
    let ts = now_ms();
    let mut futs = Vec::with_capacity(recs.len());
    for (k, v) in recs {
        let mut r = FutureRecord::<[u8], [u8]>::to(topic).partition(0).key(&k[..]).timestamp(ts);
        if let Some(v) = v {
            r = r.payload(&v[..]);
        }
        futs.push(send_retry(p, r));
    }
    for (f, (k, v)) in futs.into_iter().zip(recs) {
        let (part, off) = await_delivery(f);
        assert_eq!(part, 0);
        let prev = acked.recs.insert(off, (k.clone(), v.clone(), ts));
        assert!(prev.is_none(), "{topic}: offset {off} acknowledged twice");
    }
}

fn update_value(key: &str, update: usize) -> Vec<u8> {
    format!("{key}|update={update:06}|{}", "p".repeat(40)).into_bytes()
}

// ------------------------------------------------------------------------------ reading

struct LogRead {
    low: i64,
    hw: i64,
    recs: Vec<Consumed>,
    /// When the read finished (ms since the epoch).
    done_ms: i64,
}

/// Reads partition 0 from its log start offset (0 for a compacted topic) to the high watermark.
fn read_log(b: &TestBroker, topic: &str) -> LogRead {
    read_log_isolation(b, topic, "read_uncommitted")
}

fn read_log_isolation(b: &TestBroker, topic: &str, isolation: &str) -> LogRead {
    let c = b.consumer_with(&[("enable.partition.eof", "true"), ("check.crcs", "true"), ("isolation.level", isolation)]);
    let (low, hw) = c.fetch_watermarks(topic, 0, OP_TIMEOUT).expect("fetch_watermarks");
    let mut recs = Vec::new();
    if hw > low {
        assign(&c, topic, &[(0, low)]);
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut errors = Vec::new();
        loop {
            assert!(
                Instant::now() < deadline,
                "{topic}: reading [{low}, {hw}) timed out after {} records (last offset {:?}); errors {errors:?}",
                recs.len(),
                recs.last().map(|r: &Consumed| r.offset)
            );
            match c.poll(Duration::from_millis(100)) {
                None => {}
                Some(Ok(m)) => recs.push(Consumed::from_msg(&m)),
                Some(Err(KafkaError::PartitionEOF(_))) => break,
                Some(Err(e)) => {
                    eprintln!("[test] consumer error: {e}");
                    errors.push(e.to_string());
                    assert!(errors.len() < 50, "{topic}: too many consumer errors: {errors:?}");
                }
            }
        }
    }
    LogRead { low, hw, recs, done_ms: now_ms() }
}

/// Invariants that hold at every moment, compacted or not: offsets strictly increase and stay
/// below the high watermark; every record read is exactly the record acknowledged at that offset
/// (compaction keeps offsets, never rewrites contents); the high watermark is where producing
/// left it; and the latest record of every key is readable, except a tombstone that has been
/// older than `delete_retention_ms` for a whole cleaner pass before the read.
fn check_invariants(topic: &str, read: &LogRead, acked: &Acked, delete_retention_ms: i64) {
    assert_eq!(read.hw, acked.end(), "{topic}: high watermark vs acknowledged records");
    assert_eq!(read.low, 0, "{topic}: log start offset of a compact-only topic");
    let mut prev = -1i64;
    let mut present = HashSet::new();
    for r in &read.recs {
        assert!(r.offset > prev, "{topic}: offsets not strictly increasing: {prev} then {}", r.offset);
        assert!(r.offset < read.hw, "{topic}: offset {} at/after high watermark {}", r.offset, read.hw);
        prev = r.offset;
        let Some((k, v, _)) = acked.recs.get(&r.offset) else {
            panic!("{topic}: read offset {} which was never acknowledged", r.offset)
        };
        assert_eq!(
            (r.key.as_deref(), &r.value),
            (Some(&k[..]), v),
            "{topic}: record at offset {} differs from what was acknowledged there (key {:?} value {:?})",
            r.offset,
            r.key.as_deref().map(show),
            show_v(&r.value)
        );
        present.insert(r.offset);
    }
    for (k, o) in acked.latest_below(acked.end()) {
        if present.contains(&o) {
            continue;
        }
        let (_, v, ts) = &acked.recs[&o];
        let expired_tombstone = v.is_none() && ts + delete_retention_ms < read.done_ms;
        assert!(
            expired_tombstone,
            "{topic}: the latest record of key {} (offset {o}, value {}) is missing; read {} records of [0, {})",
            show(&k),
            show_v(v),
            read.recs.len(),
            read.hw
        );
    }
}

/// Whether the log below `boundary` is fully compacted: it holds only latest-per-key records
/// (tombstones optionally gone; `tombstones_gone` requires them gone). Err describes what is left.
fn compacted_below(read: &LogRead, acked: &Acked, boundary: i64, tombstones_gone: bool) -> Result<usize, String> {
    let latest = acked.latest_below(boundary);
    let mut kept = 0;
    for r in read.recs.iter().take_while(|r| r.offset < boundary) {
        let k = r.key.clone().unwrap();
        if latest.get(&k) != Some(&r.offset) {
            return Err(format!(
                "offset {} (key {}, {}) is not the latest for its key (latest {:?})",
                r.offset,
                show(&k),
                show_v(&r.value),
                latest.get(&k)
            ));
        }
        if tombstones_gone && r.value.is_none() {
            return Err(format!("tombstone of key {} still at offset {}", show(&k), r.offset));
        }
        kept += 1;
    }
    Ok(kept)
}

// ------------------------------------------------------------------------------ on disk

fn log_bytes(dir: &Path) -> u64 {
    segment_files(dir).iter().map(|(_, p)| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)).sum()
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok()).filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum()
}

/// Bytes actually allocated on disk (st_blocks), as `du` counts them: the active segment's
/// memory-mapped indexes are large sparse files, so their length says little.
fn disk_usage(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok()).filter_map(|e| e.metadata().ok()).map(|m| m.blocks() * 512).sum()
}

fn active_base(dir: &Path) -> i64 {
    segment_files(dir).last().map(|(b, _)| *b).expect("at least one segment")
}

fn cleaned_files(dir: &Path) -> Vec<(PathBuf, SystemTime)> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log.cleaned"))
        .map(|e| (e.path(), e.metadata().and_then(|m| m.modified()).unwrap_or(UNIX_EPOCH)))
        .collect()
}

fn crc32c(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let t = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, e) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { (c >> 1) ^ 0x82F6_3B78 } else { c >> 1 };
            }
            *e = c;
        }
        t
    });
    let mut crc = !0u32;
    for &b in data {
        crc = t[((crc ^ b as u32) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

/// Walks every `.log` file of a partition: each must be a whole number of well-formed v2 batches
/// with valid CRC-32C, offsets strictly increasing within and across segments, each batch at or
/// above its segment's base and below the next segment's base. Returns the number of batches.
fn verify_segments(dir: &Path) -> usize {
    let segs = segment_files(dir);
    let mut batches = 0;
    let mut prev_last = -1i64;
    for (i, (base, path)) in segs.iter().enumerate() {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let next_base = segs.get(i + 1).map(|(b, _)| *b).unwrap_or(i64::MAX);
        let mut pos = 0usize;
        while pos < data.len() {
            let ctx = format!("{} at byte {pos} of {}", path.display(), data.len());
            assert!(pos + 61 <= data.len(), "torn batch header in {ctx}");
            let bo = i64::from_be_bytes(data[pos..pos + 8].try_into().unwrap());
            let len = i32::from_be_bytes(data[pos + 8..pos + 12].try_into().unwrap());
            assert!(len >= 49, "bad batch length {len} in {ctx}");
            let end = pos + 12 + len as usize;
            assert!(end <= data.len(), "torn batch (length {len}) in {ctx}");
            assert_eq!(data[pos + 16], 2, "magic in {ctx}");
            let crc = u32::from_be_bytes(data[pos + 17..pos + 21].try_into().unwrap());
            assert_eq!(crc32c(&data[pos + 21..end]), crc, "CRC-32C mismatch in {ctx}");
            let delta = i32::from_be_bytes(data[pos + 23..pos + 27].try_into().unwrap());
            assert!(delta >= 0, "negative last offset delta in {ctx}");
            assert!(bo > prev_last, "batch base offset {bo} not above previous last offset {prev_last} in {ctx}");
            assert!(bo >= *base, "batch base offset {bo} below segment base {base} in {ctx}");
            let last = bo + delta as i64;
            assert!(last < next_base, "batch last offset {last} reaches next segment base {next_base} in {ctx}");
            prev_last = last;
            batches += 1;
            pos = end;
        }
    }
    batches
}

// ------------------------------------------------------------------------------ helpers

fn compaction_broker(extra: &[(&str, &str)]) -> TestBroker {
    let mut o = vec![("log.cleaner.backoff.ms", CLEANER_BACKOFF_MS)];
    o.extend_from_slice(extra);
    TestBroker::start_with(&o)
}

/// Produces filler records (keys `filler-0..9`) until every offset below `boundary` lies in a
/// closed segment, i.e. the active segment starts at or after `boundary`.
fn roll_past(b: &TestBroker, p: &FutureProducer, topic: &str, boundary: i64, acked: &mut Acked, filler_seq: &mut usize) {
    let dir = b.partition_dir(topic, 0);
    let deadline = Instant::now() + OP_TIMEOUT;
    while active_base(&dir) < boundary {
        assert!(Instant::now() < deadline, "{topic}: active segment never rolled past offset {boundary}");
        let recs: Vec<(Key, Value)> = (0..20)
            .map(|_| {
                *filler_seq += 1;
                let k = format!("filler-{}", *filler_seq % 10);
                (k.clone().into_bytes(), Some(format!("{k}|{:06}|{}", filler_seq, "f".repeat(60)).into_bytes()))
            })
            .collect();
        produce_all(p, topic, &recs, acked);
    }
}

fn compacted_lines(b: &TestBroker, topic: &str) -> Vec<String> {
    b.log_lines().into_iter().filter(|l| l.contains("compacted") && l.contains(topic)).collect()
}

/// Polls the log until the part below `boundary` is fully compacted (checking the invariants at
/// every read). Returns the read that showed it.
#[allow(clippy::too_many_arguments, reason = "each argument is one knob of the wait, named at every call")]
fn wait_compacted(
    b: &TestBroker,
    topic: &str,
    acked: &Acked,
    boundary: i64,
    delete_retention_ms: i64,
    tombstones_gone: bool,
    timeout: Duration,
    mut between: impl FnMut(),
) -> LogRead {
    let deadline = Instant::now() + timeout;
    loop {
        let read = read_log(b, topic);
        check_invariants(topic, &read, acked, delete_retention_ms);
        match compacted_below(&read, acked, boundary, tombstones_gone) {
            Ok(_) => return read,
            Err(why) => {
                if Instant::now() > deadline {
                    panic!(
                        "{topic}: log below offset {boundary} not compacted within {timeout:?} (tombstones_gone={tombstones_gone}): {why}\n\
                         read {} records, hw {}; cleaner log lines: {:#?}\n--- broker log tail ---\n{}",
                        read.recs.len(),
                        read.hw,
                        compacted_lines(b, topic),
                        b.log_tail(40)
                    );
                }
                eprintln!("[test] {topic}: not compacted yet: {why}");
            }
        }
        between();
        std::thread::sleep(Duration::from_millis(300));
    }
}

// ------------------------------------------------------------------------------ tests

/// The tombstone's batch in the partition's segment files: (attributes, base timestamp).
fn batch_on_disk(dir: &Path, offset: i64) -> Option<(i16, i64)> {
    let (_, path) = segment_files(dir).into_iter().rfind(|(base, _)| *base <= offset)?;
    let data = std::fs::read(path).ok()?;
    let h = log_batches(&data).into_iter().find(|h| h.base_offset <= offset && offset <= h.base_offset + h.last_offset_delta as i64)?;
    let at = h.file_pos;
    Some((
        i16::from_be_bytes(data[at + 21..at + 23].try_into().unwrap()),
        i64::from_be_bytes(data[at + 27..at + 35].try_into().unwrap()),
    ))
}

/// KIP-534: a tombstone stays readable for delete.retention.ms after the cleaner first compacted
/// it, however old its own timestamp (here an hour). That pass writes the delete horizon into
/// the tombstone's batch (attribute bit 6, base timestamp = horizon) while consumers still see
/// the record's own timestamp; a pass after the horizon removes it.
#[test]
fn tombstones_outlive_the_first_clean_by_delete_retention_ms() {
    const DELETE_RETENTION_MS: i64 = 4000;
    let b = compaction_broker(&[]);
    let topic = topic_name("compact-horizon");
    b.create_topic(&topic, 1, &refs(&compact_configs("compact", &DELETE_RETENTION_MS.to_string(), "0")));
    let dir = b.partition_dir(&topic, 0);
    let p = compaction_producer(&b);
    let mut acked = Acked::default();
    produce_all(&p, &topic, &[(b"gone".to_vec(), Some(b"v1".to_vec())), (b"kept".to_vec(), Some(b"v".to_vec()))], &mut acked);
    let old_ts = now_ms() - 3_600_000;
    let (_, tomb) = await_delivery(send_retry(&p, FutureRecord::<[u8], [u8]>::to(&topic).partition(0).key(&b"gone"[..]).timestamp(old_ts)));
    acked.recs.insert(tomb, (b"gone".to_vec(), None, old_ts));
    let boundary = acked.end();
    let mut filler_seq = 0;
    let t_first = now_ms();
    roll_past(&b, &p, &topic, boundary, &mut acked, &mut filler_seq);

    // The first pass: the old value goes, the tombstone stays, its batch now carries a horizon.
    let read = wait_compacted(&b, &topic, &acked, boundary, DELETE_RETENTION_MS, false, OP_TIMEOUT, || {});
    let t = read.recs.iter().find(|r| r.offset == tomb).unwrap_or_else(|| {
        panic!("{topic}: the tombstone at {tomb} is gone after the first clean\n{:#?}\n{}", compacted_lines(&b, &topic), b.log_tail(30))
    });
    assert_eq!((t.value.as_deref(), t.timestamp), (None, Some(old_ts)), "{topic}: the tombstone as read after the first clean");
    let (attributes, horizon) = batch_on_disk(&dir, tomb).expect("the tombstone's batch on disk");
    assert_ne!(attributes & 0x40, 0, "{topic}: delete-horizon bit not set (attributes {attributes:#x})");
    assert!(
        horizon >= t_first + DELETE_RETENTION_MS && horizon <= now_ms() + DELETE_RETENTION_MS,
        "{topic}: delete horizon {horizon} not within [{}, {}]",
        t_first + DELETE_RETENTION_MS,
        now_ms() + DELETE_RETENTION_MS
    );

    // Later passes (filler gives the cleaner new dirty segments) keep it until the horizon.
    let deadline = Instant::now() + Duration::from_millis(DELETE_RETENTION_MS as u64) + OP_TIMEOUT;
    let mut passes_before_horizon = 0;
    loop {
        let lines = compacted_lines(&b, &topic).len();
        let read = read_log(&b, &topic);
        check_invariants(&topic, &read, &acked, DELETE_RETENTION_MS);
        let present = read.recs.iter().any(|r| r.offset == tomb);
        if !present {
            assert!(
                read.done_ms >= horizon,
                "{topic}: tombstone removed before its delete horizon ({} ms early)",
                horizon - read.done_ms
            );
            break;
        }
        if read.done_ms < horizon {
            passes_before_horizon = lines;
        }
        assert!(Instant::now() < deadline, "{topic}: tombstone still there {} ms after its horizon\n{}", now_ms() - horizon, b.log_tail(30));
        let next = acked.end() + 40;
        roll_past(&b, &p, &topic, next, &mut acked, &mut filler_seq);
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(passes_before_horizon >= 2, "{topic}: only {passes_before_horizon} cleaner passes before the horizon: the test proved little");
}

/// 10k updates over 100 keys plus tombstones for 10 keys, then filler to close their segments.
/// After cleaning: each key at most once below the boundary, with its latest value; offsets kept
/// (with gaps); tombstones first kept, then gone after delete.retention.ms; the partition's log
/// bytes drop to a fraction; and a SIGTERM restart changes nothing.
#[test]
fn compaction_keeps_latest_value_per_key_and_expires_tombstones() {
    const KEYS: usize = 100;
    const UPDATES: usize = 10_000;
    const TOMBSTONED: usize = 10;
    const DELETE_RETENTION_MS: i64 = 8000;
    let mut b = compaction_broker(&[]);
    let topic = topic_name("compact-latest");
    let retention = DELETE_RETENTION_MS.to_string();
    b.create_topic(&topic, 1, &refs(&compact_configs("compact", &retention, GATE_LAG_MS)));
    let dir = b.partition_dir(&topic, 0);
    let p = compaction_producer(&b);
    let mut acked = Acked::default();

    // Updates: every key at least once, then random keys; values carry the update number.
    let key = |i: usize| format!("key-{i:03}");
    let recs: Vec<(Key, Value)> = (0..UPDATES)
        .map(|u| {
            let k = key(if u < KEYS { u } else { rand::random_range(0..KEYS) });
            (k.clone().into_bytes(), Some(update_value(&k, u)))
        })
        .collect();
    produce_all(&p, &topic, &recs, &mut acked);
    let tombstones: Vec<(Key, Value)> = (0..TOMBSTONED).map(|i| (key(i * 7).into_bytes(), None)).collect();
    produce_all(&p, &topic, &tombstones, &mut acked);
    let boundary = acked.end();
    let tombstone_ts = acked.recs.values().filter(|(_, v, _)| v.is_none()).map(|(_, _, ts)| *ts).max().unwrap();
    let mut filler_seq = 0;
    roll_past(&b, &p, &topic, boundary, &mut acked, &mut filler_seq);

    // Gated by min.compaction.lag.ms = 1 h: nothing may have been cleaned yet.
    let before = read_log(&b, &topic);
    check_invariants(&topic, &before, &acked, DELETE_RETENTION_MS);
    assert_eq!(before.recs.len() as i64, acked.end(), "{topic}: nothing may be compacted while min.compaction.lag.ms=1h");
    let bytes_before = log_bytes(&dir);
    let du_before = disk_usage(&dir);
    let segs_before = segment_files(&dir).len();
    eprintln!(
        "[test] {topic}: {} records in {segs_before} segments, {bytes_before} log bytes, du {du_before}, boundary {boundary}",
        acked.end()
    );
    assert!(segs_before > 50, "{topic}: expected many 4 KiB segments, got {segs_before}");

    // Open the gate.
    alter_topic(&b, &topic, &compact_configs("compact", &retention, "0"), ("min.compaction.lag.ms", "0"));
    let read = wait_compacted(&b, &topic, &acked, boundary, DELETE_RETENTION_MS, false, Duration::from_secs(30), || {});
    let kept = compacted_below(&read, &acked, boundary, false).unwrap();
    let live_keys = acked.latest_below(boundary).values().filter(|o| acked.recs[o].1.is_some()).count();
    assert_eq!(live_keys, KEYS - TOMBSTONED);
    assert!(kept >= live_keys && kept <= KEYS, "{topic}: {kept} records kept below {boundary}");
    // Offsets are preserved, so the compacted part has gaps.
    let region: Vec<i64> = read.recs.iter().map(|r| r.offset).take_while(|&o| o < boundary).collect();
    assert!(region.windows(2).any(|w| w[1] > w[0] + 1), "{topic}: compacted offsets have no gaps: {region:?}");
    // Tombstones survive until delete.retention.ms has passed (exact when the read ended before).
    if read.done_ms < tombstone_ts + DELETE_RETENTION_MS {
        let tomb_present = read.recs.iter().filter(|r| r.offset < boundary && r.value.is_none()).count();
        assert_eq!(tomb_present, TOMBSTONED, "{topic}: tombstones younger than delete.retention.ms must be kept");
    } else {
        eprintln!(
            "[test] {topic}: first compacted read ended {} ms after the tombstones, past delete.retention.ms; tombstone retention not checked",
            read.done_ms - tombstone_ts
        );
    }
    let bytes_after = log_bytes(&dir);
    let du_after = disk_usage(&dir);
    eprintln!(
        "[test] {topic}: log bytes {bytes_before} -> {bytes_after}, du {du_before} -> {du_after} (apparent dir bytes now {}); {} segments",
        dir_bytes(&dir),
        segment_files(&dir).len()
    );
    assert!(bytes_after * 5 < bytes_before, "{topic}: log bytes only went from {bytes_before} to {bytes_after}");
    assert!(du_after * 2 < du_before, "{topic}: disk usage of the partition dir only went from {du_before} to {du_after}");
    // A fetch from an offset the cleaner removed returns the next surviving record.
    if let Some(w) = region.windows(2).find(|w| w[1] > w[0] + 1) {
        let c = b.consumer();
        assign(&c, &topic, &[(0, w[0] + 1)]);
        let first = poll_n(&c, 1, OP_TIMEOUT).remove(0);
        assert_eq!(first.offset, w[1], "{topic}: fetch from compacted-away offset {} should start at {}", w[0] + 1, w[1]);
    }
    assert!(!compacted_lines(&b, &topic).is_empty(), "{topic}: no `compacted` line in the broker log");
    assert!(verify_segments(&dir) > 0);

    // Tombstones vanish once older than delete.retention.ms (a cleaner pass needs new dirty
    // segments, so keep producing filler while waiting).
    let wait = tombstone_ts + DELETE_RETENTION_MS + 100 - now_ms();
    if wait > 0 {
        std::thread::sleep(Duration::from_millis(wait as u64));
    }
    let p2 = p.clone();
    let topic2 = topic.clone();
    let mut acked_filler = Acked::default();
    let mut fill_seq = 10_000_000usize;
    // The filler produced while waiting is tracked separately and merged after each read below.
    let read = {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = read_log(&b, &topic);
            let mut all = Acked { recs: acked.recs.clone() };
            all.recs.extend(acked_filler.recs.clone());
            check_invariants(&topic, &r, &all, DELETE_RETENTION_MS);
            match compacted_below(&r, &all, boundary, true) {
                Ok(_) => {
                    acked = all;
                    break r;
                }
                Err(why) if Instant::now() > deadline => panic!(
                    "{topic}: tombstones not removed {}ms after delete.retention.ms: {why}\ncleaner lines {:#?}\n--- broker log tail ---\n{}",
                    now_ms() - tombstone_ts - DELETE_RETENTION_MS,
                    compacted_lines(&b, &topic),
                    b.log_tail(40)
                ),
                Err(why) => eprintln!("[test] {topic}: waiting for tombstones to go: {why}"),
            }
            let recs: Vec<(Key, Value)> = (0..60)
                .map(|_| {
                    fill_seq += 1;
                    let k = format!("filler-{}", fill_seq % 10);
                    (k.clone().into_bytes(), Some(format!("{k}|{fill_seq}|{}", "f".repeat(60)).into_bytes()))
                })
                .collect();
            produce_all(&p2, &topic2, &recs, &mut acked_filler);
            std::thread::sleep(Duration::from_millis(300));
        }
    };
    let below: Vec<&Consumed> = read.recs.iter().filter(|r| r.offset < boundary).collect();
    assert_eq!(below.len(), KEYS - TOMBSTONED, "{topic}: exactly one record per live key below {boundary}");
    for i in 0..TOMBSTONED {
        let k = key(i * 7).into_bytes();
        assert!(below.iter().all(|r| r.key.as_ref() != Some(&k)), "{topic}: tombstoned key {} still readable", show(&k));
    }

    // A clean restart keeps exactly that.
    let snapshot: Vec<KeyedRecord> =
        below.iter().map(|r| (r.offset, r.key.clone(), r.value.clone())).collect();
    b.stop();
    let stop_time = SystemTime::now();
    b.restart();
    let stale: Vec<_> = cleaned_files(&dir).into_iter().filter(|(_, m)| *m < stop_time + Duration::from_millis(50)).collect();
    assert!(stale.is_empty(), "{topic}: .log.cleaned files from before the restart: {stale:?}");
    let after = read_log(&b, &topic);
    check_invariants(&topic, &after, &acked, DELETE_RETENTION_MS);
    let again: Vec<KeyedRecord> =
        after.recs.iter().filter(|r| r.offset < boundary).map(|r| (r.offset, r.key.clone(), r.value.clone())).collect();
    assert_eq!(again, snapshot, "{topic}: compacted records changed across a SIGTERM restart");
    verify_segments(&dir);
}

/// Lots of data, cleaning started by opening the min.compaction.lag.ms gate; kill -9 while the
/// cleaner is rewriting segments, restart, check, produce more, repeat. Afterwards every latest
/// value is readable, every record is exactly what was acknowledged at its offset, segments are
/// whole with valid CRCs, no stale `.log.cleaned` survives a restart, and the cleaner still
/// finishes the job.
#[test]
fn kill9_during_cleaning_loses_nothing() {
    const KEYS: usize = 400;
    const ROUNDS: usize = 3;
    let mut b = compaction_broker(&[]);
    let topic = topic_name("compact-kill9");
    let configs = |lag: &str| compact_configs("compact", "86400000", lag);
    b.create_topic(&topic, 1, &refs(&configs(GATE_LAG_MS)));
    let dir = b.partition_dir(&topic, 0);
    let mut acked = Acked::default();
    let key = |i: usize| format!("key-{i:03}");
    let mut update = 0usize;
    let updates = |n: usize, update: &mut usize| -> Vec<(Key, Value)> {
        (0..n)
            .map(|_| {
                *update += 1;
                let k = key(if *update <= KEYS { *update - 1 } else { rand::random_range(0..KEYS) });
                (k.clone().into_bytes(), Some(update_value(&k, *update)))
            })
            .collect()
    };
    {
        let p = compaction_producer(&b);
        produce_all(&p, &topic, &updates(20_000, &mut update), &mut acked);
        // Some tombstones (kept: delete.retention.ms is a day); later rounds may resurrect keys.
        let tombs: Vec<(Key, Value)> = (0..20).map(|i| (key(i * 13).into_bytes(), None)).collect();
        produce_all(&p, &topic, &tombs, &mut acked);
    }
    let bytes_before = log_bytes(&dir);
    eprintln!("[test] {topic}: {} records, {} segments, {bytes_before} log bytes", acked.end(), segment_files(&dir).len());
    alter_topic(&b, &topic, &configs("0"), ("min.compaction.lag.ms", "0"));

    let mut killed_mid_pass = 0;
    for round in 0..ROUNDS {
        // Wait until the cleaner is visibly rewriting a segment, then kill at a random moment soon after.
        let passes_before = compacted_lines(&b, &topic).len();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = false;
        while Instant::now() < deadline {
            if !cleaned_files(&dir).is_empty() {
                seen = true;
                break;
            }
            if compacted_lines(&b, &topic).len() > passes_before {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let delay = rand::random_range(0..25u64);
        std::thread::sleep(Duration::from_millis(delay));
        b.kill9();
        let kill_time = SystemTime::now();
        let leftovers = cleaned_files(&dir);
        let pass_finished = compacted_lines(&b, &topic).len() > passes_before;
        if !pass_finished {
            killed_mid_pass += 1;
        }
        eprintln!(
            "[test] {topic} round {round}: saw cleaning={seen}, killed {delay} ms later; pass finished before kill={pass_finished}; \
             .log.cleaned at kill: {:?}",
            leftovers.iter().map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned()).collect::<Vec<_>>()
        );

        b.restart();
        // Files from the new incarnation are written >= 300 ms (the cleaner backoff) after start.
        let stale: Vec<_> = cleaned_files(&dir).into_iter().filter(|(_, m)| *m < kill_time + Duration::from_millis(50)).collect();
        assert!(stale.is_empty(), "{topic} round {round}: .log.cleaned files from before the kill survived the restart: {stale:?}");
        let batches = verify_segments(&dir);
        let read = read_log(&b, &topic);
        check_invariants(&topic, &read, &acked, 86_400_000);
        eprintln!("[test] {topic} round {round}: after restart {} records readable, {batches} batches on disk", read.recs.len());
        assert!(
            !b.log_lines().iter().any(|l| l.contains("log cleaner failed")),
            "{topic}: the cleaner reported a failure:\n{}",
            b.log_tail(40)
        );

        if round + 1 < ROUNDS {
            let p = compaction_producer(&b);
            produce_all(&p, &topic, &updates(5_000, &mut update), &mut acked);
        }
    }
    eprintln!("[test] {topic}: killed before the pass logged `compacted` in {killed_mid_pass} of {ROUNDS} rounds");

    // The cleaner still finishes: close the last updates' segments, wait for the exact result.
    let boundary = acked.end();
    let p = compaction_producer(&b);
    let mut filler_seq = 0;
    roll_past(&b, &p, &topic, boundary, &mut acked, &mut filler_seq);
    let read = wait_compacted(&b, &topic, &acked, boundary, 86_400_000, false, Duration::from_secs(40), || {});
    let below = read.recs.iter().filter(|r| r.offset < boundary).count();
    assert_eq!(below, KEYS, "{topic}: exactly one record (value or tombstone) per key below {boundary}");
    verify_segments(&dir);
    let bytes_after = log_bytes(&dir);
    eprintln!("[test] {topic}: log bytes {bytes_before} -> {bytes_after}");
    assert!(bytes_after * 5 < bytes_before, "{topic}: log bytes only went from {bytes_before} to {bytes_after}");
    b.stop();
}

/// Kafka refuses keyless records on compacted topics with INVALID_RECORD; keyed records work, and
/// the refused record leaves no trace in the log. A delete-policy topic still takes keyless ones.
#[test]
fn keyless_record_refused_on_compacted_topic() {
    let b = compaction_broker(&[]);
    let topic = topic_name("compact-keyless");
    b.create_topic(&topic, 1, &refs(&compact_configs("compact", "86400000", "0")));
    let plain = topic_name("plain-keyless");
    b.create_topic(&plain, 1, &[]);
    let p = b.producer_with(&[("message.timeout.ms", "10000")]);

    let keyless = FutureRecord::<[u8], [u8]>::to(&topic).partition(0).payload(&b"no key"[..]);
    match block_on(send_retry(&p, keyless)) {
        Ok(Err((KafkaError::MessageProduction(code), _))) => {
            assert_eq!(code, RDKafkaErrorCode::InvalidRecord, "{topic}: keyless record refused with the wrong error")
        }
        other => panic!("{topic}: keyless record to a compacted topic: expected InvalidRecord, got {other:?}"),
    }
    // Same for a compact,delete topic.
    let cd = topic_name("compact-delete-keyless");
    b.create_topic(&cd, 1, &refs(&compact_configs("compact,delete", "86400000", "0")));
    let keyless = FutureRecord::<[u8], [u8]>::to(&cd).partition(0).payload(&b"no key"[..]);
    match block_on(send_retry(&p, keyless)) {
        Ok(Err((KafkaError::MessageProduction(code), _))) => assert_eq!(code, RDKafkaErrorCode::InvalidRecord, "{cd}"),
        other => panic!("{cd}: keyless record to a compact,delete topic: expected InvalidRecord, got {other:?}"),
    }

    assert_eq!(produce_one(&p, &topic, Some(0), b"k1", b"v1"), (0, 0), "{topic}: the refused record took no offset");
    assert_eq!(produce_one(&p, &topic, Some(0), b"k2", b"v2"), (0, 1));
    let read = read_log(&b, &topic);
    let got: Vec<KeyedRecord> = read.recs.iter().map(|r| (r.offset, r.key.clone(), r.value.clone())).collect();
    assert_eq!(
        got,
        vec![(0, Some(b"k1".to_vec()), Some(b"v1".to_vec())), (1, Some(b"k2".to_vec()), Some(b"v2".to_vec()))]
    );

    // A tombstone is keyed, so it is accepted.
    let tomb = FutureRecord::<[u8], [u8]>::to(&topic).partition(0).key(&b"k1"[..]);
    assert_eq!(await_delivery(send_retry(&p, tomb)), (0, 2));

    let keyless = FutureRecord::<[u8], [u8]>::to(&plain).partition(0).payload(&b"no key"[..]);
    assert_eq!(await_delivery(send_retry(&p, keyless)), (0, 0), "{plain}: keyless records are fine on a delete topic");
}

/// cleanup.policy=compact,delete with a small retention.ms: whole expired segments are deleted
/// (log start offset moves up, files go) although every key is unique, so compaction alone would
/// remove nothing. The same settings with cleanup.policy=compact delete nothing.
#[test]
fn compact_delete_policy_also_applies_retention() {
    let b = compaction_broker(&[("log.retention.check.interval.ms", "300")]);
    let with_retention = |policy: &str| {
        let mut c = compact_configs(policy, "1000", "0");
        c.push(("retention.ms".into(), "1000".into()));
        c
    };
    let compact_only = topic_name("compact-only");
    b.create_topic(&compact_only, 1, &refs(&with_retention("compact")));
    let cd = topic_name("compact-delete");
    b.create_topic(&cd, 1, &refs(&with_retention("compact,delete")));
    let p = compaction_producer(&b);
    let unique = |prefix: &str, n: usize, from: usize| -> Vec<(Key, Value)> {
        (from..from + n).map(|i| (format!("{prefix}-{i:05}").into_bytes(), Some(update_value(prefix, i)))).collect()
    };

    // The compact-only topic first: its records expire before the compact,delete topic's.
    let mut acked_c = Acked::default();
    produce_all(&p, &compact_only, &unique("c", 300, 0), &mut acked_c);
    let mut acked_cd = Acked::default();
    produce_all(&p, &cd, &unique("cd", 300, 0), &mut acked_cd);
    let cd_dir = b.partition_dir(&cd, 0);
    let c_dir = b.partition_dir(&compact_only, 0);
    assert!(segment_files(&cd_dir).len() >= 5, "{cd}: expected several segments");

    // Two rounds: the second proves a whole retention pass ran after the compact-only topic's
    // records expired.
    let consumer = b.consumer();
    for round in 0..2 {
        let active = active_base(&cd_dir);
        let end = acked_cd.end();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (low, hw) = consumer.fetch_watermarks(&cd, 0, OP_TIMEOUT).expect("watermarks");
            assert_eq!(hw, end, "{cd}: high watermark");
            if low >= active {
                assert!(low <= hw);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{cd} round {round}: log start offset still {low} (want >= {active}, the base of the segment active \
                 when producing stopped); segments {:?}\n--- broker log tail ---\n{}",
                segment_files(&cd_dir).iter().map(|s| s.0).collect::<Vec<_>>(),
                b.log_tail(30)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let gone: Vec<i64> = segment_files(&cd_dir).iter().map(|s| s.0).filter(|&s| s < active).collect();
        assert!(gone.is_empty(), "{cd} round {round}: segments below {active} still on disk: {gone:?}");
        // What is left is readable, and producing continues at the old end.
        let read = read_log(&b, &cd);
        for r in &read.recs {
            let (k, v, _) = &acked_cd.recs[&r.offset];
            assert_eq!((r.key.as_ref(), r.value.as_ref()), (Some(k), v.as_ref()), "{cd}: record at offset {}", r.offset);
        }
        if round == 0 {
            produce_all(&p, &cd, &unique("cd", 300, 300), &mut acked_cd);
            assert_eq!(*acked_cd.recs.keys().next().unwrap(), 0);
            assert_eq!(*acked_cd.recs.range(end..).next().unwrap().0, end, "{cd}: offsets continue after retention");
        }
    }
    assert!(b.log_lines().iter().any(|l| l.contains("retention deleted segments") && l.contains(&cd)));

    // compact alone: retention.ms does not delete anything; unique keys mean nothing is compacted.
    let read = read_log(&b, &compact_only);
    assert_eq!(read.low, 0, "{compact_only}: log start offset moved on a compact-only topic");
    check_invariants(&compact_only, &read, &acked_c, 1000);
    assert_eq!(read.recs.len(), 300, "{compact_only}: every unique-key record must remain");
    assert_eq!(segment_files(&c_dir).first().map(|s| s.0), Some(0));
}

/// Aborted transactional records are physically removed by the cleaner (a read_uncommitted
/// consumer no longer sees them), and they never count as a key's latest value: a key whose last
/// write was aborted keeps its last committed value.
#[test]
fn compaction_drops_aborted_transactions() {
    aborted_transactions_case(false);
}

/// The same, but the broker is killed (-9) after the transactions and before cleaning starts:
/// the cleaner must still know which transactions were aborted.
#[test]
fn compaction_drops_aborted_transactions_after_kill9() {
    aborted_transactions_case(true);
}

fn aborted_transactions_case(kill_before_cleaning: bool) {
    let mut b = compaction_broker(&[("transaction.abort.timed.out.transaction.cleanup.interval.ms", "500")]);
    let topic = topic_name("compact-txn");
    let lag = if kill_before_cleaning { GATE_LAG_MS } else { "0" };
    b.create_topic(&topic, 1, &refs(&compact_configs("compact", "86400000", lag)));
    let mut c = b.client_config();
    c.set("transactional.id", format!("{topic}-txn"))
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "2")
        .set("batch.size", "3000");
    let tp: FutureProducer = c.create().expect("transactional producer");
    tp.init_transactions(OP_TIMEOUT).expect("init_transactions");
    let mut acked = Acked::default();
    let mut aborted: HashSet<i64> = HashSet::new();
    let recs = |keys: std::ops::Range<usize>, tag: &str| -> Vec<(Key, Value)> {
        keys.map(|i| (format!("k-{i:02}").into_bytes(), Some(format!("k-{i:02}|{tag}|{}", "t".repeat(50)).into_bytes()))).collect()
    };
    // Several rounds so that transactions span many segments.
    for round in 0..5 {
        tp.begin_transaction().expect("begin");
        produce_all(&tp, &topic, &recs(0..50, &format!("committed-a{round}")), &mut acked);
        tp.commit_transaction(OP_TIMEOUT).expect("commit");

        tp.begin_transaction().expect("begin");
        let before = acked.end();
        let mut txn = recs(0..50, &format!("aborted-{round}"));
        txn.extend((0..10).map(|i| (format!("only-aborted-{i}").into_bytes(), Some(b"aborted".to_vec()))));
        produce_all(&tp, &topic, &txn, &mut acked);
        aborted.extend(acked.recs.range(before..).map(|(o, _)| *o));
        tp.abort_transaction(OP_TIMEOUT).expect("abort");

        tp.begin_transaction().expect("begin");
        produce_all(&tp, &topic, &recs(25..50, &format!("committed-b{round}")), &mut acked);
        tp.commit_transaction(OP_TIMEOUT).expect("commit");
    }
    // A key whose latest write is aborted: the last thing k-00..k-24 see is an aborted txn.
    tp.begin_transaction().expect("begin");
    let before = acked.end();
    produce_all(&tp, &topic, &recs(0..25, "aborted-last"), &mut acked);
    aborted.extend(acked.recs.range(before..).map(|(o, _)| *o));
    tp.abort_transaction(OP_TIMEOUT).expect("abort");
    let boundary = acked.end() + 1; // the abort marker takes an offset too
    let p = compaction_producer(&b);
    let mut filler = Acked::default();
    let mut seq = 0;
    roll_past(&b, &p, &topic, boundary, &mut filler, &mut seq);
    acked.recs.extend(filler.recs);
    drop(p);
    drop(tp);
    if kill_before_cleaning {
        b.kill9();
        b.restart();
        alter_topic(&b, &topic, &compact_configs("compact", "86400000", "0"), ("min.compaction.lag.ms", "0"));
    }

    // Expected below the boundary: the latest committed record of every key, nothing else.
    let mut expected: BTreeMap<Key, i64> = BTreeMap::new();
    for (&o, (k, _, _)) in acked.recs.range(..boundary) {
        if !aborted.contains(&o) {
            expected.insert(k.clone(), o);
        }
    }
    let expected: BTreeMap<i64, Key> = expected.into_iter().map(|(k, o)| (o, k)).collect();
    assert_eq!(expected.len(), 50);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let read = read_log(&b, &topic);
        let mut got = BTreeMap::new();
        for r in &read.recs {
            let (k, v, _) = acked.recs.get(&r.offset).unwrap_or_else(|| panic!("{topic}: unknown offset {}", r.offset));
            assert_eq!((r.key.as_ref(), r.value.as_ref()), (Some(k), v.as_ref()), "{topic}: record at offset {}", r.offset);
            if r.offset < boundary {
                got.insert(r.offset, k.clone());
            }
        }
        if got == expected {
            break;
        }
        let extra: Vec<String> = got.iter().filter(|(o, _)| !expected.contains_key(o)).take(5)
            .map(|(o, k)| format!("{o}:{}{}", show(k), if aborted.contains(o) { " (aborted)" } else { "" })).collect();
        let missing: Vec<String> = expected.iter().filter(|(o, _)| !got.contains_key(o)).take(5).map(|(o, k)| format!("{o}:{}", show(k))).collect();
        assert!(
            missing.is_empty(),
            "{topic}: latest committed records missing (read_uncommitted): {missing:?}\n--- broker log tail ---\n{}",
            b.log_tail(30)
        );
        assert!(
            Instant::now() < deadline,
            "{topic}: read_uncommitted still sees {} records below {boundary} beyond the latest committed ones, e.g. {extra:?}\n\
             cleaner lines {:#?}\n--- broker log tail ---\n{}",
            got.len() - expected.len(),
            compacted_lines(&b, &topic),
            b.log_tail(30)
        );
        eprintln!("[test] {topic}: not compacted yet, e.g. {extra:?}");
        std::thread::sleep(Duration::from_millis(300));
    }
    // read_committed sees the same.
    let rc = read_log_isolation(&b, &topic, "read_committed");
    let rc_below: Vec<i64> = rc.recs.iter().map(|r| r.offset).filter(|&o| o < boundary).collect();
    assert_eq!(rc_below, expected.keys().copied().collect::<Vec<_>>(), "{topic}: read_committed after compaction");
    verify_segments(&b.partition_dir(&topic, 0));
}

/// Compressed batches (every codec librdkafka offers) are compacted too: the rewritten batches
/// must decode, pass CRC checks, and hold exactly the latest record of every key.
#[test]
fn compaction_of_compressed_batches() {
    const KEYS: usize = 50;
    let b = compaction_broker(&[]);
    let mut cases = Vec::new();
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let topic = topic_name(&format!("compact-{codec}"));
        b.create_topic(&topic, 1, &refs(&compact_configs("compact", "86400000", "0")));
        let p = b.producer_with(&[("batch.size", "6000"), ("linger.ms", "2"), ("compression.type", codec)]);
        let mut acked = Acked::default();
        let recs: Vec<(Key, Value)> = (0..3000)
            .map(|u| {
                let k = format!("key-{:02}", if u < KEYS { u } else { rand::random_range(0..KEYS) });
                // Some incompressible bytes so that compressed batches still fill segments.
                let noise: String = (0..24).map(|_| char::from(b'a' + rand::random_range(0..26u8))).collect();
                (k.clone().into_bytes(), Some(format!("{k}|update={u:06}|{noise}").into_bytes()))
            })
            .collect();
        produce_all(&p, &topic, &recs, &mut acked);
        let boundary = acked.end();
        let mut seq = 0;
        roll_past(&b, &p, &topic, boundary, &mut acked, &mut seq);
        cases.push((codec, topic, acked, boundary));
    }
    for (codec, topic, acked, boundary) in &cases {
        let read = wait_compacted(&b, topic, acked, *boundary, 86_400_000, false, Duration::from_secs(30), || {});
        let below = read.recs.iter().filter(|r| r.offset < *boundary).count();
        assert_eq!(below, KEYS, "{topic} ({codec}): one record per key below {boundary}");
        verify_segments(&b.partition_dir(topic, 0));
    }
    assert!(!b.log_lines().iter().any(|l| l.contains("log cleaner failed")), "cleaner failure:\n{}", b.log_tail(30));
}

/// Kafka's cleaner groups consecutive segments whose combined size fits in `segment.bytes` and
/// rewrites each group as one segment (`Cleaner.groupSegmentsBySize`), so once cleaned segments
/// have shrunk, the next pass merges them: a compacted topic does not keep one (mostly empty)
/// segment, with its file handles and index maps, per segment ever rolled.
#[test]
fn later_cleaner_passes_merge_small_cleaned_segments() {
    const KEYS: usize = 20;
    let b = compaction_broker(&[]);
    let topic = topic_name("compact-merge");
    b.create_topic(&topic, 1, &refs(&compact_configs("compact", "86400000", GATE_LAG_MS)));
    let dir = b.partition_dir(&topic, 0);
    let p = compaction_producer(&b);
    let mut acked = Acked::default();
    let recs: Vec<(Key, Value)> = (0..3000)
        .map(|u| {
            let k = format!("key-{:02}", if u < KEYS { u } else { rand::random_range(0..KEYS) });
            (k.clone().into_bytes(), Some(update_value(&k, u)))
        })
        .collect();
    produce_all(&p, &topic, &recs, &mut acked);
    let boundary = acked.end();
    let mut seq = 0;
    roll_past(&b, &p, &topic, boundary, &mut acked, &mut seq);
    let segs_before = segment_files(&dir).iter().filter(|(base, _)| *base < boundary).count();
    alter_topic(&b, &topic, &compact_configs("compact", "86400000", "0"), ("min.compaction.lag.ms", "0"));
    wait_compacted(&b, &topic, &acked, boundary, 86_400_000, false, Duration::from_secs(30), || {});

    // More passes: each needs new dirty segments.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut passes_seen = compacted_lines(&b, &topic).len();
    let target = passes_seen + 3;
    while passes_seen < target {
        assert!(Instant::now() < deadline, "{topic}: only {passes_seen} cleaner passes logged, want {target}");
        let end = acked.end() + 1;
        roll_past(&b, &p, &topic, end, &mut acked, &mut seq);
        std::thread::sleep(Duration::from_millis(300));
        passes_seen = compacted_lines(&b, &topic).len();
    }
    let read = read_log(&b, &topic);
    check_invariants(&topic, &read, &acked, 86_400_000);
    compacted_below(&read, &acked, boundary, false).expect("still compacted");
    verify_segments(&dir);

    let segs = segment_files(&dir);
    let below: Vec<(i64, u64)> = segs
        .iter()
        .filter(|(base, _)| *base < boundary)
        .map(|(base, p)| (*base, std::fs::metadata(p).unwrap().len()))
        .collect();
    let bytes: u64 = below.iter().map(|s| s.1).sum();
    let empty = below.iter().filter(|s| s.1 == 0).count();
    eprintln!(
        "[test] {topic}: below offset {boundary}: {segs_before} segments before cleaning, {} after {passes_seen} passes \
         ({bytes} bytes, {empty} empty); {} segments in all",
        below.len(),
        segs.len()
    );
    let allowed = 2 * (bytes as usize).div_ceil(4096) + 2;
    assert!(
        below.len() <= allowed,
        "{topic}: after {passes_seen} cleaner passes the {KEYS} live records below offset {boundary} ({bytes} bytes) still \
         occupy {} segment files ({empty} of them empty; {segs_before} before cleaning); Kafka's cleaner would have merged \
         them into at most ~{allowed} segments of segment.bytes=4096",
        below.len()
    );
}
