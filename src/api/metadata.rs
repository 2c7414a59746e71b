//! Metadata: brokers, topics and partitions; auto-creates topics when allowed.

use super::authorized_ops;
use crate::log::{topic::validate_topic_name, Topic, TopicError, LEADER_EPOCH};
use crate::broker::Broker;
use crate::request::RequestContext;
use kafka_protocol::messages::metadata_response::*;
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Metadata: this broker, and the topics asked for (all for a null list), auto-creating unknown
/// ones when `auto.create.topics.enable` and the request allow it.
pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: MetadataRequest) -> MetadataResponse {
    let version = ctx.header.request_api_version;
    // v0: an empty list means all topics; v1+: null means all, empty means none.
    let all = match &req.topics {
        None => true,
        Some(t) => t.is_empty() && version == 0,
    };
    let mut topics = Vec::new();
    if all {
        topics.extend(broker.logs.list().iter().map(|t| describe(t, broker.node_id)));
    } else {
        let auto_create = broker.config.auto_create_topics && (version < 4 || req.allow_auto_topic_creation);
        for wanted in req.topics.unwrap_or_default() {
            let name = wanted.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default();
            topics.push(lookup(broker, &name, wanted.topic_id, auto_create).await);
        }
    }
    let topic_ops = authorized_ops::if_asked(req.include_topic_authorized_operations, authorized_ops::TOPIC);
    for t in &mut topics {
        t.topic_authorized_operations = topic_ops;
    }
    let (host, port) = broker.advertised(&ctx.client.listener);
    MetadataResponse::default()
        .with_cluster_authorized_operations(authorized_ops::if_asked(req.include_cluster_authorized_operations, authorized_ops::CLUSTER))
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(BrokerId(broker.node_id))
            .with_host(StrBytes::from_string(host.to_string()))
            .with_port(port)])
        .with_cluster_id(Some(StrBytes::from_string(broker.cluster_id.clone())))
        .with_controller_id(BrokerId(broker.node_id))
        .with_topics(topics)
}

async fn lookup(broker: &Arc<Broker>, name: &str, id: uuid::Uuid, auto_create: bool) -> MetadataResponseTopic {
    if name.is_empty() && !id.is_nil() {
        return match broker.logs.get_by_id(id) {
            Some(t) => describe(&t, broker.node_id),
            None => error_topic(None, id, ResponseError::UnknownTopicId),
        };
    }
    if let Some(t) = broker.logs.get(name) {
        return describe(&t, broker.node_id);
    }
    if validate_topic_name(name).is_err() {
        return error_topic(Some(name), id, ResponseError::InvalidTopicException);
    }
    if !auto_create {
        return error_topic(Some(name), id, ResponseError::UnknownTopicOrPartition);
    }
    let (b, n) = (broker.clone(), name.to_string());
    let partitions = broker.config.num_partitions;
    let created = super::blocking(move || b.logs.create_topic(&n, partitions, BTreeMap::new(), false)).await;
    match created {
        Ok(Ok(t)) => describe(&t, broker.node_id),
        // Another request created it first: fine.
        Ok(Err(TopicError::AlreadyExists(_))) => match broker.logs.get(name) {
            Some(t) => describe(&t, broker.node_id),
            None => error_topic(Some(name), id, ResponseError::LeaderNotAvailable),
        },
        Ok(Err(e)) => {
            tracing::warn!(topic = name, error = %e, "auto-create failed");
            error_topic(Some(name), id, ResponseError::UnknownServerError)
        }
        Err(e) => error_topic(Some(name), id, e),
    }
}

fn error_topic(name: Option<&str>, id: uuid::Uuid, e: ResponseError) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(e.code())
        .with_name(name.map(|n| TopicName(StrBytes::from_string(n.to_string()))))
        .with_topic_id(id)
}

/// One topic's metadata: this node leads every partition and is its only replica.
pub fn describe(t: &Topic, node: i32) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(t.name.clone()))))
        .with_topic_id(t.id)
        .with_is_internal(t.is_internal())
        .with_partitions(
            (0..t.partitions.len() as i32)
                .map(|i| {
                    MetadataResponsePartition::default()
                        .with_partition_index(i)
                        .with_leader_id(BrokerId(node))
                        .with_leader_epoch(LEADER_EPOCH)
                        .with_replica_nodes(vec![BrokerId(node)])
                        .with_isr_nodes(vec![BrokerId(node)])
                })
                .collect(),
        )
}
