//! The settings of one partition's log, as Kafka's `LogConfig` (kept in storage): one typed row
//! per topic key, each with the broker keys that supply its default (Kafka's
//! `ServerTopicConfigSynonyms`), and the typed `LogConfig` built from the broker's defaults with
//! a topic's overrides on top.

use super::records::parse_compression_type;
use crate::config_def::{self, invalid, ConfigError, ConfigKey, Scope, Type, Validator, Values};
use std::collections::BTreeMap;

/// A broker key that supplies a topic key's default, and the factor that turns it into the
/// topic key's unit (`log.roll.hours` times 3,600,000 is `segment.ms`).
#[derive(Debug, Clone, Copy)]
pub struct Synonym {
    /// The broker key.
    pub name: &'static str,
    /// Multiplier into the topic key's unit; 1 when the units agree.
    pub factor: i64,
}

/// One topic key: its row and its broker synonyms in priority order (the first set one wins).
#[derive(Debug, Clone, Copy)]
pub struct TopicKey {
    /// Name, type, Kafka's `LogConfig` default, validator, doc.
    pub key: ConfigKey,
    /// The broker keys that supply its default, highest priority first.
    pub synonyms: &'static [Synonym],
}

const fn same(name: &'static str) -> Synonym {
    Synonym { name, factor: 1 }
}

const HOURS: i64 = 3_600_000;
const MINUTES: i64 = 60_000;

const fn row(
    name: &'static str,
    ty: Type,
    default: &'static str,
    validator: Validator,
    doc: &'static str,
    synonyms: &'static [Synonym],
) -> TopicKey {
    TopicKey { key: ConfigKey { name, ty, default: Some(default), validator, doc, scope: Scope::Topic, dynamic: true }, synonyms }
}

/// Every topic key Odradek understands, with Kafka's types, defaults and validators.
pub static TOPIC_KEYS: &[TopicKey] = &[
    row("cleanup.policy", Type::List, "delete", Validator::ListOf(&["compact", "delete"]),
        "`delete` and/or `compact` (the log cleaner keeps the latest record per key); empty: neither", &[same("log.cleanup.policy")]),
    // An INT in Kafka, so positions in a segment fit the index's 32-bit field. Kafka 4.x asks for
    // at least 1 MiB; Odradek keeps the older bound (one record's overhead, 14) for small tests.
    row("segment.bytes", Type::Int, "1073741824", Validator::AtLeast(14), "roll a segment at this size", &[same("log.segment.bytes")]),
    row("segment.ms", Type::Long, "604800000", Validator::AtLeast(1), "roll a segment at this age",
        &[same("log.roll.ms"), Synonym { name: "log.roll.hours", factor: HOURS }]),
    // Kafka's bound is 4; an Odradek time index entry is 12 bytes, so that is the least that holds one.
    row("segment.index.bytes", Type::Int, "10485760", Validator::AtLeast(12), "max index size (a full index rolls the segment)",
        &[same("log.index.size.max.bytes")]),
    row("index.interval.bytes", Type::Int, "4096", Validator::AtLeast(0), "bytes between sparse index entries", &[same("log.index.interval.bytes")]),
    row("retention.ms", Type::Long, "604800000", Validator::AtLeast(-1), "delete whole segments older than this (-1: never)",
        &[same("log.retention.ms"), Synonym { name: "log.retention.minutes", factor: MINUTES }, Synonym { name: "log.retention.hours", factor: HOURS }]),
    row("retention.bytes", Type::Long, "-1", Validator::Any, "delete oldest segments while the partition is larger (-1: no limit)",
        &[same("log.retention.bytes")]),
    row("max.message.bytes", Type::Int, "1048588", Validator::AtLeast(0), "largest record batch accepted (`MESSAGE_TOO_LARGE` above it)",
        &[same("message.max.bytes")]),
    row("message.timestamp.type", Type::String, "CreateTime", Validator::OneOf(&["CreateTime", "LogAppendTime"]),
        "`LogAppendTime` stamps batches with the broker's clock", &[same("log.message.timestamp.type")]),
    row("flush.messages", Type::Long, "9223372036854775807", Validator::AtLeast(1), "fsync after this many messages",
        &[same("log.flush.interval.messages")]),
    row("flush.ms", Type::Long, "9223372036854775807", Validator::AtLeast(0), "fsync when the oldest unflushed message is this old",
        &[same("log.flush.interval.ms"), same("log.flush.scheduler.interval.ms")]),
    row("min.insync.replicas", Type::Int, "1", Validator::AtLeast(1), "accepted for compatibility (a single node has one replica)",
        &[same("min.insync.replicas")]),
    row("delete.retention.ms", Type::Long, "86400000", Validator::AtLeast(0), "how long the cleaner keeps tombstones",
        &[same("log.cleaner.delete.retention.ms")]),
    row("min.cleanable.dirty.ratio", Type::Double, "0.5", Validator::Ratio(0.0, 1.0), "dirty share of the log before the cleaner compacts it",
        &[same("log.cleaner.min.cleanable.ratio")]),
    row("min.compaction.lag.ms", Type::Long, "0", Validator::AtLeast(0), "records younger than this are not compacted",
        &[same("log.cleaner.min.compaction.lag.ms")]),
    row("max.compaction.lag.ms", Type::Long, "9223372036854775807", Validator::AtLeast(1), "accepted and validated; Odradek does not act on it yet",
        &[same("log.cleaner.max.compaction.lag.ms")]),
    row("compression.type", Type::String, "producer", Validator::OneOf(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]),
        "codec batches are stored in; `producer` keeps the producer's", &[same("compression.type")]),
    row("message.timestamp.before.max.ms", Type::Long, "9223372036854775807", Validator::AtLeast(0),
        "accepted and validated; Odradek does not act on it yet", &[same("log.message.timestamp.before.max.ms")]),
    row("message.timestamp.after.max.ms", Type::Long, "9223372036854775807", Validator::AtLeast(0),
        "accepted and validated; Odradek does not act on it yet", &[same("log.message.timestamp.after.max.ms")]),
    row("unclean.leader.election.enable", Type::Boolean, "false", Validator::Any, "accepted for compatibility (a single node has no other replica)",
        &[same("unclean.leader.election.enable")]),
    row("file.delete.delay.ms", Type::Long, "60000", Validator::AtLeast(0), "accepted and validated; Odradek does not act on it yet",
        &[same("log.segment.delete.delay.ms")]),
];

/// The row of topic key `name`.
pub fn topic_key(name: &str) -> Option<&'static TopicKey> {
    TOPIC_KEYS.iter().find(|t| t.key.name == name)
}

/// Which cleanups a log runs (`cleanup.policy`): a set of `delete` and `compact`, maybe empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupPolicy {
    delete: bool,
    compact: bool,
}

impl CleanupPolicy {
    /// Kafka's default, `delete`.
    pub const DELETE: CleanupPolicy = CleanupPolicy { delete: true, compact: false };

    /// The policy of a validated `cleanup.policy` list.
    pub fn from_list(items: &[String]) -> CleanupPolicy {
        CleanupPolicy { delete: items.iter().any(|p| p == "delete"), compact: items.iter().any(|p| p == "compact") }
    }

    /// Whether retention deletes old segments.
    pub fn delete(&self) -> bool {
        self.delete
    }

    /// Whether the cleaner compacts the log (keeps the latest record per key).
    pub fn compact(&self) -> bool {
        self.compact
    }
}

/// The broker's values of the topic keys (Kafka's `KafkaConfig.extractLogConfigMap`): the
/// defaults that a topic's overrides go over, as Kafka's LogManager holds a default LogConfig.
#[derive(Debug, Clone, PartialEq)]
pub struct LogDefaults {
    /// Topic key -> the broker's value, as text; a key absent here takes its row's default.
    values: BTreeMap<String, String>,
    /// The broker's `producer.id.expiration.ms` (no topic-level key).
    pub producer_id_expiration_ms: i64,
}

/// Kafka's default `producer.id.expiration.ms`, for logs opened without a broker config.
pub const DEFAULT_PRODUCER_ID_EXPIRATION_MS: i64 = 86_400_000;

impl Default for LogDefaults {
    fn default() -> Self {
        LogDefaults { values: BTreeMap::new(), producer_id_expiration_ms: DEFAULT_PRODUCER_ID_EXPIRATION_MS }
    }
}

impl LogDefaults {
    /// Defaults from the broker's value of each topic key.
    pub fn new(values: BTreeMap<String, String>, producer_id_expiration_ms: i64) -> LogDefaults {
        LogDefaults { values, producer_id_expiration_ms }
    }

    /// The broker's value of topic key `name` (its row's default when the broker sets none).
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str).or_else(|| topic_key(name).and_then(|t| t.key.default))
    }
}

/// The settings of one partition's log (topic overrides over broker defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll the active segment at this size.
    pub segment_bytes: u64,
    /// `segment.ms`: roll the active segment at this age.
    pub segment_ms: i64,
    /// `segment.index.bytes`: the most an index file may hold.
    pub segment_index_bytes: u64,
    /// `index.interval.bytes`: bytes between sparse index entries.
    pub index_interval_bytes: u64,
    /// `retention.ms`: delete segments older than this (-1: never).
    pub retention_ms: i64,
    /// `retention.bytes`: delete oldest segments while larger (-1: no limit).
    pub retention_bytes: i64,
    /// `max.message.bytes`: largest batch accepted.
    pub max_message_bytes: i32,
    /// `message.timestamp.type=LogAppendTime`.
    pub log_append_time: bool,
    /// `flush.messages`: fsync after this many messages.
    pub flush_messages: i64,
    /// `flush.ms`: fsync when the oldest unflushed message is this old.
    pub flush_ms: i64,
    /// `cleanup.policy`.
    pub cleanup_policy: CleanupPolicy,
    /// `delete.retention.ms`: how long the cleaner keeps tombstones.
    pub delete_retention_ms: i64,
    /// `min.cleanable.dirty.ratio`.
    pub min_cleanable_ratio: f64,
    /// `min.compaction.lag.ms`.
    pub min_compaction_lag_ms: i64,
    /// `compression.type`: `None` keeps batches as the producer sent them (`producer`).
    pub compression: Option<kafka_protocol::records::Compression>,
    /// The broker's `producer.id.expiration.ms` (no topic-level override): producers idle
    /// longer are not loaded from a producer snapshot.
    pub producer_id_expiration_ms: i64,
}

impl Default for LogConfig {
    /// Kafka's defaults, from the rows.
    fn default() -> Self {
        // The rows' defaults are constants, all checked by `every_default_is_valid`: no input
        // reaches this, so it cannot fail at run time.
        LogConfig::from_props(&LogDefaults::default(), &BTreeMap::new()).expect("the topic rows' defaults are valid")
    }
}

impl LogConfig {
    /// Kafka's `LogConfig.fromProps`: the broker's defaults with a topic's overrides on top,
    /// every key parsed and validated by its row; an override of an unknown key is refused.
    pub fn from_props(defaults: &LogDefaults, overrides: &BTreeMap<String, String>) -> Result<LogConfig, ConfigError> {
        let mut props = defaults.values.clone();
        for (k, v) in overrides {
            if topic_key(k).is_none() {
                return Err(ConfigError::Unknown(k.clone()));
            }
            props.insert(k.clone(), v.clone());
        }
        let v = Values::parse(TOPIC_KEYS.iter().map(|t| &t.key), &props)?;
        let codec = v.string("compression.type")?.unwrap_or("producer");
        let compression = parse_compression_type(codec).ok_or_else(|| invalid("compression.type", codec, "not a codec"))?;
        Ok(LogConfig {
            segment_bytes: v.int("segment.bytes")?.max(0) as u64,
            segment_ms: v.long("segment.ms")?,
            segment_index_bytes: v.int("segment.index.bytes")?.max(0) as u64,
            index_interval_bytes: v.int("index.interval.bytes")?.max(0) as u64,
            retention_ms: v.long("retention.ms")?,
            retention_bytes: v.long("retention.bytes")?,
            max_message_bytes: v.int("max.message.bytes")?,
            log_append_time: v.string("message.timestamp.type")? == Some("LogAppendTime"),
            flush_messages: v.long("flush.messages")?,
            flush_ms: v.long("flush.ms")?,
            cleanup_policy: CleanupPolicy::from_list(v.list("cleanup.policy")?),
            delete_retention_ms: v.long("delete.retention.ms")?,
            min_cleanable_ratio: v.double("min.cleanable.dirty.ratio")?,
            min_compaction_lag_ms: v.long("min.compaction.lag.ms")?,
            compression,
            producer_id_expiration_ms: defaults.producer_id_expiration_ms,
        })
    }

    /// The value of topic key `name` as Kafka reports it (`ConfigDef.convertToString`): the
    /// override if given, else the broker's default, parsed by the key's row.
    pub fn describe_value(defaults: &LogDefaults, overrides: &BTreeMap<String, String>, name: &str) -> Option<String> {
        let key = topic_key(name)?;
        let raw = overrides.get(name).map(String::as_str).or_else(|| defaults.value(name))?;
        Some(key.key.parse(raw).map(|v| v.to_string()).unwrap_or_else(|_| raw.to_string()))
    }
}

/// Whether `name` is a LIST topic key (APPEND and SUBTRACT apply only to those).
pub fn is_list(name: &str) -> bool {
    topic_key(name).is_some_and(|t| t.key.ty == Type::List)
}

/// Kafka's list parsing, for APPEND and SUBTRACT.
pub use config_def::list as parse_list;

#[cfg(test)]
mod tests {
    use super::*;

    fn with(k: &str, v: &str) -> Result<LogConfig, ConfigError> {
        LogConfig::from_props(&LogDefaults::default(), &[(k.to_string(), v.to_string())].into())
    }

    #[test]
    fn every_default_is_valid() {
        for t in TOPIC_KEYS {
            assert!(t.key.parsed_default().is_ok(), "{}", t.key.name);
            assert!(!t.synonyms.is_empty(), "{} has a broker synonym", t.key.name);
        }
        let d = LogConfig::default();
        assert_eq!(d.segment_bytes, 1 << 30);
        assert_eq!(d.retention_ms, 7 * 24 * 3_600_000);
        assert_eq!(d.cleanup_policy, CleanupPolicy::DELETE);
        assert_eq!(d.producer_id_expiration_ms, DEFAULT_PRODUCER_ID_EXPIRATION_MS);
    }

    #[test]
    fn cleanup_policy_as_kafka_validates_it() {
        let none = with("cleanup.policy", "").unwrap().cleanup_policy;
        assert!(!none.delete() && !none.compact(), "the empty list is valid: neither cleanup");
        let both = with("cleanup.policy", "compact, delete").unwrap().cleanup_policy;
        assert!(both.delete() && both.compact());
        assert!(with("cleanup.policy", "bogus").is_err());
        let defaults = LogDefaults::default();
        let o = [("cleanup.policy".to_string(), "compact , delete".to_string())].into();
        assert_eq!(LogConfig::describe_value(&defaults, &o, "cleanup.policy").as_deref(), Some("compact,delete"));
        let o = [("cleanup.policy".to_string(), String::new())].into();
        assert_eq!(LogConfig::describe_value(&defaults, &o, "cleanup.policy").as_deref(), Some(""));
    }

    #[test]
    fn overrides_validate() {
        assert_eq!(with("segment.bytes", "4096").unwrap().segment_bytes, 4096);
        assert!(with("segment.bytes", "13").is_err());
        assert!(with("segment.bytes", "4294967296").is_err(), "an INT");
        assert!(with("min.cleanable.dirty.ratio", "1.5").is_err());
        assert!(with("message.timestamp.type", "Other").is_err());
        assert!(with("compression.type", "brotli").is_err());
        assert!(with("delete.retention.ms", "-1").is_err());
        assert!(matches!(with("no.such", "1"), Err(ConfigError::Unknown(_))));
        assert_eq!(with("compression.type", "zstd").unwrap().compression, Some(kafka_protocol::records::Compression::Zstd));
    }
}
