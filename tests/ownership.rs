//! One owner per server, through the real binary on both backends: a second llws on the
//! same server never takes control and goes through the owner; a dead owner's server is
//! adopted; the CLI works from what a kept server left when no llws runs; a start asked
//! for while Docker is down is said on stderr at once and carried out when it is back.

mod harness;
mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use harness::TestEnv;
use harness::api::{Api, health_ok};
use harness::serve::{LlwsServe, llws};
use llws::config::settings::BackendKind;
use nix::sys::signal::Signal;
use support::free_port;

const LOAD: Duration = Duration::from_secs(120);

struct Setup {
    env: TestEnv,
    config: PathBuf,
}

impl Setup {
    fn new(backend: BackendKind) -> Self {
        let env = TestEnv::new(backend);
        let config = env.write_settings_file();
        Self { env, config }
    }

    fn serve(&self, config: &Path, args: &[&str]) -> LlwsServe {
        LlwsServe::start(
            config,
            &self.env.state_dir(),
            self.env.settings.server.port,
            args,
        )
    }

    /// The same server, with the API on another port: a second llws started from another
    /// settings file (the API of the owner is found through its record, not the settings).
    fn second_config(&self) -> PathBuf {
        let mut settings = self.env.settings.clone();
        settings.api.bind = format!("127.0.0.1:{}", free_port());
        let path = self.env.dir.path().join("second.toml");
        std::fs::write(&path, settings.to_toml()).unwrap();
        path
    }

    async fn run(&self, config: &Path, args: &[&str]) -> Output {
        let mut cmd = llws(config, &self.env.state_dir(), args);
        tokio::task::spawn_blocking(move || cmd.output().expect("run llws"))
            .await
            .unwrap()
    }

    fn api(&self) -> Api {
        Api::new(self.env.settings.api.base_url())
    }
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn two_llws_one_server(backend: BackendKind) {
    let setup = Setup::new(backend);
    let mut first = setup.serve(&setup.config, &["--profile", "tiny-a"]);
    let api = setup.api();
    api.wait_up(Duration::from_secs(30)).await;
    let running = api
        .wait_status("tiny-a running", LOAD, |s| s["state"] == "running")
        .await;
    let pid = running["pid"].clone();
    let second = setup.second_config();

    // A second `llws serve` on the same server refuses, naming the owner.
    let mut refused = setup.serve(&second, &["--profile", "tiny-b"]);
    let status = refused.wait_exit(Duration::from_secs(30));
    assert!(!status.success());
    let said = refused.text();
    assert!(
        said.contains(&format!("pid {}", first.pid()))
            && said.contains(&setup.env.settings.api.base_url()),
        "{said}"
    );
    // The owner's server was not touched.
    let now = api.status().await;
    assert_eq!(
        (now["state"].clone(), now["pid"].clone()),
        ("running".into(), pid)
    );

    // `llws status` and `llws switch` from the second settings reach the owner.
    let (out, err) = text(&setup.run(&second, &["status"]).await);
    assert!(
        out.contains("Tiny A") && out.contains("running"),
        "{out}{err}"
    );
    let result = setup.run(&second, &["switch", "tiny-b"]).await;
    let (out, err) = text(&result);
    assert!(result.status.success(), "{out}{err}");
    let now = api.status().await;
    assert_eq!(now["model"], "tiny-b", "{now}");
    // `llws up` goes through the owner too.
    let result = setup.run(&second, &["up", "tiny-a"]).await;
    let (out, err) = text(&result);
    assert!(result.status.success(), "{out}{err}");
    assert!(err.contains("going through it"), "{err}");
    assert_eq!(api.status().await["model"], "tiny-a");

    // `llws down` stops it through the owner, which sees the stop as its own.
    let result = setup.run(&second, &["down"]).await;
    let (out, err) = text(&result);
    assert!(result.status.success(), "{out}{err}");
    let now = api.status().await;
    assert_eq!(now["state"], "idle", "{now}");
    assert!(
        !health_ok(&setup.env.base_url()).await,
        "the server is stopped"
    );
    assert!(now["failure"].is_null(), "{now}");

    first.signal(Signal::SIGTERM);
    assert!(first.wait_exit(Duration::from_secs(60)).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_llws_goes_through_the_owner_of_a_native_server() {
    two_llws_one_server(BackendKind::Process).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_llws_goes_through_the_owner_of_a_container() {
    two_llws_one_server(BackendKind::Docker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_of_a_dead_owner_is_adopted() {
    let setup = Setup::new(BackendKind::Process);
    let mut first = setup.serve(&setup.config, &["--profile", "tiny-a"]);
    let api = setup.api();
    api.wait_up(Duration::from_secs(30)).await;
    let running = api
        .wait_status("tiny-a running", LOAD, |s| s["state"] == "running")
        .await;
    let pid = running["pid"].clone();
    // The router dies with its llws; the server behind it, on its own port, does not.
    let upstream = format!("http://{}", running["router"]["upstream"].as_str().unwrap());
    // Killed outright: no shutdown, the lock goes with the process.
    first.signal(Signal::SIGKILL);
    first.wait_exit(Duration::from_secs(30));
    assert!(health_ok(&upstream).await, "the server outlives it");

    let mut second = setup.serve(&setup.config, &[]);
    api.wait_up(Duration::from_secs(30)).await;
    let status = api
        .wait_status("the adopted server", LOAD, |s| s["state"] == "running")
        .await;
    assert_eq!(status["pid"], pid);
    assert_eq!(status["adopted"], true);
    assert!(health_ok(&setup.env.base_url()).await, "routed again");
    second.signal(Signal::SIGTERM);
    assert!(second.wait_exit(Duration::from_secs(60)).success());
    assert!(!health_ok(&upstream).await);
}

async fn cli_with_a_kept_server(backend: BackendKind) {
    let setup = Setup::new(backend);
    let config = setup.config.clone();
    let result = setup.run(&config, &["up", "tiny-a"]).await;
    let (_, err) = text(&result);
    assert!(result.status.success(), "{err}");
    assert!(health_ok(&setup.env.base_url()).await);
    // Output after llws left still reaches the log (the relay, or the container's log).
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let _ = client
        .post(format!("{}/completion", setup.env.base_url()))
        .json(&serde_json::json!({"prompt": "Hi", "n_predict": 4}))
        .send()
        .await
        .unwrap();

    let result = setup.run(&config, &["status"]).await;
    let (out, err) = text(&result);
    assert!(result.status.success(), "{out}{err}");
    assert!(out.contains("tiny-a (Tiny A)"), "{out}");
    assert!(out.contains("running"), "{out}");
    assert!(out.contains("no llws"), "{out}");
    let result = setup.run(&config, &["status", "--json"]).await;
    let json: serde_json::Value = serde_json::from_slice(&result.stdout).unwrap();
    assert_eq!(json["state"], "running");
    assert_eq!(json["model"], "tiny-a");
    assert!(json["pid"].is_u64(), "{json}");

    let result = setup.run(&config, &["logs", "-n", "400"]).await;
    let (out, err) = text(&result);
    assert!(result.status.success(), "{err}");
    assert!(
        out.contains("listening") || out.contains("model loaded"),
        "{out}"
    );
    // A request's lines only appear once llws had left.
    assert!(
        out.contains("processing task"),
        "a line written after llws left: {out}"
    );
    let result = setup.run(&config, &["logs", "-n", "3"]).await;
    assert_eq!(String::from_utf8_lossy(&result.stdout).lines().count(), 3);

    let result = setup.run(&config, &["down"]).await;
    let (out, err) = text(&result);
    assert!(result.status.success(), "{out}{err}");
    assert!(!health_ok(&setup.env.base_url()).await);
    if backend == BackendKind::Process {
        let log = setup
            .env
            .state_dir()
            .join(format!("server-{}.log", setup.env.settings.server.port));
        assert!(!log.exists(), "removed with the server");
    }
    // Nothing left: said, and a failure exit.
    let result = setup.run(&config, &["down"]).await;
    let (_, err) = text(&result);
    assert!(!result.status.success());
    assert!(err.contains("nothing to stop"), "{err}");
    let result = setup.run(&config, &["status"]).await;
    assert!(!result.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_sees_a_kept_native_server_without_llws() {
    cli_with_a_kept_server(BackendKind::Process).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_sees_a_kept_container_without_llws() {
    cli_with_a_kept_server(BackendKind::Docker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_a_profile_says_at_once_that_it_waits_for_docker() {
    let mut setup = Setup::new(BackendKind::Docker);
    let real = PathBuf::from(
        setup
            .env
            .settings
            .server
            .docker_host
            .trim_start_matches("unix://"),
    );
    let late = setup.env.dir.path().join("late.sock");
    setup.env.settings.server.docker_host = format!("unix://{}", late.display());
    setup.config = setup.env.write_settings_file();
    let mut serve = setup.serve(&setup.config, &["--profile", "tiny-a"]);
    support::wait_for(
        "the waiting start on stderr",
        Duration::from_secs(30),
        || {
            serve
                .text()
                .contains("tiny-a starts as soon as it is back")
                .then_some(())
        },
    );
    let api = setup.api();
    assert_eq!(api.status().await["pending_start"], "tiny-a");
    // The daemon "comes up": a socket forwarded to the real one.
    let _ = std::fs::remove_file(&late);
    let listener = tokio::net::UnixListener::bind(&late).unwrap();
    let relay = tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let real = real.clone();
            tokio::spawn(async move {
                if let Ok(mut out) = tokio::net::UnixStream::connect(&real).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                }
            });
        }
    });
    let status = api
        .wait_status("the kept start ran", LOAD, |s| s["state"] == "running")
        .await;
    assert_eq!(status["model"], "tiny-a");
    assert!(status["pending_start"].is_null());
    serve.signal(Signal::SIGTERM);
    assert!(serve.wait_exit(Duration::from_secs(60)).success());
    relay.abort();
}
