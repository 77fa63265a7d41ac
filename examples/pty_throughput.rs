//! PTY throughput: how long the llws pane takes to take in a large `cat`, against tmux doing
//! the same, on this machine. Prints a markdown table row per run.
//!
//!     cargo run --example pty_throughput [-- MEGABYTES [RUNS]]
//!
//! llws: `cat FILE` in a TerminalPane (120×40, 10,000 lines of scrollback), drawn into a
//! ratatui buffer every 16 ms while it runs, as the workspace does; done when the program has
//! exited and the last line is on the pane's screen. tmux: `cat FILE` in a detached 120×40
//! tmux session; done when `tmux wait-for` hears the signal sent after cat.

use std::io::Write;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use llws::pty::{CommandSpec, TerminalPane};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

fn main() {
    let mut args = std::env::args().skip(1);
    let mb: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(50);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let dir = std::env::temp_dir().join(format!("llws-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("big.txt");
    let last = write_file(&file, mb * 1_000_000);
    let size = std::fs::metadata(&file).unwrap().len();
    println!("file: {size} bytes, {runs} runs each");
    let mut pane_times = Vec::new();
    let mut tmux_times = Vec::new();
    for run in 0..runs {
        let p = llws_pane(&file, &last);
        let t = tmux(&file, run);
        println!(
            "run {run}: llws pane {:.2} s, tmux {:.2} s",
            p.as_secs_f64(),
            t.as_secs_f64()
        );
        pane_times.push(p);
        tmux_times.push(t);
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (p, t) = (median(&mut pane_times), median(&mut tmux_times));
    let mbs = |d: Duration| size as f64 / 1_048_576.0 / d.as_secs_f64();
    println!(
        "| {:.0} MB text | {:.2} s ({:.0} MiB/s) | {:.2} s ({:.0} MiB/s) | {:.2} |",
        size as f64 / 1e6,
        p.as_secs_f64(),
        mbs(p),
        t.as_secs_f64(),
        mbs(t),
        p.as_secs_f64() / t.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Numbered lines of text until `bytes`; returns the last line.
fn write_file(path: &std::path::Path, bytes: usize) -> String {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut written = 0;
    let mut n = 0u64;
    let mut last = String::new();
    while written < bytes {
        n += 1;
        last = format!(
            "line {n:08} of the throughput test: the quick brown fox jumps over the lazy dog"
        );
        writeln!(f, "{last}").unwrap();
        written += last.len() + 1;
    }
    last
}

fn llws_pane(file: &std::path::Path, last: &str) -> Duration {
    let area = Rect::new(0, 0, 120, 40);
    let mut buf = Buffer::empty(area);
    let spec = CommandSpec::new("cat").arg(file.display().to_string());
    let start = Instant::now();
    let mut pane = TerminalPane::spawn(spec, 40, 120, 10_000, Arc::new(|| {})).unwrap();
    loop {
        pane.render(area, &mut buf, true);
        if pane.exit_status().is_some() && pane.screen_text().contains(last) {
            return start.elapsed();
        }
        std::thread::sleep(Duration::from_millis(16));
    }
}

fn tmux(file: &std::path::Path, run: usize) -> Duration {
    let socket = format!("llws-bench-{}-{run}", std::process::id());
    let channel = "llws-bench-done";
    let start = Instant::now();
    let ok = Command::new("tmux")
        .args([
            "-L",
            &socket,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            "120",
            "-y",
            "40",
        ])
        .arg(format!(
            "cat '{}'; tmux -L {socket} wait-for -S {channel}; sleep 30",
            file.display()
        ))
        .status()
        .unwrap()
        .success();
    assert!(ok, "tmux new-session");
    Command::new("tmux")
        .args(["-L", &socket, "wait-for", channel])
        .status()
        .unwrap();
    let elapsed = start.elapsed();
    let _ = Command::new("tmux")
        .args(["-L", &socket, "kill-server"])
        .status();
    elapsed
}
