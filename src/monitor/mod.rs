//! The monitors: GPU (NVML), system (sysinfo) and the server's own footprint, each sampled
//! on its own task and published through a `watch`, plus the history the sparklines draw.
//!
//! Readers (the UI, the API, `llws monitor`) only ever borrow the latest snapshot; every
//! NVML, sysinfo and Docker call runs on the blocking pool or as its own task, so nothing
//! slow reaches a render path.
//!
//! ```text
//! ServerProcess (watch, from the controller)
//!      │                 │
//!      ▼                 ▼
//!   gpu task ◄─ slow gpu task (PCIe, display; slow_interval_ms)
//!   (a sample past its deadline is abandoned; the last one stays, marked stale)
//!      │             footprint task (docker stats | process tree)
//!      │                 │ watch
//!      │             system task ──► SystemSnapshot (watch) ──┐
//!      └──► GpuState (watch) ─────────────────────────────────┴──► History (ring buffers)
//! ```

mod follow;
pub mod gpu;
pub mod gpu_facts;
mod gpu_task;
pub mod gpu_timings;
pub mod history;
mod proc_tree;
pub mod report;
pub mod server_footprint;
pub mod system;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bollard::Docker;
use serde::{Serialize, Serializer};
use tokio::sync::watch;
use tokio::task::spawn_blocking;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::{CancellationToken, DropGuard};

pub use follow::follow_server;
pub use gpu::{
    GpuDriver, GpuProcess, GpuSample, GpuSampler, GpuSnapshot, GpuState, NO_GPU, NvmlDriver,
    SlowSample, Stale,
};
pub use history::{GpuHistory, History, Series};
pub use report::MonitorReport;
pub use server_footprint::{
    DockerSource, DockerStats, FootprintSampler, FootprintSource, ProcessStats, Reading,
    ServerFootprint,
};
pub use system::{SystemSampler, SystemSnapshot};

use crate::config::settings::{GpuSelection, MonitorSettings};

/// The running llama-server, as the controller publishes it. `Default` is "none".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServerProcess {
    /// The host pid: the native child, or a container's main process (Docker inspect's
    /// `State.Pid`), which is what NVML reports.
    pub pid: Option<u32>,
    /// For Docker: the container whose stats to read.
    pub container_id: Option<String>,
}

/// What readers hold. Cloning is cheap; the samplers stop when the last clone is dropped.
#[derive(Clone)]
pub struct MonitorHandle {
    pub gpu: watch::Receiver<GpuState>,
    pub system: watch::Receiver<SystemSnapshot>,
    /// Locked for a moment by each sample and by each draw.
    pub history: Arc<Mutex<History>>,
    _stop: Arc<DropGuard>,
}

/// What fills a [`MonitorHandle`] made by [`MonitorHandle::fed`]: samples taken elsewhere
/// (another machine's llws, read from its `GET /monitor/stream`).
pub struct MonitorFeed {
    gpu: watch::Sender<GpuState>,
    system: watch::Sender<SystemSnapshot>,
    history: Arc<Mutex<History>>,
    stop: CancellationToken,
}

impl MonitorFeed {
    /// Publishes one sample and adds it to the history.
    pub fn publish(&self, gpu: GpuState, system: SystemSnapshot) {
        {
            let mut history = lock(&self.history);
            if let GpuState::Ready(snapshot) = &gpu {
                history.push_gpu(snapshot);
            }
            history.push_system(&system);
        }
        self.gpu.send_replace(gpu);
        self.system.send_replace(system);
    }

    /// Ends when the last clone of the handle is dropped.
    pub async fn stopped(&self) {
        self.stop.cancelled().await
    }
}

impl MonitorHandle {
    /// A handle whose samples come from a [`MonitorFeed`] rather than samplers here.
    pub fn fed(settings: &MonitorSettings) -> (Self, MonitorFeed) {
        let (gpu_tx, gpu) = watch::channel(GpuState::Waiting);
        let (system_tx, system) = watch::channel(SystemSnapshot::default());
        let history = Arc::new(Mutex::new(History::for_settings(settings)));
        let stop = CancellationToken::new();
        let handle = Self {
            gpu,
            system,
            history: history.clone(),
            _stop: Arc::new(stop.clone().drop_guard()),
        };
        let feed = MonitorFeed {
            gpu: gpu_tx,
            system: system_tx,
            history,
            stop,
        };
        (handle, feed)
    }
}

/// The first CPU figures need two readings this far apart (sysinfo's minimum is 200 ms).
const FIRST_READING: Duration = Duration::from_millis(250);

/// Starts the samplers; call inside a tokio runtime. The server's footprint uses Docker
/// from `DOCKER_HOST` or the local socket, connected when a container first appears.
pub fn spawn(settings: &MonitorSettings, server: watch::Receiver<ServerProcess>) -> MonitorHandle {
    let host = crate::docker::connect::docker_host();
    spawn_with(
        settings,
        server,
        DockerSource::Host(host),
        GpuSelection::All,
    )
}

/// [`spawn`] for llws's own settings: the monitor settings, and the Docker daemon the
/// Docker backend uses (`server.docker_host`), so a container's stats come from it.
pub fn spawn_for(
    settings: &crate::config::Settings,
    server: watch::Receiver<ServerProcess>,
) -> MonitorHandle {
    let host = crate::docker::connect::host_for(&settings.server.docker_host);
    spawn_with(
        &settings.monitor,
        server,
        DockerSource::Host(host),
        crate::model::hardware_lint::server_gpu_selection(settings),
    )
}

/// [`spawn`] with the caller's Docker client (the controller's, or a test daemon's).
pub fn spawn_with_docker(
    settings: &MonitorSettings,
    server: watch::Receiver<ServerProcess>,
    docker: Docker,
) -> MonitorHandle {
    spawn_with(
        settings,
        server,
        DockerSource::Given(docker),
        GpuSelection::All,
    )
}

/// `cuda`: the GPUs the server gets, so each sample can say which CUDAn a GPU is to it.
fn spawn_with(
    settings: &MonitorSettings,
    server: watch::Receiver<ServerProcess>,
    docker: DockerSource,
    cuda: GpuSelection,
) -> MonitorHandle {
    let cadence = Cadence::from(settings);
    let token = CancellationToken::new();
    let history = Arc::new(Mutex::new(History::for_settings(settings)));
    let (gpu_tx, gpu_rx) = watch::channel(GpuState::Waiting);
    let (system_tx, system_rx) = watch::channel(SystemSnapshot::default());
    let (footprint_tx, footprint_rx) = watch::channel(None);

    let library = cadence.nvml_library.clone();
    let start: gpu_task::Starter =
        Arc::new(move || NvmlDriver::init(&library).map(|d| Arc::new(d) as Arc<dyn GpuDriver>));
    tokio::spawn(gpu_task::gpu_task(
        gpu_task::GpuCadence::new(cadence.interval, cadence.slow_interval, cuda),
        start,
        server.clone(),
        gpu_tx,
        history.clone(),
        token.clone(),
    ));
    tokio::spawn(footprint_task(
        cadence.interval,
        FootprintSampler::new(docker),
        server,
        footprint_tx,
        token.clone(),
    ));
    tokio::spawn(system_task(
        cadence.interval,
        footprint_rx,
        system_tx,
        history.clone(),
        token.clone(),
    ));
    MonitorHandle {
        gpu: gpu_rx,
        system: system_rx,
        history,
        _stop: Arc::new(token.drop_guard()),
    }
}

#[derive(Debug, Clone)]
struct Cadence {
    interval: Duration,
    slow_interval: Duration,
    nvml_library: PathBuf,
}

impl From<&MonitorSettings> for Cadence {
    fn from(settings: &MonitorSettings) -> Self {
        // The settings check rejects less than 100 ms; the floor here guards callers that
        // build settings in code.
        let interval = Duration::from_millis(settings.interval_ms.max(100));
        Self {
            interval,
            slow_interval: Duration::from_millis(settings.slow_interval_ms).max(interval),
            nvml_library: settings.nvml_library.clone(),
        }
    }
}

fn lock(history: &Mutex<History>) -> std::sync::MutexGuard<'_, History> {
    // A panic while pushing leaves at worst a short series; drawing must go on.
    history
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Sleeps, or returns `true` at once when cancelled.
async fn cancelled_during(pause: Duration, token: &CancellationToken) -> bool {
    tokio::select! {
        _ = token.cancelled() => true,
        _ = tokio::time::sleep(pause) => false,
    }
}

async fn footprint_task(
    every: Duration,
    mut sampler: FootprintSampler,
    mut server: watch::Receiver<ServerProcess>,
    tx: watch::Sender<Option<ServerFootprint>>,
    token: CancellationToken,
) {
    let mut wake = Instant::now();
    let mut server_open = true;
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            changed = server.changed(), if server_open => {
                // A new or stopped server: read it now instead of showing the old one.
                server_open = changed.is_ok();
                wake = Instant::now();
                continue;
            }
            _ = tokio::time::sleep_until(wake) => {}
        }
        let current = server.borrow_and_update().clone();
        let reading = sampler.read(&current).await;
        wake = Instant::now()
            + match reading {
                Reading::Primed => FIRST_READING.min(every),
                Reading::Ready(_) | Reading::Nothing => every,
            };
        tx.send_replace(reading.footprint());
    }
}

async fn system_task(
    every: Duration,
    footprint: watch::Receiver<Option<ServerFootprint>>,
    tx: watch::Sender<SystemSnapshot>,
    history: Arc<Mutex<History>>,
    token: CancellationToken,
) {
    // sysinfo fails only on platforms it does not support; the panel then stays waiting.
    let Ok(Ok(mut sampler)) = spawn_blocking(SystemSampler::new).await else {
        return;
    };
    let mut ticker = tokio::time::interval_at(Instant::now() + FIRST_READING.min(every), every);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let Ok((back, mut snapshot)) = spawn_blocking(move || {
            let snapshot = sampler.sample();
            (sampler, snapshot)
        })
        .await
        else {
            return;
        };
        sampler = back;
        snapshot.server = footprint.borrow().clone();
        lock(&history).push_system(&snapshot);
        tx.send_replace(snapshot);
    }
}

/// Times in JSON are Unix milliseconds.
pub(crate) fn unix_ms<S: Serializer>(time: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    let ms = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    s.serialize_u64(ms)
}

/// The other way ([`unix_ms`]): another llws's sample read back (GET /monitor/stream).
pub(crate) fn from_unix_ms<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
    let ms = <u64 as serde::Deserialize>::deserialize(d)?;
    Ok(SystemTime::UNIX_EPOCH + Duration::from_millis(ms))
}

pub(crate) fn from_unix_ms_opt<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<SystemTime>, D::Error> {
    let ms = <Option<u64> as serde::Deserialize>::deserialize(d)?;
    Ok(ms.map(|ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms)))
}

pub(crate) fn unix_ms_opt<S: Serializer>(
    time: &Option<SystemTime>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match time {
        Some(time) => unix_ms(time, s),
        None => s.serialize_none(),
    }
}
