//! What the workspace shows of the router, gathered off the render path: a task subscribes
//! to the activity broadcast (new rows for the activity view, each profile's measured
//! speed for the picker) and looks at the router's cheap figures a few times a second
//! (the live speed of the answers streaming now, the idle unload's countdown). It publishes
//! a [`RouterView`] on a watch, which the event loop reads like the controller's state;
//! the watch only changes when something shown changes, so an idle router wakes nothing.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use crate::router::RouterHandle;
use crate::router::activity::Record;
use crate::server::state::now_ms;

/// How many requests the activity view keeps.
pub const ROWS: usize = 200;
/// How often the live figures are looked at.
const POLL: Duration = Duration::from_millis(250);
/// The idle unload's countdown shows in its last minute.
const COUNTDOWN_S: u64 = 60;

/// The router's figures as the workspace shows them. Absent (no router, or a client of
/// another llws) means nothing is shown.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RouterView {
    /// The recent requests, oldest first.
    pub records: VecDeque<Record>,
    /// Tokens per second of the answers streaming now, rounded to a tenth.
    pub live_tps: Option<f64>,
    /// Seconds left before the idle unload, in its last minute.
    pub unload_in_s: Option<u64>,
    /// The profile stopped for idleness (the next request loads it again).
    pub unloaded_idle: Option<String>,
    /// Each profile's median generation speed over its recent requests.
    pub measured: HashMap<String, f64>,
}

/// Seconds left before `unload_at_ms`, shown only in the last minute.
pub fn countdown(unload_at_ms: Option<u64>, now_ms: u64) -> Option<u64> {
    let left = unload_at_ms?.saturating_sub(now_ms);
    // Rounded up: "1 s" until the moment itself, never "0 s" while it still runs.
    let secs = left.div_ceil(1000);
    (secs <= COUNTDOWN_S).then_some(secs)
}

/// Starts the feed for `router`; it ends with `shutdown` or the router.
pub fn spawn(router: RouterHandle, shutdown: CancellationToken) -> watch::Receiver<RouterView> {
    let activity = router.activity().clone();
    let mut first = RouterView::default();
    refill(&mut first, &router);
    let (tx, rx) = watch::channel(first);
    let mut records = activity.subscribe();
    tokio::spawn(async move {
        let mut poll = tokio::time::interval(POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                got = records.recv() => match got {
                    Ok(record) => {
                        let profile = record.profile.clone();
                        tx.send_modify(|v| {
                            if v.records.len() == ROWS {
                                v.records.pop_front();
                            }
                            v.records.push_back(record);
                            if let Some(p) = profile
                                && let Some(tps) = activity.median_gen_tps(&p)
                            {
                                v.measured.insert(p, tps);
                            }
                        });
                    }
                    // Too many at once: read the ring again.
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        tx.send_modify(|v| refill(v, &router));
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = poll.tick() => {
                    let live = activity.live_gen_tps().map(|t| (t * 10.0).round() / 10.0);
                    let status = router.status();
                    // No countdown while requests are in flight or waiting: the unload
                    // waits for them, whatever the deadline says.
                    let busy = status.in_flight > 0 || status.queued > 0;
                    let unload_in_s = countdown(status.unload_at_ms, now_ms()).filter(|_| !busy);
                    let unloaded = status.unloaded_idle;
                    tx.send_if_modified(|v| {
                        let changed = v.live_tps != live
                            || v.unload_in_s != unload_in_s
                            || v.unloaded_idle != unloaded;
                        v.live_tps = live;
                        v.unload_in_s = unload_in_s;
                        v.unloaded_idle = unloaded.clone();
                        changed
                    });
                }
            }
        }
    });
    rx
}

/// The rows and measured speeds again from the ring.
fn refill(v: &mut RouterView, router: &RouterHandle) {
    let activity = router.activity();
    v.records = activity.recent(ROWS).into();
    v.measured = v
        .records
        .iter()
        .filter_map(|r| r.profile.clone())
        .collect::<std::collections::HashSet<_>>()
        .into_iter()
        .filter_map(|p| activity.median_gen_tps(&p).map(|t| (p, t)))
        .collect();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_countdown_shows_in_the_last_minute_only() {
        let now = 1_000_000;
        assert_eq!(countdown(None, now), None);
        assert_eq!(countdown(Some(now + 61_000), now), None);
        assert_eq!(countdown(Some(now + 60_000), now), Some(60));
        assert_eq!(
            countdown(Some(now + 1), now),
            Some(1),
            "never 0 s ahead of time"
        );
        assert_eq!(countdown(Some(now), now), Some(0));
        assert_eq!(
            countdown(Some(now - 5), now),
            Some(0),
            "late is 0, not a wrap"
        );
    }
}
