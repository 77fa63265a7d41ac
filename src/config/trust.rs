//! Trust for the files that start programs.
//!
//! `llws.toml` chooses programs (`server.llama_server`, `claude.command`, the NVML library
//! llws loads...) and a `models.conf` chooses llama-server's arguments. Such a file in the
//! folder llws starts in may have been written by someone else: a cloned repository, or
//! the agent in the claude pane, which may write the project by design. So a settings file
//! found in the current folder, and a models.conf that is not the user's own, are read only
//! once the user has trusted them (`llws trust FILE`).
//!
//! Trust is kept outside every project, in the XDG data dir (`trusted.toml`), as the file's
//! canonical path and the SHA-256 of its content: an edited file is untrusted again. The
//! content is read once, and the bytes that were hashed are the bytes that are parsed.
//!
//! The user's own files need no entry: `--config`, `$LLWS_CONFIG`, the XDG settings file and
//! the models.conf they (or `--models`) name.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::diag::{Diagnostic, LoadError};

/// The file in the data dir that lists trusted files.
pub const TRUST_FILE_NAME: &str = "trusted.toml";

/// How a models.conf is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModelsTrust {
    /// The user's own (named by their own settings or `--models`): read as it is.
    #[default]
    Own,
    /// Anything else (the current folder's, one named by a trusted project llws.toml):
    /// read only while its content is trusted.
    Checked,
}

/// `$XDG_DATA_HOME/llws/trusted.toml`, else `~/.local/share/llws/trusted.toml`.
pub fn store_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| super::settings::home_dir().map(|h| h.join(".local/share")))?;
    Some(base.join("llws").join(TRUST_FILE_NAME))
}

/// One trusted file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustedFile {
    /// The canonical path.
    pub path: PathBuf,
    /// The SHA-256 of the content, in lowercase hex.
    pub sha256: String,
}

/// The trust list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustStore {
    #[serde(default, rename = "file")]
    pub files: Vec<TrustedFile>,
}

/// What the list says about a file with some content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Trusted,
    /// Trusted once, with other content.
    Changed,
    Unknown,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl TrustStore {
    /// The list at `path`; a missing file is an empty list.
    pub fn load_from(path: &Path) -> Result<TrustStore, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|e| {
                format!(
                    "{} is not a valid trust list ({}); fix it or remove it and trust your files again",
                    path.display(),
                    e.message().trim()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TrustStore::default()),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    /// The user's list (empty when there is no data dir).
    pub fn load() -> Result<TrustStore, String> {
        match store_path() {
            Some(path) => Self::load_from(&path),
            None => Ok(TrustStore::default()),
        }
    }

    pub fn verdict(&self, canonical: &Path, sha256: &str) -> Verdict {
        let mut seen = false;
        for f in self.files.iter().filter(|f| f.path == canonical) {
            if f.sha256 == sha256 {
                return Verdict::Trusted;
            }
            seen = true;
        }
        if seen {
            Verdict::Changed
        } else {
            Verdict::Unknown
        }
    }

    /// Trusts `canonical` with this content (replacing what was trusted for it before).
    pub fn trust(&mut self, canonical: &Path, sha256: &str) {
        self.untrust(canonical);
        self.files.push(TrustedFile {
            path: canonical.to_path_buf(),
            sha256: sha256.to_string(),
        });
    }

    /// Forgets `canonical`; whether it was there.
    pub fn untrust(&mut self, canonical: &Path) -> bool {
        let before = self.files.len();
        self.files.retain(|f| f.path != canonical);
        self.files.len() != before
    }

    /// The list as the file holds it.
    pub fn to_text(&self) -> String {
        let body = toml::to_string_pretty(self).unwrap_or_default();
        format!(
            "# Files llws may read although they are not your own settings (see `llws trust --help`).\n\
             # Each is trusted with this exact content: an edit makes it untrusted again.\n\n{body}"
        )
    }
}

/// A file that was not read because it is not trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untrusted {
    pub path: PathBuf,
    /// It was trusted with other content: it changed since.
    pub changed: bool,
    /// The trust list could not be read (then nothing is trusted).
    pub store_error: Option<String>,
}

impl Untrusted {
    /// What the file is, for the message.
    fn what(&self) -> &'static str {
        if self.path.file_name().is_some_and(|n| n == "llws.toml") {
            "a settings file can start programs"
        } else {
            "its options start programs"
        }
    }

    /// The `llws trust` command for it.
    pub fn fix(&self) -> String {
        let shown = shell_word(&self.path);
        match &self.store_error {
            Some(e) => format!("{e}; then review the file and run `llws trust {shown}`"),
            None => format!("review it, then run `llws trust {shown}`"),
        }
    }

    fn state(&self) -> &'static str {
        if self.changed {
            "changed since you trusted it"
        } else {
            "is not trusted"
        }
    }

    /// One line for the user: the file, why it was skipped, the command that trusts it.
    pub fn message(&self) -> String {
        format!(
            "{} {}, so llws ignores it ({}); {}",
            self.path.display(),
            self.state(),
            self.what(),
            self.fix()
        )
    }

    pub fn diagnostic(&self) -> Diagnostic {
        Diagnostic::error(
            &self.path,
            None,
            format!("{}, so it is not read ({})", self.state(), self.what()),
        )
        .with_fix(self.fix())
    }
}

/// A path as one shell word, for a command the user can paste.
fn shell_word(path: &Path) -> String {
    let text = path.display().to_string();
    shlex::try_quote(&text)
        .map(|q| q.into_owned())
        .unwrap_or(text)
}

/// Reads `path` and returns its text when the trust list holds it with this content.
/// `Err(Ok(untrusted))` when it is not trusted, `Err(Err(io))` when it cannot be read.
pub fn read_if_trusted(path: &Path) -> Result<String, Result<Untrusted, std::io::Error>> {
    // The path is resolved from the open file, so the name that is checked is the file
    // whose bytes were read, even if the path is swapped in between.
    let mut file = std::fs::File::open(path).map_err(Err)?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut bytes).map_err(Err)?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
    let canonical = std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .or_else(|_| path.canonicalize())
        .map_err(Err)?;
    let hash = sha256_hex(&bytes);
    let (verdict, store_error) = match TrustStore::load() {
        Ok(store) => (store.verdict(&canonical, &hash), None),
        Err(e) => (Verdict::Unknown, Some(e)),
    };
    if verdict == Verdict::Trusted {
        return Ok(String::from_utf8_lossy(&bytes).into_owned());
    }
    Err(Ok(Untrusted {
        path: path.to_path_buf(),
        changed: verdict == Verdict::Changed,
        store_error,
    }))
}

/// Loads a models.conf as `trust` says: the user's own as it is, anything else only while
/// it is trusted (an untrusted one is one error naming the file and `llws trust`).
pub fn load_profiles(path: &Path, trust: ModelsTrust) -> Result<super::ProfileSet, LoadError> {
    if trust == ModelsTrust::Own {
        return super::ProfileSet::load(path);
    }
    match read_if_trusted(path) {
        Ok(text) => super::profiles::parse(&text, path),
        Err(Ok(untrusted)) => Err(LoadError::single(untrusted.diagnostic())),
        // Missing or unreadable: the plain loader says it best.
        Err(Err(_)) => super::ProfileSet::load(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_trusts_a_path_with_its_content_only() {
        let mut store = TrustStore::default();
        let p = Path::new("/work/p/llws.toml");
        assert_eq!(store.verdict(p, "aa"), Verdict::Unknown);
        store.trust(p, "aa");
        assert_eq!(store.verdict(p, "aa"), Verdict::Trusted);
        assert_eq!(store.verdict(p, "bb"), Verdict::Changed);
        store.trust(p, "bb");
        assert_eq!(store.files.len(), 1, "trusting again replaces");
        let back: TrustStore = toml::from_str(&store.to_text()).unwrap();
        assert_eq!(back, store);
        assert!(store.untrust(p));
        assert!(!store.untrust(p));
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_message_names_the_file_and_the_command() {
        let u = Untrusted {
            path: "/work/my project/llws.toml".into(),
            changed: false,
            store_error: None,
        };
        let m = u.message();
        assert!(
            m.starts_with("/work/my project/llws.toml is not trusted"),
            "{m}"
        );
        assert!(
            m.contains("`llws trust '/work/my project/llws.toml'`"),
            "{m}"
        );
        let changed = Untrusted {
            changed: true,
            path: "/p/models.conf".into(),
            ..u
        };
        let d = changed.diagnostic().to_string();
        assert!(d.contains("changed since you trusted it"), "{d}");
        assert!(d.contains("llws trust /p/models.conf"), "{d}");
    }
}
