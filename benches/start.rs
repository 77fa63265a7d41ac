//! A cold start until "running": llws's controller (process backend, default settings)
//! against llama-server alone, started with the very argv llws gave it and polled at
//! `/health` every 5 ms (the fastest a script would reasonably poll). The two sides
//! alternate, round after round, and the ratio is taken per round, so the machine's noise
//! hits both. `cargo bench --bench start` prints the figures for docs/benchmarks.md; under
//! `cargo test` it runs one round as a smoke check.
//!
//! Needs the test fixtures (`scripts/fixtures`).

#[path = "../tests/harness/mod.rs"]
#[allow(unused_imports)]
mod harness;
#[path = "../tests/support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::TestEnv;
use llws::config::settings::BackendKind;
use llws::server::Outcome;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// llws: `switch` on an idle controller until it answers Running; returns the time and
/// the argv the server got (read back from /proc, so the peer runs exactly the same).
async fn llws_start(env: &TestEnv) -> (Duration, Vec<String>) {
    let ctl = env.spawn_process_controller();
    let started = Instant::now();
    let outcome = ctl.switch("tiny-a").await.expect("llws starts tiny-a");
    let took = started.elapsed();
    assert!(matches!(outcome, Outcome::Running { .. }), "{outcome:?}");
    let pid = ctl.state().pid.expect("a running server has a pid");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("read cmdline");
    let argv = cmdline
        .split(|b| *b == 0)
        .filter(|part| !part.is_empty())
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect();
    ctl.stop().await.expect("stop");
    ctl.shutdown(false).await;
    (took, argv)
}

/// The peer: the same argv started by hand, `/health` polled every 5 ms until 200.
async fn bare_start(argv: &[String], base_url: &str) -> Duration {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let health = format!("{base_url}/health");
    let started = Instant::now();
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn llama-server");
    loop {
        if let Ok(reply) = client.get(&health).send().await
            && reply.status() == 200
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "llama-server did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = started.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    took
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let rounds = if bench { 15 } else { 1 };
    let env = TestEnv::new(BackendKind::Process);
    let base_url = env.base_url();

    // One warm-up of each side: the page cache holds the model and the binary after it.
    let (_, argv) = llws_start(&env).await;
    bare_start(&argv, &base_url).await;

    let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate which side goes first, so neither always follows a cold moment.
        let (a, b) = if round % 2 == 0 {
            let a = llws_start(&env).await.0;
            (a, bare_start(&argv, &base_url).await)
        } else {
            let b = bare_start(&argv, &base_url).await;
            (llws_start(&env).await.0, b)
        };
        ours.push(ms(a));
        theirs.push(ms(b));
        ratios.push(ms(a) / ms(b));
    }
    if !bench {
        println!(
            "start smoke: llws {:.0} ms, llama-server alone {:.0} ms",
            ours[0], theirs[0]
        );
        return;
    }
    let (min, max) = ratios
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
    println!("| side | rounds | median | min | max |");
    println!("|---|---|---|---|---|");
    for (name, v) in [
        ("llws until running", &ours),
        ("llama-server alone, 5 ms poll", &theirs),
    ] {
        let lo = v.iter().copied().fold(f64::MAX, f64::min);
        let hi = v.iter().copied().fold(f64::MIN, f64::max);
        println!(
            "| {name} | {rounds} | {:.0} ms | {lo:.0} ms | {hi:.0} ms |",
            median(v.clone())
        );
    }
    println!(
        "\nratio llws / alone per round: median {:.2}, min {min:.2}, max {max:.2}",
        median(ratios)
    );
}
