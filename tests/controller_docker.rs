//! The controller against the real Docker Engine, the llama-server test image and the tiny
//! model (host networking: the test daemon has no bridge).

mod harness;
mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::{TestEnv, http_get, messages, server_ctx, wait_phase};
use llws::config::settings::BackendKind;
use llws::server::state::Phase;
use llws::server::{ControlError, Outcome};
use tokio::net::{UnixListener, UnixStream};

const LOAD: Duration = Duration::from_secs(90);

fn docker_client(env: &TestEnv) -> bollard::Docker {
    llws::docker::connect::client(&env.settings.server.docker_host).unwrap()
}

async fn container_names(env: &TestEnv) -> Vec<String> {
    let docker = docker_client(env).negotiate_version().await.unwrap();
    docker
        .list_containers(Some(bollard::query_parameters::ListContainersOptions {
            all: true,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_iter()
        .flat_map(|c| c.names.unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_switch_refuse_fail_and_stop_in_a_container() {
    let env = TestEnv::new(BackendKind::Docker);
    let ctl = env.spawn_docker_controller();

    assert_eq!(
        ctl.switch("tiny-a").await.unwrap(),
        Outcome::Running {
            profile: "tiny-a".into()
        }
    );
    let reply = messages(&env.base_url()).await;
    assert_eq!(reply["type"], "message", "{reply}");
    assert_eq!(server_ctx(&env.base_url()).await, 2048);
    let state = ctl.state();
    let first = state.container_id.clone().expect("a container id");
    assert!(
        state.pid.is_some_and(|p| p > 1),
        "the container's main process as seen from the host"
    );

    // The container is labelled, has an init process, no restart policy, models read-only.
    let docker = docker_client(&env).negotiate_version().await.unwrap();
    let info = docker
        .inspect_container(
            &first,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .unwrap();
    let config = info.config.unwrap();
    assert_eq!(config.labels.unwrap()["llws.profile"], "tiny-a");
    let host = info.host_config.unwrap();
    assert_eq!(host.init, Some(true));
    assert_eq!(
        host.restart_policy
            .and_then(|r| r.name)
            .map(|n| n.to_string())
            .as_deref(),
        Some("no")
    );
    assert!(host.binds.unwrap()[0].ends_with(":/models:ro"));

    // Switch: a new container with the new context; the log ring keeps both with a separator.
    assert_eq!(
        ctl.switch("tiny-b").await.unwrap(),
        Outcome::Running {
            profile: "tiny-b".into()
        }
    );
    assert_eq!(server_ctx(&env.base_url()).await, 4096);
    assert_ne!(ctl.state().container_id.as_deref(), Some(first.as_str()));
    let lines = ctl.logs().tail(100_000);
    let sep = lines
        .iter()
        .position(|l| l.text == "--- switching to Tiny B ---")
        .expect("separator");
    assert!(
        lines[..sep]
            .iter()
            .any(|l| l.text.contains("n_ctx") || l.text.contains("model loaded")),
        "first run kept from its first lines"
    );
    assert!(
        lines[sep..]
            .iter()
            .any(|l| l.text.contains("model loaded") || l.text.contains("listening"))
    );
    let t = ctl.timings();
    assert!(t[1].ok && t[1].stop_ms > 0 && t[1].start_ms > 0, "{t:?}");

    // Missing file: refused, the running container untouched.
    let before = ctl.state();
    assert!(matches!(
        ctl.switch("missing").await,
        Err(ControlError::ModelFiles(_))
    ));
    assert_eq!(ctl.state().container_id, before.container_id);
    assert_eq!(ctl.state().phase, Phase::Running);
    assert_eq!(http_get(&format!("{}/health", env.base_url())).await.0, 200);

    // Corrupt file: failed with the exit code and the log tail, long before the timeout.
    let started = std::time::Instant::now();
    let Outcome::Failed { failure, .. } = ctl.switch("corrupt").await.unwrap() else {
        panic!("expected a failure")
    };
    assert!(started.elapsed() < Duration::from_secs(60));
    assert!(failure.exit_code.is_some_and(|c| c != 0), "{failure:?}");
    assert!(!failure.oom_killed);
    assert!(
        failure.log_tail.iter().any(|l| l.contains("corrupt.gguf")),
        "{:#?}",
        failure.log_tail
    );
    assert_eq!(ctl.state().phase, Phase::Failed);

    // Stop removes the container.
    assert_eq!(ctl.stop().await.unwrap(), Outcome::Stopped);
    assert!(
        !container_names(&env)
            .await
            .contains(&format!("/{}", env.settings.server.container))
    );
    ctl.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_killed_from_outside_is_noticed_within_two_seconds() {
    let env = TestEnv::new(BackendKind::Docker);
    let ctl = env.spawn_docker_controller();
    ctl.switch("tiny-a").await.unwrap();
    let id = ctl.state().container_id.unwrap();
    let docker = docker_client(&env).negotiate_version().await.unwrap();
    docker
        .kill_container(&id, None::<bollard::query_parameters::KillContainerOptions>)
        .await
        .unwrap();
    let state = wait_phase(&ctl, Phase::Failed, Duration::from_secs(2)).await;
    let failure = state.failure.unwrap();
    assert!(failure.reason.contains("died"), "{}", failure.reason);
    assert_eq!(failure.exit_code, Some(137), "{failure:?}");
    ctl.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_controller_adopts_the_running_container() {
    let env = TestEnv::new(BackendKind::Docker);
    let first = env.spawn_docker_controller();
    first.switch("tiny-b").await.unwrap();
    let id = first.state().container_id;
    first.shutdown(true).await;

    let second = env.spawn_docker_controller();
    let state = wait_phase(&second, Phase::Running, LOAD).await;
    assert!(state.adopted);
    assert_eq!(state.profile.as_deref(), Some("tiny-b"));
    assert_eq!(state.container_id, id, "adopted, not a duplicate");
    let ours: Vec<_> = container_names(&env)
        .await
        .into_iter()
        .filter(|n| n == &format!("/{}", env.settings.server.container))
        .collect();
    assert_eq!(ours.len(), 1);
    // History from the container's first line came along.
    assert!(
        second
            .logs()
            .tail(100_000)
            .iter()
            .any(|l| l.text.contains("model loaded") || l.text.contains("listening"))
    );
    second.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_switches_at_once_one_is_refused() {
    let env = TestEnv::new(BackendKind::Docker);
    let ctl = env.spawn_docker_controller();
    let first = ctl.begin_switch("tiny-a").unwrap();
    assert!(matches!(
        ctl.begin_switch("tiny-b").map(|_| ()),
        Err(ControlError::Busy { .. })
    ));
    assert_eq!(
        first.outcome().await.unwrap(),
        Outcome::Running {
            profile: "tiny-a".into()
        }
    );
    ctl.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_nvidia_runtime_is_explained() {
    let mut env = TestEnv::new(BackendKind::Docker);
    env.settings.server.gpus = "all".into();
    let ctl = env.spawn_docker_controller();
    let Outcome::Failed { failure, .. } = ctl.switch("tiny-a").await.unwrap() else {
        panic!("the GPU request cannot succeed here")
    };
    assert!(
        failure.reason.contains("nvidia-container-toolkit"),
        "{}",
        failure.reason
    );
    assert!(
        failure.reason.contains("gpus = \"none\""),
        "{}",
        failure.reason
    );
    assert!(
        !container_names(&env)
            .await
            .contains(&format!("/{}", env.settings.server.container)),
        "no half-made container left"
    );
    ctl.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_llws_did_not_create_is_not_touched() {
    let env = TestEnv::new(BackendKind::Docker);
    let docker = docker_client(&env).negotiate_version().await.unwrap();
    let name = env.settings.server.container.clone();
    docker
        .create_container(
            Some(bollard::query_parameters::CreateContainerOptions {
                name: Some(name.clone()),
                ..Default::default()
            }),
            bollard::models::ContainerCreateBody {
                image: Some(env.settings.server.image.clone()),
                cmd: Some(vec!["--version".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let ctl = env.spawn_docker_controller();
    // Named and offered (tests/foreign_server.rs answers); never touched unasked.
    let Outcome::Blocked { foreign, .. } = ctl.switch("tiny-a").await.unwrap() else {
        panic!("expected a refusal")
    };
    assert!(
        foreign.blocked_message().contains("did not create"),
        "{foreign:?}"
    );
    assert!(
        container_names(&env).await.contains(&format!("/{name}")),
        "left alone"
    );
    docker
        .remove_container(
            &name,
            Some(bollard::query_parameters::RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await
        .unwrap();
    ctl.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_unreachable_is_a_clear_state_not_a_panic() {
    let mut env = TestEnv::new(BackendKind::Docker);
    env.settings.server.docker_host = format!("unix://{}/no-docker.sock", env.dir.path().display());
    let ctl = env.spawn_docker_controller();
    let mut rx = ctl.subscribe_state();
    let state = tokio::time::timeout(
        Duration::from_secs(10),
        rx.wait_for(|s| !s.backend.reachable),
    )
    .await
    .unwrap()
    .unwrap()
    .clone();
    assert!(
        state
            .backend
            .message
            .contains("Docker daemon not reachable"),
        "{}",
        state.backend.message
    );
    assert!(
        state.backend.message.contains("backend = \"process\""),
        "{}",
        state.backend.message
    );
    // A start is kept for when the daemon is back, not dropped (tests/faults.rs runs one);
    // the state says what it waits for.
    let _pending = ctl.begin_switch("tiny-a").expect("kept, not refused");
    let waiting = tokio::time::timeout(
        Duration::from_secs(10),
        rx.wait_for(|s| s.pending_start.is_some()),
    )
    .await
    .unwrap()
    .unwrap()
    .clone();
    assert!(
        waiting.message.contains("Docker daemon not reachable"),
        "{}",
        waiting.message
    );
    // The API answers 503 with the same explanation, and /status says why.
    let server = llws::api::serve(ctl.clone(), None, &env.settings.api)
        .await
        .unwrap();
    let api = harness::api::Api::at(server.local_addr());
    let reply = api.post("/switch", r#"{"model":"tiny-a"}"#).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(
        reply.error().contains("Docker daemon not reachable"),
        "{}",
        reply.body
    );
    let status = api.status().await;
    assert_eq!(status["backend"]["reachable"], false, "{status}");
    server.shutdown().await;
    ctl.shutdown(false).await;
}

/// Forwards a unix socket to the real daemon's; dropping the task makes the daemon "go away".
fn socket_relay(listen: PathBuf, target: PathBuf) -> tokio::task::JoinHandle<()> {
    let _ = std::fs::remove_file(&listen);
    let listener = UnixListener::bind(&listen).unwrap();
    tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((mut inbound, _)) = listener.accept().await {
            let target = target.clone();
            conns.spawn(async move {
                if let Ok(mut outbound) = UnixStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_that_goes_away_and_comes_back_is_reported_and_reconnected() {
    let mut env = TestEnv::new(BackendKind::Docker);
    let real = PathBuf::from(
        env.settings
            .server
            .docker_host
            .trim_start_matches("unix://"),
    );
    let relay_path = env.dir.path().join("relay.sock");
    env.settings.server.docker_host = format!("unix://{}", relay_path.display());
    let relay = socket_relay(relay_path.clone(), real.clone());
    let ctl = env.spawn_docker_controller();
    assert_eq!(
        ctl.switch("tiny-a").await.unwrap(),
        Outcome::Running {
            profile: "tiny-a".into()
        }
    );

    relay.abort();
    let _ = relay.await;
    let _ = std::fs::remove_file(&relay_path);
    let mut rx = ctl.subscribe_state();
    let state = tokio::time::timeout(
        Duration::from_secs(15),
        rx.wait_for(|s| !s.backend.reachable),
    )
    .await
    .expect("the loss is noticed")
    .unwrap()
    .clone();
    assert!(state.message.contains("Docker daemon"), "{}", state.message);

    let relay = socket_relay(relay_path.clone(), real);
    let state = tokio::time::timeout(
        Duration::from_secs(30),
        rx.wait_for(|s| s.backend.reachable && s.phase == Phase::Running),
    )
    .await
    .expect("reconnected and re-adopted")
    .unwrap()
    .clone();
    assert_eq!(state.profile.as_deref(), Some("tiny-a"));
    ctl.shutdown(false).await;
    relay.abort();
    assert!(!Path::new(&env.settings.server.container).exists());
}
