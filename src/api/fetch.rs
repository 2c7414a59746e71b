//! Fetch: whole batches from the segment bytes, shaped by max_bytes (KIP-74), with long polling
//! on `min_bytes`/`max_wait_ms` that wakes as soon as any requested partition is appended to.

use super::{check_leader_epoch, find_topic, log_error_code, partition_of};
use crate::log::{FetchIsolation, Partition, ReadLimit};
use crate::request::{Spliced, Splicer};
use crate::broker::Broker;
use crate::request::RequestContext;
use bytes::Bytes;
use futures::future::select_all;
use kafka_protocol::messages::fetch_response::*;
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId, TopicName};
use kafka_protocol::ResponseError;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// One requested partition, resolved.
struct Wanted {
    partition: Result<Arc<Partition>, ResponseError>,
    index: i32,
    offset: i64,
    max_bytes: i32,
}

struct WantedTopic {
    name: TopicName,
    id: uuid::Uuid,
    partitions: Vec<Wanted>,
}

/// Fetch: reads every asked partition, long-polling until `min_bytes` or `max_wait_ms`.
pub async fn handle(broker: &Arc<Broker>, _ctx: &RequestContext, req: FetchRequest) -> Spliced<FetchResponse> {
    let fail = |e: ResponseError| Splicer::default().finish(FetchResponse::default().with_error_code(e.code()));
    if req.session_id != 0 || req.session_epoch > 0 {
        // We never create fetch sessions (KIP-227), so a client cannot hold one.
        return fail(ResponseError::FetchSessionIdNotFound);
    }
    // FetchRequest isolation_level: 0 READ_UNCOMMITTED, 1 READ_COMMITTED.
    let isolation = if req.isolation_level == 1 { FetchIsolation::TxnCommitted } else { FetchIsolation::HighWatermark };
    let topics: Arc<Vec<WantedTopic>> = Arc::new(
        req.topics
            .into_iter()
            .map(|t| {
                let topic = find_topic(broker, &t.topic.0, t.topic_id);
                let partitions = t
                    .partitions
                    .into_iter()
                    .map(|p| Wanted {
                        partition: partition_of(&topic, p.partition)
                            .and_then(|part| check_leader_epoch(p.current_leader_epoch).map(|_| part)),
                        index: p.partition,
                        offset: p.fetch_offset,
                        max_bytes: p.partition_max_bytes,
                    })
                    .collect();
                WantedTopic { name: t.topic, id: t.topic_id, partitions }
            })
            .collect(),
    );
    let mut receivers: Vec<watch::Receiver<i64>> =
        topics.iter().flat_map(|t| t.partitions.iter()).filter_map(|w| w.partition.as_ref().ok()).map(|p| p.subscribe()).collect();
    let deadline = Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);
    let max_bytes = if req.max_bytes <= 0 { i32::MAX } else { req.max_bytes } as usize;
    let min_bytes = req.min_bytes.max(0) as usize;
    let mut shutdown = broker.shutdown.clone();
    loop {
        for r in receivers.iter_mut() {
            r.borrow_and_update();
        }
        // Inline, not on a blocking thread: locating the batches is an index lookup and a few
        // small page-cache reads; the bytes themselves go out later with sendfile.
        let (responses, splicer, total, errored) = read_all(&topics, max_bytes, isolation);
        let now = Instant::now();
        if total >= min_bytes || errored || now >= deadline || receivers.is_empty() || *shutdown.borrow() {
            return splicer.finish(FetchResponse::default().with_responses(responses));
        }
        let changed = select_all(receivers.iter_mut().map(|r| Box::pin(r.changed())));
        tokio::select! {
            _ = changed => {}
            _ = tokio::time::sleep_until(deadline.into()) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Reads every wanted partition once. Returns the responses (large record ranges left in the
/// splicer, to go out with sendfile), the record bytes gathered, and whether any partition had
/// an error (which answers the fetch at once, as Kafka does).
fn read_all(topics: &[WantedTopic], max_bytes: usize, isolation: FetchIsolation) -> (Vec<FetchableTopicResponse>, Splicer, usize, bool) {
    let mut splicer = Splicer::default();
    let mut remaining = max_bytes;
    let mut total = 0usize;
    let mut errored = false;
    let responses = topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|w| {
                    let resp = PartitionData::default().with_partition_index(w.index);
                    let resp = if isolation == FetchIsolation::TxnCommitted { resp.with_aborted_transactions(Some(Vec::new())) } else { resp };
                    let part = match &w.partition {
                        Ok(p) => p,
                        Err(e) => {
                            errored = true;
                            return resp.with_error_code(e.code()).with_high_watermark(-1).with_records(Some(Bytes::new()));
                        }
                    };
                    let limit = (w.max_bytes.max(0) as usize).min(remaining);
                    // KIP-74: the first batch of the first partition with data comes back whole,
                    // even when it exceeds the limits, so a consumer can always make progress.
                    let limit = ReadLimit { max_bytes: limit, min_one_batch: total == 0 };
                    let read = part.read(w.offset, limit, isolation).and_then(|mut r| {
                        let records = match r.records.take() {
                            Some(slice) => splicer.records(slice)?,
                            None => Bytes::new(),
                        };
                        Ok((r, records))
                    });
                    match read {
                        Ok((r, records)) => {
                            total += records.len();
                            remaining = remaining.saturating_sub(records.len());
                            let resp = if isolation == FetchIsolation::TxnCommitted {
                                resp.with_aborted_transactions(Some(
                                    r.aborted
                                        .iter()
                                        .map(|a| AbortedTransaction::default().with_producer_id(ProducerId(a.producer_id)).with_first_offset(a.first_offset))
                                        .collect(),
                                ))
                            } else {
                                resp
                            };
                            resp.with_high_watermark(r.high_watermark)
                                .with_last_stable_offset(r.last_stable_offset)
                                .with_log_start_offset(r.log_start_offset)
                                .with_records(Some(records))
                        }
                        Err(e) => {
                            errored = true;
                            if !matches!(e, crate::log::LogError::OffsetOutOfRange { .. }) {
                                tracing::error!(topic = %part.topic, partition = w.index, error = %e, "fetch read failed");
                            }
                            let hw = part.log_end_offset();
                            resp.with_error_code(log_error_code(&e).code())
                                .with_high_watermark(hw)
                                .with_last_stable_offset(part.last_stable_offset())
                                .with_log_start_offset(part.log_start_offset())
                                .with_records(Some(Bytes::new()))
                        }
                    }
                })
                .collect();
            FetchableTopicResponse::default().with_topic(t.name.clone()).with_topic_id(t.id).with_partitions(partitions)
        })
        .collect();
    (responses, splicer, total, errored)
}
