//! What every handler reads: the handles to the controller and the monitors, and the
//! limits one request and one connection may cost.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::monitor::MonitorHandle;
use crate::server::ControllerHandle;

/// What every handler reads.
pub struct AppState {
    pub ctl: ControllerHandle,
    pub monitor: Option<MonitorHandle>,
    pub limits: Limits,
    /// Cancelled when the API shuts down: streams end and waiting switches answer 503.
    pub shutdown: CancellationToken,
    /// llama-server's address, for `/status`.
    pub server_url: String,
    /// The open long-lived streams, in all and per client.
    pub streams: super::streams::Streams,
    /// The router on the inference port, when it runs.
    pub router: Option<crate::router::RouterHandle>,
}

/// What one request and one connection may cost. The defaults suit every real client; tests
/// shrink the timeouts.
#[derive(Debug, Clone)]
pub struct Limits {
    /// A larger body gets 413.
    pub max_body_bytes: usize,
    /// A body that has not fully arrived by then gets 408.
    pub body_read_timeout: Duration,
    /// A connection that has not sent a request's headers by then is closed (idle
    /// keep-alive connections included).
    pub header_read_timeout: Duration,
    /// More headers, or larger ones, get 431.
    pub max_headers: usize,
    pub max_header_bytes: usize,
    /// Connections at once that wait for or carry a short request; more wait in the
    /// kernel's backlog. A connection that becomes a stream gives its slot back.
    pub max_connections: usize,
    /// Long-lived streams (`/events`, `/logs/stream`, `/monitor/stream`) open at once, in all and per client
    /// address; one over either gets 503 at once.
    pub max_streams: usize,
    pub max_streams_per_client: usize,
    /// How long a shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
}

impl Limits {
    /// The defaults with the stream caps `[api]` sets.
    pub fn for_settings(api: &crate::config::settings::ApiSettings) -> Self {
        Self {
            max_streams: api.max_streams,
            max_streams_per_client: api.max_streams_per_client,
            ..Self::default()
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            body_read_timeout: Duration::from_secs(10),
            // Short: a real client sends its headers at once, and a slow one holds a slot.
            header_read_timeout: Duration::from_secs(3),
            max_headers: 64,
            max_header_bytes: 16 * 1024,
            max_connections: 1024,
            max_streams: 256,
            max_streams_per_client: 128,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}
