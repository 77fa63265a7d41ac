//! The workspace's state, and the one way it changes: [`App::update`] takes a [`Msg`]
//! (input, the controller's state or answers, a timer) with the [`View`] of the moment and
//! returns [`Effect`]s for the runner to carry out. Everything outside (controller, claude
//! pane, clocks) is reached through those effects and the view; what they answer comes
//! back as another message. Before a frame, [`App::prepare_frame`] works out from the
//! state what the frame needs (the layout, the log page, the picker's rows); drawing then
//! only reads (`render::draw` takes `&App`).

use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::Rect;

use crate::config::keymap::{Action as _, KeySpec, Section};
use crate::config::settings::OnExit;
use crate::config::theme::Theme;
use crate::server::ControlError;
use crate::server::{Phase, ServerState};
use crate::ui::action::{Effect, Request, Scroll};
use crate::ui::commands::{KeyAction, Keymap};
use crate::ui::copy_mode::{CopyMode, Entered, Move};
use crate::ui::keys::{KeyContext, Mode, Route, resolve};
use crate::ui::layout::{self, Border, Layout, LayoutKind, PaneId, Splits};
use crate::ui::msg::{Msg, Reply};
use crate::ui::panels_host::PanelsHost;
use crate::ui::panes::logs::{LogView, Prompt};
use crate::ui::passthrough::COPY_MAX;
use crate::ui::picker::{self, ModelFacts, Picker};
use crate::ui::prefs::{Prefs, SplitSizes, ThemeChoice};
use crate::ui::search::{self, Direction, Editor, Found};
use crate::ui::status_bar::{Level, Message, ModeLabel};
use crate::ui::view::View;
use crate::ui::{dialog, help};

/// What sits over the panes.
#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    None,
    // Boxed: the picker carries its per-profile facts; the other overlays are a few bytes.
    Picker(Box<Picker>),
    Help {
        scroll: u16,
    },
    ConfirmQuit,
    /// `stop-server` asks first, as quit does.
    ConfirmStop,
    Failure {
        scroll: u16,
    },
    /// A server llws did not start blocked a start: replace it, adopt it, or leave it (the
    /// state's `foreign` says what it is).
    Foreign,
}

/// Split steps of the resize keys, in percent.
const RESIZE_STEP: i32 = 5;
/// Lines one wheel notch scrolls the log.
const WHEEL_LINES: i64 = 3;
/// How long an info message stays; warnings and errors stay longer.
const INFO_MS: u64 = 6_000;
const WARN_MS: u64 = 20_000;
/// How long the claude pane says a new model is ready after a switch.
const READY_BANNER_MS: u64 = 6_000;

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
    /// The log pane shows the router's activity instead of the server log.
    pub show_activity: bool,
    /// The claude pane's copy mode, while it is on (it stays on when the focus moves, as
    /// tmux's does).
    pub copy: Option<CopyMode>,
    /// The queries typed at any search prompt (↑ brings them back).
    pub search_history: search::History,
    /// Where the left button went down over the claude pane, for a drag that starts copy
    /// mode.
    press: Option<(u16, u16)>,
    pub message: Option<Message>,
    /// When the message goes away (ms since the epoch); `None` keeps it.
    pub message_until: Option<u64>,
    /// The layout of the frame on screen, for the mouse and the focus keys
    /// ([`App::prepare_frame`] computes it).
    pub layout: Layout,
    /// The claude pane's inner area in that frame.
    pub claude_inner: Rect,
    /// Compact layout: the tab titles' cells, for clicks.
    pub tab_hits: Vec<(PaneId, Rect)>,
    drag: Option<Border>,
    /// Compact layout: the monitor pane shown below claude.
    pub tab: PaneId,
    pub on_exit: OnExit,
    /// Set once the user confirmed quitting (or a signal came); only `App::quit` sets it.
    pub quitting: bool,
    /// The line over the claude pane while its model is away, or just after it came back.
    pub banner: Option<String>,
    /// When the "model ready" banner goes (ms since the epoch).
    banner_until: Option<u64>,
    /// The controller's state as of the last [`Msg::ServerState`], to see what changed.
    server: Option<ServerState>,
    /// What asked for attention in the claude pane while the user was not looking at it (a
    /// notification's text, or "bell"): the pane's title shows it until the pane is in
    /// view again ([`App::claude_in_view`]).
    pub claude_alert: Option<String>,
    /// Which host the log, GPU and system panes show ([`PanelsHost`]).
    pub panels: PanelsHost,
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
            show_activity: false,
            copy: None,
            search_history: search::History::default(),
            press: None,
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
            panels: PanelsHost::default(),
            banner: None,
            banner_until: None,
            server: None,
        }
    }

    /// The one road into the app: a message, seen with the view of the moment, changes
    /// the state and may ask for effects.
    pub fn update(&mut self, msg: Msg, view: &View<'_>) -> Vec<Effect> {
        if !matches!(msg, Msg::Tick) {
            tracing::debug!("update: {}", msg.describe());
        }
        let now = view.now_ms;
        match msg {
            Msg::Start { profile } => {
                self.server = Some(view.server.clone());
                match profile {
                    Some(id) => return vec![Effect::Control(Request::Switch(id))],
                    None if view.server.phase == Phase::Idle => {
                        return self.open_picker(view, true);
                    }
                    None => {}
                }
            }
            Msg::Input(event) => {
                let effects = self.on_event(&event, view);
                return self.copy_mode_after(effects);
            }
            Msg::ServerState(new) => self.on_server_state(*new, now),
            Msg::Controller(request, reply) => self.on_reply(request, reply, view),
            Msg::ModelFacts(facts) => self.set_model_facts(facts),
            Msg::LoadTimes(loads) => {
                if let Overlay::Picker(p) = &mut self.overlay {
                    p.loads = loads;
                }
            }
            Msg::ClaudeAttention(what) => {
                self.claude_attention(&what);
            }
            Msg::ClaudeClipboard(note) => self.say(Level::Warn, note, Some(now)),
            Msg::HostHeard(at) => self.panels.heard_ms = at,
            Msg::ClaudeRestarted(Ok(())) => {
                self.say(Level::Info, "claude pane restarted", Some(now))
            }
            Msg::ClaudeRestarted(Err(e)) => self.say(Level::Error, e.to_string(), Some(now)),
            Msg::Tick => {
                self.expire_message(now);
                if self.banner_until.is_some_and(|until| now >= until) {
                    self.banner_until = None;
                    self.banner = None;
                }
            }
            Msg::Leave => self.quit(),
        }
        Vec::new()
    }

    /// Copy mode ends when the pane's program is sent something (a key while locked, the
    /// prefix twice, a paste) or restarted: the pane goes back to its live screen.
    fn copy_mode_after(&mut self, effects: Vec<Effect>) -> Vec<Effect> {
        let live = effects.iter().any(|e| {
            matches!(
                e,
                Effect::ClaudeKey(_) | Effect::ClaudePaste(_) | Effect::RestartClaude
            )
        });
        if live && self.copy.is_some() {
            self.copy = None;
            let mut effects = effects;
            effects.push(Effect::ClaudeScroll(Scroll::Bottom));
            return effects;
        }
        effects
    }

    /// Leaving: the loop ends after this message, and the server is stopped or kept per
    /// `on_exit`.
    fn quit(&mut self) {
        self.quitting = true;
    }

    /// The next time a [`Msg::Tick`] is due (a message or the ready banner expires), in ms
    /// since the epoch.
    pub fn next_timer(&self) -> Option<u64> {
        match (self.message_until, self.banner_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// What the controller answered to a request: shown where the user acted (the picker
    /// when it is open, else the status bar). The controller's word is the only check: the
    /// picker does not repeat its busy or already-running tests.
    fn on_reply(&mut self, request: Request, reply: Reply, view: &View<'_>) {
        let now = Some(view.now_ms);
        match (request, reply) {
            (Request::Switch(_), Reply::Accepted) => {
                if matches!(self.overlay, Overlay::Picker(_)) {
                    self.overlay = Overlay::None;
                }
            }
            (Request::Switch(_), Reply::Refused(e)) => {
                let why = refusal(&e, view.server);
                if let Overlay::Picker(p) = &mut self.overlay {
                    p.refused(why);
                } else {
                    self.say(Level::Error, why, now);
                }
            }
            (Request::StopServer, Reply::Done(Ok(_))) => {
                self.say(Level::Info, "server stopped", now)
            }
            (Request::KeepWaiting, Reply::WaitsUntil(at)) => {
                let left = at.saturating_sub(view.now_ms).div_ceil(1000);
                self.say(
                    Level::Info,
                    format!("waiting longer: the health check now gives up in {left} s"),
                    now,
                );
            }
            // A failed load is told by the state (the status bar and the failure
            // details); a refusal or an error before the load is told here.
            (_, Reply::Refused(e) | Reply::Done(Err(e))) => {
                self.say(Level::Error, e.to_string(), now)
            }
            (_, Reply::Accepted | Reply::Done(Ok(_)) | Reply::WaitsUntil(_)) => {}
        }
    }

    /// Works out from the state what the frame about to be drawn in `area` needs, so
    /// that drawing only reads: the layout (which the mouse and the focus keys then use),
    /// the tab titles' cells, the claude pane's inner area, the log's page, the picker's
    /// rows, how far the help or failure details can scroll. The mark of a bell in the
    /// claude pane goes once a frame shows the pane to the user.
    pub fn prepare_frame(&mut self, area: Rect, view: &View<'_>) {
        self.panels.follow(view.server.host.as_deref());
        if self.claude_in_view() {
            self.claude_alert = None;
        }
        let tab = if self.focus == PaneId::Claude {
            self.tab
        } else {
            self.focus
        };
        self.layout = layout::compute(area, &self.splits, self.zoom, tab);
        self.tab_hits.clear();
        for &(pane, rect) in &self.layout.panes {
            let inner = layout::inner(rect);
            match pane {
                PaneId::Claude => self.claude_inner = inner,
                PaneId::Logs => self.logs.prepare(inner, view.logs, view.log_next_seq),
                PaneId::Gpu | PaneId::System => {}
            }
            if layout::shows_tabs(&self.layout, pane, self.zoom) {
                self.tab_hits = layout::tab_titles(rect)
                    .into_iter()
                    .map(|(tab, _, hit)| (tab, hit))
                    .collect();
            }
        }
        match &mut self.overlay {
            Overlay::None | Overlay::ConfirmQuit | Overlay::ConfirmStop | Overlay::Foreign => {}
            Overlay::Picker(p) => p.prepare(area, &view.profiles.set),
            Overlay::Help { scroll } => {
                let lines = help::lines(&self.keymap, &self.theme, view.server_url, view.api);
                *scroll = (*scroll).min(help::max_scroll(area, &lines));
            }
            Overlay::Failure { scroll } => {
                *scroll = (*scroll).min(dialog::failure_max_scroll(area, view.server));
            }
        }
    }

    /// Whether the claude pane takes the keys the user types: it has the focus, and no
    /// overlay or prompt is open (its cursor shows, and its program hears of it).
    pub fn claude_focused(&self) -> bool {
        self.focus == PaneId::Claude
            && self.overlay == Overlay::None
            && self.logs.editing.is_none()
            && self.copy.is_none()
    }

    /// The search prompt being typed, if one is: the log's or copy mode's.
    fn prompt(&mut self) -> Option<&mut Editor> {
        if let Some((_, e)) = &mut self.logs.editing {
            return Some(e);
        }
        self.copy
            .as_mut()
            .and_then(|c| c.editing.as_mut())
            .map(|(_, e)| e)
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
            Overlay::ConfirmStop => return ModeLabel::ConfirmStop,
            Overlay::Foreign => return ModeLabel::Foreign,
            Overlay::Failure { .. } => return ModeLabel::Details,
            Overlay::None => {}
        }
        let copy = self.copy.as_ref().filter(|_| self.focus == PaneId::Claude);
        if copy.is_some_and(|c| c.editing.is_some()) {
            return ModeLabel::Search;
        }
        match (&self.logs.editing, self.mode) {
            (Some((Prompt::Search, _)), _) => ModeLabel::Search,
            (Some((Prompt::Filter, _)), _) => ModeLabel::Filter,
            (None, Mode::Normal) if copy.is_some() => ModeLabel::Copy,
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

    pub fn set_model_facts(&mut self, facts: ModelFacts) {
        if let Overlay::Picker(p) = &mut self.overlay {
            p.sizes = Some(facts.sizes);
            p.samplers = facts.samplers;
            p.advice = facts.advice;
        }
    }

    /// Reacts to a new controller state: the status bar's news, the banner over the claude
    /// pane, the picker opened at start closing for an adopted server.
    fn on_server_state(&mut self, new: ServerState, now_ms: u64) {
        let old = self.server.take().unwrap_or_else(|| new.clone());
        self.state_news(&old, &new, now_ms);
        self.banner_for(&old, &new, now_ms);
        self.server = Some(new);
    }

    /// The banner over the claude pane: while a switch runs, answers wait; once the new
    /// model runs, it says so for a moment.
    fn banner_for(&mut self, old: &ServerState, new: &ServerState, now_ms: u64) {
        let mut want = match (&new.switch, new.is_busy()) {
            (Some(sw), true) => Some(format!(
                "model switching to {}: answers wait until it has loaded",
                sw.target_name
            )),
            _ => None,
        };
        if want.is_none() && old.is_busy() && new.phase == Phase::Running {
            want = new
                .profile_name
                .as_ref()
                .map(|name| format!("model ready: {name} answers from now on"));
            self.banner_until = Some(now_ms + READY_BANNER_MS);
        } else if want.is_some() || new.phase != Phase::Running {
            self.banner_until = None;
        } else if self.banner_until.is_some() {
            want = self.banner.clone();
        }
        self.banner = want;
    }

    fn state_news(&mut self, old: &ServerState, new: &ServerState, now_ms: u64) {
        // A server llws did not start blocked a start (item 17): ask what to do; once it
        // is dealt with (here, through the API or a later start), the question goes.
        if new.foreign.is_some() && new.foreign != old.foreign {
            self.overlay = Overlay::Foreign;
            self.mode = Mode::Normal;
        } else if new.foreign.is_none() && self.overlay == Overlay::Foreign {
            self.overlay = Overlay::None;
        }
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

    fn on_event(&mut self, event: &Event, view: &View<'_>) -> Vec<Effect> {
        // Below the minimum size nothing is drawn but the size note: a key would act
        // unseen (issue 14), so keys, pastes and clicks wait until the terminal grows.
        if self.layout.kind == LayoutKind::TooSmall
            && matches!(event, Event::Key(_) | Event::Mouse(_) | Event::Paste(_))
        {
            return Vec::new();
        }
        match event {
            Event::Key(key) => self.on_key(key, view),
            Event::Mouse(m) => self.on_mouse(m, view),
            Event::Paste(text) => {
                if let Some(editor) = self.prompt() {
                    editor.push_str(text.lines().next().unwrap_or_default());
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

    fn on_key(&mut self, key: &KeyEvent, view: &View<'_>) -> Vec<Effect> {
        let ctx = KeyContext {
            mode: self.mode,
            focus: self.focus,
            overlay: self.overlay != Overlay::None || self.prompt().is_some(),
            copy: self.copy.is_some(),
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
            Route::ToggleLock => self.toggle_lock(view.now_ms),
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
                    let pressed = KeySpec::from_event(key).label();
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
            Route::Copy(action) => self.copy_key(action, view),
            Route::Action(action) => {
                if self.mode == Mode::Prefix {
                    self.mode = Mode::Normal;
                }
                if self.show_activity && self.focus == PaneId::Logs && action.reads_the_log() {
                    // The server log is hidden behind the activity view: a key that would
                    // scroll, search or copy it must not act where nothing shows it.
                    self.mode = Mode::Normal;
                    let back = self
                        .keymap
                        .key_for(Section::Logs, KeyAction::Activity)
                        .map(|k| format!("; {} shows the server log", k.label()))
                        .unwrap_or_default();
                    self.say(
                        Level::Info,
                        format!(
                            "{} acts on the server log, not on the activity view{back}",
                            action.name()
                        ),
                        Some(view.now_ms),
                    );
                    return Vec::new();
                }
                action.run(self, view)
            }
        }
    }

    pub(super) fn toggle_lock(&mut self, now_ms: u64) -> Vec<Effect> {
        if self.mode == Mode::Locked {
            self.mode = Mode::Normal;
            self.say(Level::Info, "unlocked", Some(now_ms));
            Vec::new()
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
            self.leave_copy_mode()
        }
    }

    pub(super) fn focus_to(&mut self, pane: PaneId) {
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

    pub(super) fn focus_dir(&mut self, dx: i32, dy: i32) {
        if let Some(p) = self.layout.neighbour(self.focus, dx, dy) {
            self.focus_to(p);
        } else if self.layout.kind == LayoutKind::Compact && self.focus != PaneId::Claude && dx != 0
        {
            // Left and right walk the tabs below claude.
            let tabs = layout::TABS;
            let i = tabs.iter().position(|p| *p == self.focus).unwrap_or(0) as i32;
            self.focus_to(tabs[(i + dx).rem_euclid(tabs.len() as i32) as usize]);
        } else if self.zoom.is_some() {
            self.focus_to(if dx + dy > 0 {
                self.focus.next()
            } else {
                self.focus.prev()
            });
        }
    }

    pub(super) fn resize(&mut self, dx: i32, dy: i32) -> Vec<Effect> {
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
        vec![self.save_prefs()]
    }

    pub(super) fn scroll_focused(&mut self, action: KeyAction, view: &View<'_>) -> Vec<Effect> {
        let page = i32::from(self.claude_inner.height.max(2) - 1);
        match self.focus {
            PaneId::Claude => {
                let scroll = match action {
                    KeyAction::ScrollUp => Scroll::Lines(1),
                    KeyAction::ScrollDown => Scroll::Lines(-1),
                    KeyAction::PageUp => Scroll::Lines(page),
                    KeyAction::PageDown => Scroll::Lines(-page),
                    KeyAction::Top => Scroll::Top,
                    _ => Scroll::Bottom,
                };
                vec![Effect::ClaudeScroll(scroll)]
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

    /// Starts typing a log search or filter (the log pane takes the focus).
    pub(super) fn start_prompt(&mut self, prompt: Prompt) {
        self.focus_to(PaneId::Logs);
        self.logs.start_prompt(prompt);
    }

    /// `n` or `N`: the next match below (`down`) or above, coming round the end (and
    /// saying so); says so when there is none.
    pub(super) fn search_again(&mut self, down: bool, view: &View<'_>) {
        if self.focus != PaneId::Logs && self.focus != PaneId::Claude {
            self.focus_to(PaneId::Logs);
        }
        let now = Some(view.now_ms);
        let dir = if down { Direction::Down } else { Direction::Up };
        match self.logs.search.clone() {
            None => self.say(Level::Warn, "no search: press / first", now),
            Some(q) => {
                let found = self.logs.jump(view.logs, view.log_next_seq, dir, false);
                self.tell_found(found, &q, dir, view.now_ms);
            }
        }
    }

    /// What a search's status line says: nothing when it simply went to the next match
    /// (the title's `[i/n]` counts), that it came round the end, or that nothing matches.
    fn tell_found(&mut self, found: Option<Found>, query: &str, dir: Direction, now_ms: u64) {
        match found {
            None => self.say(
                Level::Warn,
                format!("no match for \"{query}\""),
                Some(now_ms),
            ),
            Some(f) if f.wrapped => self.say(Level::Info, dir.wrap_note(), Some(now_ms)),
            Some(_) => {}
        }
    }

    /// Enters copy mode in the claude pane (the keymap's copy-mode key, the wheel, a drag):
    /// see [`CopyMode`].
    pub(super) fn enter_copy_mode(&mut self, view: &View<'_>) -> Vec<Effect> {
        if !self.enter_copy(view, Entered::Keys) {
            self.say(
                Level::Warn,
                "no copy mode: the claude pane has no screen (its program did not start)",
                Some(view.now_ms),
            );
        }
        Vec::new()
    }

    fn enter_copy(&mut self, view: &View<'_>, entered: Entered) -> bool {
        if self.copy.is_none() {
            self.copy = view
                .claude
                .and_then(|c| c.history(|h| CopyMode::enter(h, entered)));
        }
        if self.copy.is_some() {
            self.focus_to(PaneId::Claude);
            self.mode = Mode::Normal;
        }
        self.copy.is_some()
    }

    /// Leaves copy mode: the pane shows its live screen again.
    pub(super) fn leave_copy_mode(&mut self) -> Vec<Effect> {
        if self.copy.take().is_some() {
            vec![Effect::ClaudeScroll(Scroll::Bottom)]
        } else {
            Vec::new()
        }
    }

    /// Runs `f` on copy mode and the claude pane's lines, once copy mode has caught up
    /// with what the program wrote since ([`CopyMode::follow`]).
    fn with_copy<R>(
        &mut self,
        view: &View<'_>,
        f: impl FnOnce(&mut CopyMode, &mut crate::pty::history::History<'_>) -> R,
    ) -> Option<R> {
        let copy = self.copy.as_mut()?;
        view.claude?.history(|h| {
            copy.follow(h);
            f(copy, h)
        })
    }

    /// A key of the `[copy]` table in copy mode.
    pub(super) fn copy_key(&mut self, action: KeyAction, view: &View<'_>) -> Vec<Effect> {
        use KeyAction as A;
        let now = view.now_ms;
        let rows = self.claude_inner.height.max(1) as i64;
        let page = (rows - 1).max(1);
        let go = |m: Move| {
            move |c: &mut CopyMode, h: &mut crate::pty::history::History<'_>| {
                c.go(h, m);
            }
        };
        match action {
            A::CursorUp => self.with_copy(view, go(Move::Up(1))),
            A::CursorDown => self.with_copy(view, go(Move::Down(1))),
            A::CursorLeft => self.with_copy(view, go(Move::Left)),
            A::CursorRight => self.with_copy(view, go(Move::Right)),
            A::WordNext => self.with_copy(view, go(Move::WordNext)),
            A::WordPrev => self.with_copy(view, go(Move::WordPrev)),
            A::LineStart => self.with_copy(view, go(Move::LineStart)),
            A::LineEnd => self.with_copy(view, go(Move::LineEnd)),
            A::Top => self.with_copy(view, go(Move::Top)),
            A::Bottom => self.with_copy(view, go(Move::Bottom)),
            A::PageUp => self.with_copy(view, go(Move::Page(-page))),
            A::PageDown => self.with_copy(view, go(Move::Page(page))),
            A::HalfPageUp => self.with_copy(view, go(Move::Page(-(rows / 2).max(1)))),
            A::HalfPageDown => self.with_copy(view, go(Move::Page((rows / 2).max(1)))),
            A::Select => self.with_copy(view, |c, _| c.toggle_selection(false)),
            A::SelectLine => self.with_copy(view, |c, _| c.toggle_selection(true)),
            A::Search | A::SearchBack => {
                let dir = if action == A::Search {
                    Direction::Down
                } else {
                    Direction::Up
                };
                self.with_copy(view, |c, _| c.start_search(dir))
            }
            A::SearchNext | A::SearchPrev => {
                let reverse = action == A::SearchPrev;
                let found = self.with_copy(view, |c, h| {
                    let dir = if reverse { c.dir.reverse() } else { c.dir };
                    let query = c.search.clone();
                    (c.search_again(h, reverse), query, dir)
                });
                match found {
                    Some((_, None, _)) => {
                        self.say(Level::Warn, "no search: press / or ? first", Some(now))
                    }
                    Some((found, Some(q), dir)) => self.tell_found(found, &q, dir, now),
                    None => {}
                }
                None
            }
            A::CopySelection => return self.yank(view),
            A::Cancel => return self.leave_copy_mode(),
            _ => None,
        };
        Vec::new()
    }

    /// Enter or `y` in copy mode (or the end of a mouse drag): the selection (or the
    /// cursor's line) to the clipboard, and copy mode ends, as in tmux.
    fn yank(&mut self, view: &View<'_>) -> Vec<Effect> {
        let Some((text, lines)) = self.with_copy(view, |c, h| c.selected_text(h, COPY_MAX)) else {
            return Vec::new();
        };
        let mut effects = self.leave_copy_mode();
        let now = Some(view.now_ms);
        if text.is_empty() {
            self.say(Level::Warn, "nothing to copy: the selection is blank", now);
            return effects;
        }
        let what = if lines == 1 {
            format!("{} characters", text.chars().count())
        } else {
            format!("{lines} lines")
        };
        self.say(Level::Info, format!("copied {what}"), now);
        effects.push(Effect::Copy(text));
        effects
    }

    /// The next theme of the cycle (the configured one, then the presets), remembered for
    /// the next start.
    pub(super) fn theme_next(&mut self, now_ms: u64) -> Vec<Effect> {
        self.theme_index = (self.theme_index + 1) % self.themes.len();
        self.theme = self.themes[self.theme_index].clone();
        self.say(
            Level::Info,
            format!("theme: {}", self.theme.name),
            Some(now_ms),
        );
        vec![self.save_prefs()]
    }

    /// What to remember of this session: the theme, if the theme key changed it, and the
    /// splits.
    pub fn prefs(&self) -> Prefs {
        Prefs {
            theme: (self.theme_index != 0).then(|| ThemeChoice {
                name: self.theme.name.clone(),
                configured: self.themes[0].name.clone(),
            }),
            splits: (self.splits != Splits::default()).then(|| SplitSizes::from(&self.splits)),
        }
    }

    fn save_prefs(&self) -> Effect {
        Effect::SavePrefs(self.prefs())
    }

    /// Takes back what an earlier session remembered ([`prefs`](crate::ui::prefs)): its
    /// splits, and its theme unless `[ui] theme` names another one since.
    pub fn apply_prefs(&mut self, prefs: Prefs) {
        if let Some(splits) = prefs.splits {
            self.splits = splits.into();
        }
        if let Some(choice) = prefs.theme
            && choice.configured == self.themes[0].name
            && let Some(i) = self.themes.iter().position(|t| t.name == choice.name)
        {
            self.theme_index = i;
            self.theme = self.themes[i].clone();
        }
    }

    /// `stop-server`: asks first when there is a server to stop.
    pub(super) fn ask_stop(&mut self, view: &View<'_>) -> Vec<Effect> {
        if view.server.phase == Phase::Idle {
            self.say(Level::Info, "no server to stop", Some(view.now_ms));
        } else {
            self.overlay = Overlay::ConfirmStop;
        }
        Vec::new()
    }

    /// The copy key: the lines the log pane shows go to the clipboard (see
    /// [`LogView::copy`]), and the status bar says how many.
    pub(super) fn copy_log(&mut self, view: &View<'_>) -> Vec<Effect> {
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

    /// Ends the open search prompt (the log's or copy mode's): `commit` searches for what
    /// was typed.
    fn end_prompt(&mut self, commit: bool, view: &View<'_>) {
        let now = view.now_ms;
        if self.logs.editing.is_some() {
            let searching = matches!(self.logs.editing, Some((Prompt::Search, _)));
            let found = self.logs.end_prompt(
                view.logs,
                view.log_next_seq,
                commit,
                &mut self.search_history,
            );
            if let (true, true, Some(q)) = (commit, searching, self.logs.search.clone()) {
                self.tell_found(found, &q, Direction::Up, now);
            }
            return;
        }
        let mut history = std::mem::take(&mut self.search_history);
        let result = self.with_copy(view, |c, h| {
            let typed = c.editing.as_ref().map(|(d, e)| (*d, e.text.clone()));
            (c.end_search(h, commit, &mut history), typed)
        });
        self.search_history = history;
        if let (true, Some((found, Some((dir, q))))) = (commit, result)
            && !q.is_empty()
        {
            self.tell_found(found, &q, dir, now);
        }
    }

    /// A key while an overlay or the log's prompt is open: looked up in that overlay's
    /// table of the keymap (`[picker]`, `[dialog]`, `[confirm]`, `[prompt]`).
    fn overlay_key(&mut self, key: &KeyEvent, view: &View<'_>) -> Vec<Effect> {
        use KeyAction as A;
        if self.prompt().is_some() {
            let action = self.keymap.lookup(Section::Prompt, key);
            match action {
                Some(A::Confirm) => self.end_prompt(true, view),
                Some(A::Cancel) => self.end_prompt(false, view),
                _ => {
                    let history = self.search_history.clone();
                    let Some(editor) = self.prompt() else {
                        return Vec::new();
                    };
                    match action {
                        Some(A::ClearLine) => editor.clear(),
                        Some(A::DeleteBack) => editor.pop(),
                        Some(A::HistoryPrev) => editor.older(&history),
                        Some(A::HistoryNext) => editor.newer(&history),
                        // What is typed is the text (a printable character, no Ctrl or Alt).
                        None => {
                            if let KeyCode::Char(c) = key.code
                                && !key
                                    .modifiers
                                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
                            {
                                editor.push(c);
                            }
                        }
                        Some(_) => {}
                    }
                }
            }
            if self.prompt().is_none() && self.mode == Mode::Prefix {
                self.mode = Mode::Normal;
            }
            return Vec::new();
        }
        let details = matches!(self.overlay, Overlay::Failure { .. });
        match &mut self.overlay {
            Overlay::None => {}
            Overlay::Picker(p) => {
                let action = self.keymap.lookup(Section::Picker, key);
                match p.handle(action, key, &view.profiles.set) {
                    picker::Outcome::Stay => {}
                    picker::Outcome::Close => self.overlay = Overlay::None,
                    picker::Outcome::Switch(id) => {
                        return vec![Effect::Control(Request::Switch(id))];
                    }
                }
            }
            Overlay::Help { scroll } | Overlay::Failure { scroll } => {
                let delta = |action| match action {
                    A::ScrollUp => Some(-1),
                    A::ScrollDown => Some(1),
                    A::PageUp => Some(-10),
                    A::PageDown => Some(10),
                    A::Top => Some(-10_000),
                    A::Bottom => Some(10_000),
                    _ => None,
                };
                // The prefix closes an overlay too: a user who reaches for a command
                // expects to get out.
                let action = match self.keymap.lookup(Section::Dialog, key) {
                    None if self.keymap.prefix.matches(key) => Some(A::Cancel),
                    other => other,
                };
                match action {
                    Some(A::Copy) if details => {
                        return self.copy_failure(view);
                    }
                    Some(A::Cancel) => self.overlay = Overlay::None,
                    Some(a) => {
                        if let Some(d) = delta(a) {
                            *scroll = (i32::from(*scroll) + d).clamp(0, 10_000) as u16;
                        }
                    }
                    None => {}
                }
            }
            Overlay::ConfirmQuit => match self.keymap.lookup(Section::Confirm, key) {
                Some(A::Confirm) => self.quit(),
                Some(A::Cancel) => self.overlay = Overlay::None,
                _ => {}
            },
            Overlay::ConfirmStop => match self.keymap.lookup(Section::Confirm, key) {
                Some(A::Confirm) => {
                    self.overlay = Overlay::None;
                    return vec![Effect::Control(Request::StopServer)];
                }
                Some(A::Cancel) => self.overlay = Overlay::None,
                _ => {}
            },
            Overlay::Foreign => return self.foreign_key(key, view),
        }
        Vec::new()
    }

    /// A key in the question about a server llws did not start. The controller decides:
    /// an answer it does not offer is refused there, and said here.
    fn foreign_key(&mut self, key: &KeyEvent, view: &View<'_>) -> Vec<Effect> {
        use crate::server::foreign::ForeignAction;
        let now = Some(view.now_ms);
        let action = match self.keymap.lookup(Section::Confirm, key) {
            Some(KeyAction::Replace) => ForeignAction::Replace,
            Some(KeyAction::Adopt) => ForeignAction::Adopt,
            Some(KeyAction::Cancel) => {
                self.overlay = Overlay::None;
                let again = self
                    .keymap
                    .key_for(Section::Prefix, KeyAction::FailureDetails)
                    .map(|k| format!("; {} {} asks again", self.keymap.prefix.label(), k.label()))
                    .unwrap_or_default();
                self.say(
                    Level::Info,
                    format!("left the server llws did not start as it is{again}"),
                    now,
                );
                return Vec::new();
            }
            _ => return Vec::new(),
        };
        if let Some(blocked) = &view.server.foreign
            && let Some(why) = blocked.server.refusal(action)
        {
            self.say(Level::Warn, why, now);
            return Vec::new();
        }
        self.overlay = Overlay::None;
        vec![Effect::Control(Request::ResolveForeign(action))]
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
        // The pane's program takes the mouse when it asked for it; else the wheel and
        // drags over the pane are copy mode's (the wheel on the alternate screen, which
        // has no scrollback, is the program's as arrow keys).
        let (program_mouse, alternate) = view
            .claude
            .and_then(|c| c.history(|h| (h.wants_mouse(), h.alternate_screen())))
            .unwrap_or((true, false));
        let claude = |m: &MouseEvent, inner: Rect| vec![Effect::ClaudeMouse(*m, inner)];
        let inner = self.claude_inner;
        match m.kind {
            MouseEventKind::Down(MouseButton::Left) => {
                self.press = None;
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
                        if program_mouse || self.mode == Mode::Locked {
                            return claude(m, inner);
                        }
                        if self.copy.is_some() {
                            self.with_copy(view, |c, _| {
                                let pos = c.pos_at(inner, x, y);
                                c.selection = None;
                                c.put_cursor(pos);
                                c.dragging = true;
                            });
                        } else {
                            self.press = Some((x, y));
                        }
                    }
                }
            }
            MouseEventKind::Drag(MouseButton::Left) => {
                if let Some(b) = self.drag {
                    let layout = self.layout.clone();
                    layout::drag(&layout, &mut self.splits, b, x, y);
                    return Vec::new();
                }
                let dragging = self.copy.as_ref().is_some_and(|c| c.dragging);
                if !program_mouse && !dragging && self.press.is_some() {
                    // A drag over the pane starts copy mode with a selection from where
                    // the button went down.
                    let (px, py) = self.press.take().unwrap_or((x, y));
                    if self.enter_copy(view, Entered::Mouse) {
                        self.with_copy(view, |c, _| {
                            let pos = c.pos_at(inner, px, py);
                            c.put_cursor(pos);
                            c.dragging = true;
                        });
                    }
                }
                if self.copy.as_ref().is_some_and(|c| c.dragging) {
                    self.with_copy(view, |c, _| {
                        if c.selection.is_none() {
                            c.toggle_selection(false);
                        }
                        // Past the top or bottom edge the view scrolls along.
                        if y < inner.y {
                            c.scroll(-1);
                        } else if y >= inner.y + inner.height {
                            c.scroll(1);
                        }
                        let pos = c.pos_at(inner, x, y);
                        c.put_cursor(pos);
                    });
                    return Vec::new();
                }
                if over == Some(PaneId::Claude) {
                    return claude(m, inner);
                }
            }
            MouseEventKind::Up(_) => {
                self.press = None;
                if self.drag.take().is_some() {
                    return vec![self.save_prefs()];
                }
                if self.copy.as_ref().is_some_and(|c| c.dragging) {
                    let selected = self
                        .copy
                        .as_mut()
                        .map(|c| {
                            c.dragging = false;
                            c.selection.is_some_and(|s| s.anchor != c.cursor)
                        })
                        .unwrap_or(false);
                    // The end of a drag copies and leaves, as in tmux.
                    return if selected {
                        self.yank(view)
                    } else {
                        Vec::new()
                    };
                }
                if over == Some(PaneId::Claude) {
                    return claude(m, inner);
                }
            }
            MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
                let up = m.kind == MouseEventKind::ScrollUp;
                match over {
                    Some(PaneId::Claude)
                        if !program_mouse && !alternate && self.mode != Mode::Locked =>
                    {
                        if up && self.copy.is_none() {
                            self.enter_copy(view, Entered::Wheel);
                        }
                        let d = if up { -WHEEL_LINES } else { WHEEL_LINES };
                        let leave = self
                            .with_copy(view, |c, _| {
                                c.scroll(d);
                                c.entered == Entered::Wheel
                                    && c.at_bottom()
                                    && c.selection.is_none()
                                    && c.search.is_none()
                            })
                            .unwrap_or(false);
                        if leave && !up {
                            return self.leave_copy_mode();
                        }
                    }
                    Some(PaneId::Claude) => return claude(m, inner),
                    Some(PaneId::Logs) => {
                        let d = if up { -WHEEL_LINES } else { WHEEL_LINES };
                        self.logs.scroll(view.logs, view.log_next_seq, d);
                    }
                    _ => {}
                }
            }
            _ => {
                if over == Some(PaneId::Claude) {
                    return claude(m, inner);
                }
            }
        }
        Vec::new()
    }
}

/// A refused switch in the user's words. The controller's refusal is the truth; while a
/// switch runs, the state says which one, so the user knows what to wait for.
fn refusal(e: &ControlError, server: &ServerState) -> String {
    match (e, &server.switch) {
        (ControlError::Busy { .. }, Some(sw)) => format!(
            "cannot switch now: a switch is running ({} {}); wait for it to finish",
            sw.step.label(),
            sw.target_name
        ),
        _ => e.to_string(),
    }
}
