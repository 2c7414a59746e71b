//! The transaction coordinator, after Kafka's `TransactionCoordinator`.
//!
//! Each transactional id maps to a producer id and epoch and a transaction state:
//! Empty -> Ongoing -> PrepareCommit/PrepareAbort -> CompleteCommit/CompleteAbort. State is
//! durable in the internal topic `__transaction_state` (key: the transactional id, value: the
//! metadata as JSON), replayed on start; a transaction found in a Prepare state is completed then,
//! and an Ongoing one is aborted when its `transaction.timeout.ms` runs out. Ending a transaction
//! writes a marker (control batch) into every partition in it and, on commit, stores the offsets
//! sent with TxnOffsetCommit. The coordinator holds the group coordinator those offsets go to.

use crate::group::{Committed, GroupCoordinator, PartitionOffset, OFFSETS_TOPIC};
use crate::util::periodic::run_every;
use crate::util::time::now_ms;
use crate::log::LogManager;
use crate::internal_topic::InternalTopic;
use crate::meta::producer_ids::ProducerIdManager;
use bytes::Bytes;
use kafka_protocol::ResponseError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// The internal topic transaction state lives in.
pub const TRANSACTION_TOPIC: &str = "__transaction_state";

/// The epoch of this coordinator written into markers: one node, never failed over, so always 0.
const COORDINATOR_EPOCH: i32 = 0;

/// The last epoch handed out before the producer id is replaced (Kafka keeps `Short.MAX_VALUE`
/// for the fencing bump of a timed-out transaction).
const LAST_EPOCH: i16 = i16::MAX - 1;

/// The state of a transactional id (Kafka's TransactionState).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnState {
    /// No transaction open.
    Empty,
    /// A transaction is open: partitions and offsets are being added.
    Ongoing,
    /// Commit decided and stored; markers being written.
    PrepareCommit,
    /// Abort decided and stored; markers being written.
    PrepareAbort,
    /// The last transaction committed.
    CompleteCommit,
    /// The last transaction aborted.
    CompleteAbort,
}

/// How a transaction ends (Kafka's TransactionResult).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnOutcome {
    /// Its records become visible, its offsets are committed.
    Commit,
    /// Its records are skipped by read_committed consumers, its offsets dropped.
    Abort,
}

impl TxnOutcome {
    /// Commit if `committed` (EndTxn's field).
    pub fn from_committed(committed: bool) -> TxnOutcome {
        if committed {
            TxnOutcome::Commit
        } else {
            TxnOutcome::Abort
        }
    }

    fn is_commit(self) -> bool {
        self == TxnOutcome::Commit
    }
}

impl TxnState {
    /// The state's name, as the admin APIs report it (Kafka's spelling).
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
    /// The consumer group.
    pub group: String,
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset to commit.
    pub offset: i64,
    /// The leader epoch sent with it.
    pub leader_epoch: i32,
    /// The client's metadata string.
    pub metadata: String,
}

/// A transactional id's state, as stored (JSON) in `__transaction_state`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TxnMetadata {
    /// The transactional id.
    pub transactional_id: String,
    /// Its producer id.
    pub producer_id: i64,
    /// Its current epoch (older epochs are fenced).
    pub epoch: i16,
    /// `transaction.timeout.ms` of the producer.
    pub timeout_ms: i32,
    /// Where its transaction stands.
    pub state: TxnState,
    /// The partitions in the open transaction.
    pub partitions: BTreeSet<(String, i32)>,
    /// When the open transaction started (ms since epoch).
    pub start_ms: i64,
    /// When the state last changed (ms since epoch).
    pub last_update_ms: i64,
    /// Offsets sent with TxnOffsetCommit, committed with the transaction.
    #[serde(default)]
    pub pending_offsets: Vec<PendingOffset>,
}

/// Settings (Kafka's names).
#[derive(Debug, Clone)]
pub struct TxnConfig {
    /// `transaction.max.timeout.ms`.
    pub max_timeout_ms: i32,
    /// `transaction.state.log.num.partitions`.
    pub partitions: i32,
    /// `transaction.state.log.segment.bytes`.
    pub segment_bytes: u64,
}

/// The transaction coordinator. Cheap to clone (a handle): the timer holds a clone.
#[derive(Clone)]
pub struct TransactionCoordinator {
    cfg: Arc<TxnConfig>,
    topic: Arc<InternalTopic>,
    txns: Arc<Mutex<HashMap<String, TxnMetadata>>>,
    /// Where the offsets of committed transactions go.
    groups: GroupCoordinator,
}

type TxnResult<T> = Result<T, ResponseError>;

impl TransactionCoordinator {
    /// Replays `__transaction_state` and finishes any transaction caught between its decision
    /// and its markers. It keeps a handle on `groups`.
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
        let coord = TransactionCoordinator { cfg: Arc::new(cfg), topic: Arc::new(topic), txns: Arc::new(Mutex::new(HashMap::new())), groups: groups.clone() };
        for (id, mut m) in txns {
            if matches!(m.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
                let outcome = if m.state == TxnState::PrepareCommit { TxnOutcome::Commit } else { TxnOutcome::Abort };
                tracing::info!(transactional_id = %id, ?outcome, "completing a transaction decided before the restart");
                if let Err(e) = coord.complete(&mut m, outcome) {
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
    ) -> TxnResult<(i64, i16)> {
        if timeout_ms <= 0 || timeout_ms > self.cfg.max_timeout_ms {
            return Err(ResponseError::InvalidTransactionTimeout);
        }
        let mut txns = self.lock();
        let now = now_ms();
        let new_id = || producer_ids.next_id().map_err(|_| ResponseError::KafkaStorageError);
        let m = match txns.get(id).cloned() {
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
                if m.epoch >= LAST_EPOCH {
                    m.producer_id = new_id()?;
                    m.epoch = 0;
                } else {
                    m.epoch += 1;
                }
                if m.state == TxnState::Ongoing {
                    // Abort the previous instance's transaction, with the new epoch so it is fenced.
                    self.complete(&mut m, TxnOutcome::Abort)?;
                }
                m.state = TxnState::Empty;
                m.timeout_ms = timeout_ms;
                m.partitions.clear();
                m.pending_offsets.clear();
                m.last_update_ms = now;
                m
            }
        };
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

    /// AddOffsetsToTxn: the `__consumer_offsets` partition of `group` joins the transaction.
    pub fn add_offsets(&self, id: &str, pid: i64, epoch: i16, group: &str) -> TxnResult<()> {
        let offsets_partition = self.groups.offsets_partition(group)?;
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
    pub fn end_txn(&self, id: &str, pid: i64, epoch: i16, outcome: TxnOutcome) -> TxnResult<()> {
        let commit = outcome.is_commit();
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
        self.complete(&mut updated, outcome)?;
        *m = updated;
        Ok(())
    }

    /// Writes the markers, applies (or drops) pending offsets and records the completion.
    fn complete(&self, m: &mut TxnMetadata, outcome: TxnOutcome) -> TxnResult<()> {
        let commit = outcome.is_commit();
        let logs = self.topic.logs();
        for (topic, partition) in &m.partitions {
            let Some(p) = logs.partition(topic, *partition) else { continue };
            if let Err(e) = p.append_marker(m.producer_id, m.epoch, commit, COORDINATOR_EPOCH) {
                tracing::error!(topic = %topic, partition, error = %e, "cannot write transaction marker");
                return Err(ResponseError::CoordinatorNotAvailable);
            }
        }
        if commit {
            let mut by_group: HashMap<String, Vec<PartitionOffset>> = HashMap::new();
            let now = now_ms();
            for o in m.pending_offsets.drain(..) {
                by_group.entry(o.group).or_default().push(PartitionOffset {
                    topic: o.topic,
                    partition: o.partition,
                    committed: Committed { offset: o.offset, leader_epoch: o.leader_epoch, metadata: o.metadata, commit_timestamp: now },
                });
            }
            for (group, offsets) in by_group {
                self.groups.commit(&group, offsets)?;
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
    pub fn abort_timed_out(&self) {
        let now = now_ms();
        let mut txns = self.lock();
        for m in txns.values_mut() {
            if m.state == TxnState::Ongoing && now - m.start_ms > m.timeout_ms as i64 {
                tracing::info!(transactional_id = %m.transactional_id, "aborting a transaction past its timeout");
                let mut updated = m.clone();
                updated.epoch = updated.epoch.saturating_add(1);
                updated.state = TxnState::PrepareAbort;
                if self.persist(&updated).is_ok() && self.complete(&mut updated, TxnOutcome::Abort).is_ok() {
                    *m = updated;
                }
            }
        }
    }

    /// Every transactional id's state, by id, for the admin APIs.
    pub fn list(&self) -> Vec<TxnMetadata> {
        let mut v: Vec<TxnMetadata> = self.lock().values().cloned().collect();
        v.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        v
    }

    /// Aborts timed-out transactions every `every_ms`
    /// (`transaction.abort.timed.out.transaction.cleanup.interval.ms`) until `shutdown` changes.
    pub async fn run_timers(self, every_ms: u64, shutdown: watch::Receiver<bool>) {
        run_every(Duration::from_millis(every_ms), shutdown, || {
            let txns = self.clone();
            move || txns.abort_timed_out()
        })
        .await
    }
}
