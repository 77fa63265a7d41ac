//! Configuration: model profiles (models.conf), workspace settings (llws.toml), and what
//! is derived from them (the llama-server argv, the compose .env, lint warnings).

pub mod args;
pub mod diag;
pub mod dotenv;
pub mod keymap;
mod layered;
pub mod lint;
pub mod model_files;
pub mod profiles;
pub mod settings;
pub mod theme;

pub use diag::{Diagnostic, LoadError, Severity};
pub use profiles::{Profile, ProfileSet};
pub use settings::{LoadedSettings, Settings};

pub mod estimate;
pub mod gguf;
pub mod hardware_lint;
pub mod model_lint;
pub mod samplers;

/// Diagnostics for the keymap and theme the settings name (a preset or a file layered over
/// one), for `llws check`; the workspace reports the same and falls back to the defaults.
pub fn ui_files_diagnostics(settings: &Settings) -> Vec<Diagnostic> {
    let mut out = keymap::diagnostics(&settings.ui.keymap);
    out.extend(theme::diagnostics(&settings.ui.theme));
    out
}
