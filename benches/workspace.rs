//! The workspace's cost: frame time while the server log takes 10,000 lines a second, and
//! the idle CPU and memory of the real binary over 30 s, each beside a peer measured in
//! the same run. `cargo bench --bench workspace` prints the tables for docs/benchmarks.md;
//! under `cargo test` it runs a one-second smoke of the frame part only.
//!
//! - Frames: a thread pushes 10,000 lines/s into a `LogRing` (the controller's ring) and
//!   appends the same lines to a file; the bench draws a 160×50 frame at 30 fps into
//!   ratatui's `TestBackend` (layout, every pane, diffing; no terminal writes) and times
//!   each draw. Peer: tmux showing `tail -f` of that file in a 160×50 window, its CPU over
//!   the same seconds.
//! - Idle: `llws` in tmux (160×50, the tiny model running on the process backend, bash in
//!   the claude pane), CPU time and RSS over 30 s, beside btop and htop in their own
//!   160×50 tmux windows over the same 30 s.
//!
//! The idle part needs the test fixtures (`scripts/fixtures`).

#[path = "../tests/support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use llws::config::keymap::Keymap;
use llws::config::settings::OnExit;
use llws::config::theme::Theme;
use llws::monitor::{GpuState, History, SystemSnapshot};
use llws::server::logs::{LogRing, Source};
use llws::server::profiles_store::ProfilesView;
use llws::server::state::{Phase, ServerState};
use llws::ui::app::App;
use llws::ui::layout::PaneId;
use llws::ui::panes::claude::ClaudePane;
use llws::ui::render;
use llws::ui::view::{ApiStatus, Sources};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const RATE: u64 = 10_000;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    println!("machine: {}", machine());
    if full {
        frames(Duration::from_secs(10));
        idle(Duration::from_secs(30));
    } else {
        frames(Duration::from_secs(1));
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "{cpu}, {cores} cores, load average at start {}",
        load.split(' ').take(3).collect::<Vec<_>>().join(" ")
    )
}

fn line(n: u64) -> String {
    format!(
        "0.{:02}.{:03}.{:03} I slot update_slots: id  0 | task {n} | prompt processing progress, n_past = {}, n_tokens = 512, progress = 0.{:03}",
        n / 60_000 % 100,
        n / 1000 % 1000,
        n % 1000,
        n * 7 % 4096,
        n % 1000
    )
}

/// CPU seconds (user + system) a process has used, from /proc.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// This thread's CPU time.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid, owned `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

struct Tmux(String);

impl Tmux {
    fn start(name: &str, cols: u16, rows: u16, cmd: &str) -> Tmux {
        let socket = format!("llws-bench-{}-{name}", std::process::id());
        let ok = Command::new("tmux")
            .args(["-L", &socket, "-f", "/dev/null", "new-session", "-d", "-x"])
            .arg(cols.to_string())
            .arg("-y")
            .arg(rows.to_string())
            .arg(cmd)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "tmux new-session for {name}");
        Tmux(socket)
    }

    fn out(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.0])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn pane_pid(&self) -> u32 {
        self.out(&["display-message", "-p", "#{pane_pid}"])
            .trim()
            .parse()
            .unwrap()
    }

    fn server_pid(&self) -> u32 {
        self.out(&["display-message", "-p", "#{pid}"])
            .trim()
            .parse()
            .unwrap()
    }

    fn screen(&self) -> String {
        self.out(&["capture-pane", "-p"])
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.0, "kill-server"])
            .status();
    }
}

fn frames(window: Duration) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("server.log");
    let ring = LogRing::new(5000);
    for n in 0..5000 {
        ring.push(Source::Stderr, line(n));
    }
    std::fs::write(&file, "").unwrap();
    let full = window > Duration::from_secs(2);
    let peer = full.then(|| {
        Tmux::start(
            "tail",
            160,
            50,
            &format!("tail -n 100 -f {}", file.display()),
        )
    });
    let stop = Arc::new(AtomicBool::new(false));
    let pushed = Arc::new(AtomicU64::new(0));
    let writer = {
        let (ring, stop, pushed, file) = (ring.clone(), stop.clone(), pushed.clone(), file.clone());
        std::thread::spawn(move || {
            let mut out = std::io::BufWriter::new(
                std::fs::OpenOptions::new()
                    .append(true)
                    .open(&file)
                    .unwrap(),
            );
            let start = Instant::now();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let due = (start.elapsed().as_secs_f64() * RATE as f64) as u64;
                while n < due {
                    let text = line(5000 + n);
                    let _ = writeln!(out, "{text}");
                    ring.push(Source::Stderr, text);
                    n += 1;
                }
                let _ = out.flush();
                std::thread::sleep(Duration::from_millis(2));
            }
            pushed.store(n, Ordering::Relaxed);
        })
    };

    let profiles = ProfilesView {
        set: Arc::new(
            llws::config::profiles::parse(
                "[tiny]\nNAME=SmolLM2 135M\nMODEL=tiny.gguf\nCTX_SIZE=2048\n",
                Path::new("models.conf"),
            )
            .unwrap(),
        ),
        error: None,
    };
    let mut server = ServerState::initial(llws::config::settings::BackendKind::Process);
    server.phase = Phase::Running;
    server.profile = Some("tiny".into());
    server.profile_name = Some("SmolLM2 135M".into());
    let gpu = GpuState::Unavailable {
        reason: "no NVIDIA GPU found: bench".into(),
    };
    let system = SystemSnapshot {
        taken_at: Some(SystemTime::now()),
        mem_total: 24 << 30,
        used_incl_cache: 12 << 30,
        ..SystemSnapshot::default()
    };
    let history = History::new(120);
    let facts = llws::server::load_facts::LoadFacts::default();
    let api = ApiStatus::Serving("http://127.0.0.1:8081".into());
    let mut terminal = Terminal::new(TestBackend::new(160, 50)).unwrap();
    let mut claude = ClaudePane::replay(
        40,
        120,
        include_bytes!("../tests/data/claude_start_120x40.raw"),
    );

    let frame = Duration::from_secs(1) / 30;
    let mut rows = Vec::new();
    let peer_cpu_start = peer.as_ref().map(|t| {
        (
            cpu_seconds(t.server_pid()).unwrap_or(0.0),
            cpu_seconds(t.pane_pid()).unwrap_or(0.0),
        )
    });
    let wall = Instant::now();
    for (label, setup) in [
        ("following the end", 0u8),
        ("paused, search highlights", 1),
        ("filter (1 line in 10)", 2),
    ] {
        let mut app = App::new(
            Keymap::builtin_default(),
            Theme::builtin_default(),
            OnExit::Stop,
        );
        app.focus = PaneId::Logs;
        match setup {
            1 => {
                app.logs.search = Some("task 12".into());
                app.logs.follow = false;
            }
            2 => app.logs.filter = Some("0 | prompt".into()),
            _ => {}
        }
        let mut times = Vec::new();
        let cpu0 = thread_cpu();
        let t0 = Instant::now();
        let mut next = Instant::now();
        while t0.elapsed() < window / 3 {
            let started = Instant::now();
            terminal
                .draw(|f| {
                    let area = f.area();
                    Sources {
                        server: &server,
                        profiles: &profiles,
                        gpu: &gpu,
                        system: &system,
                        history: &history,
                        facts: &facts,
                        logs: &ring,
                        server_url: "http://127.0.0.1:8080",
                        api: &api,
                        claude: None,
                        router: None,
                    }
                    .with_view(0, |view| {
                        render::frame(f.buffer_mut(), area, &mut app, view, &mut claude);
                    })
                })
                .unwrap();
            times.push(started.elapsed());
            next += frame;
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let cpu = (thread_cpu() - cpu0).as_secs_f64() / t0.elapsed().as_secs_f64() * 100.0;
        times.sort();
        rows.push(format!(
            "| llws frame, {label} | {} | {} | {} | {} | {cpu:.1} % |",
            times.len(),
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99)),
            ms(*times.last().unwrap()),
        ));
    }
    let elapsed = wall.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let rate = pushed.load(Ordering::Relaxed) as f64 / elapsed;
    println!(
        "\n### Frames at 30 fps while the log takes {RATE} lines/s ({:.0} lines/s achieved, 160x50)\n",
        rate
    );
    println!("| what | frames | median | p99 | max | CPU of one core |");
    println!("|---|---:|---:|---:|---:|---:|");
    for r in rows {
        println!("{r}");
    }
    if let (Some(t), Some((s0, p0))) = (&peer, peer_cpu_start) {
        let s1 = cpu_seconds(t.server_pid()).unwrap_or(0.0);
        let p1 = cpu_seconds(t.pane_pid()).unwrap_or(0.0);
        println!(
            "| peer: tmux server + `tail -f` of the same lines, 160x50 (same seconds) | | | | | {:.1} % + {:.1} % |",
            (s1 - s0) / elapsed * 100.0,
            (p1 - p0) / elapsed * 100.0
        );
    }
}

fn idle(window: Duration) {
    let env = support::Fixtures::get();
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    std::os::unix::fs::symlink(
        env.model_dir().join(env.model_file()),
        models.join("tiny.gguf"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("models.conf"),
        "[tiny]\nNAME=SmolLM2 135M\nMODEL=tiny.gguf\nCTX_SIZE=2048\n",
    )
    .unwrap();
    let port = support::free_port();
    let config = dir.path().join("llws.toml");
    std::fs::write(
        &config,
        format!(
            "backend = \"process\"\n[server]\nport = {port}\nllama_server = \"{}\"\n[api]\nbind = \"127.0.0.1:{}\"\n[claude]\ncommand = \"bash --norc --noprofile -i\"\n",
            env.llama_server().display(),
            support::free_port()
        ),
    )
    .unwrap();
    let llws = Tmux::start(
        "llws",
        160,
        50,
        &format!(
            "exec env LLWS_STATE_DIR={} {} --config {} tiny",
            dir.path().join("state").display(),
            env!("CARGO_BIN_EXE_llws"),
            config.display()
        ),
    );
    support::wait_for("llws running the model", Duration::from_secs(120), || {
        llws.screen().contains("SmolLM2 135M running").then_some(())
    });
    let mut peers = vec![(
        "llws (workspace, tiny model loaded)",
        llws.pane_pid(),
        None::<Tmux>,
    )];
    for (name, cmd) in [("btop", "btop"), ("htop", "htop")] {
        if Command::new("which")
            .arg(cmd)
            .output()
            .is_ok_and(|o| o.status.success())
        {
            let t = Tmux::start(name, 160, 50, cmd);
            peers.push((name, t.pane_pid(), Some(t)));
        } else {
            println!("{name} is not installed (apt-get install {name}); not measured");
        }
    }
    // Let every program settle (btop's first screens, llws's first samples).
    std::thread::sleep(Duration::from_secs(5));
    let start: Vec<f64> = peers
        .iter()
        .map(|(_, pid, _)| cpu_seconds(*pid).unwrap_or(0.0))
        .collect();
    let t0 = Instant::now();
    std::thread::sleep(window);
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "\n### Idle over {:.0} s, 160x50, each in its own tmux window (same run)\n",
        secs
    );
    println!("| program | CPU of one core | RSS |");
    println!("|---|---:|---:|");
    for ((name, pid, _), s0) in peers.iter().zip(start) {
        let cpu = (cpu_seconds(*pid).unwrap_or(0.0) - s0) / secs * 100.0;
        let rss = rss_kib(*pid).unwrap_or(0) as f64 / 1024.0;
        println!("| {name} | {cpu:.2} % | {rss:.1} MiB |");
    }
    // Quit llws the way a user does, so its server stops.
    let _ = llws.out(&["send-keys", "C-\\", "q"]);
    std::thread::sleep(Duration::from_millis(300));
    let _ = llws.out(&["send-keys", "y"]);
    support::wait_for("llws to stop its server", Duration::from_secs(30), || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .is_err()
            .then_some(())
    });
}
