//! The one question claude-local asks before starting Claude Code: is llama-server ready?
//! A plain blocking HTTP/1.1 GET over std, because it runs in the small `__claude-local`
//! process before anything else exists (no runtime, no client library needed).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

pub use crate::util::health::Health;

/// Splits `http://host:port[/...]` into the host (brackets kept for IPv6) and port.
pub fn host_port(base_url: &str) -> Option<(String, u16)> {
    let rest = base_url.strip_prefix("http://")?;
    let authority = rest.split('/').next()?;
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && (!h.contains(':') || h.ends_with(']')) => {
            (h, p.parse().ok()?)
        }
        _ => (authority, 80),
    };
    Some((host.to_string(), port))
}

/// Asks `base_url`/health once.
pub fn probe(base_url: &str, timeout: Duration) -> Health {
    let Some((host, port)) = host_port(base_url) else {
        return Health::Unexpected(format!("`{base_url}` is not an http:// URL"));
    };
    let lookup = host.trim_start_matches('[').trim_end_matches(']');
    let addrs = match (lookup, port).to_socket_addrs() {
        Ok(a) => a.collect::<Vec<_>>(),
        Err(e) => return Health::NoServer(format!("cannot resolve {host}: {e}")),
    };
    let mut last_err = String::from("no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => return ask(stream, &host, port, timeout),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                last_err = "connection refused".into()
            }
            Err(e) => last_err = e.to_string(),
        }
    }
    Health::NoServer(last_err)
}

fn ask(mut stream: TcpStream, host: &str, port: u16, timeout: Duration) -> Health {
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let request = format!(
        "GET /health HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\nAccept: application/json\r\n\r\n"
    );
    if let Err(e) = stream.write_all(request.as_bytes()) {
        return Health::Unexpected(e.to_string());
    }
    // The status line is all we need; llama-server answers in one short write.
    let mut head = [0u8; 64];
    let mut len = 0;
    while len < head.len() {
        match stream.read(&mut head[len..]) {
            Ok(0) => break,
            Ok(n) => {
                len += n;
                if head[..len].contains(&b'\n') {
                    break;
                }
            }
            Err(e) => return Health::Unexpected(e.to_string()),
        }
    }
    let line = String::from_utf8_lossy(&head[..len]);
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok());
    match status {
        Some(code) => Health::from_status(code),
        None => Health::Unexpected("not an HTTP answer".into()),
    }
}

/// When the switch now running started (ms since the epoch), from llws's management API at
/// `api_url` (`GET /status`): the clock the status bar shows, so the waiting line can show
/// the same. `None` when no switch runs or the API does not answer.
pub fn switch_started_at_ms(api_url: &str, timeout: Duration) -> Option<u64> {
    let (host, port) = host_port(api_url)?;
    let lookup = host.trim_start_matches('[').trim_end_matches(']');
    let addr = (lookup, port).to_socket_addrs().ok()?.next()?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).ok()?;
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let request = format!(
        "GET /status HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\nAccept: application/json\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).ok()?;
    // A status is a few KiB; more is not llws answering.
    let mut answer = Vec::new();
    stream.take(256 * 1024).read_to_end(&mut answer).ok()?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n")?;
    if head.split_whitespace().nth(1) != Some("200") {
        return None;
    }
    let status: serde_json::Value = serde_json::from_str(body).ok()?;
    status["switch"]["started_at_ms"].as_u64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn urls_split_into_host_and_port() {
        assert_eq!(
            host_port("http://127.0.0.1:8080"),
            Some(("127.0.0.1".into(), 8080))
        );
        assert_eq!(
            host_port("http://[::1]:9000/x"),
            Some(("[::1]".into(), 9000))
        );
        assert_eq!(
            host_port("http://localhost"),
            Some(("localhost".into(), 80))
        );
        assert_eq!(host_port("https://x"), None);
    }

    /// One real listener per status; the probe reads what a real socket says.
    fn serve_once(status: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf);
            let _ = s.write_all(
                format!("HTTP/1.1 {status}\r\nContent-Length: 2\r\n\r\n{{}}").as_bytes(),
            );
        });
        format!("http://{addr}")
    }

    /// The waiting line's clock comes from `GET /status` of the management API, read over a
    /// real socket: the switch's start while one runs, nothing otherwise.
    #[test]
    fn the_switch_start_is_read_from_the_status() {
        let serve = |body: &'static str| {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            std::thread::spawn(move || {
                let (mut s, _) = listener.accept().unwrap();
                let mut buf = [0u8; 512];
                let _ = s.read(&mut buf);
                let _ = s.write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                );
            });
            format!("http://{addr}")
        };
        let t = Duration::from_secs(2);
        let running =
            serve(r#"{"state":"starting","switch":{"target":"a","started_at_ms":1800000000000}}"#);
        assert_eq!(switch_started_at_ms(&running, t), Some(1_800_000_000_000));
        let idle = serve(r#"{"state":"idle","switch":null}"#);
        assert_eq!(switch_started_at_ms(&idle, t), None);
        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        assert_eq!(switch_started_at_ms(&format!("http://{closed}"), t), None);
    }

    #[test]
    fn statuses_map_to_states() {
        let t = Duration::from_secs(2);
        assert_eq!(probe(&serve_once("200 OK"), t), Health::Ready);
        assert_eq!(
            probe(&serve_once("503 Service Unavailable"), t),
            Health::Loading
        );
        assert_eq!(
            probe(&serve_once("404 Not Found"), t),
            Health::Unexpected("HTTP 404".into())
        );
        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        assert_eq!(
            probe(&format!("http://{closed}"), t),
            Health::NoServer("connection refused".into())
        );
    }
}
