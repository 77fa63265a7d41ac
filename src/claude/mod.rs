//! What runs in the claude pane and in `llws claude`: claude-local (Claude Code pointed at
//! the local server, [`local`]), the command line that starts it ([`command`]), the
//! bubblewrap sandbox around it ([`sandbox`]), the relay that gives a sandboxed
//! `llws claude` a terminal of its own ([`relay`]), and the config-dir setup ([`setup`]).
//!
//! For the UI: build the command with [`claude_pane_command`] (keep its guard as long as the
//! pane) and run it in a [`crate::pty::TerminalPane`].

pub mod command;
pub mod config_watch;
pub mod health;
pub mod local;
pub mod prompt;
pub mod relay;
pub mod sandbox;
pub mod setup;

pub use command::{PaneCommand, SandboxGuard, claude_pane_command, pane_command};
