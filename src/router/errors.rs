//! Errors in the API's own shape, so a client shows the reason instead of a parse error:
//! Anthropic's error object on `/v1/messages`, llama-server's (OpenAI-like) elsewhere.

use bytes::Bytes;
use hyper::StatusCode;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use serde_json::json;

use super::Body;

/// Which API a path belongs to, for the shape of its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Anthropic,
    OpenAi,
}

impl Flavor {
    pub fn of(path: &str) -> Self {
        if path.starts_with("/v1/messages") {
            Self::Anthropic
        } else {
            Self::OpenAi
        }
    }
}

/// The error object's `type`, by status.
fn kind(flavor: Flavor, status: StatusCode) -> &'static str {
    match (flavor, status.as_u16()) {
        (_, 400 | 413) => "invalid_request_error",
        (_, 401) => "authentication_error",
        (_, 403) => "permission_error",
        (_, 404) => "not_found_error",
        (Flavor::Anthropic, _) => "api_error",
        (Flavor::OpenAi, 503) => "unavailable_error",
        (Flavor::OpenAi, _) => "server_error",
    }
}

/// The JSON error body.
pub fn body(flavor: Flavor, status: StatusCode, message: &str) -> serde_json::Value {
    match flavor {
        Flavor::Anthropic => json!({
            "type": "error",
            "error": {"type": kind(flavor, status), "message": message},
        }),
        Flavor::OpenAi => json!({
            "error": {"code": status.as_u16(), "message": message, "type": kind(flavor, status)},
        }),
    }
}

/// A whole error response.
pub fn response(flavor: Flavor, status: StatusCode, message: &str) -> hyper::Response<Body> {
    let bytes = Bytes::from(body(flavor, status, message).to_string());
    let mut response = hyper::Response::new(super::full(bytes));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The last event of a stream that was cut off (a switch asked for by the user): the
/// client's SSE parser sees an error, not a stream that simply stopped.
pub fn sse_event(flavor: Flavor, message: &str) -> Bytes {
    let data = body(flavor, StatusCode::SERVICE_UNAVAILABLE, message);
    Bytes::from(match flavor {
        Flavor::Anthropic => format!("event: error\ndata: {data}\n\n"),
        Flavor::OpenAi => format!("data: {data}\n\n"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(Flavor::of("/v1/messages"), Flavor::Anthropic);
        assert_eq!(Flavor::of("/v1/messages/count_tokens"), Flavor::Anthropic);
        assert_eq!(Flavor::of("/v1/chat/completions"), Flavor::OpenAi);
        let a = body(Flavor::Anthropic, StatusCode::SERVICE_UNAVAILABLE, "x");
        assert_eq!(a["type"], "error");
        assert_eq!(a["error"]["type"], "api_error");
        let o = body(Flavor::OpenAi, StatusCode::SERVICE_UNAVAILABLE, "x");
        assert_eq!(o["error"]["code"], 503);
        assert_eq!(o["error"]["type"], "unavailable_error");
        let e = sse_event(Flavor::Anthropic, "gone");
        assert!(e.starts_with(b"event: error\ndata: {"));
    }
}
