//! Connecting to the Docker Engine: `DOCKER_HOST` or the local socket, with the API
//! version negotiated down to what the daemon speaks (Debian's engine stops at 1.41, below
//! bollard's default).

use std::time::Duration;

use bollard::Docker;

/// Where llws looks for the daemon, for messages.
pub fn docker_host() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string())
}

/// The daemon could not be reached; the message says where llws looked and what to do.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "Docker daemon not reachable at {host}: {reason}. Start it (e.g. `sudo systemctl start docker`), point DOCKER_HOST at it, or set backend = \"process\" in llws.toml to run a native llama-server"
)]
pub struct Unreachable {
    pub host: String,
    pub reason: String,
}

/// The daemon the settings name (`server.docker_host`), else `$DOCKER_HOST` or the socket.
pub fn host_for(configured: &str) -> String {
    if configured.is_empty() {
        docker_host()
    } else {
        configured.to_string()
    }
}

/// Connects to `host` and negotiates the API version, within `timeout`.
pub async fn connect(host: &str, timeout: Duration) -> Result<Docker, Unreachable> {
    let unreachable = |reason: String| Unreachable {
        host: host.to_string(),
        reason,
    };
    let docker = client(host)?;
    match tokio::time::timeout(timeout, docker.negotiate_version()).await {
        Ok(Ok(docker)) => Ok(docker),
        Ok(Err(e)) => Err(unreachable(e.to_string())),
        Err(_) => Err(unreachable(format!("no answer within {timeout:?}"))),
    }
}

/// A client for `host` (`unix://…` or `tcp://…`/`http://…`). Nothing is sent yet; the
/// first call negotiates the version. Streaming calls (logs, wait) are not cut by the
/// request timeout, which only covers the response headers. Fails while a unix socket does
/// not exist (bollard checks for it), which callers treat as "daemon not reachable".
pub fn client(host: &str) -> Result<Docker, Unreachable> {
    const TIMEOUT_S: u64 = 30;
    let built = if let Some(path) = host.strip_prefix("unix://") {
        Docker::connect_with_unix(path, TIMEOUT_S, bollard::API_DEFAULT_VERSION)
    } else if host.starts_with("tcp://") || host.starts_with("http://") {
        Docker::connect_with_http(
            &host.replacen("tcp://", "http://", 1),
            TIMEOUT_S,
            bollard::API_DEFAULT_VERSION,
        )
    } else {
        Docker::connect_with_unix(host, TIMEOUT_S, bollard::API_DEFAULT_VERSION)
    };
    built.map_err(|e| Unreachable {
        host: host.to_string(),
        reason: e.to_string(),
    })
}
