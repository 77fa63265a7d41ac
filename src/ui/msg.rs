//! Everything that changes the workspace's state arrives as a [`Msg`], and only
//! [`crate::ui::app::App::update`] reads them: terminal input, the controller's state and
//! its answers to the UI's commands, what was read off the render path, the claude pane's
//! bells, timers and signals. The event loop turns each source into a message; nothing
//! else calls into the app.

use std::collections::HashMap;

use crossterm::event::Event;

use crate::server::{ControlError, Outcome, ServerState};
use crate::ui::action::Request;
use crate::ui::panes::claude::RestartError;
use crate::ui::picker::ModelFacts;

#[derive(Debug)]
pub enum Msg {
    /// The workspace has opened; `profile` is the one named on the command line.
    Start { profile: Option<String> },
    /// A key, mouse event or paste from the terminal.
    Input(Event),
    /// The controller published a new state.
    // Boxed: a state is a few hundred bytes, the other messages a few words.
    ServerState(Box<ServerState>),
    /// The controller's answer to a request the UI sent (see [`Reply`]).
    Controller(Request, Reply),
    /// The picker's per-profile facts, read from the model files off the loop.
    ModelFacts(ModelFacts),
    /// Each profile's last load time, from the controller's timings.
    LoadTimes(HashMap<String, u64>),
    /// A bell or notification from the claude pane's program (its text, or "bell").
    ClaudeAttention(String),
    /// A sandboxed pane wrote to the clipboard (or tried to): the note for the status bar.
    ClaudeClipboard(String),
    /// How restarting the claude pane's program went.
    ClaudeRestarted(Result<(), RestartError>),
    /// A sample of the remote the log, GPU and system panes show arrived here at this
    /// time (ms since the epoch); `None`: none since it was shown.
    HostHeard(Option<u64>),
    /// A timer the app asked for ([`crate::ui::app::App::next_timer`]) is due.
    Tick,
    /// A signal came or the terminal went away: leave as a confirmed quit does.
    Leave,
}

/// An answer from the controller. A request is refused at once or accepted; an accepted
/// switch, restart or stop ends later with its outcome.
#[derive(Debug)]
pub enum Reply {
    Accepted,
    Refused(ControlError),
    Done(Result<Outcome, ControlError>),
    /// The health wait now gives up at this time (ms since the epoch).
    WaitsUntil(u64),
}

impl Msg {
    /// What the debug log says of a message: its kind, and nothing a user typed.
    pub fn describe(&self) -> String {
        match self {
            Msg::Start { profile } => format!("start (profile {profile:?})"),
            Msg::Input(crossterm::event::Event::Key(_)) => "key".into(),
            Msg::Input(crossterm::event::Event::Paste(_)) => "paste".into(),
            Msg::Input(_) => "mouse or focus".into(),
            Msg::ServerState(s) => format!("server state {}: {}", s.phase.as_str(), s.message),
            Msg::Controller(request, reply) => format!("controller: {request:?} -> {reply:?}"),
            Msg::ModelFacts(f) => format!("model facts for {} profiles", f.sizes.len()),
            Msg::LoadTimes(t) => format!("load times for {} profiles", t.len()),
            Msg::ClaudeAttention(what) => format!("claude pane: {what}"),
            Msg::ClaudeClipboard(note) => format!("claude pane: {note}"),
            Msg::ClaudeRestarted(r) => format!("claude pane restarted: {r:?}"),
            Msg::HostHeard(at) => format!("remote sample at {at:?}"),
            Msg::Tick => "tick".into(),
            Msg::Leave => "leave".into(),
        }
    }
}
