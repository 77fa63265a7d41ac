//! GET /status throughput and latency on loopback, against the real `llws serve` (process
//! backend, the test fixtures' llama-server and tiny model), idle and during switches,
//! with llama-server's own GET /health measured in the same run as the peer.
//!
//! `cargo bench --bench api` (needs `scripts/fixtures`). LLWS_BENCH_SECS (default 5) sets
//! each phase's length, LLWS_BENCH_CONC (default 8) the concurrent keep-alive clients.
//! `cargo test --all-targets` runs it too, without `--bench`: then each phase lasts 300 ms,
//! a smoke run that keeps the bench working without holding up the suite.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[path = "../tests/support/mod.rs"]
#[allow(unused)]
mod support;
use support::{Fixtures, free_port};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.0.wait();
    }
}

#[derive(Default)]
struct Run {
    latencies_us: Vec<u64>,
    elapsed: Duration,
    errors: u64,
}

impl Run {
    fn pct(&self, p: f64) -> f64 {
        let mut v = self.latencies_us.clone();
        v.sort_unstable();
        if v.is_empty() {
            return f64::NAN;
        }
        v[((v.len() - 1) as f64 * p / 100.0).round() as usize] as f64 / 1000.0
    }

    fn row(&self, what: &str, conc: u64) -> String {
        format!(
            "| {what} | {conc} | {} | {:.0} | {:.3} | {:.3} | {:.3} | {} |",
            self.latencies_us.len(),
            self.latencies_us.len() as f64 / self.elapsed.as_secs_f64(),
            self.pct(50.0),
            self.pct(90.0),
            self.pct(99.0),
            self.errors
        )
    }
}

/// `conc` clients, each on its own keep-alive connection, GET `url` back to back for
/// `secs`; `check` sees each body.
async fn hammer(
    url: &str,
    conc: u64,
    length: Duration,
    check: Arc<dyn Fn(&str) + Send + Sync>,
) -> Run {
    let stop_at = Instant::now() + length;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(1)
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let url = url.to_string();
        let check = check.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            while Instant::now() < stop_at {
                let t = Instant::now();
                match client.get(&url).send().await {
                    Ok(r) if r.status().is_success() => {
                        let body = r.text().await.unwrap_or_default();
                        lat.push(t.elapsed().as_micros() as u64);
                        check(&body);
                    }
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let mut run = Run::default();
    for t in tasks {
        let (lat, errors) = t.await.unwrap();
        run.latencies_us.extend(lat);
        run.errors += errors;
    }
    run.elapsed = started.elapsed();
    run
}

async fn wait_running(client: &reqwest::Client, api: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(r) = client.get(format!("{api}/status")).send().await
            && let Ok(v) = r.json::<serde_json::Value>().await
            && v["state"] == "running"
        {
            return;
        }
        assert!(Instant::now() < deadline, "llws serve never got running");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test` does not.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let length = if smoke {
        Duration::from_millis(300)
    } else {
        Duration::from_secs(env_num("LLWS_BENCH_SECS", 5))
    };
    let conc = env_num("LLWS_BENCH_CONC", 8);
    let f = Fixtures::get();
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    std::os::unix::fs::symlink(f.model_dir().join(f.model_file()), models.join("tiny.gguf"))
        .unwrap();
    std::fs::write(
        dir.path().join("models.conf"),
        "[tiny-a]\nNAME=Tiny A\nMODEL=tiny.gguf\nCTX_SIZE=2048\nEXTRA_ARGS=-np 1\n\n\
         [tiny-b]\nNAME=Tiny B\nMODEL=tiny.gguf\nCTX_SIZE=4096\nEXTRA_ARGS=-np 1\n",
    )
    .unwrap();
    // llws's router holds the inference port; llama-server itself listens on the
    // upstream port, and that is the peer (the router answers `/health` itself).
    let (server_port, upstream_port, api_port) = (free_port(), free_port(), free_port());
    std::fs::write(
        dir.path().join("llws.toml"),
        format!(
            "backend = \"process\"\n[server]\nport = {server_port}\nllama_server = \"{}\"\ngpus = \"none\"\n[router]\nupstream_port = {upstream_port}\n[api]\nbind = \"127.0.0.1:{api_port}\"\n",
            f.llama_server().display()
        ),
    )
    .unwrap();
    let _serve = Serve(
        Command::new(env!("CARGO_BIN_EXE_llws"))
            .arg("--config")
            .arg(dir.path().join("llws.toml"))
            .args(["serve", "--profile", "tiny-a"])
            .env("LLWS_STATE_DIR", dir.path().join("state"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start llws serve"),
    );
    let api = format!("http://127.0.0.1:{api_port}");
    let server = format!("http://127.0.0.1:{upstream_port}");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        wait_running(&client, &api).await;
        let nothing: Arc<dyn Fn(&str) + Send + Sync> = Arc::new(|_| {});
        if !smoke {
            // Warm-up: connections, caches.
            let second = Duration::from_secs(1);
            hammer(&format!("{api}/status"), conc, second, nothing.clone()).await;
            hammer(&format!("{server}/health"), conc, second, nothing.clone()).await;
        }

        // Rounds, the side that goes first alternating, so load that comes and goes on a
        // shared machine falls on both; the ratios are per round.
        let rounds = if smoke { 1 } else { env_num("LLWS_BENCH_ROUNDS", 3) };
        let mut rows = Vec::new();
        let mut ratios: Vec<(u64, f64, f64)> = Vec::new();
        for round in 0..rounds {
            for c in [1, conc] {
                let llws_first = round % 2 == 0;
                let mut ours = None;
                let mut peer = None;
                for llws_side in [llws_first, !llws_first] {
                    if llws_side {
                        ours = Some(hammer(&format!("{api}/status"), c, length, nothing.clone()).await);
                    } else {
                        peer = Some(hammer(&format!("{server}/health"), c, length, nothing.clone()).await);
                    }
                }
                let (ours, peer) = (ours.unwrap(), peer.unwrap());
                let rate = |h: &Run| h.latencies_us.len() as f64 / h.elapsed.as_secs_f64();
                ratios.push((c, rate(&ours) / rate(&peer), ours.pct(99.0) / peer.pct(99.0)));
                rows.push(ours.row(&format!("llws GET /status, idle (a model running), round {}", round + 1), c));
                rows.push(peer.row(&format!("peer: llama-server GET /health, round {}", round + 1), c));
            }
        }

        // During switches: one client switches back and forth, waiting for each.
        let switching = Arc::new(AtomicBool::new(true));
        let switches = Arc::new(AtomicU64::new(0));
        let driver = tokio::spawn({
            let (switching, switches, api, client) =
                (switching.clone(), switches.clone(), api.clone(), client.clone());
            async move {
                let mut target = "tiny-b";
                while switching.load(Ordering::Relaxed) {
                    let r = client
                        .post(format!("{api}/switch"))
                        .body(format!("{{\"model\":\"{target}\"}}"))
                        .send()
                        .await
                        .unwrap();
                    let v: serde_json::Value = r.json().await.unwrap();
                    assert_eq!(v["success"], true, "{v}");
                    switches.fetch_add(1, Ordering::Relaxed);
                    target = if target == "tiny-b" { "tiny-a" } else { "tiny-b" };
                }
            }
        });
        let busy = Arc::new(AtomicU64::new(0));
        let seen_busy: Arc<dyn Fn(&str) + Send + Sync> = Arc::new({
            let busy = busy.clone();
            move |body: &str| {
                if body.contains("\"state\": \"starting\"") || body.contains("\"state\": \"stopping\"")
                {
                    busy.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        let r = hammer(&format!("{api}/status"), conc, length, seen_busy).await;
        switching.store(false, Ordering::Relaxed);
        driver.await.unwrap();
        rows.push(r.row("llws GET /status, during back-to-back switches", conc));
        let share = busy.load(Ordering::Relaxed) as f64 / r.latencies_us.len().max(1) as f64;

        println!(
            "\n{:.1} s per row{}; each client on one keep-alive connection, requests back to back.\n",
            length.as_secs_f64(),
            if smoke { " (smoke run: `cargo bench --bench api` measures)" } else { "" }
        );
        println!("| what | clients | requests | req/s | p50 ms | p90 ms | p99 ms | errors |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|");
        for row in rows {
            println!("{row}");
        }
        for c in [1, conc] {
            let of_c: Vec<&(u64, f64, f64)> = ratios.iter().filter(|r| r.0 == c).collect();
            let span = |f: fn(&(u64, f64, f64)) -> f64| {
                let v: Vec<f64> = of_c.iter().map(|r| f(r)).collect();
                let (lo, hi) = v.iter().fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(*x), b.max(*x)));
                format!("{lo:.2}–{hi:.2} ({})", v.iter().map(|x| format!("{x:.2}")).collect::<Vec<_>>().join(", "))
            };
            println!(
                "\n{c} client(s), llws/peer per round: req/s {}; p99 {}",
                span(|r| r.1),
                span(|r| r.2)
            );
        }
        println!(
            "\nDuring the switch row: {} switches completed; {} of {} /status answers ({:.2} %) showed state starting or stopping.",
            switches.load(Ordering::Relaxed),
            busy.load(Ordering::Relaxed),
            r.latencies_us.len(),
            share * 100.0
        );
    });
}
