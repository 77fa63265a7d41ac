//! Server-sent events: `/events` (state changes, switch steps, timings, notices) and
//! `/logs/stream` (the server log, history first); `/monitor/stream` (monitor.rs) uses the
//! same framing. Both end when the API shuts down, so a
//! graceful shutdown is not held up by an open stream, and both tell a client that read
//! too slowly how much it missed instead of silently skipping.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream, StreamExt};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::errors::ApiFailure;
use super::query::query_value;
use super::state::AppState;
use super::streams::{Connection, StreamPass, close_after};
use super::types::{LogLineInfo, NoticeEvent, SkippedEvent, StepEvent, TimingsInfo};
use crate::server::state::Event;

pub(super) fn json_event<T: serde::Serialize>(name: &str, payload: &T) -> SseEvent {
    SseEvent::default()
        .event(name)
        .json_data(payload)
        // Our payloads always serialise; an empty event is the harmless fallback.
        .unwrap_or_else(|_| SseEvent::default().event(name))
}

/// The stream's place (see `streams.rs`) lives as long as the stream.
pub(super) fn respond<S>(app: &AppState, events: S, pass: StreamPass) -> Response
where
    S: Stream<Item = SseEvent> + Send + 'static,
{
    let stop = app.shutdown.clone().cancelled_owned();
    let events = events.take_until(stop).map(move |event| {
        let _held = &pass;
        Ok::<_, Infallible>(event)
    });
    close_after(
        Sse::new(events)
            .keep_alive(KeepAlive::default())
            .into_response(),
    )
}

/// `GET /events`: the current state first, then every controller event.
pub async fn events(
    State(app): State<Arc<AppState>>,
    connection: Option<Extension<Connection>>,
) -> Result<Response, ApiFailure> {
    let pass = app.streams.open(connection.as_deref())?;
    // Subscribe before reading the state, so nothing falls between the two.
    let rx = app.ctl.subscribe_events();
    let first = json_event("state", &app.status());
    let app_for_stream = app.clone();
    let rest = BroadcastStream::new(rx).flat_map(move |item| {
        let events = match item {
            Ok(event) => vec![controller_event(&app_for_stream, &event)],
            // The state events in the gap are lost: say how many, then the state now.
            Err(BroadcastStreamRecvError::Lagged(n)) => vec![
                json_event("lagged", &SkippedEvent { skipped: n }),
                json_event("state", &app_for_stream.status()),
            ],
        };
        stream::iter(events)
    });
    Ok(respond(
        &app,
        stream::once(async move { first }).chain(rest),
        pass,
    ))
}

fn controller_event(app: &AppState, event: &Event) -> SseEvent {
    match event {
        // The same shape as GET /status (with elapsed time and progress filled in), of
        // the state the event carries: a reader that falls behind must not see the
        // latest state twice instead of each one once.
        Event::State(state) => json_event("state", &app.status_of(state)),
        Event::Step { .. } => json_event(
            "step",
            &StepEvent::from_event(event).expect("a step event has a step payload"),
        ),
        Event::SwitchFinished(t) => json_event("switch_finished", &TimingsInfo::from(t)),
        Event::Notice { message } => json_event(
            "notice",
            &NoticeEvent {
                message: message.clone(),
            },
        ),
    }
}

/// `GET /logs/stream[?no-history][&tail=N]`: the kept lines, then new ones as they come.
/// `GET /activity/stream`: each request through the router as it ends.
pub async fn activity_stream(
    State(app): State<Arc<AppState>>,
    connection: Option<Extension<Connection>>,
) -> Result<Response, ApiFailure> {
    let pass = app.streams.open(connection.as_deref())?;
    // With the router off nothing is recorded: a stream that stays quiet.
    let activity = match &app.router {
        Some(router) => router.activity().clone(),
        None => std::sync::Arc::new(crate::router::activity::Activity::new(1)),
    };
    let rx = activity.subscribe();
    let live = BroadcastStream::new(rx).map(move |item| {
        // The sender lives as long as the stream.
        let _sender = &activity;
        match item {
            Ok(record) => json_event("request", &record),
            Err(BroadcastStreamRecvError::Lagged(n)) => {
                json_event("skipped", &SkippedEvent { skipped: n })
            }
        }
    });
    Ok(respond(&app, live, pass))
}

pub async fn logs_stream(
    State(app): State<Arc<AppState>>,
    connection: Option<Extension<Connection>>,
    uri: Uri,
) -> Result<Response, ApiFailure> {
    let tail = match query_value(&uri, "tail") {
        None => None,
        Some(v) => Some(v.parse::<usize>().map_err(|_| {
            ApiFailure::new(StatusCode::BAD_REQUEST, "tail must be a number of lines")
        })?),
    };
    let pass = app.streams.open(connection.as_deref())?;
    let ring = app.ctl.logs();
    let (history, rx) = if query_value(&uri, "no-history").is_some() {
        (Vec::new(), ring.subscribe())
    } else {
        let (mut history, rx) = ring.subscribe_with_history();
        if let Some(n) = tail {
            history.drain(..history.len().saturating_sub(n));
        }
        (history, rx)
    };
    let line_event = |line: &crate::server::logs::LogLine| {
        json_event("line", &LogLineInfo::from(line)).id(line.seq.to_string())
    };
    // Each history line becomes an event only when the client is ready for it: a slow
    // reader (or many readers) must not make llws build thousands of events up front.
    let history = stream::iter(history).map(move |line| line_event(&line));
    let live = BroadcastStream::new(rx).map(move |item| match item {
        Ok(line) => line_event(&line),
        Err(BroadcastStreamRecvError::Lagged(n)) => {
            json_event("skipped", &SkippedEvent { skipped: n })
        }
    });
    Ok(respond(&app, history.chain(live), pass))
}
