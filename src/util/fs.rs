//! Small durable file operations shared by the log and the broker's metadata files.

use std::io::{self, Write};
use std::path::Path;

/// Writes `bytes` to `dir/name` atomically and durably: a temp file, fsync, rename, fsync the dir.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}

/// The names of the entries of `dir`.
pub fn list_dir(dir: &Path) -> io::Result<Vec<String>> {
    std::fs::read_dir(dir)?.map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned())).collect()
}
