//! A real OpenSSH server for the remote tests: Debian's sshd on a loopback port, with a
//! host key, an sshd_config and an authorized client key made for the test in its own
//! folder. The machine's own ssh set-up (`/etc/ssh`, `~/.ssh`) is never read or changed:
//! the client side is an ssh_config file of the test's (`ssh -F`).
#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::support::free_port;

pub const SSHD: &str = "/usr/sbin/sshd";

pub struct Sshd {
    dir: PathBuf,
    pub port: u16,
    /// `user@127.0.0.1`: the user the tests run as.
    pub destination: String,
    /// The client's ssh_config: port, key, known-hosts file, all in `dir`.
    pub client_config: PathBuf,
    child: Option<Child>,
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "llws-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("run ssh-keygen (openssh-client; scripts/fixtures tools)");
    assert!(status.success(), "ssh-keygen failed");
}

impl Sshd {
    /// Makes the keys and configs in `dir` and starts sshd on a free loopback port.
    pub fn start(dir: &Path) -> Self {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: run scripts/fixtures tools (openssh-server)"
        );
        std::fs::create_dir_all(dir).unwrap();
        let dir = dir.to_path_buf();
        keygen(&dir.join("host_key"));
        keygen(&dir.join("client_key"));
        std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap();
        let port = free_port();
        let user = nix::unistd::User::from_uid(nix::unistd::getuid())
            .unwrap()
            .expect("the test user has a name")
            .name;
        std::fs::write(
            dir.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\n\
                 AuthorizedKeysFile {d}/authorized_keys\nPidFile {d}/sshd.pid\n\
                 StrictModes no\nUsePAM no\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
                 AllowTcpForwarding local\nX11Forwarding no\nPrintMotd no\nLogLevel INFO\n",
                d = dir.display()
            ),
        )
        .unwrap();
        let client_config = dir.join("ssh_config");
        std::fs::write(
            &client_config,
            format!(
                "Host *\n  Port {port}\n  IdentityFile {d}/client_key\n  IdentitiesOnly yes\n\
                 \x20 UserKnownHostsFile {d}/known_hosts\n  GlobalKnownHostsFile /dev/null\n\
                 \x20 StrictHostKeyChecking accept-new\n",
                d = dir.display()
            ),
        )
        .unwrap();
        let mut sshd = Self {
            dir,
            port,
            destination: format!("{user}@127.0.0.1"),
            client_config,
            child: None,
        };
        sshd.restart();
        sshd
    }

    /// Starts sshd (again, on the same port and keys) and waits until it accepts.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "sshd is already running");
        // sshd's privilege separation needs this empty folder when run as root.
        if nix::unistd::getuid().is_root() {
            std::fs::create_dir_all("/run/sshd").unwrap();
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("sshd.log"))
            .unwrap();
        let mut cmd = Command::new(SSHD);
        cmd.arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(self.dir.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        // Its own group, so `kill` ends the sessions it forked too.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        self.child = Some(cmd.spawn().expect("start sshd"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("sshd exited ({status}): {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "sshd never listened: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills sshd and every session it forked (the connection drops as on a crash). The
    /// sessions are in sessions of their own (sshd calls setsid), so they are found by
    /// parent in /proc, not by process group.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let root = child.id() as i32;
            let mut doomed = vec![root];
            let mut i = 0;
            while i < doomed.len() {
                doomed.extend(children_of(doomed[i]));
                i += 1;
            }
            for pid in doomed {
                let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            let _ = killpg(Pid::from_raw(root), Signal::SIGKILL);
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }
}

/// The pids whose parent is `pid`.
fn children_of(pid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|stat| {
                // The fields after the command name (which may hold spaces) start with
                // state, then the parent pid.
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<i32>().ok())
                    == Some(pid)
            })
        })
        .collect()
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill();
    }
}
