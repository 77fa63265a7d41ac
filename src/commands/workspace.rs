//! `llws [PROFILE]`: the full-screen workspace (issue 5 fills this in).

use std::process::ExitCode;

use super::Context;

pub fn run(_ctx: Context, _profile: Option<String>) -> anyhow::Result<ExitCode> {
    anyhow::bail!("the workspace is not built yet")
}
