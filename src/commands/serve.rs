//! `llws serve`: the controller and the API without a screen.

use std::process::ExitCode;

use super::Context;

pub fn run(_ctx: Context, _profile: Option<String>, _logs: bool) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`llws serve` is not built yet")
}
