//! `llws up` and `llws down` through the real binary, on both backends.

mod harness;
mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use harness::TestEnv;
use llws::config::settings::BackendKind;
use support::{llws_bin, wait_for};

fn health(port: u16) -> Option<u16> {
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .ok()?;
    client
        .get(format!("http://127.0.0.1:{port}/health"))
        .send()
        .ok()
        .map(|r| r.status().as_u16())
}

fn up_down(backend: BackendKind) {
    let env = TestEnv::new(backend);
    let config = env.write_settings_file();
    let port = env.settings.server.port;

    let out = Command::new(llws_bin())
        .arg("--config")
        .arg(&config)
        .args(["up", "tiny-a"])
        .env("LLWS_STATE_DIR", env.state_dir())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("Tiny A is ready at"), "{err}");
    assert_eq!(health(port), Some(200), "left running after `up`");

    let out = Command::new(llws_bin())
        .arg("--config")
        .arg(&config)
        .arg("down")
        .env("LLWS_STATE_DIR", env.state_dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(health(port), None, "stopped by `down`");

    // --logs: the log in the foreground from the first line; SIGINT stops the server.
    let mut child = Command::new(llws_bin())
        .arg("--config")
        .arg(&config)
        .args(["up", "tiny-b", "--logs"])
        .env("LLWS_STATE_DIR", env.state_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Ctrl-C while the model loads is an interruption (exit 130): wait until llws itself
    // says the server is ready, which may come a little after llama-server answers.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains(" is ready at ") {
                let _ = ready_tx.send(());
            }
        }
    });
    ready_rx
        .recv_timeout(Duration::from_secs(90))
        .expect("`llws up --logs` says the server is ready");
    assert_eq!(health(port), Some(200));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("--- starting Tiny B ---"), "{log}");
    assert!(
        log.contains("model loaded") || log.contains("listening"),
        "{log}"
    );
    assert_eq!(health(port), None, "Ctrl-C stops the server");
}

#[test]
fn up_and_down_with_the_process_backend() {
    up_down(BackendKind::Process);
}

#[test]
fn up_and_down_with_the_docker_backend() {
    up_down(BackendKind::Docker);
}

#[test]
fn down_asks_a_running_llws_instead_of_pulling_the_rug() {
    let env = TestEnv::new(BackendKind::Process);
    let config = env.write_settings_file();
    let port = env.settings.server.port;
    let serve =
        harness::serve::LlwsServe::start(&config, &env.state_dir(), port, &["--profile", "tiny-a"]);
    wait_for("llws serve to run tiny-a", Duration::from_secs(90), || {
        (health(port) == Some(200)).then_some(())
    });
    let out = harness::serve::llws(&config, &env.state_dir(), &["down"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("through the running llws"), "{err}");
    // The serving llws's router still owns the port and says no model runs.
    assert_eq!(health(port), Some(503));
    // The serving llws saw a stop, not a death: it is idle, not failed.
    let api = format!("{}/status", env.settings.api.base_url());
    let status: serde_json::Value = reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(api)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(status["state"], "idle", "{status}");
    drop(serve);
}

/// In a terminal, `llws up` offers the original's "continue anyway" before the health
/// check gives up: each Enter gives a slow load another `health_timeout_s` (3 s here,
/// against a server that needs 4 s before it even listens).
#[test]
fn up_in_a_terminal_offers_to_keep_waiting() {
    let mut env = TestEnv::new(BackendKind::Process);
    env.slow_to_listen(4);
    let config = env.write_settings_file();
    let state = env.state_dir();
    let tmux = support::tmux::Tmux::start(
        200,
        50,
        &[("LLWS_STATE_DIR", state.to_str().unwrap())],
        &format!(
            "'{}' --config '{}' up tiny-a; echo EXIT=$?; sleep 600",
            llws_bin().display(),
            config.display()
        ),
    );
    tmux.wait_text(
        "Press Enter to keep waiting another 3 s",
        Duration::from_secs(30),
    );
    for _ in 0..3 {
        tmux.keys(&["Enter"]);
    }
    let screen = tmux.wait_text("EXIT=", Duration::from_secs(90));
    assert!(
        screen.contains("waiting longer: the health check now gives up in"),
        "{screen}"
    );
    assert!(screen.contains("Tiny A is ready at"), "{screen}");
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert_eq!(health(env.settings.server.port), Some(200));
    let out = harness::serve::llws(&config, &state, &["down"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
