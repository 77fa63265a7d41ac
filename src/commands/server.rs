//! `llws up` and `llws down`: start and stop a profile's server from the shell.

use std::process::ExitCode;

use super::Context;

pub fn up(_ctx: Context, _profile: &str, _logs: bool) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`llws up` is not built yet")
}

pub fn down(_ctx: Context) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`llws down` is not built yet")
}
