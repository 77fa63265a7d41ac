//! The terminal: raw mode, the alternate screen, mouse and paste reporting on the way in,
//! and all of it undone on the way out, whether llws ends normally, on a signal, or by a
//! panic (the hook restores the terminal before the message is printed).

use std::io::{self, Stdout, Write};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    KeyboardEnhancementFlags, PopKeyboardEnhancementFlags, PushKeyboardEnhancementFlags,
};
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use crossterm::{cursor, execute};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

/// Whether the terminal is in llws's state and needs restoring.
static ACTIVE: AtomicBool = AtomicBool::new(false);
static ENHANCED: AtomicBool = AtomicBool::new(false);
static MOUSE: AtomicBool = AtomicBool::new(false);

pub type Term = Terminal<CrosstermBackend<Stdout>>;

pub struct Tty {
    pub terminal: Term,
}

/// Installs the restoring panic hook once. It must come before the claude pane's panic
/// filter (the filter passes real panics on to the hook it found).
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

impl Tty {
    pub fn enter(mouse: bool) -> io::Result<Tty> {
        install_panic_hook();
        // Half-entered is the worst state to leave a terminal in: undo on any error.
        Self::setup(mouse).inspect_err(|_| restore())
    }

    fn setup(mouse: bool) -> io::Result<Tty> {
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        let mut out = io::stdout();
        execute!(
            out,
            EnterAlternateScreen,
            EnableBracketedPaste,
            cursor::Hide
        )?;
        if mouse {
            execute!(out, EnableMouseCapture)?;
            MOUSE.store(true, Ordering::SeqCst);
        }
        // With the kitty keyboard protocol the terminal reports Shift+Enter and Ctrl+\
        // as themselves, so they reach Claude Code as typed; terminals without it are
        // left in their legacy mode.
        if crossterm::terminal::supports_keyboard_enhancement().unwrap_or(false) {
            execute!(
                out,
                PushKeyboardEnhancementFlags(KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES)
            )?;
            ENHANCED.store(true, Ordering::SeqCst);
        }
        let terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
        Ok(Tty { terminal })
    }
}

/// Puts the terminal back; safe to call more than once and from the panic hook.
pub fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    let mut out = io::stdout();
    if ENHANCED.swap(false, Ordering::SeqCst) {
        let _ = execute!(out, PopKeyboardEnhancementFlags);
    }
    if MOUSE.swap(false, Ordering::SeqCst) {
        let _ = execute!(out, DisableMouseCapture);
    }
    let _ = execute!(
        out,
        DisableBracketedPaste,
        LeaveAlternateScreen,
        cursor::Show
    );
    let _ = disable_raw_mode();
    let _ = out.flush();
}

impl Drop for Tty {
    fn drop(&mut self) {
        restore();
    }
}
