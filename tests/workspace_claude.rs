//! The workspace with the real Claude Code in its pane (claude-local, the default command)
//! against the real llama-server and the tiny model: claude starts once the server is
//! healthy, a typed prompt reaches the server, and a model switch meanwhile leaves the
//! claude process running.

mod harness;
mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use harness::TestEnv;
use llws::config::settings::BackendKind;
use support::tmux::Tmux;
use support::{Fixtures, llws_bin, wait_for};

const T: Duration = Duration::from_secs(90);

/// Pids of `claude` processes whose environment names this test's config dir.
/// The claude processes of this test's config dir that the pane started: Claude Code forks
/// short-lived helpers of its own (same name, same environment), which are not the session.
fn claude_pids(config_dir: &Path) -> Vec<u32> {
    let marker = format!("CLAUDE_CONFIG_DIR={}", config_dir.display());
    let all: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            comm.trim() == "claude" && env.split(|b| *b == 0).any(|kv| kv == marker.as_bytes())
        })
        .collect();
    all.iter()
        .copied()
        .filter(|pid| !parent(*pid).is_some_and(|p| all.contains(&p)))
        .collect()
}

/// The parent pid, from /proc/PID/stat (the field after the parenthesised name).
fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn api_logs(env: &TestEnv) -> String {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{}/logs?tail=2000", env.settings.api.base_url()))
        .send()
        .and_then(|r| r.text())
        .unwrap_or_default()
}

#[test]
fn claude_runs_in_the_workspace_and_survives_a_model_switch() {
    let mut env = TestEnv::new(BackendKind::Process);
    let root: PathBuf = env.dir.path().to_path_buf();
    let home = root.join("home");
    let project = root.join("project");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&project).unwrap();
    env.settings.claude.config_dir = home.join(".claude-local");
    env.settings.claude.project_dir = project.clone();
    // A switch stops a server that is busy answering claude: do not wait long for it.
    env.settings.server.stop_timeout_s = 2;
    let config = env.write_settings_file();
    let claude_dir = Fixtures::get().claude().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        claude_dir.display(),
        std::env::var("PATH").unwrap()
    );
    let state_dir = env.state_dir();

    // Onboarding done and the project trusted, as `claude-local/install.sh` would leave it.
    let out = std::process::Command::new(llws_bin())
        .arg("--config")
        .arg(&config)
        .args(["claude", "--setup"])
        .env("HOME", &home)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let command = format!(
        "env HOME='{}' PATH='{}' LLWS_STATE_DIR='{}' {} --config {} tiny-a",
        home.display(),
        path,
        state_dir.display(),
        llws_bin().display(),
        config.display()
    );
    let t = Tmux::start_in(&project, 160, 50, &command);
    // Claude Code's own interface, inside the pane.
    t.wait_for("Claude Code's prompt in the pane", T, |s| {
        s.contains("Claude Code") && s.contains('❯')
    });
    let pids = claude_pids(&env.settings.claude.config_dir);
    assert_eq!(pids.len(), 1, "one claude process: {pids:?}");

    // A prompt typed into the pane reaches the server.
    t.type_text("Say hi");
    t.keys(&["Enter"]);
    let started = Instant::now();
    wait_for("claude's request in the server log", T, || {
        api_logs(&env).contains("processing task").then_some(())
    });
    assert!(started.elapsed() < T);

    // Switch the model mid-session, through the API as an agent would.
    let out = std::process::Command::new(llws_bin())
        .arg("--config")
        .arg(&config)
        .args(["switch", "tiny-b"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let screen = t.wait_text("model ready: Tiny B", T);
    assert!(
        screen.contains("Claude Code"),
        "claude's interface is still there:\n{screen}"
    );
    assert_eq!(
        claude_pids(&env.settings.claude.config_dir),
        pids,
        "the same claude process lives on"
    );

    // Quit: the server is stopped (on_exit = stop), claude goes with the workspace.
    t.keys(&["C-\\", "q"]);
    t.wait_text("Quitting stops the server", T);
    t.keys(&["y"]);
    wait_for(
        "claude to end with the workspace",
        Duration::from_secs(30),
        || {
            claude_pids(&env.settings.claude.config_dir)
                .is_empty()
                .then_some(())
        },
    );
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    wait_for("the server to stop", Duration::from_secs(30), || {
        client
            .get(format!("{}/health", env.base_url()))
            .send()
            .is_err()
            .then_some(())
    });
    drop(t);
}

/// `scripts/demo` on a clean HOME (issue 14): Claude Code opens on its prompt in the pane,
/// with none of its first-run screens, because llws set ~/.claude-local up on the way; and
/// a prompt typed there reaches the tiny model. The script runs as a user runs it, with the
/// built binary instead of `cargo run --release` and a copy of demo/llws.toml on free ports.
#[test]
fn the_demo_opens_claude_code_on_its_prompt() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let env = TestEnv::new(BackendKind::Process);
    let home = env.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let config = env.dir.path().join("demo-llws.toml");
    std::fs::write(
        &config,
        format!(
            "models_conf = '{repo}/models.conf'\nmodels_dir = '{repo}/models'\n\
             backend = 'process'\n[server]\nllama_server = '{repo}/demo/bin/llama-server'\n\
             port = {port}\n[api]\nbind = '{api}'\n",
            repo = repo.display(),
            port = env.settings.server.port,
            api = env.settings.api.bind,
        ),
    )
    .unwrap();
    let command = format!(
        "env HOME='{}' LLWS_FIXTURES='{}' LLWS_BIN='{}' LLWS_DEMO_CONFIG='{}' LLWS_STATE_DIR='{}' {}/scripts/demo",
        home.display(),
        support::fixtures_dir().display(),
        llws_bin().display(),
        config.display(),
        env.state_dir().display(),
        repo.display(),
    );
    let t = Tmux::start(160, 50, &[], &command);
    let screen = t.wait_for("Claude Code's prompt in the pane", T, |s| {
        s.contains("Claude Code") && s.contains('❯')
    });
    for onboarding in [
        "Choose the text style",
        "Security notes",
        "Do you trust the files in this folder?",
        "Yes, proceed",
    ] {
        assert!(
            !screen.contains(onboarding),
            "onboarding text `{onboarding}`:\n{screen}"
        );
    }
    let state = std::fs::read_to_string(home.join(".claude-local/.claude.json")).unwrap();
    assert!(
        state.contains("\"hasCompletedOnboarding\": true"),
        "{state}"
    );

    // A prompt typed into the pane reaches the tiny model.
    t.type_text("Say hi");
    t.keys(&["Enter"]);
    wait_for("claude's request in the server log", T, || {
        api_logs(&env).contains("processing task").then_some(())
    });
    t.keys(&["C-\\", "q"]);
    t.wait_text("Quitting stops the server", T);
    t.keys(&["y"]);
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    wait_for("the server to stop", Duration::from_secs(30), || {
        client
            .get(format!("{}/health", env.base_url()))
            .send()
            .is_err()
            .then_some(())
    });
}
