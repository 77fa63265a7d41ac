//! Readiness, asked the async way (the controller polls while a model loads); what an
//! answer means is [`crate::util::health`]'s. Also whether a port is taken, the poll's
//! back-off, and which log lines say the server is about to answer.

use std::time::Duration;

pub use crate::util::health::Health;

#[derive(Clone)]
pub struct HealthProbe {
    client: reqwest::Client,
    url: String,
}

impl HealthProbe {
    /// `base_url` like `http://127.0.0.1:8080`.
    pub fn new(base_url: &str) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .connect_timeout(Duration::from_millis(500))
            // Loopback only: a proxy from the environment must never see this traffic.
            .no_proxy()
            .build()
            .expect("a plain HTTP client builds");
        Self {
            client,
            url: crate::util::health::url(base_url),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn probe(&self) -> Health {
        match self.client.get(&self.url).send().await {
            Ok(resp) => Health::from_status(resp.status().as_u16()),
            Err(e) if e.is_connect() => Health::NoServer("connection refused".into()),
            Err(e) if e.is_timeout() => Health::Loading,
            Err(e) => Health::Unexpected(e.to_string()),
        }
    }
}

/// Whether something already accepts connections on `host:port` (a port llws is about to
/// use must be free, or /health would answer for somebody else's server).
pub async fn port_in_use(host: &str, port: u16) -> bool {
    let host = match host {
        "0.0.0.0" | "" => "127.0.0.1",
        "::" => "::1",
        h => h,
    };
    let addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    matches!(
        tokio::time::timeout(
            Duration::from_millis(300),
            tokio::net::TcpStream::connect(addr)
        )
        .await,
        Ok(Ok(_))
    )
}

/// How long the first readiness poll waits after a start: a tiny model is ready in a few
/// hundred milliseconds, and a fixed 100 ms poll added up to a fifth of that (issue 18).
pub const FIRST_PROBE_WAIT: Duration = Duration::from_millis(10);

/// The waits between /health probes: short at first, doubling up to `cap` (the
/// `health_interval_ms` setting), so a quick load is noticed at once and a two-minute
/// load does not poll a hundred times a second.
#[derive(Debug, Clone)]
pub struct ProbeBackoff {
    next: Duration,
    cap: Duration,
}

impl ProbeBackoff {
    pub fn new(cap: Duration) -> Self {
        Self {
            next: FIRST_PROBE_WAIT.min(cap),
            cap,
        }
    }

    /// The wait before the next probe; each call doubles the following one, up to the cap.
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.cap);
        wait
    }

    /// Back to the shortest wait: the server just said something that means it is close.
    pub fn reset(&mut self) {
        self.next = FIRST_PROBE_WAIT.min(self.cap);
    }
}

/// Whether a llama-server log line says the model is loaded or the server listens, so a
/// /health probe now is likely to answer 200. Both phrasings are matched: recent builds
/// log `llama_server: model loaded` / `listening on http://…`, older ones
/// `main: model loaded` / `main: server is listening on …` / `all slots are idle`.
/// A hint only triggers a probe; readiness is still what /health says.
pub fn is_ready_hint(line: &str) -> bool {
    const HINTS: [&str; 4] = [
        "model loaded",
        "listening on http",
        "server is listening on",
        "all slots are idle",
    ];
    HINTS.iter().any(|hint| line.contains(hint))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_starts_short_and_doubles_to_the_cap() {
        let mut backoff = ProbeBackoff::new(Duration::from_millis(100));
        let waits: Vec<u64> = (0..6)
            .map(|_| backoff.next_wait().as_millis() as u64)
            .collect();
        assert_eq!(waits, [10, 20, 40, 80, 100, 100]);
        backoff.reset();
        assert_eq!(backoff.next_wait(), FIRST_PROBE_WAIT);
    }

    #[test]
    fn a_cap_below_the_first_wait_wins() {
        let mut backoff = ProbeBackoff::new(Duration::from_millis(3));
        assert_eq!(backoff.next_wait(), Duration::from_millis(3));
        assert_eq!(backoff.next_wait(), Duration::from_millis(3));
    }

    #[test]
    fn ready_hints_match_new_and_old_llama_server_lines() {
        for line in [
            "0.00.636.250 I srv  llama_server: model loaded",
            "0.00.636.266 I srv  llama_server: listening on http://127.0.0.1:18555",
            "main: server is listening on 127.0.0.1:8080 - starting the main loop",
            "srv  update_slots: all slots are idle",
        ] {
            assert!(is_ready_hint(line), "{line}");
        }
        for line in [
            "llama_model_loader: loaded meta data with 33 key-value pairs",
            "load_tensors: loading model tensors, this can take a while...",
            "srv  load_model: loading model '/models/x.gguf'",
        ] {
            assert!(!is_ready_hint(line), "{line}");
        }
    }
}
