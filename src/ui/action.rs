//! What the UI asks the outside world to do. [`crate::ui::app::App`] only changes its own
//! state and returns these; the event loop carries them out against the controller and
//! the claude pane, so the app's logic runs in tests without either.

use crossterm::event::{KeyEvent, MouseEvent};
use ratatui::layout::Rect;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// A key for the program in the claude pane.
    ClaudeKey(KeyEvent),
    ClaudePaste(String),
    /// Positive scrolls back into the claude pane's scrollback; `i32::MIN` is the bottom.
    ClaudeScroll(i32),
    /// A mouse event over the claude pane, with the pane's inner area.
    ClaudeMouse(MouseEvent, Rect),
    RestartClaude,
    /// Switch through the controller (refusals come back as a message in the picker).
    Switch(String),
    RestartServer,
    StopServer,
    /// Push the health timeout of the load in flight back ("continue anyway").
    KeepWaiting,
    /// Read the models' sizes for the picker, off the render path.
    LoadModelSizes,
    /// Put this text on the user's clipboard (OSC 52 to the terminal). A copy the user
    /// asked llws for with a key, so `[claude] passthrough` does not hold it back.
    Copy(String),
    /// Leave the workspace (confirmed, or a signal).
    Quit,
}
