//! End to end with the real binary in a real terminal (tmux): `llws __pane` running a shell.

mod support;

use std::time::Duration;

use support::llws_bin;
use support::tmux::Tmux;

const T: Duration = Duration::from_secs(15);

fn shell_pane() -> Tmux {
    // tmux does not pass PS1 through `-e`, so the command line sets it.
    let cmd = format!(
        "env PS1='pane$ ' HISTFILE=/dev/null {} __pane -- bash --norc --noprofile -i",
        llws_bin().display()
    );
    let t = Tmux::start(120, 40, &[], &cmd);
    t.wait_text("pane$ ", T);
    t
}

#[test]
fn a_shell_in_the_pane_takes_typed_commands() {
    let t = shell_pane();
    t.type_text("echo typed=$((20+22)) 'ü中'");
    t.keys(&["Enter"]);
    t.wait_text("typed=42 ü中", T);
    // Ctrl+C reaches the program (not llws): it interrupts a sleep and the shell goes on.
    t.type_text("sleep 30");
    t.keys(&["Enter"]);
    std::thread::sleep(Duration::from_millis(300));
    t.keys(&["C-c"]);
    t.type_text("echo after-interrupt");
    t.keys(&["Enter"]);
    t.wait_text("\nafter-interrupt", T);
    // Up arrow recalls history through the key encoder.
    t.keys(&["Up"]);
    t.wait_for("history recall", T, |s| {
        s.lines()
            .filter(|l| l.contains("echo after-interrupt"))
            .count()
            == 2
    });
}

#[test]
fn the_pane_reports_the_right_size_after_a_resize() {
    let t = shell_pane();
    t.type_text("stty size");
    t.keys(&["Enter"]);
    t.wait_text("\n40 120", T);
    t.resize(100, 30);
    std::thread::sleep(Duration::from_millis(300));
    t.type_text("clear; stty size; tput cols");
    t.keys(&["Enter"]);
    t.wait_for("the new size", T, |s| s.contains("30 100\n100"));
}

#[test]
fn the_pane_scrolls_back_and_typing_returns_to_the_bottom() {
    let t = shell_pane();
    t.type_text("seq -f 'row %03g' 1 300");
    t.keys(&["Enter"]);
    t.wait_text("row 300", T);
    t.keys(&["S-PageUp"]);
    let s = t.wait_text("SCROLLBACK 20", T);
    assert!(!s.contains("row 300"), "{s}");
    t.keys(&["S-PageUp", "S-PageUp"]);
    t.wait_text("SCROLLBACK 60", T);
    t.type_text("x");
    let s = t.wait_for("the live screen", T, |s| !s.contains("SCROLLBACK"));
    assert!(s.contains("row 300"), "{s}");
}

#[test]
fn the_pane_restarts_after_exit_and_quits_with_ctrl_backslash() {
    let t = shell_pane();
    t.type_text("exit 7");
    t.keys(&["Enter"]);
    t.wait_text("process exited with code 7 · r: restart · q: quit", T);
    t.keys(&["r"]);
    t.wait_for("a fresh shell", T, |s| {
        s.starts_with("pane$ ") && !s.contains("exited")
    });
    t.type_text("echo second-life");
    t.keys(&["Enter"]);
    t.wait_text("\nsecond-life", T);
    t.keys(&["C-\\"]);
    t.wait_for("llws to quit", T, |_| {
        t.run(&["display-message", "-p", "#{pane_dead}"]).trim() == "1"
    });
}
