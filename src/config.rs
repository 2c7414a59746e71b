//! Every broker setting, under Apache Kafka's config names and with Kafka's defaults.
//!
//! Settings are collected as Kafka `key=value` pairs from, in rising precedence: built-in
//! defaults, a `server.properties` file (`--config`), `ODRADEK_*` environment variables,
//! command-line flags (`--log-segment-bytes 1024` sets `log.segment.bytes`), and
//! `--override key=value` (as `kafka-server-start.sh` takes them).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

/// A setting that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid value {value:?} for {key}: {reason}")]
    Invalid { key: String, value: String, reason: String },
    #[error("cannot read config file {path}: {source}")]
    File { path: String, source: std::io::Error },
    #[error("bad argument {0:?} (see --help)")]
    Arg(String),
    #[error("unknown config {0}")]
    Unknown(String),
}

/// KAFKA_* variables that images use for other purposes than broker settings.
const KAFKA_ENV_IGNORED: &[&str] = &["HEAP_OPTS", "OPTS", "JVM_PERFORMANCE_OPTS", "LOG4J_OPTS", "JMX_OPTS", "HOME", "VERSION", "DEBUG", "GC_LOG_OPTS"];

/// Flag and environment aliases for the keys people type most.
const ALIASES: &[(&str, &str)] = &[
    ("listen", "listeners"),
    ("data.dir", "log.dirs"),
    ("log.dir", "log.dirs"),
    ("segment.bytes", "log.segment.bytes"),
    ("retention.ms", "log.retention.ms"),
    ("retention.bytes", "log.retention.bytes"),
];

/// Broker keys Odradek understands, with Kafka's defaults ("" = unset).
const BROKER_KEYS: &[(&str, &str)] = &[
    ("listeners", "PLAINTEXT://:9092"),
    ("advertised.listeners", ""),
    ("log.dirs", "./data"),
    ("node.id", "0"),
    ("broker.id", "0"),
    ("num.partitions", "1"),
    ("default.replication.factor", "1"),
    ("auto.create.topics.enable", "true"),
    ("delete.topic.enable", "true"),
    ("log.segment.bytes", "1073741824"),
    ("log.roll.ms", ""),
    ("log.roll.hours", "168"),
    ("log.retention.ms", ""),
    ("log.retention.minutes", ""),
    ("log.retention.hours", "168"),
    ("log.retention.bytes", "-1"),
    ("log.retention.check.interval.ms", "300000"),
    ("log.cleanup.policy", "delete"),
    ("log.index.interval.bytes", "4096"),
    ("log.index.size.max.bytes", "10485760"),
    ("log.message.timestamp.type", "CreateTime"),
    ("log.flush.interval.messages", "9223372036854775807"),
    ("log.flush.interval.ms", ""),
    ("log.flush.scheduler.interval.ms", "9223372036854775807"),
    ("message.max.bytes", "1048588"),
    ("socket.request.max.bytes", "104857600"),
    ("max.connections", "2147483647"),
    ("max.connections.per.ip", "2147483647"),
    ("connections.max.idle.ms", "600000"),
    ("min.insync.replicas", "1"),
    ("group.min.session.timeout.ms", "6000"),
    ("group.max.session.timeout.ms", "1800000"),
    ("group.initial.rebalance.delay.ms", "3000"),
    ("offsets.topic.num.partitions", "50"),
    ("offsets.topic.segment.bytes", "104857600"),
    ("offsets.retention.minutes", "10080"),
    ("offsets.retention.check.interval.ms", "600000"),
    ("offset.metadata.max.bytes", "4096"),
    ("log.cleaner.delete.retention.ms", "86400000"),
    ("log.cleaner.min.cleanable.ratio", "0.5"),
    ("log.cleaner.min.compaction.lag.ms", "0"),
    ("log.cleaner.max.compaction.lag.ms", "9223372036854775807"),
    ("log.cleaner.backoff.ms", "15000"),
    ("log.cleaner.enable", "true"),
    ("num.recovery.threads.per.data.dir", "2"),
    // Odradek's own (not a Kafka key): fsync before acknowledging acks=all, shared by concurrent
    // producers (group commit). Off by default, as Kafka acknowledges from the page cache.
    ("acks.all.fsync", "false"),
    ("compression.type", "producer"),
    ("log.message.timestamp.before.max.ms", "9223372036854775807"),
    ("log.message.timestamp.after.max.ms", "9223372036854775807"),
    ("unclean.leader.election.enable", "false"),
    ("log.segment.delete.delay.ms", "60000"),
    ("producer.id.expiration.ms", "86400000"),
    ("producer.id.expiration.check.interval.ms", "600000"),
    ("transaction.max.timeout.ms", "900000"),
    ("transaction.state.log.num.partitions", "50"),
    ("transaction.state.log.segment.bytes", "104857600"),
    ("transaction.abort.timed.out.transaction.cleanup.interval.ms", "10000"),
];

/// Topic-level config names and the broker key that supplies each one's default.
pub const TOPIC_KEYS: &[(&str, &str)] = &[
    ("cleanup.policy", "log.cleanup.policy"),
    ("segment.bytes", "log.segment.bytes"),
    ("segment.ms", "log.roll.ms"),
    ("segment.index.bytes", "log.index.size.max.bytes"),
    ("index.interval.bytes", "log.index.interval.bytes"),
    ("retention.ms", "log.retention.ms"),
    ("retention.bytes", "log.retention.bytes"),
    ("max.message.bytes", "message.max.bytes"),
    ("message.timestamp.type", "log.message.timestamp.type"),
    ("flush.messages", "log.flush.interval.messages"),
    ("flush.ms", "log.flush.interval.ms"),
    ("min.insync.replicas", "min.insync.replicas"),
    ("delete.retention.ms", "log.cleaner.delete.retention.ms"),
    ("min.cleanable.dirty.ratio", "log.cleaner.min.cleanable.ratio"),
    ("min.compaction.lag.ms", "log.cleaner.min.compaction.lag.ms"),
    ("max.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms"),
    ("compression.type", "compression.type"),
    ("message.timestamp.before.max.ms", "log.message.timestamp.before.max.ms"),
    ("message.timestamp.after.max.ms", "log.message.timestamp.after.max.ms"),
    ("unclean.leader.election.enable", "unclean.leader.election.enable"),
    ("file.delete.delay.ms", "log.segment.delete.delay.ms"),
];

/// Kafka's ConfigType of a topic key (DescribeConfigs v3+): BOOLEAN 1, STRING 2, INT 3, LONG 5, DOUBLE 6, LIST 7.
pub fn topic_key_type(key: &str) -> i8 {
    match key {
        "cleanup.policy" => 7,
        "message.timestamp.type" | "compression.type" => 2,
        "unclean.leader.election.enable" => 1,
        "min.cleanable.dirty.ratio" => 6,
        "segment.bytes" | "segment.index.bytes" | "index.interval.bytes" | "max.message.bytes" | "min.insync.replicas" => 3,
        _ => 5,
    }
}

/// The broker's settings, resolved.
#[derive(Debug, Clone)]
pub struct Config {
    /// All keys as given (after precedence), Kafka names.
    raw: BTreeMap<String, String>,
    pub listen: SocketAddr,
    /// Host and port that Metadata returns; `None` means "the bound address".
    pub advertised: Option<(String, u16)>,
    pub data_dir: PathBuf,
    pub node_id: i32,
    pub num_partitions: i32,
    pub auto_create_topics: bool,
    pub message_max_bytes: i32,
    pub socket_request_max_bytes: usize,
    /// `max.connections`: beyond it the broker stops accepting until a connection closes.
    pub max_connections: usize,
    /// `max.connections.per.ip`: a new connection over it is closed at once.
    pub max_connections_per_ip: usize,
    /// `connections.max.idle.ms`: a connection with no whole request for this long is closed
    /// (a client dribbling a frame byte by byte counts as idle).
    pub connections_max_idle_ms: u64,
    pub retention_check_interval_ms: u64,
    /// How often the log cleaner looks for compactable partitions (`log.cleaner.backoff.ms`).
    pub cleaner_backoff_ms: u64,
    pub cleaner_enable: bool,
    /// `num.recovery.threads.per.data.dir`: threads opening the logs at start.
    pub recovery_threads: usize,
    /// `acks.all.fsync`: acks=all produce answers only once its data is fsynced (group commit).
    pub acks_all_fsync: bool,
    pub flush_scheduler_interval_ms: u64,
    /// `producer.id.expiration.ms`: an idempotent producer's state is dropped after this long
    /// without a write (none with an open transaction), checked every
    /// `producer.id.expiration.check.interval.ms`.
    pub producer_id_expiration_ms: i64,
    pub producer_id_expiration_check_interval_ms: u64,
    /// Broker-level defaults for topic configs, under topic key names.
    pub log_defaults: LogConfig,
    pub group: GroupConfig,
    pub txn: crate::txn::TxnConfig,
    pub txn_abort_interval_ms: u64,
}

pub use crate::group::config::GroupConfig;

/// The settings of one partition's log (topic overrides over broker defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    pub segment_bytes: u64,
    pub segment_ms: i64,
    pub segment_index_bytes: u64,
    pub index_interval_bytes: u64,
    pub retention_ms: i64,
    pub retention_bytes: i64,
    pub max_message_bytes: i32,
    pub log_append_time: bool,
    pub flush_messages: i64,
    pub flush_ms: i64,
    pub cleanup_policy: String,
    pub delete_retention_ms: i64,
    pub min_cleanable_ratio: f64,
    pub min_compaction_lag_ms: i64,
    /// `compression.type`: `None` keeps batches as the producer sent them (`producer`).
    pub compression: Option<kafka_protocol::records::Compression>,
    /// The broker's `producer.id.expiration.ms` (no topic-level override): producers idle
    /// longer are not loaded from a producer snapshot.
    pub producer_id_expiration_ms: i64,
}

const DEFAULT_PRODUCER_ID_EXPIRATION_MS: i64 = 86_400_000;

impl Config {
    /// Parses command-line arguments (without the program name) and the environment.
    pub fn from_args_and_env(
        args: &[String],
        env: impl Iterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut file: Option<String> = None;
        let mut flags: Vec<(String, String)> = Vec::new();
        let mut overrides: Vec<(String, String)> = Vec::new();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let Some(name) = arg.strip_prefix("--") else {
                return Err(ConfigError::Arg(arg.clone()));
            };
            let (name, inline) = match name.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (name.to_string(), None),
            };
            let mut value = || -> Result<String, ConfigError> {
                match &inline {
                    Some(v) => Ok(v.clone()),
                    None => it.next().cloned().ok_or_else(|| ConfigError::Arg(arg.clone())),
                }
            };
            match name.as_str() {
                "config" => file = Some(value()?),
                "override" => {
                    let kv = value()?;
                    let (k, v) = kv.split_once('=').ok_or_else(|| ConfigError::Arg(kv.clone()))?;
                    overrides.push((k.trim().to_string(), v.trim().to_string()));
                }
                _ => flags.push((name.replace('-', "."), value()?)),
            }
        }
        let mut raw: BTreeMap<String, String> = BTreeMap::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::File { path, source })?;
            for (k, v) in parse_properties(&text) {
                raw.insert(canonical(&k), v);
            }
        }
        // Kafka image-style KAFKA_* variables (KAFKA_ADVERTISED_LISTENERS -> advertised.listeners),
        // so compose files written for Kafka port over; ODRADEK_* ones win over them.
        let mut env: Vec<(u8, String, String)> = env
            .filter_map(|(k, v)| {
                let (rank, k) = match k.strip_prefix("ODRADEK_") {
                    Some(k) => (1, k),
                    None => (0, k.strip_prefix("KAFKA_").filter(|k| !KAFKA_ENV_IGNORED.contains(k))?),
                };
                Some((rank, k.to_ascii_lowercase().replace("__", "-").replace('_', "."), v))
            })
            .collect();
        env.sort();
        let env = env.into_iter().map(|(_, k, v)| (k, v));
        for (k, v) in env.chain(flags).chain(overrides) {
            raw.insert(canonical(&k), v);
        }
        Config::from_map(raw)
    }

    /// Resolves a map of Kafka keys into typed settings.
    pub fn from_map(raw: BTreeMap<String, String>) -> Result<Config, ConfigError> {
        for k in raw.keys() {
            let known = BROKER_KEYS.iter().any(|(b, _)| b == k);
            if !known {
                // Kafka ignores unknown keys with a warning; do the same.
                tracing::warn!(key = %k, "ignoring unknown config");
            }
        }
        let get = |k: &str| -> String {
            raw.get(k).cloned().unwrap_or_else(|| {
                BROKER_KEYS.iter().find(|(b, _)| *b == k).map(|(_, d)| d.to_string()).unwrap_or_default()
            })
        };
        let listen = parse_listener(&get("listeners")).map_err(|reason| invalid("listeners", &get("listeners"), reason))?;
        let advertised = match get("advertised.listeners").as_str() {
            "" => None,
            v => Some(parse_host_port(v).map_err(|reason| invalid("advertised.listeners", v, reason))?),
        };
        let node_id: i32 = match raw.get("node.id") {
            Some(v) => num("node.id", v)?,
            None => num("broker.id", &get("broker.id"))?,
        };
        let mut c = Config {
            listen,
            advertised,
            data_dir: PathBuf::from(get("log.dirs").split(',').next().unwrap_or("./data")),
            node_id,
            num_partitions: num("num.partitions", &get("num.partitions"))?,
            auto_create_topics: boolean("auto.create.topics.enable", &get("auto.create.topics.enable"))?,
            message_max_bytes: num("message.max.bytes", &get("message.max.bytes"))?,
            socket_request_max_bytes: num("socket.request.max.bytes", &get("socket.request.max.bytes"))?,
            max_connections: num::<i32>("max.connections", &get("max.connections"))?.max(1) as usize,
            max_connections_per_ip: num::<i32>("max.connections.per.ip", &get("max.connections.per.ip"))?.max(1) as usize,
            connections_max_idle_ms: num("connections.max.idle.ms", &get("connections.max.idle.ms"))?,
            retention_check_interval_ms: num("log.retention.check.interval.ms", &get("log.retention.check.interval.ms"))?,
            flush_scheduler_interval_ms: num("log.flush.scheduler.interval.ms", &get("log.flush.scheduler.interval.ms"))?,
            producer_id_expiration_ms: num("producer.id.expiration.ms", &get("producer.id.expiration.ms"))?,
            producer_id_expiration_check_interval_ms: num("producer.id.expiration.check.interval.ms", &get("producer.id.expiration.check.interval.ms"))?,
            cleaner_backoff_ms: num("log.cleaner.backoff.ms", &get("log.cleaner.backoff.ms"))?,
            cleaner_enable: boolean("log.cleaner.enable", &get("log.cleaner.enable"))?,
            recovery_threads: num("num.recovery.threads.per.data.dir", &get("num.recovery.threads.per.data.dir"))?,
            acks_all_fsync: boolean("acks.all.fsync", &get("acks.all.fsync"))?,
            log_defaults: LogConfig::default(),
            group: GroupConfig {
                min_session_timeout_ms: num("group.min.session.timeout.ms", &get("group.min.session.timeout.ms"))?,
                max_session_timeout_ms: num("group.max.session.timeout.ms", &get("group.max.session.timeout.ms"))?,
                initial_rebalance_delay_ms: num("group.initial.rebalance.delay.ms", &get("group.initial.rebalance.delay.ms"))?,
                offsets_topic_partitions: num("offsets.topic.num.partitions", &get("offsets.topic.num.partitions"))?,
                offsets_topic_segment_bytes: num("offsets.topic.segment.bytes", &get("offsets.topic.segment.bytes"))?,
                offsets_retention_ms: num::<i64>("offsets.retention.minutes", &get("offsets.retention.minutes"))?.saturating_mul(60_000),
                offsets_retention_check_interval_ms: num("offsets.retention.check.interval.ms", &get("offsets.retention.check.interval.ms"))?,
                offset_metadata_max_bytes: num("offset.metadata.max.bytes", &get("offset.metadata.max.bytes"))?,
            },
            txn: crate::txn::TxnConfig {
                max_timeout_ms: num("transaction.max.timeout.ms", &get("transaction.max.timeout.ms"))?,
                partitions: num("transaction.state.log.num.partitions", &get("transaction.state.log.num.partitions"))?,
                segment_bytes: num("transaction.state.log.segment.bytes", &get("transaction.state.log.segment.bytes"))?,
            },
            txn_abort_interval_ms: num(
                "transaction.abort.timed.out.transaction.cleanup.interval.ms",
                &get("transaction.abort.timed.out.transaction.cleanup.interval.ms"),
            )?,
            raw: raw.clone(),
        };
        if c.txn.partitions < 1 {
            return Err(invalid("transaction.state.log.num.partitions", &get("transaction.state.log.num.partitions"), "must be at least 1".into()));
        }
        if c.group.offsets_topic_partitions < 1 {
            return Err(invalid("offsets.topic.num.partitions", &get("offsets.topic.num.partitions"), "must be at least 1".into()));
        }
        if c.num_partitions < 1 {
            return Err(invalid("num.partitions", &get("num.partitions"), "must be at least 1".into()));
        }
        let defaults: BTreeMap<String, String> =
            TOPIC_KEYS.iter().map(|(t, _)| (t.to_string(), c.broker_default_for_topic_key(t))).collect();
        c.log_defaults = LogConfig::from_topic_map(&defaults).map_err(|e| match e {
            ConfigError::Invalid { key, value, reason } => {
                let broker_key = TOPIC_KEYS.iter().find(|(t, _)| *t == key).map(|(_, b)| b.to_string()).unwrap_or(key);
                ConfigError::Invalid { key: broker_key, value, reason }
            }
            other => other,
        })?;
        Ok(c)
    }

    /// The broker's value for a topic-level key (e.g. `segment.bytes` from `log.segment.bytes`).
    pub fn broker_default_for_topic_key(&self, topic_key: &str) -> String {
        let get = |k: &str| -> Option<String> {
            self.raw
                .get(k)
                .cloned()
                .or_else(|| BROKER_KEYS.iter().find(|(b, _)| *b == k).map(|(_, d)| d.to_string()))
                .filter(|v| !v.is_empty())
        };
        let ms_from = |ms: &str, minutes: Option<&str>, hours: &str| -> String {
            if let Some(v) = get(ms) {
                return v;
            }
            // Minutes and hours are INTs in Kafka: widened before scaling, they cannot overflow.
            if let Some(v) = minutes.and_then(get).and_then(|m| m.parse::<i32>().ok()) {
                return (v as i64 * 60_000).to_string();
            }
            get(hours).and_then(|h| h.parse::<i32>().ok()).map(|h| (h as i64 * 3_600_000).to_string()).unwrap_or_default()
        };
        match topic_key {
            "retention.ms" => ms_from("log.retention.ms", Some("log.retention.minutes"), "log.retention.hours"),
            "segment.ms" => ms_from("log.roll.ms", None, "log.roll.hours"),
            // Kafka's log.flush.interval.ms defaults to the scheduler interval (i.e. never).
            "flush.ms" => get("log.flush.interval.ms").unwrap_or_else(|| i64::MAX.to_string()),
            _ => {
                let broker_key = TOPIC_KEYS.iter().find(|(t, _)| *t == topic_key).map(|(_, b)| *b).unwrap_or(topic_key);
                get(broker_key).unwrap_or_default()
            }
        }
    }

    /// Every broker key with its value and whether it was set explicitly (DescribeConfigs).
    pub fn describe(&self) -> Vec<(String, String, bool)> {
        BROKER_KEYS
            .iter()
            .map(|(k, d)| match self.raw.get(*k) {
                Some(v) => (k.to_string(), v.clone(), true),
                None => (k.to_string(), d.to_string(), false),
            })
            .collect()
    }

    /// Whether `key` was set explicitly (file, env, flag or override).
    pub fn is_set(&self, key: &str) -> bool {
        self.raw.contains_key(key)
    }

    /// The log settings for a topic with the given per-topic overrides.
    pub fn log_config(&self, overrides: &BTreeMap<String, String>) -> Result<LogConfig, ConfigError> {
        let mut map: BTreeMap<String, String> =
            TOPIC_KEYS.iter().map(|(t, _)| (t.to_string(), self.broker_default_for_topic_key(t))).collect();
        for (k, v) in overrides {
            if !map.contains_key(k) {
                return Err(ConfigError::Unknown(k.clone()));
            }
            map.insert(k.clone(), v.clone());
        }
        let mut log = LogConfig::from_topic_map(&map)?;
        log.producer_id_expiration_ms = self.producer_id_expiration_ms;
        Ok(log)
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3_600_000,
            segment_index_bytes: 10 * 1024 * 1024,
            index_interval_bytes: 4096,
            retention_ms: 7 * 24 * 3_600_000,
            retention_bytes: -1,
            max_message_bytes: 1_048_588,
            log_append_time: false,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            cleanup_policy: "delete".into(),
            delete_retention_ms: 86_400_000,
            min_cleanable_ratio: 0.5,
            min_compaction_lag_ms: 0,
            compression: None,
            producer_id_expiration_ms: DEFAULT_PRODUCER_ID_EXPIRATION_MS,
        }
    }
}

impl LogConfig {
    /// Builds from a full map of topic-level keys.
    fn from_topic_map(m: &BTreeMap<String, String>) -> Result<LogConfig, ConfigError> {
        let g = |k: &str| m.get(k).map(String::as_str).unwrap_or("");
        let ts_type = g("message.timestamp.type");
        if ts_type != "CreateTime" && ts_type != "LogAppendTime" {
            return Err(invalid("message.timestamp.type", ts_type, "must be CreateTime or LogAppendTime".into()));
        }
        let policy = g("cleanup.policy").replace(' ', "");
        if !policy.split(',').all(|p| p == "delete" || p == "compact") {
            return Err(invalid("cleanup.policy", &policy, "must be delete and/or compact".into()));
        }
        // Keys the log does not act on yet still get Kafka's validation.
        for key in ["file.delete.delay.ms", "delete.retention.ms", "min.compaction.lag.ms", "max.compaction.lag.ms", "message.timestamp.before.max.ms", "message.timestamp.after.max.ms"] {
            if num::<i64>(key, g(key))? < 0 {
                return Err(invalid(key, g(key), "must be at least 0".into()));
            }
        }
        let ratio: f64 = num("min.cleanable.dirty.ratio", g("min.cleanable.dirty.ratio"))?;
        if !(0.0..=1.0).contains(&ratio) {
            return Err(invalid("min.cleanable.dirty.ratio", g("min.cleanable.dirty.ratio"), "must be between 0 and 1".into()));
        }
        boolean("unclean.leader.election.enable", g("unclean.leader.election.enable"))?;
        let codec = g("compression.type");
        let compression = crate::log::records::parse_compression_type(codec)
            .ok_or_else(|| invalid("compression.type", codec, "must be one of uncompressed, zstd, lz4, snappy, gzip, producer".into()))?;
        if num::<i32>("min.insync.replicas", g("min.insync.replicas"))? < 1 {
            return Err(invalid("min.insync.replicas", g("min.insync.replicas"), "must be at least 1".into()));
        }
        // An INT in Kafka: positions in a segment must fit the index's 32-bit field.
        let segment_bytes: i32 = num("segment.bytes", g("segment.bytes"))?;
        if segment_bytes < 14 {
            return Err(invalid("segment.bytes", g("segment.bytes"), "must be at least 14".into()));
        }
        let segment_bytes = segment_bytes as u64;
        let index_bytes: u64 = num("segment.index.bytes", g("segment.index.bytes"))?;
        if index_bytes < 12 {
            return Err(invalid("segment.index.bytes", g("segment.index.bytes"), "must be at least 12".into()));
        }
        Ok(LogConfig {
            segment_bytes,
            segment_ms: num("segment.ms", g("segment.ms"))?,
            segment_index_bytes: index_bytes,
            index_interval_bytes: num("index.interval.bytes", g("index.interval.bytes"))?,
            retention_ms: num("retention.ms", g("retention.ms"))?,
            retention_bytes: num("retention.bytes", g("retention.bytes"))?,
            max_message_bytes: num("max.message.bytes", g("max.message.bytes"))?,
            log_append_time: ts_type == "LogAppendTime",
            flush_messages: num("flush.messages", g("flush.messages"))?,
            flush_ms: num("flush.ms", g("flush.ms"))?,
            cleanup_policy: policy,
            delete_retention_ms: num("delete.retention.ms", g("delete.retention.ms"))?,
            min_cleanable_ratio: ratio,
            min_compaction_lag_ms: num("min.compaction.lag.ms", g("min.compaction.lag.ms"))?,
            compression,
            producer_id_expiration_ms: DEFAULT_PRODUCER_ID_EXPIRATION_MS,
        })
    }
}

fn canonical(key: &str) -> String {
    let key = key.trim();
    ALIASES.iter().find(|(a, _)| *a == key).map(|(_, k)| k.to_string()).unwrap_or_else(|| key.to_string())
}

fn invalid(key: &str, value: &str, reason: String) -> ConfigError {
    ConfigError::Invalid { key: key.into(), value: value.into(), reason }
}

fn num<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    v.trim().parse::<T>().map_err(|e| invalid(key, v, e.to_string()))
}

fn boolean(key: &str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(key, v, "expected true or false".into())),
    }
}

/// `server.properties` syntax: `key=value` or `key: value`, `#`/`!` comments.
pub fn parse_properties(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .filter_map(|l| {
            let i = l.find(['=', ':'])?;
            Some((l[..i].trim().to_string(), l[i + 1..].trim().to_string()))
        })
        .collect()
}

/// Strips a `NAME://` listener prefix; takes the first listener of a list.
fn strip_scheme(v: &str) -> &str {
    let first = v.split(',').next().unwrap_or("").trim();
    first.split_once("://").map(|(_, rest)| rest).unwrap_or(first)
}

fn parse_host_port(v: &str) -> Result<(String, u16), String> {
    let hp = strip_scheme(v);
    let (host, port) = hp.rsplit_once(':').ok_or("expected HOST:PORT")?;
    let port: u16 = port.parse().map_err(|_| format!("bad port {port:?}"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok((host.to_string(), port))
}

fn parse_listener(v: &str) -> Result<SocketAddr, String> {
    let (host, port) = parse_host_port(v)?;
    // An empty host means every interface, IPv6 and IPv4 (clients may resolve localhost to ::1).
    let host = if host.is_empty() { "::".to_string() } else { host };
    let ip = if host == "localhost" { "127.0.0.1".to_string() } else { host };
    let ip: std::net::IpAddr = ip.parse().map_err(|_| format!("listener host {ip:?} must be an IP address or localhost"))?;
    Ok(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(args: &[&str], env: &[(&str, &str)]) -> Config {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        Config::from_args_and_env(&args, env.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap()
    }

    #[test]
    fn defaults_are_kafkas() {
        let c = cfg(&[], &[]);
        assert_eq!(c.listen.port(), 9092);
        assert!(c.listen.ip().is_unspecified());
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert!(c.auto_create_topics);
        assert_eq!(c.log_defaults.segment_bytes, 1 << 30);
        assert_eq!(c.log_defaults.retention_ms, 168 * 3_600_000);
        assert_eq!(c.message_max_bytes, 1_048_588);
    }

    #[test]
    fn precedence_flag_env_override() {
        let c = cfg(
            &["--segment-bytes", "2048", "--override", "log.retention.ms=5", "--listen=127.0.0.1:0"],
            &[("ODRADEK_LOG_SEGMENT_BYTES", "1000"), ("ODRADEK_NUM_PARTITIONS", "3"), ("HOME", "/x")],
        );
        assert_eq!(c.log_defaults.segment_bytes, 2048);
        assert_eq!(c.log_defaults.retention_ms, 5);
        assert_eq!(c.num_partitions, 3);
        assert_eq!(c.listen.port(), 0);
    }

    #[test]
    fn kafka_image_env_vars() {
        let c = cfg(
            &[],
            &[
                ("KAFKA_ADVERTISED_LISTENERS", "PLAINTEXT://localhost:32768"),
                ("KAFKA_NUM_PARTITIONS", "2"),
                ("ODRADEK_NUM_PARTITIONS", "4"),
                ("KAFKA_HEAP_OPTS", "-Xmx1G"),
            ],
        );
        assert_eq!(c.advertised, Some(("localhost".to_string(), 32768)));
        assert_eq!(c.num_partitions, 4);
    }

    #[test]
    fn properties_and_listener_forms() {
        let p = parse_properties("# c\nlisteners=PLAINTEXT://localhost:19092\nadvertised.listeners: PLAINTEXT://example:1\n");
        let c = Config::from_map(p.into_iter().collect()).unwrap();
        assert_eq!(c.listen, "127.0.0.1:19092".parse().unwrap());
        assert_eq!(c.advertised, Some(("example".to_string(), 1)));
    }

    #[test]
    fn topic_overrides_validate() {
        let c = cfg(&[], &[]);
        let mut o = BTreeMap::new();
        o.insert("segment.bytes".to_string(), "4096".to_string());
        assert_eq!(c.log_config(&o).unwrap().segment_bytes, 4096);
        o.insert("no.such".to_string(), "1".to_string());
        assert!(c.log_config(&o).is_err());
    }
}
