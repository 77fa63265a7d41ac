//! The claude pane's machinery: a program on a pseudo-terminal shown in a ratatui area
//! ([`pane::TerminalPane`]), the key and mouse encoders it uses, the claude-local launcher
//! and the bubblewrap sandbox around it.

pub mod contain;
pub mod keys;
pub mod mouse;
pub mod overlay;
pub mod pane;
pub mod term;

pub use keys::{TermModes, encode_key, encode_paste};
pub use mouse::encode_mouse;
pub use pane::{CommandSpec, ExitInfo, TerminalPane, Waker};
