//! `llws [PROFILE]`: the full-screen workspace. Everything that can fail before the screen
//! is taken (an unknown profile) is checked first, so its message lands in the shell.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::config::suggest::{closest, did_you_mean};
use crate::config::{ProfileSet, keymap, theme};
use crate::server::owner::{OwnerInfo, owner_of};
use crate::ui;
use crate::util::state_dir;

use super::Context;

pub fn run(ctx: Context, profile: Option<String>) -> anyhow::Result<ExitCode> {
    if let Some(id) = &profile {
        let set = ctx.profiles()?;
        if set.get(id).is_none() && !crate::hosts::Hosts::names_a_remote(&ctx.settings, id) {
            eprintln!("llws: {}", neither_profile_nor_command(id, &set));
            return Ok(ExitCode::from(1));
        }
    }
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        anyhow::bail!(
            "the workspace needs a terminal (stdin and stdout are not both one); `llws serve` runs without a screen"
        );
    }
    // One owner per server: with another llws in control, offer to be its client.
    let client_of = match owner_of(&ctx.settings, &state_dir()) {
        None => None,
        Some(owner) => match offer_client(&owner)? {
            Some(url) => Some(url),
            None => return Ok(ExitCode::from(1)),
        },
    };
    let mut ctx = ctx;
    let direct_note = match client_of {
        None => super::kept::adopt_direct(&mut ctx.settings),
        Some(_) => None,
    };
    let (keymap, mut diagnostics) = keymap::load(&ctx.settings.ui.keymap);
    let (theme, theme_diags) = theme::load(&ctx.settings.ui.theme);
    diagnostics.extend(theme_diags);
    // Skipped settings files, in the log pane too (stderr is hidden behind the screen).
    diagnostics.extend(ctx.skipped.iter().map(|u| {
        let mut d = u.diagnostic();
        d.severity = crate::config::Severity::Warning;
        d
    }));
    if let Some(note) = direct_note {
        diagnostics.push(crate::config::Diagnostic::note(
            std::path::Path::new("llws"),
            None,
            note,
        ));
    }
    ui::run(ui::Start {
        settings: ctx.settings,
        profile,
        keymap,
        theme,
        diagnostics,
        client_of,
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

/// Says who owns the server and asks whether to open as its client; `None` is "quit".
fn offer_client(owner: &OwnerInfo) -> anyhow::Result<Option<String>> {
    use std::io::{BufRead, Write};
    eprintln!(
        "llws: the server on port {} is controlled by another {}.",
        owner.port,
        owner.describe()
    );
    let Some(url) = owner.api_url.clone() else {
        eprintln!(
            "llws: its API is off, so this llws cannot go through it; use that llws, or quit it first."
        );
        return Ok(None);
    };
    eprint!(
        "  c  open as its client (status, logs and switches go through it)\n  q  quit\nChoice [c/q]: "
    );
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(match answer.trim() {
        "" | "c" | "C" => Some(url),
        _ => None,
    })
}
