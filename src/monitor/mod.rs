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
//!      │             footprint task (docker stats | process tree)
//!      │                 │ watch
//!      │             system task ──► SystemSnapshot (watch) ──┐
//!      └──► GpuState (watch) ─────────────────────────────────┴──► History (ring buffers)
//! ```

mod follow;
pub mod gpu;
pub mod gpu_facts;
pub mod gpu_timings;
pub mod history;
mod proc_tree;
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
pub use gpu::{GpuProcess, GpuSample, GpuSampler, GpuSnapshot, GpuState, NO_GPU, SlowSample};
pub use history::{GpuHistory, History, Series};
pub use server_footprint::{
    DockerSource, DockerStats, FootprintSampler, FootprintSource, ProcessStats, Reading,
    ServerFootprint,
};
pub use system::{SystemSampler, SystemSnapshot};

use crate::config::settings::MonitorSettings;

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

/// A missing NVIDIA driver is checked again this rarely (it may be installed or loaded
/// while llws runs), without a word unless the answer changes.
const NVML_RETRY: Duration = Duration::from_secs(60);
/// The first CPU figures need two readings this far apart (sysinfo's minimum is 200 ms).
const FIRST_READING: Duration = Duration::from_millis(250);
/// A GPU that fails this many samples in a row is started again from NVML.
const GPU_FAILURES_BEFORE_RESTART: u32 = 5;

/// Starts the samplers; call inside a tokio runtime. The server's footprint uses Docker
/// from `DOCKER_HOST` or the local socket, connected when a container first appears.
pub fn spawn(settings: &MonitorSettings, server: watch::Receiver<ServerProcess>) -> MonitorHandle {
    let host = crate::docker::connect::docker_host();
    spawn_with(settings, server, DockerSource::Host(host))
}

/// [`spawn`] for llws's own settings: the monitor settings, and the Docker daemon the
/// Docker backend uses (`server.docker_host`), so a container's stats come from it.
pub fn spawn_for(
    settings: &crate::config::Settings,
    server: watch::Receiver<ServerProcess>,
) -> MonitorHandle {
    let host = crate::docker::connect::host_for(&settings.server.docker_host);
    spawn_with(&settings.monitor, server, DockerSource::Host(host))
}

/// [`spawn`] with the caller's Docker client (the controller's, or a test daemon's).
pub fn spawn_with_docker(
    settings: &MonitorSettings,
    server: watch::Receiver<ServerProcess>,
    docker: Docker,
) -> MonitorHandle {
    spawn_with(settings, server, DockerSource::Given(docker))
}

fn spawn_with(
    settings: &MonitorSettings,
    server: watch::Receiver<ServerProcess>,
    docker: DockerSource,
) -> MonitorHandle {
    let cadence = Cadence::from(settings);
    let token = CancellationToken::new();
    let history = Arc::new(Mutex::new(History::for_settings(settings)));
    let (gpu_tx, gpu_rx) = watch::channel(GpuState::Waiting);
    let (system_tx, system_rx) = watch::channel(SystemSnapshot::default());
    let (footprint_tx, footprint_rx) = watch::channel(None);

    tokio::spawn(gpu_task(
        cadence.clone(),
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

async fn gpu_task(
    cadence: Cadence,
    server: watch::Receiver<ServerProcess>,
    tx: watch::Sender<GpuState>,
    history: Arc<Mutex<History>>,
    token: CancellationToken,
) {
    loop {
        let library = cadence.nvml_library.clone();
        let started = spawn_blocking(move || GpuSampler::init(&library))
            .await
            .unwrap_or_else(|e| Err(format!("{NO_GPU}: NVML start failed ({e})")));
        let sampler = match started {
            Ok(sampler) => sampler,
            Err(reason) => {
                tx.send_if_modified(|state| {
                    let new = GpuState::Unavailable { reason };
                    let changed = *state != new;
                    *state = new;
                    changed
                });
                if cancelled_during(NVML_RETRY, &token).await {
                    return;
                }
                continue;
            }
        };
        let slow_token = token.child_token();
        let (slow_tx, slow_rx) = watch::channel(Vec::new());
        tokio::spawn(slow_gpu_task(
            sampler.clone(),
            cadence.slow_interval,
            slow_tx,
            slow_token.clone(),
        ));
        let mut ticker = tokio::time::interval(cadence.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut failures = 0;
        while failures < GPU_FAILURES_BEFORE_RESTART {
            tokio::select! {
                _ = token.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let model_pid = server.borrow().pid;
            let slow = slow_rx.borrow().clone();
            let s = sampler.clone();
            match spawn_blocking(move || s.sample(model_pid, &slow)).await {
                Ok(Ok(snapshot)) => {
                    failures = 0;
                    lock(&history).push_gpu(&snapshot);
                    tx.send_replace(GpuState::Ready(snapshot));
                }
                // The last good sample stays on screen.
                Ok(Err(_)) | Err(_) => failures += 1,
            }
        }
        slow_token.cancel();
    }
}

async fn slow_gpu_task(
    sampler: GpuSampler,
    every: Duration,
    tx: watch::Sender<Vec<SlowSample>>,
    token: CancellationToken,
) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let s = sampler.clone();
        let Ok(slow) = spawn_blocking(move || s.sample_slow()).await else {
            return;
        };
        tx.send_replace(slow);
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

pub(crate) fn unix_ms_opt<S: Serializer>(
    time: &Option<SystemTime>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match time {
        Some(time) => unix_ms(time, s),
        None => s.serialize_none(),
    }
}
