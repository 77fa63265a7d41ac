//! The network bridge for `strict` mode: inside `--unshare-net` only loopback exists, so
//! llws carries the few TCP ports the sandbox may use over unix sockets.
//!
//! Outside ([`Bridge`]): for each allowed port, a unix socket in a private folder; each
//! connection to it is connected to the real address and copied both ways. Inside
//! ([`run_forwarder`], `llws __sandbox-forward`): a listener on the sandbox's own loopback for
//! each port, forwarding every connection to its socket, then the real command as a child.
//! Nothing else can leave: the sandbox has no route anywhere, and the folder with the sockets
//! is the only one the outer llws shares with it.
//!
//! VS Code's `/ide` websocket is the one dynamic port: the extension picks it at start and
//! announces it with a lock file `~/.claude/ide/<PORT>.lock`. One more socket, [`IDE_SOCKET`],
//! carries those connections: each starts with the port as one ASCII line, and the outer side
//! connects only when a lock file for that port exists on the host at that moment
//! ([`lock_allows`]). Inside, the forwarder watches the (read-only) lock folder and listens
//! on each announced port ([`lock_ports`]). The outer check is the policy; the inner side is
//! only a convenience, since code in the sandbox can talk to the socket directly.

use std::collections::{BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::oneshot;

/// Where the socket folder appears inside the sandbox.
pub const INNER_DIR: &str = "/run/llws-bridge";

/// The socket for VS Code's `/ide` connections, in the bridge folder.
pub const IDE_SOCKET: &str = "ide.sock";

/// How long the outer side waits for an ide connection's port line. The inner forwarder
/// sends it at once; anything slower is not ours and should not hold a task.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest port line: "65535\n".
const HEADER_MAX: usize = 6;

/// A lock file larger than this is not the extension's (it writes a few hundred bytes).
const LOCK_MAX_BYTES: u64 = 64 * 1024;

/// How often the inner forwarder looks at the lock folder.
const IDE_POLL: Duration = Duration::from_secs(1);

/// The most connections one bridged socket carries at once. The sandbox opens them (a
/// runaway loop could open thousands); beyond this, new ones wait for a free slot instead
/// of taking the outer llws's file descriptors.
pub const MAX_CONNECTIONS: usize = 256;

/// Waits after a failed accept (no free descriptors, say): from 10 ms, doubling to 1 s,
/// and back to nothing after a success. Without it a failing accept spins a core.
#[derive(Debug)]
struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);

    fn new() -> Backoff {
        Backoff { next: Self::FIRST }
    }

    async fn wait(&mut self) {
        tokio::time::sleep(self.next).await;
        self.next = (self.next * 2).min(Self::MAX);
    }

    fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

/// What every accept loop of the bridge goes through: a connection slot taken before
/// accepting (given back when the connection ends), and the back-off after a failure.
struct Gate {
    slots: std::sync::Arc<tokio::sync::Semaphore>,
    backoff: Backoff,
}

impl Gate {
    fn new() -> Gate {
        Gate {
            slots: std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS)),
            backoff: Backoff::new(),
        }
    }

    /// A free slot (waits while all are taken).
    async fn slot(&self) -> tokio::sync::OwnedSemaphorePermit {
        self.slots
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    /// The accepted connection, or `None` after waiting out a failure.
    async fn accepted<S>(&mut self, result: std::io::Result<S>) -> Option<S> {
        match result {
            Ok(s) => {
                self.backoff.reset();
                Some(s)
            }
            Err(_) => {
                self.backoff.wait().await;
                None
            }
        }
    }
}

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
    ide_dir: Option<PathBuf>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Bridge {
    /// Creates the private folder and its sockets, and serves them on a thread of its own
    /// (its own small runtime, so callers need no tokio context). With `ide_dir` (the host's
    /// VS Code lock folder), it also serves [`IDE_SOCKET`] under the lock-file policy; the
    /// caller must make sure the sandbox cannot write to that folder ([`ide_lock_dir`]).
    pub fn start(forwards: Vec<Forward>, ide_dir: Option<PathBuf>) -> anyhow::Result<Bridge> {
        let dir = private_dir()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<anyhow::Result<()>>();
        let thread_dir = dir.clone();
        let thread_forwards = forwards.clone();
        let thread_ide = ide_dir.clone();
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
                    let ide = match thread_ide {
                        Some(locks) => {
                            let path = thread_dir.join(IDE_SOCKET);
                            match UnixListener::bind(&path)
                                .with_context(|| format!("cannot create {}", path.display()))
                            {
                                Ok(l) => Some((l, locks)),
                                Err(e) => {
                                    let _ = ready_tx.send(Err(e));
                                    return;
                                }
                            }
                        }
                        None => None,
                    };
                    let _ = ready_tx.send(Ok(()));
                    for (listener, target) in listeners {
                        tokio::spawn(serve_unix(listener, target));
                    }
                    if let Some((listener, locks)) = ide {
                        tokio::spawn(serve_ide(listener, locks));
                    }
                    let _ = stopped.await;
                });
            })?;
        let bridge = Bridge {
            dir,
            forwards,
            ide_dir,
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

    /// The host's lock folder when [`IDE_SOCKET`] is served.
    pub fn ide_dir(&self) -> Option<&Path> {
        self.ide_dir.as_deref()
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
    let mut gate = Gate::new();
    loop {
        let slot = gate.slot().await;
        let Some((mut inside, _)) = gate.accepted(listener.accept().await).await else {
            continue;
        };
        let target = target.clone();
        tokio::spawn(async move {
            let _slot = slot;
            if let Ok(mut outside) = TcpStream::connect(&target).await {
                let _ = outside.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut inside, &mut outside).await;
            }
        });
    }
}

/// The outer side of [`IDE_SOCKET`]. The connecting side is untrusted (anything in the
/// sandbox can open the socket), so the port it names is only a request: it is served when
/// the host's lock folder announces it right now, and only on 127.0.0.1. Refusals just close
/// the connection: a hostile client gets nothing to learn from, and the log stays quiet.
async fn serve_ide(listener: UnixListener, locks: PathBuf) {
    let mut gate = Gate::new();
    loop {
        let slot = gate.slot().await;
        let Some((mut inside, _)) = gate.accepted(listener.accept().await).await else {
            continue;
        };
        let locks = locks.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let Ok(Ok(Some(port))) =
                tokio::time::timeout(HEADER_TIMEOUT, read_port_line(&mut inside)).await
            else {
                return;
            };
            if !lock_allows(&locks, port).await {
                return;
            }
            let target = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port);
            if let Ok(mut outside) = TcpStream::connect(target).await {
                let _ = outside.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut inside, &mut outside).await;
            }
        });
    }
}

/// Reads the port line byte by byte, so that nothing after the newline (the client's first
/// bytes for the IDE) is consumed. `None` for anything but a canonical port number.
async fn read_port_line(stream: &mut UnixStream) -> std::io::Result<Option<u16>> {
    let mut line = Vec::with_capacity(HEADER_MAX);
    loop {
        let b = stream.read_u8().await?;
        if b == b'\n' {
            break;
        }
        if line.len() + 1 >= HEADER_MAX {
            return Ok(None);
        }
        line.push(b);
    }
    Ok(std::str::from_utf8(&line).ok().and_then(parse_port))
}

/// A port number written the one way the extension names its lock files: decimal digits,
/// no sign, no leading zero, 1 to 65535. Being strict means one port has one file name.
pub fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 5 || text.starts_with('0') {
        return None;
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u16>().ok()
}

/// The policy: a connection to 127.0.0.1:`port` is allowed while `<port>.lock` in the host's
/// lock folder is a regular file holding a JSON object whose `pid`, when it has one, is a
/// live process. The pid check is the one Claude Code itself makes to ignore stale lock
/// files; here it keeps a lock left by a crashed editor from opening its port to whatever
/// takes that port later. The file name is built from the parsed number, so the request
/// cannot point anywhere else.
pub async fn lock_allows(locks: &Path, port: u16) -> bool {
    let path = locks.join(format!("{port}.lock"));
    let Ok(meta) = tokio::fs::metadata(&path).await else {
        return false;
    };
    if !meta.is_file() || meta.len() > LOCK_MAX_BYTES {
        return false;
    }
    let Ok(text) = tokio::fs::read(&path).await else {
        return false;
    };
    let Ok(serde_json::Value::Object(lock)) = serde_json::from_slice::<serde_json::Value>(&text)
    else {
        return false;
    };
    match lock.get("pid") {
        None => true,
        Some(pid) => pid
            .as_u64()
            .and_then(|p| i32::try_from(p).ok())
            .filter(|p| *p > 0)
            .is_some_and(process_exists),
    }
}

fn process_exists(pid: i32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks that the process exists and may be signalled.
    let r = unsafe { libc::kill(pid, 0) };
    // EPERM: it exists but belongs to someone else (an editor run as another user).
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The host's VS Code lock folder for a strict sandbox, when /ide can be bridged safely:
/// `HOME/.claude/ide` (where the extension writes whatever CLAUDE_CONFIG_DIR says, and what
/// the sandbox binds read-only), if it exists and the sandbox cannot write to it. A folder
/// inside a writable one (a project or config dir that holds ~/.claude, or a lock folder
/// that is a symlink into one) would let code inside create lock files and so reach any
/// loopback port; then there is no ide bridge at all.
pub fn ide_lock_dir(home: Option<&Path>, writable: &[&Path]) -> Option<PathBuf> {
    let dir = home?.join(".claude/ide");
    let real = dir.canonicalize().ok().filter(|p| p.is_dir())?;
    // Both spellings: a writable folder that does not exist yet cannot be resolved.
    let exposed = writable.iter().any(|w| {
        let w_real = w.canonicalize().unwrap_or_else(|_| w.to_path_buf());
        real.starts_with(&w_real) || dir.starts_with(w)
    });
    (!exposed).then_some(dir)
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

/// `llws __sandbox-forward --listen ADDR=SOCKET... [--ide-dir DIR=SOCKET] -- CMD ARGS`: runs
/// inside the sandbox. Listens first (so the command never races an unbound port), then runs
/// the command and exits with its status. With `ide` (the lock folder as seen inside, and
/// the ide socket), it also follows VS Code's lock files ([`lock_ports`]).
pub fn run_forwarder(
    listens: &[(SocketAddr, PathBuf)],
    ide: Option<(PathBuf, PathBuf)>,
    command: &[String],
) -> anyhow::Result<ExitCode> {
    let (program, args) = command.split_first().context("no command to run")?;
    if listens.is_empty() && ide.is_none() {
        // Nothing to forward (fs, scoped): become the command.
        use std::os::unix::process::CommandExt;
        let err = std::process::Command::new(program).args(args).exec();
        anyhow::bail!("cannot start `{program}` in the sandbox: {err}");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        for (addr, socket) in listens {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} in the sandbox"))?;
            tokio::spawn(serve_tcp(listener, socket.clone(), None));
        }
        if let Some((locks, socket)) = ide {
            let fixed = listens.iter().map(|(a, _)| a.port()).collect();
            let mut watch = IdeWatch::new(locks, socket, fixed);
            // One pass before the command starts, so an editor that is already open is
            // reachable from its first moment.
            watch.sync();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(IDE_POLL).await;
                    watch.sync();
                }
            });
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

/// Forwards each connection to `socket`, first writing `port_line` (the ide socket's
/// header) when there is one.
async fn serve_tcp(listener: TcpListener, socket: PathBuf, port_line: Option<u16>) {
    let mut gate = Gate::new();
    loop {
        let slot = gate.slot().await;
        let Some((mut inside, _)) = gate.accepted(listener.accept().await).await else {
            continue;
        };
        let socket = socket.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let _ = inside.set_nodelay(true);
            if let Ok(mut outside) = UnixStream::connect(&socket).await {
                if let Some(port) = port_line
                    && outside
                        .write_all(format!("{port}\n").as_bytes())
                        .await
                        .is_err()
                {
                    return;
                }
                let _ = tokio::io::copy_bidirectional(&mut inside, &mut outside).await;
            }
        });
    }
}

/// The inner side of /ide: one loopback listener per port announced in the lock folder.
/// It only mirrors what the folder says so that Claude Code finds the port where the lock
/// file tells it to look; what may actually be reached is decided outside.
pub struct IdeWatch {
    locks: PathBuf,
    socket: PathBuf,
    /// Ports of the fixed forwards: never taken over by a lock file.
    fixed: BTreeSet<u16>,
    listening: HashMap<u16, tokio::task::JoinHandle<()>>,
}

impl IdeWatch {
    pub fn new(locks: PathBuf, socket: PathBuf, fixed: BTreeSet<u16>) -> IdeWatch {
        IdeWatch {
            locks,
            socket,
            fixed,
            listening: HashMap::new(),
        }
    }

    /// Listens on new ports and stops listening on those whose lock file went away (the
    /// accept task owns the listener, so aborting it closes the port; connections already
    /// made run in tasks of their own and continue). A port that cannot be bound (something
    /// in the sandbox took it) is tried again on the next pass. Must run inside a runtime.
    pub fn sync(&mut self) {
        let wanted: BTreeSet<u16> = lock_ports(&self.locks)
            .into_iter()
            .filter(|p| !self.fixed.contains(p))
            .collect();
        self.listening.retain(|port, task| {
            let keep = wanted.contains(port);
            if !keep {
                task.abort();
            }
            keep
        });
        for port in wanted {
            if self.listening.contains_key(&port) {
                continue;
            }
            let addr = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port);
            let Ok(listener) = std::net::TcpListener::bind(addr) else {
                continue;
            };
            let _ = listener.set_nonblocking(true);
            let Ok(listener) = TcpListener::from_std(listener) else {
                continue;
            };
            let task = tokio::spawn(serve_tcp(listener, self.socket.clone(), Some(port)));
            self.listening.insert(port, task);
        }
    }

    /// The ports listened on now.
    pub fn ports(&self) -> BTreeSet<u16> {
        self.listening.keys().copied().collect()
    }
}

/// The ports named by `<PORT>.lock` files in `dir` (nothing when it cannot be read).
pub fn lock_ports(dir: &Path) -> BTreeSet<u16> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeSet::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            parse_port(name.to_str()?.strip_suffix(".lock")?)
        })
        .collect()
}

/// Parses `DIR=SOCKET` as given to `--ide-dir`; the socket path is ours and has no `=`, so
/// the last one splits (a home folder may contain one).
pub fn parse_ide_dir(text: &str) -> Result<(PathBuf, PathBuf), String> {
    let (dir, socket) = text
        .rsplit_once('=')
        .filter(|(d, s)| !d.is_empty() && !s.is_empty())
        .ok_or_else(|| format!("`{text}` is not DIR=SOCKET"))?;
    Ok((PathBuf::from(dir), PathBuf::from(socket)))
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
        let bridge = Bridge::start(
            vec![Forward {
                listen: "127.0.0.1:1".parse().unwrap(),
                target,
                socket: "s.sock".into(),
            }],
            None,
        )
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

    /// A loopback server that upper-cases what it reads, counting connections.
    fn upper_server() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let h = hits.clone();
        std::thread::spawn(move || {
            for conn in server.incoming() {
                let Ok(mut s) = conn else { continue };
                h.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = s.read(&mut buf) {
                        if n == 0 || s.write_all(&buf[..n].to_ascii_uppercase()).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        (port, hits)
    }

    /// Talks to the ide socket as anything in the sandbox could: `header`, then "ping".
    /// Returns what came back before the other side closed (or a second passed).
    fn ask(bridge: &Bridge, header: &[u8]) -> Vec<u8> {
        let mut c = std::os::unix::net::UnixStream::connect(bridge.dir().join(IDE_SOCKET)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let _ = c.write_all(header);
        let _ = c.write_all(b"ping");
        let mut back = [0u8; 4];
        match c.read_exact(&mut back) {
            Ok(()) => back.to_vec(),
            Err(_) => Vec::new(),
        }
    }

    fn lock(dir: &Path, port: u16, pid: u32) {
        let body = format!(
            r#"{{"pid":{pid},"workspaceFolders":["/work/proj"],"ideName":"Visual Studio Code","transport":"ws","runningInWindows":false,"authToken":"t"}}"#
        );
        std::fs::write(dir.join(format!("{port}.lock")), body).unwrap();
    }

    #[test]
    fn the_ide_socket_reaches_only_ports_with_a_live_lock_file() {
        let locks = tempfile::tempdir().unwrap();
        let (port, hits) = upper_server();
        let bridge = Bridge::start(vec![], Some(locks.path().to_path_buf())).unwrap();
        assert_eq!(bridge.ide_dir(), Some(locks.path()));
        let line = format!("{port}\n");

        // No lock file: closed without a connection to the port.
        assert_eq!(ask(&bridge, line.as_bytes()), b"");
        lock(locks.path(), port, std::process::id());
        assert_eq!(ask(&bridge, line.as_bytes()), b"PING");
        assert_eq!(hits.load(Ordering::SeqCst), 1);

        // Spellings that are not the file's name, and lines that are not a port.
        for bad in [
            format!("0{port}\n"),
            format!("+{port}\n"),
            format!(" {port}\n"),
            format!("{port} \n"),
            format!("{}\n", u32::from(port) + 65536),
            "0\n".into(),
            "../../x\n".into(),
            "1234567\n".into(),
            format!("{port}"),
        ] {
            assert_eq!(ask(&bridge, bad.as_bytes()), b"", "{bad:?}");
        }

        // A lock whose editor is gone (pid_max is at most 2^22), one that is not JSON, and a
        // folder with the right name are not announcements.
        lock(locks.path(), port, 4_194_305);
        assert_eq!(ask(&bridge, line.as_bytes()), b"");
        std::fs::write(locks.path().join(format!("{port}.lock")), "not json").unwrap();
        assert_eq!(ask(&bridge, line.as_bytes()), b"");
        std::fs::remove_file(locks.path().join(format!("{port}.lock"))).unwrap();
        std::fs::create_dir(locks.path().join(format!("{port}.lock"))).unwrap();
        assert_eq!(ask(&bridge, line.as_bytes()), b"");
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "refusals never touch the port"
        );
    }

    #[test]
    fn the_bridge_caps_its_connections() {
        // Both ends of ~280 connections through the bridge, in one process.
        crate::util::raise_fd_limit();
        // A server that counts connections and holds each until the other side closes.
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let target = server.local_addr().unwrap().to_string();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let a = accepted.clone();
        std::thread::spawn(move || {
            for mut c in server.incoming().flatten() {
                a.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let mut sink = Vec::new();
                    let _ = c.read_to_end(&mut sink);
                });
            }
        });
        let bridge = Bridge::start(
            vec![Forward {
                listen: "127.0.0.1:1".parse().unwrap(),
                target,
                socket: "s.sock".into(),
            }],
            None,
        )
        .unwrap();
        let path = bridge.dir().join("s.sock");
        let mut clients = Vec::new();
        for _ in 0..MAX_CONNECTIONS + 20 {
            clients.push(std::os::unix::net::UnixStream::connect(&path).unwrap());
        }
        let count = || accepted.load(Ordering::SeqCst);
        let wait_until = |want: usize| {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while count() < want && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        };
        wait_until(MAX_CONNECTIONS);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(count(), MAX_CONNECTIONS, "the rest wait");
        // A connection that ends frees its slot for the next one.
        clients.remove(0);
        wait_until(MAX_CONNECTIONS + 1);
        assert_eq!(count(), MAX_CONNECTIONS + 1);
    }

    #[test]
    fn no_ide_socket_without_a_lock_folder() {
        let bridge = Bridge::start(vec![], None).unwrap();
        assert!(!bridge.dir().join(IDE_SOCKET).exists());
    }

    #[test]
    fn ports_are_read_the_way_lock_files_name_them() {
        assert_eq!(parse_port("8080"), Some(8080));
        assert_eq!(parse_port("65535"), Some(65535));
        for bad in [
            "", "0", "08080", "65536", "99999", "-1", "+1", "1e3", " 1", "１",
        ] {
            assert_eq!(parse_port(bad), None, "{bad:?}");
        }
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "1234.lock",
            "0042.lock",
            "x.lock",
            "5678.lock.tmp",
            "99999.lock",
            "80",
        ] {
            std::fs::write(dir.path().join(name), "{}").unwrap();
        }
        assert_eq!(lock_ports(dir.path()), BTreeSet::from([1234]));
        assert!(lock_ports(&dir.path().join("missing")).is_empty());
        assert_eq!(
            parse_ide_dir("/home/a=b/.claude/ide=/run/llws-bridge/ide.sock").unwrap(),
            (
                "/home/a=b/.claude/ide".into(),
                "/run/llws-bridge/ide.sock".into()
            )
        );
        assert!(parse_ide_dir("/only/a/dir").is_err());
    }

    #[test]
    fn the_lock_folder_is_bridged_only_when_the_sandbox_cannot_write_it() {
        let root = tempfile::tempdir().unwrap();
        let home = root.path().join("home");
        let project = root.path().join("project");
        let config = home.join(".claude-local");
        std::fs::create_dir_all(&project).unwrap();
        assert_eq!(
            ide_lock_dir(Some(&home), &[&project, &config]),
            None,
            "missing"
        );
        assert_eq!(ide_lock_dir(None, &[&project]), None);
        let ide = home.join(".claude/ide");
        std::fs::create_dir_all(&ide).unwrap();
        assert_eq!(
            ide_lock_dir(Some(&home), &[&project, &config]),
            Some(ide.clone())
        );
        // The project is the home folder, or the config dir is ~/.claude itself.
        assert_eq!(ide_lock_dir(Some(&home), &[&home]), None);
        assert_eq!(
            ide_lock_dir(Some(&home), &[&project, &home.join(".claude")]),
            None
        );
        // ~/.claude/ide is a symlink into the project.
        std::fs::remove_dir(&ide).unwrap();
        std::fs::create_dir(project.join("ide")).unwrap();
        std::os::unix::fs::symlink(project.join("ide"), &ide).unwrap();
        assert_eq!(ide_lock_dir(Some(&home), &[&project, &config]), None);
    }

    #[test]
    fn the_inner_watch_follows_the_lock_files() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let locks = tempfile::tempdir().unwrap();
            let free = || {
                std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port()
            };
            let (a, fixed) = (free(), free());
            for p in [a, fixed] {
                lock(locks.path(), p, std::process::id());
            }
            let mut watch = IdeWatch::new(
                locks.path().to_path_buf(),
                locks.path().join("nowhere.sock"),
                BTreeSet::from([fixed]),
            );
            watch.sync();
            assert_eq!(
                watch.ports(),
                BTreeSet::from([a]),
                "the fixed port is skipped"
            );
            assert!(TcpStream::connect(("127.0.0.1", a)).await.is_ok());
            std::fs::remove_file(locks.path().join(format!("{a}.lock"))).unwrap();
            watch.sync();
            assert!(watch.ports().is_empty());
            // The aborted accept task drops its listener at the next scheduling point.
            tokio::task::yield_now().await;
            assert!(TcpStream::connect(("127.0.0.1", a)).await.is_err());
        });
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
