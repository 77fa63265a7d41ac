//! A client of a running llws's API, for `llws status|switch|stop` and `llws models`.

use std::time::Duration;

use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use super::types::{
    AcceptedResponse, ErrorResponse, KeepWaitingResponse, LogLineInfo, LogsResponse,
    ModelsResponse, SkippedEvent, StatusResponse, SwitchResponse,
};
use crate::config::settings::ApiSettings;

/// The largest JSON answer taken from another llws (a `/models` of thousands of profiles
/// is a few MiB): a broken or hostile one cannot make this one read without end.
const MAX_BODY: usize = 32 << 20;
/// The longest line of an event stream taken (a log line is cut at 16 KiB where it is
/// written; a sample is a few KiB).
const MAX_SSE_LINE: usize = 4 << 20;

/// Why a stream from another llws ended early.
#[derive(Debug, thiserror::Error)]
enum StreamError {
    #[error("{0}")]
    Http(reqwest::Error),
    #[error("a line longer than {} MiB", MAX_SSE_LINE >> 20)]
    TooLong,
}

/// The bytes of an event stream, ended with an error at a line longer than
/// [`MAX_SSE_LINE`] (the SSE parser would otherwise hold it all).
fn bounded_lines(
    response: reqwest::Response,
) -> impl futures::Stream<Item = Result<bytes::Bytes, StreamError>> {
    use futures::StreamExt;
    let mut since_newline = 0usize;
    let mut over = false;
    response.bytes_stream().map(move |chunk| {
        if over {
            return Err(StreamError::TooLong);
        }
        let chunk = chunk.map_err(StreamError::Http)?;
        for &b in chunk.iter() {
            since_newline = if b == b'\n' { 0 } else { since_newline + 1 };
            if since_newline > MAX_SSE_LINE {
                over = true;
                return Err(StreamError::TooLong);
            }
        }
        Ok(chunk)
    })
}

/// Why a request got no useful answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no llws is answering at {url}; start one with `llws` or `llws serve`")]
    NotRunning { url: String },
    /// The API answered with an error.
    #[error("{}", .body.error)]
    Api {
        status: u16,
        body: Box<ErrorResponse>,
    },
    #[error("{0}")]
    Other(String),
}

/// One item of `GET /logs/stream`.
#[derive(Debug, Clone, PartialEq)]
pub enum LogStreamItem {
    Line(LogLineInfo),
    /// The reader fell behind and this many lines were dropped for it.
    Skipped(u64),
}

/// What `POST /switch` gave.
#[derive(Debug, Clone)]
pub enum SwitchReply {
    /// It waited for the end of the switch.
    Done(Box<SwitchResponse>),
    /// `wait=false`: the switch was accepted and goes on.
    Accepted(AcceptedResponse),
}

pub struct ApiClient {
    base: String,
    token: Option<String>,
    /// The `Host` to send instead of the URL's (see [`ApiClient::with_host`]).
    host: Option<String>,
    http: reqwest::Client,
}

impl ApiClient {
    /// A client for the API `settings` describe; `timeout` bounds each whole request
    /// (`None`: only the connection is bounded, for a switch that waits).
    pub fn new(settings: &ApiSettings, timeout: Option<Duration>) -> Self {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            // The API is on this machine: a proxy from the environment must not see it.
            .no_proxy();
        if let Some(timeout) = timeout {
            builder = builder.timeout(timeout);
        }
        Self {
            base: settings.base_url(),
            token: (!settings.token.is_empty()).then(|| settings.token.clone()),
            host: None,
            http: builder.build().expect("a plain HTTP client builds"),
        }
    }

    /// A client of the API at `base` (another llws's, from its owner record).
    pub fn at(base: &str, token: &str, timeout: Option<Duration>) -> Self {
        let settings = ApiSettings {
            token: token.to_string(),
            ..ApiSettings::default()
        };
        let mut client = Self::new(&settings, timeout);
        client.base = base.trim_end_matches('/').to_string();
        client
    }

    /// Sends `Host: host` (the remote's own `host:port`) instead of the URL's: through an
    /// SSH tunnel the URL is a local port, which the remote API's DNS-rebinding check
    /// rightly refuses as a name that is not its own.
    pub fn with_host(mut self, host: &str) -> Self {
        self.host = Some(host.to_string());
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(host) = &self.host {
            request = request.header(reqwest::header::HOST, host);
        }
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        request.send().await.map_err(|e| {
            if e.is_connect() {
                ClientError::NotRunning {
                    url: self.base.clone(),
                }
            } else {
                ClientError::Other(format!("{}: {e}", self.base))
            }
        })
    }

    async fn decode<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, ClientError> {
        let status = response.status();
        let mut response = response;
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| ClientError::Other(e.to_string()))?
        {
            if bytes.len() + chunk.len() > MAX_BODY {
                return Err(ClientError::Other(format!(
                    "the answer is larger than {} MiB",
                    MAX_BODY >> 20
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| {
                ClientError::Other(format!(
                    "the API's answer is not what this llws expects: {e}"
                ))
            });
        }
        let body = serde_json::from_slice::<ErrorResponse>(&bytes).unwrap_or_else(|_| {
            ErrorResponse::new(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&bytes).trim()
            ))
        });
        Err(ClientError::Api {
            status: status.as_u16(),
            body: Box::new(body),
        })
    }

    pub async fn status(&self) -> Result<StatusResponse, ClientError> {
        Self::decode(
            self.send(self.request(reqwest::Method::GET, "/status"))
                .await?,
        )
        .await
    }

    /// The raw body of `GET /status`, for `llws status --json`.
    pub async fn status_text(&self) -> Result<String, ClientError> {
        let response = self
            .send(self.request(reqwest::Method::GET, "/status"))
            .await?;
        if !response.status().is_success() {
            return Self::decode::<StatusResponse>(response)
                .await
                .map(|_| String::new());
        }
        response
            .text()
            .await
            .map_err(|e| ClientError::Other(e.to_string()))
    }

    pub async fn models(&self) -> Result<ModelsResponse, ClientError> {
        Self::decode(
            self.send(self.request(reqwest::Method::GET, "/models"))
                .await?,
        )
        .await
    }

    pub async fn switch(&self, id: &str, wait: bool) -> Result<SwitchReply, ClientError> {
        let path = if wait {
            "/switch"
        } else {
            "/switch?wait=false"
        };
        let request = self
            .request(reqwest::Method::POST, path)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::json!({ "model": id }).to_string());
        let response = self.send(request).await?;
        if response.status() == StatusCode::ACCEPTED {
            Self::decode(response).await.map(SwitchReply::Accepted)
        } else {
            Self::decode(response)
                .await
                .map(|r| SwitchReply::Done(Box::new(r)))
        }
    }

    /// The last `tail` lines of the server log a running llws keeps.
    pub async fn logs(&self, tail: usize) -> Result<LogsResponse, ClientError> {
        let response = self
            .send(self.request(reqwest::Method::GET, &format!("/logs?tail={tail}")))
            .await?;
        Self::decode(response).await
    }

    pub async fn keep_waiting(&self) -> Result<KeepWaitingResponse, ClientError> {
        Self::decode(
            self.send(self.request(reqwest::Method::POST, "/keep-waiting"))
                .await?,
        )
        .await
    }

    /// `GET /monitor/stream`: (GPU, system) samples as the other llws takes them, until it
    /// shuts down.
    pub async fn follow_monitor(
        &self,
    ) -> Result<
        impl futures::Stream<
            Item = Result<(crate::monitor::GpuState, crate::monitor::SystemSnapshot), ClientError>,
        >,
        ClientError,
    > {
        #[derive(serde::Deserialize)]
        struct Sample {
            gpu: crate::monitor::GpuState,
            system: crate::monitor::SystemSnapshot,
        }
        use futures::StreamExt;
        let events = self.events_at("/monitor/stream").await?;
        Ok(events.filter_map(|event| async move {
            match event {
                Err(e) => Some(Err(e)),
                Ok((name, data)) if name == "sample" => Some(
                    serde_json::from_str::<Sample>(&data)
                        .map(|s| (s.gpu, s.system))
                        .map_err(|e| ClientError::Other(format!("a sample that is not JSON: {e}"))),
                ),
                Ok(_) => None,
            }
        }))
    }

    /// `GET /logs/stream?tail=N`: the last `tail` kept lines, then every new one, until the
    /// llws at the other end shuts down (the stream then ends).
    pub async fn follow_logs(
        &self,
        tail: usize,
    ) -> Result<impl futures::Stream<Item = Result<LogStreamItem, ClientError>>, ClientError> {
        use eventsource_stream::Eventsource;
        use futures::StreamExt;
        let response = self
            .send(self.request(reqwest::Method::GET, &format!("/logs/stream?tail={tail}")))
            .await?;
        if !response.status().is_success() {
            // An error answer is JSON, not a stream: decode it into the refusal.
            return Err(Self::decode::<LogsResponse>(response)
                .await
                .err()
                .unwrap_or_else(|| ClientError::Other("the log stream was refused".into())));
        }
        Ok(bounded_lines(response)
            .eventsource()
            .filter_map(|event| async move {
                match event {
                    Err(e) => Some(Err(ClientError::Other(format!(
                        "the log stream broke: {e}"
                    )))),
                    Ok(event) => match event.event.as_str() {
                        "line" => Some(
                            serde_json::from_str::<LogLineInfo>(&event.data)
                                .map(LogStreamItem::Line)
                                .map_err(|e| {
                                    ClientError::Other(format!("a log line that is not JSON: {e}"))
                                }),
                        ),
                        "skipped" => Some(
                            serde_json::from_str::<SkippedEvent>(&event.data)
                                .map(|s| LogStreamItem::Skipped(s.skipped))
                                .map_err(|e| ClientError::Other(e.to_string())),
                        ),
                        // Keep-alive comments and events of newer versions.
                        _ => None,
                    },
                }
            }))
    }

    /// `POST /start` (the last profile when `id` is `None`), waiting for the outcome.
    pub async fn start(&self, id: Option<&str>) -> Result<SwitchResponse, ClientError> {
        let body = match id {
            Some(id) => serde_json::json!({ "model": id }).to_string(),
            None => String::new(),
        };
        let request = self
            .request(reqwest::Method::POST, "/start")
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        Self::decode(self.send(request).await?).await
    }

    /// `GET /events`: (event name, data) pairs until the other llws shuts down.
    pub async fn events(
        &self,
    ) -> Result<impl futures::Stream<Item = Result<(String, String), ClientError>>, ClientError>
    {
        self.events_at("/events").await
    }

    /// An SSE stream of the API as (event name, data) pairs.
    async fn events_at(
        &self,
        path: &str,
    ) -> Result<impl futures::Stream<Item = Result<(String, String), ClientError>>, ClientError>
    {
        use eventsource_stream::Eventsource;
        use futures::StreamExt;
        let response = self.send(self.request(reqwest::Method::GET, path)).await?;
        if !response.status().is_success() {
            return Err(Self::decode::<StatusResponse>(response)
                .await
                .err()
                .unwrap_or_else(|| ClientError::Other("the event stream was refused".into())));
        }
        Ok(bounded_lines(response).eventsource().map(|event| {
            event
                .map(|e| (e.event, e.data))
                .map_err(|e| ClientError::Other(format!("the event stream broke: {e}")))
        }))
    }

    /// `POST /foreign`: replace or adopt the server llws did not start that blocked a
    /// start, waiting for the outcome.
    pub async fn resolve_foreign(
        &self,
        action: crate::server::foreign::ForeignAction,
    ) -> Result<SwitchResponse, ClientError> {
        let request = self
            .request(reqwest::Method::POST, "/foreign")
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::json!({ "action": action.as_str() }).to_string());
        Self::decode(self.send(request).await?).await
    }

    pub async fn stop(&self) -> Result<SwitchResponse, ClientError> {
        Self::decode(
            self.send(self.request(reqwest::Method::POST, "/stop"))
                .await?,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn answer(body: Vec<u8>) -> reqwest::Response {
        reqwest::Response::from(axum::http::Response::new(body))
    }

    /// A broken or hostile llws at the other end cannot make this one read without end:
    /// an answer too large is refused, and so is a stream line too long.
    #[tokio::test]
    async fn answers_and_stream_lines_from_another_llws_are_bounded() {
        let huge = vec![b' '; MAX_BODY + 1];
        let refused = ApiClient::decode::<ModelsResponse>(answer(huge)).await;
        assert!(
            matches!(&refused, Err(ClientError::Other(m)) if m.contains("larger than")),
            "{refused:?}"
        );
        let fine = ApiClient::decode::<ModelsResponse>(answer(
            br#"{"models": [], "config_errors": []}"#.to_vec(),
        ))
        .await;
        assert!(fine.is_ok(), "{fine:?}");

        let mut line = b"data: ".to_vec();
        line.extend(vec![b'x'; MAX_SSE_LINE + 1]);
        let items: Vec<_> = bounded_lines(answer(line)).collect().await;
        assert!(matches!(items.last(), Some(Err(StreamError::TooLong))));
        let short: Vec<_> = bounded_lines(answer(b"event: line\ndata: {}\n\n".to_vec()))
            .collect()
            .await;
        assert!(short.iter().all(Result::is_ok));
    }
}
