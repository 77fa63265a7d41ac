//! The SSH tunnel to a remote llws: the system's `ssh -N` forwards the remote's API and
//! llama-server ports (on the remote's loopback) to loopback ports llws picks here. A
//! supervisor task restarts it with backoff when it drops and publishes its state on a
//! `watch`: connecting, up (with the local ports), or down with the reason and the retry.
//!
//! ```text
//! supervise ─► ssh -N -L 127.0.0.1:A:host:api -L 127.0.0.1:S:host:server -- user@host
//!    │            │ stderr: the last lines, for the reason     │ exit: down
//!    │            └─ up once 127.0.0.1:A accepts (ssh binds after the forwards are set)
//!    └─► watch<TunnelState>: Connecting → Up → Down { reason, retry in N s } → Connecting …
//! ```

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::config::remotes::RemoteSettings;

/// How often the local end is tried while ssh connects.
const UP_PROBE: Duration = Duration::from_millis(50);
/// Lines of ssh's stderr kept for the reason of a drop.
const STDERR_LINES: usize = 8;

/// Waits between attempts: `first`, doubling up to `max`; back to `first` once a tunnel
/// came up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(1),
            max: Duration::from_secs(30),
        }
    }
}

/// What to run: everything the `ssh` command line is made of.
#[derive(Debug, Clone)]
pub struct TunnelPlan {
    /// The remote's name, for messages.
    pub name: String,
    /// `[user@]host`, checked by the settings (no option can hide in it).
    pub destination: String,
    /// `ssh -F FILE`, when the remote names one.
    pub ssh_config: Option<PathBuf>,
    /// The remote's API and llama-server, as the remote reaches them.
    pub api: (String, u16),
    pub server: (String, u16),
    /// The ssh client (`ssh` on PATH).
    pub program: PathBuf,
    pub backoff: Backoff,
    /// `ServerAliveInterval`: a silent network is noticed after three of these.
    pub alive_interval: Duration,
    /// `ConnectTimeout`.
    pub connect_timeout: Duration,
}

impl TunnelPlan {
    /// The plan for a `[[remote]]` with `ssh` set (`None` without it).
    pub fn for_remote(remote: &RemoteSettings) -> Option<Result<Self, String>> {
        if remote.ssh.is_empty() {
            return None;
        }
        Some(remote.parsed_url().map(|url| Self {
            name: remote.name.clone(),
            destination: remote.ssh.clone(),
            ssh_config: Some(remote.ssh_config.clone()).filter(|p| !p.as_os_str().is_empty()),
            api: (url.host.clone(), url.port),
            server: (url.host, remote.server_port),
            program: PathBuf::from("ssh"),
            backoff: Backoff::default(),
            alive_interval: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
        }))
    }

    /// ssh's arguments for local ports `api` and `server`.
    pub fn args(&self, api: u16, server: u16) -> Vec<String> {
        let target = |host: &str, port: u16| {
            if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            }
        };
        let mut args: Vec<String> = vec!["-N".into(), "-T".into()];
        if let Some(config) = &self.ssh_config {
            args.push("-F".into());
            args.push(config.display().to_string());
        }
        for option in [
            // A forward that cannot be set up is a failed tunnel, not a half one.
            "ExitOnForwardFailure=yes".to_string(),
            // Never a password or host-key question: nobody is there to answer.
            "BatchMode=yes".into(),
            format!(
                "ServerAliveInterval={}",
                self.alive_interval.as_secs().max(1)
            ),
            "ServerAliveCountMax=3".into(),
            format!("ConnectTimeout={}", self.connect_timeout.as_secs().max(1)),
            // A shared master connection from the user's config would take the forwards
            // and let this ssh exit at once: this one is its own connection.
            "ControlMaster=no".into(),
            "ControlPath=none".into(),
        ] {
            args.push("-o".into());
            args.push(option);
        }
        for (local, (host, port)) in [(api, &self.api), (server, &self.server)] {
            args.push("-L".into());
            args.push(format!("127.0.0.1:{local}:{}", target(host, *port)));
        }
        // Nothing after `--` is read as an option.
        args.push("--".into());
        args.push(self.destination.clone());
        args
    }
}

/// Where the tunnel is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelState {
    /// ssh runs and has not set up the forwards yet (attempt 1, 2, …).
    Connecting { attempt: u32 },
    /// The forwards listen on these loopback ports here.
    Up { api_port: u16, server_port: u16 },
    /// It dropped or could not be set up; the next attempt is at `retry_at`.
    Down {
        reason: String,
        retry_in: Duration,
        retry_at: Instant,
    },
}

impl TunnelState {
    /// One line for a status bar or a log: `up`, `down: REASON; retry in 4 s`.
    pub fn describe(&self) -> String {
        match self {
            Self::Connecting { attempt: 1 } => "connecting".into(),
            Self::Connecting { attempt } => format!("connecting (attempt {attempt})"),
            Self::Up {
                api_port,
                server_port,
            } => format!("up (API on 127.0.0.1:{api_port}, server on 127.0.0.1:{server_port})"),
            Self::Down {
                reason, retry_at, ..
            } => {
                let left = retry_at.saturating_duration_since(Instant::now());
                format!("down: {reason}; retry in {} s", left.as_secs_f64().ceil())
            }
        }
    }
}

/// A supervised tunnel. Dropping it stops ssh.
pub struct Tunnel {
    pub state: watch::Receiver<TunnelState>,
    _stop: DropGuard,
}

impl Tunnel {
    /// Starts the supervisor; call inside a tokio runtime.
    pub fn start(plan: TunnelPlan) -> Self {
        let (tx, state) = watch::channel(TunnelState::Connecting { attempt: 1 });
        let token = CancellationToken::new();
        tokio::spawn(supervise(plan, tx, token.clone()));
        Self {
            state,
            _stop: token.drop_guard(),
        }
    }

    /// The local API URL while the tunnel is up.
    pub fn api_url(&self) -> Option<String> {
        match *self.state.borrow() {
            TunnelState::Up { api_port, .. } => Some(format!("http://127.0.0.1:{api_port}")),
            _ => None,
        }
    }

    /// The first attempt's outcome: `Ok` once up, the reason once it went down (for a
    /// one-shot command, which has no use for the retries), or the state after `timeout`.
    pub async fn first_attempt(&self, timeout: Duration) -> Result<(), String> {
        let mut state = self.state.clone();
        let settled = tokio::time::timeout(
            timeout,
            state.wait_for(|s| !matches!(s, TunnelState::Connecting { .. })),
        )
        .await;
        match settled {
            Ok(Ok(s)) => match &*s {
                TunnelState::Down { reason, .. } => Err(format!("down: {reason}")),
                _ => Ok(()),
            },
            _ => Err(self.state.borrow().describe()),
        }
    }

    /// Waits until the tunnel is up; after `timeout`, the last state's description.
    pub async fn wait_up(&self, timeout: Duration) -> Result<(), String> {
        let mut state = self.state.clone();
        let up = tokio::time::timeout(
            timeout,
            state.wait_for(|s| matches!(s, TunnelState::Up { .. })),
        )
        .await;
        match up {
            Ok(Ok(_)) => Ok(()),
            _ => Err(self.state.borrow().describe()),
        }
    }
}

/// Two free loopback ports (bound, read, released: ssh binds them next).
fn pick_ports() -> std::io::Result<(u16, u16)> {
    let a = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let b = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok((a.local_addr()?.port(), b.local_addr()?.port()))
}

fn port_free(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

enum Ended {
    Cancelled,
    Down { reason: String, was_up: bool },
}

async fn supervise(plan: TunnelPlan, tx: watch::Sender<TunnelState>, token: CancellationToken) {
    let mut delay = plan.backoff.first;
    let mut attempt = 0;
    let mut ports = None;
    loop {
        attempt += 1;
        tx.send_replace(TunnelState::Connecting { attempt });
        // The same ports across restarts, so a client's URL stays good; new ones only
        // when another program took one meanwhile.
        let chosen = match ports {
            Some((a, s)) if port_free(a) && port_free(s) => Ok((a, s)),
            _ => pick_ports(),
        };
        let ended = match chosen {
            Ok((a, s)) => {
                ports = Some((a, s));
                run_once(&plan, a, s, &tx, &token).await
            }
            Err(e) => Ended::Down {
                reason: format!("no free loopback port here: {e}"),
                was_up: false,
            },
        };
        let Ended::Down { reason, was_up } = ended else {
            return;
        };
        if was_up {
            delay = plan.backoff.first;
        }
        tracing::info!(remote = %plan.name, %reason, "ssh tunnel down");
        tx.send_replace(TunnelState::Down {
            reason,
            retry_in: delay,
            retry_at: Instant::now() + delay,
        });
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(plan.backoff.max);
    }
}

fn spawn_ssh(plan: &TunnelPlan, api: u16, server: u16) -> std::io::Result<Child> {
    let mut command = Command::new(&plan.program);
    command
        .args(plan.args(api, server))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        // Its own group: a Ctrl-C meant for llws on its terminal must not cut the tunnel.
        .process_group(0)
        .kill_on_drop(true);
    // If llws is killed outright, ssh must not stay behind holding the ports.
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    command.spawn()
}

async fn run_once(
    plan: &TunnelPlan,
    api: u16,
    server: u16,
    tx: &watch::Sender<TunnelState>,
    token: &CancellationToken,
) -> Ended {
    let mut child = match spawn_ssh(plan, api, server) {
        Ok(child) => child,
        Err(e) => {
            return Ended::Down {
                reason: format!("cannot run {}: {e}", plan.program.display()),
                was_up: false,
            };
        }
    };
    let stderr = Arc::new(Mutex::new(VecDeque::new()));
    if let Some(pipe) = child.stderr.take() {
        let stderr = stderr.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(pipe).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let line = crate::util::text::for_stdout(line.trim()).into_owned();
                if line.is_empty() {
                    continue;
                }
                let mut kept = stderr.lock().unwrap_or_else(|p| p.into_inner());
                if kept.len() == STDERR_LINES {
                    kept.pop_front();
                }
                kept.push_back(line);
            }
        });
    }
    let local = SocketAddr::from((Ipv4Addr::LOCALHOST, api));
    let mut up = false;
    loop {
        tokio::select! {
            _ = token.cancelled() => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                return Ended::Cancelled;
            }
            status = child.wait() => {
                // Let the reader take ssh's last words.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let said = stderr
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .rev()
                    // Host-key notes are not why it ended.
                    .find(|l| !l.starts_with("Warning: Permanently added"))
                    .cloned();
                let how = match status {
                    Ok(s) => s.to_string(),
                    Err(e) => e.to_string(),
                };
                let reason = match said {
                    Some(line) => format!("{line} (ssh {how})"),
                    None => format!("ssh ended ({how})"),
                };
                return Ended::Down { reason, was_up: up };
            }
            _ = tokio::time::sleep(UP_PROBE), if !up => {
                // ssh listens on the local ends only once the connection and both
                // forwards are set up (ExitOnForwardFailure), so accepting means up.
                if tokio::net::TcpStream::connect(local).await.is_ok() {
                    up = true;
                    tx.send_replace(TunnelState::Up { api_port: api, server_port: server });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> TunnelPlan {
        TunnelPlan {
            name: "box".into(),
            destination: "alice@gpu-box".into(),
            ssh_config: Some("/home/a/llws_ssh".into()),
            api: ("127.0.0.1".into(), 8081),
            server: ("::1".into(), 8080),
            program: "ssh".into(),
            backoff: Backoff::default(),
            alive_interval: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
        }
    }

    #[test]
    fn the_command_line_forwards_both_ports_to_loopback_and_ends_options() {
        let args = plan().args(40001, 40002);
        let joined = args.join(" ");
        for part in [
            "-N",
            "-F /home/a/llws_ssh",
            "-o ExitOnForwardFailure=yes",
            "-o BatchMode=yes",
            "-o ServerAliveInterval=5",
            "-L 127.0.0.1:40001:127.0.0.1:8081",
            "-L 127.0.0.1:40002:[::1]:8080",
        ] {
            assert!(joined.contains(part), "{part} missing in {joined}");
        }
        assert_eq!(&args[args.len() - 2..], ["--", "alice@gpu-box"]);
    }

    #[test]
    fn states_read_as_one_line() {
        let down = TunnelState::Down {
            reason: "Connection refused".into(),
            retry_in: Duration::from_secs(4),
            retry_at: Instant::now() + Duration::from_millis(3500),
        };
        assert_eq!(down.describe(), "down: Connection refused; retry in 4 s");
        assert_eq!(
            TunnelState::Connecting { attempt: 1 }.describe(),
            "connecting"
        );
    }

    #[tokio::test]
    async fn a_missing_ssh_is_down_with_the_reason_and_retried() {
        let mut plan = plan();
        plan.program = "/nonexistent/ssh".into();
        plan.backoff = Backoff {
            first: Duration::from_millis(20),
            max: Duration::from_millis(40),
        };
        let tunnel = Tunnel::start(plan);
        let mut state = tunnel.state.clone();
        let down = state
            .wait_for(|s| matches!(s, TunnelState::Down { .. }))
            .await
            .unwrap()
            .clone();
        assert!(
            down.describe().contains("cannot run /nonexistent/ssh"),
            "{down:?}"
        );
        // It tries again after the backoff, which doubles up to its maximum.
        state
            .wait_for(|s| {
                matches!(s, TunnelState::Down { retry_in, .. } if *retry_in == Duration::from_millis(40))
            })
            .await
            .unwrap();
        assert!(tunnel.wait_up(Duration::from_millis(100)).await.is_err());
    }
}
