//! Driving a real terminal program like a person would: tmux on a private socket.
#![allow(dead_code)]

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// A new tmux server with one `cols` × `rows` window running `command` (a shell line),
    /// with `env` set for it.
    /// The same, in the folder `dir`.
    pub fn start_in(dir: &std::path::Path, cols: u16, rows: u16, command: &str) -> Tmux {
        Self::start_with(Some(dir), cols, rows, &[], command)
    }

    pub fn start(cols: u16, rows: u16, env: &[(&str, &str)], command: &str) -> Tmux {
        Self::start_with(None, cols, rows, env, command)
    }

    fn start_with(
        dir: Option<&std::path::Path>,
        cols: u16,
        rows: u16,
        env: &[(&str, &str)],
        command: &str,
    ) -> Tmux {
        static N: AtomicU32 = AtomicU32::new(0);
        let socket = format!(
            "llws-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut cmd = Command::new("tmux");
        cmd.args([
            "-L",
            &socket,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            &cols.to_string(),
            "-y",
            &rows.to_string(),
        ]);
        if let Some(dir) = dir {
            cmd.arg("-c").arg(dir);
        }
        for (k, v) in env {
            cmd.args(["-e", &format!("{k}={v}")]);
        }
        cmd.arg(command);
        let status = cmd.status().expect("tmux runs");
        assert!(status.success(), "tmux new-session failed");
        let t = Tmux { socket };
        // Keep the pane (and its last screen) when the program exits, to see why.
        t.run(&["set-option", "-g", "remain-on-exit", "on"]);
        t
    }

    pub fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types text literally.
    pub fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-l", text]);
    }

    /// Presses keys by tmux name (Enter, S-PageUp, C-c...).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-p"])
    }

    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        mut ok: impl FnMut(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn wait_text(&self, text: &str, timeout: Duration) -> String {
        self.wait_for(text, timeout, |s| s.contains(text))
    }

    pub fn resize(&self, cols: u16, rows: u16) {
        self.run(&[
            "resize-window",
            "-x",
            &cols.to_string(),
            "-y",
            &rows.to_string(),
        ]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}
