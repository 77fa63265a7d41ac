//! The accept loop: hyper's HTTP/1 connection driver instead of `axum::serve`, because
//! only it can bound how long a client may take to send its headers. With that, a cap on
//! connections that wait for or carry a short request, and a graceful shutdown, a slow or
//! stalled client costs one slot for a few seconds and never holds up anyone else. Streams
//! give their slot back when they open (streams.rs has their own caps).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::sync::Mutex;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::state::Limits;
use super::streams::Connection;

/// After an accept error (out of file descriptors, mostly), wait this long before the next
/// try instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Raises the soft limit on open files to the hard one (at most 65536): the default soft
/// limit (often 1024) is below what the connection and stream caps allow together.
pub fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            let wanted = limit.rlim_max.min(65_536);
            if limit.rlim_cur < wanted {
                limit.rlim_cur = wanted;
                let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            }
        }
    }
}

pub fn spawn(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(accept_loop(listener, router, limits, shutdown))
}

async fn accept_loop(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        // Also closes idle keep-alive connections: the timer runs while hyper waits for
        // the next request's headers.
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(limits.max_headers)
        .max_header_size(limits.max_header_bytes);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    loop {
        // Over the cap, new connections wait in the kernel's backlog.
        let slot = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(_) => {
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        while connections.try_join_next().is_some() {}
        // Small JSON answers: do not let Nagle hold them back.
        let _ = stream.set_nodelay(true);
        // The slot travels with the connection's requests: a stream hands it back (see
        // streams.rs); otherwise it is freed when the connection closes.
        let info = Connection {
            peer: peer.ip(),
            slot: Arc::new(Mutex::new(Some(slot))),
        };
        let router = router.clone();
        let service = service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(info.clone());
            router.clone().oneshot(request.map(Body::new))
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        connections.spawn(async move {
            let _ = connection.await;
        });
    }
    drop(listener);
    // In-flight requests finish (streams end on the same token); idle connections close.
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(limits.shutdown_grace) => {}
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}
