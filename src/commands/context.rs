//! What every command starts from: the settings, and the profiles they point at.

use std::path::PathBuf;

use crate::cli::GlobalArgs;
use crate::config::trust::ModelsTrust;
use crate::config::{LoadError, LoadedSettings, ProfileSet, Settings};

pub struct Context {
    pub settings: Settings,
    /// The settings file, or `None` when llws runs on its defaults.
    pub settings_source: Option<PathBuf>,
    /// Settings files skipped because they are not trusted (already said on stderr).
    pub skipped: Vec<crate::config::trust::Untrusted>,
}

impl Context {
    pub fn load(global: &GlobalArgs) -> Result<Self, LoadError> {
        let loaded = LoadedSettings::load(global.config.as_deref())?;
        // Skipped untrusted files: one line each, on every command (stderr, so output that
        // is piped stays clean).
        for untrusted in &loaded.skipped {
            eprintln!("llws: {}", untrusted.message());
        }
        let mut settings = loaded.settings;
        if let Some(models) = &global.models {
            settings.models_conf = std::path::absolute(models).unwrap_or_else(|_| models.clone());
            // Named on the command line: the user's own.
            settings.origin.models_conf = ModelsTrust::Own;
        }
        Ok(Self {
            settings,
            settings_source: loaded.source,
            skipped: loaded.skipped,
        })
    }

    pub fn profiles(&self) -> Result<ProfileSet, LoadError> {
        crate::config::trust::load_profiles(
            &self.settings.models_conf,
            self.settings.origin.models_conf,
        )
    }

    /// The profiles, or an error that lists every problem.
    pub fn require_profile<'a>(
        &self,
        set: &'a ProfileSet,
        id: &str,
    ) -> anyhow::Result<&'a crate::config::Profile> {
        set.get(id)
            .ok_or_else(|| anyhow::anyhow!("{}", set.unknown_profile_message(id)))
    }
}
