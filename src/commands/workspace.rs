//! `llws [PROFILE]`: the full-screen workspace. Everything that can fail before the screen
//! is taken (an unknown profile) is checked first, so its message lands in the shell.

use std::io::IsTerminal;
use std::process::ExitCode;

use crate::config::{keymap, theme};
use crate::server::owner::{OwnerInfo, owner_of};
use crate::ui;
use crate::util::state_dir;

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
    // One owner per server: with another llws in control, offer to be its client.
    let client_of = match owner_of(&ctx.settings, &state_dir()) {
        None => None,
        Some(owner) => match offer_client(&owner)? {
            Some(url) => Some(url),
            None => return Ok(ExitCode::from(1)),
        },
    };
    let (keymap, mut diagnostics) = keymap::load(&ctx.settings.ui.keymap);
    let (theme, theme_diags) = theme::load(&ctx.settings.ui.theme);
    diagnostics.extend(theme_diags);
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
