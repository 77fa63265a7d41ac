//! One monitor sample as JSON: what `llws monitor --json` prints on each line and what the
//! API's `GET /monitor` and `GET /monitor/stream` send. One type, so the two cannot drift.

use serde::Serialize;

use super::gpu_timings::NvmlTimings;
use super::{GpuState, MonitorHandle, SystemSnapshot};

/// The GPUs, the system, and (for `llws monitor --timings` only) what NVML's calls cost.
#[derive(Serialize)]
pub struct MonitorReport<'a> {
    pub gpu: &'a GpuState,
    pub system: &'a SystemSnapshot,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nvml_timings: Option<&'a NvmlTimings>,
}

impl<'a> MonitorReport<'a> {
    /// A sample without timings.
    pub fn new(gpu: &'a GpuState, system: &'a SystemSnapshot) -> Self {
        Self {
            gpu,
            system,
            nvml_timings: None,
        }
    }
}

impl MonitorHandle {
    /// The latest readings, taken out of the watches (never held across an await).
    pub fn latest(&self) -> (GpuState, SystemSnapshot) {
        (self.gpu.borrow().clone(), self.system.borrow().clone())
    }
}
