//! The claude pane's command line, built from the settings: the sandbox launcher (if any),
//! then claude-local (or the configured command), then the user's arguments.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::config::settings::{ClaudeSettings, SandboxMode, Settings};

use super::health::host_port;
use super::local::TOKEN_VAR;
use super::sandbox::bridge::{Bridge, Forward, ide_lock_dir};
use super::sandbox::{Plan, landlock};
use crate::pty::CommandSpec;

/// The command for the pane, and what must live as long as the pane (across restarts).
pub struct PaneCommand {
    pub spec: CommandSpec,
    pub guard: SandboxGuard,
}

/// Keeps the outer half of a strict sandbox's network bridge running; dropping it stops the
/// bridge and removes its socket folder. Empty for `off` and `fs`.
#[derive(Default)]
pub struct SandboxGuard {
    bridge: Option<Bridge>,
}

impl SandboxGuard {
    pub fn bridge(&self) -> Option<&Bridge> {
        self.bridge.as_ref()
    }
}

/// The name of the built-in command.
pub const CLAUDE_LOCAL: &str = "claude-local";

/// The pane's command, sandboxed as `[claude] sandbox` says, with claude-local's config
/// dir set up first when it is not ([`set_up_config_dir`]).
pub fn claude_pane_command(settings: &Settings) -> anyhow::Result<PaneCommand> {
    let mut pc = pane_command(settings, settings.claude.sandbox, &[])?;
    set_up_config_dir(settings, &mut pc);
    Ok(pc)
}

/// The variable that hands `__claude-local` the line saying llws set its config dir up, to
/// print first in the pane; removed before claude starts.
pub const SETUP_NOTE_VAR: &str = "LLWS_SETUP_NOTE";

/// Before claude-local starts: when its config dir is not set up (onboarding, the project's
/// trust), sets it up as `llws claude --setup` does ([`setup::ensure`]), here in llws
/// before any sandbox, and has the pane say so in one line. Another `[claude] command` is
/// left alone.
///
/// [`setup::ensure`]: super::setup::ensure
pub fn set_up_config_dir(settings: &Settings, pc: &mut PaneCommand) {
    if settings.claude.command != CLAUDE_LOCAL {
        return;
    }
    let Some(project) = pc.spec.cwd.clone() else {
        return;
    };
    let home = crate::config::settings::home_dir();
    if let Some(note) = super::setup::ensure(&settings.claude.config_dir, home.as_deref(), &project)
    {
        pc.spec.env.push((SETUP_NOTE_VAR.into(), note));
    }
}

/// The pane's command with `mode` instead of the setting and `extra` arguments appended
/// (what `llws claude [--unsandboxed] -- ARGS` runs).
pub fn pane_command(
    settings: &Settings,
    mode: SandboxMode,
    extra: &[String],
) -> anyhow::Result<PaneCommand> {
    let llws = llws_exe()?;
    let llws = llws.display().to_string();
    let project = project_dir(settings)?;
    let mut base_url = settings.server.base_url();
    let mut guard = SandboxGuard::default();
    let mut forwards = Vec::new();
    let c = &settings.claude;
    // `fs` shares the host's network namespace only where Landlock keeps abstract unix
    // sockets (X11, D-Bus) out of reach; elsewhere it is bridged like `strict`.
    let own_network = mode == SandboxMode::Fs && !landlock::scopes_abstract_sockets();
    if mode == SandboxMode::Strict || own_network {
        let (fwds, inner_url) = bridged_ports(settings)?;
        base_url = inner_url;
        forwards = fwds.iter().map(|f| (f.listen, f.socket.clone())).collect();
        let home = crate::config::settings::home_dir();
        let ide = ide_dir_to_bridge(c, home.as_deref(), &project);
        guard.bridge = Some(Bridge::start(fwds, ide)?);
    }

    let (mut inner, mut env) = if c.command == CLAUDE_LOCAL {
        let mut cmd = vec![
            llws.clone(),
            "__claude-local".into(),
            "--base-url".into(),
            base_url,
            "--config-dir".into(),
            c.config_dir.display().to_string(),
            "--model".into(),
            c.model.clone(),
        ];
        if settings.api.enabled {
            // Reached at the same address inside a sandbox (`bridged_ports`).
            cmd.extend(["--api-url".into(), settings.api.base_url()]);
        }
        if mode == SandboxMode::Off {
            // What a sandboxed session changed in the config dir runs as the user now.
            cmd.push("--review-config".into());
        }
        let local = super::local::ClaudeLocal::from_settings(settings);
        for (flag, profile) in [
            ("--opus", &local.opus),
            ("--sonnet", &local.sonnet),
            ("--haiku", &local.haiku),
        ] {
            if let Some(profile) = profile {
                cmd.extend([flag.to_string(), profile.clone()]);
            }
        }
        cmd.push("--".into());
        cmd.extend(c.args.iter().cloned());
        // The router's API key when one is required, else [claude] auth_token.
        (cmd, vec![(TOKEN_VAR.to_string(), local.auth_token)])
    } else {
        let mut cmd = shlex::split(&c.command)
            .filter(|v| !v.is_empty())
            .with_context(|| format!("[claude] command `{}` is not a command line", c.command))?;
        cmd.extend(c.args.iter().cloned());
        (cmd, Vec::new())
    };
    inner.extend(extra.iter().cloned());
    env.push(("LLWS_PROJECT_DIR".into(), project.display().to_string()));

    let argv = if mode == SandboxMode::Off {
        inner
    } else {
        let mut keep_env: Vec<String> = env.iter().map(|(k, _)| k.clone()).collect();
        if c.command == CLAUDE_LOCAL {
            // Set only when llws has just set the config dir up (`set_up_config_dir`).
            keep_env.push(SETUP_NOTE_VAR.into());
        }
        keep_env.extend(c.sandbox_env.iter().cloned());
        let plan = Plan {
            mode,
            project: project.clone(),
            writable: std::iter::once(c.config_dir.clone())
                .chain(c.sandbox_rw.iter().cloned())
                .collect(),
            read_only: c.sandbox_ro.clone(),
            protect: protected_files(settings, &project),
            hide: known_sockets(settings),
            keep_env,
            own_network,
            bridge_dir: guard.bridge.as_ref().map(|b| b.dir().to_path_buf()),
            forwards,
            ide_dir: guard
                .bridge
                .as_ref()
                .and_then(|b| b.ide_dir().map(Path::to_path_buf)),
        };
        let mut argv = vec![llws, "__sandbox".into()];
        argv.extend(plan.to_args());
        argv.push("--".into());
        argv.extend(inner);
        argv
    };
    let (program, args) = argv.split_first().context("empty command")?;
    let spec = CommandSpec {
        program: program.clone(),
        args: args.to_vec(),
        env,
        cwd: Some(project),
    };
    Ok(PaneCommand { spec, guard })
}

/// The files llws reads to decide what it starts: bound read-only inside the sandbox, so
/// that nothing the sandbox writes (even in the project) changes them. Those that do not
/// exist are skipped by the launcher; one that does not exist yet is a file llws will not
/// read without trust anyway (`config::trust`).
pub fn protected_files(settings: &Settings, project: &Path) -> Vec<PathBuf> {
    use crate::config::settings::xdg_settings_path;
    let mut out: Vec<PathBuf> = Vec::new();
    out.extend(settings.origin.settings_file.clone());
    // This folder's llws.toml, trusted or not: the next llws started here looks at it.
    out.push(project.join(crate::config::settings::SETTINGS_FILE_NAME));
    out.extend(xdg_settings_path());
    out.extend(crate::config::trust::store_path());
    out.push(settings.models_conf.clone());
    out.push(crate::config::dotenv::env_path(settings));
    let s = &settings.server;
    if s.llama_server.components().count() > 1 {
        out.push(s.llama_server.clone());
    }
    if !settings.monitor.nvml_library.as_os_str().is_empty() {
        out.push(settings.monitor.nvml_library.clone());
    }
    for ui in [&settings.ui.keymap, &settings.ui.theme] {
        if ui.contains('/') {
            out.push(PathBuf::from(ui));
        }
    }
    // A pane command given as a path (`./run-claude.sh`) runs in the project.
    if let Some(program) = shlex::split(&settings.claude.command)
        .and_then(|w| w.into_iter().next())
        .filter(|p| p.contains('/'))
    {
        out.push(project.join(program));
    }
    out.iter_mut()
        .for_each(|p| *p = std::path::absolute(&*p).unwrap_or_else(|_| p.clone()));
    out.dedup();
    out
}

/// The unix sockets llws knows of that lead out of any sandbox: the Docker endpoint it is
/// configured with (or `$DOCKER_HOST`), and the SSH agent. The launcher covers those still
/// visible inside.
pub fn known_sockets(settings: &Settings) -> Vec<PathBuf> {
    let docker = std::env::var("DOCKER_HOST").ok();
    [Some(settings.server.docker_host.clone()), docker]
        .into_iter()
        .flatten()
        .filter_map(|h| h.strip_prefix("unix://").map(PathBuf::from))
        .chain(std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from))
        .filter(|p| p.is_absolute())
        .collect()
}

/// The llws binary the pane runs for its hidden commands: this one, or `$LLWS_EXE` when set
/// (a library user such as a test harness is not llws itself).
pub fn llws_exe() -> anyhow::Result<PathBuf> {
    match std::env::var_os("LLWS_EXE").filter(|v| !v.is_empty()) {
        Some(p) => Ok(PathBuf::from(p)),
        None => std::env::current_exe().context("cannot find the llws binary"),
    }
}

/// `[claude] project_dir`, or llws's working directory when it is empty.
pub fn project_dir(settings: &Settings) -> anyhow::Result<PathBuf> {
    let p = &settings.claude.project_dir;
    if p.as_os_str().is_empty() {
        std::env::current_dir().context("cannot read the working directory")
    } else {
        Ok(p.clone())
    }
}

/// The ports a strict sandbox may reach: llama-server, and the management API when it is
/// on. Each listens inside on loopback; a server configured on another host is still
/// reached through 127.0.0.1 inside, so the base URL claude uses may change (returned).
pub fn bridged_ports(settings: &Settings) -> anyhow::Result<(Vec<Forward>, String)> {
    let url = settings.server.base_url();
    let (host, port) = host_port(&url).with_context(|| format!("cannot bridge {url}"))?;
    let ip = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok();
    let (listen, inner_url) = match ip {
        Some(ip) if ip.is_loopback() => (SocketAddr::new(ip, port), url.clone()),
        _ => (
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port),
            format!("http://127.0.0.1:{port}"),
        ),
    };
    let mut forwards = vec![Forward {
        listen,
        target: format!("{host}:{port}"),
        socket: "server.sock".into(),
    }];
    if settings.api.enabled
        && let Ok(api) = settings.api.socket_addr()
    {
        let target_ip = match api.ip() {
            IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let listen_ip = if api.ip().is_loopback() {
            api.ip()
        } else {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        };
        let listen = SocketAddr::new(listen_ip, api.port());
        if !forwards.iter().any(|f| f.listen == listen) {
            forwards.push(Forward {
                listen,
                target: SocketAddr::new(target_ip, api.port()).to_string(),
                socket: "api.sock".into(),
            });
        }
    }
    Ok((forwards, inner_url))
}

/// The lock folder whose announced ports strict mode bridges for VS Code's /ide: only when
/// the user wants it, the folder exists now and the sandbox cannot write to it (it could
/// then announce any port to itself).
fn ide_dir_to_bridge(c: &ClaudeSettings, home: Option<&Path>, project: &Path) -> Option<PathBuf> {
    if !c.ide_bridge {
        return None;
    }
    ide_lock_dir(home, &[project, c.config_dir.as_path()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ide_bridge_follows_the_setting() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".claude/ide")).unwrap();
        let mut c = settings().claude;
        let project = Path::new("/work/proj");
        assert_eq!(
            ide_dir_to_bridge(&c, Some(home.path()), project),
            Some(home.path().join(".claude/ide").canonicalize().unwrap())
        );
        c.ide_bridge = false;
        assert_eq!(ide_dir_to_bridge(&c, Some(home.path()), project), None);
    }

    fn settings() -> Settings {
        let mut s = Settings::default();
        s.claude.config_dir = "/home/u/.claude-local".into();
        s.claude.project_dir = "/work/proj".into();
        s.claude.args = vec!["--verbose".into()];
        s
    }

    #[test]
    fn off_runs_claude_local_directly() {
        let pc = pane_command(&settings(), SandboxMode::Off, &["-c".into()]).unwrap();
        let s = &pc.spec;
        assert!(
            s.program.ends_with("llws") || s.program.contains("llws-"),
            "{}",
            s.program
        );
        assert_eq!(
            s.args,
            [
                "__claude-local",
                "--base-url",
                "http://127.0.0.1:8080",
                "--config-dir",
                "/home/u/.claude-local",
                "--model",
                "local-llama",
                "--api-url",
                "http://127.0.0.1:8081",
                "--review-config",
                "--",
                "--verbose",
                "-c"
            ]
        );
        assert_eq!(s.cwd.as_deref(), Some(std::path::Path::new("/work/proj")));
        assert!(
            s.env
                .contains(&(TOKEN_VAR.to_string(), "llamacpp".to_string()))
        );
        assert!(pc.guard.bridge().is_none());
    }

    #[test]
    fn fs_wraps_it_in_the_sandbox_launcher() {
        let pc = pane_command(&settings(), SandboxMode::Fs, &[]).unwrap();
        let a = &pc.spec.args;
        assert_eq!(
            &a[..7],
            [
                "__sandbox",
                "--mode",
                "fs",
                "--project",
                "/work/proj",
                "--writable",
                "/home/u/.claude-local"
            ]
        );
        let sep = a.iter().position(|x| x == "--").unwrap();
        assert_eq!(a[sep + 2], "__claude-local");
    }

    #[test]
    fn strict_starts_a_bridge_for_the_server_and_the_api() {
        let mut s = settings();
        s.server.port = 18080;
        s.api.bind = "0.0.0.0:18081".into();
        s.api.token = "t".into();
        let pc = pane_command(&s, SandboxMode::Strict, &[]).unwrap();
        let bridge = pc.guard.bridge().expect("a bridge");
        let f = bridge.forwards();
        assert_eq!(f[0].listen.to_string(), "127.0.0.1:18080");
        assert_eq!(f[0].target, "127.0.0.1:18080");
        assert_eq!(f[1].listen.to_string(), "127.0.0.1:18081");
        assert_eq!(f[1].target, "127.0.0.1:18081");
        assert!(bridge.dir().join("server.sock").exists());
        let a = pc.spec.args.join(" ");
        assert!(
            a.contains("--forward 127.0.0.1:18080=server.sock --forward 127.0.0.1:18081=api.sock"),
            "{a}"
        );
    }

    #[test]
    fn a_remote_server_is_reached_through_inner_loopback() {
        let mut s = settings();
        s.server.host = "192.168.1.20".into();
        s.api.enabled = false;
        let (f, url) = bridged_ports(&s).unwrap();
        assert_eq!(url, "http://127.0.0.1:8080");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].target, "192.168.1.20:8080");
    }

    #[test]
    fn another_command_runs_as_written() {
        let mut s = settings();
        s.claude.command = "bash -l".into();
        s.claude.args = vec![];
        let pc = pane_command(&s, SandboxMode::Off, &[]).unwrap();
        assert_eq!(pc.spec.program, "bash");
        assert_eq!(pc.spec.args, ["-l"]);
    }
}
