//! JSON shapes shared by the API server, its CLI client and `llws models --json`.
//! The fields the original's API served keep their names, types and meaning.

use serde::{Deserialize, Serialize};

use crate::config::{Profile, ProfileSet};

/// One entry of `GET /models`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub id: String,
    pub name: String,
    pub speed: String,
    /// A string, as the original served it.
    pub ctx_size: String,
    pub is_bench: bool,
    pub active: bool,
    // Beyond the original:
    pub description: String,
    pub ctx_label: String,
    pub model: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelsResponse {
    pub models: Vec<ModelInfo>,
}

impl ModelInfo {
    pub fn from_profile(profile: &Profile, active: bool) -> Self {
        Self {
            id: profile.id.clone(),
            name: profile.display_name().to_string(),
            speed: profile.speed().unwrap_or_default().to_string(),
            ctx_size: profile.ctx_size().to_string(),
            is_bench: profile.is_bench(),
            active,
            description: profile.description().unwrap_or_default().to_string(),
            ctx_label: profile.ctx_label(),
            model: profile.model().to_string(),
        }
    }
}

impl ModelsResponse {
    /// Every profile in file order (bench included when `include_bench`), with the active
    /// one marked.
    pub fn from_profiles(set: &ProfileSet, active: Option<&str>, include_bench: bool) -> Self {
        Self {
            models: set
                .profiles
                .iter()
                .filter(|p| include_bench || !p.is_bench())
                .map(|p| ModelInfo::from_profile(p, active == Some(p.id.as_str())))
                .collect(),
        }
    }
}
