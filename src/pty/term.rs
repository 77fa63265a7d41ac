//! The emulated screen of one pane: a vt100 parser that survives its own panics, answers
//! the queries a real terminal answers, and remembers what vt100 itself does not track
//! (the window title, extended-key requests).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use tui_term::widget::{Cursor, PseudoTerminal};

use super::contain::contained;
use super::keys::TermModes;

/// vt100 0.16 panics on some operations at tiny sizes; the pane never goes below this.
pub const MIN_ROWS: u16 = 2;
pub const MIN_COLS: u16 = 10;

/// The line written into the pane after a contained parser panic.
pub const RESET_NOTE: &str = "[llws: terminal state reset after a parser error]";

/// What the program asked of its terminal besides drawing.
#[derive(Debug, Default)]
pub struct Events {
    title: String,
    /// Answers to queries (cursor position, device attributes), to write back to the PTY.
    replies: Vec<u8>,
    /// The kitty keyboard flags stack (`ESC [ > n u` pushes, `ESC [ < n u` pops).
    kitty_flags: Vec<u16>,
    /// xterm modifyOtherKeys level (`ESC [ > 4 ; n m`).
    modify_other_keys: u16,
    /// `ESC [ ? 1004 h`: the program wants `ESC [ I` / `ESC [ O` when focus changes.
    focus_reporting: bool,
}

impl vt100::Callbacks for Events {
    fn set_window_title(&mut self, _: &mut vt100::Screen, title: &[u8]) {
        self.title = String::from_utf8_lossy(title)
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
    }

    fn unhandled_csi(
        &mut self,
        screen: &mut vt100::Screen,
        i1: Option<u8>,
        _i2: Option<u8>,
        params: &[&[u16]],
        c: char,
    ) {
        let first = params.first().and_then(|p| p.first()).copied().unwrap_or(0);
        match (i1, c) {
            // DA1: claim a VT100 with advanced video, as tmux does. Programs send it after
            // other queries as a sentinel, so answering keeps their start-up fast.
            (None, 'c') if first == 0 => self.replies.extend_from_slice(b"\x1b[?1;2c"),
            // DSR: status and cursor position (1-based).
            (None, 'n') if first == 5 => self.replies.extend_from_slice(b"\x1b[0n"),
            (None | Some(b'?'), 'n') if first == 6 => {
                let (row, col) = screen.cursor_position();
                let q = if i1.is_some() { "?" } else { "" };
                self.replies
                    .extend_from_slice(format!("\x1b[{q}{};{}R", row + 1, col + 1).as_bytes());
            }
            (Some(b'>'), 'u') => self.kitty_flags.push(first),
            (Some(b'<'), 'u') => {
                let n = usize::from(first.max(1)).min(self.kitty_flags.len());
                self.kitty_flags.truncate(self.kitty_flags.len() - n);
            }
            (Some(b'='), 'u') => {
                let top = self.kitty_flags.last_mut();
                match top {
                    Some(t) => *t = first,
                    None => self.kitty_flags.push(first),
                }
            }
            (Some(b'>'), 'm') if first == 4 => {
                self.modify_other_keys =
                    params.get(1).and_then(|p| p.first()).copied().unwrap_or(0);
            }
            // vt100 hands over the whole DECSET/DECRST when one of its modes is unknown.
            (Some(b'?'), 'h' | 'l') if params.iter().any(|p| p.first() == Some(&1004)) => {
                self.focus_reporting = c == 'h';
            }
            _ => {}
        }
    }
}

/// A parser plus the recovery logic around it.
pub struct Term {
    parser: vt100::Parser<Events>,
    scrollback_len: usize,
    /// How many parser panics were contained (for tests and diagnostics).
    resets: u64,
}

impl Term {
    pub fn new(rows: u16, cols: u16, scrollback_len: usize) -> Self {
        let (rows, cols) = clamp_size(rows, cols);
        Self {
            parser: vt100::Parser::new_with_callbacks(
                rows,
                cols,
                scrollback_len,
                Events::default(),
            ),
            scrollback_len,
            resets: 0,
        }
    }

    /// Feeds program output. A panic inside vt100 is contained: the pane gets a fresh parser
    /// of the same size, seeded with what could be saved of the old screen, and a note.
    pub fn process(&mut self, bytes: &[u8]) {
        if contained(|| self.parser.process(bytes)).is_err() {
            self.reset_after_panic();
        }
    }

    fn reset_after_panic(&mut self) {
        self.resets += 1;
        let (rows, cols) = self.size();
        let old = std::mem::replace(
            &mut self.parser,
            vt100::Parser::new_with_callbacks(rows, cols, self.scrollback_len, Events::default()),
        );
        // The old screen may be inconsistent; saving it is best effort and guarded too.
        let saved = contained(|| old.screen().state_formatted()).ok();
        let mut old = old;
        self.parser.callbacks_mut().title = std::mem::take(&mut old.callbacks_mut().title);
        if let Some(bytes) = saved
            && contained(|| self.parser.process(&bytes)).is_err()
        {
            self.parser = vt100::Parser::new_with_callbacks(
                rows,
                cols,
                self.scrollback_len,
                Events::default(),
            );
        }
        let note = format!("\x1b[0m\r\n\x1b[7m{RESET_NOTE}\x1b[0m\r\n");
        // A fresh parser at a clamped size does not panic on plain text and CR LF.
        let _ = contained(|| self.parser.process(note.as_bytes()));
    }

    pub fn resets(&self) -> u64 {
        self.resets
    }

    pub fn size(&self) -> (u16, u16) {
        self.parser.screen().size()
    }

    /// Resizes the screen (clamped to the minimum). Returns the size actually set.
    pub fn resize(&mut self, rows: u16, cols: u16) -> (u16, u16) {
        let (rows, cols) = clamp_size(rows, cols);
        if self.size() != (rows, cols)
            && contained(|| self.parser.screen_mut().set_size(rows, cols)).is_err()
        {
            self.resets += 1;
            self.parser = vt100::Parser::new_with_callbacks(
                rows,
                cols,
                self.scrollback_len,
                Events::default(),
            );
        }
        (rows, cols)
    }

    pub fn screen(&self) -> &vt100::Screen {
        self.parser.screen()
    }

    /// Replies owed to the program since the last call.
    pub fn take_replies(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.parser.callbacks_mut().replies)
    }

    pub fn title(&self) -> &str {
        &self.parser.callbacks().title
    }

    pub fn modes(&self) -> TermModes {
        let s = self.parser.screen();
        let ev = self.parser.callbacks();
        TermModes {
            application_cursor: s.application_cursor(),
            bracketed_paste: s.bracketed_paste(),
            extended_keys: ev.kitty_flags.last().is_some_and(|&f| f != 0)
                || ev.modify_other_keys > 0,
        }
    }

    /// Whether the program asked for focus in/out reports.
    pub fn focus_reporting(&self) -> bool {
        self.parser.callbacks().focus_reporting
    }

    /// Lines scrolled back from the live screen (0 = live).
    pub fn scrollback(&self) -> usize {
        self.parser.screen().scrollback()
    }

    /// Scrolls the view: positive goes back in history. vt100 clamps to what it has.
    pub fn scroll_by(&mut self, delta: i32) {
        let now = self.scrollback() as i64;
        let target = (now + i64::from(delta)).max(0) as usize;
        let _ = contained(|| self.parser.screen_mut().set_scrollback(target));
    }

    pub fn scroll_to_bottom(&mut self) {
        if self.scrollback() != 0 {
            let _ = contained(|| self.parser.screen_mut().set_scrollback(0));
        }
    }

    /// The visible text, one line per row (for tests and copy).
    pub fn contents(&self) -> String {
        contained(|| self.parser.screen().contents()).unwrap_or_default()
    }

    /// Draws the screen into `area`. tui-term reads cells by index; it is guarded like the
    /// parser so a bad screen state degrades to an empty pane instead of a crash.
    pub fn render(&self, area: Rect, buf: &mut Buffer, show_cursor: bool) {
        let cursor = Cursor::default().visibility(show_cursor);
        let screen = self.parser.screen();
        if contained(|| {
            let widget = PseudoTerminal::new(screen).cursor(cursor);
            ratatui::widgets::Widget::render(widget, area, buf);
        })
        .is_err()
        {
            buf.set_string(
                area.x,
                area.y,
                "[llws: cannot draw this terminal state]",
                ratatui::style::Style::default(),
            );
        }
    }
}

pub fn clamp_size(rows: u16, cols: u16) -> (u16, u16) {
    (rows.max(MIN_ROWS), cols.max(MIN_COLS))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A wide character at the right edge, the pane narrowed by one column, then a write over
    /// it: vt100 0.16.2 unwraps a missing continuation cell (screen.rs:870) and panics.
    pub const PANIC_INPUT: (&str, &str) = ("\x1b[1;79H中", "\x1b[1;79Hx");

    #[test]
    fn the_crafted_input_really_panics_bare_vt100() {
        let r = contained(|| {
            let mut p = vt100::Parser::new(24, 80, 0);
            p.process(PANIC_INPUT.0.as_bytes());
            p.screen_mut().set_size(24, 79);
            p.process(PANIC_INPUT.1.as_bytes());
        });
        let msg = r.unwrap_err();
        assert!(msg.contains("vt100"), "{msg}");
    }

    #[test]
    fn a_parser_panic_is_contained_and_the_term_keeps_working() {
        let mut t = Term::new(24, 80, 100);
        t.process(b"before the panic\r\n");
        t.process(PANIC_INPUT.0.as_bytes());
        t.resize(24, 79);
        t.process(PANIC_INPUT.1.as_bytes());
        assert_eq!(t.resets(), 1);
        assert_eq!(t.size(), (24, 79));
        let text = t.contents();
        assert!(text.contains(RESET_NOTE), "{text}");
        assert!(
            text.contains("before the panic"),
            "the old screen is carried over: {text}"
        );
        t.process(b"after\r\n");
        assert!(t.contents().contains("after"));
    }

    #[test]
    fn sizes_are_clamped() {
        let mut t = Term::new(0, 0, 0);
        assert_eq!(t.size(), (MIN_ROWS, MIN_COLS));
        assert_eq!(t.resize(1, 3), (MIN_ROWS, MIN_COLS));
        assert_eq!(t.resize(5, 40), (5, 40));
    }

    #[test]
    fn queries_get_answers() {
        let mut t = Term::new(24, 80, 0);
        t.process(b"\x1b[3;5H\x1b[6n\x1b[c\x1b[5n\x1b[?6n");
        assert_eq!(t.take_replies(), b"\x1b[3;5R\x1b[?1;2c\x1b[0n\x1b[?3;5R");
        assert!(t.take_replies().is_empty());
    }

    #[test]
    fn title_and_extended_key_modes_are_tracked() {
        let mut t = Term::new(24, 80, 0);
        t.process(b"\x1b]0;my title\x07");
        assert_eq!(t.title(), "my title");
        assert!(!t.modes().extended_keys);
        t.process(b"\x1b[>1u");
        assert!(t.modes().extended_keys);
        t.process(b"\x1b[<u");
        assert!(!t.modes().extended_keys);
        t.process(b"\x1b[>4;2m");
        assert!(t.modes().extended_keys);
        t.process(b"\x1b[>4;0m");
        assert!(!t.modes().extended_keys);
        assert!(!t.focus_reporting());
        t.process(b"\x1b[?1004;2004h");
        assert!(t.focus_reporting());
        t.process(b"\x1b[?1004l");
        assert!(!t.focus_reporting());
        t.process(b"\x1b[?1h\x1b[?2004h");
        let m = t.modes();
        assert!(m.application_cursor && m.bracketed_paste);
    }
}
