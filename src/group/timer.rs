//! The group coordinator's timers: session expiry, pending member ids (KIP-394), rebalance
//! deadlines and the initial rebalance delay, checked every [`GROUP_TICK`]; and the expiry of
//! empty groups' offsets every `offsets.retention.check.interval.ms` (KIP-211).
//!
//! Kafka arms one timer per deadline; a tick is simpler and bounds how late one fires.
//! Admin reads do not expire anything: the tick is the only thing that does.

use super::classic::GroupState;
use super::GroupCoordinator;
use std::time::{Duration, Instant};
use crate::util::periodic::run_every;
use tokio::sync::watch;

/// How often the group deadlines are checked.
pub const GROUP_TICK: Duration = Duration::from_millis(50);

/// Whether a tick also expires old offsets of empty groups (and forgets groups left with none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetExpiry {
    /// `offsets.retention.check.interval.ms` has passed: expire them.
    Due,
    /// Only the group deadlines.
    NotDue,
}

impl GroupCoordinator {
    /// Runs the timers until `shutdown` changes; each tick runs on a blocking thread (it may
    /// write to `__consumer_offsets`).
    pub async fn run_timers(self, shutdown: watch::Receiver<bool>) {
        let expiry_every = Duration::from_millis(self.cfg.offsets_retention_check_interval_ms.max(1));
        let mut last_expiry = tokio::time::Instant::now();
        run_every(GROUP_TICK, shutdown, || {
            let expiry = if last_expiry.elapsed() >= expiry_every {
                last_expiry = tokio::time::Instant::now();
                OffsetExpiry::Due
            } else {
                OffsetExpiry::NotDue
            };
            let groups = self.clone();
            move || groups.tick(expiry)
        })
        .await
    }

    /// One tick: expires pending member ids and sessions, completes join phases that are due,
    /// and with [`OffsetExpiry::Due`] expires offsets of empty groups.
    pub fn tick(&self, expiry: OffsetExpiry) {
        let now = Instant::now();
        let expire_offsets = expiry == OffsetExpiry::Due;
        let mut empty_since = Vec::new();
        {
            let mut groups = self.lock();
            for g in groups.values_mut() {
                g.pending.retain(|_, deadline| *deadline > now);
                let expired: Vec<String> = g.members.values().filter(|m| m.expired(now)).map(|m| m.id.clone()).collect();
                for id in &expired {
                    tracing::info!(group = %g.id, member = %id, "member session expired");
                    g.remove_member(id);
                }
                let completed = if expired.is_empty() {
                    self.maybe_complete_join(g, now)
                } else {
                    g.on_members_left(&self.cfg);
                    self.maybe_complete_join(g, Instant::now())
                };
                if let Err(e) = completed {
                    // The group stays as it was (PreparingRebalance, its deadline passed): the
                    // next tick writes the record again.
                    tracing::warn!(group = %g.id, error = %e, "cannot store the empty group; will retry");
                }
                if expire_offsets && g.is(GroupState::Empty) {
                    empty_since.push((g.id.clone(), g.state_timestamp));
                }
            }
            // Empty groups with nothing committed are forgotten, as Kafka does.
            if expire_offsets {
                groups.retain(|id, g| !g.is(GroupState::Empty) || !g.members.is_empty() || self.offsets.has_offsets(id));
            }
        }
        for (id, since) in empty_since {
            self.offsets.expire(&id, since, self.cfg.offsets_retention_ms);
        }
    }
}
