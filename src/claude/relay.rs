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

use crate::pty::CommandSpec;

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
    // Signals: SIGWINCH on this terminal resizes the inner one; a hang-up, SIGTERM or SIGINT
    // (the latter only arrives when stdin is not a terminal) is passed on to the program, so
    // llws outlives it and cleans up (the strict sandbox's bridge folder) when it ends.
    let master = pair.master;
    let child_pid = child.process_id().and_then(|p| i32::try_from(p).ok());
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("llws-relay-signals".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                let _ = ready_tx.send(());
                return;
            };
            rt.block_on(async move {
                use tokio::signal::unix::{SignalKind, signal};
                let (Ok(mut winch), Ok(mut hup), Ok(mut term), Ok(mut int)) = (
                    signal(SignalKind::window_change()),
                    signal(SignalKind::hangup()),
                    signal(SignalKind::terminate()),
                    signal(SignalKind::interrupt()),
                ) else {
                    let _ = ready_tx.send(());
                    return;
                };
                let _ = ready_tx.send(());
                loop {
                    let sig = tokio::select! {
                        _ = winch.recv() => {
                            if interactive {
                                let _ = master.resize(size());
                            }
                            continue;
                        }
                        _ = hup.recv() => libc::SIGHUP,
                        _ = term.recv() => libc::SIGTERM,
                        _ = int.recv() => libc::SIGINT,
                    };
                    if let Some(pid) = child_pid {
                        // SAFETY: kill(2) on the process group of our child, which is a
                        // session leader (portable-pty calls setsid) and not yet reaped.
                        unsafe {
                            libc::kill(-pid, sig);
                        }
                    }
                }
            });
        })?;
    let _ = ready_rx.recv_timeout(std::time::Duration::from_secs(2));
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
