//! The process backend: a native llama-server as a child in its own process group.
//!
//! Its output goes to a log file that llws tails (not a pipe), so with `on_exit = "keep"`
//! the server outlives llws without dying of SIGPIPE, and the next llws adopts it, history
//! included. A small state file records the pid and profile for that adoption.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::backend::{
    Adopted, Backend, BackendContext, BackendError, BackendEvent, EndedBy, LaunchSpec, ServerExit,
    Started, Stopped, command_line, second_term_after, starting_note,
};
use super::health::port_in_use;
use super::log_file::{self, LogFile};
use super::logs::{LineSplitter, LogRing, Source};
use super::oom::OomWatch;
use crate::config::settings::{BackendKind, GpuSelection};
use crate::util::find_executable;

pub struct ProcessBackend {
    binary: PathBuf,
    state_dir: PathBuf,
    port: u16,
    /// `[server] gpus`, applied through CUDA_VISIBLE_DEVICES as Docker applies it through a
    /// device request.
    gpus: GpuSelection,
    /// `[server] log_max_mb`, in bytes.
    log_max_bytes: u64,
    current: Option<Running>,
    last_exit: Option<ServerExit>,
}

struct Running {
    pid: u32,
    exited: watch::Receiver<Option<ServerExit>>,
    watcher: JoinHandle<()>,
    output: Output,
    logs: Arc<LogRing>,
}

/// Where the server's output comes from.
enum Output {
    /// A server llws started: its pipe, read by a thread that fills the log ring and
    /// writes the capped log file.
    Pipe(Pump),
    /// A server adopted from an earlier llws: the log file its relay writes, followed.
    File(tokio::task::AbortHandle),
}

impl Running {
    fn abort(&mut self) {
        self.watcher.abort();
        match &mut self.output {
            Output::Pipe(pump) => {
                pump.stop();
            }
            Output::File(tail) => tail.abort(),
        }
    }
}

/// What the process backend records about the server it runs, for a later llws (adoption)
/// and for the CLI when no llws runs (`llws status`, `llws logs`, `llws down`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StateFile {
    pub pid: u32,
    pub profile: String,
    pub profile_name: String,
}

/// How the exit report waits for the server's last output.
enum Drain {
    /// Set by the output thread when the pipe closed.
    Pipe(watch::Receiver<bool>),
    /// The file tail ends once told to, after reading what is left.
    File {
        finish: watch::Sender<bool>,
        tail: JoinHandle<()>,
    },
}

/// The thread that reads the server's output pipe.
struct Pump {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<OwnedFd>>,
}

impl Pump {
    /// Stops reading (within one poll interval); returns the pipe for someone else to read.
    fn stop(&mut self) -> Option<OwnedFd> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().and_then(|t| t.join().ok())
    }
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
    pub fn new(binary: PathBuf, port: u16, state_dir: PathBuf) -> Self {
        Self {
            binary,
            state_dir,
            port,
            gpus: GpuSelection::All,
            log_max_bytes: 64 << 20,
            current: None,
            last_exit: None,
        }
    }

    /// The GPUs the server may use (all by default).
    pub fn with_gpus(mut self, gpus: GpuSelection) -> Self {
        self.gpus = gpus;
        self
    }

    /// Where the server log file is rotated (64 MiB by default).
    pub fn with_log_max_bytes(mut self, bytes: u64) -> Self {
        self.log_max_bytes = bytes.max(1);
        self
    }

    /// The server log file of the server on `port` (with `.1`, the rotated one).
    pub fn log_path_in(state_dir: &Path, port: u16) -> PathBuf {
        state_dir.join(format!("server-{port}.log"))
    }

    /// The record that lets a later llws (or the CLI) find the server on `port`.
    pub fn state_path_in(state_dir: &Path, port: u16) -> PathBuf {
        state_dir.join(format!("server-{port}.json"))
    }

    fn log_path(&self) -> PathBuf {
        Self::log_path_in(&self.state_dir, self.port)
    }

    fn state_path(&self) -> PathBuf {
        Self::state_path_in(&self.state_dir, self.port)
    }

    fn watch(
        &mut self,
        pid: u32,
        child: Option<std::process::Child>,
        output: Output,
        drain: Drain,
        ctx: &BackendContext,
        generation: u64,
    ) {
        let (exit_tx, exit_rx) = watch::channel(None);
        let events = ctx.events.clone();
        let watcher = tokio::spawn(async move {
            let mut oom = OomWatch::start(pid);
            let ended = async {
                match child {
                    // A plain thread blocked in waitpid: tokio's SIGCHLD machinery is tied
                    // to one runtime, and this must work whichever runtime spawned it.
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
                }
            };
            let mut ended = std::pin::pin!(ended);
            // Follow the server into another cgroup while it runs: once it has exited,
            // /proc no longer says which one it was in.
            let mut look_again = tokio::time::interval(OOM_CGROUP_LOOK);
            let mut exit = loop {
                tokio::select! {
                    exit = &mut ended => break exit,
                    _ = look_again.tick() => oom.refresh(),
                }
            };
            // A SIGKILL (or an exit llws could not see) while the cgroup counted an OOM
            // kill: the kernel killed it for memory.
            if matches!(exit.signal, Some(9) | None) && exit.code.is_none() && oom.killed() {
                exit.oom_killed = true;
            }
            // Read the last lines before reporting: a failure report needs them. A process
            // it started may hold the pipe open: do not wait for that forever.
            match drain {
                Drain::Pipe(mut drained) => {
                    let _ = tokio::time::timeout(OUTPUT_DRAIN, drained.wait_for(|d| *d)).await;
                }
                Drain::File { finish, tail } => {
                    let _ = finish.send(true);
                    let _ = tokio::time::timeout(OUTPUT_DRAIN, tail).await;
                }
            }
            let _ = exit_tx.send(Some(exit.clone()));
            let _ = events.send(BackendEvent::Exited { generation, exit });
        });
        self.current = Some(Running {
            pid,
            exited: exit_rx,
            watcher,
            output,
            logs: ctx.logs.clone(),
        });
    }

    /// Hands the server's output pipe to `llws __log-relay`, so the server outlives llws
    /// with its log still written (and capped), for the next llws to adopt.
    fn hand_over_output(&self, fd: OwnedFd, logs: &LogRing) {
        let Some(program) = relay_program() else {
            logs.note("llws: no llws binary to keep the server's log after exit; its output is dropped from now on");
            return;
        };
        use std::os::unix::process::CommandExt;
        let spawned = std::process::Command::new(&program)
            .arg(RELAY_COMMAND)
            .arg("--path")
            .arg(self.log_path())
            .arg("--max-bytes")
            .arg(self.log_max_bytes.to_string())
            .stdin(std::process::Stdio::from(fd))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            // Not in llws's group: a Ctrl-C or hang-up meant for llws must not end it.
            .process_group(0)
            .spawn();
        match spawned {
            Ok(child) => logs.note(format!(
                "llws: the server keeps running; its output goes on to {} (relay pid {})",
                self.log_path().display(),
                child.id()
            )),
            Err(e) => logs.note(format!(
                "llws: cannot start the log relay {}: {e}; the server's output is dropped from now on",
                program.display()
            )),
        }
    }
}

/// The hidden subcommand that copies a kept server's output into its log file.
pub const RELAY_COMMAND: &str = "__log-relay";

/// How often a running server's cgroup is looked up again (it may be moved).
const OOM_CGROUP_LOOK: Duration = Duration::from_millis(250);
/// How long an exit report waits for the last output of the server.
const OUTPUT_DRAIN: Duration = Duration::from_secs(2);
/// How long the output thread waits for data before it checks whether to stop.
const PUMP_POLL_MS: u16 = 100;

/// The llws binary, to run the log relay: this program, or (in llws's own test binaries,
/// which cargo builds in `target/*/deps/`) the `llws` beside that folder.
fn relay_program() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    if dir.file_name().is_some_and(|n| n == "deps") {
        let llws = dir.parent()?.join("llws");
        return llws.is_file().then_some(llws);
    }
    Some(exe)
}

/// Reads the server's output pipe until it closes (or `stop`): every line into the log
/// ring, every byte into the capped log file. A write that fails is reported once (and its
/// end too); the ring, and so the log pane and `/logs`, keep getting the lines. Returns the
/// pipe, for the relay when llws leaves the server running.
fn pump(
    fd: OwnedFd,
    mut file: Option<LogFile>,
    ring: Arc<LogRing>,
    events: tokio::sync::mpsc::UnboundedSender<BackendEvent>,
    stop: Arc<AtomicBool>,
    drained: watch::Sender<bool>,
) -> OwnedFd {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut splitter = LineSplitter::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut failing = false;
    while !stop.load(Ordering::Relaxed) {
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(PUMP_POLL_MS)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(_) => break,
        }
        let n = match nix::unistd::read(&fd, &mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => continue,
            Err(_) => break,
        };
        splitter.push(&buf[..n], |line| ring.push(Source::Stderr, line));
        if let Some(file) = file.as_mut() {
            match file.write(&buf[..n]) {
                Err(error) if !failing => {
                    failing = true;
                    let _ = events.send(BackendEvent::LogFile { error: Some(error) });
                }
                Ok(()) if failing => {
                    failing = false;
                    let _ = events.send(BackendEvent::LogFile { error: None });
                }
                _ => {}
            }
        }
    }
    splitter.flush(|line| ring.push(Source::Stderr, line));
    let _ = drained.send(true);
    fd
}

fn exit_from_status(status: std::process::ExitStatus) -> ServerExit {
    use std::os::unix::process::ExitStatusExt;
    ServerExit {
        code: status.code().map(i64::from),
        signal: status.signal(),
        ..Default::default()
    }
}

/// The server an earlier llws left running on `port` (its record, when the process it
/// names still runs and serves that port), for the CLI when no llws runs.
pub fn kept_server(state_dir: &Path, port: u16) -> Option<StateFile> {
    let text = std::fs::read_to_string(ProcessBackend::state_path_in(state_dir, port)).ok()?;
    let state: StateFile = serde_json::from_str(&text).ok()?;
    (pid_alive(state.pid) && cmdline_has_port(state.pid, port)).then_some(state)
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
/// and then new output, until `finish` is set and the file is drained. A file that was
/// rotated (moved aside by the relay, a new one begun) is drained, then the new one read.
async fn tail_log(
    path: PathBuf,
    logs: std::sync::Arc<LogRing>,
    mut finish: watch::Receiver<bool>,
    from_start: bool,
) {
    use std::os::unix::fs::MetadataExt;
    let open = async |path: &Path, finish: &watch::Receiver<bool>| loop {
        match crate::util::safe_fs::open_own_file(path) {
            Ok(f) => return Some(tokio::fs::File::from_std(f)),
            Err(_) if !*finish.borrow() => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(_) => return None,
        }
    };
    let Some(mut file) = open(&path, &finish).await else {
        return;
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
                let current = file.metadata().await.map(|m| m.ino()).ok();
                let on_disk = tokio::fs::metadata(&path).await.map(|m| m.ino()).ok();
                if on_disk.is_some() && on_disk != current {
                    // Rotated: what is left of the old file was just read; go on with the new.
                    match open(&path, &finish).await {
                        Some(f) => file = f,
                        None => break,
                    }
                    continue;
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

/// The command line a running process got, from /proc (for a server adopted from an
/// earlier llws).
fn proc_command_line(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let argv: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    (!argv.is_empty()).then(|| command_line(&argv))
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
        let (finish_tx, finish_rx) = watch::channel(false);
        let tail = tokio::spawn(tail_log(self.log_path(), ctx.logs.clone(), finish_rx, true));
        let output = Output::File(tail.abort_handle());
        let drain = Drain::File {
            finish: finish_tx,
            tail,
        };
        self.watch(state.pid, None, output, drain, ctx, generation);
        Ok(Some(Adopted {
            profile: Some(state.profile),
            profile_name: Some(state.profile_name),
            running: true,
            started: Started {
                pid: Some(state.pid),
                container_id: None,
                command_line: proc_command_line(state.pid),
            },
            exit: None,
            model: None,
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
            // Named (pid and program), and offered to stop when it is a llama-server of
            // this user; never stopped without asking.
            return Err(BackendError::Foreign(super::foreign::process_on_port(
                spec.port,
            )));
        }
        let runtime_dir_error = |what: &Path, e: std::io::Error| {
            BackendError::Failed(format!(
                "cannot create {}: {e}; llws keeps the server's log and pid there: set LLWS_STATE_DIR to a writable folder (it defaults to $XDG_RUNTIME_DIR/llws)",
                what.display()
            ))
        };
        // 0700 and ours, or refused: a shared /tmp could hold a folder of planted links.
        crate::util::safe_fs::private_dir(&self.state_dir).map_err(|e| {
            BackendError::Failed(format!(
                "{e}; llws keeps the server's log and pid there (LLWS_STATE_DIR, default $XDG_RUNTIME_DIR/llws)"
            ))
        })?;
        let log = LogFile::create(&self.log_path(), self.log_max_bytes)
            .map_err(|e| runtime_dir_error(&self.log_path(), e))?;
        // The output goes through a pipe llws reads, not straight into the file: the log
        // pane keeps getting lines when the file cannot be written (a full disk).
        let (read_end, write_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| BackendError::Failed(format!("cannot create a pipe: {e}")))?;
        let write_err = write_end
            .try_clone()
            .map_err(|e| BackendError::Failed(format!("cannot create a pipe: {e}")))?;
        use std::os::unix::process::CommandExt;
        let gpu_env = gpu_env(&self.gpus);
        let mut command = std::process::Command::new(&binary);
        command
            .args(&spec.args)
            .envs(gpu_env.iter().map(|(k, v)| (*k, v)))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::from(write_end))
            .stderr(std::process::Stdio::from(write_err))
            // Its own group, so stopping it reaches every process it started.
            .process_group(0);
        // A server llws leaves running must not die of SIGPIPE if llws (and with it the
        // pipe's reader) is killed outright: its writes then fail and it goes on.
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(|| {
                libc::signal(libc::SIGPIPE, libc::SIG_IGN);
                Ok(())
            });
        }
        let child = command
            .spawn()
            .map_err(|e| BackendError::Failed(format!("cannot start {}: {e}", binary.display())))?;
        // The parent's copies of the write end went with `command`: the pipe closes when
        // the server (and whatever it started) has exited.
        drop(command);
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
        let env_prefix: String = gpu_env
            .iter()
            .map(|(k, v)| format!("{}={} ", k, command_line(&[v])))
            .collect();
        let argv: Vec<String> = std::iter::once(binary.to_string_lossy().into_owned())
            .chain(spec.args.iter().cloned())
            .collect();
        let line = format!("{env_prefix}{}", command_line(&argv));
        ctx.logs.note(starting_note(&line));
        ctx.logs
            .note(format!("llws: llama-server runs as pid {pid}"));
        let stop = Arc::new(AtomicBool::new(false));
        let (drained_tx, drained_rx) = watch::channel(false);
        let thread = {
            let (ring, events, stop) = (ctx.logs.clone(), ctx.events.clone(), stop.clone());
            std::thread::Builder::new()
                .name("llws-server-output".into())
                .spawn(move || pump(read_end, Some(log), ring, events, stop, drained_tx))
                .map_err(|e| BackendError::Failed(format!("cannot start a thread: {e}")))?
        };
        let output = Output::Pipe(Pump {
            stop,
            thread: Some(thread),
        });
        self.watch(
            pid,
            Some(child),
            output,
            Drain::Pipe(drained_rx),
            ctx,
            generation,
        );
        Ok(Started {
            pid: Some(pid),
            container_id: None,
            command_line: Some(line),
        })
    }

    async fn stop(&mut self, grace: Duration) -> Result<Stopped, BackendError> {
        let Some(mut running) = self.current.take() else {
            return Ok(Stopped::nothing());
        };
        let started = std::time::Instant::now();
        let group = Pid::from_raw(running.pid as i32);
        let mut ended_by = EndedBy::AlreadyGone;
        if running.exited.borrow().is_none() {
            let mut exited = running.exited.clone();
            let mut wait_until = async |deadline: std::time::Instant| {
                tokio::time::timeout_at(deadline.into(), exited.wait_for(|e| e.is_some()))
                    .await
                    .is_ok()
            };
            let _ = killpg(group, Signal::SIGTERM);
            ended_by = EndedBy::Term;
            if !wait_until(started + second_term_after(grace)).await {
                let _ = killpg(group, Signal::SIGTERM);
                ended_by = EndedBy::SecondTerm;
                if !wait_until(started + grace).await {
                    let _ = killpg(group, Signal::SIGKILL);
                    ended_by = EndedBy::Kill;
                    let _ = wait_until(std::time::Instant::now() + Duration::from_secs(5)).await;
                }
            }
        }
        let exit = running.exited.borrow().clone();
        running.abort();
        let _ = std::fs::remove_file(self.state_path());
        // A server llws stopped leaves no log file behind (the ring keeps the lines).
        log_file::remove(&self.log_path());
        self.last_exit = exit.clone();
        Ok(Stopped {
            exit,
            ended_by,
            took: started.elapsed(),
        })
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
        let Some(mut running) = self.current.take() else {
            return;
        };
        running.watcher.abort();
        match &mut running.output {
            Output::File(tail) => tail.abort(),
            Output::Pipe(pump) => {
                let alive = running.exited.borrow().is_none() && pid_alive(running.pid);
                // The thread stops within one poll; joining it must not hold up a worker.
                let mut pump = std::mem::replace(
                    pump,
                    Pump {
                        stop: Arc::new(AtomicBool::new(true)),
                        thread: None,
                    },
                );
                let fd = tokio::task::spawn_blocking(move || pump.stop())
                    .await
                    .ok()
                    .flatten();
                if let Some(fd) = fd
                    && alive
                {
                    self.hand_over_output(fd, &running.logs);
                }
            }
        }
    }
}
