//! Entry points for coverage-guided fuzzing: the cargo-fuzz targets in `fuzz/` call these, and
//! `tests/fuzz_corpus.rs` replays the checked-in seeds and crash inputs through them. Each takes
//! arbitrary bytes and returns early on anything it cannot use; a panic is a bug.

use crate::config::{parse_properties, Config, LogConfig};
use crate::log::validator::{self, AppendOrigin, ValidationConfig};
use crate::log::{batch, records, FetchIsolation, Partition, ReadLimit, Shutdown};
use crate::request::{Chunk, Frame};
use crate::security::sasl::scram::{ScramCredential, ScramCredentialLookup, ScramMechanism, MIN_ITERATIONS};
use crate::security::sasl::{self, jaas, Credentials};
use crate::server::dispatch::{self, Outcome};
use crate::{Broker, Handle};
use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, CreatePartitionsRequest, CreateTopicsRequest, RequestHeader};
use kafka_protocol::protocol::{Decodable, Message};
use kafka_protocol::records::Compression;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// How long a request, and then its deferred response, may take: long-poll fetches and joins
/// must not stall the fuzzer.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(200);
/// Requests one broker serves before a fresh one (new data dir) replaces it, bounding disk use.
const REQUESTS_PER_BROKER: u32 = 5000;
/// Partitions one CreateTopics/CreatePartitions input may ask for: the broker's own cap (10,000
/// a request, as Kafka's) would still have every such input create thousands of directories.
const MAX_NEW_PARTITIONS: i64 = 64;
const LIMIT: usize = 1 << 20;

struct Harness {
    rt: tokio::runtime::Runtime,
    live: Mutex<Live>,
}

#[derive(Default)]
struct Live {
    broker: Option<(Handle, PathBuf)>,
    served: u32,
    /// The data dir of the broker before the current one, removed at the next replacement.
    retired: Option<PathBuf>,
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime");
        Harness { rt, live: Mutex::new(Live::default()) }
    })
}

/// A fresh directory under the temp dir, unique to this process and call.
fn scratch_dir(kind: &str) -> PathBuf {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!("odradek-fuzz-{}-{kind}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed)));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

impl Harness {
    /// The broker to send the next request to, started on first use and replaced now and then.
    fn broker(&self) -> Arc<Broker> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        if live.served >= REQUESTS_PER_BROKER {
            if let Some((handle, dir)) = live.broker.take() {
                let _ = self.rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), handle.shutdown()).await });
                if let Some(old) = live.retired.replace(dir) {
                    let _ = std::fs::remove_dir_all(old);
                }
            }
            live.served = 0;
        }
        live.served += 1;
        if live.broker.is_none() {
            let dir = scratch_dir("broker");
            let settings = [
                ("listeners", "PLAINTEXT://127.0.0.1:0".to_string()),
                ("log.dirs", dir.display().to_string()),
                ("group.initial.rebalance.delay.ms", "0".into()),
                ("offsets.topic.num.partitions", "2".into()),
                ("transaction.state.log.num.partitions", "2".into()),
                ("log.segment.bytes", "1048576".into()),
                ("log.index.size.max.bytes", "65536".into()),
            ];
            let config = Config::from_map(settings.into_iter().map(|(k, v)| (k.to_string(), v)).collect()).expect("fuzz broker config");
            let handle = self.rt.block_on(Broker::start(config)).expect("fuzz broker start");
            live.broker = Some((handle, dir));
        }
        live.broker.as_ref().map(|(h, _)| h.broker().clone()).expect("a running broker")
    }
}

/// Whether `frame` is a CreateTopics or CreatePartitions request for more than `MAX_NEW_PARTITIONS`.
fn too_many_partitions(frame: &Bytes) -> bool {
    let (Some(key), Some(version)) = (frame.get(0..2), frame.get(2..4)) else { return false };
    let version = i16::from_be_bytes([version[0], version[1]]);
    let Ok(key) = ApiKey::try_from(i16::from_be_bytes([key[0], key[1]])) else { return false };
    let range = match key {
        ApiKey::CreateTopics => CreateTopicsRequest::VERSIONS,
        ApiKey::CreatePartitions => CreatePartitionsRequest::VERSIONS,
        _ => return false,
    };
    if version < range.min || version > range.max {
        return false;
    }
    let mut body = frame.clone();
    if RequestHeader::decode(&mut body, key.request_header_version(version)).is_err() {
        return false;
    }
    let total: i64 = if key == ApiKey::CreateTopics {
        let Ok(req) = CreateTopicsRequest::decode(&mut body, version) else { return false };
        req.topics.iter().map(|t| (t.num_partitions as i64).max(t.assignments.len() as i64).max(1)).sum()
    } else {
        let Ok(req) = CreatePartitionsRequest::decode(&mut body, version) else { return false };
        req.topics.iter().map(|t| (t.count as i64).max(0)).sum()
    };
    total > MAX_NEW_PARTITIONS
}

/// A response must be as long as it says and answer the request's correlation id.
fn check_response(frame: &Frame, request: &[u8]) {
    let len: usize = frame.chunks.iter().map(|c| match c { Chunk::Bytes(b) => b.len(), Chunk::File(f) => f.len }).sum();
    assert_eq!(len, frame.size as usize, "response frame size does not match its chunks");
    match frame.chunks.first() {
        Some(Chunk::Bytes(b)) if b.len() >= 4 => assert_eq!(&b[..4], &request[4..8], "response correlation id"),
        _ => panic!("response without a header"),
    }
}

/// One request frame (after the size prefix) through the broker's dispatch: api key, version, body.
pub fn request(data: &[u8]) {
    let frame = Bytes::copy_from_slice(data);
    if too_many_partitions(&frame) {
        return;
    }
    let h = harness();
    let broker = h.broker();
    let peer = SocketAddr::from(([127, 0, 0, 1], 50000));
    let client = crate::request::Client { peer, listener: "PLAINTEXT".into(), principal: Arc::new(crate::security::KafkaPrincipal::anonymous()) };
    h.rt.block_on(async {
        let Ok(answer) = tokio::time::timeout(REQUEST_TIMEOUT, dispatch::handle(&broker, &client, frame)).await else { return };
        let Ok(outcome) = tokio::time::timeout(REQUEST_TIMEOUT, answer.settle()).await else { return };
        if let Outcome::Respond(f) = &outcome {
            check_response(f, data);
        }
    });
}

/// A produce payload through the validator (first byte: flags), then batch and record parsers.
pub fn record_batch(data: &[u8]) {
    let Some((&flags, buf)) = data.split_first() else { return };
    let config = ValidationConfig { compacted: flags & 1 != 0, max_message_bytes: LIMIT };
    let origins: &[AppendOrigin] = if flags & 2 != 0 { &[AppendOrigin::Client, AppendOrigin::Coordinator] } else { &[AppendOrigin::Client] };
    for &origin in origins {
        let Ok(valid) = validator::validate(buf, origin, &config) else { continue };
        // What the validator accepts, the framing check and the record reader accept too.
        let headers = batch::validate_all(buf).expect("validated batches fail validate_all");
        assert_eq!(headers.len(), valid.len());
        let mut pos = 0;
        for v in &valid {
            let h = v.header;
            let bytes = &buf[pos..pos + h.size];
            let recs = records::read(&h, bytes, LIMIT).expect("a validated batch's records cannot be read");
            assert_eq!(recs.records.len(), h.record_count as usize, "records read from a validated batch");
            if config.compacted && !h.is_control() {
                assert!(recs.records.iter().all(|r| r.key.is_some()), "a keyless record passed on a compacted topic");
            }
            let target = match (flags >> 2) & 7 {
                1 => Compression::None,
                2 => Compression::Gzip,
                3 => Compression::Snappy,
                4 => Compression::Lz4,
                5 => Compression::Zstd,
                _ => {
                    pos += h.size;
                    continue;
                }
            };
            // Recompression (compression.type) keeps every record, offset and timestamp.
            if !h.is_control() {
                let again = records::recompress(&h, bytes, target, LIMIT).expect("a validated batch cannot be recompressed");
                match validator::validate(&again, AppendOrigin::Coordinator, &config) {
                    Ok(redone) => {
                        let r = redone[0].header;
                        assert_eq!((redone.len(), r.base_offset, r.last_offset_delta, r.record_count), (1, h.base_offset, h.last_offset_delta, h.record_count));
                        assert_eq!(redone[0].max_timestamp, v.max_timestamp, "recompression changed the max timestamp");
                    }
                    // Inflated past max.message.bytes: refused as Kafka refuses it.
                    Err(validator::ValidationError::TooLarge { .. }) => {}
                    Err(e) => panic!("a recompressed batch is invalid: {e}"),
                }
            }
            pos += h.size;
        }
    }
    // Every header that parses, whatever its CRC: the record reader and the control marker reader.
    let _ = batch::validate_all(buf);
    let mut rest = buf;
    while let Ok(h) = batch::parse_header(rest) {
        if rest.len() < h.size {
            break;
        }
        let _ = records::read(&h, &rest[..h.size], LIMIT);
        let _ = batch::control_marker(&rest[..h.size]);
        rest = &rest[h.size..];
    }
}

/// Splits off a part prefixed by a big-endian u16 length (cut short if the input is).
fn take_part(data: &[u8]) -> (&[u8], &[u8]) {
    let Some(len) = data.get(..2) else { return (&[], &[]) };
    let rest = &data[2..];
    rest.split_at((u16::from_be_bytes([len[0], len[1]]) as usize).min(rest.len()))
}

/// One valid client batch of one record.
fn one_batch() -> &'static [u8] {
    static BATCH: OnceLock<Vec<u8>> = OnceLock::new();
    BATCH.get_or_init(|| {
        let record = records::plain_record(0, 1_700_000_000_000, Some(Bytes::from_static(b"key")), Some(Bytes::from_static(b"value")));
        records::encode([&record], Compression::None).expect("encode one batch").to_vec()
    })
}

/// The defaults, but indexes of 64 KiB: each open preallocates them, and at the default 10 MiB
/// that alone takes most of an execution (a full index then also comes within the fuzzer's reach).
fn segment_config() -> LogConfig {
    LogConfig { segment_index_bytes: 1 << 16, ..LogConfig::default() }
}

/// Opens the partition `t-0` of `root` and checks it: reads, lookups, one append, a clean reopen.
fn open_and_append(root: &Path, clean: bool, ts: i64) {
    let shutdown = if clean { Shutdown::Clean } else { Shutdown::Unclean };
    let Ok(p) = Partition::open(root, "t", 0, segment_config(), shutdown) else { return };
    let end = p.log_end_offset();
    let start = p.log_start_offset();
    assert!(end >= 0 && start <= end, "log start {start}, end {end} after opening (clean: {clean})");
    if !clean {
        // Recovery keeps only whole, valid batches in offset order.
        let mut next = 0i64;
        let _ = p.for_each_batch(|h, bytes| {
            assert!(batch::validate(bytes).is_ok(), "recovery kept a corrupt batch at offset {}", h.base_offset);
            assert!(h.base_offset >= next, "recovery kept batch {} after offset {next}", h.base_offset);
            next = h.next_offset();
            true
        });
    }
    let limit = ReadLimit { max_bytes: LIMIT, min_one_batch: true };
    for (offset, isolation) in [(start, FetchIsolation::HighWatermark), (start, FetchIsolation::TxnCommitted), (end, FetchIsolation::HighWatermark)] {
        if let Ok(r) = p.read(offset, limit, isolation) {
            if let Some(slice) = r.records {
                let _ = slice.read_bytes();
            }
        }
    }
    let _ = p.offset_for_timestamp(0);
    let _ = p.offset_for_timestamp(ts);
    let _ = p.max_timestamp_offset();
    let info = p.append(one_batch(), AppendOrigin::Client).expect("a valid batch cannot be appended after opening");
    assert_eq!(info.base_offset, end, "the append got an offset other than the log end");
    let after = p.log_end_offset();
    assert!(after > end, "the log end did not move on an append");
    let read = p.read(info.base_offset, limit, FetchIsolation::HighWatermark).expect("the appended batch cannot be read");
    assert!(read.records.is_some(), "the appended batch reads as nothing");
    if p.close().is_ok() {
        drop(p);
        if let Ok(p) = Partition::open(root, "t", 0, segment_config(), Shutdown::Clean) {
            assert!(p.log_end_offset() >= after, "a clean reopen ends at {}, below {after}: offsets reused", p.log_end_offset());
        }
    }
}

/// A segment's `.log`, `.index` and `.timeindex` (two u16-length-prefixed parts, then the rest), opened clean and unclean.
pub fn segment_recovery(data: &[u8]) {
    let (log, rest) = take_part(data);
    let (index, time_index) = take_part(rest);
    let mut ts = [0u8; 8];
    if let Some(tail) = data.len().checked_sub(8).map(|at| &data[at..]) {
        ts.copy_from_slice(tail);
    }
    let ts = i64::from_be_bytes(ts);
    for clean in [true, false] {
        let root = scratch_dir("segment");
        let dir = root.join(Partition::dir_name("t", 0));
        let written = std::fs::create_dir_all(&dir).is_ok()
            && [(".log", log), (".index", index), (".timeindex", time_index)]
                .iter()
                .all(|(ext, bytes)| std::fs::write(crate::log::segment::file_path(&dir, 0, ext), bytes).is_ok());
        if written {
            open_and_append(&root, clean, ts);
        }
        let _ = std::fs::remove_dir_all(&root);
    }
}

/// The decoders of one internal-topic record's key and value.
fn key_value(key: Option<Bytes>, value: Option<Bytes>) {
    if let Some(k) = key {
        let _ = std::str::from_utf8(&k);
    }
    if let Some(v) = value {
        let _ = crate::group::records::decode_offset(v.clone());
        let _ = crate::group::records::decode_group(v.clone());
        let _ = crate::group::decode_subscription(&v);
        let _ = serde_json::from_slice::<crate::txn::TxnMetadata>(&v);
    }
}

/// Internal-topic decoders: a whole batch, a u16-length-prefixed key then value, and a producer snapshot.
pub fn internal_records(data: &[u8]) {
    if let Ok((_, recs)) = records::decode(data) {
        for r in recs {
            key_value(r.key, r.value);
        }
    }
    let (key, value) = take_part(data);
    key_value(Some(Bytes::copy_from_slice(key)), Some(Bytes::copy_from_slice(value)));
    // A producer snapshot is JSON read from a file: only inputs that may be JSON objects go there.
    if data.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        static DIR: OnceLock<PathBuf> = OnceLock::new();
        let dir = DIR.get_or_init(|| scratch_dir("snapshot"));
        let name = crate::log::producer_state::ProducerStateManager::snapshot_name(0);
        if std::fs::create_dir_all(dir).is_ok() && std::fs::write(dir.join(&name), data).is_ok() {
            let _ = crate::log::producer_state::ProducerStateManager::load(dir, &[name], i64::MAX);
        }
    }
}

/// `server.properties` text through the parser, the broker config and the topic-config builder;
/// the same bytes as a `topics.json`.
pub fn properties(data: &[u8]) {
    // The data dir's other small files: `topics.json` (and `meta.properties`, through
    // `parse_properties` below).
    let _ = crate::log::topics_file::parse_topics(data);
    let pairs: BTreeMap<String, String> = parse_properties(&String::from_utf8_lossy(data)).into_iter().collect();
    let topic_pairs: BTreeMap<String, String> = pairs.iter().filter(|(k, _)| crate::log::config::topic_key(k).is_some()).map(|(k, v)| (k.clone(), v.clone())).collect();
    static DEFAULTS: OnceLock<Config> = OnceLock::new();
    let defaults = DEFAULTS.get_or_init(|| Config::from_map(BTreeMap::new()).expect("default config"));
    let _ = defaults.log_config(&pairs);
    let _ = defaults.log_config(&topic_pairs);
    if let Ok(config) = Config::from_map(pairs) {
        let _ = config.log_config(&topic_pairs);
        let _ = config.describe_broker();
    }
}

/// A fixed SCRAM user `u` (password `p`, both mechanisms), so exchanges reach the client-final
/// checks.
struct FuzzScramUser(Vec<(ScramMechanism, ScramCredential)>);

impl ScramCredentialLookup for FuzzScramUser {
    fn credential(&self, user: &str, m: ScramMechanism) -> Option<ScramCredential> {
        (user == "u").then(|| self.0.iter().find(|(k, _)| *k == m).map(|(_, c)| c.clone())).flatten()
    }
}

/// SASL client tokens through every mechanism's server (the first byte picks the mechanism, the
/// tokens are separated by 0xFE), and the same bytes as `sasl.jaas.config` text and a JAAS file.
pub fn sasl(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(entries) = jaas::parse_entries(&text) {
        let _ = (jaas::plain_users(&entries), jaas::validator_options(&entries));
    }
    let _ = jaas::parse_file(&text);
    static USER: OnceLock<Arc<FuzzScramUser>> = OnceLock::new();
    let user = USER.get_or_init(|| {
        let n = std::num::NonZeroU32::new(MIN_ITERATIONS as u32).expect("nonzero");
        let creds = [ScramMechanism::Sha256, ScramMechanism::Sha512].into_iter().filter_map(|m| Some((m, ScramCredential::from_password(m, "p", n)?))).collect();
        Arc::new(FuzzScramUser(creds))
    });
    let Some((&pick, rest)) = data.split_first() else { return };
    let credentials = Credentials { plain_users: Arc::new([("u".to_string(), "p".to_string())].into()), scram: Some(user.clone()), ..Credentials::default() };
    let mechanism = sasl::MECHANISMS[pick as usize % sasl::MECHANISMS.len()];
    let Some(mut server) = sasl::server(mechanism, &credentials) else { return };
    for token in rest.split(|b| *b == 0xFE) {
        if !matches!(server.evaluate(token), Ok(sasl::Step::Challenge(_))) {
            break;
        }
    }
}
