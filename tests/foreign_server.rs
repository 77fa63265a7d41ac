//! A server llws did not start, in the way of the one it is asked to start (the original
//! inventory's item 17: start.sh asked "Stop it and continue? [y/N]"), against the real
//! parts: a compose-style container named like llws's but without its labels in the test
//! Docker daemon (host networking), a real llama-server process on the port, and a program
//! that is not one. Also the command line each start logs and `/status` serves (item 68).

mod harness;
mod support;

use std::time::Duration;

use harness::{TestEnv, http_get};
use llws::config::settings::BackendKind;
use llws::server::foreign::{ForeignAction, ForeignServer};
use llws::server::state::Phase;
use llws::server::{ControlError, Outcome};

const LOAD: Duration = Duration::from_secs(90);

async fn docker(env: &TestEnv) -> bollard::Docker {
    llws::docker::connect::client(&env.settings.server.docker_host)
        .unwrap()
        .negotiate_version()
        .await
        .unwrap()
}

/// What `docker compose up` (or a `docker run --name`) leaves: a container with llws's
/// container name, compose's labels and none of llws's, serving the tiny model on the
/// configured port (host networking: the test daemon has no bridge). Started when `start`.
async fn compose_style_container(env: &TestEnv, start: bool) -> String {
    compose_style_container_of(env, start, "llama_cpp").await
}

/// [`compose_style_container`] with this docker compose project label.
async fn compose_style_container_of(env: &TestEnv, start: bool, project: &str) -> String {
    let docker = docker(env).await;
    let port = env.settings.server.port.to_string();
    let created = docker
        .create_container(
            Some(bollard::query_parameters::CreateContainerOptions {
                name: Some(env.settings.server.container.clone()),
                ..Default::default()
            }),
            bollard::models::ContainerCreateBody {
                image: Some(env.settings.server.image.clone()),
                cmd: Some(
                    [
                        "--model",
                        "/models/tiny.gguf",
                        "--ctx-size",
                        "2048",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        &port,
                    ]
                    .map(String::from)
                    .into(),
                ),
                env: Some(vec!["MODEL=tiny.gguf".into()]),
                labels: Some(
                    [
                        ("com.docker.compose.project", project),
                        ("com.docker.compose.service", "llama-server"),
                    ]
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .into(),
                ),
                host_config: Some(bollard::models::HostConfig {
                    network_mode: Some("host".into()),
                    binds: Some(vec![format!(
                        "{}:/models:ro",
                        env.settings.models_dir.display()
                    )]),
                    init: Some(true),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    if start {
        docker
            .start_container(
                &created.id,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
            .unwrap();
        let url = format!("{}/health", env.base_url());
        let deadline = std::time::Instant::now() + LOAD;
        loop {
            let client = reqwest::Client::builder().no_proxy().build().unwrap();
            if client
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the compose-style server never got healthy"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    created.id
}

async fn remove(env: &TestEnv, id: &str) {
    let _ = docker(env)
        .await
        .remove_container(
            id,
            Some(bollard::query_parameters::RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await;
}

/// The container of that name, with its labels, if any.
async fn named(env: &TestEnv) -> Option<(String, std::collections::HashMap<String, String>)> {
    docker(env)
        .await
        .list_containers(Some(bollard::query_parameters::ListContainersOptions {
            all: true,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_iter()
        .find(|c| {
            c.names
                .as_ref()
                .is_some_and(|n| n.contains(&format!("/{}", env.settings.server.container)))
        })
        .map(|c| (c.id.unwrap_or_default(), c.labels.unwrap_or_default()))
}

/// Item 17 through the controller, the API and the state: a running compose container on
/// llws's image is named, offered to replace or adopt, left alone until answered, then
/// adopted as it runs, with the command line it really got (item 68).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compose_container_on_llws_image_is_adopted_when_asked() {
    let env = TestEnv::new(BackendKind::Docker);
    let id = compose_style_container(&env, true).await;
    let ctl = env.spawn_docker_controller();
    let api = llws::api::serve(ctl.clone(), None, &env.settings.api)
        .await
        .unwrap();

    let Outcome::Blocked { profile, foreign } = ctl.switch("tiny-a").await.unwrap() else {
        panic!("expected the start to be blocked: {:?}", ctl.state())
    };
    assert_eq!(profile, "tiny-a");
    let ForeignServer::Container {
        id: seen,
        running,
        compose_project,
        adoptable,
        ..
    } = &foreign
    else {
        panic!("{foreign:?}")
    };
    assert_eq!(seen, &id);
    assert!(*running && *adoptable, "{foreign:?}");
    assert_eq!(compose_project.as_deref(), Some("llama_cpp"));
    // Nothing was touched: the compose server still answers, and the state says why the
    // start did not happen and what may be done.
    assert_eq!(http_get(&format!("{}/health", env.base_url())).await.0, 200);
    let state = ctl.state();
    assert_eq!(state.phase, Phase::Failed);
    assert_eq!(state.foreign.as_ref().map(|b| &b.server), Some(&foreign));
    assert!(
        state.message.contains("did not create") && state.message.contains("adopt it as it runs"),
        "{}",
        state.message
    );
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let status: serde_json::Value = client
        .get(format!("{}/status", api.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["foreign"]["kind"], "container", "{status}");
    assert_eq!(status["foreign"]["compose_project"], "llama_cpp");
    assert_eq!(
        status["foreign"]["offers"],
        serde_json::json!(["replace", "adopt"])
    );
    assert_eq!(status["foreign"]["profile"], "tiny-a");

    // A bad answer is refused with a reason; the right one, through POST /foreign, adopts it.
    let bad = client
        .post(format!("{}/foreign", api.url()))
        .body(r#"{"action":"take"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let reply: serde_json::Value = client
        .post(format!("{}/foreign", api.url()))
        .body(r#"{"action":"adopt"}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reply["outcome"], "running", "{reply}");
    let state = ctl.state();
    assert_eq!(state.phase, Phase::Running);
    assert!(state.adopted && state.foreign.is_none());
    assert_eq!(state.container_id.as_deref(), Some(id.as_str()));
    // tiny.gguf serves three profiles: no one of them is claimed; the name says what runs.
    assert_eq!(state.profile, None);
    let name = state.profile_name.clone().unwrap();
    assert!(
        name.contains("not started by llws") && name.contains("tiny.gguf"),
        "{name}"
    );
    let line = state
        .command_line
        .clone()
        .expect("the adopted container's command line");
    assert_eq!(
        shlex::split(&line).unwrap(),
        [
            "/usr/bin/llama-server",
            "--model",
            "/models/tiny.gguf",
            "--ctx-size",
            "2048",
            "--host",
            "127.0.0.1",
            "--port",
            &env.settings.server.port.to_string()
        ]
    );
    let status: serde_json::Value = client
        .get(format!("{}/status", api.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["command_line"], line.as_str(), "{status}");
    assert!(status["foreign"].is_null());
    // Its log from its first line came along.
    assert!(
        ctl.logs()
            .tail(100_000)
            .iter()
            .any(|l| l.text.contains("model loaded") || l.text.contains("listening"))
    );

    // A switch replaces it with llws's own container (labelled), as for any server llws runs.
    assert_eq!(
        ctl.switch("tiny-b").await.unwrap(),
        Outcome::Running {
            profile: "tiny-b".into()
        }
    );
    let (now, labels) = named(&env).await.expect("llws's container");
    assert_ne!(now, id);
    assert_eq!(labels["llws.managed"], "true");
    // Item 68: the log's start line is the command the container runs, copyable.
    let line = ctl.state().command_line.unwrap();
    assert!(
        ctl.logs()
            .tail(100_000)
            .iter()
            .any(|l| l.text == format!("llws: Starting llama-server with: {line}")),
        "{:#?}",
        ctl.logs().tail_text(60)
    );
    let words = shlex::split(&line).unwrap();
    assert_eq!(words[0], "/usr/bin/llama-server");
    assert!(
        words.windows(2).any(|w| w == ["--ctx-size", "4096"]),
        "{line}"
    );
    api.shutdown().await;
    ctl.shutdown(false).await;
    assert!(named(&env).await.is_none());
}

/// A stopped compose container (or one on another image) cannot be adopted; replacing it
/// stops and removes it, then starts the profile that waited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compose_container_is_replaced_when_asked_and_only_then() {
    let env = TestEnv::new(BackendKind::Docker);
    // A label is anyone's text: its escape sequences never reach a terminal.
    let id = compose_style_container_of(&env, false, "proj\x1b]52;c;aGk=\x07\x1b[2J").await;
    let ctl = env.spawn_docker_controller();
    let Outcome::Blocked { foreign, .. } = ctl.switch("tiny-a").await.unwrap() else {
        panic!("expected the start to be blocked: {:?}", ctl.state())
    };
    assert_eq!(foreign.offers(), vec![ForeignAction::Replace]);
    let said = foreign.blocked_message();
    assert!(
        said.contains("docker compose project `proj`") && !said.contains('\x1b'),
        "{said:?}"
    );
    // Not offered: refused at once, nothing touched.
    let refused = ctl.resolve_foreign(ForeignAction::Adopt).await;
    assert!(
        matches!(refused, Err(ControlError::Foreign(_))),
        "{refused:?}"
    );
    assert_eq!(named(&env).await.map(|(i, _)| i), Some(id.clone()));

    assert_eq!(
        ctl.resolve_foreign(ForeignAction::Replace).await.unwrap(),
        Outcome::Running {
            profile: "tiny-a".into()
        }
    );
    let (now, labels) = named(&env).await.unwrap();
    assert_ne!(now, id, "the compose container is gone");
    assert_eq!(labels["llws.profile"], "tiny-a");
    assert!(ctl.state().foreign.is_none());
    assert!(
        ctl.logs()
            .tail_text(200)
            .iter()
            .any(|l| l.contains("stopped and removed a container named")),
        "{:#?}",
        ctl.logs().tail_text(60)
    );
    // Nothing is left to answer.
    assert!(matches!(
        ctl.resolve_foreign(ForeignAction::Replace).await,
        Err(ControlError::NothingForeign)
    ));
    ctl.shutdown(false).await;
    remove(&env, &id).await;
}

/// A llama-server of this user on the port: named by pid and program, stopped when asked,
/// and llws's own started in its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_llama_server_process_is_named_and_stopped_when_asked() {
    let env = TestEnv::new(BackendKind::Process);
    let foreign_server =
        support::llama::LlamaServer::start_on(env.dir.path(), env.settings.server.port);
    let ctl = env.spawn_process_controller();
    let Outcome::Blocked { foreign, .. } = ctl.switch("tiny-a").await.unwrap() else {
        panic!("expected the start to be blocked: {:?}", ctl.state())
    };
    let ForeignServer::Process {
        pid: Some(pid),
        program,
        stoppable,
        ..
    } = &foreign
    else {
        panic!("{foreign:?}")
    };
    // The fixture runs llama-server through its own ld.so: the program is the one loaded.
    assert!(
        program
            .as_deref()
            .is_some_and(|p| p.ends_with("/llama-server")),
        "{program:?}"
    );
    assert!(*stoppable);
    let message = ctl.state().message;
    assert!(message.contains(&format!("pid {pid}")), "{message}");
    assert_eq!(
        http_get(&format!("{}/health", env.base_url())).await.0,
        200,
        "left alone until answered"
    );

    let outcome = ctl.resolve_foreign(ForeignAction::Replace).await.unwrap();
    assert_eq!(
        outcome,
        Outcome::Running {
            profile: "tiny-a".into()
        }
    );
    let state = ctl.state();
    assert_ne!(state.pid, Some(*pid), "llws's own server now");
    // Item 68: the start line and the state's command line, one copyable line.
    let line = state.command_line.clone().unwrap();
    let words = shlex::split(&line).unwrap();
    assert_eq!(words[0], "CUDA_DEVICE_ORDER=PCI_BUS_ID");
    assert_eq!(words[1], "CUDA_VISIBLE_DEVICES=", "gpus = \"none\"");
    assert_eq!(
        std::path::Path::new(&words[2]),
        env.settings.server.llama_server
    );
    assert!(
        words
            .windows(2)
            .any(|w| w == ["--port", &env.settings.server.port.to_string()]),
        "{line}"
    );
    assert!(
        ctl.logs()
            .tail(1000)
            .iter()
            .any(|l| l.text == format!("llws: Starting llama-server with: {line}"))
    );
    drop(foreign_server);
    ctl.shutdown(false).await;
}

/// A program on the port that is not a llama-server (here: this test) is named and never
/// stopped; an answer that would stop it is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_program_on_the_port_is_named_and_left_alone() {
    let env = TestEnv::new(BackendKind::Process);
    let listener = std::net::TcpListener::bind(("127.0.0.1", env.settings.server.port)).unwrap();
    let ctl = env.spawn_process_controller();
    let Outcome::Blocked { foreign, .. } = ctl.switch("tiny-a").await.unwrap() else {
        panic!("expected the start to be blocked: {:?}", ctl.state())
    };
    assert!(
        matches!(&foreign, ForeignServer::Process { pid: Some(p), stoppable: false, .. } if *p == std::process::id()),
        "{foreign:?}"
    );
    assert!(foreign.offers().is_empty());
    let refused = ctl.resolve_foreign(ForeignAction::Replace).await;
    let Err(ControlError::Foreign(why)) = refused else {
        panic!("{refused:?}")
    };
    assert!(why.contains("not a llama-server of this user"), "{why}");
    assert!(listener.local_addr().is_ok(), "still ours");
    ctl.shutdown(false).await;
}

/// `llws up` as a compose user meets it: without a terminal or a flag it names what is in
/// the way and the flags, touching nothing; `--adopt` uses the compose server as it runs;
/// `--replace` removes it and starts llws's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llws_up_answers_with_a_flag_and_without_one_touches_nothing() {
    let env = TestEnv::new(BackendKind::Docker);
    let config = env.write_settings_file();
    let id = compose_style_container(&env, true).await;
    let up = |args: &'static [&'static str]| {
        let config = config.clone();
        let state = env.state_dir();
        tokio::task::spawn_blocking(move || {
            harness::serve::llws(&config, &state, args)
                .output()
                .unwrap()
        })
    };

    let out = up(&["up", "tiny-a"]).await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("did not create")
            && err.contains("docker compose project `llama_cpp`")
            && err.contains("llws up tiny-a --replace"),
        "{err}"
    );
    assert_eq!(
        named(&env).await.map(|(i, _)| i),
        Some(id.clone()),
        "untouched"
    );

    let out = up(&["up", "tiny-a", "--adopt"]).await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("--adopt: llws will adopt it as it runs"),
        "{err}"
    );
    assert!(err.contains("is ready at"), "{err}");
    assert_eq!(
        named(&env).await.map(|(i, _)| i),
        Some(id.clone()),
        "adopted as it runs, and left running"
    );

    let out = up(&["up", "tiny-a", "--replace"]).await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("Tiny A is ready at"), "{err}");
    let (now, labels) = named(&env).await.unwrap();
    assert_ne!(now, id);
    assert_eq!(labels["llws.profile"], "tiny-a");

    let out = up(&["down"]).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(named(&env).await.is_none());
    remove(&env, &id).await;
}

/// `llws serve --profile` with a foreign llama-server process on the port: without a
/// terminal or a flag it is left, stderr says how to answer, and `POST /foreign` answers;
/// with `--replace` it is stopped at once and llws's own started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llws_serve_leaves_it_for_the_api_or_replaces_it_with_the_flag() {
    use harness::api::Api;
    use harness::serve::LlwsServe;
    let env = TestEnv::new(BackendKind::Process);
    let config = env.write_settings_file();
    let port = env.settings.server.port;
    let api = Api::new(env.settings.api.base_url());

    let mut first = support::llama::LlamaServer::start_on(env.dir.path(), port);
    let serve = LlwsServe::start(&config, &env.state_dir(), port, &["--profile", "tiny-a"]);
    api.wait_up(Duration::from_secs(30)).await;
    let status = api
        .wait_status("the start to be blocked", LOAD, |s| !s["foreign"].is_null())
        .await;
    assert_eq!(status["foreign"]["kind"], "process", "{status}");
    assert_eq!(status["foreign"]["offers"], serde_json::json!(["replace"]));
    let foreign_pid = status["foreign"]["pid"].as_u64().unwrap();
    support::wait_for("the hint on stderr", Duration::from_secs(5), || {
        serve.text().contains("POST /foreign").then_some(())
    });
    // The router could not take the port: serve says it runs direct for this run.
    assert!(
        serve
            .text()
            .contains("the router stays off for this run (direct mode)"),
        "{}",
        serve.text()
    );
    assert_eq!(status["router"], serde_json::Value::Null, "{status}");
    // Adopting a process is not offered: refused with the reason, nothing touched.
    let refused = api.post("/foreign", r#"{"action":"adopt"}"#).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(
        refused.error().contains("adopts only a container"),
        "{}",
        refused.body
    );
    let reply = api.post("/foreign", r#"{"action":"replace"}"#).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["outcome"], "running", "{}", reply.body);
    let status = api.status().await;
    assert_ne!(status["pid"].as_u64(), Some(foreign_pid));
    let line = status["command_line"].as_str().unwrap().to_string();
    assert!(line.contains("--port"), "{status}");
    // `llws status` shows it too, as one line to copy.
    let out = {
        let (config, state) = (config.clone(), env.state_dir());
        tokio::task::spawn_blocking(move || {
            harness::serve::llws(&config, &state, &["status"])
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    };
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("command") && l.ends_with(&line)),
        "{text}"
    );
    drop(serve);
    drop(first);

    first = support::llama::LlamaServer::start_on(env.dir.path(), port);
    let serve = LlwsServe::start(
        &config,
        &env.state_dir(),
        port,
        &["--profile", "tiny-a", "--replace"],
    );
    api.wait_up(Duration::from_secs(30)).await;
    let status = api
        .wait_status("llws's own server running", LOAD, |s| {
            s["state"] == "running" && s["foreign"].is_null()
        })
        .await;
    assert!(status["command_line"].is_string(), "{status}");
    assert!(
        serve.text().contains("--replace: llws will stop it"),
        "{}",
        serve.text()
    );
    drop(serve);
    drop(first);
}

/// With another llws owning the server, `llws up --replace` goes through its API: the
/// owner's blocked start is answered with `POST /foreign`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llws_up_answers_through_the_owner() {
    use harness::api::Api;
    use harness::serve::LlwsServe;
    let env = TestEnv::new(BackendKind::Process);
    let config = env.write_settings_file();
    let port = env.settings.server.port;
    let api = Api::new(env.settings.api.base_url());
    let serve = LlwsServe::start(&config, &env.state_dir(), port, &[]);
    api.wait_up(Duration::from_secs(30)).await;
    // Behind the router the owner's llama-server goes to its upstream port (the router
    // holds `port`): that is where a program llws did not start gets in the way.
    let status = api.status().await;
    let upstream = status["router"]["upstream"]
        .as_str()
        .and_then(|a| a.rsplit(':').next()?.parse::<u16>().ok())
        .unwrap_or(port);
    let foreign = support::llama::LlamaServer::start_on(env.dir.path(), upstream);
    let out = {
        let (config, state) = (config.clone(), env.state_dir());
        tokio::task::spawn_blocking(move || {
            harness::serve::llws(&config, &state, &["up", "tiny-a", "--replace"])
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    };
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("going through it") && err.contains("asking the owner to replace"),
        "{err}"
    );
    let status = api.status().await;
    assert_eq!(status["state"], "running", "{status}");
    assert!(status["foreign"].is_null());
    drop(serve);
    drop(foreign);
}
