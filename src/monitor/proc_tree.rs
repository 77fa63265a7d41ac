//! Small reads of `/proc`: a process's parent, its descendants and its name.
//!
//! NVML reports host pids, and the server we care about may be a container's main process
//! or a native child with helpers of its own, so "is this GPU process the model?" and "how
//! much does the server use?" both need the process tree. Reading `/proc` directly costs a
//! few microseconds per process; asking sysinfo would mean refreshing every process on the
//! host each second.

use std::collections::HashSet;

/// The parent pid, from `/proc/PID/stat`.
pub(crate) fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_parent(&stat)
}

/// Field 4 of `/proc/PID/stat`. The name (field 2) may hold spaces and parentheses, so the
/// fields are counted from the last `)`.
fn parse_parent(stat: &str) -> Option<u32> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}

/// Whether `pid` is `root` or runs under it (a container's main process may start the
/// server as a child; a wrapper script may not `exec`).
pub(crate) fn is_self_or_descendant(pid: u32, root: u32) -> bool {
    let mut current = pid;
    // Process trees are shallow; the bound only guards against a cycle from pid reuse
    // between two reads.
    for _ in 0..64 {
        if current == root {
            return true;
        }
        match parent_of(current) {
            Some(parent) if parent > 0 && parent != current => current = parent,
            _ => return false,
        }
    }
    false
}

/// `root` and every process below it, from the kernel's `children` lists.
pub(crate) fn self_and_descendants(root: u32) -> Vec<u32> {
    let mut seen = HashSet::from([root]);
    let mut out = vec![root];
    let mut next = 0;
    while next < out.len() {
        let pid = out[next];
        next += 1;
        // Children are listed per thread: a child started from a worker thread is on that
        // thread's list, not the main thread's.
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let Ok(list) = std::fs::read_to_string(task.path().join("children")) else {
                continue;
            };
            for child in list
                .split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok())
            {
                if seen.insert(child) {
                    out.push(child);
                }
            }
        }
    }
    out
}

/// Resident file-backed pages mapped by these processes (`RssFile`): for llama-server,
/// the memory-mapped model plus a few MiB of shared libraries. Unlike the page cache
/// charged to a container's cgroup, this does not depend on who read the file first.
pub(crate) fn mapped_file_bytes(pids: &[u32]) -> Option<u64> {
    pids.iter()
        .filter_map(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            parse_rss_file(&status)
        })
        .reduce(|a, b| a + b)
}

fn parse_rss_file(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("RssFile:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The process's short name (`comm`), as `ps` and `nvidia-smi` show it.
pub(crate) fn name_of(pid: u32) -> Option<String> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(comm.trim_end().to_string()).filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_survives_names_with_spaces_and_parentheses() {
        assert_eq!(parse_parent("42 (a) b (c)) S 7 42 42 0"), Some(7));
        assert_eq!(parse_parent("1 (init) S 0 1 1"), Some(0));
        assert_eq!(parse_parent("garbage"), None);
    }

    #[test]
    fn rss_file_is_read_in_bytes() {
        let status = "Name:\tllama-server\nVmRSS:\t  320036 kB\nRssAnon:\t  208156 kB\nRssFile:\t  111880 kB\n";
        assert_eq!(parse_rss_file(status), Some(111_880 * 1024));
        assert_eq!(parse_rss_file("Name:\tkthreadd\n"), None);
    }

    #[test]
    fn a_child_is_found_below_its_parent_and_not_the_other_way() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let me = std::process::id();
        let pid = child.id();
        assert!(is_self_or_descendant(pid, me));
        assert!(is_self_or_descendant(me, me));
        assert!(!is_self_or_descendant(me, pid));
        assert!(self_and_descendants(me).contains(&pid));
        assert_eq!(name_of(pid).as_deref(), Some("sleep"));
        // This test binary runs from its mapped file (a just-started child may not have
        // touched its pages yet).
        assert!(mapped_file_bytes(&[me]).is_some_and(|b| b > 0));
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
