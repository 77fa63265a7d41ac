//! A server llws did not start, in the way of the one it is asked to start (the original
//! inventory's item 17: start.sh found a running `llama-server` container and asked "Stop it
//! and continue? [y/N]").
//!
//! Two kinds: a container with llws's container name but without its labels (started by
//! `docker compose`, or by hand), and a program listening on the server's port. The
//! backends find them and return [`ForeignServer`] instead of a plain error; the controller
//! publishes it in its state, and the workspace (a dialog), `llws up`/`llws serve` (a prompt
//! or a flag) and the API turn it into the offer: stop and remove the container, adopt it
//! when it runs the image llws would use, or stop the program when it is a llama-server of
//! this user. Anything else is only named, never touched.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The label docker compose puts on the containers it creates.
pub const COMPOSE_PROJECT_LABEL: &str = "com.docker.compose.project";

/// A server llws did not start, where llws wants to start one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ForeignServer {
    /// A container with the configured name that llws did not create.
    Container {
        name: String,
        id: String,
        /// The image it runs, as Docker names it.
        image: String,
        running: bool,
        /// Its docker compose project, when compose created it.
        compose_project: Option<String>,
        /// It runs the image llws would use, so llws can take it over as it is.
        adoptable: bool,
    },
    /// A program listening on the server's port.
    Process {
        port: u16,
        /// `None` when no process of this user holds the socket (another user's program,
        /// or a container's llws cannot see into).
        pid: Option<u32>,
        /// Its executable (the program a loader such as ld.so runs, for one run that way).
        program: Option<String>,
        /// A llama-server of this user: llws may stop it.
        stoppable: bool,
    },
}

/// What to do about a [`ForeignServer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForeignAction {
    /// Stop it (and remove the container), then go on with the start it blocked.
    Replace,
    /// Take the container over as llws's server, as it runs now.
    Adopt,
}

impl ForeignAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Replace => "replace",
            Self::Adopt => "adopt",
        }
    }
}

impl std::str::FromStr for ForeignAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "replace" => Ok(Self::Replace),
            "adopt" => Ok(Self::Adopt),
            other => Err(format!(
                "unknown action `{other}`: use \"replace\" or \"adopt\""
            )),
        }
    }
}

/// A start that a foreign server blocked: what is in the way, and the profile that waits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blocked {
    pub server: ForeignServer,
    /// The profile whose start it blocked (started after a replace).
    pub profile: String,
}

impl ForeignServer {
    /// One sentence naming it: `a container named `llama-server` that llws did not create
    /// (docker compose project `llws`), running llws/llama-server:cuda`.
    pub fn describe(&self) -> String {
        match self {
            Self::Container {
                name,
                image,
                running,
                compose_project,
                ..
            } => {
                let origin = compose_project
                    .as_ref()
                    .map(|p| format!(" (docker compose project `{p}`)"))
                    .unwrap_or_default();
                let how = if *running { "running" } else { "stopped, from" };
                format!(
                    "a container named `{name}` that llws did not create{origin}, {how} {image}"
                )
            }
            Self::Process {
                port,
                pid: Some(pid),
                program,
                ..
            } => format!(
                "port {port} is taken by pid {pid} ({}), which llws did not start",
                program.as_deref().unwrap_or("unknown program")
            ),
            Self::Process {
                port, pid: None, ..
            } => format!(
                "port {port} is taken by a program llws cannot see (another user's, or inside a container)"
            ),
        }
    }

    /// What llws may do about it; empty when it can only be named.
    pub fn offers(&self) -> Vec<ForeignAction> {
        match self {
            Self::Container { adoptable, .. } => {
                let mut offers = vec![ForeignAction::Replace];
                if *adoptable {
                    offers.push(ForeignAction::Adopt);
                }
                offers
            }
            Self::Process { stoppable, .. } => {
                if *stoppable {
                    vec![ForeignAction::Replace]
                } else {
                    Vec::new()
                }
            }
        }
    }

    /// What `action` does to it, in words for a prompt or a dialog line.
    pub fn action_label(&self, action: ForeignAction) -> &'static str {
        match (self, action) {
            (Self::Container { .. }, ForeignAction::Replace) => "stop and remove it",
            (Self::Process { .. }, ForeignAction::Replace) => "stop it",
            (_, ForeignAction::Adopt) => "adopt it as it runs",
        }
    }

    /// Why `action` is refused, or `None` when it may go ahead.
    pub fn refusal(&self, action: ForeignAction) -> Option<String> {
        if self.offers().contains(&action) {
            return None;
        }
        Some(match (self, action) {
            (Self::Container { image, .. }, ForeignAction::Adopt) => format!(
                "the container runs {image}, not the image llws uses ([server] image): llws will not adopt it; replace it, or set [server] image"
            ),
            (Self::Process { pid: Some(pid), program, .. }, ForeignAction::Replace) => format!(
                "pid {pid} ({}) is not a llama-server of this user: llws will not stop it; stop it yourself, or set [server] port in llws.toml",
                program.as_deref().unwrap_or("unknown program")
            ),
            (Self::Process { .. }, ForeignAction::Replace) => "llws cannot see the program on the port, so it cannot stop it; stop it yourself, or set [server] port in llws.toml".to_string(),
            (Self::Process { .. }, ForeignAction::Adopt) => "llws adopts only a container; a program on the port can be stopped (when it is a llama-server of this user), not adopted".to_string(),
            (Self::Container { .. }, ForeignAction::Replace) => unreachable!("always offered"),
        })
    }

    /// The whole message of a start it blocked: what is there and what can be done,
    /// for the failure reason, the log and a terminal without a prompt.
    pub fn blocked_message(&self) -> String {
        let offers = self.offers();
        let what = if offers.is_empty() {
            match self {
                Self::Process { pid: Some(_), .. } => {
                    "it is not a llama-server of this user, so llws leaves it alone: stop it yourself, or set [server] port in llws.toml".to_string()
                }
                _ => "stop it yourself, or set [server] port in llws.toml".to_string(),
            }
        } else {
            let choices: Vec<&str> = offers.iter().map(|a| self.action_label(*a)).collect();
            format!("llws can {}", choices.join(", or "))
        };
        format!("{}; {what}", self.describe())
    }
}

/// Finds what listens on `port` (TCP, IPv4 or IPv6, any address), as a [`ForeignServer`].
pub fn process_on_port(port: u16) -> ForeignServer {
    let found = listening_inodes(port)
        .and_then(|inodes| (!inodes.is_empty()).then_some(inodes))
        .and_then(|inodes| pid_holding(&inodes));
    let Some(pid) = found else {
        return ForeignServer::Process {
            port,
            pid: None,
            program: None,
            stoppable: false,
        };
    };
    let identity = Identity::of(pid);
    ForeignServer::Process {
        port,
        pid: Some(pid),
        // Shown on terminals and in the workspace: a file name may hold escape sequences.
        program: identity.as_ref().map(|i| {
            crate::util::text::terminal_safe(&i.program.display().to_string()).into_owned()
        }),
        stoppable: identity.as_ref().is_some_and(Identity::is_own_llama_server),
    }
}

/// The socket inodes listening on `port`, from /proc/net/tcp and tcp6.
fn listening_inodes(port: u16) -> Option<Vec<u64>> {
    let mut inodes = Vec::new();
    let mut any = false;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        any = true;
        inodes.extend(text.lines().skip(1).filter_map(|l| listening_on(l, port)));
    }
    any.then_some(inodes)
}

/// The inode of one /proc/net/tcp line when it is a listening socket on `port`.
fn listening_on(line: &str, port: u16) -> Option<u64> {
    // sl local_address rem_address st tx:rx tr:tm retrnsmt uid timeout inode
    let fields: Vec<&str> = line.split_whitespace().collect();
    let local = fields.get(1)?;
    let state = fields.get(3)?;
    let (_, hex_port) = local.rsplit_once(':')?;
    // 0A is TCP_LISTEN.
    if *state != "0A" || u16::from_str_radix(hex_port, 16).ok()? != port {
        return None;
    }
    fields.get(9)?.parse().ok().filter(|i| *i != 0)
}

/// The first process (lowest pid) with one of `inodes` among its open files. Only the
/// processes whose fds llws may read are seen (this user's, or all for root).
fn pid_holding(inodes: &[u64]) -> Option<u32> {
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    pids.into_iter().find(|pid| {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            return false;
        };
        fds.filter_map(Result::ok).any(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|target| wanted.iter().any(|w| target.as_os_str() == w.as_str()))
        })
    })
}

/// Who a process is: enough to tell it is the same one later (pid reuse), and whether
/// llws may stop it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Identity {
    uid: u32,
    /// The executable, or for a program run through a dynamic loader (`ld-linux… PROGRAM`),
    /// that program.
    program: PathBuf,
    /// Its start time in clock ticks since boot (/proc/PID/stat field 22).
    start_ticks: u64,
}

impl Identity {
    fn of(pid: u32) -> Option<Identity> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        // The real uid: `Uid: real effective saved fs`.
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the `(comm)`, which may hold spaces: state is field 3, start 22.
        let start_ticks = stat
            .rsplit_once(") ")?
            .1
            .split_whitespace()
            .nth(19)?
            .parse()
            .ok()?;
        Some(Identity {
            uid,
            program: program_of(&exe, &args),
            start_ticks,
        })
    }

    fn is_own_llama_server(&self) -> bool {
        self.uid == nix::unistd::getuid().as_raw() && is_llama_server(&self.program)
    }
}

/// The program a process runs: its executable, or when that is a dynamic loader
/// (`ld-linux-x86-64.so.2 [--library-path DIR] PROGRAM ARGS`), the program it loads.
fn program_of(exe: &Path, args: &[String]) -> PathBuf {
    let is_loader = exe
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("ld-linux") || n.starts_with("ld-musl") || n == "ld.so");
    if !is_loader {
        return exe.to_path_buf();
    }
    // ld.so's options that take a value.
    const WITH_VALUE: [&str; 5] = [
        "--library-path",
        "--preload",
        "--argv0",
        "--audit",
        "--inhibit-rpath",
    ];
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        if WITH_VALUE.contains(&arg.as_str()) {
            rest.next();
        } else if !arg.starts_with("--") {
            return PathBuf::from(arg);
        }
    }
    exe.to_path_buf()
}

fn is_llama_server(program: &Path) -> bool {
    program
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n == "llama-server" || n.starts_with("llama-server."))
}

/// Stops the program `foreign` names (SIGTERM, a second one after a third of `grace`,
/// SIGKILL once `grace` has passed), when it is still the same llama-server of this user.
/// Returns how long it took.
pub async fn stop_process(foreign: &ForeignServer, grace: Duration) -> Result<Duration, String> {
    if let Some(why) = foreign.refusal(ForeignAction::Replace) {
        return Err(why);
    }
    let ForeignServer::Process {
        port,
        pid: Some(pid),
        ..
    } = foreign
    else {
        return Err("there is no program to stop".into());
    };
    // Looked at again: between the offer and the answer it may have exited, and its pid
    // been given to another program.
    let Some(identity) = Identity::of(*pid).filter(Identity::is_own_llama_server) else {
        return match process_on_port(*port) {
            ForeignServer::Process { pid: None, .. } => Ok(Duration::ZERO),
            other => Err(format!(
                "pid {pid} is no longer the llama-server llws offered to stop: {}",
                other.describe()
            )),
        };
    };
    let started = std::time::Instant::now();
    let same = || Identity::of(*pid).is_some_and(|now| now == identity);
    let signal = |sig| {
        if same() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid as i32), sig);
        }
    };
    use nix::sys::signal::Signal;
    signal(Signal::SIGTERM);
    let second = started + super::backend::second_term_after(grace);
    let mut sent_second = false;
    let deadline = started + grace;
    while same() && !is_zombie(*pid) {
        let now = std::time::Instant::now();
        if now >= deadline {
            signal(Signal::SIGKILL);
            // A killed process goes within moments; a zombie waits for its parent only.
            let until = now + Duration::from_secs(5);
            while same() && !is_zombie(*pid) && std::time::Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            break;
        }
        if now >= second && !sent_second {
            sent_second = true;
            signal(Signal::SIGTERM);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if same() && !is_zombie(*pid) {
        return Err(format!("pid {pid} did not exit after SIGKILL"));
    }
    Ok(started.elapsed())
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_of_this_process_is_found_and_not_offered() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let found = process_on_port(port);
        let ForeignServer::Process {
            pid,
            program,
            stoppable,
            ..
        } = &found
        else {
            panic!("{found:?}")
        };
        assert_eq!(*pid, Some(std::process::id()));
        let exe = std::env::current_exe().unwrap();
        assert_eq!(program.as_deref(), Some(exe.to_str().unwrap()));
        assert!(!stoppable, "the test binary is no llama-server");
        assert!(found.offers().is_empty());
        let message = found.blocked_message();
        assert!(
            message.contains(&format!("pid {}", std::process::id()))
                && message.contains("not a llama-server"),
            "{message}"
        );
        assert!(found.refusal(ForeignAction::Replace).is_some());
    }

    #[test]
    fn a_free_port_has_nobody() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        assert_eq!(
            process_on_port(port),
            ForeignServer::Process {
                port,
                pid: None,
                program: None,
                stoppable: false
            }
        );
    }

    #[test]
    fn the_program_behind_a_loader() {
        let loader = Path::new("/x/lib/ld-linux-x86-64.so.2");
        let args: Vec<String> = [
            "/x/lib/ld-linux-x86-64.so.2",
            "--library-path",
            "/x/lib:/x/lib/llama",
            "/x/usr/bin/llama-server",
            "--port",
            "8080",
        ]
        .map(String::from)
        .into();
        assert_eq!(
            program_of(loader, &args),
            PathBuf::from("/x/usr/bin/llama-server")
        );
        assert!(is_llama_server(&program_of(loader, &args)));
        let plain = Path::new("/usr/bin/python3");
        assert_eq!(program_of(plain, &args), plain);
        assert!(!is_llama_server(plain));
        assert!(!is_llama_server(Path::new(
            "/usr/bin/llama-server-evil-twin"
        )));
    }

    #[test]
    fn a_compose_container_offers_replace_and_adopt_when_the_image_matches() {
        let mut c = ForeignServer::Container {
            name: "llama-server".into(),
            id: "abc".into(),
            image: "llws/llama-server:cuda".into(),
            running: true,
            compose_project: Some("llws".into()),
            adoptable: true,
        };
        assert_eq!(
            c.offers(),
            vec![ForeignAction::Replace, ForeignAction::Adopt]
        );
        let text = c.blocked_message();
        assert!(
            text.contains("docker compose project `llws`")
                && text.ends_with("llws can stop and remove it, or adopt it as it runs"),
            "{text}"
        );
        if let ForeignServer::Container { adoptable, .. } = &mut c {
            *adoptable = false;
        }
        assert_eq!(c.offers(), vec![ForeignAction::Replace]);
        assert!(
            c.refusal(ForeignAction::Adopt)
                .unwrap()
                .contains("[server] image")
        );
        // The API's JSON shape.
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["kind"], "container");
        assert_eq!(json["compose_project"], "llws");
    }
}
