//! What DescribeLogDirs reports of the data directory: its path and the space on its file system.

use std::path::{Path, PathBuf};

/// The data directory and its file system's space.
#[derive(Debug, Clone)]
pub struct LogDirUsage {
    /// The directory, canonicalized (as given if that fails).
    pub path: PathBuf,
    /// Bytes of the file system, or -1 if unknown.
    pub total_bytes: i64,
    /// Bytes available to the broker, or -1 if unknown.
    pub usable_bytes: i64,
}

/// The usage of `dir`'s file system.
pub fn usage(dir: &Path) -> LogDirUsage {
    let path = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let (total_bytes, usable_bytes) = disk_space(&path);
    LogDirUsage { path, total_bytes, usable_bytes }
}

/// (total, available) bytes of the file system holding `dir`, or (-1, -1) if unknown.
fn disk_space(dir: &Path) -> (i64, i64) {
    use std::ffi::CString;
    let Ok(c) = CString::new(dir.as_os_str().as_encoded_bytes()) else { return (-1, -1) };
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a valid NUL-terminated path and `st` points to writable memory of the size
    // statvfs writes.
    if unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) } != 0 {
        return (-1, -1);
    }
    // SAFETY: statvfs returned 0, so it filled in `st` completely.
    let st = unsafe { st.assume_init() };
    ((st.f_blocks as i64) * st.f_frsize as i64, (st.f_bavail as i64) * st.f_frsize as i64)
}
