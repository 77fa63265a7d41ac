//! One model switch by llws (Docker backend) against the same stop / start / poll done with
//! the `docker` CLI on the same image and model, the two roads alternating switch by switch
//! (each with its own container and port). `cargo bench --bench switch` prints a
//! Markdown table for docs/benchmarks.md; under `cargo test` it runs one round of each as a
//! smoke check.
//!
//! Needs the test fixtures (`scripts/fixtures`) and the test dockerd (`scripts/dockerd start`).

#[path = "../tests/support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use llws::config::Settings;
use llws::config::args::{LaunchContext, server_args};
use llws::config::settings::{BackendKind, Network};
use llws::server::Outcome;
use llws::server::docker::DockerBackend;

const CONF: &str = "[tiny-a]\nNAME=Tiny A\nMODEL=tiny.gguf\nCTX_SIZE=2048\nEXTRA_ARGS=--jinja -np 1\n\n[tiny-b]\nNAME=Tiny B\nMODEL=tiny.gguf\nCTX_SIZE=4096\nEXTRA_ARGS=--jinja -np 1\n";

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn docker(host: &str, args: &[&str]) -> bool {
    Command::new("docker")
        .env("DOCKER_HOST", host)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The CLI road: `docker stop` + `docker rm`, `docker run -d`, then poll /health every
/// 100 ms (llws's interval) until 200.
fn cli_switch(
    host: &str,
    name: &str,
    image: &str,
    models: &str,
    args: &[String],
    port: u16,
) -> Duration {
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let started = Instant::now();
    docker(host, &["stop", "-t", "10", name]);
    docker(host, &["rm", "-f", name]);
    let mount = format!("{models}:/models:ro");
    let mut run = vec![
        "run",
        "-d",
        "--name",
        name,
        "--init",
        "--network",
        "host",
        "-v",
        &mount,
        image,
    ];
    run.extend(args.iter().map(String::as_str));
    assert!(docker(host, &run), "docker run failed");
    loop {
        if client
            .get(format!("http://127.0.0.1:{port}/health"))
            .send()
            .is_ok_and(|r| r.status().as_u16() == 200)
        {
            return started.elapsed();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let rounds = if full { 7 } else { 1 };
    let fixtures = support::Fixtures::get();
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    let real = fixtures.model_dir().join(fixtures.model_file());
    if std::fs::hard_link(&real, models.join("tiny.gguf")).is_err() {
        std::fs::copy(&real, models.join("tiny.gguf")).unwrap();
    }
    std::fs::write(dir.path().join("models.conf"), CONF).unwrap();
    let mut settings = Settings {
        models_conf: dir.path().join("models.conf"),
        models_dir: models.clone(),
        backend: BackendKind::Docker,
        ..Settings::default()
    };
    settings.server.port = support::free_port();
    settings.server.image = fixtures.image().to_string();
    settings.server.container = format!("llws-bench-{}", settings.server.port);
    settings.server.network = Network::Host;
    settings.server.gpus = "none".into();
    settings.server.docker_host = fixtures.docker_host().to_string();
    let host = settings.server.docker_host.clone();

    // The CLI road runs its own container on its own port beside llws's, so the two roads
    // can alternate switch by switch: load that comes and goes on a shared machine falls
    // on both.
    let cli_port = support::free_port();
    let mut cli_settings = settings.clone();
    cli_settings.server.port = cli_port;
    let set = llws::config::ProfileSet::load(&settings.models_conf).unwrap();
    let launch = LaunchContext::for_settings(&cli_settings);
    let name = format!("llws-bench-cli-{cli_port}");
    let image = settings.server.image.clone();
    let models_str = models.display().to_string();
    let argv = |id: &str| server_args(set.get(id).unwrap(), &launch);
    let cli = |target: &str| {
        tokio::task::block_in_place(|| {
            cli_switch(&host, &name, &image, &models_str, &argv(target), cli_port)
        })
    };

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut llws_times = Vec::new();
    let mut cli_times = Vec::new();
    // llws's own split of each switch: stop, start (create + start), load (until /health).
    let mut stages: Vec<(u64, u64, u64)> = Vec::new();
    runtime.block_on(async {
        let ctl = llws::server::controller::spawn(
            DockerBackend::new(&settings),
            Arc::new(settings.clone()),
        );
        assert!(matches!(
            ctl.switch("tiny-a").await.unwrap(),
            Outcome::Running { .. }
        ));
        cli("tiny-a");
        for i in 0..rounds * 2 {
            let target = if i % 2 == 0 { "tiny-b" } else { "tiny-a" };
            for llws_road in [i % 2 == 0, i % 2 == 1] {
                if llws_road {
                    let started = Instant::now();
                    let outcome = ctl.switch(target).await.unwrap();
                    assert!(matches!(outcome, Outcome::Running { .. }), "{outcome:?}");
                    llws_times.push(started.elapsed());
                    if let Some(t) = ctl.last_timings() {
                        stages.push((t.stop_ms, t.start_ms, t.load_ms));
                    }
                } else {
                    cli_times.push(cli(target));
                }
            }
        }
        ctl.shutdown(false).await;
    });
    docker(&host, &["rm", "-f", &name]);
    let ratios: Vec<f64> = llws_times
        .iter()
        .zip(&cli_times)
        .map(|(l, c)| l.as_secs_f64() / c.as_secs_f64())
        .collect();

    let l = median(llws_times.clone());
    let c = median(cli_times.clone());
    println!("| road | median switch (ms) | min | max | runs |");
    println!("|---|---:|---:|---:|---:|");
    for (label, times) in [
        ("llws (bollard, 100 ms health poll)", &llws_times),
        ("docker CLI stop+rm, run -d, curl poll 100 ms", &cli_times),
    ] {
        println!(
            "| {label} | {:.0} | {:.0} | {:.0} | {} |",
            ms(median(times.clone())),
            ms(*times.iter().min().unwrap()),
            ms(*times.iter().max().unwrap()),
            times.len()
        );
    }
    let stage = |f: fn(&(u64, u64, u64)) -> u64| {
        let mut v: Vec<u64> = stages.iter().map(f).collect();
        v.sort_unstable();
        v.get(v.len() / 2).copied().unwrap_or(0)
    };
    println!(
        "\nllws's stages (median ms): stop {}, start {}, load {}",
        stage(|s| s.0),
        stage(|s| s.1),
        stage(|s| s.2)
    );
    let mut sorted = ratios.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "llws / docker CLI per alternating pair: median {:.2}, range {:.2}–{:.2}",
        sorted[sorted.len() / 2],
        sorted[0],
        sorted[sorted.len() - 1]
    );
    println!(
        "llws / docker CLI = {:.2}; llws overhead = {:+.0} ms per switch",
        l.as_secs_f64() / c.as_secs_f64(),
        ms(l) - ms(c)
    );
}
