//! The workspace's state and how input changes it. Everything outside (controller, claude
//! pane, clocks) is reached through [`Effect`]s and the [`View`] passed in.

use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::Rect;

use crate::config::keymap::{KeyAction, Keymap, Section};
use crate::config::settings::OnExit;
use crate::config::theme::Theme;
use crate::server::{Phase, ServerState};
use crate::ui::action::Effect;
use crate::ui::dialog;
use crate::ui::keys::{KeyContext, Mode, Route, resolve};
use crate::ui::layout::{self, Border, Layout, LayoutKind, PaneId, Splits};
use crate::ui::panes::logs::{LogView, Prompt};
use crate::ui::passthrough::COPY_MAX;
use crate::ui::picker::{self, ModelFacts, Picker};
use crate::ui::status_bar::{Level, Message, ModeLabel};
use crate::ui::view::View;

/// What sits over the panes.
#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    None,
    // Boxed: the picker carries its per-profile facts; the other overlays are a few bytes.
    Picker(Box<Picker>),
    Help { scroll: u16 },
    ConfirmQuit,
    Failure { scroll: u16 },
}

/// Split steps of the resize keys, in percent.
const RESIZE_STEP: i32 = 5;
/// Lines one wheel notch scrolls the log.
const WHEEL_LINES: i64 = 3;
/// How long an info message stays; warnings and errors stay longer.
const INFO_MS: u64 = 6_000;
const WARN_MS: u64 = 20_000;

pub struct App {
    pub keymap: Keymap,
    pub theme: Theme,
    /// The themes the theme key cycles through: the configured one first, then the presets.
    themes: Vec<Theme>,
    theme_index: usize,
    pub focus: PaneId,
    pub zoom: Option<PaneId>,
    pub splits: Splits,
    pub mode: Mode,
    pub overlay: Overlay,
    pub logs: LogView,
    pub message: Option<Message>,
    /// When the message goes away (ms since the epoch); `None` keeps it.
    pub message_until: Option<u64>,
    /// The layout of the last frame, for the mouse.
    pub layout: Layout,
    /// The claude pane's inner area in the last frame.
    pub claude_inner: Rect,
    /// Compact layout: the tab titles' cells, for clicks.
    pub tab_hits: Vec<(PaneId, Rect)>,
    drag: Option<Border>,
    /// Compact layout: the monitor pane shown below claude.
    pub tab: PaneId,
    pub on_exit: OnExit,
    /// Set once the user confirmed quitting (or a signal came).
    pub quitting: bool,
    /// What asked for attention in the claude pane while the user was not looking at it (a
    /// notification's text, or "bell"): the pane's title shows it until the pane is in
    /// view again ([`App::claude_in_view`]).
    pub claude_alert: Option<String>,
}

impl App {
    pub fn new(keymap: Keymap, theme: Theme, on_exit: OnExit) -> App {
        let mut themes = vec![theme.clone()];
        themes.extend(
            Theme::preset_names()
                .filter(|n| *n != theme.name)
                .filter_map(Theme::preset),
        );
        App {
            keymap,
            theme,
            themes,
            theme_index: 0,
            focus: PaneId::Claude,
            zoom: None,
            splits: Splits::default(),
            mode: Mode::Normal,
            overlay: Overlay::None,
            logs: LogView::default(),
            message: None,
            message_until: None,
            layout: layout::compute(
                Rect::new(0, 0, 160, 50),
                &Splits::default(),
                None,
                PaneId::Logs,
            ),
            claude_inner: Rect::default(),
            tab_hits: Vec::new(),
            drag: None,
            tab: PaneId::Logs,
            on_exit,
            quitting: false,
            claude_alert: None,
        }
    }

    /// Whether the user is looking at the claude pane: it has the focus and nothing is
    /// drawn over it.
    pub fn claude_in_view(&self) -> bool {
        self.focus == PaneId::Claude && self.overlay == Overlay::None
    }

    /// A bell or notification (`what`) from the claude pane: marks its title when the user
    /// is not looking at it, the latest replacing an earlier mark. Returns whether the mark
    /// changed, i.e. a redraw is due.
    pub fn claude_attention(&mut self, what: &str) -> bool {
        if self.claude_in_view() || self.claude_alert.as_deref() == Some(what) {
            return false;
        }
        self.claude_alert = Some(what.to_string());
        true
    }

    /// Sets the message in the status bar; `now_ms` starts its timeout (none for errors
    /// that must be read, such as a broken keymap).
    pub fn say(&mut self, level: Level, text: impl Into<String>, now_ms: Option<u64>) {
        self.message = Some(Message {
            text: text.into(),
            level,
        });
        self.message_until = now_ms.map(|now| {
            now + match level {
                Level::Info => INFO_MS,
                _ => WARN_MS,
            }
        });
    }

    /// Drops an expired message; returns whether it did.
    pub fn expire_message(&mut self, now_ms: u64) -> bool {
        if self.message_until.is_some_and(|until| now_ms >= until) {
            self.message = None;
            self.message_until = None;
            return true;
        }
        false
    }

    pub fn mode_label(&self) -> ModeLabel {
        match &self.overlay {
            Overlay::Picker(_) => return ModeLabel::Picker,
            Overlay::Help { .. } => return ModeLabel::Help,
            Overlay::ConfirmQuit => return ModeLabel::Confirm,
            Overlay::Failure { .. } => return ModeLabel::Details,
            Overlay::None => {}
        }
        match (&self.logs.editing, self.mode) {
            (Some((Prompt::Search, _)), _) => ModeLabel::Search,
            (Some((Prompt::Filter, _)), _) => ModeLabel::Filter,
            (None, Mode::Normal) => ModeLabel::Normal,
            (None, Mode::Prefix) => ModeLabel::Prefix,
            (None, Mode::Locked) => ModeLabel::Locked,
            (None, Mode::Scroll) => ModeLabel::Scroll,
        }
    }

    /// Opens the picker (e.g. at start, when nothing runs).
    pub fn open_picker(&mut self, view: &View<'_>, auto: bool) -> Vec<Effect> {
        if view.profiles.set.profiles.is_empty() {
            let why = view
                .profiles
                .error
                .as_ref()
                .map(|e| e.to_string())
                .unwrap_or_else(|| "models.conf has no profiles".into());
            self.say(Level::Error, why, Some(view.now_ms));
            return Vec::new();
        }
        self.mode = Mode::Normal;
        self.overlay = Overlay::Picker(Box::new(Picker::open(
            &view.profiles.set,
            view.server.profile.as_deref(),
            auto,
        )));
        vec![Effect::LoadModelSizes]
    }

    /// The last load time of each profile (from the controller's timings).
    pub fn set_load_times(&mut self, loads: std::collections::HashMap<String, u64>) {
        if let Overlay::Picker(p) = &mut self.overlay {
            p.loads = loads;
        }
    }

    pub fn set_model_facts(&mut self, facts: ModelFacts) {
        if let Overlay::Picker(p) = &mut self.overlay {
            p.sizes = Some(facts.sizes);
            p.samplers = facts.samplers;
        }
    }

    /// The controller accepted a switch: close the picker.
    pub fn switch_accepted(&mut self) {
        if matches!(self.overlay, Overlay::Picker(_)) {
            self.overlay = Overlay::None;
        }
    }

    /// The controller refused a switch at once: say why where the user looks.
    pub fn switch_refused(&mut self, why: String, now_ms: u64) {
        if let Overlay::Picker(p) = &mut self.overlay {
            p.message = Some((why, true));
        } else {
            self.say(Level::Error, why, Some(now_ms));
        }
    }

    /// Reacts to a new controller state.
    pub fn on_server_state(&mut self, old: &ServerState, new: &ServerState, now_ms: u64) {
        if let Overlay::Picker(p) = &self.overlay
            && p.auto_opened
            && new.adopted
            && new.phase != Phase::Idle
        {
            self.overlay = Overlay::None;
        }
        if old.phase != Phase::Failed && new.phase == Phase::Failed {
            let reason = new
                .failure
                .as_ref()
                .map(|f| f.reason.as_str())
                .unwrap_or(&new.message);
            let key = self
                .keymap
                .key_for(Section::Prefix, KeyAction::FailureDetails)
                .map(|k| {
                    format!(
                        " ({} {} for details)",
                        self.keymap.prefix.label(),
                        k.label()
                    )
                })
                .unwrap_or_default();
            self.say(
                Level::Error,
                format!(
                    "{}: {reason}{key}",
                    new.profile_name.clone().unwrap_or_default()
                ),
                Some(now_ms),
            );
        }
        if old.phase != Phase::Running && new.phase == Phase::Running {
            let took = old
                .switch
                .as_ref()
                .map(|s| {
                    format!(
                        " in {:.1} s",
                        now_ms.saturating_sub(s.started_at_ms) as f64 / 1000.0
                    )
                })
                .unwrap_or_default();
            self.say(
                Level::Info,
                format!(
                    "{} is ready{took}",
                    new.profile_name.clone().unwrap_or_default()
                ),
                Some(now_ms),
            );
        }
    }

    pub fn on_event(&mut self, event: &Event, view: &View<'_>) -> Vec<Effect> {
        match event {
            Event::Key(key) => self.on_key(key, view),
            Event::Mouse(m) => self.on_mouse(m, view),
            Event::Paste(text) => {
                if let Some((_, buf)) = &mut self.logs.editing {
                    buf.push_str(text.lines().next().unwrap_or_default());
                    Vec::new()
                } else if self.focus == PaneId::Claude || self.mode == Mode::Locked {
                    vec![Effect::ClaudePaste(text.clone())]
                } else {
                    Vec::new()
                }
            }
            _ => Vec::new(),
        }
    }

    pub fn on_key(&mut self, key: &KeyEvent, view: &View<'_>) -> Vec<Effect> {
        let ctx = KeyContext {
            mode: self.mode,
            focus: self.focus,
            overlay: self.overlay != Overlay::None || self.logs.editing.is_some(),
        };
        match resolve(&self.keymap, &ctx, key) {
            Route::Ignore => Vec::new(),
            Route::Claude => vec![Effect::ClaudeKey(*key)],
            Route::SendPrefix => {
                self.mode = Mode::Normal;
                vec![Effect::ClaudeKey(KeyEvent::new(
                    self.keymap.prefix.code,
                    self.keymap.prefix.mods,
                ))]
            }
            Route::EnterPrefix => {
                self.mode = Mode::Prefix;
                Vec::new()
            }
            Route::ToggleLock => {
                self.toggle_lock(view.now_ms);
                Vec::new()
            }
            Route::Overlay => self.overlay_key(key, view),
            Route::Unbound { after_prefix } => {
                if after_prefix {
                    self.mode = Mode::Normal;
                    let help = self
                        .keymap
                        .key_for(Section::Prefix, KeyAction::Help)
                        .map(|k| {
                            format!(
                                " ({} {} lists the keys)",
                                self.keymap.prefix.label(),
                                k.label()
                            )
                        })
                        .unwrap_or_default();
                    let pressed = crate::config::keymap::KeySpec::from_event(key).label();
                    self.say(
                        Level::Warn,
                        format!(
                            "{} {pressed} does nothing{help}",
                            self.keymap.prefix.label()
                        ),
                        Some(view.now_ms),
                    );
                }
                Vec::new()
            }
            Route::Action(action) => {
                if self.mode == Mode::Prefix {
                    self.mode = Mode::Normal;
                }
                self.action(action, view)
            }
        }
    }

    fn toggle_lock(&mut self, now_ms: u64) {
        if self.mode == Mode::Locked {
            self.mode = Mode::Normal;
            self.say(Level::Info, "unlocked", Some(now_ms));
        } else {
            self.mode = Mode::Locked;
            self.focus = PaneId::Claude;
            self.zoom = self.zoom.map(|_| PaneId::Claude);
            self.say(
                Level::Info,
                format!(
                    "locked: every key goes to claude; {} unlocks",
                    self.keymap.lock.label()
                ),
                Some(now_ms),
            );
        }
    }

    fn focus_to(&mut self, pane: PaneId) {
        self.focus = pane;
        if pane != PaneId::Claude {
            self.tab = pane;
        }
        if self.zoom.is_some() {
            self.zoom = Some(pane);
        }
        if self.mode == Mode::Scroll {
            self.mode = Mode::Normal;
        }
    }

    fn focus_dir(&mut self, dx: i32, dy: i32) {
        if let Some(p) = self.layout.neighbour(self.focus, dx, dy) {
            self.focus_to(p);
        } else if self.layout.kind == LayoutKind::Compact && self.focus != PaneId::Claude && dx != 0
        {
            // Left and right walk the tabs below claude.
            let tabs = [PaneId::Logs, PaneId::Gpu, PaneId::System];
            let i = tabs.iter().position(|p| *p == self.focus).unwrap_or(0) as i32;
            self.focus_to(tabs[(i + dx).rem_euclid(3) as usize]);
        } else if self.zoom.is_some() {
            self.focus_to(if dx + dy > 0 {
                self.focus.next()
            } else {
                self.focus.prev()
            });
        }
    }

    fn resize(&mut self, dx: i32, dy: i32) {
        let adjust =
            |v: &mut u16, d: i32| *v = (i32::from(*v) + d * RESIZE_STEP).clamp(10, 90) as u16;
        match self.layout.kind {
            LayoutKind::Full if dx != 0 => adjust(&mut self.splits.main_full, dx),
            LayoutKind::Full => match self.focus {
                PaneId::Gpu | PaneId::System => adjust(&mut self.splits.gpu, dy),
                _ => adjust(&mut self.splits.logs, dy),
            },
            LayoutKind::Compact if dy != 0 => adjust(&mut self.splits.main_compact, dy),
            _ => {}
        }
    }

    fn scroll_focused(&mut self, action: KeyAction, view: &View<'_>) -> Vec<Effect> {
        let page = i32::from(self.claude_inner.height.max(2) - 1);
        match self.focus {
            PaneId::Claude => {
                let delta = match action {
                    KeyAction::ScrollUp => 1,
                    KeyAction::ScrollDown => -1,
                    KeyAction::PageUp => page,
                    KeyAction::PageDown => -page,
                    KeyAction::Top => i32::MAX,
                    _ => i32::MIN,
                };
                vec![Effect::ClaudeScroll(delta)]
            }
            PaneId::Logs => {
                let (lines, next) = (view.logs, view.log_next_seq);
                match action {
                    KeyAction::ScrollUp => self.logs.scroll(lines, next, -1),
                    KeyAction::ScrollDown => self.logs.scroll(lines, next, 1),
                    KeyAction::PageUp => self.logs.page(lines, next, -1),
                    KeyAction::PageDown => self.logs.page(lines, next, 1),
                    KeyAction::Top => self.logs.top(lines, next),
                    _ => self.logs.bottom(),
                }
                Vec::new()
            }
            PaneId::Gpu | PaneId::System => Vec::new(),
        }
    }

    pub fn action(&mut self, action: KeyAction, view: &View<'_>) -> Vec<Effect> {
        use KeyAction as A;
        let now = view.now_ms;
        match action {
            A::Picker => return self.open_picker(view, false),
            A::Help => self.overlay = Overlay::Help { scroll: 0 },
            A::Quit => self.overlay = Overlay::ConfirmQuit,
            A::Lock => self.toggle_lock(now),
            A::SendPrefix => {
                return vec![Effect::ClaudeKey(KeyEvent::new(
                    self.keymap.prefix.code,
                    self.keymap.prefix.mods,
                ))];
            }
            A::FocusLeft => self.focus_dir(-1, 0),
            A::FocusRight => self.focus_dir(1, 0),
            A::FocusUp => self.focus_dir(0, -1),
            A::FocusDown => self.focus_dir(0, 1),
            A::FocusNext => self.focus_to(self.focus.next()),
            A::FocusPrev => self.focus_to(self.focus.prev()),
            A::FocusClaude => self.focus_to(PaneId::Claude),
            A::FocusLogs => self.focus_to(PaneId::Logs),
            A::FocusGpu => self.focus_to(PaneId::Gpu),
            A::FocusSystem => self.focus_to(PaneId::System),
            A::Zoom => {
                self.zoom = match self.zoom {
                    Some(_) => None,
                    None => Some(self.focus),
                };
            }
            A::ResizeLeft => self.resize(-1, 0),
            A::ResizeRight => self.resize(1, 0),
            A::ResizeUp => self.resize(0, -1),
            A::ResizeDown => self.resize(0, 1),
            A::ScrollMode => {
                if matches!(self.focus, PaneId::Gpu | PaneId::System) {
                    self.focus_to(PaneId::Logs);
                }
                self.mode = Mode::Scroll;
            }
            A::ScrollUp | A::ScrollDown | A::PageUp | A::PageDown | A::Top | A::Bottom => {
                return self.scroll_focused(action, view);
            }
            A::Search | A::Filter => {
                self.focus_to(PaneId::Logs);
                self.logs.start_prompt(if action == A::Search {
                    Prompt::Search
                } else {
                    Prompt::Filter
                });
            }
            A::SearchNext | A::SearchPrev => {
                if self.focus != PaneId::Logs && self.focus != PaneId::Claude {
                    self.focus_to(PaneId::Logs);
                }
                match self.logs.search.clone() {
                    None => self.say(Level::Warn, "no search: press / first", Some(now)),
                    Some(q) => {
                        if !self.logs.jump(
                            view.logs,
                            view.log_next_seq,
                            action == A::SearchNext,
                            false,
                        ) {
                            let dir = if action == A::SearchNext {
                                "below"
                            } else {
                                "above"
                            };
                            self.say(
                                Level::Warn,
                                format!("no match for \"{q}\" {dir}"),
                                Some(now),
                            );
                        }
                    }
                }
            }
            A::ClearSearch => self.logs.clear(),
            A::Wrap => {
                self.logs.wrap = !self.logs.wrap;
                let how = if self.logs.wrap {
                    "long log lines wrap"
                } else {
                    "long log lines are cut at the edge"
                };
                self.say(Level::Info, how, Some(now));
            }
            A::Copy => return self.copy_log(view),
            A::ThemeNext => {
                self.theme_index = (self.theme_index + 1) % self.themes.len();
                self.theme = self.themes[self.theme_index].clone();
                self.say(
                    Level::Info,
                    format!("theme: {}", self.theme.name),
                    Some(now),
                );
            }
            A::FailureDetails => self.overlay = Overlay::Failure { scroll: 0 },
            A::RestartClaude => return vec![Effect::RestartClaude],
            A::RestartServer => return vec![Effect::RestartServer],
            A::StopServer => return vec![Effect::StopServer],
            A::KeepWaiting => return vec![Effect::KeepWaiting],
            A::Cancel => {
                if self.mode == Mode::Scroll && self.focus == PaneId::Claude {
                    self.mode = Mode::Normal;
                    return vec![Effect::ClaudeScroll(i32::MIN)];
                }
                self.mode = Mode::Normal;
            }
        }
        Vec::new()
    }

    /// The copy key: the lines the log pane shows go to the clipboard (see
    /// [`LogView::copy`]), and the status bar says how many.
    fn copy_log(&mut self, view: &View<'_>) -> Vec<Effect> {
        let now = Some(view.now_ms);
        let copied = self.logs.copy(view.logs, COPY_MAX);
        if copied.of == 0 {
            self.say(Level::Warn, "nothing to copy: the log shows no lines", now);
            return Vec::new();
        }
        let lines = |n: usize| if n == 1 { "line" } else { "lines" };
        let matching = self
            .logs
            .filter
            .as_ref()
            .map(|f| format!(" matching \"{f}\""))
            .unwrap_or_default();
        if copied.lines < copied.of {
            self.say(
                Level::Warn,
                format!(
                    "copied the last {} of {} {}{matching}: a copy holds {} KiB at most",
                    copied.lines,
                    copied.of,
                    lines(copied.of),
                    COPY_MAX.div_ceil(1024)
                ),
                now,
            );
        } else {
            self.say(
                Level::Info,
                format!("copied {} {}{matching}", copied.lines, lines(copied.lines)),
                now,
            );
        }
        vec![Effect::Copy(copied.text)]
    }

    /// `y` in the failure details: the report, as the overlay shows it, to the clipboard
    /// (for a bug report).
    fn copy_failure(&mut self, view: &View<'_>) -> Vec<Effect> {
        let now = Some(view.now_ms);
        let Some(mut report) = dialog::failure_report(view.server.failure.as_ref(), view.server)
        else {
            self.say(Level::Warn, "nothing to copy: nothing has failed", now);
            return Vec::new();
        };
        // The tail is 30 lines of at most 16 KiB, well under the cap; cut anyway rather
        // than send an escape the terminal would drop whole.
        if report.len() > COPY_MAX {
            report.truncate(report.floor_char_boundary(COPY_MAX));
            self.say(
                Level::Warn,
                format!(
                    "copied the failure details, cut at {} KiB",
                    COPY_MAX.div_ceil(1024)
                ),
                now,
            );
        } else {
            self.say(Level::Info, "copied the failure details", now);
        }
        vec![Effect::Copy(report)]
    }

    fn overlay_key(&mut self, key: &KeyEvent, view: &View<'_>) -> Vec<Effect> {
        if let Some((_, text)) = &mut self.logs.editing {
            match key.code {
                KeyCode::Enter => self.logs.end_prompt(view.logs, view.log_next_seq, true),
                KeyCode::Esc => self.logs.end_prompt(view.logs, view.log_next_seq, false),
                KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                    self.logs.end_prompt(view.logs, view.log_next_seq, false)
                }
                KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => text.clear(),
                KeyCode::Backspace => {
                    text.pop();
                }
                KeyCode::Char(c)
                    if !key
                        .modifiers
                        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
                {
                    text.push(c)
                }
                _ => {}
            }
            if self.logs.editing.is_none() && self.mode == Mode::Prefix {
                self.mode = Mode::Normal;
            }
            return Vec::new();
        }
        let scroll_delta = |key: &KeyEvent| -> Option<i32> {
            match key.code {
                KeyCode::Up | KeyCode::Char('k') => Some(-1),
                KeyCode::Down | KeyCode::Char('j') => Some(1),
                KeyCode::PageUp => Some(-10),
                KeyCode::PageDown | KeyCode::Char(' ') => Some(10),
                KeyCode::Home | KeyCode::Char('g') => Some(-10_000),
                KeyCode::End | KeyCode::Char('G') => Some(10_000),
                _ => None,
            }
        };
        if matches!(self.overlay, Overlay::Failure { .. })
            && key.code == KeyCode::Char('y')
            && !key
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
        {
            return self.copy_failure(view);
        }
        match &mut self.overlay {
            Overlay::None => {}
            Overlay::Picker(p) => match p.handle_key(key, &view.profiles.set, view.server) {
                picker::Outcome::Stay => {}
                picker::Outcome::Close => self.overlay = Overlay::None,
                picker::Outcome::Switch(id) => return vec![Effect::Switch(id)],
            },
            Overlay::Help { scroll } | Overlay::Failure { scroll } => {
                if let Some(d) = scroll_delta(key) {
                    *scroll = (i32::from(*scroll) + d).clamp(0, 10_000) as u16;
                } else if matches!(
                    key.code,
                    KeyCode::Esc | KeyCode::Char('q' | '?') | KeyCode::Enter
                ) || self.keymap.prefix.matches(key)
                {
                    self.overlay = Overlay::None;
                }
            }
            Overlay::ConfirmQuit => match key.code {
                KeyCode::Char('y' | 'Y') | KeyCode::Enter => {
                    self.quitting = true;
                    return vec![Effect::Quit];
                }
                KeyCode::Char('n' | 'N' | 'q') | KeyCode::Esc => self.overlay = Overlay::None,
                _ => {}
            },
        }
        Vec::new()
    }

    fn on_mouse(&mut self, m: &MouseEvent, view: &View<'_>) -> Vec<Effect> {
        let (x, y) = (m.column, m.row);
        if self.overlay != Overlay::None {
            if let Overlay::Help { scroll } | Overlay::Failure { scroll } = &mut self.overlay {
                match m.kind {
                    MouseEventKind::ScrollUp => *scroll = scroll.saturating_sub(3),
                    MouseEventKind::ScrollDown => *scroll = scroll.saturating_add(3),
                    _ => {}
                }
            }
            return Vec::new();
        }
        let over = self.layout.pane_at(x, y);
        let claude = |m: &MouseEvent, inner: Rect| vec![Effect::ClaudeMouse(*m, inner)];
        match m.kind {
            MouseEventKind::Down(MouseButton::Left) => {
                // Tab titles sit on the draggable border row: they win.
                if let Some((pane, _)) = self
                    .tab_hits
                    .iter()
                    .find(|(_, r)| r.contains((x, y).into()))
                {
                    let pane = *pane;
                    self.focus_to(pane);
                    return Vec::new();
                }
                if let Some(b) = self.layout.border_at(x, y) {
                    self.drag = Some(b);
                    return Vec::new();
                }
                if let Some(pane) = over {
                    if self.mode != Mode::Locked {
                        self.focus_to(pane);
                    }
                    if pane == PaneId::Claude {
                        return claude(m, self.claude_inner);
                    }
                }
            }
            MouseEventKind::Drag(MouseButton::Left) => {
                if let Some(b) = self.drag {
                    let layout = self.layout.clone();
                    layout::drag(&layout, &mut self.splits, b, x, y);
                    return Vec::new();
                }
                if over == Some(PaneId::Claude) {
                    return claude(m, self.claude_inner);
                }
            }
            MouseEventKind::Up(_) => {
                if self.drag.take().is_some() {
                    return Vec::new();
                }
                if over == Some(PaneId::Claude) {
                    return claude(m, self.claude_inner);
                }
            }
            MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
                let up = m.kind == MouseEventKind::ScrollUp;
                match over {
                    Some(PaneId::Claude) => return claude(m, self.claude_inner),
                    Some(PaneId::Logs) => {
                        let d = if up { -WHEEL_LINES } else { WHEEL_LINES };
                        self.logs.scroll(view.logs, view.log_next_seq, d);
                    }
                    _ => {}
                }
            }
            _ => {
                if over == Some(PaneId::Claude) {
                    return claude(m, self.claude_inner);
                }
            }
        }
        Vec::new()
    }
}
