//! The routes and the layers around them.

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use tower_http::catch_panic::CatchPanicLayer;

use super::auth::{self, Guard};
use super::errors::ApiFailure;
use super::state::AppState;
use super::{handlers, metrics, monitor, openapi, sse};

type Handler = MethodRouter<Arc<AppState>>;

/// Every route: the router is built from this table, and the OpenAPI test holds
/// docs/openapi.json to it, so a route cannot be served without being described.
fn table() -> [(&'static str, &'static str, Handler); 17] {
    [
        ("GET", "/models", get(handlers::models)),
        ("GET", "/status", get(handlers::status)),
        ("POST", "/switch", post(handlers::switch)),
        ("POST", "/start", post(handlers::start)),
        ("POST", "/stop", post(handlers::stop)),
        ("POST", "/keep-waiting", post(handlers::keep_waiting)),
        ("POST", "/foreign", post(handlers::foreign)),
        ("GET", "/events", get(sse::events)),
        ("GET", "/logs", get(handlers::logs)),
        ("GET", "/logs/stream", get(sse::logs_stream)),
        ("GET", "/activity", get(handlers::activity)),
        ("GET", "/activity/stream", get(sse::activity_stream)),
        ("GET", "/monitor", get(monitor::latest)),
        ("GET", "/monitor/stream", get(monitor::stream)),
        ("GET", "/metrics", get(metrics::handler)),
        ("GET", "/health", get(handlers::health)),
        ("GET", "/openapi.json", get(openapi::handler)),
    ]
}

/// Every route the API serves, as (method, path).
pub fn routes() -> Vec<(&'static str, &'static str)> {
    table().into_iter().map(|(m, p, _)| (m, p)).collect()
}

pub fn router(state: Arc<AppState>, guard: Arc<Guard>) -> Router {
    let mut app = Router::new();
    for (_, path, handler) in table() {
        app = app.route(path, handler);
    }
    app.fallback(|| async { ApiFailure::not_found() })
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
