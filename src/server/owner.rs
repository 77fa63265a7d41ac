//! One owner per server. The llws that controls a server holds an exclusive lock tied to
//! it (its port, and for Docker its container name) for as long as it runs, and records
//! its pid and API address beside the lock. Another llws on the same server finds the lock
//! held and goes through the owner's API instead of taking control; a lock whose owner died
//! is free again (the kernel drops it with the process), so a server left by a crashed llws
//! is adopted as before.
//!
//! The lock files are never removed: deleting a lock file while another process waits on
//! it would let two processes lock two different files of the same name. The record beside
//! each one is written through a temporary file and a rename.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::config::Settings;
use crate::config::settings::BackendKind;

/// Who controls a server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerInfo {
    pub pid: u32,
    /// Where its management API answers; `None` while it starts or with the API off.
    pub api_url: Option<String>,
    pub backend: BackendKind,
    pub port: u16,
    /// The container, for the Docker backend.
    pub container: Option<String>,
    pub since_ms: u64,
}

impl OwnerInfo {
    /// `llws (pid 4242, API http://127.0.0.1:8081)`.
    pub fn describe(&self) -> String {
        match &self.api_url {
            Some(url) => format!("llws (pid {}, API {url})", self.pid),
            None => format!("llws (pid {}, API off)", self.pid),
        }
    }
}

/// Why this llws may not control the server.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClaimError {
    #[error(
        "the server on port {} is controlled by another {}; go through it (`llws status`, `llws switch`, `llws down` find it), or quit it first",
        .0.port,
        .0.describe()
    )]
    Owned(OwnerInfo),
    #[error(
        "cannot use the runtime folder {path}: {reason}; llws keeps its lock, the server's pid and its log there: set LLWS_STATE_DIR to a writable folder (it defaults to $XDG_RUNTIME_DIR/llws)"
    )]
    RuntimeDir { path: PathBuf, reason: String },
}

/// The record an owner keeps up to date (its API address once it listens).
pub struct OwnerRecord {
    paths: Vec<PathBuf>,
    info: Mutex<OwnerInfo>,
}

impl OwnerRecord {
    /// Records where this llws's API answers, for other llws and the CLI.
    pub fn set_api(&self, url: Option<String>) {
        let Ok(mut info) = self.info.lock() else {
            return;
        };
        info.api_url = url;
        for path in &self.paths {
            let _ = write_atomic(path, &serde_json::to_vec_pretty(&*info).unwrap_or_default());
        }
    }
}

/// The held lock; dropping it (or exiting) hands the server to the next llws.
pub struct OwnerLock {
    _locks: Vec<Flock<File>>,
    record: Arc<OwnerRecord>,
}

impl OwnerLock {
    pub fn record(&self) -> Arc<OwnerRecord> {
        self.record.clone()
    }
}

impl Drop for OwnerLock {
    fn drop(&mut self) {
        // While the lock is still held: nobody can have written a newer record.
        for path in &self.record.paths {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// What a server is known by: its port, and (Docker) its container's name.
fn keys(settings: &Settings) -> Vec<String> {
    let mut keys = vec![format!("port-{}", settings.server.port)];
    if settings.backend == BackendKind::Docker {
        keys.push(format!(
            "container-{}",
            sanitize(&settings.server.container)
        ));
    }
    keys
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn lock_path(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("owner-{key}.lock"))
}

fn record_path(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("owner-{key}.json"))
}

fn open_lock(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Writes `bytes` to `path` through a temporary file and a rename (never through a link).
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes));
    match written.and_then(|()| std::fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn read_record(dir: &Path, key: &str) -> Option<OwnerInfo> {
    serde_json::from_slice(&std::fs::read(record_path(dir, key)).ok()?).ok()
}

/// Takes control of the server `settings` describe, or says who has it.
pub fn claim(settings: &Settings, dir: &Path) -> Result<OwnerLock, ClaimError> {
    let runtime_dir = |reason: String| ClaimError::RuntimeDir {
        path: dir.to_path_buf(),
        reason,
    };
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| runtime_dir(e.to_string()))?;
    }
    let keys = keys(settings);
    let mut locks = Vec::new();
    for key in &keys {
        let file = open_lock(&lock_path(dir, key)).map_err(|e| runtime_dir(e.to_string()))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => locks.push(lock),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                // The owner may be writing its record this very moment.
                let info = (0..20)
                    .find_map(|_| {
                        read_record(dir, key).or_else(|| {
                            std::thread::sleep(std::time::Duration::from_millis(25));
                            None
                        })
                    })
                    .unwrap_or(OwnerInfo {
                        pid: 0,
                        api_url: None,
                        backend: settings.backend,
                        port: settings.server.port,
                        container: None,
                        since_ms: 0,
                    });
                return Err(ClaimError::Owned(info));
            }
            Err((_, e)) => return Err(runtime_dir(format!("cannot lock: {e}"))),
        }
    }
    let info = OwnerInfo {
        pid: std::process::id(),
        api_url: None,
        backend: settings.backend,
        port: settings.server.port,
        container: (settings.backend == BackendKind::Docker)
            .then(|| settings.server.container.clone()),
        since_ms: super::state::now_ms(),
    };
    let record = Arc::new(OwnerRecord {
        paths: keys.iter().map(|k| record_path(dir, k)).collect(),
        info: Mutex::new(info),
    });
    record.set_api(None);
    if let Some(path) = record.paths.first()
        && !path.exists()
    {
        return Err(runtime_dir(format!("cannot write {}", path.display())));
    }
    Ok(OwnerLock {
        _locks: locks,
        record,
    })
}

/// The llws that controls the server `settings` describe, if one runs (without taking
/// anything).
pub fn owner_of(settings: &Settings, dir: &Path) -> Option<OwnerInfo> {
    keys(settings).iter().find_map(|key| {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(lock_path(dir, key))
            .ok()?;
        match Flock::lock(file, FlockArg::LockSharedNonblock) {
            // Free: nobody owns it (the shared lock goes with the file).
            Ok(_) => None,
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => read_record(dir, key),
            Err(_) => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(port: u16, backend: BackendKind) -> Settings {
        let mut s = Settings {
            backend,
            ..Settings::default()
        };
        s.server.port = port;
        s.server.container = format!("llws-{port}");
        s
    }

    #[test]
    fn one_owner_until_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(18080, BackendKind::Docker);
        assert_eq!(owner_of(&s, dir.path()), None);
        let lock = claim(&s, dir.path()).unwrap();
        lock.record().set_api(Some("http://127.0.0.1:18081".into()));
        let owner = owner_of(&s, dir.path()).expect("owned");
        assert_eq!(owner.pid, std::process::id());
        assert_eq!(owner.api_url.as_deref(), Some("http://127.0.0.1:18081"));
        // A second claim (another open file, as another process would have) is refused
        // with the owner named.
        let Err(ClaimError::Owned(info)) = claim(&s, dir.path()) else {
            panic!("a second owner");
        };
        assert_eq!(info, owner);
        let message = ClaimError::Owned(info).to_string();
        assert!(message.contains("http://127.0.0.1:18081"), "{message}");
        // The same container on another port is the same server.
        let mut other_port = s.clone();
        other_port.server.port = 18090;
        assert!(matches!(
            claim(&other_port, dir.path()),
            Err(ClaimError::Owned(_))
        ));
        drop(lock);
        assert_eq!(owner_of(&s, dir.path()), None);
        claim(&s, dir.path()).unwrap();
    }

    #[test]
    fn a_read_only_runtime_dir_names_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, "").unwrap();
        let err = claim(&settings(18080, BackendKind::Process), &file.join("llws"))
            .err()
            .unwrap();
        assert!(matches!(err, ClaimError::RuntimeDir { .. }));
        assert!(err.to_string().contains("LLWS_STATE_DIR"), "{err}");
    }
}
