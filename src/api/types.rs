//! JSON shapes shared by the API server, its CLI client and `llws models --json`.
//! The fields the original's API served keep their names, types and meaning; everything
//! else is added beside them. These are the wire format: they mirror the controller's
//! types instead of serialising them, so an internal change cannot change the API.

use serde::{Deserialize, Serialize};

use crate::server::foreign::{Blocked, ForeignServer};
use crate::server::load_facts::LoadFacts;

use crate::config::{Profile, ProfileSet};
use crate::server::logs::LogLine;
use crate::server::state::{
    Event, Failure, Phase, ServerState, SwitchProgress, SwitchTimings, now_ms,
};

/// One entry of `GET /models`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub id: String,
    pub name: String,
    pub speed: String,
    /// A string, as the original served it.
    pub ctx_size: String,
    pub is_bench: bool,
    pub active: bool,
    // Beyond the original:
    pub description: String,
    pub ctx_label: String,
    pub model: String,
    /// What a client should send to this model's family (the original's per-family client
    /// advice, its lesson 9); absent when no family of the advice table matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_advice: Option<ClientAdvice>,
}

/// A family of the client advice table (`src/model/client_advice.toml`, plus `[ui]
/// client_advice`) and what it says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientAdvice {
    pub family: String,
    pub advice: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelsResponse {
    pub models: Vec<ModelInfo>,
    /// What is wrong with models.conf, the keymap and the theme (`FILE:LINE: message`);
    /// empty when all is well. With errors in models.conf, `models` are the last good ones.
    #[serde(default)]
    pub config_errors: Vec<String>,
}

impl ModelInfo {
    pub fn from_profile(profile: &Profile, active: bool) -> Self {
        Self {
            id: profile.id.clone(),
            name: profile.display_name().to_string(),
            speed: profile.speed().unwrap_or_default().to_string(),
            ctx_size: profile.ctx_size().to_string(),
            is_bench: profile.is_bench(),
            active,
            description: profile.description().unwrap_or_default().to_string(),
            ctx_label: profile.ctx_label(),
            model: profile.model().to_string(),
            client_advice: None,
        }
    }
}

/// Each profile's client advice: its family from the GGUF header (metadata only) and the
/// MODEL file name, in `table`. Reads files: run it on the blocking pool.
pub fn client_advice(
    models_dir: &std::path::Path,
    set: &ProfileSet,
    table: &crate::model::advice::AdviceTable,
) -> std::collections::HashMap<String, ClientAdvice> {
    set.profiles
        .iter()
        // Another machine's profiles name files there: none is read here.
        .filter(|p| !p.is_elsewhere())
        .filter_map(|p| {
            let meta = crate::model::files::check(models_dir, p)
                .ok()
                .and_then(|f| crate::model::gguf::read_file_metadata(f.first()).ok());
            let family = table.for_model(p, meta.as_ref())?;
            Some((
                p.id.clone(),
                ClientAdvice {
                    family: family.name.clone(),
                    advice: family.advice.clone(),
                },
            ))
        })
        .collect()
}

impl ModelsResponse {
    /// Every profile in file order (bench included when `include_bench`), with the active
    /// one marked.
    pub fn from_profiles(set: &ProfileSet, active: Option<&str>, include_bench: bool) -> Self {
        Self {
            models: set
                .profiles
                .iter()
                .filter(|p| include_bench || !p.is_bench())
                .map(|p| ModelInfo::from_profile(p, active == Some(p.id.as_str())))
                .collect(),
            config_errors: Vec::new(),
        }
    }
}

/// The profile `/models` marks active: the one loading or serving.
pub fn active_profile(state: &ServerState) -> Option<&str> {
    match state.phase {
        Phase::Starting | Phase::Running => state.profile.as_deref(),
        _ => None,
    }
}

/// `GET /status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusResponse {
    /// The original's four fields: the profile id (or null), its name ("" when none),
    /// idle|starting|running|stopping|failed, and the status-bar message.
    pub model: Option<String>,
    pub model_name: String,
    pub state: String,
    pub status: String,
    // Beyond the original:
    /// The switch's step (checking_files|stopping|creating|loading) while one runs.
    pub step: Option<String>,
    pub switch: Option<SwitchInfo>,
    pub failure: Option<FailureInfo>,
    /// When the server became healthy (Unix ms), and for how long it has served.
    pub running_since_ms: Option<u64>,
    pub uptime_s: Option<f64>,
    /// Where llama-server answers (the OpenAI and Anthropic APIs, /health).
    pub server_url: String,
    pub backend: BackendInfo,
    pub pid: Option<u32>,
    pub container_id: Option<String>,
    /// The server was left running by an earlier llws and taken over.
    pub adopted: bool,
    /// The most recent switch or start, finished.
    pub last_switch: Option<TimingsInfo>,
    /// While a model loads: when the health wait gives up and stops it (Unix ms). Push it
    /// back with `POST /keep-waiting`.
    #[serde(default)]
    pub load_gives_up_at_ms: Option<u64>,
    /// What the server's own log said about this run: buffers per device, graph splits,
    /// the speed of the last request, CUDA errors.
    #[serde(default)]
    pub load: Option<LoadFacts>,
    /// A start asked for while the backend (the Docker daemon) was unreachable; it runs
    /// when the backend is back.
    #[serde(default)]
    pub pending_start: Option<String>,
    /// What is wrong with models.conf, the keymap and the theme (`FILE:LINE: message`),
    /// until the files are fixed; empty when all is well.
    #[serde(default)]
    pub config_errors: Vec<String>,
    /// The server log file cannot be written (`PATH: error`); null when it can.
    #[serde(default)]
    pub log_file_error: Option<String>,
    /// The command line the server got, as one shell-quoted line a shell reads back as
    /// the same words (the original inventory's item 68); null when no server runs.
    #[serde(default)]
    pub command_line: Option<String>,
    /// A server llws did not start blocked the last start (item 17); answer with
    /// `POST /foreign`. Null otherwise.
    #[serde(default)]
    pub foreign: Option<ForeignInfo>,
    /// The router on the inference port (docs/router.md); null in direct mode.
    #[serde(default)]
    pub router: Option<crate::router::RouterStatus>,
    /// The `[[remote]]` whose server this is (docs/remote.md); absent for this machine's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// The reply of `GET /activity`: the router's newest requests, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityResponse {
    pub requests: Vec<crate::router::activity::Record>,
}

/// A server llws did not start, in the way of a start (`GET /status`'s `foreign`, and a
/// `blocked` outcome's): what it is, the profile that waits, the sentence llws shows, and
/// what `POST /foreign` may do about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForeignInfo {
    /// container|process
    pub kind: String,
    /// The profile whose start it blocked.
    pub profile: String,
    pub description: String,
    /// replace|adopt: what `POST /foreign` accepts for it; empty when llws may only name it.
    pub offers: Vec<String>,
    /// container: its name, id, image, whether it runs, its docker compose project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compose_project: Option<String>,
    /// process: the port, and the pid and program holding it (null when llws cannot see).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
}

impl ForeignInfo {
    pub fn new(server: &ForeignServer, profile: &str) -> Self {
        let mut info = Self {
            kind: String::new(),
            profile: profile.to_string(),
            description: server.blocked_message(),
            offers: server
                .offers()
                .iter()
                .map(|a| a.as_str().to_string())
                .collect(),
            name: None,
            id: None,
            image: None,
            running: None,
            compose_project: None,
            port: None,
            pid: None,
            program: None,
        };
        match server {
            ForeignServer::Container {
                name,
                id,
                image,
                running,
                compose_project,
                ..
            } => {
                info.kind = "container".into();
                info.name = Some(name.clone());
                info.id = Some(id.clone());
                info.image = Some(image.clone());
                info.running = Some(*running);
                info.compose_project = compose_project.clone();
            }
            ForeignServer::Process {
                port, pid, program, ..
            } => {
                info.kind = "process".into();
                info.port = Some(*port);
                info.pid = *pid;
                info.program = program.clone();
            }
        }
        info
    }

    /// The controller's value again, for a client of another llws.
    pub fn to_server(&self) -> ForeignServer {
        let offered = |a: &str| self.offers.iter().any(|o| o == a);
        if self.kind == "container" {
            ForeignServer::Container {
                name: self.name.clone().unwrap_or_default(),
                id: self.id.clone().unwrap_or_default(),
                image: self.image.clone().unwrap_or_default(),
                running: self.running.unwrap_or(false),
                compose_project: self.compose_project.clone(),
                adoptable: offered("adopt"),
            }
        } else {
            ForeignServer::Process {
                port: self.port.unwrap_or_default(),
                pid: self.pid,
                program: self.program.clone(),
                stoppable: offered("replace"),
            }
        }
    }
}

/// The reply of `POST /keep-waiting`: the health wait of the load in flight was pushed back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeepWaitingResponse {
    pub success: bool,
    /// The profile that is loading.
    pub model: Option<String>,
    /// When the health wait now gives up (Unix ms), and in how many seconds from now.
    pub gives_up_at_ms: u64,
    pub gives_up_in_s: u64,
}

/// A switch in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwitchInfo {
    pub target: String,
    pub target_name: String,
    pub step: String,
    /// The step in words, for people.
    pub step_label: String,
    pub started_at_ms: u64,
    pub elapsed_ms: u64,
    /// The last successful switch to this profile in this session; null before one.
    pub estimate_ms: Option<u64>,
    /// elapsed / estimate, held below 1 until the switch ends; null without an estimate.
    pub progress: Option<f64>,
    /// While `step` is `stopping`: the model being stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_name: Option<String>,
}

/// Why the server is not running when it should be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureInfo {
    pub reason: String,
    pub exit_code: Option<i64>,
    pub signal: Option<i32>,
    pub oom_killed: bool,
    pub restart_count: Option<i64>,
    pub log_tail: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendInfo {
    /// docker|process
    pub kind: String,
    /// Whether the Docker daemon answers (always true for the process backend).
    pub reachable: bool,
    pub message: String,
}

/// How long one finished switch or start took, step by step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimingsInfo {
    pub profile: String,
    pub from: Option<String>,
    pub ok: bool,
    pub stop_ms: u64,
    pub start_ms: u64,
    pub load_ms: u64,
    pub total_ms: u64,
    pub finished_at_ms: u64,
}

/// The reply of a finished `POST /switch`, `/start` or `/stop`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwitchResponse {
    /// The original's four fields: success is "the profile runs now" (for /stop: "the
    /// server is stopped"); model, model_name and state as in /status afterwards.
    pub success: bool,
    pub model: Option<String>,
    pub model_name: String,
    pub state: String,
    // Beyond the original:
    pub status: String,
    /// running|already_running|failed|cancelled|stopped|timed_out|blocked
    pub outcome: String,
    pub failure: Option<FailureInfo>,
    pub timings: Option<TimingsInfo>,
    /// With `blocked`: the server llws did not start that is in the way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub foreign: Option<ForeignInfo>,
}

/// `202 Accepted` for `?wait=false`: the switch was checked and handed to the controller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AcceptedResponse {
    pub accepted: bool,
    /// The profile asked for; null for a `/start` of the last profile.
    pub target: Option<String>,
    /// The state when the switch was accepted; poll `GET /status` or follow `/events`.
    pub state: String,
    pub model: Option<String>,
}

/// Every error: `{"error": "..."}` plus, where they help, the fields below.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub error: String,
    /// 409: the state of the switch in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// 404 unknown model: the ids that exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    /// 422: the model file that is missing or unreadable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

impl ErrorResponse {
    pub fn new(error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            state: None,
            models: None,
            file: None,
        }
    }
}

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthResponse {
    pub status: String,
}

/// One server log line (`/logs`, `/logs/stream`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLineInfo {
    pub seq: u64,
    pub time_ms: u64,
    /// stdout|stderr|llws
    pub source: String,
    pub text: String,
}

/// `GET /logs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogsResponse {
    pub lines: Vec<LogLineInfo>,
    /// The seq the next line will get.
    pub next_seq: u64,
}

/// `event: step` on `/events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepEvent {
    pub profile: String,
    pub step: String,
    pub elapsed_ms: u64,
}

/// `event: notice` on `/events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoticeEvent {
    pub message: String,
}

/// `event: lagged` (`/events`) and `event: skipped` (`/logs/stream`): this many items
/// were dropped because the client read too slowly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedEvent {
    pub skipped: u64,
}

/// A step's name as the API serves it (checking_files|stopping|creating|loading).
pub fn step_name(step: crate::server::state::Step) -> String {
    serde_json::to_value(step)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

impl SwitchInfo {
    pub fn from_progress(p: &SwitchProgress) -> Self {
        let elapsed_ms = now_ms().saturating_sub(p.started_at_ms);
        Self {
            target: p.target.clone(),
            target_name: p.target_name.clone(),
            step: step_name(p.step),
            step_label: p.step.label().to_string(),
            started_at_ms: p.started_at_ms,
            elapsed_ms,
            estimate_ms: p.estimate_ms,
            progress: p
                .estimate_ms
                .filter(|e| *e > 0)
                .map(|e| (elapsed_ms as f64 / e as f64).min(0.99)),
            from_name: p.from_name.clone(),
        }
    }
}

impl From<&Failure> for FailureInfo {
    fn from(f: &Failure) -> Self {
        Self {
            reason: f.reason.clone(),
            exit_code: f.exit_code,
            signal: f.signal,
            oom_killed: f.oom_killed,
            restart_count: f.restart_count,
            log_tail: f.log_tail.clone(),
        }
    }
}

impl From<&SwitchTimings> for TimingsInfo {
    fn from(t: &SwitchTimings) -> Self {
        Self {
            profile: t.profile.clone(),
            from: t.from.clone(),
            ok: t.ok,
            stop_ms: t.stop_ms,
            start_ms: t.start_ms,
            load_ms: t.load_ms,
            total_ms: t.total_ms,
            finished_at_ms: t.finished_at_ms,
        }
    }
}

impl From<&LogLine> for LogLineInfo {
    fn from(l: &LogLine) -> Self {
        Self {
            seq: l.seq,
            time_ms: l.time_ms,
            source: serde_json::to_value(l.source)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            text: l.text.clone(),
        }
    }
}

impl StatusResponse {
    /// The status of `state`; `server_url` is llama-server's address and `last_switch` the
    /// latest finished switch.
    pub fn from_state(
        state: &ServerState,
        server_url: &str,
        last_switch: Option<&SwitchTimings>,
    ) -> Self {
        let uptime_s = match (state.phase, state.running_since_ms) {
            (Phase::Running, Some(since)) => Some(now_ms().saturating_sub(since) as f64 / 1000.0),
            _ => None,
        };
        Self {
            model: state.profile.clone(),
            model_name: state.profile_name.clone().unwrap_or_default(),
            state: state.phase.as_str().to_string(),
            status: state.message.clone(),
            step: state.switch.as_ref().map(|s| step_name(s.step)),
            switch: state.switch.as_ref().map(SwitchInfo::from_progress),
            failure: state.failure.as_ref().map(FailureInfo::from),
            running_since_ms: state.running_since_ms,
            uptime_s,
            server_url: server_url.to_string(),
            backend: BackendInfo {
                kind: state.backend.kind.to_string(),
                reachable: state.backend.reachable,
                message: state.backend.message.clone(),
            },
            pid: state.pid,
            container_id: state.container_id.clone(),
            adopted: state.adopted,
            last_switch: last_switch.map(TimingsInfo::from),
            load_gives_up_at_ms: state.load_gives_up_at_ms,
            load: None,
            pending_start: state.pending_start.clone(),
            config_errors: state.config_errors.clone(),
            log_file_error: state.log_file_error.clone(),
            command_line: state.command_line.clone(),
            foreign: state
                .foreign
                .as_ref()
                .map(|b| ForeignInfo::new(&b.server, &b.profile)),
            router: None,
            host: state.host.clone(),
        }
    }

    /// A switch, start or stop is under way.
    pub fn is_busy(&self) -> bool {
        matches!(self.state.as_str(), "starting" | "stopping")
    }

    /// The controller state this status was made from, for a client of another llws that
    /// shows it as its own.
    pub fn to_server_state(&self) -> ServerState {
        use crate::config::settings::BackendKind;
        use crate::server::state::{BackendHealth, Step};
        let phase = match self.state.as_str() {
            "starting" => Phase::Starting,
            "running" => Phase::Running,
            "stopping" => Phase::Stopping,
            "failed" => Phase::Failed,
            _ => Phase::Idle,
        };
        let step = |name: &str| match name {
            "stopping" => Step::Stopping,
            "creating" => Step::Creating,
            "loading" => Step::Loading,
            _ => Step::CheckingFiles,
        };
        ServerState {
            phase,
            profile: self.model.clone(),
            profile_name: Some(self.model_name.clone()).filter(|n| !n.is_empty()),
            message: self.status.clone(),
            switch: self.switch.as_ref().map(|s| SwitchProgress {
                target: s.target.clone(),
                target_name: s.target_name.clone(),
                step: step(&s.step),
                started_at_ms: s.started_at_ms,
                estimate_ms: s.estimate_ms,
                from_name: s.from_name.clone(),
            }),
            failure: self.failure.as_ref().map(|f| Failure {
                reason: f.reason.clone(),
                exit_code: f.exit_code,
                signal: f.signal,
                oom_killed: f.oom_killed,
                restart_count: f.restart_count,
                log_tail: f.log_tail.clone(),
            }),
            backend: BackendHealth {
                kind: if self.backend.kind == "process" {
                    BackendKind::Process
                } else {
                    BackendKind::Docker
                },
                reachable: self.backend.reachable,
                message: self.backend.message.clone(),
            },
            pid: self.pid,
            container_id: self.container_id.clone(),
            running_since_ms: self.running_since_ms,
            adopted: self.adopted,
            load_gives_up_at_ms: self.load_gives_up_at_ms,
            pending_start: self.pending_start.clone(),
            config_errors: self.config_errors.clone(),
            log_file_error: self.log_file_error.clone(),
            command_line: self.command_line.clone(),
            foreign: self.foreign.as_ref().map(|f| Blocked {
                server: f.to_server(),
                profile: f.profile.clone(),
            }),
            // Whose server it is, the reader decides (a [[remote]] is named by this llws).
            host: None,
        }
    }
}

impl From<&TimingsInfo> for SwitchTimings {
    fn from(t: &TimingsInfo) -> Self {
        Self {
            profile: t.profile.clone(),
            from: t.from.clone(),
            ok: t.ok,
            stop_ms: t.stop_ms,
            start_ms: t.start_ms,
            load_ms: t.load_ms,
            total_ms: t.total_ms,
            finished_at_ms: t.finished_at_ms,
        }
    }
}

impl StepEvent {
    /// The `step` payload of a controller event, if it is one.
    pub fn from_event(event: &Event) -> Option<Self> {
        match event {
            Event::Step {
                profile,
                step,
                elapsed_ms,
            } => Some(Self {
                profile: profile.clone(),
                step: step_name(*step),
                elapsed_ms: *elapsed_ms,
            }),
            _ => None,
        }
    }
}
