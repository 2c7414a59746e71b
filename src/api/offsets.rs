//! ListOffsets (earliest, latest, by timestamp, max timestamp) and OffsetForLeaderEpoch.

use super::{blocking_each, check_leader_epoch, log_error_code, per_partition};
use crate::log::{Partition, LEADER_EPOCH};
use crate::broker::Broker;
use crate::request::RequestContext;
use kafka_protocol::messages::list_offsets_response::*;
use kafka_protocol::messages::offset_for_leader_epoch_response::*;
use kafka_protocol::messages::*;
use kafka_protocol::ResponseError;
use std::sync::Arc;

/// Kafka's special ListOffsets timestamps.
const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

/// ListOffsets: earliest, latest, max-timestamp or by-timestamp offsets per partition.
pub async fn list_offsets(broker: &Arc<Broker>, ctx: &RequestContext, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let version = ctx.header.request_api_version;
    let read_committed = req.isolation_level == 1;
    let topics = blocking_each(broker, req.topics, move |b, t| {
        let partitions = per_partition(b, &t.name.0, t.partitions, |p| p.partition_index, |p, part| {
            let resp = ListOffsetsPartitionResponse::default().with_partition_index(p.partition_index);
            let found = part
                .and_then(|part| check_leader_epoch(p.current_leader_epoch).map(|_| part))
                .and_then(|part| lookup(&part, p.timestamp, read_committed));
            match found {
                Ok((offset, timestamp)) if version >= 4 && offset >= 0 => {
                    resp.with_offset(offset).with_timestamp(timestamp).with_leader_epoch(LEADER_EPOCH)
                }
                Ok((offset, timestamp)) => resp.with_offset(offset).with_timestamp(timestamp),
                Err(e) => resp.with_error_code(e.code()).with_offset(-1).with_timestamp(-1),
            }
        });
        ListOffsetsTopicResponse::default().with_name(t.name).with_partitions(partitions)
    })
    .await;
    ListOffsetsResponse::default().with_topics(topics)
}

/// (offset, timestamp) for one ListOffsets query; (-1, -1) when no record matches.
fn lookup(part: &Partition, timestamp: i64, read_committed: bool) -> Result<(i64, i64), ResponseError> {
    let err = |e: crate::log::LogError| log_error_code(&e);
    Ok(match timestamp {
        LATEST if read_committed => (part.last_stable_offset(), -1),
        LATEST => (part.log_end_offset(), -1),
        EARLIEST | EARLIEST_LOCAL => (part.log_start_offset(), -1),
        // No tiered storage: nothing has been uploaded.
        LATEST_TIERED => (-1, -1),
        MAX_TIMESTAMP => part.max_timestamp_offset().map_err(err)?.unwrap_or((-1, -1)),
        ts if ts >= 0 => part.offset_for_timestamp(ts).map_err(err)?.unwrap_or((-1, -1)),
        _ => return Err(ResponseError::InvalidRequest),
    })
}

/// One node, one epoch: epoch 0 ends at the log end offset; later epochs are unknown.
pub async fn offset_for_leader_epoch(
    broker: &Arc<Broker>,
    _ctx: &RequestContext,
    req: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = per_partition(broker, &t.topic.0, t.partitions, |p| p.partition, |p, part| {
                let resp = EpochEndOffset::default().with_partition(p.partition);
                match part.and_then(|part| check_leader_epoch(p.current_leader_epoch).map(|_| part)) {
                    Err(e) => resp.with_error_code(e.code()).with_leader_epoch(-1).with_end_offset(-1),
                    Ok(part) if p.leader_epoch == LEADER_EPOCH => resp.with_leader_epoch(LEADER_EPOCH).with_end_offset(part.log_end_offset()),
                    // Kafka: an epoch we never had -> UNDEFINED_EPOCH and UNDEFINED_OFFSET.
                    Ok(_) => resp.with_leader_epoch(-1).with_end_offset(-1),
                }
            });
            OffsetForLeaderTopicResult::default().with_topic(t.topic).with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
