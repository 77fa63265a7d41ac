//! `llws claude` with a sandbox: the sandboxed program gets a terminal of its own (a PTY
//! llws relays to the user's terminal byte for byte) instead of the user's terminal.
//!
//! Why not hand it the user's terminal: anything that shares the terminal can push input
//! into it (TIOCSTI) that the user's shell would read after the sandbox ends. The seccomp
//! filter refuses TIOCSTI already; the private PTY means that even without it, injected
//! input could only reach the sandbox itself. The outer terminal still does all the
//! rendering, so this costs nothing in fidelity.

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

use anyhow::Context as _;
use portable_pty::{CommandBuilder, PtySize, native_pty_system};

use super::pane::CommandSpec;

/// Runs `spec` on a new PTY relayed to this process's terminal; returns its exit status.
pub fn run(spec: &CommandSpec) -> anyhow::Result<ExitCode> {
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let size = || {
        let (cols, rows) = crossterm::terminal::size().unwrap_or((80, 24));
        PtySize {
            rows: rows.max(2),
            cols: cols.max(10),
            pixel_width: 0,
            pixel_height: 0,
        }
    };
    let pair = native_pty_system()
        .openpty(size())
        .context("cannot open a pseudo-terminal")?;
    let mut cmd = CommandBuilder::new(&spec.program);
    cmd.args(&spec.args);
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    if let Some(dir) = &spec.cwd {
        cmd.cwd(dir);
    }
    let mut child = pair
        .slave
        .spawn_command(cmd)
        .with_context(|| format!("cannot start `{}`", spec.display()))?;
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader()?;
    let mut writer = pair.master.take_writer()?;

    let raw = interactive && crossterm::terminal::enable_raw_mode().is_ok();
    // Keys: a thread that is simply abandoned at exit (it is blocked in read(2)).
    std::thread::Builder::new()
        .name("llws-relay-in".into())
        .spawn(move || {
            let mut buf = [0u8; 4096];
            let mut stdin = std::io::stdin().lock();
            while let Ok(n) = stdin.read(&mut buf) {
                if n == 0
                    || writer
                        .write_all(&buf[..n])
                        .and_then(|()| writer.flush())
                        .is_err()
                {
                    break;
                }
            }
        })?;
    // Resizes: SIGWINCH on this terminal becomes a resize of the inner one.
    let master = pair.master;
    if interactive {
        std::thread::Builder::new()
            .name("llws-relay-winch".into())
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async move {
                    use tokio::signal::unix::{SignalKind, signal};
                    let Ok(mut winch) = signal(SignalKind::window_change()) else {
                        return;
                    };
                    while winch.recv().await.is_some() {
                        let _ = master.resize(size());
                    }
                });
            })?;
    }
    let mut out = std::io::stdout();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err() {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let status = child.wait()?;
    if raw {
        let _ = crossterm::terminal::disable_raw_mode();
    }
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(u8::try_from(status.exit_code()).unwrap_or(1).max(1))
    })
}
