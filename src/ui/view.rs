//! The plain data a frame is drawn from: borrowed snapshots of the controller, the
//! monitors and the log ring. Tests build one by hand; nothing here does I/O.

use std::collections::VecDeque;

use crate::monitor::{GpuState, History, SystemSnapshot};
use crate::server::ServerState;
use crate::server::load_facts::LoadFacts;
use crate::server::logs::{LogLine, LogRing};
use crate::server::profiles_store::ProfilesView;
use crate::ui::panes::claude::ClaudePane;
use crate::ui::router_feed::RouterView;

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
    /// The claude pane, for copy mode to read its lines (while a message is handled; a
    /// frame reads the pane it draws instead).
    pub claude: Option<&'a ClaudePane>,
    /// The router's activity and figures (none in direct mode or as a client of another
    /// llws: nothing of it is shown then).
    pub router: Option<&'a RouterView>,
}

/// What a [`View`] is built from: the snapshots, and the log ring it locks while a view
/// lives. The event loop fills it from the controller's and the monitors' watches, tests
/// from hand-made states; [`Sources::with_view`] is the one place a view is put together.
pub struct Sources<'a> {
    pub server: &'a ServerState,
    pub profiles: &'a ProfilesView,
    pub gpu: &'a GpuState,
    pub system: &'a SystemSnapshot,
    pub history: &'a History,
    pub facts: &'a LoadFacts,
    pub logs: &'a LogRing,
    pub server_url: &'a str,
    pub api: &'a ApiStatus,
    pub claude: Option<&'a ClaudePane>,
    pub router: Option<&'a RouterView>,
}

impl Sources<'_> {
    /// Runs `f` on the view at `now_ms`. The log ring is locked only for `f`, which updates
    /// the app or draws into a buffer; the terminal write happens after.
    pub fn with_view<R>(&self, now_ms: u64, f: impl FnOnce(&View<'_>) -> R) -> R {
        self.logs.with_lines(|lines| {
            f(&View {
                server: self.server,
                profiles: self.profiles,
                gpu: self.gpu,
                system: self.system,
                history: self.history,
                facts: self.facts,
                logs: lines,
                log_next_seq: lines.back().map_or(0, |l| l.seq + 1),
                now_ms,
                server_url: self.server_url,
                api: self.api,
                claude: self.claude,
                router: self.router,
            })
        })
    }
}
