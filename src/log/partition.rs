//! The log of one partition: its segments, offsets, roll, retention, recovery and flush policy.
//!
//! Appends and reads take a short synchronous lock (never held across an `.await`); every
//! append publishes the new log end offset on a `watch` channel that long-polling fetches wait on.

use super::batch::{self, BatchHeader};
use super::producer_state::{ProducerStateManager, SequenceError};
use super::compression;
use super::records;
use super::validator::{self, AppendOrigin, ValidBatch, ValidationError};
use super::segment::{self, Segment};
use super::list_dir;
use super::config::LogConfig;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// Kafka's leader epoch; one node, one epoch, everywhere (KIP-320).
pub const LEADER_EPOCH: i32 = 0;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("offset {offset} is out of range [{start}, {end}]")]
    OffsetOutOfRange { offset: i64, start: i64, end: i64 },
    #[error("invalid batch: {0}")]
    Batch(#[from] batch::BatchError),
    #[error("the partition was deleted")]
    Deleted,
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("{0}")]
    Sequence(#[from] SequenceError),
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

/// Where an append landed.
#[derive(Debug, Clone, Copy)]
pub struct AppendInfo {
    pub base_offset: i64,
    /// The log end offset right after the append (what `sync_upto` must cover for it).
    pub log_end_offset: i64,
    pub log_append_time: Option<i64>,
    pub log_start_offset: i64,
}

/// What a read returns: where the batches are, and the partition's offsets.
#[derive(Debug, Clone)]
pub struct ReadResult {
    /// Whole batches (the last possibly cut off at the byte limit); None when there is nothing.
    pub records: Option<segment::FileSlice>,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// For read_committed: aborted transactions overlapping the range read.
    pub aborted: Vec<super::producer_state::AbortedTxn>,
}

pub struct Partition {
    pub topic: String,
    pub index: i32,
    dir: PathBuf,
    log: Mutex<Log>,
    end_offset: watch::Sender<i64>,
    /// Group commit (`sync_upto`): what is known fsynced, and whether an fsync is running.
    sync: Mutex<SyncState>,
    sync_done: Condvar,
}

#[derive(Default)]
struct SyncState {
    /// Every offset below this is on stable storage.
    durable: i64,
    syncing: bool,
    /// sync_upto calls and the fsyncs they took (group commit shares fsyncs among calls).
    calls: u64,
    fsyncs: u64,
}

struct Log {
    config: LogConfig,
    /// By base offset; the last one is the active segment.
    segments: BTreeMap<i64, Segment>,
    next_offset: i64,
    unflushed: i64,
    last_flush: Instant,
    producers: ProducerStateManager,
    /// The offset of the newest producer snapshot on disk.
    snapshot_offset: Option<i64>,
    /// Log start set by DeleteRecords (persisted); the first segment's base may be lower.
    log_start: i64,
    /// Base offset of the last segment the cleaner has compacted (segments above it are dirty).
    cleaned_upto: Option<i64>,
    /// Rolled segments' files not fsynced yet: as Kafka does, a roll leaves that to the
    /// background flusher (`sync_pending`) rather than stall appends behind the lock.
    unsynced: Vec<Arc<std::fs::File>>,
    /// Rolls so far, and how many of them the directory has been fsynced after (each adds a file).
    dir_epoch: u64,
    dir_synced: u64,
}

/// Per-partition file holding the log start offset moved by DeleteRecords.
const LOG_START_FILE: &str = "log-start-offset";

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Partition {
    /// `<data>/<topic>-<index>`, Kafka's directory name.
    pub fn dir_name(topic: &str, index: i32) -> String {
        format!("{topic}-{index}")
    }

    /// Opens (or creates) the partition in `data_dir`. `clean` says the last shutdown was clean;
    /// otherwise the active segment is recovered: scanned, CRC-checked, truncated after the last
    /// good batch, its indexes rebuilt.
    pub fn open(data_dir: &Path, topic: &str, index: i32, config: LogConfig, clean: bool) -> io::Result<Partition> {
        let dir = data_dir.join(Self::dir_name(topic, index));
        // One listing serves the whole open (startup cost grows with the number of partitions).
        let mut names = match list_dir(&dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                std::fs::create_dir_all(&dir)?;
                Vec::new()
            }
            r => r?,
        };
        // A cleaner output that never got swapped in is garbage; a swap that was committed (renamed
        // to `.swap`) but not finished is finished now.
        if names.iter().any(|n| n.ends_with(".log.cleaned") || parse_swap_name(n).is_some()) {
            for name in &names {
                if name.ends_with(".log.cleaned") {
                    std::fs::remove_file(dir.join(name))?;
                } else if let Some((first, end)) = parse_swap_name(name) {
                    tracing::info!(topic, partition = index, segment = first, "completing an interrupted compaction swap");
                    finish_swap(&dir, first, end, &dir.join(name))?;
                }
            }
            names = list_dir(&dir)?;
        }
        let mut bases: Vec<i64> = names.iter().filter_map(|n| segment::parse_stem(n, ".log")).collect();
        bases.sort_unstable();
        let mut segments = BTreeMap::new();
        let (index_bytes, interval) = (config.segment_index_bytes, config.index_interval_bytes);
        for (i, &base) in bases.iter().enumerate() {
            let next_base = bases.get(i + 1).copied();
            if let (Some(next_base), true) = (next_base, clean) {
                segments.insert(base, Segment::open_sealed(&dir, base, next_base, index_bytes, interval)?);
                continue;
            }
            // The active segment, or any after a crash: located by a scan; only the active
            // one is recovered (the others were complete before it was created).
            let (mut seg, rec) = Segment::open(&dir, base, index_bytes, interval, !clean && next_base.is_none())?;
            if rec.truncated_bytes > 0 {
                tracing::warn!(
                    topic, partition = index, segment = base, truncated_bytes = rec.truncated_bytes,
                    valid_bytes = rec.valid_bytes, "recovery truncated a torn or corrupt log tail"
                );
            }
            // Only the last segment is ever appended to; the others keep trimmed, read-only indexes.
            if next_base.is_some() {
                seg.seal()?;
            }
            segments.insert(base, seg);
        }
        if segments.is_empty() {
            segments.insert(0, Segment::create(&dir, 0, config.segment_index_bytes, config.index_interval_bytes)?);
        }
        let mut next_offset = segments.values().next_back().map(|s| s.next_offset).unwrap_or(0);
        // A producer snapshot is named by the log end offset when it was taken (every roll and
        // clean shutdown): offsets below it were handed out. If the log now ends lower, records
        // were lost from its tail (a damaged file); the lost offsets stay a gap, never reused.
        let assigned = names.iter().filter_map(|n| segment::parse_stem(n, ".snapshot")).max().unwrap_or(0);
        if assigned > next_offset {
            tracing::warn!(topic, partition = index, log_end = next_offset, assigned, "the log ends below offsets already assigned; they are skipped, not reused");
            if let Some(active) = segments.values_mut().next_back() {
                active.next_offset = assigned;
            }
            next_offset = assigned;
        }
        let (producers, snapshot_offset) = load_producer_state(&dir, &names, &segments, next_offset, config.producer_id_expiration_ms)?;
        let log_start = if names.iter().any(|n| n == LOG_START_FILE) {
            std::fs::read_to_string(dir.join(LOG_START_FILE)).ok().and_then(|s| s.trim().parse::<i64>().ok()).unwrap_or(0).min(next_offset)
        } else {
            0
        };
        let (end_offset, _) = watch::channel(next_offset);
        Ok(Partition {
            topic: topic.to_string(),
            index,
            dir,
            log: Mutex::new(Log { config, segments, next_offset, unflushed: 0, last_flush: Instant::now(), producers, snapshot_offset, log_start, cleaned_upto: None, unsynced: Vec::new(), dir_epoch: 0, dir_synced: 0 }),
            end_offset,
            sync: Mutex::new(SyncState::default()),
            sync_done: Condvar::new(),
        })
    }

    /// (sync_upto calls, fsyncs they took).
    pub fn sync_stats(&self) -> (u64, u64) {
        let st = self.sync.lock().unwrap_or_else(|p| p.into_inner());
        (st.calls, st.fsyncs)
    }

    /// Returns once every offset below `offset` is fsynced (`acks.all.fsync`). Group commit:
    /// one caller fsyncs the active segment (and any rolled segment still waiting for it) —
    /// outside the partition lock, so appends go on — while the others wait, and that one round
    /// covers everything appended before it started.
    pub fn sync_upto(&self, offset: i64) -> io::Result<()> {
        let lock_sync = || self.sync.lock().unwrap_or_else(|p| p.into_inner());
        let mut st = lock_sync();
        st.calls += 1;
        loop {
            if st.durable >= offset {
                return Ok(());
            }
            if st.syncing {
                st = self.sync_done.wait(st).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            st.syncing = true;
            st.fsyncs += 1;
            drop(st);
            let res = self.sync_pending(true);
            st = lock_sync();
            st.syncing = false;
            self.sync_done.notify_all();
            st.durable = st.durable.max(res?);
        }
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

    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        // A panic while holding the lock cannot leave a half-applied append visible (size is
        // advanced only after the write), so a poisoned lock is still safe to use.
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.end_offset.subscribe()
    }

    pub fn log_end_offset(&self) -> i64 {
        self.lock().next_offset
    }

    pub fn log_start_offset(&self) -> i64 {
        self.lock().start_offset()
    }

    pub fn config(&self) -> LogConfig {
        self.lock().config.clone()
    }

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
            (log.config.compression, validation_config(&log.config))
        };
        let valid = validator::validate(records, origin, &limits)?;
        let recompressed;
        let (buf, valid) = match compression {
            Some(target) if valid.iter().any(|v| !v.header.is_control() && compression::codec_of(v.header.attributes) != Ok(target)) => {
                recompressed = recompress_all(records, &valid, target, limits.max_message_bytes)?;
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
    pub fn read(&self, offset: i64, max_bytes: usize, min_one: bool, read_committed: bool) -> Result<ReadResult, LogError> {
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
                records = seg.read(offset, max_bytes, min_one, upper)?;
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
        use bytes::BufMut;
        use kafka_protocol::records::{Compression, Record, TimestampType};
        if let Some(current) = self.lock().producers.epoch_of(producer_id) {
            if producer_epoch < current {
                return Err(SequenceError::InvalidProducerEpoch { got: producer_epoch, current }.into());
            }
        }
        let mut key = bytes::BytesMut::new();
        key.put_i16(0);
        key.put_i16(if commit { 1 } else { 0 });
        let mut value = bytes::BytesMut::new();
        value.put_i16(0);
        value.put_i32(coordinator_epoch);
        let record = Record {
            transactional: true,
            control: true,
            delete_horizon: false,
            partition_leader_epoch: LEADER_EPOCH,
            producer_id,
            producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: 0,
            sequence: -1,
            timestamp: now_ms(),
            key: Some(key.freeze()),
            value: Some(value.freeze()),
            headers: Default::default(),
        };
        let buf = records::encode([&record], Compression::None)?;
        Ok(self.append(&buf, AppendOrigin::Coordinator)?.base_offset)
    }

    /// ListOffsets by timestamp: the first record with timestamp >= `ts`, as (offset, timestamp).
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, LogError> {
        let log = self.lock();
        let limit = validation_config(&log.config).max_message_bytes;
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
        let limit = validation_config(&log.config).max_message_bytes;
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
        let target = if offset == -1 { end } else { offset };
        if target < 0 || target > end {
            return Err(LogError::OffsetOutOfRange { offset, start: log.start_offset(), end });
        }
        if target <= log.start_offset() {
            return Ok(log.start_offset());
        }
        crate::meta::write_atomic(&self.dir, LOG_START_FILE, target.to_string().as_bytes())?;
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

    /// What the log cleaner may compact now, if anything: closed segments wholly below the last
    /// stable offset and older than `min.compaction.lag.ms`, when the dirty share of them reaches
    /// `min.cleanable.dirty.ratio`.
    pub fn clean_plan(&self) -> Option<super::cleaner::CleanPlan> {
        use super::cleaner::{CleanPlan, CleanableSegment};
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
            inflate_limit: validation_config(cfg).max_message_bytes,
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
        let swap = self.dir.join(swap_name(first, end));
        std::fs::rename(cleaned, &swap)?;
        sync_dir(&self.dir)?;
        finish_swap(&self.dir, first, end, &swap)?;
        for (base, _) in group {
            log.segments.remove(base);
        }
        let (mut seg, _) = Segment::open(&self.dir, first, index_bytes, interval, true)?;
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

    /// The active producers of this partition (DescribeProducers).
    pub fn producers(&self) -> Vec<(i64, i16, i32, i64, Option<i64>)> {
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

    /// Flushes and seals the active segment's indexes: a clean shutdown.
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

/// `<first>.<end>.swap`: a cleaned segment replacing every segment based in [first, end).
fn swap_name(first: i64, end: i64) -> String {
    format!("{}.{}.swap", segment::file_stem(first), segment::file_stem(end))
}

fn parse_swap_name(name: &str) -> Option<(i64, i64)> {
    let (first, end) = name.strip_suffix(".swap")?.split_once('.')?;
    Some((segment::parse_stem(&format!("{first}.log"), ".log")?, segment::parse_stem(&format!("{end}.log"), ".log")?))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Deletes the files of every segment based in [first, end), then renames the swap file to
/// `<first>.log`. Idempotent, so recovery can run it again after a crash part-way.
fn finish_swap(dir: &Path, first: i64, end: i64, swap: &Path) -> io::Result<()> {
    for name in list_dir(dir)? {
        let base = [".log", ".index", ".timeindex"].iter().find_map(|ext| segment::parse_stem(&name, ext));
        if base.is_some_and(|b| b >= first && b < end) {
            std::fs::remove_file(dir.join(&name))?;
        }
    }
    std::fs::rename(swap, segment::file_path(dir, first, ".log"))?;
    sync_dir(dir)
}

/// The batches re-encoded with the topic's `compression.type`, one batch for each (markers and
/// batches already in that codec stay as they are). Producer id, epoch, sequences and timestamps are kept, as Kafka does.
fn recompress_all(batches: &[u8], valid: &[ValidBatch], target: kafka_protocol::records::Compression, limit: usize) -> Result<Vec<u8>, LogError> {
    let mut out = Vec::with_capacity(batches.len());
    let mut rest = batches;
    for v in valid {
        let h = &v.header;
        let (bytes, tail) = rest.split_at(h.size);
        rest = tail;
        if h.is_control() || compression::codec_of(h.attributes) == Ok(target) {
            out.extend_from_slice(bytes);
        } else {
            out.extend_from_slice(&records::recompress(h, bytes, target, limit)?);
        }
    }
    Ok(out)
}

/// What the validator needs of a partition's config.
fn validation_config(c: &LogConfig) -> validator::ValidationConfig {
    validator::ValidationConfig {
        compacted: c.cleanup_policy.compact(),
        max_message_bytes: usize::try_from(c.max_message_bytes).unwrap_or(0),
    }
}

/// Loads the producer snapshot and replays the batches written after it. As Kafka does, the
/// snapshot's producers idle for `expiration_ms` are not loaded (a later clean shutdown then
/// writes a snapshot without them); those the replay finds wait for the periodic check.
fn load_producer_state(
    dir: &Path,
    names: &[String],
    segments: &BTreeMap<i64, Segment>,
    log_end: i64,
    expiration_ms: i64,
) -> io::Result<(ProducerStateManager, Option<i64>)> {
    let (mut producers, from) = ProducerStateManager::load(dir, names, log_end)?;
    let expired = producers.expire_idle(now_ms(), expiration_ms);
    let snapshot = (from == log_end && !expired).then_some(from);
    for seg in segments.values().filter(|s| s.next_offset > from) {
        seg.for_each_batch(from.max(seg.base_offset), |h, bytes| {
            if h.base_offset >= from {
                let marker = if h.is_control() { batch::control_marker(bytes) } else { None };
                producers.update(h, marker);
            }
            true
        })?;
    }
    Ok((producers, snapshot))
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

impl Log {
    /// The segment appends go to; `None` only once the partition was deleted.
    fn active(&mut self) -> Option<&mut Segment> {
        self.segments.values_mut().next_back()
    }

    fn last_stable_offset(&self) -> i64 {
        self.producers.first_unstable_offset().unwrap_or(self.next_offset).min(self.next_offset)
    }

    fn start_offset(&self) -> i64 {
        self.segments.keys().next().copied().unwrap_or(self.next_offset).max(self.log_start)
    }

    /// Rolls when the next batch would not fit, the indexes are full, `segment.ms` passed, or
    /// relative offsets would overflow u32.
    fn maybe_roll(&mut self, dir: &Path, next: &BatchHeader) -> io::Result<()> {
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

    fn roll(&mut self, dir: &Path) -> io::Result<()> {
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
    fn check_sequences(&self, valid: &[ValidBatch]) -> Result<Option<super::producer_state::BatchMeta>, LogError> {
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
    fn maybe_flush(&mut self) -> io::Result<bool> {
        let due = self.unflushed >= self.config.flush_messages.max(1);
        if due {
            self.flush()?;
        }
        Ok(due)
    }

    /// `flush.messages` / `flush.ms` for the active segment (rolled ones: `sync_pending`).
    fn flush(&mut self) -> io::Result<()> {
        if let Some(seg) = self.segments.values().next_back() {
            seg.flush()?;
        }
        self.unflushed = 0;
        self.last_flush = Instant::now();
        Ok(())
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
        let p = Partition::open(dir.path(), "t", 0, config.clone(), true).unwrap();
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
        let q = Partition::open(dir.path(), "u", 0, every, true).unwrap();
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
        let p = Partition::open(dir.path(), "t", 0, config.clone(), true).unwrap();
        for i in 0..100i64 {
            p.append(&sample_batch(10, if i == 42 { 9_000_000 } else { 1000 + 10 * i }), AppendOrigin::Client).unwrap();
        }
        p.close().unwrap();
        let segments = p.segment_count();
        assert!(segments > 5, "{segments} segments");
        drop(p);
        let pdir = dir.path().join("t-0");
        let mut bases: Vec<i64> = list_dir(&pdir).unwrap().iter().filter_map(|n| segment::parse_stem(n, ".log")).collect();
        bases.sort_unstable();
        for clean in [true, false] {
            // Offset indexes of sealed segments removed: after a clean open they must still be
            // absent (never opened); lookups then walk from each segment's start.
            for b in &bases[..bases.len() - 1] {
                std::fs::remove_file(segment::file_path(&pdir, *b, ".index")).ok();
            }
            let p = Partition::open(dir.path(), "t", 0, config.clone(), clean).unwrap();
            if clean {
                assert!(!segment::file_path(&pdir, bases[0], ".index").exists());
            }
            assert_eq!((p.segment_count(), p.log_end_offset()), (segments, 1000));
            for offset in (0..1000).step_by(7) {
                let bytes = p.read(offset, 1, true, false).unwrap().records.unwrap().read_bytes().unwrap();
                let h = batch::parse_header(&bytes).unwrap();
                assert_eq!(h.base_offset, offset / 10 * 10, "clean={clean} offset {offset}");
            }
            assert_eq!(p.offset_for_timestamp(1_000_000).unwrap().map(|(o, _)| o), Some(420));
            assert_eq!(p.offset_for_timestamp(1305).unwrap().map(|(o, _)| o), Some(310));
            assert_eq!(p.max_timestamp_offset().unwrap().map(|(o, t)| (o, t)), Some((420, 9_000_000)));
            p.close().unwrap();
        }
    }
}
