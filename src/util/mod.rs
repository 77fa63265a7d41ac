//! Small helpers shared by several modules: finding programs, the runtime folder, files
//! written and opened safely ([`safe_fs`]), text made safe for a terminal ([`text`]), and
//! the process's own limits.

pub mod api_key;
pub mod health;
pub mod safe_fs;
pub mod text;

use std::path::{Path, PathBuf};

/// Finds an executable: a path with a `/` is taken as is, a bare name is looked up on PATH
/// (the `which` crate, the same rules as the shell's lookup).
pub fn find_executable(name: &Path) -> Option<PathBuf> {
    which::which(name).ok()
}

/// Where llws keeps runtime files (the process backend's log and state): `$LLWS_STATE_DIR`,
/// else `$XDG_RUNTIME_DIR/llws`, else `/tmp/llws-<uid>`.
pub fn state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LLWS_STATE_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir).join("llws");
    }
    PathBuf::from(format!("/tmp/llws-{}", nix::unistd::getuid()))
}

/// Raises this process's soft limit on open files to its hard limit. The default soft
/// limit (1024) is small for a process that serves the API, SSE streams, the sandbox's
/// port bridge and its own terminals; the hard limit is what the user allows.
pub fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to an rlimit of ours.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// This process's soft limit on open files.
pub fn fd_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit with a valid pointer to an rlimit of ours.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        limit.rlim_cur
    } else {
        0
    }
}

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

/// A size for people, the one form every screen and report uses: `12.3 GiB`, or `850 MiB`
/// below one GiB (rounded to the nearest).
pub fn bytes(b: u64) -> String {
    if b >= GIB {
        format!("{:.1} GiB", b as f64 / GIB as f64)
    } else {
        format!("{:.0} MiB", b as f64 / MIB as f64)
    }
}

/// `12.3/24.0 GiB`: both in the unit of the total.
pub fn used_of(used: u64, total: u64) -> String {
    if total >= GIB {
        format!(
            "{:.1}/{:.1} GiB",
            used as f64 / GIB as f64,
            total as f64 / GIB as f64
        )
    } else {
        format!(
            "{:.0}/{:.0} MiB",
            used as f64 / MIB as f64,
            total as f64 / MIB as f64
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executables_are_found_on_path_or_as_given() {
        let sh = find_executable(Path::new("sh")).expect("sh on PATH");
        assert!(sh.is_absolute(), "{sh:?}");
        assert_eq!(find_executable(&sh), Some(sh.clone()));
        assert_eq!(find_executable(Path::new("no-such-program-llws")), None);
        // A file that is not executable is not a program.
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        assert_eq!(find_executable(&plain), None);
    }

    #[test]
    fn sizes_for_people() {
        assert_eq!(bytes(98_362_432), "94 MiB");
        assert_eq!(bytes(24 * GIB), "24.0 GiB");
        // Nearest, not up: 1.4 MiB is 1 MiB (the estimate's report once said 2).
        assert_eq!(bytes(MIB + MIB * 4 / 10), "1 MiB");
        assert_eq!(used_of(512 << 20, 1 << 30), "0.5/1.0 GiB");
        assert_eq!(used_of(100 << 20, 512 << 20), "100/512 MiB");
    }
}
