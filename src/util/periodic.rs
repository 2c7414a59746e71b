//! A background task's cadence: blocking work run every period until the broker shuts down.

use std::time::Duration;
use tokio::sync::watch;

/// Every `period` (the first time one period from now), asks `next` for the work of this turn
/// and runs it on a blocking thread, waiting for it before the next turn; returns once
/// `shutdown` changes. Turns that fall behind are delayed, not bunched up.
pub async fn run_every<W>(period: Duration, mut shutdown: watch::Receiver<bool>, mut next: impl FnMut() -> W)
where
    W: FnOnce() + Send + 'static,
{
    let mut tick = tokio::time::interval(period.max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the interval's first tick is immediate
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let _ = tokio::task::spawn_blocking(next()).await;
            }
            _ = shutdown.changed() => break,
        }
    }
}
