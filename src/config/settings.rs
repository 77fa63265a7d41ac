//! `llws.toml`: workspace settings. Every field has a default, unknown keys are errors with
//! their line, and relative paths are relative to the settings file.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::diag::{Diagnostic, LoadError, line_of_offset};
use super::trust::{self, ModelsTrust};

pub const SETTINGS_FILE_NAME: &str = "llws.toml";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// A container from the llama-server image, through the Docker Engine API.
    #[default]
    Docker,
    /// A native llama-server child process.
    Process,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnExit {
    /// Stop the server when llws exits: the default, so quitting frees the GPU.
    #[default]
    Stop,
    /// Leave it running; the next llws adopts it.
    Keep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// The container's port is published on 127.0.0.1 only.
    #[default]
    Bridge,
    /// The container shares the host's network and listens on `server.host` itself.
    Host,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SandboxMode {
    #[default]
    Off,
    /// Read-only filesystem except the project, ~/.claude-local and a private /tmp.
    Fs,
    /// `fs` plus no network except the llama-server and API ports on 127.0.0.1.
    Strict,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Docker => "docker",
            Self::Process => "process",
        })
    }
}

/// Which GPUs the container gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GpuSelection {
    All,
    None,
    Devices(Vec<u32>),
}

/// A `gpus` value that is neither `all`, `none` nor a list of GPU indices.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a GPU index")]
pub struct NotAGpuIndex(pub String);

impl GpuSelection {
    pub fn parse(text: &str) -> Result<Self, NotAGpuIndex> {
        match text.trim() {
            "all" => Ok(Self::All),
            "none" | "" => Ok(Self::None),
            list => list
                .split(',')
                .map(|s| {
                    s.trim()
                        .parse::<u32>()
                        .map_err(|_| NotAGpuIndex(s.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Self::Devices),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The model profiles (the INI-like format of the tool llws replaces, so existing files
    /// work).
    pub models_conf: PathBuf,
    /// The folder MODEL paths are relative to; mounted read-only at /models in the container.
    pub models_dir: PathBuf,
    pub backend: BackendKind,
    /// What happens to the server when llws exits.
    pub on_exit: OnExit,
    pub server: ServerSettings,
    pub router: RouterSettings,
    pub api: ApiSettings,
    pub claude: ClaudeSettings,
    pub ui: UiSettings,
    pub monitor: MonitorSettings,
    /// Other machines' llws, as `[[remote]]` entries (see config/remotes.rs).
    #[serde(rename = "remote", skip_serializing_if = "Vec::is_empty")]
    pub remotes: Vec<super::remotes::RemoteSettings>,
    /// Where these settings came from: not a key of the file.
    #[serde(skip)]
    pub origin: Origin,
}

/// Where the settings came from, and so how far the files they name are trusted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    /// The settings file in use; `None` for the built-in defaults.
    pub settings_file: Option<PathBuf>,
    /// How `models_conf` is read: as it is (the user's own) or only while trusted.
    pub models_conf: ModelsTrust,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    /// The native binary, for the process backend (a name on PATH or a path).
    pub llama_server: PathBuf,
    pub image: String,
    pub container: String,
    /// The Docker daemon; empty means `$DOCKER_HOST`, else the local socket.
    pub docker_host: String,
    /// "all", "none", or a list of indices such as "0,1".
    pub gpus: String,
    pub network: Network,
    /// How long a load may take before the switch fails.
    pub health_timeout_s: u64,
    /// The longest wait between /health polls while loading (they start at 10 ms and
    /// double up to this; a "model loaded" log line triggers one at once).
    pub health_interval_ms: u64,
    /// How long a stopping server gets after SIGTERM before SIGKILL.
    pub stop_timeout_s: u64,
    /// The same, when the stop is part of a switch: the old server's requests are cut off
    /// anyway, so a busy server is not waited for (a second SIGTERM comes after a second).
    pub stop_grace_s: u64,
    /// The process backend's server log file is rotated at this size (one older file is
    /// kept beside it), so a flood of output cannot fill the runtime folder.
    pub log_max_mb: u64,
    /// Server log lines kept across switches.
    pub log_lines: usize,
    /// Write `.env` next to models.conf on each switch, for `docker compose` users.
    pub write_env: bool,
    /// Required on the inference port (the router) when set: `Authorization: Bearer KEY`
    /// or `x-api-key: KEY`. `"auto"` generates one, kept 0600 in the runtime folder;
    /// claude-local passes it as ANTHROPIC_AUTH_TOKEN. Empty: no key.
    pub api_key: String,
}

/// `[router]`: llws's own reverse proxy on the inference port (docs/router.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouterSettings {
    /// The router owns `server.host:port` and llama-server listens on a loopback port of
    /// llws's choosing; `false` gives the direct mode (llama-server on `server.port`).
    pub enabled: bool,
    /// llama-server's own port behind the router; 0 lets llws pick a free one (and keep it
    /// in the runtime folder, so a kept server is found again).
    pub upstream_port: u16,
    /// Requests waiting for a switch or load at once; more get 503 at once.
    pub queue_max: usize,
    /// A switch caused by a request first lets requests in flight finish, this long.
    pub drain_s: u64,
    /// The request's `model` picks the profile (by id or alias) and switches to it.
    pub follow_model: bool,
    /// A request-driven switch waits until the running model has been up this long.
    pub min_residency_s: u64,
    /// Stop the server after this long without a request (0: never); the next request
    /// loads it again.
    pub idle_unload_s: u64,
    /// Profile ids for Claude Code's opus, sonnet and haiku model names (empty: the
    /// running model).
    pub opus: String,
    pub sonnet: String,
    pub haiku: String,
    /// Browser origins allowed to call the inference port (e.g. "http://localhost:3000").
    pub cors_origins: Vec<String>,
    /// A request body larger than this is refused (413): bodies are read whole so a request
    /// can wait through a switch and be sent again.
    pub max_body_mb: u64,
    /// Requests kept in the activity record.
    pub activity_size: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSettings {
    pub enabled: bool,
    pub bind: String,
    /// Required when `bind` is not a loopback address; then every request needs it as a
    /// bearer token.
    pub token: String,
    /// Long-lived streams (`/events`, `/logs/stream`) open at once, in all and per client
    /// address; they never take the connections kept for short requests.
    pub max_streams: usize,
    pub max_streams_per_client: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClaudeSettings {
    /// The pane's command: `claude-local` is built in (it needs no script on PATH).
    pub command: String,
    /// Extra arguments for the command.
    pub args: Vec<String>,
    pub sandbox: SandboxMode,
    /// Claude Code's own config dir, apart from the user's ~/.claude so a local model
    /// never sees their account (~/.claude-local by default, where the old wrapper kept it).
    pub config_dir: PathBuf,
    /// The folder claude works in; empty means llws's working directory.
    pub project_dir: PathBuf,
    /// Lines of scrollback the pane keeps.
    pub scrollback: usize,
    /// The model name Claude Code sends; llama-server serves whatever is loaded under any
    /// name ("local-llama" by default, as the old wrapper sent).
    pub model: String,
    pub auth_token: String,
    /// Pass what the pane's program sends to the user's terminal on to it: clipboard writes
    /// (OSC 52), the bell and desktop notifications (OSC 9, OSC 777). Off, they are dropped
    /// (the pane's title still marks a bell or notification). `"auto"` passes them all but
    /// a sandboxed pane's clipboard writes.
    pub passthrough: PassthroughMode,
    /// In the strict sandbox, bridge VS Code's /ide websocket (the ports its lock files in
    /// ~/.claude/ide announce). Off keeps strict to the model and the API: the extension can
    /// run code outside the sandbox (an open notebook's kernel), so some want it closed.
    pub ide_bridge: bool,
    /// Folders under the home folder the sandbox may read (it sees only the project, the
    /// config dir and Claude Code's install otherwise), e.g. `["~/.cargo", "~/.rustup"]`.
    pub sandbox_ro: Vec<PathBuf>,
    /// Folders under the home folder the sandbox may write.
    pub sandbox_rw: Vec<PathBuf>,
    /// Environment variables passed into the sandbox besides the terminal, locale, PATH,
    /// HOME, USER, SHELL, TZ and what claude-local needs (e.g. `["HTTPS_PROXY"]`).
    pub sandbox_env: Vec<String>,
}

/// `[claude] passthrough`: what the pane's program may send on to the user's terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PassthroughMode {
    /// Everything, except clipboard writes from a sandboxed pane (`"auto"`, the default):
    /// a sandbox is for a program that may be turned against the user.
    #[default]
    Auto,
    /// Everything (`true`).
    On,
    /// Nothing (`false`).
    Off,
}

impl PassthroughMode {
    /// Whether a clipboard write (OSC 52) goes on to the user's terminal.
    pub fn clipboard(self, sandboxed: bool) -> bool {
        match self {
            Self::On => true,
            Self::Off => false,
            Self::Auto => !sandboxed,
        }
    }

    /// Whether the bell and desktop notifications go on.
    pub fn alerts(self) -> bool {
        self != Self::Off
    }
}

impl Serialize for PassthroughMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Auto => s.serialize_str("auto"),
            Self::On => s.serialize_bool(true),
            Self::Off => s.serialize_bool(false),
        }
    }
}

impl<'de> Deserialize<'de> for PassthroughMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = PassthroughMode;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true, false or \"auto\"")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(if v {
                    PassthroughMode::On
                } else {
                    PassthroughMode::Off
                })
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                match v {
                    "auto" => Ok(PassthroughMode::Auto),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UiSettings {
    /// A built-in preset name or a path to a TOML file layered over the default preset.
    pub keymap: String,
    pub theme: String,
    /// Upper bound on redraws per second.
    pub frame_rate: u32,
    pub mouse: bool,
    /// A TOML file of client advice per model family, layered before the built-in table
    /// (empty: the built-in table alone). See docs/configuration.md.
    pub client_advice: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorSettings {
    pub interval_ms: u64,
    /// Expensive queries (PCIe throughput samples for 20 ms) run at this slower cadence.
    pub slow_interval_ms: u64,
    /// The window the sparklines cover.
    pub history_s: u64,
    /// NVML's library, when it is not where the loader looks (empty: `libnvidia-ml.so.1`).
    pub nvml_library: PathBuf,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            models_conf: "models.conf".into(),
            models_dir: "models".into(),
            backend: BackendKind::Docker,
            on_exit: OnExit::Stop,
            server: ServerSettings::default(),
            router: RouterSettings::default(),
            api: ApiSettings::default(),
            claude: ClaudeSettings::default(),
            ui: UiSettings::default(),
            monitor: MonitorSettings::default(),
            remotes: Vec::new(),
            origin: Origin::default(),
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8080,
            llama_server: "llama-server".into(),
            image: "llws/llama-server:cuda".into(),
            container: "llama-server".into(),
            docker_host: String::new(),
            gpus: "all".into(),
            network: Network::Bridge,
            health_timeout_s: 300,
            health_interval_ms: 100,
            stop_timeout_s: 10,
            stop_grace_s: 3,
            log_max_mb: 64,
            log_lines: 5000,
            write_env: false,
            api_key: String::new(),
        }
    }
}

impl Default for RouterSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            upstream_port: 0,
            queue_max: 256,
            drain_s: 30,
            follow_model: false,
            min_residency_s: 0,
            idle_unload_s: 0,
            opus: String::new(),
            sonnet: String::new(),
            haiku: String::new(),
            cors_origins: Vec::new(),
            max_body_mb: 64,
            activity_size: 1000,
        }
    }
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            bind: "127.0.0.1:8081".into(),
            token: String::new(),
            max_streams: 256,
            max_streams_per_client: 128,
        }
    }
}

impl Default for ClaudeSettings {
    fn default() -> Self {
        Self {
            command: "claude-local".into(),
            args: Vec::new(),
            sandbox: SandboxMode::Off,
            config_dir: "~/.claude-local".into(),
            project_dir: PathBuf::new(),
            scrollback: 10_000,
            model: "local-llama".into(),
            auth_token: "llamacpp".into(),
            passthrough: PassthroughMode::Auto,
            ide_bridge: true,
            sandbox_ro: Vec::new(),
            sandbox_rw: Vec::new(),
            sandbox_env: Vec::new(),
        }
    }
}

impl Default for UiSettings {
    fn default() -> Self {
        Self {
            keymap: "default".into(),
            theme: "default".into(),
            frame_rate: 30,
            mouse: true,
            client_advice: PathBuf::new(),
        }
    }
}

impl Default for MonitorSettings {
    fn default() -> Self {
        Self {
            interval_ms: 1000,
            slow_interval_ms: 5000,
            history_s: 120,
            nvml_library: PathBuf::new(),
        }
    }
}

impl Settings {
    /// These settings as the backend sees them behind the router: llama-server on
    /// 127.0.0.1:`upstream_port`, whatever `server.host` says (the router owns that). In
    /// direct mode, the settings as they are.
    pub fn behind_router(&self, upstream_port: u16) -> Settings {
        let mut s = self.clone();
        if self.router.enabled {
            s.server.host = "127.0.0.1".into();
            s.server.port = upstream_port;
        }
        s
    }
}

impl ServerSettings {
    /// The address llws talks to the server on (health, the claude pane).
    pub fn base_url(&self) -> String {
        let host = match self.host.as_str() {
            "0.0.0.0" | "" => "127.0.0.1",
            "::" => "[::1]",
            h if h.contains(':') && !h.starts_with('[') => {
                return format!("http://[{h}]:{}", self.port);
            }
            h => h,
        };
        format!("http://{host}:{}", self.port)
    }

    pub fn gpu_selection(&self) -> GpuSelection {
        GpuSelection::parse(&self.gpus).unwrap_or(GpuSelection::All)
    }
}

impl ApiSettings {
    pub fn socket_addr(&self) -> Result<SocketAddr, String> {
        self.bind.parse().map_err(|_| {
            format!(
                "api.bind `{}` is not an address such as 127.0.0.1:8081",
                self.bind
            )
        })
    }

    /// The URL a client on this machine uses to reach the API.
    pub fn base_url(&self) -> String {
        match self.socket_addr() {
            Ok(addr) => {
                let ip = match addr.ip() {
                    IpAddr::V4(v4) if v4.is_unspecified() => "127.0.0.1".to_string(),
                    IpAddr::V6(v6) if v6.is_unspecified() => "[::1]".to_string(),
                    IpAddr::V6(v6) => format!("[{v6}]"),
                    ip => ip.to_string(),
                };
                format!("http://{ip}:{}", addr.port())
            }
            Err(_) => format!("http://{}", self.bind),
        }
    }

    pub fn is_loopback(&self) -> bool {
        self.socket_addr().is_ok_and(|a| a.ip().is_loopback())
    }
}

/// Settings plus where they came from.
#[derive(Debug, Clone)]
pub struct LoadedSettings {
    pub settings: Settings,
    /// The file they were read from; `None` means built-in defaults.
    pub source: Option<PathBuf>,
    /// Files that were skipped because they are not trusted (each says which, and the
    /// `llws trust` command).
    pub skipped: Vec<trust::Untrusted>,
}

/// Where settings come from, in order: `--config`, `$LLWS_CONFIG`, `./llws.toml`, then the
/// XDG config dir. All but `./llws.toml` are the user's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsSource {
    /// `--config` or `$LLWS_CONFIG`, or the XDG file: the user's own.
    Own(PathBuf),
    /// `./llws.toml`: read only while trusted ([`trust`]).
    CurrentFolder(PathBuf),
}

/// Where to look for llws.toml, in order: `--config`, `$LLWS_CONFIG`, `./llws.toml`, then
/// the XDG config dir. An explicit path (flag or variable) must exist.
pub fn find_settings_file(explicit: Option<&Path>) -> Result<Option<PathBuf>, LoadError> {
    Ok(find_settings_sources(explicit)?.first().map(|s| match s {
        SettingsSource::Own(p) | SettingsSource::CurrentFolder(p) => p.clone(),
    }))
}

/// The candidates in the order they are tried: an explicit file alone, else `./llws.toml`
/// (when there is one) and then the XDG file (when there is one).
pub fn find_settings_sources(explicit: Option<&Path>) -> Result<Vec<SettingsSource>, LoadError> {
    if let Some(path) = explicit {
        return Ok(must_exist(path, "--config")?
            .map(SettingsSource::Own)
            .into_iter()
            .collect());
    }
    if let Some(path) = std::env::var_os("LLWS_CONFIG").filter(|v| !v.is_empty()) {
        return Ok(must_exist(Path::new(&path), "$LLWS_CONFIG")?
            .map(SettingsSource::Own)
            .into_iter()
            .collect());
    }
    let mut out = Vec::new();
    let xdg = xdg_settings_path().filter(|p| p.is_file());
    let local = PathBuf::from(SETTINGS_FILE_NAME);
    if local.is_file() {
        // The XDG file itself, when llws starts in its folder, is the user's own.
        let same_as_xdg = xdg.as_ref().is_some_and(
            |x| matches!((local.canonicalize(), x.canonicalize()), (Ok(a), Ok(b)) if a == b),
        );
        if !same_as_xdg {
            // Absolute, so messages name it wherever they are read.
            let local = std::path::absolute(&local).unwrap_or(local);
            out.push(SettingsSource::CurrentFolder(local));
        }
    }
    out.extend(xdg.map(SettingsSource::Own));
    Ok(out)
}
pub fn xdg_settings_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| home_dir().map(|h| h.join(".config")))?;
    Some(base.join("llws").join(SETTINGS_FILE_NAME))
}

pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf()))
}

/// Expands a leading `~/` to the home directory.
pub fn expand_home(path: &Path) -> PathBuf {
    if let Ok(rest) = path.strip_prefix("~")
        && let Some(home) = home_dir()
    {
        return home.join(rest);
    }
    path.to_path_buf()
}

fn must_exist(path: &Path, source: &str) -> Result<Option<PathBuf>, LoadError> {
    if path.is_file() {
        Ok(Some(path.to_path_buf()))
    } else {
        Err(LoadError::single(
            Diagnostic::error(path, None, format!("settings file from {source} not found"))
                .with_fix(
                    "create it (`llws config > llws.toml` writes the defaults) or fix the path",
                ),
        ))
    }
}

fn cannot_read(path: &Path, e: std::io::Error) -> LoadError {
    LoadError::single(Diagnostic::error(
        path,
        None,
        format!("cannot read settings: {e}"),
    ))
}

impl LoadedSettings {
    /// Finds and loads the settings. `./llws.toml` is read only while it is trusted;
    /// otherwise a notice says so and the user's own settings (or the defaults) are used.
    /// No file at all means the defaults, relative to the working directory.
    pub fn load(explicit: Option<&Path>) -> Result<Self, LoadError> {
        let mut skipped = Vec::new();
        for source in find_settings_sources(explicit)? {
            let (path, text, models_conf) = match source {
                SettingsSource::Own(path) => {
                    let text = std::fs::read_to_string(&path).map_err(|e| cannot_read(&path, e))?;
                    (path, text, ModelsTrust::Own)
                }
                SettingsSource::CurrentFolder(path) => match trust::read_if_trusted(&path) {
                    // A trusted project file may still name a models.conf in the project:
                    // that one needs its own trust.
                    Ok(text) => (path, text, ModelsTrust::Checked),
                    Err(Ok(untrusted)) => {
                        skipped.push(untrusted);
                        continue;
                    }
                    Err(Err(e)) => return Err(cannot_read(&path, e)),
                },
            };
            let mut settings = parse_settings(&text, &path)?;
            settings.origin = Origin {
                settings_file: Some(std::path::absolute(&path).unwrap_or_else(|_| path.clone())),
                models_conf,
            };
            return Ok(Self {
                settings,
                source: Some(path),
                skipped,
            });
        }
        let mut settings = Settings::default();
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        settings.resolve_paths(&cwd);
        // The current folder's models.conf is nobody's own settings.
        settings.origin.models_conf = ModelsTrust::Checked;
        Ok(Self {
            settings,
            source: None,
            skipped,
        })
    }
}

/// Parses llws.toml text; `path` names the file in diagnostics and anchors relative paths.
pub fn parse_settings(text: &str, path: &Path) -> Result<Settings, LoadError> {
    let mut settings: Settings = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of_offset(text, s.start));
        LoadError::single(
            Diagnostic::error(path, line, e.message().trim().to_string())
                .with_fix("compare with `llws config`, which prints every key with its default"),
        )
    })?;
    let errors = settings.validate(path, text);
    if !errors.is_empty() {
        return Err(LoadError {
            diagnostics: errors,
        });
    }
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let base = std::path::absolute(&base).unwrap_or(base);
    settings.resolve_paths(&base);
    Ok(settings)
}

/// The line where `key = ` appears in the TOML text, for value errors found after parsing.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|i| i + 1)
}

impl Settings {
    /// Value checks serde cannot express.
    fn validate(&self, path: &Path, text: &str) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        let mut err = |key: &str, message: String, fix: &str| {
            out.push(Diagnostic::error(path, line_of_key(text, key), message).with_fix(fix));
        };
        if let Err(e) = GpuSelection::parse(&self.server.gpus) {
            err(
                "gpus",
                format!("server.gpus: {e}"),
                "write \"all\", \"none\" or indices such as \"0,1\"",
            );
        }
        if let Err(e) = self.api.socket_addr() {
            err(
                "bind",
                e,
                "write an address and port, e.g. \"127.0.0.1:8081\"",
            );
        } else if !self.api.is_loopback() && self.api.token.is_empty() && self.api.enabled {
            err(
                "bind",
                format!(
                    "api.bind `{}` is not loopback and api.token is empty: anyone on the network could switch your models",
                    self.api.bind
                ),
                "set api.token to a long random string, or bind to 127.0.0.1",
            );
        }
        if self.server.port == 0 {
            err(
                "port",
                "server.port must not be 0".into(),
                "pick a free port such as 8080",
            );
        }
        if self.router.enabled && self.router.upstream_port == self.server.port {
            err(
                "upstream_port",
                format!(
                    "router.upstream_port {} is server.port: the router and llama-server cannot share a port",
                    self.server.port
                ),
                "use 0 (llws picks a free port) or another port",
            );
        }
        if self.router.queue_max == 0 || self.router.max_body_mb == 0 {
            err(
                "queue_max",
                "router.queue_max and router.max_body_mb must be at least 1".into(),
                "use 256 and 64",
            );
        }
        for origin in &self.router.cors_origins {
            if !(origin.starts_with("http://") || origin.starts_with("https://"))
                || origin.ends_with('/')
            {
                err(
                    "cors_origins",
                    format!("router.cors_origins: `{origin}` is not an origin"),
                    "write scheme, host and port, e.g. \"http://localhost:3000\"",
                );
            }
        }
        if self.server.health_interval_ms == 0 || self.server.health_interval_ms > 1000 {
            err(
                "health_interval_ms",
                "server.health_interval_ms must be between 1 and 1000".into(),
                "use 100",
            );
        }
        if self.server.log_max_mb == 0 {
            err(
                "log_max_mb",
                "server.log_max_mb must be at least 1".into(),
                "use 64",
            );
        }
        if self.api.max_streams == 0 || self.api.max_streams_per_client == 0 {
            err(
                "max_streams",
                "api.max_streams and api.max_streams_per_client must be at least 1".into(),
                "use 256 and 128",
            );
        }
        if self.server.log_lines == 0 {
            err(
                "log_lines",
                "server.log_lines must be at least 1".into(),
                "use 5000",
            );
        }
        if self.ui.frame_rate == 0 || self.ui.frame_rate > 240 {
            err(
                "frame_rate",
                "ui.frame_rate must be between 1 and 240".into(),
                "use 30",
            );
        }
        if self.monitor.interval_ms < 100 {
            err(
                "interval_ms",
                "monitor.interval_ms must be at least 100".into(),
                "use 1000",
            );
        }
        out.extend(super::remotes::validate(&self.remotes, path, text));
        out
    }

    /// Makes relative paths absolute against `base` (the settings file's folder) and
    /// expands `~`.
    pub fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &Path| -> PathBuf {
            let p = expand_home(p);
            if p.is_absolute() || p.as_os_str().is_empty() {
                super::paths::clean_path(&p)
            } else {
                super::paths::clean_path(&base.join(p))
            }
        };
        self.models_conf = resolve(&self.models_conf);
        self.models_dir = resolve(&self.models_dir);
        self.claude.config_dir = resolve(&self.claude.config_dir);
        self.ui.client_advice = resolve(&self.ui.client_advice);
        if !self.claude.project_dir.as_os_str().is_empty() {
            self.claude.project_dir = resolve(&self.claude.project_dir);
        }
        for remote in &mut self.remotes {
            if !remote.ssh_config.as_os_str().is_empty() {
                remote.ssh_config = resolve(&remote.ssh_config);
            }
        }
        for dir in self
            .claude
            .sandbox_ro
            .iter_mut()
            .chain(self.claude.sandbox_rw.iter_mut())
        {
            *dir = resolve(dir);
        }
        // A bare name is looked up on PATH; only paths with a folder are anchored.
        if self.server.llama_server.components().count() > 1 {
            self.server.llama_server = resolve(&self.server.llama_server);
        }
        if self.monitor.nvml_library.components().count() > 1 {
            self.monitor.nvml_library = resolve(&self.monitor.nvml_library);
        }
        // ui.keymap and ui.theme name a built-in preset or a file; only files are anchored.
        for value in [&mut self.ui.keymap, &mut self.ui.theme] {
            if super::layered::Spec::is_path(value) {
                *value = resolve(Path::new(value.as_str())).display().to_string();
            }
        }
    }

    /// The effective settings as TOML, every key included.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render settings: {e}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, LoadError> {
        parse_settings(text, Path::new("/etc/llws/llws.toml"))
    }

    #[test]
    fn empty_file_gives_defaults_with_paths_relative_to_the_file() {
        let s = parse("").unwrap();
        assert_eq!(s.models_conf, PathBuf::from("/etc/llws/models.conf"));
        assert_eq!(s.models_dir, PathBuf::from("/etc/llws/models"));
        assert_eq!(s.server.port, 8080);
        assert_eq!(s.api.bind, "127.0.0.1:8081");
        assert_eq!(s.backend, BackendKind::Docker);
        assert_eq!(s.server.health_timeout_s, 300);
        assert_eq!(s.claude.passthrough, PassthroughMode::Auto);
    }

    #[test]
    fn the_documented_keys_parse() {
        let s = parse(
            r#"
models_conf = "conf/models.conf"
models_dir = "/data/models"
backend = "process"
on_exit = "keep"
[server]
host = "127.0.0.1"
port = 9090
llama_server = "bin/llama-server"
image = "llws/llama-server:cuda"
container = "llama-server"
gpus = "0,1"
network = "host"
health_timeout_s = 60
[api]
bind = "127.0.0.1:9091"
token = ""
[claude]
command = "claude-local"
sandbox = "strict"
passthrough = false
ide_bridge = false
[ui]
keymap = "tmux"
theme = "nord"
"#,
        )
        .unwrap();
        assert_eq!(s.backend, BackendKind::Process);
        assert_eq!(s.on_exit, OnExit::Keep);
        assert_eq!(s.models_conf, PathBuf::from("/etc/llws/conf/models.conf"));
        assert_eq!(s.models_dir, PathBuf::from("/data/models"));
        assert_eq!(
            s.server.llama_server,
            PathBuf::from("/etc/llws/bin/llama-server")
        );
        assert_eq!(s.server.gpu_selection(), GpuSelection::Devices(vec![0, 1]));
        assert_eq!(s.server.network, Network::Host);
        assert_eq!(s.claude.sandbox, SandboxMode::Strict);
        assert_eq!(s.claude.passthrough, PassthroughMode::Off);
        assert!(!s.claude.ide_bridge);
        assert_eq!(s.server.base_url(), "http://127.0.0.1:9090");
        assert_eq!(s.api.base_url(), "http://127.0.0.1:9091");
    }

    #[test]
    fn unknown_keys_are_errors_with_their_line() {
        let err = parse("backend = \"docker\"\n[server]\nprot = 8080\n").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("/etc/llws/llws.toml:3: error: unknown field `prot`"),
            "{text}"
        );
    }

    #[test]
    fn mistyped_values_are_errors_with_their_line() {
        let err = parse("[server]\nport = \"eighty\"\n").unwrap_err();
        assert!(err.to_string().contains("llws.toml:2:"), "{err}");
        let err = parse("backend = \"podman\"\n").unwrap_err();
        assert!(err.to_string().contains("llws.toml:1:"), "{err}");
    }

    #[test]
    fn non_loopback_api_needs_a_token() {
        let err = parse("[api]\nbind = \"0.0.0.0:8081\"\n").unwrap_err();
        assert!(
            err.to_string().contains("llws.toml:2: error: api.bind"),
            "{err}"
        );
        assert!(parse("[api]\nbind = \"0.0.0.0:8081\"\ntoken = \"s3cret\"\n").is_ok());
    }

    #[test]
    fn remotes_parse_and_their_mistakes_name_line_and_fix() {
        let ok = parse(
            "[[remote]]\nname = \"gpu-box\"\nurl = \"http://127.0.0.1:8081\"\nssh = \"alice@gpu-box\"\nssh_config = \"ssh/llws\"\n\n[[remote]]\nname = \"rack\"\nurl = \"https://rack.lan:8443\"\ntoken = \"t\"\n",
        )
        .unwrap();
        assert_eq!(ok.remotes.len(), 2);
        assert_eq!(ok.remotes[0].server_port, 8080);
        assert_eq!(ok.remotes[0].ssh_config, Path::new("/etc/llws/ssh/llws"));
        // Written back as [[remote]] tables that parse again.
        assert!(ok.to_toml().contains("[[remote]]"));
        assert_eq!(parse(&ok.to_toml()).unwrap().remotes, ok.remotes);

        let text = "backend = \"process\"\n\n[[remote]]\nname = \"a\"\nurl = \"http://10.0.0.2:8081\"\n\n[[remote]]\nname = \"a\"\nurl = \"http://127.0.0.1:1\"\nssh = \"-oProxyCommand=touch x\"\n";
        let err = parse(text).unwrap_err().to_string();
        for expected in [
            ":5: error: remote a: url `http://10.0.0.2:8081` is reached over the network without ssh",
            ":8: error: remote a: the name is used by an earlier [[remote]]",
            ":10: error: remote a: ssh `-oProxyCommand=touch x` is not `user@host`",
        ] {
            assert!(err.contains(expected), "{expected}\n{err}");
        }
        assert!(
            err.contains("set token to the remote's [api] token"),
            "{err}"
        );
        let err = parse("[[remote]]\nname = \"x\"\nurl = \"x\"\nport = 1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains(":4: error: unknown field `port`"), "{err}");
    }

    #[test]
    fn bad_gpu_lists_are_errors() {
        let err = parse("[server]\ngpus = \"0,x\"\n").unwrap_err();
        assert!(err.to_string().contains(":2: error: server.gpus"), "{err}");
    }

    #[test]
    fn defaults_round_trip_through_toml() {
        let defaults = Settings::default();
        let text = defaults.to_toml();
        let back: Settings = toml::from_str(&text).unwrap();
        assert_eq!(back, defaults);
        for key in [
            "models_conf",
            "[server]",
            "health_timeout_s",
            "[api]",
            "[claude]",
            "sandbox",
            "passthrough",
            "ide_bridge",
            "[ui]",
            "keymap",
        ] {
            assert!(text.contains(key), "missing {key} in\n{text}");
        }
    }

    #[test]
    fn gpu_selection_parses() {
        assert_eq!(GpuSelection::parse("all"), Ok(GpuSelection::All));
        assert_eq!(GpuSelection::parse("none"), Ok(GpuSelection::None));
        assert_eq!(GpuSelection::parse("1"), Ok(GpuSelection::Devices(vec![1])));
    }
}
