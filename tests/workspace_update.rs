//! The workspace's one road, end to end without a terminal: a key goes through
//! `App::update`, its effect through the runner to the real controller (the native
//! llama-server with the tiny model), the controller's answers and new states come back as
//! messages through `App::update`, and the frame drawn from the app shows them.

mod harness;
mod support;

use std::time::Duration;

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use harness::TestEnv;
use llws::config::keymap::Keymap;
use llws::config::settings::{BackendKind, OnExit};
use llws::config::theme::Theme;
use llws::monitor::{GpuState, History, SystemSnapshot};
use llws::server::state::now_ms;
use llws::server::{ControllerHandle, Phase};
use llws::ui::app::{App, Overlay};
use llws::ui::msg::Msg;
use llws::ui::panes::claude::ClaudePane;
use llws::ui::render;
use llws::ui::runner::Runner;
use llws::ui::view::{ApiStatus, Sources};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use tokio::sync::mpsc::UnboundedReceiver;

/// The app, the runner and what they talk to: the real controller and a claude pane that
/// replays bytes (no PTY, no terminal).
struct Workspace {
    app: App,
    runner: Runner,
    answers: UnboundedReceiver<Msg>,
    ctl: ControllerHandle,
    claude: ClaudePane,
    state: tokio::sync::watch::Receiver<llws::server::ServerState>,
}

/// The view's sources as the event loop fills them: the controller's state, profiles, load
/// facts and log ring (no GPU here, no monitors needed).
fn with_sources<R>(ctl: &ControllerHandle, f: impl FnOnce(&Sources<'_>) -> R) -> R {
    let server = ctl.state();
    let profiles = ctl.profiles();
    let facts = ctl.load_facts();
    let (gpu, system, history) = (
        GpuState::Waiting,
        SystemSnapshot::default(),
        History::new(10),
    );
    let api = ApiStatus::Disabled;
    f(&Sources {
        server: &server,
        profiles: &profiles,
        gpu: &gpu,
        system: &system,
        history: &history,
        facts: &facts,
        logs: ctl.logs(),
        server_url: "http://127.0.0.1:1",
        api: &api,
        claude: None,
        router: None,
    })
}

impl Workspace {
    fn new(ctl: ControllerHandle, env: &TestEnv) -> Workspace {
        let (runner, answers) = Runner::new(ctl.clone(), env.settings.models_dir.clone());
        Workspace {
            app: App::new(
                Keymap::builtin_default(),
                Theme::builtin_default(),
                OnExit::Stop,
            ),
            runner,
            answers,
            state: ctl.subscribe_state(),
            ctl,
            claude: ClaudePane::replay(24, 80, b"$ "),
        }
    }

    /// Hands `msg` to the app as the event loop does, and its effects to the runner.
    fn step(&mut self, msg: Msg) {
        let app = &mut self.app;
        let effects = with_sources(&self.ctl, |s| s.with_view(now_ms(), |v| app.update(msg, v)));
        let mut out = Vec::new();
        self.runner.run(effects, &mut self.claude, &mut out);
    }

    fn key(&mut self, code: KeyCode, mods: KeyModifiers) {
        self.step(Msg::Input(Event::Key(KeyEvent::new(code, mods))));
    }

    fn prefix(&mut self, c: char) {
        self.key(KeyCode::Char('\\'), KeyModifiers::CONTROL);
        self.key(KeyCode::Char(c), KeyModifiers::NONE);
    }

    /// Feeds the controller's answers and state changes to the app, as the loop's select
    /// does, until `done` holds; returns the last frame.
    async fn until(&mut self, what: &str, done: impl Fn(&App, &str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        loop {
            let screen = self.frame();
            if done(&self.app, &screen) {
                return screen;
            }
            tokio::select! {
                Some(msg) = self.answers.recv() => self.step(msg),
                Ok(()) = self.state.changed() => {
                    let new = self.state.borrow_and_update().clone();
                    self.step(Msg::ServerState(Box::new(new)));
                }
                _ = tokio::time::sleep_until(deadline) => panic!("{what} never came:\n{screen}"),
            }
        }
    }

    /// One frame at 160×50, drawn from the app as the loop draws it, as text.
    fn frame(&mut self) -> String {
        let area = Rect::new(0, 0, 160, 50);
        let mut buf = Buffer::empty(area);
        let (app, claude) = (&mut self.app, &mut self.claude);
        with_sources(&self.ctl, |s| {
            s.with_view(now_ms(), |v| render::frame(&mut buf, area, app, v, claude))
        });
        (0..area.height)
            .map(|y| {
                let row: String = (0..area.width).map(|x| buf[(x, y)].symbol()).collect();
                row.trim_end().to_string() + "\n"
            })
            .collect()
    }
}

fn message(app: &App) -> &str {
    app.message.as_ref().map_or("", |m| m.text.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_switches_the_model_through_update_and_the_real_controller() {
    let env = TestEnv::new(BackendKind::Process);
    let mut ws = Workspace::new(env.spawn_process_controller(), &env);

    // Nothing runs: the picker opens by itself and reads the models' sizes off the loop.
    ws.step(Msg::Start { profile: None });
    assert!(matches!(ws.app.overlay, Overlay::Picker(_)));
    let screen = ws
        .until("the model sizes", |_, s| {
            s.contains("Tiny A") && s.contains("≈")
        })
        .await;
    assert!(
        screen.contains("Start a model"),
        "nothing runs yet: {screen}"
    );

    // A file the controller cannot find: its refusal shows in the picker, which stays.
    ws.key(KeyCode::Char('3'), KeyModifiers::NONE);
    let screen = ws
        .until("the refusal", |_, s| s.contains("model file not found"))
        .await;
    assert!(matches!(ws.app.overlay, Overlay::Picker(_)), "{screen}");

    // 1 picks Tiny A: accepted (the picker closes), then loaded, as the state says.
    ws.key(KeyCode::Char('1'), KeyModifiers::NONE);
    let screen = ws
        .until("Tiny A running", |app, s| {
            s.contains("● Tiny A running") && message(app).contains("Tiny A is ready")
        })
        .await;
    assert_eq!(ws.app.overlay, Overlay::None, "{screen}");
    assert_eq!(ws.ctl.state().phase, Phase::Running);
    assert!(
        screen.contains("model ready: Tiny A answers from now on"),
        "the banner over the claude pane:\n{screen}"
    );
    let pid = ws.ctl.state().pid;

    // The running model again: the controller answers that it already runs; the picker
    // closes and nothing restarts.
    ws.prefix('m');
    assert!(matches!(ws.app.overlay, Overlay::Picker(_)));
    ws.key(KeyCode::Char('1'), KeyModifiers::NONE);
    ws.until("the picker to close", |app, _| app.overlay == Overlay::None)
        .await;
    assert_eq!(ws.ctl.state().pid, pid);

    // Prefix S asks first (issue 14), y stops it: the controller's outcome comes back as
    // the status bar's note.
    ws.prefix('S');
    assert_eq!(ws.app.overlay, Overlay::ConfirmStop);
    assert!(ws.frame().contains("Stop the server?"));
    ws.key(KeyCode::Char('y'), KeyModifiers::NONE);
    let screen = ws
        .until("the stop", |app, s| {
            message(app) == "server stopped" && s.contains("○ no model")
        })
        .await;
    assert_eq!(ws.ctl.state().phase, Phase::Idle, "{screen}");
    ws.ctl.shutdown(false).await;
}
