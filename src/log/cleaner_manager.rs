//! Kafka's LogCleanerManager, for one partition: which of its segments the cleaner may compact
//! now, how far it got, and swapping the cleaned copy in under the partition lock.

use super::local_log::{finish_swap, swap_name, sync_dir};
use super::partition::Partition;
use super::producer_state::AbortedTxn;
use super::segment::Segment;
use super::validator::ValidationConfig;
use crate::util::time::now_ms;
use std::io;
use std::path::{Path, PathBuf};

/// A closed segment the cleaner may rewrite.
#[derive(Debug, Clone)]
pub struct CleanableSegment {
    /// The segment's base offset.
    pub base_offset: i64,
    /// Its `.log` file.
    pub path: PathBuf,
    /// Its size when the plan was made (the swap checks it is unchanged).
    pub size: u64,
    /// One past the segment's last offset.
    pub next_offset: i64,
}

/// What a pass over one partition works from, taken under the lock.
#[derive(Debug, Clone)]
pub struct CleanPlan {
    /// The segments to compact, oldest first.
    pub segments: Vec<CleanableSegment>,
    /// Aborted transactions below the last stable offset (their data is dropped).
    pub aborted: Vec<AbortedTxn>,
    /// `delete.retention.ms`: how long tombstones stay after their first compaction.
    pub delete_retention_ms: i64,
    /// `segment.bytes`: the most a rewritten group may hold.
    pub segment_bytes: u64,
    /// The most a stored batch may decompress to (`max.message.bytes`).
    pub inflate_limit: usize,
}

impl Partition {
    /// What the log cleaner may compact now, if anything: closed segments wholly below the last
    /// stable offset and older than `min.compaction.lag.ms`, when the dirty share of them reaches
    /// `min.cleanable.dirty.ratio`.
    pub fn clean_plan(&self) -> Option<CleanPlan> {
        let log = self.lock();
        let cfg = &log.config;
        if !cfg.cleanup_policy.compact() {
            return None;
        }
        let lso = log.last_stable_offset();
        let lag_horizon = now_ms().saturating_sub(cfg.min_compaction_lag_ms);
        let active = *log.segments.keys().next_back()?;
        let segments: Vec<CleanableSegment> = log
            .segments
            .values()
            .take_while(|s| s.base_offset != active && s.next_offset <= lso && s.max_timestamp() <= lag_horizon)
            .map(|s| CleanableSegment { base_offset: s.base_offset, path: s.log_path().to_path_buf(), size: s.size(), next_offset: s.next_offset })
            .collect();
        let total: u64 = segments.iter().map(|s| s.size).sum();
        let dirty: u64 = segments.iter().filter(|s| log.cleaned_upto.is_none_or(|c| s.base_offset > c)).map(|s| s.size).sum();
        if total == 0 || dirty == 0 || (dirty as f64) < cfg.min_cleanable_ratio * total as f64 {
            return None;
        }
        Some(CleanPlan {
            segments,
            aborted: log.producers.aborted_in(0, lso),
            delete_retention_ms: cfg.delete_retention_ms,
            segment_bytes: cfg.segment_bytes,
            inflate_limit: ValidationConfig::of(cfg).max_message_bytes,
        })
    }

    /// Replaces the closed segments `group` (base offset, expected size) with their cleaned copy,
    /// which covers offsets up to `end` (see `cleaner`). Returns false, swapping nothing, if any of
    /// them changed meanwhile (e.g. retention removed it).
    pub fn swap_cleaned(&self, group: &[(i64, u64)], end: i64, cleaned: &Path) -> io::Result<bool> {
        let mut log = self.lock();
        let (index_bytes, interval) = (log.config.segment_index_bytes, log.config.index_interval_bytes);
        let active = log.segments.keys().next_back().copied();
        let unchanged = group.iter().all(|(base, size)| Some(*base) != active && log.segments.get(base).is_some_and(|s| s.size() == *size));
        let Some(&(first, _)) = group.first() else { return Ok(false) };
        if !unchanged {
            return Ok(false);
        }
        let swap = self.dir().join(swap_name(first, end));
        std::fs::rename(cleaned, &swap)?;
        sync_dir(self.dir())?;
        finish_swap(self.dir(), first, end, &swap)?;
        for (base, _) in group {
            log.segments.remove(base);
        }
        let (mut seg, _) = Segment::open(self.dir(), first, index_bytes, interval, true)?;
        seg.seal()?;
        log.segments.insert(first, seg);
        Ok(true)
    }

    /// Records how far the cleaner got.
    pub fn cleaned_upto(&self, base: Option<i64>) {
        if base.is_some() {
            self.lock().cleaned_upto = base;
        }
    }

}
