//! `llws claude` with a sandbox: the sandboxed program gets a terminal of its own (a PTY
//! llws relays to the user's terminal) instead of the user's terminal.
//!
//! Why not hand it the user's terminal: anything that shares the terminal can push input
//! into it (TIOCSTI) that the user's shell would read after the sandbox ends. The seccomp
//! filter refuses TIOCSTI already; the private PTY means that even without it, injected
//! input could only reach the sandbox itself. The outer terminal still does all the
//! rendering, so this costs nothing in fidelity.
//!
//! What goes out passes [`OutputFilter`], the same policy the workspace's pane applies
//! (`[claude] passthrough`): a sandboxed program's clipboard writes (OSC 52) are held back
//! unless passthrough is `true`, the bell and notifications (OSC 9, OSC 777) when it is
//! `false`, and tmux's passthrough (`DCS tmux;`), which would carry anything past the
//! filter to the terminal outside tmux, always.

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

use anyhow::Context as _;
use portable_pty::{CommandBuilder, PtySize, native_pty_system};

use crate::pty::CommandSpec;

/// Runs `spec` on a new PTY relayed to this process's terminal through `filter`; returns
/// its exit status.
pub fn run(spec: &CommandSpec, mut filter: OutputFilter) -> anyhow::Result<ExitCode> {
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
                let bytes = filter.push(&buf[..n]);
                if out.write_all(&bytes).and_then(|()| out.flush()).is_err() {
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

/// The longest escape string held while deciding about it. Longer ones (a huge OSC 52)
/// are dropped whole: the pane holds its program to a similar limit.
const HELD_MAX: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ground,
    /// After ESC.
    Esc,
    /// Inside a string sequence (OSC, DCS, SOS, PM, APC), held in `held`.
    Str,
    /// ESC inside a string: ST (ESC \\) or the start of something else.
    StrEsc,
    /// Inside a string that outgrew [`HELD_MAX`]: dropped up to its end.
    Skip,
    SkipEsc,
}

/// A streaming filter over a terminal program's output: everything passes byte for byte
/// except the escape strings the policy holds back. Chunks may split a sequence anywhere.
#[derive(Debug)]
pub struct OutputFilter {
    clipboard: bool,
    alerts: bool,
    state: State,
    held: Vec<u8>,
    /// The string being skipped is an OSC (BEL ends it).
    held_osc: bool,
}

impl OutputFilter {
    /// `clipboard`: pass OSC 52; `alerts`: pass the bell and OSC 9 / OSC 777.
    pub fn new(clipboard: bool, alerts: bool) -> OutputFilter {
        OutputFilter {
            clipboard,
            alerts,
            state: State::Ground,
            held: Vec::new(),
            held_osc: false,
        }
    }

    /// Whether the finished string sequence in `held` (ESC, introducer, body, terminator)
    /// may go out.
    fn allowed(&self, seq: &[u8]) -> bool {
        let body = &seq[2..];
        match seq[1] {
            b']' => {
                let number: Vec<u8> = body
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .copied()
                    .collect();
                match number.as_slice() {
                    b"52" => self.clipboard,
                    b"9" | b"777" => self.alerts,
                    _ => true,
                }
            }
            // tmux's passthrough hands its payload to the terminal outside tmux unchecked.
            b'P' => !body.starts_with(b"tmux;"),
            _ => true,
        }
    }

    /// The bytes of `input` that go out.
    pub fn push(&mut self, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            match self.state {
                State::Ground => match b {
                    0x1b => self.state = State::Esc,
                    0x07 if !self.alerts => {}
                    b => out.push(b),
                },
                State::Esc => match b {
                    // ESC ESC: the first one stands alone.
                    0x1b => out.push(0x1b),
                    b']' | b'P' | b'X' | b'^' | b'_' => {
                        self.held.clear();
                        self.held.extend([0x1b, b]);
                        self.state = State::Str;
                    }
                    b => {
                        out.extend([0x1b, b]);
                        self.state = State::Ground;
                    }
                },
                State::Str => match b {
                    // BEL ends an OSC (xterm's form); the other strings end only with ST.
                    0x07 if self.held[1] == b']' => {
                        self.held.push(b);
                        self.finish(&mut out);
                    }
                    0x1b => self.state = State::StrEsc,
                    b => {
                        self.held.push(b);
                        if self.held.len() > HELD_MAX {
                            self.held_osc = self.held[1] == b']';
                            self.held.clear();
                            self.state = State::Skip;
                        }
                    }
                },
                State::StrEsc => {
                    if b == b'\\' {
                        self.held.extend([0x1b, b]);
                        self.finish(&mut out);
                    } else if b == 0x1b && self.held[1] == b'P' {
                        // tmux's passthrough doubles the ESCs of its payload.
                        self.held.extend([0x1b, 0x1b]);
                        self.state = State::Str;
                    } else {
                        // Cut short by another escape: dropped, as a terminal drops it; the
                        // new sequence starts here.
                        self.held.clear();
                        self.state = State::Esc;
                        let rest = self.push(&[b]);
                        out.extend(rest);
                    }
                }
                State::Skip => match b {
                    0x07 if self.held_osc => self.state = State::Ground,
                    0x1b => self.state = State::SkipEsc,
                    _ => {}
                },
                State::SkipEsc => {
                    self.state = if b == b'\\' {
                        State::Ground
                    } else {
                        State::Skip
                    };
                }
            }
        }
        out
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.allowed(&self.held) {
            out.extend_from_slice(&self.held);
        }
        self.held.clear();
        self.state = State::Ground;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(filter: &mut OutputFilter, chunks: &[&[u8]]) -> Vec<u8> {
        chunks.iter().flat_map(|c| filter.push(c)).collect()
    }

    #[test]
    fn clipboard_writes_are_held_back_and_the_rest_passes() {
        let input: &[u8] = b"a\x1b[31mred\x1b]0;title\x07\x1b]52;c;aGk=\x07b\x1b]52;c;aGk=\x1b\\c\x1b]8;;http://x\x1b\\\x07";
        let mut f = OutputFilter::new(false, true);
        assert_eq!(
            run(&mut f, &[input]),
            b"a\x1b[31mred\x1b]0;title\x07bc\x1b]8;;http://x\x1b\\\x07".to_vec()
        );
        // Split anywhere, the same result.
        let mut f = OutputFilter::new(false, true);
        let chunks: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(
            run(&mut f, &chunks),
            b"a\x1b[31mred\x1b]0;title\x07bc\x1b]8;;http://x\x1b\\\x07".to_vec()
        );
        // Allowed, it passes byte for byte.
        let mut f = OutputFilter::new(true, true);
        assert_eq!(run(&mut f, &[input]), input.to_vec());
    }

    #[test]
    fn alerts_and_tmux_passthrough() {
        let mut f = OutputFilter::new(true, false);
        assert_eq!(
            run(&mut f, &[b"x\x07\x1b]9;done\x07\x1b]777;notify;a;b\x1b\\y"]),
            b"xy".to_vec()
        );
        let mut f = OutputFilter::new(true, true);
        assert_eq!(
            run(
                &mut f,
                &[b"\x1bPtmux;\x1b\x1b]52;c;aGk=\x07\x1b\\z\x1bPq#0\x1b\\"]
            ),
            b"z\x1bPq#0\x1b\\".to_vec()
        );
    }
}
