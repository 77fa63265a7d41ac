//! Talking to the management API in tests: plain requests, raw bytes on a socket, and a
//! server-sent-events reader. Loopback only.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use reqwest::header::HeaderMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One answer: status, headers, body text.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): HTTP {} {}", self.status, self.body))
    }

    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not the expected shape ({e}): {}", self.body))
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The error message of a JSON error reply.
    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
    token: Option<String>,
    /// A `Host` header instead of the URL's (a request through an SSH tunnel).
    host: Option<String>,
}

impl Api {
    pub fn new(base: impl Into<String>) -> Self {
        Self {
            base: base.into(),
            client: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(300))
                .build()
                .unwrap(),
            token: None,
            host: None,
        }
    }

    /// A new connection for every request: for servers with a short header timeout, which
    /// close idle pooled connections at any moment.
    pub fn unpooled(mut self) -> Self {
        self.client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(300))
            .build()
            .unwrap();
        self
    }

    pub fn with_token(mut self, token: &str) -> Self {
        self.token = Some(token.to_string());
        self
    }

    pub fn with_host(mut self, host: &str) -> Self {
        self.host = Some(host.to_string());
        self
    }

    pub fn at(addr: SocketAddr) -> Self {
        Self::new(format!("http://{addr}"))
    }

    pub fn request(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut r = self.client.request(method, format!("{}{path}", self.base));
        if let Some(host) = &self.host {
            r = r.header("host", host);
        }
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let resp = request.send().await.expect("the API answers");
        Reply {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.text().await.unwrap_or_default(),
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.request("GET", path)).await
    }

    /// POST with a raw body, sent as curl's `-d` does (a form Content-Type).
    pub async fn post(&self, path: &str, body: &str) -> Reply {
        let r = self.request("POST", path);
        let r = if body.is_empty() {
            r
        } else {
            r.header("content-type", "application/x-www-form-urlencoded")
                .body(body.to_string())
        };
        self.send(r).await
    }

    pub async fn status(&self) -> serde_json::Value {
        let r = self.get("/status").await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
    }

    /// Polls /status until `pred` holds; panics after `timeout` with the last status.
    pub async fn wait_status(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let status = self.status().await;
            if pred(&status) {
                return status;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("timed out waiting for {what}; last status: {status:#}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls /health until the API answers.
    pub async fn wait_up(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.request("GET", "/health").send().await.is_ok() {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("the API at {} never answered", self.base);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Sends `bytes` on a fresh connection and returns everything read until the server closes
/// (or `Connection: close` makes it).
pub async fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of a raw HTTP reply.
pub fn raw_status(reply: &str) -> u16 {
    reply
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {reply:?}"))
}

/// Whether llama-server answers /health with 200 (false when nothing listens).
pub async fn health_ok(base_url: &str) -> bool {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    matches!(client.get(format!("{base_url}/health")).send().await, Ok(r) if r.status() == 200)
}

/// One server-sent event.
#[derive(Debug, Clone)]
pub struct Sse {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

impl Sse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("{e}: {}", self.data))
    }
}

/// Reads an SSE stream in the background; the events pile up for the test to inspect.
pub struct SseReader {
    pub events: Arc<Mutex<Vec<Sse>>>,
    pub ended: Arc<Mutex<bool>>,
    task: tokio::task::JoinHandle<()>,
}

impl SseReader {
    pub async fn open(api: &Api, path: &str) -> SseReader {
        let resp = api.request("GET", path).send().await.expect("stream opens");
        assert_eq!(resp.status().as_u16(), 200);
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        let events = Arc::new(Mutex::new(Vec::new()));
        let ended = Arc::new(Mutex::new(false));
        let (e, done) = (events.clone(), ended.clone());
        let task = tokio::spawn(async move {
            let mut body = resp.bytes_stream();
            let mut buf = String::new();
            while let Some(Ok(chunk)) = body.next().await {
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buf.find("\n\n") {
                    let block: String = buf.drain(..end + 2).collect();
                    let mut sse = Sse {
                        event: "message".into(),
                        id: None,
                        data: String::new(),
                    };
                    let mut any = false;
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("event:") {
                            sse.event = v.trim().to_string();
                            any = true;
                        } else if let Some(v) = line.strip_prefix("data:") {
                            if !sse.data.is_empty() {
                                sse.data.push('\n');
                            }
                            sse.data.push_str(v.strip_prefix(' ').unwrap_or(v));
                            any = true;
                        } else if let Some(v) = line.strip_prefix("id:") {
                            sse.id = Some(v.trim().to_string());
                        }
                    }
                    // Comment-only blocks are keep-alives.
                    if any {
                        e.lock().unwrap().push(sse);
                    }
                }
            }
            *done.lock().unwrap() = true;
        });
        SseReader {
            events,
            ended,
            task,
        }
    }

    pub fn snapshot(&self) -> Vec<Sse> {
        self.events.lock().unwrap().clone()
    }

    /// Waits until `pred` holds for the events so far.
    pub async fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&[Sse]) -> bool) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if pred(&self.snapshot()) {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                let seen: Vec<String> = self
                    .snapshot()
                    .iter()
                    .map(|e| format!("{}: {}", e.event, e.data))
                    .collect();
                panic!("timed out waiting for {what}; events:\n{}", seen.join("\n"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the server ends the stream.
    pub async fn wait_end(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        while !*self.ended.lock().unwrap() {
            if tokio::time::Instant::now() > deadline {
                panic!("the stream did not end");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for SseReader {
    fn drop(&mut self) {
        self.task.abort();
    }
}
