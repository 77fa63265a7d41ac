//! When the health wait of the load in flight gives up, shared between the controller
//! (which waits) and every handle (through which a user asks to keep waiting).
//!
//! The original asked "continue anyway?" after its 300 s health wait failed. Here the offer
//! comes before the timeout: while a model loads, anyone may push the deadline back by
//! another `health_timeout_s`, and nothing is stopped unless nobody did. A 120 GB model on
//! a slow disk then needs no settings edit and no restart of a load that was nearly done.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::state::now_ms;

#[derive(Debug, Default)]
pub struct LoadDeadline {
    at: Mutex<Option<Instant>>,
}

impl LoadDeadline {
    /// A health wait begins and gives up at `at`.
    pub fn arm(&self, at: Instant) {
        if let Ok(mut slot) = self.at.lock() {
            *slot = Some(at);
        }
    }

    /// The health wait ended, one way or the other.
    pub fn disarm(&self) {
        if let Ok(mut slot) = self.at.lock() {
            *slot = None;
        }
    }

    /// When the wait in flight gives up; `None` when nothing is loading.
    pub fn get(&self) -> Option<Instant> {
        self.at.lock().ok().and_then(|slot| *slot)
    }

    /// Whether the wait in flight has run past its deadline.
    pub fn passed(&self, now: Instant) -> bool {
        self.get().is_some_and(|at| now >= at)
    }

    /// Pushes the deadline of the wait in flight back by `by`, returning the new one;
    /// `None` when nothing is loading. A deadline already passed (the controller has not
    /// noticed yet) restarts from now, so the extension is never swallowed.
    pub fn extend(&self, by: Duration, now: Instant) -> Option<Instant> {
        let mut slot = self.at.lock().ok()?;
        let at = slot.as_mut()?;
        *at = (*at).max(now) + by;
        Some(*at)
    }
}

/// `at` as milliseconds since the Unix epoch, for the state and the API.
pub fn unix_ms(at: Instant, now: Instant) -> u64 {
    let now_unix = now_ms();
    if at >= now {
        now_unix + at.duration_since(now).as_millis() as u64
    } else {
        now_unix.saturating_sub(now.duration_since(at).as_millis() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extends_only_while_armed() {
        let d = LoadDeadline::default();
        let now = Instant::now();
        assert_eq!(d.extend(Duration::from_secs(5), now), None);
        d.arm(now + Duration::from_secs(10));
        assert!(!d.passed(now));
        assert_eq!(
            d.extend(Duration::from_secs(5), now),
            Some(now + Duration::from_secs(15))
        );
        // Each extension adds a full step.
        assert_eq!(
            d.extend(Duration::from_secs(5), now),
            Some(now + Duration::from_secs(20))
        );
        assert!(d.passed(now + Duration::from_secs(20)));
        d.disarm();
        assert_eq!(d.get(), None);
        assert!(!d.passed(now + Duration::from_secs(60)));
    }

    #[test]
    fn an_extension_after_the_deadline_starts_from_now() {
        let d = LoadDeadline::default();
        let start = Instant::now();
        d.arm(start);
        let later = start + Duration::from_secs(3);
        assert_eq!(
            d.extend(Duration::from_secs(5), later),
            Some(later + Duration::from_secs(5))
        );
    }

    #[test]
    fn unix_ms_places_the_deadline_around_now() {
        let now = Instant::now();
        let before = now_ms();
        let at = unix_ms(now + Duration::from_secs(2), now);
        assert!(at >= before + 2000 && at <= now_ms() + 2000, "{at}");
        let past = unix_ms(now - Duration::from_millis(500), now);
        assert!(past + 500 >= before && past <= now_ms(), "{past}");
    }
}
