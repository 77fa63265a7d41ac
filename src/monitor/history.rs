//! Ring buffers of the figures the panels draw as sparklines, one point per sample over the
//! `monitor.history_s` window.

use std::collections::VecDeque;

use serde::Serialize;

use super::gpu::GpuSnapshot;
use super::system::SystemSnapshot;
use crate::config::settings::MonitorSettings;

/// The last `capacity` values, oldest first. A `None` is a sample where the figure was
/// missing: it keeps the points of all series aligned in time, and a sparkline leaves a gap.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Series {
    values: VecDeque<Option<f64>>,
    #[serde(skip)]
    capacity: usize,
}

impl Series {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            values: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    pub fn push(&mut self, value: Option<f64>) {
        if self.values.len() == self.capacity {
            self.values.pop_front();
        }
        self.values.push_back(value);
    }

    /// Oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Option<f64>> + ExactSizeIterator + '_ {
        self.values.iter().copied()
    }

    pub fn latest(&self) -> Option<f64> {
        self.values.back().copied().flatten()
    }

    /// The largest value in the window, for scaling a sparkline.
    pub fn max(&self) -> Option<f64> {
        self.values.iter().flatten().copied().reduce(f64::max)
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuHistory {
    pub index: u32,
    pub utilization_percent: Series,
    pub memory_used_bytes: Series,
    pub power_w: Series,
    pub temperature_c: Series,
}

impl GpuHistory {
    fn new(index: u32, capacity: usize) -> Self {
        Self {
            index,
            utilization_percent: Series::new(capacity),
            memory_used_bytes: Series::new(capacity),
            power_w: Series::new(capacity),
            temperature_c: Series::new(capacity),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct History {
    capacity: usize,
    pub cpu_percent: Series,
    pub ram_used_incl_cache: Series,
    pub ram_used_excl_cache: Series,
    /// The llama-server's CPU (100 = one core), `None` while no server runs.
    pub server_cpu_percent: Series,
    /// By GPU index, in the order the GPUs first appeared.
    pub gpus: Vec<GpuHistory>,
}

impl History {
    /// `capacity` points per series.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            cpu_percent: Series::new(capacity),
            ram_used_incl_cache: Series::new(capacity),
            ram_used_excl_cache: Series::new(capacity),
            server_cpu_percent: Series::new(capacity),
            gpus: Vec::new(),
        }
    }

    /// Enough points for `history_s` at one point per `interval_ms`.
    pub fn for_settings(settings: &MonitorSettings) -> Self {
        let window_ms = settings.history_s.saturating_mul(1000);
        let points = window_ms.div_ceil(settings.interval_ms.max(1));
        Self::new(usize::try_from(points).unwrap_or(usize::MAX).min(100_000))
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn gpu(&self, index: u32) -> Option<&GpuHistory> {
        self.gpus.iter().find(|g| g.index == index)
    }

    pub fn push_gpu(&mut self, snapshot: &GpuSnapshot) {
        for sample in &snapshot.gpus {
            if self.gpu(sample.index).is_none() {
                self.gpus.push(GpuHistory::new(sample.index, self.capacity));
            }
        }
        for history in &mut self.gpus {
            // A GPU that failed this time carries its last reading: a gap, not a repeat.
            let sample = snapshot
                .gpus
                .iter()
                .find(|g| g.index == history.index && g.error.is_none());
            let get = |f: fn(&super::GpuSample) -> Option<f64>| sample.and_then(f);
            history
                .utilization_percent
                .push(get(|g| g.utilization_gpu_percent.map(f64::from)));
            history
                .memory_used_bytes
                .push(get(|g| g.memory_used_bytes.map(|b| b as f64)));
            history.power_w.push(get(|g| g.power_draw_w));
            history
                .temperature_c
                .push(get(|g| g.temperature_c.map(f64::from)));
        }
    }

    pub fn push_system(&mut self, snapshot: &SystemSnapshot) {
        self.cpu_percent.push(Some(f64::from(snapshot.cpu_percent)));
        self.ram_used_incl_cache
            .push(Some(snapshot.used_incl_cache as f64));
        self.ram_used_excl_cache
            .push(Some(snapshot.used_excl_cache as f64));
        self.server_cpu_percent
            .push(snapshot.server.as_ref().map(|s| f64::from(s.cpu_percent)));
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::monitor::{FootprintSource, GpuSample, ServerFootprint};

    fn gpu(index: u32, util: Option<u32>) -> GpuSample {
        GpuSample {
            index,
            name: Some("test".into()),
            memory_used_bytes: Some(u64::from(index) * 1000),
            utilization_gpu_percent: util,
            temperature_c: Some(40),
            power_draw_w: Some(100.5),
            ..GpuSample::default()
        }
    }

    fn snapshot(gpus: Vec<GpuSample>) -> GpuSnapshot {
        GpuSnapshot {
            gpus,
            driver_version: None,
            taken_at: SystemTime::now(),
            stale: None,
        }
    }

    #[test]
    fn a_series_keeps_the_newest_values_up_to_its_capacity() {
        let mut s = Series::new(3);
        assert!(s.is_empty());
        assert_eq!(s.latest(), None);
        for v in 1..=5 {
            s.push(Some(f64::from(v)));
        }
        assert_eq!(s.len(), 3);
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            [Some(3.0), Some(4.0), Some(5.0)]
        );
        assert_eq!(s.latest(), Some(5.0));
        s.push(None);
        assert_eq!(s.iter().collect::<Vec<_>>(), [Some(4.0), Some(5.0), None]);
        assert_eq!(
            s.latest(),
            None,
            "a gap is the latest point, not the one before"
        );
        assert_eq!(s.max(), Some(5.0));
    }

    #[test]
    fn capacity_covers_the_window_at_the_sampling_rate() {
        let settings = MonitorSettings::default();
        assert_eq!(History::for_settings(&settings).capacity(), 120);
        let fast = MonitorSettings {
            interval_ms: 250,
            history_s: 60,
            ..MonitorSettings::default()
        };
        assert_eq!(History::for_settings(&fast).capacity(), 240);
        let odd = MonitorSettings {
            interval_ms: 700,
            history_s: 1,
            ..MonitorSettings::default()
        };
        assert_eq!(History::for_settings(&odd).capacity(), 2, "rounded up");
        assert_eq!(Series::new(0).capacity(), 1);
    }

    #[test]
    fn gpu_series_stay_aligned_when_a_gpu_or_a_figure_is_missing() {
        let mut h = History::new(4);
        h.push_gpu(&snapshot(vec![gpu(0, Some(10))]));
        h.push_gpu(&snapshot(vec![gpu(0, None), gpu(1, Some(70))]));
        h.push_gpu(&snapshot(vec![gpu(1, Some(80))]));
        let g0 = h.gpu(0).unwrap();
        assert_eq!(
            g0.utilization_percent.iter().collect::<Vec<_>>(),
            [Some(10.0), None, None]
        );
        assert_eq!(
            g0.power_w.iter().collect::<Vec<_>>(),
            [Some(100.5), Some(100.5), None]
        );
        let g1 = h.gpu(1).unwrap();
        assert_eq!(
            g1.utilization_percent.iter().collect::<Vec<_>>(),
            [Some(70.0), Some(80.0)]
        );
        assert_eq!(g1.memory_used_bytes.latest(), Some(1000.0));
        assert_eq!(g1.temperature_c.latest(), Some(40.0));
    }

    #[test]
    fn system_series_follow_the_snapshots_and_server_cpu_has_gaps() {
        let mut h = History::new(10);
        let mut s = SystemSnapshot {
            cpu_percent: 12.5,
            used_incl_cache: 8,
            used_excl_cache: 3,
            ..SystemSnapshot::default()
        };
        h.push_system(&s);
        s.server = Some(ServerFootprint {
            cpu_percent: 150.0,
            memory_bytes: 1,
            memory_limit_bytes: None,
            mapped_file_bytes: None,
            source: FootprintSource::Process,
        });
        s.cpu_percent = 50.0;
        h.push_system(&s);
        assert_eq!(
            h.cpu_percent.iter().collect::<Vec<_>>(),
            [Some(12.5), Some(50.0)]
        );
        assert_eq!(h.ram_used_incl_cache.latest(), Some(8.0));
        assert_eq!(h.ram_used_excl_cache.latest(), Some(3.0));
        assert_eq!(
            h.server_cpu_percent.iter().collect::<Vec<_>>(),
            [None, Some(150.0)]
        );
    }

    #[test]
    fn history_serializes_as_plain_arrays() {
        let mut h = History::new(2);
        h.push_gpu(&snapshot(vec![gpu(0, Some(5))]));
        let json = serde_json::to_value(&h).unwrap();
        assert_eq!(
            json["gpus"][0]["utilization_percent"],
            serde_json::json!([5.0])
        );
        assert_eq!(json["cpu_percent"], serde_json::json!([]));
    }
}
