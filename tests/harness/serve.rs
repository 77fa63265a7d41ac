//! `llws serve` as a child process: its output collected, signals sent, and everything it
//! started cleaned up on drop, also when a test fails halfway.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use crate::support::llws_bin;

pub struct LlwsServe {
    child: Child,
    /// Stdout and stderr lines, in arrival order per stream.
    pub output: Arc<Mutex<Vec<String>>>,
    state_dir: PathBuf,
    server_port: u16,
    exit: Option<ExitStatus>,
}

/// Runs `llws --config CONFIG ARGS...` with its own state folder (the process backend
/// keeps its pid file and server log there).
pub fn llws(config: &Path, state_dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(llws_bin());
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .env("LLWS_STATE_DIR", state_dir)
        .env_remove("LLWS_CONFIG")
        .stdin(Stdio::null());
    cmd
}

impl LlwsServe {
    /// Starts `llws serve ARGS...`.
    pub fn start(config: &Path, state_dir: &Path, server_port: u16, args: &[&str]) -> Self {
        let mut full = vec!["serve"];
        full.extend_from_slice(args);
        let mut child = llws(config, state_dir, &full)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start llws serve");
        let output = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    output.lock().unwrap().push(line);
                }
            });
        }
        Self {
            child,
            output,
            state_dir: state_dir.to_path_buf(),
            server_port,
            exit: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn text(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), signal).unwrap();
    }

    /// Waits for the exit (panics after `timeout`).
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(status) = self.exit {
            return status;
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.exit = Some(status);
                // Let the reader threads take the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return status;
            }
            if Instant::now() > deadline {
                panic!("llws serve did not exit; output:\n{}", self.text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The pid of the llama-server the process backend recorded, if one is recorded.
    pub fn recorded_server_pid(&self) -> Option<i32> {
        // On server.port itself (direct), else on the router's upstream port.
        let direct = self
            .state_dir
            .join(format!("server-{}.json", self.server_port));
        let behind = std::fs::read_dir(&self.state_dir)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name().is_some_and(|n| {
                    let n = n.to_string_lossy();
                    n.starts_with("server-") && n.ends_with(".json")
                })
            });
        std::iter::once(direct).chain(behind).find_map(|path| {
            let text = std::fs::read_to_string(path).ok()?;
            let v: serde_json::Value = serde_json::from_str(&text).ok()?;
            v["pid"].as_i64().map(|p| p as i32)
        })
    }
}

impl Drop for LlwsServe {
    fn drop(&mut self) {
        if self.exit.is_none() && matches!(self.child.try_wait(), Ok(None)) {
            let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(20);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // A server left behind (a failed test, or on_exit = "keep"): its process group.
        if let Some(pid) = self.recorded_server_pid() {
            let _ = kill(Pid::from_raw(pid), Signal::SIGCONT);
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}
