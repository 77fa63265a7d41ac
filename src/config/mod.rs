//! Configuration: model profiles (models.conf), workspace settings (llws.toml), and what
//! is derived from them (the llama-server argv, the compose .env, lint warnings).

pub mod args;
pub mod diag;
pub mod dotenv;
pub mod keymap;
mod layered;
pub mod lint;
pub mod paths;
pub mod profile;
pub mod profiles;
pub mod remotes;
pub mod risky_args;
pub mod settings;
pub mod suggest;
pub mod term_colors;
pub mod theme;
pub mod trust;

pub use diag::{Diagnostic, LoadError, Severity};
pub use profiles::{Profile, ProfileSet};
pub use settings::{LoadedSettings, Settings};

/// Diagnostics for the keymap and theme the settings name (a preset or a file layered over
/// one), for `llws check`; the workspace reports the same and falls back to the defaults.
/// `A` is the UI's command table, which the keymap's action names are checked against.
pub fn ui_files_diagnostics<A: keymap::Action>(settings: &Settings) -> Vec<Diagnostic> {
    let mut out = keymap::diagnostics::<A>(&settings.ui.keymap);
    out.extend(theme::diagnostics(&settings.ui.theme));
    out
}
