//! What one monitor sample costs, against what the original and llama-swap pay for theirs:
//! spawning `nvidia-smi` once per sample. `cargo bench --bench monitor` prints a Markdown
//! table for docs/benchmarks.md.
//!
//! Where nvidia-smi is missing, spawning `true` stands in: the cheapest possible process,
//! so the ratio against it is a floor for the ratio against nvidia-smi (which on an H200
//! took ~23.6 ms; scripts/gpu-check measures both on the GPU machine).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use llws::monitor::{GpuSampler, ProcessStats, SystemSampler};

/// The query the original's GPU panel ran every 2 s.
const NVIDIA_SMI_QUERY: &str = "--query-gpu=index,name,memory.used,memory.total,utilization.gpu,power.draw,power.limit,temperature.gpu";

struct Row {
    what: String,
    runs: usize,
    median: Duration,
    p90: Duration,
}

fn measure(what: &str, runs: usize, pause: Duration, mut f: impl FnMut()) -> Row {
    f(); // warm: first-call costs (dlopen, page faults) are not a sample's cost
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            std::thread::sleep(pause);
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    times.sort();
    Row {
        what: what.to_string(),
        runs,
        median: times[runs / 2],
        p90: times[runs * 9 / 10],
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

fn spawn(program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("spawn");
    assert!(status.success(), "{program} failed");
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{model}, {cores} cores, Linux {}", kernel.trim())
}

fn main() {
    // `cargo bench` passes --bench; this harness takes no options.
    let mut rows = Vec::new();
    let mut notes = Vec::new();

    // sysinfo refuses CPU readings closer than 200 ms apart, and then skips the work, so
    // each run waits that long first: the figure is a real sample's cost.
    let mut system = SystemSampler::new().expect("sysinfo");
    rows.push(measure(
        "system sample (CPU, per-core, load, memory)",
        30,
        sysinfo::MINIMUM_CPU_UPDATE_INTERVAL + Duration::from_millis(10),
        || {
            std::hint::black_box(system.sample());
        },
    ));

    let mut process = ProcessStats::new();
    let me = std::process::id();
    rows.push(measure(
        "server footprint, process backend (this process's tree)",
        200,
        Duration::ZERO,
        || {
            std::hint::black_box(process.read(me));
        },
    ));

    match GpuSampler::init(Path::new("")) {
        Ok(gpu) => {
            let slow = gpu.sample_slow(true);
            rows.push(measure(
                &format!("GPU fast sample ({} GPUs, NVML)", gpu.device_count()),
                100,
                Duration::ZERO,
                || {
                    std::hint::black_box(gpu.sample(None, &slow));
                },
            ));
            rows.push(measure(
                "GPU slow sample (PCIe, display; its own task)",
                5,
                Duration::ZERO,
                || {
                    std::hint::black_box(gpu.sample_slow(true));
                },
            ));
        }
        Err(reason) => {
            notes.push(format!("No GPU here ({reason})."));
            rows.push(measure(
                "no-GPU path: one NVML start that fails (done once, then every 60 s)",
                100,
                Duration::ZERO,
                || {
                    std::hint::black_box(GpuSampler::init(Path::new("")).err());
                },
            ));
        }
    }

    let has_nvidia_smi = on_path("nvidia-smi");
    if has_nvidia_smi {
        let args = [NVIDIA_SMI_QUERY, "--format=csv,noheader,nounits"];
        rows.push(measure(
            "spawn `nvidia-smi --query-gpu=...`",
            30,
            Duration::ZERO,
            || spawn("nvidia-smi", &args),
        ));
    } else {
        notes.push(
            "nvidia-smi is not installed here, so spawning `true` stands in for it: the ratios \
             below are a floor for the ratios against nvidia-smi."
                .into(),
        );
    }
    rows.push(measure(
        "spawn `true` (any subprocess's floor)",
        100,
        Duration::ZERO,
        || spawn("true", &[]),
    ));
    // The peer is nvidia-smi where it exists, else `true`.
    let peer = if has_nvidia_smi {
        rows.len() - 2
    } else {
        rows.len() - 1
    };
    let peer_median = rows[peer].median;
    let peer_name = rows[peer].what.clone();

    println!("Machine: {}", machine());
    for note in &notes {
        println!("{note}");
    }
    println!();
    println!("| what | runs | median | p90 | peer ÷ this |");
    println!("|---|---:|---:|---:|---:|");
    for (i, row) in rows.iter().enumerate() {
        let ratio = peer_median.as_secs_f64() / row.median.as_secs_f64();
        println!(
            "| {} | {} | {:.1} µs | {:.1} µs | {} |",
            row.what,
            row.runs,
            row.median.as_secs_f64() * 1e6,
            row.p90.as_secs_f64() * 1e6,
            if i == peer {
                "peer".to_string()
            } else {
                format!("{ratio:.0}×")
            }
        );
    }
    println!();
    println!("Peer: {peer_name}, measured in the same run.");
}
