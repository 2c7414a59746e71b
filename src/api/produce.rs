//! Produce: validate each partition's batches, append them as they came (stamped with offsets).
//! With `acks.all.fsync`, an acks=all request is answered once its data is fsynced.

use super::{blocking, find_partition, find_topic, log_error_code};
use crate::log::{LogError, Partition};
use crate::server::{Broker, RequestContext};
use kafka_protocol::messages::produce_request::PartitionProduceData;
use kafka_protocol::messages::produce_response::*;
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::ResponseError;
use std::sync::Arc;

pub async fn handle(broker: &Arc<Broker>, _ctx: &RequestContext, req: ProduceRequest) -> ProduceResponse {
    let acks = req.acks;
    let fsync = acks == -1 && broker.config.acks_all_fsync;
    let b = broker.clone();
    let responses = blocking(move || {
        // Every partition is appended first and fsynced after, so that one request's fsyncs
        // overlap with other requests' appends and are shared (Partition::sync_upto).
        let mut to_sync: Vec<(usize, usize, Arc<Partition>, i64)> = Vec::new();
        let mut responses = Vec::with_capacity(req.topic_data.len());
        for (ti, t) in req.topic_data.into_iter().enumerate() {
            let topic = find_topic(&b, &t.name.0, t.topic_id);
            let mut partition_responses = Vec::with_capacity(t.partition_data.len());
            for (pi, p) in t.partition_data.into_iter().enumerate() {
                let partition = if matches!(acks, -1..=1) {
                    topic.as_ref().map_err(|e| *e).and_then(|t| find_partition(t, p.index))
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
        for (ti, pi, partition, end) in to_sync {
            if let Err(e) = partition.sync_upto(end) {
                tracing::error!(topic = %partition.topic, partition = partition.index, error = %e, "fsync failed");
                let r = &mut responses[ti].partition_responses[pi];
                r.error_code = ResponseError::KafkaStorageError.code();
                r.base_offset = -1;
            }
        }
        responses
    })
    .await
    .unwrap_or_default();
    ProduceResponse::default().with_responses(responses)
}

/// Appends one partition's records; on success also returns the log end offset to fsync up to.
fn append(partition: &Partition, p: PartitionProduceData) -> (PartitionProduceResponse, Option<i64>) {
    let resp = PartitionProduceResponse::default().with_index(p.index);
    let records = p.records.unwrap_or_default();
    match partition.append(&records) {
        Ok(info) => (
            resp.with_base_offset(info.base_offset)
                .with_log_append_time_ms(info.log_append_time.unwrap_or(-1))
                .with_log_start_offset(info.log_start_offset),
            Some(info.log_end_offset),
        ),
        Err(e) => {
            tracing::debug!(topic = %partition.topic, partition = p.index, error = %e, "produce refused");
            let record_errors = match &e {
                LogError::NullKey { record_indexes } => record_indexes
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
