//! The transaction coordinator, after Kafka's `TransactionCoordinator`.
//!
//! Each transactional id maps to a producer id and epoch and a transaction state:
//! Empty -> Ongoing -> PrepareCommit/PrepareAbort -> CompleteCommit/CompleteAbort. State is
//! durable in the internal topic `__transaction_state` (key: the transactional id, value: the
//! metadata as JSON), replayed on start; a transaction found in a Prepare state is completed then,
//! and an Ongoing one is aborted when its `transaction.timeout.ms` runs out. Ending a transaction
//! writes a marker (control batch) into every partition in it and, on commit, stores the offsets
//! sent with TxnOffsetCommit.

use crate::group::{Committed, GroupCoordinator, OFFSETS_TOPIC};
use crate::util::time::now_ms;
use crate::log::LogManager;
use crate::internal_topic::InternalTopic;
use crate::meta::producer_ids::ProducerIdManager;
use bytes::Bytes;
use kafka_protocol::ResponseError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

pub const TRANSACTION_TOPIC: &str = "__transaction_state";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
}

impl TxnState {
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
        }
    }
}

/// An offset sent with TxnOffsetCommit, applied when the transaction commits.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingOffset {
    pub group: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TxnMetadata {
    pub transactional_id: String,
    pub producer_id: i64,
    pub epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<(String, i32)>,
    pub start_ms: i64,
    pub last_update_ms: i64,
    #[serde(default)]
    pub pending_offsets: Vec<PendingOffset>,
}

/// Settings (Kafka's names).
#[derive(Debug, Clone)]
pub struct TxnConfig {
    pub max_timeout_ms: i32,
    pub partitions: i32,
    pub segment_bytes: u64,
}

pub struct TransactionCoordinator {
    cfg: TxnConfig,
    topic: InternalTopic,
    txns: Mutex<HashMap<String, TxnMetadata>>,
}

type TxnResult<T> = Result<T, ResponseError>;

impl TransactionCoordinator {
    /// Replays `__transaction_state` and finishes any transaction caught between its decision
    /// and its markers.
    pub fn open(cfg: TxnConfig, logs: Arc<LogManager>, groups: &GroupCoordinator) -> TransactionCoordinator {
        let topic = InternalTopic::new(logs, TRANSACTION_TOPIC, cfg.partitions, cfg.segment_bytes);
        let mut txns = HashMap::new();
        let n = topic.replay(|key, value| {
            let Some(id) = key.and_then(|k| String::from_utf8(k.to_vec()).ok()) else { return };
            match value.and_then(|v| serde_json::from_slice::<TxnMetadata>(&v).ok()) {
                Some(m) => {
                    txns.insert(id, m);
                }
                None => {
                    txns.remove(&id);
                }
            }
        });
        let coord = TransactionCoordinator { cfg, topic, txns: Mutex::new(HashMap::new()) };
        for (id, mut m) in txns {
            if matches!(m.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
                let commit = m.state == TxnState::PrepareCommit;
                tracing::info!(transactional_id = %id, commit, "completing a transaction decided before the restart");
                if let Err(e) = coord.complete(&mut m, commit, groups) {
                    tracing::error!(transactional_id = %id, error = ?e, "cannot complete transaction");
                }
            }
            coord.lock().insert(id, m);
        }
        if n > 0 {
            tracing::info!(records = n, transactions = coord.lock().len(), "loaded transaction state");
        }
        coord
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, TxnMetadata>> {
        self.txns.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn persist(&self, m: &TxnMetadata) -> TxnResult<()> {
        let value = serde_json::to_vec(m).map_err(|_| ResponseError::UnknownServerError)?;
        self.topic.append(&m.transactional_id, vec![(Bytes::from(m.transactional_id.clone()), Some(Bytes::from(value)))]).map_err(|e| {
            tracing::error!(error = %e, "cannot persist transaction state");
            ResponseError::CoordinatorNotAvailable
        })
    }

    /// Makes sure the internal topic exists (FindCoordinator does this, as in Kafka).
    pub fn ensure_topic(&self, transactional_id: &str) {
        if let Err(e) = self.topic.partition_for(transactional_id) {
            tracing::error!(error = %e, "cannot create {TRANSACTION_TOPIC}");
        }
    }

    /// InitProducerId with a transactional id: a new producer id, or the same one with a bumped
    /// epoch (fencing older instances); an open transaction is aborted first.
    pub fn init_producer_id(
        &self,
        id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        producer_ids: &ProducerIdManager,
        groups: &GroupCoordinator,
    ) -> TxnResult<(i64, i16)> {
        if timeout_ms <= 0 || timeout_ms > self.cfg.max_timeout_ms {
            return Err(ResponseError::InvalidTransactionTimeout);
        }
        let mut txns = self.lock();
        let now = now_ms();
        let new_id = || producer_ids.next_id().map_err(|_| ResponseError::KafkaStorageError);
        let mut m = match txns.get(id).cloned() {
            None => TxnMetadata {
                transactional_id: id.to_string(),
                producer_id: new_id()?,
                epoch: 0,
                timeout_ms,
                state: TxnState::Empty,
                partitions: BTreeSet::new(),
                start_ms: now,
                last_update_ms: now,
                pending_offsets: Vec::new(),
            },
            Some(mut m) => {
                if let Some((pid, epoch)) = expected {
                    // KIP-360: a producer re-initialising must still hold the current epoch.
                    if pid != m.producer_id || epoch != m.epoch {
                        return Err(ResponseError::ProducerFenced);
                    }
                }
                if m.epoch >= i16::MAX - 1 {
                    m.producer_id = new_id()?;
                    m.epoch = 0;
                } else {
                    m.epoch += 1;
                }
                if m.state == TxnState::Ongoing {
                    // Abort the previous instance's transaction, with the new epoch so it is fenced.
                    self.complete(&mut m, false, groups)?;
                }
                m.state = TxnState::Empty;
                m.timeout_ms = timeout_ms;
                m.partitions.clear();
                m.pending_offsets.clear();
                m.last_update_ms = now;
                m
            }
        };
        m.state = if m.state == TxnState::Empty { TxnState::Empty } else { m.state };
        self.persist(&m)?;
        let result = (m.producer_id, m.epoch);
        txns.insert(id.to_string(), m);
        tracing::info!(transactional_id = id, producer_id = result.0, epoch = result.1, "initialised transactional producer");
        Ok(result)
    }

    /// Validates a call from the producer holding `id`.
    fn check<'a>(txns: &'a mut HashMap<String, TxnMetadata>, id: &str, pid: i64, epoch: i16) -> TxnResult<&'a mut TxnMetadata> {
        let m = txns.get_mut(id).ok_or(ResponseError::InvalidProducerIdMapping)?;
        if m.producer_id != pid {
            return Err(ResponseError::InvalidProducerIdMapping);
        }
        if m.epoch != epoch {
            return Err(ResponseError::ProducerFenced);
        }
        if matches!(m.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
            return Err(ResponseError::ConcurrentTransactions);
        }
        Ok(m)
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn.
    pub fn add_partitions(&self, id: &str, pid: i64, epoch: i16, partitions: &[(String, i32)]) -> TxnResult<()> {
        let mut txns = self.lock();
        let m = Self::check(&mut txns, id, pid, epoch)?;
        let now = now_ms();
        let mut updated = m.clone();
        if updated.state != TxnState::Ongoing {
            updated.state = TxnState::Ongoing;
            updated.start_ms = now;
            updated.partitions.clear();
            updated.pending_offsets.clear();
        }
        let before = updated.partitions.len();
        updated.partitions.extend(partitions.iter().cloned());
        updated.last_update_ms = now;
        if updated.partitions.len() != before || m.state != TxnState::Ongoing {
            self.persist(&updated)?;
        }
        *m = updated;
        Ok(())
    }

    /// AddOffsetsToTxn: the group's offsets partition joins the transaction.
    pub fn add_offsets(&self, id: &str, pid: i64, epoch: i16, group: &str, offsets_partition: i32) -> TxnResult<()> {
        let _ = group;
        self.add_partitions(id, pid, epoch, &[(OFFSETS_TOPIC.to_string(), offsets_partition)])
    }

    /// TxnOffsetCommit: offsets held until the transaction ends.
    pub fn add_pending_offsets(&self, id: &str, pid: i64, epoch: i16, offsets: Vec<PendingOffset>) -> TxnResult<()> {
        let mut txns = self.lock();
        let m = Self::check(&mut txns, id, pid, epoch)?;
        if m.state != TxnState::Ongoing {
            return Err(ResponseError::InvalidTxnState);
        }
        for o in offsets {
            m.pending_offsets.retain(|p| !(p.group == o.group && p.topic == o.topic && p.partition == o.partition));
            m.pending_offsets.push(o);
        }
        Ok(())
    }

    /// EndTxn: commit or abort.
    pub fn end_txn(&self, id: &str, pid: i64, epoch: i16, commit: bool, groups: &GroupCoordinator) -> TxnResult<()> {
        let mut txns = self.lock();
        let m = Self::check(&mut txns, id, pid, epoch)?;
        match (m.state, commit) {
            (TxnState::Ongoing, _) => {}
            // A retried EndTxn whose first attempt completed.
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => return Ok(()),
            _ => return Err(ResponseError::InvalidTxnState),
        }
        let mut updated = m.clone();
        updated.state = if commit { TxnState::PrepareCommit } else { TxnState::PrepareAbort };
        updated.last_update_ms = now_ms();
        self.persist(&updated)?;
        self.complete(&mut updated, commit, groups)?;
        *m = updated;
        Ok(())
    }

    /// Writes the markers, applies (or drops) pending offsets and records the completion.
    fn complete(&self, m: &mut TxnMetadata, commit: bool, groups: &GroupCoordinator) -> TxnResult<()> {
        let logs = self.topic.logs();
        for (topic, partition) in &m.partitions {
            let Some(p) = logs.partition(topic, *partition) else { continue };
            if let Err(e) = p.append_marker(m.producer_id, m.epoch, commit, 0) {
                tracing::error!(topic = %topic, partition, error = %e, "cannot write transaction marker");
                return Err(ResponseError::CoordinatorNotAvailable);
            }
        }
        if commit {
            let mut by_group: HashMap<String, Vec<(String, i32, Committed)>> = HashMap::new();
            let now = now_ms();
            for o in m.pending_offsets.drain(..) {
                by_group.entry(o.group).or_default().push((
                    o.topic,
                    o.partition,
                    Committed { offset: o.offset, leader_epoch: o.leader_epoch, metadata: o.metadata, commit_timestamp: now },
                ));
            }
            for (group, offsets) in by_group {
                groups.commit(&group, offsets)?;
            }
        }
        m.pending_offsets.clear();
        m.partitions.clear();
        m.state = if commit { TxnState::CompleteCommit } else { TxnState::CompleteAbort };
        m.last_update_ms = now_ms();
        self.persist(m)?;
        tracing::info!(transactional_id = %m.transactional_id, commit, "transaction completed");
        Ok(())
    }

    /// Aborts transactions open longer than their timeout, bumping the epoch so that the
    /// producer that left them is fenced (as Kafka does).
    pub fn abort_timed_out(&self, groups: &GroupCoordinator) {
        let now = now_ms();
        let mut txns = self.lock();
        for m in txns.values_mut() {
            if m.state == TxnState::Ongoing && now - m.start_ms > m.timeout_ms as i64 {
                tracing::info!(transactional_id = %m.transactional_id, "aborting a transaction past its timeout");
                let mut updated = m.clone();
                updated.epoch = updated.epoch.saturating_add(1);
                updated.state = TxnState::PrepareAbort;
                if self.persist(&updated).is_ok() && self.complete(&mut updated, false, groups).is_ok() {
                    *m = updated;
                }
            }
        }
    }

    /// (transactional id, producer id, epoch, state, timeout, start, partitions) for the admin APIs.
    pub fn list(&self) -> Vec<TxnMetadata> {
        let mut v: Vec<TxnMetadata> = self.lock().values().cloned().collect();
        v.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        v
    }
}
