//! `llws [PROFILE]`: the full-screen workspace. Everything that can fail before the screen
//! is taken (an unknown profile) is checked first, so its message lands in the shell.

use std::io::IsTerminal;
use std::process::ExitCode;

use crate::config::{keymap, theme};
use crate::ui;

use super::Context;

pub fn run(ctx: Context, profile: Option<String>) -> anyhow::Result<ExitCode> {
    if let Some(id) = &profile {
        let set = ctx.profiles()?;
        if set.get(id).is_none() {
            eprintln!("llws: {}\n", set.unknown_profile_message(id));
            eprint!("{}", super::profiles::render_list(&set, None, true));
            return Ok(ExitCode::from(1));
        }
    }
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        anyhow::bail!(
            "the workspace needs a terminal (stdin and stdout are not both one); `llws serve` runs without a screen"
        );
    }
    let (keymap, mut diagnostics) = keymap::load(&ctx.settings.ui.keymap);
    let (theme, theme_diags) = theme::load(&ctx.settings.ui.theme);
    diagnostics.extend(theme_diags);
    // Skipped settings files, in the log pane too (stderr is hidden behind the screen).
    diagnostics.extend(ctx.skipped.iter().map(|u| {
        let mut d = u.diagnostic();
        d.severity = crate::config::Severity::Warning;
        d
    }));
    ui::run(ui::Start {
        settings: ctx.settings,
        profile,
        keymap,
        theme,
        diagnostics,
    })?;
    Ok(ExitCode::SUCCESS)
}
