//! The emulated screen of one pane: a vt100 parser that survives its own panics, answers
//! the queries a real terminal answers, and remembers what vt100 itself does not track
//! (the window title, extended-key requests).
//!
//! Programs probe their terminal at start-up (Claude Code's Ink, neovim, shells with fancy
//! prompts) and some wait for the answers or guess wrong without them, so the pane answers:
//! device attributes and status/cursor reports, XTVERSION, the default colours (OSC 10/11/12),
//! the kitty keyboard flags, DECRQM for the modes it honours, and its size in cells.
//!
//! What a program sends to the user's terminal rather than to its screen (a clipboard write
//! with OSC 52, the bell, desktop notifications with OSC 9 or OSC 777) is checked and queued
//! as [`Outbound`] items; the UI drains them ([`Term::take_outbound`]) and writes them to
//! the real terminal between frames, as tmux's `set-clipboard` and bell passthrough do.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use tui_term::widget::{Cursor, PseudoTerminal};

use super::contain::contained;
use super::keys::TermModes;
pub use crate::config::term_colors::{Rgb, TermColors};

/// vt100 0.16 panics on some operations at tiny sizes; the pane never goes below this.
pub const MIN_ROWS: u16 = 2;
pub const MIN_COLS: u16 = 10;

/// The line written into the pane after a contained parser panic.
pub const RESET_NOTE: &str = "[llws: terminal state reset after a parser error]";

/// The kitty keyboard flags the pane acts on: only "disambiguate" (1), through the CSI-u
/// forms of Shift+Enter and Ctrl+Enter (see [`super::keys::encode_key`]). It never sends
/// release events (2), alternate keys (4), all keys as escapes (8) or associated text (16),
/// so the answer to `ESC [ ? u` does not claim them even when the program pushed them.
const KITTY_FLAGS_HONOURED: u16 = 1;

/// The OSC number of a colour query the pane answers (10, 11 or 12), from an OSC's first
/// parameter. Anything else, including numbers with signs, spaces or leading zeros, is
/// not one.
fn colour_osc(first: Option<&&[u8]>) -> Option<u16> {
    match *first? {
        b"10" => Some(10),
        b"11" => Some(11),
        b"12" => Some(12),
        _ => None,
    }
}

/// The largest OSC 52 payload passed on, in base64 bytes (768 KiB of text). A program's copy
/// is a selection or a code block; a bigger payload is a runaway or hostile program, and
/// each queued write is held in memory until the UI writes it and then costs the user's
/// terminal (and any tmux or ssh between) the whole payload at once.
pub const CLIPBOARD_MAX: usize = 1024 * 1024;
/// A notification's text, in characters, past which it is cut: a desktop notification
/// shows a line or two, and the cap bounds what a program can push through per message.
pub const NOTIFY_TEXT_MAX: usize = 1024;
/// A notification title (OSC 777), in characters.
pub const NOTIFY_TITLE_MAX: usize = 256;
/// Notifications kept while the UI has not drained them; older ones go first, so a program
/// that floods them cannot grow the queue.
const NOTIFY_PENDING_MAX: usize = 8;
/// The selections OSC 52 may name: clipboard, primary, secondary (`q` and `s` in xterm's
/// terms) and the cut buffers 0-7. vt100 checks the same set before calling back.
const CLIPBOARD_SELECTORS: &[u8] = b"cpqs01234567";

/// Something the program sent to the user's terminal rather than to its screen. The UI
/// writes [`Outbound::escape`] to the real terminal (see [`Term::take_outbound`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    /// OSC 52: put base64 `data` on the `selection`s (e.g. `c`, the clipboard).
    Clipboard { selection: String, data: String },
    /// BEL outside any escape sequence.
    Bell,
    /// OSC 9 (iTerm2, WezTerm, ghostty, kitty): a notification with one text. `bel`: it
    /// ended with BEL (else ST), and is passed on the same way.
    Notify { text: String, bel: bool },
    /// OSC 777 ; notify (foot, urxvt, ghostty): a notification with a title and a body.
    NotifyTitled {
        title: String,
        body: String,
        bel: bool,
    },
}

impl Outbound {
    /// The escape sequence that passes the item on to the user's terminal, in the form the
    /// program sent it. Everything in it was checked when it was queued: base64 and
    /// selector characters only, notification text without control characters.
    pub fn escape(&self) -> Vec<u8> {
        let end = |bel: bool| if bel { "\x07" } else { "\x1b\\" };
        match self {
            Outbound::Clipboard { selection, data } => {
                format!("\x1b]52;{selection};{data}\x1b\\").into_bytes()
            }
            Outbound::Bell => b"\x07".to_vec(),
            Outbound::Notify { text, bel } => format!("\x1b]9;{text}{}", end(*bel)).into_bytes(),
            Outbound::NotifyTitled { title, body, bel } => {
                format!("\x1b]777;notify;{title};{body}{}", end(*bel)).into_bytes()
            }
        }
    }

    /// For the UI's mark on the pane: what asked for attention (the notification's text, or
    /// "bell"); `None` for a clipboard write, which asks for none.
    pub fn attention(&self) -> Option<&str> {
        match self {
            Outbound::Clipboard { .. } => None,
            Outbound::Bell => Some("bell"),
            Outbound::Notify { text, .. } => Some(text),
            Outbound::NotifyTitled { title, body, .. } => {
                Some(if title.is_empty() { body } else { title })
            }
        }
    }
}

/// Whether `data` is well-formed base64: the alphabet, with `=` only as the last one or two
/// characters of a padded (length a multiple of 4) string. vt100 checks only the alphabet,
/// and a terminal given a malformed payload may decode garbage onto the clipboard.
fn is_base64(data: &[u8]) -> bool {
    let body_len = data.len() - data.iter().rev().take_while(|&&c| c == b'=').count();
    let (body, pad) = data.split_at(body_len);
    body.iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
        && pad.len() <= 2
        && (if pad.is_empty() {
            // Unpadded base64 (which some programs send) never leaves one character over.
            body.len() % 4 != 1
        } else {
            data.len().is_multiple_of(4)
        })
}

/// Notification text as it may be passed on: lossy UTF-8, every control character (C0, DEL,
/// C1) removed so nothing in it can end the OSC early or start another sequence on the
/// user's terminal, cut to `max` characters.
fn notification_text(parts: &[&[u8]], max: usize) -> String {
    // vte splits an OSC at every `;`; in a notification's text they are the program's own.
    let joined = parts.join(&b';');
    String::from_utf8_lossy(&joined)
        .chars()
        .filter(|c| !c.is_control())
        .take(max)
        .collect()
}

/// Whether OSC 9 text is one of ConEmu's OSC 9 commands (`9;4;st;pr` progress, `9;9;path`
/// working directory, ...): a number, alone or before a `;`. Passed on, a terminal that
/// takes every OSC 9 as a notification (iTerm2) would pop up "4;1;50" or a path.
fn is_conemu_command(text: &str) -> bool {
    let first = text.split(';').next().unwrap_or_default();
    !first.is_empty() && first.bytes().all(|b| b.is_ascii_digit())
}

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
    /// What OSC 10/11/12 queries are answered with.
    colors: TermColors,
    /// For the user's terminal, oldest first (see [`Outbound`], [`Events::queue`]).
    outbound: Vec<Outbound>,
}

impl Events {
    fn with_colors(colors: TermColors) -> Self {
        Self {
            colors,
            ..Self::default()
        }
    }

    fn reply(&mut self, bytes: impl AsRef<[u8]>) {
        self.replies.extend_from_slice(bytes.as_ref());
    }

    /// Queues an item for the user's terminal, keeping the queue small whatever the program
    /// sends before the UI drains it: a clipboard write replaces a pending one (the
    /// clipboard ends up with the last either way), a bell while one is pending adds
    /// nothing (the UI rings at most one a second anyway), and past
    /// [`NOTIFY_PENDING_MAX`] notifications the oldest goes.
    fn queue(&mut self, item: Outbound) {
        match &item {
            Outbound::Clipboard { .. } => self
                .outbound
                .retain(|o| !matches!(o, Outbound::Clipboard { .. })),
            Outbound::Bell if self.outbound.contains(&Outbound::Bell) => return,
            Outbound::Bell => {}
            Outbound::Notify { .. } | Outbound::NotifyTitled { .. } => {
                let is_note = |o: &Outbound| {
                    matches!(o, Outbound::Notify { .. } | Outbound::NotifyTitled { .. })
                };
                if self.outbound.iter().filter(|o| is_note(o)).count() >= NOTIFY_PENDING_MAX
                    && let Some(oldest) = self.outbound.iter().position(is_note)
                {
                    self.outbound.remove(oldest);
                }
            }
        }
        self.outbound.push(item);
    }

    /// OSC 10/11/12 with `?` parameters: answers each in turn, ended with `end`.
    fn answer_colours(&mut self, code: u16, params: &[&[u8]], end: &[u8]) {
        for (n, param) in (code..).zip(params) {
            if *param != b"?" {
                continue;
            }
            if let Some(rgb) = self.colors.get(n) {
                self.reply(format!("\x1b]{n};{}", rgb.xterm_spec()));
                self.reply(end);
            }
        }
    }

    /// OSC 9 ; text: a notification, unless it is empty or one of ConEmu's commands.
    /// (ConEmu's progress, `9;4`, is not passed on either: a terminal that does not know
    /// it shows it as a notification, and llws cannot tell which kind the user runs.)
    fn osc9(&mut self, params: &[&[u8]], bel: bool) {
        let text = notification_text(params, NOTIFY_TEXT_MAX);
        if !text.is_empty() && !is_conemu_command(&text) {
            self.queue(Outbound::Notify { text, bel });
        }
    }

    /// OSC 777 ; notify ; title ; body (rxvt-unicode's notify extension, foot, ghostty).
    /// Other OSC 777 commands (urxvt extensions) are not for the user's terminal.
    fn osc777(&mut self, params: &[&[u8]], bel: bool) {
        let [b"notify", title, body @ ..] = params else {
            return;
        };
        let title = notification_text(&[title], NOTIFY_TITLE_MAX);
        let body = notification_text(body, NOTIFY_TEXT_MAX);
        if !title.is_empty() || !body.is_empty() {
            self.queue(Outbound::NotifyTitled { title, body, bel });
        }
    }

    /// DECRQM's Ps for a DEC private mode: 1 set, 2 reset, 0 not recognised. Only modes the
    /// pane acts on are reported, from the state vt100 (or this struct) keeps for them.
    /// Origin mode (6) is honoured by vt100 but not readable from it, and synchronized
    /// output (2026) is not honoured (the pane draws at its own frame rate whatever the
    /// program brackets), so both are "not recognised", like every other mode.
    fn dec_mode(&self, screen: &vt100::Screen, mode: u16) -> u8 {
        use vt100::{MouseProtocolEncoding as Enc, MouseProtocolMode as Mouse};
        let set = match mode {
            1 => screen.application_cursor(),
            25 => !screen.hide_cursor(),
            // vt100 keeps one alternate grid for both forms.
            47 | 1049 => screen.alternate_screen(),
            9 => screen.mouse_protocol_mode() == Mouse::Press,
            1000 => screen.mouse_protocol_mode() == Mouse::PressRelease,
            1002 => screen.mouse_protocol_mode() == Mouse::ButtonMotion,
            1003 => screen.mouse_protocol_mode() == Mouse::AnyMotion,
            1004 => self.focus_reporting,
            1005 => screen.mouse_protocol_encoding() == Enc::Utf8,
            1006 => screen.mouse_protocol_encoding() == Enc::Sgr,
            2004 => screen.bracketed_paste(),
            _ => return 0,
        };
        if set { 1 } else { 2 }
    }
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
        i2: Option<u8>,
        params: &[&[u16]],
        c: char,
    ) {
        let first = params.first().and_then(|p| p.first()).copied().unwrap_or(0);
        let second = params.get(1).and_then(|p| p.first()).copied();
        match (i1, i2, c) {
            // DA1: claim a VT100 with advanced video, as tmux does. Programs send it after
            // other queries as a sentinel, so answering keeps their start-up fast.
            (None, None, 'c') if first == 0 => self.reply(b"\x1b[?1;2c"),
            // DSR: status and cursor position (1-based).
            (None, None, 'n') if first == 5 => self.reply(b"\x1b[0n"),
            (None | Some(b'?'), None, 'n') if first == 6 => {
                let (row, col) = screen.cursor_position();
                let q = if i1.is_some() { "?" } else { "" };
                self.reply(format!("\x1b[{q}{};{}R", row + 1, col + 1));
            }
            // XTWINOPS 18: the text area in cells. (14 and 16, the size in pixels, stay
            // unanswered: the PTY is opened without a pixel size, so the pane does not know.)
            (None, None, 't') if first == 18 => {
                let (rows, cols) = screen.size();
                self.reply(format!("\x1b[8;{rows};{cols}t"));
            }
            // XTVERSION: name and version in a DCS, as xterm, tmux, kitty and wezterm answer.
            // Programs use it to tell terminals apart where TERM (xterm-256color) cannot.
            (Some(b'>'), None, 'q') if first == 0 => {
                self.reply(format!("\x1bP>|llws({})\x1b\\", env!("CARGO_PKG_VERSION")));
            }
            (Some(b'>'), None, 'u') => self.kitty_flags.push(first),
            (Some(b'<'), None, 'u') => {
                let n = usize::from(first.max(1)).min(self.kitty_flags.len());
                self.kitty_flags.truncate(self.kitty_flags.len() - n);
            }
            // `ESC [ = flags ; mode u`: mode 1 (the default) sets, 2 adds, 3 removes.
            (Some(b'='), None, 'u') => {
                if self.kitty_flags.is_empty() {
                    self.kitty_flags.push(0);
                }
                if let Some(top) = self.kitty_flags.last_mut() {
                    match second.unwrap_or(1) {
                        1 => *top = first,
                        2 => *top |= first,
                        3 => *top &= !first,
                        _ => {}
                    }
                }
            }
            // Kitty keyboard query: the current flags, as far as the pane honours them.
            // Programs send it before DA1 to learn whether the protocol is there at all.
            (Some(b'?'), None, 'u') => {
                let flags = self.kitty_flags.last().copied().unwrap_or(0) & KITTY_FLAGS_HONOURED;
                self.reply(format!("\x1b[?{flags}u"));
            }
            (Some(b'>'), None, 'm') if first == 4 => {
                self.modify_other_keys = second.unwrap_or(0);
            }
            // vt100 hands over the whole DECSET/DECRST when one of its modes is unknown.
            (Some(b'?'), None, 'h' | 'l') if params.iter().any(|p| p.first() == Some(&1004)) => {
                self.focus_reporting = c == 'h';
            }
            // DECRQM for a DEC private mode: `ESC [ ? Pm ; Ps $ y`. Programs ask before
            // relying on a mode (2026 synchronized output, 2004 bracketed paste, ...).
            (Some(b'?'), Some(b'$'), 'p') => {
                let ps = self.dec_mode(screen, first);
                self.reply(format!("\x1b[?{first};{ps}$y"));
            }
            // DECRQM for an ANSI mode: vt100 implements none of them (no insert mode, no
            // LNM), so each is "not recognised" rather than left without an answer.
            (Some(b'$'), None, 'p') => self.reply(format!("\x1b[{first};0$y")),
            _ => {}
        }
    }

    /// OSC 52 with base64 data (vt100 has checked the selector and the alphabet): a
    /// clipboard write for the user's terminal, checked again here because it leaves the
    /// pane: selectors from xterm's set only, well-formed base64, at most
    /// [`CLIPBOARD_MAX`] bytes. An empty payload is passed on too: it clears the
    /// selection, as password managers do after a while.
    fn copy_to_clipboard(&mut self, _: &mut vt100::Screen, ty: &[u8], data: &[u8]) {
        // A selector names each selection once at most; more is not a real request.
        let selectors_ok = ty.len() <= CLIPBOARD_SELECTORS.len()
            && ty.iter().all(|c| CLIPBOARD_SELECTORS.contains(c));
        if selectors_ok && data.len() <= CLIPBOARD_MAX && is_base64(data) {
            // Both are ASCII, checked above.
            self.queue(Outbound::Clipboard {
                selection: String::from_utf8_lossy(ty).into_owned(),
                data: String::from_utf8_lossy(data).into_owned(),
            });
        }
    }

    /// OSC 52 with `?`: the program asks to READ the clipboard. Never passed on: the
    /// terminal's answer would go to the program, so any program in the pane (or anything
    /// that gets text printed there: a file being `cat`ed, a build log, a web page a tool
    /// fetched) could read what the user copied, passwords included. The program gets no
    /// answer, as from a terminal that does not allow it.
    fn paste_from_clipboard(&mut self, _: &mut vt100::Screen, _ty: &[u8]) {}

    /// BEL: for the user's terminal (and the UI's mark on the pane).
    fn audible_bell(&mut self, _: &mut vt100::Screen) {
        self.queue(Outbound::Bell);
    }

    /// OSC 10/11/12 with `?`: the default foreground, background and cursor colour, as
    /// `OSC n ; rgb:rrrr/gggg/bbbb` ended like the query. Like xterm, one OSC may ask for
    /// several in a row (`OSC 10 ; ? ; ?` is foreground then background). Setting colours is
    /// ignored: the pane draws on the terminal's colours and cannot change them.
    ///
    /// OSC 9 and OSC 777 ; notify: desktop notifications, queued for the user's terminal
    /// with the terminator they came with.
    ///
    /// `bel`: the sequence ended with BEL (else ST). This callback is llws's addition to
    /// the vendored vt100 (vendor/vt100): the published crate does not say how an OSC
    /// ended, and xterm answers with the query's own terminator, which some programs wait
    /// for.
    fn unhandled_osc_terminated(&mut self, _: &mut vt100::Screen, params: &[&[u8]], bel: bool) {
        let first = params.first();
        let rest = params.get(1..).unwrap_or_default();
        if let Some(code) = colour_osc(first) {
            let end: &[u8] = if bel { b"\x07" } else { b"\x1b\\" };
            self.answer_colours(code, rest, end);
        } else if first == Some(&&b"9"[..]) {
            self.osc9(rest, bel);
        } else if first == Some(&&b"777"[..]) {
            self.osc777(rest, bel);
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

    /// A parser for a fresh start at `rows` × `cols` after a panic, keeping the colours llws
    /// set (they are the UI's, not the program's).
    fn fresh_parser(&mut self, rows: u16, cols: u16) -> vt100::Parser<Events> {
        let events = Events::with_colors(self.colors());
        vt100::Parser::new_with_callbacks(rows, cols, self.scrollback_len, events)
    }

    fn reset_after_panic(&mut self) {
        self.resets += 1;
        let (rows, cols) = self.size();
        let fresh = self.fresh_parser(rows, cols);
        let old = std::mem::replace(&mut self.parser, fresh);
        // The old screen may be inconsistent; saving it is best effort and guarded too.
        let saved = contained(|| old.screen().state_formatted()).ok();
        let mut old = old;
        self.parser.callbacks_mut().title = std::mem::take(&mut old.callbacks_mut().title);
        // What was queued for the user's terminal before the panic was checked and is owed.
        self.parser.callbacks_mut().outbound = std::mem::take(&mut old.callbacks_mut().outbound);
        if let Some(bytes) = saved
            && contained(|| self.parser.process(&bytes)).is_err()
        {
            self.parser = self.fresh_parser(rows, cols);
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
            self.parser = self.fresh_parser(rows, cols);
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

    /// What the program sent for the user's terminal since the last call, oldest first.
    pub fn take_outbound(&mut self) -> Vec<Outbound> {
        std::mem::take(&mut self.parser.callbacks_mut().outbound)
    }

    /// Whether [`take_outbound`](Self::take_outbound) has something.
    pub fn has_outbound(&self) -> bool {
        !self.parser.callbacks().outbound.is_empty()
    }

    /// Sets the colours OSC 10/11/12 queries are answered with; the next query sees them.
    pub fn set_colors(&mut self, colors: TermColors) {
        self.parser.callbacks_mut().colors = colors;
    }

    pub fn colors(&self) -> TermColors {
        self.parser.callbacks().colors
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
        let msg = r.unwrap_err().0;
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

    fn replies_to(t: &mut Term, bytes: &[u8]) -> Vec<u8> {
        t.process(bytes);
        t.take_replies()
    }

    fn text(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    #[test]
    fn xtversion_names_llws_and_its_version() {
        let mut t = Term::new(24, 80, 0);
        let want = format!("\x1bP>|llws({})\x1b\\", env!("CARGO_PKG_VERSION"));
        assert_eq!(text(&replies_to(&mut t, b"\x1b[>q")), want);
        assert_eq!(text(&replies_to(&mut t, b"\x1b[>0q")), want);
        // Other parameters are not XTVERSION.
        assert!(replies_to(&mut t, b"\x1b[>1q").is_empty());
    }

    #[test]
    fn colour_queries_answer_with_the_query_terminator() {
        let mut t = Term::new(24, 80, 0);
        t.set_colors(TermColors {
            foreground: Rgb(0x12, 0x34, 0x56),
            background: Rgb(0xff, 0x00, 0x80),
            cursor: Rgb(1, 2, 3),
        });
        assert_eq!(
            text(&replies_to(&mut t, b"\x1b]10;?\x07")),
            "\x1b]10;rgb:1212/3434/5656\x07"
        );
        assert_eq!(
            text(&replies_to(&mut t, b"\x1b]11;?\x1b\\")),
            "\x1b]11;rgb:ffff/0000/8080\x1b\\"
        );
        assert_eq!(
            text(&replies_to(&mut t, b"\x1b]12;?\x07")),
            "\x1b]12;rgb:0101/0202/0303\x07"
        );
        // Several in one OSC (xterm: each further parameter is the next colour), and a
        // mix of terminators in one read, in order with the DA1 sentinel after them.
        assert_eq!(
            text(&replies_to(&mut t, b"\x1b]10;?;?\x1b\\\x1b]11;?\x07\x1b[c")),
            "\x1b]10;rgb:1212/3434/5656\x1b\\\x1b]11;rgb:ffff/0000/8080\x1b\\\
             \x1b]11;rgb:ffff/0000/8080\x07\x1b[?1;2c"
        );
        // Setting a colour is not answered (and does not change the answer).
        assert!(replies_to(&mut t, b"\x1b]11;#ffffff\x07").is_empty());
        assert_eq!(
            text(&replies_to(&mut t, b"\x1b]11;?\x07")),
            "\x1b]11;rgb:ffff/0000/8080\x07"
        );
    }

    #[test]
    fn queries_split_across_reads_are_answered_once_complete() {
        let mut t = Term::new(24, 80, 0);
        assert!(replies_to(&mut t, b"\x1b]1").is_empty());
        assert_eq!(
            text(&replies_to(&mut t, b"1;?\x07")),
            "\x1b]11;rgb:0000/0000/0000\x07"
        );
        // Split inside the ST: the ESC ends the OSC, so the answer comes with the first half.
        assert_eq!(
            text(&replies_to(&mut t, b"\x1b]10;?\x1b")),
            "\x1b]10;rgb:e5e5/e5e5/e5e5\x1b\\"
        );
        assert!(replies_to(&mut t, b"\\").is_empty());
        assert!(replies_to(&mut t, b"\x1b[").is_empty());
        assert_eq!(
            text(&replies_to(&mut t, b">q")),
            format!("\x1bP>|llws({})\x1b\\", env!("CARGO_PKG_VERSION"))
        );
        assert!(replies_to(&mut t, b"\x1b[?2004$").is_empty());
        assert_eq!(text(&replies_to(&mut t, b"p")), "\x1b[?2004;2$y");
    }

    #[test]
    fn garbage_osc_input_gets_no_answer_and_does_not_panic() {
        let mut t = Term::new(24, 80, 0);
        let inputs: &[&[u8]] = &[
            b"\x1b]11\x07",
            b"\x1b]11;\x07",
            b"\x1b]11;??\x07",
            b"\x1b]011;?\x07",
            b"\x1b]+11;?\x07",
            b"\x1b]13;?\x07",
            b"\x1b]1;?\x07",
            b"\x1b]\x07",
            b"\x1b];;;;\x07",
            b"\x1b]11;\xff\xfe?\x07",
            b"\x1b]\xff;?\x1b\\",
            b"\x1b]11;rgb:zz/zz/zz\x1b\\",
            b"\x1b]4;1;?\x07",
            b"\x1b]11;\x1b]11\x1b\\",
        ];
        for input in inputs {
            assert!(replies_to(&mut t, input).is_empty(), "{input:?}");
        }
        // Many parameters (vte keeps 16): the colours after 12 are not answered.
        let mut long = b"\x1b]12".to_vec();
        long.extend(std::iter::repeat_n(&b";?"[..], 40).flatten());
        long.push(0x07);
        assert_eq!(
            text(&replies_to(&mut t, &long)),
            "\x1b]12;rgb:e5e5/e5e5/e5e5\x07"
        );
        // A huge OSC, and random bytes around OSC starts.
        let mut big = b"\x1b]11;".to_vec();
        big.extend(std::iter::repeat_n(b'?', 100_000));
        big.push(0x07);
        assert!(replies_to(&mut t, &big).is_empty());
        let mut seed = 0x2545_f491_u32;
        let noise: Vec<u8> = (0..20_000)
            .map(|i| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                if i % 97 == 0 {
                    0x1b
                } else {
                    (seed >> 24) as u8
                }
            })
            .collect();
        for chunk in noise.chunks(333) {
            t.process(b"\x1b]");
            t.process(chunk);
        }
        t.take_replies();
        // Still in step afterwards: a well-formed query gets its own terminator back.
        t.process(b"\x07\x1b\\\x1bc");
        t.take_replies();
        assert_eq!(
            text(&replies_to(&mut t, b"\x1b]11;?\x07")),
            "\x1b]11;rgb:0000/0000/0000\x07"
        );
    }

    /// The scrollback keeps rows compact (vendor/vt100); reading it back through the public
    /// API must give every row, its text, styles, wide characters and wrap, at any offset,
    /// also while output goes on and after a resize.
    #[test]
    fn the_scrollback_reads_back_whole_at_every_offset() {
        let mut t = Term::new(5, 20, 50);
        let line = |n: usize| {
            format!(
                "\x1b[3{}mline {n:03}\x1b[0m 中 \x1b[44mbg\x1b[K\x1b[0m\r\n",
                n % 8
            )
        };
        for n in 0..80 {
            t.process(line(n).as_bytes());
        }
        // 50 rows kept: lines 30..=79 scrolled off (the cursor sits on a blank last row).
        for offset in [1usize, 7, 49, 50] {
            t.scroll_by(offset as i32 - t.scrollback() as i32);
            assert_eq!(t.scrollback(), offset);
            let first = 80 - 4 - offset.min(50);
            let s = t.screen();
            let top = s.contents_between(0, 0, 0, 20);
            assert_eq!(top, format!("line {first:03} 中 bg"), "offset {offset}");
            let cell = s.cell(0, 0).unwrap();
            assert_eq!(cell.fgcolor(), vt100::Color::Idx((first % 8) as u8));
            assert!(s.cell(0, 9).unwrap().is_wide());
            assert!(s.cell(0, 10).unwrap().is_wide_continuation());
            // The erase to the end of the line kept its blue background to the last column.
            assert_eq!(s.cell(0, 19).unwrap().bgcolor(), vt100::Color::Idx(4));
        }
        // Output while scrolled back keeps the view on the same rows (as vt100 always did).
        t.scroll_by(-100);
        t.scroll_by(10);
        let before = t.screen().contents();
        t.process(line(80).as_bytes());
        assert_eq!(t.scrollback(), 11);
        assert_eq!(t.screen().contents(), before);
        // A long line wraps into the scrollback and comes back wrapped.
        t.scroll_to_bottom();
        t.process(format!("{}\r\n\r\n\r\n\r\n\r\n", "w".repeat(30)).as_bytes());
        // Five line feeds pushed both halves off the screen: the first is two rows back.
        t.scroll_by(2);
        assert!(t.screen().row_wrapped(0));
        assert_eq!(t.screen().contents().lines().next(), Some(&*"w".repeat(30)));
        // After a resize the rows kept keep their width (20 columns), as in vt100.
        t.resize(5, 30);
        t.scroll_by(100);
        let s = t.screen();
        assert!(s.contents_between(0, 0, 0, 30).starts_with("line 0"));
        assert_eq!(s.cell(0, 19).unwrap().bgcolor(), vt100::Color::Idx(4));
        assert!(s.cell(0, 20).is_none());
        t.scroll_to_bottom();
        assert!(
            t.screen().cell(4, 29).is_some(),
            "the live rows are 30 wide"
        );
    }

    #[test]
    fn a_colour_change_changes_the_next_answer() {
        let mut t = Term::new(24, 80, 0);
        assert_eq!(t.colors(), TermColors::DARK);
        let q = b"\x1b]11;?\x1b\\";
        assert_eq!(
            text(&replies_to(&mut t, q)),
            "\x1b]11;rgb:0000/0000/0000\x1b\\"
        );
        t.set_colors(TermColors::LIGHT);
        assert_eq!(
            text(&replies_to(&mut t, q)),
            "\x1b]11;rgb:ffff/ffff/ffff\x1b\\"
        );
    }

    #[test]
    fn colours_survive_a_contained_panic_and_answers_stay_in_step() {
        let mut t = Term::new(24, 80, 0);
        t.set_colors(TermColors::LIGHT);
        t.process(PANIC_INPUT.0.as_bytes());
        t.resize(24, 79);
        // The panic cuts this read short, OSC and all.
        t.process(format!("{}\x1b]11;?\x07", PANIC_INPUT.1).as_bytes());
        assert_eq!(t.resets(), 1);
        t.take_replies();
        assert_eq!(t.colors(), TermColors::LIGHT);
        assert_eq!(
            text(&replies_to(&mut t, b"\x1b]10;?\x1b\\")),
            "\x1b]10;rgb:0000/0000/0000\x1b\\"
        );
    }

    #[test]
    fn kitty_keyboard_query_reports_the_honoured_flags() {
        let mut t = Term::new(24, 80, 0);
        assert_eq!(replies_to(&mut t, b"\x1b[?u"), b"\x1b[?0u");
        t.process(b"\x1b[>1u");
        assert_eq!(replies_to(&mut t, b"\x1b[?u"), b"\x1b[?1u");
        // Pushed flags the pane does not act on (release events, all keys as escapes) are
        // not claimed.
        t.process(b"\x1b[>11u");
        assert_eq!(replies_to(&mut t, b"\x1b[?u"), b"\x1b[?1u");
        t.process(b"\x1b[>2u");
        assert_eq!(replies_to(&mut t, b"\x1b[?u"), b"\x1b[?0u");
        t.process(b"\x1b[=1;2u");
        assert_eq!(replies_to(&mut t, b"\x1b[?u"), b"\x1b[?1u");
        t.process(b"\x1b[=1;3u");
        assert_eq!(replies_to(&mut t, b"\x1b[?u"), b"\x1b[?0u");
        t.process(b"\x1b[<3u");
        assert_eq!(replies_to(&mut t, b"\x1b[?u"), b"\x1b[?0u");
        assert!(!t.modes().extended_keys);
    }

    #[test]
    fn decrqm_reports_the_modes_the_pane_honours() {
        let mut t = Term::new(24, 80, 0);
        let ask =
            |t: &mut Term, mode: u16| text(&replies_to(t, format!("\x1b[?{mode}$p").as_bytes()));
        for (mode, ps) in [
            (1, 2),
            (25, 1),
            (47, 2),
            (1049, 2),
            (1000, 2),
            (1004, 2),
            (1006, 2),
            (2004, 2),
        ] {
            assert_eq!(
                ask(&mut t, mode),
                format!("\x1b[?{mode};{ps}$y"),
                "mode {mode}"
            );
        }
        t.process(b"\x1b[?1h\x1b[?25l\x1b[?1049h\x1b[?1002h\x1b[?1004h\x1b[?1006h\x1b[?2004h");
        for (mode, ps) in [
            (1, 1),
            (25, 2),
            (47, 1),
            (1049, 1),
            (1000, 2),
            (1002, 1),
            (1004, 1),
            (1006, 1),
            (1005, 2),
            (2004, 1),
        ] {
            assert_eq!(
                ask(&mut t, mode),
                format!("\x1b[?{mode};{ps}$y"),
                "mode {mode}"
            );
        }
        // Not honoured or not readable: "not recognised".
        for mode in [2026, 6, 7, 1047, 2027, 0] {
            assert_eq!(
                ask(&mut t, mode),
                format!("\x1b[?{mode};0$y"),
                "mode {mode}"
            );
        }
        // ANSI modes: vt100 has none.
        assert_eq!(replies_to(&mut t, b"\x1b[4$p"), b"\x1b[4;0$y");
    }

    #[test]
    fn the_size_in_cells_is_reported_but_not_pixels() {
        let mut t = Term::new(24, 80, 0);
        assert_eq!(replies_to(&mut t, b"\x1b[18t"), b"\x1b[8;24;80t");
        t.resize(30, 100);
        assert_eq!(replies_to(&mut t, b"\x1b[18t"), b"\x1b[8;30;100t");
        assert!(replies_to(&mut t, b"\x1b[14t\x1b[16t").is_empty());
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

    fn outbound_of(bytes: &[u8]) -> Vec<Outbound> {
        let mut t = Term::new(24, 80, 0);
        t.process(bytes);
        t.take_outbound()
    }

    fn clip(selection: &str, data: &str) -> Outbound {
        Outbound::Clipboard {
            selection: selection.into(),
            data: data.into(),
        }
    }

    #[test]
    fn clipboard_writes_are_queued_and_passed_on_as_osc_52() {
        let mut t = Term::new(24, 80, 0);
        t.process(b"\x1b]52;c;aGVsbG8=\x07");
        assert!(t.has_outbound());
        let items = t.take_outbound();
        assert_eq!(items, [clip("c", "aGVsbG8=")]);
        assert_eq!(items[0].escape(), b"\x1b]52;c;aGVsbG8=\x1b\\");
        assert!(!t.has_outbound());
        assert!(t.take_outbound().is_empty());
        // Several selections, ST-terminated, unpadded, and the empty payload (a clear).
        assert_eq!(outbound_of(b"\x1b]52;ps0;aGk\x1b\\"), [clip("ps0", "aGk")]);
        assert_eq!(outbound_of(b"\x1b]52;c;\x07"), [clip("c", "")]);
        assert_eq!(outbound_of(b"\x1b]52;;aGk=\x07"), [clip("", "aGk=")]);
        // Nothing is drawn and nothing is answered.
        let mut t = Term::new(24, 80, 0);
        t.process(b"\x1b]52;c;aGVsbG8=\x07");
        assert!(t.take_replies().is_empty());
        assert_eq!(t.contents().trim(), "");
    }

    #[test]
    fn bad_clipboard_writes_are_not_passed_on() {
        let mut huge = b"\x1b]52;c;".to_vec();
        huge.extend(std::iter::repeat_n(b'A', CLIPBOARD_MAX + 4));
        huge.push(0x07);
        let mut at_cap = b"\x1b]52;c;".to_vec();
        at_cap.extend(std::iter::repeat_n(b'A', CLIPBOARD_MAX));
        at_cap.push(0x07);
        assert_eq!(outbound_of(&at_cap).len(), 1, "the cap itself passes");
        let inputs: &[&[u8]] = &[
            &huge,
            b"\x1b]52;c;not base64!\x07",
            b"\x1b]52;c;=aGVsbG8\x07",
            b"\x1b]52;c;aG=VsbG8\x07",
            b"\x1b]52;c;aGVsbG===\x07",
            b"\x1b]52;c;aGVsb=\x07",
            b"\x1b]52;c;aGVsb\x07",
            b"\x1b]52;c;\xc3\xa9\x07",
            b"\x1b]52;x;aGVsbG8=\x07",
            b"\x1b]52;cccccccccccccc;aGVsbG8=\x07",
            b"\x1b]52;c\x07",
            b"\x1b]52\x07",
            b"\x1b]52;c;aGk=;aGk=\x07",
        ];
        for input in inputs {
            let shown = text(&input[..input.len().min(60)]);
            assert!(outbound_of(input).is_empty(), "{shown}");
        }
    }

    #[test]
    fn clipboard_read_requests_are_never_passed_on_or_answered() {
        for input in [
            &b"\x1b]52;c;?\x07"[..],
            b"\x1b]52;c;?\x1b\\",
            b"\x1b]52;p;?\x07",
            b"\x1b]52;;?\x07",
        ] {
            let mut t = Term::new(24, 80, 0);
            t.process(input);
            assert!(t.take_outbound().is_empty(), "{}", text(input));
            assert!(t.take_replies().is_empty(), "{}", text(input));
        }
    }

    #[test]
    fn a_later_clipboard_write_replaces_a_pending_one() {
        let mut t = Term::new(24, 80, 0);
        t.process(b"\x1b]52;c;b25l\x07\x07\x1b]52;c;dHdv\x07");
        assert_eq!(t.take_outbound(), [Outbound::Bell, clip("c", "dHdv")]);
    }

    #[test]
    fn bells_are_queued_once_until_drained() {
        let mut t = Term::new(24, 80, 0);
        t.process(b"a\x07b\x07\x07");
        assert_eq!(t.take_outbound(), [Outbound::Bell]);
        assert_eq!(Outbound::Bell.escape(), b"\x07");
        t.process(b"\x07");
        assert_eq!(t.take_outbound(), [Outbound::Bell]);
        // A BEL that ends an OSC is a terminator, not a bell.
        t.process(b"\x1b]0;title\x07\x1b]11;?\x07\x1b]52;c;aGk=\x07");
        assert_eq!(t.take_outbound(), [clip("c", "aGk=")]);
        assert_eq!(t.contents().trim(), "ab");
    }

    #[test]
    fn osc_9_notifications_are_queued_with_their_terminator() {
        let note = |text: &str, bel| Outbound::Notify {
            text: text.into(),
            bel,
        };
        assert_eq!(
            outbound_of(b"\x1b]9;Build finished\x07"),
            [note("Build finished", true)]
        );
        let st = outbound_of(b"\x1b]9;Claude needs your input\x1b\\");
        assert_eq!(st, [note("Claude needs your input", false)]);
        assert_eq!(st[0].escape(), b"\x1b]9;Claude needs your input\x1b\\");
        assert_eq!(
            outbound_of(b"\x1b]9;a;b;c\x07")[0].escape(),
            b"\x1b]9;a;b;c\x07",
            "semicolons in the text are kept"
        );
        assert_eq!(
            outbound_of("\x1b]9;caf\u{e9} ✓\x07".as_bytes()),
            [note("café ✓", true)]
        );
    }

    #[test]
    fn notifications_lose_control_characters_and_are_capped() {
        // C0 (here as the ESC of a would-be sequence and a tab), DEL and C1 go.
        assert_eq!(
            outbound_of("\x1b]9;x\x7f\u{9b}31my\tz\x07".as_bytes()),
            [Outbound::Notify {
                text: "x31myz".into(),
                bel: true
            }]
        );
        let mut long = b"\x1b]9;".to_vec();
        long.extend(std::iter::repeat_n(b'n', 5000));
        long.push(0x07);
        match &outbound_of(&long)[..] {
            [Outbound::Notify { text, .. }] => assert_eq!(text.len(), NOTIFY_TEXT_MAX),
            other => panic!("{other:?}"),
        }
        let mut titled = b"\x1b]777;notify;".to_vec();
        titled.extend(std::iter::repeat_n(b't', 5000));
        titled.push(b';');
        titled.extend(std::iter::repeat_n(b'b', 5000));
        titled.push(0x07);
        match &outbound_of(&titled)[..] {
            [Outbound::NotifyTitled { title, body, .. }] => {
                assert_eq!(title.len(), NOTIFY_TITLE_MAX);
                assert_eq!(body.len(), NOTIFY_TEXT_MAX);
            }
            other => panic!("{other:?}"),
        }
        // Invalid UTF-8 becomes U+FFFD, never raw bytes.
        assert_eq!(
            outbound_of(b"\x1b]9;a\xffb\x07"),
            [Outbound::Notify {
                text: "a\u{fffd}b".into(),
                bel: true
            }]
        );
    }

    #[test]
    fn conemu_commands_and_empty_notifications_are_not_passed_on() {
        for input in [
            &b"\x1b]9;4;1;50\x07"[..],
            b"\x1b]9;4;0\x1b\\",
            b"\x1b]9;9;/home/user\x07",
            b"\x1b]9;12\x07",
            b"\x1b]9;\x014;1;50\x07",
            b"\x1b]9;\x07",
            b"\x1b]9\x07",
            b"\x1b]9;\x01\x02\x07",
            b"\x1b]777;notify;;\x07",
            b"\x1b]777;notify\x07",
            b"\x1b]777;preexec\x07",
            b"\x1b]777;notify\x1b\\",
            b"\x1b]09;x\x07",
        ] {
            assert!(outbound_of(input).is_empty(), "{}", text(input));
        }
    }

    #[test]
    fn osc_777_notifications_keep_title_body_and_terminator() {
        let got = outbound_of(b"\x1b]777;notify;Claude Code;done; 3 files changed\x1b\\");
        assert_eq!(
            got,
            [Outbound::NotifyTitled {
                title: "Claude Code".into(),
                body: "done; 3 files changed".into(),
                bel: false
            }]
        );
        assert_eq!(
            got[0].escape(),
            b"\x1b]777;notify;Claude Code;done; 3 files changed\x1b\\"
        );
        assert_eq!(got[0].attention(), Some("Claude Code"));
        let body_only = outbound_of(b"\x1b]777;notify;;just a body\x07");
        assert_eq!(body_only[0].escape(), b"\x1b]777;notify;;just a body\x07");
        assert_eq!(body_only[0].attention(), Some("just a body"));
    }

    #[test]
    fn pending_notifications_are_bounded_oldest_first_out() {
        let mut t = Term::new(24, 80, 0);
        for i in 0..20 {
            t.process(format!("\x1b]9;n{i}\x07").as_bytes());
        }
        let texts: Vec<_> = t
            .take_outbound()
            .iter()
            .map(|o| o.attention().unwrap().to_string())
            .collect();
        assert_eq!(texts, (12..20).map(|i| format!("n{i}")).collect::<Vec<_>>());
    }

    #[test]
    fn notifications_and_colour_answers_stay_in_step_on_terminators() {
        let mut t = Term::new(24, 80, 0);
        t.process(
            b"\x1b]9;one\x1b\\\x1b]11;?\x07\x1b]777;notify;t;b\x07\x1b]9;4;1;5\x1b\\\x1b]10;?\x1b\\\x1b]9;two\x07",
        );
        assert_eq!(
            text(&t.take_replies()),
            "\x1b]11;rgb:0000/0000/0000\x07\x1b]10;rgb:e5e5/e5e5/e5e5\x1b\\"
        );
        let ends: Vec<_> = t
            .take_outbound()
            .iter()
            .map(|o| o.escape().ends_with(b"\x07"))
            .collect();
        assert_eq!(ends, [false, true, true]);
    }

    #[test]
    fn pending_outbound_survives_a_contained_panic() {
        let mut t = Term::new(24, 80, 0);
        t.process(b"\x1b]52;c;aGk=\x07");
        t.process(PANIC_INPUT.0.as_bytes());
        t.resize(24, 79);
        t.process(PANIC_INPUT.1.as_bytes());
        assert_eq!(t.resets(), 1);
        assert_eq!(t.take_outbound(), [clip("c", "aGk=")]);
        t.process(b"\x07");
        assert_eq!(t.take_outbound(), [Outbound::Bell]);
    }
}
