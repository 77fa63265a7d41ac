//! A stand-in for NVML behind [`GpuDriver`], the interface the real driver implements, for
//! tests on machines without a GPU: devices that work, devices that cannot be opened or
//! read, and calls that hang until released (a GPU in recovery).

use std::sync::{Arc, Condvar, Mutex};

use super::{DeviceInfo, GpuDriver, Reading, SlowSample};

/// How one stand-in device behaves.
#[derive(Debug, Clone)]
pub enum Device {
    /// Answers with this many bytes used of 80 GiB.
    Working { used: u64 },
    /// Cannot be opened (e.g. hidden by a cgroup).
    Unopenable(String),
    /// Opens, then every read fails (fallen off the bus).
    Failing(String),
}

#[derive(Default)]
struct Gate {
    closed: Mutex<bool>,
    opened: Condvar,
}

pub struct StandIn {
    devices: Mutex<Vec<Device>>,
    gate: Gate,
    /// Reads that started, for tests that wait for a call to be in flight.
    pub reads: Mutex<u64>,
}

impl StandIn {
    pub fn new(devices: Vec<Device>) -> Arc<Self> {
        Arc::new(Self {
            devices: Mutex::new(devices),
            gate: Gate::default(),
            reads: Mutex::new(0),
        })
    }

    /// Changes how device `index` behaves from the next call on.
    pub fn set(&self, index: usize, device: Device) {
        self.devices.lock().unwrap()[index] = device;
    }

    /// Makes every read block until [`StandIn::release`].
    pub fn hang(&self) {
        *self.gate.closed.lock().unwrap() = true;
    }

    pub fn release(&self) {
        *self.gate.closed.lock().unwrap() = false;
        self.gate.opened.notify_all();
    }

    fn device(&self, index: u32) -> Result<Device, String> {
        self.devices
            .lock()
            .unwrap()
            .get(index as usize)
            .cloned()
            .ok_or_else(|| "Invalid Argument".to_string())
    }
}

const GIB: u64 = 1 << 30;

impl GpuDriver for StandIn {
    fn device_count(&self) -> Result<u32, String> {
        Ok(self.devices.lock().unwrap().len() as u32)
    }

    fn driver_version(&self) -> Option<String> {
        Some("580.65.06".into())
    }

    fn cuda_version(&self) -> Option<(u32, u32)> {
        Some((13, 0))
    }

    fn describe(&self, index: u32) -> Result<DeviceInfo, String> {
        match self.device(index)? {
            Device::Unopenable(e) => Err(e),
            _ => Ok(DeviceInfo {
                name: Some(format!("Stand-in GPU {index}")),
                has_fan: false,
                mig_enabled: Some(false),
            }),
        }
    }

    fn read(&self, index: u32, _has_fan: bool) -> Result<Reading, String> {
        *self.reads.lock().unwrap() += 1;
        let closed = self.gate.closed.lock().unwrap();
        drop(
            self.gate
                .opened
                .wait_while(closed, |closed| *closed)
                .unwrap(),
        );
        match self.device(index)? {
            Device::Working { used } => Ok(Reading {
                memory_used_bytes: Some(used),
                memory_total_bytes: Some(80 * GIB),
                memory_free_bytes: Some(80 * GIB - used),
                utilization_gpu_percent: Some(50),
                processes: vec![(std::process::id(), Some(used))],
                ..Reading::default()
            }),
            Device::Unopenable(e) | Device::Failing(e) => Err(e),
        }
    }

    fn read_slow(&self, index: u32, _pcie: bool) -> Result<SlowSample, String> {
        match self.device(index)? {
            Device::Working { .. } => Ok(SlowSample {
                index,
                display_active: Some(false),
                ..SlowSample::default()
            }),
            Device::Unopenable(e) | Device::Failing(e) => Err(e),
        }
    }
}
