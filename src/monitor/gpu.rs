//! GPU samples through NVML, loaded at run time (no CUDA toolkit is needed, and a machine
//! without an NVIDIA driver is a normal state, not an error).
//!
//! Every call goes through [`GpuDriver`], one device at a time: [`NvmlDriver`] is the real
//! one (nvml-wrapper); the tests drive the same sampler and task through a stand-in, since no
//! GPU is at hand there. One device that cannot be opened or read (a cgroup that hides it,
//! a GPU fallen off the bus) is shown as such, with the error, and the others keep working.
//!
//! The fast sample (every `monitor.interval_ms`) holds only calls measured at microseconds
//! on an H200; PCIe throughput, which samples the bus for ~20 ms per direction, and the
//! display flags run on the slow cadence (`monitor.slow_interval_ms`) in a task of their
//! own and are merged into each fast sample. `llws monitor --timings` measures every call on
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
use serde::{Deserialize, Serialize};

use super::proc_tree;

/// The headline of every "no GPU" state; the detail follows after ": ".
pub const NO_GPU: &str = "no NVIDIA GPU found";
/// The process that serves every client on a GPU shared through MPS.
const MPS_SERVER: &str = "nvidia-cuda-mps-server";

/// What the GPU panel shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuSnapshot {
    pub gpus: Vec<GpuSample>,
    pub driver_version: Option<String>,
    /// When these readings were taken (not when they were last published).
    #[serde(
        serialize_with = "super::unix_ms",
        deserialize_with = "super::from_unix_ms"
    )]
    pub taken_at: SystemTime,
    /// Set while NVML does not answer: the readings above are this old and kept only so the
    /// screen is not blank.
    pub stale: Option<Stale>,
}

/// Readings kept on screen past their time, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stale {
    pub age_ms: u64,
    pub reason: String,
}

/// One GPU. A field the GPU or driver does not support is `None` (an H200 has no fan).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GpuSample {
    /// NVML's index, the same as nvidia-smi's and CUDA_VISIBLE_DEVICES' (PCI order).
    pub index: u32,
    /// The number the server's CUDA gives this GPU (`CUDA0` in its log, the first
    /// FIT_TARGET value); `None` when `[server] gpus` does not give it to the server.
    pub cuda: Option<u32>,
    pub name: Option<String>,
    /// Why this GPU could not be opened or read this time. The fields below are then its
    /// last good reading (from `read_at`), or empty if there never was one.
    pub error: Option<String>,
    /// When the fields below were read.
    #[serde(
        serialize_with = "super::unix_ms_opt",
        deserialize_with = "super::from_unix_ms_opt"
    )]
    pub read_at: Option<SystemTime>,
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
    /// Whether a monitor is connected and a display initialised on this GPU (slow cadence).
    /// NVML's "display active" alone is also true for a framebuffer console on a headless
    /// server, so both must hold. Such a GPU needs more headroom when llama.cpp fits a
    /// model to free memory.
    pub display_active: Option<bool>,
    /// MIG is on: memory, utilization and processes are per GPU instance, which the whole-GPU
    /// figures here do not show.
    pub mig_enabled: Option<bool>,
    /// An MPS server runs here: CUDA clients show up as that server, not as themselves.
    pub mps: bool,
    pub processes: Vec<GpuProcess>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// What does not change while llws runs, read once per device.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceInfo {
    pub name: Option<String>,
    pub has_fan: bool,
    pub mig_enabled: Option<bool>,
}

/// One fast reading of one device, as the driver gives it: processes by pid only (the
/// sampler names them and marks the model's).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    pub memory_used_bytes: Option<u64>,
    pub memory_total_bytes: Option<u64>,
    pub memory_free_bytes: Option<u64>,
    pub memory_reserved_bytes: Option<u64>,
    pub utilization_gpu_percent: Option<u32>,
    pub utilization_memory_percent: Option<u32>,
    pub temperature_c: Option<u32>,
    pub power_draw_w: Option<f64>,
    pub power_limit_w: Option<f64>,
    pub clock_sm_mhz: Option<u32>,
    pub clock_mem_mhz: Option<u32>,
    pub pstate: Option<u8>,
    pub fan_percent: Option<u32>,
    /// (pid, used bytes) of compute and graphics processes, one row per pid.
    pub processes: Vec<(u32, Option<u64>)>,
}

/// The NVML calls llws makes, per device index. An `Err` is the message the panel shows.
/// Any of them may block for seconds while a GPU recovers; the monitor task abandons a
/// sample after a deadline instead of waiting.
pub trait GpuDriver: Send + Sync + 'static {
    fn device_count(&self) -> Result<u32, String>;
    fn driver_version(&self) -> Option<String>;
    /// The highest CUDA version the driver runs, as (major, minor).
    fn cuda_version(&self) -> Option<(u32, u32)>;
    /// `Err` when the device cannot be opened (no permission, fallen off the bus).
    fn describe(&self, index: u32) -> Result<DeviceInfo, String>;
    /// `Err` when the device cannot be read at all; a field it does not support is `None`.
    fn read(&self, index: u32, has_fan: bool) -> Result<Reading, String>;
    /// The display flags, and with `pcie` the ~40 ms bus throughput sample.
    fn read_slow(&self, index: u32, pcie: bool) -> Result<SlowSample, String>;
}

/// The real driver: NVML loaded from the driver's library.
pub struct NvmlDriver {
    nvml: Nvml,
}

impl NvmlDriver {
    /// Starts NVML from `library` (empty: the loader's `libnvidia-ml.so.1`). `Err` holds the
    /// calm reason the panel shows.
    pub fn init(library: &Path) -> Result<Self, String> {
        let nvml = if library.as_os_str().is_empty() {
            Nvml::init()
        } else {
            Nvml::builder().lib_path(OsStr::new(library)).init()
        }
        .map_err(|e| unavailable_reason(&e))?;
        Ok(Self { nvml })
    }

    pub(crate) fn nvml(&self) -> &Nvml {
        &self.nvml
    }
}

/// An NVML error as the panel words it; the ones that mean "this GPU is gone" say so.
fn device_error(e: &NvmlError) -> String {
    match e {
        NvmlError::GpuLost => "the GPU has fallen off the bus (GPU lost)".into(),
        NvmlError::NoPermission => "no permission to open this GPU".into(),
        NvmlError::InsufficientPower => "the GPU's power cables are not connected".into(),
        NvmlError::IrqIssue => "the GPU's interrupt line is broken".into(),
        NvmlError::ResetRequired => "the GPU needs a reset".into(),
        NvmlError::Timeout => "the driver timed out".into(),
        other => other.to_string(),
    }
}

impl GpuDriver for NvmlDriver {
    fn device_count(&self) -> Result<u32, String> {
        self.nvml
            .device_count()
            .map_err(|e| format!("NVML cannot count devices ({e})"))
    }

    fn driver_version(&self) -> Option<String> {
        self.nvml.sys_driver_version().ok()
    }

    fn cuda_version(&self) -> Option<(u32, u32)> {
        let v = self.nvml.sys_cuda_driver_version().ok()?;
        let v = u32::try_from(v).ok()?;
        Some((v / 1000, (v % 1000) / 10))
    }

    fn describe(&self, index: u32) -> Result<DeviceInfo, String> {
        let device = self
            .nvml
            .device_by_index(index)
            .map_err(|e| device_error(&e))?;
        Ok(DeviceInfo {
            name: device.name().ok(),
            // fan_speed on a fanless GPU (H100/H200) answers InvalidArg; asking how many
            // fans there are first keeps that out of every sample.
            has_fan: device.num_fans().is_ok_and(|n| n > 0),
            mig_enabled: device.mig_mode().ok().map(|m| m.current == 1),
        })
    }

    fn read(&self, index: u32, has_fan: bool) -> Result<Reading, String> {
        let device = self
            .nvml
            .device_by_index(index)
            .map_err(|e| device_error(&e))?;
        // Memory is the headline: a GPU that cannot report it is not readable (a lost GPU
        // fails every call). "Not supported" is a field, not a broken GPU.
        let memory = match device.memory_info() {
            Ok(m) => Some(m),
            Err(NvmlError::NotSupported) => None,
            Err(e) => return Err(device_error(&e)),
        };
        let utilization = device.utilization_rates().ok();
        let mut processes: Vec<(u32, Option<u64>)> = Vec::new();
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
            match processes.iter_mut().find(|(p, _)| *p == pid) {
                Some(row) => row.1 = row.1.max(used),
                None => processes.push((pid, used)),
            }
        }
        Ok(Reading {
            memory_used_bytes: memory.as_ref().map(|m| m.used),
            memory_total_bytes: memory.as_ref().map(|m| m.total),
            memory_free_bytes: memory.as_ref().map(|m| m.free),
            memory_reserved_bytes: memory.as_ref().map(|m| m.reserved),
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
            fan_percent: has_fan.then(|| device.fan_speed(0).ok()).flatten(),
            processes,
        })
    }

    fn read_slow(&self, index: u32, pcie: bool) -> Result<SlowSample, String> {
        let device = self
            .nvml
            .device_by_index(index)
            .map_err(|e| device_error(&e))?;
        // NVML reports KB/s (1024 bytes, as nvtop reads it).
        let throughput = |counter| {
            pcie.then(|| {
                device
                    .pcie_throughput(counter)
                    .ok()
                    .map(|kb| u64::from(kb) * 1024)
            })
            .flatten()
        };
        // "Display active" is also true for a framebuffer console on a headless box; a
        // display is driven only when a monitor is connected too (display mode).
        let display_active = match (device.is_display_connected(), device.is_display_active()) {
            (Ok(connected), Ok(active)) => Some(connected && active),
            (Ok(false), _) => Some(false),
            _ => None,
        };
        Ok(SlowSample {
            index,
            pcie_tx_bytes_per_s: throughput(PcieUtilCounter::Send),
            pcie_rx_bytes_per_s: throughput(PcieUtilCounter::Receive),
            display_active,
        })
    }
}

/// One device as the sampler knows it.
#[derive(Debug, Clone)]
struct Slot {
    index: u32,
    info: Result<DeviceInfo, String>,
}

/// A started driver with its devices. Cheap to clone: the fast and slow tasks share it (NVML
/// is thread-safe and counts its initialisations).
#[derive(Clone)]
pub struct GpuSampler {
    driver: Arc<dyn GpuDriver>,
    devices: Arc<[Slot]>,
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
        Self::with_driver(Arc::new(NvmlDriver::init(library)?))
    }

    /// The sampler over any driver. A device that cannot be opened is kept, with its error:
    /// only "no devices at all" is the no-GPU state.
    pub fn with_driver(driver: Arc<dyn GpuDriver>) -> Result<Self, String> {
        let count = driver
            .device_count()
            .map_err(|e| format!("{NO_GPU}: {e}"))?;
        if count == 0 {
            return Err(format!(
                "{NO_GPU}: the NVIDIA driver is loaded but reports no devices"
            ));
        }
        let devices: Vec<Slot> = (0..count)
            .map(|index| Slot {
                index,
                info: driver.describe(index),
            })
            .collect();
        Ok(Self {
            driver_version: driver.driver_version(),
            devices: devices.into(),
            driver,
        })
    }

    pub fn driver_version(&self) -> Option<&str> {
        self.driver_version.as_deref()
    }

    /// The highest CUDA version the driver runs.
    pub fn cuda_version(&self) -> Option<(u32, u32)> {
        self.driver.cuda_version()
    }

    pub fn device_count(&self) -> usize {
        self.devices.len()
    }

    /// How many devices could not be opened, with their errors.
    pub fn unopened(&self) -> Vec<(u32, String)> {
        self.devices
            .iter()
            .filter_map(|s| s.info.as_ref().err().map(|e| (s.index, e.clone())))
            .collect()
    }

    /// The fast sample: every GPU, with `slow` merged in and the processes under
    /// `model_pid` marked as the model. A GPU that cannot be read carries its error.
    pub fn sample(&self, model_pid: Option<u32>, slow: &[SlowSample]) -> GpuSnapshot {
        let taken_at = SystemTime::now();
        let gpus = self
            .devices
            .iter()
            .map(|slot| {
                let info = slot.info.as_ref().ok();
                let name = info.and_then(|i| i.name.clone());
                let reading = match &slot.info {
                    // Opening failed at start; it may work now (a permission granted, a
                    // GPU back after a reset).
                    Err(_) => self
                        .driver
                        .describe(slot.index)
                        .and_then(|i| self.driver.read(slot.index, i.has_fan)),
                    Ok(i) => self.driver.read(slot.index, i.has_fan),
                };
                let slow = slow.iter().find(|s| s.index == slot.index);
                match reading {
                    Ok(r) => sample_from(slot.index, name, info, r, slow, model_pid, taken_at),
                    Err(error) => GpuSample {
                        index: slot.index,
                        name,
                        error: Some(error),
                        mig_enabled: info.and_then(|i| i.mig_enabled),
                        ..GpuSample::default()
                    },
                }
            })
            .collect();
        GpuSnapshot {
            gpus,
            driver_version: self.driver_version.clone(),
            taken_at,
            stale: None,
        }
    }

    /// The slow sample: ~40 ms per GPU with `pcie`, so it never runs on the fast task. A GPU
    /// that cannot be read gives an empty sample.
    pub fn sample_slow(&self, pcie: bool) -> Vec<SlowSample> {
        self.devices
            .iter()
            .map(|slot| {
                self.driver
                    .read_slow(slot.index, pcie)
                    .unwrap_or(SlowSample {
                        index: slot.index,
                        ..SlowSample::default()
                    })
            })
            .collect()
    }

    /// One sample with the display flags but without the 40 ms PCIe measurement: what
    /// `llws check` and `llws doctor` need.
    pub fn sample_once(&self) -> GpuSnapshot {
        self.sample(None, &self.sample_slow(false))
    }
}

fn sample_from(
    index: u32,
    name: Option<String>,
    info: Option<&DeviceInfo>,
    r: Reading,
    slow: Option<&SlowSample>,
    model_pid: Option<u32>,
    read_at: SystemTime,
) -> GpuSample {
    let mut processes: Vec<GpuProcess> = r
        .processes
        .iter()
        .map(|&(pid, used)| GpuProcess {
            pid,
            used_memory_bytes: used,
            name: proc_tree::name_of(pid),
            is_model: model_pid.is_some_and(|root| proc_tree::is_self_or_descendant(pid, root)),
        })
        .collect();
    processes.sort_by_key(|p| std::cmp::Reverse(p.used_memory_bytes));
    let model_memory_bytes = processes
        .iter()
        .filter(|p| p.is_model)
        .filter_map(|p| p.used_memory_bytes)
        .reduce(|a, b| a + b);
    GpuSample {
        index,
        cuda: None,
        name,
        error: None,
        read_at: Some(read_at),
        memory_used_bytes: r.memory_used_bytes,
        memory_total_bytes: r.memory_total_bytes,
        memory_free_bytes: r.memory_free_bytes,
        memory_reserved_bytes: r.memory_reserved_bytes,
        model_memory_bytes,
        utilization_gpu_percent: r.utilization_gpu_percent,
        utilization_memory_percent: r.utilization_memory_percent,
        temperature_c: r.temperature_c,
        power_draw_w: r.power_draw_w,
        power_limit_w: r.power_limit_w,
        clock_sm_mhz: r.clock_sm_mhz,
        clock_mem_mhz: r.clock_mem_mhz,
        pstate: r.pstate,
        fan_percent: r.fan_percent,
        pcie_tx_bytes_per_s: slow.and_then(|s| s.pcie_tx_bytes_per_s),
        pcie_rx_bytes_per_s: slow.and_then(|s| s.pcie_rx_bytes_per_s),
        display_active: slow.and_then(|s| s.display_active),
        mig_enabled: info.and_then(|i| i.mig_enabled),
        mps: processes
            .iter()
            .any(|p| p.name.as_deref() == Some(MPS_SERVER)),
        processes,
    }
}

impl GpuSnapshot {
    /// Keeps, for each GPU that failed this time, its last good reading from `previous`
    /// (marked with its error and its own `read_at`), so one bad read does not blank it.
    pub fn carry_forward(&mut self, previous: Option<&GpuSnapshot>) {
        let Some(previous) = previous else {
            return;
        };
        for gpu in self.gpus.iter_mut().filter(|g| g.error.is_some()) {
            if let Some(old) = previous
                .gpus
                .iter()
                .find(|p| p.index == gpu.index && p.read_at.is_some())
            {
                let error = gpu.error.take();
                let name = gpu.name.take().or_else(|| old.name.clone());
                *gpu = GpuSample {
                    error,
                    name,
                    ..old.clone()
                };
            }
        }
    }

    /// How old the readings are at `now`.
    pub fn age(&self, now: SystemTime) -> std::time::Duration {
        now.duration_since(self.taken_at).unwrap_or_default()
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

#[cfg(test)]
pub(crate) mod stand_in;
