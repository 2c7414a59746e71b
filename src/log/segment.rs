//! One log segment: a `.log` file of record batches plus its `.index` and `.timeindex`.
//!
//! Files are named by the segment's base offset, 20 digits, as Kafka names them.

use super::batch::{self, BatchHeader, HEADER_LEN};
use super::index::{Bounds, OffsetIndex, TimeIndex};
use bytes::{Bytes, BytesMut};
use std::cell::OnceCell;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// Digits of the zero-padded offset a segment or snapshot file is named by (Kafka's
/// `filenamePrefixFromOffset`): enough for any non-negative i64.
pub const OFFSET_DIGITS: usize = 20;

/// `00000000000000000042` for base offset 42.
pub fn file_stem(base_offset: i64) -> String {
    format!("{base_offset:0OFFSET_DIGITS$}")
}

/// `<dir>/<stem><ext>`: one of segment `base_offset`'s files (`ext` ".log", ".index", ...).
pub fn file_path(dir: &Path, base_offset: i64, ext: &str) -> PathBuf {
    dir.join(format!("{}{ext}", file_stem(base_offset)))
}

/// The base offset a segment file name encodes, if it is one of ours.
pub fn parse_stem(name: &str, ext: &str) -> Option<i64> {
    let stem = name.strip_suffix(ext)?;
    if stem.len() == OFFSET_DIGITS && stem.bytes().all(|b| b.is_ascii_digit()) {
        stem.parse().ok()
    } else {
        None
    }
}

/// What a recovery scan found in a segment.
#[derive(Debug, Default)]
pub struct Recovery {
    /// Bytes of whole, valid batches from the start of the file: where the log ends.
    pub valid_bytes: u64,
    /// Bytes after them (a torn or corrupt tail), cut off the file.
    pub truncated_bytes: u64,
    /// Valid batches walked (only the tail's when the indexes were trusted).
    pub batches: usize,
}

/// A byte range of a segment file, whole batches only: what a fetch hands to the socket with
/// sendfile(2) instead of reading it. Batches once written are never rewritten in place, and the
/// `Arc` keeps the file open even if retention or compaction removes it meanwhile.
#[derive(Debug, Clone)]
pub struct FileSlice {
    file: Arc<File>,
    /// Where the range starts in the file, in bytes.
    pub position: u64,
    /// The range's length in bytes.
    pub len: usize,
}

impl FileSlice {
    /// The range of `len` bytes at `position` of `file` (tests build their own).
    #[cfg(test)]
    pub(crate) fn new(file: Arc<File>, position: u64, len: usize) -> FileSlice {
        FileSlice { file, position, len }
    }

    /// The segment file the range is in (for sendfile).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The bytes themselves, for small reads and for callers that need to look at them.
    pub fn read_bytes(&self) -> io::Result<Bytes> {
        let mut buf = BytesMut::zeroed(self.len);
        self.file.read_exact_at(&mut buf, self.position)?;
        Ok(buf.freeze())
    }
}

/// One segment of a partition's log: its `.log` file, indexes and end offset (Kafka's `LogSegment`).
pub struct Segment {
    /// The offset of the segment's first record, which names its files.
    pub base_offset: i64,
    log_path: PathBuf,
    /// Opened on first use for a segment from `open_sealed` (then read-only).
    log: OnceCell<Arc<File>>,
    /// Bytes of whole, valid batches in the file.
    size: u64,
    index: OffsetIndex,
    time_index: TimeIndex,
    bytes_since_index: u64,
    index_interval: u64,
    /// One past the last offset stored here (== base_offset when empty).
    pub next_offset: i64,
    /// Largest batch max timestamp seen; `NOT_READ` for a sealed segment opened without reading
    /// it (its time index's last entry holds it, see `seal`).
    max_timestamp: i64,
    /// The max timestamp found by walking the batches, for a kept segment without a usable time index.
    walked_max_timestamp: OnceCell<i64>,
    created: SystemTime,
}

impl Segment {
    /// Creates a new, empty segment.
    pub fn create(dir: &Path, base_offset: i64, index_bytes: u64, index_interval: u64) -> io::Result<Segment> {
        let log = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(file_path(dir, base_offset, ".log"))?;
        Ok(Self::assemble(dir, base_offset, Some(log), SystemTime::now(), index_bytes, index_interval, false))
    }

    /// Opens an existing segment. With `recover`, every batch is checked (lengths, CRC, offsets);
    /// the file is truncated after the last good one and both indexes are rebuilt. Without it, the
    /// indexes on disk are trusted and only the tail batch is located.
    pub fn open(dir: &Path, base_offset: i64, index_bytes: u64, index_interval: u64, recover: bool) -> io::Result<(Segment, Recovery)> {
        let (log, file_len, created) = open_log(dir, base_offset)?;
        let mut seg = Self::assemble(dir, base_offset, Some(log), created, index_bytes, index_interval, !recover);
        let rec = seg.scan(file_len, recover)?;
        if rec.truncated_bytes > 0 {
            seg.log()?.set_len(rec.valid_bytes)?;
        }
        Ok((seg, rec))
    }

    /// Opens a segment that a later one follows, after a clean shutdown, without reading it (as
    /// Kafka loads such segments): it ends where `next_base` begins, holds its file's bytes, and
    /// its sealed indexes are opened on first use.
    pub fn open_sealed(dir: &Path, base_offset: i64, next_base: i64, index_bytes: u64, index_interval: u64) -> io::Result<Segment> {
        let meta = std::fs::metadata(file_path(dir, base_offset, ".log"))?;
        let created = meta.modified().unwrap_or_else(|_| SystemTime::now());
        let mut seg = Self::assemble(dir, base_offset, None, created, index_bytes, index_interval, true);
        seg.size = meta.len();
        let bounds = Bounds { log_len: seg.size, offsets: next_base.saturating_sub(base_offset).max(0) as u64, min_timestamp: i64::MIN };
        seg.index.bound(bounds);
        seg.time_index.bound(bounds);
        seg.next_offset = next_base;
        seg.max_timestamp = NOT_READ;
        seg.index.trim()?;
        seg.time_index.trim()?;
        Ok(seg)
    }

    /// A segment around its `.log` (opened on first use if `None`); its indexes are opened on
    /// first use (kept when `trust_indexes`).
    fn assemble(
        dir: &Path,
        base_offset: i64,
        log: Option<File>,
        created: SystemTime,
        index_bytes: u64,
        index_interval: u64,
        trust_indexes: bool,
    ) -> Segment {
        Segment {
            base_offset,
            log_path: file_path(dir, base_offset, ".log"),
            log: log.map(|f| OnceCell::from(Arc::new(f))).unwrap_or_default(),
            size: 0,
            index: OffsetIndex::new(&file_path(dir, base_offset, ".index"), base_offset, index_bytes, trust_indexes),
            time_index: TimeIndex::new(&file_path(dir, base_offset, ".timeindex"), base_offset, index_bytes, trust_indexes),
            bytes_since_index: 0,
            index_interval,
            next_offset: base_offset,
            max_timestamp: -1,
            walked_max_timestamp: OnceCell::new(),
            created,
        }
    }

    /// Walks the batches from the start (or, trusting the indexes, from the last offset index
    /// entry), stopping at the first invalid one. A small file is walked whole from one read
    /// instead: with many partitions, opening two indexes would cost more than it saves.
    ///
    /// A trusted segment whose index points past its end, or whose walk does not end exactly at
    /// the end of the file, was damaged after it was closed: it is recovered by a full scan
    /// instead (indexes rebuilt), never trusted into reusing offsets or growing the file.
    fn scan(&mut self, file_len: u64, full: bool) -> io::Result<Recovery> {
        if !full {
            self.index.bound(Bounds { log_len: file_len, ..Bounds::NONE });
            let rec = self.walk(file_len, false)?;
            if rec.truncated_bytes == 0 {
                return Ok(rec);
            }
            tracing::warn!(segment = %self.log_path.display(), file_len, "a cleanly closed segment does not match its index; recovering it");
            self.index.reset();
            self.time_index.reset();
            self.next_offset = self.base_offset;
            self.max_timestamp = -1;
            self.bytes_since_index = 0;
        }
        self.walk(file_len, true)
    }

    fn walk(&mut self, file_len: u64, full: bool) -> io::Result<Recovery> {
        let whole = full || file_len <= WALK_WHOLE_BELOW;
        let mut pos: u64 = if whole { 0 } else { self.index.lookup(i64::MAX)?.1 as u64 };
        let mut rec = Recovery::default();
        let mut expected_min = self.base_offset;
        let log = self.log()?.clone();
        let chunk = if full { SCAN_CHUNK } else { WALK_WHOLE_BELOW as usize };
        let mut cursor = BatchCursor::new(&log, file_len, chunk);
        while let Some(head) = cursor.header(pos)? {
            let Ok(h) = batch::parse_header(head) else { break };
            // A batch must follow the one before and fit the indexes' 32-bit relative offsets
            // (Kafka's segment invariant); anything else is where the valid log ends.
            let fits = h.last_offset_delta >= 0 && h.last_offset().checked_sub(self.base_offset).is_some_and(|d| d <= i32::MAX as i64);
            if pos + h.size as u64 > file_len || h.base_offset < expected_min || !fits {
                break;
            }
            if full {
                if batch::validate(cursor.get(pos, h.size)?).is_err() {
                    break;
                }
                // A sparse index that is full only costs later lookups a longer walk.
                if !self.indexes_full()? {
                    self.index_batch(&h, pos as u32)?;
                }
            }
            self.max_timestamp = self.max_timestamp.max(h.max_timestamp);
            expected_min = h.next_offset();
            self.next_offset = h.next_offset();
            pos += h.size as u64;
            rec.batches += 1;
        }
        if !whole {
            // Only the tail was walked; the max timestamp comes from the time index's last entry.
            self.max_timestamp = self.max_timestamp.max(self.time_index_max()?);
        }
        rec.valid_bytes = pos;
        rec.truncated_bytes = file_len.saturating_sub(pos);
        self.size = pos;
        Ok(rec)
    }

    /// A sealed segment's last time index entry holds its max timestamp (see `seal`).
    /// One with no (valid) entry has it taken from a walk over its batch headers, once.
    fn time_index_max(&self) -> io::Result<i64> {
        self.bound_time_index()?;
        if let Some(ts) = self.time_index.last_timestamp()? {
            return Ok(ts);
        }
        if let Some(&ts) = self.walked_max_timestamp.get() {
            return Ok(ts);
        }
        let mut max = -1;
        if self.size > 0 {
            BatchCursor::new(self.log()?, self.size, SCAN_CHUNK).walk(0, |h, _| {
                max = max.max(h.max_timestamp);
                Ok(true)
            })?;
        }
        Ok(*self.walked_max_timestamp.get_or_init(|| max))
    }

    /// Before a kept time index is first read, its entries learn their lower bound from the first
    /// batch's header (one small read): a damaged entry below it is dropped, so it cannot make
    /// retention delete the segment early or ListOffsets skip records.
    fn bound_time_index(&self) -> io::Result<()> {
        if self.time_index.is_loaded() || self.size < HEADER_LEN as u64 {
            return Ok(());
        }
        let mut head = [0u8; HEADER_LEN];
        // A sealed segment's .log stays closed until a read needs it (one descriptor per segment
        // is what a retention pass over many partitions must not cost): open it just for this.
        match self.log.get() {
            Some(f) => f.read_exact_at(&mut head, 0)?,
            None => File::open(&self.log_path)?.read_exact_at(&mut head, 0)?,
        }
        if let Ok(h) = batch::parse_header(&head) {
            self.time_index.bound(Bounds { min_timestamp: h.max_timestamp, ..self.time_index.bounds() });
        }
        Ok(())
    }

    /// The largest batch max timestamp in the segment, -1 if none is known. For a segment opened
    /// by `open_sealed` it is read from the time index on first use; if that cannot be read it
    /// counts as unknown (retention then goes by the file's age, as Kafka does without one).
    pub fn max_timestamp(&self) -> i64 {
        if self.max_timestamp != NOT_READ {
            return self.max_timestamp;
        }
        self.time_index_max().unwrap_or_else(|e| {
            tracing::warn!(segment = %self.log_path.display(), error = %e, "cannot read the time index; max timestamp unknown");
            -1
        })
    }

    fn index_batch(&mut self, h: &BatchHeader, position: u32) -> io::Result<()> {
        if self.bytes_since_index >= self.index_interval {
            self.index.append(h.base_offset, position)?;
            self.time_index.maybe_append(self.max_timestamp.max(h.max_timestamp), h.last_offset())?;
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += h.size as u64;
        Ok(())
    }

    /// Bytes of whole, valid batches in the `.log`.
    pub fn size(&self) -> u64 {
        self.size
    }
    /// The path of the `.log` file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }
    /// The segment holds no batch.
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }
    /// When the segment was created (its `.log`'s mtime once reopened), for `segment.ms` rolls and
    /// for retention when no timestamp is known.
    pub fn created(&self) -> SystemTime {
        self.created
    }
    /// The offset or time index has no room for another entry: the segment must roll.
    pub fn indexes_full(&self) -> io::Result<bool> {
        Ok(self.index.is_full()? || self.time_index.is_full()?)
    }

    /// Appends one stamped, validated batch, given as its header and the rest (one pwritev).
    pub fn append(&mut self, header: &[u8], body: &[u8], h: &BatchHeader) -> io::Result<()> {
        let position = self.size;
        let end = position + (header.len() + body.len()) as u64;
        // Positions are 32-bit in the index (segment.bytes is an INT, so this never trips).
        let position32 = u32::try_from(position).map_err(|_| io::Error::other("segment position past 4 GiB"))?;
        if end > u32::MAX as u64 + 1 {
            return Err(io::Error::other("segment would grow past 4 GiB"));
        }
        if let Err(e) = write_all_at(self.log()?, &[header, body], position) {
            // A partial write (disk full) is cut off again, so the file ends at the last whole
            // batch; the next append writes there.
            let _ = self.log()?.set_len(position);
            return Err(e);
        }
        self.index_batch(h, position32)?;
        self.max_timestamp = self.max_timestamp.max(h.max_timestamp);
        self.size += (header.len() + body.len()) as u64;
        self.next_offset = h.next_offset();
        Ok(())
    }

    /// Position of the first batch whose last offset is >= `offset`, with its header.
    fn locate(&self, offset: i64, limit: u64) -> io::Result<Option<(u64, BatchHeader)>> {
        let (_, start) = self.index.lookup(offset)?;
        let mut pos = start as u64;
        // Header by header: a fetch reads only what it must (batches may be megabytes).
        let mut cursor = BatchCursor::new(self.log()?, limit, HEADER_LEN);
        while let Some(head) = cursor.header(pos)? {
            let h = match batch::parse_header(head) {
                Ok(h) => h,
                Err(e) if pos == start as u64 && start != 0 => {
                    // A damaged index entry that passed its checks: walk from the start instead.
                    tracing::warn!(segment = %self.log_path.display(), position = start, error = %e, "index entry does not point at a batch; reading from the segment start");
                    pos = 0;
                    continue;
                }
                Err(e) => return Err(invalid_data(e)),
            };
            if h.last_offset() >= offset {
                return Ok(Some((pos, h)));
            }
            pos += h.size as u64;
        }
        Ok(None)
    }

    /// The `.log` file (to fsync it without holding the partition lock).
    pub fn file(&self) -> io::Result<Arc<File>> {
        self.log().cloned()
    }

    fn log(&self) -> io::Result<&Arc<File>> {
        if let Some(f) = self.log.get() {
            return Ok(f);
        }
        let f = Arc::new(File::open(&self.log_path)?);
        Ok(self.log.get_or_init(|| f))
    }

    /// Where the whole batches starting with the one containing `offset` are: at least that one
    /// batch (even past `max_bytes`), then as much as fits in `max_bytes`; the last batch may be
    /// cut short at the limit, as Kafka does (clients drop a partial trailing batch). Nothing is
    /// read: the caller sends the range (or reads it if small).
    ///
    /// Batches at or past `limit_offset` are left out (read_committed stops at the last stable
    /// offset, which is always a batch boundary).
    pub fn read(&self, offset: i64, max_bytes: usize, min_one: bool, limit_offset: i64) -> io::Result<Option<FileSlice>> {
        let limit = if limit_offset < self.next_offset {
            match self.locate(limit_offset, self.size)? {
                Some((pos, _)) => pos,
                None => self.size,
            }
        } else {
            self.size
        };
        let Some((pos, first)) = self.locate(offset, limit)? else {
            return Ok(None);
        };
        let available = (limit - pos) as usize;
        let want = if min_one { max_bytes.max(first.size) } else { max_bytes };
        let len = want.min(available);
        if len == 0 || (len < first.size && !min_one) {
            return Ok(None);
        }
        Ok(Some(FileSlice { file: self.log()?.clone(), position: pos, len }))
    }

    /// Calls `f` on each batch (header and bytes) from the batch containing `from_offset` on,
    /// until `f` returns false.
    pub fn for_each_batch(&self, from_offset: i64, mut f: impl FnMut(&BatchHeader, &[u8]) -> bool) -> io::Result<()> {
        let limit = self.size;
        let Some((pos, _)) = self.locate(from_offset, limit)? else {
            return Ok(());
        };
        BatchCursor::new(self.log()?, limit, SCAN_CHUNK).walk(pos, |h, bytes| Ok(f(h, bytes)))
    }

    /// The first offset from which a scan finds timestamps >= `ts`.
    pub fn time_lookup(&self, ts: i64) -> io::Result<i64> {
        self.bound_time_index()?;
        self.time_index.lookup(ts)
    }

    /// Fsyncs the `.log` (data only) and flushes both indexes.
    pub fn flush(&self) -> io::Result<()> {
        self.log()?.sync_data()?;
        self.index.flush()?;
        self.time_index.flush()
    }

    /// Shrinks the indexes to their entries (when the segment stops being active, or at shutdown).
    pub fn seal(&mut self) -> io::Result<()> {
        // Like Kafka's onBecomeInactiveSegment: the last entry records the segment's max timestamp.
        if self.max_timestamp >= 0 && self.next_offset > self.base_offset {
            self.time_index.maybe_append(self.max_timestamp, self.next_offset - 1)?;
        }
        self.index.trim()?;
        self.time_index.trim()
    }

    /// Removes the segment's files.
    pub fn delete(self) -> io::Result<()> {
        let paths = [self.log_path.clone(), self.index.path().to_path_buf(), self.time_index.path().to_path_buf()];
        drop(self);
        for p in paths {
            match std::fs::remove_file(&p) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }
}

/// Calls `f` with each whole batch of a `.log` file read from its path (the log cleaner reads
/// closed segments this way, without the partition lock). Stops at `limit` bytes.
pub fn read_batches(path: &Path, limit: u64, mut f: impl FnMut(&BatchHeader, &[u8]) -> io::Result<()>) -> io::Result<()> {
    let file = File::open(path)?;
    BatchCursor::new(&file, limit, SCAN_CHUNK).walk(0, |h, bytes| f(h, bytes).map(|()| true))
}

/// `Segment::max_timestamp` not read yet.
const NOT_READ: i64 = i64::MIN;

/// The `.log` of segment `base_offset` opened for appends and reads, with its length and mtime.
fn open_log(dir: &Path, base_offset: i64) -> io::Result<(File, u64, SystemTime)> {
    let log = OpenOptions::new().read(true).write(true).open(file_path(dir, base_offset, ".log"))?;
    let meta = log.metadata()?;
    Ok((log, meta.len(), meta.modified().unwrap_or_else(|_| SystemTime::now())))
}

/// A trusted (cleanly shut down) active segment up to this size is walked whole from one read
/// rather than from its last index entry.
const WALK_WHOLE_BELOW: u64 = 16 * 1024;

/// Read size of forward walks over a segment (recovery, the cleaner, producer state replay).
const SCAN_CHUNK: usize = 64 * 1024;

fn invalid_data(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// Reads a segment file forward through one buffer filled at least `chunk` bytes at a time, so
/// a walk over many small batches costs one read per chunk rather than two per batch.
struct BatchCursor<'a> {
    file: &'a File,
    /// Bytes past this are not read (the file's valid length, or a caller's bound).
    limit: u64,
    chunk: usize,
    buf: Vec<u8>,
    /// File position of `buf[0]`.
    at: u64,
}

impl<'a> BatchCursor<'a> {
    fn new(file: &'a File, limit: u64, chunk: usize) -> BatchCursor<'a> {
        BatchCursor { file, limit, chunk, buf: Vec::new(), at: 0 }
    }

    /// `len` bytes at `pos`; the caller keeps `pos + len` within the limit.
    fn get(&mut self, pos: u64, len: usize) -> io::Result<&[u8]> {
        let end = pos + len as u64;
        if pos < self.at || end > self.at + self.buf.len() as u64 {
            let want = (len.max(self.chunk) as u64).min(self.limit.saturating_sub(pos)).max(len as u64);
            self.buf.resize(want as usize, 0);
            self.file.read_exact_at(&mut self.buf, pos)?;
            self.at = pos;
        }
        let from = (pos - self.at) as usize;
        Ok(&self.buf[from..from + len])
    }

    /// The batch header bytes at `pos`, or `None` when no whole header fits before the limit.
    fn header(&mut self, pos: u64) -> io::Result<Option<&[u8]>> {
        if pos + HEADER_LEN as u64 > self.limit {
            return Ok(None);
        }
        self.get(pos, HEADER_LEN).map(Some)
    }

    /// Calls `f` with each whole batch from `pos` until the limit, or until `f` returns false.
    fn walk(&mut self, mut pos: u64, mut f: impl FnMut(&BatchHeader, &[u8]) -> io::Result<bool>) -> io::Result<()> {
        while let Some(head) = self.header(pos)? {
            let h = batch::parse_header(head).map_err(invalid_data)?;
            if pos + h.size as u64 > self.limit {
                return Err(invalid_data(format!("batch at {pos} runs past {}", self.limit)));
            }
            if !f(&h, self.get(pos, h.size)?)? {
                break;
            }
            pos += h.size as u64;
        }
        Ok(())
    }
}

/// Writes `parts` one after another at `position` with pwritev(2), resuming after short writes.
fn write_all_at(file: &File, parts: &[&[u8]; 2], mut position: u64) -> io::Result<()> {
    let mut parts = *parts;
    while parts.iter().any(|p| !p.is_empty()) {
        let iov = parts.map(|p| libc::iovec { iov_base: p.as_ptr() as *mut libc::c_void, iov_len: p.len() });
        // SAFETY: each iovec points into a slice borrowed for the whole call (pwritev only reads
        // them), the count matches the array, and the descriptor is the open file we borrow.
        let n = unsafe { libc::pwritev(file.as_raw_fd(), iov.as_ptr(), iov.len() as libc::c_int, position as libc::off_t) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "pwritev wrote nothing"));
        }
        position += n as u64;
        let mut n = n as usize;
        for p in parts.iter_mut() {
            let k = n.min(p.len());
            *p = &p[k..];
            n -= k;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::tests::sample_batch;

    /// Appends `n` batches of 10 records, timestamps rising then one dip, and seals (clean stop).
    fn write_segment(dir: &Path, n: i64) -> (i64, i64) {
        let mut seg = Segment::create(dir, 0, 1 << 20, 4096).unwrap();
        let mut max_ts = -1;
        for i in 0..n {
            let ts = if i == n / 2 { 5_000_000 } else { 1000 + i };
            let mut b = sample_batch(10, ts);
            let (head, body) = b.split_at_mut(HEADER_LEN);
            batch::stamp(head, body, i * 10, 0, None);
            let h = batch::parse_header(&b).unwrap();
            seg.append(&b[..HEADER_LEN], &b[HEADER_LEN..], &h).unwrap();
            max_ts = max_ts.max(ts);
        }
        seg.seal().unwrap();
        (n * 10, max_ts)
    }

    /// A small cleanly closed segment reopens without opening its indexes; a large one from its
    /// last index entry. Both know their end offset, size and max timestamp, and serve reads.
    #[test]
    fn trusted_reopen_small_and_large() {
        for batches in [3i64, 2000] {
            let dir = tempfile::tempdir().unwrap();
            let (next, max_ts) = write_segment(dir.path(), batches);
            let len = std::fs::metadata(dir.path().join("00000000000000000000.log")).unwrap().len();
            assert_eq!(len > WALK_WHOLE_BELOW, batches > 3, "the two cases take the two paths");
            let index = dir.path().join("00000000000000000000.index");
            if batches == 3 {
                // Not even created: proves the small path never opens the indexes.
                std::fs::remove_file(&index).ok();
                std::fs::remove_file(dir.path().join("00000000000000000000.timeindex")).unwrap();
            }
            let (seg, rec) = Segment::open(dir.path(), 0, 1 << 20, 4096, false).unwrap();
            assert_eq!((rec.truncated_bytes, seg.size(), seg.next_offset, seg.max_timestamp()), (0, len, next, max_ts));
            if batches == 3 {
                assert!(!index.exists());
            }
            let mut seen = Vec::new();
            seg.for_each_batch(next - 15, |h, _| {
                seen.push(h.base_offset);
                true
            })
            .unwrap();
            assert_eq!(seen, vec![next - 20, next - 10]);
            let slice = seg.read(next - 1, 1, true, i64::MAX).unwrap().unwrap();
            assert_eq!(slice.position + slice.len as u64, len);
        }
    }
}
