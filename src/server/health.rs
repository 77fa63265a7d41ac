//! Readiness: llama-server answers `GET /health` with 503 while it loads the model and 200
//! once it serves (llama-swap #146: `/v1/models` answers too early, so never use it).

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// 200: the model is loaded.
    Ready,
    /// 503: listening, still loading.
    Loading,
    /// Nothing accepts connections yet.
    NotListening,
    /// Something answered that is not a llama-server health reply.
    Unexpected(String),
}

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
            url: format!("{}/health", base_url.trim_end_matches('/')),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn probe(&self) -> Health {
        match self.client.get(&self.url).send().await {
            Ok(resp) => match resp.status().as_u16() {
                200 => Health::Ready,
                503 => Health::Loading,
                code => Health::Unexpected(format!("HTTP {code}")),
            },
            Err(e) if e.is_connect() => Health::NotListening,
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
