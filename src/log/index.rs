//! Sparse offset and time indexes, memory-mapped like Kafka's `OffsetIndex` and `TimeIndex`.
//!
//! `.index` entries: relative offset u32 + file position u32 (8 bytes).
//! `.timeindex` entries: timestamp i64 + relative offset u32 (12 bytes).
//! The active segment's files grow to `segment.index.bytes` at their first new entry and are
//! trimmed to their entries when the segment rolls or the broker shuts down. After a crash the
//! active segment's indexes are rebuilt from the log, so a torn index never outlives recovery.
//!
//! Like Kafka's `LazyIndex`, a file is opened and mapped only when first used: startup with
//! many partitions opens no index it does not need (see `Segment::open`).

use memmap2::{MmapMut, MmapOptions};
use std::cell::OnceCell;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Where an `.index` entry's relative offset (u32) is.
const OFFSET_ENTRY_REL_OFFSET: usize = 0;
/// Where an `.index` entry's file position (u32) is.
const OFFSET_ENTRY_POSITION: usize = 4;
/// Where a `.timeindex` entry's timestamp (i64) is.
const TIME_ENTRY_TIMESTAMP: usize = 0;
/// Where a `.timeindex` entry's relative offset (u32) is.
const TIME_ENTRY_REL_OFFSET: usize = 8;
// The entry layouts above, checked at compile time: each field ends where the next begins.
const _: () = {
    assert!(OFFSET_ENTRY_REL_OFFSET == 0 && OFFSET_ENTRY_POSITION == OFFSET_ENTRY_REL_OFFSET + 4);
    assert!(OffsetIndex::ENTRY == OFFSET_ENTRY_POSITION + 4);
    assert!(TIME_ENTRY_TIMESTAMP == 0 && TIME_ENTRY_REL_OFFSET == TIME_ENTRY_TIMESTAMP + 8);
    assert!(TimeIndex::ENTRY == TIME_ENTRY_REL_OFFSET + 4);
};

/// Says whether an entry on disk (after `prev`) is one a clean shutdown left, so it is kept;
/// an entry must also lie inside the segment (`Bounds`).
type KeepCheck = fn(Option<&[u8]>, &[u8], Bounds) -> bool;

/// What a kept entry must point inside (Kafka's `sanityCheck`, made per entry).
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// The segment log's length in bytes.
    pub log_len: u64,
    /// The number of offsets the segment spans (next offset - base offset).
    pub offsets: u64,
    /// The segment's first batch's max timestamp: every time index entry (a running maximum)
    /// is at least that.
    pub min_timestamp: i64,
}

impl Bounds {
    /// No bounds known.
    pub const NONE: Bounds = Bounds { log_len: u64::MAX, offsets: u64::MAX, min_timestamp: i64::MIN };
}

/// One index file of fixed-size entries, opened and mapped on first use: what the offset and
/// time indexes share (Kafka's `AbstractIndex`); each derefs to it.
pub struct IndexFile {
    path: PathBuf,
    entry_size: usize,
    max_bytes: u64,
    /// `Some`: keep the leading entries on disk that pass the check (a trimmed index after a
    /// clean shutdown); `None`: start empty (a new segment, or one being rebuilt by recovery).
    keep: Option<KeepCheck>,
    /// Sealed before it was loaded: it takes no more entries than it has.
    sealed: bool,
    /// What kept entries must point inside (a `Cell`: bounds may be learnt before first use).
    bounds: std::cell::Cell<Bounds>,
    mapped: OnceCell<Mapped>,
}

struct Mapped {
    file: File,
    mmap: Option<MmapMut>,
    entries: usize,
    capacity: usize,
}

impl Mapped {
    /// Entries the file (and its mapping) has room for now.
    fn room(&self, entry_size: usize) -> usize {
        self.mmap.as_ref().map_or(0, |m| m.len() / entry_size)
    }

    fn entry(&self, i: usize, entry_size: usize) -> &[u8] {
        let m = self.mmap.as_ref().map(|m| &m[..]).unwrap_or(&[]);
        &m[i * entry_size..(i + 1) * entry_size]
    }

    fn last(&self, entry_size: usize) -> Option<&[u8]> {
        self.entries.checked_sub(1).map(|i| self.entry(i, entry_size))
    }
}

impl IndexFile {
    /// An index that may grow to `max_bytes`; nothing is opened yet. The file is grown to
    /// `max_bytes` only on the first push past what it holds, so sealed segments never grow.
    fn new(path: &Path, entry_size: usize, max_bytes: u64, keep: Option<KeepCheck>) -> IndexFile {
        IndexFile { path: path.to_path_buf(), entry_size, max_bytes, keep, sealed: false, bounds: std::cell::Cell::new(Bounds::NONE), mapped: OnceCell::new() }
    }

    fn open(&self) -> io::Result<Mapped> {
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&self.path)?;
        let len = file.metadata()?.len() as usize;
        // SAFETY: the file is private to this broker's data dir and only this process maps it;
        // its length changes only through `remap`, which drops the mapping first.
        let mmap = if len >= self.entry_size { Some(unsafe { MmapOptions::new().len(len).map_mut(&file)? }) } else { None };
        let entries = match (self.keep, &mmap) {
            (Some(ok), Some(m)) => {
                let mut n = 0;
                let mut prev: Option<&[u8]> = None;
                for e in m[..len - len % self.entry_size].chunks_exact(self.entry_size) {
                    if !ok(prev, e, self.bounds.get()) {
                        break;
                    }
                    prev = Some(e);
                    n += 1;
                }
                n
            }
            _ => 0,
        };
        let capacity = if self.sealed { entries } else { (self.max_bytes as usize / self.entry_size).max(entries + 1) };
        Ok(Mapped { file, mmap, entries, capacity })
    }

    /// Kept entries must lie inside `bounds` (set before the index is first used; a damaged
    /// index then loses its bad tail, never a record).
    pub fn bound(&self, bounds: Bounds) {
        self.bounds.set(bounds);
    }

    /// The bounds set so far.
    pub fn bounds(&self) -> Bounds {
        self.bounds.get()
    }

    /// Whether the file has been opened (bounds set later no longer apply).
    pub fn is_loaded(&self) -> bool {
        self.mapped.get().is_some()
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Forgets the entries on disk: the index is rebuilt from the log (recovery).
    pub fn reset(&mut self) {
        self.keep = None;
        self.sealed = false;
        self.mapped = OnceCell::new();
    }

    fn loaded(&self) -> io::Result<&Mapped> {
        if let Some(m) = self.mapped.get() {
            return Ok(m);
        }
        let m = self.open()?;
        Ok(self.mapped.get_or_init(|| m))
    }

    fn loaded_mut(&mut self) -> io::Result<&mut Mapped> {
        if self.mapped.get().is_none() {
            self.mapped = OnceCell::from(self.open()?);
        }
        self.mapped.get_mut().ok_or_else(|| io::Error::other("index not loaded"))
    }

    /// No room left, keeping `reserve` entries free.
    fn is_full(&self, reserve: usize) -> io::Result<bool> {
        let m = self.loaded()?;
        Ok(m.entries + reserve >= m.capacity)
    }

    fn push(&mut self, bytes: &[u8]) -> io::Result<()> {
        let size = self.entry_size;
        let m = self.loaded_mut()?;
        if m.entries >= m.capacity {
            // The segment rolls before its index fills (`Segment::indexes_full`): an entry that
            // does not fit is an error, never dropped.
            let entries = m.entries;
            return Err(io::Error::other(format!("index {} is full ({entries} entries)", self.path.display())));
        }
        if m.entries >= m.room(size) {
            let capacity = m.capacity;
            Self::remap(m, size, capacity)?;
        }
        if let Some(mm) = m.mmap.as_mut() {
            let at = m.entries * size;
            mm[at..at + size].copy_from_slice(bytes);
            m.entries += 1;
        }
        Ok(())
    }

    /// Sets the file to room for `entries` entries and maps it again at that size.
    fn remap(m: &mut Mapped, entry_size: usize, entries: usize) -> io::Result<()> {
        if let Some(mm) = m.mmap.take() {
            mm.flush()?;
        }
        let len = entries * entry_size;
        let current = m.file.metadata()?.len();
        if len as u64 > current {
            // Blocks are reserved now: a write through the mapping into a hole of a full file
            // system would be a SIGBUS; here it is an error (ENOSPC) the append returns.
            // SAFETY: fallocate on a descriptor we own, over a range of that file.
            let r = unsafe { libc::posix_fallocate(m.file.as_raw_fd(), 0, len as libc::off_t) };
            if r != 0 && r != libc::EOPNOTSUPP && r != libc::EINVAL {
                return Err(io::Error::from_raw_os_error(r));
            }
        }
        m.file.set_len(len as u64)?;
        if entries > 0 {
            // SAFETY: the file is private to this broker's data dir and only this process maps it;
            // the old mapping was dropped above and the file just set to `len` bytes, exactly what
            // is mapped, and only this function changes its length, always after the mapping is dropped.
            m.mmap = Some(unsafe { MmapOptions::new().len(len).map_mut(&m.file)? });
        }
        Ok(())
    }

    /// Shrinks the file to its entries (done on roll and on clean shutdown): a sealed index
    /// stays readable but takes no more entries. A kept index that was never loaded is already
    /// as a clean shutdown trimmed it; one that starts empty must be cut on disk.
    pub fn trim(&mut self) -> io::Result<()> {
        self.sealed = true;
        if self.mapped.get().is_none() && self.keep.is_some() {
            return Ok(());
        }
        let size = self.entry_size;
        let m = self.loaded_mut()?;
        if m.room(size) != m.entries || m.mmap.as_ref().is_some_and(|mm| mm.len() % size != 0) {
            let entries = m.entries;
            Self::remap(m, size, entries)?;
        }
        m.capacity = m.entries;
        Ok(())
    }

    /// Writes the mapped entries back; an index never loaded has nothing unwritten.
    pub fn flush(&self) -> io::Result<()> {
        match self.mapped.get().and_then(|m| m.mmap.as_ref()) {
            Some(mm) => mm.flush(),
            None => Ok(()),
        }
    }

    /// The entry of the last index `i` with `key(entry i) <= target`, by binary search.
    fn floor(&self, target: i64, key: impl Fn(&[u8]) -> i64) -> io::Result<Option<&[u8]>> {
        let size = self.entry_size;
        let m = self.loaded()?;
        let (mut lo, mut hi) = (0usize, m.entries);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if key(m.entry(mid, size)) <= target {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo.checked_sub(1).map(|i| m.entry(i, size)))
    }

    fn last(&self) -> io::Result<Option<&[u8]>> {
        Ok(self.loaded()?.last(self.entry_size))
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn i64_at(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3], b[at + 4], b[at + 5], b[at + 6], b[at + 7]])
}

/// Maps offsets to file positions in one segment.
pub struct OffsetIndex {
    base_offset: i64,
    file: IndexFile,
}

impl OffsetIndex {
    /// Bytes of one entry: relative offset u32, file position u32.
    pub const ENTRY: usize = 8;

    /// The index at `path` (opened on first use); `trust_existing` keeps the entries already on
    /// disk (clean shutdown).
    pub fn new(path: &Path, base_offset: i64, max_bytes: u64, trust_existing: bool) -> OffsetIndex {
        fn valid(prev: Option<&[u8]>, e: &[u8], b: Bounds) -> bool {
            let (rel, pos) = (OFFSET_ENTRY_REL_OFFSET, OFFSET_ENTRY_POSITION);
            (u32_at(e, pos) as u64) < b.log_len
                && (u32_at(e, rel) as u64) < b.offsets
                && prev.is_none_or(|p| u32_at(e, rel) > u32_at(p, rel) && u32_at(e, pos) > u32_at(p, pos))
        }
        OffsetIndex { base_offset, file: IndexFile::new(path, Self::ENTRY, max_bytes, trust_existing.then_some(valid as KeepCheck)) }
    }

    /// Adds an entry; offsets and positions only rise, and an offset must fit the entry's
    /// 32 bits relative to the base (the segment rolls before it would not): else an error.
    pub fn append(&mut self, offset: i64, position: u32) -> io::Result<()> {
        let rel = u32::try_from(offset - self.base_offset).map_err(|_| io::Error::other(format!("offset {offset} does not fit an index based at {}", self.base_offset)))?;
        if let Some(last) = self.file.last()? {
            if rel <= u32_at(last, OFFSET_ENTRY_REL_OFFSET) || position <= u32_at(last, OFFSET_ENTRY_POSITION) {
                return Err(io::Error::other(format!("index entry ({offset}, {position}) does not follow the last one")));
            }
        }
        let mut e = [0u8; Self::ENTRY];
        e[OFFSET_ENTRY_REL_OFFSET..OFFSET_ENTRY_POSITION].copy_from_slice(&rel.to_be_bytes());
        e[OFFSET_ENTRY_POSITION..Self::ENTRY].copy_from_slice(&position.to_be_bytes());
        self.file.push(&e)
    }

    /// The greatest indexed (offset, position) at or below `offset`, else the segment start.
    pub fn lookup(&self, offset: i64) -> io::Result<(i64, u32)> {
        let rel = offset - self.base_offset;
        Ok(match self.file.floor(rel, |e| u32_at(e, OFFSET_ENTRY_REL_OFFSET) as i64)? {
            Some(e) => (self.base_offset + u32_at(e, OFFSET_ENTRY_REL_OFFSET) as i64, u32_at(e, OFFSET_ENTRY_POSITION)),
            None => (self.base_offset, 0),
        })
    }

    /// No room for another entry: the segment must roll.
    pub fn is_full(&self) -> io::Result<bool> {
        self.file.is_full(0)
    }
}

/// Maps timestamps to offsets in one segment: each entry is a new maximum timestamp.
pub struct TimeIndex {
    base_offset: i64,
    file: IndexFile,
}

impl TimeIndex {
    /// Bytes of one entry: timestamp i64, relative offset u32.
    pub const ENTRY: usize = 12;

    /// The index at `path` (opened on first use); `trust_existing` as for `OffsetIndex::new`.
    pub fn new(path: &Path, base_offset: i64, max_bytes: u64, trust_existing: bool) -> TimeIndex {
        fn valid(prev: Option<&[u8]>, e: &[u8], b: Bounds) -> bool {
            let (ts, rel) = (TIME_ENTRY_TIMESTAMP, TIME_ENTRY_REL_OFFSET);
            if u32_at(e, rel) as u64 >= b.offsets || i64_at(e, ts) < b.min_timestamp {
                return false;
            }
            match prev {
                None => i64_at(e, ts) != 0 || u32_at(e, rel) != 0,
                Some(p) => i64_at(e, ts) > i64_at(p, ts) && u32_at(e, rel) >= u32_at(p, rel),
            }
        }
        TimeIndex { base_offset, file: IndexFile::new(path, Self::ENTRY, max_bytes, trust_existing.then_some(valid as KeepCheck)) }
    }

    /// Records that the batch ending at `offset` raised the segment's max timestamp to `timestamp`.
    pub fn maybe_append(&mut self, timestamp: i64, offset: i64) -> io::Result<()> {
        if self.last_timestamp()?.is_none_or(|last| timestamp > last) {
            let rel = u32::try_from(offset - self.base_offset).map_err(|_| io::Error::other(format!("offset {offset} does not fit a time index based at {}", self.base_offset)))?;
            let mut e = [0u8; Self::ENTRY];
            e[TIME_ENTRY_TIMESTAMP..TIME_ENTRY_REL_OFFSET].copy_from_slice(&timestamp.to_be_bytes());
            e[TIME_ENTRY_REL_OFFSET..Self::ENTRY].copy_from_slice(&rel.to_be_bytes());
            self.file.push(&e)?;
        }
        Ok(())
    }

    /// The last entry's timestamp: the largest indexed (a sealed segment's max timestamp).
    pub fn last_timestamp(&self) -> io::Result<Option<i64>> {
        Ok(self.file.last()?.map(|e| i64_at(e, TIME_ENTRY_TIMESTAMP)))
    }

    /// An offset from which a forward scan finds the first batch with max timestamp >= `timestamp`.
    pub fn lookup(&self, timestamp: i64) -> io::Result<i64> {
        Ok(match self.file.floor(timestamp.saturating_sub(1), |e| i64_at(e, TIME_ENTRY_TIMESTAMP))? {
            Some(e) => self.base_offset + u32_at(e, TIME_ENTRY_REL_OFFSET) as i64,
            None => self.base_offset,
        })
    }

    /// Full one entry early: the entry `Segment::seal` adds for the segment's max timestamp
    /// always has room, so a sealed segment's last entry holds its max timestamp.
    pub fn is_full(&self) -> io::Result<bool> {
        self.file.is_full(1)
    }
}

/// An index is its file plus its entry layout, as Kafka's indexes extend `AbstractIndex`.
macro_rules! deref_to_index_file {
    ($($index:ty),*) => {$(
        impl std::ops::Deref for $index {
            type Target = IndexFile;
            fn deref(&self) -> &IndexFile {
                &self.file
            }
        }
        impl std::ops::DerefMut for $index {
            fn deref_mut(&mut self) -> &mut IndexFile {
                &mut self.file
            }
        }
    )*};
}
deref_to_index_file!(OffsetIndex, TimeIndex);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_index_lookup_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("0.index");
        let mut idx = OffsetIndex::new(&p, 100, 1024, false);
        idx.append(110, 4096).unwrap();
        idx.append(130, 8192).unwrap();
        assert_eq!(idx.lookup(100).unwrap(), (100, 0));
        assert_eq!(idx.lookup(115).unwrap(), (110, 4096));
        assert_eq!(idx.lookup(500).unwrap(), (130, 8192));
        idx.trim().unwrap();
        let idx = OffsetIndex::new(&p, 100, 1024, true);
        assert_eq!(idx.lookup(131).unwrap(), (130, 8192));
    }

    #[test]
    fn time_index_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = TimeIndex::new(&dir.path().join("0.timeindex"), 0, 1200, false);
        t.maybe_append(10, 5).unwrap();
        t.maybe_append(9, 6).unwrap();
        t.maybe_append(20, 9).unwrap();
        assert_eq!(t.lookup(5).unwrap(), 0);
        assert_eq!(t.lookup(15).unwrap(), 5);
        assert_eq!(t.lookup(25).unwrap(), 9);
        // Any timestamp is a valid question (the fuzzer found i64::MIN overflowing).
        assert_eq!(t.lookup(i64::MIN).unwrap(), 0);
    }

    /// A lazily opened index touches no file until used, and a sealed-before-loaded index
    /// keeps what a clean shutdown left and refuses more entries.
    #[test]
    fn lazy_open_and_seal() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("0.index");
        let mut idx = OffsetIndex::new(&p, 0, 1024, false);
        assert!(!p.exists(), "nothing opened before first use");
        idx.append(5, 100).unwrap();
        idx.trim().unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 8);
        let mut idx = OffsetIndex::new(&p, 0, 1024, true);
        idx.trim().unwrap();
        assert!(idx.append(9, 200).is_err(), "sealed: an append is an error, never dropped silently");
        assert_eq!(idx.lookup(100).unwrap(), (5, 100), "sealed: the append is not taken");
        assert!(idx.is_full().unwrap());
        // A rebuilt (untrusted) index that is sealed unused is cut to nothing on disk.
        let mut idx = OffsetIndex::new(&p, 0, 1024, false);
        idx.trim().unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 0);
    }
}
