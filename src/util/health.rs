//! What llama-server's `GET /health` says, as one type for everyone who asks: the
//! controller while a model loads (async, in `server::health`), `llws selftest`, and
//! claude-local before it starts Claude Code (a blocking std probe in `claude::health`,
//! since that small process has no runtime). The two probes differ only in transport;
//! what an answer means is decided here, once.
//!
//! llama-server answers 503 while it loads the model and 200 once it serves (llama-swap
//! #146: `/v1/models` answers too early, so never use it).

/// What `GET /health` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// 200: a model is loaded and the server answers.
    Ready,
    /// 503 (or no answer in time from a listening server): up, loading a model.
    Loading,
    /// Nothing listens there (connection refused), or the name does not resolve.
    NoServer(String),
    /// Something answered, but not like llama-server (another status, garbage).
    Unexpected(String),
}

impl Health {
    /// What an HTTP status from `/health` means.
    pub fn from_status(code: u16) -> Health {
        match code {
            200 => Health::Ready,
            503 => Health::Loading,
            code => Health::Unexpected(format!("HTTP {code}")),
        }
    }

    /// The short phrase shown while waiting.
    pub fn describe(&self) -> String {
        match self {
            Health::Ready => "ready".into(),
            Health::Loading => "loading model…".into(),
            Health::NoServer(why) => format!("no server ({why})"),
            Health::Unexpected(why) => format!("not ready ({why})"),
        }
    }

    /// Whether two results are the same state for the purpose of printing a new line.
    pub fn same_state(&self, other: &Health) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

/// The health URL of a server at `base_url` (`http://127.0.0.1:8080`).
pub fn url(base_url: &str) -> String {
    format!("{}/health", base_url.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_mean_one_thing() {
        assert_eq!(Health::from_status(200), Health::Ready);
        assert_eq!(Health::from_status(503), Health::Loading);
        assert_eq!(
            Health::from_status(404),
            Health::Unexpected("HTTP 404".into())
        );
        assert_eq!(
            url("http://127.0.0.1:8080/"),
            "http://127.0.0.1:8080/health"
        );
    }
}
