//! Per-partition producer state for idempotent producers, after Kafka's `ProducerStateManager`.
//!
//! For every producer id seen in the partition it keeps the epoch and the last five batches'
//! sequence ranges and offsets, so that a retried batch is recognised and acknowledged with its
//! original offsets instead of being stored twice, and a gap is refused.
//!
//! Durability: a snapshot (`<offset, 20 digits>.snapshot`, JSON) is written when a segment rolls
//! and at clean shutdown; on open the newest snapshot at or below the log end is loaded and the
//! batches after it are replayed from the log, so a restart (or kill -9) keeps deduplicating.

use super::batch::BatchHeader;
use super::segment::OFFSET_DIGITS;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::Path;

/// How many recent batches per producer are remembered for duplicate detection (Kafka: 5).
const RETAINED_BATCHES: usize = 5;

/// How many snapshots a write leaves on disk: the newest, and one in case it is unreadable.
const SNAPSHOTS_KEPT: usize = 2;

/// One appended batch of a producer, as kept for duplicate detection (Kafka's `BatchMetadata`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchMeta {
    /// The sequence of its first record.
    pub first_seq: i32,
    /// The sequence of its last record.
    pub last_seq: i32,
    /// The offset of its first record.
    pub first_offset: i64,
    /// The offset of its last record.
    pub last_offset: i64,
    /// Its max timestamp (ms).
    pub timestamp: i64,
}

/// What a partition knows of one producer id (Kafka's `ProducerStateEntry`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProducerEntry {
    /// The producer's current epoch; an older one is fenced.
    pub epoch: i16,
    /// Its last batches of this epoch, oldest first, at most `RETAINED_BATCHES`.
    pub batches: VecDeque<BatchMeta>,
    /// The largest max timestamp of its batches (ms): when it was last active, for expiry.
    pub last_timestamp: i64,
    /// First offset of the producer's open transaction in this partition.
    #[serde(default)]
    pub txn_first_offset: Option<i64>,
}

/// An aborted transaction's range, for read_committed fetches (Kafka's `.txnindex`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbortedTxn {
    /// The producer whose transaction was aborted.
    pub producer_id: i64,
    /// The offset of the transaction's first batch in this partition.
    pub first_offset: i64,
    /// Offset of the abort marker.
    pub last_offset: i64,
}

/// Why a producer's batch is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SequenceError {
    /// The batch's epoch is older than the producer's: a zombie, fenced (INVALID_PRODUCER_EPOCH).
    #[error("producer epoch {got} is older than the current epoch {current}")]
    InvalidProducerEpoch {
        /// The batch's epoch.
        got: i16,
        /// The producer's epoch.
        current: i16,
    },
    /// The batch's base sequence does not follow the last batch's (OUT_OF_ORDER_SEQUENCE_NUMBER).
    #[error("out of order sequence number: expected {expected}, got {got}")]
    OutOfOrder {
        /// The sequence that would follow.
        expected: i32,
        /// The batch's base sequence.
        got: i32,
    },
}

/// One producer as DescribeProducers shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerSummary {
    /// The producer id.
    pub producer_id: i64,
    /// Its current epoch.
    pub epoch: i16,
    /// The sequence of its last batch (-1 if none is kept).
    pub last_sequence: i32,
    /// The timestamp of its last batch.
    pub last_timestamp: i64,
    /// The first offset of its open transaction, if it has one.
    pub txn_first_offset: Option<i64>,
}

/// One partition's producers and aborted transactions (Kafka's `ProducerStateManager`).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ProducerStateManager {
    producers: HashMap<i64, ProducerEntry>,
    /// Aborted transactions, in marker order.
    aborted: Vec<AbortedTxn>,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    offset: i64,
    producers: Vec<(i64, ProducerEntry)>,
    #[serde(default)]
    aborted: Vec<AbortedTxn>,
}

fn in_sequence(last: i32, next: i32) -> bool {
    next as i64 == last as i64 + 1 || (next == 0 && last == i32::MAX)
}

impl ProducerStateManager {
    /// Checks a batch against the producer's state. `Ok(Some(meta))` means it duplicates a
    /// recent batch (answer with `meta`'s offsets); `Ok(None)` means append it.
    pub fn check(&self, h: &BatchHeader) -> Result<Option<BatchMeta>, SequenceError> {
        if !h.has_producer_id() {
            return Ok(None);
        }
        let Some(entry) = self.producers.get(&h.producer_id) else {
            // No state (new producer, or its history was removed): any sequence is accepted.
            return Ok(None);
        };
        if h.producer_epoch < entry.epoch {
            return Err(SequenceError::InvalidProducerEpoch { got: h.producer_epoch, current: entry.epoch });
        }
        if h.is_control() {
            // Transaction markers carry no sequence.
            return Ok(None);
        }
        if h.producer_epoch > entry.epoch {
            // A bumped epoch starts again at sequence 0.
            return if h.base_sequence == 0 { Ok(None) } else { Err(SequenceError::OutOfOrder { expected: 0, got: h.base_sequence }) };
        }
        if let Some(dup) = entry.batches.iter().find(|b| b.first_seq == h.base_sequence && b.last_seq == h.last_sequence()) {
            return Ok(Some(*dup));
        }
        match entry.batches.back() {
            Some(last) if !in_sequence(last.last_seq, h.base_sequence) => {
                Err(SequenceError::OutOfOrder { expected: last.last_seq.wrapping_add(1), got: h.base_sequence })
            }
            _ => Ok(None),
        }
    }

    /// Records an appended batch (with its final offsets). `marker` is the control record's
    /// type for a control batch: Some(true) commit, Some(false) abort.
    pub fn update(&mut self, h: &BatchHeader, marker: Option<bool>) {
        if !h.has_producer_id() {
            return;
        }
        let entry = self.producers.entry(h.producer_id).or_default();
        if h.producer_epoch != entry.epoch {
            entry.epoch = h.producer_epoch;
            entry.batches.clear();
        }
        if h.is_control() {
            // A transaction marker ends the producer's open transaction here.
            if let Some(first) = entry.txn_first_offset.take() {
                if marker == Some(false) {
                    self.aborted.push(AbortedTxn { producer_id: h.producer_id, first_offset: first, last_offset: h.base_offset });
                }
            }
            return;
        }
        if h.is_transactional() && entry.txn_first_offset.is_none() {
            entry.txn_first_offset = Some(h.base_offset);
        }
        entry.batches.push_back(BatchMeta {
            first_seq: h.base_sequence,
            last_seq: h.last_sequence(),
            first_offset: h.base_offset,
            last_offset: h.last_offset(),
            timestamp: h.max_timestamp,
        });
        while entry.batches.len() > RETAINED_BATCHES {
            entry.batches.pop_front();
        }
        entry.last_timestamp = entry.last_timestamp.max(h.max_timestamp);
    }

    /// Forgets producers idle for `expiration_ms` with no open transaction (Kafka's
    /// producer.id.expiration.ms). Says whether any was forgotten.
    pub fn expire_idle(&mut self, now_ms: i64, expiration_ms: i64) -> bool {
        let before = self.producers.len();
        self.producers.retain(|_, e| e.txn_first_offset.is_some() || now_ms.saturating_sub(e.last_timestamp) < expiration_ms);
        before != self.producers.len()
    }

    /// Idle producers (`expire_idle`) and aborted ranges wholly below the log start. Says
    /// whether anything was forgotten.
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64, log_start: i64) -> bool {
        let aborted = self.aborted.len();
        self.aborted.retain(|a| a.last_offset >= log_start);
        self.expire_idle(now_ms, expiration_ms) | (aborted != self.aborted.len())
    }

    /// The first offset of the oldest open transaction: the last stable offset, if any is open.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.producers.values().filter_map(|e| e.txn_first_offset).min()
    }

    /// The producers known, by id, for DescribeProducers.
    pub fn describe(&self) -> Vec<ProducerSummary> {
        let mut v: Vec<_> = self
            .producers
            .iter()
            .map(|(pid, e)| ProducerSummary {
                producer_id: *pid,
                epoch: e.epoch,
                last_sequence: e.batches.back().map(|b| b.last_seq).unwrap_or(-1),
                last_timestamp: e.last_timestamp,
                txn_first_offset: e.txn_first_offset,
            })
            .collect();
        v.sort_by_key(|p| p.producer_id);
        v
    }

    /// The producer's current epoch, if known.
    pub fn epoch_of(&self, producer_id: i64) -> Option<i16> {
        self.producers.get(&producer_id).map(|e| e.epoch)
    }

    /// Aborted transactions that overlap offsets `[from, to)` (what a read_committed fetch of
    /// that range must be told about).
    pub fn aborted_in(&self, from: i64, to: i64) -> Vec<AbortedTxn> {
        self.aborted.iter().filter(|a| a.last_offset >= from && a.first_offset < to).copied().collect()
    }

    /// The file name of the snapshot as of `offset`: the offset in `OFFSET_DIGITS` digits, `.snapshot`.
    pub fn snapshot_name(offset: i64) -> String {
        format!("{offset:0OFFSET_DIGITS$}.snapshot")
    }

    /// Writes the state as of `offset` (the log end) and keeps only the `SNAPSHOTS_KEPT` newest.
    pub fn write_snapshot(&self, dir: &Path, offset: i64) -> io::Result<()> {
        let snap = Snapshot { offset, producers: self.producers.iter().map(|(k, v)| (*k, v.clone())).collect(), aborted: self.aborted.clone() };
        let json = serde_json::to_vec(&snap).map_err(io::Error::other)?;
        // Replaced atomically but not fsynced: a lost or torn snapshot only means replaying more
        // of the log on the next start (an unreadable one is skipped).
        let name = Self::snapshot_name(offset);
        let tmp = dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, &json)?;
        std::fs::rename(&tmp, dir.join(&name))?;
        let mut offsets = Self::snapshot_offsets(&crate::util::fs::list_dir(dir)?);
        offsets.sort_unstable();
        let n = offsets.len();
        for o in offsets.into_iter().take(n.saturating_sub(SNAPSHOTS_KEPT)) {
            let _ = std::fs::remove_file(dir.join(Self::snapshot_name(o)));
        }
        Ok(())
    }

    fn snapshot_offsets(names: &[String]) -> Vec<i64> {
        names.iter().filter_map(|n| super::segment::parse_stem(n, ".snapshot")).collect()
    }

    /// Loads the newest readable snapshot at or below `log_end` (`names`: the entries of `dir`);
    /// returns it and the offset from which the log must be replayed. Snapshots past the log end
    /// (after truncation) are removed.
    pub fn load(dir: &Path, names: &[String], log_end: i64) -> io::Result<(ProducerStateManager, i64)> {
        let mut offsets = Self::snapshot_offsets(names);
        offsets.sort_unstable_by(|a, b| b.cmp(a));
        for o in offsets {
            let path = dir.join(Self::snapshot_name(o));
            if o > log_end {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            let parsed = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice::<Snapshot>(&b).ok());
            match parsed {
                Some(s) => return Ok((ProducerStateManager { producers: s.producers.into_iter().collect(), aborted: s.aborted }, s.offset)),
                None => tracing::warn!(path = %path.display(), "ignoring unreadable producer snapshot"),
            }
        }
        Ok((ProducerStateManager::default(), 0))
    }

    /// A copy of just these producers' entries, to check a multi-batch append against.
    pub fn scratch_for(&self, pids: impl Iterator<Item = i64>) -> ProducerStateManager {
        let producers = pids.filter_map(|p| self.producers.get(&p).map(|e| (p, e.clone()))).collect();
        ProducerStateManager { producers, aborted: Vec::new() }
    }

    /// No producer is known.
    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pid: i64, epoch: i16, seq: i32, count: i32, base_offset: i64) -> BatchHeader {
        BatchHeader {
            base_offset,
            size: 100,
            magic: 2,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 1,
            max_timestamp: 1,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            record_count: count,
        }
    }

    #[test]
    fn duplicates_gaps_and_fencing() {
        let mut s = ProducerStateManager::default();
        let b0 = header(7, 0, 0, 3, 0);
        assert_eq!(s.check(&b0), Ok(None));
        s.update(&b0, None);
        let b1 = header(7, 0, 3, 2, 3);
        assert_eq!(s.check(&b1), Ok(None));
        s.update(&b1, None);
        // A retry of b0 is a duplicate with b0's offsets.
        assert_eq!(s.check(&header(7, 0, 0, 3, 99)).unwrap().map(|m| m.first_offset), Some(0));
        assert!(matches!(s.check(&header(7, 0, 9, 1, 5)), Err(SequenceError::OutOfOrder { expected: 5, got: 9 })));
        assert!(matches!(s.check(&header(7, -1, 5, 1, 5)), Err(SequenceError::InvalidProducerEpoch { .. })));
        assert_eq!(s.check(&header(7, 1, 0, 1, 5)), Ok(None));
        assert!(s.check(&header(7, 1, 4, 1, 5)).is_err());
    }

    #[test]
    fn snapshot_roundtrip() {
        let d = tempfile::tempdir().unwrap();
        let mut s = ProducerStateManager::default();
        s.update(&header(1, 0, 0, 1, 0), None);
        s.write_snapshot(d.path(), 1).unwrap();
        let (l, at) = ProducerStateManager::load(d.path(), &crate::util::fs::list_dir(d.path()).unwrap(), 5).unwrap();
        assert_eq!(at, 1);
        assert!(l.check(&header(1, 0, 0, 1, 9)).unwrap().is_some());
        let (_, at) = ProducerStateManager::load(d.path(), &crate::util::fs::list_dir(d.path()).unwrap(), 0).unwrap();
        assert_eq!(at, 0);
    }
}
