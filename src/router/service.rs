//! One request through the router: the guard, the router's own routes, the body read whole
//! (bounded), follow mode's choice, then the proxy.

use std::sync::Arc;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::activity::Tap;
use super::errors::{self, Flavor};
use super::gate::Shared;
use super::{Body, follow, full, models, proxy};
use crate::server::state::Phase;

pub async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Response<Body> {
    let cors = shared.guard.cors_origin(request.headers());
    let mut response = route(shared, request, cors.is_some()).await;
    if let Some(origin) = cors
        && let Ok(value) = HeaderValue::from_str(&origin)
    {
        let h = response.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    response
}

async fn route(shared: Arc<Shared>, request: Request<Incoming>, cors: bool) -> Response<Body> {
    let path = request.uri().path().to_string();
    let flavor = Flavor::of(&path);
    if let Err(refusal) = shared.guard.check(request.headers()) {
        return errors::response(flavor, refusal.status, &refusal.message);
    }
    if cors && request.method() == Method::OPTIONS {
        return preflight(&request);
    }
    match (request.method(), path.as_str()) {
        (&Method::GET, "/health") => return health(&shared),
        (&Method::GET, "/v1/models") => return models::answer(&shared, request.headers()),
        _ => {}
    }
    let (parts, body) = request.into_parts();
    let max = (shared.settings.router.max_body_mb as usize) << 20;
    let body = match Limited::new(body, max).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let too_large = e
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            return if too_large {
                errors::response(
                    flavor,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!(
                        "the request body is over [router] max_body_mb ({} MiB)",
                        shared.settings.router.max_body_mb
                    ),
                )
            } else {
                errors::response(
                    flavor,
                    StatusCode::BAD_REQUEST,
                    &format!("the request body could not be read: {e}"),
                )
            };
        }
    };
    let model = (parts.method == Method::POST)
        .then(|| follow::model_field(&body))
        .flatten();
    shared.last_request_ms.store(
        crate::server::state::now_ms(),
        std::sync::atomic::Ordering::Relaxed,
    );
    let target = follow::target(&shared, model.as_deref());
    let tap = Tap::new(shared.activity.clone(), parts.method.as_str(), &path, model);
    proxy::forward(shared, parts, body, target, flavor, tap).await
}

/// `/health` answers at once, in llama-server's shape: 200 while a model runs (or one was
/// unloaded for idleness, which the next request loads), else 503 "Loading model".
fn health(shared: &Shared) -> Response<Body> {
    let state = shared.ctl.state();
    if state.phase == Phase::Running || shared.unloaded_idle().is_some() {
        let mut r = Response::new(full(r#"{"status":"ok"}"#));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return r;
    }
    let message = match state.phase {
        Phase::Starting | Phase::Stopping => "Loading model",
        _ => "No model is running",
    };
    errors::response(Flavor::OpenAi, StatusCode::SERVICE_UNAVAILABLE, message)
}

fn preflight(request: &Request<Incoming>) -> Response<Body> {
    let mut r = Response::new(full(""));
    *r.status_mut() = StatusCode::NO_CONTENT;
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    if let Some(asked) = request
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
    {
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
    }
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    r
}
