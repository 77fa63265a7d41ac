//! The claude pane's machinery: a program on a pseudo-terminal shown in a ratatui area
//! ([`pane::TerminalPane`]), the key and mouse encoders it uses, the claude-local launcher
//! ([`claude_local`]) and the bubblewrap sandbox around it ([`sandbox`]).
//!
//! For the UI: build the command with [`claude_pane_command`] (keep its guard as long as the
//! pane), spawn a [`TerminalPane`] with a waker that wakes the UI loop, forward keys, pastes
//! and mouse events while the pane has focus, and call [`TerminalPane::render`] each frame.

pub mod claude_local;
pub mod command;
pub mod contain;
pub mod fullscreen;
pub mod health;
pub mod keys;
pub mod mouse;
pub mod overlay;
pub mod pane;
pub mod prompt;
pub mod relay;
pub mod sandbox;
pub mod setup;
pub mod term;

pub use command::{PaneCommand, SandboxGuard, claude_pane_command, pane_command};
pub use keys::{TermModes, encode_key, encode_paste};
pub use mouse::encode_mouse;
pub use pane::{CommandSpec, ExitInfo, TerminalPane, Waker};
