//! The routes, the state they share, and the layers around them.

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;

use super::auth::{self, Guard};
use super::errors::ApiFailure;
use super::{Limits, handlers, metrics, openapi, sse};
use crate::monitor::MonitorHandle;
use crate::server::ControllerHandle;

/// Every route as (method, path): the single list the OpenAPI test holds both the router
/// and docs/openapi.json to.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/models"),
    ("GET", "/status"),
    ("POST", "/switch"),
    ("POST", "/start"),
    ("POST", "/stop"),
    ("GET", "/events"),
    ("GET", "/logs"),
    ("GET", "/logs/stream"),
    ("GET", "/metrics"),
    ("GET", "/health"),
    ("GET", "/openapi.json"),
];

/// What every handler reads.
pub struct AppState {
    pub ctl: ControllerHandle,
    pub monitor: Option<MonitorHandle>,
    pub limits: Limits,
    /// Cancelled when the API shuts down: streams end and waiting switches answer 503.
    pub shutdown: CancellationToken,
    /// llama-server's address, for `/status`.
    pub server_url: String,
}

pub fn router(state: Arc<AppState>, guard: Arc<Guard>) -> Router {
    Router::new()
        .route("/models", get(handlers::models))
        .route("/status", get(handlers::status))
        .route("/switch", post(handlers::switch))
        .route("/start", post(handlers::start))
        .route("/stop", post(handlers::stop))
        .route("/events", get(sse::events))
        .route("/logs", get(handlers::logs))
        .route("/logs/stream", get(sse::logs_stream))
        .route("/metrics", get(metrics::handler))
        .route("/health", get(handlers::health))
        .route("/openapi.json", get(openapi::handler))
        .fallback(|| async { ApiFailure::not_found() })
        // axum adds the `Allow` header to this answer.
        .method_not_allowed_fallback(|| async { ApiFailure::method_not_allowed() })
        .with_state(state)
        // The guard runs before routing, so unknown paths are refused the same way.
        .layer(middleware::from_fn_with_state(guard, auth::guard))
        .layer(CatchPanicLayer::custom(panic_response))
}

/// A bug must cost one request, not the API: a JSON 500 instead of a dropped connection.
fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let mut response =
        ApiFailure::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
