//! Admin APIs against the real broker binary: topic and broker configs (rdkafka AdminClient, plus
//! raw kafka-protocol requests where rdkafka 0.39 has no API or drops the detail: synonyms,
//! IncrementalAlterConfigs, error messages, DescribeCluster, DescribeLogDirs), CreatePartitions,
//! DeleteRecords and time-based retention.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use common::*;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{
    AdminOptions, AlterConfig, ConfigEntry, ConfigResource, ConfigSource, NewPartitions, NewTopic, OwnedResourceSpecifier,
    ResourceSpecifier, TopicReplication,
};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::FutureRecord;
use rdkafka::{Offset, TopicPartitionList};

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
const SRC_DYNAMIC_TOPIC: i8 = 1;
const SRC_STATIC_BROKER: i8 = 4;
const SRC_DEFAULT: i8 = 5;
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;
const INVALID_CONFIG: i16 = 40;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

fn opts() -> AdminOptions {
    AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))).request_timeout(Some(Duration::from_secs(20)))
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

// ====================================================================== raw protocol client

use common::raw::RawConn as Conn;

impl Conn {
    fn describe_configs(&mut self, resource_type: i8, name: &str, keys: Option<&[&str]>, synonyms: bool) -> DescribeConfigsResult {
        let v = self.pick::<DescribeConfigsRequest>(4);
        let req = DescribeConfigsRequest::default()
            .with_resources(vec![DescribeConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(sb(name))
                .with_configuration_keys(keys.map(|ks| ks.iter().map(|k| sb(k)).collect()))])
            .with_include_synonyms(synonyms);
        let resp = self.call(v, &req);
        assert_eq!(resp.results.len(), 1, "DescribeConfigs results");
        resp.results.into_iter().next().unwrap()
    }

    /// IncrementalAlterConfigs for one topic: (name, op, value). Returns (error code, message).
    fn incremental_alter(&mut self, topic: &str, ops: &[(&str, i8, Option<&str>)]) -> (i16, Option<String>) {
        use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
        let v = self.pick::<IncrementalAlterConfigsRequest>(1);
        let req = IncrementalAlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(sb(topic))
            .with_configs(
                ops.iter()
                    .map(|(k, op, val)| AlterableConfig::default().with_name(sb(k)).with_config_operation(*op).with_value(val.map(sb)))
                    .collect(),
            )]);
        let resp = self.call(v, &req);
        assert_eq!(resp.responses.len(), 1);
        let r = &resp.responses[0];
        assert_eq!(r.resource_name.as_str(), topic);
        (r.error_code, r.error_message.as_ref().map(|m| m.to_string()))
    }

    /// (Non-incremental) AlterConfigs for one topic. Returns (error code, message).
    fn alter(&mut self, topic: &str, configs: &[(&str, &str)]) -> (i16, Option<String>) {
        use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
        let v = self.pick::<AlterConfigsRequest>(2);
        let req = AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(sb(topic))
            .with_configs(configs.iter().map(|(k, val)| AlterableConfig::default().with_name(sb(k)).with_value(Some(sb(val)))).collect())]);
        let resp = self.call(v, &req);
        assert_eq!(resp.responses.len(), 1);
        let r = &resp.responses[0];
        (r.error_code, r.error_message.as_ref().map(|m| m.to_string()))
    }
}

// ====================================================================== rdkafka helpers

fn describe_topic(b: &TestBroker, topic: &str) -> ConfigResource {
    let admin = b.admin();
    let res = block_on(admin.describe_configs([&ResourceSpecifier::Topic(topic)], &opts())).expect("describe_configs request");
    assert_eq!(res.len(), 1);
    let r = res.into_iter().next().unwrap().unwrap_or_else(|e| panic!("describe_configs {topic}: {e:?}"));
    assert_eq!(r.specifier, OwnedResourceSpecifier::Topic(topic.to_string()));
    r
}

fn entry<'a>(r: &'a ConfigResource, name: &str) -> &'a ConfigEntry {
    r.get(name).unwrap_or_else(|| panic!("no config entry {name}; entries: {:?}", r.entries.iter().map(|e| &e.name).collect::<Vec<_>>()))
}

#[track_caller]
fn assert_entry(r: &ConfigResource, name: &str, value: &str, source: ConfigSource) {
    let e = entry(r, name);
    assert_eq!(e.value.as_deref(), Some(value), "value of {name}: {e:?}");
    let is_default = source == ConfigSource::Default;
    assert_eq!(e.source, source, "source of {name}: {e:?}");
    assert_eq!(e.is_default, is_default, "is_default of {name}: {e:?}");
    assert!(!e.is_sensitive, "{name} is not sensitive");
}

/// AlterConfigs through rdkafka. Note: rdkafka 0.39's AlterConfigsFuture reports every resource
/// as Ok (it never looks at the per-resource error), so callers verify the effect by describing.
fn alter_topic(b: &TestBroker, topic: &str, configs: &[(&str, &str)]) -> Result<(), RDKafkaErrorCode> {
    let admin = b.admin();
    let mut ac = AlterConfig::new(ResourceSpecifier::Topic(topic));
    for (k, v) in configs {
        ac = ac.set(k, v);
    }
    let res = block_on(admin.alter_configs([&ac], &opts())).expect("alter_configs request");
    assert_eq!(res.len(), 1);
    match res.into_iter().next().unwrap() {
        Ok(spec) => {
            assert_eq!(spec, OwnedResourceSpecifier::Topic(topic.to_string()));
            Ok(())
        }
        Err((spec, code)) => {
            assert_eq!(spec, OwnedResourceSpecifier::Topic(topic.to_string()));
            Err(code)
        }
    }
}

fn partition_count(b: &TestBroker, topic: &str) -> usize {
    let c = b.consumer();
    let md = c.fetch_metadata(Some(topic), OP_TIMEOUT).expect("metadata");
    let t = md.topics().iter().find(|t| t.name() == topic).expect("topic in metadata");
    assert!(t.error().is_none(), "metadata error for {topic}: {:?}", t.error());
    t.partitions().len()
}

fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool, diag: impl Fn() -> String) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}; {}", diag());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls a consumer until the first record (or an error) arrives.
fn first_record(c: &BaseConsumer, timeout: Duration) -> Result<(i64, String), String> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        match c.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(m)) => return Ok((m.offset(), String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned())),
            Some(Err(e)) => return Err(e.to_string()),
        }
    }
    panic!("no record and no error within {timeout:?}");
}

// ====================================================================== topic configs

#[test]
fn topic_configs_describe_alter_persist_and_reject_invalid() {
    // message.max.bytes set on the broker: the topic's max.message.bytes then comes from the static
    // broker config.
    let mut b = TestBroker::start_with(&[("message.max.bytes", "2000000")]);
    let topic = topic_name("cfg");
    b.create_topic(&topic, 1, &[("retention.ms", "3600000"), ("segment.bytes", "1048576")]);

    // --- describe: overrides vs defaults vs static broker config
    let r = describe_topic(&b, &topic);
    assert_entry(&r, "retention.ms", "3600000", ConfigSource::DynamicTopic);
    assert_entry(&r, "segment.bytes", "1048576", ConfigSource::DynamicTopic);
    assert_entry(&r, "cleanup.policy", "delete", ConfigSource::Default);
    assert_entry(&r, "max.message.bytes", "2000000", ConfigSource::StaticBroker);
    assert!(r.entries.len() >= 10, "a topic has many configs, got {:?}", r.entries.iter().map(|e| &e.name).collect::<Vec<_>>());

    // A topic without overrides: Kafka's defaults (retention.ms comes from log.retention.hours=168).
    let plain_topic = topic_name("cfg-plain");
    b.create_topic(&plain_topic, 1, &[]);
    let r0 = describe_topic(&b, &plain_topic);
    assert_entry(&r0, "retention.ms", "604800000", ConfigSource::Default);
    assert_entry(&r0, "retention.bytes", "-1", ConfigSource::Default);
    assert_entry(&r0, "segment.bytes", "1073741824", ConfigSource::Default);
    assert_entry(&r0, "cleanup.policy", "delete", ConfigSource::Default);

    // --- raw describe: a subset of keys, with synonyms
    let mut conn = Conn::connect(&b);
    let d = conn.describe_configs(RESOURCE_TOPIC, &topic, Some(&["segment.bytes", "max.message.bytes", "cleanup.policy"]), true);
    assert_eq!(d.error_code, 0, "describe error: {:?}", d.error_message);
    let names: BTreeSet<&str> = d.configs.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["segment.bytes", "max.message.bytes", "cleanup.policy"]), "configuration_keys filter");
    let seg = d.configs.iter().find(|c| c.name.as_str() == "segment.bytes").unwrap();
    let syn: Vec<(&str, Option<&str>, i8)> = seg.synonyms.iter().map(|s| (s.name.as_str(), s.value.as_deref(), s.source)).collect();
    assert_eq!(syn.first(), Some(&("segment.bytes", Some("1048576"), SRC_DYNAMIC_TOPIC)), "segment.bytes synonyms {syn:?}");
    assert!(syn.contains(&("log.segment.bytes", Some("1073741824"), SRC_DEFAULT)), "segment.bytes synonyms {syn:?}");
    let mmb = d.configs.iter().find(|c| c.name.as_str() == "max.message.bytes").unwrap();
    let syn: Vec<(&str, Option<&str>, i8)> = mmb.synonyms.iter().map(|s| (s.name.as_str(), s.value.as_deref(), s.source)).collect();
    assert_eq!(syn.first(), Some(&("message.max.bytes", Some("2000000"), SRC_STATIC_BROKER)), "max.message.bytes synonyms {syn:?}");
    let d = conn.describe_configs(RESOURCE_TOPIC, "no-such-topic-cfg", None, false);
    assert_eq!(d.error_code, UNKNOWN_TOPIC_OR_PARTITION, "describe of a missing topic: {:?}", d.error_message);

    // --- validate_only changes nothing
    {
        let admin = b.admin();
        let ac = AlterConfig::new(ResourceSpecifier::Topic(&topic)).set("retention.ms", "1234567");
        block_on(admin.alter_configs([&ac], &opts().validate_only(true))).expect("validate-only alter_configs");
        let r = describe_topic(&b, &topic);
        assert_entry(&r, "retention.ms", "3600000", ConfigSource::DynamicTopic);
        assert_entry(&r, "segment.bytes", "1048576", ConfigSource::DynamicTopic);
    }

    // --- AlterConfigs (rdkafka; not incremental: unspecified overrides go back to their defaults)
    alter_topic(&b, &topic, &[("retention.ms", "7200000"), ("max.message.bytes", "500000")]).expect("alter_configs");
    let r = describe_topic(&b, &topic);
    assert_entry(&r, "retention.ms", "7200000", ConfigSource::DynamicTopic);
    assert_entry(&r, "max.message.bytes", "500000", ConfigSource::DynamicTopic);
    assert_entry(&r, "segment.bytes", "1073741824", ConfigSource::Default);

    // --- IncrementalAlterConfigs (raw; rdkafka 0.39 has no API for it): SET, DELETE, APPEND
    let (code, msg) = conn.incremental_alter(
        &topic,
        &[("segment.bytes", OP_SET, Some("2097152")), ("max.message.bytes", OP_DELETE, None), ("cleanup.policy", OP_APPEND, Some("compact"))],
    );
    assert_eq!(code, 0, "IncrementalAlterConfigs: {msg:?}");
    let check_final = |b: &TestBroker, when: &str| {
        let r = describe_topic(b, &topic);
        eprintln!("[test] checking configs {when}");
        assert_entry(&r, "segment.bytes", "2097152", ConfigSource::DynamicTopic);
        assert_entry(&r, "retention.ms", "7200000", ConfigSource::DynamicTopic);
        assert_entry(&r, "max.message.bytes", "2000000", ConfigSource::StaticBroker);
        let cp = entry(&r, "cleanup.policy");
        let policies: BTreeSet<&str> = cp.value.as_deref().unwrap_or_default().split(',').map(|s| s.trim()).collect();
        assert_eq!(policies, BTreeSet::from(["delete", "compact"]), "cleanup.policy after APPEND compact: {cp:?}");
        assert_eq!(cp.source, ConfigSource::DynamicTopic, "cleanup.policy source: {cp:?}");
    };
    check_final(&b, "after incremental alter");

    // --- invalid values are rejected with INVALID_CONFIG (and a message) and change nothing.
    // (rdkafka 0.39's alter_configs ignores per-resource errors, so the codes are checked with
    // raw requests; the rdkafka call must at least leave the configs unchanged.)
    let _ = alter_topic(&b, &topic, &[("retention.ms", "abc")]);
    check_final(&b, "after an rdkafka alter_configs with retention.ms=abc");
    let (code, msg) = conn.alter(&topic, &[("retention.ms", "abc")]);
    assert_eq!(code, INVALID_CONFIG, "AlterConfigs retention.ms=abc: {msg:?}");
    assert!(msg.as_deref().is_some_and(|m| m.contains("retention.ms")), "error message should name the config: {msg:?}");
    let (code, msg) = conn.incremental_alter(&topic, &[("cleanup.policy", OP_SET, Some("bogus"))]);
    assert_eq!(code, INVALID_CONFIG, "IncrementalAlterConfigs cleanup.policy=bogus: {msg:?}");
    assert!(msg.as_deref().is_some_and(|m| m.contains("cleanup.policy")), "error message should name the config: {msg:?}");
    let (code, msg) = conn.incremental_alter(&topic, &[("no.such.config", OP_SET, Some("1"))]);
    assert_eq!(code, INVALID_CONFIG, "IncrementalAlterConfigs of an unknown key: {msg:?}");
    let (code, msg) = conn.incremental_alter("no-such-topic-cfg", &[("retention.ms", OP_SET, Some("1000"))]);
    assert_eq!(code, UNKNOWN_TOPIC_OR_PARTITION, "IncrementalAlterConfigs of a missing topic: {msg:?}");
    check_final(&b, "after the rejected alterations");

    // CreateTopics with an invalid config fails and creates nothing.
    let bad = topic_name("cfg-bad");
    let admin = b.admin();
    let nt = NewTopic::new(&bad, 1, TopicReplication::Fixed(1)).set("retention.ms", "abc");
    let res = block_on(admin.create_topics([&nt], &opts())).expect("create_topics request");
    assert_eq!(res, vec![Err((bad.clone(), RDKafkaErrorCode::InvalidConfig))], "CreateTopics with retention.ms=abc");
    let d = conn.describe_configs(RESOURCE_TOPIC, &bad, None, false);
    assert_eq!(d.error_code, UNKNOWN_TOPIC_OR_PARTITION, "topic {bad} must not exist");
    drop(conn);
    drop(admin);

    // --- persisted across a clean restart and a crash
    b.restart();
    check_final(&b, "after SIGTERM + restart");
    b.kill9();
    b.restart();
    check_final(&b, "after kill -9 + restart");

    // validate_only changes nothing; SUBTRACT removes a list element.
    let mut conn = Conn::connect(&b);
    let v = conn.pick::<IncrementalAlterConfigsRequest>(1);
    {
        use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
        let req = IncrementalAlterConfigsRequest::default().with_validate_only(true).with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(sb(&topic))
            .with_configs(vec![AlterableConfig::default().with_name(sb("segment.bytes")).with_config_operation(OP_SET).with_value(Some(sb("3145728")))])]);
        let resp = conn.call(v, &req);
        assert_eq!(resp.responses[0].error_code, 0, "validate-only: {:?}", resp.responses[0].error_message);
    }
    check_final(&b, "after a validate-only incremental alter");
    let (code, msg) = conn.incremental_alter(&topic, &[("cleanup.policy", OP_SUBTRACT, Some("compact"))]);
    assert_eq!(code, 0, "SUBTRACT compact: {msg:?}");
    let r = describe_topic(&b, &topic);
    assert_entry(&r, "cleanup.policy", "delete", ConfigSource::DynamicTopic);
    assert_entry(&r, "segment.bytes", "2097152", ConfigSource::DynamicTopic);
}

#[test]
fn broker_configs_describe() {
    let b = TestBroker::start_with(&[("num.partitions", "3")]);
    let admin = b.admin();
    let res = block_on(admin.describe_configs([&ResourceSpecifier::Broker(0)], &opts())).expect("describe_configs request");
    assert_eq!(res.len(), 1);
    let r = res.into_iter().next().unwrap().expect("broker 0 configs");
    assert_eq!(r.specifier, OwnedResourceSpecifier::Broker(0));
    assert!(r.entries.len() >= 10, "broker configs: {:?}", r.entries.iter().map(|e| &e.name).collect::<Vec<_>>());
    assert_entry(&r, "num.partitions", "3", ConfigSource::StaticBroker);
    assert_entry(&r, "log.segment.bytes", "1073741824", ConfigSource::Default);
    assert_entry(&r, "message.max.bytes", "1048588", ConfigSource::Default);
    assert_entry(&r, "auto.create.topics.enable", "true", ConfigSource::Default);

    // Raw: the broker resource by id, a subset of keys; an unknown broker id is an error.
    let mut conn = Conn::connect(&b);
    let d = conn.describe_configs(RESOURCE_BROKER, "0", Some(&["num.partitions"]), true);
    assert_eq!(d.error_code, 0, "{:?}", d.error_message);
    assert_eq!(d.configs.len(), 1);
    assert_eq!(d.configs[0].value.as_deref(), Some("3"));
    assert_eq!(d.configs[0].config_source, SRC_STATIC_BROKER);
    let d = conn.describe_configs(RESOURCE_BROKER, "7", None, false);
    assert_ne!(d.error_code, 0, "DescribeConfigs of broker 7 on a single-node cluster with id 0 must fail");
}

#[test]
fn describe_cluster_and_log_dirs() {
    let b = TestBroker::start();
    let topic = topic_name("dirs");
    b.create_topic(&topic, 2, &[]);
    let p = b.producer();
    for i in 0..20 {
        produce_one(&p, &topic, Some(0), b"k", format!("value-{i}").as_bytes());
    }
    let mut conn = Conn::connect(&b);

    let v = conn.pick::<DescribeClusterRequest>(1);
    let mut req = DescribeClusterRequest::default();
    if v >= 1 {
        req = req.with_endpoint_type(1);
    }
    let resp = conn.call(v, &req);
    assert_eq!(resp.error_code, 0, "DescribeCluster: {:?}", resp.error_message);
    assert!(!resp.cluster_id.is_empty(), "cluster id");
    assert_eq!(resp.controller_id, BrokerId(0), "controller");
    let brokers: Vec<(i32, String, i32)> = resp.brokers.iter().map(|br| (br.broker_id.0, br.host.to_string(), br.port)).collect();
    assert_eq!(brokers, vec![(0, "127.0.0.1".to_string(), b.port() as i32)], "DescribeCluster brokers");

    let v = conn.pick::<DescribeLogDirsRequest>(4);
    let resp = conn.call(v, &DescribeLogDirsRequest::default().with_topics(None));
    assert_eq!(resp.error_code, 0, "DescribeLogDirs top-level error");
    assert_eq!(resp.results.len(), 1, "one log dir");
    let dir = &resp.results[0];
    assert_eq!(dir.error_code, 0);
    let want = std::fs::canonicalize(b.data_dir()).unwrap();
    let got = std::fs::canonicalize(dir.log_dir.as_str()).unwrap_or_else(|e| panic!("log dir {:?}: {e}", dir.log_dir.as_str()));
    assert_eq!(got, want, "log dir path");
    let t = dir.topics.iter().find(|t| t.name.0.as_str() == topic).unwrap_or_else(|| panic!("{topic} not in DescribeLogDirs"));
    let sizes: HashMap<i32, i64> = t.partitions.iter().map(|p| (p.partition_index, p.partition_size)).collect();
    assert_eq!(sizes.len(), 2, "partitions of {topic}: {sizes:?}");
    let on_disk: u64 = segment_files(&b.partition_dir(&topic, 0)).iter().map(|(_, p)| std::fs::metadata(p).unwrap().len()).sum();
    assert_eq!(sizes[&0], on_disk as i64, "size of {topic}-0 vs its .log files");
    assert!(sizes[&0] > 0);
    assert_eq!(sizes[&1], 0, "empty partition");
}

/// KIP-430: with no authorizer, Kafka reports every operation a resource type supports when a
/// client asks for authorized operations (librdkafka's admin API shows them), and i32::MIN when
/// it does not ask.
#[test]
fn authorized_operations_without_an_authorizer() {
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kafka_protocol::messages::{DescribeGroupsRequest, GroupId, MetadataRequest, TopicName};
    const TOPIC_OPS: i32 = (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);
    const GROUP_OPS: i32 = (1 << 3) | (1 << 6) | (1 << 8);
    const CLUSTER_OPS: i32 = (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);
    let b = TestBroker::start();
    let topic = topic_name("acl-ops");
    b.create_topic(&topic, 1, &[]);
    let mut conn = Conn::connect(&b);
    let metadata = |include: bool| {
        MetadataRequest::default()
            .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(TopicName(sb(&topic))))]))
            .with_include_topic_authorized_operations(include)
    };
    let resp = conn.call(10, &metadata(true).with_include_cluster_authorized_operations(true));
    assert_eq!((resp.topics[0].error_code, resp.topics[0].topic_authorized_operations), (0, TOPIC_OPS), "Metadata v10 topic ops");
    assert_eq!(resp.cluster_authorized_operations, CLUSTER_OPS, "Metadata v10 cluster ops");
    let v = conn.pick::<MetadataRequest>(12);
    assert_eq!(conn.call(v, &metadata(true)).topics[0].topic_authorized_operations, TOPIC_OPS, "Metadata v{v}");
    assert_eq!(conn.call(v, &metadata(false)).topics[0].topic_authorized_operations, i32::MIN, "Metadata v{v} not asked");

    let v = conn.pick::<DescribeClusterRequest>(1);
    let resp = conn.call(v, &DescribeClusterRequest::default().with_include_cluster_authorized_operations(true));
    assert_eq!(resp.cluster_authorized_operations, CLUSTER_OPS, "DescribeCluster");

    let v = conn.pick::<DescribeGroupsRequest>(5);
    let req = DescribeGroupsRequest::default().with_groups(vec![GroupId(sb("no-such-group"))]);
    assert_eq!(conn.call(v, &req.clone().with_include_authorized_operations(true)).groups[0].authorized_operations, GROUP_OPS);
    assert_eq!(conn.call(v, &req).groups[0].authorized_operations, i32::MIN, "DescribeGroups not asked");
}

// ====================================================================== CreatePartitions

#[test]
fn create_partitions_grows_and_refuses_to_shrink() {
    let mut b = TestBroker::start();
    let topic = topic_name("grow");
    b.create_topic(&topic, 2, &[]);

    // A keyed producer that exists before the change; it must notice the new partitions.
    let early = b.producer_with(&[("topic.metadata.refresh.interval.ms", "500")]);
    for i in 0..20 {
        let (p, _) = produce_one(&early, &topic, None, format!("key-{i}").as_bytes(), b"before");
        assert!(p < 2, "partition {p} before growth");
    }

    let admin = b.admin();
    let res = block_on(admin.create_partitions([&NewPartitions::new(&topic, 5)], &opts())).expect("create_partitions request");
    assert_eq!(res, vec![Ok(topic.clone())], "grow 2 -> 5");
    wait_for_topic(&b.consumer(), &topic, 5);
    assert!(b.partition_dir(&topic, 4).is_dir(), "directory of partition 4");

    // validate_only: accepted, nothing changes.
    let res = block_on(admin.create_partitions([&NewPartitions::new(&topic, 8)], &opts().validate_only(true))).expect("request");
    assert_eq!(res, vec![Ok(topic.clone())], "validate-only grow 5 -> 8");
    assert_eq!(partition_count(&b, &topic), 5, "validate_only must not add partitions");

    let fresh = b.producer();
    assert_eq!(produce_one(&fresh, &topic, Some(4), b"k", b"to-p4"), (4, 0), "produce to new partition 4");
    let c = b.consumer();
    assign(&c, &topic, &[(4, 0)]);
    let got = poll_n(&c, 1, Duration::from_secs(20));
    assert_eq!(got[0].value.as_deref(), Some(&b"to-p4"[..]));

    // A new keyed producer spreads keys over all 5 partitions.
    let mut hit: BTreeSet<i32> = BTreeSet::new();
    for i in 0..100 {
        hit.insert(produce_one(&fresh, &topic, None, format!("key-{i}").as_bytes(), b"after").0);
    }
    assert!(hit.iter().any(|p| *p >= 2), "keyed records of a new producer only hit {hit:?}");
    // The pre-existing producer picks up the new partitions after a metadata refresh.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut early_hit: BTreeSet<i32> = BTreeSet::new();
    while !early_hit.iter().any(|p| *p >= 2) {
        assert!(Instant::now() < deadline, "the old producer never used a new partition: {early_hit:?}");
        for i in 0..20 {
            early_hit.insert(produce_one(&early, &topic, None, format!("key-{i}").as_bytes(), b"after-early").0);
        }
    }

    // Shrinking or keeping the count is INVALID_PARTITIONS; a missing topic is UNKNOWN_TOPIC_OR_PARTITION.
    let res = block_on(admin.create_partitions([&NewPartitions::new(&topic, 3)], &opts())).expect("request");
    assert_eq!(res, vec![Err((topic.clone(), RDKafkaErrorCode::InvalidPartitions))], "shrink 5 -> 3");
    let res = block_on(admin.create_partitions([&NewPartitions::new(&topic, 5)], &opts())).expect("request");
    assert_eq!(res, vec![Err((topic.clone(), RDKafkaErrorCode::InvalidPartitions))], "5 -> 5");
    let missing = topic_name("grow-missing");
    let res = block_on(admin.create_partitions([&NewPartitions::new(&missing, 3)], &opts())).expect("request");
    assert_eq!(res, vec![Err((missing, RDKafkaErrorCode::UnknownTopicOrPartition))], "missing topic");
    assert_eq!(partition_count(&b, &topic), 5);
    let end4 = b.consumer().fetch_watermarks(&topic, 4, OP_TIMEOUT).unwrap().1;
    drop(admin);
    drop(early);
    drop(fresh);

    b.restart();
    assert_eq!(partition_count(&b, &topic), 5, "partition count after restart");
    let p = b.producer();
    assert_eq!(produce_one(&p, &topic, Some(4), b"k", b"to-p4-again"), (4, end4), "produce to p4 after restart");
}

// ====================================================================== DeleteRecords

#[test]
fn delete_records_moves_log_start_offset() {
    let mut b = TestBroker::start();
    let topic = topic_name("delrec");
    b.create_topic(&topic, 2, &[]);
    let p = b.producer();
    let mut futs = Vec::new();
    for i in 0..100 {
        futs.push(send_retry(&p, FutureRecord::<[u8], [u8]>::to(&topic).partition(0).payload(format!("p0-{i}").as_bytes())));
        if i < 50 {
            futs.push(send_retry(&p, FutureRecord::<[u8], [u8]>::to(&topic).partition(1).payload(format!("p1-{i}").as_bytes())));
        }
    }
    futs.into_iter().for_each(|f| {
        await_delivery(f);
    });

    let admin = b.admin();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Offset(40)).unwrap();
    tpl.add_partition_offset(&topic, 1, Offset::End).unwrap();
    let res = block_on(admin.delete_records(&tpl, &opts())).expect("delete_records");
    let low_of = |tpl: &TopicPartitionList, p: i32| {
        let e = tpl.find_partition(&topic, p).expect("partition in result");
        assert!(e.error().is_ok(), "delete_records {topic}-{p}: {:?}", e.error());
        e.offset()
    };
    assert_eq!(low_of(&res, 0), Offset::Offset(40), "new low watermark of p0");
    assert_eq!(low_of(&res, 1), Offset::Offset(50), "new low watermark of p1");

    let c = b.consumer();
    assert_eq!(c.fetch_watermarks(&topic, 0, OP_TIMEOUT).unwrap(), (40, 100));
    assert_eq!(c.fetch_watermarks(&topic, 1, OP_TIMEOUT).unwrap(), (50, 50));

    // Beyond the high watermark: OFFSET_OUT_OF_RANGE; nothing changes.
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Offset(500)).unwrap();
    let res = block_on(admin.delete_records(&tpl, &opts()));
    let err = match res {
        Ok(tpl) => tpl.find_partition(&topic, 0).unwrap().error().err(),
        Err(e) => Some(e),
    };
    assert_eq!(
        err.as_ref().and_then(|e| e.rdkafka_error_code()),
        Some(RDKafkaErrorCode::OffsetOutOfRange),
        "delete_records beyond the high watermark: {err:?}"
    );
    assert_eq!(c.fetch_watermarks(&topic, 0, OP_TIMEOUT).unwrap(), (40, 100));

    // A consumer positioned below the log start offset resets per auto.offset.reset.
    let check_consumers = |b: &TestBroker| {
        let earliest = b.consumer_with(&[("auto.offset.reset", "earliest")]);
        assign(&earliest, &topic, &[(0, 10)]);
        let recs = poll_n(&earliest, 60, Duration::from_secs(20));
        assert_eq!(recs.iter().map(|r| r.offset).collect::<Vec<_>>(), (40..100).collect::<Vec<i64>>(), "earliest reset to 40");
        assert_eq!(recs[0].value.as_deref(), Some(&b"p0-40"[..]));
        let error = b.consumer_with(&[("auto.offset.reset", "error")]);
        assign(&error, &topic, &[(0, 10)]);
        match first_record(&error, Duration::from_secs(20)) {
            Ok(r) => panic!("auto.offset.reset=error consumer at 10 (below log start 40) got a record {r:?}"),
            Err(e) => eprintln!("[test] auto.offset.reset=error: {e}"),
        }
        // In range: reading from exactly the log start offset works without a reset.
        let exact = b.consumer();
        assign(&exact, &topic, &[(0, 40)]);
        assert_eq!(poll_n(&exact, 1, Duration::from_secs(20))[0].offset, 40);
    };
    check_consumers(&b);
    drop(c);
    drop(admin);

    // The log start offset survives a clean restart.
    b.restart();
    let c = b.consumer();
    assert_eq!(c.fetch_watermarks(&topic, 0, OP_TIMEOUT).unwrap(), (40, 100), "p0 watermarks after restart");
    assert_eq!(c.fetch_watermarks(&topic, 1, OP_TIMEOUT).unwrap(), (50, 50), "p1 watermarks after restart");
    check_consumers(&b);
    // Producing continues at the old end.
    let p = b.producer();
    assert_eq!(produce_one(&p, &topic, Some(1), b"k", b"p1-50"), (1, 50));
}

// ====================================================================== retention

#[test]
fn retention_deletes_old_segments_and_consumers_reset() {
    let b = TestBroker::start_with(&[("log.retention.check.interval.ms", "500")]);
    let topic = topic_name("ret");
    // 10 minutes: records stamped an hour ago are expired, records stamped now are not.
    b.create_topic(&topic, 1, &[("segment.bytes", "1024"), ("retention.ms", "600000")]);
    let dir = b.partition_dir(&topic, 0);
    let p = b.producer_with(&[("linger.ms", "0")]);
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let old_ts = now() - 3_600_000;
    let pad = "x".repeat(100);
    // One record per batch (synchronous produce) so that segments roll every few records.
    for i in 0..100 {
        let v = format!("old-{i:03}-{pad}");
        await_delivery(send_retry(&p, FutureRecord::<[u8], [u8]>::to(&topic).partition(0).payload(v.as_bytes()).timestamp(old_ts + i)));
    }
    for i in 100..150 {
        let v = format!("new-{i:03}-{pad}");
        await_delivery(send_retry(&p, FutureRecord::<[u8], [u8]>::to(&topic).partition(0).payload(v.as_bytes()).timestamp(now())));
    }

    // The segment holding offset 100 (the first new record) is the first one that must stay (it
    // is never deleted, so it is in any listing; older ones may already be gone).
    let segs_before = segment_files(&dir);
    let keep_from = segs_before.iter().map(|(base, _)| *base).filter(|base| *base <= 100).max().unwrap();
    eprintln!(
        "[test] {} segments before retention (base, bytes): {:?}; the first to keep starts at {keep_from}",
        segs_before.len(),
        segs_before.iter().map(|(base, path)| (*base, std::fs::metadata(path).map(|m| m.len()).unwrap_or(0))).collect::<Vec<_>>()
    );
    assert!(segs_before.len() >= 5, "segment.bytes=1024 should give many segments: {segs_before:?}");

    let c = b.consumer();
    let low = || c.fetch_watermarks(&topic, 0, OP_TIMEOUT).unwrap().0;
    wait_until("retention to delete the expired segments", Duration::from_secs(20), || low() >= keep_from, || {
        format!("log start {}; segments {:?}", low(), segment_files(&dir).iter().map(|s| s.0).collect::<Vec<_>>())
    });
    assert_eq!(c.fetch_watermarks(&topic, 0, OP_TIMEOUT).unwrap(), (keep_from, 150), "watermarks after retention");
    let wait_files = |first: i64| {
        wait_until("segment files to be removed", Duration::from_secs(10), || segment_files(&dir).first().map(|s| s.0) == Some(first), || {
            format!("segments {:?}", segment_files(&dir).iter().map(|s| s.0).collect::<Vec<_>>())
        })
    };
    wait_files(keep_from);

    // Consumers positioned below the new log start offset.
    let earliest = b.consumer_with(&[("auto.offset.reset", "earliest")]);
    assign(&earliest, &topic, &[(0, 0)]);
    let recs = poll_n(&earliest, (150 - keep_from) as usize, Duration::from_secs(20));
    assert_eq!(recs.iter().map(|r| r.offset).collect::<Vec<_>>(), (keep_from..150).collect::<Vec<_>>(), "earliest consumer");
    assert!(String::from_utf8_lossy(recs.last().unwrap().value.as_deref().unwrap()).starts_with("new-149"));
    let latest = b.consumer_with(&[("auto.offset.reset", "latest"), ("enable.partition.eof", "true")]);
    assign(&latest, &topic, &[(0, 0)]);
    // The reset to the end is done when the consumer reports end-of-partition; then produce.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match latest.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(m)) => panic!("latest consumer got offset {} before any new record was produced", m.offset()),
            Some(Err(KafkaError::PartitionEOF(0))) => break,
            Some(Err(e)) => eprintln!("[test] latest consumer: {e}"),
        }
        assert!(Instant::now() < deadline, "latest consumer (assigned at 0, below log start {keep_from}) never reached the end");
    }
    produce_one(&p, &topic, Some(0), b"k", b"fresh-150");
    let got = poll_n(&latest, 1, Duration::from_secs(20));
    assert_eq!((got[0].offset, got[0].value.as_deref()), (150, Some(&b"fresh-150"[..])), "latest consumer");

    // Lower retention.ms to 1 s (dynamic topic config): after a second everything is expired,
    // including the active segment (Kafka rolls a new empty one), so log start = log end.
    alter_topic(&b, &topic, &[("segment.bytes", "1024"), ("retention.ms", "1000")]).expect("alter retention.ms");
    wait_until("everything to expire after retention.ms=1000", Duration::from_secs(20), || low() == 151, || {
        format!("log start {}; segments {:?}", low(), segment_files(&dir).iter().map(|s| s.0).collect::<Vec<_>>())
    });
    assert_eq!(c.fetch_watermarks(&topic, 0, OP_TIMEOUT).unwrap(), (151, 151));
    let e2 = b.consumer_with(&[("auto.offset.reset", "earliest")]);
    assign(&e2, &topic, &[(0, 5)]);
    produce_one(&p, &topic, Some(0), b"k", b"after-expiry");
    assert_eq!(first_record(&e2, Duration::from_secs(20)), Ok((151, "after-expiry".to_string())));
}

#[test]
fn size_based_retention_keeps_retention_bytes() {
    let b = TestBroker::start_with(&[("log.retention.check.interval.ms", "500")]);
    let topic = topic_name("retbytes");
    const RETENTION: u64 = 4000;
    b.create_topic(&topic, 1, &[("segment.bytes", "1024"), ("retention.bytes", &RETENTION.to_string())]);
    let dir = b.partition_dir(&topic, 0);
    let p = b.producer_with(&[("linger.ms", "0")]);
    let pad = "y".repeat(100);
    for i in 0..100 {
        produce_one(&p, &topic, Some(0), b"k", format!("r-{i:03}-{pad}").as_bytes());
    }
    // Kafka deletes the oldest segments while the log minus that segment is still at least
    // retention.bytes: the log ends up in [retention.bytes, retention.bytes + first segment).
    let sizes = || -> Vec<(i64, u64)> {
        segment_files(&dir).iter().map(|(base, path)| (*base, std::fs::metadata(path).map(|m| m.len()).unwrap_or(0))).collect()
    };
    wait_until(
        "size-based retention",
        Duration::from_secs(20),
        || {
            let s = sizes();
            let total: u64 = s.iter().map(|x| x.1).sum();
            total < RETENTION + s.first().map(|x| x.1).unwrap_or(0)
        },
        || format!("segments {:?}", sizes()),
    );
    let s = sizes();
    let total: u64 = s.iter().map(|x| x.1).sum();
    assert!(total >= RETENTION, "retention deleted too much: {total} bytes left of retention.bytes={RETENTION}: {s:?}");
    let c = b.consumer();
    let (low, high) = c.fetch_watermarks(&topic, 0, OP_TIMEOUT).unwrap();
    assert_eq!((low, high), (s[0].0, 100), "watermarks vs first segment {s:?}");
    let earliest = b.consumer_with(&[("auto.offset.reset", "earliest")]);
    assign(&earliest, &topic, &[(0, 0)]);
    let recs = poll_n(&earliest, (100 - low) as usize, Duration::from_secs(20));
    assert_eq!(recs[0].offset, low);
    assert_eq!(recs.last().unwrap().offset, 99);
}

/// As Kafka's controller, one request may add at most 10,000 partitions in all: beyond that
/// every topic of it gets POLICY_VIOLATION and nothing is created (a request for 2^31-1
/// partitions would otherwise fill the disk with directories).
#[test]
fn create_topics_and_partitions_refuse_more_than_10000_partitions_per_request() {
    let b = TestBroker::start();
    let admin = b.admin();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let (a, c) = (topic_name("huge-a"), topic_name("huge-b"));
    let huge = NewTopic::new(&a, 99_999, TopicReplication::Fixed(1));
    let res = block_on(admin.create_topics([&huge], &opts)).expect("create_topics");
    assert_eq!(res, vec![Err((a.clone(), RDKafkaErrorCode::PolicyViolation))]);
    let (x, y) = (NewTopic::new(&a, 6000, TopicReplication::Fixed(1)), NewTopic::new(&c, 6000, TopicReplication::Fixed(1)));
    let res = block_on(admin.create_topics([&x, &y], &opts)).expect("create_topics");
    assert_eq!(res, vec![Err((a.clone(), RDKafkaErrorCode::PolicyViolation)), Err((c.clone(), RDKafkaErrorCode::PolicyViolation))]);
    assert!(!b.partition_dir(&a, 0).exists() && !b.partition_dir(&c, 0).exists(), "nothing was created");
    b.create_topic(&a, 2, &[]);
    let res = block_on(admin.create_partitions([&NewPartitions::new(&a, 20_000)], &opts)).expect("create_partitions");
    assert_eq!(res, vec![Err((a.clone(), RDKafkaErrorCode::PolicyViolation))]);
    let res = block_on(admin.create_partitions([&NewPartitions::new(&a, 10_002)], &opts)).expect("create_partitions");
    assert_eq!(res, vec![Ok(a.clone())], "10,000 new partitions are allowed");
}
