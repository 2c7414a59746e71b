//! Produce: validate each partition's batches, append them as they came (stamped with offsets).
//! With `acks.all.fsync`, an acks=all request is answered once its data is fsynced.

use super::{blocking, find_topic, log_error_code, partition_of};
use crate::log::batch::ATTRIBUTES_OFFSET;
use crate::log::validator::{AppendOrigin, ValidationError};
use crate::log::{LogError, Partition};
use crate::request::Answer;
use crate::broker::Broker;
use crate::request::RequestContext;
use kafka_protocol::messages::produce_request::PartitionProduceData;
use kafka_protocol::messages::produce_response::*;
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::ResponseError;
use std::sync::Arc;

/// Appends run on the connection's own worker: a write into the page cache takes microseconds,
/// less than handing the request to another thread and back (which dominated the profile).
/// Only waiting for an fsync (`acks.all.fsync`) goes to a blocking thread, and the response is
/// then deferred: the connection appends its next requests meanwhile, so that one fsync covers
/// several requests of each connection (group commit), still answering in order.
pub async fn handle(broker: &Arc<Broker>, _ctx: &RequestContext, req: ProduceRequest) -> Answer<ProduceResponse> {
    let fsync = req.acks == -1 && broker.config.acks_all_fsync;
    let (mut responses, to_sync) = append_all(broker, req, fsync);
    if to_sync.is_empty() {
        return Answer::Now(ProduceResponse::default().with_responses(responses));
    }
    Answer::Later(Box::pin(async move {
        // Every partition is appended first and fsynced after, so that one request's fsyncs
        // overlap with other requests' appends and are shared (Partition::sync_upto).
        let failed = blocking(move || {
            to_sync
                .into_iter()
                .filter_map(|(ti, pi, partition, end)| {
                    let e = partition.sync_upto(end).err()?;
                    tracing::error!(topic = %partition.topic, partition = partition.index, error = %e, "fsync failed");
                    Some((ti, pi))
                })
                .collect::<Vec<_>>()
        })
        .await;
        let failed = failed.unwrap_or_else(|_| (0..responses.len()).flat_map(|ti| (0..responses[ti].partition_responses.len()).map(move |pi| (ti, pi))).collect());
        for (ti, pi) in failed {
            let r = &mut responses[ti].partition_responses[pi];
            r.error_code = ResponseError::KafkaStorageError.code();
            r.base_offset = -1;
        }
        ProduceResponse::default().with_responses(responses)
    }))
}

type ToSync = Vec<(usize, usize, Arc<Partition>, i64)>;

/// Kafka's `Topic.isInternal`.
fn is_internal(topic: &str) -> bool {
    topic == crate::group::OFFSETS_TOPIC || topic == crate::txn::TRANSACTION_TOPIC
}

/// Appends every partition's records; with `fsync`, also lists what to fsync before answering.
fn append_all(b: &Arc<Broker>, req: ProduceRequest, fsync: bool) -> (Vec<TopicProduceResponse>, ToSync) {
    let acks = req.acks;
    let mut to_sync = Vec::new();
    let mut responses = Vec::with_capacity(req.topic_data.len());
    for (ti, t) in req.topic_data.into_iter().enumerate() {
        // As Kafka's ReplicaManager: clients never append to the coordinators' own topics.
        let topic = find_topic(b, &t.name.0, t.topic_id)
            .and_then(|topic| if is_internal(&topic.name) { Err(ResponseError::InvalidTopicException) } else { Ok(topic) });
        let mut partition_responses = Vec::with_capacity(t.partition_data.len());
        for (pi, p) in t.partition_data.into_iter().enumerate() {
            let partition = if matches!(acks, -1..=1) {
                partition_of(&topic, p.index)
            } else {
                Err(ResponseError::InvalidRequiredAcks)
            };
            let resp = match partition {
                Ok(partition) => {
                    let (resp, end) = append(&partition, p);
                    if let (true, Some(end)) = (fsync, end) {
                        to_sync.push((ti, pi, partition, end));
                    }
                    resp
                }
                Err(e) => PartitionProduceResponse::default().with_index(p.index).with_error_code(e.code()),
            };
            partition_responses.push(resp);
        }
        responses.push(
            TopicProduceResponse::default().with_name(t.name).with_topic_id(t.topic_id).with_partition_responses(partition_responses),
        );
    }
    (responses, to_sync)
}

/// Appends one partition's records; on success also returns the log end offset to fsync up to.
fn append(partition: &Partition, p: PartitionProduceData) -> (PartitionProduceResponse, Option<i64>) {
    let resp = PartitionProduceResponse::default().with_index(p.index);
    let records = p.records.unwrap_or_default();
    // Validating a compressed batch inflates it (bounded by max.message.bytes); that runs off
    // the async worker so that other connections are not held up meanwhile.
    let compressed = records.get(ATTRIBUTES_OFFSET + 1).is_some_and(|a| a & 0x07 != 0);
    let appended = if compressed {
        tokio::task::block_in_place(|| partition.append(&records, AppendOrigin::Client))
    } else {
        partition.append(&records, AppendOrigin::Client)
    };
    match appended {
        Ok(info) => (
            resp.with_base_offset(info.base_offset)
                .with_log_append_time_ms(info.log_append_time.unwrap_or(-1))
                .with_log_start_offset(info.log_start_offset),
            Some(info.log_end_offset),
        ),
        Err(e) => {
            if let LogError::Io(io) = &e {
                // KAFKA_STORAGE_ERROR: the disk, not the request (ENOSPC, EIO); nothing was stored.
                tracing::error!(topic = %partition.topic, partition = p.index, error = %io, "append failed");
            } else {
                tracing::debug!(topic = %partition.topic, partition = p.index, error = %e, "produce refused");
            }
            let record_errors = match &e {
                LogError::Invalid(ValidationError::NullKey { record_indexes }) => record_indexes
                    .iter()
                    .map(|&i| {
                        BatchIndexAndErrorMessage::default().with_batch_index(i).with_batch_index_error_message(Some(
                            format!("Compacted topic cannot accept message without key in topic partition {}-{}.", partition.topic, p.index)
                                .into(),
                        ))
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let resp = resp
                .with_error_code(log_error_code(&e).code())
                .with_error_message(Some(e.to_string().into()))
                .with_record_errors(record_errors);
            (resp, None)
        }
    }
}
