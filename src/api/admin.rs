//! CreateTopics and DeleteTopics.

use super::blocking;
use crate::config::TOPIC_KEYS;
use crate::log::TopicError;
use crate::server::{Broker, RequestContext};
use kafka_protocol::messages::create_topics_response::*;
use kafka_protocol::messages::delete_topics_response::*;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// Kafka's ConfigSource values in CreateTopics v5+.
const SOURCE_TOPIC: i8 = 1;
const SOURCE_STATIC_BROKER: i8 = 4;
const SOURCE_DEFAULT: i8 = 5;

fn topic_error_code(e: &TopicError) -> ResponseError {
    match e {
        TopicError::AlreadyExists(_) => ResponseError::TopicAlreadyExists,
        TopicError::InvalidName(_) => ResponseError::InvalidTopicException,
        TopicError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
        TopicError::InvalidConfig(_) => ResponseError::InvalidConfig,
        TopicError::Unknown(_) => ResponseError::UnknownTopicOrPartition,
        TopicError::Io(_) => ResponseError::KafkaStorageError,
    }
}

pub async fn create_topics(broker: &Arc<Broker>, ctx: &RequestContext, req: CreateTopicsRequest) -> CreateTopicsResponse {
    let version = ctx.header.request_api_version;
    let b = broker.clone();
    let topics = blocking(move || {
        let mut seen = HashSet::new();
        let duplicates: HashSet<String> =
            req.topics.iter().filter(|t| !seen.insert(t.name.0.to_string())).map(|t| t.name.0.to_string()).collect();
        req.topics
            .into_iter()
            .map(|t| {
                let name = t.name.0.to_string();
                let result = CreatableTopicResult::default().with_name(t.name.clone());
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
    TOPIC_KEYS
        .iter()
        .map(|(key, broker_key)| {
            let (value, source) = match overrides.get(*key) {
                Some(v) => (v.clone(), SOURCE_TOPIC),
                None => {
                    let source = if broker.config.is_set(broker_key) { SOURCE_STATIC_BROKER } else { SOURCE_DEFAULT };
                    (broker.config.broker_default_for_topic_key(key), source)
                }
            };
            CreatableTopicConfigs::default()
                .with_name(StrBytes::from_static_str(key))
                .with_value(Some(StrBytes::from_string(value)))
                .with_config_source(source)
        })
        .collect()
}

pub async fn delete_topics(broker: &Arc<Broker>, ctx: &RequestContext, req: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let version = ctx.header.request_api_version;
    // v6 names topics by name or id; earlier versions by name only.
    let wanted: Vec<(Option<TopicName>, uuid::Uuid)> = if version >= 6 {
        req.topics.into_iter().map(|t| (t.name, t.topic_id)).collect()
    } else {
        req.topic_names.into_iter().map(|n| (Some(n), uuid::Uuid::nil())).collect()
    };
    let b = broker.clone();
    let responses = blocking(move || {
        wanted
            .into_iter()
            .map(|(name, id)| {
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
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    DeleteTopicsResponse::default().with_responses(responses)
}
