//! Forwarding: the request (read whole) to the upstream through a keep-alive pool, the
//! answer back frame by frame as it arrives, so server-sent events are never held back.
//! Hop-by-hop headers (RFC 9110 §7.6.1: `Connection` and the headers it names,
//! `Keep-Alive`, `Proxy-Connection`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`) are
//! not forwarded either way; each side's connection is its own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderMap, HeaderName};
use hyper::http::request::Parts;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client as LegacyClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::activity::Tap;
use super::errors::{self, Flavor};
use super::gate::{self, Shared, Ticket};
use super::{Body, BoxError};

pub type Client = LegacyClient<HttpConnector, Full<Bytes>>;

/// A request the server never answered is sent again this many times (it waits for the
/// server again first): a switch can close a pooled connection just as it is used.
const ATTEMPTS: usize = 8;

pub fn client() -> Client {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    LegacyClient::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector)
}

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes the hop-by-hop headers, and those `Connection` names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
}

fn upstream_request(
    parts: &Parts,
    body: &Bytes,
    upstream: &super::Upstream,
) -> Request<Full<Bytes>> {
    let authority = &upstream.authority;
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut request = Request::new(Full::new(body.clone()));
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = format!("http://{authority}{path}")
        .parse()
        .unwrap_or_else(|_| hyper::Uri::from_static("http://127.0.0.1/"));
    let mut headers = parts.headers.clone();
    strip_hop_by_hop(&mut headers);
    headers.remove(HOST);
    if let Some(host) = upstream
        .host
        .as_deref()
        .and_then(|h| hyper::header::HeaderValue::from_str(h).ok())
    {
        headers.insert(HOST, host);
    }
    headers.remove(CONTENT_LENGTH);
    if !body.is_empty() || parts.method.as_str() == "POST" {
        headers.insert(CONTENT_LENGTH, body.len().into());
    }
    *request.headers_mut() = headers;
    request
}

/// Sends the request once a server may take it, and streams the answer back.
pub async fn forward(
    shared: Arc<Shared>,
    parts: Parts,
    body: Bytes,
    target: Option<String>,
    flavor: Flavor,
    mut tap: Tap,
) -> Response<Body> {
    let mut last_error = String::new();
    for attempt in 0..ATTEMPTS {
        let ticket = match gate::acquire(&shared, target.as_deref()).await {
            Ok(ticket) => ticket,
            Err(refused) => {
                tap.finish_refused(refused.status.as_u16());
                return errors::response(flavor, refused.status, &refused.message);
            }
        };
        tap.profile = ticket.profile.clone();
        let upstream = shared.upstream.borrow().clone();
        let request = upstream_request(&parts, &body, &upstream);
        let sent = tokio::select! {
            sent = shared.client.request(request) => sent,
            _ = ticket.cancel.cancelled() => {
                tap.finish_refused(503);
                return errors::response(flavor, StatusCode::SERVICE_UNAVAILABLE, &ticket.reason());
            }
        };
        match sent {
            Ok(response) => return stream_back(response, ticket, flavor, tap),
            Err(e) => {
                last_error = error_chain(&e);
                drop(ticket);
                // Give the controller a moment to notice a server that went away.
                let mut state = shared.ctl.subscribe_state();
                let backoff = Duration::from_millis(50 << attempt.min(4));
                let _ = tokio::time::timeout(backoff, state.changed()).await;
            }
        }
    }
    tap.finish_refused(502);
    errors::response(
        flavor,
        StatusCode::BAD_GATEWAY,
        &format!("llama-server did not answer ({ATTEMPTS} tries): {last_error}"),
    )
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

struct Streaming {
    body: Incoming,
    ticket: Ticket,
    flavor: Flavor,
    sse: bool,
    done: bool,
    tap: Tap,
}

fn stream_back(
    response: Response<Incoming>,
    ticket: Ticket,
    flavor: Flavor,
    mut tap: Tap,
) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    let sse = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    tap.status = parts.status.as_u16();
    tap.stream = sse;
    let state = Streaming {
        body,
        ticket,
        flavor,
        sse,
        done: false,
        tap,
    };
    let frames = futures::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        tokio::select! {
            biased;
            _ = st.ticket.cancel.cancelled() => {
                st.done = true;
                let reason = st.ticket.reason();
                st.tap.finish(Instant::now());
                if st.sse {
                    Some((Ok(Frame::data(errors::sse_event(st.flavor, &reason))), st))
                } else {
                    Some((Err(BoxError::from(reason)), st))
                }
            }
            frame = st.body.frame() => match frame {
                None => {
                    st.tap.finish(Instant::now());
                    None
                }
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        st.tap.data(data);
                    }
                    Some((Ok(frame), st))
                }
                Some(Err(e)) => {
                    st.done = true;
                    st.tap.finish(Instant::now());
                    if st.sse {
                        let message = format!("the server stopped while answering: {e}");
                        Some((Ok(Frame::data(errors::sse_event(st.flavor, &message))), st))
                    } else {
                        Some((Err(BoxError::from(e)), st))
                    }
                }
            }
        }
    });
    Response::from_parts(parts, StreamBody::new(frames).boxed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_stay_behind() {
        let mut h = HeaderMap::new();
        h.insert("connection", "keep-alive, x-private".parse().unwrap());
        h.insert("x-private", "1".parse().unwrap());
        h.insert("keep-alive", "timeout=5".parse().unwrap());
        h.insert("transfer-encoding", "chunked".parse().unwrap());
        h.insert("content-type", "application/json".parse().unwrap());
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key("content-type"));
    }
}
