//! The bubblewrap sandbox around the claude pane (and `llws claude`).
//!
//! - `fs`: everything read-only except the project folder, Claude's config dir and a
//!   private /tmp; the home folder is an empty tmpfs with only those (and Claude Code's
//!   install, and the folders `[claude] sandbox_ro`/`sandbox_rw` list) bound back; the same
//!   for `$XDG_RUNTIME_DIR` and `/run`; fresh /dev and /proc; its own PID namespace; no new
//!   privileges and no capabilities; killed with llws; TIOCSTI refused by a seccomp filter;
//!   an allowlisted environment ([`env`](mod@env)); abstract unix sockets (X11, D-Bus) out of reach
//!   through Landlock scoping ([`landlock`]), or where the kernel lacks it, a network
//!   namespace of its own with the same bridge as `strict`.
//! - `strict`: `fs` plus its own network namespace (only `lo`), with the llama-server and
//!   API ports bridged in, and the ports VS Code's lock files announce ([`bridge`]).
//!
//! In both, llws's own files (the settings and models.conf in use, `.env`, the programs
//! they name) are bound read-only over the writable binds ([`Plan::protect`]): nothing the
//! sandbox can write changes what llws starts. The unix sockets llws knows of (the Docker
//! endpoint, the SSH agent) are covered where they would still be visible.
//!
//! The bwrap command line is built by the hidden `llws __sandbox` ([`launch`]), which runs
//! on the pane's terminal: it checks that bwrap works, asks the user what to do when it does
//! not, and then execs bwrap with the seccomp filter on an inherited descriptor.

pub mod bridge;
pub mod env;
pub mod home;
pub mod landlock;
pub mod seccomp;

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::settings::SandboxMode;
use crate::util::find_executable;

use super::prompt;
use bridge::{IDE_SOCKET, INNER_DIR};
use home::{HIDDEN_DIRS, HIDDEN_FILES};

/// Everything `__sandbox` needs to build the bwrap command line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub mode: SandboxMode,
    /// Read-write, and the working directory.
    pub project: PathBuf,
    /// Other read-write folders (Claude's config dir, `[claude] sandbox_rw`).
    pub writable: Vec<PathBuf>,
    /// Read-only folders bound back into the home tmpfs (`[claude] sandbox_ro`).
    pub read_only: Vec<PathBuf>,
    /// llws's own files (settings, models.conf, .env, programs they name): bound read-only
    /// after the writable binds, so the sandbox cannot change them even in the project.
    pub protect: Vec<PathBuf>,
    /// Unix sockets llws knows of (the Docker endpoint...): covered where still visible.
    pub hide: Vec<PathBuf>,
    /// Environment variables passed besides the fixed allowlist ([`env`](mod@env)).
    pub keep_env: Vec<String>,
    /// `fs` in a network namespace of its own (a kernel without Landlock scoping).
    pub own_network: bool,
    /// strict: the outer bridge's socket folder, bound at [`INNER_DIR`].
    pub bridge_dir: Option<PathBuf>,
    /// strict: inner listen address and socket file name, per bridged port.
    pub forwards: Vec<(SocketAddr, String)>,
    /// strict: VS Code's lock folder when the bridge serves [`IDE_SOCKET`] for it. It is
    /// bound read-only at the same path, and the forwarder follows it.
    pub ide_dir: Option<PathBuf>,
}

/// Root-equivalent sockets outside /run that a read-only root would still show.
const SYSTEM_SOCKETS: &[&str] = &[
    "/var/run/docker.sock",
    "/var/run/podman/podman.sock",
    "/var/lib/lxd/unix.socket",
    "/var/snap/lxd/common/lxd/unix.socket",
    "/var/lib/incus/unix.socket",
    "/var/run/libvirt/libvirt-sock",
];

/// What the host looks like to [`Plan::bwrap_args`].
#[derive(Debug, Clone, Default)]
pub struct Host {
    /// The user's home folder (resolved): an empty tmpfs inside.
    pub home: Option<PathBuf>,
    /// `$XDG_RUNTIME_DIR`: an empty tmpfs inside.
    pub runtime_dir: Option<PathBuf>,
    /// Host paths under /tmp that must stay readable (programs living there).
    pub keep_visible: Vec<PathBuf>,
    /// The programs the sandbox runs, as PATH found them (their installs are bound back).
    pub programs: Vec<PathBuf>,
}

impl Host {
    /// This machine, for a sandbox that runs `programs`.
    pub fn current(programs: &[PathBuf]) -> Host {
        let home = crate::config::settings::home_dir()
            .filter(|h| h.is_absolute())
            .map(|h| h.canonicalize().unwrap_or(h));
        let runtime_dir = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute() && p.is_dir());
        let refs: Vec<&Path> = programs.iter().map(PathBuf::as_path).collect();
        Host {
            home,
            runtime_dir,
            keep_visible: visible_under_tmp(&refs),
            programs: programs.to_vec(),
        }
    }
}

impl Plan {
    /// Whether the sandbox has a network namespace of its own.
    pub fn isolated_network(&self) -> bool {
        self.mode == SandboxMode::Strict || self.own_network
    }

    /// The arguments for `llws __sandbox` that describe this plan.
    pub fn to_args(&self) -> Vec<String> {
        let mut a = vec![
            "--mode".into(),
            mode_name(self.mode).into(),
            "--project".into(),
            self.project.display().to_string(),
        ];
        let mut list = |flag: &str, items: &[PathBuf]| {
            for w in items {
                a.push(flag.into());
                a.push(w.display().to_string());
            }
        };
        list("--writable", &self.writable);
        list("--read-only", &self.read_only);
        list("--protect", &self.protect);
        list("--hide", &self.hide);
        for name in &self.keep_env {
            a.push("--keep-env".into());
            a.push(name.clone());
        }
        if self.own_network {
            a.push("--own-network".into());
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

    /// Every read-write folder: the config dir and the like, then the project.
    fn rw(&self) -> impl Iterator<Item = &PathBuf> {
        self.writable.iter().chain(std::iter::once(&self.project))
    }

    /// Whether `p` lies in a folder bound into the sandbox (read-write or read-only).
    fn bound(&self, p: &Path) -> bool {
        self.rw().chain(&self.read_only).any(|b| p.starts_with(b))
    }

    /// Refusals that do not depend on bwrap: a folder that would show the whole home.
    pub fn check(&self, home: Option<&Path>) -> Result<(), String> {
        let Some(home) = home else {
            return Err(
                "the sandbox needs to know your home folder to hide it: set HOME to an absolute path".into(),
            );
        };
        if home == Path::new("/") {
            return Err(
                "the sandbox hides your home folder, and HOME is /: set HOME to your own folder"
                    .into(),
            );
        }
        for dir in self.rw().chain(&self.read_only) {
            if home::exposes_home(dir, home) {
                let what = if dir == &self.project {
                    "the project folder"
                } else {
                    "a folder bound into it"
                };
                return Err(format!(
                    "the sandbox would show your whole home folder: {what} {} {}. \
                     Everything under it (keys, tokens, browser profiles, shell history) would be \
                     readable, and files that run when you log in writable. Start llws in a project \
                     folder below your home (or set [claude] project_dir), or bind only the folders \
                     needed with [claude] sandbox_ro / sandbox_rw.",
                    dir.display(),
                    if dir == home {
                        "is your home folder"
                    } else {
                        "contains your home folder"
                    }
                ));
            }
        }
        Ok(())
    }

    /// bwrap's arguments, up to and including the `--` before the command.
    /// `seccomp_fd` is the inherited descriptor holding the filter. Fails, saying why, when
    /// the plan cannot be kept (a protected file the sandbox could swap through a link).
    pub fn bwrap_args(&self, seccomp_fd: Option<i32>, host: &Host) -> Result<Vec<String>, String> {
        let mut a: Vec<String> = Vec::new();
        let push =
            |a: &mut Vec<String>, items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
        push(
            &mut a,
            &[
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
            ],
        );
        // /etc/resolv.conf often points into /run; keep name resolution working in fs mode.
        if !self.isolated_network() {
            push(
                &mut a,
                &[
                    "--ro-bind-try",
                    "/run/systemd/resolve",
                    "/run/systemd/resolve",
                ],
            );
        }
        // The home folder and the runtime folder: empty, then the allowlist bound back.
        let home = host.home.as_deref();
        for dir in [home, host.runtime_dir.as_deref()].into_iter().flatten() {
            let d = dir.display().to_string();
            push(&mut a, &["--tmpfs", &d]);
        }
        for p in &host.keep_visible {
            let p = p.display().to_string();
            push(&mut a, &["--ro-bind-try", &p, &p]);
        }
        if let Some(home) = home {
            for program in &host.programs {
                a.extend(home::program_binds(program, home));
            }
        }
        for dir in &self.read_only {
            let d = dir.display().to_string();
            push(&mut a, &["--ro-bind-try", &d, &d]);
        }
        // The writable binds come after the tmpfs mounts (or they would cover a project in
        // /tmp) and before everything hidden or read-only below: bwrap mounts in order.
        for w in self.rw() {
            let w = w.display().to_string();
            push(&mut a, &["--bind", &w, &w]);
        }
        let holds_writable = |p: &Path| self.rw().any(|w| w.starts_with(p));
        if let Some(home) = home {
            // Credentials inside a folder that was bound back stay hidden.
            for rel in HIDDEN_DIRS {
                let p = home.join(rel);
                if p.is_dir() && self.bound(&p) && !holds_writable(&p) {
                    let p = p.display().to_string();
                    push(&mut a, &["--tmpfs", &p]);
                }
            }
            for rel in HIDDEN_FILES {
                let p = home.join(rel);
                if p.is_file() && self.bound(&p) {
                    let p = p.display().to_string();
                    push(&mut a, &["--ro-bind", "/dev/null", &p]);
                }
            }
            // VS Code's extension writes its lock files to ~/.claude/ide; /ide needs them.
            // Read-only also matters to strict's ide bridge, whose policy is these files.
            if self.ide_dir.is_none() {
                let ide = home.join(".claude/ide").display().to_string();
                push(&mut a, &["--ro-bind-try", &ide, &ide]);
            }
        }
        // The folder the outer bridge checks (the same ~/.claude/ide, decided by the outer
        // llws), after the home tmpfs, which would cover it.
        if let Some(dir) = &self.ide_dir {
            let d = dir.display().to_string();
            push(&mut a, &["--ro-bind-try", &d, &d]);
        }
        a.extend(self.protect_args()?);
        a.extend(self.hide_args(host));
        if self.isolated_network() {
            push(&mut a, &["--unshare-net"]);
            if let Some(dir) = &self.bridge_dir {
                let d = dir.display().to_string();
                push(&mut a, &["--bind", &d, INNER_DIR]);
            }
        }
        // Run by root, bwrap keeps every capability (CAP_SYS_ADMIN could remount / read-write);
        // drop them all. For an ordinary user the sandbox has none anyway.
        push(&mut a, &["--cap-drop", "ALL"]);
        push(
            &mut a,
            &["--unshare-pid", "--unshare-ipc", "--die-with-parent"],
        );
        if let Some(fd) = seccomp_fd {
            let fd = fd.to_string();
            push(&mut a, &["--seccomp", &fd]);
        }
        let project = self.project.display().to_string();
        push(
            &mut a,
            &[
                "--chdir",
                &project,
                "--setenv",
                "LLWS_SANDBOX",
                mode_name(self.mode),
                "--",
            ],
        );
        Ok(a)
    }

    /// llws's own files, read-only over the writable binds. A file inside a writable folder
    /// is a mount point then: it cannot be written, renamed or removed. Each folder between
    /// the writable one and the file is bound onto itself too, which pins it the same way
    /// (a renamed parent would let a new file take the path llws reads). A path that goes
    /// through a symbolic link inside a writable folder cannot be pinned (the link itself
    /// could be replaced): the sandbox does not start.
    fn protect_args(&self) -> Result<Vec<String>, String> {
        let mut a = Vec::new();
        let mut pinned: Vec<PathBuf> = Vec::new();
        for file in &self.protect {
            if file.symlink_metadata().is_err() {
                continue;
            }
            // A link on the way that the sandbox could replace.
            for step in file.ancestors() {
                let is_link = step
                    .symlink_metadata()
                    .is_ok_and(|m| m.file_type().is_symlink());
                if let Some(w) = self
                    .rw()
                    .find(|w| step.starts_with(w) && step != w.as_path())
                    && is_link
                {
                    return Err(format!(
                        "{} is llws's own file, and the sandbox could change what it is: {} is a \
                         symbolic link inside {}, which the sandbox may write. Make it a regular file \
                         (or move it out of {}), then start again.",
                        file.display(),
                        step.display(),
                        w.display(),
                        w.display()
                    ));
                }
            }
            let real = file
                .canonicalize()
                .map_err(|e| format!("cannot resolve {}: {e}", file.display()))?;
            let Some(w) = self.rw().find(|w| real.starts_with(w)) else {
                continue;
            };
            let mut dirs: Vec<&Path> = real
                .ancestors()
                .skip(1)
                .take_while(|d| d.starts_with(w) && *d != w.as_path())
                .collect();
            dirs.reverse();
            for d in dirs {
                if !pinned.iter().any(|p| p == d) {
                    pinned.push(d.to_path_buf());
                    let d = d.display().to_string();
                    a.extend(["--bind".to_string(), d.clone(), d]);
                }
            }
            let f = real.display().to_string();
            a.extend(["--ro-bind".to_string(), f.clone(), f]);
        }
        Ok(a)
    }

    /// `/dev/null` over each socket llws knows of that would still be visible: outside the
    /// folders that are emptied (home, runtime dir, /tmp, /run) or inside a folder bound
    /// back. `connect()` works through a read-only bind; it does not on /dev/null.
    fn hide_args(&self, host: &Host) -> Vec<String> {
        let emptied: Vec<&Path> = [host.home.as_deref(), host.runtime_dir.as_deref()]
            .into_iter()
            .flatten()
            .chain([Path::new("/tmp"), Path::new("/run")])
            .collect();
        let mut a = Vec::new();
        let mut seen: Vec<PathBuf> = Vec::new();
        let candidates = self
            .hide
            .iter()
            .cloned()
            .chain(SYSTEM_SOCKETS.iter().map(PathBuf::from));
        for sock in candidates {
            let Ok(real) = sock.canonicalize() else {
                continue;
            };
            let hidden = emptied.iter().any(|e| real.starts_with(e)) && !self.bound(&real);
            if hidden || seen.contains(&real) {
                continue;
            }
            let r = real.display().to_string();
            a.extend(["--ro-bind".to_string(), "/dev/null".to_string(), r]);
            seen.push(real);
        }
        a
    }

    /// The command bwrap runs: `llws __sandbox-forward` in front of `command` when the
    /// sandbox needs it, for the bridge's listeners (a network namespace of its own) and
    /// for Landlock scoping (`scope`). The lock folder is followed only when it exists now:
    /// `--ro-bind-try` binds nothing otherwise, and one created later would not appear
    /// inside.
    pub fn inner_command(&self, llws: &Path, command: &[String], scope: bool) -> Vec<String> {
        let ide = self
            .ide_dir
            .as_ref()
            .filter(|d| self.isolated_network() && d.is_dir());
        let forwards: &[(SocketAddr, String)] = if self.isolated_network() {
            &self.forwards
        } else {
            &[]
        };
        if forwards.is_empty() && ide.is_none() && !scope {
            return command.to_vec();
        }
        let mut c = vec![llws.display().to_string(), "__sandbox-forward".into()];
        if scope {
            c.push("--scope".into());
        }
        for (addr, socket) in forwards {
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
                        if let Some(config) = plan.writable.first() {
                            let mut out = std::io::stdout();
                            if !super::config_watch::review_before_unsandboxed(
                                config,
                                &plan.project,
                                &mut out,
                            ) {
                                return Ok(ExitCode::from(126));
                            }
                        }
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
    let home = crate::config::settings::home_dir()
        .filter(|h| h.is_absolute())
        .map(|h| h.canonicalize().unwrap_or(h));
    plan.check(home.as_deref()).map_err(anyhow::Error::msg)?;
    for dir in plan.writable.iter().chain(std::iter::once(&plan.project)) {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    }
    let mut plan = plan.clone();
    // Without Landlock scoping, `fs` must not share the host's network namespace (abstract
    // sockets: X11, D-Bus). The outer llws decides that and sets up a bridge; this is the
    // backstop for a plan that arrives without it: no network at all rather than X11.
    // The sockets this process's environment names, too (the outer llws passed its own).
    for var in ["DOCKER_HOST", "SSH_AUTH_SOCK"] {
        if let Ok(value) = std::env::var(var) {
            let path = value.strip_prefix("unix://").unwrap_or(&value);
            if path.starts_with('/') {
                plan.hide.push(PathBuf::from(path));
            }
        }
    }
    let scope = landlock::scopes_abstract_sockets();
    if plan.mode == SandboxMode::Fs && !plan.own_network && !scope {
        plan.own_network = true;
    }
    // The config dir (the first writable folder) as it is before the sandbox may write it:
    // the next unsandboxed start shows what changed.
    if let Some(config) = plan.writable.first() {
        super::config_watch::record_before_sandbox(config, &plan.project);
    }
    let filter = seccomp::filter_fd()?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&filter);
    let programs: Vec<PathBuf> = [
        Some(llws.clone()),
        find_executable(Path::new(&command[0])),
        find_executable(Path::new("claude")),
        find_executable(Path::new("node")),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut host = Host::current(&programs);
    host.home = home;
    let args = plan
        .bwrap_args(Some(fd), &host)
        .map_err(anyhow::Error::msg)?;
    let err = std::process::Command::new(&bwrap)
        .env_clear()
        .envs(env::sandbox_env(std::env::vars_os(), &plan.keep_env))
        .args(args)
        .args(plan.inner_command(&llws, command, scope))
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
            ..Plan::default()
        }
    }

    fn has(args: &[String], seq: &[&str]) -> bool {
        args.windows(seq.len())
            .any(|w| w.iter().map(String::as_str).eq(seq.iter().copied()))
    }

    fn host(home: &Path) -> Host {
        Host {
            home: Some(home.to_path_buf()),
            ..Host::default()
        }
    }

    #[test]
    fn fs_mode_binds_what_it_should() {
        let a = plan(SandboxMode::Fs)
            .bwrap_args(Some(7), &host(Path::new("/home/u")))
            .unwrap();
        for seq in [
            &["--ro-bind", "/", "/"][..],
            &["--tmpfs", "/tmp"],
            &["--tmpfs", "/run"],
            &["--tmpfs", "/home/u"],
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
        // The writable binds come after the tmpfs mounts, or the home tmpfs would cover the
        // config dir and /tmp a project in /tmp.
        let pos = |s: &str| a.iter().position(|x| x == s).unwrap();
        assert!(pos("/work/proj") > pos("/run"));
        assert!(pos("/home/u/.claude-local") > pos("/home/u"));
        // Without Landlock scoping, fs gets its own network namespace.
        let mut p = plan(SandboxMode::Fs);
        p.own_network = true;
        let a = p.bwrap_args(None, &host(Path::new("/home/u"))).unwrap();
        assert!(has(&a, &["--unshare-net"]), "{a:?}");
    }

    #[test]
    fn strict_mode_adds_the_network_namespace_and_the_forwarder() {
        let p = plan(SandboxMode::Strict);
        let a = p.bwrap_args(None, &host(Path::new("/home/u"))).unwrap();
        assert!(has(&a, &["--unshare-net"]));
        assert!(has(&a, &["--bind", "/tmp/llws-bridge.1.0", INNER_DIR]));
        let cmd = p.inner_command(
            Path::new("/usr/bin/llws"),
            &["claude".into(), "-c".into()],
            true,
        );
        assert_eq!(
            cmd,
            [
                "/usr/bin/llws",
                "__sandbox-forward",
                "--scope",
                "--listen",
                "127.0.0.1:8080=/run/llws-bridge/8080.sock",
                "--",
                "claude",
                "-c"
            ]
        );
        let fs = plan(SandboxMode::Fs);
        assert_eq!(
            fs.inner_command(Path::new("/x"), &["a".into()], false),
            ["a"]
        );
        assert_eq!(
            fs.inner_command(Path::new("/x"), &["a".into()], true),
            ["/x", "__sandbox-forward", "--scope", "--", "a"]
        );
    }

    #[test]
    fn strict_follows_the_lock_folder_only_when_it_exists() {
        let home = tempfile::tempdir().unwrap();
        let ide = home.path().join(".claude/ide");
        let mut p = plan(SandboxMode::Strict);
        p.ide_dir = Some(ide.clone());
        let d = ide.display().to_string();
        let cmd = p.inner_command(Path::new("/usr/bin/llws"), &["claude".into()], false);
        assert!(!cmd.contains(&"--ide-dir".to_string()), "{cmd:?}");
        std::fs::create_dir_all(&ide).unwrap();
        let cmd = p.inner_command(Path::new("/usr/bin/llws"), &["claude".into()], false);
        assert!(
            has(
                &cmd,
                &["--ide-dir", &format!("{d}=/run/llws-bridge/ide.sock")]
            ),
            "{cmd:?}"
        );
        // Without fixed forwards the forwarder still runs, for the editor alone.
        p.forwards.clear();
        let cmd = p.inner_command(Path::new("/usr/bin/llws"), &["claude".into()], false);
        assert_eq!(cmd[1], "__sandbox-forward");
        // Bound read-only, after the home tmpfs that would cover it, and only once.
        let a = p.bwrap_args(None, &host(home.path())).unwrap();
        let pos = |seq: &[&str]| a.windows(seq.len()).position(|w| w == seq).unwrap();
        let tmpfs = home.path().display().to_string();
        assert!(pos(&["--ro-bind-try", &d, &d]) > pos(&["--tmpfs", &tmpfs]));
        assert_eq!(a.iter().filter(|x| **x == d).count(), 2, "{a:?}");
        assert!(has(&p.to_args(), &["--ide-dir", &d]));
        // fs mode never runs the forwarder for it.
        p.mode = SandboxMode::Fs;
        assert_eq!(
            p.inner_command(Path::new("/x"), &["a".into()], false),
            ["a"]
        );
    }

    #[test]
    fn credentials_stay_hidden_inside_folders_bound_back() {
        let root = tempfile::tempdir().unwrap();
        let home = root.path().canonicalize().unwrap().join("home");
        std::fs::create_dir_all(home.join(".cargo/registry")).unwrap();
        std::fs::write(home.join(".cargo/credentials.toml"), "token").unwrap();
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        let mut p = plan(SandboxMode::Fs);
        p.read_only = vec![home.join(".cargo")];
        let a = p.bwrap_args(None, &host(&home)).unwrap();
        let h = |r: &str| home.join(r).display().to_string();
        assert!(
            has(&a, &["--ro-bind-try", &h(".cargo"), &h(".cargo")]),
            "{a:?}"
        );
        assert!(
            has(
                &a,
                &["--ro-bind", "/dev/null", &h(".cargo/credentials.toml")]
            ),
            "{a:?}"
        );
        // ~/.ssh is not bound back, so the home tmpfs hides it already.
        assert!(!a.contains(&h(".ssh")), "{a:?}");
    }

    #[test]
    fn a_folder_that_shows_the_home_is_refused() {
        let home = Path::new("/home/u");
        let mut p = plan(SandboxMode::Fs);
        assert!(p.check(Some(home)).is_ok());
        p.project = home.into();
        let why = p.check(Some(home)).unwrap_err();
        assert!(
            why.contains("the project folder /home/u is your home folder"),
            "{why}"
        );
        p.project = "/home".into();
        assert!(
            p.check(Some(home))
                .unwrap_err()
                .contains("/home contains your home folder")
        );
        p.project = "/work/proj".into();
        p.read_only = vec!["/".into()];
        assert!(p.check(Some(home)).is_err());
        assert!(plan(SandboxMode::Fs).check(None).is_err());
    }

    #[test]
    fn llws_files_in_the_project_are_bound_read_only_and_pinned() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path().canonicalize().unwrap();
        let project = root.join("proj");
        std::fs::create_dir_all(project.join("conf/deep")).unwrap();
        std::fs::write(project.join("llws.toml"), "").unwrap();
        std::fs::write(project.join("conf/deep/models.conf"), "").unwrap();
        std::fs::write(root.join("outside.conf"), "").unwrap();
        let mut p = plan(SandboxMode::Fs);
        p.project = project.clone();
        p.protect = vec![
            project.join("llws.toml"),
            project.join("conf/deep/models.conf"),
            project.join(".env"),
            root.join("outside.conf"),
        ];
        let a = p.bwrap_args(None, &host(Path::new("/home/u"))).unwrap();
        let s = |p: &Path| p.display().to_string();
        let f = s(&project.join("llws.toml"));
        assert!(has(&a, &["--ro-bind", &f, &f]));
        let m = s(&project.join("conf/deep/models.conf"));
        let (c, d) = (s(&project.join("conf")), s(&project.join("conf/deep")));
        let pos = |seq: &[&str]| a.windows(seq.len()).position(|w| w == seq).unwrap();
        assert!(pos(&["--bind", &c, &c]) < pos(&["--bind", &d, &d]));
        assert!(pos(&["--bind", &d, &d]) < pos(&["--ro-bind", &m, &m]));
        // After the project's own bind, or it would cover them.
        let proj = s(&project);
        assert!(pos(&["--bind", &proj, &proj]) < pos(&["--ro-bind", &f, &f]));
        // A missing file and one outside the writable folders need nothing.
        assert!(!a.contains(&s(&project.join(".env"))));
        assert!(!a.contains(&s(&root.join("outside.conf"))));
        // A link inside the project could be re-pointed: refused.
        std::fs::remove_file(project.join("llws.toml")).unwrap();
        std::os::unix::fs::symlink(root.join("outside.conf"), project.join("llws.toml")).unwrap();
        let why = p.bwrap_args(None, &host(Path::new("/home/u"))).unwrap_err();
        assert!(why.contains("symbolic link"), "{why}");
    }

    #[test]
    fn known_sockets_are_covered_where_still_visible() {
        // Not under /tmp, which the sandbox empties anyway.
        let root = tempfile::tempdir_in("/var/tmp").unwrap();
        let root = root.path().canonicalize().unwrap();
        let home = root.join("home");
        std::fs::create_dir_all(home.join(".colima/default")).unwrap();
        let in_home = home.join(".colima/default/docker.sock");
        let outside = root.join("docker.sock");
        let _l1 = std::os::unix::net::UnixListener::bind(&in_home).unwrap();
        let _l2 = std::os::unix::net::UnixListener::bind(&outside).unwrap();
        let mut p = plan(SandboxMode::Strict);
        p.hide = vec![in_home.clone(), outside.clone()];
        let a = p.bwrap_args(None, &host(&home)).unwrap();
        let o = outside.display().to_string();
        assert!(has(&a, &["--ro-bind", "/dev/null", &o]), "{a:?}");
        // The home tmpfs hides the other already.
        assert!(!a.contains(&in_home.display().to_string()), "{a:?}");
    }

    #[test]
    fn plans_round_trip_through_arguments() {
        let mut p = plan(SandboxMode::Strict);
        p.keep_env = vec!["HTTPS_PROXY".into()];
        p.protect = vec!["/work/proj/llws.toml".into()];
        assert_eq!(
            p.to_args(),
            [
                "--mode",
                "strict",
                "--project",
                "/work/proj",
                "--writable",
                "/home/u/.claude-local",
                "--protect",
                "/work/proj/llws.toml",
                "--keep-env",
                "HTTPS_PROXY",
                "--bridge-dir",
                "/tmp/llws-bridge.1.0",
                "--forward",
                "127.0.0.1:8080=8080.sock"
            ]
        );
    }
}
