//! The network bridge for `strict` mode: inside `--unshare-net` only loopback exists, so
//! llws carries the few TCP ports the sandbox may use over unix sockets.
//!
//! Outside ([`Bridge`]): for each allowed port, a unix socket in a private folder; each
//! connection to it is connected to the real address and copied both ways. Inside
//! ([`run_forwarder`], `llws __sandbox-forward`): a listener on the sandbox's own loopback for
//! each port, forwarding every connection to its socket, then the real command as a child.
//! Nothing else can leave: the sandbox has no route anywhere, and the folder with the sockets
//! is the only one the outer llws shares with it.

use std::net::SocketAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::Context as _;
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::oneshot;

/// Where the socket folder appears inside the sandbox.
pub const INNER_DIR: &str = "/run/llws-bridge";

/// One bridged port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// The address programs in the sandbox connect to (on its loopback).
    pub listen: SocketAddr,
    /// Where the outer side connects: `host:port`, resolved at each connection.
    pub target: String,
    /// The socket's file name in the bridge folder.
    pub socket: String,
}

/// The outer half; dropping it stops the copying and removes the folder.
pub struct Bridge {
    dir: PathBuf,
    forwards: Vec<Forward>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Bridge {
    /// Creates the private folder and its sockets, and serves them on a thread of its own
    /// (its own small runtime, so callers need no tokio context).
    pub fn start(forwards: Vec<Forward>) -> anyhow::Result<Bridge> {
        let dir = private_dir()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<anyhow::Result<()>>();
        let thread_dir = dir.clone();
        let thread_forwards = forwards.clone();
        let thread = std::thread::Builder::new()
            .name("llws-bridge".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let mut listeners = Vec::new();
                    for f in &thread_forwards {
                        let path = thread_dir.join(&f.socket);
                        match UnixListener::bind(&path)
                            .with_context(|| format!("cannot create {}", path.display()))
                        {
                            Ok(l) => listeners.push((l, f.target.clone())),
                            Err(e) => {
                                let _ = ready_tx.send(Err(e));
                                return;
                            }
                        }
                    }
                    let _ = ready_tx.send(Ok(()));
                    for (listener, target) in listeners {
                        tokio::spawn(serve_unix(listener, target));
                    }
                    let _ = stopped.await;
                });
            })?;
        let bridge = Bridge {
            dir,
            forwards,
            stop: Some(stop),
            thread: Some(thread),
        };
        ready_rx
            .recv()
            .context("the bridge thread ended before it was ready")??;
        Ok(bridge)
    }

    /// The folder to bind into the sandbox at [`INNER_DIR`].
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn forwards(&self) -> &[Forward] {
        &self.forwards
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn serve_unix(listener: UnixListener, target: String) {
    loop {
        let Ok((mut inside, _)) = listener.accept().await else {
            continue;
        };
        let target = target.clone();
        tokio::spawn(async move {
            if let Ok(mut outside) = TcpStream::connect(&target).await {
                let _ = outside.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut inside, &mut outside).await;
            }
        });
    }
}

/// A new folder only this user can enter, for the sockets: under $XDG_RUNTIME_DIR when
/// there is one, else the system temp folder.
fn private_dir() -> anyhow::Result<PathBuf> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    remove_stale(&base);
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("llws-bridge.{}.{n}", std::process::id()));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", dir.display())),
        }
    }
    anyhow::bail!(
        "cannot find a free name for the bridge folder in {}",
        base.display()
    )
}

/// Removes bridge folders left by an llws that was killed (named after its pid, which no
/// longer exists).
fn remove_stale(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("llws-bridge."))
            .and_then(|rest| rest.split('.').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let ours = entry.metadata().is_ok_and(|m| {
            use std::os::unix::fs::MetadataExt;
            // SAFETY: geteuid has no preconditions.
            m.uid() == unsafe { libc::geteuid() }
        });
        if ours && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// `llws __sandbox-forward --listen ADDR=SOCKET... -- CMD ARGS`: runs inside the sandbox.
/// Listens first (so the command never races an unbound port), then runs the command and
/// exits with its status.
pub fn run_forwarder(
    listens: &[(SocketAddr, PathBuf)],
    command: &[String],
) -> anyhow::Result<ExitCode> {
    let (program, args) = command.split_first().context("no command to run")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        for (addr, socket) in listens {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} in the sandbox"))?;
            tokio::spawn(serve_tcp(listener, socket.clone()));
        }
        // Terminal signals go to the whole foreground group; the command decides what they
        // mean, and the forwarder stays until it has exited. Handlers (unlike SIG_IGN) are
        // reset by exec, so the command still gets the default dispositions.
        use tokio::signal::unix::{SignalKind, signal};
        let mut ignored = Vec::new();
        for kind in [SignalKind::interrupt(), SignalKind::quit()] {
            ignored.push(signal(kind)?);
        }
        let mut child = tokio::process::Command::new(program)
            .args(args)
            .spawn()
            .with_context(|| format!("cannot start `{program}` in the sandbox"))?;
        let mut term = signal(SignalKind::terminate())?;
        let mut hup = signal(SignalKind::hangup())?;
        let status = loop {
            tokio::select! {
                s = child.wait() => break s?,
                _ = term.recv() => forward_signal(&child, libc::SIGTERM),
                _ = hup.recv() => forward_signal(&child, libc::SIGHUP),
            }
        };
        drop(ignored);
        Ok(exit_code(status))
    })
}

fn forward_signal(child: &tokio::process::Child, sig: i32) {
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        // SAFETY: kill(2) on our own child, which has not been reaped (we are still
        // waiting for it).
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// The shell convention: the code, or 128 + the signal number.
pub fn exit_code(status: std::process::ExitStatus) -> ExitCode {
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

async fn serve_tcp(listener: TcpListener, socket: PathBuf) {
    loop {
        let Ok((mut inside, _)) = listener.accept().await else {
            continue;
        };
        let socket = socket.clone();
        tokio::spawn(async move {
            let _ = inside.set_nodelay(true);
            if let Ok(mut outside) = UnixStream::connect(&socket).await {
                let _ = tokio::io::copy_bidirectional(&mut inside, &mut outside).await;
            }
        });
    }
}

/// Parses `ADDR=PATH` as given to `--listen`.
pub fn parse_listen(text: &str) -> Result<(SocketAddr, PathBuf), String> {
    let (addr, path) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not ADDR=SOCKET"))?;
    let addr = addr
        .parse()
        .map_err(|_| format!("`{addr}` is not an address such as 127.0.0.1:8080"))?;
    Ok((addr, PathBuf::from(path)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn the_outer_half_carries_a_unix_connection_to_the_tcp_port() {
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let target = server.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            let (mut s, _) = server.accept().unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).unwrap();
            s.write_all(&buf.map(|b| b.to_ascii_uppercase())).unwrap();
        });
        let bridge = Bridge::start(vec![Forward {
            listen: "127.0.0.1:1".parse().unwrap(),
            target,
            socket: "s.sock".into(),
        }])
        .unwrap();
        let dir = bridge.dir().to_path_buf();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let mut c = std::os::unix::net::UnixStream::connect(dir.join("s.sock")).unwrap();
        c.write_all(b"hello").unwrap();
        let mut back = [0u8; 5];
        c.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"HELLO");
        drop(bridge);
        assert!(!dir.exists(), "the folder goes with the bridge");
    }

    #[test]
    fn folders_of_dead_llws_processes_are_cleaned_up() {
        let base = tempfile::tempdir().unwrap();
        // pid_max is at most 2^22, so this pid cannot be alive.
        let stale = base.path().join("llws-bridge.4194305.0");
        let live = base
            .path()
            .join(format!("llws-bridge.{}.99", std::process::id()));
        let other = base.path().join("something-else");
        for d in [&stale, &live, &other] {
            std::fs::create_dir(d).unwrap();
        }
        remove_stale(base.path());
        assert!(!stale.exists());
        assert!(live.exists() && other.exists());
    }

    #[test]
    fn listen_specs_parse() {
        assert_eq!(
            parse_listen("127.0.0.1:8080=/run/x.sock").unwrap(),
            ("127.0.0.1:8080".parse().unwrap(), "/run/x.sock".into())
        );
        assert!(parse_listen("nope").is_err());
    }
}
