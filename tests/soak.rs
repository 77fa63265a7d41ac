//! A bounded soak: back-to-back switches with requests in flight, through each backend.
//! Afterwards nothing is left behind (no server process, no container, no log file, no
//! file descriptor) and llws's memory has not grown by more than 5 MB (printed).
//! `LLWS_SOAK_SWITCHES` sets the count (default 200).

mod harness;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use harness::TestEnv;
use llws::config::settings::BackendKind;
use llws::server::Outcome;

fn switches() -> usize {
    std::env::var("LLWS_SOAK_SWITCHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Processes whose command line serves `port` (a llama-server left behind).
fn servers_on(port: u16) -> Vec<u32> {
    let wanted = port.to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|raw| {
                let args: Vec<&[u8]> = raw.split(|b| *b == 0).collect();
                args.windows(2)
                    .any(|w| w[0] == b"--port" && w[1] == wanted.as_bytes())
            })
        })
        .collect()
}

fn containers_named(env: &TestEnv) -> String {
    let out = std::process::Command::new("docker")
        .env("DOCKER_HOST", &env.settings.server.docker_host)
        .args([
            "ps",
            "-a",
            "--filter",
            &format!("name={}", env.settings.server.container),
            "--format",
            "{{.Names}}",
        ])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Sends one short request to the server without waiting for it: the switch that follows
/// stops a server with a request in flight.
fn request_in_flight(client: &reqwest::Client, base_url: &str, sent: &Arc<AtomicU64>) {
    let request = client
        .post(format!("{base_url}/completion"))
        .json(&serde_json::json!({"prompt": "Say hi", "n_predict": 8}))
        .send();
    sent.fetch_add(1, Ordering::Relaxed);
    tokio::spawn(async move {
        let _ = request.await;
    });
}

async fn soak(backend: BackendKind) {
    let mut env = TestEnv::new(backend);
    env.settings.server.health_interval_ms = 10;
    // A busy server gets its second SIGTERM after a third of this.
    env.settings.server.stop_grace_s = 1;
    let port = env.settings.server.port;
    let ctl = match backend {
        BackendKind::Process => env.spawn_process_controller(),
        BackendKind::Docker => env.spawn_docker_controller(),
    };
    let sent = Arc::new(AtomicU64::new(0));
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let profiles = ["tiny-a", "tiny-b"];
    let total = switches();
    // A few switches first: the allocator, the runtime's threads and the pools settle.
    let warm_up = 10.min(total);
    let mut rss_before = 0;
    let mut fds_before = 0;
    let started = Instant::now();
    for i in 0..total + warm_up {
        if i == warm_up {
            rss_before = rss_kib();
            fds_before = open_fds();
        }
        let id = profiles[i % 2];
        if i > 0 {
            request_in_flight(&client, &env.base_url(), &sent);
            // Long enough for the server to take it, before the switch stops it.
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        let outcome = ctl.switch(id).await.unwrap();
        assert_eq!(
            outcome,
            Outcome::Running {
                profile: id.to_string()
            },
            "switch {i}"
        );
    }
    let took = started.elapsed();
    drop(client);
    assert_eq!(ctl.stop().await.unwrap(), Outcome::Stopped);
    ctl.shutdown(false).await;
    // Let closed connections and finished tasks go.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let rss_after = rss_kib();
    let fds_after = open_fds();
    let grew_kib = rss_after.saturating_sub(rss_before);
    println!(
        "{backend} soak: {total} switches in {:.1} s ({:.0} ms each), {} requests sent; RSS {} -> {} KiB (+{} KiB), fds {} -> {}",
        took.as_secs_f64(),
        took.as_secs_f64() * 1000.0 / (total + warm_up) as f64,
        sent.load(Ordering::Relaxed),
        rss_before,
        rss_after,
        grew_kib,
        fds_before,
        fds_after
    );
    assert!(grew_kib < 5 * 1024, "RSS grew by {grew_kib} KiB");
    assert!(
        fds_after <= fds_before,
        "file descriptors leaked: {fds_before} -> {fds_after}"
    );
    assert_eq!(servers_on(port), Vec::<u32>::new(), "a server left running");
    let logs: Vec<_> = std::fs::read_dir(env.state_dir())
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        !logs.iter().any(|n| n.to_string_lossy().contains(".log")),
        "log files left: {logs:?}"
    );
    if backend == BackendKind::Docker {
        assert_eq!(containers_named(&env), "", "a container left");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switches_through_the_native_backend_leak_nothing() {
    soak(BackendKind::Process).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switches_through_the_docker_backend_leak_nothing() {
    soak(BackendKind::Docker).await;
}
