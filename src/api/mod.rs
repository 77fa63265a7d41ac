//! The management API (axum) on 127.0.0.1:8081 by default, and the types its clients share.
//!
//! The original's four routes keep their shapes (`/models`, `/status`, `/switch`, and the
//! errors); the rest is new: `/start`, `/stop`, `/events`, `/logs/stream` and
//! `/monitor/stream` (SSE), `/logs`, `/monitor`, `/metrics`, `/health` and `/openapi.json`.
//! docs/api.md describes each with examples.
//!
//! ```text
//! TCP ─► listener (hyper http1: header timeout, header limits, a connection cap for
//!          short requests; a stream gives its slot back and counts against the stream caps)
//!          └─► CatchPanic ─► guard (Host, Origin/Sec-Fetch-Site, bearer token) ─► router
//!                                                   handlers ─► ControllerHandle (watch,
//!                                                   broadcast, commands), MonitorHandle
//! ```

mod auth;
mod body;
pub mod client;
mod errors;
mod handlers;
mod listener;
mod metrics;
mod monitor;
pub mod openapi;
mod query;
pub mod remote;
mod router;
mod sse;
mod state;
mod streams;
pub mod types;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use router::routes;
pub use state::Limits;

use crate::config::settings::ApiSettings;
use crate::monitor::MonitorHandle;
use crate::server::ControllerHandle;

/// Why the API did not start. The message says what to change.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("the management API is off ([api] enabled = false in llws.toml)")]
    Disabled,
    #[error("{0}")]
    InvalidBind(String),
    #[error(
        "the management API will not listen on {bind} without a token: that address is reachable from the network, and anyone there could switch your models; set [api] token in llws.toml to a long random string, or bind to 127.0.0.1"
    )]
    TokenRequired { bind: String },
    #[error(
        "the management API could not bind {bind}: address in use (another llws?); set [api] bind in llws.toml to a free address such as 127.0.0.1:{next}, or stop the program that holds it"
    )]
    AddressInUse { bind: String, next: u16 },
    #[error("the management API could not bind {bind}: {reason}; set [api] bind in llws.toml")]
    Bind { bind: String, reason: String },
}

/// The running API. Dropping it stops it too, without waiting.
pub struct ApiServer {
    local_addr: SocketAddr,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl ApiServer {
    /// Where it listens (the real port when the bind asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The URL a client on this machine uses.
    pub fn url(&self) -> String {
        let ip = match self.local_addr.ip() {
            ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_string(),
            ip if ip.is_unspecified() => "[::1]".to_string(),
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
            ip => ip.to_string(),
        };
        format!("http://{ip}:{}", self.local_addr.port())
    }

    /// Stops accepting, lets requests in flight finish (streams end, waiting switches
    /// answer 503; the switches themselves go on), and returns when all is closed.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Serves the API for `handle` on `settings.bind`. Refuses a non-loopback bind without a
/// token; a bind failure is an error value (the workspace goes on without the API).
/// `monitor` adds GPU and system figures to `/metrics`. Call inside a tokio runtime.
pub async fn serve(
    handle: ControllerHandle,
    monitor: Option<MonitorHandle>,
    settings: &ApiSettings,
) -> Result<ApiServer, ApiError> {
    serve_with(handle, monitor, settings, Limits::for_settings(settings)).await
}

/// [`serve`] with other limits.
pub async fn serve_with(
    handle: ControllerHandle,
    monitor: Option<MonitorHandle>,
    settings: &ApiSettings,
    limits: Limits,
) -> Result<ApiServer, ApiError> {
    serve_routed(handle, monitor, None, settings, limits).await
}

/// [`serve_with`] for an llws whose router runs: `/status` gains its `router` object, and
/// `/activity`, `/activity/stream` and `/metrics` its requests.
pub async fn serve_routed(
    handle: ControllerHandle,
    monitor: Option<MonitorHandle>,
    router: Option<crate::router::RouterHandle>,
    settings: &ApiSettings,
    limits: Limits,
) -> Result<ApiServer, ApiError> {
    if !settings.enabled {
        return Err(ApiError::Disabled);
    }
    let bind = settings.socket_addr().map_err(ApiError::InvalidBind)?;
    // The settings check refuses this too; the API must not rely on having been checked.
    if !bind.ip().is_loopback() && settings.token.is_empty() {
        return Err(ApiError::TokenRequired {
            bind: settings.bind.clone(),
        });
    }
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AddrInUse => ApiError::AddressInUse {
                bind: settings.bind.clone(),
                next: bind.port().wrapping_add(1).max(1),
            },
            _ => ApiError::Bind {
                bind: settings.bind.clone(),
                reason: e.to_string(),
            },
        })?;
    let local_addr = listener.local_addr().map_err(|e| ApiError::Bind {
        bind: settings.bind.clone(),
        reason: e.to_string(),
    })?;
    listener::raise_open_files_limit();
    let shutdown = CancellationToken::new();
    let state = Arc::new(state::AppState {
        server_url: handle.settings().server.base_url(),
        ctl: handle,
        monitor,
        limits: limits.clone(),
        shutdown: shutdown.clone(),
        streams: streams::Streams::new(limits.max_streams, limits.max_streams_per_client),
        router,
    });
    let guard = Arc::new(auth::Guard::new(local_addr, &settings.token));
    let owner = state.ctl.clone();
    let app = router::router(state, guard);
    let task = listener::spawn(listener, app, limits, shutdown.clone());
    let server = ApiServer {
        local_addr,
        shutdown,
        task: Some(task),
    };
    // Another llws (and the CLI) finds this one's API through the owner record.
    owner.record_api(Some(server.url()));
    Ok(server)
}
