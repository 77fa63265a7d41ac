//! `llws claude`: claude-local outside the workspace, sandboxed per settings.

use std::process::ExitCode;

use super::Context;

pub fn run(_ctx: Context, _args: Vec<String>) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`llws claude` is not built yet")
}
