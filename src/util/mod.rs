//! Small helpers shared by several modules: finding programs, the runtime folder, files
//! written and opened safely ([`safe_fs`]), text made safe for a terminal ([`text`]), and
//! the process's own limits.

pub mod safe_fs;
pub mod text;

use std::path::{Path, PathBuf};

/// Finds an executable: a path with a `/` is taken as is, a bare name is looked up on PATH.
pub fn find_executable(name: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let is_exec = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if name.components().count() > 1 || name.is_absolute() {
        return is_exec(name).then(|| name.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_exec(candidate))
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
