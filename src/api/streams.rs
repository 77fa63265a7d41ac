//! The caps on long-lived streams (`/events`, `/logs/stream`, and later ones): a total and
//! one per client address. A stream never holds one of the connection slots kept for short
//! requests (the listener's cap): it gives its slot back when it opens, so any number of
//! open streams cannot keep `GET /status` or `POST /switch` out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use tokio::sync::OwnedSemaphorePermit;

use super::errors::ApiFailure;

/// What the listener knows about a connection, handed to handlers as a request extension.
#[derive(Clone)]
pub struct Connection {
    pub peer: IpAddr,
    /// The connection's slot among those kept for short requests, while it holds one.
    pub slot: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
}

impl Connection {
    /// Gives the connection's short-request slot back (it is becoming a stream).
    fn release_slot(&self) {
        if let Ok(mut slot) = self.slot.lock() {
            slot.take();
        }
    }
}

#[derive(Clone)]
pub struct Streams {
    inner: Arc<Mutex<Counts>>,
    max_total: usize,
    max_per_client: usize,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

/// One open stream; dropping it (the client went away, the API shut down) frees its place.
pub struct StreamPass {
    streams: Streams,
    peer: Option<IpAddr>,
}

impl Drop for StreamPass {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.streams.inner.lock() {
            counts.total = counts.total.saturating_sub(1);
            if let Some(peer) = self.peer
                && let Some(n) = counts.per_client.get_mut(&peer)
            {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    counts.per_client.remove(&peer);
                }
            }
        }
    }
}

impl Streams {
    pub fn new(max_total: usize, max_per_client: usize) -> Self {
        Self {
            inner: Arc::default(),
            max_total: max_total.max(1),
            max_per_client: max_per_client.max(1),
        }
    }

    /// A place for one more stream from `connection`'s client, or 503 at once. With a
    /// place, the connection's short-request slot is given back.
    pub fn open(&self, connection: Option<&Connection>) -> Result<StreamPass, ApiFailure> {
        let peer = connection.map(|c| c.peer);
        {
            let mut counts = self.inner.lock().map_err(|_| {
                ApiFailure::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            })?;
            if counts.total >= self.max_total {
                return Err(too_many(format!(
                    "too many open streams ({} in all); close one, or raise [api] max_streams",
                    self.max_total
                )));
            }
            if let Some(peer) = peer {
                let mine = counts.per_client.entry(peer).or_default();
                if *mine >= self.max_per_client {
                    return Err(too_many(format!(
                        "too many open streams from {peer} ({}); close one, or raise [api] max_streams_per_client",
                        self.max_per_client
                    )));
                }
                *mine += 1;
            }
            counts.total += 1;
        }
        if let Some(connection) = connection {
            connection.release_slot();
        }
        Ok(StreamPass {
            streams: self.clone(),
            peer,
        })
    }

    /// Streams open now.
    #[cfg(test)]
    pub fn open_count(&self) -> usize {
        self.inner.lock().map(|c| c.total).unwrap_or(0)
    }
}

fn too_many(message: String) -> ApiFailure {
    ApiFailure::new(StatusCode::SERVICE_UNAVAILABLE, message).with_header(header::RETRY_AFTER, "5")
}

/// A stream's response ends its connection: the connection gave its short-request slot
/// back, so it must not carry further requests.
pub fn close_after(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(ip: &str) -> Connection {
        Connection {
            peer: ip.parse().unwrap(),
            slot: Arc::default(),
        }
    }

    #[test]
    fn caps_in_all_and_per_client() {
        let streams = Streams::new(3, 2);
        let a = conn("127.0.0.1");
        let b = conn("127.0.0.2");
        let a1 = streams.open(Some(&a)).unwrap();
        let _a2 = streams.open(Some(&a)).unwrap();
        let refused = streams.open(Some(&a)).err().unwrap();
        assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(refused.body.error.contains("max_streams_per_client"));
        let _b1 = streams.open(Some(&b)).unwrap();
        let refused = streams.open(Some(&b)).err().unwrap();
        assert!(refused.body.error.contains("[api] max_streams"));
        drop(a1);
        assert_eq!(streams.open_count(), 2);
        let _b2 = streams.open(Some(&b)).unwrap();
    }
}
