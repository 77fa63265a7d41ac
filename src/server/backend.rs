//! The interface both backends implement: start, stop and watch one llama-server.
//!
//! A backend runs at most one server at a time. It streams the server's output into the
//! shared log ring and reports an exit (or the loss of its daemon) on the event channel;
//! the controller decides what those mean.

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::mpsc;

use super::logs::LogRing;
use crate::config::settings::BackendKind;

/// What to run.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    pub profile: String,
    pub profile_name: String,
    /// llama-server's arguments, without the program name.
    pub args: Vec<String>,
    /// Where llws reaches the server (for the free-port check).
    pub host: String,
    pub port: u16,
    /// Every part of the model, as llws sees them (checked before the start).
    pub model_files: Vec<std::path::PathBuf>,
}

/// A server that is up (or loading).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Started {
    /// Host pid of the main process.
    pub pid: Option<u32>,
    pub container_id: Option<String>,
}

/// How a server ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServerExit {
    pub code: Option<i64>,
    pub signal: Option<i32>,
    pub oom_killed: bool,
    pub restart_count: Option<i64>,
}

impl ServerExit {
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.oom_killed {
            parts.push("killed for lack of memory (OOM)".to_string());
        }
        match (self.code, self.signal) {
            (_, Some(sig)) => parts.push(format!("killed by signal {sig} ({})", signal_name(sig))),
            (Some(code), None) => parts.push(format!("exit code {code}")),
            (None, None) => parts.push("exited".to_string()),
        }
        if let Some(n) = self.restart_count.filter(|n| *n > 0) {
            parts.push(format!("restarted {n} times"));
        }
        parts.join(", ")
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        6 => "SIGABRT",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        15 => "SIGTERM",
        _ => "signal",
    }
}

/// A server found at start-up that an earlier llws left behind.
#[derive(Debug, Clone)]
pub struct Adopted {
    pub profile: Option<String>,
    pub profile_name: Option<String>,
    /// Still running (as opposed to exited and left for inspection).
    pub running: bool,
    pub started: Started,
    pub exit: Option<ServerExit>,
}

/// What backends tell the controller.
#[derive(Debug, Clone)]
pub enum BackendEvent {
    /// The server of start number `generation` exited.
    Exited { generation: u64, exit: ServerExit },
    /// The daemon went away (Docker); `message` says what to do.
    Unreachable { message: String },
    /// The daemon is back.
    Reachable { message: String },
}

/// Why a backend operation failed; the message is meant for the user.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendError {
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    Failed(String),
}

/// Shared plumbing a backend writes to.
#[derive(Clone)]
pub struct BackendContext {
    pub logs: Arc<LogRing>,
    pub events: mpsc::UnboundedSender<BackendEvent>,
}

pub trait Backend: Send + 'static {
    fn kind(&self) -> BackendKind;

    /// Finds a server an earlier llws left running (or exited), and takes it over:
    /// follows its log and watches it as start number `generation`.
    fn adopt(
        &mut self,
        ctx: &BackendContext,
        generation: u64,
    ) -> impl Future<Output = Result<Option<Adopted>, BackendError>> + Send;

    /// Starts a server; returns once it is running (not necessarily loaded).
    fn start(
        &mut self,
        spec: &LaunchSpec,
        ctx: &BackendContext,
        generation: u64,
    ) -> impl Future<Output = Result<Started, BackendError>> + Send;

    /// Stops the server if there is one (SIGTERM, then SIGKILL after the timeout) and
    /// removes what it left behind. Returns how it ended, when known.
    fn stop(&mut self) -> impl Future<Output = Result<Option<ServerExit>, BackendError>> + Send;

    /// Details about the last exit (Docker's inspect has the OOM flag and restart count).
    fn exit_details(&mut self) -> impl Future<Output = Option<ServerExit>> + Send;

    /// Leaves the server running for a later llws to adopt (on_exit = "keep").
    fn detach(&mut self) -> impl Future<Output = ()> + Send;
}
