//! Fault tests against the real parts (docs/reliability.md has the matrix): a truncated
//! model, a busy server stopped in a switch, the OOM killer on a native server, a flooded
//! and a full log disk, broken config files, a daemon that is down when a start is asked
//! for, and a stop from outside llws.

mod harness;
mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use harness::api::{Api, SseReader};
use harness::{TestEnv, http_get, wait_phase};
use llws::config::settings::BackendKind;
use llws::model::files::ModelFileError;
use llws::server::state::{Phase, Step};
use llws::server::{ControlError, ControllerHandle, Outcome};
use tokio::net::{UnixListener, UnixStream};

const LOAD: Duration = Duration::from_secs(90);

fn spawn(env: &TestEnv) -> ControllerHandle {
    match env.settings.backend {
        BackendKind::Process => env.spawn_process_controller(),
        BackendKind::Docker => env.spawn_docker_controller(),
    }
}

fn log_text(ctl: &ControllerHandle) -> String {
    ctl.logs().tail_text(usize::MAX).join("\n")
}

// ---------------------------------------------------------------------------------------
// A truncated download is refused before the running server is touched.

async fn truncated_model_leaves_the_running_server_alone(backend: BackendKind) {
    let env = TestEnv::new(backend);
    let ctl = spawn(&env);
    assert!(matches!(
        ctl.switch("tiny-a").await.unwrap(),
        Outcome::Running { .. }
    ));
    let before = ctl.state();

    let refused = ctl.switch("truncated").await;
    let Err(ControlError::ModelFiles(ModelFileError::Truncated {
        expected, actual, ..
    })) = refused.clone()
    else {
        panic!("expected a truncation refusal, got {refused:?}");
    };
    let real = std::fs::metadata(env.settings.models_dir.join("tiny.gguf"))
        .unwrap()
        .len();
    assert_eq!(actual, real / 3);
    assert!(expected > actual && expected <= real, "{expected}");
    let message = refused.as_ref().unwrap_err().to_string();
    assert!(
        message.contains(&actual.to_string()) && message.contains(&expected.to_string()),
        "the sizes are named: {message}"
    );
    assert!(message.contains("truncated.gguf"), "{message}");

    // Nothing was touched: same server, still serving.
    let after = ctl.state();
    assert_eq!(after.phase, Phase::Running);
    assert_eq!(after.pid, before.pid);
    assert_eq!(after.container_id, before.container_id);
    assert_eq!(http_get(&format!("{}/health", env.base_url())).await.0, 200);
    assert!(!log_text(&ctl).contains("--- switching to Truncated"));
    ctl.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_model_is_refused_before_the_native_server_is_touched() {
    truncated_model_leaves_the_running_server_alone(BackendKind::Process).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_model_is_refused_before_the_container_is_touched() {
    truncated_model_leaves_the_running_server_alone(BackendKind::Docker).await;
}

#[test]
fn the_complete_model_passes_the_length_check() {
    let env = TestEnv::new(BackendKind::Process);
    let set = llws::config::ProfileSet::load(&env.settings.models_conf).unwrap();
    for id in ["tiny-a", "corrupt"] {
        let files =
            llws::model::files::check_complete(&env.settings.models_dir, set.get(id).unwrap())
                .unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(files.parts.len(), 1);
    }
    let extent =
        llws::model::gguf_extent::read_file_extent(&env.settings.models_dir.join("tiny.gguf"))
            .unwrap();
    let len = std::fs::metadata(env.settings.models_dir.join("tiny.gguf"))
        .unwrap()
        .len();
    assert!(extent.exact);
    // The data ends at the end of the file, give or take the final alignment padding.
    assert!(
        extent.expected_bytes <= len && len - extent.expected_bytes < 64,
        "{extent:?} for {len} bytes"
    );
}

// ---------------------------------------------------------------------------------------
// A busy server is stopped within the switch's grace, and the log says how.

/// Starts a long generation on the server and returns once it is generating.
async fn keep_busy(base_url: &str) -> tokio::task::JoinHandle<()> {
    let url = format!("{base_url}/completion");
    let task = tokio::spawn(async move {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        // The body must be read: dropping the response closes the connection, and
        // llama-server cancels a streamed generation at its next write.
        let response = client
            .post(url)
            .json(&serde_json::json!({
                "prompt": "Once upon a time",
                "n_predict": 100000,
                "ignore_eos": true,
                "stream": true
            }))
            .send()
            .await;
        if let Ok(response) = response {
            let _ = response.bytes().await;
        }
    });
    let slots = format!("{base_url}/slots");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, body) = http_get(&slots).await;
        if code == 200 && body.contains("\"is_processing\":true") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server never got busy: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    task
}

async fn busy_server_stops_within_the_grace(backend: BackendKind) {
    let mut env = TestEnv::new(backend);
    // A plain stop may wait two minutes; a switch gives the old server 3 s.
    env.settings.server.stop_timeout_s = 120;
    env.settings.server.stop_grace_s = 3;
    let ctl = spawn(&env);
    assert!(matches!(
        ctl.switch("tiny-a").await.unwrap(),
        Outcome::Running { .. }
    ));
    let busy = keep_busy(&env.base_url()).await;

    // While it stops, the state names the model being stopped.
    let mut rx = ctl.subscribe_state();
    let watcher = tokio::spawn(async move {
        rx.wait_for(|s| {
            s.switch
                .as_ref()
                .is_some_and(|sw| sw.step == Step::Stopping)
        })
        .await
        .map(|s| s.switch.clone().unwrap())
        .ok()
    });
    let started = Instant::now();
    let outcome = ctl.switch("tiny-b").await.unwrap();
    let took = started.elapsed();
    assert!(matches!(outcome, Outcome::Running { .. }), "{outcome:?}");
    let timings = ctl.timings();
    let stop_ms = timings.last().unwrap().stop_ms;
    println!("stopping the busy server took {stop_ms} ms (whole switch {took:?})");
    // Far below the 120 s a stop would wait: the grace (3 s) plus the kill's own wait.
    assert!(stop_ms < 30_000, "stop took {stop_ms} ms");
    let stopping = watcher
        .await
        .unwrap()
        .expect("a stopping step was published");
    assert_eq!(stopping.from_name.as_deref(), Some("Tiny A"));
    assert_eq!(stopping.target_name, "Tiny B");

    let log = log_text(&ctl);
    let line = log
        .lines()
        .find(|l| l.starts_with("llws: stopped Tiny A in "))
        .unwrap_or_else(|| panic!("no line says how it stopped:\n{log}"));
    assert!(
        line.contains("SIGTERM") || line.contains("SIGKILL"),
        "the signal is named: {line}"
    );
    println!("{line}");
    busy.abort();
    ctl.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_native_server_is_stopped_within_the_switch_grace() {
    busy_server_stops_within_the_grace(BackendKind::Process).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_container_is_stopped_within_the_switch_grace() {
    busy_server_stops_within_the_grace(BackendKind::Docker).await;
}

// ---------------------------------------------------------------------------------------
// The OOM killer is named for a native server too.

/// A memory cgroup (v1, as this machine has) removed on drop.
struct Cgroup(PathBuf);

impl Cgroup {
    fn new(name: &str) -> Self {
        let root = Path::new("/sys/fs/cgroup/memory");
        assert!(
            root.join("memory.oom_control").exists(),
            "this test needs the cgroup v1 memory controller at {} (docs/testing.md)",
            root.display()
        );
        let path = root.join(name);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Self(path)
    }

    fn write(&self, file: &str, value: &str) {
        std::fs::write(self.0.join(file), value)
            .unwrap_or_else(|e| panic!("{}/{file}: {e}", self.0.display()));
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // Empty once its processes are gone.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.0).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oom_killer_is_named_for_a_native_server() {
    let env = TestEnv::new(BackendKind::Process);
    let ctl = spawn(&env);
    // Tiny B has a 4096 context: the prompt below fits, and fills the KV cache.
    assert!(matches!(
        ctl.switch("tiny-b").await.unwrap(),
        Outcome::Running { .. }
    ));
    let pid = ctl.state().pid.unwrap();
    let cgroup = Cgroup::new(&format!("llws-test-oom-{}", env.settings.server.port));
    // New pages are charged here; the model already mapped stays with the old group.
    cgroup.write("cgroup.procs", &pid.to_string());
    // llws looks the server's cgroup up again every 250 ms; a loaded machine may take a
    // few of those turns. The limit comes after them: an idle server also touches new
    // pages, and a kill before llws followed it would be counted in a group it never saw.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let usage: u64 = std::fs::read_to_string(cgroup.0.join("memory.usage_in_bytes"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    cgroup.write("memory.limit_in_bytes", &(usage + (4 << 20)).to_string());

    let prompt = "hello world ".repeat(1500);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let _ = client
        .post(format!("{}/completion", env.base_url()))
        .timeout(Duration::from_secs(60))
        .json(&serde_json::json!({"prompt": prompt, "n_predict": 50}))
        .send()
        .await;
    let state = wait_phase(&ctl, Phase::Failed, Duration::from_secs(60)).await;
    let failure = state.failure.unwrap();
    assert_eq!(failure.signal, Some(9), "{failure:?}");
    assert!(failure.oom_killed, "{failure:?}");
    assert!(
        failure.reason.contains("killed for lack of memory (OOM)"),
        "{}",
        failure.reason
    );
    ctl.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_that_is_not_the_oom_killer_is_not_called_one() {
    let env = TestEnv::new(BackendKind::Process);
    let ctl = spawn(&env);
    assert!(matches!(
        ctl.switch("tiny-a").await.unwrap(),
        Outcome::Running { .. }
    ));
    let pid = ctl.state().pid.unwrap();
    let _cgroup = {
        // In a cgroup of its own, as above, but killed by a person.
        let cgroup = Cgroup::new(&format!("llws-test-kill-{}", env.settings.server.port));
        cgroup.write("cgroup.procs", &pid.to_string());
        cgroup
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let failure = wait_phase(&ctl, Phase::Failed, Duration::from_secs(30))
        .await
        .failure
        .unwrap();
    assert_eq!(failure.signal, Some(9));
    assert!(!failure.oom_killed, "{failure:?}");
    // The reason sits beside the model's name: it does not repeat it.
    assert_eq!(
        failure.reason,
        "llama-server died: killed by signal 9 (SIGKILL)"
    );
    ctl.shutdown(false).await;
}

// ---------------------------------------------------------------------------------------
// The log file is capped, removed with the server, and a full disk is said.

/// A llama-server that first prints `bytes` of noise, then is the real one.
fn noisy_server(env: &mut TestEnv, bytes: usize) {
    use std::os::unix::fs::PermissionsExt;
    let script = env.dir.path().join("noisy-llama-server");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nyes 'noise noise noise noise noise noise noise noise noise noise' | head -c {bytes} >&2\nexec '{}' \"$@\"\n",
            env.settings.server.llama_server.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.settings.server.llama_server = script;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_log_is_capped_and_removed_with_the_server() {
    let mut env = TestEnv::new(BackendKind::Process);
    env.settings.server.log_max_mb = 1;
    noisy_server(&mut env, 3 << 20);
    let ctl = spawn(&env);
    assert!(matches!(
        ctl.switch("tiny-a").await.unwrap(),
        Outcome::Running { .. }
    ));
    let log = env
        .state_dir()
        .join(format!("server-{}.log", env.settings.server.port));
    let rotated = env
        .state_dir()
        .join(format!("server-{}.log.1", env.settings.server.port));
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    println!("log {} bytes, rotated {} bytes", size(&log), size(&rotated));
    assert!(size(&log) <= 1 << 20, "{}", size(&log));
    assert_eq!(size(&rotated), 1 << 20);
    // Only the newest output is on disk: the server's own lines made it.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("llama_model_loader") || text.contains("main:") || text.contains("srv"),
        "{}",
        &text[text.len().saturating_sub(500)..]
    );
    assert!(
        !env.state_dir()
            .join(format!("server-{}.log.2", env.settings.server.port))
            .exists()
    );

    assert_eq!(ctl.stop().await.unwrap(), Outcome::Stopped);
    assert!(
        !log.exists() && !rotated.exists(),
        "a server llws stopped leaves no log"
    );
    ctl.shutdown(false).await;
}

/// A small tmpfs, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Self {
        std::fs::create_dir_all(path).unwrap();
        let status = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(path)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "this test mounts a small tmpfs (it needs root, as the test machines have)"
        );
        Self(path.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_log_disk_is_reported_once_and_the_lines_keep_coming() {
    let mut env = TestEnv::new(BackendKind::Process);
    let _tmpfs = Tmpfs::mount(&env.state_dir(), "512k");
    noisy_server(&mut env, 1 << 20);
    // Room in the ring for the noise and everything after it.
    env.settings.server.log_lines = 100_000;
    let ctl = spawn(&env);
    let server = llws::api::serve(ctl.clone(), None, &env.settings.api)
        .await
        .unwrap();
    let api = Api::at(server.local_addr());
    assert!(matches!(
        ctl.switch("tiny-a").await.unwrap(),
        Outcome::Running { .. }
    ));
    let state = ctl.state();
    let error = state
        .log_file_error
        .clone()
        .expect("the failure is in the state");
    let log = env
        .state_dir()
        .join(format!("server-{}.log", env.settings.server.port));
    assert!(error.contains(&log.display().to_string()), "{error}");
    assert!(error.contains("No space left"), "{error}");
    let status = api.status().await;
    assert_eq!(status["log_file_error"], error.as_str(), "{status}");
    // Said once, in the log pane's ring, with the path.
    let text = log_text(&ctl);
    assert_eq!(
        text.matches("the server log file cannot be written")
            .count(),
        1,
        "{text}"
    );
    // The server's own lines after the disk filled (the noise filled it) still reached the
    // ring (and /logs). The note itself may come just after them: a "model loaded" line
    // now ends the readiness wait at once, before the controller reads the backend's
    // log-file event.
    let after = text.rsplit_once("noise").map(|(_, after)| after).unwrap();
    assert!(
        after.contains("listening") || after.contains("model loaded"),
        "{after}"
    );
    server.shutdown().await;
    ctl.shutdown(false).await;
}

// ---------------------------------------------------------------------------------------
// Config errors are in /status and /models until the file is fixed.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_errors_are_served_until_fixed() {
    let env = TestEnv::new(BackendKind::Process);
    let ctl = spawn(&env);
    let server = llws::api::serve(ctl.clone(), None, &env.settings.api)
        .await
        .unwrap();
    let api = Api::at(server.local_addr());
    assert_eq!(api.status().await["config_errors"], serde_json::json!([]));

    let good = std::fs::read_to_string(&env.settings.models_conf).unwrap();
    std::fs::write(
        &env.settings.models_conf,
        format!("{good}\n[broken\nMODEL=x.gguf\n"),
    )
    .unwrap();
    // The keymap and theme the workspace loaded report the same way.
    ctl.report_config_errors(
        "keymap and theme",
        vec![
            "/cfg/keymap.toml:3: unknown action `zap`".into(),
            "/cfg/theme.toml:5: not a colour".into(),
        ],
    );
    let status = api
        .wait_status("models.conf's error", Duration::from_secs(20), |s| {
            s["config_errors"].as_array().is_some_and(|a| a.len() == 3)
        })
        .await;
    let errors: Vec<String> = serde_json::from_value(status["config_errors"].clone()).unwrap();
    let conf = env.settings.models_conf.display().to_string();
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with(&format!("{conf}:")) && e.contains("broken")),
        "{errors:?}"
    );
    assert!(errors.iter().any(|e| e.starts_with("/cfg/keymap.toml:3: ")));
    let models = api.get("/models").await.json();
    assert_eq!(models["config_errors"], status["config_errors"]);
    // The last good profiles are still served.
    assert!(
        models["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "tiny-a")
    );

    std::fs::write(&env.settings.models_conf, good).unwrap();
    ctl.report_config_errors("keymap and theme", Vec::new());
    api.wait_status("the fix", Duration::from_secs(20), |s| {
        s["config_errors"] == serde_json::json!([])
    })
    .await;
    assert_eq!(
        api.get("/models").await.json()["config_errors"],
        serde_json::json!([])
    );
    server.shutdown().await;
    ctl.shutdown(false).await;
}

// ---------------------------------------------------------------------------------------
// /events carries each state once.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_carry_no_repeated_states() {
    let env = TestEnv::new(BackendKind::Process);
    let ctl = spawn(&env);
    let server = llws::api::serve(ctl.clone(), None, &env.settings.api)
        .await
        .unwrap();
    let api = Api::at(server.local_addr());
    let events = SseReader::open(&api, "/events").await;
    assert!(matches!(
        ctl.switch("tiny-a").await.unwrap(),
        Outcome::Running { .. }
    ));
    assert!(matches!(
        ctl.switch("tiny-b").await.unwrap(),
        Outcome::Running { .. }
    ));
    events
        .wait_for("the second switch", LOAD, |e| {
            e.iter().filter(|e| e.event == "switch_finished").count() == 2
        })
        .await;
    // Times move on their own (elapsed, uptime); everything else must change between two
    // state events, or the second told nothing new.
    let states: Vec<serde_json::Value> = events
        .snapshot()
        .iter()
        .filter(|e| e.event == "state")
        .map(|e| {
            let mut v = e.json();
            v["uptime_s"] = serde_json::Value::Null;
            if v["switch"].is_object() {
                v["switch"]["elapsed_ms"] = serde_json::Value::Null;
                v["switch"]["progress"] = serde_json::Value::Null;
            }
            v["load"] = serde_json::Value::Null;
            v
        })
        .collect();
    assert!(states.len() > 4);
    for pair in states.windows(2) {
        assert_ne!(pair[0], pair[1], "the same state twice in a row");
    }
    server.shutdown().await;
    ctl.shutdown(false).await;
}

// ---------------------------------------------------------------------------------------
// A start asked for while the Docker daemon is away is kept, and runs when it is back.

/// Forwards a unix socket to the real daemon's, as a daemon that comes up late.
fn socket_relay(listen: PathBuf, target: PathBuf) -> tokio::task::JoinHandle<()> {
    let _ = std::fs::remove_file(&listen);
    let listener = UnixListener::bind(&listen).unwrap();
    tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((mut inbound, _)) = listener.accept().await {
            let target = target.clone();
            conns.spawn(async move {
                if let Ok(mut outbound) = UnixStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_asked_while_docker_is_down_runs_when_it_is_back() {
    let mut env = TestEnv::new(BackendKind::Docker);
    let real = PathBuf::from(
        env.settings
            .server
            .docker_host
            .trim_start_matches("unix://"),
    );
    let relay_path = env.dir.path().join("late-docker.sock");
    env.settings.server.docker_host = format!("unix://{}", relay_path.display());
    let ctl = spawn(&env);
    let mut rx = ctl.subscribe_state();
    tokio::time::timeout(
        Duration::from_secs(20),
        rx.wait_for(|s| !s.backend.reachable),
    )
    .await
    .expect("the daemon is seen to be down")
    .unwrap();

    let pending = ctl
        .begin_start(Some("tiny-a"))
        .expect("accepted, not refused");
    let state = tokio::time::timeout(
        Duration::from_secs(10),
        rx.wait_for(|s| s.pending_start.is_some()),
    )
    .await
    .expect("the start is kept")
    .unwrap()
    .clone();
    assert_eq!(state.pending_start.as_deref(), Some("tiny-a"));
    assert!(
        state.message.contains("waiting for the docker backend"),
        "{}",
        state.message
    );
    assert!(log_text(&ctl).contains("waiting for the docker backend to start Tiny A"));

    let relay = socket_relay(relay_path, real);
    let outcome = tokio::time::timeout(LOAD, pending.outcome())
        .await
        .expect("the kept start ran once the daemon was back")
        .unwrap();
    assert_eq!(
        outcome,
        Outcome::Running {
            profile: "tiny-a".into()
        }
    );
    let state = ctl.state();
    assert_eq!(state.phase, Phase::Running);
    assert_eq!(state.pending_start, None);
    ctl.shutdown(false).await;
    relay.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_drops_a_start_that_waits_for_docker() {
    let mut env = TestEnv::new(BackendKind::Docker);
    env.settings.server.docker_host = format!("unix://{}/no-docker.sock", env.dir.path().display());
    let ctl = spawn(&env);
    let mut rx = ctl.subscribe_state();
    tokio::time::timeout(
        Duration::from_secs(20),
        rx.wait_for(|s| !s.backend.reachable),
    )
    .await
    .unwrap()
    .unwrap();
    let pending = ctl.begin_start(Some("tiny-a")).unwrap();
    tokio::time::timeout(
        Duration::from_secs(10),
        rx.wait_for(|s| s.pending_start.is_some()),
    )
    .await
    .unwrap()
    .unwrap();
    // The stop cannot reach the daemon either: the kept start is dropped first, and the
    // failed stop is an error that says why, not a silent "stopped".
    let stopped = ctl.stop().await;
    assert!(
        matches!(&stopped, Err(ControlError::BackendUnavailable(m)) if m.contains("Docker daemon not reachable")),
        "{stopped:?}"
    );
    assert_eq!(pending.outcome().await.unwrap(), Outcome::Cancelled);
    assert_eq!(ctl.state().pending_start, None);
    ctl.shutdown(false).await;
}

// ---------------------------------------------------------------------------------------
// A stop from outside llws is not called a crash.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_stopped_from_outside_is_not_called_a_death() {
    let env = TestEnv::new(BackendKind::Docker);
    let ctl = spawn(&env);
    assert!(matches!(
        ctl.switch("tiny-a").await.unwrap(),
        Outcome::Running { .. }
    ));
    let status = std::process::Command::new("docker")
        .env("DOCKER_HOST", &env.settings.server.docker_host)
        .args(["stop", "-t", "20", &env.settings.server.container])
        .output()
        .expect("docker stop");
    assert!(status.status.success(), "{status:?}");
    let failure = wait_phase(&ctl, Phase::Failed, Duration::from_secs(30))
        .await
        .failure
        .unwrap();
    assert_eq!(failure.exit_code, Some(0), "{failure:?}");
    assert!(
        failure.reason.contains("stopped from outside llws"),
        "{}",
        failure.reason
    );
    assert!(!failure.reason.contains("Tiny A"), "{}", failure.reason);
    ctl.shutdown(false).await;
}
