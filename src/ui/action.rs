//! What the UI asks the outside world to do. [`crate::ui::app::App::update`] only changes
//! its own state and returns these; the [`crate::ui::runner::Runner`] carries them out
//! against the controller and the claude pane, and whatever they answer comes back to
//! `update` as a [`crate::ui::msg::Msg`]. So the app's logic runs in tests without either.

use crossterm::event::{KeyEvent, MouseEvent};
use ratatui::layout::Rect;

/// How far to move the claude pane's view of its scrollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scroll {
    /// Lines back into the history (positive) or towards the live screen (negative).
    Lines(i32),
    /// The oldest line kept.
    Top,
    /// The live screen.
    Bottom,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// A key for the program in the claude pane.
    ClaudeKey(KeyEvent),
    ClaudePaste(String),
    ClaudeScroll(Scroll),
    /// A mouse event over the claude pane, with the pane's inner area.
    ClaudeMouse(MouseEvent, Rect),
    RestartClaude,
    /// A command for the controller; its answer comes back as [`crate::ui::msg::Msg::Controller`].
    Control(Request),
    /// Read the models' sizes for the picker, off the render path.
    LoadModelSizes,
    /// Put this text on the user's clipboard (OSC 52 to the terminal). A copy the user
    /// asked llws for with a key, so `[claude] passthrough` does not hold it back.
    Copy(String),
}

/// What the UI asks of the controller: the same commands, the same checks and the same
/// refusals as `POST /switch` and the CLI, since they all go through its handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Switch(String),
    RestartServer,
    StopServer,
    /// Push the health timeout of the load in flight back ("continue anyway").
    KeepWaiting,
    /// Replace or adopt the server llws did not start that blocked a start (item 17).
    ResolveForeign(crate::server::foreign::ForeignAction),
}
