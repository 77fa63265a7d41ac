//! Writing and opening files where someone else may have been first: llws's runtime folder
//! can sit in a shared `/tmp`, `.env` sits in a project the sandboxed agent can write, and
//! a planted symbolic link must never make llws truncate, overwrite or read another file.
//!
//! - [`write_atomic`]: a new temporary file (created exclusively, never through a link) in
//!   the target's folder, renamed over the target. A target that is a symbolic link is
//!   refused: the rename would replace the link, but the user meant the file behind it.
//! - [`open_log`] / [`read_own_file`]: `O_NOFOLLOW` opens, then `fstat` on what was opened:
//!   a regular file with one link, owned by this user.
//! - [`private_dir`]: the runtime folder, created 0700 and checked before use.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

fn refused(path: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("{}: {why}", path.display()),
    )
}

/// Writes `bytes` to `path` through a temporary file and a rename, so readers see the old
/// file or the new one, never half of one, and a link planted at `path` is not followed.
/// The new file gets `mode` (before the umask).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    if path
        .symlink_metadata()
        .is_ok_and(|m| m.file_type().is_symlink())
    {
        return Err(refused(
            path,
            "is a symbolic link; llws does not write through links (remove it, or write to the file it points at)",
        ));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| refused(path, "is not a file name"))?
        .to_string_lossy();
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.llws-tmp.{}.{n}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp);
        let mut file = match file {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        };
        let written = file
            .write_all(bytes)
            .and_then(|()| file.sync_all())
            .and_then(|()| std::fs::rename(&tmp, path));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        return written;
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("no free temporary name next to {}", path.display()),
    ))
}

/// Checks what `file` (opened from `path`) is: a regular file, owned by this user, with no
/// other name (a hard link planted by someone else would make a truncate hit their target).
fn check_own_file(file: &File, path: &Path) -> io::Result<()> {
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(refused(path, "is not a regular file"));
    }
    if meta.uid() != euid() {
        return Err(refused(
            path,
            &format!("belongs to uid {}, not to you", meta.uid()),
        ));
    }
    if meta.nlink() > 1 {
        return Err(refused(path, "has other names (hard links)"));
    }
    Ok(())
}

fn link_error(path: &Path, e: io::Error) -> io::Error {
    // O_NOFOLLOW on a symbolic link fails with ELOOP.
    if e.raw_os_error() == Some(libc::ELOOP) {
        refused(
            path,
            "is a symbolic link; llws does not open logs through links",
        )
    } else {
        e
    }
}

/// Opens a log file for writing from the start (created 0600 when missing, emptied when
/// not), never through a symbolic link and only when it is this user's own file.
pub fn open_log(path: &Path) -> io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| link_error(path, e))?;
    check_own_file(&file, path)?;
    // Emptied only now that it is known to be ours (O_TRUNC would have hit anything).
    file.set_len(0)?;
    Ok(file)
}

/// Opens a file for reading, never through a symbolic link and only when it is this
/// user's own regular file.
pub fn open_own_file(path: &Path) -> io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| link_error(path, e))?;
    check_own_file(&file, path)?;
    Ok(file)
}

/// Reads a file of llws's own (a state file) as text, through [`open_own_file`].
pub fn read_own_file(path: &Path) -> io::Result<String> {
    let mut text = String::new();
    open_own_file(path)?.read_to_string(&mut text)?;
    Ok(text)
}

/// Why a runtime folder cannot be used, with the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsafeDir(pub String);

impl std::fmt::Display for UnsafeDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UnsafeDir {}

/// Creates `dir` (mode 0700; missing parents as usual) or checks the one that is there: a
/// real folder (not a link), owned by this user, that no one else can write. A folder of
/// ours that others could only read or enter is tightened to 0700 (older llws versions
/// made it 0755); anything else is refused with the fix, because someone else may have
/// planted links or state files in it.
pub fn private_dir(dir: &Path) -> Result<PathBuf, UnsafeDir> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(parent);
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(UnsafeDir(format!(
                "cannot create llws's runtime folder {}: {e}",
                dir.display()
            )));
        }
    }
    let fix = format!(
        "remove it (rm -rf '{}') or set LLWS_STATE_DIR to a folder only you can write, then start llws again",
        dir.display()
    );
    let meta = dir
        .symlink_metadata()
        .map_err(|e| UnsafeDir(format!("cannot read {}: {e}", dir.display())))?;
    let problem = if meta.file_type().is_symlink() {
        Some("is a symbolic link".to_string())
    } else if !meta.is_dir() {
        Some("is not a folder".to_string())
    } else if meta.uid() != euid() {
        Some(format!(
            "belongs to uid {}, not to you (uid {})",
            meta.uid(),
            euid()
        ))
    } else if meta.mode() & 0o022 != 0 {
        Some(format!(
            "can be written by other users (mode {:o})",
            meta.mode() & 0o7777
        ))
    } else {
        None
    };
    if let Some(problem) = problem {
        return Err(UnsafeDir(format!(
            "llws's runtime folder {} {problem}: someone else could plant files in it. Fix: {fix}",
            dir.display()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| {
            UnsafeDir(format!(
                "cannot make {} private (chmod 700): {e}",
                dir.display()
            ))
        })?;
    }
    Ok(dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn atomic_writes_replace_the_file_and_refuse_links() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join(".env");
        write_atomic(&target, b"A=1\n", 0o644).unwrap();
        write_atomic(&target, b"A=2\n", 0o644).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "A=2\n");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let link = dir.path().join("link");
        symlink(&victim, &link).unwrap();
        let err = write_atomic(&link, b"x", 0o644).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        // No temporary files are left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(!names.iter().any(|n| n.contains("llws-tmp")), "{names:?}");
    }

    #[test]
    fn logs_are_never_opened_through_links() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let log = dir.path().join("server-8080.log");
        symlink(&victim, &log).unwrap();
        let err = open_log(&log).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(open_own_file(&log).is_err());
        // A hard link to someone's file is refused before anything is emptied.
        std::fs::remove_file(&log).unwrap();
        std::fs::hard_link(&victim, &log).unwrap();
        assert!(open_log(&log).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        // A plain file of ours is emptied and written.
        std::fs::remove_file(&log).unwrap();
        std::fs::write(&log, "old").unwrap();
        let mut f = open_log(&log).unwrap();
        f.write_all(b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "new");
        assert_eq!(read_own_file(&log).unwrap(), "new");
    }

    #[test]
    fn the_runtime_folder_is_private_or_refused() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("llws-1000");
        private_dir(&dir).unwrap();
        assert_eq!(dir.metadata().unwrap().permissions().mode() & 0o777, 0o700);
        // Ours but readable by others: tightened.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&dir).unwrap();
        assert_eq!(dir.metadata().unwrap().permissions().mode() & 0o777, 0o700);
        // Writable by others: refused, with the fix.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = private_dir(&dir).unwrap_err().to_string();
        assert!(err.contains("written by other users"), "{err}");
        assert!(err.contains("LLWS_STATE_DIR"), "{err}");
        // A link to a folder: refused.
        let link = base.path().join("llws-link");
        symlink(&dir, &link).unwrap();
        assert!(
            private_dir(&link)
                .unwrap_err()
                .to_string()
                .contains("symbolic link")
        );
    }
}
