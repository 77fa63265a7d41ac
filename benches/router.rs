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
        // A fresh connection per request on both roads: llama-server closes a connection
        // after a streamed answer, and a pooled client may race that close.
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
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

        // The same sequence of request-driven switches with 4 clients sending all along,
        // through llws's router and then through llama.cpp's router mode.
        let llws_run = switch_sequence(&client, &routed, switches).await;
        router.shutdown().await;
        ctl.shutdown(false).await;
        let llama_run = llama_cpp_router_mode(&client, fixtures, dir.path(), switches).await;
        println!("\n| road | switches | requests answered | failed | total (s) |\n|---|---:|---:|---:|---:|");
        println!("| llws router, follow_model, 4 clients | {switches} | {} | {} | {:.1} |", llws_run.0, llws_run.1, llws_run.2);
        match llama_run {
            Some((ok, failed, total)) => println!(
                "| llama.cpp router mode (`--models-preset`, `--models-max 1`), 4 clients | {switches} | {ok} | {failed} | {total:.1} |"
            ),
            None => println!("| llama.cpp router mode | not run: the test image did not start |"),
        }
    });
}

/// `switches` request-driven switches (alternating tiny-b, tiny-a) through `url` while 4
/// clients send short chat requests all along, each naming the model the last switch asked
/// for (llama.cpp's router refuses a name it does not know; llws would serve any). Returns
/// (answered, failed, total seconds).
async fn switch_sequence(
    client: &reqwest::Client,
    url: &str,
    switches: usize,
) -> (usize, usize, f64) {
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let current = Arc::new(std::sync::Mutex::new("tiny-a".to_string()));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (client, url, stop, ok, failed, current) = (
            client.clone(),
            url.to_string(),
            stop.clone(),
            ok.clone(),
            failed.clone(),
            current.clone(),
        );
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let model = current.lock().unwrap().clone();
                if chat(&client, &url, &model).await {
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
        *current.lock().unwrap() = want.to_string();
        if !chat(client, url, want).await {
            failed.fetch_add(1, Ordering::Relaxed);
        }
    }
    let total = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    (
        ok.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
        total,
    )
}

/// One short chat request naming `model`; whether it was answered (200 and a whole body).
/// A failure is printed with what came back, so a run's failures can be told apart.
async fn chat(client: &reqwest::Client, url: &str, model: &str) -> bool {
    let sent = Instant::now();
    let r = client
        .post(format!("{url}/v1/chat/completions"))
        .json(&json!({"model": model, "max_tokens": 2,
                      "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await;
    let failure = match r {
        Ok(r) => {
            let status = r.status().as_u16();
            match r.bytes().await {
                Ok(_) if status == 200 => return true,
                Ok(body) => format!(
                    "{status}: {}",
                    String::from_utf8_lossy(&body[..body.len().min(300)])
                ),
                Err(e) => format!("{status}, body cut: {e:?}"),
            }
        }
        Err(e) => format!("no answer: {e:?}"),
    };
    eprintln!(
        "failed request (model {model}, after {} ms) to {url}: {failure}",
        sent.elapsed().as_millis()
    );
    false
}

/// The peer: llama.cpp's own router mode with the same two profiles as presets, one model
/// at a time, in the test image (host networking) where its child servers can start (the
/// native fixture runs through ld.so, which its children cannot).
async fn llama_cpp_router_mode(
    client: &reqwest::Client,
    fixtures: &support::Fixtures,
    dir: &std::path::Path,
    switches: usize,
) -> Option<(usize, usize, f64)> {
    let port = support::free_port();
    let preset = dir.join("preset.ini");
    std::fs::write(
        &preset,
        "[tiny-a]\nmodel = /models/tiny.gguf\nctx-size = 2048\nparallel = 4\n\n\
         [tiny-b]\nmodel = /models/tiny.gguf\nctx-size = 4096\nparallel = 4\n",
    )
    .unwrap();
    let name = format!("llws-bench-llama-router-{port}");
    let docker = |args: &[&str]| {
        std::process::Command::new("docker")
            .env("DOCKER_HOST", fixtures.docker_host())
            .args(args)
            .output()
    };
    let models = format!("{}:/models:ro", dir.join("models").display());
    let presets = format!("{}:/preset.ini:ro", preset.display());
    let port_s = port.to_string();
    let started = docker(&[
        "run",
        "-d",
        "--rm",
        "--name",
        &name,
        "--network",
        "host",
        "-v",
        &models,
        "-v",
        &presets,
        fixtures.image(),
        "--models-preset",
        "/preset.ini",
        "--models-max",
        "1",
        "--host",
        "127.0.0.1",
        "--port",
        &port_s,
    ])
    .ok()
    .filter(|o| o.status.success());
    started.as_ref()?;
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    while client
        .get(format!("{url}/health"))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .ok()
        != Some(200)
    {
        if Instant::now() > deadline {
            let _ = docker(&["rm", "-f", &name]);
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The first model loads on the first request, as in llws's run it was already loaded.
    chat(client, &url, "tiny-a").await;
    let run = switch_sequence(client, &url, switches).await;
    let _ = docker(&["rm", "-f", &name]);
    Some(run)
}
