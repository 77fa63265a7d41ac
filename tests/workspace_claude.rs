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

/// The workspace on `env`'s settings with Claude Code set up as `claude-local/install.sh`
/// would leave it (onboarding done, the project trusted).
struct ClaudeWorkspace {
    config: PathBuf,
    project: PathBuf,
    command: String,
}

impl ClaudeWorkspace {
    fn prepare(env: &mut TestEnv, profile: &str) -> Self {
        Self::prepare_with(env, profile, "")
    }

    /// [`Self::prepare`] with `VAR=value ...` added to the workspace's environment.
    fn prepare_with(env: &mut TestEnv, profile: &str, vars: &str) -> Self {
        let root: PathBuf = env.dir.path().to_path_buf();
        let home = root.join("home");
        let project = root.join("project");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&project).unwrap();
        env.settings.claude.config_dir = home.join(".claude-local");
        env.settings.claude.project_dir = project.clone();
        let config = env.write_settings_file();
        let claude_dir = Fixtures::get().claude().parent().unwrap().to_path_buf();
        let path = format!(
            "{}:{}",
            claude_dir.display(),
            std::env::var("PATH").unwrap()
        );
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
            "env HOME='{}' PATH='{}' LLWS_STATE_DIR='{}' {vars} {} --config {} {profile}",
            home.display(),
            path,
            env.state_dir().display(),
            llws_bin().display(),
            config.display()
        );
        Self {
            config,
            project,
            command,
        }
    }

    /// Opens it in tmux and waits for Claude Code's own prompt in the pane.
    fn open(&self) -> Tmux {
        let t = Tmux::start_in(&self.project, 160, 50, &self.command);
        t.wait_for("Claude Code's prompt in the pane", T, |s| {
            s.contains("Claude Code") && s.contains('❯')
        });
        t
    }

    /// `llws switch PROFILE` through the workspace's API, as an agent would; not waited for.
    fn switch(&self, profile: &str) -> std::process::Child {
        std::process::Command::new(llws_bin())
            .arg("--config")
            .arg(&self.config)
            .args(["switch", profile])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }
}

#[test]
fn claude_runs_in_the_workspace_and_survives_a_model_switch() {
    let mut env = TestEnv::new(BackendKind::Process);
    // A switch stops a server that is busy answering claude: do not wait long for it.
    env.settings.server.stop_timeout_s = 2;
    let ws = ClaudeWorkspace::prepare(&mut env, "tiny-a");
    // Claude Code's own interface, inside the pane.
    let t = ws.open();
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
    let out = ws.switch("tiny-b").wait_with_output().unwrap();
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
    wait_for_the_server_to_stop(&env);
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
    wait_for_the_server_to_stop(&env);
}

/// Waits until nothing answers on the inference port (llws quit with on_exit = stop).
fn wait_for_the_server_to_stop(env: &TestEnv) {
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

fn api_json(env: &TestEnv, path: &str) -> serde_json::Value {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
        .get(format!("{}{path}", env.settings.api.base_url()))
        .send()
        .and_then(|r| r.json())
        .unwrap_or(serde_json::Value::Null)
}

/// The router's `/v1/messages` requests so far (from `GET /activity`).
fn message_requests(env: &TestEnv) -> Vec<serde_json::Value> {
    api_json(env, "/activity?limit=1000")["requests"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|r| {
            r["endpoint"]
                .as_str()
                .is_some_and(|e| e.starts_with("/v1/messages"))
        })
        .collect()
}

/// Profiles with room for Claude Code's prompt (as the demo's `demo-claude`), and Claude Code
/// without its tools, with a one-line system prompt and short replies: a few hundred tokens
/// in and at most 32 out instead of ~15,000 in and up to 32,000 out, which the tiny model on a
/// loaded 2-core machine would take many minutes over.
fn room_for_claude(env: &mut TestEnv) {
    let conf = harness::MODELS_CONF
        .replace("CTX_SIZE=2048\nEXTRA_ARGS", "CTX_SIZE=8192\nEXTRA_ARGS")
        .replace("CTX_SIZE=4096\nEXTRA_ARGS", "CTX_SIZE=8192\nEXTRA_ARGS");
    assert_eq!(
        conf.matches("CTX_SIZE=8192\nEXTRA_ARGS").count(),
        2,
        "both tiny profiles"
    );
    std::fs::write(&env.settings.models_conf, conf).unwrap();
    env.settings.claude.args = [
        "--tools",
        "",
        "--system-prompt",
        "Answer in one short sentence.",
    ]
    .map(String::from)
    .into();
}

/// Claude Code's own cap on a reply's length (its `max_tokens`). The tiny model seldom stops
/// by itself: Claude Code shows what came and then says the reply "exceeded the 32 output
/// token maximum", which is not a connection error.
const SHORT_REPLIES: &str = "CLAUDE_CODE_MAX_OUTPUT_TOKENS=32";

/// What Claude Code prints when it cannot reach its API.
const CONNECTION_ERRORS: [&str; 5] = [
    "Unable to connect",
    "ConnectionRefused",
    "Connection error",
    "Retrying",
    // A 5xx from the router (a failed load, a full queue) in Claude Code's words.
    "API Error: 5",
];

/// Issue 13: Claude Code prompted while the server behind the router restarts gets its
/// reply, and its pane never shows a connection error. Each load is held 8 s before
/// llama-server even listens (a large model's load), so the prompt lands while no server
/// answers.
#[test]
fn claude_asked_during_a_switch_gets_its_reply_through_the_router() {
    let mut env = TestEnv::new(BackendKind::Process);
    env.slow_to_listen(8);
    env.settings.server.health_timeout_s = 120;
    assert!(env.settings.router.enabled, "the router is on by default");
    room_for_claude(&mut env);
    let ws = ClaudeWorkspace::prepare_with(&mut env, "tiny-a", SHORT_REPLIES);
    let t = ws.open();
    let before = message_requests(&env).len();

    let switch = ws.switch("tiny-b");
    wait_for("the switch to be under way", T, || {
        let s = api_json(&env, "/status");
        (s["switch"]["target"] == "tiny-b" && s["state"] != "running").then_some(())
    });
    t.type_text("Say hi");
    t.keys(&["Enter"]);
    let asked_at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert_ne!(
        api_json(&env, "/status")["state"],
        "running",
        "the prompt went in while the server was switching"
    );

    // Until the reply: the screen never names a connection problem.
    let deadline = Instant::now() + T * 2;
    let answered = wait_for("claude's request answered by Tiny B", T * 2 + T, || {
        let screen = t.screen();
        assert!(
            Instant::now() < deadline,
            "no reply from Tiny B; the pane:\n{screen}\nactivity: {}\nstatus: {}\nlog: {}",
            api_json(&env, "/activity?limit=20"),
            api_json(&env, "/status"),
            api_logs(&env)
                .lines()
                .rev()
                .take(15)
                .collect::<Vec<_>>()
                .join("\n")
        );
        for error in CONNECTION_ERRORS {
            assert!(!screen.contains(error), "`{error}` in the pane:\n{screen}");
        }
        message_requests(&env)
            .into_iter()
            .skip(before)
            .find(|r| r["profile"] == "tiny-b" && r["generated_tokens"].as_u64() > Some(0))
    });
    assert_eq!(answered["status"], 200, "{answered}");
    // It waited for the switch: it arrived before Tiny B was running.
    let running_since = api_json(&env, "/status")["running_since_ms"]
        .as_u64()
        .unwrap();
    let arrived = message_requests(&env)
        .into_iter()
        .skip(before)
        .map(|r| r["at_ms"].as_u64().unwrap())
        .min()
        .unwrap();
    assert!(
        arrived < running_since,
        "the first request arrived at {arrived} (asked at {asked_at_ms}), Tiny B ran from {running_since}"
    );
    // Claude Code shows the reply, and every request it sent was served.
    t.wait_for("the reply in the pane", T, |s| {
        // Claude Code marks a reply with ⏺ in some versions, ● in others; the pane's
        // border comes first on the line.
        s.lines().any(|l| {
            l.trim_start_matches(['┃', '│', ' '])
                .starts_with(['⏺', '●'])
        })
    });
    for r in message_requests(&env).into_iter().skip(before) {
        assert_eq!(r["status"], 200, "{r}");
    }
    let screen = t.screen();
    for error in CONNECTION_ERRORS {
        assert!(!screen.contains(error), "`{error}` in the pane:\n{screen}");
    }
    let out = switch.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    drop(t);
}

/// Issue 13: with `[router] follow_model` and `[router] opus` naming a profile, `/model
/// opus` typed in the claude pane makes Claude Code ask for that profile, and the router
/// switches the server to it.
#[test]
fn model_opus_in_the_pane_switches_the_server() {
    let mut env = TestEnv::new(BackendKind::Process);
    env.settings.router.follow_model = true;
    env.settings.router.min_residency_s = 0;
    env.settings.router.opus = "tiny-b".into();
    room_for_claude(&mut env);
    let ws = ClaudeWorkspace::prepare_with(&mut env, "tiny-a", SHORT_REPLIES);
    let t = ws.open();
    t.type_text("/model opus");
    t.keys(&["Enter"]);
    t.wait_text("tiny-b", T);
    t.type_text("Say hi");
    t.keys(&["Enter"]);
    wait_for("the server to switch to Tiny B", T * 2, || {
        let s = api_json(&env, "/status");
        (s["model"] == "tiny-b" && s["state"] == "running").then_some(())
    });
    // The request that caused it is recorded once it is answered.
    let asked: Vec<String> = wait_for("the request for Tiny B answered", T * 2, || {
        let asked: Vec<String> = message_requests(&env)
            .iter()
            .filter_map(|r| r["model"].as_str().map(String::from))
            .collect();
        asked.iter().any(|m| m == "tiny-b").then_some(asked)
    });
    assert!(
        asked.iter().any(|m| m == "tiny-b"),
        "models asked: {asked:?}\n{}\n{}",
        api_json(&env, "/activity?limit=20"),
        api_json(&env, "/status")
    );
    let screen = t.screen();
    for error in CONNECTION_ERRORS {
        assert!(!screen.contains(error), "`{error}` in the pane:\n{screen}");
    }
    drop(t);
}
