//! `[[remote]]` hosts reached through a real SSH tunnel: Debian's sshd on a loopback port
//! with keys and configs made for the test (harness/sshd.rs), forwarding to a real
//! `llws serve` (process backend, the tiny model) whose API listens on loopback only.
//! The supervisor's ssh is the system's; sshd is killed and started again underneath it.

mod harness;
mod support;

use std::time::Duration;

use harness::TestEnv;
use harness::api::Api;
use harness::serve::{LlwsServe, llws};
use harness::sshd::Sshd;
use llws::config::settings::{BackendKind, parse_settings};
use llws::remote::{Backoff, Tunnel, TunnelPlan, TunnelState};

const LOAD: Duration = Duration::from_secs(120);
const TUNNEL: Duration = Duration::from_secs(30);

fn run(config: &std::path::Path, state: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = llws(config, state, args).output().expect("run llws");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn wait_state(
    tunnel: &Tunnel,
    what: &str,
    pred: impl Fn(&TunnelState) -> bool,
) -> TunnelState {
    let mut rx = tunnel.state.clone();
    match tokio::time::timeout(TUNNEL, rx.wait_for(|s| pred(s))).await {
        Ok(Ok(state)) => state.clone(),
        _ => panic!(
            "the tunnel never became {what}; last: {:?}",
            tunnel.state.borrow()
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervised_tunnel_reaches_llws_serve_and_survives_an_sshd_restart() {
    // The remote: llws serve on loopback, with the tiny model running.
    let remote = TestEnv::new(BackendKind::Process);
    let remote_config = remote.write_settings_file();
    let _serve = LlwsServe::start(
        &remote_config,
        &remote.state_dir(),
        remote.settings.server.port,
        &["--profile", "tiny-a"],
    );
    let direct = Api::new(remote.settings.api.base_url());
    direct.wait_up(Duration::from_secs(30)).await;
    direct
        .wait_status("tiny-a running", LOAD, |s| s["state"] == "running")
        .await;

    let sshd_dir = remote.dir.path().join("sshd");
    let mut sshd = Sshd::start(&sshd_dir);

    // This machine's llws.toml with the remote, checked as a user's would be.
    let client_dir = tempfile::tempdir().unwrap();
    let client_config = client_dir.path().join("llws.toml");
    let text = format!(
        "backend = \"process\"\n\n[[remote]]\nname = \"gpu-box\"\nurl = \"{}\"\nssh = \"{}\"\nssh_config = \"{}\"\nserver_port = {}\n",
        remote.settings.api.base_url(),
        sshd.destination,
        sshd.client_config.display(),
        remote.settings.server.port,
    );
    std::fs::write(&client_config, &text).unwrap();
    let settings = parse_settings(&text, &client_config).expect("the [[remote]] entry is valid");
    let mut plan = TunnelPlan::for_remote(&settings.remotes[0])
        .expect("ssh is set")
        .unwrap();
    plan.backoff = Backoff {
        first: Duration::from_millis(200),
        max: Duration::from_secs(1),
    };
    plan.alive_interval = Duration::from_secs(1);

    let tunnel = Tunnel::start(plan);
    let up = wait_state(&tunnel, "up", |s| matches!(s, TunnelState::Up { .. })).await;
    let TunnelState::Up {
        api_port,
        server_port,
    } = up
    else {
        unreachable!()
    };
    assert_ne!(api_port, remote.settings.api.socket_addr().unwrap().port());
    // The remote's API and its llama-server, through the forwards.
    let through = Api::new(format!("http://127.0.0.1:{api_port}")).unpooled();
    // Under the local port's name, the remote's DNS-rebinding check refuses it...
    let refused = through.get("/status").await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    // ...under its own name (what llws's client sends through a tunnel) it answers.
    let remote_host = settings.remotes[0].authority().unwrap();
    let through = through.with_host(&remote_host);
    let status = through.status().await;
    assert_eq!(
        (status["state"].as_str(), status["model"].as_str()),
        (Some("running"), Some("tiny-a"))
    );
    // The inference port behind the forward: the router's Host check wants the port it
    // listens on, as the API's does.
    let health = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("http://127.0.0.1:{server_port}/health"))
        .header("host", format!("127.0.0.1:{}", remote.settings.server.port))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    // `llws status --remote NAME` starts its own tunnel for the one request.
    let client_state = client_dir.path().join("state");
    let (code, out, err) = run(
        &client_config,
        &client_state,
        &["status", "--remote", "gpu-box"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("running") && out.contains("tiny-a"), "{out}");
    let (code, out, err) = run(
        &client_config,
        &client_state,
        &["status", "--remote", "gpu-box", "--json"],
    );
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["model"], "tiny-a");
    // A name that is not there: the ones that are, and nothing started.
    let (code, _, err) = run(
        &client_config,
        &client_state,
        &["status", "--remote", "gpu-bx"],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("there are: gpu-box") && err.contains("--remote gpu-box"),
        "{err}"
    );

    // sshd dies with its sessions: the supervisor says down, with ssh's reason and the retry.
    sshd.kill();
    let down = wait_state(&tunnel, "down", |s| matches!(s, TunnelState::Down { .. })).await;
    let line = down.describe();
    assert!(
        line.starts_with("down: ") && line.contains("retry in"),
        "{line}"
    );
    // While sshd is away, the attempts fail and are retried (connection refused).
    wait_state(
        &tunnel,
        "down again after a retry",
        |s| matches!(s, TunnelState::Down { reason, .. } if reason.contains("refused")),
    )
    .await;
    // `llws status --remote` says the tunnel is not up, with the reason.
    let (code, _, err) = run(
        &client_config,
        &client_state,
        &["status", "--remote", "gpu-box"],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("ssh tunnel to gpu-box") && err.contains("down"),
        "{err}"
    );

    // sshd back: the tunnel comes up again on the same local ports.
    sshd.restart();
    let again = wait_state(&tunnel, "up again", |s| matches!(s, TunnelState::Up { .. })).await;
    assert_eq!(
        again,
        TunnelState::Up {
            api_port,
            server_port
        }
    );
    assert_eq!(through.status().await["model"], "tiny-a");

    // Dropping the tunnel stops its ssh: the local end closes.
    drop(tunnel);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", api_port)).is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "ssh outlived its tunnel"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
