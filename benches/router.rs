//! The router's cost: time to first token and generation speed of a streamed completion,
//! straight to llama-server and through llws's router, alternating, on the same server;
//! then failed requests and total time across a sequence of request-driven switches under
//! load. `cargo bench --bench router` prints Markdown for docs/benchmarks.md; under
//! `cargo test` it runs a few rounds as a smoke check.
//!
//! Needs the test fixtures (`scripts/fixtures`): the native llama-server and the tiny model.

#[path = "../tests/support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use llws::config::Settings;
use llws::config::settings::BackendKind;
use llws::server::process::ProcessBackend;
use serde_json::json;

const CONF: &str = "[tiny-a]\nNAME=Tiny A\nMODEL=tiny.gguf\nCTX_SIZE=2048\nEXTRA_ARGS=--jinja -np 4\n\n[tiny-b]\nNAME=Tiny B\nMODEL=tiny.gguf\nCTX_SIZE=4096\nEXTRA_ARGS=--jinja -np 4\n";

fn quantile(v: &[f64], q: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// One streamed completion: (time to first token in ms, generated tokens/s as the client
/// sees them arrive).
async fn stream_once(client: &reqwest::Client, base: &str) -> (f64, f64) {
    let started = Instant::now();
    let mut resp = client
        .post(format!("{base}/completion"))
        .json(
            &json!({"prompt": "Once upon a time", "n_predict": 48, "stream": true,
                      "ignore_eos": true, "temperature": 0, "cache_prompt": false}),
        )
        .send()
        .await
        .expect("POST /completion");
    assert_eq!(resp.status().as_u16(), 200);
    let mut first = None;
    let mut last = started;
    let mut tokens = 0usize;
    while let Some(chunk) = resp.chunk().await.expect("a chunk") {
        let now = Instant::now();
        let events = chunk
            .split(|b| *b == b'\n')
            .filter(|l| l.starts_with(b"data: "))
            .count();
        if events > 0 {
            first.get_or_insert(now);
            last = now;
            tokens += events;
        }
    }
    let first = first.expect("at least one event");
    let ttft = first.duration_since(started).as_secs_f64() * 1000.0;
    let gen_s = last.duration_since(first).as_secs_f64().max(1e-6);
    (ttft, (tokens.saturating_sub(1)) as f64 / gen_s)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let rounds = if full { 40 } else { 2 };
    let switches = if full { 20 } else { 2 };
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
        models_dir: models,
        backend: BackendKind::Process,
        ..Settings::default()
    };
    settings.server.port = support::free_port();
    settings.server.llama_server = fixtures.llama_server();
    settings.server.gpus = "none".into();
    settings.router.upstream_port = support::free_port();
    settings.router.follow_model = true;
    let state_dir = dir.path().join("state");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let public = Arc::new(settings);
        let backend = llws::server::upstream::backend_settings(&public, &state_dir);
        let process = ProcessBackend::new(
            backend.server.llama_server.clone(),
            backend.server.port,
            state_dir.clone(),
        )
        .with_gpus(backend.server.gpu_selection());
        let direct = backend.server.base_url();
        let ctl = llws::server::controller::spawn(process, Arc::new(backend));
        let router = llws::router::serve(ctl.clone(), public.clone()).await.unwrap();
        let routed = public.server.base_url();
        ctl.switch("tiny-a").await.unwrap();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        // Warm-up on both roads.
        stream_once(&client, &direct).await;
        stream_once(&client, &routed).await;
        let (mut d_ttft, mut d_tps, mut r_ttft, mut r_tps) = (vec![], vec![], vec![], vec![]);
        for i in 0..rounds {
            // Alternate which side goes first.
            let order = if i % 2 == 0 { [true, false] } else { [false, true] };
            for via_router in order {
                if via_router {
                    let (t, s) = stream_once(&client, &routed).await;
                    r_ttft.push(t);
                    r_tps.push(s);
                } else {
                    let (t, s) = stream_once(&client, &direct).await;
                    d_ttft.push(t);
                    d_tps.push(s);
                }
            }
        }
        println!("| road | TTFT median (ms) | TTFT p99 | gen tok/s median | gen tok/s p99 (slowest 1%) | runs |");
        println!("|---|---:|---:|---:|---:|---:|");
        for (name, ttft, tps) in [
            ("direct to llama-server", &d_ttft, &d_tps),
            ("through llws's router", &r_ttft, &r_tps),
        ] {
            println!(
                "| {name} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
                quantile(ttft, 0.5),
                quantile(ttft, 0.99),
                quantile(tps, 0.5),
                quantile(tps, 0.01),
                ttft.len()
            );
        }
        println!(
            "\nrouter/direct: TTFT median {:.3} (router adds {:.2} ms), gen tok/s median {:.3}",
            quantile(&r_ttft, 0.5) / quantile(&d_ttft, 0.5),
            quantile(&r_ttft, 0.5) - quantile(&d_ttft, 0.5),
            quantile(&r_tps, 0.5) / quantile(&d_tps, 0.5)
        );

        // A sequence of request-driven switches with 4 clients sending all along.
        let stop = Arc::new(AtomicBool::new(false));
        let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut clients = Vec::new();
        for _ in 0..4 {
            let (client, url, stop, ok, failed) =
                (client.clone(), routed.clone(), stop.clone(), ok.clone(), failed.clone());
            clients.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let r = client
                        .post(format!("{url}/v1/chat/completions"))
                        .json(&json!({"model": "any", "max_tokens": 2,
                                      "messages": [{"role": "user", "content": "hi"}]}))
                        .send()
                        .await;
                    let answered = match r {
                        Ok(r) => r.status().as_u16() == 200 && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    if answered {
                        ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        let started = Instant::now();
        for n in 0..switches {
            let want = if n % 2 == 0 { "tiny-b" } else { "tiny-a" };
            let r = client
                .post(format!("{routed}/v1/chat/completions"))
                .json(&json!({"model": want, "max_tokens": 2,
                              "messages": [{"role": "user", "content": "hi"}]}))
                .send()
                .await
                .unwrap();
            if r.status().as_u16() != 200 {
                failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        let total = started.elapsed();
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.await.unwrap();
        }
        println!(
            "\n| road | switches | requests answered | failed | total (s) |\n|---|---:|---:|---:|---:|\n| llws router, follow_model, 4 clients | {switches} | {} | {} | {:.1} |",
            ok.load(Ordering::Relaxed),
            failed.load(Ordering::Relaxed),
            total.as_secs_f64()
        );
        router.shutdown().await;
        ctl.shutdown(false).await;
    });
}
