//! Every error the API answers: a status code and `{"error": "..."}`, built in one place
//! so the messages the original's clients match on (`invalid JSON`, `missing "model"
//! field`, `unknown model: ID`, `not found`, `switch already in progress`) cannot drift.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::types::ErrorResponse;
use crate::server::ControlError;
use crate::server::profiles_store::ProfilesView;

/// A refusal or failure, ready to send.
#[derive(Debug, Clone)]
pub struct ApiFailure {
    pub status: StatusCode,
    /// Boxed, as the header: a `Result<_, ApiFailure>` stays small on the happy path.
    pub body: Box<ErrorResponse>,
    /// `WWW-Authenticate` for 401.
    pub header: Option<Box<(header::HeaderName, HeaderValue)>>,
}

impl ApiFailure {
    pub fn new(status: StatusCode, error: impl Into<String>) -> Self {
        Self {
            status,
            body: Box::new(ErrorResponse::new(error)),
            header: None,
        }
    }

    pub fn invalid_json() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid JSON")
    }

    pub fn missing_model() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "missing \"model\" field")
    }

    pub fn not_an_object() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object such as {\"model\":\"ID\"}",
        )
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not found")
    }

    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
    }

    pub fn unknown_model(id: &str, profiles: &ProfilesView) -> Self {
        let mut failure = Self::new(StatusCode::NOT_FOUND, format!("unknown model: {id}"));
        failure.body.models = Some(profiles.set.profiles.iter().map(|p| p.id.clone()).collect());
        failure
    }

    pub fn busy(state: &str) -> Self {
        let mut failure = Self::new(StatusCode::CONFLICT, "switch already in progress");
        failure.body.state = Some(state.to_string());
        failure
    }

    pub fn shutting_down() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "llws is shutting down")
    }

    pub fn with_header(mut self, name: header::HeaderName, value: &'static str) -> Self {
        self.header = Some(Box::new((name, HeaderValue::from_static(value))));
        self
    }

    /// The answer to a command the controller refused or could not carry out.
    pub fn from_control(error: ControlError, profiles: &ProfilesView) -> Self {
        match error {
            ControlError::UnknownProfile { id, .. } => Self::unknown_model(&id, profiles),
            ControlError::Busy { state } => Self::busy(state.as_str()),
            ControlError::ModelFiles(e) => {
                // The switch was refused before anything was touched: say which file.
                let mut failure = Self::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string());
                failure.body.file = Some(e.path().display().to_string());
                failure
            }
            ControlError::Config(message) => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("models.conf cannot be loaded: {message}"),
            ),
            ControlError::BackendUnavailable(message) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
            }
            ControlError::NothingToStart => Self::new(
                StatusCode::BAD_REQUEST,
                "there is no profile to start yet: name one, as {\"model\":\"ID\"}",
            ),
            ControlError::ShuttingDown => Self::shutting_down(),
            ControlError::NotLoading { state } => {
                let mut failure = Self::new(StatusCode::CONFLICT, "no model is loading");
                failure.body.state = Some(state.as_str().to_string());
                failure
            }
            ControlError::NothingForeign => Self::new(
                StatusCode::CONFLICT,
                ControlError::NothingForeign.to_string(),
            ),
            ControlError::Foreign(message) => Self::new(StatusCode::CONFLICT, message),
        }
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        let mut response = json_response(self.status, &self.body);
        if let Some(header) = self.header {
            let (name, value) = *header;
            response.headers_mut().insert(name, value);
        }
        response
    }
}

/// A JSON reply: indented as the original's were (people read these with curl), with a
/// final newline, and `Content-Type: application/json`.
pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec_pretty(body) {
        Ok(mut bytes) => {
            bytes.push(b'\n');
            (
                status,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                bytes,
            )
                .into_response()
        }
        // Our own types always serialise; this is the last line of defence.
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            "{\"error\":\"internal error\"}\n",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;

    use super::*;
    use crate::model::files::ModelFileError;
    use crate::server::Phase;

    fn view() -> ProfilesView {
        let set = crate::config::profiles::parse(
            "[a]\nMODEL=a.gguf\n[b]\nMODEL=b.gguf\n",
            std::path::Path::new("models.conf"),
        )
        .unwrap();
        ProfilesView {
            set: Arc::new(set),
            error: None,
        }
    }

    fn status_of(e: ControlError) -> (u16, ErrorResponse) {
        let f = ApiFailure::from_control(e, &view());
        (f.status.as_u16(), *f.body)
    }

    #[test]
    fn each_refusal_has_its_code_and_message() {
        let (code, body) = status_of(ControlError::UnknownProfile {
            id: "x".into(),
            message: String::new(),
        });
        assert_eq!((code, body.error.as_str()), (404, "unknown model: x"));
        assert_eq!(body.models, Some(vec!["a".to_string(), "b".to_string()]));

        let (code, body) = status_of(ControlError::Busy {
            state: Phase::Starting,
        });
        assert_eq!(code, 409);
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"error": "switch already in progress", "state": "starting"})
        );

        let (code, body) = status_of(ControlError::ModelFiles(ModelFileError::Missing {
            profile: "a".into(),
            path: PathBuf::from("/m/a.gguf"),
        }));
        assert_eq!(code, 422);
        assert_eq!(body.file.as_deref(), Some("/m/a.gguf"));
        assert!(body.error.contains("/m/a.gguf"), "{}", body.error);

        // The Docker daemon is away: 503, with the message that says what to do.
        let (code, body) = status_of(ControlError::BackendUnavailable(
            "Docker daemon not reachable at unix:///var/run/docker.sock".into(),
        ));
        assert_eq!(code, 503);
        assert!(body.error.starts_with("Docker daemon not reachable"));

        assert_eq!(status_of(ControlError::ShuttingDown).0, 503);
        assert_eq!(status_of(ControlError::NothingToStart).0, 400);
        assert_eq!(status_of(ControlError::Config("bad".into())).0, 500);
    }
}
