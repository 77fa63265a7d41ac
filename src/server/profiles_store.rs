//! models.conf as the running program sees it: reloaded when the file changes, and never
//! lost to a bad edit (the last good profiles stay, and the error is reported).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::watch;

use crate::config::trust::{ModelsTrust, load_profiles};
use crate::config::{LoadError, ProfileSet};

/// The profiles in use, and the error of the last load if it failed.
#[derive(Debug, Clone)]
pub struct ProfilesView {
    pub set: Arc<ProfileSet>,
    /// Set when models.conf could not be loaded; `set` then holds the last good profiles.
    pub error: Option<Arc<LoadError>>,
}

pub struct ProfileStore {
    path: PathBuf,
    /// How the file is read: a models.conf that is not the user's own only while trusted,
    /// at every reload (an edit makes it untrusted again; the last good profiles stay).
    trust: ModelsTrust,
    mtime: Option<SystemTime>,
    tx: watch::Sender<ProfilesView>,
    /// Fed by [`Self::publish`] (another machine's profiles), not read from a file.
    fed: bool,
}

fn mtime(path: &PathBuf) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl ProfileStore {
    pub fn load(path: PathBuf) -> Self {
        Self::load_with(path, ModelsTrust::Own)
    }

    pub fn load_with(path: PathBuf, trust: ModelsTrust) -> Self {
        let mtime = mtime(&path);
        let view = match load_profiles(&path, trust) {
            Ok(set) => ProfilesView {
                set: Arc::new(set),
                error: None,
            },
            Err(e) => ProfilesView {
                set: Arc::new(ProfileSet {
                    path: path.clone(),
                    profiles: Vec::new(),
                    warnings: Vec::new(),
                }),
                error: Some(Arc::new(e)),
            },
        };
        let (tx, _) = watch::channel(view);
        Self {
            path,
            trust,
            mtime,
            tx,
            fed: false,
        }
    }

    /// A store with no file behind it: its profiles are what [`Self::publish`] gives it
    /// (another machine's, read from its API). `label` names it in messages.
    pub fn fed(label: PathBuf) -> Self {
        let (tx, _) = watch::channel(ProfilesView {
            set: Arc::new(ProfileSet {
                path: label.clone(),
                profiles: Vec::new(),
                warnings: Vec::new(),
            }),
            error: None,
        });
        Self {
            path: label,
            trust: ModelsTrust::Own,
            mtime: None,
            tx,
            fed: true,
        }
    }

    /// Replaces the profiles of a [`Self::fed`] store (readers see a change only when the
    /// set differs).
    pub fn publish(&self, view: ProfilesView) {
        self.tx.send_if_modified(|now| {
            let changed = now.set.profiles != view.set.profiles
                || now.error.is_some() != view.error.is_some();
            *now = view;
            changed
        });
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    pub fn subscribe(&self) -> watch::Receiver<ProfilesView> {
        self.tx.subscribe()
    }

    pub fn current(&self) -> ProfilesView {
        self.tx.borrow().clone()
    }

    /// Reloads when the file changed since the last look; returns the current view.
    pub fn refresh(&mut self) -> ProfilesView {
        self.reload_if_changed();
        self.current()
    }

    /// Reloads when the file changed since the last look; returns the new view if it did.
    pub fn reload_if_changed(&mut self) -> Option<ProfilesView> {
        if self.fed {
            return None;
        }
        let now = mtime(&self.path);
        if now == self.mtime {
            return None;
        }
        self.mtime = now;
        let previous = self.current();
        let view = match load_profiles(&self.path, self.trust) {
            Ok(set) => ProfilesView {
                set: Arc::new(set),
                error: None,
            },
            Err(e) => ProfilesView {
                set: previous.set,
                error: Some(Arc::new(e)),
            },
        };
        self.tx.send_replace(view.clone());
        Some(view)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_edit_keeps_the_last_good_profiles() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("models.conf");
        std::fs::write(&path, "[a]\nMODEL=a.gguf\n").unwrap();
        let mut store = ProfileStore::load(path.clone());
        assert_eq!(store.current().set.profiles.len(), 1);
        std::fs::write(&path, "[a]\nMODEL=a.gguf\n[broken\n").unwrap();
        // Make sure the mtime moves even on coarse-grained filesystems.
        let later = SystemTime::now() + std::time::Duration::from_secs(2);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(later)
            .unwrap();
        let view = store.refresh();
        assert_eq!(view.set.profiles.len(), 1);
        assert!(view.error.unwrap().to_string().contains("models.conf:3"));
    }

    #[test]
    fn a_missing_file_is_an_error_not_a_crash() {
        let store = ProfileStore::load("/nonexistent/models.conf".into());
        let view = store.current();
        assert!(view.set.profiles.is_empty());
        assert!(view.error.is_some());
    }
}
