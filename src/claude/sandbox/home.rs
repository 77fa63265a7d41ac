//! The home folder inside the sandbox: an empty tmpfs with only what the sandbox needs
//! bound back (the project, Claude's config dir, the folders the user lists, and the
//! installs of the programs it runs). A fixed list of credential folders to hide can never
//! be complete (browser profiles, `~/.config/gh`, shell history, the llws API token...);
//! an allowlist is.

use std::path::{Component, Path, PathBuf};

/// Credential folders and files that stay hidden even inside a folder that is bound back
/// (a `sandbox_ro` of `~/.cargo` must not bring `~/.cargo/credentials.toml`), relative to
/// the home folder.
pub const HIDDEN_DIRS: &[&str] = &[
    ".ssh",
    ".gnupg",
    ".aws",
    ".azure",
    ".kube",
    ".docker",
    ".config/gcloud",
    ".config/gh",
    ".config/llws",
    ".local/share/llws",
    ".local/share/keyrings",
    ".password-store",
    ".mozilla",
    ".config/google-chrome",
    ".config/chromium",
    ".1password",
    ".colima",
    ".lima",
    ".claude",
];
pub const HIDDEN_FILES: &[&str] = &[
    ".netrc",
    ".git-credentials",
    ".pgpass",
    ".npmrc",
    ".pypirc",
    ".Xauthority",
    ".claude.json",
    ".cargo/credentials",
    ".cargo/credentials.toml",
    ".bash_history",
    ".zsh_history",
    ".python_history",
];

/// Why a folder cannot be bound into the sandbox: it is the home folder or holds it, and
/// would bring every file the allowlist keeps out.
pub fn exposes_home(dir: &Path, home: &Path) -> bool {
    let real = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    home.starts_with(dir) || real(home).starts_with(real(dir))
}

/// The folder to bind for a program installed at `real` (its resolved path): the outermost
/// `node_modules` it sits in (an npm install: Claude Code's package, its platform binary
/// and its vendored tools are siblings there), else the folder that holds it.
pub fn install_root(real: &Path) -> PathBuf {
    let mut prefix = PathBuf::new();
    for c in real.components() {
        prefix.push(c.as_os_str());
        if c == Component::Normal("node_modules".as_ref()) {
            return prefix;
        }
    }
    real.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// What the home tmpfs needs for one program found at `found` (as PATH gave it): bwrap
/// arguments binding its install read-only, and a link from `found` when that is a link
/// into it. Nothing when the program lives outside the home folder.
pub fn program_binds(found: &Path, home: &Path) -> Vec<String> {
    let Ok(real) = found.canonicalize() else {
        return Vec::new();
    };
    let under_home = |p: &Path| p.starts_with(home);
    let mut out = Vec::new();
    if under_home(&real) {
        let root = install_root(&real);
        let root = root.display().to_string();
        out.extend(["--ro-bind".into(), root.clone(), root]);
    }
    if found != real && under_home(found) {
        let root = install_root(&real);
        // `found` is reachable when its folder is bound anyway (node_modules/.bin/claude).
        if !found.starts_with(&root) {
            out.extend([
                "--symlink".into(),
                real.display().to_string(),
                found.display().to_string(),
            ]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installs_are_bound_at_their_root() {
        assert_eq!(
            install_root(Path::new(
                "/h/.cache/llws-test/claude/node_modules/@anthropic-ai/claude-code/bin/claude.exe"
            )),
            Path::new("/h/.cache/llws-test/claude/node_modules")
        );
        assert_eq!(
            install_root(Path::new("/h/.local/share/claude/versions/2.1.197")),
            Path::new("/h/.local/share/claude/versions")
        );
        assert_eq!(
            install_root(Path::new("/h/.cargo/bin/llws")),
            Path::new("/h/.cargo/bin")
        );
    }

    #[test]
    fn a_program_under_home_is_bound_and_its_link_recreated() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path().canonicalize().unwrap();
        let versions = h.join(".local/share/claude/versions");
        std::fs::create_dir_all(&versions).unwrap();
        std::fs::create_dir_all(h.join(".local/bin")).unwrap();
        std::fs::write(versions.join("2.1.0"), "bin").unwrap();
        std::os::unix::fs::symlink(versions.join("2.1.0"), h.join(".local/bin/claude")).unwrap();
        let a = program_binds(&h.join(".local/bin/claude"), &h);
        let v = versions.display().to_string();
        assert_eq!(
            a,
            [
                "--ro-bind".to_string(),
                v.clone(),
                v.clone(),
                "--symlink".into(),
                format!("{v}/2.1.0"),
                h.join(".local/bin/claude").display().to_string()
            ]
        );
        assert!(program_binds(Path::new("/usr/bin/env"), &h).is_empty());
        assert!(exposes_home(&h, &h));
        assert!(exposes_home(h.parent().unwrap(), &h));
        assert!(!exposes_home(&h.join("project"), &h));
    }
}
