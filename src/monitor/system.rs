//! CPU, load and memory of the host, through sysinfo.
//!
//! RAM is shown two ways, as the original did: the model file is memory-mapped, so while it
//! is loaded it lives in the page cache. "Used including cache" (MemTotal − MemFree) is what
//! grows as a model loads; "used excluding cache" (MemTotal − MemAvailable) is what the
//! kernel could not hand back.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sysinfo::{CpuRefreshKind, MemoryRefreshKind, RefreshKind, System};

use super::server_footprint::ServerFootprint;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SystemSnapshot {
    /// All cores, 0–100.
    pub cpu_percent: f32,
    /// Each core, 0–100.
    pub per_core: Vec<f32>,
    /// 1, 5 and 15 minutes.
    pub load: [f64; 3],
    pub mem_total: u64,
    pub mem_free: u64,
    pub mem_available: u64,
    /// Buffers + Cached + SReclaimable: what `free` calls buff/cache.
    pub cache: u64,
    /// MemTotal − MemFree: page cache included, so a loaded model counts.
    pub used_incl_cache: u64,
    /// MemTotal − MemAvailable.
    pub used_excl_cache: u64,
    pub swap_total: u64,
    pub swap_used: u64,
    /// The llama-server's own CPU and memory, while one runs.
    pub server: Option<ServerFootprint>,
    /// `None` until the first sample (CPU figures need two readings).
    #[serde(
        serialize_with = "super::unix_ms_opt",
        deserialize_with = "super::from_unix_ms_opt"
    )]
    pub taken_at: Option<SystemTime>,
}

/// Holds the previous CPU reading, which each sample is measured against.
pub struct SystemSampler {
    sys: System,
}

impl SystemSampler {
    /// Takes the first CPU reading; sample after at least
    /// [`sysinfo::MINIMUM_CPU_UPDATE_INTERVAL`].
    pub fn new() -> Result<Self, String> {
        let refresh = RefreshKind::nothing()
            .with_cpu(CpuRefreshKind::nothing().with_usage())
            .with_memory(MemoryRefreshKind::everything());
        let sys = System::new_with_specifics(refresh)
            .map_err(|e| format!("cannot read system figures: {e}"))?;
        Ok(Self { sys })
    }

    /// CPU since the previous sample, memory now. `server` is left empty for the caller.
    pub fn sample(&mut self) -> SystemSnapshot {
        self.sys.refresh_cpu_usage();
        self.sys.refresh_memory();
        let load = System::load_average()
            .map(|l| [l.one, l.five, l.fifteen])
            .unwrap_or_default();
        let total = self.sys.total_memory();
        let free = self.sys.free_memory();
        let available = self.sys.available_memory();
        SystemSnapshot {
            cpu_percent: self.sys.global_cpu_usage(),
            per_core: self.sys.cpus().iter().map(|c| c.usage()).collect(),
            load,
            mem_total: total,
            mem_free: free,
            mem_available: available,
            cache: page_cache(),
            used_incl_cache: total.saturating_sub(free),
            used_excl_cache: total.saturating_sub(available),
            swap_total: self.sys.total_swap(),
            swap_used: self.sys.used_swap(),
            server: None,
            taken_at: Some(SystemTime::now()),
        }
    }
}

/// sysinfo reads these lines but keeps them private, so they are read here once more
/// (a few microseconds).
fn page_cache() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .map(|text| parse_page_cache(&text))
        .unwrap_or(0)
}

fn parse_page_cache(meminfo: &str) -> u64 {
    meminfo
        .lines()
        .filter_map(|line| {
            let (key, rest) = line.split_once(':')?;
            matches!(key, "Buffers" | "Cached" | "SReclaimable").then_some(())?;
            let kib: u64 = rest.split_whitespace().next()?.parse().ok()?;
            Some(kib * 1024)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_cache_is_buffers_cached_and_reclaimable_slab() {
        let meminfo = "MemTotal:       24000000 kB\nBuffers:            1000 kB\nCached:          2000000 kB\nSwapCached:            0 kB\nSReclaimable:      50000 kB\nSUnreclaim:        9999 kB\n";
        assert_eq!(
            parse_page_cache(meminfo),
            (1000 + 2_000_000 + 50_000) * 1024
        );
    }
}
