//! The environment inside the sandbox: an allowlist, not the user's whole environment.
//!
//! A shell's environment holds tokens (`GITHUB_TOKEN`, `AWS_SECRET_ACCESS_KEY`, `HF_TOKEN`),
//! ways out (`DOCKER_HOST`, `SSH_AUTH_SOCK`) and a display (`DISPLAY`, `WAYLAND_DISPLAY`,
//! `XAUTHORITY`). Inside, a program gets the terminal and locale, `PATH`, `HOME`, `USER`,
//! `SHELL`, `TZ`, what llws sets for claude-local (`ANTHROPIC_*`, `CLAUDE_*`, `LLWS_*`),
//! and the names the user lists in `[claude] sandbox_env` (passed as `--keep-env`, with
//! every variable llws itself sets on the pane's command).
//!
//! The launcher starts bwrap with exactly this environment (`env_clear` and then each
//! variable), which is what bwrap's `--clearenv` plus `--setenv` would give, without putting
//! the values (the auth token among them) on bwrap's command line, where `ps` shows them.

/// Names passed as they are.
const NAMES: &[&str] = &[
    "TERM",
    "COLORTERM",
    "TERM_PROGRAM",
    "TERM_PROGRAM_VERSION",
    "COLUMNS",
    "LINES",
    "NO_COLOR",
    "FORCE_COLOR",
    "CLICOLOR",
    "LANG",
    "LANGUAGE",
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "TZ",
    "EDITOR",
    "VISUAL",
    "PAGER",
    // Points at the (emptied) runtime folder inside: programs expect it to be set.
    "XDG_RUNTIME_DIR",
];

/// Prefixes passed, unless the name looks like a secret ([`looks_secret`]).
const PREFIXES: &[&str] = &["LC_", "ANTHROPIC_", "CLAUDE_", "LLWS_"];

/// Words that make a variable a credential whatever its prefix: `ANTHROPIC_API_KEY` from
/// the user's shell must not reach a local model's sandbox unless llws set it (claude-local
/// empties it anyway) or the user lists it.
const SECRET_WORDS: &[&str] = &[
    "KEY",
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "CREDENTIAL",
    "AUTH",
];

fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_WORDS.iter().any(|w| upper.contains(w))
}

/// Whether `name` goes into the sandbox; `keep` are the names llws set on the command and
/// the user's `sandbox_env`.
pub fn allowed(name: &str, keep: &[String]) -> bool {
    if keep.iter().any(|k| k == name) {
        return true;
    }
    if NAMES.contains(&name) {
        return true;
    }
    PREFIXES.iter().any(|p| name.starts_with(p)) && !looks_secret(name)
}

/// The environment for the sandbox out of `vars` (this process's).
pub fn sandbox_env(
    vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
    keep: &[String],
) -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
    vars.into_iter()
        .filter(|(k, _)| k.to_str().is_some_and(|k| allowed(k, keep)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_allowlist_and_the_kept_names_pass() {
        let keep = vec![
            "LLWS_CLAUDE_AUTH_TOKEN".to_string(),
            "HTTPS_PROXY".to_string(),
        ];
        for name in [
            "TERM",
            "PATH",
            "HOME",
            "LC_ALL",
            "ANTHROPIC_BASE_URL",
            "CLAUDE_CONFIG_DIR",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
            "LLWS_PROJECT_DIR",
            "LLWS_CLAUDE_AUTH_TOKEN",
            "HTTPS_PROXY",
        ] {
            assert!(allowed(name, &keep), "{name}");
        }
        for name in [
            "GITHUB_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "HF_TOKEN",
            "DOCKER_HOST",
            "SSH_AUTH_SOCK",
            "DISPLAY",
            "WAYLAND_DISPLAY",
            "XAUTHORITY",
            "DBUS_SESSION_BUS_ADDRESS",
            "ANTHROPIC_API_KEY",
            "ANTHROPIC_AUTH_TOKEN",
            "CLAUDE_CODE_OAUTH_TOKEN",
            "TMUX",
        ] {
            assert!(!allowed(name, &keep), "{name}");
        }
    }
}
