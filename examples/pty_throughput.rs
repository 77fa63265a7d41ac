//! PTY throughput: how long the llws pane takes to take in a large `cat`, against tmux doing
//! the same, on this machine. Prints a markdown table row per run.
//!
//!     cargo run --release --example pty_throughput [-- MEGABYTES [RUNS [text|colour]]]
//!
//! `text`: numbered 80-column lines of plain text. `colour`: llama-server-shaped log lines
//! with SGR colours on the timestamp, the level and the component, and an occasional bold
//! or reverse-video word, as a coloured log or a build's output arrives in the claude pane.
//!
//! llws: `cat FILE` in a TerminalPane (120×40, 10,000 lines of scrollback), drawn into a
//! ratatui buffer every 16 ms while it runs, as the workspace does; done when the program has
//! exited and the last line is on the pane's screen. tmux: `cat FILE` in a detached 120×40
//! tmux session; done when `tmux wait-for` hears the signal sent after cat.

use std::io::Write;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use llws::pty::term::Term;
use llws::pty::{CommandSpec, TerminalPane};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

fn main() {
    let mut args = std::env::args().skip(1);
    let mb: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(50);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let colour = match args.next().as_deref() {
        None | Some("text") => false,
        Some("colour" | "color") => true,
        Some(other) => panic!("unknown input kind {other:?}: text or colour"),
    };
    let dir = std::env::temp_dir().join(format!("llws-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("big.txt");
    let last = if colour {
        write_coloured(&file, mb * 1_000_000)
    } else {
        write_file(&file, mb * 1_000_000)
    };
    let size = std::fs::metadata(&file).unwrap().len();
    let kind = if colour { "coloured log" } else { "text" };
    println!("file: {size} bytes of {kind}, {runs} runs each, sides alternated");
    // The emulator alone, in this process, with no PTY: the part of the pane's time that is
    // llws's own code (the rest is the kernel's PTY and the reading thread).
    let bytes = std::fs::read(&file).unwrap();
    for _ in 0..runs.clamp(1, 3) {
        let mut term = Term::new(40, 120, 10_000);
        let start = Instant::now();
        for chunk in bytes.chunks(4096) {
            term.process(chunk);
        }
        let d = start.elapsed();
        assert!(term.contents().contains(&last));
        println!(
            "emulator alone (4 KiB writes, no PTY): {:.2} s ({:.0} MiB/s)",
            d.as_secs_f64(),
            size as f64 / 1_048_576.0 / d.as_secs_f64()
        );
    }
    drop(bytes);
    if runs == 0 {
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let mut pane_times = Vec::new();
    let mut tmux_times = Vec::new();
    for run in 0..runs {
        // Alternate which side goes first, so neither always gets the warmer page cache.
        let (p, t) = if run.is_multiple_of(2) {
            let p = llws_pane(&file, &last);
            (p, tmux(&file, run))
        } else {
            let t = tmux(&file, run);
            (llws_pane(&file, &last), t)
        };
        println!(
            "run {run}: llws pane {:.2} s, tmux {:.2} s",
            p.as_secs_f64(),
            t.as_secs_f64()
        );
        pane_times.push(p);
        tmux_times.push(t);
    }
    let ratios: Vec<f64> = pane_times
        .iter()
        .zip(&tmux_times)
        .map(|(p, t)| p.as_secs_f64() / t.as_secs_f64())
        .collect();
    let (lo, hi) = ratios
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (p, t) = (median(&mut pane_times), median(&mut tmux_times));
    let mbs = |d: Duration| size as f64 / 1_048_576.0 / d.as_secs_f64();
    println!(
        "| {:.0} MB {kind} | {:.2} s ({:.0} MiB/s) | {:.2} s ({:.0} MiB/s) | {:.2} (runs {lo:.2}-{hi:.2}) |",
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

/// Coloured, llama-server-shaped log lines until `bytes`; returns the last line's text as the
/// pane shows it (without the escapes).
fn write_coloured(path: &std::path::Path, bytes: usize) -> String {
    const LEVELS: [(&str, &str); 4] = [
        ("32", "INFO"),
        ("32", "INFO"),
        ("33", "WARN"),
        ("31", "ERR "),
    ];
    const PARTS: [&str; 4] = ["srv", "slot", "main", "http"];
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut written = 0;
    let mut n = 0u64;
    let mut last = String::new();
    while written < bytes {
        n += 1;
        let (colour, level) = LEVELS[(n % 4) as usize];
        let part = PARTS[(n / 4 % 4) as usize];
        let (ms, s, m) = (n % 1000, n / 1000 % 60, n / 60_000 % 60);
        let emphasis = if n.is_multiple_of(7) {
            "\x1b[1mslot 0\x1b[22m"
        } else if n.is_multiple_of(11) {
            "\x1b[7mslot 0\x1b[27m"
        } else {
            "slot 0"
        };
        let line = format!(
            "\x1b[2m10:{m:02}:{s:02}.{ms:03}\x1b[0m \x1b[{colour}m{level}\x1b[0m \x1b[36m{part:>4}\x1b[0m \
             {emphasis}: task {n:08} | n_past = {}, n_tokens = 512, progress = 0.{:03}\x1b[K",
            n * 3 % 65_536,
            n % 1000
        );
        writeln!(f, "{line}").unwrap();
        written += line.len() + 1;
        last = format!(
            "task {n:08} | n_past = {}, n_tokens = 512, progress = 0.{:03}",
            n * 3 % 65_536,
            n % 1000
        );
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
