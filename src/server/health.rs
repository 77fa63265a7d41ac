//! Readiness, asked the async way (the controller polls while a model loads); what an
//! answer means is [`crate::util::health`]'s. Also whether a port is taken.

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
