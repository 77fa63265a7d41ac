//! The router as the workspace shows it, end to end: the real binary in tmux, the real
//! llama-server with the tiny model behind llws's router, real requests on the router's
//! port. The activity view gets the row, the status bar a live tok/s figure while the
//! answer streams, the picker the measured speed after it, and with a short
//! `[router] idle_unload_s` the countdown and then "unloaded (idle)".

mod harness;
mod support;

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use harness::TestEnv;
use llws::config::settings::BackendKind;
use support::llws_bin;
use support::tmux::Tmux;

const T: Duration = Duration::from_secs(30);
const LOAD: Duration = Duration::from_secs(90);

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap()
}

fn prefix(t: &Tmux, key: &str) {
    t.keys(&["C-\\"]);
    t.keys(&[key]);
}

#[test]
fn the_workspace_shows_the_routers_activity_speed_and_idle_unload() {
    let mut env = TestEnv::new(BackendKind::Process);
    env.settings.claude.command = "bash --norc --noprofile -i".into();
    env.settings.claude.project_dir = env.dir.path().to_path_buf();
    env.settings.router.enabled = true;
    // Long enough for the checks below, short enough to see it happen; under a minute, so
    // the countdown shows from the start.
    env.settings.router.idle_unload_s = 25;
    let config = env.write_settings_file();
    let port = env.settings.server.port;
    let cmd = format!(
        "env PS1='pane$ ' HISTFILE=/dev/null LLWS_STATE_DIR={} {} --config {} tiny-a",
        env.state_dir().display(),
        llws_bin().display(),
        config.display()
    );
    let t = Tmux::start(180, 50, &[], &cmd);
    t.wait_text("● Tiny A running", LOAD);

    // A long streamed completion through the router's port, read in a thread while the
    // screen is watched, and dropped once the live figure was seen (a loaded machine may
    // generate a few tokens a second; the test does not wait for 1800 of them).
    let stop = Arc::new(AtomicBool::new(false));
    let stream = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut resp = client()
                .post(format!("http://127.0.0.1:{port}/completion"))
                .json(&serde_json::json!({
                    "prompt": "Once upon a time",
                    "n_predict": 1800,
                    "ignore_eos": true,
                    "stream": true,
                }))
                .send()
                .expect("the router answers");
            assert_eq!(resp.status(), 200);
            let mut buf = [0u8; 4096];
            while !stop.load(Ordering::Relaxed) {
                if resp.read(&mut buf).unwrap_or(0) == 0 {
                    break;
                }
            }
        })
    };
    let live = t.wait_for("a live speed while the reply streams", T, |s| {
        s.contains("tok/s") || stream.is_finished()
    });
    let bar = live.lines().rev().nth(1).unwrap_or_default().to_string();
    assert!(
        bar.contains("● Tiny A running · ▸ ") && bar.contains(" tok/s"),
        "the status bar shows the speed while it streams:\n{live}"
    );
    assert!(
        !bar.contains("unloads in"),
        "no idle countdown while a request is in flight: {bar}"
    );
    stop.store(true, Ordering::Relaxed);
    stream.join().unwrap();
    t.wait_for("the live speed gone when nothing streams", T, |s| {
        !s.contains("tok/s")
    });

    // A short request that runs to its end: its figures in the view and the picker.
    let done: serde_json::Value = client()
        .post(format!("http://127.0.0.1:{port}/completion"))
        .json(&serde_json::json!({
            "prompt": "Once upon a time",
            "n_predict": 8,
            "ignore_eos": true,
        }))
        .send()
        .expect("the router answers")
        .json()
        .unwrap();
    assert_eq!(done["timings"]["predicted_n"], 8, "{done}");

    // The activity view (prefix a), zoomed (prefix z) to show every column: the row.
    prefix(&t, "a");
    t.wait_text("router activity", T);
    prefix(&t, "z");
    let screen = t.wait_text("[zoom]", T);
    assert!(screen.contains("time UTC"), "{screen}");
    let screen = t.wait_text("POST /completion", T);
    // Newest at the bottom: the short request's row, under the dropped stream's.
    let rows: Vec<&str> = screen
        .lines()
        .filter(|l| l.contains("POST /completion"))
        .collect();
    assert_eq!(rows.len(), 2, "{screen}");
    let row = rows[1];
    assert!(row.contains("tiny-a") && row.contains("  200  "), "{row}");
    assert!(row.contains("  8  "), "the generated tokens: {row}");
    // The generation speed, under its header: a number, not `-`.
    let header = screen.lines().find(|l| l.contains("time UTC")).unwrap();
    let col = header.find("tg t/s").unwrap();
    assert!(
        row[col..].starts_with(|c: char| c.is_ascii_digit()),
        "{header}\n{row}"
    );
    // Back to the log.
    prefix(&t, "z");
    prefix(&t, "a");
    t.wait_text("server log", T);

    // The picker shows the measured speed beside the typed one.
    prefix(&t, "m");
    let screen = t.wait_text("Switch model", T);
    let tiny = screen.lines().find(|l| l.contains("1) Tiny A")).unwrap();
    assert!(
        tiny.contains("~fast") && tiny.contains("measured ") && tiny.contains(" t/s"),
        "{tiny}"
    );
    let tiny_b = screen.lines().find(|l| l.contains("2) Tiny B")).unwrap();
    assert!(
        !tiny_b.contains("measured"),
        "nothing measured for B: {tiny_b}"
    );
    t.keys(&["Escape"]);

    // The idle unload: the countdown, then the server stopped and said so.
    t.wait_text("unloads in", T);
    t.wait_text("○ Tiny A unloaded (idle)", Duration::from_secs(60));
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        "the router still listens"
    );
    prefix(&t, "q");
    t.keys(&["y"]);
}
