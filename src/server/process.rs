//! The process backend: a native llama-server as a child in its own process group.
//!
//! Its output goes to a log file that llws tails (not a pipe), so with `on_exit = "keep"`
//! the server outlives llws without dying of SIGPIPE, and the next llws adopts it, history
//! included. A small state file records the pid and profile for that adoption.

use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::backend::{
    Adopted, Backend, BackendContext, BackendError, BackendEvent, LaunchSpec, ServerExit, Started,
};
use super::health::port_in_use;
use super::logs::{LineSplitter, LogRing, Source};
use crate::config::settings::{BackendKind, GpuSelection};
use crate::util::find_executable;

pub struct ProcessBackend {
    binary: PathBuf,
    stop_timeout: Duration,
    state_dir: PathBuf,
    port: u16,
    /// `[server] gpus`, applied through CUDA_VISIBLE_DEVICES as Docker applies it through a
    /// device request.
    gpus: GpuSelection,
    current: Option<Running>,
    last_exit: Option<ServerExit>,
}

struct Running {
    pid: u32,
    exited: watch::Receiver<Option<ServerExit>>,
    watcher: JoinHandle<()>,
    tail: tokio::task::AbortHandle,
}

impl Running {
    fn abort(&self) {
        self.watcher.abort();
        self.tail.abort();
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    pid: u32,
    profile: String,
    profile_name: String,
}

/// The environment that gives a native llama-server the selected GPUs, numbered as NVML
/// (and nvidia-smi, and llws's GPU panel) numbers them: CUDA otherwise puts the fastest GPU
/// first, so `CUDA0` in a log line or a FIT_TARGET list could be another card than GPU 0.
/// The order is set even over a user's own CUDA_DEVICE_ORDER: it changes only the numbering,
/// and any other numbering makes the CUDAn labels and FIT_TARGET's values point at the wrong
/// card on a mixed machine. `gpus = "all"` leaves CUDA_VISIBLE_DEVICES alone (the user may
/// have narrowed it on purpose; llws's GPU checks read it too).
fn gpu_env(gpus: &GpuSelection) -> Vec<(&'static str, String)> {
    let mut env = vec![("CUDA_DEVICE_ORDER", "PCI_BUS_ID".to_string())];
    match gpus {
        GpuSelection::All => {}
        // No device: llama.cpp runs on the CPU.
        GpuSelection::None => env.push(("CUDA_VISIBLE_DEVICES", String::new())),
        GpuSelection::Devices(ids) => env.push((
            "CUDA_VISIBLE_DEVICES",
            ids.iter().map(u32::to_string).collect::<Vec<_>>().join(","),
        )),
    }
    env
}

impl ProcessBackend {
    pub fn new(binary: PathBuf, port: u16, stop_timeout: Duration, state_dir: PathBuf) -> Self {
        Self {
            binary,
            stop_timeout,
            state_dir,
            port,
            gpus: GpuSelection::All,
            current: None,
            last_exit: None,
        }
    }

    /// The GPUs the server may use (all by default).
    pub fn with_gpus(mut self, gpus: GpuSelection) -> Self {
        self.gpus = gpus;
        self
    }

    fn log_path(&self) -> PathBuf {
        self.state_dir.join(format!("server-{}.log", self.port))
    }

    fn state_path(&self) -> PathBuf {
        self.state_dir.join(format!("server-{}.json", self.port))
    }

    fn watch(
        &mut self,
        pid: u32,
        child: Option<std::process::Child>,
        ctx: &BackendContext,
        generation: u64,
        from_start: bool,
    ) {
        let (exit_tx, exit_rx) = watch::channel(None);
        let (finish_tx, finish_rx) = watch::channel(false);
        let tail = tokio::spawn(tail_log(
            self.log_path(),
            ctx.logs.clone(),
            finish_rx,
            from_start,
        ));
        let tail_abort = tail.abort_handle();
        let events = ctx.events.clone();
        let watcher = tokio::spawn(async move {
            let exit = match child {
                // A plain thread blocked in waitpid: tokio's SIGCHLD machinery is tied to
                // one runtime, and this must work whichever runtime spawned the server.
                Some(mut child) => {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    std::thread::spawn(move || {
                        let _ = tx.send(child.wait());
                    });
                    match rx.await {
                        Ok(Ok(status)) => exit_from_status(status),
                        _ => ServerExit::default(),
                    }
                }
                None => {
                    wait_for_pid_exit(pid).await;
                    ServerExit::default()
                }
            };
            // Read the last lines before reporting: a failure report needs them.
            let _ = finish_tx.send(true);
            let _ = tail.await;
            let _ = exit_tx.send(Some(exit.clone()));
            let _ = events.send(BackendEvent::Exited { generation, exit });
        });
        self.current = Some(Running {
            pid,
            exited: exit_rx,
            watcher,
            tail: tail_abort,
        });
    }
}

fn exit_from_status(status: std::process::ExitStatus) -> ServerExit {
    use std::os::unix::process::ExitStatusExt;
    ServerExit {
        code: status.code().map(i64::from),
        signal: status.signal(),
        ..Default::default()
    }
}

fn pid_alive(pid: u32) -> bool {
    kill(Pid::from_raw(pid as i32), None).is_ok()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z'))
        })
}

async fn wait_for_pid_exit(pid: u32) {
    while pid_alive(pid) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Follows the log file: everything from the start (or the end, when `from_start` is false)
/// and then new output, until `finish` is set and the file is drained.
async fn tail_log(
    path: PathBuf,
    logs: std::sync::Arc<LogRing>,
    mut finish: watch::Receiver<bool>,
    from_start: bool,
) {
    let mut file = loop {
        match crate::util::safe_fs::open_own_file(&path) {
            Ok(f) => break tokio::fs::File::from_std(f),
            Err(_) if !*finish.borrow() => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(_) => return,
        }
    };
    if !from_start {
        use tokio::io::AsyncSeekExt;
        let _ = file.seek(std::io::SeekFrom::End(0)).await;
    }
    let mut splitter = LineSplitter::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let finishing = *finish.borrow();
        match file.read(&mut buf).await {
            Ok(0) => {
                if finishing {
                    break;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                    _ = finish.changed() => {}
                }
            }
            Ok(n) => splitter.push(&buf[..n], |line| logs.push(Source::Stderr, line)),
            Err(_) => break,
        }
    }
    splitter.flush(|line| logs.push(Source::Stderr, line));
}

fn cmdline_has_port(pid: u32, port: u16) -> bool {
    let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = raw.split(|b| *b == 0).collect();
    let port = port.to_string();
    args.windows(2)
        .any(|w| w[0] == b"--port" && w[1] == port.as_bytes())
}

impl Backend for ProcessBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Process
    }

    async fn adopt(
        &mut self,
        ctx: &BackendContext,
        generation: u64,
    ) -> Result<Option<Adopted>, BackendError> {
        // Only a state file of our own, in a folder only we can write: a planted one would
        // make llws adopt, and later signal, a pid someone else chose.
        if crate::util::safe_fs::private_dir(&self.state_dir).is_err() {
            return Ok(None);
        }
        let Ok(text) = crate::util::safe_fs::read_own_file(&self.state_path()) else {
            return Ok(None);
        };
        let Ok(state) = serde_json::from_str::<StateFile>(&text) else {
            let _ = std::fs::remove_file(self.state_path());
            return Ok(None);
        };
        if !pid_alive(state.pid) || !cmdline_has_port(state.pid, self.port) {
            // The server is gone (or the pid was reused): nothing to adopt.
            let _ = std::fs::remove_file(self.state_path());
            return Ok(None);
        }
        self.watch(state.pid, None, ctx, generation, true);
        Ok(Some(Adopted {
            profile: Some(state.profile),
            profile_name: Some(state.profile_name),
            running: true,
            started: Started {
                pid: Some(state.pid),
                container_id: None,
            },
            exit: None,
        }))
    }

    async fn start(
        &mut self,
        spec: &LaunchSpec,
        ctx: &BackendContext,
        generation: u64,
    ) -> Result<Started, BackendError> {
        let binary = find_executable(&self.binary).ok_or_else(|| {
            BackendError::Failed(format!(
                "llama-server binary `{}` not found: build llama.cpp's llama-server and set [server] llama_server in llws.toml to its path (or use backend = \"docker\")",
                self.binary.display()
            ))
        })?;
        if port_in_use(&spec.host, spec.port).await {
            return Err(BackendError::Failed(format!(
                "port {} on {} is already in use by another program: stop it, or set [server] port in llws.toml",
                spec.port, spec.host
            )));
        }
        crate::util::safe_fs::private_dir(&self.state_dir)
            .map_err(|e| BackendError::Failed(e.to_string()))?;
        let log = crate::util::safe_fs::open_log(&self.log_path()).map_err(|e| {
            BackendError::Failed(format!("cannot create {}: {e}", self.log_path().display()))
        })?;
        let log_err = log
            .try_clone()
            .map_err(|e| BackendError::Failed(e.to_string()))?;
        use std::os::unix::process::CommandExt;
        let gpu_env = gpu_env(&self.gpus);
        let child = std::process::Command::new(&binary)
            .args(&spec.args)
            .envs(gpu_env.iter().map(|(k, v)| (*k, v)))
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(log_err)
            // Its own group, so stopping it reaches every process it started.
            .process_group(0)
            .spawn()
            .map_err(|e| BackendError::Failed(format!("cannot start {}: {e}", binary.display())))?;
        let pid = child.id();
        let state = StateFile {
            pid,
            profile: spec.profile.clone(),
            profile_name: spec.profile_name.clone(),
        };
        let _ = crate::util::safe_fs::write_atomic(
            &self.state_path(),
            &serde_json::to_vec(&state).unwrap_or_default(),
            0o600,
        );
        // The environment as a shell prefix (`K=V cmd`): a shell quoting of the whole line
        // would quote each `K=V` and make it a command word.
        let env_prefix: String = gpu_env.iter().map(|(k, v)| format!("{k}={v} ")).collect();
        ctx.logs.note(format!(
            "llws: started {env_prefix}{} (pid {pid})",
            shlex::try_join(
                std::iter::once(binary.to_string_lossy().as_ref())
                    .chain(spec.args.iter().map(String::as_str))
            )
            .unwrap_or_default()
        ));
        self.watch(pid, Some(child), ctx, generation, true);
        Ok(Started {
            pid: Some(pid),
            container_id: None,
        })
    }

    async fn stop(&mut self) -> Result<Option<ServerExit>, BackendError> {
        let Some(mut running) = self.current.take() else {
            return Ok(None);
        };
        let group = Pid::from_raw(running.pid as i32);
        if running.exited.borrow().is_none() {
            let _ = killpg(group, Signal::SIGTERM);
            let exited =
                tokio::time::timeout(self.stop_timeout, running.exited.wait_for(|e| e.is_some()))
                    .await
                    .is_ok();
            if !exited {
                // A llama-server busy generating can ignore SIGTERM for many seconds.
                let _ = killpg(group, Signal::SIGKILL);
                let _ = tokio::time::timeout(
                    Duration::from_secs(5),
                    running.exited.wait_for(|e| e.is_some()),
                )
                .await;
            }
        }
        let exit = running.exited.borrow().clone();
        running.abort();
        let _ = std::fs::remove_file(self.state_path());
        self.last_exit = exit.clone();
        Ok(exit)
    }

    async fn exit_details(&mut self) -> Option<ServerExit> {
        if let Some(running) = &self.current {
            let exit = running.exited.borrow().clone();
            if exit.is_some() {
                let _ = std::fs::remove_file(self.state_path());
                self.current = None;
                self.last_exit = exit.clone();
                return exit;
            }
        }
        self.last_exit.clone()
    }

    async fn detach(&mut self) {
        if let Some(running) = self.current.take() {
            running.abort();
        }
    }
}
