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

use super::command::SETUP_NOTE_VAR;
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
    /// llws's management API, for the switch's clock while waiting (`None`: its own).
    pub api_url: Option<String>,
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
            api_url: s.api.enabled.then(|| s.api.base_url()),
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
/// to start a model, and Ctrl+C ends the wait. With `api_url` (llws's management API), the
/// time is the running switch's, as the status bar shows it.
pub fn wait_for_server(base_url: &str, api_url: Option<&str>, out: &mut impl Write) {
    let started = Instant::now();
    let mut shown: Option<Health> = None;
    let mut since = started;
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
        if changed {
            since = Instant::now();
            if shown.is_some() {
                let _ = writeln!(out);
            }
        }
        // The switch's clock when llws says one runs (the status bar's), else this state's.
        let secs = api_url
            .and_then(|api| health::switch_started_at_ms(api, Duration::from_millis(500)))
            .map(|at| epoch_ms().saturating_sub(at) as f64 / 1000.0)
            .unwrap_or_else(|| since.elapsed().as_secs_f64());
        let line = waiting_line(base_url, &now, secs, terminal_width());
        // Rewritten in place every poll: a line wider than the terminal would wrap, and
        // `\r` only returns to its last row, so the rows above would pile up.
        let _ = write!(out, "\r\x1b[K{line}");
        let _ = out.flush();
        shown = Some(now);
        std::thread::sleep(POLL);
    }
}

/// Sets a SIGINT handler that does nothing (see the shell in [`run`]).
fn catch_interrupts() {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    extern "C" fn nothing(_: libc::c_int) {}
    let action = SigAction::new(
        SigHandler::Handler(nothing),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler touches nothing; it only keeps the signal from ending us.
    let _ = unsafe { sigaction(Signal::SIGINT, &action) };
}

/// Now, in ms since the epoch (the API's clock).
fn epoch_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `s` cut to `max` columns, ending in `…` when cut.
fn fit(s: &str, max: usize) -> String {
    use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};
    if s.width() <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw + 1 > max {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    out
}

/// The width of the terminal this runs in (the pane's PTY), or a safe guess.
fn terminal_width() -> usize {
    crossterm::terminal::size().map_or(80, |(cols, _)| usize::from(cols))
}

/// The waiting line for `width` columns, never wider: the first of these that fits, else
/// the last shortened from the middle. A narrow pane loses the URL first (the pane's
/// earlier lines and the status bar name it), then the reason and the long hint; the state,
/// the time and what to do stay.
fn waiting_line(base_url: &str, now: &Health, secs: f64, width: usize) -> String {
    let state = now.describe();
    // `no server (connection refused)` → `no server`.
    let short_state = state.split(" (").next().unwrap_or(&state).to_string();
    let time = format!(" ({secs:.1} s)");
    let (hint, short_hint) = match now {
        Health::NoServer(_) => (
            " · start a model in llws (or `llws up PROFILE`)",
            " · start a model",
        ),
        _ => ("", ""),
    };
    let candidates = [
        (
            format!("llws: waiting for llama-server at {base_url}: {state}"),
            hint,
        ),
        (format!("llws: waiting for llama-server: {state}"), hint),
        (
            format!("llws: waiting for llama-server: {short_state}"),
            short_hint,
        ),
    ];
    let max = width.saturating_sub(1);
    for (head, hint) in &candidates {
        let tail = format!("{time}{hint}");
        if head.chars().count() + tail.chars().count() <= max {
            return format!("{head}{tail}");
        }
    }
    let (head, hint) = &candidates[2];
    fit_middle(head, &format!("{time}{hint}"), width)
}

/// `head` then `tail` in `width - 1` columns, so the line never wraps: `head` (the URL and
/// the state) gives way first, cut with `…`, so that `tail` (the time and what to do) is
/// kept whole; only a terminal narrower than `tail` cuts it too.
fn fit_middle(head: &str, tail: &str, width: usize) -> String {
    use unicode_width::UnicodeWidthStr;
    let max = width.saturating_sub(1).max(10);
    if head.width() + tail.width() <= max {
        return format!("{head}{tail}");
    }
    let room = max.saturating_sub(tail.width());
    if room >= 12 {
        return format!("{}{tail}", fit(head, room));
    }
    fit(&format!("{head}{tail}"), max)
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
    // The outer llws set the config dir up just now (see `set_up_config_dir`): say so once,
    // above the waiting line.
    if let Some(note) = std::env::var(SETUP_NOTE_VAR).ok().filter(|n| !n.is_empty()) {
        let _ = write!(out, "{}\r\n", fit_middle(&note, "", terminal_width()));
    }
    wait_for_server(&cl.base_url, cl.api_url.as_deref(), &mut out);
    loop {
        if let Some(claude) = find_executable(Path::new("claude")) {
            let err = std::process::Command::new(&claude)
                .args(args)
                .envs(cl.env())
                .env_remove(TOKEN_VAR)
                .env_remove(SETUP_NOTE_VAR)
                .exec();
            anyhow::bail!("cannot start {}: {err}", claude.display());
        }
        let _ = write!(out, "{}", INSTALL_HELP.replace('\n', "\r\n"));
        let shell = std::env::var("SHELL")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "/bin/sh".into());
        // In the workspace's pane (`TERM_PROGRAM=llws`) there is nothing to quit to: the
        // menu stays until Claude Code is there (llws itself quits with its own key).
        let in_pane = std::env::var("TERM_PROGRAM").is_ok_and(|t| t == "llws");
        let (menu, keys): (String, &[char]) = if in_pane {
            (
                format!("[s] open a shell ({shell})  [r] retry"),
                &['s', 'r'],
            )
        } else {
            (
                format!("[s] open a shell ({shell})  [r] retry  [q] quit"),
                &['s', 'r', 'q'],
            )
        };
        match prompt::choose(&menu, keys) {
            Some('r') => continue,
            Some('s') => {
                let _ = write!(
                    out,
                    "The claude-local environment is set; exit the shell to come back to this menu.\r\n"
                );
                let _ = out.flush();
                // Not exec: when the shell ends, the menu comes back (a retry finds a
                // Claude Code installed meanwhile). Ctrl+C in the shell reaches this
                // process too (same terminal): a handler that does nothing keeps it alive,
                // and, unlike ignoring the signal, is not inherited by the shell.
                catch_interrupts();
                if let Err(e) = std::process::Command::new(&shell)
                    .envs(cl.env())
                    .env_remove(TOKEN_VAR)
                    .env_remove(SETUP_NOTE_VAR)
                    .status()
                {
                    let _ = write!(out, "cannot start {shell}: {e}\r\n");
                }
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
    fn the_waiting_line_gives_up_the_url_then_the_reason_never_the_state() {
        let url = "http://127.0.0.1:8080";
        let refused = Health::NoServer("connection refused".into());
        assert_eq!(
            waiting_line(url, &refused, 4.0, 200),
            "llws: waiting for llama-server at http://127.0.0.1:8080: no server (connection refused) (4.0 s) · start a model in llws (or `llws up PROFILE`)"
        );
        assert_eq!(
            waiting_line(url, &refused, 4.0, 120),
            "llws: waiting for llama-server: no server (connection refused) (4.0 s) · start a model in llws (or `llws up PROFILE`)"
        );
        assert_eq!(
            waiting_line(url, &refused, 4.0, 73),
            "llws: waiting for llama-server: no server (4.0 s) · start a model"
        );
        let narrow = waiting_line(url, &refused, 4.0, 50);
        assert_eq!(narrow.chars().count(), 49, "{narrow}");
        assert!(narrow.ends_with(" (4.0 s) · start a model"), "{narrow}");
        assert_eq!(
            waiting_line(url, &Health::Loading, 2.6, 73),
            "llws: waiting for llama-server: loading model… (2.6 s)"
        );
    }

    #[test]
    fn waiting_lines_never_wrap_and_keep_their_hint() {
        assert_eq!(fit_middle("short", " (1.0 s)", 80), "short (1.0 s)");
        let head = "llws: waiting for llama-server at http://127.0.0.1:8080: no server (connection refused)";
        let tail = " (12.0 s) · start a model in llws (or `llws up PROFILE`)";
        let line = fit_middle(head, tail, 90);
        assert_eq!(line.chars().count(), 89, "{line}");
        assert!(line.ends_with(tail), "the hint is kept: {line}");
        assert!(line.starts_with("llws: waiting for llama-server"), "{line}");
        assert!(line.contains('…'), "{line}");
        // Narrower than the hint: the line is cut at the end, still one row.
        let cut = fit_middle(head, tail, 40);
        assert_eq!(cut.chars().count(), 39);
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
        wait_for_server(&url, None, &mut out);
        let text = String::from_utf8(out).unwrap();
        // Fitted to the terminal's width (80 without one): the URL gives way, the time
        // stays.
        assert!(
            (text.contains(&format!(
                "waiting for llama-server at {url}: loading model…"
            )) || text.contains("waiting for llama-server: loading model…"))
                && text.contains(" (0.0 s)"),
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
