//! The router on the inference port, in-process, in front of the real llama-server with the
//! tiny model (process backend): what passes through unchanged, what waits through a
//! switch, what follow mode does, and who is refused.

mod harness;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use harness::{TestEnv, wait_phase};
use llws::config::Settings;
use llws::config::settings::BackendKind;
use llws::router::{RouterServer, RouterStatus};
use llws::server::ControllerHandle;
use llws::server::process::ProcessBackend;
use llws::server::state::Phase;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use support::free_port;

const LOAD: Duration = Duration::from_secs(120);

/// The two tests that keep several clients busy through many switches take turns: run
/// side by side (the harness runs a file's tests in parallel) they starve each other and
/// the lighter tests of CPU on a small machine.
static MANY_CLIENTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Routed {
    env: TestEnv,
    ctl: ControllerHandle,
    router: RouterServer,
    /// The router's address (what clients use).
    url: String,
    /// llama-server's own address behind it.
    direct: String,
}

impl Routed {
    async fn start(edit: impl FnOnce(&mut Settings)) -> Self {
        let mut env = TestEnv::new(BackendKind::Process);
        env.settings.router.upstream_port = free_port();
        edit(&mut env.settings);
        let public = Arc::new(env.settings.clone());
        let backend = llws::server::upstream::backend_settings(&public, &env.state_dir());
        let process = ProcessBackend::new(
            backend.server.llama_server.clone(),
            backend.server.port,
            env.state_dir(),
        )
        .with_gpus(backend.server.gpu_selection());
        let direct = backend.server.base_url();
        let ctl = llws::server::controller::spawn(process, Arc::new(backend));
        let router = llws::router::serve(ctl.clone(), public.clone())
            .await
            .expect("the router starts");
        let url = public.server.base_url();
        Self {
            env,
            ctl,
            router,
            url,
            direct,
        }
    }

    /// Gives each profile `slots` parallel slots (models.conf rewritten) and waits until the
    /// controller has read it.
    fn with_slots(&self, slots: u32) {
        let args = format!("--jinja -np {slots}");
        std::fs::write(
            &self.env.settings.models_conf,
            harness::MODELS_CONF.replace("-np 1", &format!("-np {slots}")),
        )
        .unwrap();
        support::wait_for("the slots in models.conf", LOAD, || {
            self.ctl
                .profiles()
                .set
                .get("tiny-b")
                .is_some_and(|p| p.extra_args() == Some(args.as_str()))
                .then_some(())
        });
    }

    fn status(&self) -> RouterStatus {
        self.router.handle().status()
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(900))
        .build()
        .unwrap()
}

async fn post(url: &str, path: &str, body: &Value) -> (u16, Value) {
    let resp = client()
        .post(format!("{url}{path}"))
        .json(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e:?}"));
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn chat(model: &str) -> Value {
    json!({"model": model, "max_tokens": 2, "temperature": 0,
           "messages": [{"role": "user", "content": "Say hi"}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_through_unchanged_and_streams_as_it_comes() {
    let r = Routed::start(|_| {}).await;
    r.ctl.switch("tiny-a").await.unwrap();
    assert_ne!(r.url, r.direct, "llama-server is behind the router");

    // Byte-identical answers, direct and through the router.
    for (path, body) in [
        ("/tokenize", json!({"content": "Hello, router!"})),
        ("/detokenize", json!({"tokens": [1, 2, 3, 4]})),
        (
            "/apply-template",
            json!({"messages": [{"role": "user", "content": "hi"}]}),
        ),
    ] {
        let one = |base: String| {
            let body = body.clone();
            async move {
                let resp = client()
                    .post(format!("{base}{path}"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                (resp.status().as_u16(), resp.bytes().await.unwrap())
            }
        };
        let direct = one(r.direct.clone()).await;
        let routed = one(r.url.clone()).await;
        assert_eq!(direct.0, 200, "{path}");
        assert_eq!(direct, routed, "{path}: the same bytes either way");
    }
    // A real completion: the same text (ids and timings differ per request).
    let strip = |mut v: Value| {
        for k in ["id", "created", "timings", "usage", "system_fingerprint"] {
            v.as_object_mut().unwrap().remove(k);
        }
        v
    };
    let (s1, direct) = post(&r.direct, "/v1/chat/completions", &chat("x")).await;
    let (s2, routed) = post(&r.url, "/v1/chat/completions", &chat("x")).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(strip(direct), strip(routed));

    // Streaming: the first event arrives on its own, long before the last.
    let resp = client()
        .post(format!("{}/completion", r.url))
        .json(
            &json!({"prompt": "Once upon a time", "n_predict": 60, "stream": true,
                      "ignore_eos": true, "temperature": 0}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut resp = resp;
    let first = resp.chunk().await.unwrap().expect("a first chunk");
    let first_at = Instant::now();
    let first = String::from_utf8_lossy(&first).to_string();
    assert!(first.starts_with("data: "), "{first}");
    assert!(
        !first.contains("\"stop\":true"),
        "the first read must not be the whole answer: {first}"
    );
    let mut chunks = 1;
    let mut last = String::new();
    while let Some(chunk) = resp.chunk().await.unwrap() {
        chunks += 1;
        last = String::from_utf8_lossy(&chunk).to_string();
    }
    assert!(chunks > 10, "events came one by one ({chunks} reads)");
    assert!(last.contains("\"stop\":true"), "{last}");
    assert!(first_at.elapsed() > Duration::ZERO);

    // The activity record has llama-server's own figures.
    let activity = r.router.handle().activity().recent(10);
    let streamed = activity.last().unwrap();
    assert_eq!(streamed.endpoint, "/completion");
    assert!(streamed.stream);
    assert_eq!(streamed.generated_tokens, Some(60), "{streamed:?}");
    assert!(streamed.gen_tps.unwrap() > 0.0 && streamed.ttft_ms.is_some());
    r.ctl.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_clients_through_twenty_switches_lose_nothing() {
    let _turn = MANY_CLIENTS.lock().await;
    let r = Routed::start(|s| {
        s.router.follow_model = true;
        s.server.stop_timeout_s = 10;
        // Every request in flight is let finish: on a loaded 2-core machine a reply can
        // take over the default 30 s, and a cut-off is a failed request.
        s.router.drain_s = 600;
    })
    .await;
    // A slot per client: with one, llama-server's queue lets a request starve behind the
    // others on a busy machine (its own scheduling, not the router's).
    r.with_slots(9);
    r.ctl.switch("tiny-a").await.unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut clients = Vec::new();
    for i in 0..8 {
        let (url, stop, ok, failed) = (r.url.clone(), stop.clone(), ok.clone(), failed.clone());
        clients.push(tokio::spawn(async move {
            // Alternating endpoints and shapes; the model name matches no profile, so
            // whatever runs serves it.
            let (path, body) = if i % 2 == 0 {
                ("/v1/chat/completions", chat("client"))
            } else {
                (
                    "/v1/messages",
                    json!({"model": "claude-x", "max_tokens": 1,
                           "messages": [{"role": "user", "content": "hi"}]}),
                )
            };
            while !stop.load(Ordering::Relaxed) {
                let (status, body) = post(&url, path, &body).await;
                if status == 200 {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.lock().unwrap().push(format!("{status} {body}"));
                }
            }
        }));
    }
    let before = r.ctl.timings().len();
    for n in 0..20 {
        let want = if n % 2 == 0 { "tiny-b" } else { "tiny-a" };
        let (status, body) = post(&r.url, "/v1/chat/completions", &chat(want)).await;
        assert_eq!(status, 200, "switch {n}: {body}");
        assert_eq!(r.ctl.state().profile.as_deref(), Some(want));
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    let switches = r.ctl.timings().len() - before;
    assert_eq!(switches, 20, "every request for the other model switched");
    let failed = failed.lock().unwrap().clone();
    assert!(failed.is_empty(), "failed requests: {failed:?}");
    assert!(ok.load(Ordering::Relaxed) >= 8, "the clients were served");
    r.ctl.shutdown(false).await;
}

/// Two requests for two other models while the running one's minimum residency holds:
/// the second waits for its own switch, not failing when the first's switch ends (it
/// used to: any request-driven switch ending counted as the answer to every waiting one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_waits_for_its_own_switch_when_another_ends_first() {
    let r = Routed::start(|s| {
        s.router.follow_model = true;
        s.router.min_residency_s = 3;
    })
    .await;
    r.ctl.switch("tiny-a").await.unwrap();
    let ask = |model: &'static str| {
        let url = r.url.clone();
        tokio::spawn(async move { post(&url, "/v1/chat/completions", &chat(model)).await })
    };
    let to_b = ask("tiny-b");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let to_c = ask("bench-tiny");
    let (status, body) = to_b.await.unwrap();
    assert_eq!(status, 200, "tiny-b: {body}");
    let (status, body) = to_c.await.unwrap();
    assert_eq!(
        status, 200,
        "bench-tiny, asked while tiny-b's switch was pending: {body}"
    );
    assert_eq!(r.ctl.state().profile.as_deref(), Some("bench-tiny"));
    r.ctl.shutdown(false).await;
}

/// Clients that each name the model of the moment drive the switches themselves: one that
/// read the old name just before a flip asks for it mid-switch. Each waits for its own
/// model, never failing because a switch to another model ended first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_following_the_model_of_the_moment_are_all_answered() {
    let _turn = MANY_CLIENTS.lock().await;
    let r = Routed::start(|s| {
        s.router.follow_model = true;
        s.server.stop_timeout_s = 10;
        s.router.drain_s = 600;
    })
    .await;
    r.with_slots(5);
    r.ctl.switch("tiny-a").await.unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let current = Arc::new(std::sync::Mutex::new("tiny-a".to_string()));
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (url, stop, current, ok, failed) = (
            r.url.clone(),
            stop.clone(),
            current.clone(),
            ok.clone(),
            failed.clone(),
        );
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let model = current.lock().unwrap().clone();
                let (status, body) = post(&url, "/v1/chat/completions", &chat(&model)).await;
                if status == 200 {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed
                        .lock()
                        .unwrap()
                        .push(format!("{model}: {status} {body}"));
                }
            }
        }));
    }
    for n in 0..10 {
        let want = if n % 2 == 0 { "tiny-b" } else { "tiny-a" };
        *current.lock().unwrap() = want.to_string();
        let (status, body) = post(&r.url, "/v1/chat/completions", &chat(want)).await;
        assert_eq!(status, 200, "switch {n} to {want}: {body}");
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    let failed = failed.lock().unwrap().clone();
    assert!(failed.is_empty(), "failed requests: {failed:?}");
    assert!(ok.load(Ordering::Relaxed) >= 4, "the clients were served");
    r.ctl.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_requests_get_a_failed_load_in_their_own_shape() {
    let r = Routed::start(|s| {
        s.server.stop_timeout_s = 120;
        s.server.stop_grace_s = 120;
    })
    .await;
    r.ctl.switch("tiny-a").await.unwrap();
    // Hold the stop step open (the server cannot exit while stopped), switch to a model
    // llama-server refuses, and send requests while the switch is under way.
    let pid = r.ctl.state().pid.unwrap();
    kill(Pid::from_raw(pid as i32), Signal::SIGSTOP).unwrap();
    let pending = r.ctl.begin_switch("corrupt").unwrap();
    wait_phase(&r.ctl, Phase::Stopping, LOAD).await;
    let anthropic = tokio::spawn({
        let url = r.url.clone();
        async move {
            post(
                &url,
                "/v1/messages",
                &json!({"model": "m", "max_tokens": 4,
                        "messages": [{"role": "user", "content": "hi"}]}),
            )
            .await
        }
    });
    let openai = tokio::spawn({
        let url = r.url.clone();
        async move { post(&url, "/v1/chat/completions", &chat("m")).await }
    });
    support::wait_for("two queued requests", LOAD, || {
        (r.status().queued == 2).then_some(())
    });
    kill(Pid::from_raw(pid as i32), Signal::SIGCONT).unwrap();
    let _ = pending.outcome().await;
    assert_eq!(r.ctl.state().phase, Phase::Failed);
    let (status, body) = anthropic.await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], "api_error", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("Corrupt file"),
        "names the model: {message}"
    );
    let (status, body) = openai.await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], 503, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("failed to load")
    );
    r.ctl.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_switch_cuts_off_a_stream_with_an_error_event() {
    let r = Routed::start(|_| {}).await;
    r.ctl.switch("tiny-a").await.unwrap();
    let mut resp = client()
        .post(format!("{}/v1/messages", r.url))
        .json(&json!({"model": "m", "max_tokens": 1500, "stream": true,
                      "messages": [{"role": "user", "content": "Count to a thousand."}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let _first = resp.chunk().await.unwrap().unwrap();
    let switch = r.ctl.begin_switch("tiny-b").unwrap();
    let mut text = String::new();
    let ended = tokio::time::timeout(LOAD, async {
        while let Ok(Some(chunk)) = resp.chunk().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream ends, never hangs");
    assert!(
        text.contains("event: error") && text.contains("switching to Tiny B"),
        "the stream ends with an Anthropic error event: …{}",
        &text[text.len().saturating_sub(400)..]
    );
    switch.outcome().await.unwrap();
    r.ctl.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_mode_switches_on_model_and_keeps_residency() {
    let r = Routed::start(|s| {
        s.router.follow_model = true;
        s.router.min_residency_s = 3;
    })
    .await;
    std::fs::write(
        &r.env.settings.models_conf,
        format!(
            "{}\n",
            harness::MODELS_CONF.replace("NAME=Tiny B\n", "NAME=Tiny B\nALIASES=small, fast\n")
        ),
    )
    .unwrap();
    support::wait_for("the alias is read", LOAD, || {
        r.ctl.profiles().set.resolve("fast").map(|_| ())
    });
    // Nothing runs: a request naming a profile loads it.
    let (status, body) = post(&r.url, "/v1/chat/completions", &chat("tiny-a")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(r.ctl.state().profile.as_deref(), Some("tiny-a"));
    let a_since = r.ctl.state().running_since_ms.unwrap();
    // Unknown names are served by what runs: no switch.
    let (status, _) = post(&r.url, "/v1/chat/completions", &chat("gpt-4o")).await;
    assert_eq!(status, 200);
    assert_eq!(r.ctl.state().running_since_ms, Some(a_since));
    // An alias switches, but not before tiny-a has been up 3 s.
    let (status, body) = post(&r.url, "/v1/chat/completions", &chat("fast")).await;
    assert_eq!(status, 200, "{body}");
    let state = r.ctl.state();
    assert_eq!(state.profile.as_deref(), Some("tiny-b"));
    let last = r.ctl.last_timings().unwrap();
    let began = last.finished_at_ms - last.total_ms;
    assert!(
        began + 50 >= a_since + 3000,
        "the switch began {} ms after tiny-a was up (min residency 3 s)",
        began as i64 - a_since as i64
    );

    // /v1/models, OpenAI's shape and Anthropic's.
    let resp = client()
        .get(format!("{}/v1/models", r.url))
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "list");
    let b = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "tiny-b")
        .unwrap();
    assert_eq!(b["running"], true);
    assert_eq!(b["aliases"], json!(["small", "fast"]));
    let resp = client()
        .get(format!("{}/v1/models", r.url))
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["has_more"], false);
    assert_eq!(v["data"][0]["type"], "model");
    assert_eq!(v["first_id"], "tiny-a");
    r.ctl.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_unload_and_reload_on_the_next_request() {
    let r = Routed::start(|s| s.router.idle_unload_s = 2).await;
    r.ctl.switch("tiny-a").await.unwrap();
    assert!(r.status().unload_at_ms.is_some());
    wait_phase(&r.ctl, Phase::Idle, Duration::from_secs(30)).await;
    assert_eq!(r.status().unloaded_idle.as_deref(), Some("tiny-a"));
    // Ready as far as a client's health check goes: the next request loads it.
    let (status, _) = harness::http_get(&format!("{}/health", r.url)).await;
    assert_eq!(status, 200);
    let (status, body) = post(&r.url, "/v1/chat/completions", &chat("x")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(r.ctl.state().profile.as_deref(), Some("tiny-a"));
    assert_eq!(r.status().unloaded_idle, None);
    r.ctl.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_other_hosts_origins_and_missing_keys() {
    let r = Routed::start(|s| {
        s.server.api_key = "s3cret-key".into();
        s.router.cors_origins = vec!["http://localhost:3000".into()];
    })
    .await;
    r.ctl.switch("tiny-a").await.unwrap();
    let port = r.router.local_addr().port();
    let get = |headers: Vec<(&'static str, String)>| {
        let url = format!("{}/v1/models", r.url);
        async move {
            let mut req = client().get(url);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let cors = resp
                .headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap().to_string());
            (status, cors, resp.text().await.unwrap())
        }
    };
    let key = ("authorization", "Bearer s3cret-key".to_string());
    assert_eq!(get(vec![]).await.0, 401, "no key");
    assert_eq!(get(vec![("x-api-key", "wrong".into())]).await.0, 401);
    assert_eq!(get(vec![key.clone()]).await.0, 200);
    assert_eq!(get(vec![("x-api-key", "s3cret-key".into())]).await.0, 200);
    let (status, _, body) = get(vec![key.clone(), ("host", format!("evil.example:{port}"))]).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("DNS rebinding"), "{body}");
    let (status, _, _) = get(vec![key.clone(), ("origin", "https://evil.example".into())]).await;
    assert_eq!(status, 403);
    let (status, _, _) = get(vec![key.clone(), ("sec-fetch-site", "cross-site".into())]).await;
    assert_eq!(status, 403);
    let (status, cors, _) = get(vec![
        key.clone(),
        ("origin", "http://localhost:3000".into()),
    ])
    .await;
    assert_eq!(
        (status, cors.as_deref()),
        (200, Some("http://localhost:3000"))
    );
    // A refusal on /v1/messages is in Anthropic's shape.
    let (status, body) = post(&r.url, "/v1/messages", &json!({"model": "m"})).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["type"], "authentication_error", "{body}");
    r.ctl.shutdown(false).await;
}
