//! Transaction APIs: AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn.

use super::{blocking, find_partition, find_topic};
use crate::broker::Broker;
use crate::request::RequestContext;
use crate::txn::{PendingOffset, TxnOutcome, TxnState};
use kafka_protocol::messages::*;
use kafka_protocol::ResponseError;
use std::sync::Arc;

fn code(r: Result<(), ResponseError>) -> i16 {
    r.err().map(|e| e.code()).unwrap_or(0)
}

/// The partitions one transaction adds (AddPartitionsToTxn carries one, or several from v4).
struct TxnPartitions {
    transactional_id: TransactionalId,
    producer_id: i64,
    epoch: i16,
    topics: Vec<(TopicName, Vec<i32>)>,
    /// v4+: only check that the partitions are in the transaction (KIP-890).
    verify_only: bool,
}

/// AddPartitionsToTxn.
pub async fn add_partitions_to_txn(broker: &Arc<Broker>, ctx: &RequestContext, req: AddPartitionsToTxnRequest) -> AddPartitionsToTxnResponse {
    use add_partitions_to_txn_response::*;
    let version = ctx.header.request_api_version;
    // v4+ batches transactions (sent by brokers); v0-3 carry one transaction at the top level.
    let txns: Vec<TxnPartitions> = if version >= 4 {
        req.transactions
            .into_iter()
            .map(|t| TxnPartitions {
                transactional_id: t.transactional_id,
                producer_id: t.producer_id.0,
                epoch: t.producer_epoch,
                topics: t.topics.into_iter().map(|tp| (tp.name, tp.partitions)).collect(),
                verify_only: t.verify_only,
            })
            .collect()
    } else {
        vec![TxnPartitions {
            transactional_id: req.v3_and_below_transactional_id,
            producer_id: req.v3_and_below_producer_id.0,
            epoch: req.v3_and_below_producer_epoch,
            topics: req.v3_and_below_topics.into_iter().map(|tp| (tp.name, tp.partitions)).collect(),
            verify_only: false,
        }]
    };
    let b = broker.clone();
    let results = blocking(move || {
        txns.into_iter()
            .map(|TxnPartitions { transactional_id: id, producer_id: pid, epoch, topics, verify_only }| {
                // Unknown partitions fail the request; the others are then OPERATION_NOT_ATTEMPTED.
                let unknown: Vec<(String, i32)> = topics
                    .iter()
                    .flat_map(|(t, ps)| ps.iter().map(move |p| (t.0.to_string(), *p)))
                    .filter(|(t, p)| find_topic(&b, t, uuid::Uuid::nil()).and_then(|topic| find_partition(&topic, *p)).is_err())
                    .collect();
                let all: Vec<(String, i32)> = topics.iter().flat_map(|(t, ps)| ps.iter().map(move |p| (t.0.to_string(), *p))).collect();
                let outcome = if !unknown.is_empty() {
                    Err(ResponseError::OperationNotAttempted)
                } else if verify_only {
                    Ok(())
                } else {
                    b.txns.add_partitions(&id, pid, epoch, &all)
                };
                let topic_results = topics
                    .into_iter()
                    .map(|(name, ps)| {
                        let n = name.0.to_string();
                        AddPartitionsToTxnTopicResult::default().with_name(name).with_results_by_partition(
                            ps.into_iter()
                                .map(|p| {
                                    let e = if unknown.contains(&(n.clone(), p)) { Err(ResponseError::UnknownTopicOrPartition) } else { outcome };
                                    AddPartitionsToTxnPartitionResult::default().with_partition_index(p).with_partition_error_code(code(e))
                                })
                                .collect(),
                        )
                    })
                    .collect::<Vec<_>>();
                (id, topic_results)
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    if version >= 4 {
        AddPartitionsToTxnResponse::default().with_results_by_transaction(
            results.into_iter().map(|(id, r)| AddPartitionsToTxnResult::default().with_transactional_id(id).with_topic_results(r)).collect(),
        )
    } else {
        AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results.into_iter().flat_map(|(_, r)| r).collect())
    }
}

/// AddOffsetsToTxn.
pub async fn add_offsets_to_txn(broker: &Arc<Broker>, _ctx: &RequestContext, req: AddOffsetsToTxnRequest) -> AddOffsetsToTxnResponse {
    let b = broker.clone();
    let res = blocking(move || b.txns.add_offsets(&req.transactional_id, req.producer_id.0, req.producer_epoch, &req.group_id)).await.and_then(|r| r);
    AddOffsetsToTxnResponse::default().with_error_code(code(res))
}

/// TxnOffsetCommit: the offsets wait for the transaction to commit.
pub async fn txn_offset_commit(broker: &Arc<Broker>, _ctx: &RequestContext, req: TxnOffsetCommitRequest) -> TxnOffsetCommitResponse {
    use txn_offset_commit_response::*;
    let group = req.group_id.to_string();
    let mut pending = Vec::new();
    let mut plan = Vec::new();
    for t in &req.topics {
        let topic = find_topic(broker, &t.name.0, uuid::Uuid::nil());
        let mut parts = Vec::new();
        for p in &t.partitions {
            let r = topic.as_ref().map_err(|e| *e).and_then(|topic| find_partition(topic, p.partition_index).map(|_| ()));
            if r.is_ok() {
                pending.push(PendingOffset {
                    group: group.clone(),
                    topic: t.name.0.to_string(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.as_ref().map(|m| m.to_string()).unwrap_or_default(),
                });
            }
            parts.push((p.partition_index, r));
        }
        plan.push((t.name.clone(), parts));
    }
    let b = broker.clone();
    let (id, pid, epoch) = (req.transactional_id.to_string(), req.producer_id.0, req.producer_epoch);
    let stored = blocking(move || b.txns.add_pending_offsets(&id, pid, epoch, pending)).await.and_then(|r| r);
    let topics = plan
        .into_iter()
        .map(|(name, parts)| {
            TxnOffsetCommitResponseTopic::default().with_name(name).with_partitions(
                parts
                    .into_iter()
                    .map(|(i, r)| TxnOffsetCommitResponsePartition::default().with_partition_index(i).with_error_code(code(r.and(stored))))
                    .collect(),
            )
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}

/// EndTxn.
pub async fn end_txn(broker: &Arc<Broker>, _ctx: &RequestContext, req: EndTxnRequest) -> EndTxnResponse {
    let b = broker.clone();
    let (id, pid, epoch, outcome) = (req.transactional_id.to_string(), req.producer_id.0, req.producer_epoch, TxnOutcome::from_committed(req.committed));
    let res = blocking(move || b.txns.end_txn(&id, pid, epoch, outcome)).await.and_then(|r| r);
    EndTxnResponse::default().with_error_code(code(res)).with_producer_id(req.producer_id).with_producer_epoch(req.producer_epoch)
}

/// DescribeProducers.
pub async fn describe_producers(broker: &Arc<Broker>, _ctx: &RequestContext, req: DescribeProducersRequest) -> DescribeProducersResponse {
    use describe_producers_response::*;
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = find_topic(broker, &t.name.0, uuid::Uuid::nil());
            let partitions = t
                .partition_indexes
                .into_iter()
                .map(|i| {
                    let r = PartitionResponse::default().with_partition_index(i);
                    match topic.as_ref().map_err(|e| *e).and_then(|t| find_partition(t, i)) {
                        Err(e) => r.with_error_code(e.code()),
                        Ok(p) => r.with_active_producers(
                            p.producers()
                                .into_iter()
                                .map(|s| {
                                    ProducerState::default()
                                        .with_producer_id(ProducerId(s.producer_id))
                                        .with_producer_epoch(s.epoch as i32)
                                        .with_last_sequence(s.last_sequence)
                                        .with_last_timestamp(s.last_timestamp)
                                        .with_coordinator_epoch(-1)
                                        .with_current_txn_start_offset(s.txn_first_offset.unwrap_or(-1))
                                })
                                .collect(),
                        ),
                    }
                })
                .collect();
            TopicResponse::default().with_name(t.name).with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}

/// ListTransactions.
pub async fn list_transactions(broker: &Arc<Broker>, _ctx: &RequestContext, req: ListTransactionsRequest) -> ListTransactionsResponse {
    use list_transactions_response::TransactionState;
    const STATES: [&str; 6] = ["Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort"];
    let unknown: Vec<_> = req.state_filters.iter().filter(|f| !STATES.contains(&f.as_str())).cloned().collect();
    let pattern = match req.transactional_id_pattern.as_ref().filter(|p| !p.is_empty()) {
        // Java's Matcher.matches(): the whole id must match.
        Some(p) => match regex::Regex::new(&format!("^(?:{})$", p.as_str())) {
            Ok(r) => Some(r),
            Err(_) => return ListTransactionsResponse::default().with_error_code(ResponseError::InvalidRegularExpression.code()),
        },
        None => None,
    };
    let now = crate::util::time::now_ms();
    let states = broker
        .txns
        .list()
        .into_iter()
        .filter(|m| req.state_filters.is_empty() || req.state_filters.iter().any(|f| f.as_str() == m.state.name()))
        .filter(|m| req.producer_id_filters.is_empty() || req.producer_id_filters.iter().any(|p| p.0 == m.producer_id))
        .filter(|m| req.duration_filter < 0 || (m.state == TxnState::Ongoing && now - m.start_ms >= req.duration_filter))
        .filter(|m| pattern.as_ref().is_none_or(|r| r.is_match(&m.transactional_id)))
        .map(|m| {
            TransactionState::default()
                .with_transactional_id(TransactionalId(m.transactional_id.into()))
                .with_producer_id(ProducerId(m.producer_id))
                .with_transaction_state(m.state.name().into())
        })
        .collect();
    ListTransactionsResponse::default().with_unknown_state_filters(unknown).with_transaction_states(states)
}

/// DescribeTransactions.
pub async fn describe_transactions(broker: &Arc<Broker>, _ctx: &RequestContext, req: DescribeTransactionsRequest) -> DescribeTransactionsResponse {
    use describe_transactions_response::*;
    let all = broker.txns.list();
    let states = req
        .transactional_ids
        .into_iter()
        .map(|id| match all.iter().find(|m| m.transactional_id == id.as_str()) {
            None => TransactionState::default().with_transactional_id(id).with_error_code(ResponseError::TransactionalIdNotFound.code()),
            Some(m) => {
                let mut topics: std::collections::BTreeMap<&str, Vec<i32>> = std::collections::BTreeMap::new();
                for (t, p) in &m.partitions {
                    topics.entry(t.as_str()).or_default().push(*p);
                }
                TransactionState::default()
                    .with_transactional_id(id)
                    .with_transaction_state(m.state.name().into())
                    .with_transaction_timeout_ms(m.timeout_ms)
                    .with_transaction_start_time_ms(if m.state == TxnState::Ongoing { m.start_ms } else { -1 })
                    .with_producer_id(ProducerId(m.producer_id))
                    .with_producer_epoch(m.epoch)
                    .with_topics(
                        topics
                            .into_iter()
                            .map(|(t, ps)| TopicData::default().with_topic(TopicName(t.to_string().into())).with_partitions(ps))
                            .collect(),
                    )
            }
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}
