//! Switch timings kept for the session: shown in the UI and the API, and the source of the
//! progress estimate for the next switch to the same profile.

use std::collections::{BTreeMap, HashMap};

use super::state::SwitchTimings;

#[derive(Debug, Default, Clone)]
pub struct TimingsStore {
    all: Vec<SwitchTimings>,
    last_ok: HashMap<String, SwitchTimings>,
    totals: BTreeMap<TotalsKey, TimingTotals>,
}

/// Which switches a [`TimingTotals`] adds up: to `profile`, that ended `ok` or not.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TotalsKey {
    pub profile: String,
    pub ok: bool,
}

/// Every switch of the session added up, never trimmed (unlike the record list), so
/// `/metrics` can serve counters that only grow.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TimingTotals {
    pub count: u64,
    pub stop_ms: u64,
    pub start_ms: u64,
    pub load_ms: u64,
    pub total_ms: u64,
}

/// Records beyond this are dropped oldest-first; a session rarely switches this often.
const MAX_RECORDS: usize = 1000;

impl TimingsStore {
    pub fn record(&mut self, timings: SwitchTimings) {
        let totals = self
            .totals
            .entry(TotalsKey {
                profile: timings.profile.clone(),
                ok: timings.ok,
            })
            .or_default();
        totals.count += 1;
        totals.stop_ms += timings.stop_ms;
        totals.start_ms += timings.start_ms;
        totals.load_ms += timings.load_ms;
        totals.total_ms += timings.total_ms;
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

    pub fn totals(&self) -> &BTreeMap<TotalsKey, TimingTotals> {
        &self.totals
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
        let ok = &store.totals()[&TotalsKey {
            profile: "a".into(),
            ok: true,
        }];
        assert_eq!((ok.count, ok.total_ms), (2, 2100));
    }

    #[test]
    fn totals_keep_counting_past_the_record_limit() {
        let mut store = TimingsStore::default();
        for _ in 0..MAX_RECORDS + 5 {
            store.record(t("a", false, 1));
        }
        assert_eq!(store.all().len(), MAX_RECORDS);
        let failed = &store.totals()[&TotalsKey {
            profile: "a".into(),
            ok: false,
        }];
        assert_eq!(failed.count, MAX_RECORDS as u64 + 5);
    }
}
