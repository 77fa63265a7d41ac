//! The plain data a frame is drawn from: borrowed snapshots of the controller, the
//! monitors and the log ring. Tests build one by hand; nothing here does I/O.

use std::collections::VecDeque;

use crate::monitor::{GpuState, History, SystemSnapshot};
use crate::server::ServerState;
use crate::server::load_facts::LoadFacts;
use crate::server::logs::LogLine;
use crate::server::profiles_store::ProfilesView;

/// Whether the management API is serving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiStatus {
    /// Serving at this URL.
    Serving(String),
    /// Turned off in the settings.
    Disabled,
    /// It could not start (e.g. the port is in use); the workspace runs on without it.
    Failed(String),
}

pub struct View<'a> {
    pub server: &'a ServerState,
    pub profiles: &'a ProfilesView,
    pub gpu: &'a GpuState,
    pub system: &'a SystemSnapshot,
    pub history: &'a History,
    /// What the server's log said about the load (buffers, graph splits, speed).
    pub facts: &'a LoadFacts,
    pub logs: &'a VecDeque<LogLine>,
    /// The ring's next seq (lines arrived since a pause are counted from it).
    pub log_next_seq: u64,
    /// Passed in, never read from a clock, so a frame is a function of its inputs.
    pub now_ms: u64,
    pub server_url: &'a str,
    pub api: &'a ApiStatus,
}
