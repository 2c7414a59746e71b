//! Kafka's LocalLog: one partition's segments on disk. The last segment is the active one that
//! appends go to; it is rolled when full, old or out of relative offsets, flushed by the flush
//! policy, and closed segments are replaced by the cleaner's output through a `.swap` file.
//! Callers hold the partition lock around every method.

use super::batch::BatchHeader;
use super::error::LogError;
use super::producer_state::{BatchMeta, ProducerStateManager};
use super::segment::{self, Segment};
use super::validator::ValidBatch;
use super::config::LogConfig;
use crate::util::fs::list_dir;
use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// Per-partition file holding the log start offset moved by DeleteRecords.
pub(super) const LOG_START_FILE: &str = "log-start-offset";

/// The segments of one partition and the state appends move forward.
pub(super) struct LocalLog {
    /// The partition's settings (replaced by AlterConfigs).
    pub(super) config: LogConfig,
    /// By base offset; the last one is the active segment.
    pub(super) segments: BTreeMap<i64, Segment>,
    /// The log end offset: the offset the next append gets.
    pub(super) next_offset: i64,
    /// Records appended since the last flush (for `flush.messages`).
    pub(super) unflushed: i64,
    /// When the active segment was last flushed (for `flush.ms`).
    pub(super) last_flush: Instant,
    /// The idempotent producers' and transactions' state.
    pub(super) producers: ProducerStateManager,
    /// The offset of the newest producer snapshot on disk.
    pub(super) snapshot_offset: Option<i64>,
    /// Log start set by DeleteRecords (persisted); the first segment's base may be lower.
    pub(super) log_start: i64,
    /// Base offset of the last segment the cleaner has compacted (segments above it are dirty).
    pub(super) cleaned_upto: Option<i64>,
    /// Rolled segments' files not fsynced yet: as Kafka does, a roll leaves that to the
    /// background flusher (`sync_pending`) rather than stall appends behind the lock.
    pub(super) unsynced: Vec<Arc<std::fs::File>>,
    /// Rolls so far, and how many of them the directory has been fsynced after (each adds a file).
    pub(super) dir_epoch: u64,
    /// The `dir_epoch` the last directory fsync covered.
    pub(super) dir_synced: u64,
}

impl LocalLog {
    /// The segment appends go to; `None` only once the partition was deleted.
    pub(super) fn active(&mut self) -> Option<&mut Segment> {
        self.segments.values_mut().next_back()
    }

    /// The last stable offset: below it every transaction is decided.
    pub(super) fn last_stable_offset(&self) -> i64 {
        self.producers.first_unstable_offset().unwrap_or(self.next_offset).min(self.next_offset)
    }

    /// The log start offset: the first segment's base, or higher after DeleteRecords.
    pub(super) fn start_offset(&self) -> i64 {
        self.segments.keys().next().copied().unwrap_or(self.next_offset).max(self.log_start)
    }

    /// Rolls when the next batch would not fit, the indexes are full, `segment.ms` passed, or
    /// its last offset would be more than i32::MAX past the base (Kafka's segment invariant).
    pub(super) fn maybe_roll(&mut self, dir: &Path, next: &BatchHeader) -> io::Result<()> {
        let cfg_bytes = self.config.segment_bytes;
        let segment_ms = self.config.segment_ms;
        let Some(seg) = self.active() else { return Ok(()) };
        if seg.is_empty() {
            return Ok(());
        }
        let full = seg.size() + next.size as u64 > cfg_bytes;
        let old = SystemTime::now().duration_since(seg.created()).map(|d| d.as_millis() as i64 >= segment_ms).unwrap_or(false);
        let overflow = next.last_offset() - seg.base_offset > i32::MAX as i64;
        if full || old || overflow || seg.indexes_full()? {
            self.roll(dir)?;
        }
        Ok(())
    }

    /// Seals the active segment and starts a new one at the log end offset, with a producer
    /// snapshot there.
    pub(super) fn roll(&mut self, dir: &Path) -> io::Result<()> {
        let base = self.next_offset;
        // The new segment first: if it cannot be made (disk full), nothing has changed.
        let seg = Segment::create(dir, base, self.config.segment_index_bytes, self.config.index_interval_bytes)?;
        if let Some(old) = self.active() {
            old.seal()?;
            // A sealed segment is never written again: it is fsynced once, by the next flush
            // pass or acks.all.fsync round (an fsync of up to a whole segment here would hold
            // every append to this partition for a second).
            let file = old.file()?;
            self.unsynced.push(file);
        }
        // The new file's directory entry must survive a power loss too: fsynced with the above.
        self.dir_epoch += 1;
        self.segments.insert(base, seg);
        // As Kafka does at every roll: recovery replays at most the active segment.
        self.producers.write_snapshot(dir, base)?;
        self.snapshot_offset = Some(base);
        Ok(())
    }

    /// Producer-sequence checks for a whole append, in order, without touching the real state
    /// until every batch has passed. Returns the duplicate when the append is a retry.
    pub(super) fn check_sequences(&self, valid: &[ValidBatch]) -> Result<Option<BatchMeta>, LogError> {
        let with_pid: Vec<&BatchHeader> = valid.iter().map(|v| &v.header).filter(|h| h.has_producer_id()).collect();
        match with_pid.as_slice() {
            [] => Ok(None),
            [one] => Ok(self.producers.check(one)?),
            many => {
                let mut scratch = self.producers.scratch_for(many.iter().map(|h| h.producer_id));
                let mut offset = self.next_offset;
                for h in many {
                    if let Some(dup) = scratch.check(h)? {
                        return Ok(Some(dup));
                    }
                    scratch.update(&BatchHeader { base_offset: offset, ..**h }, None);
                    offset += h.last_offset_delta as i64 + 1;
                }
                Ok(None)
            }
        }
    }

    /// Flushes the active segment once `flush.messages` are unflushed; says whether it did.
    pub(super) fn maybe_flush(&mut self) -> io::Result<bool> {
        let due = self.unflushed >= self.config.flush_messages.max(1);
        if due {
            self.flush()?;
        }
        Ok(due)
    }

    /// `flush.messages` / `flush.ms` for the active segment (rolled ones: `sync_pending`).
    pub(super) fn flush(&mut self) -> io::Result<()> {
        if let Some(seg) = self.segments.values().next_back() {
            seg.flush()?;
        }
        self.unflushed = 0;
        self.last_flush = Instant::now();
        Ok(())
    }
}


/// `<first>.<end>.swap`: a cleaned segment replacing every segment based in [first, end).
pub(super) fn swap_name(first: i64, end: i64) -> String {
    format!("{}.{}.swap", segment::file_stem(first), segment::file_stem(end))
}

/// The `(first, end)` of a `.swap` file name.
pub(super) fn parse_swap_name(name: &str) -> Option<(i64, i64)> {
    let (first, end) = name.strip_suffix(".swap")?.split_once('.')?;
    Some((segment::parse_stem(&format!("{first}.log"), ".log")?, segment::parse_stem(&format!("{end}.log"), ".log")?))
}

/// Fsyncs a directory, so the entries a rename or create made survive a power loss.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Deletes the files of every segment based in [first, end), then renames the swap file to
/// `<first>.log`. Idempotent, so recovery can run it again after a crash part-way.
pub(super) fn finish_swap(dir: &Path, first: i64, end: i64, swap: &Path) -> io::Result<()> {
    for name in list_dir(dir)? {
        let base = [".log", ".index", ".timeindex"].iter().find_map(|ext| segment::parse_stem(&name, ext));
        if base.is_some_and(|b| b >= first && b < end) {
            std::fs::remove_file(dir.join(&name))?;
        }
    }
    std::fs::rename(swap, segment::file_path(dir, first, ".log"))?;
    sync_dir(dir)
}
