//! How long each NVML call takes on this machine (`llws monitor --once --json --timings`).
//!
//! The split between the fast and the slow cadence rests on these numbers, so the GPU check
//! script reports them beside its field comparison, and they can be re-measured on any
//! driver or GPU without a Rust toolchain.

use std::path::Path;
use std::time::{Duration, Instant};

use nvml_wrapper::Device;
use nvml_wrapper::enum_wrappers::device::{Clock, PcieUtilCounter, TemperatureSensor};
use serde::Serialize;

use std::sync::Arc;

use super::gpu::{GpuDriver, GpuSampler, NvmlDriver};

#[derive(Debug, Clone, Serialize)]
pub struct NvmlTimings {
    /// Calls per measurement; each figure is the median.
    pub repeats: usize,
    /// How long NVML took to start, or to fail to (the no-GPU path).
    pub init_us: f64,
    /// Why there is nothing else to measure.
    pub unavailable: Option<String>,
    pub calls: Vec<CallTiming>,
    /// A whole fast sample (all GPUs), as the fast task takes it.
    pub fast_sample_us: Option<f64>,
    /// A whole slow sample (all GPUs).
    pub slow_sample_us: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CallTiming {
    pub gpu: u32,
    pub call: &'static str,
    pub median_us: f64,
    pub min_us: f64,
    pub max_us: f64,
    /// Which cadence llws runs it on: "fast", "slow", "init" or "unused" (measured for
    /// comparison only).
    pub cadence: &'static str,
    /// The error of the last call, e.g. "the requested operation is not available".
    pub error: Option<String>,
}

/// Starts NVML from `library` and measures every call `repeats` times per GPU.
pub fn measure(library: &Path, repeats: usize) -> NvmlTimings {
    let repeats = repeats.max(1);
    let started = Instant::now();
    let driver = NvmlDriver::init(library).map(Arc::new);
    let sampler = driver
        .clone()
        .and_then(|d| GpuSampler::with_driver(d as Arc<dyn GpuDriver>));
    let init_us = micros(started.elapsed());
    let (driver, sampler) = match (driver, sampler) {
        (Ok(driver), Ok(sampler)) => (driver, sampler),
        (Err(reason), _) | (_, Err(reason)) => {
            return NvmlTimings {
                repeats,
                init_us,
                unavailable: Some(reason),
                calls: Vec::new(),
                fast_sample_us: None,
                slow_sample_us: None,
            };
        }
    };
    let mut calls = Vec::new();
    for index in 0..sampler.device_count() as u32 {
        let Ok(device) = driver.nvml().device_by_index(index) else {
            continue;
        };
        calls.extend(per_device(index, &device, repeats));
    }
    let slow = sampler.sample_slow(true);
    let fast_sample_us = median_us(repeats, || {
        let _ = sampler.sample(None, &slow);
    });
    let slow_sample_us = median_us(repeats.min(5), || {
        sampler.sample_slow(true);
    });
    NvmlTimings {
        repeats,
        init_us,
        unavailable: None,
        calls,
        fast_sample_us: Some(fast_sample_us),
        slow_sample_us: Some(slow_sample_us),
    }
}

fn per_device(gpu: u32, d: &Device<'_>, n: usize) -> Vec<CallTiming> {
    // The 20 ms samplers would take seconds at full repeats; a few show the cost.
    let few = n.min(5);
    let mut out = Vec::new();
    let mut time = |call, cadence, repeats, f: &mut dyn FnMut() -> Result<(), String>| {
        let (median_us, min_us, max_us, error) = stats(repeats, f);
        out.push(CallTiming {
            gpu,
            call,
            median_us,
            min_us,
            max_us,
            cadence,
            error,
        });
    };
    let e = |e: nvml_wrapper::error::NvmlError| e.to_string();
    time("device_by_index", "fast", n, &mut || {
        d.nvml().device_by_index(gpu).map(|_| ()).map_err(e)
    });
    time("name", "init", n, &mut || d.name().map(|_| ()).map_err(e));
    time("num_fans", "init", n, &mut || {
        d.num_fans().map(|_| ()).map_err(e)
    });
    time("memory_info", "fast", n, &mut || {
        d.memory_info().map(|_| ()).map_err(e)
    });
    time("utilization_rates", "fast", n, &mut || {
        d.utilization_rates().map(|_| ()).map_err(e)
    });
    time("temperature", "fast", n, &mut || {
        d.temperature(TemperatureSensor::Gpu).map(|_| ()).map_err(e)
    });
    time("power_usage", "fast", n, &mut || {
        d.power_usage().map(|_| ()).map_err(e)
    });
    time("power_management_limit", "fast", n, &mut || {
        d.power_management_limit().map(|_| ()).map_err(e)
    });
    time("clock_info(SM)", "fast", n, &mut || {
        d.clock_info(Clock::SM).map(|_| ()).map_err(e)
    });
    time("clock_info(Memory)", "fast", n, &mut || {
        d.clock_info(Clock::Memory).map(|_| ()).map_err(e)
    });
    time("performance_state", "fast", n, &mut || {
        d.performance_state().map(|_| ()).map_err(e)
    });
    time("fan_speed(0)", "fast", n, &mut || {
        d.fan_speed(0).map(|_| ()).map_err(e)
    });
    time("running_compute_processes", "fast", n, &mut || {
        d.running_compute_processes().map(|_| ()).map_err(e)
    });
    time("running_graphics_processes", "fast", n, &mut || {
        d.running_graphics_processes().map(|_| ()).map_err(e)
    });
    time("is_display_active", "slow", n, &mut || {
        d.is_display_active().map(|_| ()).map_err(e)
    });
    time("is_display_connected", "slow", n, &mut || {
        d.is_display_connected().map(|_| ()).map_err(e)
    });
    time("mig_mode", "init", n, &mut || {
        d.mig_mode().map(|_| ()).map_err(e)
    });
    time("pcie_throughput(Send)", "slow", few, &mut || {
        d.pcie_throughput(PcieUtilCounter::Send)
            .map(|_| ())
            .map_err(e)
    });
    time("pcie_throughput(Receive)", "slow", few, &mut || {
        d.pcie_throughput(PcieUtilCounter::Receive)
            .map(|_| ())
            .map_err(e)
    });
    time("process_utilization_stats", "unused", n, &mut || {
        d.process_utilization_stats(None).map(|_| ()).map_err(e)
    });
    time("total_energy_consumption", "unused", n, &mut || {
        d.total_energy_consumption().map(|_| ()).map_err(e)
    });
    time("memory_bus_width", "unused", n, &mut || {
        d.memory_bus_width().map(|_| ()).map_err(e)
    });
    out
}

fn stats(n: usize, f: &mut dyn FnMut() -> Result<(), String>) -> (f64, f64, f64, Option<String>) {
    let mut times = Vec::with_capacity(n);
    let mut error = None;
    for _ in 0..n {
        let started = Instant::now();
        let result = f();
        times.push(micros(started.elapsed()));
        error = result.err();
    }
    times.sort_by(f64::total_cmp);
    (
        times[times.len() / 2],
        times[0],
        times[times.len() - 1],
        error,
    )
}

fn median_us(n: usize, mut f: impl FnMut()) -> f64 {
    stats(n, &mut || {
        f();
        Ok(())
    })
    .0
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
