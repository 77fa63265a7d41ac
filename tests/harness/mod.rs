//! A throwaway llws setup for end-to-end tests of the controller, the API and the CLI:
//! a models folder with the real tiny model (and a corrupt copy), a models.conf, and
//! settings on free loopback ports.
#![allow(dead_code)]

pub mod api;
pub mod serve;
pub mod sshd;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use llws::config::Settings;
use llws::config::settings::{BackendKind, Network};
use llws::server::ControllerHandle;
use llws::server::docker::DockerBackend;
use llws::server::process::ProcessBackend;
use llws::server::state::Phase;

use crate::support::{Fixtures, free_port};

pub const MODELS_CONF: &str = "\
[tiny-a]
NAME=Tiny A
SPEED=~fast
MODEL=tiny.gguf
CTX_SIZE=2048
EXTRA_ARGS=--jinja -np 1

[tiny-b]
NAME=Tiny B
MODEL=tiny.gguf
CTX_SIZE=4096
EXTRA_ARGS=--jinja -np 1

[missing]
NAME=Missing file
MODEL=missing.gguf

[corrupt]
NAME=Corrupt file
MODEL=corrupt.gguf
CTX_SIZE=2048

[bench-tiny]
MODEL=tiny.gguf
CTX_SIZE=2048

[truncated]
NAME=Truncated download
MODEL=truncated.gguf
CTX_SIZE=2048
";

/// `model` with its architecture renamed, as long as the original but written only up to
/// the end of the header (the rest is a hole).
fn write_corrupt_copy(model: &[u8], path: &std::path::Path) {
    let key = b"general.architecture";
    let at = model
        .windows(key.len())
        .position(|w| w == key)
        .expect("the model names its architecture");
    // key, then the type (u32 = 8, a string), the length (u64), the name.
    let name_at = at + key.len() + 4 + 8;
    let head = (4 << 20).min(model.len());
    let mut header = model[..head].to_vec();
    header[name_at + 3] = b'x';
    std::fs::write(path, &header).unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.set_len(model.len() as u64).unwrap();
}

pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub settings: Settings,
}

impl TestEnv {
    pub fn new(backend: BackendKind) -> Self {
        let fixtures = Fixtures::get();
        let dir = tempfile::tempdir().expect("temp dir");
        let models = dir.path().join("models");
        std::fs::create_dir_all(&models).unwrap();
        let real = fixtures.model_dir().join(fixtures.model_file());
        // A hard link (or a copy), not a symlink: a container sees only the models folder.
        if std::fs::hard_link(&real, models.join("tiny.gguf")).is_err() {
            std::fs::copy(&real, models.join("tiny.gguf")).unwrap();
        }
        let bytes = std::fs::read(&real).expect("read the tiny model");
        // A truncated copy (a download cut off): refused before the running server is
        // touched, since the file is shorter than its header says.
        std::fs::write(models.join("truncated.gguf"), &bytes[..bytes.len() / 3]).unwrap();
        // A corrupt one of full length: a header llama-server reads, then refuses (an
        // architecture it does not know). Sparse: only the header is written.
        write_corrupt_copy(&bytes, &models.join("corrupt.gguf"));
        let conf = dir.path().join("models.conf");
        std::fs::write(&conf, MODELS_CONF).unwrap();
        let mut settings = Settings {
            models_conf: conf,
            models_dir: models,
            backend,
            ..Settings::default()
        };
        settings.server.port = free_port();
        settings.server.health_timeout_s = 120;
        settings.server.stop_timeout_s = 5;
        settings.server.llama_server = fixtures.llama_server();
        settings.server.image = fixtures.image().to_string();
        settings.server.container = format!("llws-test-{}", settings.server.port);
        settings.server.network = Network::Host;
        settings.server.docker_host = fixtures.docker_host().to_string();
        settings.server.gpus = "none".into();
        settings.api.bind = format!("127.0.0.1:{}", free_port());
        settings.claude.config_dir = dir.path().join("claude-config");
        Self { dir, settings }
    }

    /// Puts the real llama-server behind a delay before it even listens, like a 100 GB model
    /// on a slow disk, with a 3 s health timeout: the load is stopped unless someone keeps
    /// waiting.
    pub fn slow_to_listen(&mut self, delay_s: u32) {
        use std::os::unix::fs::PermissionsExt;
        let script = self.dir.path().join("slow-llama-server");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nsleep {delay_s}\nexec '{}' \"$@\"\n",
                self.settings.server.llama_server.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        self.settings.server.llama_server = script;
        self.settings.server.health_timeout_s = 3;
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn base_url(&self) -> String {
        self.settings.server.base_url()
    }

    pub fn process_backend(&self) -> ProcessBackend {
        ProcessBackend::new(
            self.settings.server.llama_server.clone(),
            self.settings.server.port,
            self.state_dir(),
        )
        .with_gpus(self.settings.server.gpu_selection())
        .with_log_max_bytes(self.settings.server.log_max_mb << 20)
    }

    pub fn docker_backend(&self) -> DockerBackend {
        DockerBackend::new(&self.settings)
    }

    pub fn spawn_docker_controller(&self) -> ControllerHandle {
        llws::server::controller::spawn(self.docker_backend(), Arc::new(self.settings.clone()))
    }

    pub fn spawn_process_controller(&self) -> ControllerHandle {
        llws::server::controller::spawn(self.process_backend(), Arc::new(self.settings.clone()))
    }

    /// Writes llws.toml for the CLI tests (`llws --config FILE ...`).
    pub fn write_settings_file(&self) -> PathBuf {
        let path = self.dir.path().join("llws.toml");
        std::fs::write(&path, self.settings.to_toml()).unwrap();
        path
    }
}

/// Waits until the controller reports `phase`.
pub async fn wait_phase(
    handle: &ControllerHandle,
    phase: Phase,
    timeout: Duration,
) -> llws::server::ServerState {
    let mut rx = handle.subscribe_state();
    let result = tokio::time::timeout(timeout, rx.wait_for(|s| s.phase == phase)).await;
    match result {
        Ok(Ok(state)) => state.clone(),
        _ => panic!(
            "state never became {phase:?} within {timeout:?}; last: {:?}",
            handle.state()
        ),
    }
}

/// `GET path` on loopback; returns the status and body.
pub async fn http_get(url: &str) -> (u16, String) {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let resp = client
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

/// The context size the running server reports in `/props`.
pub async fn server_ctx(base_url: &str) -> u64 {
    let (status, body) = http_get(&format!("{base_url}/props")).await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["default_generation_settings"]["n_ctx"]
        .as_u64()
        .expect("n_ctx in /props")
}

/// A real Anthropic Messages request; returns the reply's JSON.
pub async fn messages(base_url: &str) -> serde_json::Value {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let resp = client
        .post(format!("{base_url}/v1/messages"))
        .json(&serde_json::json!({"model": "x", "max_tokens": 8, "messages": [{"role": "user", "content": "Say hi"}]}))
        .send()
        .await
        .expect("POST /v1/messages");
    assert_eq!(resp.status().as_u16(), 200);
    resp.json().await.expect("JSON reply")
}

/// A test that fails halfway must not leave its server behind: kill what the process
/// backend recorded in this setup's state folder, and remove this setup's container.
impl Drop for TestEnv {
    fn drop(&mut self) {
        if let Ok(entries) = std::fs::read_dir(self.state_dir()) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "json")
                    && let Ok(text) = std::fs::read_to_string(&path)
                    && let Ok(state) = serde_json::from_str::<serde_json::Value>(&text)
                    && let Some(pid) = state["pid"].as_i64()
                {
                    // The server runs in its own process group (pgid = pid).
                    let _ = nix::sys::signal::killpg(
                        nix::unistd::Pid::from_raw(pid as i32),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
        if self.settings.backend == BackendKind::Docker {
            let _ = std::process::Command::new("docker")
                .env("DOCKER_HOST", &self.settings.server.docker_host)
                .args(["rm", "-f", &self.settings.server.container])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}
