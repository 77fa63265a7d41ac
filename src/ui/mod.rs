//! The workspace: the claude pane, the server log, the GPU and system panels and the
//! status bar in one screen, with the model picker, help and dialogs over them.
//!
//! The data goes one way:
//! ```text
//!   terminal input, signals ─┐
//!   controller state (watch) ┼─► Msg ─► App::update ─► state ─► App::prepare_frame ─► render::draw
//!   runner's answers ────────┘               │                  (layout, log page)     (&App, View)
//!          ▲                                 ▼
//!          └──────── Runner ◄──────────── Effect (switch, stop, keys for claude, copy)
//! ```
//! `app` holds the state; [`msg::Msg`] is everything that may change it and
//! [`app::App::update`] the one function that does; [`action::Effect`] is everything it
//! may ask of the world, which [`runner::Runner`] carries out (answers come back as
//! messages). `render` draws a frame from the app and a [`view::View`] of plain snapshots
//! and writes nothing else, so tests draw any state without services, once.
//!
//! Where to add things: a new key command is a row in [`commands`]; a new input or answer
//! is a [`msg::Msg`] variant handled in `update`; a new thing to do outside is an
//! [`action::Effect`] variant carried out in the runner; a new overlay is an
//! [`app::Overlay`] variant with its keys in the keymap, drawn in the one overlay frame
//! ([`widgets::overlay`]); a new pane is a [`layout::PaneId`] with a `draw` in [`panes`].

pub mod action;
pub mod app;
pub mod commands;
pub mod copy_mode;
pub mod dialog;
pub mod event_loop;
pub mod help;
pub mod keys;
pub mod layout;
pub mod msg;
pub mod panels_host;
pub mod panes;
pub mod passthrough;
pub mod picker;
pub mod picker_table;
pub mod prefs;
pub mod render;
pub mod router_feed;
pub mod runner;
pub mod search;
pub mod services;
pub mod status_bar;
pub mod tty;
pub mod view;
pub mod widgets;

#[cfg(test)]
mod snapshot_tests;

use std::sync::Arc;

use ratatui::layout::Rect;
use tokio::sync::Notify;

use crate::config::Settings;
use crate::config::diag::Diagnostic;
use crate::config::keymap::Section;
use crate::config::settings::OnExit;
use crate::config::theme::Theme;
use crate::ui::commands::{KeyAction, Keymap};

use self::app::App;
use self::layout::{PaneId, Splits};
use self::msg::Msg;
use self::panes::claude::ClaudePane;
use self::runner::Runner;
use self::status_bar::Level;

/// What `llws [PROFILE]` runs once the profile is known to exist.
pub struct Start {
    pub settings: Settings,
    pub profile: Option<String>,
    pub keymap: Keymap,
    pub theme: Theme,
    /// Problems with the keymap or theme files (the built-in defaults are in use).
    pub diagnostics: Vec<Diagnostic>,
    /// The API of the llws that owns the server, when this workspace is its client.
    pub client_of: Option<String>,
}

pub fn run(start: Start) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("llws")
        .build()?;
    let result = runtime.block_on(workspace(start));
    // The samplers' blocking calls (NVML, sysinfo) are short; do not wait on a stuck one.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    result
}

async fn workspace(start: Start) -> anyhow::Result<()> {
    let settings = Arc::new(start.settings);
    let mut services = services::start(settings.clone(), start.client_of.as_deref()).await?;
    let mut tty = tty::Tty::enter(settings.ui.mouse)?;

    let inner = claude_area(tty.terminal.size()?);
    let wake = Arc::new(Notify::new());
    let waker: crate::pty::Waker = {
        let wake = wake.clone();
        Arc::new(move || wake.notify_one())
    };
    let colors = start.theme.pane_colors();
    let mut claude = ClaudePane::spawn(&settings, inner.height, inner.width, colors, waker);
    // A client of another llws never stops the owner's server.
    let on_exit = if services.controller.is_remote() {
        OnExit::Keep
    } else {
        settings.on_exit
    };
    let mut app = App::new(start.keymap, start.theme, on_exit);
    app.panels = crate::ui::panels_host::PanelsHost::new(
        services
            .hosts
            .hosts
            .iter()
            .map(|h| h.name.clone())
            .collect(),
    );
    app.apply_prefs(self::prefs::load(&self::prefs::path()));
    if let Some(key) = app
        .keymap
        .key_for(Section::Prefix, KeyAction::RestartClaude)
    {
        claude.set_exit_hint(format!(
            "{} {} restarts it",
            app.keymap.prefix.label(),
            key.label()
        ));
    }
    report(&start.diagnostics, &mut app, services.controller.logs());
    // Kept in the status bar (and /status) until fixed, not only until the next message.
    services.controller.report_config_errors(
        "keymap and theme",
        crate::server::state::error_lines(&start.diagnostics),
    );
    // The remotes' profiles and state, before the start names one or opens the picker.
    services
        .hosts
        .first_contact(std::time::Duration::from_secs(3))
        .await;
    let watches = event_loop::Watches::new(&services);
    let (runner, mut answers) =
        Runner::new(services.controller.clone(), settings.models_dir.clone());
    let mut copies = Vec::new();
    event_loop::step(
        Msg::Start {
            profile: start.profile.clone(),
        },
        &mut app,
        &services,
        &watches,
        &runner,
        &mut claude,
        &mut copies,
    );

    // The picker opened at start shows the models' sizes in its first frame: their read
    // runs off the loop, and is waited for here, a moment at most, as its answers come.
    if matches!(app.overlay, app::Overlay::Picker(_)) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
        while let Ok(Some(msg)) = tokio::time::timeout_at(deadline, answers.recv()).await {
            let facts = matches!(msg, Msg::ModelFacts(_));
            event_loop::step(
                msg,
                &mut app,
                &services,
                &watches,
                &runner,
                &mut claude,
                &mut copies,
            );
            if facts {
                break;
            }
        }
    }

    let result = event_loop::run(
        &mut tty.terminal,
        &mut app,
        &services,
        &mut claude,
        wake,
        &runner,
        answers,
    )
    .await;

    // Leaving: say what happens to the server while it happens.
    let keep = on_exit == OnExit::Keep;
    app.overlay = app::Overlay::None;
    app.say(
        Level::Warn,
        if keep {
            "leaving the server running…"
        } else {
            "stopping the server…"
        },
        None,
    );
    let _ = event_loop::draw(
        &mut tty.terminal,
        &mut app,
        &services,
        &watches,
        &mut claude,
    );
    services.stop_api().await;
    services.controller.shutdown(keep).await;
    drop(claude);
    drop(tty);
    result
}

/// Where the claude pane's screen will be, so its PTY starts at the size it is drawn at.
fn claude_area(size: ratatui::layout::Size) -> Rect {
    let screen = Rect::new(0, 0, size.width, size.height);
    layout::compute(screen, &Splits::default(), None, PaneId::Logs)
        .rect(PaneId::Claude)
        .map(|r| {
            Rect::new(
                r.x + 1,
                r.y + 1,
                r.width.saturating_sub(2),
                r.height.saturating_sub(2),
            )
        })
        .unwrap_or(screen)
}

/// Keymap and theme problems: every one in the log, the first error in the status bar
/// (the built-in default is in use).
fn report(diagnostics: &[Diagnostic], app: &mut App, ring: &crate::server::logs::LogRing) {
    for d in diagnostics {
        ring.note(format!("llws: {d}"));
    }
    if let Some(first) = diagnostics.iter().find(|d| d.is_error()) {
        // Short enough for the status bar: the file's name and line, then the message;
        // the log has the full path and the fix.
        let name = first
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let at = first.line.map(|l| format!("{name}:{l}")).unwrap_or(name);
        app.say(
            Level::Error,
            format!("using the built-in default: {at}: {}", first.message),
            None,
        );
    }
}
