//! Sparse offset and time indexes, memory-mapped like Kafka's `OffsetIndex` and `TimeIndex`.
//!
//! `.index` entries: relative offset u32 + file position u32 (8 bytes).
//! `.timeindex` entries: timestamp i64 + relative offset u32 (12 bytes).
//! The active segment's files grow to `segment.index.bytes` at their first new entry and are
//! trimmed to their entries when the segment rolls or the broker shuts down. After a crash the
//! active segment's indexes are rebuilt from the log, so a torn index never outlives recovery.

use memmap2::{MmapMut, MmapOptions};
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// One memory-mapped index file of fixed-size entries.
struct IndexFile {
    path: PathBuf,
    file: File,
    mmap: Option<MmapMut>,
    entries: usize,
    entry_size: usize,
    capacity: usize,
}

impl IndexFile {
    /// Opens (creating if needed) an index that may grow to `max_bytes`. With `valid`, the
    /// leading entries already in the file that pass `valid(prev, entry)` are kept (a trimmed
    /// index after a clean shutdown); otherwise it starts empty. The file is grown to
    /// `max_bytes` only on the first push past what it holds, so opening costs no ftruncate
    /// (startup with many partitions) and sealed segments never grow.
    fn open(path: &Path, entry_size: usize, max_bytes: u64, valid: Option<&dyn Fn(Option<&[u8]>, &[u8]) -> bool>) -> io::Result<IndexFile> {
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        let len = file.metadata()?.len() as usize;
        // SAFETY: the file is private to this broker's data dir and only this process maps it;
        // its length changes only through `remap`, which drops the mapping first.
        let mmap = if len >= entry_size { Some(unsafe { MmapOptions::new().len(len).map_mut(&file)? }) } else { None };
        let entries = match (valid, &mmap) {
            (Some(ok), Some(m)) => {
                let mut n = 0;
                let mut prev: Option<&[u8]> = None;
                for e in m[..len - len % entry_size].chunks_exact(entry_size) {
                    if !ok(prev, e) {
                        break;
                    }
                    prev = Some(e);
                    n += 1;
                }
                n
            }
            _ => 0,
        };
        let capacity = (max_bytes as usize / entry_size).max(entries + 1);
        Ok(IndexFile { path: path.to_path_buf(), file, mmap, entries, entry_size, capacity })
    }

    fn is_full(&self) -> bool {
        self.entries >= self.capacity
    }

    /// Entries the file (and its mapping) has room for now.
    fn mapped(&self) -> usize {
        self.mmap.as_ref().map_or(0, |m| m.len() / self.entry_size)
    }

    fn entry(&self, i: usize) -> &[u8] {
        let m = self.mmap.as_ref().map(|m| &m[..]).unwrap_or(&[]);
        &m[i * self.entry_size..(i + 1) * self.entry_size]
    }

    fn push(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.is_full() {
            return Ok(());
        }
        if self.entries >= self.mapped() {
            self.remap(self.capacity)?;
        }
        if let Some(m) = self.mmap.as_mut() {
            let at = self.entries * self.entry_size;
            m[at..at + self.entry_size].copy_from_slice(bytes);
            self.entries += 1;
        }
        Ok(())
    }

    /// Sets the file to room for `entries` entries and maps it again at that size.
    fn remap(&mut self, entries: usize) -> io::Result<()> {
        if let Some(m) = self.mmap.take() {
            m.flush()?;
        }
        let len = entries * self.entry_size;
        self.file.set_len(len as u64)?;
        if entries > 0 {
            // SAFETY: as in `open`.
            self.mmap = Some(unsafe { MmapOptions::new().len(len).map_mut(&self.file)? });
        }
        Ok(())
    }

    /// Shrinks the file to its entries (done on roll and on clean shutdown): a sealed index
    /// stays readable but takes no more entries.
    fn trim(&mut self) -> io::Result<()> {
        if self.mapped() != self.entries || self.mmap.as_ref().is_some_and(|m| m.len() % self.entry_size != 0) {
            self.remap(self.entries)?;
        }
        self.capacity = self.entries;
        Ok(())
    }

    fn flush(&self) -> io::Result<()> {
        match &self.mmap {
            Some(m) => m.flush(),
            None => Ok(()),
        }
    }

    /// Last index `i` with `key(i) <= target`, by binary search.
    fn floor(&self, target: i64, key: impl Fn(&[u8]) -> i64) -> Option<usize> {
        let (mut lo, mut hi) = (0usize, self.entries);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if key(self.entry(mid)) <= target {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo.checked_sub(1)
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Maps offsets to file positions in one segment.
pub struct OffsetIndex {
    base_offset: i64,
    file: IndexFile,
}

impl OffsetIndex {
    pub const ENTRY: usize = 8;

    /// Opens the index; `trust_existing` keeps the entries already on disk (clean shutdown).
    pub fn open(path: &Path, base_offset: i64, max_bytes: u64, trust_existing: bool) -> io::Result<OffsetIndex> {
        let valid = |prev: Option<&[u8]>, e: &[u8]| match prev {
            None => true,
            Some(p) => u32_at(e, 0) > u32_at(p, 0) && u32_at(e, 4) > u32_at(p, 4),
        };
        let valid: Option<&dyn Fn(Option<&[u8]>, &[u8]) -> bool> = if trust_existing { Some(&valid) } else { None };
        Ok(OffsetIndex { base_offset, file: IndexFile::open(path, Self::ENTRY, max_bytes, valid)? })
    }

    pub fn append(&mut self, offset: i64, position: u32) -> io::Result<()> {
        let mut e = [0u8; 8];
        e[0..4].copy_from_slice(&((offset - self.base_offset) as u32).to_be_bytes());
        e[4..8].copy_from_slice(&position.to_be_bytes());
        self.file.push(&e)
    }

    /// The greatest indexed (offset, position) at or below `offset`, else the segment start.
    pub fn lookup(&self, offset: i64) -> (i64, u32) {
        let rel = offset - self.base_offset;
        match self.file.floor(rel, |e| u32_at(e, 0) as i64) {
            Some(i) => {
                let e = self.file.entry(i);
                (self.base_offset + u32_at(e, 0) as i64, u32_at(e, 4))
            }
            None => (self.base_offset, 0),
        }
    }

    /// Drops entries whose position is at or beyond `position` (after log truncation).
    pub fn truncate_to_position(&mut self, position: u32) {
        while self.file.entries > 0 && u32_at(self.file.entry(self.file.entries - 1), 4) >= position {
            self.file.entries -= 1;
        }
    }

    pub fn is_full(&self) -> bool {
        self.file.is_full()
    }
    pub fn trim(&mut self) -> io::Result<()> {
        self.file.trim()
    }
    pub fn flush(&self) -> io::Result<()> {
        self.file.flush()
    }
    pub fn path(&self) -> &Path {
        &self.file.path
    }
}

/// Maps timestamps to offsets in one segment: each entry is a new maximum timestamp.
pub struct TimeIndex {
    base_offset: i64,
    file: IndexFile,
    last_timestamp: i64,
}

impl TimeIndex {
    pub const ENTRY: usize = 12;

    pub fn open(path: &Path, base_offset: i64, max_bytes: u64, trust_existing: bool) -> io::Result<TimeIndex> {
        let ts = |e: &[u8]| i64::from_be_bytes(e[0..8].try_into().unwrap_or([0; 8]));
        let valid = |prev: Option<&[u8]>, e: &[u8]| match prev {
            None => ts(e) != 0 || u32_at(e, 8) != 0,
            Some(p) => ts(e) > ts(p) && u32_at(e, 8) >= u32_at(p, 8),
        };
        let valid: Option<&dyn Fn(Option<&[u8]>, &[u8]) -> bool> = if trust_existing { Some(&valid) } else { None };
        let file = IndexFile::open(path, Self::ENTRY, max_bytes, valid)?;
        let entries = file.entries;
        let last_timestamp = if entries > 0 { ts(file.entry(entries - 1)) } else { i64::MIN };
        Ok(TimeIndex { base_offset, file, last_timestamp })
    }

    /// Records that the batch ending at `offset` raised the segment's max timestamp to `timestamp`.
    pub fn maybe_append(&mut self, timestamp: i64, offset: i64) -> io::Result<()> {
        if timestamp > self.last_timestamp {
            let mut e = [0u8; 12];
            e[0..8].copy_from_slice(&timestamp.to_be_bytes());
            e[8..12].copy_from_slice(&((offset - self.base_offset) as u32).to_be_bytes());
            self.file.push(&e)?;
            self.last_timestamp = timestamp;
        }
        Ok(())
    }

    pub fn last_timestamp(&self) -> Option<i64> {
        (self.file.entries > 0).then_some(self.last_timestamp)
    }

    /// An offset from which a forward scan finds the first batch with max timestamp >= `timestamp`.
    pub fn lookup(&self, timestamp: i64) -> i64 {
        let key = |e: &[u8]| i64::from_be_bytes(e[0..8].try_into().unwrap_or([0; 8]));
        match self.file.floor(timestamp - 1, key) {
            Some(i) => self.base_offset + u32_at(self.file.entry(i), 8) as i64,
            None => self.base_offset,
        }
    }

    pub fn is_full(&self) -> bool {
        self.file.is_full()
    }
    pub fn trim(&mut self) -> io::Result<()> {
        self.file.trim()
    }
    pub fn flush(&self) -> io::Result<()> {
        self.file.flush()
    }
    pub fn path(&self) -> &Path {
        &self.file.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_index_lookup_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("0.index");
        let mut idx = OffsetIndex::open(&p, 100, 1024, false).unwrap();
        idx.append(110, 4096).unwrap();
        idx.append(130, 8192).unwrap();
        assert_eq!(idx.lookup(100), (100, 0));
        assert_eq!(idx.lookup(115), (110, 4096));
        assert_eq!(idx.lookup(500), (130, 8192));
        idx.trim().unwrap();
        let idx = OffsetIndex::open(&p, 100, 1024, true).unwrap();
        assert_eq!(idx.lookup(131), (130, 8192));
    }

    #[test]
    fn time_index_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = TimeIndex::open(&dir.path().join("0.timeindex"), 0, 1200, false).unwrap();
        t.maybe_append(10, 5).unwrap();
        t.maybe_append(9, 6).unwrap();
        t.maybe_append(20, 9).unwrap();
        assert_eq!(t.lookup(5), 0);
        assert_eq!(t.lookup(15), 5);
        assert_eq!(t.lookup(25), 9);
    }
}
