//! Small helpers shared by several modules.

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
