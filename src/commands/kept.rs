//! The CLI when no llws answers: a server left running (`on_exit = "keep"`, `llws up`) is
//! still found from what it left, the process backend's state file and log, or the
//! container llws labelled, so `llws status`, `llws logs` and `llws down` work without
//! starting anything.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::api::types::{BackendInfo, FailureInfo, StatusResponse};
use crate::config::Settings;
use crate::config::settings::BackendKind;
use crate::server::docker::{KeptContainer, container_logs, kept_container};
use crate::server::log_file::rotated_path;
use crate::server::owner::owner_of;
use crate::server::process::{ProcessBackend, StateFile, kept_server};
use crate::util::state_dir;

use super::Context;

/// What a server left behind without an llws.
pub enum Kept {
    Nothing,
    Process(StateFile),
    Container(KeptContainer),
    /// The Docker daemon cannot be asked.
    Unknown(String),
}

pub async fn find(settings: &Settings) -> Kept {
    find_as(&kept_settings(settings).await).await
}

/// The settings a kept server was started with: direct on `server.port` (`llws up`), or
/// behind the router on its own port (an llws with `on_exit = "keep"`). Direct first.
pub async fn kept_settings(settings: &Settings) -> Settings {
    let mut direct = settings.clone();
    direct.router.enabled = false;
    if !settings.router.enabled || !matches!(find_as(&direct).await, Kept::Nothing) {
        return direct;
    }
    settings.clone()
}

/// A server `llws up` left on `server.port` itself: the workspace and `llws serve` adopt it
/// in direct mode (no router until it is stopped) instead of failing to take the port.
/// Returns the note to show, and turns the router off in `settings`.
pub fn adopt_direct(settings: &mut Settings) -> Option<String> {
    if !settings.router.enabled || owner_of(settings, &state_dir()).is_some() {
        return None;
    }
    let mut direct = settings.clone();
    direct.router.enabled = false;
    let left = runtime()
        .ok()?
        .block_on(async { !matches!(find_as(&direct).await, Kept::Nothing | Kept::Unknown(_)) });
    if left {
        settings.router.enabled = false;
        return Some(format!(
            "a server `llws up` left runs on port {} itself: adopting it in direct mode (no router until it is stopped; stop it with `llws down` for the router)",
            settings.server.port
        ));
    }
    // A program llws did not start holds the port (a compose container, a llama-server run
    // by hand): the router could not take it. In direct mode the backends find it on the
    // port and offer to replace or adopt it, as they do without a router.
    if port_taken(&settings.server.host, settings.server.port) {
        settings.router.enabled = false;
        return Some(format!(
            "port {} is held by a program llws did not start: the router stays off for this run (direct mode), so llws can name that program and offer to replace or adopt it; start llws again once it is gone to have the router",
            settings.server.port
        ));
    }
    None
}

/// Whether something already listens on `host:port` (binding it fails with "in use").
fn port_taken(host: &str, port: u16) -> bool {
    let ip: std::net::IpAddr = match host.trim_matches(['[', ']']) {
        "" => std::net::Ipv4Addr::UNSPECIFIED.into(),
        "localhost" => std::net::Ipv4Addr::LOCALHOST.into(),
        h => match h.parse() {
            Ok(ip) => ip,
            // The router reports a bad host itself.
            Err(_) => return false,
        },
    };
    matches!(
        std::net::TcpListener::bind((ip, port)),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse
    )
}

/// The port a kept native server listens on: `server.port` (direct), else the router's
/// upstream port.
fn process_port(settings: &Settings) -> u16 {
    if kept_server(&state_dir(), settings.server.port).is_some() {
        return settings.server.port;
    }
    crate::server::upstream::backend_settings(settings, &state_dir())
        .server
        .port
}

/// What is left on the port `settings` give the backend.
async fn find_as(settings: &Settings) -> Kept {
    // Behind the router the server listens on its own port.
    let settings = &crate::server::upstream::backend_settings(settings, &state_dir());
    match settings.backend {
        BackendKind::Process => match kept_server(&state_dir(), settings.server.port) {
            Some(state) => Kept::Process(state),
            None => Kept::Nothing,
        },
        BackendKind::Docker => match kept_container(settings).await {
            Ok(Some(c)) => Kept::Container(c),
            Ok(None) => Kept::Nothing,
            Err(e) => Kept::Unknown(e),
        },
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Whether the server answers /health.
async fn healthy(settings: &Settings) -> bool {
    let settings = &kept_settings(settings).await;
    let settings = &crate::server::upstream::backend_settings(settings, &state_dir());
    let probe = crate::server::health::HealthProbe::new(&settings.server.base_url());
    matches!(probe.probe().await, crate::server::health::Health::Ready)
}

/// `llws status` without an llws: the same shape as `GET /status`, from what was left.
pub fn status(ctx: &Context, json: bool) -> anyhow::Result<ExitCode> {
    let settings = &ctx.settings;
    if let Some(owner) = owner_of(settings, &state_dir()) {
        eprintln!(
            "llws: {} controls the server on port {}, but its API does not answer; ask it there",
            owner.describe(),
            owner.port
        );
        return Ok(ExitCode::FAILURE);
    }
    let (kept, healthy) = runtime()?.block_on(async {
        let kept = find(settings).await;
        (kept, healthy(settings).await)
    });
    let mut status: StatusResponse = serde_json::from_value(serde_json::json!({
        "model": null, "model_name": "", "state": "idle", "status": "", "step": null,
        "switch": null, "failure": null, "running_since_ms": null, "uptime_s": null,
        "server_url": settings.server.base_url(),
        "backend": {"kind": settings.backend.to_string(), "reachable": true, "message": ""},
        "pid": null, "container_id": null, "adopted": false, "last_switch": null
    }))?;
    let running = if healthy { "running" } else { "starting" };
    match &kept {
        Kept::Nothing => {
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                eprintln!(
                    "llws: no llws is answering at {}, and no server was left running on port {}; start one with `llws` or `llws serve`",
                    settings.api.base_url(),
                    settings.server.port
                );
            }
            return Ok(ExitCode::FAILURE);
        }
        Kept::Unknown(message) => {
            status.backend = BackendInfo {
                kind: settings.backend.to_string(),
                reachable: false,
                message: message.clone(),
            };
            status.status = format!("no llws is running; {message}");
        }
        Kept::Process(state) => {
            status.model = Some(state.profile.clone());
            status.model_name = state.profile_name.clone();
            status.state = running.into();
            status.pid = Some(state.pid);
            status.status =
                "left running by an earlier llws; none controls it now (the next llws adopts it)"
                    .into();
        }
        Kept::Container(c) => {
            status.model = c.profile.clone();
            status.model_name = c.profile_name.clone().unwrap_or_default();
            status.pid = c.pid;
            status.container_id = Some(c.id.clone());
            if c.running {
                status.state = running.into();
                status.status = "left running by an earlier llws; none controls it now (the next llws adopts it)".into();
            } else {
                let exit = c.exit.clone().unwrap_or_default();
                status.state = "failed".into();
                status.status = format!("its container stopped: {}", exit.describe());
                status.failure = Some(FailureInfo {
                    reason: status.status.clone(),
                    exit_code: exit.code,
                    signal: exit.signal,
                    oom_killed: exit.oom_killed,
                    restart_count: exit.restart_count,
                    log_tail: Vec::new(),
                });
            }
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!(
            "{}",
            super::client::render_status(&status, "none (no llws is running)")
        );
        if let Kept::Process(_) = kept {
            let log = ProcessBackend::log_path_in(&state_dir(), process_port(settings));
            println!("{:<9}{}", "log", log.display());
        }
    }
    Ok(if matches!(kept, Kept::Unknown(_)) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `llws logs [-n N] [-f]` without an llws: the kept server's log file (with the rotated
/// one before it) or its container's output.
pub async fn logs(ctx: &Context, tail: usize, follow: bool) -> anyhow::Result<ExitCode> {
    let settings = &ctx.settings;
    if let Some(owner) = owner_of(settings, &state_dir()) {
        eprintln!(
            "llws: {} controls the server, but its API does not answer",
            owner.describe()
        );
        return Ok(ExitCode::FAILURE);
    }
    match find(settings).await {
        Kept::Container(c) => {
            let mut out = std::io::stdout().lock();
            let result = container_logs(settings, &c.id, tail, follow, |line| {
                writeln!(out, "{line}").is_ok()
            });
            let interrupted = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            tokio::select! {
                result = result => if let Err(e) = result {
                    eprintln!("llws: {e}");
                    return Ok(ExitCode::FAILURE);
                },
                _ = interrupted => {}
            }
            Ok(ExitCode::SUCCESS)
        }
        Kept::Unknown(message) => {
            eprintln!(
                "llws: no llws is answering at {}, and {message}",
                settings.api.base_url()
            );
            Ok(ExitCode::FAILURE)
        }
        kept => {
            let path = ProcessBackend::log_path_in(&state_dir(), process_port(settings));
            if !path.exists() {
                eprintln!(
                    "llws: no llws is answering at {}, and there is no server log at {}",
                    settings.api.base_url(),
                    path.display()
                );
                return Ok(ExitCode::FAILURE);
            }
            print_file_tail(&path, tail)?;
            if follow {
                let pid = match kept {
                    Kept::Process(state) => Some(state.pid),
                    _ => None,
                };
                follow_file(&path, pid).await?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The last `n` lines of the log, the rotated file first when the current one is short.
fn print_file_tail(path: &Path, n: usize) -> anyhow::Result<()> {
    let read = |p: &Path| std::fs::read(p).unwrap_or_default();
    let mut text = read(&rotated_path(path));
    text.extend(read(path));
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    let mut out = std::io::stdout().lock();
    for line in &lines[lines.len().saturating_sub(n)..] {
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    Ok(())
}

/// Prints what is added to the log until Ctrl-C, or until the server has exited and the
/// file is drained. A rotation (the relay moved the file aside) is followed.
async fn follow_file(path: &Path, pid: Option<u32>) -> anyhow::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    use std::os::unix::fs::MetadataExt;
    let open = |p: &PathBuf| std::fs::File::open(p).ok();
    let path = path.to_path_buf();
    let mut file = open(&path);
    if let Some(f) = file.as_mut() {
        f.seek(SeekFrom::End(0))?;
    }
    let mut interrupted = std::pin::pin!(tokio::signal::ctrl_c());
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = std::io::stdout();
    loop {
        let mut read_any = false;
        if let Some(f) = file.as_mut() {
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                read_any = true;
                if out.write_all(&buf[..n]).is_err() {
                    return Ok(());
                }
            }
            let _ = out.flush();
        }
        let current = file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map(|m| m.ino());
        let on_disk = std::fs::metadata(&path).ok().map(|m| m.ino());
        if on_disk.is_some() && on_disk != current {
            file = open(&path);
            continue;
        }
        let alive = pid.is_none_or(|pid| {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok()
        });
        if !alive && !read_any {
            eprintln!("llws: the server has exited");
            return Ok(());
        }
        tokio::select! {
            _ = &mut interrupted => return Ok(()),
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_in_use_is_taken_and_a_free_one_is_not() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        assert!(port_taken("127.0.0.1", port));
        assert!(port_taken("localhost", port));
        drop(held);
        assert!(!port_taken("127.0.0.1", port));
        assert!(!port_taken("not an address", port));
    }
}
