//! The files behind a profile's MODEL: every part of a split GGUF, checked before a load.
//!
//! The original only tested part 1 (and `os.path.exists` is true for a directory), so a
//! missing later part showed up as a load failure inside the container. Here every part must
//! be a readable regular file before the running server is touched.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::config::lint::split_part;
use crate::config::profiles::Profile;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFiles {
    /// Every part, in order; one entry for an unsplit model.
    pub parts: Vec<PathBuf>,
    /// The sum of the parts' sizes in bytes.
    pub total_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelFileError {
    #[error(
        "model file not found: {path} (profile [{profile}]); download it into the models folder, or fix MODEL in models.conf"
    )]
    Missing { profile: String, path: PathBuf },
    #[error(
        "model path is not a regular file: {path} (profile [{profile}]); MODEL must name a .gguf file"
    )]
    NotAFile { profile: String, path: PathBuf },
    #[error(
        "model file cannot be read: {path} (profile [{profile}]): {reason}; check its permissions"
    )]
    Unreadable {
        profile: String,
        path: PathBuf,
        reason: String,
    },
    #[error(
        "model file is truncated: {path} (profile [{profile}]) is {actual} bytes, but its GGUF header says its tensor data ends at {expected} bytes; the download was cut off: download it again"
    )]
    Truncated {
        profile: String,
        path: PathBuf,
        expected: u64,
        actual: u64,
    },
    #[error(
        "model file is not a readable GGUF: {path} (profile [{profile}]): {reason}; download it again, or fix MODEL in models.conf"
    )]
    NotGguf {
        profile: String,
        path: PathBuf,
        reason: String,
    },
}

impl ModelFiles {
    /// Part 1: the file llama-server is given, and the one whose header holds the model's
    /// metadata. [`part_paths`] never names no part, so there always is one; should a
    /// hand-built value hold none, this is an empty path that no read finds, not a panic.
    pub fn first(&self) -> &Path {
        self.parts.first().map_or(Path::new(""), PathBuf::as_path)
    }
}

impl ModelFileError {
    /// The file is there but cannot load (truncated, not a GGUF), as opposed to absent.
    pub fn is_broken(&self) -> bool {
        matches!(self, Self::Truncated { .. } | Self::NotGguf { .. })
    }

    pub fn path(&self) -> &Path {
        match self {
            Self::Missing { path, .. }
            | Self::NotAFile { path, .. }
            | Self::Unreadable { path, .. }
            | Self::Truncated { path, .. }
            | Self::NotGguf { path, .. } => path,
        }
    }
}

/// The paths of every part a MODEL value names, relative to `models_dir`; never empty.
/// A split name whose part total is 0 or below its part number is refused when
/// models.conf is parsed; here it is taken as the one file it names.
pub fn part_paths(models_dir: &Path, model: &str) -> Vec<PathBuf> {
    let first = models_dir.join(model);
    let Some((part, total)) = split_part(model) else {
        return vec![first];
    };
    if total == 0 || part == 0 || part > total {
        return vec![first];
    }
    let prefix_len = model.len() - ".gguf".len() - "00001-of-00000".len();
    let prefix = &model[..prefix_len];
    (1..=total)
        .map(|i| models_dir.join(format!("{prefix}{i:05}-of-{total:05}.gguf")))
        .collect()
}

/// Checks every part of `profile`'s model: present, a regular file, and readable.
pub fn check(models_dir: &Path, profile: &Profile) -> Result<ModelFiles, ModelFileError> {
    let parts = part_paths(models_dir, profile.model());
    let mut total_bytes = 0;
    for path in &parts {
        let meta = std::fs::metadata(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ModelFileError::Missing {
                    profile: profile.id.clone(),
                    path: path.clone(),
                }
            } else {
                ModelFileError::Unreadable {
                    profile: profile.id.clone(),
                    path: path.clone(),
                    reason: e.to_string(),
                }
            }
        })?;
        if !meta.is_file() {
            return Err(ModelFileError::NotAFile {
                profile: profile.id.clone(),
                path: path.clone(),
            });
        }
        File::open(path).map_err(|e| ModelFileError::Unreadable {
            profile: profile.id.clone(),
            path: path.clone(),
            reason: e.to_string(),
        })?;
        total_bytes += meta.len();
    }
    Ok(ModelFiles { parts, total_bytes })
}

/// [`check`], then each part's GGUF header: a part that is shorter than the end of its
/// tensor data (a download cut off) or that is not a GGUF is refused, with the sizes. This
/// reads every part's header and tensor table (up to a few MiB each), so run it off the
/// async workers; it is what a switch checks before the running server is stopped.
pub fn check_complete(models_dir: &Path, profile: &Profile) -> Result<ModelFiles, ModelFileError> {
    let files = check(models_dir, profile)?;
    for path in &files.parts {
        let actual = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let extent = super::gguf_extent::read_file_extent(path).map_err(|e| match e.kind() {
            // The header itself is cut off: the same truncation, found earlier.
            std::io::ErrorKind::UnexpectedEof => ModelFileError::NotGguf {
                profile: profile.id.clone(),
                path: path.clone(),
                reason: format!("the file ends inside its header ({actual} bytes)"),
            },
            _ => ModelFileError::NotGguf {
                profile: profile.id.clone(),
                path: path.clone(),
                reason: e.to_string(),
            },
        })?;
        if actual < extent.expected_bytes {
            return Err(ModelFileError::Truncated {
                profile: profile.id.clone(),
                path: path.clone(),
                expected: extent.expected_bytes,
                actual,
            });
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::profiles::parse;

    fn profile(model: &str) -> Profile {
        parse(&format!("[p]\nMODEL={model}\n"), Path::new("m.conf"))
            .unwrap()
            .profiles
            .remove(0)
    }

    #[test]
    fn split_models_name_every_part() {
        let parts = part_paths(Path::new("/m"), "q/Model-Q4-00001-of-00003.gguf");
        assert_eq!(
            parts,
            [
                PathBuf::from("/m/q/Model-Q4-00001-of-00003.gguf"),
                PathBuf::from("/m/q/Model-Q4-00002-of-00003.gguf"),
                PathBuf::from("/m/q/Model-Q4-00003-of-00003.gguf"),
            ]
        );
        assert_eq!(
            part_paths(Path::new("/m"), "a.gguf"),
            [PathBuf::from("/m/a.gguf")]
        );
    }

    #[test]
    fn every_part_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        for i in [1, 3] {
            std::fs::write(dir.path().join(format!("m-0000{i}-of-00003.gguf")), b"gguf").unwrap();
        }
        let err = check(dir.path(), &profile("m-00001-of-00003.gguf")).unwrap_err();
        assert!(matches!(err, ModelFileError::Missing { .. }));
        assert!(err.path().ends_with("m-00002-of-00003.gguf"));
        assert!(err.to_string().contains("m-00002-of-00003.gguf"));
        std::fs::write(dir.path().join("m-00002-of-00003.gguf"), b"gguf!").unwrap();
        let ok = check(dir.path(), &profile("m-00001-of-00003.gguf")).unwrap();
        assert_eq!(ok.parts.len(), 3);
        assert_eq!(ok.total_bytes, 13);
    }

    /// A split name that counts wrong (a total of 0, or a part past the total) used to
    /// parse, name no part at all, and panic at `parts[0]` wherever a header was read (the
    /// picker, the model lints, the hardware lints, doctor). Now models.conf refuses it,
    /// with its line, and a profile that gets past the parser still names one file.
    #[test]
    fn a_split_total_of_zero_or_below_the_part_is_a_parse_error() {
        for (model, says) in [
            ("m-00001-of-00000.gguf", "part 1 of 0"),
            ("m-00003-of-00002.gguf", "part 3 of 2"),
            ("m-00000-of-00002.gguf", "part 0 of 2"),
        ] {
            let err = parse(&format!("[p]\nMODEL={model}\n"), Path::new("m.conf")).unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains("m.conf:2") && text.contains(says),
                "{model}: {text}"
            );
        }
        assert_eq!(
            part_paths(Path::new("/m"), "m-00001-of-00000.gguf"),
            [PathBuf::from("/m/m-00001-of-00000.gguf")]
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("m-00003-of-00002.gguf"), b"gguf").unwrap();
        let files = ModelFiles {
            parts: part_paths(dir.path(), "m-00003-of-00002.gguf"),
            total_bytes: 4,
        };
        assert!(files.first().ends_with("m-00003-of-00002.gguf"));
        let empty = ModelFiles {
            parts: Vec::new(),
            total_bytes: 0,
        };
        assert_eq!(empty.first(), Path::new(""));
    }

    #[test]
    fn a_directory_is_not_a_model() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d.gguf")).unwrap();
        assert!(matches!(
            check(dir.path(), &profile("d.gguf")),
            Err(ModelFileError::NotAFile { .. })
        ));
    }
}
