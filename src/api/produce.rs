//! Produce: validate each partition's batches, append them as they came (stamped with offsets).

use super::{blocking, find_partition, find_topic, log_error_code};
use crate::log::LogError;
use crate::server::{Broker, RequestContext};
use kafka_protocol::messages::produce_response::*;
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::ResponseError;
use std::sync::Arc;

pub async fn handle(broker: &Arc<Broker>, _ctx: &RequestContext, req: ProduceRequest) -> ProduceResponse {
    let acks = req.acks;
    let b = broker.clone();
    let responses = blocking(move || {
        req.topic_data
            .into_iter()
            .map(|t| {
                let topic = find_topic(&b, &t.name.0, t.topic_id);
                let partition_responses = t
                    .partition_data
                    .into_iter()
                    .map(|p| {
                        let resp = PartitionProduceResponse::default().with_index(p.index);
                        if !matches!(acks, -1..=1) {
                            return resp.with_error_code(ResponseError::InvalidRequiredAcks.code());
                        }
                        let partition = match topic.as_ref().map_err(|e| *e).and_then(|t| find_partition(t, p.index)) {
                            Ok(p) => p,
                            Err(e) => return resp.with_error_code(e.code()),
                        };
                        let records = p.records.unwrap_or_default();
                        match partition.append(&records) {
                            Ok(info) => resp
                                .with_base_offset(info.base_offset)
                                .with_log_append_time_ms(info.log_append_time.unwrap_or(-1))
                                .with_log_start_offset(info.log_start_offset),
                            Err(e) => {
                                tracing::debug!(topic = %partition.topic, partition = p.index, error = %e, "produce refused");
                                let record_errors = match &e {
                                    LogError::NullKey { record_indexes } => record_indexes
                                        .iter()
                                        .map(|&i| {
                                            BatchIndexAndErrorMessage::default().with_batch_index(i).with_batch_index_error_message(Some(
                                                format!("Compacted topic cannot accept message without key in topic partition {}-{}.", partition.topic, p.index).into(),
                                            ))
                                        })
                                        .collect(),
                                    _ => Vec::new(),
                                };
                                resp.with_error_code(log_error_code(&e).code())
                                    .with_error_message(Some(e.to_string().into()))
                                    .with_record_errors(record_errors)
                            }
                        }
                    })
                    .collect();
                TopicProduceResponse::default()
                    .with_name(t.name)
                    .with_topic_id(t.topic_id)
                    .with_partition_responses(partition_responses)
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    ProduceResponse::default().with_responses(responses)
}
