//! The monitors against the real parts: this machine's NVML absence, its /proc, real child
//! processes, the test Docker daemon with the llama-server image, and the built binary.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{CreateContainerOptions, RemoveContainerOptions};
use llws::config::settings::MonitorSettings;
use llws::monitor::{
    self, DockerStats, FootprintSource, GpuSampler, GpuState, NO_GPU, ProcessStats, Reading,
    ServerFootprint, ServerProcess, SystemSampler,
};
use serde_json::Value;
use support::{Fixtures, free_port, llws_bin};
use tokio::sync::watch;

/// A path where no NVML can be: the same failure as a machine without the NVIDIA driver,
/// on any machine.
const NO_NVML: &str = "/nonexistent/libnvidia-ml.so.1";

const MIB: u64 = 1024 * 1024;

fn fast_settings() -> MonitorSettings {
    MonitorSettings {
        interval_ms: 100,
        slow_interval_ms: 500,
        history_s: 10,
        nvml_library: NO_NVML.into(),
    }
}

/// A shell whose child holds 200 MiB and keeps a core busy: the footprint must count the
/// child, not just the shell.
struct Hog(Child);

impl Hog {
    fn start() -> Self {
        let child = Command::new("sh")
            .arg("-c")
            .arg("python3 -c 'x = bytearray(200 * 1024 * 1024)\nwhile True: pass' & wait")
            .spawn()
            .expect("start sh and python3");
        let hog = Hog(child);
        let pid = hog.pid();
        support::wait_for(
            "the python child to hold its memory",
            Duration::from_secs(20),
            || {
                let tree = all_descendants(pid);
                tree.iter()
                    .any(|p| rss_of(*p).is_some_and(|rss| rss > 200 * MIB))
                    .then_some(())
            },
        );
        hog
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        // The python child first, so it does not outlive its shell.
        for pid in all_descendants(self.pid()).into_iter().rev() {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
        let _ = self.0.wait();
    }
}

fn all_descendants(root: u32) -> Vec<u32> {
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let pid = out[i];
        i += 1;
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let list = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            out.extend(
                list.split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
    }
    out
}

fn rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn meminfo(key: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{key}:")))
        .unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}

#[test]
fn without_nvml_the_sampler_gives_the_calm_reason() {
    let reason = GpuSampler::init(Path::new(NO_NVML)).unwrap_err();
    assert!(reason.starts_with(&format!("{NO_GPU}: ")), "{reason}");
    assert!(reason.contains("libnvidia-ml.so.1"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_gpu_the_state_is_published_once_and_the_system_panel_runs() {
    let (_server_tx, server_rx) = watch::channel(ServerProcess::default());
    let handle = monitor::spawn(&fast_settings(), server_rx);
    let mut gpu = handle.gpu.clone();
    let mut system = handle.system.clone();

    let state = gpu
        .wait_for(|g| !matches!(g, GpuState::Waiting))
        .await
        .unwrap()
        .clone();
    let GpuState::Unavailable { reason } = state else {
        panic!("expected the no-GPU state, got {state:?}");
    };
    assert!(reason.starts_with(NO_GPU), "{reason}");

    // Five system samples later, the GPU state has not been sent again.
    for _ in 0..5 {
        system.changed().await.unwrap();
    }
    assert!(
        !gpu.has_changed().unwrap(),
        "the no-GPU state is published once"
    );
    let snapshot = system.borrow().clone();
    assert!(snapshot.taken_at.is_some());
    assert!(snapshot.mem_total > 0);
    assert!(snapshot.server.is_none());

    let history = handle.history.lock().unwrap().clone();
    assert_eq!(history.capacity(), 100, "10 s at 100 ms");
    assert!(history.cpu_percent.len() >= 5);
    assert!(history.ram_used_incl_cache.latest().unwrap() > 0.0);
    assert!(history.gpus.is_empty());
    assert!(history.server_cpu_percent.iter().all(|v| v.is_none()));
}

#[test]
fn the_system_sample_reads_this_machine() {
    let mut sampler = SystemSampler::new().unwrap();
    // Keep one core busy between the two CPU readings.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let burner = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let s = sampler.sample();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    burner.join().unwrap();

    assert_eq!(s.mem_total, meminfo("MemTotal"));
    assert_eq!(s.swap_total, meminfo("SwapTotal"));
    assert_eq!(s.used_incl_cache, s.mem_total - s.mem_free);
    assert_eq!(s.used_excl_cache, s.mem_total - s.mem_available);
    assert!(s.used_incl_cache >= s.used_excl_cache, "{s:?}");
    assert!(s.cache > 0 && s.cache < s.mem_total, "{s:?}");
    assert!(s.swap_used <= s.swap_total);

    let cores = std::fs::read_to_string("/proc/stat")
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count();
    assert_eq!(s.per_core.len(), cores);
    assert!(
        s.per_core.iter().all(|c| (0.0..=100.0).contains(c)),
        "{s:?}"
    );
    let busiest = s.per_core.iter().copied().fold(0.0f32, f32::max);
    assert!(
        s.cpu_percent > 100.0 / cores as f32 / 4.0,
        "a busy core shows: {s:?}"
    );
    assert!(busiest > 25.0, "{s:?}");

    // The kernel updates the averages every 5 s; the 15-minute one moves slowly enough
    // to compare with a reading taken a moment later.
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap();
    let fifteen: f64 = loadavg.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!(
        (s.load[2] - fifteen).abs() < 0.5,
        "{:?} vs {loadavg}",
        s.load
    );
    assert!(s.load.iter().all(|l| *l >= 0.0), "{:?}", s.load);
}

#[test]
fn a_process_footprint_counts_the_children() {
    let hog = Hog::start();
    let mut stats = ProcessStats::new();
    assert_eq!(stats.read(hog.pid()), Reading::Primed);
    std::thread::sleep(Duration::from_millis(500));
    let Reading::Ready(footprint) = stats.read(hog.pid()) else {
        panic!("the second reading has figures");
    };
    assert_eq!(footprint.source, FootprintSource::Process);
    assert!(footprint.memory_bytes > 200 * MIB, "{footprint:?}");
    assert!(
        footprint.cpu_percent > 10.0,
        "the busy child counts: {footprint:?}"
    );
    assert_eq!(footprint.memory_limit_bytes, None);
    assert!(
        footprint.mapped_file_bytes.is_some_and(|b| b > 0),
        "python maps its libraries"
    );

    let gone = hog.pid();
    drop(hog);
    assert_eq!(stats.read(gone), Reading::Nothing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_system_snapshot_carries_the_server_process_and_its_history() {
    let hog = Hog::start();
    let (server_tx, server_rx) = watch::channel(ServerProcess::default());
    let handle = monitor::spawn(&fast_settings(), server_rx);
    let mut system = handle.system.clone();
    system.wait_for(|s| s.taken_at.is_some()).await.unwrap();

    server_tx.send_replace(ServerProcess {
        pid: Some(hog.pid()),
        container_id: None,
    });
    let footprint = wait_for_footprint(&mut system, |f| f.memory_bytes > 200 * MIB).await;
    assert_eq!(footprint.source, FootprintSource::Process);

    // The server stops: its footprint goes away.
    server_tx.send_replace(ServerProcess::default());
    system.wait_for(|s| s.server.is_none()).await.unwrap();
    let history = handle.history.lock().unwrap().clone();
    assert!(
        history
            .server_cpu_percent
            .iter()
            .any(|v| v.is_some_and(|c| c > 0.0)),
        "{:?}",
        history.server_cpu_percent
    );
    assert!(history.server_cpu_percent.latest().is_none());
}

async fn wait_for_footprint(
    system: &mut watch::Receiver<llws::monitor::SystemSnapshot>,
    done: impl Fn(&ServerFootprint) -> bool,
) -> ServerFootprint {
    let snapshot = tokio::time::timeout(
        Duration::from_secs(30),
        system.wait_for(|s| s.server.as_ref().is_some_and(&done)),
    )
    .await
    .expect("the footprint within 30 s")
    .unwrap();
    snapshot.server.clone().unwrap()
}

/// A llama-server container from the test image with the tiny model, on the host network;
/// removed when dropped.
struct TestContainer {
    docker: Docker,
    id: String,
}

impl TestContainer {
    async fn start(docker: &Docker) -> Self {
        let fixtures = Fixtures::get();
        // Mount the model's real folder: the fixture folder may hold a symlink to it.
        let model = std::fs::canonicalize(fixtures.model_dir().join(fixtures.model_file()))
            .expect("the test model exists");
        let name = format!("llws-monitor-test-{}", std::process::id());
        let body = ContainerCreateBody {
            image: Some(fixtures.image().to_string()),
            cmd: Some(
                [
                    "--model",
                    &format!("/models/{}", model.file_name().unwrap().to_string_lossy()),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &free_port().to_string(),
                    "--ctx-size",
                    "512",
                ]
                .map(String::from)
                .to_vec(),
            ),
            host_config: Some(HostConfig {
                network_mode: Some("host".into()),
                binds: Some(vec![format!(
                    "{}:/models:ro",
                    model.parent().unwrap().display()
                )]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptions {
            name: Some(name),
            ..Default::default()
        };
        let created = docker.create_container(Some(options), body).await.unwrap();
        let container = TestContainer {
            docker: docker.clone(),
            id: created.id,
        };
        docker.start_container(&container.id, None).await.unwrap();
        container
    }

    async fn host_pid(&self) -> u32 {
        let info = self.docker.inspect_container(&self.id, None).await.unwrap();
        let pid = info.state.unwrap().pid.unwrap();
        u32::try_from(pid).unwrap()
    }

    async fn remove(self) {
        let options = RemoveContainerOptions {
            force: true,
            ..Default::default()
        };
        self.docker
            .remove_container(&self.id, Some(options))
            .await
            .unwrap();
    }
}

async fn test_docker() -> Docker {
    let host = Fixtures::get().docker_host();
    let path = host.strip_prefix("unix://").unwrap_or(host);
    Docker::connect_with_unix(path, 120, bollard::API_DEFAULT_VERSION)
        .unwrap()
        .negotiate_version()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_stats_give_the_container_footprint() {
    let docker = test_docker().await;
    let container = TestContainer::start(&docker).await;
    let pid = container.host_pid().await;
    let result = tokio::spawn({
        let docker = docker.clone();
        let id = container.id.clone();
        async move {
            let mut stats = DockerStats::new(docker.clone());
            assert_eq!(stats.read(&id).await.unwrap(), Reading::Primed);
            tokio::time::sleep(Duration::from_millis(300)).await;
            let footprint = match stats.read(&id).await.unwrap() {
                Reading::Ready(footprint) => footprint,
                other => panic!("the second reading has figures, got {other:?}"),
            };
            assert_eq!(footprint.source, FootprintSource::Docker);
            assert!(footprint.memory_bytes > MIB, "{footprint:?}");
            assert!(footprint.memory_limit_bytes.unwrap() >= footprint.memory_bytes);
            assert_eq!(footprint.mapped_file_bytes, None, "Docker does not know it");
            assert!(footprint.cpu_percent >= 0.0);

            // The whole path: the controller publishes the container; the system snapshot
            // then carries Docker's figures.
            let (_server_tx, server_rx) = watch::channel(ServerProcess {
                pid: Some(pid),
                container_id: Some(id.clone()),
            });
            let handle = monitor::spawn_with_docker(&fast_settings(), server_rx, docker);
            let mut system = handle.system.clone();
            // The host's view of the container's processes shows the mapped model (98 MB).
            let footprint = wait_for_footprint(&mut system, |f| {
                f.mapped_file_bytes.is_some_and(|b| b > 50 * MIB)
            })
            .await;
            assert_eq!(footprint.source, FootprintSource::Docker);
            assert!(footprint.memory_bytes > MIB, "{footprint:?}");
        }
    })
    .await;
    container.remove().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic.into_panic());
    }
}

/// Settings for the binary: no NVML, and the process backend so no Docker lookup happens.
fn settings_file(dir: &Path, interval_ms: u64) -> std::path::PathBuf {
    let path = dir.join("llws.toml");
    std::fs::write(
        &path,
        format!(
            "backend = \"process\"\n[monitor]\ninterval_ms = {interval_ms}\nnvml_library = \"{NO_NVML}\"\n"
        ),
    )
    .unwrap();
    path
}

fn assert_system_shape(system: &Value) {
    for key in [
        "mem_total",
        "mem_free",
        "mem_available",
        "cache",
        "used_incl_cache",
        "used_excl_cache",
        "swap_total",
        "swap_used",
        "taken_at",
    ] {
        assert!(system[key].is_u64(), "{key} in {system}");
    }
    assert!(system["cpu_percent"].is_f64(), "{system}");
    let cores = system["per_core"].as_array().unwrap();
    assert!(
        !cores.is_empty() && cores.iter().all(Value::is_f64),
        "{system}"
    );
    let load = system["load"].as_array().unwrap();
    assert_eq!(load.len(), 3);
    assert!(system["server"].is_null(), "{system}");
    let total = system["mem_total"].as_u64().unwrap();
    assert_eq!(
        system["used_incl_cache"].as_u64().unwrap(),
        total - system["mem_free"].as_u64().unwrap()
    );
}

#[test]
fn llws_monitor_once_json_has_the_snapshot_shape() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(llws_bin())
        .arg("--config")
        .arg(settings_file(dir.path(), 1000))
        .args(["monitor", "--once", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "one JSON object per line: {text}");
    let json: Value = serde_json::from_str(&text).unwrap();
    let object = json.as_object().unwrap();
    assert_eq!(
        object.keys().collect::<Vec<_>>(),
        ["gpu", "system"],
        "{json}"
    );
    assert_eq!(json["gpu"]["state"], "unavailable");
    let reason = json["gpu"]["reason"].as_str().unwrap();
    assert!(reason.starts_with(NO_GPU), "{reason}");
    assert_system_shape(&json["system"]);
}

#[test]
fn llws_monitor_timings_report_the_no_gpu_path() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(llws_bin())
        .arg("--config")
        .arg(settings_file(dir.path(), 1000))
        .args(["monitor", "--once", "--json", "--timings", "3"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    let timings = &json["nvml_timings"];
    assert_eq!(timings["repeats"], 3);
    assert!(timings["init_us"].as_f64().unwrap() > 0.0);
    assert!(timings["unavailable"].as_str().unwrap().starts_with(NO_GPU));
    assert_eq!(timings["calls"], serde_json::json!([]));

    let help = Command::new(llws_bin())
        .args(["monitor", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(
        help.contains("--once") && !help.contains("--timings"),
        "{help}"
    );
}

#[test]
fn llws_monitor_prints_a_table_and_streams_until_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let config = settings_file(dir.path(), 100);
    let table = Command::new(llws_bin())
        .arg("--config")
        .arg(&config)
        .args(["monitor", "--once"])
        .output()
        .unwrap();
    assert!(table.status.success(), "{table:?}");
    let table = String::from_utf8(table.stdout).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with(&format!("GPU  {NO_GPU}")), "{table}");
    assert!(lines[1].starts_with("CPU  "), "{table}");
    assert!(
        lines[2].starts_with("RAM  ") && lines[2].contains("incl. cache"),
        "{table}"
    );

    let mut child = Command::new(llws_bin())
        .arg("--config")
        .arg(&config)
        .args(["monitor", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut taken = Vec::new();
    for _ in 0..3 {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let json: Value = serde_json::from_str(&line).expect("each line is a JSON sample");
        assert_system_shape(&json["system"]);
        taken.push(json["system"]["taken_at"].as_u64().unwrap());
    }
    assert!(
        taken.windows(2).all(|w| w[0] < w[1]),
        "new samples: {taken:?}"
    );
    // Ctrl-C ends it with success.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    assert!(child.wait().unwrap().success());
}
