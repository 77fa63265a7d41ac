//! The router's part of `GET /status`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouterStatus {
    pub enabled: bool,
    /// Where clients send requests.
    pub url: String,
    /// Where the router sends them (llama-server's own address).
    pub upstream: String,
    pub follow_model: bool,
    /// Requests waiting for a load or switch.
    pub queued: usize,
    pub in_flight: usize,
    /// When the last request arrived or ended (ms since the Unix epoch).
    pub last_request_ms: Option<u64>,
    /// When the server is stopped for idleness if nothing comes (`[router] idle_unload_s`).
    pub unload_at_ms: Option<u64>,
    /// The profile stopped for idleness, which the next request loads again.
    pub unloaded_idle: Option<String>,
}
