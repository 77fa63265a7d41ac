//! The loop: waits on terminal input, the controller's state, the monitors, new log lines,
//! the claude pane's output and signals; redraws when something changed, at most
//! `ui.frame_rate` times a second. Nothing ticks while nothing changes: the only timers
//! are the frame limiter (armed only when a frame is due), a slow one while a switch's
//! elapsed time is shown, and a message's expiry. SIGTERM, SIGHUP and SIGINT leave as a
//! confirmed quit does (the server stopped or kept per `on_exit`).

use std::future::pending;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{Event, EventStream};
use futures::StreamExt;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::{Instant, sleep_until};

use crate::pty::term::Outbound;
use crate::server::state::now_ms;
use crate::server::{ControlError, Outcome, Phase, ServerState};
use crate::ui::action::Effect;
use crate::ui::app::App;
use crate::ui::panes::claude::ClaudePane;
use crate::ui::passthrough::{self, Passthrough};
use crate::ui::picker::{ModelFacts, model_facts};
use crate::ui::render::render;
use crate::ui::services::Services;
use crate::ui::status_bar::Level;
use crate::ui::tty::Term;
use crate::ui::view::View;

/// How often the elapsed time of a switch is redrawn.
const ANIMATION: Duration = Duration::from_millis(250);
/// How long the claude pane says a new model is ready after a switch.
const READY_BANNER: Duration = Duration::from_secs(6);

/// Results of work done off the loop.
enum Done {
    ModelFacts(ModelFacts),
    Switch(Result<Outcome, ControlError>),
    Note(Level, String),
}

/// The watches the loop reads, kept as receivers so `changed()` can be awaited.
pub struct Watches {
    pub state: watch::Receiver<ServerState>,
    pub profiles: watch::Receiver<crate::server::profiles_store::ProfilesView>,
    pub gpu: watch::Receiver<crate::monitor::GpuState>,
    pub system: watch::Receiver<crate::monitor::SystemSnapshot>,
    pub facts: watch::Receiver<crate::server::load_facts::LoadFacts>,
}

impl Watches {
    pub fn new(s: &Services) -> Watches {
        Watches {
            state: s.controller.subscribe_state(),
            profiles: s.controller.subscribe_profiles(),
            gpu: s.monitor.gpu.clone(),
            system: s.monitor.system.clone(),
            facts: s.controller.subscribe_load_facts(),
        }
    }
}

/// Builds the view from the latest snapshots and runs `f` on it. The log ring is locked
/// only for `f`, which draws into a buffer; the terminal write happens after.
pub fn with_view<R>(s: &Services, w: &Watches, now: u64, f: impl FnOnce(&View<'_>) -> R) -> R {
    let server = w.state.borrow();
    let profiles = w.profiles.borrow();
    let gpu = w.gpu.borrow();
    let system = w.system.borrow();
    let facts = w.facts.borrow();
    let history = s.monitor.history.lock().unwrap_or_else(|p| p.into_inner());
    let server_url = s.settings.server.base_url();
    s.controller.logs().with_lines(|lines| {
        let next = lines.back().map(|l| l.seq + 1).unwrap_or(0);
        let view = View {
            server: &server,
            profiles: &profiles,
            gpu: &gpu,
            system: &system,
            history: &history,
            facts: &facts,
            logs: lines,
            log_next_seq: next,
            now_ms: now,
            server_url: &server_url,
            api: &s.api,
        };
        f(&view)
    })
}

async fn changed<T>(rx: &mut Option<watch::Receiver<T>>) {
    match rx {
        Some(r) => {
            if r.changed().await.is_err() {
                *rx = None;
            }
        }
        None => pending().await,
    }
}

pub async fn run(
    terminal: &mut Term,
    app: &mut App,
    s: &Services,
    claude: &mut ClaudePane,
    wake: Arc<Notify>,
) -> anyhow::Result<()> {
    let frame = Duration::from_secs(1) / s.settings.ui.frame_rate.max(1);
    let mut events = EventStream::new();
    let watches = Watches::new(s);
    let mut state_rx = Some(watches.state.clone());
    let mut profiles_rx = Some(watches.profiles.clone());
    let mut gpu_rx = Some(watches.gpu.clone());
    let mut system_rx = Some(watches.system.clone());
    let mut facts_rx = Some(watches.facts.clone());
    // New log lines wake the loop once per frame: the receiver is dropped on the first
    // line and taken again after the next draw, so 10,000 lines a second cost one wake.
    let mut log_rx = Some(s.controller.logs().subscribe());
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    // Ctrl+C is a key for claude in raw mode; a SIGINT can only come from outside.
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut last_state = watches.state.borrow().clone();
    let mut last_frame = Instant::now() - frame;
    let mut dirty = true;
    let mut banner: Option<String> = None;
    // The "ready" banner after a switch stays for a moment, then goes.
    let mut banner_until: Option<Instant> = None;
    let mode = s.settings.claude.passthrough;
    let sandboxed = s.settings.claude.sandbox != crate::config::settings::SandboxMode::Off;
    let mut passthrough = Passthrough::new(mode.alerts());
    let clipboard_allowed = mode.clipboard(sandboxed);
    // llws's own copies (Effect::Copy), written with the pane's items below.
    let mut copies: Vec<Outbound> = Vec::new();

    loop {
        let now = now_ms();
        if app.expire_message(now) {
            dirty = true;
        }
        // What the claude pane's program sent for the user's terminal, written between
        // frames (escapes that move no cursor, so ratatui's idea of the screen stays right).
        // The pane wakes the loop when it queues something; draining takes no lock when
        // nothing is queued, so this costs nothing on the way to a frame.
        let mut outbound = claude.take_outbound();
        let mut bytes = Vec::new();
        if let Some(note) = passthrough::clipboard_note(&mut outbound, clipboard_allowed, sandboxed)
        {
            app.say(Level::Warn, note, Some(now));
            dirty = true;
        }
        if !outbound.is_empty() {
            bytes = passthrough.escapes(&outbound, std::time::Instant::now());
            for what in outbound.iter().filter_map(|o| o.attention()) {
                dirty |= app.claude_attention(what);
            }
        }
        // llws's own copies go out whatever `passthrough` says: that setting is about what
        // the pane's program may send, and a copy is a key the user pressed.
        for copy in copies.drain(..) {
            bytes.extend(copy.escape());
        }
        if !bytes.is_empty() {
            let out = terminal.backend_mut();
            out.write_all(&bytes)?;
            out.flush()?;
        }
        if dirty && last_frame.elapsed() >= frame {
            terminal.draw(|f| with_view(s, &watches, now, |view| render(f, app, view, claude)))?;
            last_frame = Instant::now();
            dirty = false;
            if log_rx.is_none() {
                log_rx = Some(s.controller.logs().subscribe());
            }
        }
        if app.quitting {
            return Ok(());
        }
        let frame_due = dirty.then_some(last_frame + frame);
        let animating = last_state.is_busy() && last_state.switch.is_some();
        let anim_due = animating.then(|| Instant::now() + ANIMATION);
        let expiry = app
            .message_until
            .map(|until| Instant::now() + Duration::from_millis(until.saturating_sub(now)));

        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(ev)) => {
                    if matches!(ev, Event::Resize(..)) {
                        dirty = true;
                        continue;
                    }
                    let effects = with_view(s, &watches, now_ms(), |view| app.on_event(&ev, view));
                    apply(effects, app, s, claude, &mut copies, &done_tx);
                    dirty = true;
                }
                // The terminal is gone: leave as for a signal.
                Some(Err(_)) | None => return Ok(()),
            },
            _ = changed(&mut state_rx) => {
                let new = watches.state.borrow().clone();
                app.on_server_state(&last_state, &new, now_ms());
                let mut want = banner_for(&new);
                if want.is_none() && last_state.is_busy() && new.phase == Phase::Running {
                    want = new
                        .profile_name
                        .as_ref()
                        .map(|name| format!("model ready: {name} answers from now on"));
                    banner_until = Some(Instant::now() + READY_BANNER);
                } else if want.is_some() || new.phase != Phase::Running {
                    banner_until = None;
                } else if banner_until.is_some() {
                    want = banner.clone();
                }
                if want != banner {
                    claude.set_banner(want.clone());
                    banner = want;
                }
                last_state = new;
                dirty = true;
            }
            _ = changed(&mut profiles_rx) => dirty = true,
            _ = changed(&mut gpu_rx) => dirty = true,
            _ = changed(&mut system_rx) => dirty = true,
            _ = changed(&mut facts_rx) => dirty = true,
            _ = async { match &mut log_rx { Some(rx) => { let _ = rx.recv().await; } None => pending().await } } => {
                log_rx = None;
                dirty = true;
            }
            _ = wake.notified() => dirty = true,
            Some(done) = done_rx.recv() => {
                match done {
                    Done::ModelFacts(facts) => app.set_model_facts(facts),
                    Done::Switch(Err(e)) => app.say(Level::Error, e.to_string(), Some(now_ms())),
                    Done::Switch(Ok(_)) => {}
                    Done::Note(level, text) => app.say(level, text, Some(now_ms())),
                }
                dirty = true;
            }
            _ = async { match frame_due { Some(t) => sleep_until(t).await, None => pending().await } } => {}
            _ = async { match anim_due { Some(t) => sleep_until(t).await, None => pending().await } } => dirty = true,
            _ = async { match expiry { Some(t) => sleep_until(t).await, None => pending().await } } => dirty = true,
            _ = async { match banner_until { Some(t) => sleep_until(t).await, None => pending().await } } => {
                banner_until = None;
                banner = None;
                claude.set_banner(None);
                dirty = true;
            }
            _ = sigterm.recv() => return Ok(()),
            _ = sighup.recv() => return Ok(()),
            _ = sigint.recv() => return Ok(()),
        }
    }
}

/// The line over the claude pane while its model is away.
fn banner_for(s: &ServerState) -> Option<String> {
    match (&s.switch, s.is_busy()) {
        (Some(sw), true) => Some(format!(
            "model switching to {}: answers wait until it has loaded",
            sw.target_name
        )),
        _ => None,
    }
}

fn apply(
    effects: Vec<Effect>,
    app: &mut App,
    s: &Services,
    claude: &mut ClaudePane,
    copies: &mut Vec<Outbound>,
    done: &mpsc::UnboundedSender<Done>,
) {
    for effect in effects {
        match effect {
            Effect::ClaudeKey(key) => claude.handle_key(&key),
            Effect::ClaudePaste(text) => claude.paste(&text),
            Effect::ClaudeScroll(delta) => {
                let delta = match delta {
                    i32::MIN => -(claude.scrollback_offset() as i32),
                    d => d,
                };
                claude.scroll_lines(delta);
            }
            Effect::ClaudeMouse(ev, inner) => {
                claude.handle_mouse(&ev, inner);
            }
            Effect::RestartClaude => match claude.restart() {
                Ok(()) => app.say(Level::Info, "claude pane restarted", Some(now_ms())),
                Err(e) => app.say(Level::Error, e, Some(now_ms())),
            },
            Effect::Switch(id) => match s.controller.begin_switch(&id) {
                Ok(pending) => {
                    app.switch_accepted();
                    let tx = done.clone();
                    tokio::spawn(async move {
                        let _ = tx.send(Done::Switch(pending.outcome().await));
                    });
                }
                Err(e) => app.switch_refused(e.to_string(), now_ms()),
            },
            Effect::RestartServer => match s.controller.begin_restart() {
                Ok(pending) => {
                    let tx = done.clone();
                    tokio::spawn(async move {
                        let _ = tx.send(Done::Switch(pending.outcome().await));
                    });
                }
                Err(e) => app.say(Level::Error, e.to_string(), Some(now_ms())),
            },
            Effect::StopServer => {
                let c = s.controller.clone();
                let tx = done.clone();
                tokio::spawn(async move {
                    let note = match c.stop().await {
                        Ok(_) => (Level::Info, "server stopped".to_string()),
                        Err(e) => (Level::Error, e.to_string()),
                    };
                    let _ = tx.send(Done::Note(note.0, note.1));
                });
            }
            Effect::KeepWaiting => match s.controller.keep_waiting() {
                Ok(at) => {
                    let left = at.saturating_sub(now_ms()).div_ceil(1000);
                    app.say(
                        Level::Info,
                        format!("waiting longer: the health check now gives up in {left} s"),
                        Some(now_ms()),
                    );
                }
                Err(e) => app.say(Level::Error, e.to_string(), Some(now_ms())),
            },
            Effect::LoadModelSizes => {
                let set = s.controller.profiles().set;
                // The timings are in memory: read them now, the sizes off the loop.
                let loads = set
                    .profiles
                    .iter()
                    .filter_map(|p| s.controller.estimate_ms(&p.id).map(|ms| (p.id.clone(), ms)))
                    .collect();
                app.set_load_times(loads);
                let dir = s.settings.models_dir.clone();
                let tx = done.clone();
                tokio::task::spawn_blocking(move || {
                    let _ = tx.send(Done::ModelFacts(model_facts(&dir, &set)));
                });
            }
            Effect::Copy(text) => copies.push(passthrough::copy(&text)),
            Effect::Quit => app.quitting = true,
        }
    }
}
