//! The GPU sampling task: starts the driver, samples on the fast cadence with the slow
//! readings merged in, and publishes a [`GpuState`].
//!
//! NVML calls can hang for seconds while a GPU recovers (Xid 79, a reset). A sample that
//! does not finish within the deadline is abandoned: the last readings stay on screen marked
//! stale, with their age, and no second call is started while the first is still stuck, so
//! hung threads cannot pile up. A GPU that cannot be read carries its error and its last
//! good reading; only when every GPU keeps failing is NVML started again.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::task::{JoinHandle, spawn_blocking};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::gpu::{GpuDriver, GpuSampler, GpuSnapshot, GpuState, NO_GPU, SlowSample, Stale};
use super::{History, ServerProcess, cancelled_during, lock};
use crate::config::settings::GpuSelection;

/// Starts a driver: NVML from the configured library, or a stand-in in tests.
pub(crate) type Starter = Arc<dyn Fn() -> Result<Arc<dyn GpuDriver>, String> + Send + Sync>;

/// A missing NVIDIA driver is checked again this rarely (it may be installed or loaded
/// while llws runs), without a word unless the answer changes.
pub(crate) const NVML_RETRY: Duration = Duration::from_secs(60);
/// Every GPU failing this many samples in a row starts NVML again (a driver reload).
const ALL_FAILED_BEFORE_RESTART: u32 = 5;

#[derive(Debug, Clone)]
pub(crate) struct GpuCadence {
    pub interval: Duration,
    pub slow_interval: Duration,
    /// How long one sample may take before it is abandoned.
    pub deadline: Duration,
    /// How long the driver's start may take: without persistence mode the driver brings
    /// every GPU up on NVML's first call, a second or more each on a big box.
    pub start_deadline: Duration,
    pub retry: Duration,
    /// The GPUs the server gets, in CUDA order (for each sample's `cuda` number).
    pub cuda: GpuSelection,
}

impl GpuCadence {
    pub fn new(interval: Duration, slow_interval: Duration, cuda: GpuSelection) -> Self {
        Self {
            interval,
            slow_interval,
            cuda,
            // NVML answers in microseconds; seconds mean a GPU in recovery.
            deadline: (interval * 2).max(Duration::from_secs(2)),
            start_deadline: Duration::from_secs(60),
            retry: NVML_RETRY,
        }
    }
}

/// The stale state's words.
fn not_answering(age: Duration) -> String {
    format!("NVML has not answered for {} s", age.as_secs())
}

pub(crate) async fn gpu_task(
    cadence: GpuCadence,
    start: Starter,
    server: watch::Receiver<ServerProcess>,
    tx: watch::Sender<GpuState>,
    history: Arc<Mutex<History>>,
    token: CancellationToken,
) {
    loop {
        let starter = start.clone();
        let starting = spawn_blocking(move || GpuSampler::with_driver(starter()?));
        let started = match tokio::time::timeout(cadence.start_deadline, starting).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(format!("{NO_GPU}: NVML start failed ({e})")),
            Err(_) => Err(format!(
                "{NO_GPU}: NVML did not start within {} s (a GPU in recovery?)",
                cadence.start_deadline.as_secs()
            )),
        };
        let sampler = match started {
            Ok(sampler) => sampler,
            Err(reason) => {
                tx.send_if_modified(|state| {
                    let new = GpuState::Unavailable { reason };
                    let changed = *state != new;
                    *state = new;
                    changed
                });
                if cancelled_during(cadence.retry, &token).await {
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
        let restart =
            sample_until_restart(&cadence, &sampler, &server, &slow_rx, &tx, &history, &token)
                .await;
        slow_token.cancel();
        if !restart {
            return;
        }
    }
}

/// Samples until cancelled (`false`) or until every GPU has failed long enough that NVML
/// should be started again (`true`).
async fn sample_until_restart(
    cadence: &GpuCadence,
    sampler: &GpuSampler,
    server: &watch::Receiver<ServerProcess>,
    slow: &watch::Receiver<Vec<SlowSample>>,
    tx: &watch::Sender<GpuState>,
    history: &Arc<Mutex<History>>,
    token: &CancellationToken,
) -> bool {
    let mut ticker = tokio::time::interval(cadence.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut all_failed = 0;
    let mut last: Option<GpuSnapshot> = None;
    // A sample abandoned at its deadline, still running on its blocking thread.
    let mut stuck: Option<JoinHandle<GpuSnapshot>> = None;
    loop {
        tokio::select! {
            _ = token.cancelled() => return false,
            _ = ticker.tick() => {}
        }
        let mut call = match stuck.take() {
            // Never a second call while the first is stuck inside the driver.
            Some(handle) if !handle.is_finished() => {
                stuck = Some(handle);
                publish_stale(tx, last.as_ref());
                continue;
            }
            // It came back: its answer is late but real.
            Some(handle) => handle,
            None => {
                let model_pid = server.borrow().pid;
                let merged = slow.borrow().clone();
                let s = sampler.clone();
                spawn_blocking(move || s.sample(model_pid, &merged))
            }
        };
        match tokio::time::timeout(cadence.deadline, &mut call).await {
            Ok(Ok(mut snapshot)) => {
                snapshot.carry_forward(last.as_ref());
                super::gpu_facts::number_cuda(&mut snapshot, &cadence.cuda);
                if snapshot.gpus.iter().all(|g| g.error.is_some()) {
                    all_failed += 1;
                } else {
                    all_failed = 0;
                }
                lock(history).push_gpu(&snapshot);
                tx.send_replace(GpuState::Ready(snapshot.clone()));
                last = Some(snapshot);
                if all_failed >= ALL_FAILED_BEFORE_RESTART {
                    return true;
                }
            }
            // The blocking task panicked: count it as a failed sample.
            Ok(Err(_)) => {
                all_failed += 1;
                if all_failed >= ALL_FAILED_BEFORE_RESTART {
                    return true;
                }
            }
            Err(_) => {
                stuck = Some(call);
                publish_stale(tx, last.as_ref());
            }
        }
    }
}

/// The last readings again, marked with their age, while NVML does not answer.
fn publish_stale(tx: &watch::Sender<GpuState>, last: Option<&GpuSnapshot>) {
    let Some(last) = last else {
        // Nothing to show yet: the panel keeps waiting, with the reason.
        tx.send_replace(GpuState::Unavailable {
            reason: format!("{NO_GPU}: {}", not_answering(Duration::ZERO)),
        });
        return;
    };
    let age = last.age(SystemTime::now());
    let mut stale = last.clone();
    stale.stale = Some(Stale {
        age_ms: age.as_millis() as u64,
        reason: not_answering(age),
    });
    tx.send_replace(GpuState::Ready(stale));
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
        // Sequential by construction: a stuck call holds this loop, not a pile of threads.
        let Ok(slow) = spawn_blocking(move || s.sample_slow(true)).await else {
            return;
        };
        tx.send_replace(slow);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::settings::MonitorSettings;
    use crate::monitor::gpu::stand_in::{Device, StandIn};

    const GIB: u64 = 1 << 30;

    fn run(
        stand_in: Arc<StandIn>,
        cadence: GpuCadence,
    ) -> (watch::Receiver<GpuState>, CancellationToken) {
        let (_server_tx, server) = watch::channel(ServerProcess::default());
        // The receiver outlives this function: the task's borrow needs the sender alive.
        std::mem::forget(_server_tx);
        let (tx, rx) = watch::channel(GpuState::Waiting);
        let token = CancellationToken::new();
        let history = Arc::new(Mutex::new(History::for_settings(
            &MonitorSettings::default(),
        )));
        let start: Starter = Arc::new(move || Ok(stand_in.clone() as Arc<dyn GpuDriver>));
        tokio::spawn(gpu_task(cadence, start, server, tx, history, token.clone()));
        (rx, token)
    }

    fn fast() -> GpuCadence {
        GpuCadence {
            interval: Duration::from_millis(100),
            slow_interval: Duration::from_millis(100),
            deadline: Duration::from_millis(300),
            start_deadline: Duration::from_secs(5),
            retry: Duration::from_millis(100),
            cuda: GpuSelection::Devices(vec![2, 0]),
        }
    }

    async fn next_ready(
        rx: &mut watch::Receiver<GpuState>,
        what: &str,
        f: impl Fn(&GpuSnapshot) -> bool,
    ) -> GpuSnapshot {
        let state = tokio::time::timeout(
            Duration::from_secs(10),
            rx.wait_for(|s| matches!(s, GpuState::Ready(snap) if f(snap))),
        )
        .await
        .unwrap_or_else(|_| panic!("no snapshot where {what}"))
        .unwrap()
        .clone();
        match state {
            GpuState::Ready(s) => s,
            _ => unreachable!(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_unopenable_gpu_does_not_silence_the_others() {
        let stand_in = StandIn::new(vec![
            Device::Working { used: GIB },
            Device::Unopenable("no permission to open this GPU".into()),
            Device::Working { used: 2 * GIB },
        ]);
        let (mut rx, token) = run(stand_in, fast());
        let snap = next_ready(&mut rx, "three GPUs", |s| s.gpus.len() == 3).await;
        assert_eq!(snap.gpus[0].memory_used_bytes, Some(GIB));
        assert_eq!(
            snap.gpus[1].error.as_deref(),
            Some("no permission to open this GPU")
        );
        assert_eq!(snap.gpus[1].memory_used_bytes, None);
        assert_eq!(snap.gpus[2].memory_used_bytes, Some(2 * GIB));
        // `gpus = "2,0"`: the server sees GPU 2 as CUDA0 and GPU 0 as CUDA1.
        let cuda: Vec<Option<u32>> = snap.gpus.iter().map(|g| g.cuda).collect();
        assert_eq!(cuda, [Some(1), None, Some(0)]);
        token.cancel();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_gpu_that_falls_off_the_bus_keeps_its_last_reading_and_the_others_go_on() {
        let stand_in = StandIn::new(vec![
            Device::Working { used: GIB },
            Device::Working { used: 3 * GIB },
        ]);
        let (mut rx, token) = run(stand_in.clone(), fast());
        let before = next_ready(&mut rx, "a first reading", |s| s.gpus[1].read_at.is_some()).await;
        stand_in.set(
            1,
            Device::Failing("the GPU has fallen off the bus (GPU lost)".into()),
        );
        stand_in.set(0, Device::Working { used: 5 * GIB });
        let after = next_ready(&mut rx, "GPU 1 lost, GPU 0 moving on", |s| {
            s.gpus[1].error.is_some() && s.gpus[0].memory_used_bytes == Some(5 * GIB)
        })
        .await;
        // The lost GPU shows its last good reading, with the time it was read.
        assert_eq!(after.gpus[1].memory_used_bytes, Some(3 * GIB));
        assert_eq!(after.gpus[1].read_at, before.gpus[1].read_at);
        assert!(after.gpus[0].read_at > before.gpus[0].read_at);
        assert!(after.stale.is_none(), "one bad GPU is not a stale sample");
        // Back on the bus: fresh again.
        stand_in.set(1, Device::Working { used: 4 * GIB });
        next_ready(&mut rx, "GPU 1 back", |s| {
            s.gpus[1].error.is_none() && s.gpus[1].memory_used_bytes == Some(4 * GIB)
        })
        .await;
        token.cancel();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hung_call_is_abandoned_at_the_deadline_and_shown_stale() {
        let stand_in = StandIn::new(vec![Device::Working { used: GIB }]);
        let (mut rx, token) = run(stand_in.clone(), fast());
        let fresh = next_ready(&mut rx, "a fresh sample", |s| s.stale.is_none()).await;
        stand_in.hang();
        let stale = next_ready(&mut rx, "a stale sample", |s| s.stale.is_some()).await;
        // The readings are the last good ones, with their age and the reason.
        assert_eq!(stale.taken_at, fresh.taken_at);
        assert_eq!(stale.gpus, fresh.gpus);
        let note = stale.stale.unwrap();
        assert!(
            note.reason.starts_with("NVML has not answered for"),
            "{}",
            note.reason
        );
        // While stuck, no further call is started: the stand-in saw exactly one more read.
        let reads = *stand_in.reads.lock().unwrap();
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(
            *stand_in.reads.lock().unwrap(),
            reads,
            "a second call piled up"
        );
        let later = next_ready(&mut rx, "an older stale sample", |s| {
            s.stale.as_ref().is_some_and(|st| st.age_ms >= 500)
        })
        .await;
        assert_eq!(later.taken_at, fresh.taken_at);
        // The call returns: sampling resumes.
        stand_in.release();
        next_ready(&mut rx, "fresh again", |s| {
            s.stale.is_none() && s.taken_at > fresh.taken_at
        })
        .await;
        token.cancel();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_gpu_is_a_calm_unavailable_state() {
        let (_s, server) = watch::channel(ServerProcess::default());
        let (tx, mut rx) = watch::channel(GpuState::Waiting);
        let token = CancellationToken::new();
        let history = Arc::new(Mutex::new(History::for_settings(
            &MonitorSettings::default(),
        )));
        // The real driver, which fails to load here: the no-GPU path.
        let start: Starter = Arc::new(|| {
            super::super::gpu::NvmlDriver::init(std::path::Path::new(
                "/nonexistent/libnvidia-ml.so.1",
            ))
            .map(|d| Arc::new(d) as Arc<dyn GpuDriver>)
        });
        tokio::spawn(gpu_task(fast(), start, server, tx, history, token.clone()));
        let state = tokio::time::timeout(
            Duration::from_secs(5),
            rx.wait_for(|s| !matches!(s, GpuState::Waiting)),
        )
        .await
        .unwrap()
        .unwrap()
        .clone();
        match state {
            GpuState::Unavailable { reason } => {
                assert!(reason.starts_with(NO_GPU), "{reason}");
                assert!(reason.contains("libnvidia-ml.so.1"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        token.cancel();
    }
}
