//! The real parts the end-to-end tests rely on work on this machine: the native CPU
//! llama-server with the tiny model, the same server as a container on the test Docker
//! daemon, Claude Code, and bubblewrap. No mocks and no skips: `scripts/fixtures` provides
//! every part (see docs/testing.md).

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{CreateContainerOptions, LogsOptions, RemoveContainerOptions};
use futures::StreamExt;
use serde_json::{Value, json};
use support::Fixtures;

const HEALTH_TIMEOUT: Duration = Duration::from_secs(60);

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("build an HTTP client")
}

/// Polls `GET /health` until it answers 200; `dead` says why the server is gone, if it is,
/// so a crash fails at once instead of at the timeout.
async fn wait_healthy<F, Fut>(port: u16, mut dead: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<String>>,
{
    let client = http();
    let url = format!("http://127.0.0.1:{port}/health");
    let deadline = Instant::now() + HEALTH_TIMEOUT;
    loop {
        let last = match client
            .get(&url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
        {
            Ok(resp) if resp.status() == 200 => return Ok(()),
            Ok(resp) => format!("HTTP {}", resp.status()),
            Err(e) => e.to_string(),
        };
        if let Some(why) = dead().await {
            bail!("the server is gone while waiting for {url}: {why}");
        }
        if Instant::now() > deadline {
            bail!("{url} did not answer 200 within {HEALTH_TIMEOUT:?} (last: {last})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends a tiny Anthropic-style request and checks the reply's shape.
async fn ask(port: u16) -> Result<Value> {
    let resp = http()
        .post(format!("http://127.0.0.1:{port}/v1/messages"))
        .json(&json!({
            "model": "x",
            "max_tokens": 8,
            "messages": [{"role": "user", "content": "Say hi"}]
        }))
        .send()
        .await
        .context("POST /v1/messages")?;
    let status = resp.status();
    let body: Value = resp.json().await.context("the reply is not JSON")?;
    ensure!(status == 200, "POST /v1/messages answered {status}: {body}");
    let content = body["content"]
        .as_array()
        .with_context(|| format!("the reply has no `content` array: {body}"))?;
    ensure!(
        content.iter().any(|block| block["type"].is_string()),
        "the reply's content has no typed block: {body}"
    );
    Ok(body)
}

/// Kills (SIGKILL) and reaps the child when dropped, also when an assertion fails.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn native_llama_server_serves_the_tiny_model() {
    let fx = Fixtures::get();
    let port = support::free_port();
    let model = fx.model_dir().join(fx.model_file());
    let logs = tempfile::tempdir().unwrap();
    let log_path = logs.path().join("llama-server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let child = Command::new(fx.llama_server())
        .arg("--model")
        .arg(&model)
        .args(["--ctx-size", "2048", "--host", "127.0.0.1", "--jinja"])
        .args(["--port", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", fx.llama_server().display()));
    let server = std::sync::Mutex::new(KillOnDrop(child));

    let result = async {
        wait_healthy(port, || {
            let exited = server.lock().unwrap().0.try_wait().ok().flatten();
            async move { exited.map(|status| format!("it exited ({status})")) }
        })
        .await?;
        ask(port).await
    }
    .await;
    drop(server);
    if let Err(e) = result {
        panic!(
            "{e:#}\n--- llama-server log (last lines):\n{}",
            tail(&log_path, 40)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn container_llama_server_serves_the_tiny_model() {
    let fx = Fixtures::get();
    let docker = Docker::connect_with_unix(fx.docker_host(), 120, bollard::API_DEFAULT_VERSION)
        .unwrap_or_else(|e| {
            panic!(
                "connect to the test dockerd at {}: {e}; start it with `scripts/dockerd start` (scripts/test does)",
                fx.docker_host()
            )
        })
        .negotiate_version()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the test dockerd at {} does not answer: {e}; start it with `scripts/dockerd start` (scripts/test does)",
                fx.docker_host()
            )
        });

    let port = support::free_port();
    let name = format!("llws-test-fixtures-{}-{port}", std::process::id());
    let body = ContainerCreateBody {
        image: Some(fx.image().to_string()),
        cmd: Some(vec![
            "--model".into(),
            format!("/models/{}", fx.model_file()),
            "--ctx-size".into(),
            "2048".into(),
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
        ]),
        host_config: Some(HostConfig {
            network_mode: Some("host".into()),
            binds: Some(vec![format!("{}:/models:ro", fx.model_dir().display())]),
            ..Default::default()
        }),
        ..Default::default()
    };

    let result = async {
        docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(name.clone()),
                    ..Default::default()
                }),
                body,
            )
            .await
            .with_context(|| format!("create a container from {}", fx.image()))?;
        docker
            .start_container(&name, None)
            .await
            .context("start the container")?;
        let (docker, name) = (&docker, &name);
        wait_healthy(port, move || async move {
            match docker.inspect_container(name, None).await {
                Ok(info) => {
                    let state = info.state.unwrap_or_default();
                    (state.running != Some(true)).then(|| {
                        format!(
                            "the container is not running (status {:?}, exit code {:?})",
                            state.status, state.exit_code
                        )
                    })
                }
                Err(e) => Some(format!("inspect failed: {e}")),
            }
        })
        .await?;
        ask(port).await
    }
    .await;

    let logs = if result.is_err() {
        let mut out = String::new();
        let mut stream = docker.logs(
            &name,
            Some(LogsOptions {
                stdout: true,
                stderr: true,
                tail: "40".into(),
                ..Default::default()
            }),
        );
        while let Some(Ok(chunk)) = stream.next().await {
            out.push_str(&chunk.to_string());
        }
        out
    } else {
        String::new()
    };
    let removed = docker
        .remove_container(
            &name,
            Some(RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await;
    if let Err(e) = result {
        panic!("{e:#}\n--- container log (last lines):\n{logs}");
    }
    removed.unwrap_or_else(|e| panic!("remove the container {name}: {e}"));
}

#[test]
fn claude_code_prints_its_version() {
    let fx = Fixtures::get();
    let out = Command::new(fx.claude())
        .arg("--version")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {} --version: {e}", fx.claude().display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "claude --version failed ({}): {stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let version = stdout.split_whitespace().next().unwrap_or("");
    assert!(
        version.split('.').count() == 3
            && version
                .split('.')
                .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
        "claude --version printed no version: {stdout:?}"
    );
}

#[test]
fn bubblewrap_runs_a_sandbox_without_network() {
    let status = Command::new("bwrap")
        .args(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"])
        .args(["--unshare-pid", "--unshare-net", "true"])
        .status()
        .expect("run bwrap (scripts/fixtures installs bubblewrap)");
    assert!(status.success(), "bwrap failed: {status}");
}
