//! The router: llws's reverse proxy on the inference port (`[server] host:port`), with
//! llama-server behind it on a loopback port of llws's choosing (server/upstream.rs).
//! Clients keep one address while llws stops, starts and switches the server behind it.
//!
//! ```text
//! TCP ─► listener (hyper http1) ─► service: guard (Host, Origin, key) ─► own routes
//!        (/health, /v1/models) ─► body read whole ─► follow (model → profile)
//!        ─► gate: wait for a running server (queue, deadline), hold while a request-driven
//!           switch drains, cancel in flight on a user's switch
//!        ─► proxy: hyper-util's pooled client to the upstream address (a watch), the
//!           answer streamed back frame by frame (SSE unbuffered), recorded in activity
//! ```
//!
//! docs/router.md has the behaviour from the user's side.

pub mod activity;
pub mod errors;
mod follow;
mod gate;
pub mod guard;
mod idle;
mod listener;
mod models;
mod proxy;
mod service;
pub mod status;
mod stream_tokens;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::server::ControllerHandle;

pub use status::RouterStatus;

/// Any error a body may end with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body of every answer the router gives.
pub type Body = BoxBody<Bytes, BoxError>;

/// A whole body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// Why the router did not start. The message says what to change.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RouterError {
    #[error(
        "the router could not listen on {addr}: {reason}; stop the program that holds it, set [server] port in llws.toml to a free one, or set [router] enabled = false"
    )]
    Bind { addr: String, reason: String },
    #[error("[server] host `{0}` is not an address llws can listen on; use 127.0.0.1")]
    BadHost(String),
    #[error("[server] api_key: {0}")]
    Key(String),
}

/// The running router. Dropping it stops it too, without waiting.
pub struct RouterServer {
    local_addr: SocketAddr,
    handle: RouterHandle,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl RouterServer {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// What the rest of llws reads (status, activity).
    pub fn handle(&self) -> RouterHandle {
        self.handle.clone()
    }

    /// Stops accepting; requests in flight get a short grace.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RouterServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A cheap handle on the router's shared state, for `/status`, `/activity` and the UI.
#[derive(Clone)]
pub struct RouterHandle {
    shared: Arc<gate::Shared>,
}

impl RouterHandle {
    pub fn status(&self) -> RouterStatus {
        self.shared.status()
    }

    pub fn activity(&self) -> &Arc<activity::Activity> {
        &self.shared.activity
    }

    /// Where requests go next (`host:port`), under its own name.
    pub fn set_upstream(&self, authority: String) {
        self.set_upstream_to(Upstream {
            authority,
            host: None,
        });
    }

    /// Where requests go next; with `host`, under that `Host` (a remote's inference port
    /// through an SSH tunnel knows itself by its own address, not the tunnel's).
    pub fn set_upstream_to(&self, upstream: Upstream) {
        self.shared.upstream.send_if_modified(|now| {
            let changed = *now != upstream;
            *now = upstream;
            changed
        });
    }
}

/// Where the router forwards: an address, and the `Host` it is known by when that is not
/// the address itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// `host:port` to connect to.
    pub authority: String,
    /// The `Host` header to send instead of `authority`.
    pub host: Option<String>,
}

/// Starts the router for `ctl` on `settings.server` (the public settings; the controller
/// runs with the upstream ones). Must run inside a tokio runtime.
pub async fn serve(
    ctl: ControllerHandle,
    settings: Arc<Settings>,
) -> Result<RouterServer, RouterError> {
    let host = settings.server.host.trim_matches(['[', ']']);
    let ip: std::net::IpAddr = match host {
        "" => std::net::Ipv4Addr::UNSPECIFIED.into(),
        "localhost" => std::net::Ipv4Addr::LOCALHOST.into(),
        h => h
            .parse()
            .map_err(|_| RouterError::BadHost(settings.server.host.clone()))?,
    };
    let addr = SocketAddr::new(ip, settings.server.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| RouterError::Bind {
            addr: addr.to_string(),
            reason: e.to_string(),
        })?;
    let local_addr = listener.local_addr().map_err(|e| RouterError::Bind {
        addr: addr.to_string(),
        reason: e.to_string(),
    })?;
    let key = crate::util::api_key::resolve(&settings.server.api_key).map_err(RouterError::Key)?;
    let guard = guard::Guard::new(local_addr, &settings.router.cors_origins, key.as_deref());
    let upstream_authority = ctl
        .settings()
        .server
        .base_url()
        .trim_start_matches("http://")
        .to_string();
    let (upstream, _) = watch::channel(Upstream {
        authority: upstream_authority,
        host: None,
    });
    let shutdown = CancellationToken::new();
    let shared = Arc::new(gate::Shared::new(ctl, settings, upstream, guard));
    tokio::spawn(gate::watch_switches(shared.clone(), shutdown.clone()));
    tokio::spawn(idle::run(shared.clone(), shutdown.clone()));
    let task = listener::spawn(listener, shared.clone(), shutdown.clone());
    Ok(RouterServer {
        local_addr,
        handle: RouterHandle { shared },
        shutdown,
        task: Some(task),
    })
}
