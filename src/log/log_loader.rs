//! Kafka's LogLoader: opens a partition's directory at start. It drops a cleaner output that was
//! never swapped in and completes a swap that was, opens the segments (sealed ones from their
//! indexes after a clean shutdown; the active one, or all after a crash, by a scan that
//! truncates a torn or corrupt tail), keeps offsets already handed out from being reused, and
//! loads the producer state from the newest snapshot plus the batches after it.

use super::batch;
use super::local_log::{finish_swap, parse_swap_name, LocalLog, LOG_START_FILE};
use super::producer_state::ProducerStateManager;
use super::segment::{self, Segment};
use super::config::LogConfig;
use crate::util::fs::list_dir;
use crate::util::time::now_ms;
use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::time::Instant;

/// How the broker last stopped, as `.kafka_cleanshutdown` tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Every log was sealed and synced: trusted indexes are used as they are.
    Clean,
    /// A crash (or a first start over foreign files): the active segments are recovered.
    Unclean,
}

/// Opens (or creates) the log in `dir`. After an unclean shutdown the active segment is
/// recovered: scanned, CRC-checked, truncated after the last good batch, its indexes rebuilt.
pub(super) fn load(dir: &Path, topic: &str, index: i32, config: LogConfig, shutdown: Shutdown) -> io::Result<LocalLog> {
    let clean = shutdown == Shutdown::Clean;
    // One listing serves the whole open (startup cost grows with the number of partitions).
    let mut names = match list_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)?;
            Vec::new()
        }
        r => r?,
    };
    if complete_swaps(dir, &names, topic, index)? {
        names = list_dir(dir)?;
    }
    let mut bases: Vec<i64> = names.iter().filter_map(|n| segment::parse_stem(n, ".log")).collect();
    bases.sort_unstable();
    let mut segments = BTreeMap::new();
    let (index_bytes, interval) = (config.segment_index_bytes, config.index_interval_bytes);
    for (i, &base) in bases.iter().enumerate() {
        let next_base = bases.get(i + 1).copied();
        if let (Some(next_base), true) = (next_base, clean) {
            segments.insert(base, Segment::open_sealed(dir, base, next_base, index_bytes, interval)?);
            continue;
        }
        // The active segment, or any after a crash: located by a scan; only the active
        // one is recovered (the others were complete before it was created).
        let (mut seg, rec) = Segment::open(dir, base, index_bytes, interval, !clean && next_base.is_none())?;
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
        segments.insert(0, Segment::create(dir, 0, config.segment_index_bytes, config.index_interval_bytes)?);
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
    let (producers, snapshot_offset) = load_producer_state(dir, &names, &segments, next_offset, config.producer_id_expiration_ms)?;
    let log_start = if names.iter().any(|n| n == LOG_START_FILE) {
        std::fs::read_to_string(dir.join(LOG_START_FILE)).ok().and_then(|s| s.trim().parse::<i64>().ok()).unwrap_or(0).min(next_offset)
    } else {
        0
    };
    Ok(LocalLog {
        config,
        segments,
        next_offset,
        unflushed: 0,
        last_flush: Instant::now(),
        producers,
        snapshot_offset,
        log_start,
        cleaned_upto: None,
        unsynced: Vec::new(),
        dir_epoch: 0,
        dir_synced: 0,
    })
}

/// A cleaner output that never got swapped in is garbage; a swap that was committed (renamed to
/// `.swap`) but not finished is finished now. Says whether it changed the directory.
fn complete_swaps(dir: &Path, names: &[String], topic: &str, index: i32) -> io::Result<bool> {
    let mut changed = false;
    for name in names {
        if name.ends_with(".log.cleaned") {
            std::fs::remove_file(dir.join(name))?;
            changed = true;
        } else if let Some((first, end)) = parse_swap_name(name) {
            tracing::info!(topic, partition = index, segment = first, "completing an interrupted compaction swap");
            finish_swap(dir, first, end, &dir.join(name))?;
            changed = true;
        }
    }
    Ok(changed)
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

