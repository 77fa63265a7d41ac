//! The controller against the real native llama-server and the tiny model.

mod harness;
mod support;

use std::time::Duration;

use harness::{TestEnv, http_get, messages, server_ctx, wait_phase};
use llws::config::settings::BackendKind;
use llws::server::state::Phase;
use llws::server::{ControlError, Outcome};

const LOAD: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_switch_refuse_and_stop() {
    let mut env = TestEnv::new(BackendKind::Process);
    env.settings.server.write_env = true;
    let ctl = env.spawn_process_controller();

    // Start: /health turns 200 and the Messages API answers for real.
    let outcome = ctl.switch("tiny-a").await.unwrap();
    assert_eq!(
        outcome,
        Outcome::Running {
            profile: "tiny-a".into()
        }
    );
    assert_eq!(http_get(&format!("{}/health", env.base_url())).await.0, 200);
    let reply = messages(&env.base_url()).await;
    assert_eq!(reply["type"], "message", "{reply}");
    assert_eq!(server_ctx(&env.base_url()).await, 2048);
    let first_pid = ctl.state().pid.expect("a pid");

    // The same profile again does nothing.
    assert_eq!(
        ctl.switch("tiny-a").await.unwrap(),
        Outcome::AlreadyRunning {
            profile: "tiny-a".into()
        }
    );
    assert_eq!(ctl.state().pid, Some(first_pid));

    // Switch: the server really restarts with the new context; timings and separator kept.
    assert_eq!(
        ctl.switch("tiny-b").await.unwrap(),
        Outcome::Running {
            profile: "tiny-b".into()
        }
    );
    assert_eq!(server_ctx(&env.base_url()).await, 4096);
    assert_ne!(ctl.state().pid, Some(first_pid));
    // write_env keeps .env next to models.conf in step, for docker compose users.
    let dotenv = std::fs::read_to_string(env.dir.path().join(".env")).unwrap();
    assert!(
        dotenv.contains("# Section: [tiny-b]") && dotenv.contains("CTX_SIZE=4096"),
        "{dotenv}"
    );
    let timings = ctl.timings();
    assert_eq!(timings.len(), 2);
    let last = &timings[1];
    assert!(
        last.ok && last.profile == "tiny-b" && last.from.as_deref() == Some("tiny-a"),
        "{last:?}"
    );
    assert!(last.total_ms >= last.load_ms && last.total_ms > 0);
    assert!(ctl.estimate_ms("tiny-b").is_some());
    let lines = ctl.logs().tail(100_000);
    let sep = lines
        .iter()
        .position(|l| l.text == "--- switching to Tiny B ---")
        .expect("separator in the log");
    assert!(
        lines[..sep]
            .iter()
            .any(|l| l.text.contains("--ctx-size 2048") || l.text.contains("n_ctx")),
        "first run's lines kept"
    );
    assert!(
        lines[sep..]
            .iter()
            .any(|l| l.text.contains("--ctx-size 4096")),
        "second run's lines follow"
    );

    // A profile whose file is missing is refused, and the running server is untouched.
    let pid = ctl.state().pid;
    match ctl.switch("missing").await {
        Err(ControlError::ModelFiles(e)) => assert!(e.to_string().contains("missing.gguf"), "{e}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let state = ctl.state();
    assert_eq!(state.phase, Phase::Running);
    assert_eq!(state.profile.as_deref(), Some("tiny-b"));
    assert_eq!(state.pid, pid);
    assert_eq!(http_get(&format!("{}/health", env.base_url())).await.0, 200);

    // An unknown profile is refused the same way.
    assert!(matches!(
        ctl.switch("nope").await,
        Err(ControlError::UnknownProfile { .. })
    ));

    // Stop.
    assert_eq!(ctl.stop().await.unwrap(), Outcome::Stopped);
    assert_eq!(ctl.state().phase, Phase::Idle);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    assert!(
        client
            .get(format!("{}/health", env.base_url()))
            .send()
            .await
            .is_err(),
        "the server is gone"
    );
    ctl.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_model_fails_fast_with_the_reason_and_log_tail() {
    let env = TestEnv::new(BackendKind::Process);
    let ctl = env.spawn_process_controller();
    let started = std::time::Instant::now();
    let outcome = ctl.switch("corrupt").await.unwrap();
    let Outcome::Failed { failure, .. } = outcome else {
        panic!("expected a failure, got {outcome:?}");
    };
    // Fail fast: far below the 120 s health timeout (the load fails in well under a second).
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        failure.reason.contains("exited while loading"),
        "{}",
        failure.reason
    );
    assert!(failure.exit_code.is_some_and(|c| c != 0), "{failure:?}");
    assert!(!failure.log_tail.is_empty());
    assert!(
        failure.log_tail.iter().any(|l| l.contains("corrupt.gguf")),
        "{:#?}",
        failure.log_tail
    );
    let state = ctl.state();
    assert_eq!(state.phase, Phase::Failed);
    assert_eq!(state.failure.as_ref(), Some(&failure));
    let timings = ctl.timings();
    assert!(!timings[0].ok);
    ctl.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_from_outside_is_noticed_within_two_seconds() {
    let env = TestEnv::new(BackendKind::Process);
    let ctl = env.spawn_process_controller();
    ctl.switch("tiny-a").await.unwrap();
    let pid = ctl.state().pid.unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let state = wait_phase(&ctl, Phase::Failed, Duration::from_secs(2)).await;
    let failure = state.failure.unwrap();
    assert_eq!(failure.signal, Some(9), "{failure:?}");
    assert!(failure.reason.contains("died"), "{}", failure.reason);
    ctl.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_switches_at_once_one_is_refused_as_busy() {
    let env = TestEnv::new(BackendKind::Process);
    let ctl = env.spawn_process_controller();
    let first = ctl.begin_switch("tiny-a").unwrap();
    match ctl.begin_switch("tiny-b") {
        Err(ControlError::Busy { .. }) => {}
        other => panic!("expected busy, got {:?}", other.map(|_| ())),
    }
    assert_eq!(
        first.outcome().await.unwrap(),
        Outcome::Running {
            profile: "tiny-a".into()
        }
    );
    // Once the first is done, a switch is accepted again.
    assert_eq!(
        ctl.switch("tiny-b").await.unwrap(),
        Outcome::Running {
            profile: "tiny-b".into()
        }
    );
    ctl.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_controller_adopts_a_kept_server() {
    let env = TestEnv::new(BackendKind::Process);
    let first = env.spawn_process_controller();
    first.switch("tiny-b").await.unwrap();
    let pid = first.state().pid;
    first.shutdown(true).await;
    assert_eq!(
        http_get(&format!("{}/health", env.base_url())).await.0,
        200,
        "kept running"
    );

    let second = env.spawn_process_controller();
    let state = wait_phase(&second, Phase::Running, LOAD).await;
    assert!(state.adopted);
    assert_eq!(state.profile.as_deref(), Some("tiny-b"));
    assert_eq!(state.pid, pid, "the same process, not a second one");
    // Its log history came along.
    assert!(
        second
            .logs()
            .tail(10_000)
            .iter()
            .any(|l| l.text.contains("--ctx-size 4096") || l.text.contains("server"))
    );
    second.shutdown(false).await;
    assert!(
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .get(format!("{}/health", env.base_url()))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_cancels_a_load_in_flight() {
    let env = TestEnv::new(BackendKind::Process);
    let ctl = env.spawn_process_controller();
    let pending = ctl.begin_switch("tiny-a").unwrap();
    // Whatever step it has reached, the stop wins and nothing is left running.
    let stopped = ctl.stop().await.unwrap();
    assert_eq!(stopped, Outcome::Stopped);
    let outcome = pending.outcome().await.unwrap();
    assert!(
        matches!(outcome, Outcome::Cancelled | Outcome::Running { .. }),
        "{outcome:?}"
    );
    assert_eq!(ctl.state().phase, Phase::Idle);
    ctl.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_facts_come_from_the_server_log() {
    let env = TestEnv::new(BackendKind::Process);
    let ctl = env.spawn_process_controller();
    ctl.switch("tiny-b").await.unwrap();
    let mut rx = ctl.subscribe_load_facts();
    // The log is followed as it is written, a moment behind the server.
    let facts = tokio::time::timeout(
        Duration::from_secs(10),
        rx.wait_for(|f| f.n_ctx_slot.is_some()),
    )
    .await
    .expect("the slot line")
    .unwrap()
    .clone();
    assert_eq!(facts.n_ctx_slot, Some(4096), "{facts:?}");
    assert_eq!(facts.slots, Some(1));
    messages(&env.base_url()).await;
    let facts = tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|f| f.requests >= 1))
        .await
        .expect("the request's timing line")
        .unwrap()
        .clone();
    let speed = facts.last_request.unwrap();
    assert!(
        speed.prompt_tokens > 0 && speed.generation_tokens_per_s > 0.0,
        "{speed:?}"
    );
    assert_eq!(facts.requests, 1);
    // A switch starts a fresh record.
    ctl.switch("tiny-a").await.unwrap();
    let facts = tokio::time::timeout(
        Duration::from_secs(10),
        rx.wait_for(|f| f.n_ctx_slot == Some(2048)),
    )
    .await
    .expect("the new run's slot line")
    .unwrap()
    .clone();
    assert_eq!(facts.requests, 0);
    ctl.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_of_models_conf_are_picked_up_while_running() {
    let env = TestEnv::new(BackendKind::Process);
    let ctl = env.spawn_process_controller();
    let mut events = ctl.subscribe_events();
    let conf = env.settings.models_conf.clone();
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(
        &conf,
        format!("{text}\n[added]\nMODEL=tiny.gguf\nCTX_SIZE=2048\n"),
    )
    .unwrap();
    let mut rx = ctl.subscribe_profiles();
    tokio::time::timeout(
        Duration::from_secs(10),
        rx.wait_for(|v| v.set.get("added").is_some()),
    )
    .await
    .expect("the new profile shows up without a switch")
    .unwrap();
    // A broken edit keeps the last good profiles and says why.
    std::fs::write(
        &conf,
        format!("{text}\n[added]\nMODEL=tiny.gguf\n[broken\n"),
    )
    .unwrap();
    let view = tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|v| v.error.is_some()))
        .await
        .unwrap()
        .unwrap()
        .clone();
    assert!(view.set.get("added").is_some(), "the last good set is kept");
    assert!(view.error.unwrap().to_string().contains("models.conf"));
    let mut saw_notice = false;
    while let Ok(event) = events.try_recv() {
        if let llws::server::state::Event::Notice { message } = event {
            saw_notice |= message.contains("models.conf");
        }
    }
    assert!(saw_notice);
    ctl.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_load_is_stopped_at_the_timeout_unless_someone_keeps_waiting() {
    let mut env = TestEnv::new(BackendKind::Process);
    env.slow_to_listen(4);
    let ctl = env.spawn_process_controller();

    // Nothing loads: there is no wait to extend.
    assert!(
        matches!(
            ctl.keep_waiting(),
            Err(ControlError::NotLoading { state: Phase::Idle })
        ),
        "{:?}",
        ctl.keep_waiting()
    );

    // Nobody asks: the load is stopped at the timeout, and the reason says what to do.
    let outcome = ctl.switch("tiny-a").await.unwrap();
    let Outcome::Failed { failure, .. } = outcome else {
        panic!("expected a timeout, got {outcome:?}");
    };
    assert!(
        failure.reason.contains("did not become healthy within 3 s")
            && failure.reason.contains("keep waiting"),
        "{}",
        failure.reason
    );
    assert_eq!(ctl.state().load_gives_up_at_ms, None);

    // Asked twice during the wait: each ask adds another 3 s, and the load completes.
    let pending = ctl.begin_switch("tiny-a").unwrap();
    let mut rx = ctl.subscribe_state();
    let first = tokio::time::timeout(
        Duration::from_secs(10),
        rx.wait_for(|s| s.load_gives_up_at_ms.is_some()),
    )
    .await
    .expect("the health wait publishes its deadline")
    .unwrap()
    .load_gives_up_at_ms
    .unwrap();
    let once = ctl.keep_waiting().unwrap();
    let twice = ctl.keep_waiting().unwrap();
    assert!(once >= first + 2_900, "{first} -> {once}");
    assert!(twice >= once + 2_900, "{once} -> {twice}");
    // The state follows, for the status bar and GET /status.
    tokio::time::timeout(
        Duration::from_secs(5),
        rx.wait_for(|s| s.load_gives_up_at_ms.is_some_and(|at| at >= twice - 50)),
    )
    .await
    .expect("the pushed-back deadline is published")
    .unwrap();
    // Then like a user who watches the countdown: ask again whenever under 2 s are left
    // (on a busy machine the real load itself can take seconds).
    let keeper = {
        let ctl = ctl.clone();
        tokio::spawn(async move {
            let mut asks = 0;
            while let Some(at) = ctl.state().load_gives_up_at_ms {
                if at.saturating_sub(llws::server::state::now_ms()) < 2_000
                    && ctl.keep_waiting().is_ok()
                {
                    asks += 1;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            asks
        })
    };
    let outcome = tokio::time::timeout(LOAD, pending.outcome())
        .await
        .expect("the load ends")
        .unwrap();
    assert_eq!(
        outcome,
        Outcome::Running {
            profile: "tiny-a".into()
        }
    );
    let state = ctl.state();
    assert_eq!(state.load_gives_up_at_ms, None);
    let _ = keeper.await;
    assert!(
        ctl.logs()
            .tail_text(200)
            .iter()
            .any(|l| l.contains("Waiting longer for Tiny A")),
        "{:#?}",
        ctl.logs().tail_text(200)
    );
    assert!(matches!(
        ctl.keep_waiting(),
        Err(ControlError::NotLoading {
            state: Phase::Running
        })
    ));
    ctl.shutdown(false).await;
}

/// `[server] gpus` reaches a native server as CUDA_VISIBLE_DEVICES (as Docker gets a device
/// request), and CUDA counts GPUs in NVML's order; the log's start line shows both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_native_server_gets_the_configured_gpus_in_nvml_order() {
    let mut env = TestEnv::new(BackendKind::Process);
    // This machine's llama-server runs on the CPU and ignores both: the load still works.
    env.settings.server.gpus = "1,0".into();
    let ctl = env.spawn_process_controller();
    let outcome = ctl.switch("tiny-a").await.unwrap();
    assert!(matches!(outcome, Outcome::Running { .. }), "{outcome:?}");
    let pid = ctl.state().pid.expect("a pid");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let vars: Vec<String> = environ
        .split(|b| *b == 0)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    assert!(
        vars.iter().any(|v| v == "CUDA_VISIBLE_DEVICES=1,0"),
        "{vars:?}"
    );
    // Even over a user's own order: any other numbering points CUDAn at the wrong card.
    assert!(
        vars.iter().any(|v| v == "CUDA_DEVICE_ORDER=PCI_BUS_ID"),
        "{vars:?}"
    );
    assert!(
        ctl.logs()
            .tail_text(100)
            .iter()
            .any(|l| l.starts_with("llws: Starting llama-server with: ")
                && l.contains("CUDA_VISIBLE_DEVICES='1,0' ")),
        "{:#?}",
        ctl.logs().tail_text(100)
    );
    ctl.shutdown(false).await;
}
