//! The bubblewrap sandbox around the claude pane (and `llws claude`).
//!
//! - `fs`: everything read-only except the project folder, Claude's config dir and a
//!   private /tmp; fresh /dev and /proc; its own PID namespace; no new privileges and no
//!   capabilities (bwrap's defaults); killed with llws; TIOCSTI refused by a seccomp
//!   filter. Host sockets under /run (Docker, D-Bus) and a few credential folders are
//!   hidden, because a read-only bind does not stop `connect()` on a unix socket or reading
//!   a key.
//! - `strict`: `fs` plus its own network namespace (only `lo`), with the llama-server and
//!   API ports bridged in, and the ports VS Code's lock files announce ([`bridge`]).
//!
//! The bwrap command line is built by the hidden `llws __sandbox` ([`launch`]), which runs
//! on the pane's terminal: it checks that bwrap works, asks the user what to do when it does
//! not, and then execs bwrap with the seccomp filter on an inherited descriptor.

pub mod bridge;
pub mod seccomp;

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::settings::SandboxMode;
use crate::util::find_executable;

use super::prompt;
use bridge::{IDE_SOCKET, INNER_DIR};

/// Everything `__sandbox` needs to build the bwrap command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub mode: SandboxMode,
    /// Read-write, and the working directory.
    pub project: PathBuf,
    /// Other read-write folders (Claude's config dir).
    pub writable: Vec<PathBuf>,
    /// strict: the outer bridge's socket folder, bound at [`INNER_DIR`].
    pub bridge_dir: Option<PathBuf>,
    /// strict: inner listen address and socket file name, per bridged port.
    pub forwards: Vec<(SocketAddr, String)>,
    /// strict: VS Code's lock folder when the bridge serves [`IDE_SOCKET`] for it. It is
    /// bound read-only at the same path, and the forwarder follows it.
    pub ide_dir: Option<PathBuf>,
}

/// Credential folders and files hidden in both modes (relative to $HOME). Not a complete
/// secret scrubber: the point is that the usual keys are not one `cat` away.
const HIDDEN_DIRS: &[&str] = &[
    ".ssh",
    ".gnupg",
    ".aws",
    ".azure",
    ".kube",
    ".docker",
    ".config/gcloud",
    ".password-store",
    ".claude",
];
const HIDDEN_FILES: &[&str] = &[".netrc", ".git-credentials", ".pgpass", ".npmrc", ".pypirc"];

impl Plan {
    /// The arguments for `llws __sandbox` that describe this plan.
    pub fn to_args(&self) -> Vec<String> {
        let mut a = vec![
            "--mode".into(),
            mode_name(self.mode).into(),
            "--project".into(),
            self.project.display().to_string(),
        ];
        for w in &self.writable {
            a.push("--writable".into());
            a.push(w.display().to_string());
        }
        if let Some(dir) = &self.bridge_dir {
            a.push("--bridge-dir".into());
            a.push(dir.display().to_string());
        }
        for (addr, socket) in &self.forwards {
            a.push("--forward".into());
            a.push(format!("{addr}={socket}"));
        }
        if let Some(dir) = &self.ide_dir {
            a.push("--ide-dir".into());
            a.push(dir.display().to_string());
        }
        a
    }

    /// bwrap's arguments, up to and including the `--` before the command.
    /// `seccomp_fd` is the inherited descriptor holding the filter; `home` is the user's
    /// home (for hiding credentials); `keep_visible` are host paths under /tmp that must
    /// stay readable (the programs themselves when they live there).
    pub fn bwrap_args(
        &self,
        seccomp_fd: Option<i32>,
        home: Option<&Path>,
        keep_visible: &[PathBuf],
    ) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
        push(&[
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--tmpfs",
            "/tmp",
            "--tmpfs",
            "/run",
        ]);
        // /etc/resolv.conf often points into /run; keep name resolution working in fs mode.
        if self.mode != SandboxMode::Strict {
            push(&[
                "--ro-bind-try",
                "/run/systemd/resolve",
                "/run/systemd/resolve",
            ]);
        }
        for p in keep_visible {
            let p = p.display().to_string();
            push(&["--ro-bind-try", &p, &p]);
        }
        // The writable binds come after the /tmp and /run tmpfs (or they would cover a project
        // in /tmp) and before everything hidden or read-only below: bwrap mounts in order, so
        // a project at $HOME (or holding ~/.ssh) must not bring the credentials back.
        for w in self.writable.iter().chain(std::iter::once(&self.project)) {
            let w = w.display().to_string();
            push(&["--bind", &w, &w]);
        }
        let inside = |p: &Path| {
            self.writable
                .iter()
                .chain(std::iter::once(&self.project))
                .any(|w| w.starts_with(p))
        };
        if let Some(home) = home {
            for rel in HIDDEN_DIRS {
                let p = home.join(rel);
                // Never hide a folder that holds one the sandbox must write to.
                if p.is_dir() && !inside(&p) {
                    let p = p.display().to_string();
                    push(&["--tmpfs", &p]);
                }
            }
            // VS Code's extension writes its lock files to ~/.claude/ide; /ide needs them.
            // Read-only also matters to strict's ide bridge, whose policy is these files.
            if self.ide_dir.is_none() {
                let ide = home.join(".claude/ide").display().to_string();
                push(&["--ro-bind-try", &ide, &ide]);
            }
            for rel in HIDDEN_FILES {
                let p = home.join(rel);
                if p.is_file() {
                    let p = p.display().to_string();
                    push(&["--ro-bind", "/dev/null", &p]);
                }
            }
        }
        // The folder the outer bridge checks (the same ~/.claude/ide, decided by the outer
        // llws); after the ~/.claude tmpfs, which would cover it.
        if let Some(dir) = &self.ide_dir {
            let d = dir.display().to_string();
            push(&["--ro-bind-try", &d, &d]);
        }
        if self.mode == SandboxMode::Strict {
            push(&["--unshare-net"]);
            if let Some(dir) = &self.bridge_dir {
                let d = dir.display().to_string();
                push(&["--bind", &d, INNER_DIR]);
            }
        }
        // Run by root, bwrap keeps every capability (CAP_SYS_ADMIN could remount / read-write);
        // drop them all. For an ordinary user the sandbox has none anyway.
        push(&["--cap-drop", "ALL"]);
        push(&["--unshare-pid", "--unshare-ipc", "--die-with-parent"]);
        if let Some(fd) = seccomp_fd {
            let fd = fd.to_string();
            push(&["--seccomp", &fd]);
        }
        let project = self.project.display().to_string();
        push(&[
            "--chdir",
            &project,
            "--setenv",
            "LLWS_SANDBOX",
            mode_name(self.mode),
            "--",
        ]);
        a
    }

    /// The command bwrap runs: in strict mode, the forwarder in front of `command`. The lock
    /// folder is followed only when it exists now: `--ro-bind-try` binds nothing otherwise,
    /// and one created later would not appear inside.
    pub fn inner_command(&self, llws: &Path, command: &[String]) -> Vec<String> {
        let ide = self
            .ide_dir
            .as_ref()
            .filter(|d| self.mode == SandboxMode::Strict && d.is_dir());
        if self.mode != SandboxMode::Strict || (self.forwards.is_empty() && ide.is_none()) {
            return command.to_vec();
        }
        let mut c = vec![llws.display().to_string(), "__sandbox-forward".into()];
        for (addr, socket) in &self.forwards {
            c.push("--listen".into());
            c.push(format!("{addr}={INNER_DIR}/{socket}"));
        }
        if let Some(dir) = ide {
            c.push("--ide-dir".into());
            c.push(format!("{}={INNER_DIR}/{IDE_SOCKET}", dir.display()));
        }
        c.push("--".into());
        c.extend_from_slice(command);
        c
    }
}

pub fn mode_name(mode: SandboxMode) -> &'static str {
    match mode {
        SandboxMode::Off => "off",
        SandboxMode::Fs => "fs",
        SandboxMode::Strict => "strict",
    }
}

/// Whether bwrap can build this kind of sandbox here. The error says why and how to fix it.
pub fn probe(mode: SandboxMode) -> Result<PathBuf, String> {
    let Some(bwrap) = find_executable(Path::new("bwrap")) else {
        return Err(
            "bubblewrap (bwrap) is not installed; the sandbox needs it.\n  \
                    Install it: sudo apt install bubblewrap   (Fedora: sudo dnf install bubblewrap)"
                .into(),
        );
    };
    let mut cmd = std::process::Command::new(&bwrap);
    cmd.args([
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--unshare-pid",
    ]);
    if mode == SandboxMode::Strict {
        cmd.arg("--unshare-net");
    }
    cmd.args(["--", "true"]);
    match cmd.output() {
        Ok(out) if out.status.success() => Ok(bwrap),
        Ok(out) => Err(format!(
            "bwrap cannot create the sandbox here: {}\n  \
             Unprivileged user namespaces are probably off. Enable them \
             (sysctl kernel.unprivileged_userns_clone=1 on Debian; on Ubuntu 24.04 an AppArmor \
             profile for bwrap, or sysctl kernel.apparmor_restrict_unprivileged_userns=0), \
             or set [claude] sandbox = \"off\".",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("cannot run {}: {e}", bwrap.display())),
    }
}

/// Host paths under /tmp that programs need inside the sandbox, whose /tmp is private:
/// PATH entries there (with their resolved targets) and the llws binary's folder.
pub fn visible_under_tmp(programs: &[&Path]) -> Vec<PathBuf> {
    let tmp = std::env::temp_dir();
    let tmp = tmp.canonicalize().unwrap_or(tmp);
    let under_tmp = |p: &Path| p.starts_with(&tmp) || p.starts_with("/tmp");
    let mut out: Vec<PathBuf> = Vec::new();
    let mut add = |p: PathBuf| {
        if under_tmp(&p) && p.exists() && !out.contains(&p) {
            out.push(p);
        }
    };
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            add(dir.clone());
            if let Ok(real) = dir.canonicalize() {
                add(real);
            }
        }
    }
    for program in programs {
        if let Some(parent) = program.parent() {
            add(parent.to_path_buf());
        }
        if let Some(parent) = program
            .canonicalize()
            .ok()
            .as_deref()
            .and_then(Path::parent)
        {
            add(parent.to_path_buf());
        }
    }
    out
}

/// `llws __sandbox PLAN -- CMD ARGS`: checks bwrap and execs it; when bwrap cannot run, says
/// why and lets the user retry, run this once without the sandbox, or quit. Never starts
/// unsandboxed without that explicit answer.
pub fn launch(plan: &Plan, command: &[String]) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(!command.is_empty(), "no command to run in the sandbox");
    let llws = std::env::current_exe()?;
    let bwrap = loop {
        match probe(plan.mode) {
            Ok(bwrap) => break bwrap,
            Err(why) => {
                print!(
                    "llws: the {} sandbox cannot start.\r\n{}\r\n",
                    mode_name(plan.mode),
                    why.replace('\n', "\r\n")
                );
                match prompt::choose(
                    "[r] retry  [u] run unsandboxed this time  [q] quit",
                    &['r', 'u', 'q'],
                ) {
                    Some('r') => continue,
                    Some('u') => {
                        print!("llws: running WITHOUT a sandbox.\r\n");
                        let err = std::process::Command::new(&command[0])
                            .args(&command[1..])
                            .current_dir(&plan.project)
                            .exec();
                        anyhow::bail!("cannot start `{}`: {err}", command[0]);
                    }
                    _ => return Ok(ExitCode::from(126)),
                }
            }
        }
    };
    for dir in plan.writable.iter().chain(std::iter::once(&plan.project)) {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    }
    let filter = seccomp::filter_fd()?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&filter);
    let home = crate::config::settings::home_dir();
    let program = find_executable(Path::new(&command[0]));
    let claude = find_executable(Path::new("claude"));
    let programs: Vec<&Path> = [Some(llws.as_path()), program.as_deref(), claude.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    let keep = visible_under_tmp(&programs);
    let err = std::process::Command::new(&bwrap)
        .args(plan.bwrap_args(Some(fd), home.as_deref(), &keep))
        .args(plan.inner_command(&llws, command))
        .exec();
    anyhow::bail!("cannot start {}: {err}", bwrap.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(mode: SandboxMode) -> Plan {
        Plan {
            mode,
            project: "/work/proj".into(),
            writable: vec!["/home/u/.claude-local".into()],
            bridge_dir: (mode == SandboxMode::Strict).then(|| "/tmp/llws-bridge.1.0".into()),
            forwards: if mode == SandboxMode::Strict {
                vec![("127.0.0.1:8080".parse().unwrap(), "8080.sock".into())]
            } else {
                vec![]
            },
            ide_dir: None,
        }
    }

    fn has(args: &[String], seq: &[&str]) -> bool {
        args.windows(seq.len())
            .any(|w| w.iter().map(String::as_str).eq(seq.iter().copied()))
    }

    #[test]
    fn fs_mode_binds_what_it_should() {
        let a = plan(SandboxMode::Fs).bwrap_args(Some(7), None, &[]);
        for seq in [
            &["--ro-bind", "/", "/"][..],
            &["--tmpfs", "/tmp"],
            &["--tmpfs", "/run"],
            &["--bind", "/work/proj", "/work/proj"],
            &["--bind", "/home/u/.claude-local", "/home/u/.claude-local"],
            &["--unshare-pid"],
            &["--die-with-parent"],
            &["--cap-drop", "ALL"],
            &["--seccomp", "7"],
            &["--chdir", "/work/proj"],
        ] {
            assert!(has(&a, seq), "{seq:?} missing from {a:?}");
        }
        assert!(
            !a.iter()
                .any(|x| x == "--unshare-net" || x == "--new-session"),
            "{a:?}"
        );
        assert_eq!(a.last().unwrap(), "--");
        // The writable binds come after the tmpfs mounts, or /tmp would cover a project in /tmp.
        let pos = |s: &str| a.iter().position(|x| x == s).unwrap();
        assert!(pos("/work/proj") > pos("/run"));
    }

    #[test]
    fn strict_mode_adds_the_network_namespace_and_the_forwarder() {
        let p = plan(SandboxMode::Strict);
        let a = p.bwrap_args(None, None, &[]);
        assert!(has(&a, &["--unshare-net"]));
        assert!(has(&a, &["--bind", "/tmp/llws-bridge.1.0", INNER_DIR]));
        let cmd = p.inner_command(Path::new("/usr/bin/llws"), &["claude".into(), "-c".into()]);
        assert_eq!(
            cmd,
            [
                "/usr/bin/llws",
                "__sandbox-forward",
                "--listen",
                "127.0.0.1:8080=/run/llws-bridge/8080.sock",
                "--",
                "claude",
                "-c"
            ]
        );
        assert_eq!(
            plan(SandboxMode::Fs).inner_command(Path::new("/x"), &["a".into()]),
            ["a"]
        );
    }

    #[test]
    fn strict_follows_the_lock_folder_only_when_it_exists() {
        let home = tempfile::tempdir().unwrap();
        let ide = home.path().join(".claude/ide");
        let mut p = plan(SandboxMode::Strict);
        p.ide_dir = Some(ide.clone());
        let d = ide.display().to_string();
        let cmd = p.inner_command(Path::new("/usr/bin/llws"), &["claude".into()]);
        assert!(!cmd.contains(&"--ide-dir".to_string()), "{cmd:?}");
        std::fs::create_dir_all(&ide).unwrap();
        let cmd = p.inner_command(Path::new("/usr/bin/llws"), &["claude".into()]);
        assert!(
            has(
                &cmd,
                &["--ide-dir", &format!("{d}=/run/llws-bridge/ide.sock")]
            ),
            "{cmd:?}"
        );
        // Without fixed forwards the forwarder still runs, for the editor alone.
        p.forwards.clear();
        let cmd = p.inner_command(Path::new("/usr/bin/llws"), &["claude".into()]);
        assert_eq!(cmd[1], "__sandbox-forward");
        // Bound read-only, after the ~/.claude tmpfs that would cover it, and only once.
        std::fs::create_dir_all(home.path().join(".claude")).unwrap();
        let a = p.bwrap_args(None, Some(home.path()), &[]);
        let pos = |seq: &[&str]| a.windows(seq.len()).position(|w| w == seq).unwrap();
        let tmpfs = home.path().join(".claude").display().to_string();
        assert!(pos(&["--ro-bind-try", &d, &d]) > pos(&["--tmpfs", &tmpfs]));
        assert_eq!(a.iter().filter(|x| **x == d).count(), 2, "{a:?}");
        assert!(has(&p.to_args(), &["--ide-dir", &d]));
        // fs mode never runs the forwarder.
        p.mode = SandboxMode::Fs;
        assert_eq!(p.inner_command(Path::new("/x"), &["a".into()]), ["a"]);
    }

    #[test]
    fn credentials_are_hidden_but_not_over_writable_folders() {
        let home = std::env::temp_dir().join(format!("llws-sbx-home-{}", std::process::id()));
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        std::fs::create_dir_all(home.join(".claude/ide")).unwrap();
        std::fs::write(home.join(".netrc"), "machine x").unwrap();
        let mut p = plan(SandboxMode::Fs);
        let a = p.bwrap_args(None, Some(&home), &[]);
        let h = |r: &str| home.join(r).display().to_string();
        assert!(has(&a, &["--tmpfs", &h(".ssh")]), "{a:?}");
        assert!(has(&a, &["--tmpfs", &h(".claude")]));
        assert!(has(
            &a,
            &["--ro-bind-try", &h(".claude/ide"), &h(".claude/ide")]
        ));
        assert!(has(&a, &["--ro-bind", "/dev/null", &h(".netrc")]));
        // A config dir inside ~/.claude keeps ~/.claude visible.
        p.writable = vec![home.join(".claude/local")];
        let a = p.bwrap_args(None, Some(&home), &[]);
        assert!(!has(&a, &["--tmpfs", &h(".claude")]), "{a:?}");
        std::fs::remove_dir_all(&home).unwrap();
    }

    #[test]
    fn plans_round_trip_through_arguments() {
        let a = plan(SandboxMode::Strict).to_args();
        assert_eq!(
            a,
            [
                "--mode",
                "strict",
                "--project",
                "/work/proj",
                "--writable",
                "/home/u/.claude-local",
                "--bridge-dir",
                "/tmp/llws-bridge.1.0",
                "--forward",
                "127.0.0.1:8080=8080.sock"
            ]
        );
    }
}
