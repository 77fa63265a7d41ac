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
    let (server_port, api_port) = (free_port(), free_port());
    std::fs::write(
        dir.path().join("llws.toml"),
        format!(
            "backend = \"process\"\n[server]\nport = {server_port}\nllama_server = \"{}\"\ngpus = \"none\"\n[api]\nbind = \"127.0.0.1:{api_port}\"\n",
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
    let server = format!("http://127.0.0.1:{server_port}");
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

        let mut rows = Vec::new();
        for c in [1, conc] {
            let r = hammer(&format!("{api}/status"), c, length, nothing.clone()).await;
            rows.push(r.row("llws GET /status, idle (a model running)", c));
            let r = hammer(&format!("{server}/health"), c, length, nothing.clone()).await;
            rows.push(r.row("peer: llama-server GET /health", c));
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
        println!(
            "\nDuring the switch row: {} switches completed; {} of {} /status answers ({:.2} %) showed state starting or stopping.",
            switches.load(Ordering::Relaxed),
            busy.load(Ordering::Relaxed),
            r.latencies_us.len(),
            share * 100.0
        );
    });
}
