//! Pane memory: how much resident memory 10 MB of output through a terminal pane costs the
//! llws process, against what the same output costs the tmux server, measured in one run.
//! Prints a line per run and a markdown table row per input.
//!
//!     cargo run --release --example pane_memory [-- MEGABYTES [RUNS]]
//!
//! Both sides get a 90×40 pane with 10,000 lines of scrollback (llws's default; tmux's
//! `history-limit` set to the same) and `cat` the same file into it; the figure is the
//! growth of resident memory (`VmRSS`) from just before the `cat` to when its last line is
//! on the screen. The inputs:
//! - `coloured`: llama-server-shaped log lines with SGR colours, ~100 columns, so each
//!   wraps to two rows at 90 columns: the scrollback fills with dense, styled rows.
//! - `short`: the same number of bytes as 8-column lines: the scrollback fills with rows that
//!   are mostly blank, which should cost next to nothing.
//!
//! llws: each run is a child process (this example, `--llws-child`), so one run's freed
//! memory never hides the next run's growth; the child opens a `TerminalPane` and draws it
//! into a ratatui buffer every 16 ms, as the workspace does. tmux: a fresh server per run
//! (its own `-L` socket), measured through its pid. Sides alternate which goes first.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use llws::pty::{CommandSpec, TerminalPane};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

const ROWS: u16 = 40;
const COLS: u16 = 90;
const SCROLLBACK: usize = 10_000;

fn main() {
    let mut args = std::env::args().skip(1);
    let first = args.next();
    if first.as_deref() == Some("--llws-child") {
        let file = args.next().expect("file");
        let last = args.next().expect("last line");
        llws_child(Path::new(&file), &last);
        return;
    }
    let mb: usize = first.and_then(|a| a.parse().ok()).unwrap_or(10);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let dir = std::env::temp_dir().join(format!("llws-mem-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    println!(
        "{mb} MB per input, {ROWS}x{COLS} pane, {SCROLLBACK} lines of scrollback, {runs} runs"
    );
    let mut rows = Vec::new();
    for kind in ["coloured", "short"] {
        let file = dir.join(format!("{kind}.txt"));
        let last = write_input(&file, kind, mb * 1_000_000);
        let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for run in 0..runs {
            let (l, t) = if run.is_multiple_of(2) {
                let l = llws_growth(&file, &last);
                (l, tmux_growth(&file, &last, run))
            } else {
                let t = tmux_growth(&file, &last, run);
                (llws_growth(&file, &last), t)
            };
            println!(
                "{kind} run {run}: llws {} -> {} KiB (+{:.1} MiB), tmux {} -> {} KiB (+{:.1} MiB)",
                l.0,
                l.1,
                mib(l.1 - l.0),
                t.0,
                t.1,
                mib(t.1 - t.0)
            );
            ours.push(l.1 - l.0);
            theirs.push(t.1 - t.0);
            ratios.push((l.1 - l.0) as f64 / ((t.1 - t.0) as f64).max(1.0));
        }
        rows.push(format!(
            "| {mb} MB {kind} | +{:.1} MiB | +{:.1} MiB | {:.2} ({:.2}-{:.2}) |",
            mib(median(&mut ours)),
            mib(median(&mut theirs)),
            median_f(&mut ratios.clone()),
            ratios.iter().copied().fold(f64::MAX, f64::min),
            ratios.iter().copied().fold(f64::MIN, f64::max),
        ));
    }
    println!("| input | llws growth (median) | tmux growth (median) | llws / tmux (runs) |");
    println!("|---|---:|---:|---:|");
    for row in rows {
        println!("{row}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn mib(kib: i64) -> f64 {
    kib as f64 / 1024.0
}

fn median(v: &mut [i64]) -> i64 {
    v.sort();
    v[v.len() / 2]
}

fn median_f(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Writes `bytes` of the input `kind` and a marker line; returns the marker.
fn write_input(path: &Path, kind: &str, bytes: usize) -> String {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let (mut written, mut n) = (0, 0u64);
    while written < bytes {
        n += 1;
        let line = if kind == "short" {
            format!("{:07}", n % 10_000_000)
        } else {
            let level = ["\x1b[32mINFO", "\x1b[33mWARN", "\x1b[31mERR "][(n % 3) as usize];
            let text = format!(
                "task {n:08} | prompt processing progress, n_past = {}, n_tokens = 512",
                n * 3 % 65_536
            );
            format!(
                "\x1b[2m10:00:{:02}.{:03}\x1b[0m {level}\x1b[0m \x1b[36msrv\x1b[0m {text}",
                n / 1000 % 60,
                n % 1000
            )
        };
        writeln!(f, "{line}").unwrap();
        written += line.len() + 1;
    }
    // A marker line that only the end of the input shows (a short line alone is not
    // unique on the screen).
    writeln!(f, "end of input {n}").unwrap();
    format!("end of input {n}")
}

/// `VmRSS` of a process, in KiB.
fn rss_kib(pid: u32) -> i64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Runs the llws side in a fresh child process; (before, after) in KiB.
fn llws_growth(file: &Path, last: &str) -> (i64, i64) {
    let out = Command::new(std::env::current_exe().unwrap())
        .arg("--llws-child")
        .arg(file)
        .arg(last)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut it = text.split_whitespace().map(|v| v.parse::<i64>().unwrap());
    (it.next().unwrap(), it.next().unwrap())
}

/// The child: a pane running `sh`, RSS measured once it is up, then `cat FILE` typed into
/// it, RSS again when the last line shows. Prints "BEFORE AFTER".
fn llws_child(file: &Path, last: &str) {
    let area = Rect::new(0, 0, COLS, ROWS);
    let mut buf = Buffer::empty(area);
    let spec = CommandSpec::new("sh").env("PS1", "$ ");
    let mut pane = TerminalPane::spawn(spec, ROWS, COLS, SCROLLBACK, Arc::new(|| {})).unwrap();
    wait_for(&mut pane, &mut buf, "$");
    let me = std::process::id();
    let before = rss_kib(me);
    pane.write_bytes(format!("cat '{}'\r", file.display()).as_bytes());
    wait_for(&mut pane, &mut buf, last);
    let after = rss_kib(me);
    println!("{before} {after}");
}

fn wait_for(pane: &mut TerminalPane, buf: &mut Buffer, text: &str) {
    let area = buf.area;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        pane.render(area, buf, true);
        if pane.screen_text().contains(text) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {text:?}");
        std::thread::sleep(Duration::from_millis(16));
    }
}

/// A fresh tmux server on its own socket, 90×40, history-limit 10,000, running `sh`; RSS
/// of the server before and after `cat FILE`. (before, after) in KiB.
fn tmux_growth(file: &Path, last: &str, run: usize) -> (i64, i64) {
    let socket = format!("llws-mem-{}-{run}", std::process::id());
    let tmux = |args: &[&str]| {
        let out = Command::new("tmux")
            .args(["-L", &socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    // history-limit applies to panes made after it is set, so the server starts with a
    // placeholder session, sets it globally, then opens the measured one.
    tmux(&[
        "new-session",
        "-d",
        "-s",
        "setup",
        "-x",
        "90",
        "-y",
        "40",
        "sleep 600",
    ]);
    tmux(&["set-option", "-g", "history-limit", &SCROLLBACK.to_string()]);
    tmux(&[
        "new-session",
        "-d",
        "-s",
        "m",
        "-x",
        "90",
        "-y",
        "40",
        "env PS1='$ ' sh",
    ]);
    let pid: u32 = tmux(&["display-message", "-p", "-t", "m", "#{pid}"])
        .trim()
        .parse()
        .unwrap();
    let capture = || tmux(&["capture-pane", "-p", "-t", "m"]);
    let wait = |text: &str| {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !capture().contains(text) {
            assert!(
                Instant::now() < deadline,
                "tmux: timed out waiting for {text:?}"
            );
            std::thread::sleep(Duration::from_millis(16));
        }
    };
    wait("$");
    let before = rss_kib(pid);
    tmux(&[
        "send-keys",
        "-t",
        "m",
        &format!("cat '{}'", file.display()),
        "Enter",
    ]);
    wait(last);
    let after = rss_kib(pid);
    let _ = tmux(&["kill-server"]);
    (before, after)
}
