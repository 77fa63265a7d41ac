//! claude-local: Claude Code pointed at the local llama-server, as the original wrapper
//! script did it, plus a wait for the server and a way out when claude is not installed.
//!
//! The pane, `llws claude` and the sandbox all run the same thing: the hidden
//! `llws __claude-local` command ([`run`]), which waits for the server inside the terminal
//! (so the user sees why nothing happens yet) and then execs `claude` with the environment.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::config::settings::Settings;
use crate::util::find_executable;

use super::health::{self, Health};
use super::prompt;

/// The variable the outer llws uses to hand the auth token to `__claude-local` without
/// putting it on a command line (visible in `ps`); removed before claude starts.
pub const TOKEN_VAR: &str = "LLWS_CLAUDE_AUTH_TOKEN";

/// What claude-local needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaudeLocal {
    /// Where llama-server answers, e.g. http://127.0.0.1:8080.
    pub base_url: String,
    /// Claude Code's own config dir (CLAUDE_CONFIG_DIR), kept apart from ~/.claude.
    pub config_dir: PathBuf,
    /// The model name Claude Code sends; llama-server serves whatever is loaded.
    pub model: String,
    pub auth_token: String,
    /// `[router] opus/sonnet/haiku`: the profile ids Claude Code's model names stand for
    /// (with follow mode, `/model opus` switches the server); `None`: the running model.
    pub opus: Option<String>,
    pub sonnet: Option<String>,
    pub haiku: Option<String>,
}

impl ClaudeLocal {
    pub fn from_settings(s: &Settings) -> Self {
        // The router's key, when one is required, is the token claude sends.
        let key = s
            .router
            .enabled
            .then(|| {
                crate::util::api_key::resolve(&s.server.api_key)
                    .ok()
                    .flatten()
            })
            .flatten();
        let routed =
            |profile: &str| (s.router.enabled && !profile.is_empty()).then(|| profile.to_string());
        Self {
            base_url: s.server.base_url(),
            config_dir: s.claude.config_dir.clone(),
            model: s.claude.model.clone(),
            auth_token: key.unwrap_or_else(|| s.claude.auth_token.clone()),
            opus: routed(&s.router.opus),
            sonnet: routed(&s.router.sonnet),
            haiku: routed(&s.router.haiku),
        }
    }

    /// The environment claude runs with: the original wrapper's exports, plus the model
    /// variables newer Claude Code reads instead of ANTHROPIC_SMALL_FAST_MODEL, so no
    /// background call asks for a model name llama-server was not started with.
    pub fn env(&self) -> Vec<(String, String)> {
        let m = &self.model;
        [
            ("CLAUDE_CONFIG_DIR", self.config_dir.display().to_string()),
            ("ANTHROPIC_BASE_URL", self.base_url.clone()),
            ("ANTHROPIC_AUTH_TOKEN", self.auth_token.clone()),
            // Empty, so a key in the user's shell never goes to the local server and never
            // wins over the token.
            ("ANTHROPIC_API_KEY", String::new()),
            ("ANTHROPIC_MODEL", m.clone()),
            ("ANTHROPIC_SMALL_FAST_MODEL", m.clone()),
            (
                "ANTHROPIC_DEFAULT_OPUS_MODEL",
                self.opus.clone().unwrap_or(m.clone()),
            ),
            (
                "ANTHROPIC_DEFAULT_SONNET_MODEL",
                self.sonnet.clone().unwrap_or(m.clone()),
            ),
            (
                "ANTHROPIC_DEFAULT_HAIKU_MODEL",
                self.haiku.clone().unwrap_or(m.clone()),
            ),
            ("CLAUDE_CODE_SUBAGENT_MODEL", m.clone()),
            ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// How often /health is asked while waiting.
const POLL: Duration = Duration::from_millis(500);

/// Waits until `base_url`/health answers 200, printing one line per state change and
/// keeping the elapsed time current on the last one. Never gives up: the user may be about
/// to start a model, and Ctrl+C ends the wait.
pub fn wait_for_server(base_url: &str, out: &mut impl Write) {
    let started = Instant::now();
    let mut shown: Option<Health> = None;
    loop {
        let now = health::probe(base_url, Duration::from_secs(2));
        if now == Health::Ready {
            if shown.is_some() {
                let _ = writeln!(
                    out,
                    "\r\x1b[Kllws: llama-server at {base_url} is ready ({} s)",
                    started.elapsed().as_secs()
                );
                let _ = out.flush();
            }
            return;
        }
        let changed = !shown.as_ref().is_some_and(|s| s.same_state(&now));
        if changed && shown.is_some() {
            let _ = writeln!(out);
        }
        let hint = match now {
            Health::NoServer(_) => " · start a model in llws (or `llws up PROFILE`)",
            _ => "",
        };
        let line = format!(
            "llws: waiting for llama-server at {base_url}: {} ({} s){hint}",
            now.describe(),
            started.elapsed().as_secs()
        );
        // Rewritten in place every poll: a line wider than the terminal would wrap, and
        // `\r` only returns to its last row, so the rows above would pile up.
        let _ = write!(out, "\r\x1b[K{}", fit_width(&line, terminal_width()));
        let _ = out.flush();
        shown = Some(now);
        std::thread::sleep(POLL);
    }
}

/// The width of the terminal this runs in (the pane's PTY), or a safe guess.
fn terminal_width() -> usize {
    crossterm::terminal::size().map_or(80, |(cols, _)| usize::from(cols))
}

/// `line` cut to `width - 1` characters (with an ellipsis), so it never wraps.
fn fit_width(line: &str, width: usize) -> String {
    let max = width.saturating_sub(1).max(10);
    if line.chars().count() <= max {
        return line.to_string();
    }
    let mut cut: String = line.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

const INSTALL_HELP: &str = "\
Claude Code (`claude`) is not on PATH.
Install it with one of:
  npm install -g @anthropic-ai/claude-code
  claude-local/install.sh   (from the llws source tree; also seeds ~/.claude-local)
";

/// `llws __claude-local`: wait for the server, then become `claude` with the environment.
/// Returns only when claude could not be started.
pub fn run(cl: &ClaudeLocal, args: &[String]) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout();
    wait_for_server(&cl.base_url, &mut out);
    loop {
        if let Some(claude) = find_executable(Path::new("claude")) {
            let err = std::process::Command::new(&claude)
                .args(args)
                .envs(cl.env())
                .env_remove(TOKEN_VAR)
                .exec();
            anyhow::bail!("cannot start {}: {err}", claude.display());
        }
        let _ = write!(out, "{}", INSTALL_HELP.replace('\n', "\r\n"));
        let shell = std::env::var("SHELL")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "/bin/sh".into());
        match prompt::choose(
            &format!("[s] open a shell ({shell})  [r] retry  [q] quit"),
            &['s', 'r', 'q'],
        ) {
            Some('r') => continue,
            Some('s') => {
                let _ = writeln!(
                    out,
                    "Exit the shell to come back to llws; the claude-local environment is set."
                );
                let err = std::process::Command::new(&shell)
                    .envs(cl.env())
                    .env_remove(TOKEN_VAR)
                    .exec();
                anyhow::bail!("cannot start {shell}: {err}");
            }
            _ => return Ok(ExitCode::from(127)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_matches_the_original_wrapper() {
        let mut s = Settings::default();
        s.claude.config_dir = "/home/u/.claude-local".into();
        s.server.port = 9090;
        let env = ClaudeLocal::from_settings(&s).env();
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("CLAUDE_CONFIG_DIR"), Some("/home/u/.claude-local"));
        assert_eq!(get("ANTHROPIC_BASE_URL"), Some("http://127.0.0.1:9090"));
        assert_eq!(get("ANTHROPIC_AUTH_TOKEN"), Some("llamacpp"));
        assert_eq!(get("ANTHROPIC_API_KEY"), Some(""));
        assert_eq!(get("ANTHROPIC_MODEL"), Some("local-llama"));
        assert_eq!(get("ANTHROPIC_SMALL_FAST_MODEL"), Some("local-llama"));
        assert_eq!(get("ANTHROPIC_DEFAULT_HAIKU_MODEL"), Some("local-llama"));
        assert_eq!(get("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"), Some("1"));
    }

    #[test]
    fn router_models_and_key() {
        let mut s = Settings::default();
        s.router.opus = "big".into();
        s.router.haiku = "small".into();
        s.server.api_key = "k3y".into();
        let env = ClaudeLocal::from_settings(&s).env();
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("ANTHROPIC_DEFAULT_OPUS_MODEL"), Some("big"));
        assert_eq!(get("ANTHROPIC_DEFAULT_SONNET_MODEL"), Some("local-llama"));
        assert_eq!(get("ANTHROPIC_DEFAULT_HAIKU_MODEL"), Some("small"));
        assert_eq!(get("ANTHROPIC_AUTH_TOKEN"), Some("k3y"));
        // Direct mode: nothing on the port reads them.
        s.router.enabled = false;
        let env = ClaudeLocal::from_settings(&s).env();
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("ANTHROPIC_DEFAULT_OPUS_MODEL"), Some("local-llama"));
        assert_eq!(get("ANTHROPIC_AUTH_TOKEN"), Some("llamacpp"));
    }

    #[test]
    fn waiting_lines_never_wrap() {
        assert_eq!(fit_width("short", 80), "short");
        let cut = fit_width(&"x".repeat(200), 90);
        assert_eq!(cut.chars().count(), 89);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn waiting_prints_one_line_per_state_and_returns_when_ready() {
        use std::io::Read;
        use std::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        // Loading twice, then ready: a real socket answering like llama-server does.
        std::thread::spawn(move || {
            for status in [
                "503 Service Unavailable",
                "503 Service Unavailable",
                "200 OK",
            ] {
                let (mut s, _) = listener.accept().unwrap();
                let mut buf = [0u8; 512];
                let _ = s.read(&mut buf);
                let _ = s.write_all(
                    format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes(),
                );
            }
        });
        let mut out = Vec::new();
        wait_for_server(&url, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(&format!(
                "waiting for llama-server at {url}: loading model… (0 s)"
            )),
            "{text}"
        );
        assert!(text.contains("is ready ("), "{text}");
        assert_eq!(
            text.matches('\n').count(),
            1,
            "one line for loading, one for ready: {text:?}"
        );
    }
}
