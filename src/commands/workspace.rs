//! `llws [PROFILE]`: the full-screen workspace. Everything that can fail before the screen
//! is taken (an unknown profile) is checked first, so its message lands in the shell.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::config::suggest::{closest, did_you_mean};
use crate::config::{ProfileSet, keymap, theme};
use crate::ui;

use super::Context;

pub fn run(ctx: Context, profile: Option<String>) -> anyhow::Result<ExitCode> {
    if let Some(id) = &profile {
        let set = ctx.profiles()?;
        if set.get(id).is_none() {
            eprintln!("llws: {}", neither_profile_nor_command(id, &set));
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

/// One line for a bare word that is no profile: `llws statu` is more likely a mistyped
/// command than a profile, so both lists are searched for what was meant.
fn neither_profile_nor_command(word: &str, set: &ProfileSet) -> String {
    let cli = Cli::command();
    let commands = closest(
        word,
        cli.get_subcommands()
            .filter(|c| !c.is_hide_set())
            .map(|c| c.get_name()),
    );
    let profiles = set.closest_ids(word);
    let mut meant: Vec<String> = commands.iter().map(|c| format!("llws {c}")).collect();
    meant.extend(profiles.iter().map(|p| format!("llws {p}")));
    let meant: Vec<&str> = meant.iter().map(String::as_str).collect();
    if meant.is_empty() {
        format!(
            "'{word}' is neither a command nor a profile in {} (`llws models` lists the profiles, `llws --help` the commands)",
            set.path.display()
        )
    } else {
        format!(
            "'{word}' is neither a command nor a profile in {}.{}",
            set.path.display(),
            did_you_mean("", &meant)
        )
    }
}
