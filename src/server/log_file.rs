//! The process backend's server log file: capped, with one rotated file beside it, so a
//! flood of output cannot fill `$XDG_RUNTIME_DIR` (often a small tmpfs). A write that fails
//! (a full disk) is an error value the caller reports once; the next write tries again.
//!
//! Also the relay that keeps writing it after llws has gone (`on_exit = "keep"`, `llws up`):
//! the server's output is a pipe that llws reads, and at exit llws hands the pipe to a
//! small process of its own (`llws __log-relay`) so the server neither dies of SIGPIPE
//! nor loses its log.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The file beside `path` that holds the previous `max_bytes` of output.
pub fn rotated_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

/// Removes the log file and its rotated file (a server llws stopped leaves nothing).
pub fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(rotated_path(path));
}

fn open(path: &Path, truncate: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options
        .create(true)
        .mode(0o600)
        // Never through a symlink someone planted in the runtime folder.
        .custom_flags(libc::O_NOFOLLOW);
    if truncate {
        options.write(true).truncate(true);
    } else {
        options.append(true);
    }
    options.open(path)
}

/// A log file that is rotated once it reaches `max_bytes`.
pub struct LogFile {
    path: PathBuf,
    max_bytes: u64,
    file: Option<File>,
    /// Bytes in the current file.
    written: u64,
}

impl LogFile {
    /// A new, empty log (an older one and its rotated file are replaced).
    pub fn create(path: &Path, max_bytes: u64) -> io::Result<Self> {
        let _ = std::fs::remove_file(rotated_path(path));
        let file = open(path, true)?;
        Ok(Self {
            path: path.to_path_buf(),
            max_bytes: max_bytes.max(1),
            file: Some(file),
            written: 0,
        })
    }

    /// Goes on with an existing log (the relay, after llws wrote the first part).
    pub fn append(path: &Path, max_bytes: u64) -> Self {
        let file = open(path, false).ok();
        let written = file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map(|m| m.len())
            .unwrap_or(0);
        Self {
            path: path.to_path_buf(),
            max_bytes: max_bytes.max(1),
            file,
            written,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Moves the current file aside (replacing the older rotated file) and starts a new one.
    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        std::fs::rename(&self.path, rotated_path(&self.path))?;
        self.file = Some(open(&self.path, true)?);
        self.written = 0;
        Ok(())
    }

    /// Appends `bytes`, rotating at the cap. An error names the file: `PATH: error`.
    pub fn write(&mut self, mut bytes: &[u8]) -> Result<(), String> {
        let fail = |path: &Path, e: io::Error| format!("{}: {e}", path.display());
        while !bytes.is_empty() {
            if self.written >= self.max_bytes {
                self.rotate().map_err(|e| fail(&self.path, e))?;
            }
            if self.file.is_none() {
                // A rotation or an open that failed earlier: try again.
                let file = open(&self.path, false).map_err(|e| fail(&self.path, e))?;
                self.written = file.metadata().map(|m| m.len()).unwrap_or(0);
                self.file = Some(file);
                continue;
            }
            let room = (self.max_bytes - self.written).min(bytes.len() as u64) as usize;
            let file = self.file.as_mut().expect("opened above");
            match file.write(&bytes[..room]) {
                Ok(0) => {
                    return Err(fail(
                        &self.path,
                        io::Error::new(io::ErrorKind::WriteZero, "nothing written"),
                    ));
                }
                Ok(n) => {
                    self.written += n as u64;
                    bytes = &bytes[n..];
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(fail(&self.path, e)),
            }
        }
        Ok(())
    }
}

/// `llws __log-relay`: copies stdin (the server's output pipe) into the capped log until
/// the server and everything it started have closed it. Hang-ups and interrupts are
/// ignored: it ends with the server, not with the terminal llws ran in.
pub fn relay(path: &Path, max_bytes: u64) -> io::Result<()> {
    use nix::sys::signal::{SigHandler, Signal, signal};
    for sig in [
        Signal::SIGHUP,
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGPIPE,
    ] {
        // SAFETY: setting a signal to "ignore" installs no handler code.
        unsafe {
            let _ = signal(sig, SigHandler::SigIgn);
        }
    }
    // llws read the pipe without blocking; the flag belongs to the shared open file.
    let stdin = io::stdin();
    if let Ok(flags) = nix::fcntl::fcntl(&stdin, nix::fcntl::FcntlArg::F_GETFL) {
        let flags = nix::fcntl::OFlag::from_bits_truncate(flags) & !nix::fcntl::OFlag::O_NONBLOCK;
        let _ = nix::fcntl::fcntl(&stdin, nix::fcntl::FcntlArg::F_SETFL(flags));
    }
    let mut log = LogFile::append(path, max_bytes);
    let mut input = stdin.lock();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match input.read(&mut buf) {
            Ok(0) => return Ok(()),
            // Nobody is left to tell about a failed write: the next one tries again.
            Ok(n) => {
                let _ = log.write(&buf[..n]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_at_the_cap_and_keeps_one_older_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.log");
        let mut log = LogFile::create(&path, 100).unwrap();
        for i in 0..30 {
            log.write(format!("line {i:03}\n").as_bytes()).unwrap();
        }
        let current = std::fs::read_to_string(&path).unwrap();
        let older = std::fs::read_to_string(rotated_path(&path)).unwrap();
        assert!(current.len() <= 100 && older.len() == 100, "{current:?}");
        // Nothing lost at the seam, and the newest line is in the current file.
        assert!(format!("{older}{current}").ends_with("line 028\nline 029\n"));
        assert!(!dir.path().join("server.log.2").exists());
        remove(&path);
        assert!(!path.exists() && !rotated_path(&path).exists());
    }

    #[test]
    fn a_symlink_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "keep").unwrap();
        let path = dir.path().join("server.log");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(LogFile::create(&path, 100).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    }
}
