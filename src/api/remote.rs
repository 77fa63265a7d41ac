//! A client of another llws: when that llws owns the server (server/owner.rs), this one
//! runs as its client. It gets an ordinary [`ControllerHandle`], so the workspace needs no
//! second code path: state, events, the log and load facts come from the owner's
//! `/events` and `/logs/stream`, and switches, starts and stops go to its API. Nothing
//! here ever touches the server itself.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::broadcast;

use super::client::{ApiClient, ClientError, LogStreamItem};
use super::types::{
    FailureInfo, NoticeEvent, StatusResponse, StepEvent, SwitchResponse, TimingsInfo,
};
use crate::config::Settings;
use crate::server::handle::{Command, RemoteCall, RemoteDriver, Request, Shutdown};
use crate::server::logs::{LogRing, Source};
use crate::server::state::{Event, Failure, ServerState, Step, SwitchTimings};
use crate::server::{ControlError, ControllerHandle, Outcome};

/// How long to wait before reconnecting to an owner that stopped answering.
const RECONNECT: Duration = Duration::from_secs(1);
/// Lines of the owner's log taken on connecting.
const LOG_HISTORY: usize = 2000;

/// A handle whose commands and state go through the llws at `url`. Call inside a tokio
/// runtime; the driver ends when the handle is shut down.
pub fn connect(settings: Arc<Settings>, url: &str) -> ControllerHandle {
    let (handle, driver) = ControllerHandle::remote(settings.clone(), settings.backend);
    driver.logs.note(format!(
        "llws: another llws owns this server; this one is its client (API {url}): switches and stops go through it"
    ));
    tokio::spawn(drive(driver, settings.api.token.clone(), url.to_string()));
    handle
}

async fn drive(mut d: RemoteDriver, token: String, url: String) {
    // Commands wait for a whole switch: only the connection is bounded.
    let commands = Arc::new(ApiClient::at(&url, &token, None));
    let streams = ApiClient::at(&url, &token, None);
    let events = tokio::spawn(follow_events(
        ApiClient::at(&url, &token, None),
        d.state.clone(),
        d.events.clone(),
        d.load_facts.clone(),
        d.timings.clone(),
        d.config_errors.clone(),
        d.logs.clone(),
    ));
    let logs = tokio::spawn(follow_log(streams, d.logs.clone()));
    let mut reload = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            request = d.commands.recv() => {
                let Some(request) = request else { break };
                let client = commands.clone();
                let state = d.state.borrow().clone();
                tokio::spawn(run(client, request, state));
            }
            call = d.calls.recv() => {
                if let Some(RemoteCall::KeepWaiting) = call {
                    let client = commands.clone();
                    let ring = d.logs.clone();
                    tokio::spawn(async move {
                        if let Err(e) = client.keep_waiting().await {
                            ring.note(format!("llws: keep waiting, through the owner: {e}"));
                        }
                    });
                }
            }
            how = d.shutdown.recv() => {
                // A client leaves the owner's server as it is, whatever on_exit says.
                if let Some((Shutdown::Stop | Shutdown::Keep, done)) = how {
                    let _ = done.send(());
                }
                break;
            }
            _ = reload.tick() => {
                d.profiles.reload_if_changed();
            }
        }
    }
    events.abort();
    logs.abort();
}

/// Carries out one command through the owner's API and answers it.
async fn run(client: Arc<ApiClient>, request: Request, state: ServerState) {
    let Request {
        command,
        reply,
        _permit: permit,
    } = request;
    let result = match command {
        Command::Switch(id) => answer(client.switch(&id, true).await.and_then(|r| match r {
            super::client::SwitchReply::Done(done) => Ok(*done),
            super::client::SwitchReply::Accepted(_) => Err(ClientError::Other(
                "the switch was accepted without waiting".into(),
            )),
        })),
        Command::Start(id) => answer(client.start(id.as_deref()).await),
        Command::Stop => answer(client.stop().await),
        Command::ResolveForeign(action) => answer(client.resolve_foreign(action).await),
        // The API has no restart: stop, then start the same profile.
        Command::Restart => match state.profile.clone() {
            None => Err(ControlError::NothingToStart),
            Some(id) => match answer(client.stop().await) {
                Ok(_) => answer(client.start(Some(&id)).await),
                Err(e) => Err(e),
            },
        },
    };
    drop(permit);
    let _ = reply.send(result);
}

/// The owner's reply as the outcome a local controller would have given.
fn answer(reply: Result<SwitchResponse, ClientError>) -> Result<Outcome, ControlError> {
    let reply = reply.map_err(|e| match e {
        ClientError::Api { status: 409, body } if body.state.is_some() => ControlError::Busy {
            state: phase(body.state.as_deref().unwrap_or("starting")),
        },
        // A 409 without a state: a replace or adopt the owner refused.
        ClientError::Api { status: 409, body } => ControlError::Foreign(body.error),
        ClientError::Api { status: 404, body } if body.models.is_some() => {
            ControlError::UnknownProfile {
                id: String::new(),
                message: body.error,
            }
        }
        other => ControlError::BackendUnavailable(format!("the owning llws: {other}")),
    })?;
    let profile = reply.model.clone().unwrap_or_default();
    if let ("blocked", Some(foreign)) = (reply.outcome.as_str(), &reply.foreign) {
        return Ok(Outcome::Blocked {
            profile,
            foreign: foreign.to_server(),
        });
    }
    Ok(match reply.outcome.as_str() {
        "running" => Outcome::Running { profile },
        "already_running" => Outcome::AlreadyRunning { profile },
        "stopped" => Outcome::Stopped,
        "cancelled" => Outcome::Cancelled,
        _ => Outcome::Failed {
            profile,
            failure: reply.failure.as_ref().map(failure).unwrap_or(Failure {
                reason: reply.status.clone(),
                exit_code: None,
                signal: None,
                oom_killed: false,
                restart_count: None,
                log_tail: Vec::new(),
            }),
        },
    })
}

fn failure(f: &FailureInfo) -> Failure {
    Failure {
        reason: f.reason.clone(),
        exit_code: f.exit_code,
        signal: f.signal,
        oom_killed: f.oom_killed,
        restart_count: f.restart_count,
        log_tail: f.log_tail.clone(),
    }
}

fn phase(name: &str) -> crate::server::Phase {
    StatusResponse {
        state: name.to_string(),
        ..empty_status()
    }
    .to_server_state()
    .phase
}

fn empty_status() -> StatusResponse {
    serde_json::from_value(serde_json::json!({
        "model": null, "model_name": "", "state": "idle", "status": "", "step": null,
        "switch": null, "failure": null, "running_since_ms": null, "uptime_s": null,
        "server_url": "", "backend": {"kind": "process", "reachable": true, "message": ""},
        "pid": null, "container_id": null, "adopted": false, "last_switch": null
    }))
    .expect("a valid empty status")
}

/// Follows the owner's `/events` into the handle's state and events, reconnecting when it
/// stops answering (and saying so in the state).
async fn follow_events(
    client: ApiClient,
    state: Arc<tokio::sync::watch::Sender<ServerState>>,
    events: broadcast::Sender<Event>,
    facts: tokio::sync::watch::Sender<crate::server::load_facts::LoadFacts>,
    timings: Arc<std::sync::Mutex<crate::server::timings::TimingsStore>>,
    local_errors: Arc<crate::server::state::ConfigErrors>,
    ring: Arc<LogRing>,
) {
    let mut said_gone = false;
    loop {
        if let Ok(stream) = client.events().await {
            said_gone = false;
            let mut stream = std::pin::pin!(stream);
            while let Some(Ok((name, data))) = stream.next().await {
                match name.as_str() {
                    "state" => {
                        let Ok(status) = serde_json::from_str::<StatusResponse>(&data) else {
                            continue;
                        };
                        let mut s = status.to_server_state();
                        for e in local_errors.all() {
                            if !s.config_errors.contains(&e) {
                                s.config_errors.push(e);
                            }
                        }
                        facts.send_replace(status.load.clone().unwrap_or_default());
                        state.send_replace(s.clone());
                        let _ = events.send(Event::State(Box::new(s)));
                    }
                    "step" => {
                        if let Ok(step) = serde_json::from_str::<StepEvent>(&data) {
                            let _ = events.send(Event::Step {
                                profile: step.profile,
                                step: match step.step.as_str() {
                                    "stopping" => Step::Stopping,
                                    "creating" => Step::Creating,
                                    "loading" => Step::Loading,
                                    _ => Step::CheckingFiles,
                                },
                                elapsed_ms: step.elapsed_ms,
                            });
                        }
                    }
                    "switch_finished" => {
                        if let Ok(t) = serde_json::from_str::<TimingsInfo>(&data) {
                            let t = SwitchTimings::from(&t);
                            if let Ok(mut store) = timings.lock() {
                                store.record(t.clone());
                            }
                            let _ = events.send(Event::SwitchFinished(t));
                        }
                    }
                    "notice" => {
                        if let Ok(n) = serde_json::from_str::<NoticeEvent>(&data) {
                            let _ = events.send(Event::Notice { message: n.message });
                        }
                    }
                    _ => {}
                }
            }
        }
        if !said_gone {
            said_gone = true;
            let message = format!(
                "the llws that owns the server ({}) stopped answering; reconnecting",
                client.base_url()
            );
            ring.note(format!("llws: {message}"));
            state.send_modify(|s| {
                s.message = message.clone();
            });
            let _ = events.send(Event::State(Box::new(state.borrow().clone())));
        }
        tokio::time::sleep(RECONNECT).await;
    }
}

/// Follows the owner's server log into the handle's ring.
async fn follow_log(client: ApiClient, ring: Arc<LogRing>) {
    let mut tail = LOG_HISTORY;
    loop {
        if let Ok(stream) = client.follow_logs(tail).await {
            let mut stream = std::pin::pin!(stream);
            while let Some(Ok(item)) = stream.next().await {
                match item {
                    LogStreamItem::Line(line) => {
                        let source = match line.source.as_str() {
                            "stdout" => Source::Stdout,
                            "llws" => Source::Llws,
                            _ => Source::Stderr,
                        };
                        ring.push(source, line.text);
                    }
                    LogStreamItem::Skipped(n) => {
                        ring.note(format!("llws: ({n} log lines of the owner skipped)"))
                    }
                }
            }
        }
        // After a reconnect, only what is new.
        tail = 0;
        tokio::time::sleep(RECONNECT).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owners_answers_become_outcomes() {
        let reply = |outcome: &str| SwitchResponse {
            success: outcome == "running",
            model: Some("a".into()),
            model_name: "A".into(),
            state: "running".into(),
            status: "Ready".into(),
            outcome: outcome.into(),
            failure: None,
            timings: None,
            foreign: None,
        };
        assert_eq!(
            answer(Ok(reply("running"))).unwrap(),
            Outcome::Running {
                profile: "a".into()
            }
        );
        assert_eq!(answer(Ok(reply("stopped"))).unwrap(), Outcome::Stopped);
        assert!(matches!(
            answer(Ok(reply("failed"))).unwrap(),
            Outcome::Failed { .. }
        ));
        // A start a server llws did not start blocked (item 17) comes back as such, and
        // the owner's refusal of an answer as a refusal, not as "busy".
        let container = crate::server::foreign::ForeignServer::Container {
            name: "llama-server".into(),
            id: "abc".into(),
            image: "llws/llama-server:cuda".into(),
            running: true,
            compose_project: Some("llws".into()),
            adoptable: true,
        };
        let mut blocked = reply("blocked");
        blocked.foreign = Some(super::super::types::ForeignInfo::new(&container, "a"));
        assert_eq!(
            answer(Ok(blocked)).unwrap(),
            Outcome::Blocked {
                profile: "a".into(),
                foreign: container
            }
        );
        let refused = ClientError::Api {
            status: 409,
            body: serde_json::from_value(serde_json::json!({"error": "nothing to replace"}))
                .unwrap(),
        };
        assert!(
            matches!(answer(Err(refused)), Err(ControlError::Foreign(m)) if m == "nothing to replace")
        );
        let busy = ClientError::Api {
            status: 409,
            body: Box::new(super::super::types::ErrorResponse {
                state: Some("stopping".into()),
                ..super::super::types::ErrorResponse::new("switch already in progress")
            }),
        };
        assert!(matches!(
            answer(Err(busy)),
            Err(ControlError::Busy {
                state: crate::server::Phase::Stopping
            })
        ));
        assert_eq!(phase("running"), crate::server::Phase::Running);
    }
}
