//! A real llama-server with the tiny model, on a free loopback port, stopped on drop.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{Fixtures, free_port, wait_for};

pub struct LlamaServer {
    child: Child,
    pub port: u16,
    /// Its stderr and stdout, where it logs each task it processes.
    pub log: PathBuf,
}

impl LlamaServer {
    pub fn start(log_dir: &Path) -> LlamaServer {
        Self::start_on(log_dir, free_port())
    }

    pub fn start_on(log_dir: &Path, port: u16) -> LlamaServer {
        let f = Fixtures::get();
        let log = log_dir.join(format!("llama-server-{port}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(f.llama_server())
            .arg("--model")
            .arg(f.model_dir().join(f.model_file()))
            .args([
                "--ctx-size",
                "8192",
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--jinja",
                "-np",
                "1",
            ])
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("start llama-server");
        let server = LlamaServer { child, port, log };
        wait_for(
            "llama-server /health = 200",
            Duration::from_secs(60),
            || {
                let out = Command::new("curl")
                    .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
                    .arg(server.url() + "/health")
                    .output()
                    .ok()?;
                (out.stdout == b"200").then_some(())
            },
        );
        server
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Tasks the server has started (one per /v1/messages or completion request; this
    /// llama-server build does not log the request line itself).
    pub fn tasks_started(&self) -> usize {
        self.log_text().matches("processing task").count()
    }
}

impl LlamaServer {
    /// The log is kept when the test failed, to read.
    fn remove_log(&self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        // A server busy generating ignores SIGTERM for a while: bounded wait, then SIGKILL.
        let pid = self.child.id() as i32;
        // SAFETY: kill(2) on our own child, not yet reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        for _ in 0..20 {
            if let Ok(Some(_)) = self.child.try_wait() {
                self.remove_log();
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.remove_log();
    }
}
