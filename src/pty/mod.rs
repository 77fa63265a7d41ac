//! A terminal in a pane: a program on a pseudo-terminal shown in a ratatui area
//! ([`pane::TerminalPane`]), the emulator behind it ([`term`]), and the key and mouse
//! encoders it uses. What runs in the pane (claude-local, the sandbox) is `crate::claude`.
//!
//! For the UI: spawn a [`TerminalPane`] with a waker that wakes the UI loop, forward keys,
//! pastes and mouse events while the pane has focus, and call [`TerminalPane::render`] each
//! frame.

pub mod contain;
pub mod fullscreen;
pub mod history;
pub mod keys;
pub mod mouse;
pub mod overlay;
pub mod pane;
pub mod term;

pub use keys::{TermModes, encode_key, encode_paste};
pub use mouse::encode_mouse;
pub use pane::{CommandSpec, ExitInfo, TerminalPane, Waker};
