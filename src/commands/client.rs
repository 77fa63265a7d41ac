//! `llws status`, `llws switch`, `llws stop`: clients of a running llws's API.

use std::process::ExitCode;

use crate::config::Settings;

use super::Context;

/// The profile a running llws reports as active, if one answers at once; used to mark the
/// active profile in `llws models`.
pub fn active_profile_quick(_settings: &Settings) -> Option<String> {
    None
}

pub fn status(_ctx: &Context, _json: bool) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`llws status` is not built yet")
}

pub fn switch(_ctx: &Context, _profile: &str, _no_wait: bool) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`llws switch` is not built yet")
}

pub fn stop(_ctx: &Context) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`llws stop` is not built yet")
}
