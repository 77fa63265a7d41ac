//! Shared helpers for the end-to-end tests: where the real parts are, free ports, waiting.
//!
//! The real parts (the tiny GGUF, a CPU llama-server, the Docker daemon and its test image,
//! Claude Code) are provisioned by `scripts/fixtures`, which records them in
//! `$LLWS_FIXTURES/fixtures.env` (default `~/.cache/llws-test`). A test that needs a part
//! that is missing fails with the command that provides it; nothing is skipped.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub struct Fixtures {
    vars: HashMap<String, String>,
}

pub fn fixtures_dir() -> PathBuf {
    std::env::var_os("LLWS_FIXTURES")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").expect("HOME is set")).join(".cache/llws-test")
        })
}

impl Fixtures {
    pub fn get() -> &'static Fixtures {
        static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
        FIXTURES.get_or_init(|| {
            let file = fixtures_dir().join("fixtures.env");
            let text = std::fs::read_to_string(&file).unwrap_or_else(|e| {
                panic!(
                    "test fixtures are not provisioned ({}: {e}); run `scripts/fixtures` first (the README's test command does)",
                    file.display()
                )
            });
            let vars = text
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect();
            Fixtures { vars }
        })
    }

    pub fn var(&self, name: &str) -> &str {
        self.vars.get(name).map(String::as_str).unwrap_or_else(|| {
            panic!("{name} is missing from fixtures.env; run `scripts/fixtures` again")
        })
    }

    /// The folder holding the tiny model.
    pub fn model_dir(&self) -> PathBuf {
        PathBuf::from(self.var("LLWS_TEST_MODEL_DIR"))
    }

    /// The tiny model's file name, relative to `model_dir`.
    pub fn model_file(&self) -> &str {
        self.var("LLWS_TEST_MODEL")
    }

    /// A native llama-server (a wrapper that runs the unpacked binary).
    pub fn llama_server(&self) -> PathBuf {
        PathBuf::from(self.var("LLWS_TEST_LLAMA_SERVER"))
    }

    /// The test Docker daemon's socket, as a DOCKER_HOST value.
    pub fn docker_host(&self) -> &str {
        self.var("LLWS_TEST_DOCKER_HOST")
    }

    /// The llama-server image for the Docker backend.
    pub fn image(&self) -> &str {
        self.var("LLWS_TEST_IMAGE")
    }

    /// The Claude Code CLI.
    pub fn claude(&self) -> PathBuf {
        PathBuf::from(self.var("LLWS_TEST_CLAUDE"))
    }
}

/// A loopback port nobody listens on right now, that nothing else will take before the test
/// binds it.
///
/// Ports come from below the kernel's ephemeral range: `bind(0)` would hand out a port from
/// inside it, and any outgoing loopback connection made by a parallel test (health polls, API
/// clients) can then take that port as its local end before the server binds it. Below the
/// range only our own tests hand out ports, so a per-process counter, spread by pid so that
/// consecutive test binaries start apart, keeps them distinct.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let (low, high) = test_port_range();
    let span = u32::from(high - low);
    if span < 100 {
        // The ephemeral range covers nearly everything: nothing better than the kernel's pick.
        return TcpListener::bind("127.0.0.1:0")
            .expect("bind an ephemeral port")
            .local_addr()
            .unwrap()
            .port();
    }
    let start = std::process::id().wrapping_mul(7919) % span;
    for _ in 0..span {
        let offset = (start + NEXT.fetch_add(1, Ordering::Relaxed)) % span;
        let port = low + offset as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {low}..{high}");
}

/// The ports tests may use: the widest stretch outside `ip_local_port_range`.
fn test_port_range() -> (u16, u16) {
    let (eph_low, eph_high) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut parts = text.split_whitespace().map(|p| p.parse::<u16>().ok());
            Some((parts.next()??, parts.next()??))
        })
        .unwrap_or((32768, 60999));
    let below = (10_000, eph_low.max(10_000));
    let above = (eph_high.saturating_add(1).max(10_000), u16::MAX);
    if below.1 - below.0 >= above.1 - above.0 {
        below
    } else {
        above
    }
}

/// Polls `check` every 50 ms until it returns `Some`, or panics after `timeout` with `what`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The path of the built `llws` binary.
pub fn llws_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_llws"))
}

pub mod llama;
pub mod tmux;
