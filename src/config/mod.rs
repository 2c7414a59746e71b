//! Every broker setting, under Apache Kafka's config names and with Kafka's defaults: the broker
//! `Config` (Kafka's `KafkaConfig`), resolved from the rows in `keys` over the map `sources`
//! collects. Topic keys and the typed `LogConfig` live with the log (`log::config`), as Kafka
//! keeps `LogConfig` in storage; this module depends on them, not the other way round.

mod describe;
/// The broker key rows.
pub mod keys;
/// The README's tables, rendered from the rows.
pub mod readme;
/// Named listeners and their security protocols.
pub mod listeners;
/// CLI, environment and properties-file collection.
pub mod sources;

/// Re-exported so `crate::config::parse_properties` and `ConfigError` keep working.
pub use crate::config_def::{parse_properties, ConfigError};
/// Re-exported so `crate::config::LogConfig` keeps working.
pub use crate::log::config::LogConfig;
/// Re-exported: the broker reads the group coordinator's keys into it.
pub use crate::group::config::GroupConfig;
/// DescribeConfigs entries built from the rows.
pub use describe::{Described, Synonym};

use crate::config_def::{invalid, Value, Values};
use crate::log::config::{LogDefaults, TOPIC_KEYS};
use crate::log::manager::LogManagerConfig;
use keys::BROKER_KEYS;
use std::collections::BTreeMap;
use listeners::ListenerConfig;
use std::path::PathBuf;

/// The broker's settings, resolved.
#[derive(Debug, Clone)]
pub struct Config {
    /// All keys as given (after precedence), Kafka names.
    raw: BTreeMap<String, String>,
    /// Every broker key, parsed and validated by its row.
    values: Values,
    /// The broker's value of each topic key, which topic overrides go over.
    topic_defaults: LogDefaults,
    /// The listeners served to clients (`listeners` without the controller's), in order.
    pub listeners: Vec<ListenerConfig>,
    /// `connections.max.reauth.ms` (per listener and mechanism: `listener_mechanism_setting`).
    pub connections_max_reauth_ms: i64,
    /// `connection.failed.authentication.delay.ms`.
    pub failed_authentication_delay_ms: u64,
    /// `sasl.server.max.receive.size`: the largest frame before authentication.
    pub sasl_max_receive_size: usize,
    /// `add.scram`: SCRAM users stored at start where they have no credential yet.
    pub add_scram: Option<String>,
    /// `log.dirs`: the data directory.
    pub data_dir: PathBuf,
    /// `node.id` (or `broker.id`).
    pub node_id: i32,
    /// `num.partitions`: partitions of an auto-created topic.
    pub num_partitions: i32,
    /// `auto.create.topics.enable`.
    pub auto_create_topics: bool,
    /// `message.max.bytes`.
    pub message_max_bytes: i32,
    /// `socket.request.max.bytes`.
    pub socket_request_max_bytes: usize,
    /// `max.connections`: beyond it the broker stops accepting until a connection closes.
    pub max_connections: usize,
    /// `max.connections.per.ip`: a new connection over it is closed at once.
    pub max_connections_per_ip: usize,
    /// `connections.max.idle.ms`: a connection with no whole request for this long is closed
    /// (a client dribbling a frame byte by byte counts as idle).
    pub connections_max_idle_ms: u64,
    /// `log.retention.check.interval.ms`.
    pub retention_check_interval_ms: u64,
    /// How often the log cleaner looks for compactable partitions (`log.cleaner.backoff.ms`).
    pub cleaner_backoff_ms: u64,
    /// `log.cleaner.enable`.
    pub cleaner_enable: bool,
    /// `num.recovery.threads.per.data.dir`: threads opening the logs at start.
    pub recovery_threads: usize,
    /// `acks.all.fsync`: acks=all produce answers only once its data is fsynced (group commit).
    pub acks_all_fsync: bool,
    /// `log.flush.scheduler.interval.ms`.
    pub flush_scheduler_interval_ms: u64,
    /// `producer.id.expiration.ms`: an idempotent producer's state is dropped after this long
    /// without a write (none with an open transaction), checked every
    /// `producer.id.expiration.check.interval.ms`.
    pub producer_id_expiration_ms: i64,
    /// `producer.id.expiration.check.interval.ms`.
    pub producer_id_expiration_check_interval_ms: u64,
    /// Broker-level defaults for topic configs, typed.
    pub log_defaults: LogConfig,
    /// The group coordinator's settings.
    pub group: GroupConfig,
    /// The transaction coordinator's settings.
    pub txn: crate::txn::TxnConfig,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`.
    pub txn_abort_interval_ms: u64,
}

/// Reads the group coordinator's keys into its `GroupConfig`.
fn group_config(v: &Values) -> Result<GroupConfig, ConfigError> {
    Ok(GroupConfig {
        min_session_timeout_ms: v.int("group.min.session.timeout.ms")?,
        max_session_timeout_ms: v.int("group.max.session.timeout.ms")?,
        initial_rebalance_delay_ms: v.unsigned("group.initial.rebalance.delay.ms")?,
        offsets_topic_partitions: v.int("offsets.topic.num.partitions")?,
        offsets_topic_segment_bytes: v.unsigned("offsets.topic.segment.bytes")?,
        offsets_retention_ms: v.long("offsets.retention.minutes")?.saturating_mul(60_000),
        offsets_retention_check_interval_ms: v.unsigned("offsets.retention.check.interval.ms")?,
        offset_metadata_max_bytes: v.unsigned("offset.metadata.max.bytes")? as usize,
    })
}

/// Per-listener keys start with this (`listener.name.sasl_ssl.ssl.keystore.location`).
const LISTENER_PREFIX: &str = "listener.name.";

impl Config {
    /// Parses command-line arguments (without the program name) and the environment.
    pub fn from_args_and_env(args: &[String], env: impl Iterator<Item = (String, String)>) -> Result<Config, ConfigError> {
        Config::from_map(sources::collect(args, env)?)
    }

    /// Resolves a map of Kafka keys into typed settings; every key is checked by its row.
    pub fn from_map(raw: BTreeMap<String, String>) -> Result<Config, ConfigError> {
        for k in raw.keys().filter(|k| keys::broker_key(k).is_none() && !k.starts_with(LISTENER_PREFIX)) {
            // Kafka ignores unknown keys with a warning; do the same.
            tracing::warn!(key = %k, "ignoring unknown config");
        }
        let v = Values::parse(BROKER_KEYS, &raw)?;
        let listeners = listeners::resolve(
            v.string("listeners")?.unwrap_or_default(),
            v.string("advertised.listeners")?,
            v.string("listener.security.protocol.map")?.unwrap_or_default(),
            v.string("controller.listener.names")?,
        )?;
        if let Some(ibl) = v.string("inter.broker.listener.name")?.filter(|n| !n.is_empty()) {
            if !listeners.iter().any(|l| l.name == listeners::normalise(ibl)) {
                return Err(invalid("inter.broker.listener.name", ibl, "must be the name of one of listeners"));
            }
        }
        let topic_defaults = LogDefaults::new(topic_values(&v)?, v.long("producer.id.expiration.ms")?);
        // Kafka's LogManager default LogConfig: a bad broker value is named by its broker key.
        let log_defaults = LogConfig::from_props(&topic_defaults, &BTreeMap::new()).map_err(|e| match e {
            ConfigError::Invalid { key, value, reason } => {
                let key = TOPIC_KEYS.iter().find(|t| t.key.name == key).and_then(|t| t.synonyms.first()).map_or(key, |s| s.name.to_string());
                ConfigError::Invalid { key, value, reason }
            }
            other => other,
        })?;
        Ok(Config {
            listeners,
            connections_max_reauth_ms: v.long("connections.max.reauth.ms")?,
            failed_authentication_delay_ms: v.unsigned("connection.failed.authentication.delay.ms")?,
            sasl_max_receive_size: v.unsigned("sasl.server.max.receive.size")? as usize,
            add_scram: v.string("add.scram")?.map(str::to_string),
            data_dir: PathBuf::from(v.string("log.dirs")?.and_then(|d| d.split(',').next()).unwrap_or("./data")),
            node_id: if raw.contains_key("node.id") { v.int("node.id")? } else { v.int("broker.id")? },
            num_partitions: v.int("num.partitions")?,
            auto_create_topics: v.boolean("auto.create.topics.enable")?,
            message_max_bytes: v.int("message.max.bytes")?,
            socket_request_max_bytes: v.unsigned("socket.request.max.bytes")? as usize,
            max_connections: v.int("max.connections")?.max(1) as usize,
            max_connections_per_ip: v.int("max.connections.per.ip")?.max(1) as usize,
            connections_max_idle_ms: v.unsigned("connections.max.idle.ms")?,
            retention_check_interval_ms: v.unsigned("log.retention.check.interval.ms")?,
            flush_scheduler_interval_ms: v.unsigned("log.flush.scheduler.interval.ms")?,
            producer_id_expiration_ms: v.long("producer.id.expiration.ms")?,
            producer_id_expiration_check_interval_ms: v.unsigned("producer.id.expiration.check.interval.ms")?,
            cleaner_backoff_ms: v.unsigned("log.cleaner.backoff.ms")?,
            cleaner_enable: v.boolean("log.cleaner.enable")?,
            recovery_threads: v.unsigned("num.recovery.threads.per.data.dir")? as usize,
            acks_all_fsync: v.boolean("acks.all.fsync")?,
            log_defaults,
            group: group_config(&v)?,
            txn: crate::txn::TxnConfig {
                max_timeout_ms: v.int("transaction.max.timeout.ms")?,
                partitions: v.int("transaction.state.log.num.partitions")?,
                segment_bytes: v.unsigned("transaction.state.log.segment.bytes")?,
            },
            txn_abort_interval_ms: v.unsigned("transaction.abort.timed.out.transaction.cleanup.interval.ms")?,
            topic_defaults,
            values: v,
            raw,
        })
    }

    /// The broker's value for a topic-level key (e.g. `segment.bytes` from `log.segment.bytes`).
    pub fn broker_default_for_topic_key(&self, topic_key: &str) -> String {
        self.topic_defaults.value(topic_key).unwrap_or_default().to_string()
    }

    /// Whether `key` was set explicitly (file, env, flag or override).
    pub fn is_set(&self, key: &str) -> bool {
        self.raw.contains_key(key)
    }

    /// The log settings for a topic with the given per-topic overrides.
    pub fn log_config(&self, overrides: &BTreeMap<String, String>) -> Result<LogConfig, ConfigError> {
        LogConfig::from_props(&self.topic_defaults, overrides)
    }

    /// A listener's value of `key`: `listener.name.<listener>.<key>` over `<key>`. Listener names
    /// compare with `_` and `.` as one, since environment variables cannot tell them apart
    /// (`KAFKA_LISTENER_NAME_SASL_SSL_...`).
    pub fn listener_setting(&self, listener: &str, key: &str) -> Option<&str> {
        let wanted = format!("{LISTENER_PREFIX}{}.{key}", listener.to_ascii_lowercase()).replace('_', ".");
        let scoped = self.raw.iter().find(|(k, _)| k.starts_with(LISTENER_PREFIX) && k.to_ascii_lowercase().replace('_', ".") == wanted);
        scoped.or_else(|| self.raw.get_key_value(key)).map(|(_, v)| v.as_str())
    }

    /// A listener's value of a mechanism's `key` (`listener.name.<l>.<mechanism>.<key>`, as
    /// Kafka scopes `sasl.jaas.config` and `connections.max.reauth.ms`), over the listener's.
    pub fn listener_mechanism_setting(&self, listener: &str, mechanism: &str, key: &str) -> Option<&str> {
        let scoped = format!("{}.{key}", mechanism.to_ascii_lowercase());
        let wanted = format!("{LISTENER_PREFIX}{}.{scoped}", listener.to_ascii_lowercase()).replace('_', ".");
        let hit = self.raw.iter().find(|(k, _)| k.starts_with(LISTENER_PREFIX) && k.to_ascii_lowercase().replace('_', ".") == wanted);
        hit.map(|(_, v)| v.as_str()).or_else(|| self.listener_setting(listener, key))
    }

    /// What the log manager needs of the broker's settings.
    pub fn log_manager_config(&self) -> LogManagerConfig {
        LogManagerConfig { data_dir: self.data_dir.clone(), recovery_threads: self.recovery_threads, defaults: self.topic_defaults.clone() }
    }
}

/// Kafka's `extractLogConfigMap`: each topic key's value from the first of its broker synonyms
/// that has one, scaled to the topic key's unit (`log.roll.hours` to `segment.ms`); a key whose
/// synonyms are all unset keeps its row's default.
fn topic_values(v: &Values) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut out = BTreeMap::new();
    for t in TOPIC_KEYS {
        for s in t.synonyms {
            let Some(value) = v.get(s.name)? else { continue };
            let text = match (s.factor, value) {
                (1, v) => v.to_string(),
                // Hours and minutes are INTs in Kafka: widened before scaling, they cannot overflow.
                (f, Value::Int(n)) => (*n as i64 * f).to_string(),
                (f, Value::Long(n)) => n.saturating_mul(f).to_string(),
                (_, v) => v.to_string(),
            };
            out.insert(t.key.name.to_string(), text);
            break;
        }
    }
    Ok(out)
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
        assert_eq!(c.listeners.len(), 1);
        assert_eq!(c.listeners[0].bind.port(), 9092);
        assert!(c.listeners[0].bind.ip().is_unspecified());
        assert_eq!(c.listeners[0].protocol, listeners::SecurityProtocol::Plaintext);
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
        assert_eq!(c.listeners[0].bind.port(), 0);
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
        assert_eq!(c.listeners[0].advertised, Some(("localhost".to_string(), 32768)));
        assert_eq!(c.num_partitions, 4);
    }

    #[test]
    fn properties_and_listener_forms() {
        let p = parse_properties("# c\nlisteners=PLAINTEXT://localhost:19092\nadvertised.listeners: PLAINTEXT://example:1\n");
        let c = Config::from_map(p.into_iter().collect()).unwrap();
        assert_eq!(c.listeners[0].bind, "127.0.0.1:19092".parse().unwrap());
        assert_eq!(c.listeners[0].advertised, Some(("example".to_string(), 1)));
    }

    #[test]
    fn listener_scoped_settings_from_the_environment() {
        let c = cfg(
            &[],
            &[
                ("KAFKA_LISTENERS", "SASL_SSL://:9094,BROKER://:9093"),
                ("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "SASL_SSL:SASL_SSL,BROKER:PLAINTEXT"),
                ("KAFKA_LISTENER_NAME_SASL_SSL_SSL_KEYSTORE_LOCATION", "/k.pem"),
                ("KAFKA_LISTENER_NAME_SASL_SSL_SCRAM__SHA__512_SASL_JAAS_CONFIG", "x;"),
                ("KAFKA_SASL_JAAS_CONFIG", "global;"),
                ("KAFKA_SSL_KEYSTORE_LOCATION", "/global.pem"),
            ],
        );
        assert_eq!(c.listener_setting("SASL_SSL", "ssl.keystore.location"), Some("/k.pem"));
        assert_eq!(c.listener_setting("BROKER", "ssl.keystore.location"), Some("/global.pem"));
        assert_eq!(c.listener_mechanism_setting("SASL_SSL", "SCRAM-SHA-512", "sasl.jaas.config"), Some("x;"));
        assert_eq!(c.listener_mechanism_setting("SASL_SSL", "PLAIN", "sasl.jaas.config"), Some("global;"));
        assert_eq!(c.listener_setting("BROKER", "no.such"), None);
        let c = cfg(&[], &[("KAFKA_OPTS", "-Xmx1G -Djava.security.auth.login.config=/etc/kafka/jaas.conf -Dx=y"), ("KAFKA_ADD_SCRAM", "SCRAM-SHA-512=[name=a,password=b]")]);
        assert_eq!(c.listener_setting("ANY", "java.security.auth.login.config"), Some("/etc/kafka/jaas.conf"));
        assert_eq!(c.add_scram.as_deref(), Some("SCRAM-SHA-512=[name=a,password=b]"));
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

    #[test]
    fn log_defaults_follow_the_broker_keys() {
        // producer.id.expiration.ms used to leave log_defaults at Kafka's default.
        let c = cfg(&["--producer-id-expiration-ms", "5000", "--log-roll-hours", "2", "--log-cleanup-policy="], &[]);
        assert_eq!(c.log_defaults.producer_id_expiration_ms, 5000);
        assert_eq!(c.log_config(&BTreeMap::new()).unwrap().producer_id_expiration_ms, 5000);
        assert_eq!(c.log_defaults.segment_ms, 2 * 3_600_000);
        assert!(!c.log_defaults.cleanup_policy.delete() && !c.log_defaults.cleanup_policy.compact());
        assert_eq!(c.log_manager_config().defaults.value("segment.ms"), Some("7200000"));
    }

    #[test]
    fn broker_keys_validate_by_their_rows() {
        let bad = |k: &str, v: &str| match Config::from_map([(k.to_string(), v.to_string())].into()) {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("{k}={v}: {other:?}"),
        };
        assert_eq!(bad("log.segment.bytes", "13"), "log.segment.bytes");
        assert_eq!(bad("num.partitions", "0"), "num.partitions");
        assert_eq!(bad("log.cleanup.policy", "bogus"), "log.cleanup.policy");
        assert_eq!(bad("log.retention.hours", "x"), "log.retention.hours");
        // An empty value of a key without a default is unset, as before.
        assert!(Config::from_map([("log.retention.ms".to_string(), String::new())].into()).is_ok());
    }

    #[test]
    fn every_topic_synonym_is_a_broker_key() {
        for t in TOPIC_KEYS {
            for s in t.synonyms {
                assert!(keys::broker_key(s.name).is_some(), "{} -> {}", t.key.name, s.name);
            }
        }
        for k in BROKER_KEYS {
            assert!(k.parsed_default().is_ok(), "{}", k.name);
        }
    }
}
