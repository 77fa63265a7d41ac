//! Snapshots of whole frames, drawn from hand-made states (no services, no clock) at the
//! sizes that matter: 200×60 and 160×50 (wide), 120×40 (the narrowest full layout, where
//! the picker still shows every column), 80×24 (compact) and 60×20 (the minimum).
//! Snapshots live in src/ui/snapshots; `cargo insta review` updates them.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Color;

use crate::config::profiles::parse;
use crate::config::settings::{BackendKind, OnExit};
use crate::config::theme::Theme;
use crate::monitor::{
    FootprintSource, GpuProcess, GpuSample, GpuSnapshot, GpuState, History, ServerFootprint,
    SystemSnapshot,
};
use crate::server::ControlError;
use crate::server::load_facts::LoadFacts;
use crate::server::logs::{LogRing, Source};
use crate::server::profiles_store::ProfilesView;
use crate::server::state::{Failure, Phase, ServerState, Step, SwitchProgress};
use crate::ui::action::{Effect, Request, Scroll};
use crate::ui::app::{App, Overlay};
use crate::ui::commands::Keymap;
use crate::ui::keys::Mode;
use crate::ui::layout::PaneId;
use crate::ui::msg::{Msg, Reply};
use crate::ui::panes::claude::ClaudePane;
use crate::ui::picker::{Picker, Unsized};
use crate::ui::render;
use crate::ui::view::{ApiStatus, Sources, View};

const NOW: u64 = 1_800_000_000_000;
const GIB: u64 = 1024 * 1024 * 1024;
const MIB: u64 = 1024 * 1024;
const SIZES: [(u16, u16); 5] = [(200, 60), (160, 50), (120, 40), (80, 24), (60, 20)];
const CLAUDE: &[u8] = include_bytes!("../../tests/data/claude_start_120x40.raw");

const MODELS: &str = "\
[qwen3-coder]
NAME=Qwen3 Coder 30B-A3B
SPEED=~48 t/s
DESCRIPTION=MoE coder, 3B active; the everyday model for Claude Code.
MODEL=qwen3-coder-30b-a3b-q4_k_m.gguf
CTX_SIZE=131072

[glm-air]
NAME=GLM 4.5 Air
SPEED=~22 t/s
DESCRIPTION=Bigger and slower; better at planning.
MODEL=glm-4.5-air-q4_k_m-00001-of-00002.gguf
CTX_SIZE=65536

[tiny]
NAME=SmolLM2 135M
SPEED=~900 t/s
MODEL=tiny.gguf
CTX_SIZE=2048

[gone]
NAME=Deleted model
MODEL=gone.gguf

[bench-qwen]
MODEL=qwen3-coder-30b-a3b-q4_k_m.gguf
CTX_SIZE=10240
";

struct Scene {
    server: ServerState,
    gpu: GpuState,
    system: SystemSnapshot,
    history: History,
    logs: Arc<LogRing>,
    profiles: ProfilesView,
    api: ApiStatus,
    facts: LoadFacts,
    router: Option<crate::ui::router_feed::RouterView>,
}

fn profiles() -> ProfilesView {
    ProfilesView {
        set: Arc::new(parse(MODELS, Path::new("models.conf")).expect("test models.conf")),
        error: None,
    }
}

fn server(phase: Phase) -> ServerState {
    let mut s = ServerState::initial(BackendKind::Docker);
    s.phase = phase;
    if phase != Phase::Idle {
        s.profile = Some("qwen3-coder".into());
        s.profile_name = Some("Qwen3 Coder 30B-A3B".into());
        s.pid = Some(4242);
        s.message = "Ready: Qwen3 Coder 30B-A3B".into();
    }
    s
}

fn switching() -> ServerState {
    let mut s = server(Phase::Starting);
    s.profile = Some("glm-air".into());
    s.profile_name = Some("GLM 4.5 Air".into());
    s.message = "Loading GLM 4.5 Air…".into();
    s.switch = Some(SwitchProgress {
        target: "glm-air".into(),
        target_name: "GLM 4.5 Air".into(),
        step: Step::Loading,
        started_at_ms: NOW - 2_600,
        estimate_ms: Some(6_100),
        from_name: None,
    });
    s
}

fn failed() -> ServerState {
    let mut s = server(Phase::Failed);
    s.pid = None;
    s.message = "llama-server exited with code 1 while loading".into();
    s.failure = Some(Failure {
        reason: "llama-server exited with code 1 while loading".into(),
        exit_code: Some(1),
        signal: None,
        oom_killed: false,
        restart_count: None,
        log_tail: vec![
            "0.00.031.598 I srv    load_model: loading model '/models/qwen3.gguf'".into(),
            "0.00.040.101 E llama_model_load: error loading model: tensor data is not within the file bounds".into(),
            "0.00.040.188 E srv    load_model: failed to load model".into(),
            "0.00.040.190 E srv  llama_server: exiting due to model loading error".into(),
        ],
    });
    s
}

fn gpu_sample(
    index: u32,
    name: &str,
    total_gib: u64,
    used: u64,
    model: u64,
    util: u32,
) -> GpuSample {
    GpuSample {
        index,
        name: Some(name.into()),
        memory_used_bytes: Some(used),
        memory_total_bytes: Some(total_gib * GIB),
        memory_free_bytes: Some(total_gib * GIB - used),
        memory_reserved_bytes: Some(300 * MIB),
        model_memory_bytes: Some(model),
        utilization_gpu_percent: Some(util),
        utilization_memory_percent: Some(util / 2),
        temperature_c: Some(61 + index),
        power_draw_w: Some(285.4 - f64::from(index) * 150.0),
        power_limit_w: Some(if index == 0 { 450.0 } else { 165.0 }),
        clock_sm_mhz: Some(2520),
        clock_mem_mhz: Some(10501),
        pstate: Some(2),
        fan_percent: Some(30 + index * 10),
        pcie_tx_bytes_per_s: None,
        pcie_rx_bytes_per_s: None,
        display_active: Some(index == 0),
        processes: {
            let mut p = vec![GpuProcess {
                pid: 4242,
                used_memory_bytes: Some(model),
                name: Some("llama-server".into()),
                is_model: true,
            }];
            if index == 0 {
                p.push(GpuProcess {
                    pid: 1312,
                    used_memory_bytes: Some(412 * MIB),
                    name: Some("Xorg".into()),
                    is_model: false,
                });
            }
            p
        },
        ..GpuSample::default()
    }
}

/// Two cards, a 24 GB at 76 % (yellow) and a 16 GB at 95 % (red), the model on both.
fn two_gpus() -> GpuState {
    GpuState::Ready(GpuSnapshot {
        gpus: vec![
            gpu_sample(
                0,
                "NVIDIA GeForce RTX 4090",
                24,
                18_700 * MIB,
                17_900 * MIB,
                87,
            ),
            gpu_sample(
                1,
                "NVIDIA GeForce RTX 4060 Ti 16GB",
                16,
                15_560 * MIB,
                15_100 * MIB,
                64,
            ),
        ],
        driver_version: Some("580.82.07".into()),
        taken_at: UNIX_EPOCH + Duration::from_millis(NOW),
        stale: None,
    })
}

fn no_gpu() -> GpuState {
    GpuState::Unavailable {
        reason: "no NVIDIA GPU found: NVML could not be loaded (libnvidia-ml.so.1: cannot open shared object file)".into(),
    }
}

fn system(with_server: bool) -> SystemSnapshot {
    SystemSnapshot {
        cpu_percent: 23.5,
        per_core: vec![20.0; 16],
        load: [1.52, 1.31, 0.98],
        mem_total: 64 * GIB,
        mem_free: 20 * GIB,
        mem_available: 50 * GIB,
        cache: 30 * GIB,
        used_incl_cache: 44 * GIB,
        used_excl_cache: 14 * GIB,
        swap_total: 8 * GIB,
        swap_used: if with_server { 1536 * MIB } else { 0 },
        server: with_server.then_some(ServerFootprint {
            cpu_percent: 112.0,
            memory_bytes: 2 * GIB + 300 * MIB,
            memory_limit_bytes: None,
            mapped_file_bytes: Some(GIB + 800 * MIB),
            source: FootprintSource::Process,
        }),
        taken_at: Some(SystemTime::UNIX_EPOCH + Duration::from_millis(NOW)),
    }
}

fn history(gpus: &GpuState) -> History {
    let mut h = History::new(120);
    for i in 0..90u32 {
        let wave = f32::from(((i * 37) % 100) as u8);
        let s = SystemSnapshot {
            cpu_percent: wave * 0.8,
            used_incl_cache: 40 * GIB,
            used_excl_cache: 14 * GIB,
            ..SystemSnapshot::default()
        };
        h.push_system(&s);
        if let GpuState::Ready(snap) = gpus {
            let mut snap = snap.clone();
            for g in &mut snap.gpus {
                g.utilization_gpu_percent = Some((i * 13 + g.index * 40) % 100);
            }
            h.push_gpu(&snap);
        }
    }
    h
}

fn log_ring(lines: usize) -> Arc<LogRing> {
    let ring = LogRing::new(5000);
    let sample = [
        (Source::Llws, "--- starting Qwen3 Coder 30B-A3B ---"),
        (
            Source::Stderr,
            "0.00.002.714 I srv  llama_server: initializing ...",
        ),
        (
            Source::Stderr,
            "0.00.014.780 W srv  llama_server: security: no API key is set and CORS allows all origins",
        ),
        (
            Source::Stderr,
            "0.00.016.656 I srv    load_model: loading model '/models/qwen3-coder-30b-a3b-q4_k_m.gguf'",
        ),
        (
            Source::Stderr,
            "0.01.912.003 I load_tensors: CUDA0 model buffer size = 11203.55 MiB",
        ),
        (
            Source::Stderr,
            "0.01.912.010 I load_tensors: CUDA1 model buffer size =  6211.40 MiB",
        ),
        (
            Source::Stderr,
            "0.02.210.445 I sched_reserve: graph splits = 3",
        ),
        (
            Source::Stderr,
            "\x1b[32m0.02.215.996 I srv  llama_server: model loaded\x1b[0m",
        ),
        (
            Source::Stderr,
            "0.02.216.019 I srv  llama_server: listening on http://127.0.0.1:8080",
        ),
        (
            Source::Llws,
            "llws: Qwen3 Coder 30B-A3B is ready after 2.2 s",
        ),
        (
            Source::Stderr,
            "0.09.001.100 I slot launch_slot_: id  0 | task 0 | processing task",
        ),
        (
            Source::Stderr,
            "0.09.422.871 E srv  send_error: task id = 0, error: the request exceeds the available context size",
        ),
    ];
    for i in 0..lines {
        let (source, text) = sample[i % sample.len()];
        ring.push(source, text);
    }
    ring
}

fn scene(server: ServerState, gpu: GpuState, log_lines: usize) -> Scene {
    let with_server = server.pid.is_some();
    Scene {
        history: history(&gpu),
        server,
        gpu,
        system: system(with_server),
        logs: log_ring(log_lines),
        profiles: profiles(),
        api: ApiStatus::Serving("http://127.0.0.1:8081".into()),
        facts: facts(with_server),
        router: None,
    }
}

/// What the log of a loaded two-GPU model says (load_facts reads the same lines).
fn facts(loaded: bool) -> LoadFacts {
    if !loaded {
        return LoadFacts::default();
    }
    let mut f = LoadFacts::default();
    for line in [
        "load_tensors:   CUDA0 model buffer size = 11203.55 MiB",
        "load_tensors:   CUDA1 model buffer size =  6211.40 MiB",
        "llama_kv_cache:      CUDA0 KV buffer size =   612.00 MiB",
        "llama_kv_cache:      CUDA1 KV buffer size =   408.00 MiB",
        "sched_reserve:      CUDA0 compute buffer size =   301.75 MiB",
        "sched_reserve: graph splits = 3",
        "srv    load_model: initializing, n_slots = 1, n_ctx_slot = 131072, kv_unified = 'true'",
        "prompt eval time =     412.31 ms /   512 tokens (    0.81 ms per token,  1241.78 tokens per second)",
        "       eval time =    2654.02 ms /   128 tokens (   20.73 ms per token,    48.23 tokens per second)",
    ] {
        f.observe(line);
    }
    f
}

fn app() -> App {
    App::new(
        Keymap::builtin_default(),
        Theme::builtin_default(),
        OnExit::Stop,
    )
}

/// The buffer as text, trailing blanks cut, wide characters once.
fn text(buf: &Buffer) -> String {
    let area = buf.area;
    let mut out = String::new();
    for y in 0..area.height {
        let mut line = String::new();
        let mut hidden: u16 = 0;
        for x in 0..area.width {
            let cell = &buf[(x, y)];
            if hidden == 0 {
                line.push_str(cell.symbol());
            }
            hidden = hidden
                .max(unicode_width::UnicodeWidthStr::width(cell.symbol()) as u16)
                .saturating_sub(1);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

impl Scene {
    fn sources(&self) -> Sources<'_> {
        Sources {
            server: &self.server,
            profiles: &self.profiles,
            gpu: &self.gpu,
            system: &self.system,
            history: &self.history,
            facts: &self.facts,
            logs: &self.logs,
            server_url: "http://127.0.0.1:8080",
            api: &self.api,
            claude: None,
            router: self.router.as_ref(),
        }
    }
}

/// One frame, drawn once: drawing reads the app and writes nothing else.
fn frame(scene: &Scene, app: &mut App, w: u16, h: u16) -> (String, Buffer) {
    let area = Rect::new(0, 0, w, h);
    let mut buf = Buffer::empty(area);
    let mut claude = ClaudePane::replay(40, 120, CLAUDE);
    with_view(scene, |view| {
        render::frame(&mut buf, area, app, view, &mut claude)
    });
    (text(&buf), buf)
}

/// Snapshots `scene` at every size, after `setup` put the app in the state to show.
fn shots(name: &str, scene: &Scene, setup: impl Fn(&mut App, &Scene)) {
    for (w, h) in SIZES {
        let mut app = app();
        setup(&mut app, scene);
        let (text, _) = frame(scene, &mut app, w, h);
        insta::with_settings!({snapshot_path => "snapshots", prepend_module_to_snapshot => false, omit_expression => true}, {
            insta::assert_snapshot!(format!("{name}_{w}x{h}"), text);
        });
    }
}

fn with_view<R>(scene: &Scene, f: impl FnOnce(&View<'_>) -> R) -> R {
    scene.sources().with_view(NOW, f)
}

/// Hands `msg` to the app as the event loop does; returns the effects.
fn update(app: &mut App, scene: &Scene, msg: Msg) -> Vec<Effect> {
    with_view(scene, |v| app.update(msg, v))
}

fn key(app: &mut App, scene: &Scene, code: KeyCode, mods: KeyModifiers) -> Vec<Effect> {
    update(
        app,
        scene,
        Msg::Input(Event::Key(KeyEvent::new(code, mods))),
    )
}

/// The controller's answer to a switch, as the runner posts it.
fn switch_reply(app: &mut App, scene: &Scene, id: &str, reply: Reply) {
    update(
        app,
        scene,
        Msg::Controller(Request::Switch(id.into()), reply),
    );
}

fn refused_busy() -> Reply {
    Reply::Refused(ControlError::Busy {
        state: Phase::Starting,
    })
}

/// Sizes for every profile, and samplers for the ones whose EXTRA_ARGS or GGUF name some.
fn picker_facts() -> crate::ui::picker::ModelFacts {
    crate::ui::picker::ModelFacts {
        sizes: sizes(),
        samplers: [(
            "qwen3-coder".to_string(),
            "samplers: temp 0.7 · top-p 0.8 · top-k 20 (model file)".to_string(),
        )]
        .into_iter()
        .collect(),
        // The built-in table's Qwen3 entry, as model_facts finds it (lesson 9).
        advice: [(
            "qwen3-coder".to_string(),
            crate::ui::picker::advice_line(
                &crate::model::advice::AdviceTable::built_in()
                    .for_model(&profiles().set.get("qwen3-coder").unwrap().clone(), None)
                    .unwrap()
                    .clone(),
            ),
        )]
        .into_iter()
        .collect(),
    }
}

fn sizes() -> crate::ui::picker::Sizes {
    [
        ("qwen3-coder", Ok(17_300 * MIB)),
        ("glm-air", Ok(68 * GIB)),
        ("tiny", Ok(94 * MIB)),
        ("gone", Err(Unsized::Missing("gone.gguf".into()))),
        ("bench-qwen", Ok(17_300 * MIB)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

#[test]
fn running_with_two_gpus() {
    shots(
        "running",
        &scene(server(Phase::Running), two_gpus(), 40),
        |_, _| {},
    );
}

#[test]
fn switching_with_an_estimate() {
    shots("switching", &scene(switching(), two_gpus(), 40), |_, _| {});
}

/// The last minute of a slow load's health wait: the status bar offers to keep waiting.
fn about_to_give_up() -> ServerState {
    let mut s = switching();
    if let Some(sw) = s.switch.as_mut() {
        sw.started_at_ms = NOW - 258_000;
        sw.estimate_ms = None;
    }
    s.load_gives_up_at_ms = Some(NOW + 41_200);
    s
}

#[test]
fn a_slow_load_offers_to_keep_waiting() {
    shots(
        "about_to_give_up",
        &scene(about_to_give_up(), two_gpus(), 40),
        |_, _| {},
    );
    // Earlier in the wait, no countdown distracts from the progress.
    let mut early = about_to_give_up();
    early.load_gives_up_at_ms = Some(NOW + 200_000);
    let mut app = app();
    let (text, _) = frame(&scene(early, two_gpus(), 40), &mut app, 160, 50);
    assert!(!text.contains("gives up"), "{text}");
}

#[test]
fn failed_with_a_log_tail() {
    shots("failed", &scene(failed(), no_gpu(), 40), |_, _| {});
    shots(
        "failure_details",
        &scene(failed(), no_gpu(), 40),
        |app, _| {
            app.overlay = Overlay::Failure { scroll: 0 };
        },
    );
}

#[test]
fn without_a_gpu() {
    shots(
        "no_gpu",
        &scene(server(Phase::Running), no_gpu(), 40),
        |_, _| {},
    );
}

#[test]
fn empty_log_while_idle() {
    let mut s = scene(server(Phase::Idle), GpuState::Waiting, 0);
    s.system = SystemSnapshot::default();
    s.history = History::new(120);
    shots("empty_log", &s, |_, _| {});
}

#[test]
fn compact_tabs_show_every_panel() {
    let s = scene(server(Phase::Running), two_gpus(), 40);
    for pane in [PaneId::Gpu, PaneId::System] {
        shots(&format!("tab_{}", pane.title()), &s, |app, _| {
            app.focus = pane
        });
    }
}

#[test]
fn picker_pages_and_refusals() {
    let s = scene(server(Phase::Running), two_gpus(), 40);
    shots("picker", &s, |app, s| {
        with_view(s, |v| app.open_picker(v, false));
        update(app, s, Msg::ModelFacts(picker_facts()));
        let loads = [("qwen3-coder".to_string(), 6_100)].into_iter().collect();
        update(app, s, Msg::LoadTimes(loads));
    });
    shots("picker_bench", &s, |app, s| {
        with_view(s, |v| app.open_picker(v, false));
        app.set_model_facts(picker_facts());
        key(app, s, KeyCode::Char('b'), KeyModifiers::NONE);
    });
    let busy = scene(switching(), two_gpus(), 40);
    shots("picker_busy", &busy, |app, s| {
        with_view(s, |v| app.open_picker(v, false));
        app.set_model_facts(picker_facts());
        // The picker asks; the controller, busy with the switch, refuses.
        let asked = key(app, s, KeyCode::Char('3'), KeyModifiers::NONE);
        assert_eq!(asked, [Effect::Control(Request::Switch("tiny".into()))]);
        switch_reply(app, s, "tiny", refused_busy());
    });
    shots(
        "picker_no_gpu",
        &scene(server(Phase::Running), no_gpu(), 40),
        |app, s| {
            with_view(s, |v| app.open_picker(v, false));
            app.set_model_facts(picker_facts());
        },
    );
}

#[test]
fn picker_scrolls_past_the_rows_that_fit() {
    let many: String = (1..=30)
        .map(|i| format!("[m{i}]\nNAME=Model number {i}\nMODEL=m{i}.gguf\n\n"))
        .collect();
    let mut s = scene(server(Phase::Idle), no_gpu(), 5);
    s.profiles = ProfilesView {
        set: Arc::new(parse(&many, Path::new("models.conf")).unwrap()),
        error: None,
    };
    shots("picker_scrolled", &s, |app, s| {
        app.overlay = Overlay::Picker(Box::new(Picker::open(&s.profiles.set, None, false)));
        for _ in 0..25 {
            key(app, s, KeyCode::Down, KeyModifiers::NONE);
        }
    });
}

#[test]
fn help_quit_and_modes() {
    let s = scene(server(Phase::Running), two_gpus(), 40);
    shots("help", &s, |app, _| {
        app.overlay = Overlay::Help { scroll: 0 }
    });
    shots("help_end", &s, |app, _| {
        app.overlay = Overlay::Help { scroll: 10_000 }
    });
    shots("quit", &s, |app, _| app.overlay = Overlay::ConfirmQuit);
    shots("stop", &s, |app, _| app.overlay = Overlay::ConfirmStop);
    shots("prefix", &s, |app, _| app.mode = Mode::Prefix);
    shots("locked", &s, |app, _| app.mode = Mode::Locked);
    shots("zoomed_log", &s, |app, _| {
        app.focus = PaneId::Logs;
        app.zoom = Some(PaneId::Logs);
    });
    let mut tmux = app();
    tmux.keymap = Keymap::preset("tmux").unwrap();
    let (text, _) = frame(&s, &mut tmux, 160, 50);
    assert!(text.contains("Ctrl+b commands"), "{text}");
}

#[test]
fn log_search_filter_and_pause() {
    let s = scene(server(Phase::Running), two_gpus(), 200);
    shots("log_search", &s, |app, s| {
        app.focus = PaneId::Logs;
        key(app, s, KeyCode::Char('/'), KeyModifiers::NONE);
        for c in "model".chars() {
            key(app, s, KeyCode::Char(c), KeyModifiers::NONE);
        }
        key(app, s, KeyCode::Enter, KeyModifiers::NONE);
        key(app, s, KeyCode::Char('N'), KeyModifiers::SHIFT);
    });
    shots("log_wrapped", &s, |app, s| {
        app.focus = PaneId::Logs;
        key(app, s, KeyCode::Char('w'), KeyModifiers::NONE);
    });
    shots("log_filter_prompt", &s, |app, s| {
        app.focus = PaneId::Logs;
        key(app, s, KeyCode::Char('f'), KeyModifiers::NONE);
        for c in " E ".chars() {
            key(app, s, KeyCode::Char(c), KeyModifiers::NONE);
        }
    });
    shots("log_paused", &s, |app, s| {
        app.focus = PaneId::Logs;
        // A first frame sets the page height the keys move by.
        frame(s, app, 160, 50);
        key(app, s, KeyCode::PageUp, KeyModifiers::NONE);
        app.logs.search = None;
    });
    // "N new lines" needs lines after the pause.
    let mut app = app();
    app.focus = PaneId::Logs;
    frame(&s, &mut app, 160, 50);
    key(&mut app, &s, KeyCode::Up, KeyModifiers::NONE);
    for _ in 0..7 {
        s.logs.push(Source::Stderr, "0.10.000.000 I new line");
    }
    let (text, _) = frame(&s, &mut app, 160, 50);
    assert!(text.contains("↓ 7 new lines"), "{text}");
    assert!(text.contains("paused"), "{text}");
}

#[test]
fn a_bell_or_notification_marks_the_claude_pane_until_it_is_in_view() {
    let s = scene(server(Phase::Running), two_gpus(), 40);
    shots("claude_alert", &s, |app, _| {
        app.focus = PaneId::Logs;
        assert!(app.claude_attention("Claude needs your permission to use Bash"));
    });
    let mut app = app();
    // Looked at: no mark.
    assert!(!app.claude_attention("bell"));
    // Under an overlay: marked, until the overlay goes and a frame shows the pane.
    app.overlay = Overlay::ConfirmQuit;
    assert!(app.claude_attention("bell"));
    assert!(
        !app.claude_attention("bell"),
        "the same mark needs no redraw"
    );
    let (text, _) = frame(&s, &mut app, 160, 50);
    assert!(text.lines().next().unwrap().contains(" ! bell "), "{text}");
    app.overlay = Overlay::None;
    let (text, _) = frame(&s, &mut app, 160, 50);
    assert!(!text.contains("! bell"), "{text}");
    assert_eq!(app.claude_alert, None);
    // What the pane's program queues says what to show.
    let mut claude = ClaudePane::replay(24, 80, b"\x1b]9;tests passed\x07\x07\x1b]52;c;aGk=\x07");
    let marks: Vec<_> = claude
        .take_outbound()
        .iter()
        .filter_map(|o| o.attention().map(str::to_string))
        .collect();
    assert_eq!(marks, ["tests passed", "bell"]);
}

#[test]
fn too_small() {
    let s = scene(server(Phase::Running), two_gpus(), 40);
    let mut app = app();
    let (text, _) = frame(&s, &mut app, 59, 19);
    assert!(
        text.contains("Terminal too small (59x19). Need 60x20.")
            && text.contains("Keys wait until then."),
        "{text}"
    );
    // Keys do nothing unseen (issue 14): not the prefix, not a key for claude.
    let prefix = app.keymap.prefix;
    assert!(key(&mut app, &s, prefix.code, prefix.mods).is_empty());
    assert_eq!(app.mode, Mode::Normal);
    assert!(key(&mut app, &s, KeyCode::Char('x'), KeyModifiers::NONE).is_empty());
    // Grown again, they act.
    frame(&s, &mut app, 80, 24);
    assert_eq!(
        key(&mut app, &s, KeyCode::Char('x'), KeyModifiers::NONE),
        [Effect::ClaudeKey(KeyEvent::new(
            KeyCode::Char('x'),
            KeyModifiers::NONE
        ))]
    );
}

/// `Ctrl+\ S` asks first (issue 14); only a yes stops the server.
#[test]
fn stop_server_asks_first() {
    let s = scene(server(Phase::Running), two_gpus(), 40);
    let mut app = app();
    frame(&s, &mut app, 160, 50);
    let prefix = app.keymap.prefix;
    key(&mut app, &s, prefix.code, prefix.mods);
    assert!(key(&mut app, &s, KeyCode::Char('S'), KeyModifiers::SHIFT).is_empty());
    assert_eq!(app.overlay, Overlay::ConfirmStop);
    assert!(key(&mut app, &s, KeyCode::Char('n'), KeyModifiers::NONE).is_empty());
    assert_eq!(app.overlay, Overlay::None);
    key(&mut app, &s, prefix.code, prefix.mods);
    key(&mut app, &s, KeyCode::Char('S'), KeyModifiers::SHIFT);
    assert_eq!(
        key(&mut app, &s, KeyCode::Char('y'), KeyModifiers::NONE),
        [Effect::Control(Request::StopServer)]
    );
    // Nothing runs: nothing to ask.
    let idle = scene(server(Phase::Idle), two_gpus(), 0);
    key(&mut app, &idle, prefix.code, prefix.mods);
    key(&mut app, &idle, KeyCode::Char('S'), KeyModifiers::SHIFT);
    assert_eq!(app.overlay, Overlay::None);
}

/// The theme key and the resize keys are remembered (issue 14), and an earlier session's
/// theme comes back unless llws.toml names another theme since.
#[test]
fn theme_and_splits_are_remembered() {
    use crate::ui::prefs::Prefs;
    let s = scene(server(Phase::Running), two_gpus(), 40);
    let mut app = app();
    frame(&s, &mut app, 160, 50);
    assert_eq!(
        app.prefs(),
        Prefs::default(),
        "nothing changed, nothing to keep"
    );
    let prefix = app.keymap.prefix;
    key(&mut app, &s, prefix.code, prefix.mods);
    let effects = key(&mut app, &s, KeyCode::Char('t'), KeyModifiers::NONE);
    let theme = app.theme.name.clone();
    key(&mut app, &s, prefix.code, prefix.mods);
    key(&mut app, &s, KeyCode::Char('L'), KeyModifiers::SHIFT);
    let prefs = app.prefs();
    assert!(
        matches!(&effects[..], [Effect::SavePrefs(p)] if p.theme.as_ref().unwrap().name == theme)
    );
    assert_eq!(prefs.splits.unwrap().main_full, 63);

    let mut next = self::app();
    next.apply_prefs(prefs.clone());
    assert_eq!(next.theme.name, theme);
    assert_eq!(next.splits.main_full, 63);
    // The user named another theme in llws.toml since: that one wins.
    let mut other = App::new(
        Keymap::builtin_default(),
        Theme::preset("mono").unwrap(),
        OnExit::Stop,
    );
    other.apply_prefs(prefs);
    assert_eq!(other.theme.name, "mono");
}

/// Issue 17 item 7 (inventory item 32): without swap, the system pane says `Swap: none`,
/// dimmed, as the original did; with swap and little of it used, nothing.
#[test]
fn no_swap_is_said_calmly() {
    let mut s = scene(server(Phase::Running), two_gpus(), 40);
    let (text, _) = frame(&s, &mut app(), 160, 50);
    assert!(!text.contains("Swap: none"), "{text}");
    s.system.swap_total = 0;
    s.system.swap_used = 0;
    let theme = Theme::builtin_default();
    let (text, buf) = frame(&s, &mut app(), 160, 50);
    let (y, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("Swap: none"))
        .unwrap_or_else(|| panic!("{text}"));
    let x = line[..line.find("Swap: none").unwrap()].chars().count();
    assert_eq!(buf[(x as u16, y as u16)].fg, theme.dim);
}

/// Issue 17 item 3 (inventory item 35): the server's URL stays on the status bar at every
/// width, shortened to `:PORT`, the state giving way for it; and the help lists the
/// Anthropic and OpenAI endpoints.
#[test]
fn the_server_url_is_on_the_status_bar_at_every_width() {
    let s = scene(switching(), two_gpus(), 40);
    for w in [60, 70, 80, 100, 120, 160, 200] {
        let (text, _) = frame(&s, &mut app(), w, 50);
        let bar = text.lines().rev().nth(1).unwrap();
        assert!(bar.contains(":8080"), "{w} columns: {bar:?}");
    }
    let (text, _) = frame(&s, &mut app(), 200, 50);
    assert!(text.contains("server http://127.0.0.1:8080"), "{text}");
    let mut help = app();
    help.overlay = Overlay::Help { scroll: 0 };
    let (text, _) = frame(&s, &mut help, 200, 60);
    assert!(text.contains("http://127.0.0.1:8080/v1/messages"), "{text}");
    assert!(
        text.contains("http://127.0.0.1:8080/v1/chat/completions"),
        "{text}"
    );
}

#[test]
fn bars_take_the_colour_of_their_level() {
    let s = scene(server(Phase::Running), two_gpus(), 40);
    let theme = Theme::builtin_default();
    let (text, buf) = frame(&s, &mut app(), 160, 50);
    // The first filled cell after "VRAM " on each GPU's bar row.
    let colour_after = |needle: &str, nth: usize| -> Color {
        let row = text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains(needle))
            .nth(nth)
            .map(|(y, _)| y)
            .unwrap();
        let line: Vec<&str> = (0..buf.area.width)
            .map(|x| buf[(x, row as u16)].symbol())
            .collect();
        let x = line.iter().position(|s| *s == "█").unwrap();
        buf[(x as u16, row as u16)].fg
    };
    assert_eq!(colour_after("VRAM", 0), theme.warn, "76 % is yellow");
    assert_eq!(colour_after("VRAM", 1), theme.error, "95 % is red");
    assert_eq!(colour_after("RAM  ", 0), theme.ok, "69 % RAM is green");
    assert!(
        text.contains("◆    4242 llama-server 17.5 GiB  model"),
        "{text}"
    );
}

#[test]
fn the_claude_pane_answers_osc_11_with_the_theme_in_use() {
    let s = scene(server(Phase::Running), two_gpus(), 40);
    let mut app = app();
    let mut claude = ClaudePane::replay(40, 120, b"");
    let area = Rect::new(0, 0, 160, 50);
    let mut ask = |app: &mut App| {
        with_view(&s, |v| {
            render::frame(&mut Buffer::empty(area), area, app, v, &mut claude)
        });
        let mut term = claude.replay_term().unwrap();
        term.process(b"\x1b]11;?\x07");
        String::from_utf8(term.take_replies()).unwrap()
    };
    let theme_next = |app: &mut App| {
        key(app, &s, KeyCode::Char('\\'), KeyModifiers::CONTROL);
        key(app, &s, KeyCode::Char('t'), KeyModifiers::NONE);
    };
    assert_eq!(ask(&mut app), "\x1b]11;rgb:0000/0000/0000\x07");
    theme_next(&mut app);
    assert_eq!(app.theme.name, "light");
    assert_eq!(ask(&mut app), "\x1b]11;rgb:f5f5/f5f5/f5f5\x07");
    theme_next(&mut app);
    assert_eq!(app.theme.name, "gruvbox");
    assert_eq!(ask(&mut app), "\x1b]11;rgb:2828/2828/2828\x07");
}

/// The styles of a buffer, row by row: where each run of one style starts, and the style
/// (foreground/background, then modifiers). Text snapshots cannot see a theme; these do.
fn styles(buf: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut row = format!("{y:>2}:");
        let mut last = None;
        for x in 0..buf.area.width {
            let cell = &buf[(x, y)];
            let style = (cell.fg, cell.bg, cell.modifier);
            if last != Some(style) {
                let mods = if cell.modifier.is_empty() {
                    String::new()
                } else {
                    format!(" {:?}", cell.modifier)
                };
                row.push_str(&format!(" {x}={:?}/{:?}{mods}", cell.fg, cell.bg));
                last = Some(style);
            }
        }
        out.push_str(&row);
        out.push('\n');
    }
    out
}

/// One whole frame per built-in theme, text and styles: a theme that colours a role
/// wrongly (or not at all) changes its snapshot.
#[test]
fn every_theme_styles_a_whole_frame() {
    let s = scene(server(Phase::Running), two_gpus(), 40);
    let mut seen = Vec::new();
    for name in Theme::preset_names() {
        let mut app = App::new(
            Keymap::builtin_default(),
            Theme::preset(name).unwrap(),
            OnExit::Stop,
        );
        app.focus = PaneId::Logs;
        let (text, buf) = frame(&s, &mut app, 80, 24);
        let styles = styles(&buf);
        assert!(
            !seen.contains(&styles),
            "{name} looks like an earlier theme"
        );
        seen.push(styles.clone());
        insta::with_settings!({snapshot_path => "snapshots", prepend_module_to_snapshot => false, omit_expression => true}, {
            insta::assert_snapshot!(format!("styles_{name}_80x24"), format!("{text}\n{styles}"));
        });
    }
}

mod mouse {
    use super::*;
    use crate::ui::layout::Border;
    use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};

    fn mouse(app: &mut App, scene: &Scene, kind: MouseEventKind, x: u16, y: u16) -> Vec<Effect> {
        let ev = Event::Mouse(MouseEvent {
            kind,
            column: x,
            row: y,
            modifiers: KeyModifiers::NONE,
        });
        update(app, scene, Msg::Input(ev))
    }

    #[test]
    fn a_click_focuses_the_wheel_scrolls_and_a_drag_resizes() {
        let s = scene(server(Phase::Running), two_gpus(), 200);
        let mut app = app();
        frame(&s, &mut app, 160, 50);
        let logs = app.layout.rect(PaneId::Logs).unwrap();
        mouse(
            &mut app,
            &s,
            MouseEventKind::Down(MouseButton::Left),
            logs.x + 5,
            logs.y + 3,
        );
        assert_eq!(app.focus, PaneId::Logs);
        mouse(
            &mut app,
            &s,
            MouseEventKind::ScrollUp,
            logs.x + 5,
            logs.y + 3,
        );
        assert!(!app.logs.follow, "the wheel over the log scrolls it back");

        // The wheel over claude goes to the claude pane, with its inner area.
        let claude = app.claude_inner;
        let effects = mouse(
            &mut app,
            &s,
            MouseEventKind::ScrollUp,
            claude.x + 2,
            claude.y + 2,
        );
        assert!(matches!(effects[..], [Effect::ClaudeMouse(_, r)] if r == claude));

        // Dragging the border between claude and the right column moves it.
        let (_, grab, _) = *app
            .layout
            .borders
            .iter()
            .find(|(b, _, _)| *b == Border::Main)
            .unwrap();
        mouse(
            &mut app,
            &s,
            MouseEventKind::Down(MouseButton::Left),
            grab.x,
            10,
        );
        mouse(
            &mut app,
            &s,
            MouseEventKind::Drag(MouseButton::Left),
            120,
            10,
        );
        mouse(&mut app, &s, MouseEventKind::Up(MouseButton::Left), 120, 10);
        assert_eq!(app.splits.main_full, 75);
        frame(&s, &mut app, 160, 50);
        assert_eq!(app.layout.rect(PaneId::Logs).unwrap().x, 120);
    }

    #[test]
    fn compact_tabs_are_clicked_and_resize_keys_move_splits() {
        let s = scene(server(Phase::Running), two_gpus(), 20);
        let mut app = app();
        frame(&s, &mut app, 80, 24);
        let (_, system_tab) = *app
            .tab_hits
            .iter()
            .find(|(p, _)| *p == PaneId::System)
            .unwrap();
        mouse(
            &mut app,
            &s,
            MouseEventKind::Down(MouseButton::Left),
            system_tab.x + 1,
            system_tab.y,
        );
        assert_eq!(app.focus, PaneId::System);
        let (text, _) = frame(&s, &mut app, 80, 24);
        assert!(text.contains("RAM"), "{text}");
        let before = app.splits.main_compact;
        key(&mut app, &s, KeyCode::Char('J'), KeyModifiers::SHIFT);
        assert_eq!(app.splits.main_compact, before + 5);
    }
}

mod keys {
    use super::*;
    use crate::ui::status_bar::ModeLabel;

    fn press(app: &mut App, s: &Scene, code: KeyCode, mods: KeyModifiers) -> Vec<Effect> {
        key(app, s, code, mods)
    }

    #[test]
    fn the_scroll_key_is_copy_mode_in_claude_and_scroll_mode_in_the_log() {
        let s = scene(server(Phase::Running), two_gpus(), 10);
        let claude = copy_mode::pane();
        let mut app = app();
        frame(&s, &mut app, 160, 50);
        let press = |app: &mut App, code, mods| copy_mode::key(app, &s, &claude, code, mods);
        press(&mut app, KeyCode::Char('\\'), KeyModifiers::CONTROL);
        assert_eq!(app.mode_label(), ModeLabel::Prefix);
        press(&mut app, KeyCode::Char('['), KeyModifiers::NONE);
        assert_eq!(app.mode_label(), ModeLabel::Copy);
        assert!(press(&mut app, KeyCode::PageUp, KeyModifiers::NONE).is_empty());
        assert_eq!(
            press(&mut app, KeyCode::Char('q'), KeyModifiers::NONE),
            vec![Effect::ClaudeScroll(Scroll::Bottom)]
        );
        assert_eq!(app.mode_label(), ModeLabel::Normal);
        // Back in NORMAL, q is claude's again.
        assert!(matches!(
            press(&mut app, KeyCode::Char('q'), KeyModifiers::NONE)[..],
            [Effect::ClaudeKey(_)]
        ));
        // In the log, the same key is scroll mode.
        press(&mut app, KeyCode::Char('\\'), KeyModifiers::CONTROL);
        press(&mut app, KeyCode::Char('2'), KeyModifiers::NONE);
        press(&mut app, KeyCode::Char('\\'), KeyModifiers::CONTROL);
        press(&mut app, KeyCode::Char('['), KeyModifiers::NONE);
        assert_eq!(app.mode_label(), ModeLabel::Scroll);
    }

    #[test]
    fn an_unbound_key_after_the_prefix_says_so_and_goes_nowhere() {
        let s = scene(server(Phase::Running), two_gpus(), 10);
        let mut app = app();
        press(&mut app, &s, KeyCode::Char('4'), KeyModifiers::CONTROL);
        let effects = press(&mut app, &s, KeyCode::Char('y'), KeyModifiers::NONE);
        assert!(effects.is_empty());
        assert_eq!(app.mode_label(), ModeLabel::Normal);
        let msg = app.message.as_ref().unwrap().text.clone();
        assert!(
            msg.contains("Ctrl+\\ y does nothing") && msg.contains("Ctrl+\\ ?"),
            "{msg}"
        );
    }

    #[test]
    fn the_picker_switches_through_an_effect_and_skips_the_running_profile() {
        let s = scene(server(Phase::Running), two_gpus(), 10);
        let mut app = app();
        press(&mut app, &s, KeyCode::Char('\\'), KeyModifiers::CONTROL);
        assert_eq!(
            press(&mut app, &s, KeyCode::Char('m'), KeyModifiers::NONE),
            vec![Effect::LoadModelSizes]
        );
        // The running profile is highlighted; Enter on it asks the controller, which
        // answers that it already runs (accepted, nothing done): the picker closes.
        assert_eq!(
            press(&mut app, &s, KeyCode::Enter, KeyModifiers::NONE),
            vec![Effect::Control(Request::Switch("qwen3-coder".into()))]
        );
        switch_reply(&mut app, &s, "qwen3-coder", Reply::Accepted);
        assert_eq!(app.overlay, Overlay::None);
        with_view(&s, |v| app.open_picker(v, false));
        assert_eq!(
            press(&mut app, &s, KeyCode::Char('2'), KeyModifiers::NONE),
            vec![Effect::Control(Request::Switch("glm-air".into()))]
        );
        // The picker stays open for the controller's answer, and shows a refusal.
        assert!(matches!(app.overlay, Overlay::Picker(_)));
        switch_reply(&mut app, &s, "glm-air", refused_busy());
        let (text, _) = frame(&s, &mut app, 160, 50);
        assert!(text.contains("switch already in progress"), "{text}");
        switch_reply(&mut app, &s, "glm-air", Reply::Accepted);
        assert_eq!(app.overlay, Overlay::None);
    }

    /// A legacy terminal sends the prefix Ctrl+\\ as Ctrl+4: in the picker it must not pick
    /// the fourth row.
    #[test]
    fn a_modified_digit_picks_nothing() {
        let s = scene(server(Phase::Idle), two_gpus(), 10);
        let mut app = app();
        with_view(&s, |v| app.open_picker(v, false));
        assert!(press(&mut app, &s, KeyCode::Char('4'), KeyModifiers::CONTROL).is_empty());
        assert!(press(&mut app, &s, KeyCode::Char('4'), KeyModifiers::ALT).is_empty());
        assert_eq!(
            press(&mut app, &s, KeyCode::Char('4'), KeyModifiers::NONE),
            vec![Effect::Control(Request::Switch("gone".into()))]
        );
    }

    #[test]
    fn prefix_w_asks_to_keep_waiting() {
        let s = scene(about_to_give_up(), two_gpus(), 10);
        let mut app = app();
        press(&mut app, &s, KeyCode::Char('\\'), KeyModifiers::CONTROL);
        assert_eq!(
            press(&mut app, &s, KeyCode::Char('w'), KeyModifiers::NONE),
            vec![Effect::Control(Request::KeepWaiting)]
        );
    }

    fn copied(effects: &[Effect]) -> &str {
        match effects {
            [Effect::Copy(text)] => text,
            other => panic!("not one copy: {other:?}"),
        }
    }

    #[test]
    fn y_in_the_log_pane_copies_the_page_or_every_line_the_filter_keeps() {
        // 104 lines: the sample's green "model loaded" is the newest.
        let s = scene(server(Phase::Running), two_gpus(), 104);
        let mut app = app();
        app.focus = PaneId::Logs;
        // The first frame sets the page the copy takes.
        let (screen, _) = frame(&s, &mut app, 160, 50);
        let y = |app: &mut App| press(app, &s, KeyCode::Char('y'), KeyModifiers::NONE);
        let effects = y(&mut app);
        let text = copied(&effects);
        let lines: Vec<&str> = text.lines().collect();
        let msg = app.message.as_ref().unwrap().text.clone();
        assert_eq!(msg, format!("copied {} lines", lines.len()));
        assert!(lines.len() > 10, "{text}");
        // As drawn: the green line's escapes are gone, and the page ends at the newest.
        assert!(!text.contains('\x1b'), "{text:?}");
        assert_eq!(
            *lines.last().unwrap(),
            "0.02.215.996 I srv  llama_server: model loaded"
        );
        assert!(screen.contains(&lines[0][..40]), "{}\n{screen}", lines[0]);

        // A filter: every line it keeps, above the page too.
        app.logs.filter = Some("listening".into());
        let effects = y(&mut app);
        let text = copied(&effects);
        let want = s.logs.with_lines(|lines| {
            lines
                .iter()
                .filter(|l| l.text.contains("listening"))
                .count()
        });
        assert_eq!(text.lines().count(), want);
        assert!(text.lines().all(|l| l.contains("listening on")), "{text}");
        assert_eq!(
            app.message.as_ref().unwrap().text,
            format!("copied {want} lines matching \"listening\"")
        );

        app.logs.filter = Some("no such line".into());
        assert!(y(&mut app).is_empty());
        assert_eq!(
            app.message.as_ref().unwrap().text,
            "nothing to copy: the log shows no lines"
        );
    }

    #[test]
    fn y_in_the_failure_details_copies_the_report() {
        let s = scene(failed(), two_gpus(), 10);
        let mut app = app();
        app.overlay = Overlay::Failure { scroll: 0 };
        let effects = press(&mut app, &s, KeyCode::Char('y'), KeyModifiers::NONE);
        let text = copied(&effects);
        for line in [
            "Reason   llama-server exited with code 1 while loading",
            "Exit     exit code 1",
            "Last 4 log lines:",
            "0.00.040.190 E srv  llama_server: exiting due to model loading error",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
        assert_eq!(
            app.message.as_ref().unwrap().text,
            "copied the failure details"
        );
        assert!(
            matches!(app.overlay, Overlay::Failure { .. }),
            "it stays open"
        );

        // Nothing failed: nothing to copy.
        let s = scene(server(Phase::Running), two_gpus(), 10);
        assert!(press(&mut app, &s, KeyCode::Char('y'), KeyModifiers::NONE).is_empty());
        assert_eq!(
            app.message.as_ref().unwrap().text,
            "nothing to copy: nothing has failed"
        );
    }

    #[test]
    fn lock_sends_even_the_prefix_and_only_the_lock_key_leaves() {
        let s = scene(server(Phase::Running), two_gpus(), 10);
        let mut app = app();
        app.focus = PaneId::Logs;
        press(&mut app, &s, KeyCode::F(12), KeyModifiers::NONE);
        assert_eq!(app.mode_label(), ModeLabel::Locked);
        assert_eq!(app.focus, PaneId::Claude, "locking focuses claude");
        for (code, mods) in [
            (KeyCode::Char('\\'), KeyModifiers::CONTROL),
            (KeyCode::Esc, KeyModifiers::NONE),
            (KeyCode::Char('q'), KeyModifiers::NONE),
        ] {
            assert!(matches!(
                press(&mut app, &s, code, mods)[..],
                [Effect::ClaudeKey(_)]
            ));
        }
        press(&mut app, &s, KeyCode::F(12), KeyModifiers::NONE);
        assert_eq!(app.mode_label(), ModeLabel::Normal);
    }
}

/// A start blocked by a server llws did not start (the original inventory's item 17).
fn blocked(server: crate::server::foreign::ForeignServer) -> ServerState {
    use crate::server::foreign::Blocked;
    let mut s = ServerState::initial(BackendKind::Docker);
    s.phase = Phase::Failed;
    s.profile = Some("qwen3-coder".into());
    s.profile_name = Some("Qwen3 Coder 30B-A3B".into());
    s.message = server.blocked_message();
    s.failure = Some(Failure {
        reason: server.blocked_message(),
        exit_code: None,
        signal: None,
        oom_killed: false,
        restart_count: None,
        log_tail: Vec::new(),
    });
    s.foreign = Some(Blocked {
        server,
        profile: "qwen3-coder".into(),
    });
    s
}

fn compose_container(adoptable: bool) -> crate::server::foreign::ForeignServer {
    crate::server::foreign::ForeignServer::Container {
        name: "llama-server".into(),
        id: "0123456789abcdef".into(),
        image: if adoptable {
            "llws/llama-server:cuda".into()
        } else {
            "ghcr.io/ggml-org/llama.cpp:server-cuda".into()
        },
        running: true,
        compose_project: Some("llama_cpp".into()),
        adoptable,
    }
}

#[test]
fn a_server_llws_did_not_start_is_asked_about() {
    use crate::server::foreign::{ForeignAction, ForeignServer};
    let container = scene(blocked(compose_container(true)), no_gpu(), 20);
    shots("foreign_container", &container, |app, _| {
        app.overlay = Overlay::Foreign;
    });
    let other_image = scene(blocked(compose_container(false)), no_gpu(), 20);
    shots("foreign_container_other_image", &other_image, |app, _| {
        app.overlay = Overlay::Foreign;
    });
    let process = ForeignServer::Process {
        port: 8080,
        pid: Some(31337),
        program: Some("/usr/bin/python3".into()),
        stoppable: false,
    };
    let not_ours = scene(blocked(process), no_gpu(), 20);
    shots("foreign_process_not_ours", &not_ours, |app, _| {
        app.overlay = Overlay::Foreign;
    });

    // The state that names it opens the question; the keys answer it through the
    // controller, which alone decides.
    let mut app = app();
    let idle = scene(server(Phase::Idle), no_gpu(), 20);
    update(&mut app, &idle, Msg::Start { profile: None });
    update(
        &mut app,
        &container,
        Msg::ServerState(Box::new(container.server.clone())),
    );
    assert_eq!(app.overlay, Overlay::Foreign);
    assert_eq!(
        key(&mut app, &container, KeyCode::Char('a'), KeyModifiers::NONE),
        vec![Effect::Control(Request::ResolveForeign(
            ForeignAction::Adopt
        ))]
    );
    assert_eq!(app.overlay, Overlay::None);
    // Asked again from the failure-details key.
    key(
        &mut app,
        &container,
        KeyCode::Char('\\'),
        KeyModifiers::CONTROL,
    );
    key(&mut app, &container, KeyCode::Char('e'), KeyModifiers::NONE);
    assert_eq!(app.overlay, Overlay::Foreign);
    assert_eq!(
        key(&mut app, &container, KeyCode::Char('r'), KeyModifiers::NONE),
        vec![Effect::Control(Request::ResolveForeign(
            ForeignAction::Replace
        ))]
    );
    // What is not offered is not sent: said instead.
    let mut app2 = self::app();
    app2.overlay = Overlay::Foreign;
    assert!(
        key(
            &mut app2,
            &other_image,
            KeyCode::Char('a'),
            KeyModifiers::NONE
        )
        .is_empty()
    );
    assert_eq!(app2.overlay, Overlay::Foreign);
    let said = app2.message.clone().unwrap().text;
    assert!(said.contains("[server] image"), "{said}");
    assert!(key(&mut app2, &not_ours, KeyCode::Char('r'), KeyModifiers::NONE).is_empty());
    let said = app2.message.clone().unwrap().text;
    assert!(
        said.contains("pid 31337") && said.contains("will not stop it"),
        "{said}"
    );
    // Esc leaves it, and says how to be asked again.
    key(&mut app2, &not_ours, KeyCode::Esc, KeyModifiers::NONE);
    assert_eq!(app2.overlay, Overlay::None);
    let said = app2.message.clone().unwrap().text;
    assert!(said.contains("Ctrl+\\ e asks again"), "{said}");
    // Answered elsewhere (the API, another client): the question goes.
    app.overlay = Overlay::Foreign;
    update(
        &mut app,
        &container,
        Msg::ServerState(Box::new(switching())),
    );
    assert_eq!(app.overlay, Overlay::None);
}

/// Copy mode in the claude pane: keys through the app with a replayed pane behind the
/// view, frames of the copy-mode screen.
mod copy_mode {
    use super::*;
    use crate::ui::status_bar::ModeLabel;
    use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    use ratatui::style::Modifier;

    /// Claude Code's start screen, then 60 lines of answers (most in the scrollback).
    pub(super) fn pane() -> ClaudePane {
        let mut bytes = CLAUDE.to_vec();
        bytes.extend_from_slice(b"\r\n");
        for i in 0..60 {
            let word = if i % 7 == 3 { "needle" } else { "hay" };
            bytes.extend_from_slice(format!("answer {i:02}: the {word} is here\r\n").as_bytes());
        }
        ClaudePane::replay(40, 120, &bytes)
    }

    /// A key through the app with `claude` in the view, as the event loop hands it.
    pub(super) fn key(
        app: &mut App,
        s: &Scene,
        claude: &ClaudePane,
        code: KeyCode,
        mods: KeyModifiers,
    ) -> Vec<Effect> {
        let sources = Sources {
            claude: Some(claude),
            ..s.sources()
        };
        let msg = Msg::Input(Event::Key(KeyEvent::new(code, mods)));
        sources.with_view(NOW, |v| app.update(msg, v))
    }

    fn typed(app: &mut App, s: &Scene, claude: &ClaudePane, text: &str) {
        for c in text.chars() {
            key(app, s, claude, KeyCode::Char(c), KeyModifiers::NONE);
        }
    }

    fn draw(s: &Scene, app: &mut App, claude: &mut ClaudePane, w: u16, h: u16) -> (String, Buffer) {
        let area = Rect::new(0, 0, w, h);
        let mut buf = Buffer::empty(area);
        with_view(s, |view| render::frame(&mut buf, area, app, view, claude));
        (text(&buf), buf)
    }

    /// Copy mode at `w` × `h`: entered, searched up for "needle" and on to the second
    /// match from the bottom, which is `select`ed through the end of its line.
    fn searched(s: &Scene, w: u16, h: u16, select: bool) -> (App, ClaudePane, String, Buffer) {
        let mut claude = pane();
        let mut app = app();
        draw(s, &mut app, &mut claude, w, h);
        let n = KeyModifiers::NONE;
        key(
            &mut app,
            s,
            &claude,
            KeyCode::Char('\\'),
            KeyModifiers::CONTROL,
        );
        key(&mut app, s, &claude, KeyCode::Char('['), n);
        key(&mut app, s, &claude, KeyCode::Char('?'), n);
        typed(&mut app, s, &claude, "needle");
        key(&mut app, s, &claude, KeyCode::Enter, n);
        key(&mut app, s, &claude, KeyCode::Char('n'), n);
        if select {
            key(&mut app, s, &claude, KeyCode::Char('v'), n);
            key(&mut app, s, &claude, KeyCode::Char('$'), n);
        }
        let (text, buf) = draw(s, &mut app, &mut claude, w, h);
        (app, claude, text, buf)
    }

    #[test]
    fn copy_mode_screens() {
        let s = scene(server(Phase::Running), two_gpus(), 10);
        for (w, h) in SIZES {
            let (app, _, text, _) = searched(&s, w, h, true);
            assert_eq!(app.mode_label(), ModeLabel::Copy);
            insta::with_settings!({snapshot_path => "snapshots", prepend_module_to_snapshot => false, omit_expression => true}, {
                insta::assert_snapshot!(format!("copy_mode_{w}x{h}"), text);
            });
        }
        // The prompt, typed on the pane's last row.
        let mut claude = pane();
        let mut app = app();
        draw(&s, &mut app, &mut claude, 160, 50);
        key(
            &mut app,
            &s,
            &claude,
            KeyCode::Char('\\'),
            KeyModifiers::CONTROL,
        );
        key(
            &mut app,
            &s,
            &claude,
            KeyCode::Char('['),
            KeyModifiers::NONE,
        );
        key(
            &mut app,
            &s,
            &claude,
            KeyCode::Char('/'),
            KeyModifiers::NONE,
        );
        typed(&mut app, &s, &claude, "answer 1");
        assert_eq!(app.mode_label(), ModeLabel::Search);
        let (text, _) = draw(&s, &mut app, &mut claude, 160, 50);
        insta::with_settings!({snapshot_path => "snapshots", prepend_module_to_snapshot => false, omit_expression => true}, {
            insta::assert_snapshot!("copy_mode_prompt_160x50", text);
        });
    }

    #[test]
    fn matches_selection_and_cursor_are_painted() {
        let s = scene(server(Phase::Running), two_gpus(), 10);
        let (app, _, text, buf) = searched(&s, 160, 50, true);
        let theme = &app.theme;
        // 9 needles (answers 03, 10, ..., 59); up from the bottom: 59, then n: 52.
        assert!(text.contains("COPY"), "{text}");
        assert!(text.contains("/needle [8/9]"), "{text}");
        let (y, x) = text
            .lines()
            .enumerate()
            .find_map(|(y, l)| {
                l.find("answer 52: the needle")
                    .map(|b| (y as u16, l[..b].chars().count() as u16))
            })
            .expect("answer 52 in view");
        // The current match, another match, the selection from the match to the end of
        // its line, and the cursor on its last character.
        let at = |x: u16, y: u16| buf[(x, y)].style();
        let needle = x + "answer 52: the ".len() as u16;
        assert_eq!(at(needle + 1, y).bg, Some(theme.selection_bg));
        let (y59, x59) = text
            .lines()
            .enumerate()
            .find_map(|(y, l)| {
                l.find("answer 59: the needle")
                    .map(|b| (y as u16, l[..b].chars().count() as u16))
            })
            .expect("answer 59 in view");
        assert_eq!(at(x59 + 16, y59).bg, Some(theme.match_bg));
        let end = x + "answer 52: the needle is here".len() as u16 - 1;
        assert_eq!(at(end - 1, y).bg, Some(theme.selection_bg));
        assert!(at(end, y).add_modifier.contains(Modifier::REVERSED));
        // Without a selection the current match has its own colour.
        let (_, _, _, buf) = searched(&s, 160, 50, false);
        assert_eq!(
            buf[(needle + 1, y)].style().bg,
            Some(theme.current_match_bg)
        );
        assert!(
            buf[(needle, y)]
                .style()
                .add_modifier
                .contains(Modifier::REVERSED)
        );
    }

    #[test]
    fn a_yank_copies_the_selection_and_leaves() {
        let s = scene(server(Phase::Running), two_gpus(), 10);
        let (mut app, claude, _, _) = searched(&s, 160, 50, true);
        let effects = key(&mut app, &s, &claude, KeyCode::Enter, KeyModifiers::NONE);
        assert_eq!(
            effects,
            vec![
                Effect::ClaudeScroll(Scroll::Bottom),
                Effect::Copy("needle is here".into())
            ]
        );
        assert_eq!(app.copy, None);
        assert_eq!(app.message.as_ref().unwrap().text, "copied 14 characters");
    }

    #[test]
    fn sending_the_program_anything_or_restarting_it_leaves_copy_mode() {
        let s = scene(server(Phase::Running), two_gpus(), 10);
        let n = KeyModifiers::NONE;
        let ctrl = KeyModifiers::CONTROL;
        // The prefix twice sends it to the program; the prefix's c restarts it; the lock
        // gives every key to it.
        for keys in [
            vec![(KeyCode::Char('\\'), ctrl), (KeyCode::Char('\\'), ctrl)],
            vec![(KeyCode::Char('\\'), ctrl), (KeyCode::Char('c'), n)],
            vec![(KeyCode::F(12), n)],
        ] {
            let (mut app, claude, _, _) = searched(&s, 160, 50, false);
            let mut effects = Vec::new();
            for (code, mods) in keys.clone() {
                effects = key(&mut app, &s, &claude, code, mods);
            }
            assert_eq!(app.copy, None, "{keys:?}");
            assert!(
                effects.contains(&Effect::ClaudeScroll(Scroll::Bottom)),
                "{keys:?}: {effects:?}"
            );
        }
    }

    #[test]
    fn a_second_search_starts_empty_and_up_brings_back_the_first() {
        let s = scene(server(Phase::Running), two_gpus(), 10);
        let (mut app, claude, _, _) = searched(&s, 160, 50, true);
        let n = KeyModifiers::NONE;
        key(&mut app, &s, &claude, KeyCode::Char('/'), n);
        let editing = |app: &App| app.copy.as_ref().unwrap().editing.clone().unwrap().1.text;
        assert_eq!(editing(&app), "");
        key(&mut app, &s, &claude, KeyCode::Up, n);
        assert_eq!(editing(&app), "needle");
        key(&mut app, &s, &claude, KeyCode::Esc, n);
        // Down from 52: 59, then round to the first, and the status bar says so.
        key(&mut app, &s, &claude, KeyCode::Char('N'), n);
        key(&mut app, &s, &claude, KeyCode::Char('N'), n);
        assert_eq!(app.copy.as_ref().unwrap().counter, Some((1, 9)));
        assert_eq!(
            app.message.as_ref().unwrap().text,
            "search hit the bottom, continued at the top"
        );
    }

    fn mouse(
        app: &mut App,
        s: &Scene,
        claude: &ClaudePane,
        kind: MouseEventKind,
        x: u16,
        y: u16,
    ) -> Vec<Effect> {
        let sources = Sources {
            claude: Some(claude),
            ..s.sources()
        };
        let msg = Msg::Input(Event::Mouse(MouseEvent {
            kind,
            column: x,
            row: y,
            modifiers: KeyModifiers::NONE,
        }));
        sources.with_view(NOW, |v| app.update(msg, v))
    }

    /// Where `needle` is drawn on screen: (x, y) of its first character.
    fn find(text: &str, needle: &str) -> (u16, u16) {
        text.lines()
            .enumerate()
            .find_map(|(y, l)| {
                l.find(needle)
                    .map(|b| (l[..b].chars().count() as u16, y as u16))
            })
            .unwrap_or_else(|| panic!("{needle} not on screen:\n{text}"))
    }

    #[test]
    fn a_drag_over_the_pane_selects_and_copies_as_in_tmux() {
        let s = scene(server(Phase::Running), two_gpus(), 10);
        let mut claude = pane();
        let mut app = app();
        let (text, _) = draw(&s, &mut app, &mut claude, 160, 50);
        let (x, y) = find(&text, "answer 57: the hay");
        let left = MouseButton::Left;
        // Down, then a drag: copy mode starts with a selection from where the button went
        // down, through the cell under the pointer.
        mouse(&mut app, &s, &claude, MouseEventKind::Down(left), x + 11, y);
        assert_eq!(app.copy, None, "a click alone is no selection");
        mouse(
            &mut app,
            &s,
            &claude,
            MouseEventKind::Drag(left),
            x + 5,
            y + 1,
        );
        assert_eq!(app.mode_label(), ModeLabel::Copy);
        let effects = mouse(
            &mut app,
            &s,
            &claude,
            MouseEventKind::Drag(left),
            x + 13,
            y + 1,
        );
        assert!(effects.is_empty());
        // Letting go copies and leaves.
        let effects = mouse(
            &mut app,
            &s,
            &claude,
            MouseEventKind::Up(left),
            x + 13,
            y + 1,
        );
        assert_eq!(
            effects,
            vec![
                Effect::ClaudeScroll(Scroll::Bottom),
                Effect::Copy("the hay is here\nanswer 58: the".into())
            ]
        );
        assert_eq!(app.copy, None);
    }

    #[test]
    fn the_wheel_enters_copy_mode_and_scrolling_back_down_leaves() {
        let s = scene(server(Phase::Running), two_gpus(), 10);
        let mut claude = pane();
        let mut app = app();
        let (text, _) = draw(&s, &mut app, &mut claude, 160, 50);
        let (x, y) = find(&text, "answer 40");
        mouse(&mut app, &s, &claude, MouseEventKind::ScrollUp, x, y);
        assert_eq!(app.mode_label(), ModeLabel::Copy);
        let (text, _) = draw(&s, &mut app, &mut claude, 160, 50);
        assert!(text.contains("[3/28]"), "three lines back: {text}");
        assert_eq!(find(&text, "answer 40").1, y + 3);
        mouse(&mut app, &s, &claude, MouseEventKind::ScrollDown, x, y);
        assert_eq!(app.copy, None, "back at the bottom, copy mode ends");
        // Entered by keys, scrolling to the bottom stays in copy mode.
        key(
            &mut app,
            &s,
            &claude,
            KeyCode::Char('\\'),
            KeyModifiers::CONTROL,
        );
        key(
            &mut app,
            &s,
            &claude,
            KeyCode::Char('['),
            KeyModifiers::NONE,
        );
        mouse(&mut app, &s, &claude, MouseEventKind::ScrollUp, x, y);
        mouse(&mut app, &s, &claude, MouseEventKind::ScrollDown, x, y);
        assert_eq!(app.mode_label(), ModeLabel::Copy);
    }
}

/// The router's figures as the feed publishes them: one request of the running profile.
fn router_view() -> crate::ui::router_feed::RouterView {
    let mut v = crate::ui::router_feed::RouterView::default();
    v.records.push_back(crate::router::activity::Record {
        at_ms: NOW - 5_000,
        method: "POST".into(),
        endpoint: "/v1/messages".into(),
        model: Some("claude-opus".into()),
        profile: Some("qwen3-coder".into()),
        status: 200,
        stream: true,
        prompt_tokens: Some(1200),
        cached_tokens: Some(800),
        generated_tokens: Some(310),
        ttft_ms: Some(420),
        prompt_tps: Some(950.0),
        gen_tps: Some(41.24),
        duration_ms: 7_900,
    });
    v.measured.insert("qwen3-coder".into(), 41.24);
    v
}

#[test]
fn the_router_s_figures_in_the_status_bar_and_nothing_without_a_router() {
    let mut s = scene(server(Phase::Running), two_gpus(), 40);
    let (text, _) = frame(&s, &mut app(), 160, 50);
    assert!(
        !text.contains("tok/s") && !text.contains("unloads in"),
        "{text}"
    );
    let mut v = router_view();
    s.router = Some(v.clone());
    let (text, _) = frame(&s, &mut app(), 160, 50);
    assert!(
        !text.contains("tok/s"),
        "nothing streams: no live figure\n{text}"
    );
    v.live_tps = Some(41.2);
    v.unload_in_s = Some(42);
    s.router = Some(v.clone());
    let (text, _) = frame(&s, &mut app(), 160, 50);
    let bar = text.lines().rev().nth(1).unwrap();
    assert!(
        bar.contains("● Qwen3 Coder 30B-A3B running · ▸ 41.2 tok/s · unloads in 42 s (idle)"),
        "{bar}"
    );
    // Stopped for idleness: said so, not "idle".
    let mut idle = scene(server(Phase::Idle), two_gpus(), 40);
    v.live_tps = None;
    v.unload_in_s = None;
    v.unloaded_idle = Some("qwen3-coder".into());
    idle.router = Some(v);
    let (text, _) = frame(&idle, &mut app(), 160, 50);
    let bar = text.lines().rev().nth(1).unwrap();
    assert!(
        bar.contains("○ Qwen3 Coder 30B-A3B unloaded (idle) · the next request loads it"),
        "{bar}"
    );
}

#[test]
fn the_activity_view_is_a_tab_of_the_log_pane() {
    let mut s = scene(server(Phase::Running), two_gpus(), 40);
    let mut a = app();
    a.focus_to(PaneId::Logs);
    key(&mut a, &s, KeyCode::Char('a'), KeyModifiers::NONE);
    assert!(a.show_activity, "a in the log pane shows it");
    let (text, _) = frame(&s, &mut a, 160, 50);
    assert!(text.contains("router activity"), "{text}");
    assert!(
        text.contains("no router here"),
        "without a router it says so\n{text}"
    );
    s.router = Some(router_view());
    // Zoomed (prefix z), the pane shows every column.
    a.zoom = Some(PaneId::Logs);
    let (text, _) = frame(&s, &mut a, 160, 50);
    let row = text
        .lines()
        .find(|l| l.contains("POST /v1/messages"))
        .unwrap_or_else(|| panic!("{text}"));
    for cell in [
        "claude-opus",
        "qwen3-coder",
        "200",
        "1200",
        "800",
        "310",
        "420 ms",
        "950",
        "41.2",
        "7.9 s",
    ] {
        assert!(row.contains(cell), "{cell} in {row}");
    }
    // Not zoomed, the pane keeps what a glance needs and leaves out the rest.
    a.zoom = None;
    let (text, _) = frame(&s, &mut a, 160, 50);
    let header = text
        .lines()
        .find(|l| l.contains("request") && l.contains("served"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        header.contains("status") && header.contains("tg t/s") && !header.contains("cached"),
        "{header}"
    );
    let row = text
        .lines()
        .find(|l| l.contains("POST /v1/messages"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(row.contains("qwen3-coder") && row.contains("41.2"), "{row}");
    // The log's keys do not act on the hidden log.
    let before = a.logs.wrap;
    key(&mut a, &s, KeyCode::Char('w'), KeyModifiers::NONE);
    assert_eq!(a.logs.wrap, before, "w does not change the hidden log");
    key(&mut a, &s, KeyCode::Char('/'), KeyModifiers::NONE);
    assert!(
        a.logs.editing.is_none(),
        "no search prompt over the activity view"
    );
    let (text, _) = frame(&s, &mut a, 160, 50);
    assert!(
        text.contains("acts on the server log, not on the activity view"),
        "{text}"
    );
    a.message = None;
    let (text, _) = frame(&s, &mut a, 160, 50);
    let bar = text.lines().last().unwrap();
    assert!(
        bar.contains("a server log") && !bar.contains("search"),
        "the hints name the way back, not the hidden log's keys: {bar}"
    );
    key(&mut a, &s, KeyCode::Char('a'), KeyModifiers::NONE);
    let (text, _) = frame(&s, &mut a, 160, 50);
    assert!(
        !text.contains("router activity") && text.contains("server log"),
        "back"
    );
    key(&mut a, &s, KeyCode::Char('w'), KeyModifiers::NONE);
    assert_ne!(a.logs.wrap, before, "w acts on the log again");
}

#[test]
fn the_picker_shows_the_measured_speed() {
    let mut s = scene(server(Phase::Running), two_gpus(), 40);
    s.router = Some(router_view());
    let mut a = app();
    with_view(&s, |v| a.open_picker(v, false));
    a.set_model_facts(picker_facts());
    let (text, _) = frame(&s, &mut a, 200, 50);
    let row = text
        .lines()
        .find(|l| l.contains("Qwen3 Coder 30B-A3B") && l.contains("1)"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(row.contains("measured 41.2 t/s"), "{row}");
    assert!(
        !text
            .lines()
            .any(|l| l.contains("2)") && l.contains("measured")),
        "only the measured profile\n{text}"
    );
}

/// Across hosts (issue 15): this machine's profiles and a remote's, served on the remote.
fn across_hosts() -> Scene {
    let remote = ProfilesView {
        set: Arc::new(
            parse(
                "[tiny-b]\nNAME=Tiny B\nMODEL=tiny.gguf\nCTX_SIZE=4096\n",
                Path::new("box: GET /models"),
            )
            .unwrap(),
        ),
        error: None,
    };
    let mut s = scene(server(Phase::Running), no_gpu(), 40);
    s.profiles = crate::hosts::merge(&[(None, profiles()), (Some("box"), remote)]);
    s.server.profile = Some("tiny-b".into());
    s.server.profile_name = Some("Tiny B".into());
    crate::hosts::name_state(&mut s.server, Some("box"));
    s
}

fn hosts_app(heard_ago_ms: Option<u64>) -> App {
    let mut app = app();
    app.panels = crate::ui::panels_host::PanelsHost::new(vec![None, Some("box".into())]);
    // The serving host is the remote (the event loop then says when it last heard of it).
    app.panels.follow(Some("box"));
    app.panels.heard_ms = heard_ago_ms.map(|ago| NOW - ago);
    app
}

#[test]
fn the_picker_groups_profiles_by_host() {
    let s = across_hosts();
    let mut app = hosts_app(Some(500));
    with_view(&s, |v| app.open_picker(v, false));
    let (text, _) = frame(&s, &mut app, 120, 40);
    insta::with_settings!({snapshot_path => "snapshots", prepend_module_to_snapshot => false, omit_expression => true}, {
        insta::assert_snapshot!("hosts_picker_120x40", text);
    });
    let this = text.find("── this machine").expect("this machine's header");
    let remote = text.find("── remote box").expect("the remote's header");
    let row = text.find("tiny-b@box").expect("the remote's profile");
    assert!(this < remote && remote < row, "{text}");
}

#[test]
fn a_remotes_panes_name_it_and_say_when_its_samples_stopped() {
    let s = across_hosts();
    let mut app = hosts_app(Some(1_000));
    let (fresh, _) = frame(&s, &mut app, 160, 50);
    assert!(fresh.contains("· box "), "{fresh}");
    assert!(!fresh.contains("stale"), "{fresh}");
    let mut app = hosts_app(Some(12_000));
    let (stale, _) = frame(&s, &mut app, 160, 50);
    insta::with_settings!({snapshot_path => "snapshots", prepend_module_to_snapshot => false, omit_expression => true}, {
        insta::assert_snapshot!("hosts_stale_160x50", stale);
    });
    // The log, GPU and system panes all say it.
    assert_eq!(
        stale.matches("box (stale, last sample 12 s ago)").count(),
        3,
        "{stale}"
    );
    // The cycle key shows this machine's panes, then the serving remote's again.
    key(&mut app, &s, KeyCode::Char('\\'), KeyModifiers::CONTROL);
    key(&mut app, &s, KeyCode::Char('n'), KeyModifiers::NONE);
    let (local, _) = frame(&s, &mut app, 160, 50);
    assert!(local.contains("· this machine"), "{local}");
    assert!(!local.contains("stale"), "{local}");
}
