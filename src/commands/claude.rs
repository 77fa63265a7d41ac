//! `llws claude`: claude-local outside the workspace, sandboxed per settings.

use std::process::ExitCode;

use crate::claude::command::{CLAUDE_LOCAL, pane_command, project_dir, set_up_config_dir};
use crate::claude::sandbox::{self, mode_name};
use crate::claude::{relay, setup};
use crate::config::settings::{SandboxMode, home_dir};

use super::Context;

pub fn run(
    ctx: Context,
    args: Vec<String>,
    unsandboxed: bool,
    do_setup: bool,
) -> anyhow::Result<ExitCode> {
    let s = &ctx.settings;
    if do_setup {
        let project = project_dir(s)?;
        for line in setup::run(&s.claude.config_dir, home_dir().as_deref(), Some(&project))? {
            println!("{line}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mode = if unsandboxed {
        SandboxMode::Off
    } else {
        s.claude.sandbox
    };
    if mode != SandboxMode::Off
        && let Err(why) = sandbox::probe(mode)
    {
        eprintln!(
            "llws: [claude] sandbox = \"{}\", but the sandbox cannot start.\n{why}",
            mode_name(mode)
        );
        eprintln!("Run `llws claude --unsandboxed` to start without it this time.");
        return Ok(ExitCode::from(2));
    }
    let mut pc = pane_command(s, mode, &args)?;
    set_up_config_dir(s, &mut pc);
    if mode == SandboxMode::Off {
        // Same process tree as the pane's (llws __claude-local, then claude), in this terminal.
        use std::os::unix::process::CommandExt;
        let spec = &pc.spec;
        let err = std::process::Command::new(&spec.program)
            .args(&spec.args)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .current_dir(spec.cwd.as_deref().unwrap_or(std::path::Path::new(".")))
            .exec();
        let what = if s.claude.command == CLAUDE_LOCAL {
            "claude-local"
        } else {
            &s.claude.command
        };
        anyhow::bail!("cannot start {what}: {err}");
    }
    // Sandboxed: a private terminal relayed to this one (see claude::relay), with the bridge
    // (strict) alive until the program ends.
    let filter = relay::OutputFilter::new(
        s.claude.passthrough.clipboard(true),
        s.claude.passthrough.alerts(),
    );
    let code = relay::run(&pc.spec, filter)?;
    drop(pc.guard);
    Ok(code)
}
