//! What the workspace remembers between runs: the theme chosen with the theme key and the
//! split sizes, in `ui.json` in the state dir. Written whole through a temp file and a
//! rename ([`write_atomic`]), never through a link; a file that cannot be read is ignored
//! with a warning, and the next change writes a good one.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ui::layout::Splits;
use crate::util::safe_fs::write_atomic;

/// The file's name in the state dir.
pub const FILE_NAME: &str = "ui.json";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prefs {
    /// The theme the theme key last chose, and the one `[ui] theme` named then: a theme
    /// chosen in llws.toml since wins over the remembered one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theme: Option<ThemeChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub splits: Option<SplitSizes>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThemeChoice {
    pub name: String,
    pub configured: String,
}

/// The splits in percent, each held to 10–90 when read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitSizes {
    pub main_full: u16,
    pub main_compact: u16,
    pub logs: u16,
    pub gpu: u16,
}

impl From<&Splits> for SplitSizes {
    fn from(s: &Splits) -> Self {
        Self {
            main_full: s.main_full,
            main_compact: s.main_compact,
            logs: s.logs,
            gpu: s.gpu,
        }
    }
}

impl From<SplitSizes> for Splits {
    fn from(s: SplitSizes) -> Self {
        let clamp = |v: u16| v.clamp(10, 90);
        Splits {
            main_full: clamp(s.main_full),
            main_compact: clamp(s.main_compact),
            logs: clamp(s.logs),
            gpu: clamp(s.gpu),
        }
    }
}

/// Where the preferences live: `ui.json` in the state dir.
pub fn path() -> PathBuf {
    crate::util::state_dir().join(FILE_NAME)
}

/// The preferences in `path`; none when the file is missing, and none with a warning in
/// the log when it cannot be read (the next change rewrites it).
pub fn load(path: &Path) -> Prefs {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(
                "{}: {e}; the theme and splits start from the settings",
                path.display()
            );
            Prefs::default()
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Prefs::default(),
        Err(e) => {
            tracing::warn!("cannot read {}: {e}", path.display());
            Prefs::default()
        }
    }
}

/// Writes `prefs` to `path` (the state dir is created if needed).
pub fn save(path: &Path, prefs: &Prefs) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(prefs).map_err(std::io::Error::other)? + "\n";
    write_atomic(path, text.as_bytes(), 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefs_survive_a_round_trip_and_bad_files_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("state").join(FILE_NAME);
        assert_eq!(load(&file), Prefs::default(), "no file: nothing remembered");
        let prefs = Prefs {
            theme: Some(ThemeChoice {
                name: "nord".into(),
                configured: "default".into(),
            }),
            splits: Some(SplitSizes::from(&Splits {
                main_full: 70,
                ..Splits::default()
            })),
        };
        save(&file, &prefs).unwrap();
        assert_eq!(load(&file), prefs);
        std::fs::write(
            &file,
            "{\"splits\": {\"main_full\": 300, \"main_compact\": 0, \"logs\": 50, \"gpu\": 55}}",
        )
        .unwrap();
        let splits = Splits::from(load(&file).splits.unwrap());
        assert_eq!(
            (splits.main_full, splits.main_compact),
            (90, 10),
            "held to 10-90"
        );
        std::fs::write(&file, "not json").unwrap();
        assert_eq!(load(&file), Prefs::default());
    }

    #[test]
    fn a_link_in_place_of_the_file_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "keep").unwrap();
        let file = dir.path().join(FILE_NAME);
        std::os::unix::fs::symlink(&target, &file).unwrap();
        // write_atomic refuses to write where a link is.
        let _ = save(&file, &Prefs::default());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    }
}
