//! Where llama-server listens when the router owns the inference port: a loopback port
//! picked once and kept in the runtime folder (`upstream-PORT`), so a server kept running
//! by `on_exit = "keep"` is found on the same port by the next llws and by the CLI.

use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;

use crate::config::Settings;
use crate::util::safe_fs;

/// The settings the backend and the controller run with: llama-server on its own
/// loopback port behind the router, or the settings as they are in direct mode.
pub fn backend_settings(settings: &Settings, state_dir: &Path) -> Settings {
    if !settings.router.enabled {
        return settings.clone();
    }
    settings.behind_router(upstream_port(settings, state_dir))
}

/// `[router] upstream_port`, else the one picked before, else a free one (remembered).
pub fn upstream_port(settings: &Settings, state_dir: &Path) -> u16 {
    if settings.router.upstream_port != 0 {
        return settings.router.upstream_port;
    }
    let path = state_dir.join(format!("upstream-{}", settings.server.port));
    if let Some(port) = safe_fs::read_own_file(&path)
        .ok()
        .and_then(|t| t.trim().parse::<u16>().ok())
        .filter(|p| *p != 0 && *p != settings.server.port)
    {
        return port;
    }
    // Below the ephemeral range where possible (port + 10000, 18080 for 8080): a port the
    // kernel hands out for outgoing connections may be taken before llama-server binds it.
    let near = (0..100u16)
        .filter_map(|i| settings.server.port.checked_add(10_000)?.checked_add(i))
        .find(|p| *p < 32_768 && TcpListener::bind((Ipv4Addr::LOCALHOST, *p)).is_ok());
    let port = near
        .or_else(|| {
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .ok()
        })
        .unwrap_or_else(|| settings.server.port.wrapping_add(1000).max(1024));
    if safe_fs::private_dir(state_dir).is_ok() {
        let _ = safe_fs::write_atomic(&path, port.to_string().as_bytes(), 0o600);
    }
    port
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picked_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let mut s = Settings::default();
        s.server.port = 18123;
        let first = upstream_port(&s, &state);
        assert_ne!(first, 18123);
        assert_eq!(upstream_port(&s, &state), first, "the same port next time");
        let b = backend_settings(&s, &state);
        assert_eq!(
            (b.server.host.as_str(), b.server.port),
            ("127.0.0.1", first)
        );
        s.router.upstream_port = 19000;
        assert_eq!(upstream_port(&s, &state), 19000);
        s.router.enabled = false;
        assert_eq!(
            backend_settings(&s, &state).server.port,
            18123,
            "direct mode"
        );
    }
}
