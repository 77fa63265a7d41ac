//! claude-local end to end: the real Claude Code CLI against a real llama-server with the
//! tiny model, in the pane (API and tmux) and through `llws claude` in the strict sandbox.
//! Nothing waits for the model's answer (minutes on two cores): a prompt reaching the
//! server is the proof.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use llws::claude::pane_command;
use llws::config::settings::{SandboxMode, parse_settings};
use llws::pty::TerminalPane;
use support::llama::LlamaServer;
use support::tmux::Tmux;
use support::{Fixtures, free_port, llws_bin};

/// A project, a home with a seeded claude-local config dir, and llws.toml pointing at the
/// server.
struct Setup {
    _root: tempfile::TempDir,
    root: PathBuf,
    home: PathBuf,
    config: PathBuf,
    path: String,
}

fn setup(server: &LlamaServer, sandbox: &str) -> Setup {
    setup_with(server.port, sandbox)
}

fn setup_with(port: u16, sandbox: &str) -> Setup {
    let root = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let r = root.path().to_path_buf();
    let home = r.join("home");
    let project = r.join("project");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&project).unwrap();
    let toml = format!(
        "[server]\nport = {}\n[api]\nbind = \"127.0.0.1:{}\"\n[claude]\nsandbox = \"{sandbox}\"\nconfig_dir = \"home/.claude-local\"\nproject_dir = \"project\"\n",
        port,
        free_port()
    );
    std::fs::write(r.join("llws.toml"), toml).unwrap();
    let claude_dir = Fixtures::get().claude().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        claude_dir.display(),
        std::env::var("PATH").unwrap()
    );
    // `llws claude --setup` seeds the config dir: onboarding done, the project trusted.
    let out = std::process::Command::new(llws_bin())
        .args(["--config", "llws.toml", "claude", "--setup"])
        .current_dir(&r)
        .env("HOME", &home)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Setup {
        config: home.join(".claude-local"),
        home,
        path,
        root: r,
        _root: root,
    }
}

fn wait_for_tasks(server: &LlamaServer, more_than: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.tasks_started() <= more_than {
        assert!(
            Instant::now() < deadline,
            "{what}: no request reached llama-server; log:\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn is_prompt_ready(screen: &str) -> bool {
    screen.contains("Claude Code") && screen.contains('❯')
}

#[test]
fn claude_in_the_pane_takes_a_multi_line_prompt_that_reaches_the_server() {
    let server = LlamaServer::start(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let s = setup(&server, "off");
    let settings = parse_settings(
        &std::fs::read_to_string(s.root.join("llws.toml")).unwrap(),
        &s.root.join("llws.toml"),
    )
    .unwrap();
    // SAFETY: set before any thread of this test binary reads the environment.
    unsafe { std::env::set_var("LLWS_EXE", llws_bin()) };
    let mut pc = pane_command(&settings, SandboxMode::Off, &[]).unwrap();
    pc.spec
        .env
        .push(("HOME".into(), s.home.display().to_string()));
    pc.spec.env.push(("PATH".into(), s.path.clone()));
    let mut pane = TerminalPane::spawn(pc.spec, 40, 120, 1000, Arc::new(|| {})).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !is_prompt_ready(&pane.screen_text()) {
        assert!(
            Instant::now() < deadline,
            "Claude Code did not open; screen:\n{}",
            pane.screen_text()
        );
        assert!(
            pane.exit_status().is_none(),
            "it exited: {:?}\n{}",
            pane.exit_status(),
            pane.screen_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        pane.screen_text().contains("local-llama"),
        "{}",
        pane.screen_text()
    );
    std::thread::sleep(Duration::from_millis(500));
    let before = server.tasks_started();
    let key = |c: KeyCode, m: KeyModifiers| KeyEvent::new(c, m);
    for c in "first line".chars() {
        pane.handle_key(&key(KeyCode::Char(c), KeyModifiers::NONE));
    }
    // Shift+Enter: a newline in the prompt, not a submit.
    pane.handle_key(&key(KeyCode::Enter, KeyModifiers::SHIFT));
    for c in "second line".chars() {
        pane.handle_key(&key(KeyCode::Char(c), KeyModifiers::NONE));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let t = pane.screen_text();
        // Claude Code draws its prompt as "❯" and a no-break space.
        let first = t
            .lines()
            .position(|l| l.starts_with('❯') && l.ends_with("first line"));
        let second = t.lines().position(|l| l.trim() == "second line");
        if let (Some(a), Some(b)) = (first, second) {
            assert_eq!(b, a + 1, "{t}");
            break;
        }
        assert!(Instant::now() < deadline, "no two-line prompt:\n{t}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        server.tasks_started(),
        before,
        "Shift+Enter must not submit"
    );
    pane.handle_key(&key(KeyCode::Enter, KeyModifiers::NONE));
    wait_for_tasks(&server, before, "Enter");
    // Claude Code wrote its state where claude-local told it to.
    assert!(s.config.join(".claude.json").exists());
}

#[test]
fn llws_pane_in_tmux_waits_for_the_server_then_runs_claude() {
    let port = free_port();
    let s = setup_with(port, "off");
    let cmd = format!(
        "env HOME='{}' PATH='{}' {} --config llws.toml __pane",
        s.home.display(),
        s.path,
        llws_bin().display()
    );
    let t = Tmux::start_in(&s.root, 120, 40, &cmd);
    // No server yet: the pane says what it waits for instead of failing.
    // At 120 columns the line keeps the state, the time and the hint whole; the URL
    // gives way (issue 14).
    let screen = t.wait_text(
        "waiting for llama-server: no server (connection refused)",
        Duration::from_secs(20),
    );
    assert!(
        screen.contains("· start a model in llws (or `llws up PROFILE`)"),
        "{screen}"
    );
    let server = LlamaServer::start_on(Path::new(env!("CARGO_TARGET_TMPDIR")), port);
    let screen = t.wait_for(
        "Claude Code's prompt",
        Duration::from_secs(60),
        is_prompt_ready,
    );
    assert!(screen.contains("local-llama"), "{screen}");
    std::thread::sleep(Duration::from_millis(500));
    let before = server.tasks_started();
    t.type_text("say hello");
    t.keys(&["Enter"]);
    wait_for_tasks(&server, before, "a prompt typed in tmux");
    t.keys(&["C-\\"]);
}

#[test]
fn llws_claude_in_the_strict_sandbox_reaches_the_server_through_the_bridge() {
    let server = LlamaServer::start(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let s = setup(&server, "strict");
    let cmd = format!(
        "env HOME='{}' PATH='{}' {} --config llws.toml claude",
        s.home.display(),
        s.path,
        llws_bin().display()
    );
    let t = Tmux::start_in(&s.root, 120, 40, &cmd);
    let screen = t.wait_for(
        "Claude Code's prompt",
        Duration::from_secs(60),
        is_prompt_ready,
    );
    assert!(screen.contains("local-llama"), "{screen}");
    // It really runs in the sandbox: the claude process has its own network namespace and
    // no-new-privileges.
    let pid =
        sandboxed_claude_pid(&s.home, "strict").expect("a claude process with LLWS_SANDBOX=strict");
    let ns = |p: &str| std::fs::read_link(format!("/proc/{p}/ns/net")).unwrap();
    assert_ne!(ns(&pid), ns("self"));
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    std::thread::sleep(Duration::from_millis(500));
    let before = server.tasks_started();
    t.type_text("say hello");
    t.keys(&["Enter"]);
    wait_for_tasks(&server, before, "a prompt from inside the strict sandbox");
}

/// Claude Code installed under the home folder (as `npm install` in ~ or the native
/// installer leave it): the sandbox empties the home folder and must bind the install back.
/// HOME is the folder that holds the fixtures here, so the install is under it. In `fs`
/// through the pane's full-screen runner, in `strict` through `llws claude`.
#[test]
fn claude_installed_under_home_runs_in_fs_and_strict() {
    let home = support::fixtures_dir()
        .parent()
        .expect("the fixtures folder has a parent")
        .to_path_buf();
    assert!(
        Fixtures::get().claude().starts_with(&home),
        "the test needs Claude Code under HOME"
    );
    for (mode, command) in [("fs", "__pane"), ("strict", "claude")] {
        // A server each: one busy with the first prompt (minutes on two cores, and a
        // cancel waits for the batch) would hold the second.
        let server = LlamaServer::start(Path::new(env!("CARGO_TARGET_TMPDIR")));
        let s = setup(&server, mode);
        let cmd = format!(
            "env HOME='{}' XDG_DATA_HOME='{}' PATH='{}' {} --config llws.toml {command}",
            home.display(),
            s.root.join("data").display(),
            s.path,
            llws_bin().display()
        );
        let t = Tmux::start_in(&s.root, 120, 40, &cmd);
        let screen = t.wait_for(
            &format!("Claude Code's prompt in {mode}"),
            Duration::from_secs(60),
            is_prompt_ready,
        );
        assert!(screen.contains("local-llama"), "{screen}");
        let pid = sandboxed_claude_pid(&home, mode)
            .unwrap_or_else(|| panic!("a claude process with LLWS_SANDBOX={mode}"));
        // Inside, the home folder holds the install and nothing else of the user's.
        let root = format!("/proc/{pid}/root");
        let inside = |p: &Path| Path::new(&root).join(p.strip_prefix("/").unwrap());
        assert!(inside(&Fixtures::get().claude()).exists());
        let listed: Vec<String> = std::fs::read_dir(inside(&home))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            listed,
            ["llws-test"],
            "{mode}: the home inside holds {listed:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
        let before = server.tasks_started();
        t.type_text("say hello");
        t.keys(&["Enter"]);
        wait_for_tasks(&server, before, &format!("a prompt from inside {mode}"));
        t.keys(&["C-\\"]);
    }
}

/// The pid of the claude process started for `home` inside a sandbox of `mode`.
fn sandboxed_claude_pid(home: &Path, mode: &str) -> Option<String> {
    let want_home = format!("HOME={}", home.display());
    let want_mode = format!("LLWS_SANDBOX={mode}");
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid = e.file_name().to_string_lossy().into_owned();
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
        let env: Vec<String> = env
            .split(|b| *b == 0)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect();
        (comm.trim() == "claude" && env.contains(&want_home) && env.contains(&want_mode))
            .then_some(pid)
    })
}

/// Without Claude Code, the pane offers a shell or a retry (issue 14, item 7): in llws's
/// pane there is no `[q]` that would only leave a dead pane, and leaving the shell brings
/// the menu back instead of ending the pane.
#[test]
fn without_claude_the_pane_menu_comes_back_after_the_shell() {
    let port = free_port();
    let s = setup_with(port, "off");
    let _server = LlamaServer::start_on(Path::new(env!("CARGO_TARGET_TMPDIR")), port);
    // A PATH without Claude Code.
    let cmd = format!(
        "env HOME='{}' PATH=/usr/bin:/bin SHELL=/bin/sh {} --config llws.toml __pane",
        s.home.display(),
        llws_bin().display()
    );
    let t = Tmux::start_in(&s.root, 120, 40, &cmd);
    let screen = t.wait_text(
        "[s] open a shell (/bin/sh)  [r] retry",
        Duration::from_secs(60),
    );
    assert!(screen.contains("is not on PATH"), "{screen}");
    assert!(
        !screen.contains("[q] quit"),
        "no [q] in llws's pane:\n{screen}"
    );
    t.keys(&["s"]);
    t.wait_text(
        "exit the shell to come back to this menu",
        Duration::from_secs(20),
    );
    t.type_text("echo in-the-shell-$((6*7))");
    t.keys(&["Enter"]);
    t.wait_text("in-the-shell-42", Duration::from_secs(20));
    t.type_text("exit");
    t.keys(&["Enter"]);
    t.wait_for("the menu again", Duration::from_secs(20), |s| {
        s.matches("[s] open a shell").count() == 2
    });
    // Still alive: a retry asks again.
    t.keys(&["r"]);
    t.wait_for("the menu a third time", Duration::from_secs(20), |s| {
        s.matches("[s] open a shell").count() == 3
    });
}
