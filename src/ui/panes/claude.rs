//! The claude slot: the one type the rest of the UI talks to for the main pane. Live, it
//! is the pty module's [`TerminalPane`] running the claude pane's command; in tests it is
//! the same terminal emulator fed with recorded bytes; and when the command cannot start,
//! it says why in the pane instead of taking the workspace down.

use crossterm::event::{KeyEvent, MouseEvent};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;

use crate::claude::{SandboxGuard, claude_pane_command};
use crate::config::Settings;
use std::sync::{Mutex, MutexGuard};

use crate::pty::history::History;
use crate::pty::overlay::{self, Overlays};
use crate::pty::term::{Outbound, Term, TermColors};
use crate::pty::{TerminalPane, Waker};
use crate::ui::action::Scroll;
use crate::ui::widgets::text::wrap;

/// Why the claude pane's program could not be restarted.
#[derive(Debug, thiserror::Error)]
pub enum RestartError {
    #[error("the claude pane has no program to restart")]
    NoProgram,
    #[error("{0:#}")]
    Spawn(anyhow::Error),
}

pub enum ClaudePane {
    /// The program on its PTY, and what must live as long as it (a sandbox's bridge).
    Live {
        pane: Box<TerminalPane>,
        _guard: SandboxGuard,
    },
    /// A screen fed with bytes, for snapshots (behind a lock, as a live pane's is, so
    /// copy mode reads it the same way).
    Replay(Box<Mutex<Term>>),
    /// The command could not start.
    Failed(String),
}

impl ClaudePane {
    /// Starts the claude pane's command (`[claude] command`, sandboxed per settings),
    /// answering colour queries with `colors` (the theme's [`pane_colors`]).
    ///
    /// [`pane_colors`]: crate::config::theme::Theme::pane_colors
    pub fn spawn(
        settings: &Settings,
        rows: u16,
        cols: u16,
        colors: TermColors,
        waker: Waker,
    ) -> ClaudePane {
        let started = claude_pane_command(settings).and_then(|cmd| {
            let scrollback = settings.claude.scrollback;
            let pane =
                TerminalPane::spawn_with_colors(cmd.spec, rows, cols, scrollback, colors, waker)?;
            Ok((pane, cmd.guard))
        });
        match started {
            Ok((pane, guard)) => ClaudePane::Live {
                pane: Box::new(pane),
                _guard: guard,
            },
            Err(e) => ClaudePane::Failed(format!("the claude pane could not start: {e:#}")),
        }
    }

    /// A screen of `rows` × `cols` that has been sent `bytes`.
    pub fn replay(rows: u16, cols: u16, bytes: &[u8]) -> ClaudePane {
        let mut term = Term::new(rows, cols, 1000);
        term.process(bytes);
        ClaudePane::Replay(Box::new(Mutex::new(term)))
    }

    /// A replayed screen's emulator (for tests that feed it more or read its answers).
    pub fn replay_term(&self) -> Option<MutexGuard<'_, Term>> {
        match self {
            ClaudePane::Replay(term) => Some(term.lock().unwrap_or_else(|e| e.into_inner())),
            _ => None,
        }
    }

    /// Runs `f` on the pane's lines (copy mode); `None` when there is no screen.
    pub fn history<R>(&self, f: impl FnOnce(&mut History<'_>) -> R) -> Option<R> {
        match self {
            ClaudePane::Live { pane, .. } => Some(pane.with_history(f)),
            ClaudePane::Replay(_) => self.replay_term().map(|mut t| f(&mut History::new(&mut t))),
            ClaudePane::Failed(_) => None,
        }
    }

    pub fn handle_key(&mut self, key: &KeyEvent) {
        if let ClaudePane::Live { pane, .. } = self {
            pane.handle_key(key);
        }
    }

    pub fn write_bytes(&mut self, bytes: &[u8]) {
        if let ClaudePane::Live { pane, .. } = self {
            pane.write_bytes(bytes);
        }
    }

    pub fn paste(&mut self, text: &str) {
        if let ClaudePane::Live { pane, .. } = self {
            pane.paste(text);
        }
    }

    /// Returns whether the pane used the event (forwarded or scrolled).
    pub fn handle_mouse(&mut self, ev: &MouseEvent, inner: Rect) -> bool {
        match self {
            ClaudePane::Live { pane, .. } => pane.handle_mouse(ev, inner),
            _ => false,
        }
    }

    /// Positive scrolls back into the scrollback.
    pub fn scroll_lines(&mut self, delta: i32) {
        match self {
            ClaudePane::Live { pane, .. } => pane.scroll_lines(delta),
            ClaudePane::Replay(_) => self
                .replay_term()
                .into_iter()
                .for_each(|mut t| t.scroll_by(delta)),
            ClaudePane::Failed(_) => {}
        }
    }

    /// Moves the view of the scrollback.
    pub fn scroll(&mut self, scroll: Scroll) {
        let delta = match scroll {
            Scroll::Lines(n) => n,
            // The screen clamps a scroll to the history it keeps.
            Scroll::Top => i32::MAX,
            Scroll::Bottom => -i32::try_from(self.scrollback_offset()).unwrap_or(i32::MAX),
        };
        self.scroll_lines(delta);
    }

    pub fn scrollback_offset(&self) -> usize {
        match self {
            ClaudePane::Live { pane, .. } => pane.scrollback_offset(),
            ClaudePane::Replay(_) => self.replay_term().map_or(0, |t| t.scrollback()),
            ClaudePane::Failed(_) => 0,
        }
    }

    /// Brings the pane in line with the frame about to be drawn (the event loop calls it
    /// after [`App::prepare_frame`] and before drawing): its screen and PTY take the size
    /// of `inner`, the program hears of a focus change, and a program asking for the
    /// pane's colours (OSC 10/11/12) gets `colors`, the theme's, which follow the theme
    /// key at once, also while the pane is hidden.
    ///
    /// [`App::prepare_frame`]: crate::ui::app::App::prepare_frame
    pub fn sync(&mut self, inner: Rect, focused: bool, colors: TermColors) {
        match self {
            ClaudePane::Live { pane, .. } => {
                pane.set_colors(colors);
                pane.sync(inner, focused);
            }
            ClaudePane::Replay(term) => {
                let term = term.get_mut().unwrap_or_else(|e| e.into_inner());
                term.set_colors(colors);
                if inner.width > 0 && inner.height > 0 && term.size() != (inner.height, inner.width)
                {
                    term.resize(inner.height, inner.width);
                }
            }
            ClaudePane::Failed(_) => {}
        }
    }

    /// Draws the pane into `area` with `banner` over its top line; changes nothing.
    pub fn draw(&self, area: Rect, buf: &mut Buffer, focused: bool, banner: Option<&str>) {
        match self {
            ClaudePane::Live { pane, .. } => pane.draw(area, buf, focused, banner),
            ClaudePane::Replay(_) => {
                if let Some(term) = self.replay_term() {
                    term.render(area, buf, false);
                }
                let overlays = Overlays {
                    banner,
                    ..Overlays::default()
                };
                overlay::draw(&overlays, area, buf);
            }
            ClaudePane::Failed(msg) => {
                let lines = wrap(msg, usize::from(area.width).max(10));
                for (i, l) in lines.iter().take(usize::from(area.height)).enumerate() {
                    buf.set_string(area.x, area.y + i as u16, l, Style::default());
                }
            }
        }
    }

    /// The title the program set, or "".
    pub fn title(&self) -> String {
        match self {
            ClaudePane::Live { pane, .. } => pane.title(),
            _ => String::new(),
        }
    }

    /// How the program ended, once it has.
    pub fn exit(&self) -> Option<String> {
        match self {
            ClaudePane::Live { pane, .. } => pane.exit_status().map(|e| e.to_string()),
            ClaudePane::Replay(_) => None,
            ClaudePane::Failed(msg) => Some(msg.clone()),
        }
    }

    pub fn restart(&mut self) -> Result<(), RestartError> {
        match self {
            ClaudePane::Live { pane, .. } => pane.restart().map_err(RestartError::Spawn),
            _ => Err(RestartError::NoProgram),
        }
    }

    pub fn set_exit_hint(&mut self, hint: String) {
        if let ClaudePane::Live { pane, .. } = self {
            pane.set_exit_hint(hint);
        }
    }

    /// What the program sent for the user's terminal since the last call (clipboard
    /// writes, bells, notifications), oldest first. Cheap when there is nothing.
    pub fn take_outbound(&mut self) -> Vec<Outbound> {
        match self {
            ClaudePane::Live { pane, .. } => pane.take_outbound(),
            ClaudePane::Replay(term) => term
                .get_mut()
                .unwrap_or_else(|e| e.into_inner())
                .take_outbound(),
            ClaudePane::Failed(_) => Vec::new(),
        }
    }

    pub fn take_dirty(&self) -> bool {
        match self {
            ClaudePane::Live { pane, .. } => pane.take_dirty(),
            _ => false,
        }
    }

    pub fn pid(&self) -> Option<u32> {
        match self {
            ClaudePane::Live { pane, .. } => pane.pid(),
            _ => None,
        }
    }
}
