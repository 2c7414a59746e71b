//! CreateTopics and DeleteTopics.

use super::{blocking, blocking_each, per_partition};
use crate::log::TopicError;
use crate::broker::Broker;
use crate::request::RequestContext;
use kafka_protocol::messages::create_topics_response::*;
use kafka_protocol::messages::delete_topics_response::*;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// Names that a request lists more than once (Kafka refuses those entries with INVALID_REQUEST).
fn repeated<'a>(names: impl Iterator<Item = &'a str>) -> HashSet<String> {
    let mut seen = HashSet::new();
    names.filter(|n| !seen.insert(*n)).map(String::from).collect()
}

pub(crate) fn topic_error_code(e: &TopicError) -> ResponseError {
    match e {
        TopicError::AlreadyExists(_) => ResponseError::TopicAlreadyExists,
        TopicError::InvalidName(_) => ResponseError::InvalidTopicException,
        TopicError::InvalidPartitions(_) | TopicError::PartitionCount(_) => ResponseError::InvalidPartitions,
        TopicError::InvalidConfig(_) => ResponseError::InvalidConfig,
        TopicError::Unknown(_) => ResponseError::UnknownTopicOrPartition,
        TopicError::Io(_) => ResponseError::KafkaStorageError,
    }
}

/// Kafka's `ReplicationControlManager.MAX_PARTITIONS_PER_BATCH`: the most partitions one
/// CreateTopics or CreatePartitions request may add (POLICY_VIOLATION beyond it).
const MAX_PARTITIONS_PER_REQUEST: i64 = 10_000;
const TOO_MANY_PARTITIONS: &str = "Excessively large number of partitions per request.";

/// CreateTopics: each topic created (or, with validate_only, only checked) with its configs.
pub async fn create_topics(broker: &Arc<Broker>, ctx: &RequestContext, req: CreateTopicsRequest) -> CreateTopicsResponse {
    let version = ctx.header.request_api_version;
    let b = broker.clone();
    let topics = blocking(move || {
        let duplicates = repeated(req.topics.iter().map(|t| t.name.0.as_str()));
        // Kafka's controller caps one request at MAX_PARTITIONS_PER_BATCH partitions in all.
        let total: i64 = req
            .topics
            .iter()
            .map(|t| match (t.assignments.len(), t.num_partitions) {
                (0, -1) => b.config.num_partitions as i64,
                (0, n) => (n as i64).max(0),
                (n, _) => n as i64,
            })
            .sum();
        let too_many = total > MAX_PARTITIONS_PER_REQUEST;
        req.topics
            .into_iter()
            .map(|t| {
                let name = t.name.0.to_string();
                let result = CreatableTopicResult::default().with_name(t.name.clone());
                if too_many {
                    return result.with_error_code(ResponseError::PolicyViolation.code()).with_error_message(Some(StrBytes::from_static_str(TOO_MANY_PARTITIONS)));
                }
                let fail = |e: ResponseError, msg: String| {
                    result.clone().with_error_code(e.code()).with_error_message(Some(StrBytes::from_string(msg)))
                };
                if duplicates.contains(&name) {
                    return fail(ResponseError::InvalidRequest, format!("Create topics request from client contains multiple entries for the topic {name}"));
                }
                let partitions = if !t.assignments.is_empty() {
                    if t.assignments.iter().any(|a| a.broker_ids.iter().any(|id| id.0 != b.node_id) || a.broker_ids.len() > 1) {
                        return fail(ResponseError::InvalidReplicaAssignment, format!("Replica assignment for {name} names brokers other than {}", b.node_id));
                    }
                    t.assignments.len() as i32
                } else if t.num_partitions == -1 {
                    b.config.num_partitions
                } else {
                    t.num_partitions
                };
                if t.replication_factor > 1 || t.replication_factor == 0 || t.replication_factor < -1 {
                    return fail(
                        ResponseError::InvalidReplicationFactor,
                        format!("Replication factor: {} larger than available brokers: 1.", t.replication_factor),
                    );
                }
                let mut configs = BTreeMap::new();
                for c in &t.configs {
                    if let Some(v) = &c.value {
                        configs.insert(c.name.to_string(), v.to_string());
                    }
                }
                match b.logs.create_topic(&name, partitions, configs, req.validate_only) {
                    Ok(topic) => {
                        let mut r = result.with_topic_id(topic.id).with_num_partitions(partitions).with_replication_factor(1);
                        if version >= 5 {
                            r = r.with_configs(Some(described_configs(&b, &topic.configs)));
                        }
                        if req.validate_only {
                            r = r.with_topic_id(uuid::Uuid::nil());
                        }
                        r
                    }
                    Err(e) => fail(topic_error_code(&e), e.to_string()),
                }
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    CreateTopicsResponse::default().with_topics(topics)
}

/// Every topic-level config with its value and where it came from (CreateTopics v5+).
fn described_configs(broker: &Broker, overrides: &BTreeMap<String, String>) -> Vec<CreatableTopicConfigs> {
    broker
        .config
        .describe_topic(overrides)
        .into_iter()
        .map(|d| {
            CreatableTopicConfigs::default()
                .with_name(StrBytes::from_static_str(d.name))
                .with_value(d.value.map(StrBytes::from_string))
                .with_config_source(d.source)
        })
        .collect()
}

/// DeleteTopics, by name or by topic id.
pub async fn delete_topics(broker: &Arc<Broker>, ctx: &RequestContext, req: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let version = ctx.header.request_api_version;
    // v6 names topics by name or id; earlier versions by name only.
    let wanted: Vec<(Option<TopicName>, uuid::Uuid)> = if version >= 6 {
        req.topics.into_iter().map(|t| (t.name, t.topic_id)).collect()
    } else {
        req.topic_names.into_iter().map(|n| (Some(n), uuid::Uuid::nil())).collect()
    };
    let responses = blocking_each(broker, wanted, |b, (name, id)| {
        let resolved = match &name {
            Some(n) => b.logs.get(&n.0).ok_or(ResponseError::UnknownTopicOrPartition),
            None => b.logs.get_by_id(id).ok_or(ResponseError::UnknownTopicId),
        };
        let result = DeletableTopicResult::default().with_name(name.clone()).with_topic_id(id);
        match resolved.and_then(|t| b.logs.delete_topic(&t.name).map_err(|e| topic_error_code(&e))) {
            Ok(t) => result.with_name(Some(TopicName(StrBytes::from_string(t.name.clone())))).with_topic_id(t.id),
            Err(e) => result.with_error_code(e.code()),
        }
    })
    .await;
    DeleteTopicsResponse::default().with_responses(responses)
}

/// CreatePartitions: grows topics to the asked partition counts.
pub async fn create_partitions(broker: &Arc<Broker>, _ctx: &RequestContext, req: CreatePartitionsRequest) -> CreatePartitionsResponse {
    use create_partitions_response::CreatePartitionsTopicResult;
    let b = broker.clone();
    let results = blocking(move || {
        let duplicates = repeated(req.topics.iter().map(|t| t.name.0.as_str()));
        let added: i64 = req
            .topics
            .iter()
            .map(|t| (t.count as i64 - b.logs.get(&t.name.0).map_or(0, |topic| topic.partitions.len() as i64)).max(0))
            .sum();
        let too_many = added > MAX_PARTITIONS_PER_REQUEST;
        req.topics
            .into_iter()
            .map(|t| {
                let result = CreatePartitionsTopicResult::default().with_name(t.name.clone());
                let fail = |e: ResponseError, msg: String| result.clone().with_error_code(e.code()).with_error_message(Some(StrBytes::from_string(msg)));
                if too_many {
                    return fail(ResponseError::PolicyViolation, TOO_MANY_PARTITIONS.into());
                }
                if duplicates.contains(t.name.0.as_str()) {
                    return fail(ResponseError::InvalidRequest, format!("Duplicate topic in request: {}", t.name.0.as_str()));
                }
                if let Some(assignments) = &t.assignments {
                    if assignments.iter().any(|a| a.broker_ids.iter().any(|id| id.0 != b.node_id)) {
                        return fail(ResponseError::InvalidReplicaAssignment, format!("Unknown broker in assignment; the only broker is {}", b.node_id));
                    }
                }
                match b.logs.add_partitions(&t.name.0, t.count, req.validate_only) {
                    Ok(()) => result,
                    Err(e) => fail(topic_error_code(&e), e.to_string()),
                }
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    CreatePartitionsResponse::default().with_results(results)
}

/// DeleteRecords: moves each partition's log start offset up.
pub async fn delete_records(broker: &Arc<Broker>, _ctx: &RequestContext, req: DeleteRecordsRequest) -> DeleteRecordsResponse {
    use delete_records_response::*;
    let topics = blocking_each(broker, req.topics, |b, t| {
        let partitions = per_partition(b, &t.name.0, t.partitions, |p| p.partition_index, |p, part| {
            let r = DeleteRecordsPartitionResult::default().with_partition_index(p.partition_index);
            match part.and_then(|part| part.delete_records(p.offset).map_err(|e| super::log_error_code(&e))) {
                Ok(low) => r.with_low_watermark(low),
                Err(e) => r.with_error_code(e.code()).with_low_watermark(-1),
            }
        });
        DeleteRecordsTopicResult::default().with_name(t.name).with_partitions(partitions)
    })
    .await;
    DeleteRecordsResponse::default().with_topics(topics)
}

/// DescribeCluster: this node, as broker and controller id.
pub async fn describe_cluster(broker: &Arc<Broker>, ctx: &RequestContext, req: DescribeClusterRequest) -> DescribeClusterResponse {
    use describe_cluster_response::DescribeClusterBroker;
    // endpoint_type 1 = brokers; 2 = controllers, which a broker does not serve (KIP-919).
    if req.endpoint_type == 2 {
        return DescribeClusterResponse::default()
            .with_error_code(ResponseError::UnsupportedEndpointType.code())
            .with_error_message(Some(StrBytes::from_static_str("The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER")));
    }
    let (host, port) = broker.advertised(&ctx.client.listener);
    DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(broker.cluster_id.clone()))
        .with_controller_id(BrokerId(broker.node_id))
        .with_cluster_authorized_operations(super::authorized_ops::if_asked(req.include_cluster_authorized_operations, super::authorized_ops::CLUSTER))
        .with_brokers(vec![DescribeClusterBroker::default()
            .with_broker_id(BrokerId(broker.node_id))
            .with_host(StrBytes::from_string(host.to_string()))
            .with_port(port)])
}

/// DescribeLogDirs: the one data directory, its partitions' sizes and (v4+) its space.
pub async fn describe_log_dirs(broker: &Arc<Broker>, ctx: &RequestContext, req: DescribeLogDirsRequest) -> DescribeLogDirsResponse {
    use describe_log_dirs_response::*;
    let version = ctx.header.request_api_version;
    let wanted: Option<Vec<(String, Vec<i32>)>> = req.topics.map(|ts| ts.into_iter().map(|t| (t.topic.0.to_string(), t.partitions)).collect());
    let b = broker.clone();
    let topics = blocking(move || {
        b.logs
            .list()
            .iter()
            .filter_map(|t| {
                let parts: Vec<DescribeLogDirsPartition> = t
                    .partitions
                    .iter()
                    .filter(|p| match &wanted {
                        None => true,
                        Some(w) => w.iter().any(|(n, ps)| *n == t.name && ps.contains(&p.index)),
                    })
                    .map(|p| DescribeLogDirsPartition::default().with_partition_index(p.index).with_partition_size(p.size_bytes() as i64))
                    .collect();
                (!parts.is_empty()).then(|| DescribeLogDirsTopic::default().with_name(TopicName(StrBytes::from_string(t.name.clone()))).with_partitions(parts))
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    let dir = broker.logs.log_dir_usage();
    let mut result = DescribeLogDirsResult::default().with_log_dir(StrBytes::from_string(dir.path.display().to_string())).with_topics(topics);
    if version >= 4 {
        result = result.with_total_bytes(dir.total_bytes).with_usable_bytes(dir.usable_bytes);
    }
    DescribeLogDirsResponse::default().with_results(vec![result])
}

