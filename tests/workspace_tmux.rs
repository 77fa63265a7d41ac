//! The workspace end to end: the real binary in tmux, driven like a person, with the real
//! llama-server (process backend) and the tiny model. The claude pane runs bash so what
//! it shows is deterministic (the real Claude Code is the pty tests' business).

mod harness;
mod support;

use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use harness::TestEnv;
use llws::config::settings::{BackendKind, PassthroughMode};
use support::tmux::Tmux;
use support::{llws_bin, wait_for};

const T: Duration = Duration::from_secs(30);
/// A load of the tiny model, plus the wrapper's pause, on a busy 2-core machine.
const LOAD: Duration = Duration::from_secs(90);

/// Settings for the workspace: bash in the claude pane, and a llama-server wrapper that
/// waits a second before loading, so every switch stays on screen long enough to be seen.
fn workspace_env() -> TestEnv {
    let mut env = TestEnv::new(BackendKind::Process);
    let wrapper = env.dir.path().join("slow-llama-server");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nsleep 1\nexec {} \"$@\"\n",
            env.settings.server.llama_server.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.settings.server.llama_server = wrapper;
    env.settings.claude.command = "bash --norc --noprofile -i".into();
    env.settings.claude.project_dir = env.dir.path().to_path_buf();
    // A known upstream port, so the tests can ask llama-server behind the router.
    env.settings.router.upstream_port = support::free_port();
    env
}

fn start(env: &TestEnv, cols: u16, rows: u16, config: &Path, args: &str) -> Tmux {
    let state = env.state_dir();
    let cmd = format!(
        "env PS1='pane$ ' HISTFILE=/dev/null LLWS_STATE_DIR={} {} --config {} {args}",
        state.display(),
        llws_bin().display(),
        config.display()
    );
    Tmux::start(cols, rows, &[], &cmd)
}

/// Whether llama-server itself listens: on its upstream port behind the router (the
/// router's own port answers 503 with no server, and closes with llws).
fn server_answers(env: &TestEnv) -> bool {
    let port = if env.settings.router.enabled {
        env.settings.router.upstream_port
    } else {
        env.settings.server.port
    };
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// Presses the prefix (Ctrl+\ in the default keymap), then `key`.
fn prefix(t: &Tmux, key: &str) {
    t.keys(&["C-\\"]);
    t.keys(&[key]);
}

#[test]
fn a_day_in_the_workspace() {
    let env = workspace_env();
    let config = env.write_settings_file();
    let t = start(&env, 160, 50, &config, "");

    // Nothing runs, so the picker opens; every panel is there behind it. (Waited for
    // whole: on a loaded machine tmux can show a frame half written.)
    let all = [
        "Start a model",
        "claude",
        "server log",
        "GPU",
        "system",
        "no model idle",
        "PICKER",
    ];
    t.wait_for("the picker over every panel", T, |s| {
        all.iter().all(|text| s.contains(text))
    });
    t.wait_text("missing: missing.gguf", T);
    t.wait_text("no GPU: runs on CPU", T);

    // 1 starts Tiny A; the status bar goes through loading to running.
    t.keys(&["1"]);
    t.wait_text("◐ Tiny A", T);
    t.wait_text("first load, no estimate", T);
    t.wait_text("● Tiny A running", LOAD);
    t.wait_text("listening on", T);

    // The management API runs beside the screen: `llws status` asks it.
    let out = std::process::Command::new(llws_bin())
        .args(["--config", config.to_str().unwrap(), "status", "--json"])
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(
        status.contains("\"running\"") && status.contains("tiny-a"),
        "{status}"
    );
    assert!(
        t.screen().contains(&env.settings.api.base_url()),
        "the API URL is shown"
    );

    // The claude pane is a real terminal and takes the keys.
    t.type_text("echo typed-$((40+2))");
    t.keys(&["Enter"]);
    t.wait_text("typed-42", T);

    // Switch with two keys (prefix m, then 2): the log gets a separator, the bar the steps.
    prefix(&t, "m");
    t.wait_text("Switch model", T);
    t.keys(&["2"]);
    t.wait_text("◐ Tiny B", T);
    t.wait_text("● Tiny B running", LOAD);
    t.wait_text("switching to Tiny B", T);
    // Back to Tiny A: its last load is the estimate now.
    prefix(&t, "m");
    t.wait_text("Switch model", T);
    t.keys(&["1"]);
    t.wait_for("a progress estimate", T, |s| {
        s.contains("% of ~") || s.contains("over the ~")
    });
    t.wait_text("● Tiny A running", LOAD);
    // A profile whose file is missing is refused with the reason, in the picker.
    prefix(&t, "m");
    t.wait_text("Switch model", T);
    t.keys(&["3"]);
    t.wait_text("model file not found", T);
    t.keys(&["Escape"]);
    t.wait_for("the picker to close", T, |s| !s.contains("Switch model"));

    // The log: focus it, scroll to the top (paused), back to the end (following).
    prefix(&t, "2");
    t.keys(&["Home"]);
    t.wait_text("paused", T);
    t.keys(&["End"]);
    t.wait_text("following", T);
    // Search: the title names it and the position label stays.
    t.keys(&["/"]);
    t.type_text("listening");
    t.wait_text("search: listening", T);
    t.keys(&["Enter"]);
    t.wait_text("/listening", T);
    t.keys(&["N"]);
    // Filter: only the separators are left.
    t.keys(&["f"]);
    t.type_text("switching to");
    t.keys(&["Enter"]);
    let s = t.wait_text("filter \"switching to\"", T);
    assert!(
        !s.contains("listening on http"),
        "the filter hides other lines:\n{s}"
    );
    t.keys(&["Escape"]);
    t.wait_for("the filter to clear", T, |s| {
        !s.contains("filter \"switching to\"")
    });

    // Zoom the log and back.
    t.keys(&["z"]);
    t.wait_for("the zoomed log", T, |s| {
        s.contains("[zoom]") && !s.contains("╭ system")
    });
    t.keys(&["z"]);
    t.wait_text("system", T);

    // The theme key cycles.
    t.keys(&["t"]);
    t.wait_text("theme: light", T);

    // Help lists the live keymap.
    t.keys(&["?"]);
    t.wait_text("switch model (picker)", T);
    t.keys(&["Escape"]);

    // Prefix twice sends the prefix through; locked, a single prefix goes through too.
    prefix(&t, "1");
    t.type_text("stty -isig; cat -v");
    t.keys(&["Enter"]);
    std::thread::sleep(Duration::from_millis(300));
    t.keys(&["C-\\"]);
    t.keys(&["C-\\"]);
    t.type_text("x");
    t.keys(&["Enter"]);
    t.wait_text("^\\x", T);
    t.keys(&["F12"]);
    t.wait_text("LOCKED", T);
    t.keys(&["C-\\"]);
    t.type_text("y");
    t.keys(&["Enter"]);
    t.wait_text("^\\y", T);
    t.keys(&["F12"]);
    t.wait_text("unlocked", T);
    t.keys(&["C-d"]);

    // Quit: asks, then stops the server (on_exit = stop) and gives the terminal back.
    assert!(server_answers(&env));
    prefix(&t, "q");
    t.wait_text("Quit llws?", T);
    t.keys(&["y"]);
    wait_for("the server to stop", T, || {
        (!server_answers(&env)).then_some(())
    });
    t.wait_for("llws to exit", T, |s| {
        s.contains("Pane is dead") || !s.contains("server log")
    });
}

#[test]
fn the_compact_layout_at_80x24() {
    let env = workspace_env();
    let config = env.write_settings_file();
    // Someone else holds the API's port: the workspace says so and runs on.
    let _squatter = std::net::TcpListener::bind(env.settings.api.socket_addr().unwrap()).unwrap();
    let t = start(&env, 80, 24, &config, "tiny-a");
    let s = t.wait_text("● Tiny A running", LOAD);
    assert!(s.contains("in use (see log)"), "{s}");
    for text in ["claude", "server log │ GPU │ system", "NORMAL", "help"] {
        assert!(s.contains(text), "{text} missing:\n{s}");
    }
    // Each tab in turn, and the hints stay on screen.
    prefix(&t, "3");
    let s = t.wait_text("no NVIDIA GPU found", T);
    assert!(s.contains("NORMAL"), "{s}");
    t.keys(&["Right"]);
    t.wait_text("RAM", T);
    // Below 60x20 the workspace says so; back up, it draws again.
    t.resize(50, 15);
    t.wait_text("Terminal too small (50x15). Need 60x20.", T);
    t.resize(80, 24);
    t.wait_text("NORMAL", T);
    // A model that fails to load: the reason in the bar, the details a key away.
    prefix(&t, "m");
    t.wait_text("Switch model", T);
    t.keys(&["4"]);
    t.wait_text("failed", LOAD);
    prefix(&t, "e");
    t.wait_text("Failure details", T);
    t.wait_text("Last", T);
    t.keys(&["Escape"]);
    t.keys(&["q"]);
    t.wait_text("Quit llws?", T);
    t.keys(&["y"]);
    wait_for("the server to stop", T, || {
        (!server_answers(&env)).then_some(())
    });
}

#[test]
fn a_broken_keymap_is_reported_and_the_default_works() {
    let mut env = workspace_env();
    std::fs::write(
        env.dir.path().join("keys.toml"),
        "preset = \"default\"\n[prefix]\n\"m\" = \"teleport\"\n",
    )
    .unwrap();
    // Relative to the settings file.
    env.settings.ui.keymap = "keys.toml".into();
    let config = env.write_settings_file();

    // `llws check` names the file and line.
    let out = std::process::Command::new(llws_bin())
        .args(["--config", config.to_str().unwrap(), "check"])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("keys.toml:3") && text.contains("teleport"),
        "{text}"
    );

    let t = start(&env, 160, 50, &config, "");
    t.wait_text("using the built-in default: keys.toml:3", T);
    // The picker opens at start (nothing runs): close it once it is there, not before.
    t.wait_text("Start a model", T);
    t.keys(&["Escape"]);
    t.wait_for("the picker to close", T, |s| !s.contains("Start a model"));
    // The default keymap's prefix works.
    prefix(&t, "?");
    t.wait_text("Keymap default", T);
    t.keys(&["Escape"]);
    prefix(&t, "q");
    t.wait_text("Quit llws?", T);
    t.keys(&["y"]);
    t.wait_for("llws to exit", T, |s| {
        s.contains("Pane is dead") || !s.contains("server log")
    });
}

#[test]
fn a_bare_word_that_is_no_profile_gets_one_line_before_touching_the_terminal() {
    let env = workspace_env();
    let config = env.write_settings_file();
    let llws = |word: &str| {
        std::process::Command::new(llws_bin())
            .args(["--config", config.to_str().unwrap(), word])
            .output()
            .unwrap()
    };
    // Nothing close: one line that says where the lists are.
    let out = llws("no-such-model");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("'no-such-model' is neither a command nor a profile")
            && err.contains("`llws models`"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout (no screen was drawn)"
    );
    // A mistyped command, and a mistyped profile.
    let err = String::from_utf8_lossy(&llws("statu").stderr).into_owned();
    assert!(err.contains("Did you mean `llws status`?"), "{err}");
    let err = String::from_utf8_lossy(&llws("tiny-").stderr).into_owned();
    assert!(
        err.contains("`llws tiny-a`") && err.contains("`llws tiny-b`"),
        "{err}"
    );
}

#[test]
fn a_kept_server_is_adopted_by_the_next_workspace() {
    let mut env = workspace_env();
    env.settings.on_exit = llws::config::settings::OnExit::Keep;
    let keep = env.write_settings_file();
    let t = start(&env, 160, 50, &keep, "tiny-b");
    t.wait_text("● Tiny B running", LOAD);
    prefix(&t, "q");
    t.wait_text("leaves the server running", T);
    t.keys(&["y"]);
    t.wait_for("llws to exit", T, |s| {
        s.contains("Pane is dead") || !s.contains("server log")
    });
    drop(t);
    assert!(
        server_answers(&env),
        "on_exit = keep leaves the server running"
    );

    // The next llws, without a profile, adopts it instead of opening the picker.
    env.settings.on_exit = llws::config::settings::OnExit::Stop;
    let stop = env.dir.path().join("stop.toml");
    std::fs::write(&stop, env.settings.to_toml()).unwrap();
    let t = start(&env, 160, 50, &stop, "");
    t.wait_for("the adopted server", LOAD, |s| {
        s.contains("● Tiny B running (adopted)")
            && !s.contains("Switch model")
            && !s.contains("Start a model")
    });
    prefix(&t, "q");
    t.wait_text("Quitting stops the server", T);
    t.keys(&["y"]);
    wait_for("the server to stop", T, || {
        (!server_answers(&env)).then_some(())
    });
}

#[test]
fn sigterm_stops_the_server_and_gives_the_terminal_back() {
    let env = workspace_env();
    let config = env.write_settings_file();
    let t = start(&env, 100, 30, &config, "tiny-a");
    t.wait_text("● Tiny A running", LOAD);
    let pid = t.run(&["display-message", "-p", "#{pane_pid}"]);
    let pid = pid.trim().parse::<i32>().expect("the pane's pid");
    // SAFETY: a plain kill(2) of the llws this test started (env execs it as the pane).
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    wait_for("the server to stop", T, || {
        (!server_answers(&env)).then_some(())
    });
    t.wait_for("llws to exit", T, |s| {
        s.contains("Pane is dead") || !s.contains("server log")
    });
}

/// The terminal side of passthrough, read from tmux (the terminal llws runs in): its paste
/// buffer (OSC 52, with `set-clipboard on`), the window's bell flag (a detached session
/// flags every bell), and the raw bytes llws wrote (`pipe-pane -O`), where notifications,
/// which tmux 3.3 itself ignores, can be seen.
struct Passed {
    buffer: String,
    bell: bool,
    raw: Vec<u8>,
}

fn passed(t: &Tmux, raw: &Path) -> Passed {
    Passed {
        buffer: t.run(&["show-buffer"]),
        bell: t
            .run(&["display-message", "-p", "#{window_bell_flag}"])
            .trim()
            == "1",
        raw: std::fs::read(raw).unwrap_or_default(),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Starts the workspace with `[claude] passthrough = on`, closes the picker and has bash in
/// the pane copy "hello", ring, post an OSC 9 and an OSC 777 notification and ask to read
/// the clipboard. Returns the tmux, the raw output file and what tmux saw once the pane
/// has printed its marker.
fn send_from_the_pane(env: &mut TestEnv, on: bool) -> (Tmux, std::path::PathBuf) {
    env.settings.claude.passthrough = if on {
        PassthroughMode::On
    } else {
        PassthroughMode::Off
    };
    let config = env.write_settings_file();
    let raw = env.dir.path().join("llws-output.raw");
    let t = start(env, 120, 40, &config, "");
    t.run(&["set-option", "-g", "set-clipboard", "on"]);
    t.run(&["pipe-pane", "-O", &format!("cat >> '{}'", raw.display())]);
    t.wait_text("Start a model", T);
    t.keys(&["Escape"]);
    t.wait_for("the picker to close", T, |s| !s.contains("Start a model"));
    t.wait_text("pane$", T);
    t.type_text(
        "printf '\\033]52;c;aGVsbG8=\\a'; printf '\\a'; printf '\\033]9;build done\\a'; \
         printf '\\033]777;notify;llws;tests passed\\033\\\\'; printf '\\033]52;c;?\\a'; \
         echo sent-$((40+2))",
    );
    t.keys(&["Enter"]);
    t.wait_text("sent-42", T);
    (t, raw)
}

fn quit(t: &Tmux) {
    prefix(t, "q");
    t.wait_text("Quit llws?", T);
    t.keys(&["y"]);
    t.wait_for("llws to exit", T, |s| {
        s.contains("Pane is dead") || !s.contains("server log")
    });
}

#[test]
fn the_panes_clipboard_bell_and_notifications_reach_the_terminal() {
    let mut env = workspace_env();
    let (t, raw) = send_from_the_pane(&mut env, true);
    let seen = wait_for("the clipboard, the bell and both notifications", T, || {
        let p = passed(&t, &raw);
        let all = p.buffer == "hello"
            && p.bell
            && contains(&p.raw, b"\x1b]9;build done\x07")
            && contains(&p.raw, b"\x1b]777;notify;llws;tests passed\x1b\\");
        all.then_some(p)
    });
    assert!(contains(&seen.raw, b"\x1b]52;c;aGVsbG8=\x1b\\"));
    // The request to read the clipboard never reaches the terminal.
    assert!(
        !contains(&seen.raw, b"\x1b]52;c;?"),
        "a clipboard read went out"
    );

    // A notification while another pane has the focus marks the claude pane's title until
    // it is focused again.
    t.type_text("sleep 2; printf '\\033]9;waiting for you\\a'");
    t.keys(&["Enter"]);
    prefix(&t, "2");
    t.wait_text("! waiting for you", T);
    prefix(&t, "1");
    t.wait_for("the mark to go", T, |s| !s.contains("! waiting for you"));
    quit(&t);
}

#[test]
fn with_passthrough_off_nothing_reaches_the_terminal() {
    let mut env = workspace_env();
    let (t, raw) = send_from_the_pane(&mut env, false);
    // The pane printed its marker after the escapes; give the loop time to (not) pass them.
    std::thread::sleep(Duration::from_secs(2));
    let p = passed(&t, &raw);
    assert_eq!(p.buffer, "", "the clipboard was written");
    assert!(!p.bell, "the bell rang");
    assert!(!contains(&p.raw, b"\x1b]52;"), "an OSC 52 went out");
    assert!(!contains(&p.raw, b"\x1b]9;"), "an OSC 9 went out");
    assert!(!contains(&p.raw, b"\x1b]777;"), "an OSC 777 went out");
    assert!(!p.raw.is_empty(), "pipe-pane saw llws's output");
    quit(&t);
}

/// llws's own copy: `y` in the log pane puts the lines it shows on the terminal's clipboard
/// (OSC 52, read back from tmux's paste buffer), with passthrough off, since that setting
/// holds back only what the program in the claude pane sends.
#[test]
fn y_copies_the_log_pane_even_with_passthrough_off() {
    let mut env = workspace_env();
    env.settings.claude.passthrough = PassthroughMode::Off;
    let config = env.write_settings_file();
    let t = start(&env, 120, 40, &config, "tiny-a");
    t.run(&["set-option", "-g", "set-clipboard", "on"]);
    t.wait_text("● Tiny A running", LOAD);
    t.wait_text("listening on", T);

    // The lines on screen, as shown: plain text, the newest among them.
    prefix(&t, "2");
    t.keys(&["y"]);
    t.wait_text("copied ", T);
    let buffer = wait_for("the log in tmux's buffer", T, || {
        let b = t.run(&["show-buffer"]);
        b.contains("listening on").then_some(b)
    });
    assert!(buffer.lines().count() > 1, "{buffer}");
    assert!(!buffer.contains('\x1b'), "escapes were copied: {buffer:?}");

    // With a filter: the lines it keeps, and only those.
    t.keys(&["f"]);
    t.type_text("listening");
    t.keys(&["Enter"]);
    t.wait_text("filter \"listening\"", T);
    t.keys(&["y"]);
    t.wait_text("matching \"listening\"", T);
    wait_for("only the matching lines in tmux's buffer", T, || {
        let b = t.run(&["show-buffer"]);
        (!b.is_empty() && b.lines().all(|l| l.contains("listening"))).then_some(())
    });
    quit(&t);
}

/// The picker row of `name` on `screen`, from the name to the picker's right border.
fn picker_row<'a>(screen: &'a str, name: &str) -> &'a str {
    let needle = format!(") {name} ");
    let line = screen
        .lines()
        .find(|l| l.contains(&needle))
        .unwrap_or_else(|| panic!("no picker row for {name}:\n{screen}"));
    let row = &line[line.find(&needle).unwrap()..];
    &row[..row.find('│').unwrap_or(row.len())]
}

/// Issue 14, items 2 and 6: the picker grows with the terminal, so at 220, 160 and 120
/// columns every column of every row is there whole (the load time too); it says "Start a
/// model" while none runs; and a mistyped profile for a running llws gets a suggestion.
#[test]
fn the_picker_shows_every_column_whole_from_120_columns() {
    let env = workspace_env();
    let config = env.write_settings_file();
    let t = start(&env, 220, 50, &config, "");
    t.wait_text("Start a model", T);
    t.wait_text("no GPU: runs on CPU", T);
    t.keys(&["1"]);
    t.wait_text("● Tiny A running", LOAD);

    // A typo for the running llws: the closest profile, no wall of text.
    let out = std::process::Command::new(llws_bin())
        .args(["--config", config.to_str().unwrap(), "switch", "tiny-aa"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("Did you mean `tiny-a`"),
        "{err}"
    );

    prefix(&t, "m");
    t.wait_text("Switch model", T);
    t.wait_text("loads ~", T);
    for cols in [220, 160, 120] {
        t.resize(cols, 50);
        let screen = t.wait_for(&format!("the picker at {cols} columns"), T, |s| {
            s.lines().all(|l| l.chars().count() <= usize::from(cols))
                && s.contains("loads ~")
                && s.contains("Switch model")
        });
        let row = picker_row(&screen, "Tiny A");
        for whole in [
            "Tiny A",
            "tiny-a",
            "~fast",
            "2K ctx",
            "≈",
            "no GPU: runs on CPU",
            "loads ~",
        ] {
            assert!(row.contains(whole), "{cols} columns: `{whole}` in {row:?}");
        }
        assert!(
            row.trim_end().ends_with(" s"),
            "{cols} columns: the load time ends the row whole: {row:?}"
        );
        let missing = picker_row(&screen, "Missing file");
        assert!(
            missing.contains("missing: missing.gguf"),
            "{cols} columns: {missing:?}"
        );
    }
    t.keys(&["Escape"]);
    quit(&t);
}

/// The style (SGR escapes) the mode label ` NORMAL ` is drawn with: what the theme decides.
fn mode_label_style(t: &Tmux) -> String {
    let screen = t.run(&["capture-pane", "-p", "-e"]);
    let line = screen
        .lines()
        .rev()
        .find(|l| l.contains(" NORMAL "))
        .expect("the status bar's mode label");
    let at = line.find(" NORMAL ").unwrap();
    let before = &line[..at];
    before[before.rfind('\u{1b}').unwrap_or(0)..].to_string()
}

/// Issue 14, item 7: `Ctrl+\ S` asks before it stops the server; below the minimum size
/// keys do nothing; the theme chosen with `t` and the split sizes survive a restart.
#[test]
fn stop_asks_small_screens_wait_and_the_theme_survives_a_restart() {
    let env = workspace_env();
    let config = env.write_settings_file();
    let t = start(&env, 160, 50, &config, "tiny-a");
    t.wait_text("● Tiny A running", LOAD);

    prefix(&t, "S");
    t.wait_text("Stop the server?", T);
    t.keys(&["n"]);
    t.wait_for("the question to close", T, |s| {
        !s.contains("Stop the server?")
    });
    assert!(server_answers(&env), "n keeps the server");
    assert!(t.screen().contains("● Tiny A running"));

    // Too small: the quit keys are not acted on unseen.
    t.resize(50, 15);
    t.wait_text("Keys wait until then.", T);
    prefix(&t, "q");
    std::thread::sleep(Duration::from_millis(500));
    t.resize(160, 50);
    let screen = t.wait_text("● Tiny A running", T);
    assert!(!screen.contains("Quit llws?"), "{screen}");

    let before = mode_label_style(&t);
    prefix(&t, "t");
    let screen = t.wait_text("theme: ", T);
    let theme = screen
        .lines()
        .find_map(|l| l.split("theme: ").nth(1))
        .map(|rest| rest.split_whitespace().next().unwrap_or("").to_string())
        .unwrap();
    let chosen = mode_label_style(&t);
    assert_ne!(
        before, chosen,
        "theme {theme} draws the mode label differently"
    );
    // A wider claude pane, remembered as well.
    prefix(&t, "L");
    let prefs = env.state_dir().join("ui.json");
    wait_for("the preferences file", T, || {
        let text = std::fs::read_to_string(&prefs).ok()?;
        (text.contains(&format!("\"name\": \"{theme}\"")) && text.contains("\"main_full\": 63"))
            .then_some(())
    });
    prefix(&t, "S");
    t.wait_text("Stop the server?", T);
    t.keys(&["y"]);
    wait_for("the server to stop", T, || {
        (!server_answers(&env)).then_some(())
    });
    quit(&t);
    drop(t);

    let t = start(&env, 160, 50, &config, "");
    t.wait_text("Start a model", T);
    t.keys(&["Escape"]);
    t.wait_for("the picker to close", T, |s| !s.contains("Start a model"));
    assert_eq!(
        mode_label_style(&t),
        chosen,
        "theme {theme} after the restart"
    );
    quit(&t);
}
