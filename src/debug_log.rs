//! llws's own debug log, for bug reports: with `LLWS_LOG` set, what llws does (the
//! workspace's messages and effects, the controller's answers) goes to `llws.log` in the
//! state directory ([`crate::util::state_dir`]). `LLWS_LOG` is a level (`error`, `warn`,
//! `info`, `debug`, `trace`); any other value means `debug`. Unset, nothing is written and
//! the `tracing` macros cost a check of one atomic.
//!
//! Keys typed for the claude pane are never logged, only that a key went there: they can
//! be passwords.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::Mutex;

use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The variable that turns the log on.
pub const VAR: &str = "LLWS_LOG";

/// Where the log goes.
pub fn path() -> PathBuf {
    crate::util::state_dir().join("llws.log")
}

/// The level `LLWS_LOG` asks for; `None` when it is unset or empty.
pub fn level(value: Option<&str>) -> Option<LevelFilter> {
    let value = value?.trim();
    if value.is_empty() {
        return None;
    }
    // Names only: tracing also reads digits as levels (1 is `error`), but `LLWS_LOG=1`
    // means "on", so any other value is `debug`.
    let named = ["error", "warn", "info", "debug", "trace", "off"]
        .contains(&value.to_ascii_lowercase().as_str());
    match named.then(|| value.parse().ok()).flatten() {
        Some(LevelFilter::OFF) => None,
        Some(level) => Some(level),
        None => Some(LevelFilter::DEBUG),
    }
}

/// Starts the log if `LLWS_LOG` asks for it. A log that cannot be opened is said on
/// stderr once and llws runs on without it.
pub fn init() {
    let Some(level) = level(std::env::var(VAR).ok().as_deref()) else {
        return;
    };
    let path = path();
    let file = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| {
            // Appended in place (a log is never rewritten) and never through a symlink,
            // which someone else could have put in a shared /tmp.
            OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)
        });
    match file {
        Ok(file) => {
            // llws's own events at the level asked for; the libraries' (hyper's connection
            // chatter on every health poll) only when they warn.
            let targets = Targets::new()
                .with_target("llws", level)
                .with_default(LevelFilter::WARN.min(level));
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(Mutex::new(file))
                .with_filter(targets);
            let installed = tracing_subscriber::registry().with(layer).try_init();
            if installed.is_ok() {
                tracing::info!(version = env!("CARGO_PKG_VERSION"), "llws started");
            }
        }
        Err(e) => eprintln!(
            "llws: {VAR} is set but {} cannot be opened: {e}",
            path.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_names_a_level_or_means_debug() {
        assert_eq!(level(None), None);
        assert_eq!(level(Some("")), None);
        assert_eq!(level(Some("trace")), Some(LevelFilter::TRACE));
        assert_eq!(level(Some("warn")), Some(LevelFilter::WARN));
        assert_eq!(level(Some("1")), Some(LevelFilter::DEBUG));
        assert_eq!(level(Some("yes")), Some(LevelFilter::DEBUG));
        assert_eq!(level(Some("off")), None);
    }
}
