//! One endpoint across hosts (issue 15, item 4): two real llws processes on loopback with
//! their own state folders and ports. The remote is `llws serve` with the tiny model; the
//! client is `llws serve` with a `[[remote]]` for it. A switch to `ID@NAME` through the
//! client goes through the remote's API (its `/status` changes) and stops the client's
//! own server; the client's router then forwards to the remote's inference port; a switch
//! to a second remote's profile stops the first remote's server; a switch back to a local
//! profile stops the remote's server and serves here again.

mod harness;
mod support;

use std::time::Duration;

use harness::TestEnv;
use harness::api::Api;
use harness::serve::{LlwsServe, llws};
use llws::config::remotes::RemoteSettings;
use llws::config::settings::BackendKind;

const LOAD: Duration = Duration::from_secs(120);
/// `llws serve ARGS` for `env` (its settings file written), and its API once it answers.
async fn serve(env: &TestEnv, args: &[&str]) -> (LlwsServe, Api) {
    let config = env.write_settings_file();
    let serve = LlwsServe::start(&config, &env.state_dir(), env.settings.server.port, args);
    let api = Api::new(env.settings.api.base_url());
    api.wait_up(Duration::from_secs(30)).await;
    (serve, api)
}

/// A `[[remote]]` for the llws of `env`, reached directly on loopback.
fn loopback_remote(name: &str, env: &TestEnv) -> RemoteSettings {
    RemoteSettings {
        name: name.into(),
        url: env.settings.api.base_url(),
        token: String::new(),
        ssh: String::new(),
        ssh_config: Default::default(),
        server_port: env.settings.server.port,
    }
}

fn run(config: &std::path::Path, state: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = llws(config, state, args).output().expect("run llws");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A completion through `router` (the client's inference port); its answer and status.
async fn complete(router: &str) -> (u16, serde_json::Value) {
    let reply = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{router}/completion"))
        .json(&serde_json::json!({"prompt": "Hello", "n_predict": 4}))
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap_or_default())
}

/// How many requests the remote's router has seen (its `/activity`).
async fn remote_requests(remote: &Api) -> usize {
    remote.get("/activity?limit=100").await.json()["requests"]
        .as_array()
        .map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_to_a_remote_profile_goes_through_its_api_and_the_router_follows() {
    // The remote: llws serve, idle.
    let remote = TestEnv::new(BackendKind::Process);
    let (_remote_serve, remote_api) = serve(&remote, &[]).await;
    // A second remote, idle too.
    let rack = TestEnv::new(BackendKind::Process);
    let (_rack_serve, rack_api) = serve(&rack, &[]).await;

    // The client: llws serve with tiny-a here and the remote as `box`.
    let mut client = TestEnv::new(BackendKind::Process);
    client
        .settings
        .remotes
        .push(loopback_remote("box", &remote));
    client.settings.remotes.push(loopback_remote("rack", &rack));
    let client_config = client.write_settings_file();
    let client_state = client.state_dir();
    let (_client_serve, client_api) = serve(&client, &["--profile", "tiny-a"]).await;
    client_api
        .wait_status("tiny-a running here", LOAD, |s| s["state"] == "running")
        .await;
    let router = client.settings.server.base_url();
    let local_upstream = client_api.status().await["router"]["upstream"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, answer) = complete(&router).await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(remote_requests(&remote_api).await, 0);

    // The remote's profiles are the client's too, named after it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let models = client_api.get("/models").await.json();
        let ids: Vec<String> = models["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect();
        if ids.iter().any(|i| i == "tiny-b@box") {
            assert_eq!(ids[0], "tiny-a", "this machine's come first: {ids:?}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no remote profiles: {ids:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Local -> remote: the remote's controller does the work; the client names the host.
    let (code, out, err) = run(&client_config, &client_state, &["switch", "tiny-b@box"]);
    assert_eq!(code, 0, "{out}{err}");
    let status = remote_api.status().await;
    assert_eq!(
        (status["state"].as_str(), status["model"].as_str()),
        (Some("running"), Some("tiny-b")),
        "{status}"
    );
    let status = client_api.status().await;
    assert_eq!(status["model"], "tiny-b@box", "{status}");
    assert_eq!(status["host"], "box", "{status}");
    assert_eq!(
        status["router"]["upstream"],
        format!("127.0.0.1:{}", remote.settings.server.port)
    );
    // This machine's server was stopped: nothing listens on its port any more.
    assert!(
        std::net::TcpStream::connect(&local_upstream).is_err(),
        "the local server still listens on {local_upstream}"
    );
    // The client's router: answered by the remote's model.
    let (code, answer) = complete(&router).await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(remote_requests(&remote_api).await, 1, "the remote answered");

    // `--remote NAME` asks the remote directly.
    let (code, out, err) = run(
        &client_config,
        &client_state,
        &["status", "--remote", "box", "--json"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"tiny-b\""), "{out}");
    let (code, out, err) = run(
        &client_config,
        &client_state,
        &["logs", "--remote", "box", "-n", "400"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("--- "), "the remote's log: {out}");

    // Remote -> remote: the first remote's server stops, the second serves.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !client_api.get("/models").await.body.contains("tiny-a@rack") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no profiles of rack"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (code, out, err) = run(&client_config, &client_state, &["switch", "tiny-a@rack"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(client_api.status().await["model"], "tiny-a@rack");
    assert_eq!(rack_api.status().await["model"], "tiny-a");
    remote_api
        .wait_status("the first remote stopped", Duration::from_secs(30), |s| {
            s["state"] == "idle"
        })
        .await;
    let (code, answer) = complete(&router).await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(
        remote_requests(&rack_api).await,
        1,
        "the second remote answered"
    );
    assert_eq!(remote_requests(&remote_api).await, 1);

    // Remote -> local: the remote's server stops, this machine serves again.
    let (code, out, err) = run(&client_config, &client_state, &["switch", "tiny-a"]);
    assert_eq!(code, 0, "{out}{err}");
    let status = client_api.status().await;
    assert_eq!(status["model"], "tiny-a", "{status}");
    assert!(status.get("host").is_none(), "{status}");
    rack_api
        .wait_status("the remote stopped", Duration::from_secs(30), |s| {
            s["state"] == "idle"
        })
        .await;
    let (code, answer) = complete(&router).await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(remote_requests(&remote_api).await, 1, "answered here");

    // `llws switch --remote` switches the remote itself; an unknown remote names those
    // there are.
    let (code, out, err) = run(
        &client_config,
        &client_state,
        &["switch", "--remote", "box", "tiny-a"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(remote_api.status().await["model"], "tiny-a");
    let (code, _, err) = run(&client_config, &client_state, &["switch", "tiny-a@nowhere"]);
    assert_eq!(code, 1);
    assert!(err.contains("nowhere"), "{err}");
}

/// `llws serve --profile ID@NAME`: the start waits for the remote's profiles, then the
/// remote's controller loads it; and a workspace-less client started while a remote
/// already serves follows it (the router points there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_may_name_a_remote_profile() {
    let remote = TestEnv::new(BackendKind::Process);
    let (mut remote_serve, remote_api) = serve(&remote, &[]).await;
    let mut client = TestEnv::new(BackendKind::Process);
    client
        .settings
        .remotes
        .push(loopback_remote("box", &remote));
    let (client_serve, client_api) = serve(&client, &["--profile", "tiny-b@box"]).await;
    client_api
        .wait_status("tiny-b@box running", LOAD, |s| {
            s["state"] == "running" && s["model"] == "tiny-b@box"
        })
        .await;
    assert_eq!(
        remote_api.status().await["model"],
        "tiny-b",
        "{}",
        client_serve.text()
    );
    // A second client, started while the remote serves, follows it without a switch.
    let mut second = TestEnv::new(BackendKind::Process);
    second.settings.remotes = client.settings.remotes.clone();
    let second_config = second.write_settings_file();
    let (_second_serve, second_api) = serve(&second, &[]).await;
    second_api
        .wait_status(
            "following the serving remote",
            Duration::from_secs(20),
            |s| s["model"] == "tiny-b@box",
        )
        .await;
    let (code, answer) = complete(&second.settings.server.base_url()).await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(remote_requests(&remote_api).await, 1);

    // The remote goes away: not "running" any more, and a switch away from it still works
    // (its server cannot be stopped from here; the log says so).
    remote_serve.signal(nix::sys::signal::Signal::SIGTERM);
    remote_serve.wait_exit(Duration::from_secs(30));
    let status = second_api
        .wait_status(
            "the remote marked unreachable",
            Duration::from_secs(20),
            |s| s["state"] == "failed",
        )
        .await;
    assert!(
        status["status"]
            .as_str()
            .is_some_and(|m| m.contains("stopped answering")),
        "{status}"
    );
    let (code, answer) = complete(&second.settings.server.base_url()).await;
    assert_eq!(code, 503, "refused at once: {answer}");
    let (code, out, err) = run(&second_config, &second.state_dir(), &["switch", "tiny-a"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, answer) = complete(&second.settings.server.base_url()).await;
    assert_eq!(code, 200, "{answer}");
}
