//! The management API served in-process (`llws::api::serve`) over real HTTP on loopback,
//! with a real controller (process backend). These cases need no model loaded: every
//! refusal, the security checks, slow clients, binding and shutdown. The switches
//! themselves are tested against `llws serve` in tests/api_serve.rs.

mod harness;
mod support;

use std::net::SocketAddr;
use std::time::Duration;

use harness::TestEnv;
use harness::api::{Api, SseReader, raw, raw_status};
use llws::api::types::{ModelsResponse, StatusResponse};
use llws::api::{ApiError, ApiServer, Limits, routes};
use llws::config::settings::{ApiSettings, BackendKind};
use llws::server::ControllerHandle;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn serve(env: &TestEnv, limits: Limits) -> (ControllerHandle, ApiServer, Api) {
    let ctl = env.spawn_process_controller();
    let api = llws::api::serve_with(ctl.clone(), None, &env.settings.api, limits)
        .await
        .expect("the API starts");
    let client = Api::at(api.local_addr());
    (ctl, api, client)
}

fn no_cors_headers(headers: &reqwest::header::HeaderMap) {
    for (name, _) in headers {
        assert!(
            !name.as_str().starts_with("access-control-"),
            "CORS header sent: {name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_and_every_refusal() {
    let env = TestEnv::new(BackendKind::Process);
    let (ctl, server, api) = serve(&env, Limits::default()).await;

    // Every route the router serves answers (the OpenAPI test holds docs/openapi.json to
    // the same list).
    for (method, path) in routes() {
        // Only the head: the streams never end.
        let reply = api.request(method, path).send().await.unwrap();
        let status = reply.status().as_u16();
        assert!(status != 404 && status != 405, "{method} {path}: {status}");
        no_cors_headers(reply.headers());
    }

    // GET /models: the original's shape, file order, bench included, ctx_size a string.
    let models = api.get("/models").await;
    assert_eq!(models.status, 200);
    assert_eq!(models.content_type(), "application/json");
    let json = models.json();
    let ids: Vec<&str> = json["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "tiny-a",
            "tiny-b",
            "missing",
            "corrupt",
            "bench-tiny",
            "truncated"
        ]
    );
    let first = &json["models"][0];
    // SmolLM2 is of no family in the client advice table: no advice (issue 17 item 5).
    assert!(first.get("client_advice").is_none(), "{first}");
    assert_eq!(first["name"], "Tiny A");
    assert_eq!(first["speed"], "~fast");
    assert_eq!(first["ctx_size"], "2048");
    assert_eq!(first["is_bench"], false);
    assert_eq!(first["active"], false);
    assert_eq!(json["models"][4]["is_bench"], true);
    let _: ModelsResponse = models.parse();

    // GET /status while idle: the original's four fields with their types.
    let status = api.get("/status").await;
    assert_eq!(status.content_type(), "application/json");
    let json = status.json();
    assert_eq!(json["model"], serde_json::Value::Null);
    assert_eq!(json["model_name"], "");
    assert_eq!(json["state"], "idle");
    assert!(json["status"].is_string());
    let parsed: StatusResponse = status.parse();
    assert_eq!(parsed.server_url, env.base_url());
    assert_eq!(parsed.backend.kind, "process");

    // 400: the original's messages, and no dropped connection for any body.
    for (body, error) in [
        ("{nope", "invalid JSON"),
        ("", "missing \"model\" field"),
        ("{}", "missing \"model\" field"),
        ("{\"model\":\"\"}", "missing \"model\" field"),
    ] {
        let r = api.post("/switch", body).await;
        assert_eq!(
            (r.status, r.error().as_str()),
            (400, error),
            "body {body:?}"
        );
        assert_eq!(r.content_type(), "application/json");
    }
    for body in ["[1]", "[]", "1", "\"tiny-a\"", "null", "{\"model\":7}"] {
        let r = api.post("/switch", body).await;
        assert_eq!(r.status, 400, "body {body:?}: {}", r.body);
        assert!(!r.error().is_empty());
    }

    // 404: unknown model (with the list), unknown path, a query on an unknown path.
    let r = api.post("/switch", "{\"model\":\"nope\"}").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error(), "unknown model: nope");
    assert_eq!(r.json()["models"][1], "tiny-b");
    for path in ["/nothere", "/status/x", "/switch/tiny-a", "/?x=1"] {
        let r = api.get(path).await;
        assert_eq!((r.status, r.error().as_str()), (404, "not found"), "{path}");
    }

    // 405 with Allow.
    for (method, path) in [
        ("DELETE", "/status"),
        ("POST", "/models"),
        ("GET", "/switch"),
    ] {
        let r = api.send(api.request(method, path)).await;
        assert_eq!(r.status, 405, "{method} {path}");
        assert_eq!(r.error(), "method not allowed");
        assert!(r.headers.contains_key("allow"), "{method} {path}");
    }

    // 413: a huge body, refused with an answer (not a reset connection).
    let huge = format!("{{\"model\":\"{}\"}}", "x".repeat(1024 * 1024));
    let r = api.post("/switch", &huge).await;
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(r.error().contains("64 KiB"), "{}", r.body);

    // 422: the profile's file is missing; the switch is refused and nothing changes.
    let r = api.post("/switch", "{\"model\":\"missing\"}").await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.error().contains("missing.gguf"), "{}", r.body);
    assert!(r.json()["file"].as_str().unwrap().ends_with("missing.gguf"));
    assert_eq!(ctl.state().phase.as_str(), "idle");

    // POST /start with nothing to start, and the same body rules.
    let r = api.post("/start", "").await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.error().contains("no profile to start"), "{}", r.body);
    assert_eq!(api.post("/start", "[1]").await.status, 400);
    assert_eq!(api.post("/start", "{\"model\":\"nope\"}").await.status, 404);

    // POST /keep-waiting with nothing loading: 409 with the state.
    let r = api.post("/keep-waiting", "").await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.error(), "no model is loading");
    assert_eq!(r.json()["state"], "idle");

    // POST /stop with nothing running: a success.
    let r = api.post("/stop", "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["success"], true);
    assert_eq!(r.json()["state"], "idle");

    // GET /logs and /metrics, /health, /openapi.json.
    let r = api.get("/logs?tail=5").await;
    assert_eq!(r.status, 200);
    assert!(r.json()["lines"].is_array());
    assert_eq!(api.get("/logs?tail=x").await.status, 400);
    let r = api.get("/metrics").await;
    assert!(
        r.content_type().starts_with("text/plain"),
        "{}",
        r.content_type()
    );
    assert!(r.body.contains("llws_up 1\n"));
    assert!(r.body.contains("llws_server_state{state=\"idle\"} 1\n"));
    assert_eq!(
        api.get("/health").await.json(),
        serde_json::json!({"status": "ok"})
    );
    let doc = api.get("/openapi.json").await.json();
    assert_eq!(doc["openapi"], "3.1.0");

    server.shutdown().await;
    ctl.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_and_rebound_names_are_refused() {
    let env = TestEnv::new(BackendKind::Process);
    let (ctl, server, api) = serve(&env, Limits::default()).await;
    let addr = server.local_addr();

    // A page on another site posting a "simple" request (no preflight) to the API.
    let r = api
        .send(
            api.request("POST", "/switch")
                .header("origin", "https://example.com")
                .header("content-type", "text/plain")
                .body("{\"model\":\"tiny-a\"}"),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    no_cors_headers(&r.headers);
    let r = api
        .send(
            api.request("GET", "/status")
                .header("sec-fetch-site", "cross-site"),
        )
        .await;
    assert_eq!(r.status, 403);
    // The preflight a browser would send for a JSON POST: refused, no CORS headers.
    let r = api
        .send(
            api.request("OPTIONS", "/switch")
                .header("origin", "https://example.com")
                .header("access-control-request-method", "POST"),
        )
        .await;
    assert_eq!(r.status, 403);
    no_cors_headers(&r.headers);
    // The API's own origin is fine (a user opening the URL in a browser).
    let r = api
        .send(
            api.request("GET", "/status")
                .header("origin", format!("http://127.0.0.1:{}", addr.port()))
                .header("sec-fetch-site", "same-origin"),
        )
        .await;
    assert_eq!(r.status, 200);

    // DNS rebinding: the name a page used comes along as Host.
    let reply = raw(
        addr,
        b"GET /status HTTP/1.1\r\nHost: attacker.example:8081\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(raw_status(&reply), 403, "{reply}");
    for host in ["localhost", "127.0.0.1", "[::1]"] {
        let request = format!(
            "GET /health HTTP/1.1\r\nHost: {host}:{}\r\nConnection: close\r\n\r\n",
            addr.port()
        );
        let reply = raw(addr, request.as_bytes()).await;
        assert_eq!(raw_status(&reply), 200, "{host}: {reply}");
    }

    // Too many headers: 431, not a crash.
    let mut request = String::from("GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for i in 0..200 {
        request.push_str(&format!("X-Filler-{i}: x\r\n"));
    }
    request.push_str("Connection: close\r\n\r\n");
    let reply = raw(addr, request.as_bytes()).await;
    assert_eq!(raw_status(&reply), 431, "{reply}");
    assert_eq!(api.get("/health").await.status, 200, "still serving");

    server.shutdown().await;
    ctl.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_clients_are_dropped_and_hold_nobody_up() {
    let env = TestEnv::new(BackendKind::Process);
    let limits = Limits {
        header_read_timeout: Duration::from_secs(1),
        body_read_timeout: Duration::from_secs(1),
        max_connections: 4,
        ..Limits::default()
    };
    let (ctl, server, api) = serve(&env, limits).await;
    let api = api.unpooled();
    let addr = server.local_addr();
    let host = format!("Host: 127.0.0.1:{}\r\n", addr.port());

    // Half a request line and headers, then nothing.
    let mut stalled = Vec::new();
    for _ in 0..3 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("GET /status HTTP/1.1\r\n{host}X-Half: ").as_bytes())
            .await
            .unwrap();
        stalled.push(s);
    }
    // Everyone else is answered meanwhile.
    for _ in 0..10 {
        assert_eq!(api.get("/status").await.status, 200);
    }
    // And the stalled ones are dropped by the server (EOF without an answer, or a 408).
    for mut s in stalled {
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "the stalled connection was never closed");
        let text = String::from_utf8_lossy(&buf);
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 408"),
            "{text}"
        );
    }

    // A body that stops halfway: 408 once the body timeout passes.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("POST /switch HTTP/1.1\r\n{host}Content-Length: 100\r\n\r\n{{\"model\":")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(30), s.read(&mut buf))
        .await
        .expect("an answer to the stalled body")
        .unwrap();
    let reply = String::from_utf8_lossy(&buf[..n]);
    assert_eq!(raw_status(&reply), 408, "{reply}");

    // With every slot held by stalled clients, a new request waits for a slot, then is
    // answered once they are dropped: the cap delays, it never locks out.
    let mut hogs = Vec::new();
    for _ in 0..4 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /sta").await.unwrap();
        hogs.push(s);
    }
    assert_eq!(api.get("/status").await.status, 200);
    drop(hogs);

    server.shutdown().await;
    ctl.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binding_token_and_shutdown() {
    let env = TestEnv::new(BackendKind::Process);
    let ctl = env.spawn_process_controller();

    // Not loopback, no token: refused, whatever the settings check said.
    let open = ApiSettings {
        enabled: true,
        bind: "0.0.0.0:0".into(),
        token: String::new(),
        ..ApiSettings::default()
    };
    let err = llws::api::serve(ctl.clone(), None, &open)
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, ApiError::TokenRequired { .. }), "{err}");
    assert!(err.to_string().contains("[api] token"), "{err}");

    // Disabled: an error value, not a server.
    let off = ApiSettings {
        enabled: false,
        ..env.settings.api.clone()
    };
    assert!(matches!(
        llws::api::serve(ctl.clone(), None, &off).await,
        Err(ApiError::Disabled)
    ));

    // A port in use: the clear message, as a value.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = ApiSettings {
        bind: taken.local_addr().unwrap().to_string(),
        ..env.settings.api.clone()
    };
    let err = llws::api::serve(ctl.clone(), None, &busy)
        .await
        .err()
        .expect("the port is taken");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "the management API could not bind {}: address in use (another llws?); set [api] bind",
            busy.bind
        )),
        "{message}"
    );

    // 0.0.0.0 with a token: every request needs it (connecting to 127.0.0.1 only).
    let token = "a-long-random-test-token";
    let secured = ApiSettings {
        enabled: true,
        bind: "0.0.0.0:0".into(),
        token: token.into(),
        ..ApiSettings::default()
    };
    let server = llws::api::serve(ctl.clone(), None, &secured).await.unwrap();
    let port = server.local_addr().port();
    let loopback: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let anonymous = Api::at(loopback);
    for (method, path) in routes() {
        let r = anonymous.send(anonymous.request(method, path)).await;
        assert_eq!(r.status, 401, "{method} {path}");
        assert!(!r.error().is_empty());
        assert_eq!(
            r.headers.get("www-authenticate").unwrap(),
            "Bearer realm=\"llws\""
        );
    }
    assert_eq!(
        anonymous.get("/nothere").await.status,
        401,
        "before routing"
    );
    let wrong = Api::at(loopback).with_token("a-long-random-test-tokeN");
    assert_eq!(wrong.get("/status").await.status, 401);
    let right = Api::at(loopback).with_token(token);
    assert_eq!(right.get("/status").await.status, 200);

    // Shutdown ends open streams and closes the port.
    let events = SseReader::open(&right, "/events").await;
    let logs = SseReader::open(&right, "/logs/stream").await;
    events
        .wait_for("the first state", Duration::from_secs(10), |e| {
            e.first().is_some_and(|e| e.event == "state")
        })
        .await;
    server.shutdown().await;
    events.wait_end(Duration::from_secs(10)).await;
    logs.wait_end(Duration::from_secs(10)).await;
    assert!(tokio::net::TcpStream::connect(loopback).await.is_err());

    ctl.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_stream_reader_that_falls_behind_is_told_how_much_it_missed() {
    let env = TestEnv::new(BackendKind::Process);
    let (ctl, server, _) = serve(&env, Limits::default()).await;
    let addr = server.local_addr();

    // A client that asks for the live log and then reads nothing for a while.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!(
            "GET /logs/stream?no-history HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
            addr.port()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut head = vec![0u8; 1024];
    let n = s.read(&mut head).await.unwrap();
    assert!(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"));

    // Far more lines than the socket buffers and the ring's broadcast (4096) can hold
    // while the client sleeps: written through the ring's own API, as llws's notes are.
    let line = "x".repeat(200);
    for i in 0..150_000 {
        ctl.logs().note(format!("{i} {line}"));
    }
    ctl.logs().note("the last line");

    // Now read: the stream says how many lines were skipped, and goes on to the end.
    let mut seen = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let tail = String::from_utf8_lossy(&seen[seen.len().saturating_sub(512)..]);
        if tail.contains("the last line") {
            break;
        }
        let n = tokio::time::timeout_at(deadline, s.read(&mut buf))
            .await
            .expect("the stream reaches the last line")
            .unwrap();
        assert!(n > 0, "the stream ended early");
        seen.extend_from_slice(&buf[..n]);
    }
    let seen = String::from_utf8_lossy(&seen);
    let skipped: u64 = seen
        .split("event: skipped\ndata: ")
        .skip(1)
        .map(|rest| {
            let data = rest.lines().next().unwrap();
            serde_json::from_str::<serde_json::Value>(data).unwrap()["skipped"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert!(skipped > 0, "no skip report");
    // Every line was either delivered or counted as skipped.
    let delivered = seen.matches("event: line").count() as u64;
    assert_eq!(
        delivered + skipped,
        150_001,
        "delivered {delivered}, skipped {skipped}"
    );

    server.shutdown().await;
    ctl.shutdown(false).await;
}

/// The header timeout bounds idle and slow clients only: a `/switch` that waits longer,
/// and an event stream, are not cut off by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_requests_outlive_the_header_timeout() {
    let mut env = TestEnv::new(BackendKind::Process);
    env.settings.server.stop_timeout_s = 120;
    env.settings.server.stop_grace_s = 120;
    let limits = Limits {
        header_read_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let (ctl, server, api) = serve(&env, limits).await;
    let api = api.unpooled();
    assert!(
        ctl.switch("tiny-a").await.unwrap()
            == llws::server::Outcome::Running {
                profile: "tiny-a".into()
            }
    );
    let events = SseReader::open(&api, "/events").await;
    let pid = nix::unistd::Pid::from_raw(ctl.state().pid.unwrap() as i32);
    // Hold the switch in its stop step (see tests/api_serve.rs).
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    let waiting = tokio::spawn({
        let api = api.clone();
        async move { api.post("/switch", "{\"model\":\"tiny-b\"}").await }
    });
    api.wait_status("the held switch", Duration::from_secs(60), |s| {
        s["state"] == "stopping"
    })
    .await;
    // Several header timeouts pass while the request waits and the stream is open.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!waiting.is_finished());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    let reply = waiting.await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["success"], true);
    events
        .wait_for(
            "the end of the switch on the same stream",
            Duration::from_secs(60),
            |e| e.iter().any(|e| e.event == "switch_finished"),
        )
        .await;
    assert!(!*events.ended.lock().unwrap());

    server.shutdown().await;
    ctl.shutdown(false).await;
}

/// GET /models names what a client should send to each model's family (issue 17 item 5,
/// the original's lesson 9): found from the real file (here by its name, the header being
/// SmolLM2's) in the built-in table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_carry_the_client_advice_of_their_family() {
    let env = TestEnv::new(BackendKind::Process);
    let models = &env.settings.models_dir;
    std::fs::hard_link(models.join("tiny.gguf"), models.join("Qwen3-tiny.gguf")).unwrap();
    std::fs::write(
        &env.settings.models_conf,
        "[qwen]\nMODEL=Qwen3-tiny.gguf\n\n[plain]\nMODEL=tiny.gguf\n",
    )
    .unwrap();
    let (_ctl, _server, api) = serve(&env, Limits::default()).await;
    let json = api.get("/models").await.json();
    let qwen = &json["models"][0];
    assert_eq!(qwen["client_advice"]["family"], "Qwen3", "{qwen}");
    assert!(
        qwen["client_advice"]["advice"][0]
            .as_str()
            .unwrap()
            .starts_with("thinking: temperature 0.6"),
        "{qwen}"
    );
    assert!(json["models"][1].get("client_advice").is_none(), "{json}");
}
