//! One partition's log, what Kafka calls `UnifiedLog`: appends (validated by the `validator`,
//! sequenced by the producer state, written to the `LocalLog`), reads, the last stable offset,
//! offsets by timestamp, retention and DeleteRecords. Opening is the `log_loader`'s, fsync
//! sharing the `group_commit`'s, compaction bookkeeping the `cleaner_manager`'s.
//!
//! Appends and reads take a short synchronous lock (never held across an `.await`); every
//! append publishes the new log end offset on a `watch` channel that long-polling fetches wait on.

use super::batch::{self, BatchHeader};
use super::compression;
use super::error::LogError;
use super::group_commit::{GroupCommit, SyncStats};
use super::local_log::{sync_dir, LocalLog, LOG_START_FILE};
use super::log_loader::{self, Shutdown};
use super::producer_state::{AbortedTxn, ProducerSummary, SequenceError};
use super::records;
use super::segment::{self, Segment};
use super::validator::{self, AppendOrigin, ValidBatch, ValidationConfig};
use super::config::LogConfig;
use crate::util::time::now_ms;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};
use tokio::sync::watch;

/// Kafka's leader epoch; one node, one epoch, everywhere (KIP-320).
pub const LEADER_EPOCH: i32 = 0;

/// DeleteRecords' offset for "up to the high watermark" (Kafka's `DeleteRecordsRequest.HIGH_WATERMARK`).
const DELETE_TO_HIGH_WATERMARK: i64 = -1;

/// Where an append landed.
#[derive(Debug, Clone, Copy)]
pub struct AppendInfo {
    /// The first offset of the append (of the original, for a retried duplicate).
    pub base_offset: i64,
    /// The log end offset right after the append (what `sync_upto` must cover for it).
    pub log_end_offset: i64,
    /// The broker's timestamp, for `LogAppendTime` topics.
    pub log_append_time: Option<i64>,
    /// The log start offset after the append.
    pub log_start_offset: i64,
}

/// Which records a read may see (Kafka's `FetchIsolation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchIsolation {
    /// Everything below the high watermark (read_uncommitted).
    HighWatermark,
    /// Everything below the last stable offset, with the aborted transactions (read_committed).
    TxnCommitted,
}

/// How much a read returns.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimit {
    /// The most bytes to return.
    pub max_bytes: usize,
    /// Return the first batch whole even if it is larger than `max_bytes` (KIP-74), so a
    /// consumer always makes progress.
    pub min_one_batch: bool,
}

/// What a read returns: where the batches are, and the partition's offsets.
#[derive(Debug, Clone)]
pub struct ReadResult {
    /// Whole batches (the last possibly cut off at the byte limit); None when there is nothing.
    pub records: Option<segment::FileSlice>,
    /// The log end offset (one node: every record is replicated).
    pub high_watermark: i64,
    /// The last stable offset.
    pub last_stable_offset: i64,
    /// The log start offset.
    pub log_start_offset: i64,
    /// For read_committed: aborted transactions overlapping the range read.
    pub aborted: Vec<AbortedTxn>,
}

/// One partition's log: Kafka's `UnifiedLog`.
pub struct Partition {
    /// The topic's name.
    pub topic: String,
    /// The partition's index in the topic.
    pub index: i32,
    dir: PathBuf,
    log: Mutex<LocalLog>,
    end_offset: watch::Sender<i64>,
    group_commit: GroupCommit,
}

impl Partition {
    /// `<data>/<topic>-<index>`, Kafka's directory name.
    pub fn dir_name(topic: &str, index: i32) -> String {
        format!("{topic}-{index}")
    }

    /// Opens (or creates) the partition in `data_dir` (see `log_loader`).
    pub fn open(data_dir: &Path, topic: &str, index: i32, config: LogConfig, shutdown: Shutdown) -> io::Result<Partition> {
        let dir = data_dir.join(Self::dir_name(topic, index));
        let log = log_loader::load(&dir, topic, index, config, shutdown)?;
        let (end_offset, _) = watch::channel(log.next_offset);
        Ok(Partition { topic: topic.to_string(), index, dir, log: Mutex::new(log), end_offset, group_commit: GroupCommit::default() })
    }

    /// `acks.all.fsync` calls and the fsyncs they shared.
    pub fn sync_stats(&self) -> SyncStats {
        self.group_commit.stats()
    }

    /// Returns once every offset below `offset` is fsynced (`acks.all.fsync`), by group commit:
    /// one round fsyncs the active segment and any rolled segment still waiting for it.
    pub fn sync_upto(&self, offset: i64) -> io::Result<()> {
        self.group_commit.sync_upto(offset, || self.sync_pending(true))
    }

    /// Fsyncs, outside the partition lock, the rolled segments not fsynced yet, the directory if
    /// a roll added a file since it was last fsynced, and with `active` the active segment.
    /// Returns the log end offset when it started: with `active`, everything below it is durable.
    /// An entry leaves the list only after its fsync succeeded, so a concurrent caller that saw
    /// it fsyncs it too rather than count on one still in flight.
    fn sync_pending(&self, active: bool) -> io::Result<i64> {
        let (files, dir_epoch, dir_needed, upto) = {
            let log = self.lock();
            let mut files = log.unsynced.clone();
            if active {
                if let Some(seg) = log.segments.values().next_back() {
                    files.push(seg.file()?);
                }
            }
            (files, log.dir_epoch, log.dir_synced < log.dir_epoch, log.next_offset)
        };
        if files.is_empty() && !dir_needed {
            return Ok(upto);
        }
        for f in &files {
            f.sync_data()?;
        }
        if dir_needed {
            sync_dir(&self.dir)?;
        }
        let mut log = self.lock();
        log.unsynced.retain(|f| !files.iter().any(|g| Arc::ptr_eq(f, g)));
        log.dir_synced = log.dir_synced.max(dir_epoch);
        Ok(upto)
    }

    /// Rolled segments (and directory entries) still waiting for their fsync.
    #[cfg(test)]
    fn pending_syncs(&self) -> usize {
        let log = self.lock();
        log.unsynced.len() + usize::from(log.dir_synced < log.dir_epoch)
    }

    /// The partition's directory.
    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The partition's state, locked.
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, LocalLog> {
        // A panic while holding the lock cannot leave a half-applied append visible (size is
        // advanced only after the write), so a poisoned lock is still safe to use.
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A receiver of the log end offset, changed by every append.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.end_offset.subscribe()
    }

    /// The offset the next append gets.
    pub fn log_end_offset(&self) -> i64 {
        self.lock().next_offset
    }

    /// The first offset a read may ask for.
    pub fn log_start_offset(&self) -> i64 {
        self.lock().start_offset()
    }

    /// The partition's settings.
    pub fn config(&self) -> LogConfig {
        self.lock().config.clone()
    }

    /// Replaces the partition's settings (AlterConfigs).
    pub fn set_config(&self, config: LogConfig) {
        self.lock().config = config;
    }

    /// Appends one partition's batches from `origin`: the validator checks them first (format,
    /// size, records, Kafka's client rules), then the producer sequences; then they are stamped
    /// and written in order. Nothing is written unless every batch is valid. A retried batch of an
    /// idempotent producer is not written again: its original offsets are returned.
    pub fn append(&self, records: &[u8], origin: AppendOrigin) -> Result<AppendInfo, LogError> {
        // Validation, and recompression where the topic asks for it, run before taking the lock,
        // so they never hold up other appends and reads.
        let (compression, limits) = {
            let log = self.lock();
            (log.config.compression, ValidationConfig::of(&log.config))
        };
        let valid = validator::validate(records, origin, &limits)?;
        let recompressed;
        let (buf, valid) = match compression {
            Some(target) if valid.iter().any(|v| !v.header.is_control() && compression::codec_of(v.header.attributes) != Ok(target)) => {
                recompressed = validator::recompress_all(records, &valid, target, limits.max_message_bytes)?;
                // Batch for batch, the same records: only the framing needs reading again.
                let headers = batch::validate_all(&recompressed)?;
                let valid = headers.into_iter().zip(&valid).map(|(header, v)| ValidBatch { header, max_timestamp: v.max_timestamp }).collect();
                (&recompressed[..], valid)
            }
            _ => (records, valid),
        };
        let mut log = self.lock();
        if let Some(dup) = log.check_sequences(&valid)? {
            return Ok(AppendInfo { base_offset: dup.first_offset, log_end_offset: log.next_offset, log_append_time: None, log_start_offset: log.start_offset() });
        }
        let append_time = log.config.log_append_time.then(now_ms);
        let base_offset = log.next_offset;
        let mut pos = 0;
        for v in &valid {
            let h = &v.header;
            let bytes = &buf[pos..pos + h.size];
            // The request's bytes are written as they came; only a copy of the header is stamped.
            let mut header = [0u8; batch::HEADER_LEN];
            header.copy_from_slice(&bytes[..batch::HEADER_LEN]);
            let body = &bytes[batch::HEADER_LEN..];
            let offset = log.next_offset;
            let mut max_timestamp = append_time.unwrap_or(h.max_timestamp);
            if append_time.is_none() && h.max_timestamp != v.max_timestamp && !h.is_control() {
                // As Kafka's validator, the batch's maxTimestamp is the largest its records carry
                // (some clients leave it at -1, a forged one could point ListOffsets anywhere).
                batch::set_max_timestamp(&mut header, body, v.max_timestamp);
                max_timestamp = v.max_timestamp;
            }
            batch::stamp(&mut header, body, offset, LEADER_EPOCH, append_time);
            let stamped = BatchHeader { base_offset: offset, max_timestamp, ..*h };
            log.maybe_roll(&self.dir, &stamped)?;
            log.active().ok_or(LogError::Deleted)?.append(&header, body, &stamped)?;
            let marker = if stamped.is_control() { batch::control_marker(bytes) } else { None };
            log.producers.update(&stamped, marker);
            log.next_offset = stamped.next_offset();
            log.unflushed += h.record_count as i64;
            pos += h.size;
        }
        let flushed = log.maybe_flush()?;
        let info = AppendInfo { base_offset, log_end_offset: log.next_offset, log_append_time: append_time, log_start_offset: log.start_offset() };
        let end = log.next_offset;
        drop(log);
        if flushed {
            // `flush.messages` covers what rolled meanwhile too, before the append is answered.
            self.sync_pending(false)?;
        }
        self.end_offset.send_replace(end);
        Ok(info)
    }

    /// Reads from `offset` (see `Segment::read` for the shaping rules). read_committed reads
    /// stop at the last stable offset and carry the aborted transactions of the range.
    pub fn read(&self, offset: i64, limit: ReadLimit, isolation: FetchIsolation) -> Result<ReadResult, LogError> {
        let read_committed = isolation == FetchIsolation::TxnCommitted;
        let log = self.lock();
        let (start, end, lso) = (log.start_offset(), log.next_offset, log.last_stable_offset());
        if offset < start || offset > end {
            return Err(LogError::OffsetOutOfRange { offset, start, end });
        }
        let upper = if read_committed { lso } else { end };
        let mut records = None;
        if offset < upper {
            for (_, seg) in log.segments.range(..=offset).next_back().into_iter().chain(log.segments.range(offset + 1..)) {
                // Compaction can leave empty segments and gaps: skip to the next data.
                if seg.is_empty() || seg.next_offset <= offset {
                    continue;
                }
                records = seg.read(offset, limit.max_bytes, limit.min_one_batch, upper)?;
                break;
            }
        }
        let aborted = if read_committed && records.is_some() { log.producers.aborted_in(offset, upper) } else { Vec::new() };
        Ok(ReadResult { records, high_watermark: end, last_stable_offset: lso, log_start_offset: start, aborted })
    }

    /// The last stable offset: below it every transaction is decided.
    pub fn last_stable_offset(&self) -> i64 {
        self.lock().last_stable_offset()
    }

    /// Writes a transaction marker (a control batch) for `producer_id`, ending its transaction
    /// in this partition. A marker from an older epoch than the partition knows is refused.
    pub fn append_marker(&self, producer_id: i64, producer_epoch: i16, commit: bool, coordinator_epoch: i32) -> Result<i64, LogError> {
        if let Some(current) = self.lock().producers.epoch_of(producer_id) {
            if producer_epoch < current {
                return Err(SequenceError::InvalidProducerEpoch { got: producer_epoch, current }.into());
            }
        }
        let buf = records::end_txn_marker(producer_id, producer_epoch, commit, coordinator_epoch, now_ms())?;
        Ok(self.append(&buf, AppendOrigin::Coordinator)?.base_offset)
    }

    /// ListOffsets by timestamp: the first record with timestamp >= `ts`, as (offset, timestamp).
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, LogError> {
        let log = self.lock();
        let limit = ValidationConfig::of(&log.config).max_message_bytes;
        for seg in log.segments.values() {
            if seg.max_timestamp() < ts {
                continue;
            }
            let mut found = None;
            seg.for_each_batch(seg.time_lookup(ts)?, |h, bytes| {
                if h.max_timestamp >= ts && !h.is_control() {
                    found = record_at_or_after(h, bytes, limit, |t| t >= ts);
                }
                found.is_none()
            })?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// ListOffsets MAX_TIMESTAMP (KIP-734): the record with the largest timestamp.
    pub fn max_timestamp_offset(&self) -> Result<Option<(i64, i64)>, LogError> {
        let log = self.lock();
        let limit = ValidationConfig::of(&log.config).max_message_bytes;
        let Some(seg) = log.segments.values().filter(|s| !s.is_empty()).max_by_key(|s| s.max_timestamp()) else {
            return Ok(None);
        };
        let max = seg.max_timestamp();
        let mut found = None;
        seg.for_each_batch(seg.base_offset, |h, bytes| {
            if h.max_timestamp == max && !h.is_control() {
                found = record_at_or_after(h, bytes, limit, |t| t == max);
            }
            found.is_none()
        })?;
        Ok(found)
    }

    /// Calls `f` with every batch from the start of the log, in offset order (used to replay
    /// internal topics on start). Stops early when `f` returns false.
    pub fn for_each_batch(&self, mut f: impl FnMut(&BatchHeader, &[u8]) -> bool) -> Result<(), LogError> {
        let log = self.lock();
        let mut go_on = true;
        for seg in log.segments.values() {
            seg.for_each_batch(seg.base_offset, |h, b| {
                go_on = f(h, b);
                go_on
            })?;
            if !go_on {
                break;
            }
        }
        Ok(())
    }

    /// Time-based flush (`flush.ms`) and the fsync of rolled segments (the asynchronous flush
    /// Kafka schedules at a roll), by the background flusher.
    pub fn flush_if_due(&self) -> io::Result<()> {
        {
            let mut log = self.lock();
            let due = log.unflushed > 0 && log.last_flush.elapsed() >= Duration::from_millis(log.config.flush_ms.max(0) as u64);
            if due {
                log.flush()?;
            }
        }
        self.sync_pending(false).map(drop)
    }

    /// Deletes whole segments past `retention.ms` / `retention.bytes`; returns how many.
    pub fn apply_retention(&self) -> io::Result<usize> {
        let mut log = self.lock();
        let now = now_ms();
        let cfg = log.config.clone();
        if !cfg.cleanup_policy.delete() {
            return Ok(0);
        }
        let expired = |s: &Segment| {
            let largest = s.max_timestamp();
            let largest = if largest >= 0 {
                largest
            } else {
                s.created().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(now)
            };
            cfg.retention_ms >= 0 && now - largest > cfg.retention_ms
        };
        // An expired active segment is rolled first so that it can go too, as Kafka does.
        let active_expired = log.segments.values().next_back().map(|s| !s.is_empty() && expired(s)).unwrap_or(false);
        if active_expired && log.segments.values().all(|s| s.is_empty() || expired(s)) {
            log.roll(&self.dir)?;
        }
        let mut total: i64 = log.segments.values().map(|s| s.size() as i64).sum();
        let mut deleted = 0;
        while log.segments.len() > 1 {
            let Some((&base, first)) = log.segments.iter().next() else { break };
            let over_size = cfg.retention_bytes >= 0 && total - first.size() as i64 >= cfg.retention_bytes;
            if !(expired(first) || over_size) {
                break;
            }
            total -= first.size() as i64;
            if let Some(seg) = log.segments.remove(&base) {
                seg.delete()?;
                deleted += 1;
            }
        }
        if deleted > 0 {
            tracing::info!(topic = %self.topic, partition = self.index, deleted, log_start_offset = log.start_offset(), "retention deleted segments");
        }
        Ok(deleted)
    }

    /// DeleteRecords: moves the log start offset up to `offset` (-1: the high watermark) and
    /// removes the segments wholly below it. Returns the new log start offset.
    pub fn delete_records(&self, offset: i64) -> Result<i64, LogError> {
        let mut log = self.lock();
        let end = log.next_offset;
        let target = if offset == DELETE_TO_HIGH_WATERMARK { end } else { offset };
        if target < 0 || target > end {
            return Err(LogError::OffsetOutOfRange { offset, start: log.start_offset(), end });
        }
        if target <= log.start_offset() {
            return Ok(log.start_offset());
        }
        crate::util::fs::write_atomic(&self.dir, LOG_START_FILE, target.to_string().as_bytes())?;
        log.log_start = target;
        while log.segments.len() > 1 {
            let Some((&base, first)) = log.segments.iter().next() else { break };
            if first.next_offset > target {
                break;
            }
            if let Some(seg) = log.segments.remove(&base) {
                seg.delete()?;
            }
        }
        tracing::info!(topic = %self.topic, partition = self.index, log_start_offset = target, "deleted records");
        Ok(target)
    }

    /// The active producers of this partition (DescribeProducers).
    pub fn producers(&self) -> Vec<ProducerSummary> {
        self.lock().producers.describe()
    }

    /// Forgets producers idle for `producer.id.expiration.ms`; a later clean shutdown then
    /// writes a snapshot without them.
    pub fn expire_producers(&self, now_ms: i64) {
        let mut log = self.lock();
        let (log_start, expiration_ms) = (log.start_offset(), log.config.producer_id_expiration_ms);
        if log.producers.expire(now_ms, expiration_ms, log_start) {
            log.snapshot_offset = None;
        }
    }

    /// Bytes on disk in the partition's segments.
    pub fn size_bytes(&self) -> u64 {
        self.lock().segments.values().map(|s| s.size()).sum()
    }

    /// Number of segments (for tests and metrics).
    pub fn segment_count(&self) -> usize {
        self.lock().segments.len()
    }

    /// Clean shutdown of this partition: seals the active segment's indexes and writes a
    /// producer snapshot. It does not fsync: LogManager::close syncs the whole data directory's
    /// file system once afterwards (one fsync per file would take seconds with many partitions).
    pub fn close(&self) -> io::Result<()> {
        let mut log = self.lock();
        if let Some(seg) = log.segments.values_mut().next_back() {
            seg.seal()?;
        }
        if log.snapshot_offset != Some(log.next_offset) {
            log.producers.write_snapshot(&self.dir, log.next_offset)?;
            log.snapshot_offset = Some(log.next_offset);
        }
        Ok(())
    }

    /// Removes the partition's directory (topic deletion).
    pub fn delete(&self) -> io::Result<()> {
        let mut log = self.lock();
        log.segments.clear();
        std::fs::remove_dir_all(&self.dir)
    }
}

/// First record of a batch whose timestamp satisfies `pred`, as (offset, timestamp). Decodes
/// the batch (decompressing if needed): used only by ListOffsets, never on produce/fetch.
fn record_at_or_after(h: &BatchHeader, bytes: &[u8], limit: usize, pred: impl Fn(i64) -> bool) -> Option<(i64, i64)> {
    match records::read(h, bytes, limit) {
        // (LogAppendTime: every record carries the batch's max timestamp, which read() gives.)
        Ok(recs) => recs.records.iter().find(|r| pred(r.timestamp)).map(|r| (r.offset, r.timestamp)),
        Err(e) => {
            tracing::warn!(error = %e, base_offset = h.base_offset, "cannot decode batch for timestamp lookup");
            Some((h.base_offset, h.max_timestamp))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::tests::sample_batch;

    /// A roll leaves the old segment's fsync (and the directory's) to the background flusher;
    /// an acks.all.fsync round or a `flush.messages` flush covers them too.
    #[test]
    fn rolled_segments_are_fsynced_later() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig { segment_bytes: 1000, ..LogConfig::default() };
        let p = Partition::open(dir.path(), "t", 0, config.clone(), Shutdown::Clean).unwrap();
        for i in 0..20 {
            p.append(&sample_batch(10, 1000 + i), AppendOrigin::Client).unwrap();
        }
        let rolled = p.segment_count() - 1;
        assert!(rolled >= 2);
        assert_eq!(p.pending_syncs(), rolled + 1, "each rolled segment, plus the directory");
        p.flush_if_due().unwrap();
        assert_eq!(p.pending_syncs(), 0);
        for i in 0..10 {
            p.append(&sample_batch(10, 2000 + i), AppendOrigin::Client).unwrap();
        }
        assert!(p.pending_syncs() > 0);
        p.sync_upto(p.log_end_offset()).unwrap();
        assert_eq!(p.pending_syncs(), 0);

        let every = LogConfig { segment_bytes: 1000, flush_messages: 1, ..LogConfig::default() };
        let q = Partition::open(dir.path(), "u", 0, every, Shutdown::Clean).unwrap();
        for i in 0..20 {
            q.append(&sample_batch(10, 1000 + i), AppendOrigin::Client).unwrap();
        }
        assert!(q.segment_count() > 2);
        assert_eq!(q.pending_syncs(), 0, "flush.messages=1 leaves nothing unsynced");
    }

    /// After a clean shutdown the sealed segments open without reading them or their indexes;
    /// after a crash they are scanned. Either way offsets, reads and timestamp lookups agree.
    #[test]
    fn reopen_with_sealed_segments() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig { segment_bytes: 2000, index_interval_bytes: 300, ..LogConfig::default() };
        let p = Partition::open(dir.path(), "t", 0, config.clone(), Shutdown::Clean).unwrap();
        for i in 0..100i64 {
            p.append(&sample_batch(10, if i == 42 { 9_000_000 } else { 1000 + 10 * i }), AppendOrigin::Client).unwrap();
        }
        p.close().unwrap();
        let segments = p.segment_count();
        assert!(segments > 5, "{segments} segments");
        drop(p);
        let pdir = dir.path().join("t-0");
        let mut bases: Vec<i64> = crate::util::fs::list_dir(&pdir).unwrap().iter().filter_map(|n| segment::parse_stem(n, ".log")).collect();
        bases.sort_unstable();
        for shutdown in [Shutdown::Clean, Shutdown::Unclean] {
            // Offset indexes of sealed segments removed: after a clean open they must still be
            // absent (never opened); lookups then walk from each segment's start.
            for b in &bases[..bases.len() - 1] {
                std::fs::remove_file(segment::file_path(&pdir, *b, ".index")).ok();
            }
            let p = Partition::open(dir.path(), "t", 0, config.clone(), shutdown).unwrap();
            if shutdown == Shutdown::Clean {
                assert!(!segment::file_path(&pdir, bases[0], ".index").exists());
            }
            assert_eq!((p.segment_count(), p.log_end_offset()), (segments, 1000));
            for offset in (0..1000).step_by(7) {
                let bytes = p.read(offset, ReadLimit { max_bytes: 1, min_one_batch: true }, FetchIsolation::HighWatermark).unwrap().records.unwrap().read_bytes().unwrap();
                let h = batch::parse_header(&bytes).unwrap();
                assert_eq!(h.base_offset, offset / 10 * 10, "{shutdown:?} offset {offset}");
            }
            assert_eq!(p.offset_for_timestamp(1_000_000).unwrap().map(|(o, _)| o), Some(420));
            assert_eq!(p.offset_for_timestamp(1305).unwrap().map(|(o, _)| o), Some(310));
            assert_eq!(p.max_timestamp_offset().unwrap(), Some((420, 9_000_000)));
            p.close().unwrap();
        }
    }
}
