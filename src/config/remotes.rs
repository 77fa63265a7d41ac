//! `[[remote]]` entries of llws.toml: other machines' llws (`llws serve`), reached through
//! their API URL, or through an SSH tunnel llws starts when `ssh` is set. Checked here,
//! with the line of the entry and a fix; nothing is connected here.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::diag::Diagnostic;

/// llama-server's port on the remote when the entry does not say (its default).
const DEFAULT_SERVER_PORT: u16 = 8080;

/// One `[[remote]]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteSettings {
    /// How the user names the host (`llws status --remote NAME`).
    pub name: String,
    /// The remote llws's API as the remote sees it (with `ssh`, it is forwarded; without,
    /// it must be reachable from here).
    pub url: String,
    /// The remote's `[api] token`, sent as a bearer token.
    #[serde(default)]
    pub token: String,
    /// `[user@]host` for the system's `ssh`; when set, the API and the inference port are
    /// forwarded to loopback ports here and nothing of the remote listens beyond its own
    /// loopback.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ssh: String,
    /// An ssh_config file for this tunnel (`ssh -F`), for keys and ports kept apart from
    /// `~/.ssh/config`; empty: ssh's usual files.
    #[serde(default, skip_serializing_if = "is_empty_path")]
    pub ssh_config: PathBuf,
    /// llama-server's port on the remote (forwarded with the API through the tunnel).
    #[serde(default = "default_server_port")]
    pub server_port: u16,
}

fn is_empty_path(p: &Path) -> bool {
    p.as_os_str().is_empty()
}

fn default_server_port() -> u16 {
    DEFAULT_SERVER_PORT
}

/// A remote's URL, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteUrl {
    pub https: bool,
    pub host: String,
    pub port: u16,
}

impl RemoteSettings {
    /// The API's host and port, or why `url` is not one.
    pub fn parsed_url(&self) -> Result<RemoteUrl, String> {
        let url = url::Url::parse(&self.url).map_err(|e| {
            format!(
                "remote {}: url `{}` is not a URL ({e})",
                self.name, self.url
            )
        })?;
        let https = match url.scheme() {
            "http" => false,
            "https" => true,
            other => {
                return Err(format!(
                    "remote {}: url `{}` uses {other}:, not http: or https:",
                    self.name, self.url
                ));
            }
        };
        if !matches!(url.path(), "" | "/") || url.query().is_some() || !url.username().is_empty() {
            return Err(format!(
                "remote {}: url `{}` has more than a scheme, host and port",
                self.name, self.url
            ));
        }
        let host = url
            .host_str()
            .ok_or_else(|| format!("remote {}: url `{}` has no host", self.name, self.url))?
            .trim_matches(['[', ']'])
            .to_string();
        let port = url.port_or_known_default().unwrap_or(80);
        Ok(RemoteUrl { https, host, port })
    }

    /// Whether the URL's host is this machine's (or, with `ssh`, the remote's) loopback.
    pub fn url_is_loopback(&self) -> bool {
        self.parsed_url().is_ok_and(|u| {
            u.host == "localhost" || u.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        })
    }

    /// `host:port` as the remote API knows itself: the `Host` a request through a tunnel
    /// must carry (the remote refuses other names against DNS rebinding).
    pub fn authority(&self) -> Option<String> {
        let url = self.parsed_url().ok()?;
        let host = if url.host.contains(':') {
            format!("[{}]", url.host)
        } else {
            url.host
        };
        Some(format!("{host}:{}", url.port))
    }

    /// The API's base URL without a trailing slash.
    pub fn base_url(&self) -> String {
        self.url.trim_end_matches('/').to_string()
    }
}

/// Names are words on a command line and in pane titles.
fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("has no name".into());
    }
    if name.len() > 32 {
        return Some(format!("name `{name}` is longer than 32 characters"));
    }
    if name.starts_with('-')
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Some(format!(
            "name `{name}` may hold only letters, digits, `-`, `_` and `.`, and must not start with `-`"
        ));
    }
    if name == "local" {
        return Some("name `local` is kept for this machine".into());
    }
    None
}

/// `[user@]host`: no option (`-oProxyCommand=…` would run a program), no spaces.
fn ssh_problem(ssh: &str) -> Option<String> {
    let host = ssh.rsplit_once('@').map_or(ssh, |(_, h)| h);
    let user = ssh.rsplit_once('@').map(|(u, _)| u);
    let word = |w: &str| {
        !w.is_empty()
            && !w.starts_with('-')
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
    };
    if word(host) && user.is_none_or(word) {
        None
    } else {
        Some(format!(
            "ssh `{ssh}` is not `user@host` or `host` (letters, digits, `-`, `_`, `.`; no spaces, no leading `-`)"
        ))
    }
}

/// The 1-based line of the `n`-th `[[remote]]` header, and of `key` inside that entry.
fn entry_lines(text: &str, n: usize) -> (Option<usize>, impl Fn(&str) -> Option<usize> + '_) {
    let lines: Vec<&str> = text.lines().collect();
    let headers: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            let l = l.trim();
            l.starts_with("[[") && l.trim_start_matches('[').trim_start().starts_with("remote")
        })
        .map(|(i, _)| i)
        .collect();
    let start = headers.get(n).copied();
    let end = start.map(|s| {
        lines
            .iter()
            .enumerate()
            .skip(s + 1)
            .find(|(_, l)| l.trim_start().starts_with('['))
            .map_or(lines.len(), |(i, _)| i)
    });
    let key_line = move |key: &str| -> Option<usize> {
        let (s, e) = (start?, end?);
        (s + 1..e)
            .find(|&i| {
                text.lines().nth(i).is_some_and(|l| {
                    l.trim_start()
                        .strip_prefix(key)
                        .is_some_and(|rest| rest.trim_start().starts_with('='))
                })
            })
            .map(|i| i + 1)
            .or(Some(s + 1))
    };
    (start.map(|s| s + 1), key_line)
}

/// Every problem of every entry, each with its line and a fix.
pub fn validate(remotes: &[RemoteSettings], path: &Path, text: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (n, remote) in remotes.iter().enumerate() {
        let (header, line_of) = entry_lines(text, n);
        let mut err = |key: &str, message: String, fix: &str| {
            let line = if key.is_empty() { header } else { line_of(key) };
            out.push(Diagnostic::error(path, line, message).with_fix(fix));
        };
        let label = if remote.name.is_empty() {
            format!("[[remote]] number {}", n + 1)
        } else {
            format!("remote {}", remote.name)
        };
        if let Some(problem) = name_problem(&remote.name) {
            err(
                "name",
                format!("{label}: {problem}"),
                "name it with a short word such as \"gpu-box\"",
            );
        } else if remotes[..n].iter().any(|r| r.name == remote.name) {
            err(
                "name",
                format!("{label}: the name is used by an earlier [[remote]]"),
                "give each [[remote]] its own name",
            );
        }
        match remote.parsed_url() {
            Err(e) => err(
                "url",
                e,
                "write the remote llws API's address, e.g. \"http://127.0.0.1:8081\" with ssh, or \"http://gpu-box:8081\"",
            ),
            Ok(_)
                if remote.ssh.is_empty()
                    && !remote.url_is_loopback()
                    && remote.token.is_empty() =>
            {
                err(
                    "url",
                    format!(
                        "{label}: url `{}` is reached over the network without ssh, and token is empty: the remote refuses such a bind without a token, and requests would go unauthenticated",
                        remote.url
                    ),
                    "set token to the remote's [api] token, or set ssh = \"user@host\" and url = \"http://127.0.0.1:8081\" to go through a tunnel",
                )
            }
            Ok(_) => {}
        }
        if !remote.ssh.is_empty()
            && let Some(problem) = ssh_problem(&remote.ssh)
        {
            err(
                "ssh",
                format!("{label}: {problem}"),
                "write the host as ssh would take it, e.g. \"alice@gpu-box\"; options go in an ssh_config file (ssh_config = \"…\")",
            );
        }
        if !remote.ssh_config.as_os_str().is_empty() && remote.ssh.is_empty() {
            err(
                "ssh_config",
                format!("{label}: ssh_config is set but ssh is not"),
                "set ssh = \"user@host\", or remove ssh_config",
            );
        }
        if remote.server_port == 0 {
            err(
                "server_port",
                format!("{label}: server_port must not be 0"),
                "use the remote's [server] port, usually 8080",
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, url: &str) -> RemoteSettings {
        RemoteSettings {
            name: name.into(),
            url: url.into(),
            token: String::new(),
            ssh: String::new(),
            ssh_config: PathBuf::new(),
            server_port: 8080,
        }
    }

    #[test]
    fn urls_split_into_host_and_port() {
        let u = entry("a", "http://gpu-box:8081/").parsed_url().unwrap();
        assert_eq!((u.https, u.host.as_str(), u.port), (false, "gpu-box", 8081));
        let u = entry("a", "https://[::1]").parsed_url().unwrap();
        assert_eq!((u.https, u.host.as_str(), u.port), (true, "::1", 443));
        assert!(entry("a", "ftp://x").parsed_url().is_err());
        assert!(entry("a", "http://x:1/api").parsed_url().is_err());
        assert!(entry("a", "gpu-box:8081").parsed_url().is_err());
        assert!(entry("a", "http://[::1]:9").url_is_loopback());
        assert!(entry("a", "http://localhost:9").url_is_loopback());
        assert!(!entry("a", "http://10.0.0.2:9").url_is_loopback());
        assert_eq!(
            entry("a", "http://[::1]").authority().as_deref(),
            Some("[::1]:80")
        );
        assert_eq!(
            entry("a", "http://127.0.0.1:8081/").authority().as_deref(),
            Some("127.0.0.1:8081")
        );
    }

    #[test]
    fn ssh_destinations_are_not_options() {
        assert!(ssh_problem("alice@gpu-box").is_none());
        assert!(ssh_problem("gpu-box.lan").is_none());
        assert!(ssh_problem("-oProxyCommand=touch /tmp/x").is_some());
        assert!(ssh_problem("alice@-oProxyCommand=x").is_some());
        assert!(ssh_problem("alice@host extra").is_some());
        assert!(ssh_problem("@host").is_some());
    }

    #[test]
    fn names_are_words() {
        assert!(name_problem("gpu-box_2.lan").is_none());
        for bad in ["", "-x", "a b", "local", "é", &"x".repeat(33)] {
            assert!(name_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn lines_point_into_the_entry() {
        let text = "backend = \"process\"\n\n[[remote]]\nname = \"a\"\nurl = \"x\"\n\n[[ remote ]]\nname = \"b\"\n[api]\nurl = \"y\"\n";
        let (header, line) = entry_lines(text, 0);
        assert_eq!((header, line("url")), (Some(3), Some(5)));
        let (header, line) = entry_lines(text, 1);
        // A key past the next table is not this entry's: the header is named instead.
        assert_eq!((header, line("url")), (Some(7), Some(7)));
        assert_eq!(line("name"), Some(8));
    }
}
