//! The pane with real programs on a real PTY, through the API the workspace uses.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use llws::pty::term::{Outbound, RESET_NOTE, Rgb, TermColors};
use llws::pty::{CommandSpec, TerminalPane, Waker};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

fn noop() -> Waker {
    Arc::new(|| {})
}

fn bash() -> CommandSpec {
    CommandSpec::new("bash")
        .arg("--norc")
        .arg("--noprofile")
        .arg("-i")
        .env("PS1", "$ ")
        .env("HISTFILE", "/dev/null")
}

fn wait(pane: &TerminalPane, what: &str, mut ok: impl FnMut(&TerminalPane) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !ok(pane) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; screen:\n{}",
            pane.screen_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_text(pane: &TerminalPane, text: &str) {
    wait(pane, text, |p| p.screen_text().contains(text));
}

fn type_line(pane: &mut TerminalPane, line: &str) {
    for c in line.chars() {
        pane.handle_key(&KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
    pane.handle_key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
}

fn draw(pane: &mut TerminalPane, rows: u16, cols: u16, focused: bool) -> Buffer {
    let area = Rect::new(0, 0, cols, rows);
    let mut buf = Buffer::empty(area);
    pane.render(area, &mut buf, focused);
    buf
}

fn row_text(buf: &Buffer, y: u16) -> String {
    (0..buf.area.width)
        .map(|x| buf[(x, y)].symbol().to_string())
        .collect()
}

#[test]
fn a_shell_takes_commands_exits_and_restarts() {
    let mut pane = TerminalPane::spawn(bash(), 24, 80, 1000, noop()).unwrap();
    wait_text(&pane, "$ ");
    let first_pid = pane.pid().expect("running");
    type_line(&mut pane, "echo answer=$((6*7))");
    wait_text(&pane, "answer=42");
    type_line(&mut pane, "stty size");
    wait_text(&pane, "24 80");
    pane.resize(30, 100);
    type_line(&mut pane, "stty size");
    wait_text(&pane, "30 100");
    type_line(&mut pane, "exit 3");
    wait(&pane, "the exit", |p| p.exit_status().is_some());
    let exit = pane.exit_status().unwrap();
    assert_eq!((exit.code, exit.signal.as_deref()), (3, None));
    assert_eq!(pane.pid(), None);
    let buf = draw(&mut pane, 30, 100, true);
    assert!(
        row_text(&buf, 29).starts_with(" process exited with code 3 · press r to restart"),
        "{:?}",
        row_text(&buf, 29)
    );
    // Keys go nowhere while it is gone.
    pane.handle_key(&KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE));

    pane.restart().unwrap();
    assert_eq!(pane.exit_status(), None);
    assert_ne!(pane.pid(), Some(first_pid));
    wait_text(&pane, "$ ");
    type_line(&mut pane, "echo again");
    wait_text(&pane, "again");
}

#[test]
fn a_signal_death_is_reported() {
    let mut pane = TerminalPane::spawn(
        CommandSpec::new("sh").arg("-c").arg("kill -TERM $$"),
        10,
        40,
        0,
        noop(),
    )
    .unwrap();
    wait(&pane, "the exit", |p| p.exit_status().is_some());
    let exit = pane.exit_status().unwrap();
    assert!(exit.signal.is_some(), "{exit:?}");
    assert!(
        exit.to_string().starts_with("process killed by signal"),
        "{exit}"
    );
    let buf = draw(&mut pane, 10, 40, true);
    assert!(row_text(&buf, 9).contains("killed by signal"));
}

#[test]
fn a_vt100_panic_from_real_output_is_contained_and_the_shell_goes_on() {
    let mut pane = TerminalPane::spawn(bash(), 24, 80, 1000, noop()).unwrap();
    wait_text(&pane, "$ ");
    // A wide character in the last two columns of the top row...
    type_line(
        &mut pane,
        "clear; printf '\\033[1;79H\\344\\270\\255\\033[5;1H'",
    );
    wait(&pane, "the wide char", |p| {
        p.screen_text()
            .lines()
            .next()
            .is_some_and(|l| l.ends_with('中'))
    });
    // ...cut by a narrower pane, then overwritten: vt100 0.16.2 panics here.
    pane.resize(24, 79);
    type_line(&mut pane, "printf '\\033[1;79Hx\\033[6;1H'");
    wait(&pane, "a contained panic", |p| p.parser_resets() == 1);
    wait_text(&pane, RESET_NOTE);
    type_line(&mut pane, "echo still-here");
    wait_text(&pane, "still-here");
    assert_eq!(pane.exit_status(), None);
}

#[test]
fn the_waker_fires_once_until_the_ui_draws() {
    let wakes = Arc::new(AtomicUsize::new(0));
    let counter = wakes.clone();
    let waker: Waker = Arc::new(move || {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let spec = CommandSpec::new("sh")
        .arg("-c")
        .arg("yes 'a line of output' | head -c 4000000");
    let mut pane = TerminalPane::spawn(spec, 24, 80, 100, waker).unwrap();
    wait(&pane, "the end of the flood", |p| p.exit_status().is_some());
    std::thread::sleep(Duration::from_millis(200));
    // ~230,000 lines in thousands of reads, and one wake-up: nobody has drawn yet.
    assert_eq!(wakes.load(Ordering::SeqCst), 1);
    assert!(pane.take_dirty());
    assert!(!pane.take_dirty());
    draw(&mut pane, 24, 80, true);
}

#[test]
fn what_the_program_sends_the_users_terminal_wakes_the_ui_and_is_drained_once() {
    let wakes = Arc::new(AtomicUsize::new(0));
    let counter = wakes.clone();
    let waker: Waker = Arc::new(move || {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    // The text first, so the pane is dirty (and undrawn) before the rest arrives.
    let spec = CommandSpec::new("sh").arg("-c").arg(
        "printf 'ready\\n'; sleep 0.5; \
         printf '\\033]52;c;aGVsbG8=\\a\\a\\033]9;done\\033\\\\\\033]52;c;?\\a'; sleep 5",
    );
    let pane = TerminalPane::spawn(spec, 24, 80, 100, waker).unwrap();
    wait_text(&pane, "ready");
    // Past the reader's wake for "ready" (it comes just after the screen shows it).
    std::thread::sleep(Duration::from_millis(100));
    let before = wakes.load(Ordering::SeqCst);
    let mut got = Vec::new();
    wait(&pane, "the queued items", |p| {
        got.extend(p.take_outbound());
        got.len() >= 3
    });
    assert_eq!(
        got,
        [
            Outbound::Clipboard {
                selection: "c".into(),
                data: "aGVsbG8=".into()
            },
            Outbound::Bell,
            Outbound::Notify {
                text: "done".into(),
                bel: false
            },
        ]
    );
    // Nobody drew, yet the UI was woken for them (the dirty flag alone would not have).
    assert!(wakes.load(Ordering::SeqCst) > before);
    assert!(pane.take_outbound().is_empty());
}

#[test]
fn mouse_events_reach_a_program_that_asked_in_sgr() {
    let spec = CommandSpec::new("sh")
        .arg("-c")
        .arg("printf '\\033[?1002h\\033[?1006h'; stty raw -echo; head -c 9 | od -An -tx1; sleep 5");
    let mut pane = TerminalPane::spawn(spec, 10, 60, 0, noop()).unwrap();
    wait(&pane, "mouse mode", |p| {
        p.screen_text().is_empty() && p.pid().is_some()
    });
    std::thread::sleep(Duration::from_millis(300));
    // The pane's inner area starts at (10, 5) on the real screen; the click is at (14, 7).
    let inner = Rect::new(10, 5, 60, 10);
    let click = MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: 14,
        row: 7,
        modifiers: KeyModifiers::NONE,
    };
    assert!(pane.handle_mouse(&click, inner));
    wait_text(&pane, "1b 5b 3c 30 3b 35 3b 33 4d"); // ESC [ < 0 ; 5 ; 3 M
    let outside = MouseEvent { column: 2, ..click };
    assert!(!pane.handle_mouse(&outside, inner));
}

#[test]
fn the_wheel_scrolls_back_without_mouse_mode_and_typing_returns() {
    let mut pane = TerminalPane::spawn(bash(), 10, 40, 1000, noop()).unwrap();
    wait_text(&pane, "$ ");
    type_line(&mut pane, "seq 1 100");
    // Not "100": the typed command line holds that before seq has written a line.
    wait(&pane, "seq's output", |p| {
        p.screen_text().contains("99\n100")
    });
    let inner = Rect::new(0, 0, 40, 10);
    let wheel = MouseEvent {
        kind: MouseEventKind::ScrollUp,
        column: 1,
        row: 1,
        modifiers: KeyModifiers::NONE,
    };
    assert!(pane.handle_mouse(&wheel, inner));
    assert!(pane.handle_mouse(&wheel, inner));
    assert_eq!(pane.scrollback_offset(), 6);
    let buf = draw(&mut pane, 10, 40, true);
    assert!(
        row_text(&buf, 0).contains("↑ SCROLLBACK 6"),
        "{:?}",
        row_text(&buf, 0)
    );
    pane.scroll_lines(1000);
    assert!(
        pane.screen_text().starts_with("$ seq 1 100\n1\n"),
        "{}",
        pane.screen_text()
    );
    pane.handle_key(&KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE));
    assert_eq!(pane.scrollback_offset(), 0);
}

#[test]
fn pastes_are_bracketed_for_bash() {
    let mut pane = TerminalPane::spawn(bash(), 10, 60, 0, noop()).unwrap();
    wait_text(&pane, "$ ");
    wait(&pane, "bracketed paste", |p| p.modes().bracketed_paste);
    // A newline inside a bracketed paste is text, not Enter: nothing runs yet.
    pane.paste("echo pasted-one\necho pasted-two");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !pane.screen_text().lines().any(|l| l.trim() == "pasted-one"),
        "{}",
        pane.screen_text()
    );
    pane.handle_key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    wait(&pane, "both lines run", |p| {
        let t = p.screen_text();
        t.lines().any(|l| l.trim() == "pasted-one") && t.lines().any(|l| l.trim() == "pasted-two")
    });
}

#[test]
fn focus_changes_are_reported_when_asked_and_titles_kept() {
    let spec = CommandSpec::new("sh").arg("-c").arg("printf '\\033]2;my title\\007\\033[?1004h'; stty raw -echo; head -c 6 | od -An -tx1; sleep 5");
    let mut pane = TerminalPane::spawn(spec, 10, 60, 0, noop()).unwrap();
    wait(&pane, "the title", |p| p.title() == "my title");
    std::thread::sleep(Duration::from_millis(300));
    draw(&mut pane, 10, 60, true);
    draw(&mut pane, 10, 60, false);
    draw(&mut pane, 10, 60, true);
    wait_text(&pane, "1b 5b 4f 1b 5b 49"); // ESC [ O, ESC [ I
}

#[test]
fn a_banner_is_drawn_over_the_top_row() {
    let mut pane =
        TerminalPane::spawn(CommandSpec::new("sleep").arg("5"), 6, 40, 0, noop()).unwrap();
    let area = Rect::new(0, 0, 40, 6);
    pane.sync(area, true);
    let mut buf = Buffer::empty(area);
    pane.draw(area, &mut buf, true, Some("switching to qwen3…"));
    assert!(row_text(&buf, 0).contains(" switching to qwen3… "));
    let buf = draw(&mut pane, 6, 40, true);
    assert!(!row_text(&buf, 0).contains("switching"));
}

#[test]
fn a_program_gets_the_version_and_colour_answers_and_the_colours_can_change() {
    // The program asks like real start-up probes do (no canonical mode, no echo), reads
    // each answer up to its terminator, and prints it with the ESC bytes taken out.
    let script = r#"
        stty -echo -icanon min 1
        ask() { printf "$1"; IFS= read -r -d "$2" -t 5 v; printf '%s[%s]\n' "$3" "${v//$'\e'/}"; }
        ask '\033[>q' '\' XTV
        ask '\033]11;?\033\\' '\' BG
        ask '\033]10;?\a' $'\a' FG
        IFS= read -r -t 10 line
        ask '\033]11;?\a' $'\a' BG2
        sleep 5
    "#;
    let spec = CommandSpec::new("bash")
        .arg("--noprofile")
        .arg("--norc")
        .arg("-c")
        .arg(script);
    let colors = TermColors {
        foreground: Rgb(0xab, 0xcd, 0xef),
        background: Rgb(0x12, 0x34, 0x56),
        cursor: Rgb(0xab, 0xcd, 0xef),
    };
    let mut pane = TerminalPane::spawn_with_colors(spec, 10, 60, 0, colors, noop()).unwrap();
    wait_text(&pane, "FG[");
    let text = pane.screen_text();
    let version = env!("CARGO_PKG_VERSION");
    assert!(text.contains(&format!("XTV[P>|llws({version})]")), "{text}");
    assert!(text.contains("BG[]11;rgb:1212/3434/5656]"), "{text}");
    assert!(text.contains("FG[]10;rgb:abab/cdcd/efef]"), "{text}");
    // The theme changes under the running program: its next question gets the new answer.
    pane.set_colors(TermColors::LIGHT);
    type_line(&mut pane, "go");
    wait_text(&pane, "BG2[");
    let text = pane.screen_text();
    assert!(text.contains("BG2[]11;rgb:ffff/ffff/ffff]"), "{text}");
}
