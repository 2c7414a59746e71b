//! Every broker key Odradek understands: one typed row each, with Kafka's name, type, default
//! and validator (`KafkaConfig` / `ServerLogConfigs`). These rows drive parsing, validation,
//! DescribeConfigs and the README's configuration table.

use crate::config_def::{ConfigKey, Scope, Type, Validator};

const fn key(name: &'static str, ty: Type, default: Option<&'static str>, validator: Validator, doc: &'static str) -> ConfigKey {
    // Odradek has no dynamic broker configs: every broker key is set at start-up.
    ConfigKey { name, ty, default, validator, doc, scope: Scope::Broker, dynamic: false }
}

use Type::{Boolean as BOOL, Double as DOUBLE, Int as INT, List as LIST, Long as LONG, Password as PASSWORD, String as STR};
use Validator::{Any, AtLeast};

const MAX_LONG: Option<&str> = Some("9223372036854775807");
const MAX_INT: Option<&str> = Some("2147483647");

/// The broker keys, in the README's order.
pub static BROKER_KEYS: &[ConfigKey] = &[
    key("listeners", STR, Some("PLAINTEXT://:9092"), Any,
        "`NAME://host:port` entries, each bound; an empty host means every interface, IPv6 and IPv4; port 0 picks a free port"),
    key("advertised.listeners", STR, None, Any,
        "`NAME://host:port` per listener, handed to clients that connect on that listener (unset: the bound address, `localhost` when bound to all interfaces) — set it when clients reach the broker through a mapped port or another name"),
    key("listener.security.protocol.map", STR, Some("PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"), Any,
        "`NAME:PROTOCOL` for each listener name (PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)"),
    key("controller.listener.names", STR, None, Any, "listeners of the KRaft controller: accepted, not served to clients"),
    key("inter.broker.listener.name", STR, None, Any, "accepted for compatibility (a single node talks to no other broker); must name a listener"),
    key("security.inter.broker.protocol", STR, Some("PLAINTEXT"), Any, "accepted for compatibility"),
    key("process.roles", LIST, Some(""), Validator::ListOf(&["broker", "controller"]), "accepted for compatibility (Odradek is broker and controller in one)"),
    key("controller.quorum.voters", LIST, Some(""), Any, "accepted for compatibility"),
    key("controller.quorum.bootstrap.servers", LIST, Some(""), Any, "accepted for compatibility"),
    key("sasl.enabled.mechanisms", LIST, Some("GSSAPI"), Any,
        "SASL mechanisms of SASL listeners (`listener.name.<l>.sasl.enabled.mechanisms` per listener): PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER"),
    key("sasl.mechanism.inter.broker.protocol", STR, Some("GSSAPI"), Any, "accepted for compatibility"),
    key("sasl.jaas.config", PASSWORD, None, Any,
        "JAAS login modules (`listener.name.<l>.<mechanism>.sasl.jaas.config` per listener and mechanism): PLAIN users as `user_<name>=\"<password>\"`, OAUTHBEARER's `unsecuredValidator*` options"),
    key("java.security.auth.login.config", STR, None, Any,
        "a JAAS file whose `KafkaServer` (or `<listener>.KafkaServer`) section holds the login modules; also read from `-Djava.security.auth.login.config=` in `KAFKA_OPTS`"),
    key("sasl.server.max.receive.size", INT, Some("524288"), AtLeast(1), "largest SASL token before authentication"),
    key("connections.max.reauth.ms", LONG, Some("0"), AtLeast(0),
        "SASL sessions last this long; a client re-authenticates before then or is disconnected (KIP-368); 0: forever"),
    key("connection.failed.authentication.delay.ms", INT, Some("100"), AtLeast(0), "a failed authentication is answered (and the connection closed) after this delay"),
    key("add.scram", STR, None, Any,
        "Odradek's own, as `kafka-storage format --add-scram`: `SCRAM-SHA-256=[name=alice,password=alice-secret]`, several separated by `;`, stored at start for users without a credential of that mechanism"),
    key("ssl.keystore.type", STR, None, Validator::OneOf(&["PEM", "PKCS12", "JKS"]), "`PEM` or `PKCS12` (unset: told by the file)"),
    key("ssl.keystore.location", STR, None, Any, "the listener's private key and certificate chain (a PEM file or a PKCS12 store)"),
    key("ssl.keystore.password", PASSWORD, None, Any, "the PKCS12 store's password"),
    key("ssl.keystore.key", PASSWORD, None, Any, "the private key as inline PEM (with `ssl.keystore.certificate.chain`)"),
    key("ssl.keystore.certificate.chain", PASSWORD, None, Any, "the certificate chain as inline PEM"),
    key("ssl.key.password", PASSWORD, None, Any, "the private key's password: in a PKCS12 store the same as ssl.keystore.password (encrypted PEM keys are refused)"),
    key("ssl.truststore.type", STR, None, Validator::OneOf(&["PEM", "PKCS12", "JKS"]), "`PEM` or `PKCS12` (unset: told by the file)"),
    key("ssl.truststore.location", STR, None, Any, "CA certificates client certificates are verified against"),
    key("ssl.truststore.password", PASSWORD, None, Any, "the PKCS12 truststore's password"),
    key("ssl.truststore.certificates", PASSWORD, None, Any, "CA certificates as inline PEM"),
    key("ssl.client.auth", STR, Some("none"), Validator::OneOf(&["none", "requested", "required"]), "client certificates: `required` refuses a client without a trusted one"),
    key("ssl.enabled.protocols", LIST, Some("TLSv1.2,TLSv1.3"), Any, "TLS versions served"),
    key("ssl.protocol", STR, Some("TLSv1.3"), Any, "accepted for compatibility (`ssl.enabled.protocols` decides)"),
    key("ssl.cipher.suites", LIST, Some(""), Any, "cipher suites by IANA name; empty: rustls' defaults"),
    key("ssl.principal.mapping.rules", STR, Some("DEFAULT"), Any, "maps a client certificate's RFC 2253 subject to a principal name (`RULE:pattern/replacement/[LU]`)"),
    key("ssl.endpoint.identification.algorithm", STR, Some("https"), Any, "accepted for compatibility (a client-side check)"),
    key("log.dirs", STR, Some("./data"), Any, "data directory (the first of a list)"),
    key("node.id", INT, Some("0"), Any, "this broker's id (a single node)"),
    key("broker.id", INT, Some("0"), Any, "the older name of `node.id`, used when `node.id` is unset"),
    key("num.partitions", INT, Some("1"), AtLeast(1), "partitions of an auto-created topic"),
    key("default.replication.factor", INT, Some("1"), Any, "accepted for compatibility (a single node keeps one replica)"),
    key("auto.create.topics.enable", BOOL, Some("true"), Any, "Metadata for an unknown topic creates it"),
    key("delete.topic.enable", BOOL, Some("true"), Any, "accepted for compatibility (DeleteTopics always deletes)"),
    key("log.segment.bytes", INT, Some("1073741824"), AtLeast(14), "roll a segment at this size"),
    key("log.roll.ms", LONG, None, Any, "roll a segment at this age (unset: `log.roll.hours`)"),
    key("log.roll.hours", INT, Some("168"), AtLeast(1), "roll a segment at this age, in hours"),
    key("log.retention.ms", LONG, None, Any, "delete whole segments older than this, -1: never (unset: `log.retention.minutes`)"),
    key("log.retention.minutes", INT, None, Any, "the same in minutes (unset: `log.retention.hours`)"),
    key("log.retention.hours", INT, Some("168"), Any, "the same in hours"),
    key("log.retention.bytes", LONG, Some("-1"), Any, "delete oldest segments while the partition is larger"),
    key("log.retention.check.interval.ms", LONG, Some("300000"), AtLeast(1), "how often retention runs"),
    key("log.cleanup.policy", LIST, Some("delete"), Validator::ListOf(&["compact", "delete"]),
        "`delete` and/or `compact` (the log cleaner keeps the latest record per key); empty: neither"),
    key("log.index.interval.bytes", INT, Some("4096"), AtLeast(0), "bytes between sparse index entries"),
    key("log.index.size.max.bytes", INT, Some("10485760"), AtLeast(12), "max index size (a full index rolls the segment)"),
    key("log.message.timestamp.type", STR, Some("CreateTime"), Validator::OneOf(&["CreateTime", "LogAppendTime"]),
        "`LogAppendTime` stamps batches with the broker's clock"),
    key("log.flush.interval.messages", LONG, MAX_LONG, AtLeast(1), "fsync after this many messages (see below)"),
    key("log.flush.interval.ms", LONG, None, Any, "fsync when the oldest unflushed message is this old (unset: never)"),
    key("log.flush.scheduler.interval.ms", LONG, MAX_LONG, AtLeast(0), "how often the flusher looks for logs due (at most every second)"),
    key("message.max.bytes", INT, Some("1048588"), AtLeast(0), "largest record batch accepted (`MESSAGE_TOO_LARGE` above it)"),
    key("socket.request.max.bytes", INT, Some("104857600"), AtLeast(1), "largest request frame; a larger size prefix closes the connection"),
    key("max.connections", INT, MAX_INT, AtLeast(0), "open connections in all; at the limit the broker stops accepting until one closes"),
    key("max.connections.per.ip", INT, MAX_INT, AtLeast(0), "open connections from one address; one more is closed at once"),
    key("connections.max.idle.ms", LONG, Some("600000"), AtLeast(0),
        "a connection that sends no whole request for this long is closed (a frame sent a byte at a time counts as idle)"),
    key("min.insync.replicas", INT, Some("1"), AtLeast(1), "accepted for compatibility (a single node has one replica)"),
    key("group.min.session.timeout.ms", INT, Some("6000"), Any, "smallest `session.timeout.ms` a member may ask for"),
    key("group.max.session.timeout.ms", INT, Some("1800000"), Any, "largest `session.timeout.ms` a member may ask for"),
    key("group.initial.rebalance.delay.ms", INT, Some("3000"), AtLeast(0), "wait this long for more members before a new group's first rebalance"),
    key("offsets.topic.num.partitions", INT, Some("50"), AtLeast(1), "partitions of `__consumer_offsets`"),
    key("offsets.topic.segment.bytes", INT, Some("104857600"), AtLeast(1), "segment size of `__consumer_offsets`"),
    key("offsets.retention.minutes", INT, Some("10080"), AtLeast(1), "committed offsets of an empty group expire after this"),
    key("offsets.retention.check.interval.ms", LONG, Some("600000"), AtLeast(1), "how often offset expiry runs"),
    key("offset.metadata.max.bytes", INT, Some("4096"), AtLeast(0), "largest commit metadata string"),
    key("log.cleaner.delete.retention.ms", LONG, Some("86400000"), AtLeast(0), "how long the cleaner keeps tombstones"),
    key("log.cleaner.min.cleanable.ratio", DOUBLE, Some("0.5"), Validator::Ratio(0.0, 1.0), "dirty share of a log before the cleaner compacts it"),
    key("log.cleaner.min.compaction.lag.ms", LONG, Some("0"), AtLeast(0), "records younger than this are not compacted"),
    key("log.cleaner.max.compaction.lag.ms", LONG, MAX_LONG, AtLeast(1), "accepted and validated; Odradek does not act on it yet"),
    key("log.cleaner.backoff.ms", LONG, Some("15000"), AtLeast(0), "how often the log cleaner looks for compactable partitions"),
    key("log.cleaner.enable", BOOL, Some("true"), Any, "run the log cleaner"),
    key("num.recovery.threads.per.data.dir", INT, Some("2"), AtLeast(1), "threads opening (and recovering) the logs at start"),
    // Odradek's own (not a Kafka key): fsync before acknowledging acks=all, shared by concurrent
    // producers (group commit). Off by default, as Kafka acknowledges from the page cache.
    key("acks.all.fsync", BOOL, Some("false"), Any, "Odradek's own: acks=all produce answers only once its data is fsynced (group commit)"),
    key("compression.type", STR, Some("producer"), Validator::OneOf(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]),
        "codec batches are stored in; other than `producer`, the broker recompresses each batch to it"),
    key("log.message.timestamp.before.max.ms", LONG, MAX_LONG, AtLeast(0), "accepted and validated; Odradek does not act on it yet"),
    key("log.message.timestamp.after.max.ms", LONG, MAX_LONG, AtLeast(0), "accepted and validated; Odradek does not act on it yet"),
    key("unclean.leader.election.enable", BOOL, Some("false"), Any, "accepted for compatibility (a single node has no other replica)"),
    key("log.segment.delete.delay.ms", LONG, Some("60000"), AtLeast(0), "accepted and validated; Odradek does not act on it yet"),
    key("producer.id.expiration.ms", INT, Some("86400000"), AtLeast(1),
        "idle producer state is forgotten after this (never while its transaction is open), and not loaded from a producer snapshot"),
    key("producer.id.expiration.check.interval.ms", INT, Some("600000"), AtLeast(1), "how often idle producer state is looked for"),
    key("transaction.max.timeout.ms", INT, Some("900000"), AtLeast(1), "largest `transaction.timeout.ms` a producer may ask for"),
    key("transaction.state.log.num.partitions", INT, Some("50"), AtLeast(1), "partitions of `__transaction_state`"),
    key("transaction.state.log.segment.bytes", INT, Some("104857600"), AtLeast(1), "segment size of `__transaction_state`"),
    key("transaction.abort.timed.out.transaction.cleanup.interval.ms", INT, Some("10000"), AtLeast(1), "how often expired transactions are aborted"),
];

/// The row of broker key `name`.
pub fn broker_key(name: &str) -> Option<&'static ConfigKey> {
    BROKER_KEYS.iter().find(|k| k.name == name)
}

/// Broker keys that stand for one setting in different units, highest priority first.
const SYNONYM_GROUPS: &[&[&str]] = &[
    &["log.roll.ms", "log.roll.hours"],
    &["log.retention.ms", "log.retention.minutes", "log.retention.hours"],
];

/// Kafka's `DynamicBrokerConfig.brokerConfigSynonyms`: the broker keys that can supply `name`'s
/// value, in priority order (itself alone for most keys).
pub fn broker_synonyms(name: &'static str) -> Vec<&'static str> {
    // The scheduler interval is the default of the flush interval, not the other way round.
    if name == "log.flush.interval.ms" {
        return vec!["log.flush.interval.ms", "log.flush.scheduler.interval.ms"];
    }
    SYNONYM_GROUPS.iter().find(|g| g.contains(&name)).map(|g| g.to_vec()).unwrap_or_else(|| vec![name])
}
