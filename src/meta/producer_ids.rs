//! Producer id allocation, unique across restarts: ids are handed out from blocks of 1000 and the
//! start of the next block is persisted (atomically) before any id of a block is used.

use std::io;
use std::path::PathBuf;
use std::sync::Mutex;

const FILE: &str = "producer_ids";
const BLOCK: i64 = 1000;

/// Hands out producer ids for InitProducerId, never the same one twice, even across restarts.
pub struct ProducerIdManager {
    dir: PathBuf,
    /// (next id to hand out, end of the current block)
    state: Mutex<(i64, i64)>,
}

impl ProducerIdManager {
    /// Opens the allocator whose block file is in `dir`; the first id is where the last block ended.
    pub fn open(dir: PathBuf) -> io::Result<ProducerIdManager> {
        let stored = match std::fs::read_to_string(dir.join(FILE)) {
            Ok(s) => s.trim().parse::<i64>().map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{FILE}: {e}")))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        Ok(ProducerIdManager { dir, state: Mutex::new((stored, stored)) })
    }

    /// The next unused id; persists the end of a new block first when the current one is used up.
    pub fn next_id(&self) -> io::Result<i64> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.0 >= s.1 {
            let end = s.1 + BLOCK;
            crate::util::fs::write_atomic(&self.dir, FILE, end.to_string().as_bytes())?;
            s.1 = end;
        }
        let id = s.0;
        s.0 += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_across_reopen() {
        let d = tempfile::tempdir().unwrap();
        let m = ProducerIdManager::open(d.path().to_path_buf()).unwrap();
        let a = m.next_id().unwrap();
        let b = m.next_id().unwrap();
        assert!(b > a);
        let m2 = ProducerIdManager::open(d.path().to_path_buf()).unwrap();
        assert!(m2.next_id().unwrap() > b);
    }
}
