//! Copy mode's cost over a full scrollback, beside tmux's copy mode over the same lines.
//! `cargo bench --bench copy_mode` prints the table for docs/benchmarks.md; under `cargo
//! test` it runs one round as a smoke test.
//!
//! - llws: a claude-pane emulator (`Term`, 45 × 110, the pane at 160 × 50) holding a full
//!   scrollback of 10,000 lines (~100 characters each) with one needle at its top. Timed:
//!   the first search up from the bottom (it reads every line, then searches), `n` after
//!   it (the scrollback's text is kept; only the screen is read again), and a copy-mode
//!   frame (follow what arrived, draw the view with highlights) while 50 lines arrive
//!   before each.
//! - Peer: tmux 3's copy mode in a 110 × 45 window with `history-limit 10000`, holding the
//!   same lines: `send-keys -X search-backward` for the same needle, timed as the client
//!   waits for the command (so it includes tmux's IPC, a few tens of microseconds).
//!
//! The two alternate, round after round, in the same run.

#[path = "../tests/support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use llws::config::theme::Theme;
use llws::pty::history::History;
use llws::pty::term::Term;
use llws::ui::copy_mode::{CopyMode, Entered};
use llws::ui::search::{self, Direction};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

const ROWS: u16 = 45;
const COLS: u16 = 110;
const LINES: usize = 10_000;

fn line(i: usize) -> String {
    format!(
        "{i:05} ⏺ The function reads the configuration, checks every field and returns an error"
    )
}

fn filled() -> Term {
    let mut t = Term::new(ROWS, COLS, LINES);
    t.process(b"needle: the one line the search looks for\r\n");
    for i in 0..LINES + usize::from(ROWS) - 2 {
        t.process(format!("{}\r\n", line(i)).as_bytes());
    }
    t
}

struct Times(Vec<Duration>);

impl Times {
    fn pct(&self, p: f64) -> Duration {
        let mut v = self.0.clone();
        v.sort();
        v[((v.len() - 1) as f64 * p).round() as usize]
    }
    fn row(&self, what: &str) -> String {
        format!(
            "| {what} | {} | {:.2} ms | {:.2} ms | {:.2} ms |",
            self.0.len(),
            ms(self.pct(0.5)),
            ms(self.pct(0.99)),
            ms(self.pct(1.0))
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One llws round: a fresh copy mode, the first search, `n`, and frames while lines come.
fn llws_round(first: &mut Times, again: &mut Times, frames: &mut Times) {
    let mut t = filled();
    let theme = Theme::builtin_default();
    let mut c = CopyMode::enter(&mut History::new(&mut t), Entered::Keys);
    let mut history = search::History::default();
    c.start_search(Direction::Up);
    if let Some((_, e)) = c.editing.as_mut() {
        e.push_str("needle");
    }
    let t0 = Instant::now();
    let found = c.end_search(&mut History::new(&mut t), true, &mut history);
    first.0.push(t0.elapsed());
    assert!(found.is_some(), "the needle is in the scrollback");
    let t0 = Instant::now();
    c.search_again(&mut History::new(&mut t), false);
    again.0.push(t0.elapsed());
    let area = Rect::new(0, 0, COLS, ROWS);
    let mut buf = Buffer::empty(area);
    for f in 0..10 {
        for i in 0..50 {
            t.process(format!("{}\r\n", line(100_000 + f * 50 + i)).as_bytes());
        }
        let t0 = Instant::now();
        let mut h = History::new(&mut t);
        c.follow(&mut h);
        c.draw(&mut h, area, &mut buf, &theme);
        frames.0.push(t0.elapsed());
    }
}

struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

/// tmux holding the same lines in a 110 × 45 window, in copy mode.
fn tmux_filled(dir: &std::path::Path) -> Option<Tmux> {
    let file = dir.join("lines.txt");
    let mut text = String::from("needle: the one line the search looks for\n");
    for i in 0..LINES + usize::from(ROWS) - 2 {
        text.push_str(&line(i));
        text.push('\n');
    }
    std::fs::write(&file, text).ok()?;
    let t = Tmux {
        socket: format!("llws-bench-copy-{}", std::process::id()),
    };
    let cmd = format!("cat {}; sleep 100000", file.display());
    // The history limit applies to panes made after it is set.
    Command::new("tmux")
        .args(["-L", &t.socket, "-f", "/dev/null", "start-server"])
        .args([";", "set-option", "-g", "history-limit", &LINES.to_string()])
        .args([";", "new-session", "-d", "-x", &COLS.to_string()])
        .args(["-y", &ROWS.to_string(), &cmd])
        .status()
        .ok()?
        .success()
        .then_some(())?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !t
        .run(&["capture-pane", "-p"])
        .contains(&line(LINES + usize::from(ROWS) - 3))
    {
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    t.run(&["copy-mode"]);
    Some(t)
}

fn tmux_round(t: &Tmux, times: &mut Times) {
    // From the bottom: up through every line to the needle, then round again.
    t.run(&["send-keys", "-X", "history-bottom"]);
    let t0 = Instant::now();
    t.run(&["send-keys", "-X", "search-backward", "needle"]);
    times.0.push(t0.elapsed());
    let at = t.run(&["display-message", "-p", "#{copy_cursor_line}"]);
    assert!(at.starts_with("needle"), "tmux's search went to {at:?}");
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let rounds = if full { 20 } else { 1 };
    let dir = tempfile::tempdir().expect("a temp dir");
    let tmux = tmux_filled(dir.path());
    let (mut first, mut again, mut frames, mut peer) = (
        Times(Vec::new()),
        Times(Vec::new()),
        Times(Vec::new()),
        Times(Vec::new()),
    );
    for _ in 0..rounds {
        llws_round(&mut first, &mut again, &mut frames);
        if let Some(t) = &tmux {
            tmux_round(t, &mut peer);
        }
    }
    println!("| what | runs | median | p99 | max |");
    println!("|---|---:|---:|---:|---:|");
    println!("{}", first.row("llws: first search up, 10,000 lines"));
    println!("{}", again.row("llws: `n` after it"));
    println!(
        "{}",
        frames.row("llws: copy-mode frame, 50 new lines before each")
    );
    match tmux {
        Some(_) => println!("{}", peer.row("peer: tmux search-backward, 10,000 lines")),
        None => println!("(tmux could not start: no peer this run)"),
    }
}
