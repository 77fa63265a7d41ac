//! `llws monitor`: GPU and system samples on stdout.

use std::process::ExitCode;

use super::Context;

pub fn run(_ctx: &Context, _once: bool, _json: bool) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`llws monitor` is not built yet")
}
