//! A terminal in a pane: a program on a pseudo-terminal, its output emulated by vt100 on a
//! reader thread, drawn by tui-term, with keys, pastes and mouse events going back in.
//!
//! Threads per running program: a reader (blocking reads of up to 64 KiB, parsed under the
//! screen lock), a writer (so a program that stops reading its input can never block the
//! UI), and a waiter (reaps the child and records how it ended). The reader never asks for
//! a redraw per chunk: it sets a dirty flag and calls the waker only when the flag was
//! clear, so the UI draws at its own frame rate however fast the program writes.
//!
//! What the program sends to the user's terminal (clipboard writes, bells, notifications:
//! [`Outbound`]) is queued by the parser; the reader raises a flag and wakes the UI when
//! the queue turns non-empty, and the UI drains it with [`TerminalPane::take_outbound`],
//! which takes the screen lock only when the flag is up.

use std::fmt;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};
use portable_pty::{CommandBuilder, MasterPty, PtySize, native_pty_system};
use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};

use super::keys::{TermModes, encode_key, encode_paste};
use super::mouse::encode_mouse;
use super::overlay::{self, Overlays};
use super::term::{Outbound, Term, TermColors, clamp_size};

/// Called by the reader thread when new output is ready to draw: at most once between two
/// [`TerminalPane::take_dirty`] / [`TerminalPane::render`] calls.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// The command a pane runs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommandSpec {
    pub program: String,
    pub args: Vec<String>,
    /// Added to (or overriding) llws's own environment.
    pub env: Vec<(String, String)>,
    /// The working directory; `None` keeps llws's.
    pub cwd: Option<PathBuf>,
}

impl CommandSpec {
    pub fn new(program: impl Into<String>) -> Self {
        Self {
            program: program.into(),
            ..Self::default()
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The command line, shell-quoted, for messages.
    pub fn display(&self) -> String {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|a| {
                shlex::try_quote(a)
                    .map(|q| q.into_owned())
                    .unwrap_or_else(|_| a.clone())
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// How the program in the pane ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitInfo {
    pub code: u32,
    /// The signal's description when it was killed by one (e.g. "Hangup").
    pub signal: Option<String>,
}

impl ExitInfo {
    pub fn success(&self) -> bool {
        self.signal.is_none() && self.code == 0
    }
}

impl fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.signal {
            Some(sig) => write!(f, "process killed by signal: {sig}"),
            None => write!(f, "process exited with code {}", self.code),
        }
    }
}

/// State the reader and waiter threads share with the pane.
struct Shared {
    term: Mutex<Term>,
    dirty: AtomicBool,
    /// Set when the parser queued something for the user's terminal; cleared by the UI's
    /// drain. Lets the UI look every loop without taking the lock.
    outbound: AtomicBool,
    exit: Mutex<Option<ExitInfo>>,
}

impl Shared {
    fn term(&self) -> MutexGuard<'_, Term> {
        // Term contains its own panics, so a poisoned lock still guards a usable screen.
        self.term.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn exit(&self) -> Option<ExitInfo> {
        self.exit.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Marks new content; wakes the UI only on the clean → dirty edge.
    fn mark_dirty(&self, waker: &Waker) {
        if !self.dirty.swap(true, Ordering::AcqRel) {
            waker();
        }
    }

    /// After parsing (with `queued` from [`Term::has_outbound`] under the lock): raises the
    /// outbound flag and wakes the UI on its rising edge. The dirty flag's wake is not
    /// enough: it stays set while the pane is not drawn (another pane zoomed, a terminal
    /// too small), and a bell then is just when the UI must hear of it.
    fn mark_outbound(&self, queued: bool, waker: &Waker) {
        if queued && !self.outbound.swap(true, Ordering::AcqRel) {
            waker();
        }
    }
}

/// One run of the program.
struct Session {
    shared: Arc<Shared>,
    master: Box<dyn MasterPty + Send>,
    input: Sender<Vec<u8>>,
    pid: Option<u32>,
}

pub struct TerminalPane {
    spec: CommandSpec,
    scrollback: usize,
    waker: Waker,
    session: Session,
    exit_hint: String,
    /// The focus last drawn with, to send focus reports on change.
    focused: Option<bool>,
    /// What the program is told when it asks for the pane's colours (OSC 10/11/12).
    colors: TermColors,
}

const READ_BUFFER: usize = 64 * 1024;
/// When set, every pane appends its program's raw output to this file.
pub const RECORD_VAR: &str = "LLWS_PTY_RECORD";
/// How long a program gets after SIGHUP before the pane sends SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(3);
/// Lines one wheel notch scrolls.
const WHEEL_LINES: i32 = 3;

impl TerminalPane {
    /// Starts `spec` on a new PTY of `rows` × `cols` (clamped to at least 2 × 10).
    ///
    /// Call it (and [`restart`](Self::restart)) from a thread that lives as long as the
    /// pane, such as the UI thread: a sandboxed program is started with bwrap's
    /// `--die-with-parent`, which the kernel ties to the thread that spawned it.
    ///
    /// Colour queries are answered with [`TermColors::DARK`]; see
    /// [`spawn_with_colors`](Self::spawn_with_colors).
    pub fn spawn(
        spec: CommandSpec,
        rows: u16,
        cols: u16,
        scrollback: usize,
        waker: Waker,
    ) -> anyhow::Result<TerminalPane> {
        Self::spawn_with_colors(spec, rows, cols, scrollback, TermColors::default(), waker)
    }

    /// [`spawn`](Self::spawn), answering colour queries with `colors` from the first byte
    /// (programs ask at start-up, before the UI could call [`set_colors`](Self::set_colors)).
    pub fn spawn_with_colors(
        spec: CommandSpec,
        rows: u16,
        cols: u16,
        scrollback: usize,
        colors: TermColors,
        waker: Waker,
    ) -> anyhow::Result<TerminalPane> {
        super::contain::install_panic_filter();
        let session = start(&spec, rows, cols, scrollback, colors, waker.clone())?;
        Ok(TerminalPane {
            spec,
            scrollback,
            waker,
            session,
            exit_hint: "press r to restart".into(),
            focused: None,
            colors,
        })
    }

    /// The colours reported to a program that asks (OSC 10/11/12), e.g. after the UI's
    /// theme changed. Cheap when nothing changed, so the UI can call it every frame.
    pub fn set_colors(&mut self, colors: TermColors) {
        if self.colors != colors {
            self.colors = colors;
            self.session.shared.term().set_colors(colors);
        }
    }

    /// Sends a key to the program (nothing once it has exited). Typing returns the view to
    /// the live screen.
    pub fn handle_key(&mut self, key: &KeyEvent) {
        if self.exit_status().is_some() {
            return;
        }
        let modes = self.modes();
        if let Some(bytes) = encode_key(key, &modes) {
            self.session.shared.term().scroll_to_bottom();
            self.send(bytes);
        }
    }

    /// Sends pasted text, bracketed when the program asked for it.
    pub fn paste(&mut self, text: &str) {
        if self.exit_status().is_some() {
            return;
        }
        let modes = self.modes();
        self.session.shared.term().scroll_to_bottom();
        self.send(encode_paste(text, modes.bracketed_paste));
    }

    /// Writes raw bytes to the program's input.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        self.send(bytes.to_vec());
    }

    fn send(&self, bytes: Vec<u8>) {
        // A closed channel means the writer saw the PTY close; the exit line says so.
        let _ = self.session.input.send(bytes);
    }

    /// A mouse event at terminal coordinates; `inner` is where the pane's contents are drawn.
    /// When the program enabled mouse reporting the event is forwarded in its encoding;
    /// otherwise the wheel scrolls llws's scrollback (or, on the alternate screen, which has
    /// none, sends cursor keys as xterm's alternateScroll does). Returns whether the pane
    /// used the event; clicks it did not use are the UI's (e.g. to focus the pane).
    pub fn handle_mouse(&mut self, ev: &MouseEvent, inner: Rect) -> bool {
        if !inner.contains(Position::new(ev.column, ev.row)) {
            return false;
        }
        let (col, row) = (ev.column - inner.x, ev.row - inner.y);
        let (mode, encoding, alternate, modes) = {
            let term = self.session.shared.term();
            let s = term.screen();
            (
                s.mouse_protocol_mode(),
                s.mouse_protocol_encoding(),
                s.alternate_screen(),
                term.modes(),
            )
        };
        let running = self.exit_status().is_none();
        if running && mode != vt100::MouseProtocolMode::None {
            if let Some(bytes) = encode_mouse(ev.kind, ev.modifiers, col, row, mode, encoding) {
                self.send(bytes);
            }
            return true;
        }
        let delta = match ev.kind {
            MouseEventKind::ScrollUp => WHEEL_LINES,
            MouseEventKind::ScrollDown => -WHEEL_LINES,
            _ => return false,
        };
        if alternate && running {
            let code = if delta > 0 {
                KeyCode::Up
            } else {
                KeyCode::Down
            };
            let key = KeyEvent::new(code, KeyModifiers::NONE);
            if let Some(bytes) = encode_key(&key, &modes) {
                self.send(bytes.repeat(WHEEL_LINES as usize));
            }
        } else {
            self.scroll_lines(delta);
        }
        true
    }

    /// Scrolls llws's scrollback: positive goes back in history, negative towards the live
    /// screen.
    pub fn scroll_lines(&mut self, delta: i32) {
        self.session.shared.term().scroll_by(delta);
        self.session.shared.dirty.store(true, Ordering::Release);
    }

    /// Lines scrolled back from the live screen (0 = live).
    pub fn scrollback_offset(&self) -> usize {
        self.session.shared.term().scrollback()
    }

    /// Resizes the screen and the PTY together (the program gets SIGWINCH). Sizes below
    /// 2 × 10 are clamped. Cheap when nothing changed.
    pub fn resize(&mut self, rows: u16, cols: u16) {
        let (rows, cols) = clamp_size(rows, cols);
        let mut term = self.session.shared.term();
        if term.size() == (rows, cols) {
            return;
        }
        term.resize(rows, cols);
        // The PTY is resized under the screen lock, so no output is parsed at a size the
        // program did not draw for.
        let _ = self.session.master.resize(PtySize {
            rows,
            cols,
            pixel_width: 0,
            pixel_height: 0,
        });
        self.session.shared.dirty.store(true, Ordering::Release);
    }

    /// The screen size (rows, cols).
    pub fn size(&self) -> (u16, u16) {
        self.session.shared.term().size()
    }

    /// [`sync`](Self::sync) then [`draw`](Self::draw): for a caller that owns the pane
    /// and its frame (the full-screen `llws claude`, tests).
    pub fn render(&mut self, area: Rect, buf: &mut Buffer, focused: bool) {
        self.sync(area, focused);
        self.draw(area, buf, focused, None);
    }

    /// Brings the pane in line with the frame about to be drawn: the screen and the PTY
    /// follow `area`'s size, and the program hears of a focus change (Claude Code asks for
    /// focus reports). Called before drawing, so that drawing itself writes nothing.
    /// Clears the dirty flag.
    pub fn sync(&mut self, area: Rect, focused: bool) {
        if area.width == 0 || area.height == 0 {
            return;
        }
        self.resize(area.height, area.width);
        let exit = self.exit_status();
        let term = self.session.shared.term();
        if self.focused != Some(focused) {
            // The first frame only records the state: a report is for a change.
            let changed = self.focused.replace(focused).is_some();
            if changed && term.focus_reporting() && exit.is_none() {
                let _ = self.session.input.send(if focused {
                    b"\x1b[I".to_vec()
                } else {
                    b"\x1b[O".to_vec()
                });
            }
        }
        self.session.shared.dirty.store(false, Ordering::Release);
    }

    /// Draws the terminal and the pane's badges into `area` (the UI draws border and
    /// title), with `banner` over its top line. Reads the screen and changes nothing.
    pub fn draw(&self, area: Rect, buf: &mut Buffer, focused: bool, banner: Option<&str>) {
        if area.width == 0 || area.height == 0 {
            return;
        }
        let exit = self.exit_status();
        let term = self.session.shared.term();
        let scrollback = term.scrollback();
        term.render(area, buf, focused && scrollback == 0 && exit.is_none());
        drop(term);
        let overlays = Overlays {
            banner,
            scrollback,
            exit: exit.map(|e| format!("{e} · {}", self.exit_hint)),
        };
        overlay::draw(&overlays, area, buf);
    }

    /// How the program ended, once it has.
    pub fn exit_status(&self) -> Option<ExitInfo> {
        self.session.shared.exit()
    }

    /// Starts the command again on a fresh screen of the same size, ending the old run first
    /// if it is still going.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        let (rows, cols) = self.size();
        let session = start(
            &self.spec,
            rows,
            cols,
            self.scrollback,
            self.colors,
            self.waker.clone(),
        )?;
        // Dropping the old session hangs up its program.
        self.session = session;
        self.focused = None;
        Ok(())
    }

    /// The window title the program set (OSC 0/2), or "" when it set none.
    pub fn title(&self) -> String {
        self.session.shared.term().title().to_string()
    }

    /// The hint after the exit message, naming the UI's restart key.
    pub fn set_exit_hint(&mut self, hint: impl Into<String>) {
        self.exit_hint = hint.into();
    }

    /// What the program sent for the user's terminal since the last call (see
    /// [`Outbound`]), oldest first. Never waits on the reader unless there is something:
    /// the UI calls it every loop.
    pub fn take_outbound(&self) -> Vec<Outbound> {
        let shared = &self.session.shared;
        if shared.outbound.swap(false, Ordering::AcqRel) {
            shared.term().take_outbound()
        } else {
            Vec::new()
        }
    }

    /// Whether there is something new to draw since the last call (or render); clears it.
    pub fn take_dirty(&self) -> bool {
        self.session.shared.dirty.swap(false, Ordering::AcqRel)
    }

    /// The program's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        if self.exit_status().is_some() {
            None
        } else {
            self.session.pid
        }
    }

    /// The input modes the program set (cursor keys, bracketed paste, extended keys).
    pub fn modes(&self) -> TermModes {
        self.session.shared.term().modes()
    }

    /// Runs `f` on the pane's lines under the screen's lock (copy mode reads them; see
    /// [`super::history`]).
    pub fn with_history<R>(&self, f: impl FnOnce(&mut super::history::History<'_>) -> R) -> R {
        f(&mut super::history::History::new(
            &mut self.session.shared.term(),
        ))
    }

    /// The visible text, rows separated by newlines.
    pub fn screen_text(&self) -> String {
        self.session.shared.term().contents()
    }

    /// Parser panics contained so far in this run.
    pub fn parser_resets(&self) -> u64 {
        self.session.shared.term().resets()
    }

    /// Feeds bytes to the screen as if the program wrote them (used to replay recordings).
    pub fn feed(&mut self, bytes: &[u8]) {
        let shared = &self.session.shared;
        let (replies, queued) = {
            let mut term = shared.term();
            term.process(bytes);
            (term.take_replies(), term.has_outbound())
        };
        if !replies.is_empty() {
            self.send(replies);
        }
        shared.mark_outbound(queued, &self.waker);
        shared.dirty.store(true, Ordering::Release);
    }

    pub fn command(&self) -> &CommandSpec {
        &self.spec
    }
}

impl Drop for Session {
    /// Ends a run: SIGHUP to the program's process group (it is a session leader, as a login
    /// shell on a terminal is), then SIGKILL if it is still there after a grace period. The
    /// threads end on their own once the PTY closes.
    fn drop(&mut self) {
        hang_up(self.pid, &self.shared);
    }
}

fn hang_up(pid: Option<u32>, shared: &Arc<Shared>) {
    let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) else {
        return;
    };
    if shared.exit().is_some() {
        return;
    }
    // SAFETY: kill(2) with a pid we spawned and have not reaped (the waiter reaps it and
    // records the exit, checked above and again below).
    unsafe {
        libc::kill(-pid, libc::SIGHUP);
        libc::kill(pid, libc::SIGHUP);
    }
    let shared = shared.clone();
    std::thread::Builder::new()
        .name("llws-pty-reap".into())
        .spawn(move || {
            let deadline = Instant::now() + KILL_GRACE;
            while Instant::now() < deadline {
                if shared.exit().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if shared.exit().is_none() {
                // SAFETY: as above; the waiter has not reaped it, so the pid is still ours.
                unsafe {
                    libc::kill(-pid, libc::SIGKILL);
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        })
        .ok();
}

/// Environment variables that describe the terminal llws itself runs in and would mislead
/// the program in the pane about its terminal.
const HOST_TERMINAL_VARS: &[&str] = &[
    "TMUX",
    "TMUX_PANE",
    "STY",
    "LINES",
    "COLUMNS",
    "TERM_PROGRAM_VERSION",
    "KITTY_WINDOW_ID",
    "WEZTERM_PANE",
    "ZELLIJ",
    "ZELLIJ_SESSION_NAME",
];

fn builder(spec: &CommandSpec) -> CommandBuilder {
    let mut cmd = CommandBuilder::new(&spec.program);
    cmd.args(&spec.args);
    for var in HOST_TERMINAL_VARS {
        cmd.env_remove(var);
    }
    cmd.env("TERM", "xterm-256color");
    cmd.env("COLORTERM", "truecolor");
    cmd.env("TERM_PROGRAM", "llws");
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    match &spec.cwd {
        Some(dir) => cmd.cwd(dir),
        None => {
            if let Ok(dir) = std::env::current_dir() {
                cmd.cwd(dir);
            }
        }
    }
    cmd
}

fn start(
    spec: &CommandSpec,
    rows: u16,
    cols: u16,
    scrollback: usize,
    colors: TermColors,
    waker: Waker,
) -> anyhow::Result<Session> {
    let (rows, cols) = clamp_size(rows, cols);
    let pair = native_pty_system()
        .openpty(PtySize {
            rows,
            cols,
            pixel_width: 0,
            pixel_height: 0,
        })
        .context("cannot open a pseudo-terminal")?;
    let mut child = pair
        .slave
        .spawn_command(builder(spec))
        .with_context(|| format!("cannot start `{}`", spec.display()))?;
    // Only the child may hold the slave side, so the reader sees end-of-file when it exits.
    drop(pair.slave);
    let pid = child.process_id();
    let mut reader = pair
        .master
        .try_clone_reader()
        .context("cannot read the pseudo-terminal")?;
    let mut writer = pair
        .master
        .take_writer()
        .context("cannot write the pseudo-terminal")?;

    let mut term = Term::new(rows, cols, scrollback);
    term.set_colors(colors);
    let shared = Arc::new(Shared {
        term: Mutex::new(term),
        dirty: AtomicBool::new(false),
        outbound: AtomicBool::new(false),
        exit: Mutex::new(None),
    });
    let (input, input_rx) = mpsc::channel::<Vec<u8>>();

    std::thread::Builder::new()
        .name("llws-pty-write".into())
        .spawn(move || {
            for bytes in input_rx {
                if writer
                    .write_all(&bytes)
                    .and_then(|()| writer.flush())
                    .is_err()
                {
                    break;
                }
            }
        })?;

    // A debugging aid (and how tests/data was recorded): a copy of the raw output.
    let mut record = std::env::var_os(RECORD_VAR).and_then(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .ok()
    });
    let reader_shared = shared.clone();
    let reader_input = input.clone();
    let reader_waker = waker.clone();
    std::thread::Builder::new()
        .name("llws-pty-read".into())
        .spawn(move || {
            let mut buf = vec![0u8; READ_BUFFER];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if let Some(f) = record.as_mut() {
                            let _ = f.write_all(&buf[..n]);
                        }
                        let (replies, queued) = {
                            let mut term = reader_shared.term();
                            term.process(&buf[..n]);
                            (term.take_replies(), term.has_outbound())
                        };
                        if !replies.is_empty() {
                            let _ = reader_input.send(replies);
                        }
                        reader_shared.mark_outbound(queued, &reader_waker);
                        reader_shared.mark_dirty(&reader_waker);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            reader_shared.mark_dirty(&reader_waker);
        })?;

    let waiter_shared = shared.clone();
    std::thread::Builder::new()
        .name("llws-pty-wait".into())
        .spawn(move || {
            let info = match child.wait() {
                Ok(status) => ExitInfo {
                    code: status.exit_code(),
                    signal: status.signal().map(str::to_string),
                },
                Err(e) => ExitInfo {
                    code: 1,
                    signal: Some(format!("cannot wait for it: {e}")),
                },
            };
            *waiter_shared.exit.lock().unwrap_or_else(|e| e.into_inner()) = Some(info);
            waiter_shared.mark_dirty(&waker);
        })?;

    Ok(Session {
        shared,
        master: pair.master,
        input,
        pid,
    })
}
