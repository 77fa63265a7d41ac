//! The sandbox with the real bubblewrap: what a sandboxed program can and cannot do.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use llws::claude::pane_command;
use llws::claude::sandbox::bridge::{Bridge, ide_lock_dir};
use llws::config::settings::{SandboxMode, Settings};
use llws::pty::{CommandSpec, TerminalPane};
use support::{free_port, llws_bin};

struct Dirs {
    _root: tempfile::TempDir,
    home: PathBuf,
    project: PathBuf,
    config: PathBuf,
    outside: PathBuf,
}

fn dirs() -> Dirs {
    // Not under /tmp: the sandbox's /tmp is its own, which would make a home there look
    // writable (to a tmpfs nobody sees) and hide what the test wants to check.
    // The checkout itself may live under /tmp (a CI clone): then use /var/tmp.
    let target_tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let base = if target_tmp.starts_with("/tmp") {
        Path::new("/var/tmp")
    } else {
        target_tmp
    };
    let root = tempfile::tempdir_in(base).unwrap();
    let home = root.path().join("home");
    let project = root.path().join("project");
    let config = home.join(".claude-local");
    let outside = root.path().join("outside");
    for d in [&home, &project, &config, &outside] {
        std::fs::create_dir_all(d).unwrap();
    }
    Dirs {
        home,
        project,
        config,
        outside,
        _root: root,
    }
}

/// `llws __sandbox --mode MODE ... -- bash -c SCRIPT`, as the pane would run it.
fn sandboxed(d: &Dirs, mode: &str, script: &str) -> (String, bool) {
    let out = Command::new(llws_bin())
        .args(["__sandbox", "--mode", mode, "--project"])
        .arg(&d.project)
        .arg("--writable")
        .arg(&d.config)
        .args(["--", "bash", "-c", script])
        .env("HOME", &d.home)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (text, out.status.success())
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().map(str::trim).collect()
}

#[test]
fn fs_mode_writes_only_to_the_project_the_config_dir_and_a_private_tmp() {
    let d = dirs();
    let host_tmp_marker = format!("/tmp/llws-sandbox-marker-{}", std::process::id());
    let script = format!(
        r#"
        touch "{p}/in-project" && echo project-ok
        touch "{c}/in-config" && echo config-ok
        touch {host_tmp_marker} && echo tmp-ok
        touch "{o}/x" 2>/dev/null || echo outside-denied
        touch "$HOME/x" && echo home-is-its-own
        touch /etc/llws-sandbox-test 2>/dev/null || echo etc-denied
        touch /usr/llws-sandbox-test 2>/dev/null || echo usr-denied
        echo "pwd=$(pwd)"
        "#,
        p = d.project.display(),
        c = d.config.display(),
        o = d.outside.display(),
    );
    let (out, ok) = sandboxed(&d, "fs", &script);
    assert!(ok, "{out}");
    let l = lines(&out);
    for want in [
        "project-ok",
        "config-ok",
        "tmp-ok",
        "outside-denied",
        "home-is-its-own",
        "etc-denied",
        "usr-denied",
    ] {
        assert!(l.contains(&want), "missing {want} in:\n{out}");
    }
    assert!(
        l.contains(&format!("pwd={}", d.project.display()).as_str()),
        "{out}"
    );
    // What the sandbox wrote where it may is on the host; /tmp was its own.
    assert!(d.project.join("in-project").exists());
    assert!(d.config.join("in-config").exists());
    assert!(
        !Path::new(&host_tmp_marker).exists(),
        "the sandbox's /tmp is private"
    );
    assert!(!d.outside.join("x").exists());
    assert!(
        !d.home.join("x").exists(),
        "the home folder inside is an empty tmpfs"
    );
    assert!(!Path::new("/etc/llws-sandbox-test").exists());
}

#[test]
fn no_new_privileges_no_capabilities_and_an_own_pid_namespace() {
    let d = dirs();
    let script = r#"
        grep -E '^(NoNewPrivs|CapEff|CapPrm):' /proc/self/status | tr -s '\t ' ' '
        mount -o remount,rw / 2>/dev/null && echo remount-ok || echo remount-denied
        echo "pid=$$"
        echo "processes=$(ls -d /proc/[0-9]* | wc -l)"
    "#;
    let (out, ok) = sandboxed(&d, "fs", script);
    assert!(ok, "{out}");
    let l = lines(&out);
    // NoNewPrivs: setuid and file capabilities cannot raise privileges (sudo, su, ping...).
    assert!(l.contains(&"NoNewPrivs: 1"), "{out}");
    assert!(
        l.contains(&"CapEff: 0000000000000000"),
        "even as root, no capabilities: {out}"
    );
    assert!(l.contains(&"CapPrm: 0000000000000000"), "{out}");
    assert!(l.contains(&"remount-denied"), "{out}");
    let pid: u32 = out
        .lines()
        .find_map(|l| l.strip_prefix("pid="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(pid < 10, "its own PID namespace: {out}");
    let procs: u32 = out
        .lines()
        .find_map(|l| l.strip_prefix("processes="))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(procs < 10, "only its own processes are visible: {out}");
}

#[test]
fn setuid_programs_gain_nothing_for_an_unprivileged_user() {
    // As an ordinary user (nobody) in the sandbox, su cannot become root: no-new-privileges
    // makes the kernel ignore its setuid bit, so it fails before asking anything.
    let d = dirs();
    for p in [&d.project, &d.config] {
        Command::new("chown")
            .args(["-R", "65534:65534"])
            .arg(p)
            .status()
            .unwrap();
    }
    Command::new("chmod")
        .args(["755"])
        .arg(d.project.parent().unwrap())
        .status()
        .unwrap();
    Command::new("chmod")
        .args(["755"])
        .arg(&d.home)
        .status()
        .unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(llws_bin())
        .args(["__sandbox", "--mode", "fs", "--project"])
        .arg(&d.project)
        .arg("--writable")
        .arg(&d.config)
        .args(["--", "bash", "-c", "id -u; su -c 'id -u' root </dev/null; echo su-exit=$?; grep NoNewPrivs /proc/self/status"])
        .env("HOME", &d.home)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.lines().next() == Some("65534"), "{text}");
    assert!(
        !text.lines().any(|l| l.trim() == "0"),
        "su must not reach root: {text}"
    );
    assert!(
        text.contains("su-exit=1") || text.contains("su-exit=126"),
        "{text}"
    );
    assert!(text.contains("NoNewPrivs:\t1"), "{text}");
}

#[test]
fn credentials_and_host_sockets_are_hidden() {
    let d = dirs();
    std::fs::create_dir_all(d.home.join(".ssh")).unwrap();
    std::fs::write(d.home.join(".ssh/id_test"), "SECRET-KEY").unwrap();
    std::fs::write(d.home.join(".netrc"), "machine x password SECRET").unwrap();
    std::fs::create_dir_all(d.home.join(".claude/ide")).unwrap();
    std::fs::write(d.home.join(".claude/.credentials.json"), "SECRET-OAUTH").unwrap();
    std::fs::write(d.home.join(".claude/ide/1234.lock"), "lock").unwrap();
    let script = r#"
        cat "$HOME/.ssh/id_test" 2>&1; cat "$HOME/.netrc"; cat "$HOME/.claude/.credentials.json" 2>&1
        cat "$HOME/.claude/ide/1234.lock"; echo
        echo "run=[$(ls -A /run)]"
    "#;
    let (out, ok) = sandboxed(&d, "fs", script);
    assert!(ok, "{out}");
    assert!(!out.contains("SECRET"), "{out}");
    assert!(
        out.contains("lock"),
        "VS Code's lock files stay readable: {out}"
    );
    // /run/docker, /run/dbus... are not reachable (a read-only bind does not stop connect()).
    assert!(out.contains("run=[]"), "{out}");
}

/// A project at $HOME (or above it) would show the whole home folder, credentials and
/// login scripts included: the sandbox refuses it and says why, and nothing runs.
#[test]
fn a_project_at_home_is_refused_with_the_reason() {
    let d = dirs();
    for project in [d.home.clone(), d.home.parent().unwrap().to_path_buf()] {
        let out = Command::new(llws_bin())
            .args(["__sandbox", "--mode", "fs", "--project"])
            .arg(&project)
            .args(["--", "bash", "-c", "echo ran-inside"])
            .env("HOME", &d.home)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{text}");
        assert!(!text.contains("ran-inside"), "{text}");
        assert!(
            text.contains("the sandbox would show your whole home folder"),
            "{text}"
        );
    }
}

#[test]
fn tiocsti_is_refused_inside_but_works_outside() {
    let d = dirs();
    let probe = "import fcntl, termios, sys\n\
                 try:\n    fcntl.ioctl(0, termios.TIOCSTI, b'#')\n    print('TIOCSTI=allowed')\n\
                 except OSError as e:\n    print('TIOCSTI=refused errno', e.errno)\n";
    let run = |spec: CommandSpec| {
        let pane = TerminalPane::spawn(spec, 10, 80, 0, Arc::new(|| {})).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !pane.screen_text().contains("TIOCSTI=") {
            assert!(
                Instant::now() < deadline,
                "no answer: {}",
                pane.screen_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        pane.screen_text()
    };
    let inside = run(CommandSpec::new(llws_bin().display().to_string())
        .arg("__sandbox")
        .arg("--mode")
        .arg("fs")
        .arg("--project")
        .arg(d.project.display().to_string())
        .arg("--")
        .arg("/usr/bin/python3")
        .arg("-c")
        .arg(probe)
        .env("HOME", d.home.display().to_string()));
    assert!(inside.contains("TIOCSTI=refused errno 1"), "{inside}");
    // The control: this kernel allows TIOCSTI (dev.tty.legacy_tiocsti = 1), so the refusal
    // above is the filter's doing.
    if std::fs::read_to_string("/proc/sys/dev/tty/legacy_tiocsti")
        .map(|s| s.trim() == "1")
        .unwrap_or(true)
    {
        let outside = run(CommandSpec::new("/usr/bin/python3").arg("-c").arg(probe));
        assert!(outside.contains("TIOCSTI=allowed"), "{outside}");
    }
}

/// A line server: answers each line with `NAME:LINE`, counting connections.
fn line_server(name: &'static str) -> (u16, Arc<AtomicUsize>) {
    line_server_on(name, 0)
}

/// [`line_server`] on a given port (0: any).
fn line_server_on(name: &'static str, port: u16) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            c.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                    let _ = conn.write_all(format!("{name}:{}", line).as_bytes());
                    line.clear();
                }
            });
        }
    });
    (port, count)
}

#[test]
fn strict_mode_reaches_the_bridged_ports_and_nothing_else() {
    let d = dirs();
    let (server_port, _) = line_server("server");
    let (api_port, _) = line_server("api");
    let (other_port, other_hits) = line_server("other");
    let mut s = Settings::default();
    s.server.port = server_port;
    s.api.bind = format!("127.0.0.1:{api_port}");
    s.claude.project_dir = d.project.clone();
    s.claude.config_dir = d.config.clone();
    s.claude.command = "bash".into();
    let script = format!(
        r#"
        talk() {{ exec 3<>/dev/tcp/127.0.0.1/$1 && echo "ping$2" >&3 && read -r -t 5 l <&3 && echo "got $l"; exec 3>&-; }}
        talk {server_port} 1; talk {server_port} 2; talk {api_port} 3
        (exec 3<>/dev/tcp/127.0.0.1/{other_port}) 2>/dev/null && echo other-open || echo other-refused
        start=$(date +%s%N)
        (exec 3<>/dev/tcp/10.255.255.1/80) 2>&1 | sed 's/.*: //'
        echo "outside-ms=$(( ($(date +%s%N) - start) / 1000000 ))"
        echo "interfaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\n' ,)"
        echo "sandbox=$LLWS_SANDBOX"
        "#
    );
    s.claude.args = vec!["-c".into(), script];
    // The hidden commands must run the llws binary, not this test harness.
    // SAFETY: set before any thread of this test reads the environment.
    unsafe { std::env::set_var("LLWS_EXE", llws_bin()) };
    let pc = pane_command(&s, SandboxMode::Strict, &[]).unwrap();
    let out = Command::new(&pc.spec.program)
        .args(&pc.spec.args)
        .envs(pc.spec.env.iter().map(|(k, v)| (k, v)))
        .env("HOME", &d.home)
        .current_dir(pc.spec.cwd.as_ref().unwrap())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    let l = lines(&text);
    for want in [
        "got server:ping1",
        "got server:ping2",
        "got api:ping3",
        "other-refused",
        "Network is unreachable",
        "interfaces=lo,",
        "sandbox=strict",
    ] {
        assert!(l.contains(&want), "missing {want} in:\n{text}");
    }
    let ms: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("outside-ms="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        ms < 2000,
        "an outside address fails at once, without a timeout: {ms} ms"
    );
    assert_eq!(
        other_hits.load(Ordering::SeqCst),
        0,
        "the unbridged port saw no connection"
    );
    // The bridge's folder goes with the guard.
    let dir = pc.guard.bridge().unwrap().dir().to_path_buf();
    assert!(dir.join("server.sock").exists());
    drop(pc.guard);
    assert!(!dir.exists());
}

/// A lock file as VS Code's extension writes it, for a live editor (this test).
fn write_lock(dir: &Path, port: u16) {
    let body = format!(
        r#"{{"pid":{},"workspaceFolders":["/work/proj"],"ideName":"Visual Studio Code","transport":"ws","runningInWindows":false,"authToken":"00000000-test"}}"#,
        std::process::id()
    );
    std::fs::write(dir.join(format!("{port}.lock")), body).unwrap();
}

fn wait_for(path: &Path, child: &mut std::process::Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the sandbox ended early ({status}) before {}",
                path.display()
            );
        }
        assert!(Instant::now() < deadline, "no {}", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn strict_mode_reaches_the_editor_ports_its_lock_files_announce_and_no_other() {
    let d = dirs();
    let ide = d.home.join(".claude/ide");
    std::fs::create_dir_all(&ide).unwrap();
    let (first, first_hits) = line_server_on("ide1", free_port());
    let (second, _) = line_server_on("ide2", free_port());
    let (other, other_hits) = line_server_on("other", free_port());
    write_lock(&ide, first);
    // What the pane does: the folder qualifies (the sandbox cannot write it), the bridge
    // serves it, and __sandbox binds it and starts the forwarder on it.
    let locks = ide_lock_dir(Some(&d.home), &[&d.project, &d.config]).expect("lock folder");
    let bridge = Bridge::start(vec![], Some(locks.clone())).unwrap();
    let script = r#"
        talk() ( exec 3<>/dev/tcp/127.0.0.1/$1 || exit 1; echo "ping$2" >&3
                 read -r -t 5 l <&3 || exit 1; echo "got $l" )
        refused() { ! (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null; }
        retry() { for i in $(seq 100); do "$@" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
        retry talk FIRST 1 || echo first-failed
        refused OTHER && echo other-refused || echo other-open
        # Hostile code skips the forwarder and names an unannounced port to the socket.
        python3 -c '
import socket
s = socket.socket(socket.AF_UNIX)
s.connect("/run/llws-bridge/ide.sock")
s.settimeout(5)
s.sendall(b"OTHER\nping\n")
try:
    got = s.recv(100)
except ConnectionResetError:
    got = b""
print("hostile-got", got)
'
        touch ready
        for i in $(seq 600); do [ -e go ] && break; sleep 0.05; done
        retry refused FIRST && echo first-closed
        retry talk SECOND 2 || echo second-failed
        touch "$HOME/.claude/ide/$OTHER.lock" 2>/dev/null && echo lock-written || echo lock-denied
        echo finished
    "#
    .replace("FIRST", &first.to_string())
    .replace("SECOND", &second.to_string())
    .replace("OTHER", &other.to_string());
    let mut child = Command::new(llws_bin())
        .args(["__sandbox", "--mode", "strict", "--project"])
        .arg(&d.project)
        .arg("--writable")
        .arg(&d.config)
        .arg("--bridge-dir")
        .arg(bridge.dir())
        .arg("--ide-dir")
        .arg(&locks)
        .args(["--", "bash", "-c", &script])
        .env("HOME", &d.home)
        .env("OTHER", other.to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&d.project.join("ready"), &mut child);
    // The editor restarts on another port: one lock file goes, another comes.
    std::fs::remove_file(ide.join(format!("{first}.lock"))).unwrap();
    write_lock(&ide, second);
    std::fs::write(d.project.join("go"), "").unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    let l = lines(&text);
    for want in [
        "got ide1:ping1",
        "other-refused",
        "hostile-got b''",
        "first-closed",
        "got ide2:ping2",
        "lock-denied",
        "finished",
    ] {
        assert!(l.contains(&want), "missing {want} in:\n{text}");
    }
    assert_eq!(
        other_hits.load(Ordering::SeqCst),
        0,
        "the port without a lock file saw no connection: {text}"
    );
    assert_eq!(first_hits.load(Ordering::SeqCst), 1, "{text}");
}
