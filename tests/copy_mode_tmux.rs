//! Copy mode and search end to end: the real binary in tmux, driven like a person. The
//! claude pane runs bash, which prints what copy mode then finds, selects and yanks; the
//! yank is read back from tmux's paste buffer (OSC 52 with `set-clipboard on`), as the log
//! pane's `y` is in workspace_tmux.rs.

mod harness;
mod support;

use std::path::Path;
use std::time::Duration;

use harness::TestEnv;
use llws::config::settings::{BackendKind, PassthroughMode};
use support::tmux::Tmux;
use support::{llws_bin, wait_for};

const T: Duration = Duration::from_secs(30);
/// A load of the tiny model on a busy 2-core machine.
const LOAD: Duration = Duration::from_secs(90);

fn env() -> TestEnv {
    let mut env = TestEnv::new(BackendKind::Process);
    env.settings.claude.command = "bash --norc --noprofile -i".into();
    env.settings.claude.project_dir = env.dir.path().to_path_buf();
    // llws's own copies go out whatever this says; off proves the yank is llws's.
    env.settings.claude.passthrough = PassthroughMode::Off;
    env
}

fn start(env: &TestEnv, config: &Path, args: &str) -> Tmux {
    start_at(env, config, args, 120, 40)
}

fn start_at(env: &TestEnv, config: &Path, args: &str, cols: u16, rows: u16) -> Tmux {
    let cmd = format!(
        "env PS1='pane$ ' HISTFILE=/dev/null LLWS_STATE_DIR={} {} --config {} {args}",
        env.state_dir().display(),
        llws_bin().display(),
        config.display()
    );
    let t = Tmux::start(cols, rows, &[], &cmd);
    t.run(&["set-option", "-g", "set-clipboard", "on"]);
    t
}

/// Presses the prefix (Ctrl+\ in the default keymap), then `key`.
fn prefix(t: &Tmux, key: &str) {
    t.keys(&["C-\\"]);
    t.keys(&[key]);
}

fn buffer(t: &Tmux, want: &str) -> String {
    wait_for(&format!("{want:?} in tmux's paste buffer"), T, || {
        let b = t.run(&["show-buffer"]);
        (b == want).then_some(b)
    })
}

#[test]
fn copy_mode_finds_selects_and_yanks_from_the_scrollback() {
    let env = env();
    let config = env.write_settings_file();
    let t = start(&env, &config, "");
    // Nothing runs, so the picker opens; close it.
    t.wait_text("PICKER", T);
    t.keys(&["Escape"]);
    t.wait_for("the picker to close", T, |s| !s.contains("PICKER"));
    t.wait_text("pane$", T);

    // A word far up in the scrollback, and 11 lines that say "after 9".
    t.type_text(
        "seq -f 'line %g' 1 150; echo needle-$((6*7)) is here; \
         seq -f 'after %g' 1 100",
    );
    t.keys(&["Enter"]);
    t.wait_text("after 100", T);

    // Prefix [ enters copy mode; ? searches up; the match is in view and counted.
    prefix(&t, "[");
    t.wait_text("COPY", T);
    t.keys(&["?"]);
    t.wait_text("search up:", T);
    t.type_text("needle-42");
    t.keys(&["Enter"]);
    t.wait_text("/needle-42 [1/1]", T);
    t.wait_text("needle-42 is here", T);

    // V selects the cursor's line, Enter yanks it (and leaves copy mode).
    t.keys(&["V"]);
    t.keys(&["Enter"]);
    t.wait_text("copied 17 characters", T);
    buffer(&t, "needle-42 is here");
    t.wait_for("copy mode to end", T, |s| !s.contains("COPY"));

    // A second search starts empty; ↑ brings back the first.
    prefix(&t, "[");
    t.wait_text("COPY", T);
    t.keys(&["/"]);
    t.wait_text("search down: █", T);
    t.keys(&["Up"]);
    t.wait_text("search down: needle-42█", T);
    t.keys(&["C-u"]);
    t.type_text("after 9");
    t.keys(&["Enter"]);
    // Down from the bottom comes round to the top, and says so; then it counts.
    t.wait_text("search hit the bottom, continued at the top", T);
    t.wait_text("/after 9 [1/11]", T);
    t.keys(&["n"]);
    t.wait_text("/after 9 [2/11]", T);
    t.keys(&["N", "N"]);
    t.wait_text("/after 9 [11/11]", T);
    t.wait_text("search hit the top, continued at the bottom", T);
    // A selection by keys: from the match to the end of its line, yanked with y.
    t.keys(&["v", "$", "y"]);
    buffer(&t, "after 99");
    t.wait_for("copy mode to end", T, |s| !s.contains("COPY"));
    quit(&t);
}

#[test]
fn the_cursor_stays_on_its_line_while_the_program_writes() {
    let env = env();
    let config = env.write_settings_file();
    let t = start(&env, &config, "");
    t.wait_text("PICKER", T);
    t.keys(&["Escape"]);
    t.wait_for("the picker to close", T, |s| !s.contains("PICKER"));
    t.wait_text("pane$", T);
    // A mark, then 80 lines written over four seconds, after copy mode is entered.
    t.type_text(
        "echo mark-$((6*7)); sleep 2; for i in $(seq 1 80); do echo tick $i; sleep 0.05; done",
    );
    t.keys(&["Enter"]);
    t.wait_text("mark-42", T);
    prefix(&t, "[");
    t.wait_text("COPY", T);
    t.keys(&["?"]);
    t.type_text("mark-42");
    t.keys(&["Enter"]);
    t.wait_text("/mark-42 [1/1]", T);
    // The writes go on below; the view stays where it was, the mark in it.
    std::thread::sleep(Duration::from_secs(7));
    let screen = t.screen();
    assert!(screen.contains("mark-42"), "{screen}");
    assert!(!screen.contains("tick 80"), "the view moved: {screen}");
    t.keys(&["V", "Enter"]);
    buffer(&t, "mark-42");
    // Leaving shows the live screen again, with everything that was written.
    t.wait_text("tick 80", T);
    quit(&t);
}

/// The log pane's search: every `/` starts empty (↑ gives the last query back), the title
/// counts the matches, and `n` past the last says it came round.
#[test]
fn the_log_search_starts_empty_counts_and_says_when_it_wraps() {
    let env = env();
    let config = env.write_settings_file();
    // Wide enough for the log pane's title to hold the query and its counter.
    let t = start_at(&env, &config, "tiny-a", 200, 50);
    t.wait_text("● Tiny A running", LOAD);
    t.wait_text("listening on", T);
    prefix(&t, "2");
    t.keys(&["/"]);
    t.wait_text("search: █", T);
    t.type_text("listening");
    t.keys(&["Enter"]);
    let screen = t.wait_text("/listening [", T);
    let counter = screen
        .split("/listening [")
        .nth(1)
        .and_then(|s| s.split(']').next())
        .unwrap()
        .to_string();
    let (i, n) = counter.split_once('/').unwrap();
    assert_eq!(i, n, "the search went to the newest match: {counter}");
    t.keys(&["n"]);
    t.wait_text("search hit the bottom, continued at the top", T);
    t.wait_text(&format!("/listening [1/{n}]"), T);
    t.keys(&["/"]);
    t.wait_text("search: █", T);
    t.keys(&["Up"]);
    t.wait_text("search: listening█", T);
    t.keys(&["Escape"]);
    quit(&t);
}

fn quit(t: &Tmux) {
    prefix(t, "q");
    t.wait_text("Quit llws?", T);
    t.keys(&["y"]);
    t.wait_for("llws to exit", T, |s| {
        s.contains("Pane is dead") || !s.contains("server log")
    });
}
