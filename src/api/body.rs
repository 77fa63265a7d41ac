//! Request bodies: read within a size and time limit, then taken apart by hand so every
//! malformed body gets the original's exact 400 (axum's `Json` extractor answers in plain
//! text and insists on a Content-Type; curl's `-d` sends a form type).

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use futures::StreamExt;

use super::errors::ApiFailure;

/// A body over the limit is read and dropped up to this much, so the client (which is
/// often still sending) gets its 413 instead of a reset connection.
const DRAIN_LIMIT: usize = 8 * 1024 * 1024;

/// The whole body, or 413 / 408.
pub async fn read(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, ApiFailure> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let too_large = || {
        ApiFailure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than {} KiB", limit / 1024),
        )
    };
    if declared.is_some_and(|n| n > limit as u64) {
        // Said too large up front: answer now, not after waiting for a body that may
        // never come (`Content-Length: 99999999999` got a 408 after 10 s). The body is
        // not read, so the connection cannot be reused.
        return Err(too_large().with_header(header::CONNECTION, "close"));
    }
    let mut stream = body.into_data_stream();
    let read_all = async {
        let mut buf = Vec::new();
        let mut over = false;
        let mut seen = 0usize;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|_| {
                ApiFailure::new(StatusCode::BAD_REQUEST, "the request body was cut off")
            })?;
            seen += chunk.len();
            if seen > limit {
                over = true;
            }
            if over {
                buf = Vec::new();
                if seen > DRAIN_LIMIT {
                    break;
                }
            } else {
                buf.extend_from_slice(&chunk);
            }
        }
        if over {
            Err(too_large())
        } else {
            Ok(Bytes::from(buf))
        }
    };
    match tokio::time::timeout(timeout, read_all).await {
        Ok(result) => result,
        Err(_) => Err(ApiFailure::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {} s",
                timeout.as_secs()
            ),
        )),
    }
}

/// The `model` of a `{"model": "ID"}` body. An empty body, `{}` or an empty model is
/// "missing" (400) when `required`, and `None` otherwise.
pub fn model(bytes: &[u8], required: bool) -> Result<Option<String>, ApiFailure> {
    let missing = || {
        if required {
            Err(ApiFailure::missing_model())
        } else {
            Ok(None)
        }
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return missing();
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|_| ApiFailure::invalid_json())?;
    let Some(object) = value.as_object() else {
        return Err(ApiFailure::not_an_object());
    };
    match object.get("model") {
        None | Some(serde_json::Value::Null) => missing(),
        Some(serde_json::Value::String(s)) if s.is_empty() => missing(),
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiFailure::new(
            StatusCode::BAD_REQUEST,
            "\"model\" must be a string (a profile id)",
        )),
    }
}

/// The `action` of a `POST /foreign` body: `{"action": "replace"}` or `{"action": "adopt"}`.
pub fn foreign_action(bytes: &[u8]) -> Result<crate::server::foreign::ForeignAction, ApiFailure> {
    let missing = || {
        ApiFailure::new(
            StatusCode::BAD_REQUEST,
            "missing \"action\" field: \"replace\" or \"adopt\"",
        )
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(missing());
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|_| ApiFailure::invalid_json())?;
    let Some(object) = value.as_object() else {
        return Err(ApiFailure::not_an_object());
    };
    match object.get("action") {
        None | Some(serde_json::Value::Null) => Err(missing()),
        Some(serde_json::Value::String(s)) => s
            .parse()
            .map_err(|e: String| ApiFailure::new(StatusCode::BAD_REQUEST, e)),
        Some(_) => Err(ApiFailure::new(
            StatusCode::BAD_REQUEST,
            "\"action\" must be a string: \"replace\" or \"adopt\"",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(bytes: &str, required: bool) -> (u16, String) {
        let f = model(bytes.as_bytes(), required).unwrap_err();
        (f.status.as_u16(), f.body.error)
    }

    #[test]
    fn a_foreign_action_body() {
        use crate::server::foreign::ForeignAction;
        assert_eq!(
            foreign_action(br#"{"action":"adopt"}"#).unwrap(),
            ForeignAction::Adopt
        );
        assert_eq!(
            foreign_action(br#"{"action":"replace"}"#).unwrap(),
            ForeignAction::Replace
        );
        for (bad, says) in [
            ("", "missing \"action\""),
            ("{}", "missing \"action\""),
            (r#"{"action":"kill"}"#, "unknown action `kill`"),
            (r#"{"action":1}"#, "must be a string"),
            ("[1]", "object"),
        ] {
            let e = foreign_action(bad.as_bytes()).unwrap_err();
            assert_eq!(e.status.as_u16(), 400, "{bad}");
            assert!(e.body.error.contains(says), "{bad}: {}", e.body.error);
        }
    }

    #[test]
    fn the_originals_messages_for_each_bad_body() {
        assert_eq!(err("{nope", true), (400, "invalid JSON".into()));
        assert_eq!(err("", true), (400, "missing \"model\" field".into()));
        assert_eq!(err("  \n", true), (400, "missing \"model\" field".into()));
        assert_eq!(err("{}", true), (400, "missing \"model\" field".into()));
        assert_eq!(
            err("{\"model\":\"\"}", true),
            (400, "missing \"model\" field".into())
        );
        assert_eq!(
            err("{\"model\":null}", true),
            (400, "missing \"model\" field".into())
        );
        // The original dropped the connection on these.
        for body in ["[1]", "1", "\"x\"", "null", "true"] {
            assert_eq!(err(body, true).0, 400, "{body}");
        }
        assert_eq!(err("{\"model\":5}", true).0, 400);
        assert_eq!(
            model(b"{\"model\":\"a\",\"x\":1}", true).unwrap(),
            Some("a".into())
        );
    }

    #[test]
    fn optional_model_for_start() {
        assert_eq!(model(b"", false).unwrap(), None);
        assert_eq!(model(b"{}", false).unwrap(), None);
        assert_eq!(
            model(b"{\"model\":\"b\"}", false).unwrap(),
            Some("b".into())
        );
        assert_eq!(err("[]", false).0, 400);
    }

    #[tokio::test]
    async fn size_limit() {
        let ok = read(
            Body::from("{\"model\":\"a\"}"),
            &HeaderMap::new(),
            64,
            Duration::from_secs(1),
        )
        .await
        .unwrap();
        assert_eq!(&ok[..], b"{\"model\":\"a\"}");
        let big = read(
            Body::from(vec![b'x'; 65]),
            &HeaderMap::new(),
            64,
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
        assert_eq!(big.status.as_u16(), 413);
    }

    #[tokio::test]
    async fn a_declared_size_over_the_limit_is_refused_without_waiting() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, "99999999999".parse().unwrap());
        // A body that never arrives: the answer must not wait for it.
        let (_tx, body) = futures::channel::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
        let started = std::time::Instant::now();
        let refused = read(
            Body::from_stream(body),
            &headers,
            64,
            Duration::from_secs(10),
        )
        .await
        .unwrap_err();
        assert_eq!(refused.status.as_u16(), 413);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
