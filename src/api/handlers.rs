//! The JSON routes. `/status` and `/models` only read the controller's `watch`es, so they
//! answer at once whatever the controller is doing; `/switch`, `/start` and `/stop` hand a
//! command to the controller and (by default) wait for its outcome.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;

use super::body;
use super::errors::{ApiFailure, json_response};
use super::query::query_value;
use super::state::AppState;
use super::types::{
    AcceptedResponse, FailureInfo, ForeignInfo, HealthResponse, KeepWaitingResponse, LogLineInfo,
    LogsResponse, ModelsResponse, StatusResponse, SwitchResponse, TimingsInfo, active_profile,
};
use crate::server::state::{Phase, now_ms};
use crate::server::{ControlError, Outcome};

/// Lines `/logs` returns without `?tail=`.
const DEFAULT_TAIL: usize = 100;
/// Beyond the controller's own limits (health plus stop timeout), what a waiting `/switch`
/// allows for the stop's SIGKILL grace and the answer's way back.
const SWITCH_WAIT_MARGIN: Duration = Duration::from_secs(30);

pub async fn models(State(app): State<Arc<AppState>>) -> Result<Response, ApiFailure> {
    let view = app.ctl.profiles();
    if view.set.profiles.is_empty()
        && let Some(error) = &view.error
    {
        return Err(ApiFailure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("models.conf cannot be loaded: {error}"),
        ));
    }
    let state = app.ctl.state();
    let mut response = ModelsResponse::from_profiles(&view.set, active_profile(&state), true);
    response.config_errors = state.config_errors.clone();
    // The family advice needs each model's GGUF header: read off the runtime's threads.
    let settings = app.ctl.settings().clone();
    let set = view.set.clone();
    let advice = tokio::task::spawn_blocking(move || {
        let (table, _) = crate::model::advice::AdviceTable::load(Some(&settings.ui.client_advice));
        crate::api::types::client_advice(&settings.models_dir, &set, &table)
    })
    .await
    .unwrap_or_default();
    for m in &mut response.models {
        m.client_advice = advice.get(&m.id).cloned();
    }
    Ok(json_response(StatusCode::OK, &response))
}

pub async fn status(State(app): State<Arc<AppState>>) -> Response {
    json_response(StatusCode::OK, &app.status())
}

/// `GET /activity?limit=N`: the router's newest requests, oldest first.
pub async fn activity(State(app): State<Arc<AppState>>, uri: Uri) -> Result<Response, ApiFailure> {
    let limit = match query_value(&uri, "limit") {
        None => 100,
        Some(v) => v.parse::<usize>().map_err(|_| {
            ApiFailure::new(
                StatusCode::BAD_REQUEST,
                "limit must be a number of requests, e.g. /activity?limit=50",
            )
        })?,
    };
    // With the router off nothing is recorded: an empty list.
    let requests = app
        .router
        .as_ref()
        .map(|r| r.activity().recent(limit))
        .unwrap_or_default();
    Ok(json_response(
        StatusCode::OK,
        &crate::api::types::ActivityResponse { requests },
    ))
}

pub async fn health() -> Response {
    json_response(
        StatusCode::OK,
        &HealthResponse {
            status: "ok".into(),
        },
    )
}

pub async fn logs(State(app): State<Arc<AppState>>, uri: Uri) -> Result<Response, ApiFailure> {
    let tail = match query_value(&uri, "tail") {
        None => DEFAULT_TAIL,
        Some(v) => v.parse::<usize>().map_err(|_| {
            ApiFailure::new(
                StatusCode::BAD_REQUEST,
                "tail must be a number of lines, e.g. /logs?tail=200",
            )
        })?,
    };
    let ring = app.ctl.logs();
    let lines = ring.tail(tail).iter().map(LogLineInfo::from).collect();
    Ok(json_response(
        StatusCode::OK,
        &LogsResponse {
            lines,
            next_seq: ring.next_seq(),
        },
    ))
}

/// `POST /switch {"model":"ID"}`: the original's blocking switch, plus `?wait=false`.
pub async fn switch(
    State(app): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    request_body: Body,
) -> Result<Response, ApiFailure> {
    let wait = wants_wait(&uri)?;
    let bytes = app.read_body(&headers, request_body).await?;
    let id = body::model(&bytes, true)?.unwrap_or_default();
    let view = app.ctl.profiles();
    // The original answered an unknown id with 404 before it looked at the lock.
    if view.set.get(&id).is_none() && view.error.is_none() {
        return Err(ApiFailure::unknown_model(&id, &view));
    }
    app.backend_reachable()?;
    let asked_at = now_ms();
    let pending = app
        .ctl
        .begin_switch(&id)
        .map_err(|e| ApiFailure::from_control(e, &view))?;
    if !wait {
        return Ok(app.accepted(Some(id)));
    }
    app.finish(pending.outcome(), asked_at).await
}

/// `POST /start` with an optional `{"model":"ID"}`: the last profile when none is named.
pub async fn start(
    State(app): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    request_body: Body,
) -> Result<Response, ApiFailure> {
    let wait = wants_wait(&uri)?;
    let bytes = app.read_body(&headers, request_body).await?;
    let id = body::model(&bytes, false)?;
    let view = app.ctl.profiles();
    if let Some(id) = &id
        && view.set.get(id).is_none()
        && view.error.is_none()
    {
        return Err(ApiFailure::unknown_model(id, &view));
    }
    app.backend_reachable()?;
    let asked_at = now_ms();
    let pending = app
        .ctl
        .begin_start(id.as_deref())
        .map_err(|e| ApiFailure::from_control(e, &view))?;
    if !wait {
        return Ok(app.accepted(id));
    }
    app.finish(pending.outcome(), asked_at).await
}

/// `POST /stop`: stops the server, cancelling a load in flight.
pub async fn stop(State(app): State<Arc<AppState>>) -> Result<Response, ApiFailure> {
    let ctl = app.ctl.clone();
    let asked_at = now_ms();
    app.finish(async move { ctl.stop().await }, asked_at).await
}

/// `POST /foreign {"action":"replace"|"adopt"}`: the answer to a start that a server llws
/// did not start blocked (inventory item 17; `GET /status`'s `foreign` says what is there
/// and which actions are offered). `replace` stops it (and removes its container), then
/// starts the profile that waited; `adopt` takes its container over as it runs.
pub async fn foreign(
    State(app): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    request_body: Body,
) -> Result<Response, ApiFailure> {
    let wait = wants_wait(&uri)?;
    let bytes = app.read_body(&headers, request_body).await?;
    let action = body::foreign_action(&bytes)?;
    let asked_at = now_ms();
    let target = app.ctl.state().foreign.map(|b| b.profile);
    let pending = app
        .ctl
        .begin_resolve_foreign(action)
        .map_err(|e| ApiFailure::from_control(e, &app.ctl.profiles()))?;
    if !wait {
        return Ok(app.accepted(target));
    }
    app.finish(pending.outcome(), asked_at).await
}

/// `POST /keep-waiting`: the original's "continue anyway", offered before the health wait
/// gives up: pushes the deadline of the load in flight back by `health_timeout_s`.
pub async fn keep_waiting(State(app): State<Arc<AppState>>) -> Result<Response, ApiFailure> {
    let at = app
        .ctl
        .keep_waiting()
        .map_err(|e| ApiFailure::from_control(e, &app.ctl.profiles()))?;
    Ok(json_response(
        StatusCode::OK,
        &KeepWaitingResponse {
            success: true,
            model: app.ctl.state().profile,
            gives_up_at_ms: at,
            gives_up_in_s: at.saturating_sub(now_ms()).div_ceil(1000),
        },
    ))
}

/// `?wait=false` (or `0`, `no`) returns 202 once the switch is accepted; anything but
/// those and `true`/`1`/`yes` is a 400, not a guess.
fn wants_wait(uri: &Uri) -> Result<bool, ApiFailure> {
    match query_value(uri, "wait").as_deref() {
        None | Some("true" | "1" | "yes" | "") => Ok(true),
        Some("false" | "0" | "no") => Ok(false),
        Some(other) => Err(ApiFailure::new(
            StatusCode::BAD_REQUEST,
            format!("wait must be true or false, not `{other}`"),
        )),
    }
}

impl AppState {
    /// A request body within the configured size and time limits.
    async fn read_body(
        &self,
        headers: &HeaderMap,
        request_body: Body,
    ) -> Result<axum::body::Bytes, ApiFailure> {
        body::read(
            request_body,
            headers,
            self.limits.max_body_bytes,
            self.limits.body_read_timeout,
        )
        .await
    }

    pub fn status(&self) -> StatusResponse {
        self.status_of(&self.ctl.state())
    }

    /// `GET /status`'s shape for `state` (an event's), with the timings and load facts now.
    pub fn status_of(&self, state: &crate::server::ServerState) -> StatusResponse {
        let last = self.ctl.last_timings();
        let mut status = StatusResponse::from_state(state, &self.server_url, last.as_ref());
        if matches!(state.phase, Phase::Running | Phase::Starting) {
            status.load = Some(self.ctl.load_facts());
        }
        if let Some(router) = &self.router {
            status.router = Some(router.status());
            // Clients use the router's address, not llama-server's own.
            status.server_url = status
                .router
                .as_ref()
                .map(|r| r.url.clone())
                .unwrap_or_default();
        }
        status
    }

    /// 503 at once when the Docker daemon is away, instead of a switch that fails later.
    fn backend_reachable(&self) -> Result<(), ApiFailure> {
        let backend = self.ctl.state().backend;
        if backend.reachable {
            Ok(())
        } else {
            Err(ApiFailure::from_control(
                ControlError::BackendUnavailable(backend.message),
                &self.ctl.profiles(),
            ))
        }
    }

    fn accepted(&self, target: Option<String>) -> Response {
        let state = self.ctl.state();
        json_response(
            StatusCode::ACCEPTED,
            &AcceptedResponse {
                accepted: true,
                target,
                state: state.phase.as_str().to_string(),
                model: state.profile.clone(),
            },
        )
    }

    /// Waits for a command's outcome (bounded, and cut short by an API shutdown) and
    /// answers it in the original's shape.
    async fn finish(
        &self,
        outcome: impl Future<Output = Result<Outcome, ControlError>>,
        asked_at: u64,
    ) -> Result<Response, ApiFailure> {
        let settings = self.ctl.settings();
        let stop_and_margin =
            Duration::from_secs(settings.server.stop_timeout_s) + SWITCH_WAIT_MARGIN;
        let mut cap = tokio::time::Instant::now()
            + Duration::from_secs(settings.server.health_timeout_s)
            + stop_and_margin;
        let mut outcome = std::pin::pin!(outcome);
        let outcome = loop {
            tokio::select! {
                outcome = &mut outcome => break Some(outcome),
                _ = tokio::time::sleep_until(cap) => {
                    // Someone asked to keep waiting: the load may now run past the cap.
                    match self.ctl.load_deadline() {
                        Some(deadline) if deadline + stop_and_margin > cap.into_std() => {
                            cap = (deadline + stop_and_margin).into();
                        }
                        _ => break None,
                    }
                }
                _ = self.shutdown.cancelled() => return Err(ApiFailure::shutting_down()),
            }
        };
        let mut foreign = None;
        let (success, name, failure) = match outcome {
            Some(Ok(Outcome::Running { .. })) => (true, "running", None),
            Some(Ok(Outcome::AlreadyRunning { .. })) => (true, "already_running", None),
            Some(Ok(Outcome::Stopped)) => (true, "stopped", None),
            Some(Ok(Outcome::Cancelled)) => (false, "cancelled", None),
            Some(Ok(Outcome::Failed { failure, .. })) => {
                (false, "failed", Some(FailureInfo::from(&failure)))
            }
            Some(Ok(Outcome::Blocked {
                profile,
                foreign: server,
            })) => {
                foreign = Some(ForeignInfo::new(&server, &profile));
                let failure = self.ctl.state().failure.as_ref().map(FailureInfo::from);
                (false, "blocked", failure)
            }
            Some(Err(e)) => return Err(ApiFailure::from_control(e, &self.ctl.profiles())),
            None => (false, "timed_out", None),
        };
        let state = self.ctl.state();
        // The record this command left, if it ran a switch.
        let timings = match name {
            "running" | "failed" => self
                .ctl
                .timings()
                .iter()
                .rev()
                .find(|t| t.finished_at_ms >= asked_at)
                .map(TimingsInfo::from),
            _ => None,
        };
        Ok(json_response(
            StatusCode::OK,
            &SwitchResponse {
                success,
                model: state.profile.clone(),
                model_name: state.profile_name.clone().unwrap_or_default(),
                state: state.phase.as_str().to_string(),
                status: state.message.clone(),
                outcome: name.to_string(),
                failure,
                timings,
                foreign,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing() {
        let uri: Uri = "/switch?wait=false".parse().unwrap();
        assert!(!wants_wait(&uri).unwrap());
        assert!(wants_wait(&"/switch".parse().unwrap()).unwrap());
        assert!(wants_wait(&"/switch?wait=true".parse().unwrap()).unwrap());
        let bad = wants_wait(&"/switch?wait=maybe".parse().unwrap()).unwrap_err();
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        assert!(bad.body.error.contains("maybe"), "{}", bad.body.error);
        let uri: Uri = "/logs/stream?no-history&tail=5".parse().unwrap();
        assert_eq!(query_value(&uri, "no-history").as_deref(), Some(""));
        assert_eq!(query_value(&uri, "tail").as_deref(), Some("5"));
        assert_eq!(query_value(&uri, "x"), None);
    }
}
