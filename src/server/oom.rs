//! Whether the kernel's OOM killer ended a native server: its memory cgroup counts the
//! kills (`oom_kill` in `memory.events` on cgroup v2, in `memory.oom_control` on v1). A
//! count taken while the server runs and one taken after it died tell a SIGKILL for lack of
//! memory from any other SIGKILL. Docker's inspect has its own flag; this is for the process
//! backend.
//!
//! A server may be moved into another cgroup while it runs (systemd-run, a wrapper, a
//! test), and an exited process no longer names its cgroup, so the cgroup is looked up
//! again while it runs ([`OomWatch::refresh`]).

use std::path::{Path, PathBuf};

/// One memory cgroup's OOM-kill counter.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Counter {
    /// `memory.events` (v2) or `memory.oom_control` (v1).
    file: PathBuf,
    /// The count when the watch started (or the server moved here).
    baseline: u64,
}

#[derive(Debug, Default)]
pub struct OomWatch {
    pid: u32,
    /// The cgroup line the counter belongs to, to notice a move.
    cgroup: Option<String>,
    /// `/proc/PID/cgroup` as last followed: while it reads the same, nothing moved and
    /// nothing else need be read (this runs four times a second for the server's life).
    followed: Option<String>,
    counter: Option<Counter>,
}

impl OomWatch {
    /// Starts watching `pid`'s memory cgroup (nothing, where there is no memory controller).
    pub fn start(pid: u32) -> Self {
        let mut watch = Self {
            pid,
            ..Default::default()
        };
        watch.refresh();
        watch
    }

    /// Follows the server into another cgroup, with that cgroup's count as the baseline.
    pub fn refresh(&mut self) {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{}/cgroup", self.pid)) else {
            return;
        };
        if self.followed.as_deref() == Some(text.as_str()) {
            return;
        }
        let Some((line, file)) = memory_counter_file(&text, &mountinfo()) else {
            // No memory controller here: nothing to count, nothing to look up again.
            self.followed = Some(text);
            return;
        };
        // A process on its way out is moved to the root cgroup (v1) before it is reaped:
        // that is not a move to follow. The kernel marks it exiting before it moves it, so
        // reading the flags after the cgroup tells a stale line apart.
        if !alive_and_not_exiting(self.pid) {
            return;
        }
        self.followed = Some(text);
        if self.cgroup.as_deref() == Some(line.as_str()) {
            return;
        }
        self.counter = read_count(&file).map(|baseline| Counter { file, baseline });
        self.cgroup = Some(line);
    }

    /// Whether the cgroup counted an OOM kill since the baseline.
    pub fn killed(&self) -> bool {
        self.counter
            .as_ref()
            .is_some_and(|c| read_count(&c.file).is_some_and(|now| now > c.baseline))
    }
}

/// `PF_EXITING` in the flags of `/proc/PID/stat` (include/linux/sched.h).
const PF_EXITING: u64 = 0x4;

fn alive_and_not_exiting(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat_state_and_flags(&stat))
        .is_some_and(|(state, flags)| !matches!(state, 'Z' | 'X' | 'x') && flags & PF_EXITING == 0)
}

/// The state letter and the flags of a `/proc/PID/stat` line. The command name in
/// parentheses may hold spaces and parentheses itself: fields are counted after the last ')'.
fn stat_state_and_flags(stat: &str) -> Option<(char, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // After the state: ppid, pgrp, session, tty_nr, tpgid, then flags.
    let flags = fields.nth(5)?.parse().ok()?;
    Some((state, flags))
}

fn mountinfo() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default()
}

/// The `oom_kill` value of a counter file.
fn read_count(file: &Path) -> Option<u64> {
    parse_count(&std::fs::read_to_string(file).ok()?)
}

fn parse_count(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|v| v.trim().parse().ok())
}

/// From `/proc/PID/cgroup` and `/proc/self/mountinfo`: the process's memory cgroup line and
/// the file that counts its OOM kills. A v1 memory controller wins over the v2 hierarchy
/// (on a hybrid system the memory controller is mounted in one of them only).
fn memory_counter_file(cgroup: &str, mountinfo: &str) -> Option<(String, PathBuf)> {
    let mounts: Vec<Mount> = mountinfo.lines().filter_map(Mount::parse).collect();
    for line in cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        if controllers.split(',').any(|c| c == "memory")
            && let Some(m) = mounts
                .iter()
                .find(|m| m.fstype == "cgroup" && m.options.split(',').any(|o| o == "memory"))
        {
            return Some((line.to_string(), m.join(path).join("memory.oom_control")));
        }
    }
    let path = cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
    let m = mounts.iter().find(|m| m.fstype == "cgroup2")?;
    Some((format!("0::{path}"), m.join(path).join("memory.events")))
}

struct Mount<'a> {
    root: &'a str,
    point: &'a str,
    fstype: &'a str,
    options: &'a str,
}

impl<'a> Mount<'a> {
    /// `36 35 0:31 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory`
    fn parse(line: &'a str) -> Option<Self> {
        let (left, right) = line.split_once(" - ")?;
        let left: Vec<&str> = left.split(' ').collect();
        let right: Vec<&str> = right.split(' ').collect();
        Some(Self {
            root: left.get(3)?,
            point: left.get(4)?,
            fstype: right.first()?,
            options: right.get(2).copied().unwrap_or(""),
        })
    }

    /// Where a cgroup path (as `/proc/PID/cgroup` gives it) is under this mount.
    fn join(&self, path: &str) -> PathBuf {
        let relative = path
            .strip_prefix(self.root)
            .unwrap_or(path)
            .trim_start_matches('/');
        Path::new(self.point).join(relative)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_MOUNTS: &str = "\
25 30 0:23 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs rw,mode=755
29 25 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
31 25 0:29 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
";
    const V2_MOUNTS: &str = "\
30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate
";

    #[test]
    fn finds_the_v1_and_v2_counter_files() {
        let (line, file) =
            memory_counter_file("4:memory:/llws/test\n1:cpu:/\n0::/\n", V1_MOUNTS).unwrap();
        assert_eq!(line, "4:memory:/llws/test");
        assert_eq!(
            file,
            Path::new("/sys/fs/cgroup/memory/llws/test/memory.oom_control")
        );
        let (_, file) = memory_counter_file("0::/user.slice/app.scope\n", V2_MOUNTS).unwrap();
        assert_eq!(
            file,
            Path::new("/sys/fs/cgroup/user.slice/app.scope/memory.events")
        );
        assert!(memory_counter_file("1:cpu:/\n", V1_MOUNTS).is_none());
    }

    #[test]
    fn reads_state_and_flags_past_an_odd_command_name() {
        let stat = "4242 (llama) server) S 1 4242 4242 0 -1 4194560 300 0 0 0 5 1 0 0 20 0";
        assert_eq!(stat_state_and_flags(stat), Some(('S', 4194560)));
        let exiting = "4242 (llama-server) R 1 4242 4242 0 -1 4194564 300 0";
        let (_, flags) = stat_state_and_flags(exiting).unwrap();
        assert_ne!(flags & PF_EXITING, 0);
        assert_eq!(stat_state_and_flags("garbage"), None);
    }

    #[test]
    fn this_process_is_alive_and_not_exiting() {
        assert!(alive_and_not_exiting(std::process::id()));
        assert!(!alive_and_not_exiting(u32::MAX));
    }

    #[test]
    fn reads_the_oom_kill_count() {
        assert_eq!(
            parse_count("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"),
            Some(3)
        );
        assert_eq!(
            parse_count("low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\noom_group_kill 0\n"),
            Some(1)
        );
        assert_eq!(parse_count("oom_kill_disable 0\n"), None);
    }
}
