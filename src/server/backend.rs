//! The interface both backends implement: start, stop and watch one llama-server.
//!
//! A backend runs at most one server at a time. It streams the server's output into the
//! shared log ring and reports an exit (or the loss of its daemon) on the event channel;
//! the controller decides what those mean.

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::mpsc;

use super::foreign::ForeignServer;
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
    /// The command line the server really got, as one shell-quoted line (see
    /// [`command_line`]); `None` when it cannot be read.
    pub command_line: Option<String>,
}

/// `argv` as one line a shell reads back as the same words (the original inventory's item
/// 68: its image logged `Starting llama-server with: …` first). Words that cannot be quoted
/// (a NUL byte) are shown escaped, so the line is still one line.
pub fn command_line<S: AsRef<str>>(argv: &[S]) -> String {
    match shlex::try_join(argv.iter().map(AsRef::as_ref)) {
        Ok(line) => line,
        Err(_) => argv
            .iter()
            .map(|a| format!("{:?}", a.as_ref()))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// The log line that says how a server was started.
pub fn starting_note(command_line: &str) -> String {
    format!("llws: Starting llama-server with: {command_line}")
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
            // llama-server exits 0 only when told to stop: llws did not, so someone else
            // did (`docker stop`, a daemon shutdown, a signal from a shell).
            (Some(0), None) if !self.oom_killed => {
                parts.push("stopped from outside llws (exit code 0)".to_string())
            }
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

/// The signal that ended a stop, for the log line that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndedBy {
    /// It had already exited.
    AlreadyGone,
    /// It shut down on the first SIGTERM.
    Term,
    /// It was busy: llama-server takes a second SIGTERM as "terminate immediately".
    SecondTerm,
    /// It outlived the grace and was killed.
    Kill,
}

/// How a stop went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    pub exit: Option<ServerExit>,
    pub ended_by: EndedBy,
    pub took: std::time::Duration,
}

impl Stopped {
    pub fn nothing() -> Self {
        Self {
            exit: None,
            ended_by: EndedBy::AlreadyGone,
            took: std::time::Duration::ZERO,
        }
    }

    /// `in 0.31 s: it ended on SIGTERM`, for the log.
    pub fn describe(&self, grace: std::time::Duration) -> String {
        let how = match self.ended_by {
            EndedBy::AlreadyGone => "it had already exited".to_string(),
            EndedBy::Term => "it ended on SIGTERM".to_string(),
            EndedBy::SecondTerm => {
                "it was busy and ignored SIGTERM; a second SIGTERM ended it at once".to_string()
            }
            EndedBy::Kill => format!(
                "it ignored SIGTERM for the {:.0} s grace and was killed with SIGKILL",
                grace.as_secs_f64()
            ),
        };
        format!("in {:.2} s: {how}", self.took.as_secs_f64())
    }
}

/// When a stop sends its second SIGTERM: a llama-server that is idle has exited by then; a
/// busy one (generating) ignores the first until its requests end, and takes the second as
/// "terminate immediately" (exit code 1).
pub fn second_term_after(grace: std::time::Duration) -> std::time::Duration {
    (grace / 3).min(std::time::Duration::from_secs(1))
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
    /// The model file it serves, relative to the models folder, when known (for a
    /// container llws did not start, which carries no profile label).
    pub model: Option<String>,
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
    /// The server log file could not be written (`PATH: error`), or (`None`) can be again.
    LogFile { error: Option<String> },
}

/// Why a backend operation failed; the message is meant for the user.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendError {
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    Failed(String),
    /// A server llws did not start is in the way (its container name, or the port).
    #[error("{}", .0.blocked_message())]
    Foreign(super::foreign::ForeignServer),
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

    /// Stops the server if there is one (SIGTERM; a second SIGTERM after
    /// [`second_term_after`], which ends a busy llama-server at once; SIGKILL once `grace`
    /// has passed) and removes what it left behind. Says how it ended, when known.
    fn stop(
        &mut self,
        grace: std::time::Duration,
    ) -> impl Future<Output = Result<Stopped, BackendError>> + Send;

    /// Details about the last exit (Docker's inspect has the OOM flag and restart count).
    fn exit_details(&mut self) -> impl Future<Output = Option<ServerExit>> + Send;

    /// Leaves the server running for a later llws to adopt (on_exit = "keep").
    fn detach(&mut self) -> impl Future<Output = ()> + Send;

    /// Stops and removes a container llws did not create (a [`ForeignServer::Container`]
    /// this backend reported), after the user said so.
    fn remove_foreign(
        &mut self,
        foreign: &ForeignServer,
        grace: std::time::Duration,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        let _ = (foreign, grace);
        async { Err(BackendError::Failed(NOT_A_CONTAINER_BACKEND.into())) }
    }

    /// Takes over a running container llws did not create, after the user said so: its
    /// log followed and its exit watched as start number `generation`, like a server of an
    /// earlier llws.
    fn adopt_foreign(
        &mut self,
        foreign: &ForeignServer,
        ctx: &BackendContext,
        generation: u64,
    ) -> impl Future<Output = Result<Adopted, BackendError>> + Send {
        let _ = (foreign, ctx, generation);
        async { Err(BackendError::Failed(NOT_A_CONTAINER_BACKEND.into())) }
    }
}

const NOT_A_CONTAINER_BACKEND: &str =
    "the process backend has no containers: set backend = \"docker\" to manage one";
