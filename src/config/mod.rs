//! Configuration: model profiles (models.conf), workspace settings (llws.toml), and what
//! is derived from them (the llama-server argv, the compose .env, lint warnings).

pub mod args;
pub mod diag;
pub mod dotenv;
pub mod lint;
pub mod model_files;
pub mod profiles;
pub mod settings;

pub use diag::{Diagnostic, LoadError, Severity};
pub use profiles::{Profile, ProfileSet};
pub use settings::{LoadedSettings, Settings};

pub mod estimate;
pub mod gguf;
pub mod model_lint;

/// Diagnostics for the keymap and theme files the settings name (filled in with the
/// workspace's keymaps and themes).
pub fn ui_files_diagnostics(_settings: &Settings) -> Vec<Diagnostic> {
    Vec::new()
}
