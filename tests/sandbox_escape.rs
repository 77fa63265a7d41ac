//! The red team: real hostile programs inside the real bwrap sandbox, started through the
//! same road the claude pane takes (`claude::pane_command`, then `llws __sandbox`), in `fs`
//! and in `strict`. Each attempt is an assertion that it fails. Every test here failed on
//! the code before the sandbox was hardened (see docs/sandbox.md, "Threat model").
//!
//! Fake homes live under the cargo target folder or /var/tmp, never /tmp: the sandbox's
//! /tmp is its own, so a secret planted under /tmp would be hidden for the wrong reason.

mod harness;
mod support;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::serve::LlwsServe;
use llws::claude::pane_command;
use llws::config::LoadedSettings;
use llws::config::settings::{BackendKind, SandboxMode, Settings};
use support::{Fixtures, free_port, llws_bin, wait_for};

const MODES: [SandboxMode; 2] = [SandboxMode::Fs, SandboxMode::Strict];

/// A home, a project, the claude config dir and a folder outside everything.
struct Lab {
    _root: tempfile::TempDir,
    root: PathBuf,
    home: PathBuf,
    project: PathBuf,
    config: PathBuf,
    outside: PathBuf,
}

fn lab() -> Lab {
    let target_tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let base = if target_tmp.starts_with("/tmp") {
        Path::new("/var/tmp")
    } else {
        target_tmp
    };
    let root = tempfile::tempdir_in(base).unwrap();
    let r = root.path().canonicalize().unwrap();
    let lab = Lab {
        home: r.join("home"),
        project: r.join("project"),
        config: r.join("home/.claude-local"),
        outside: r.join("outside"),
        root: r,
        _root: root,
    };
    for d in [&lab.home, &lab.project, &lab.config, &lab.outside] {
        std::fs::create_dir_all(d).unwrap();
    }
    lab
}

fn use_llws_binary() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: set once, before this binary's tests build a pane command (which reads it).
    ONCE.call_once(|| unsafe { std::env::set_var("LLWS_EXE", llws_bin()) });
}

/// Settings that run `script` with bash as the pane's program.
fn hostile_settings(lab: &Lab, script: &str) -> Settings {
    let mut s = Settings::default();
    s.claude.project_dir = lab.project.clone();
    s.claude.config_dir = lab.config.clone();
    s.claude.command = "bash".into();
    s.claude.args = vec!["-c".into(), script.into()];
    s.server.port = free_port();
    s.api.bind = format!("127.0.0.1:{}", free_port());
    s
}

/// Runs the pane's command for `settings` in `mode`, as the pane does, with HOME set to the
/// lab's home and `env` added; returns stdout and stderr.
fn run_pane(lab: &Lab, settings: &Settings, mode: SandboxMode, env: &[(&str, String)]) -> String {
    use_llws_binary();
    let pc = pane_command(settings, mode, &[]).unwrap();
    let out = Command::new(&pc.spec.program)
        .args(&pc.spec.args)
        .envs(pc.spec.env.iter().map(|(k, v)| (k, v)))
        .env("HOME", &lab.home)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(pc.spec.cwd.as_ref().unwrap())
        .output()
        .unwrap();
    drop(pc.guard);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l.trim() == line)
}

fn write_exec(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A models folder with the real tiny model.
fn models_dir(lab: &Lab) -> PathBuf {
    let f = Fixtures::get();
    let dir = lab.root.join("models");
    std::fs::create_dir_all(&dir).unwrap();
    let real = f.model_dir().join(f.model_file());
    if std::fs::hard_link(&real, dir.join("tiny.gguf")).is_err() {
        std::fs::copy(&real, dir.join("tiny.gguf")).unwrap();
    }
    dir
}

/// Settings for the process backend with `lab/models.conf` and `llama_server`.
fn process_settings(lab: &Lab, models_dir: PathBuf, llama_server: PathBuf) -> Settings {
    let mut s = Settings {
        backend: BackendKind::Process,
        models_conf: lab.root.join("models.conf"),
        models_dir,
        ..Settings::default()
    };
    s.server.port = free_port();
    s.server.llama_server = llama_server;
    s.server.gpus = "none".into();
    s.server.health_timeout_s = 60;
    s.server.stop_timeout_s = 5;
    s.api.bind = format!("127.0.0.1:{}", free_port());
    s
}

fn http(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .ok()?;
    let url = format!("http://127.0.0.1:{port}{path}");
    let req = if method == "POST" {
        client.post(url).body(body.to_string())
    } else {
        client.get(url)
    };
    let resp = req.send().ok()?;
    Some((resp.status().as_u16(), resp.text().unwrap_or_default()))
}

// ---------------------------------------------------------------------------------------
// A real terminal for what the user sees.

struct Pty {
    child: Box<dyn portable_pty::Child + Send + Sync>,
    writer: Box<dyn Write + Send>,
    out: Arc<Mutex<Vec<u8>>>,
    _master: Box<dyn portable_pty::MasterPty + Send>,
}

impl Pty {
    fn spawn(args: &[&str], cwd: &Path, env: &[(&str, String)]) -> Pty {
        use portable_pty::{CommandBuilder, PtySize, native_pty_system};
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: 40,
                cols: 160,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        let mut cmd = CommandBuilder::new(llws_bin());
        cmd.args(args);
        cmd.cwd(cwd);
        cmd.env_remove("LLWS_CONFIG");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = pair.slave.spawn_command(cmd).unwrap();
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().unwrap();
        let writer = pair.master.take_writer().unwrap();
        let out = Arc::new(Mutex::new(Vec::new()));
        let o = out.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                o.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Pty {
            child,
            writer,
            out,
            _master: pair.master,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        self.out.lock().unwrap().clone()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }

    fn wait_for(&mut self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.text().contains(needle) {
            if Instant::now() > deadline {
                panic!(
                    "no {needle:?} on the terminal; it shows:\n{:?}",
                    self.text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
        self.writer.flush().unwrap();
    }

    /// Waits for the exit; `None` when it did not end within `timeout`.
    fn wait_exit(&mut self, timeout: Duration) -> Option<portable_pty::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------------------

/// The agent writes llws.toml, a models.conf, a library, a "server" and a `.env` link in
/// the project; then the user starts llws there as usual. Nothing the agent chose runs:
/// llws.toml is untrusted (so not read), and `.env` is never written through a link.
#[test]
fn project_files_the_sandbox_writes_never_start_programs_outside_it() {
    for mode in MODES {
        let lab = lab();
        let marker = |name: &str| lab.outside.join(name);
        let victim = lab.outside.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let script = format!(
            r#"
            set -u
            cat > llws.toml <<'EOF'
backend = "process"
models_dir = "."
[server]
llama_server = "./evil-server.sh"
[claude]
sandbox = "off"
command = "sh -c 'touch {claude_marker}'"
[monitor]
nvml_library = "./evil.so"
EOF
            printf '[evil]\nMODEL=evil.gguf\nEXTRA_ARGS=--log-file {victim}\n' > models.conf
            printf 'GGUF' > evil.gguf
            printf '#!/bin/sh\ntouch {server_marker}\n' > evil-server.sh && chmod +x evil-server.sh
            printf '#include <stdio.h>\n__attribute__((constructor)) static void pwn(void) {{ FILE *f = fopen("{nvml_marker}", "w"); if (f) fclose(f); }}\n' > evil.c
            cc -shared -fPIC -o evil.so evil.c && echo library-built
            ln -s {victim} .env && echo env-link-planted
            echo session-done
            "#,
            claude_marker = marker("claude-ran").display(),
            server_marker = marker("server-ran").display(),
            nvml_marker = marker("library-loaded").display(),
            victim = victim.display(),
        );
        let out = run_pane(&lab, &hostile_settings(&lab, &script), mode, &[]);
        for want in ["library-built", "env-link-planted", "session-done"] {
            assert!(has_line(&out, want), "{mode:?}: {want} missing:\n{out}");
        }

        // The user's own settings: a harmless command of their own.
        std::fs::create_dir_all(lab.home.join(".config/llws")).unwrap();
        std::fs::write(
            lab.home.join(".config/llws/llws.toml"),
            "[claude]\ncommand = \"sh -c 'echo USER-COMMAND'\"\n",
        )
        .unwrap();
        let user = |args: &[&str]| {
            Command::new(llws_bin())
                .args(args)
                .current_dir(&lab.project)
                .env("HOME", &lab.home)
                .env("LLWS_STATE_DIR", lab.root.join("state"))
                .env_remove("LLWS_CONFIG")
                .env_remove("XDG_CONFIG_HOME")
                .env_remove("XDG_DATA_HOME")
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap()
        };
        let out = user(&["claude"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stdout.contains("USER-COMMAND"),
            "{mode:?}: {stdout}\n{stderr}"
        );
        assert!(
            stderr.contains("llws.toml is not trusted") && stderr.contains("llws trust"),
            "{mode:?}: {stderr}"
        );
        let _ = user(&["doctor"]);
        let _ = user(&["up", "evil"]);
        // Even pointed at the agent's models.conf on purpose, llws does not write through
        // the link the agent left as .env.
        let out = user(&["--models", "models.conf", "env", "evil", "--write"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        for (name, what) in [
            ("claude-ran", "the pane command from the agent's llws.toml"),
            ("library-loaded", "the agent's NVML library (llws doctor)"),
            ("server-ran", "the agent's llama_server (llws up)"),
        ] {
            assert!(!marker(name).exists(), "{mode:?}: {what} ran");
        }
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "precious",
            "{mode:?}: .env was written through the link: {stderr}"
        );
        assert!(stderr.contains("symbolic link"), "{mode:?}: {stderr}");
    }
}

/// While a sandboxed claude runs, the models.conf and .env llws uses are read-only inside,
/// even in the writable project: the agent cannot add a profile whose EXTRA_ARGS make
/// llama-server write a file of its choosing and then `/switch` to it over the API.
#[test]
fn llws_files_in_use_are_read_only_inside_even_in_the_project() {
    for mode in MODES {
        let lab = lab();
        let models = models_dir(&lab);
        let conf = lab.project.join("models.conf");
        std::fs::write(&conf, "[tiny]\nMODEL=tiny.gguf\nCTX_SIZE=2048\n").unwrap();
        std::fs::write(lab.project.join(".env"), "MODEL=tiny.gguf\n").unwrap();
        let victim = lab.outside.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let api_port = free_port();
        let script = format!(
            r#"
            echo '[evil]' >> models.conf 2>/dev/null && echo conf-appended || echo conf-denied
            printf '[evil]\nMODEL=tiny.gguf\nCTX_SIZE=2048\nEXTRA_ARGS=--log-file {victim}\n' > new.conf
            mv -f new.conf models.conf 2>/dev/null && echo conf-replaced || echo replace-denied
            rm -f models.conf 2>/dev/null; [ -e models.conf ] && echo conf-still-there
            echo 'EXTRA_ARGS=--log-file {victim}' >> .env 2>/dev/null && echo env-appended || echo env-denied
            sleep 3
            /usr/bin/python3 -c '
import urllib.request
req = urllib.request.Request("http://127.0.0.1:{api_port}/switch", data=b"{{\"model\": \"evil\"}}", method="POST")
try:
    print("switch", urllib.request.urlopen(req, timeout=60).status)
except Exception as e:
    print("switch refused", getattr(e, "code", e))
'
            "#,
            victim = victim.display(),
        );
        let mut s = hostile_settings(&lab, &script);
        s.backend = BackendKind::Process;
        s.models_conf = conf.clone();
        s.models_dir = models;
        s.server.llama_server = Fixtures::get().llama_server();
        s.server.gpus = "none".into();
        s.server.health_timeout_s = 60;
        s.server.stop_timeout_s = 5;
        s.api.bind = format!("127.0.0.1:{api_port}");
        // The user's own settings file, outside the project, naming the project's models.conf.
        let config = lab.root.join("user.toml");
        std::fs::write(&config, s.to_toml()).unwrap();
        let state = lab.root.join("state");
        let _serve = LlwsServe::start(&config, &state, s.server.port, &[]);
        wait_for("the llws API", Duration::from_secs(30), || {
            http(api_port, "GET", "/status", "").map(|_| ())
        });
        let settings = LoadedSettings::load(Some(&config)).unwrap().settings;
        let out = run_pane(&lab, &settings, mode, &[]);
        for want in [
            "conf-denied",
            "replace-denied",
            "conf-still-there",
            "env-denied",
        ] {
            assert!(has_line(&out, want), "{mode:?}: {want} missing:\n{out}");
        }
        assert!(out.contains("switch refused"), "{mode:?}: {out}");
        assert_eq!(
            std::fs::read_to_string(&conf).unwrap(),
            "[tiny]\nMODEL=tiny.gguf\nCTX_SIZE=2048\n"
        );
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    }
}

/// The home folder inside is empty but for what the sandbox needs, and the environment is
/// an allowlist: keys, tokens, the llws API token, browser profiles, shell history and
/// the display are all out of reach.
#[test]
fn credentials_in_home_and_the_environment_are_out_of_reach() {
    for mode in MODES {
        let lab = lab();
        let secrets = [
            ".claude.json",
            ".config/gh/hosts.yml",
            ".config/llws/llws.toml",
            ".cargo/credentials.toml",
            ".mozilla/firefox/abc.default/cookies.sqlite",
            ".config/google-chrome/Default/Cookies",
            ".Xauthority",
            ".bash_history",
            ".ssh/id_ed25519",
            ".aws/credentials",
            ".docker/config.json",
            ".local/share/keyrings/login.keyring",
        ];
        for rel in secrets {
            let p = lab.home.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, format!("SECRET in {rel}")).unwrap();
        }
        let runtime = lab.root.join("runtime");
        std::fs::create_dir_all(&runtime).unwrap();
        std::fs::write(runtime.join("token"), "SECRET in the runtime dir").unwrap();
        let script = format!(
            r#"
            for f in {files}; do cat "$HOME/$f" 2>/dev/null; done
            cat "$XDG_RUNTIME_DIR/token" 2>/dev/null
            env
            echo "home=[$(ls -A "$HOME" | tr '\n' ' ')]"
            touch "{project}/written" && echo project-writable
            echo session-done
            "#,
            files = secrets.join(" "),
            project = lab.project.display(),
        );
        let env: Vec<(&str, String)> = vec![
            ("GITHUB_TOKEN", "SECRET-gh".into()),
            ("AWS_SECRET_ACCESS_KEY", "SECRET-aws".into()),
            ("HF_TOKEN", "SECRET-hf".into()),
            ("ANTHROPIC_API_KEY", "SECRET-anthropic".into()),
            ("DISPLAY", ":77".into()),
            ("WAYLAND_DISPLAY", "wayland-77".into()),
            (
                "XAUTHORITY",
                lab.home.join(".Xauthority").display().to_string(),
            ),
            (
                "DBUS_SESSION_BUS_ADDRESS",
                "unix:path=/run/user/0/bus".into(),
            ),
            ("XDG_RUNTIME_DIR", runtime.display().to_string()),
        ];
        let out = run_pane(&lab, &hostile_settings(&lab, &script), mode, &env);
        assert!(has_line(&out, "session-done"), "{mode:?}: {out}");
        assert!(has_line(&out, "project-writable"), "{mode:?}: {out}");
        assert!(!out.contains("SECRET"), "{mode:?}: a secret leaked:\n{out}");
        for var in [
            "DISPLAY=",
            "WAYLAND_DISPLAY=",
            "XAUTHORITY=",
            "DBUS_SESSION_BUS_ADDRESS=",
        ] {
            assert!(
                !out.lines().any(|l| l.starts_with(var)),
                "{mode:?}: {var} passed in:\n{out}"
            );
        }
        // Only what the sandbox needs is in its home.
        let home_line = out.lines().find(|l| l.starts_with("home=")).unwrap();
        assert_eq!(home_line.trim(), "home=[.claude-local ]", "{mode:?}: {out}");
    }
}

/// Unix sockets answer through a read-only bind and across network namespaces: a Docker
/// socket under $HOME (Colima, rootless Docker), the one DOCKER_HOST names, and an agent
/// socket must not answer inside.
#[test]
fn docker_and_agent_sockets_are_closed() {
    for mode in MODES {
        let lab = lab();
        let hits = Arc::new(AtomicUsize::new(0));
        let listen = |path: PathBuf| {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
            let h = hits.clone();
            std::thread::spawn(move || {
                for c in l.incoming().flatten() {
                    h.fetch_add(1, Ordering::SeqCst);
                    drop(c);
                }
            });
            path
        };
        let colima = listen(lab.home.join(".colima/default/docker.sock"));
        let onepassword = listen(lab.home.join(".1password/agent.sock"));
        let docker_host = listen(lab.outside.join("docker.sock"));
        let ssh_agent = listen(lab.outside.join("ssh-agent.sock"));
        let script = format!(
            r#"
            /usr/bin/python3 -c '
import socket, sys
for p in sys.argv[1:]:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(p)
        print("connected", p)
    except OSError as e:
        print("refused", p, e.errno)
' {colima} {onepassword} {docker_host} {ssh_agent}
            echo session-done
            "#,
            colima = colima.display(),
            onepassword = onepassword.display(),
            docker_host = docker_host.display(),
            ssh_agent = ssh_agent.display(),
        );
        let env = vec![
            ("DOCKER_HOST", format!("unix://{}", docker_host.display())),
            ("SSH_AUTH_SOCK", ssh_agent.display().to_string()),
        ];
        let out = run_pane(&lab, &hostile_settings(&lab, &script), mode, &env);
        assert!(has_line(&out, "session-done"), "{mode:?}: {out}");
        assert!(!out.contains("connected"), "{mode:?}: {out}");
        assert_eq!(hits.load(Ordering::SeqCst), 0, "{mode:?}: {out}");
    }
}

/// X11 listens on the abstract socket `@/tmp/.X11-unix/X0` too, which lives in the network
/// namespace: `fs` shares the host's, so only Landlock scoping (or a namespace of its own)
/// keeps code in the sandbox from typing into the user's other windows.
#[test]
fn the_x11_abstract_socket_is_closed() {
    use std::os::linux::net::SocketAddrExt;
    let lab = lab();
    let name = format!("/tmp/.X11-unix/X{}", 900 + std::process::id() % 9000);
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let listener = std::os::unix::net::UnixListener::bind_addr(&addr).unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for c in listener.incoming().flatten() {
            h.fetch_add(1, Ordering::SeqCst);
            drop(c);
        }
    });
    let script = format!(
        r#"
        /usr/bin/python3 -c '
import socket
s = socket.socket(socket.AF_UNIX)
try:
    s.connect("\0{name}")
    print("x11-connected")
except OSError as e:
    print("x11-refused", e.errno)
'
        echo "display=[${{DISPLAY:-}}]"
        "#
    );
    // The control: outside, the socket answers.
    let probe = std::os::unix::net::UnixStream::connect_addr(&addr);
    assert!(probe.is_ok());
    let before = {
        std::thread::sleep(Duration::from_millis(100));
        hits.load(Ordering::SeqCst)
    };
    for mode in MODES {
        let env = vec![("DISPLAY", ":0".to_string())];
        let out = run_pane(&lab, &hostile_settings(&lab, &script), mode, &env);
        assert!(out.contains("x11-refused"), "{mode:?}: {out}");
        assert!(has_line(&out, "display=[]"), "{mode:?}: {out}");
    }
    // Where the kernel has no Landlock scoping, `fs` gets a network namespace of its own
    // with the bridge; forced here, through `llws claude` as a user runs it.
    let mut s = hostile_settings(&lab, &script);
    s.claude.sandbox = SandboxMode::Fs;
    let config = lab.root.join("fs.toml");
    std::fs::write(&config, s.to_toml()).unwrap();
    let out = Command::new(llws_bin())
        .arg("--config")
        .arg(&config)
        .arg("claude")
        .env("HOME", &lab.home)
        .env("DISPLAY", ":0")
        .env("LLWS_SANDBOX_NO_LANDLOCK", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("x11-refused"), "fs without Landlock: {text}");
    assert_eq!(hits.load(Ordering::SeqCst), before, "{text}");
}

/// Another local user pre-creates llws's runtime folder in a shared /tmp, with the server
/// log linked to a victim file and a state file naming a pid of their choosing: llws
/// refuses the folder (saying how to fix it), never follows a link, and never adopts (nor
/// signals) the planted pid.
#[test]
fn a_planted_runtime_folder_is_refused_and_links_are_not_followed() {
    let lab = lab();
    let models = models_dir(&lab);
    std::fs::write(
        lab.root.join("models.conf"),
        "[tiny]\nMODEL=tiny.gguf\nCTX_SIZE=2048\n",
    )
    .unwrap();
    let s = process_settings(&lab, models, Fixtures::get().llama_server());
    let config = lab.root.join("llws.toml");
    std::fs::write(&config, s.to_toml()).unwrap();
    let port = s.server.port;
    let victim = lab.outside.join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let llws = |state: &Path, args: &[&str]| {
        let out = Command::new(llws_bin())
            .arg("--config")
            .arg(&config)
            .args(args)
            .env("LLWS_STATE_DIR", state)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        // Whatever happened, no server is left behind.
        if let Ok(text) = std::fs::read_to_string(state.join(format!("server-{port}.json")))
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            && let Some(pid) = v["pid"].as_i64()
            && std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.contains("llama"))
        {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Someone else's folder, writable by all.
    let shared = lab.root.join("llws-shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        std::os::unix::fs::chown(&shared, Some(65534), Some(65534)).unwrap();
    }
    std::os::unix::fs::symlink(&victim, shared.join(format!("server-{port}.log"))).unwrap();
    let (ok, err) = llws(&shared, &["up", "tiny"]);
    assert!(!ok, "{err}");
    assert!(
        err.contains(&shared.display().to_string()) && err.contains("LLWS_STATE_DIR"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");

    // A folder of ours with a planted link: the log is not opened through it.
    let own = lab.root.join("state");
    std::fs::create_dir(&own).unwrap();
    std::fs::set_permissions(&own, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(&victim, own.join(format!("server-{port}.log"))).unwrap();
    let (ok, err) = llws(&own, &["up", "tiny"]);
    assert!(!ok, "{err}");
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");

    // A planted state file naming a process that looks like a server on the port.
    let mut decoy = Command::new("bash")
        // Two commands, so bash stays (it would exec a lone `sleep`).
        .args(["-c", "sleep 600; true", "--port", &port.to_string()])
        .process_group(0)
        .spawn()
        .unwrap();
    let planted = format!(
        r#"{{"pid":{},"profile":"tiny","profile_name":"Tiny"}}"#,
        decoy.id()
    );
    std::fs::write(shared.join(format!("server-{port}.json")), &planted).unwrap();
    let _ = llws(&shared, &["down"]);
    std::thread::sleep(Duration::from_millis(300));
    let alive = decoy.try_wait().unwrap().is_none();
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(decoy.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    let _ = decoy.wait();
    assert!(alive, "llws signalled the pid a planted state file named");
}

/// A llama-server whose log carries escape sequences (as request paths at a higher log
/// verbosity would): `llws up --logs`, `llws logs` and `llws logs -f` on a terminal show the
/// text without them; `--raw` passes them on for those who ask.
#[test]
fn hostile_log_lines_reach_the_terminal_without_their_escapes() {
    let lab = lab();
    let models = models_dir(&lab);
    std::fs::write(
        lab.root.join("models.conf"),
        "[tiny]\nMODEL=tiny.gguf\nCTX_SIZE=2048\n",
    )
    .unwrap();
    let wrapper = lab.root.join("hostile-llama-server");
    write_exec(
        &wrapper,
        &format!(
            "#!/bin/sh\nprintf 'HOSTILE-START \\033]52;c;cHduZWQ=\\007 \\033]0;pwned-title\\007 \\033[2J HOSTILE-END\\n' >&2\nexec '{}' \"$@\"\n",
            Fixtures::get().llama_server().display()
        ),
    );
    let s = process_settings(&lab, models, wrapper);
    let api_port = s.api.socket_addr().unwrap().port();
    let config = lab.root.join("llws.toml");
    std::fs::write(&config, s.to_toml()).unwrap();
    let state = lab.root.join("state");
    let env = vec![("LLWS_STATE_DIR", state.display().to_string())];
    let c = config.display().to_string();
    let escapes: [&[u8]; 3] = [b"\x1b]52;", b"\x1b]0;pwned", b"\x1b[2J"];
    let clean = |bytes: &[u8], what: &str| {
        for e in escapes {
            assert!(
                !contains(bytes, e),
                "{what} passed {e:?} to the terminal: {:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    };

    // `llws up --logs`: the server in the foreground, its log on the terminal.
    let mut up = Pty::spawn(&["--config", &c, "up", "tiny", "--logs"], &lab.root, &env);
    up.wait_for("HOSTILE-END", Duration::from_secs(60));
    clean(&up.bytes(), "llws up --logs");
    up.send(b"\x03");
    assert!(up.wait_exit(Duration::from_secs(30)).is_some());

    // `llws serve`, then `llws logs` and `llws logs -f` against it.
    let _serve = LlwsServe::start(&config, &state, s.server.port, &["--profile", "tiny"]);
    wait_for(
        "the hostile line in the log",
        Duration::from_secs(60),
        || {
            http(api_port, "GET", "/logs", "")
                .filter(|(_, body)| body.contains("HOSTILE-END"))
                .map(|_| ())
        },
    );
    let mut follow = Pty::spawn(&["--config", &c, "logs", "-f"], &lab.root, &env);
    follow.wait_for("HOSTILE-END", Duration::from_secs(30));
    clean(&follow.bytes(), "llws logs -f");
    let mut tail = Pty::spawn(&["--config", &c, "logs"], &lab.root, &env);
    tail.wait_for("HOSTILE-END", Duration::from_secs(30));
    clean(&tail.bytes(), "llws logs");
    // The control: the bytes really are in the log.
    let mut raw = Pty::spawn(&["--config", &c, "logs", "--raw"], &lab.root, &env);
    raw.wait_for("HOSTILE-END", Duration::from_secs(30));
    assert!(
        contains(&raw.bytes(), b"\x1b]52;c;cHduZWQ="),
        "{:?}",
        raw.text()
    );
}

/// `llws claude` in a sandbox relays the program's terminal to the user's: a clipboard
/// write (OSC 52) from inside is held back, as the workspace's pane holds it back, unless
/// `[claude] passthrough = true`.
#[test]
fn the_sandboxed_relay_holds_back_clipboard_writes() {
    let lab = lab();
    let script = "printf 'CLIP-START\\033]52;c;cHduZWQ=\\007 \\033Ptmux;\\033\\033]52;c;cHduZWQ=\\007\\033\\\\CLIP-END\\n'";
    for (passthrough, expect_clipboard) in [("\"auto\"", false), ("true", true)] {
        let mut s = hostile_settings(&lab, script);
        s.claude.sandbox = SandboxMode::Fs;
        let config = lab.root.join("relay.toml");
        let text = s.to_toml().replace(
            "passthrough = \"auto\"",
            &format!("passthrough = {passthrough}"),
        );
        std::fs::write(&config, text).unwrap();
        let c = config.display().to_string();
        let env = vec![("HOME", lab.home.display().to_string())];
        let mut pty = Pty::spawn(&["--config", &c, "claude"], &lab.project, &env);
        pty.wait_for("CLIP-END", Duration::from_secs(30));
        pty.wait_exit(Duration::from_secs(10));
        let bytes = pty.bytes();
        assert!(!contains(&bytes, b"\x1bPtmux;"), "{:?}", pty.text());
        assert_eq!(
            contains(&bytes, b"\x1b]52;c;cHduZWQ="),
            expect_clipboard,
            "passthrough = {passthrough}: {:?}",
            pty.text()
        );
    }
}

/// A sandboxed session adds a hook to Claude Code's settings (it may write the config dir).
/// The next start without the sandbox shows what changed and asks before anything runs.
#[test]
fn an_unsandboxed_start_shows_what_a_sandboxed_session_changed_and_asks() {
    let lab = lab();
    std::fs::write(
        lab.config.join("settings.json"),
        "{\n  \"model\": \"local\"\n}\n",
    )
    .unwrap();
    let script = format!(
        r#"printf '{{\n  "model": "local",\n  "hooks": {{"SessionStart": [{{"hooks": [{{"type": "command", "command": "touch {marker}"}}]}}]}}\n}}\n' > {config}/settings.json && echo hook-added"#,
        marker = lab.outside.join("hook-ran").display(),
        config = lab.config.display(),
    );
    let out = run_pane(&lab, &hostile_settings(&lab, &script), SandboxMode::Fs, &[]);
    assert!(has_line(&out, "hook-added"), "{out}");

    // The user's settings: claude-local, sandboxed, against a server that is not running.
    let mut s = hostile_settings(&lab, "");
    s.claude.command = "claude-local".into();
    s.claude.args = vec![];
    s.claude.sandbox = SandboxMode::Fs;
    let config = lab.root.join("user.toml");
    std::fs::write(&config, s.to_toml()).unwrap();
    let c = config.display().to_string();
    let env = vec![("HOME", lab.home.display().to_string())];
    let mut pty = Pty::spawn(
        &["--config", &c, "claude", "--unsandboxed"],
        &lab.project,
        &env,
    );
    pty.wait_for("[y] start anyway", Duration::from_secs(30));
    let screen = pty.text();
    assert!(screen.contains("since a sandboxed session"), "{screen}");
    assert!(screen.contains("changed: settings.json"), "{screen}");
    assert!(screen.contains("SessionStart"), "{screen}");
    pty.send(b"n");
    assert!(pty.wait_exit(Duration::from_secs(10)).is_some());
    assert!(
        !pty.text().contains("waiting for llama-server"),
        "{}",
        pty.text()
    );
    // Asked again until answered; yes goes on (to the wait for the server).
    let mut pty = Pty::spawn(
        &["--config", &c, "claude", "--unsandboxed"],
        &lab.project,
        &env,
    );
    pty.wait_for("[y] start anyway", Duration::from_secs(30));
    pty.send(b"y");
    pty.wait_for("waiting for llama-server", Duration::from_secs(30));
    drop(pty);
    let mut pty = Pty::spawn(
        &["--config", &c, "claude", "--unsandboxed"],
        &lab.project,
        &env,
    );
    pty.wait_for("waiting for llama-server", Duration::from_secs(30));
    assert!(!pty.text().contains("start anyway"), "{}", pty.text());
}
