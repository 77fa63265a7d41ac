//! claude-local/install.sh and claude-local/bin/claude-local, run for real.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::Fixtures;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// PATH with the fixture's claude first and without llws (the wrapper must work alone).
fn path_with_claude() -> String {
    let claude_dir = Fixtures::get().claude().parent().unwrap().to_path_buf();
    format!("{}:/usr/local/bin:/usr/bin:/bin", claude_dir.display())
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn install_seeds_the_config_dir_links_ide_installs_the_wrapper_and_is_idempotent() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let cfg = h.join(".claude-local");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join(".claude.json"),
        r#"{"numStartups": 4, "theme": "light"}"#,
    )
    .unwrap();
    let run = || {
        Command::new("bash")
            .arg(repo("claude-local/install.sh"))
            .env("HOME", h)
            .env("PATH", path_with_claude())
            .output()
            .unwrap()
    };

    let out = run();
    assert!(out.status.success(), "{}", text(&out));
    for f in [
        "settings.json",
        "CLAUDE.md",
        "skills/project-setup/SKILL.md",
    ] {
        assert!(cfg.join(f).is_file(), "{f}");
    }
    assert_eq!(
        std::fs::read_link(cfg.join("ide")).unwrap(),
        h.join(".claude/ide")
    );
    assert!(h.join(".claude/ide").is_dir());
    let wrapper = h.join("bin/claude-local");
    use std::os::unix::fs::PermissionsExt;
    assert!(std::fs::metadata(&wrapper).unwrap().permissions().mode() & 0o111 != 0);
    assert!(text(&out).contains("is not on your PATH"), "{}", text(&out));
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cfg.join(".claude.json")).unwrap()).unwrap();
    assert_eq!(state["hasCompletedOnboarding"], true);
    assert_eq!(state["numStartups"], 4, "merged, not clobbered");
    assert_eq!(state["theme"], "light");
    // ~/.claude holds nothing but ide.
    let entries: Vec<_> = std::fs::read_dir(h.join(".claude"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, ["ide"]);

    // Again: nothing changes, nothing breaks; an edited seed file is kept as .bak.
    std::fs::write(cfg.join("CLAUDE.md"), "my notes").unwrap();
    let out = run();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("up to date"), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(cfg.join("CLAUDE.md.bak")).unwrap(),
        "my notes"
    );
    assert_eq!(
        std::fs::read_to_string(cfg.join("CLAUDE.md")).unwrap(),
        std::fs::read_to_string(repo("claude-local/home/CLAUDE.md")).unwrap()
    );
}

#[test]
fn install_lists_missing_prerequisites() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg(repo("claude-local/install.sh"))
        .env("HOME", home.path())
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("npm install -g @anthropic-ai/claude-code"),
        "{}",
        text(&out)
    );
    assert!(
        !home.path().join(".claude-local").exists(),
        "nothing is installed when checks fail"
    );
}

/// A real HTTP listener answering /health with `status`.
fn health_server(status: &'static str) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let mut buf = [0u8; 1024];
            let _ = c.read(&mut buf);
            let _ = c.write_all(
                format!("HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}")
                    .as_bytes(),
            );
        }
    });
    port
}

fn wrapper(port: u16, path: &str, args: &[&str]) -> Output {
    Command::new(repo("claude-local/bin/claude-local"))
        .args(args)
        .env("PATH", path)
        .env("HOME", "/nonexistent-home")
        .env("LLWS_PORT", port.to_string())
        .env("ANTHROPIC_API_KEY", "sk-real-key-must-not-leak")
        .output()
        .unwrap()
}

#[test]
fn the_wrapper_refuses_a_missing_or_loading_server() {
    let closed = support::free_port();
    let out = wrapper(closed, &path_with_claude(), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains(&format!(
            "llama-server is not reachable at http://127.0.0.1:{closed}"
        )),
        "{}",
        text(&out)
    );

    let loading = health_server("503 Service Unavailable");
    let out = wrapper(loading, &path_with_claude(), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("still loading"), "{}", text(&out));
}

#[test]
fn the_wrapper_execs_claude_with_the_environment_and_the_arguments() {
    let ready = health_server("200 OK");
    // The real Claude Code gets the arguments.
    let out = wrapper(ready, &path_with_claude(), &["--version"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("(Claude Code)"), "{}", text(&out));
    // And the environment, as seen by `env` standing where claude would be.
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/usr/bin/env", dir.path().join("claude")).unwrap();
    let out = wrapper(
        ready,
        &format!("{}:/usr/bin:/bin", dir.path().display()),
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let env = String::from_utf8_lossy(&out.stdout).into_owned();
    for want in [
        "CLAUDE_CONFIG_DIR=/nonexistent-home/.claude-local".to_string(),
        format!("ANTHROPIC_BASE_URL=http://127.0.0.1:{ready}"),
        "ANTHROPIC_AUTH_TOKEN=llamacpp".into(),
        "ANTHROPIC_API_KEY=".into(),
        "ANTHROPIC_MODEL=local-llama".into(),
        "ANTHROPIC_SMALL_FAST_MODEL=local-llama".into(),
        "ANTHROPIC_DEFAULT_HAIKU_MODEL=local-llama".into(),
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1".into(),
    ] {
        assert!(env.lines().any(|l| l == want), "missing {want} in\n{env}");
    }
    assert!(!env.contains("sk-real-key"), "{env}");
}

#[test]
fn the_wrapper_reads_host_and_port_from_llws_config() {
    // llws on PATH, with a settings file naming the port: no LLWS_PORT needed.
    let ready = health_server("200 OK");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("llws.toml"),
        format!("[server]\nport = {ready}\n[claude]\nmodel = \"qwen-local\"\n"),
    )
    .unwrap();
    std::os::unix::fs::symlink("/usr/bin/env", dir.path().join("claude")).unwrap();
    std::os::unix::fs::symlink(support::llws_bin(), dir.path().join("llws")).unwrap();
    // A folder's llws.toml is read once trusted (docs/configuration.md#trusted-files).
    let trusted = Command::new(support::llws_bin())
        .args(["trust", "llws.toml"])
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env_remove("XDG_DATA_HOME")
        .output()
        .unwrap();
    assert!(trusted.status.success(), "{}", text(&trusted));
    let out = Command::new(repo("claude-local/bin/claude-local"))
        .current_dir(dir.path())
        .env("PATH", format!("{}:/usr/bin:/bin", dir.path().display()))
        .env("HOME", dir.path())
        .env_remove("XDG_DATA_HOME")
        .env_remove("LLWS_PORT")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let env = String::from_utf8_lossy(&out.stdout);
    assert!(
        env.contains(&format!("ANTHROPIC_BASE_URL=http://127.0.0.1:{ready}\n")),
        "{env}"
    );
    assert!(env.contains("ANTHROPIC_MODEL=qwen-local\n"), "{env}");
}
