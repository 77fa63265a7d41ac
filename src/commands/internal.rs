//! The hidden commands llws runs inside the claude pane and the sandbox. They are handled
//! before the settings are loaded where they do not need them: inside a sandbox the
//! settings file may not be readable, and the outer llws passes what they need as flags.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::claude::claude_pane_command;
use crate::claude::local::{self as claude_local, ClaudeLocal, TOKEN_VAR};
use crate::claude::sandbox::{self, Plan, bridge};
use crate::cli::{GlobalArgs, InternalCommand, SandboxArgs};
use crate::config::settings::SandboxMode;
use crate::pty::{CommandSpec, fullscreen};

use super::Context;

pub fn run(global: &GlobalArgs, command: InternalCommand) -> anyhow::Result<ExitCode> {
    match command {
        InternalCommand::ClaudeLocal {
            base_url,
            config_dir,
            model,
            api_url,
            opus,
            sonnet,
            haiku,
            review_config,
            args,
        } => {
            // Settings only fill in what the outer llws did not pass.
            let needs_settings = base_url.is_none()
                || config_dir.is_none()
                || model.is_none()
                || std::env::var_os(TOKEN_VAR).is_none();
            let defaults = if needs_settings {
                Some(ClaudeLocal::from_settings(&Context::load(global)?.settings))
            } else {
                None
            };
            let pick = |given: Option<String>, f: fn(&ClaudeLocal) -> String| {
                given
                    .or_else(|| defaults.as_ref().map(f))
                    .unwrap_or_default()
            };
            let cl = ClaudeLocal {
                base_url: pick(base_url, |d| d.base_url.clone()),
                config_dir: config_dir
                    .or_else(|| defaults.as_ref().map(|d| d.config_dir.clone()))
                    .unwrap_or_default(),
                model: pick(model, |d| d.model.clone()),
                auth_token: pick(std::env::var(TOKEN_VAR).ok(), |d| d.auth_token.clone()),
                api_url: api_url.or_else(|| defaults.as_ref().and_then(|d| d.api_url.clone())),
                opus: opus.or_else(|| defaults.as_ref().and_then(|d| d.opus.clone())),
                sonnet: sonnet.or_else(|| defaults.as_ref().and_then(|d| d.sonnet.clone())),
                haiku: haiku.or_else(|| defaults.as_ref().and_then(|d| d.haiku.clone())),
            };
            if review_config {
                let project = std::env::current_dir()?;
                let mut out = std::io::stdout();
                if !crate::claude::config_watch::review_before_unsandboxed(
                    &cl.config_dir,
                    &project,
                    &mut out,
                ) {
                    return Ok(ExitCode::FAILURE);
                }
            }
            claude_local::run(&cl, &args)
        }
        InternalCommand::Sandbox(args) => {
            let SandboxArgs {
                mode,
                project,
                writable,
                read_only,
                protect,
                hide,
                keep_env,
                own_network,
                bridge_dir,
                forward,
                ide_dir,
                command,
            } = *args;
            let mode = if mode == "strict" {
                SandboxMode::Strict
            } else {
                SandboxMode::Fs
            };
            let forwards = forward
                .iter()
                .map(|f| {
                    let (addr, socket) = f
                        .split_once('=')
                        .ok_or_else(|| anyhow::anyhow!("--forward `{f}` is not ADDR=SOCKET"))?;
                    Ok((addr.parse()?, socket.to_string()))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            sandbox::launch(
                &Plan {
                    mode,
                    project,
                    writable,
                    read_only,
                    protect,
                    hide,
                    keep_env,
                    own_network,
                    bridge_dir,
                    forwards,
                    ide_dir,
                },
                &command,
            )
        }
        InternalCommand::SandboxForward {
            scope,
            listen,
            ide_dir,
            command,
        } => {
            // First, while this process has one thread: the scope is per thread, and what
            // this process starts inherits it.
            if scope {
                sandbox::landlock::scope_self().map_err(|e| {
                    anyhow::anyhow!(
                        "cannot close abstract unix sockets (X11, D-Bus) with Landlock: {e}"
                    )
                })?;
            }
            let listens = listen
                .iter()
                .map(|l| bridge::parse_listen(l).map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let ide = ide_dir
                .as_deref()
                .map(bridge::parse_ide_dir)
                .transpose()
                .map_err(anyhow::Error::msg)?;
            bridge::run_forwarder(&listens, ide, &command)
        }
        InternalCommand::LogRelay { path, max_bytes } => {
            crate::server::log_file::relay(&path, max_bytes)?;
            Ok(ExitCode::SUCCESS)
        }
        InternalCommand::Pane { command } => {
            let ctx = Context::load(global)?;
            let scrollback = ctx.settings.claude.scrollback;
            // The guard keeps a strict sandbox's bridge up for as long as the pane runs.
            let (spec, _guard) = match command.split_first() {
                Some((program, args)) => (
                    CommandSpec {
                        program: program.clone(),
                        args: args.to_vec(),
                        env: Vec::new(),
                        cwd: None::<PathBuf>,
                    },
                    None,
                ),
                None => {
                    let pc = claude_pane_command(&ctx.settings)?;
                    (pc.spec, Some(pc.guard))
                }
            };
            fullscreen::run(spec, scrollback)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
