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

/// Connects and negotiates the API version, within `timeout`.
pub async fn connect(timeout: Duration) -> Result<Docker, Unreachable> {
    let host = docker_host();
    let unreachable = |reason: String| Unreachable {
        host: host.clone(),
        reason,
    };
    let docker = Docker::connect_with_defaults().map_err(|e| unreachable(e.to_string()))?;
    match tokio::time::timeout(timeout, docker.negotiate_version()).await {
        Ok(Ok(docker)) => Ok(docker),
        Ok(Err(e)) => Err(unreachable(e.to_string())),
        Err(_) => Err(unreachable(format!("no answer within {timeout:?}"))),
    }
}
