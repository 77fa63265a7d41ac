//! Switch timings kept for the session: shown in the UI and the API, and the source of the
//! progress estimate for the next switch to the same profile.

use std::collections::HashMap;

use super::state::SwitchTimings;

#[derive(Debug, Default, Clone)]
pub struct TimingsStore {
    all: Vec<SwitchTimings>,
    last_ok: HashMap<String, SwitchTimings>,
}

/// Records beyond this are dropped oldest-first; a session rarely switches this often.
const MAX_RECORDS: usize = 1000;

impl TimingsStore {
    pub fn record(&mut self, timings: SwitchTimings) {
        if timings.ok {
            self.last_ok
                .insert(timings.profile.clone(), timings.clone());
        }
        if self.all.len() == MAX_RECORDS {
            self.all.remove(0);
        }
        self.all.push(timings);
    }

    /// How long the last successful switch to `profile` took, in ms.
    pub fn estimate_ms(&self, profile: &str) -> Option<u64> {
        self.last_ok.get(profile).map(|t| t.total_ms)
    }

    pub fn last_ok(&self, profile: &str) -> Option<&SwitchTimings> {
        self.last_ok.get(profile)
    }

    pub fn all(&self) -> &[SwitchTimings] {
        &self.all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(profile: &str, ok: bool, total_ms: u64) -> SwitchTimings {
        SwitchTimings {
            profile: profile.into(),
            from: None,
            ok,
            stop_ms: 0,
            start_ms: 0,
            load_ms: total_ms,
            total_ms,
            finished_at_ms: 0,
        }
    }

    #[test]
    fn estimate_comes_from_the_last_successful_switch() {
        let mut store = TimingsStore::default();
        assert_eq!(store.estimate_ms("a"), None);
        store.record(t("a", true, 1200));
        store.record(t("a", false, 50));
        assert_eq!(store.estimate_ms("a"), Some(1200));
        store.record(t("a", true, 900));
        assert_eq!(store.estimate_ms("a"), Some(900));
        assert_eq!(store.all().len(), 3);
    }
}
