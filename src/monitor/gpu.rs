//! GPU samples through NVML, loaded at run time (no CUDA toolkit is needed, and a machine
//! without an NVIDIA driver is a normal state, not an error).
//!
//! The fast sample (every `monitor.interval_ms`) holds only calls measured at microseconds
//! on an H200; PCIe throughput, which samples the bus for ~20 ms per direction, and the
//! display flag run on the slow cadence (`monitor.slow_interval_ms`) in a task of their own
//! and are merged into each fast sample. `llws monitor --timings` measures every call on
//! the machine at hand (see docs/gpu-check.md).

use std::ffi::OsStr;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use nvml_wrapper::Nvml;
use nvml_wrapper::enum_wrappers::device::{Clock, PcieUtilCounter, TemperatureSensor};
use nvml_wrapper::enums::device::UsedGpuMemory;
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::struct_wrappers::device::ProcessInfo;
use serde::Serialize;

use super::proc_tree;

/// The headline of every "no GPU" state; the detail follows after ": ".
pub const NO_GPU: &str = "no NVIDIA GPU found";

/// What the GPU panel shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum GpuState {
    /// Before the first sample (NVML starts in about 12 ms, so this is brief).
    Waiting,
    /// No NVIDIA driver or no device: `reason` starts with [`NO_GPU`], then the detail.
    Unavailable {
        reason: String,
    },
    Ready(GpuSnapshot),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuSnapshot {
    pub gpus: Vec<GpuSample>,
    pub driver_version: Option<String>,
    #[serde(serialize_with = "super::unix_ms")]
    pub taken_at: SystemTime,
}

/// One GPU. A field the GPU or driver does not support is `None` (an H200 has no fan).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GpuSample {
    /// NVML's index, the same as nvidia-smi's and CUDA_VISIBLE_DEVICES' (PCI order).
    pub index: u32,
    pub name: Option<String>,
    pub memory_used_bytes: Option<u64>,
    pub memory_total_bytes: Option<u64>,
    pub memory_free_bytes: Option<u64>,
    /// Memory the driver sets aside, counted in neither used nor free.
    pub memory_reserved_bytes: Option<u64>,
    /// GPU memory held by the llama-server's processes: the model, its KV cache and its
    /// compute buffers.
    pub model_memory_bytes: Option<u64>,
    pub utilization_gpu_percent: Option<u32>,
    pub utilization_memory_percent: Option<u32>,
    pub temperature_c: Option<u32>,
    pub power_draw_w: Option<f64>,
    pub power_limit_w: Option<f64>,
    pub clock_sm_mhz: Option<u32>,
    pub clock_mem_mhz: Option<u32>,
    /// Performance state, 0 (fastest) to 15.
    pub pstate: Option<u8>,
    /// Fan 0's intended speed in percent; `None` on GPUs without fans.
    pub fan_percent: Option<u32>,
    /// From the slow cadence: NVML samples the bus for ~20 ms per direction.
    pub pcie_tx_bytes_per_s: Option<u64>,
    pub pcie_rx_bytes_per_s: Option<u64>,
    /// Whether a display is driven from this GPU (slow cadence): such a GPU needs more
    /// headroom when llama.cpp fits a model to free memory.
    pub display_active: Option<bool>,
    pub processes: Vec<GpuProcess>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuProcess {
    /// The host pid, as NVML reports it (for a container: the host's view).
    pub pid: u32,
    pub used_memory_bytes: Option<u64>,
    pub name: Option<String>,
    /// The llama-server (or a process under it).
    pub is_model: bool,
}

/// What the slow cadence measured for one GPU.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlowSample {
    pub index: u32,
    pub pcie_tx_bytes_per_s: Option<u64>,
    pub pcie_rx_bytes_per_s: Option<u64>,
    pub display_active: Option<bool>,
}

/// What does not change while llws runs, read once at start.
#[derive(Debug, Clone)]
struct DeviceInfo {
    index: u32,
    name: Option<String>,
    has_fan: bool,
}

/// A started NVML with its devices. Cheap to clone: the fast and slow tasks share it (NVML
/// is thread-safe and counts its initialisations).
#[derive(Clone)]
pub struct GpuSampler {
    nvml: Arc<Nvml>,
    devices: Arc<[DeviceInfo]>,
    driver_version: Option<String>,
}

impl std::fmt::Debug for GpuSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuSampler")
            .field("devices", &self.devices.len())
            .finish()
    }
}

impl GpuSampler {
    /// Starts NVML from `library` (empty: the loader's `libnvidia-ml.so.1`). `Err` holds the
    /// calm reason the panel shows: no driver, or no devices.
    pub fn init(library: &Path) -> Result<Self, String> {
        let nvml = if library.as_os_str().is_empty() {
            Nvml::init()
        } else {
            Nvml::builder().lib_path(OsStr::new(library)).init()
        }
        .map_err(|e| unavailable_reason(&e))?;
        let count = nvml
            .device_count()
            .map_err(|e| format!("{NO_GPU}: NVML cannot count devices ({e})"))?;
        if count == 0 {
            return Err(format!(
                "{NO_GPU}: the NVIDIA driver is loaded but reports no devices"
            ));
        }
        let mut devices = Vec::with_capacity(count as usize);
        for index in 0..count {
            let device = nvml
                .device_by_index(index)
                .map_err(|e| format!("{NO_GPU}: NVML cannot open GPU {index} ({e})"))?;
            devices.push(DeviceInfo {
                index,
                name: device.name().ok(),
                // fan_speed on a fanless GPU (H100/H200) answers InvalidArg; asking how
                // many fans there are first keeps that out of every sample.
                has_fan: device.num_fans().is_ok_and(|n| n > 0),
            });
        }
        Ok(Self {
            driver_version: nvml.sys_driver_version().ok(),
            nvml: Arc::new(nvml),
            devices: devices.into(),
        })
    }

    pub fn driver_version(&self) -> Option<&str> {
        self.driver_version.as_deref()
    }

    pub fn device_count(&self) -> usize {
        self.devices.len()
    }

    pub(crate) fn nvml(&self) -> &Nvml {
        &self.nvml
    }

    /// The fast sample: every GPU, with `slow` merged in and the processes under
    /// `model_pid` marked as the model. `Err` only when a GPU cannot be reached at all
    /// (fallen off the bus); the caller then keeps the last good sample.
    pub fn sample(
        &self,
        model_pid: Option<u32>,
        slow: &[SlowSample],
    ) -> Result<GpuSnapshot, NvmlError> {
        let mut gpus = Vec::with_capacity(self.devices.len());
        for info in self.devices.iter() {
            let device = self.nvml.device_by_index(info.index)?;
            let memory = device.memory_info().ok();
            let utilization = device.utilization_rates().ok();
            let processes = processes(&device, model_pid);
            let model_memory_bytes = processes
                .iter()
                .filter(|p| p.is_model)
                .filter_map(|p| p.used_memory_bytes)
                .reduce(|a, b| a + b);
            let slow = slow.iter().find(|s| s.index == info.index);
            gpus.push(GpuSample {
                index: info.index,
                name: info.name.clone(),
                memory_used_bytes: memory.as_ref().map(|m| m.used),
                memory_total_bytes: memory.as_ref().map(|m| m.total),
                memory_free_bytes: memory.as_ref().map(|m| m.free),
                memory_reserved_bytes: memory.as_ref().map(|m| m.reserved),
                model_memory_bytes,
                utilization_gpu_percent: utilization.as_ref().map(|u| u.gpu),
                utilization_memory_percent: utilization.as_ref().map(|u| u.memory),
                temperature_c: device.temperature(TemperatureSensor::Gpu).ok(),
                power_draw_w: device.power_usage().ok().map(milliwatts),
                power_limit_w: device.power_management_limit().ok().map(milliwatts),
                clock_sm_mhz: device.clock_info(Clock::SM).ok(),
                clock_mem_mhz: device.clock_info(Clock::Memory).ok(),
                pstate: device
                    .performance_state()
                    .ok()
                    .map(|p| p.as_c())
                    .filter(|p| *p <= 15)
                    .map(|p| p as u8),
                fan_percent: info.has_fan.then(|| device.fan_speed(0).ok()).flatten(),
                pcie_tx_bytes_per_s: slow.and_then(|s| s.pcie_tx_bytes_per_s),
                pcie_rx_bytes_per_s: slow.and_then(|s| s.pcie_rx_bytes_per_s),
                display_active: slow.and_then(|s| s.display_active),
                processes,
            });
        }
        Ok(GpuSnapshot {
            gpus,
            driver_version: self.driver_version.clone(),
            taken_at: SystemTime::now(),
        })
    }

    /// The slow sample: ~40 ms per GPU, so it never runs on the fast task.
    pub fn sample_slow(&self) -> Vec<SlowSample> {
        self.devices
            .iter()
            .map(|info| {
                let Ok(device) = self.nvml.device_by_index(info.index) else {
                    return SlowSample {
                        index: info.index,
                        ..SlowSample::default()
                    };
                };
                // NVML reports KB/s (1024 bytes, as nvtop reads it).
                let pcie = |counter| {
                    device
                        .pcie_throughput(counter)
                        .ok()
                        .map(|kb| u64::from(kb) * 1024)
                };
                SlowSample {
                    index: info.index,
                    pcie_tx_bytes_per_s: pcie(PcieUtilCounter::Send),
                    pcie_rx_bytes_per_s: pcie(PcieUtilCounter::Receive),
                    display_active: device.is_display_active().ok(),
                }
            })
            .collect()
    }
}

/// The panel's words for an NVML that would not start.
fn unavailable_reason(error: &NvmlError) -> String {
    match error {
        NvmlError::LibloadingError(e) => {
            format!("{NO_GPU}: the NVIDIA driver's libnvidia-ml.so.1 could not be loaded ({e})")
        }
        NvmlError::DriverNotLoaded => format!("{NO_GPU}: the NVIDIA kernel driver is not loaded"),
        NvmlError::NoPermission => {
            format!("{NO_GPU}: no permission to talk to the NVIDIA driver")
        }
        other => format!("{NO_GPU}: NVML did not start ({other})"),
    }
}

fn milliwatts(mw: u32) -> f64 {
    f64::from(mw) / 1000.0
}

/// Compute and graphics processes, one row per pid (a process may be both).
fn processes(device: &nvml_wrapper::Device<'_>, model_pid: Option<u32>) -> Vec<GpuProcess> {
    let mut rows: Vec<GpuProcess> = Vec::new();
    let all = [
        device.running_compute_processes(),
        device.running_graphics_processes(),
    ];
    for info in all.into_iter().flat_map(Result::unwrap_or_default) {
        let ProcessInfo {
            pid,
            used_gpu_memory,
            ..
        } = info;
        let used = match used_gpu_memory {
            UsedGpuMemory::Used(bytes) => Some(bytes),
            UsedGpuMemory::Unavailable => None,
        };
        if let Some(row) = rows.iter_mut().find(|r| r.pid == pid) {
            row.used_memory_bytes = row.used_memory_bytes.max(used);
            continue;
        }
        rows.push(GpuProcess {
            pid,
            used_memory_bytes: used,
            name: proc_tree::name_of(pid),
            is_model: model_pid.is_some_and(|root| proc_tree::is_self_or_descendant(pid, root)),
        });
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.used_memory_bytes));
    rows
}
