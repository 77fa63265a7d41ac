//! The loop: waits on terminal input, the controller's state, the runner's answers, the
//! monitors, new log lines, the claude pane's output and signals; turns each into a
//! [`Msg`] for [`App::update`], hands the effects to the [`Runner`], and redraws when
//! something changed, at most `ui.frame_rate` times a second. Nothing ticks while nothing
//! changes: the only timers are the frame limiter (armed only when a frame is due), a slow
//! one while a switch's elapsed time is shown, and the app's own ([`App::next_timer`]:
//! a message's or the ready banner's expiry). SIGTERM, SIGHUP and SIGINT leave as a
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
use crate::server::ServerState;
use crate::server::state::now_ms;
use crate::ui::app::App;
use crate::ui::msg::Msg;
use crate::ui::panes::claude::ClaudePane;
use crate::ui::passthrough::Passthrough;
use crate::ui::render;
use crate::ui::runner::Runner;
use crate::ui::services::Services;
use crate::ui::tty::Term;
use crate::ui::view::{Sources, View};

/// How often the elapsed time of a switch is redrawn.
const ANIMATION: Duration = Duration::from_millis(250);

/// The watches the loop reads, kept as receivers so `changed()` can be awaited.
pub struct Watches {
    pub state: watch::Receiver<ServerState>,
    pub profiles: watch::Receiver<crate::server::profiles_store::ProfilesView>,
    pub gpu: watch::Receiver<crate::monitor::GpuState>,
    pub system: watch::Receiver<crate::monitor::SystemSnapshot>,
    pub facts: watch::Receiver<crate::server::load_facts::LoadFacts>,
    pub router: Option<watch::Receiver<crate::ui::router_feed::RouterView>>,
}

impl Watches {
    pub fn new(s: &Services) -> Watches {
        Watches {
            state: s.controller.subscribe_state(),
            profiles: s.controller.subscribe_profiles(),
            gpu: s.monitor.gpu.clone(),
            system: s.monitor.system.clone(),
            facts: s.controller.subscribe_load_facts(),
            router: s.router_view.clone(),
        }
    }
}

/// The monitors of host `shown` (this machine's, or a remote's fed from its API).
fn monitor_of(s: &Services, shown: usize) -> &crate::monitor::MonitorHandle {
    match s.remote_monitors.get(shown) {
        Some(Some((monitor, _))) => monitor,
        _ => &s.monitor,
    }
}

/// The server log of host `shown`.
fn ring_of(s: &Services, shown: usize) -> &Arc<crate::server::logs::LogRing> {
    match s.hosts.hosts.get(shown) {
        Some(host) if shown > 0 => host.handle.logs(),
        _ => s.controller.logs(),
    }
}

/// When the remote `shown` last sent a sample (none for this machine).
fn heard_of(s: &Services, shown: usize) -> Option<watch::Receiver<Option<u64>>> {
    match s.remote_monitors.get(shown) {
        Some(Some((_, heard))) => Some(heard.clone()),
        _ => None,
    }
}

/// Builds the view from the latest snapshots (and `claude`, for copy mode's reads) and
/// runs `f` on it (see [`Sources::with_view`]). The log, GPU and system come from host
/// `shown`.
pub fn with_view<R>(
    s: &Services,
    w: &Watches,
    now: u64,
    claude: Option<&ClaudePane>,
    shown: usize,
    f: impl FnOnce(&View<'_>) -> R,
) -> R {
    let server = w.state.borrow();
    let profiles = w.profiles.borrow();
    let monitor = monitor_of(s, shown);
    let gpu = monitor.gpu.borrow();
    let system = monitor.system.borrow();
    let facts = w.facts.borrow();
    let router = w.router.as_ref().map(|r| r.borrow());
    let history = monitor.history.lock().unwrap_or_else(|p| p.into_inner());
    let server_url = s.settings.server.base_url();
    Sources {
        server: &server,
        profiles: &profiles,
        gpu: &gpu,
        system: &system,
        history: &history,
        facts: &facts,
        logs: ring_of(s, shown),
        server_url: &server_url,
        api: &s.api,
        claude,
        router: router.as_deref(),
    }
    .with_view(now, f)
}

/// Hands `msg` to the app with the view of now, and its effects to the runner.
pub fn step(
    msg: Msg,
    app: &mut App,
    s: &Services,
    w: &Watches,
    runner: &Runner,
    claude: &mut ClaudePane,
    out: &mut Vec<Outbound>,
) {
    let shown = app.panels.shown();
    let effects = with_view(s, w, now_ms(), Some(claude), shown, |view| {
        app.update(msg, view)
    });
    runner.run(effects, claude, out);
}

/// Draws one frame of the app on the terminal.
pub fn draw(
    terminal: &mut Term,
    app: &mut App,
    s: &Services,
    w: &Watches,
    claude: &mut ClaudePane,
) -> std::io::Result<()> {
    let shown = app.panels.shown();
    terminal.draw(|f| {
        let area = f.area();
        with_view(s, w, now_ms(), None, shown, |view| {
            render::frame(f.buffer_mut(), area, app, view, claude)
        })
    })?;
    Ok(())
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
    runner: &Runner,
    mut answers: mpsc::UnboundedReceiver<Msg>,
) -> anyhow::Result<()> {
    let frame = Duration::from_secs(1) / s.settings.ui.frame_rate.max(1);
    let mut events = EventStream::new();
    let watches = Watches::new(s);
    let mut state_rx = Some(watches.state.clone());
    let mut profiles_rx = Some(watches.profiles.clone());
    let mut gpu_rx = Some(watches.gpu.clone());
    let mut system_rx = Some(watches.system.clone());
    let mut facts_rx = Some(watches.facts.clone());
    let mut router_rx = watches.router.clone();
    // New log lines wake the loop once per frame: the receiver is dropped on the first
    // line and taken again after the next draw, so 10,000 lines a second cost one wake.
    let mut log_rx = Some(s.controller.logs().subscribe());
    // The host the log, GPU and system panes show, and when its last sample came.
    let mut shown = 0;
    let mut heard_rx: Option<watch::Receiver<Option<u64>>> = None;
    let mut stale_tick = tokio::time::interval(Duration::from_secs(1));
    stale_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    // Ctrl+C is a key for claude in raw mode; a SIGINT can only come from outside.
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut last_frame = Instant::now() - frame;
    let mut dirty = true;
    let mode = s.settings.claude.passthrough;
    let sandboxed = s.settings.claude.sandbox != crate::config::settings::SandboxMode::Off;
    let mut passthrough = Passthrough::new(mode.alerts());
    let clipboard_allowed = mode.clipboard(sandboxed);
    // llws's own copies (Effect::Copy), written with the pane's items below.
    let mut copies: Vec<Outbound> = Vec::new();
    let step = |msg: Msg, app: &mut App, claude: &mut ClaudePane, copies: &mut Vec<Outbound>| {
        step(msg, app, s, &watches, runner, claude, copies)
    };

    loop {
        if app.quitting {
            return Ok(());
        }
        // What the claude pane's program sent for the user's terminal, written between
        // frames (escapes that move no cursor, so ratatui's idea of the screen stays right).
        // The pane wakes the loop when it queues something; draining takes no lock when
        // nothing is queued, so this costs nothing on the way to a frame.
        let mut outbound = claude.take_outbound();
        let mut bytes = Vec::new();
        if let Some(note) =
            crate::ui::passthrough::clipboard_note(&mut outbound, clipboard_allowed, sandboxed)
        {
            step(
                Msg::ClaudeClipboard(note.to_string()),
                app,
                claude,
                &mut copies,
            );
            dirty = true;
        }
        if !outbound.is_empty() {
            bytes = passthrough.escapes(&outbound, std::time::Instant::now());
            for what in outbound.iter().filter_map(|o| o.attention()) {
                let before = app.claude_alert.clone();
                step(
                    Msg::ClaudeAttention(what.to_string()),
                    app,
                    claude,
                    &mut copies,
                );
                dirty |= app.claude_alert != before;
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
        if app.panels.shown() != shown {
            // Another host in the panes: its samples, its log, its last sample's time.
            shown = app.panels.shown();
            let monitor = monitor_of(s, shown);
            gpu_rx = Some(monitor.gpu.clone());
            system_rx = Some(monitor.system.clone());
            log_rx = Some(ring_of(s, shown).subscribe());
            heard_rx = heard_of(s, shown);
            let heard = heard_rx.as_ref().and_then(|h| *h.borrow());
            step(Msg::HostHeard(heard), app, claude, &mut copies);
            dirty = true;
        }
        if dirty && last_frame.elapsed() >= frame {
            draw(terminal, app, s, &watches, claude)?;
            last_frame = Instant::now();
            dirty = false;
            if log_rx.is_none() {
                log_rx = Some(ring_of(s, shown).subscribe());
            }
        }
        let frame_due = dirty.then_some(last_frame + frame);
        let animating = {
            let state = watches.state.borrow();
            state.is_busy() && state.switch.is_some()
        };
        let anim_due = animating.then(|| Instant::now() + ANIMATION);
        let now = now_ms();
        let timer = app
            .next_timer()
            .map(|at| Instant::now() + Duration::from_millis(at.saturating_sub(now)));

        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Resize(..))) => dirty = true,
                Some(Ok(ev)) => {
                    step(Msg::Input(ev), app, claude, &mut copies);
                    dirty = true;
                }
                // The terminal is gone: leave as for a signal.
                Some(Err(_)) | None => step(Msg::Leave, app, claude, &mut copies),
            },
            _ = changed(&mut state_rx) => {
                let new: ServerState = watches.state.borrow().clone();
                step(Msg::ServerState(Box::new(new)), app, claude, &mut copies);
                dirty = true;
            }
            _ = changed(&mut profiles_rx) => dirty = true,
            _ = changed(&mut gpu_rx) => dirty = true,
            _ = changed(&mut system_rx) => dirty = true,
            _ = changed(&mut facts_rx) => dirty = true,
            _ = changed(&mut router_rx) => dirty = true,
            _ = async { match &mut log_rx { Some(rx) => { let _ = rx.recv().await; } None => pending().await } } => {
                log_rx = None;
                dirty = true;
            }
            _ = wake.notified() => dirty = true,
            _ = changed(&mut heard_rx) => {
                let heard = heard_rx.as_ref().and_then(|h| *h.borrow());
                step(Msg::HostHeard(heard), app, claude, &mut copies);
                dirty = true;
            }
            // A remote's panes say how old its last sample is: redrawn each second.
            _ = stale_tick.tick(), if shown > 0 => dirty = true,
            Some(msg) = answers.recv() => {
                step(msg, app, claude, &mut copies);
                dirty = true;
            }
            _ = async { match frame_due { Some(t) => sleep_until(t).await, None => pending().await } } => {}
            _ = async { match anim_due { Some(t) => sleep_until(t).await, None => pending().await } } => dirty = true,
            _ = async { match timer { Some(t) => sleep_until(t).await, None => pending().await } } => {
                step(Msg::Tick, app, claude, &mut copies);
                dirty = true;
            }
            _ = sigterm.recv() => step(Msg::Leave, app, claude, &mut copies),
            _ = sighup.recv() => step(Msg::Leave, app, claude, &mut copies),
            _ = sigint.recv() => step(Msg::Leave, app, claude, &mut copies),
        }
    }
}
