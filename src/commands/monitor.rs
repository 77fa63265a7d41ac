//! `llws monitor`: the samples the panels show, on stdout, with no screen and no server
//! needed (like gpustat). A compact table by default; `--json` prints one JSON object per
//! sample and line, for scripts.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use tokio::sync::watch;

use super::Context;
use crate::config::Settings;
use crate::config::settings::BackendKind;
use crate::monitor::gpu_timings::{self, NvmlTimings};
use crate::monitor::{self, GpuState, MonitorReport, ServerProcess, SystemSnapshot};

/// How long the first sample may take before it is printed with what it has (a Docker
/// footprint needs two readings).
const FIRST_SAMPLE_WAIT: Duration = Duration::from_secs(3);
/// How long NVML's first answer may take. It starts in ~12 ms on a warm driver, but without
/// persistence mode the driver brings every GPU up on the first call, a second or more each
/// on a many-GPU box; the wait ends as soon as the answer is there.
const FIRST_GPU_WAIT: Duration = Duration::from_secs(60);
/// How long finding a llws container may take; without a daemon it fails at once.
const DOCKER_LOOKUP: Duration = Duration::from_secs(1);

pub fn run(
    ctx: &Context,
    once: bool,
    json: bool,
    timings: Option<usize>,
) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(watch_and_print(&ctx.settings, once, json, timings))
}

async fn watch_and_print(
    settings: &Settings,
    once: bool,
    json: bool,
    timings: Option<usize>,
) -> anyhow::Result<ExitCode> {
    // Timed before the samplers start, so their calls do not share the driver with ours.
    let nvml_timings = match timings {
        Some(repeats) => {
            let library = settings.monitor.nvml_library.clone();
            Some(
                tokio::task::spawn_blocking(move || gpu_timings::measure(&library, repeats))
                    .await?,
            )
        }
        None => None,
    };
    let server = find_server(settings).await;
    let expect_footprint = server.pid.is_some();
    let (_server_tx, server_rx) = watch::channel(server);
    let handle = monitor::spawn(&settings.monitor, server_rx);
    let mut gpu = handle.gpu.clone();
    let mut system = handle.system.clone();

    let _ = tokio::time::timeout(
        FIRST_GPU_WAIT,
        gpu.wait_for(|g| !matches!(g, GpuState::Waiting)),
    )
    .await;
    let first = tokio::time::timeout(FIRST_SAMPLE_WAIT, async {
        let _ = system
            .wait_for(|s| s.taken_at.is_some() && (!expect_footprint || s.server.is_some()))
            .await;
    });
    // Past the wait, print what there is: a sample without the footprint beats none.
    let _ = first.await;
    let _ = system.wait_for(|s| s.taken_at.is_some()).await;

    let mut out = std::io::stdout().lock();
    let mut print = |gpu: &GpuState, system: &SystemSnapshot, timings: Option<&NvmlTimings>| {
        let text = if json {
            let output = MonitorReport {
                gpu,
                system,
                nvml_timings: timings,
            };
            format!(
                "{}\n",
                serde_json::to_string(&output).expect("snapshots serialize")
            )
        } else {
            let mut text = table(gpu, system);
            if let Some(timings) = timings {
                text.push_str(&timings_table(timings));
            }
            if !once {
                // A blank line between samples in the stream.
                text.push('\n');
            }
            text
        };
        // A closed pipe (`llws monitor | head`) ends the watch quietly.
        out.write_all(text.as_bytes()).and_then(|()| out.flush())
    };
    let snapshot = system.borrow_and_update().clone();
    if print(&gpu.borrow(), &snapshot, nvml_timings.as_ref()).is_err() || once {
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
            changed = system.changed() => {
                if changed.is_err() {
                    return Ok(ExitCode::SUCCESS);
                }
            }
        }
        let snapshot = system.borrow_and_update().clone();
        if print(&gpu.borrow(), &snapshot, None).is_err() {
            return Ok(ExitCode::SUCCESS);
        }
    }
}

/// The llws container, when the Docker backend has one running: its processes are then
/// marked as the model and its footprint is shown. The process backend's child belongs to
/// the llws that started it, which this command does not ask.
/// The running llama-server llws started, if any: the Docker backend's container (its
/// main process's host pid), or the process backend's child from its state file. NVML
/// reports host pids, so this is what marks the model's memory on the GPU.
pub(crate) async fn find_server(settings: &Settings) -> ServerProcess {
    match settings.backend {
        BackendKind::Process => native_server(settings),
        BackendKind::Docker => container_server(settings).await,
    }
}

/// The process backend records `{"pid": ...}` in `server-PORT.json` under the state folder.
fn native_server(settings: &Settings) -> ServerProcess {
    let port = crate::server::upstream::backend_settings(settings, &crate::util::state_dir())
        .server
        .port;
    let path = crate::util::state_dir().join(format!("server-{port}.json"));
    let pid = std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|v| v.get("pid")?.as_u64())
        .and_then(|pid| u32::try_from(pid).ok())
        // A pid from a state file may be stale: it counts only while the process lives.
        .filter(|pid| *pid > 0 && std::path::Path::new(&format!("/proc/{pid}")).exists());
    ServerProcess {
        pid,
        container_id: None,
    }
}

async fn container_server(settings: &Settings) -> ServerProcess {
    let host = crate::docker::connect::host_for(&settings.server.docker_host);
    let Ok(docker) = crate::docker::connect::connect(&host, DOCKER_LOOKUP).await else {
        return ServerProcess::default();
    };
    let inspect = docker.inspect_container(&settings.server.container, None);
    let Ok(Ok(info)) = tokio::time::timeout(DOCKER_LOOKUP, inspect).await else {
        return ServerProcess::default();
    };
    let state = info.state.unwrap_or_default();
    if state.running != Some(true) {
        return ServerProcess::default();
    }
    ServerProcess {
        pid: state
            .pid
            .and_then(|p| u32::try_from(p).ok())
            .filter(|p| *p > 0),
        container_id: info.id,
    }
}

use crate::util::bytes;

/// One block per GPU, then CPU, RAM and the server.
fn table(gpu: &GpuState, system: &SystemSnapshot) -> String {
    let mut t = String::new();
    match gpu {
        GpuState::Waiting => t.push_str("GPU  waiting for the first sample\n"),
        GpuState::Unavailable { reason } => {
            let _ = writeln!(t, "GPU  {reason}");
        }
        GpuState::Ready(snapshot) => {
            if let Some(stale) = &snapshot.stale {
                let _ = writeln!(
                    t,
                    "GPU  readings {} s old: {}",
                    stale.age_ms / 1000,
                    stale.reason
                );
            }
            for g in &snapshot.gpus {
                let mut line = format!("GPU {}", g.index);
                if let Some(error) = &g.error {
                    line.push_str(&format!("  cannot be read: {error};"));
                }
                let mut field = |text: Option<String>| {
                    if let Some(text) = text {
                        line.push_str("  ");
                        line.push_str(&text);
                    }
                };
                field(g.name.clone());
                field(g.pstate.map(|p| format!("P{p}")));
                field(g.temperature_c.map(|c| format!("{c}°C")));
                field(g.utilization_gpu_percent.map(|u| format!("util {u}%")));
                field(
                    g.utilization_memory_percent
                        .map(|u| format!("mem-util {u}%")),
                );
                field(
                    g.memory_used_bytes
                        .zip(g.memory_total_bytes)
                        .map(|(u, t)| format!("VRAM {}/{}", bytes(u), bytes(t))),
                );
                field(
                    g.model_memory_bytes
                        .map(|m| format!("(model {})", bytes(m))),
                );
                field(match (g.power_draw_w, g.power_limit_w) {
                    (Some(d), Some(l)) => Some(format!("{d:.0}/{l:.0} W")),
                    (Some(d), None) => Some(format!("{d:.0} W")),
                    _ => None,
                });
                field(g.clock_sm_mhz.map(|c| format!("SM {c} MHz")));
                field(g.clock_mem_mhz.map(|c| format!("mem {c} MHz")));
                field(g.fan_percent.map(|f| format!("fan {f}%")));
                field(
                    g.pcie_tx_bytes_per_s
                        .zip(g.pcie_rx_bytes_per_s)
                        .map(|(tx, rx)| format!("PCIe tx {}/s rx {}/s", bytes(tx), bytes(rx))),
                );
                let _ = writeln!(t, "{line}");
                for p in &g.processes {
                    let _ = writeln!(
                        t,
                        "       pid {} {} {}{}",
                        p.pid,
                        p.name.as_deref().unwrap_or("?"),
                        p.used_memory_bytes.map(bytes).unwrap_or_else(|| "-".into()),
                        if p.is_model { "  (model)" } else { "" },
                    );
                }
            }
        }
    }
    let cores = if system.per_core.len() <= 16 {
        let each: Vec<String> = system.per_core.iter().map(|c| format!("{c:.0}")).collect();
        format!("cores {}", each.join(" "))
    } else {
        format!("{} cores", system.per_core.len())
    };
    let _ = writeln!(
        t,
        "CPU  {:.1}%  {cores}  load {:.2} {:.2} {:.2}",
        system.cpu_percent, system.load[0], system.load[1], system.load[2]
    );
    let swap = if system.swap_total == 0 {
        "none".to_string()
    } else {
        format!("{} / {}", bytes(system.swap_used), bytes(system.swap_total))
    };
    let _ = writeln!(
        t,
        "RAM  {} / {} used incl. cache, {} excl. cache  (cache {}, free {})  swap {swap}",
        bytes(system.used_incl_cache),
        bytes(system.mem_total),
        bytes(system.used_excl_cache),
        bytes(system.cache),
        bytes(system.mem_free),
    );
    if let Some(s) = &system.server {
        let source = serde_json::to_value(s.source).expect("a plain enum");
        let mut line = format!(
            "server  {}  CPU {:.1}%  mem {}",
            source.as_str().unwrap_or("?"),
            s.cpu_percent,
            bytes(s.memory_bytes)
        );
        if let Some(limit) = s.memory_limit_bytes {
            let _ = write!(line, " / {}", bytes(limit));
        }
        if let Some(mapped) = s.mapped_file_bytes {
            let _ = write!(line, "  (mapped files {})", bytes(mapped));
        }
        let _ = writeln!(t, "{line}");
    }
    t
}

fn timings_table(timings: &NvmlTimings) -> String {
    let mut t = format!(
        "\nNVML timings (median of {}): init {:.1} ms\n",
        timings.repeats,
        timings.init_us / 1000.0
    );
    if let Some(reason) = &timings.unavailable {
        let _ = writeln!(t, "  {reason}");
    }
    for c in &timings.calls {
        let _ = writeln!(
            t,
            "  GPU {} {:<28} {:>10.1} µs  {:<6} {}",
            c.gpu,
            c.call,
            c.median_us,
            c.cadence,
            c.error.as_deref().unwrap_or("")
        );
    }
    if let (Some(fast), Some(slow)) = (timings.fast_sample_us, timings.slow_sample_us) {
        let _ = writeln!(
            t,
            "  fast sample {:.1} µs, slow sample {:.1} ms",
            fast,
            slow / 1000.0
        );
    }
    t
}
