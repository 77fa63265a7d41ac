//! What the controller publishes: the server's state, the steps of a switch, timings, and
//! the events everyone else (UI, API, headless printer) reads.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::config::settings::BackendKind;

/// The server's lifecycle phase. The names are what `GET /status` serves as `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Idle,
    Starting,
    Running,
    Stopping,
    Failed,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::Failed => "failed",
        }
    }
}

/// Where a switch (or start) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Checking every part of the new profile's model files.
    CheckingFiles,
    /// Stopping the running server.
    Stopping,
    /// Creating and starting the container or process.
    Creating,
    /// Waiting for /health to turn 200.
    Loading,
}

impl Step {
    pub fn label(self) -> &'static str {
        match self {
            Self::CheckingFiles => "checking files",
            Self::Stopping => "stopping",
            Self::Creating => "starting",
            Self::Loading => "loading",
        }
    }
}

/// A switch in progress.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SwitchProgress {
    pub target: String,
    pub target_name: String,
    pub step: Step,
    /// When the switch began (ms since the Unix epoch), so readers compute the elapsed time.
    pub started_at_ms: u64,
    /// The last successful load of this profile in this session, as an estimate.
    pub estimate_ms: Option<u64>,
    /// While the step is `Stopping`: the model being stopped (not the one coming).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_name: Option<String>,
}

impl SwitchProgress {
    pub fn elapsed(&self) -> Duration {
        Duration::from_millis(now_ms().saturating_sub(self.started_at_ms))
    }
}

/// Why the server is not running when it should be.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    pub reason: String,
    pub exit_code: Option<i64>,
    pub signal: Option<i32>,
    pub oom_killed: bool,
    pub restart_count: Option<i64>,
    /// The last log lines before the failure.
    pub log_tail: Vec<String>,
}

/// Whether the backend itself (the Docker daemon) can be reached.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackendHealth {
    pub kind: BackendKind,
    pub reachable: bool,
    pub message: String,
}

/// The controller's published state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerState {
    pub phase: Phase,
    /// The profile running, loading, or that failed; `None` when idle.
    pub profile: Option<String>,
    pub profile_name: Option<String>,
    /// One line for the status bar (the original's `status` field).
    pub message: String,
    pub switch: Option<SwitchProgress>,
    pub failure: Option<Failure>,
    pub backend: BackendHealth,
    /// Host pid of the server's main process (a container's as seen from the host).
    pub pid: Option<u32>,
    pub container_id: Option<String>,
    /// When the current server became healthy (ms since the Unix epoch).
    pub running_since_ms: Option<u64>,
    /// Set when the state came from adopting a server a previous llws left running.
    pub adopted: bool,
    /// While a load waits for health: when the wait gives up and stops the server (ms
    /// since the Unix epoch). Anyone may push it back (`keep waiting`).
    pub load_gives_up_at_ms: Option<u64>,
    /// A start asked for while the backend could not be reached; it runs when it is back.
    pub pending_start: Option<String>,
    /// What is wrong with models.conf, the keymap and the theme (`FILE:LINE: message`),
    /// until the files are fixed; empty when all is well.
    pub config_errors: Vec<String>,
    /// The server log file cannot be written (`PATH: error`); the lines still reach the
    /// log ring. Cleared when a write succeeds again.
    pub log_file_error: Option<String>,
    /// The command line the server got, as one shell-quoted line (inventory item 68).
    pub command_line: Option<String>,
    /// A server llws did not start blocked the last start (inventory item 17): what it is,
    /// and the profile that waits. Cleared by the next start, a stop, or its resolution.
    pub foreign: Option<crate::server::foreign::Blocked>,
    /// The `[[remote]]` whose server this is; `None` for this machine's.
    pub host: Option<String>,
}

impl ServerState {
    pub fn initial(kind: BackendKind) -> Self {
        Self {
            phase: Phase::Idle,
            profile: None,
            profile_name: None,
            message: String::new(),
            switch: None,
            failure: None,
            backend: BackendHealth {
                kind,
                reachable: true,
                message: String::new(),
            },
            pid: None,
            container_id: None,
            running_since_ms: None,
            adopted: false,
            load_gives_up_at_ms: None,
            pending_start: None,
            config_errors: Vec::new(),
            log_file_error: None,
            command_line: None,
            foreign: None,
            host: None,
        }
    }

    /// A switch, start or stop is under way.
    pub fn is_busy(&self) -> bool {
        matches!(self.phase, Phase::Starting | Phase::Stopping)
    }
}

/// The timings of one finished switch or start.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SwitchTimings {
    pub profile: String,
    pub from: Option<String>,
    pub ok: bool,
    pub stop_ms: u64,
    pub start_ms: u64,
    pub load_ms: u64,
    pub total_ms: u64,
    pub finished_at_ms: u64,
}

/// Things that happened, for SSE streams and the headless printer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    State(Box<ServerState>),
    Step {
        profile: String,
        step: Step,
        elapsed_ms: u64,
    },
    SwitchFinished(SwitchTimings),
    /// A note for the user (adoption, reconnects, warnings).
    Notice {
        message: String,
    },
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The config problems every reader shows until they are fixed, by source (models.conf,
/// the keymap, the theme). The controller reports models.conf; the workspace reports the
/// keymap and theme it loaded. Shared with the handles, so any of them may report.
pub struct ConfigErrors {
    by_source: std::sync::Mutex<std::collections::BTreeMap<String, Vec<String>>>,
    state: std::sync::Arc<tokio::sync::watch::Sender<ServerState>>,
    events: tokio::sync::broadcast::Sender<Event>,
}

impl ConfigErrors {
    pub fn new(
        state: std::sync::Arc<tokio::sync::watch::Sender<ServerState>>,
        events: tokio::sync::broadcast::Sender<Event>,
    ) -> Self {
        Self {
            by_source: Default::default(),
            state,
            events,
        }
    }

    /// Replaces what `source` reported; an empty list means it is fine now.
    pub fn set(&self, source: &str, errors: Vec<String>) {
        let all: Vec<String> = {
            let Ok(mut map) = self.by_source.lock() else {
                return;
            };
            if errors.is_empty() {
                map.remove(source);
            } else {
                map.insert(source.to_string(), errors);
            }
            map.values().flatten().cloned().collect()
        };
        let changed = self.state.send_if_modified(|s| {
            let changed = s.config_errors != all;
            s.config_errors = all;
            changed
        });
        if changed {
            let _ = self
                .events
                .send(Event::State(Box::new(self.state.borrow().clone())));
        }
    }

    /// Every error reported here so far.
    pub fn all(&self) -> Vec<String> {
        self.by_source
            .lock()
            .map(|m| m.values().flatten().cloned().collect())
            .unwrap_or_default()
    }

    /// models.conf's errors, from its last load.
    pub fn set_models_conf(
        &self,
        path: &std::path::Path,
        error: Option<&crate::config::LoadError>,
    ) {
        let lines = error
            .map(|e| error_lines(&e.diagnostics))
            .unwrap_or_default();
        self.set(&path.display().to_string(), lines);
    }
}

/// `FILE:LINE: message` for each error (warnings are left out: nothing fell back for them).
pub fn error_lines(diagnostics: &[crate::config::diag::Diagnostic]) -> Vec<String> {
    diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| {
            let line = d.line.map(|l| format!(":{l}")).unwrap_or_default();
            format!("{}{line}: {}", d.file.display(), d.message)
        })
        .collect()
}
