//! Group commit for `acks.all.fsync`: callers that each need the log durable up to some offset
//! share fsync rounds. One caller runs a round (outside the partition lock, so appends go on)
//! while the others wait, and that round covers everything appended before it started.

use std::io;
use std::sync::{Condvar, Mutex};

/// How many callers asked for durability, and how many fsync rounds they took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// `sync_upto` calls.
    pub calls: u64,
    /// Rounds run for them.
    pub fsyncs: u64,
}

#[derive(Default)]
struct State {
    /// Every offset below this is on stable storage.
    durable: i64,
    /// A round is running.
    syncing: bool,
    stats: SyncStats,
}

/// One partition's group commit.
#[derive(Default)]
pub(super) struct GroupCommit {
    state: Mutex<State>,
    done: Condvar,
}

impl GroupCommit {
    /// Calls and rounds so far.
    pub(super) fn stats(&self) -> SyncStats {
        self.lock().stats
    }

    /// Returns once every offset below `offset` is durable. `round` fsyncs and returns the log
    /// end offset it started from (everything below it is durable once it returns).
    pub(super) fn sync_upto(&self, offset: i64, round: impl Fn() -> io::Result<i64>) -> io::Result<()> {
        let mut st = self.lock();
        st.stats.calls += 1;
        loop {
            if st.durable >= offset {
                return Ok(());
            }
            if st.syncing {
                st = self.done.wait(st).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            st.syncing = true;
            st.stats.fsyncs += 1;
            drop(st);
            let res = round();
            st = self.lock();
            st.syncing = false;
            self.done.notify_all();
            st.durable = st.durable.max(res?);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a few counters, consistent after every statement: a poisoned lock is safe.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}
