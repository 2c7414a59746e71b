//! Config rows seen by clients: `cleanup.policy` as an empty list (Kafka's ValidList accepts it),
//! and DescribeConfigs' types, sources, synonyms and documentation as Kafka 4.x reports them
//! (rdkafka's AdminClient, plus raw requests for the fields rdkafka 0.39 drops).

mod common;

use common::raw::RawConn;
use common::*;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{DescribeConfigsResourceResult, DescribeConfigsResult};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{AdminOptions, ConfigSource, NewTopic, ResourceSpecifier, TopicReplication};
use std::time::Duration;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
const STATIC_BROKER_CONFIG: i8 = 4;
const DEFAULT_CONFIG: i8 = 5;
const TYPE_BOOLEAN: i8 = 1;
const TYPE_INT: i8 = 3;
const TYPE_LONG: i8 = 5;
const TYPE_DOUBLE: i8 = 6;
const TYPE_LIST: i8 = 7;
const OP_SUBTRACT: i8 = 3;

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn opts() -> AdminOptions {
    AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))).request_timeout(Some(Duration::from_secs(20)))
}

/// DescribeConfigs at `version` for one resource, with synonyms and documentation.
fn describe(conn: &mut RawConn, version: i16, resource_type: i8, name: &str, keys: &[&str]) -> DescribeConfigsResult {
    let v = conn.pick::<DescribeConfigsRequest>(version);
    assert_eq!(v, version, "the broker serves DescribeConfigs v{version}");
    let req = DescribeConfigsRequest::default()
        .with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(sb(name))
            .with_configuration_keys(Some(keys.iter().map(|k| sb(k)).collect()))])
        .with_include_synonyms(true)
        .with_include_documentation(version >= 3);
    let resp = conn.call(v, &req);
    let r = resp.results.into_iter().next().expect("one result");
    assert_eq!(r.error_code, 0, "describe {name}: {:?}", r.error_message);
    r
}

fn get<'a>(r: &'a DescribeConfigsResult, name: &str) -> &'a DescribeConfigsResourceResult {
    r.configs.iter().find(|c| c.name.as_str() == name).unwrap_or_else(|| panic!("no {name} in {:?}", r.configs))
}

fn synonyms(c: &DescribeConfigsResourceResult) -> Vec<(String, Option<String>, i8)> {
    c.synonyms.iter().map(|s| (s.name.to_string(), s.value.as_ref().map(|v| v.to_string()), s.source)).collect()
}

fn syn(name: &str, value: &str, source: i8) -> (String, Option<String>, i8) {
    (name.to_string(), Some(value.to_string()), source)
}

#[test]
fn cleanup_policy_may_be_the_empty_list() {
    let b = TestBroker::start();
    let admin = b.admin();
    let topic = topic_name("no-cleanup");
    let nt = NewTopic::new(&topic, 1, TopicReplication::Fixed(1)).set("cleanup.policy", "");
    let res = block_on(admin.create_topics([&nt], &opts())).expect("create_topics request");
    assert_eq!(res, vec![Ok(topic.clone())], "CreateTopics with cleanup.policy=\"\"");

    let described = block_on(admin.describe_configs([&ResourceSpecifier::Topic(&topic)], &opts())).expect("describe_configs request");
    let r = described.into_iter().next().expect("one resource").expect("topic configs");
    let e = r.get("cleanup.policy").expect("cleanup.policy entry");
    assert_eq!(e.value.as_deref(), Some(""), "{e:?}");
    assert_eq!(e.source, ConfigSource::DynamicTopic, "{e:?}");

    let mut conn = RawConn::connect(&b);
    let d = describe(&mut conn, 4, TOPIC, &topic, &["cleanup.policy"]);
    let cp = get(&d, "cleanup.policy");
    assert_eq!(cp.config_type, TYPE_LIST);
    assert_eq!(synonyms(cp), vec![syn("cleanup.policy", "", DYNAMIC_TOPIC_CONFIG), syn("log.cleanup.policy", "delete", DEFAULT_CONFIG)]);

    // SUBTRACT of the last policy of another topic leaves the empty list too, and it sticks.
    let other = topic_name("subtract-all");
    b.create_topic(&other, 1, &[]);
    use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let v = conn.pick::<IncrementalAlterConfigsRequest>(1);
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
        .with_resource_type(TOPIC)
        .with_resource_name(sb(&other))
        .with_configs(vec![AlterableConfig::default().with_name(sb("cleanup.policy")).with_config_operation(OP_SUBTRACT).with_value(Some(sb("delete")))])]);
    let resp = conn.call(v, &req);
    assert_eq!(resp.responses[0].error_code, 0, "SUBTRACT delete: {:?}", resp.responses[0].error_message);
    let d = describe(&mut conn, 4, TOPIC, &other, &["cleanup.policy"]);
    assert_eq!(get(&d, "cleanup.policy").value.as_deref(), Some(""));
}

#[test]
fn describe_configs_types_sources_synonyms_and_docs() {
    let b = TestBroker::start_with(&[("message.max.bytes", "2000000"), ("log.retention.hours", "24")]);
    let topic = topic_name("described");
    b.create_topic(&topic, 1, &[("segment.bytes", "1048576")]);
    let mut conn = RawConn::connect(&b);

    let keys = ["segment.bytes", "max.message.bytes", "retention.ms", "min.cleanable.dirty.ratio", "unclean.leader.election.enable"];
    let d = describe(&mut conn, 4, TOPIC, &topic, &keys);
    let seg = get(&d, "segment.bytes");
    assert_eq!((seg.value.as_deref(), seg.config_source, seg.config_type), (Some("1048576"), DYNAMIC_TOPIC_CONFIG, TYPE_INT));
    assert_eq!(synonyms(seg), vec![syn("segment.bytes", "1048576", DYNAMIC_TOPIC_CONFIG), syn("log.segment.bytes", "1073741824", DEFAULT_CONFIG)]);
    let mmb = get(&d, "max.message.bytes");
    assert_eq!((mmb.config_source, mmb.config_type), (STATIC_BROKER_CONFIG, TYPE_INT));
    assert_eq!(synonyms(mmb), vec![syn("message.max.bytes", "2000000", STATIC_BROKER_CONFIG), syn("message.max.bytes", "1048588", DEFAULT_CONFIG)]);
    // Kafka lists retention.ms's synonyms from log.retention.ms on: with only the hours set
    // there are none, and the source is DEFAULT_CONFIG although the value follows the hours.
    let ret = get(&d, "retention.ms");
    assert_eq!((ret.value.as_deref(), ret.config_source, ret.config_type), (Some("86400000"), DEFAULT_CONFIG, TYPE_LONG));
    assert!(ret.synonyms.is_empty(), "{:?}", ret.synonyms);
    assert_eq!(get(&d, "min.cleanable.dirty.ratio").config_type, TYPE_DOUBLE);
    assert_eq!(get(&d, "unclean.leader.election.enable").config_type, TYPE_BOOLEAN);
    for c in &d.configs {
        assert!(c.documentation.as_ref().is_some_and(|doc| !doc.is_empty()), "{} has documentation", c.name.as_str());
        assert!(!c.read_only && !c.is_sensitive, "{}", c.name.as_str());
    }

    let d = describe(&mut conn, 4, BROKER, "0", &["log.retention.hours", "log.retention.ms", "num.partitions"]);
    let hours = get(&d, "log.retention.hours");
    assert_eq!((hours.value.as_deref(), hours.config_source, hours.config_type, hours.read_only), (Some("24"), STATIC_BROKER_CONFIG, TYPE_INT, true));
    assert_eq!(synonyms(hours), vec![syn("log.retention.hours", "24", STATIC_BROKER_CONFIG), syn("log.retention.hours", "168", DEFAULT_CONFIG)]);
    let ms = get(&d, "log.retention.ms");
    assert_eq!((ms.value.as_deref(), ms.config_source, ms.config_type), (None, DEFAULT_CONFIG, TYPE_LONG), "unset, no default: null");
    let np = get(&d, "num.partitions");
    assert_eq!((np.value.as_deref(), np.config_source), (Some("1"), DEFAULT_CONFIG));

    // Before v3 there is no type on the wire; the rest is the same.
    let d = describe(&mut conn, 2, TOPIC, &topic, &["segment.bytes"]);
    let seg = get(&d, "segment.bytes");
    assert_eq!((seg.value.as_deref(), seg.config_source, seg.config_type), (Some("1048576"), DYNAMIC_TOPIC_CONFIG, 0));
}
