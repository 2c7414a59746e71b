//! The log cleaner: compaction of `cleanup.policy=compact` partitions, after Kafka's `LogCleaner`.
//!
//! A pass over a partition (1) reads the closed segments below the last stable offset and the
//! `min.compaction.lag.ms` horizon and builds a map key -> offset of its latest record, (2)
//! rewrites them, in groups of neighbours that fit in one segment together, keeping only records
//! that are the latest for their key (offsets are kept, gaps are expected), dropping aborted
//! transactional data and tombstones past their delete horizon, and (3) swaps each
//! rewritten group in atomically: the output is written and fsynced as `<base>.log.cleaned`, then
//! renamed to `<base>.<end>.swap` (the commit point), the group's old files are deleted, and the
//! swap file becomes `<base>.log`. Recovery completes a `.swap` it finds and drops a `.cleaned`.
//! Only the swap takes the partition lock, so produce and fetch never wait for cleaning.
//! Batches whose records all survive are copied byte for byte; others are re-encoded with their
//! original compression.
//!
//! Tombstones, as in Kafka since KIP-534: the first pass that keeps a batch's tombstones writes
//! a delete horizon into the batch (now + `delete.retention.ms`, in its base timestamp, with
//! attribute bit 6); a pass after that horizon drops them. So a tombstone stays readable for at
//! least `delete.retention.ms` after it was first compacted, whatever its record timestamp.

use super::batch::BatchHeader;
use super::cleaner_manager::CleanableSegment;
use super::partition::Partition;
use crate::util::time::now_ms;
use super::producer_state::AbortedTxn;
use super::segment;
use bytes::Bytes;
use super::records;
use std::collections::HashMap;
use std::io::{self, Write};

/// Kafka's `groupSegmentsBySize`: runs of neighbouring segments whose total size fits in one
/// segment are rewritten together, so segments emptied by earlier passes get merged.
fn group_by_size(segments: &[CleanableSegment], max_bytes: u64) -> Vec<&[CleanableSegment]> {
    let mut groups = Vec::new();
    let mut start = 0;
    while start < segments.len() {
        let mut end = start + 1;
        let mut total = segments[start].size;
        while end < segments.len()
            && total + segments[end].size <= max_bytes
            && segments[end].next_offset - segments[start].base_offset <= i32::MAX as i64
        {
            total += segments[end].size;
            end += 1;
        }
        groups.push(&segments[start..end]);
        start = end;
    }
    groups
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy)]
pub struct CleanStats {
    /// Segments rewritten and swapped in.
    pub segments: usize,
    /// Their size before the pass, in bytes.
    pub bytes_before: u64,
    /// The size of what replaced them, in bytes.
    pub bytes_after: u64,
    /// Records dropped: superseded by a later record of their key, aborted, or expired tombstones.
    pub records_removed: usize,
}

fn is_aborted(aborted: &[AbortedTxn], h: &BatchHeader) -> bool {
    h.is_transactional()
        && !h.is_control()
        && aborted.iter().any(|a| a.producer_id == h.producer_id && a.first_offset <= h.base_offset && h.base_offset <= a.last_offset)
}

/// Cleans one partition if it has anything to clean.
pub fn clean_partition(p: &Partition) -> io::Result<CleanStats> {
    let Some(plan) = p.clean_plan() else { return Ok(CleanStats::default()) };
    // 1. The latest offset of every key.
    let mut latest: HashMap<Bytes, i64> = HashMap::new();
    for s in &plan.segments {
        segment::read_batches(&s.path, s.size, |h, bytes| {
            if h.is_control() || is_aborted(&plan.aborted, h) {
                return Ok(());
            }
            let recs = records::read(h, bytes, plan.inflate_limit).map_err(invalid_data)?;
            for r in &recs.records {
                if let Some(k) = recs.key(r) {
                    latest.insert(Bytes::copy_from_slice(k), r.offset);
                }
            }
            Ok(())
        })?;
    }
    // 2. + 3. Rewrite and swap, one group of segments at a time.
    let now = now_ms();
    let new_horizon = now.saturating_add(plan.delete_retention_ms);
    let mut stats = CleanStats::default();
    for group in group_by_size(&plan.segments, plan.segment_bytes) {
        let first = &group[0];
        let cleaned_path = first.path.with_extension("log.cleaned");
        let mut out = std::fs::File::create(&cleaned_path)?;
        let mut removed = 0usize;
        let mut horizons_set = 0usize;
        let mut written = 0u64;
        for s in group {
            segment::read_batches(&s.path, s.size, |h, bytes| {
                if h.is_control() {
                    // Markers are tiny and keep read_committed consumers' bookkeeping simple.
                    out.write_all(bytes)?;
                    written += bytes.len() as u64;
                    return Ok(());
                }
                if is_aborted(&plan.aborted, h) {
                    removed += h.record_count.max(0) as usize;
                    return Ok(());
                }
                let recs = records::read(h, bytes, plan.inflate_limit).map_err(invalid_data)?;
                let horizon_passed = h.delete_horizon().is_some_and(|dh| now >= dh);
                let keep: Vec<&records::RawRecord> = recs
                    .records
                    .iter()
                    .filter(|r| {
                        let newest = recs.key(r).is_some_and(|k| latest.get(k) == Some(&r.offset));
                        newest && !(r.value_is_null && horizon_passed)
                    })
                    .collect();
                removed += recs.records.len() - keep.len();
                let set_horizon = (h.delete_horizon().is_none() && keep.iter().any(|r| r.value_is_null)).then_some(new_horizon);
                horizons_set += usize::from(set_horizon.is_some());
                if keep.len() == recs.records.len() && set_horizon.is_none() {
                    out.write_all(bytes)?;
                    written += bytes.len() as u64;
                } else if let Some(buf) = records::rewrite(h, bytes, &recs, keep, None, set_horizon).map_err(invalid_data)? {
                    out.write_all(&buf)?;
                    written += buf.len() as u64;
                }
                Ok(())
            })?;
        }
        out.sync_all()?;
        drop(out);
        if removed == 0 && horizons_set == 0 && group.len() == 1 {
            std::fs::remove_file(&cleaned_path)?;
            continue;
        }
        let members: Vec<(i64, u64)> = group.iter().map(|s| (s.base_offset, s.size)).collect();
        // Every segment based below `end` belongs to the group (an empty one ends at its base).
        let last = &group[group.len() - 1];
        let end = last.next_offset.max(last.base_offset + 1);
        if p.swap_cleaned(&members, end, &cleaned_path)? {
            stats.segments += group.len();
            stats.bytes_before += members.iter().map(|(_, size)| size).sum::<u64>();
            stats.bytes_after += written;
            stats.records_removed += removed;
        } else {
            let _ = std::fs::remove_file(&cleaned_path);
        }
    }
    p.cleaned_upto(plan.segments.last().map(|s| s.base_offset));
    if stats.segments > 0 {
        tracing::info!(
            topic = %p.topic, partition = p.index, segments = stats.segments, bytes_before = stats.bytes_before,
            bytes_after = stats.bytes_after, records_removed = stats.records_removed, "compacted"
        );
    }
    Ok(stats)
}

fn invalid_data(e: super::batch::BatchError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}
