//! `GET /monitor` (the latest GPU and system sample) and `GET /monitor/stream` (one SSE
//! event per sample, at the sampler's cadence): the monitors of a headless `llws serve`,
//! for a workspace or a script on another machine. The JSON is `llws monitor --json`'s.

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use futures::StreamExt;
use tokio_stream::wrappers::WatchStream;

use super::errors::{ApiFailure, json_response};
use super::sse::{json_event, respond};
use super::state::AppState;
use super::streams::Connection;
use crate::monitor::{GpuState, MonitorHandle, MonitorReport};

/// How long `GET /monitor` waits for the first sample of a llws that has just started
/// (the first CPU figures need two readings 250 ms apart; NVML answers in milliseconds).
const FIRST_SAMPLE_WAIT: Duration = Duration::from_secs(2);

fn monitors(app: &AppState) -> Result<MonitorHandle, ApiFailure> {
    app.monitor.clone().ok_or_else(|| {
        ApiFailure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "this llws runs no monitors (it is a client of another llws, or was started without them); ask the llws that owns the server",
        )
    })
}

/// `GET /monitor`: the latest sample; right after start, the first one (up to 2 s).
pub async fn latest(State(app): State<Arc<AppState>>) -> Result<Response, ApiFailure> {
    let monitor = monitors(&app)?;
    let (mut gpu, mut system) = (monitor.gpu.clone(), monitor.system.clone());
    let _ = tokio::time::timeout(FIRST_SAMPLE_WAIT, async {
        let _ = gpu.wait_for(|g| !matches!(g, GpuState::Waiting)).await;
        let _ = system.wait_for(|s| s.taken_at.is_some()).await;
    })
    .await;
    let (gpu, system) = monitor.latest();
    Ok(json_response(
        StatusCode::OK,
        &MonitorReport::new(&gpu, &system),
    ))
}

/// `GET /monitor/stream`: `event: sample` with the latest sample as soon as there is one,
/// then one per system sample (the GPU's are taken at the same cadence; each event carries
/// the newest of both). A slow reader gets the newest sample, never a backlog.
pub async fn stream(
    State(app): State<Arc<AppState>>,
    connection: Option<Extension<Connection>>,
) -> Result<Response, ApiFailure> {
    let monitor = monitors(&app)?;
    let pass = app.streams.open(connection.as_deref())?;
    let gpu = monitor.gpu.clone();
    let samples = WatchStream::new(monitor.system.clone())
        .filter(|system| std::future::ready(system.taken_at.is_some()))
        .map(move |system| {
            // Keeps the samplers alive while the stream lasts.
            let _held = &monitor;
            let gpu = gpu.borrow().clone();
            json_event("sample", &MonitorReport::new(&gpu, &system))
        });
    Ok(respond(&app, samples, pass))
}
