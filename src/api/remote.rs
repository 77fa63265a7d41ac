//! A client of another llws: when that llws owns the server (server/owner.rs), this one
//! runs as its client. It gets an ordinary [`ControllerHandle`], so the workspace needs no
//! second code path: state, events, the log and load facts come from the owner's
//! `/events` and `/logs/stream`, and switches, starts and stops go to its API. Nothing
//! here ever touches the server itself.
//!
//! The same client follows another machine's llws (a `[[remote]]`, [`connect_host`]): then
//! its profiles are that llws's (`/models`, read again now and then), its model files are
//! that machine's to check, and its address may come and go with an SSH tunnel.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{broadcast, watch};

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

/// How often another machine's profiles are read again.
const MODELS_EVERY: Duration = Duration::from_secs(3);
/// At most this many of another machine's profiles are taken (a hostile or broken one
/// must not flood the picker).
const MODELS_MAX: usize = 500;

/// Where another llws's API answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// Its base URL here (an SSH tunnel's local end, or the remote's own).
    pub url: String,
    /// The `Host` it knows itself by, when the URL is not its own (a tunnel).
    pub host: Option<String>,
}

/// What a client of another llws knows of it.
#[derive(Clone)]
pub struct Target {
    /// Its address; `None` while there is none (the tunnel is down).
    pub address: watch::Receiver<Option<Address>>,
    pub token: String,
}

impl Target {
    /// A client of the current address, or why there is none.
    fn client(&self) -> Result<ApiClient, ClientError> {
        let Some(address) = self.address.borrow().clone() else {
            return Err(ClientError::Other(
                "it cannot be reached (no tunnel)".into(),
            ));
        };
        // Commands wait for a whole switch: only the connection is bounded.
        let client = ApiClient::at(&address.url, &self.token, None);
        Ok(match &address.host {
            Some(host) => client.with_host(host),
            None => client,
        })
    }

    fn describe(&self) -> String {
        self.address
            .borrow()
            .as_ref()
            .map_or_else(|| "(unreachable)".to_string(), |a| a.url.clone())
    }

    /// Waits until there is an address (at most `RECONNECT`).
    async fn settle(&mut self) {
        if self.address.borrow().is_none() {
            let _ = tokio::time::timeout(RECONNECT, self.address.changed()).await;
        }
    }
}

/// A handle whose commands and state go through the llws at `url`. Call inside a tokio
/// runtime; the driver ends when the handle is shut down.
pub fn connect(settings: Arc<Settings>, url: &str) -> ControllerHandle {
    let (handle, driver) = ControllerHandle::remote(settings.clone(), settings.backend);
    driver.logs.note(format!(
        "llws: another llws owns this server; this one is its client (API {url}): switches and stops go through it"
    ));
    let (_, address) = watch::channel(Some(Address {
        url: url.to_string(),
        host: None,
    }));
    let target = Target {
        address,
        token: settings.api.token.clone(),
    };
    tokio::spawn(drive(driver, target, None));
    handle
}

/// A handle on another machine's llws, the `[[remote]]` named `name`: its state, log and
/// profiles (by its own ids), its commands carried out by its controller. Call inside a
/// tokio runtime; the driver ends when the handle is shut down.
pub fn connect_host(settings: Arc<Settings>, name: &str, target: Target) -> ControllerHandle {
    let store =
        crate::server::profiles_store::ProfileStore::fed(format!("{name}: GET /models").into());
    let logs = crate::server::logs::LogRing::new(settings.server.log_lines);
    let (handle, driver) =
        ControllerHandle::driven(settings.clone(), settings.backend, logs, store);
    driver.logs.note(format!(
        "llws: remote {name} ({}): its server's log follows",
        target.describe()
    ));
    tokio::spawn(drive(driver, target, Some(name.to_string())));
    handle.with_files_elsewhere()
}

async fn drive(mut d: RemoteDriver, target: Target, host: Option<String>) {
    let models = host.as_ref().map(|_| {
        let store = Arc::new(std::mem::replace(
            &mut d.profiles,
            crate::server::profiles_store::ProfileStore::fed(Default::default()),
        ));
        tokio::spawn(follow_models(target.clone(), store))
    });
    let events = tokio::spawn(follow_events(
        target.clone(),
        host.clone(),
        Sinks {
            state: d.state.clone(),
            events: d.events.clone(),
            facts: d.load_facts.clone(),
            timings: d.timings.clone(),
            local_errors: d.config_errors.clone(),
            ring: d.logs.clone(),
        },
    ));
    let logs = tokio::spawn(follow_log(target.clone(), d.logs.clone()));
    let mut reload = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            request = d.commands.recv() => {
                let Some(request) = request else { break };
                let state = d.state.borrow().clone();
                match target.client() {
                    Ok(client) => {
                        tokio::spawn(run(Arc::new(client), request, state));
                    }
                    Err(e) => {
                        let _ = request.reply.send(Err(ControlError::BackendUnavailable(
                            format!("the other llws: {e}"),
                        )));
                    }
                }
            }
            call = d.calls.recv() => {
                if let Some(RemoteCall::KeepWaiting) = call {
                    let client = target.client();
                    let ring = d.logs.clone();
                    tokio::spawn(async move {
                        let answer = match client {
                            Ok(client) => client.keep_waiting().await.map(|_| ()),
                            Err(e) => Err(e),
                        };
                        if let Err(e) = answer {
                            ring.note(format!("llws: keep waiting, through the other llws: {e}"));
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
    if let Some(models) = models {
        models.abort();
    }
}

/// Another machine's GPU and system samples, read from its `GET /monitor/stream` into a
/// [`crate::monitor::MonitorHandle`] of their own (off the render path); `heard` gets the
/// local time (Unix ms) of each sample's arrival, so a reader can tell a remote that went
/// quiet. Reconnects while the handle lives.
pub fn follow_monitor(
    settings: &Settings,
    target: Target,
) -> (crate::monitor::MonitorHandle, watch::Receiver<Option<u64>>) {
    let (handle, feed) = crate::monitor::MonitorHandle::fed(&settings.monitor);
    let (heard_tx, heard) = watch::channel(None);
    tokio::spawn(async move {
        let mut target = target;
        let run = async {
            loop {
                target.settle().await;
                if let Ok(client) = target.client()
                    && let Ok(stream) = client.follow_monitor().await
                {
                    let mut stream = std::pin::pin!(stream);
                    while let Some(Ok((gpu, system))) = stream.next().await {
                        feed.publish(gpu, system);
                        heard_tx.send_replace(Some(crate::server::state::now_ms()));
                    }
                }
                tokio::time::sleep(RECONNECT).await;
            }
        };
        tokio::select! {
            _ = run => {}
            _ = feed.stopped() => {}
        }
    });
    (handle, heard)
}

/// Reads another machine's profiles now and then into `store` (under its own ids); the
/// last good list stays while it does not answer.
async fn follow_models(
    mut target: Target,
    store: Arc<crate::server::profiles_store::ProfileStore>,
) {
    loop {
        target.settle().await;
        if let Ok(client) = target.client()
            && let Ok(reply) = tokio::time::timeout(MODELS_EVERY * 3, client.models()).await
            && let Ok(models) = reply
        {
            store.publish(profiles_of(&models, store.path()));
        }
        tokio::time::sleep(MODELS_EVERY).await;
    }
}

/// Another llws's `/models` as profiles: ids that would not be valid here are left out,
/// and the texts are cleaned ([`crate::config::Profile::served_elsewhere`]).
pub fn profiles_of(
    models: &super::types::ModelsResponse,
    label: &std::path::Path,
) -> crate::server::profiles_store::ProfilesView {
    use crate::config::profiles::is_valid_id;
    let profiles = models
        .models
        .iter()
        .filter(|m| is_valid_id(&m.id) && m.id.len() <= 64)
        .take(MODELS_MAX)
        .map(|m| {
            let ctx = m.ctx_size.parse::<u64>().unwrap_or(0).to_string();
            crate::config::Profile::served_elsewhere(
                m.id.clone(),
                &[
                    ("NAME", &m.name),
                    ("DESCRIPTION", &m.description),
                    ("SPEED", &m.speed),
                    ("CTX_SIZE", &ctx),
                    ("MODEL", &m.model),
                ],
            )
        })
        .collect();
    crate::server::profiles_store::ProfilesView {
        set: Arc::new(crate::config::ProfileSet {
            path: label.to_path_buf(),
            profiles,
            warnings: Vec::new(),
        }),
        error: None,
    }
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
/// Where the other llws's events go: the handle's state, events, load facts, timings, and
/// the log ring for notes; with this llws's own config errors kept beside the other's.
struct Sinks {
    state: Arc<tokio::sync::watch::Sender<ServerState>>,
    events: broadcast::Sender<Event>,
    facts: tokio::sync::watch::Sender<crate::server::load_facts::LoadFacts>,
    timings: Arc<std::sync::Mutex<crate::server::timings::TimingsStore>>,
    local_errors: Arc<crate::server::state::ConfigErrors>,
    ring: Arc<LogRing>,
}

async fn follow_events(mut target: Target, host: Option<String>, sinks: Sinks) {
    let Sinks {
        state,
        events,
        facts,
        timings,
        local_errors,
        ring,
    } = sinks;
    let mut said_gone = false;
    loop {
        target.settle().await;
        let client = target.client();
        if let Ok(client) = &client
            && let Ok(stream) = client.events().await
        {
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
            let message = match &host {
                None => format!(
                    "the llws that owns the server ({}) stopped answering; reconnecting",
                    target.describe()
                ),
                Some(name) => format!(
                    "remote {name} ({}) stopped answering; reconnecting",
                    target.describe()
                ),
            };
            ring.note(format!("llws: {message}"));
            state.send_modify(|s| {
                s.message = message.clone();
                // Another machine that went quiet is not "running" here: its model cannot
                // be reached (requests are refused at once, the status bar says why) until
                // its first state after the reconnect says what it is.
                if host.is_some() && s.phase != crate::server::Phase::Idle {
                    s.phase = crate::server::Phase::Failed;
                    s.switch = None;
                    s.failure = Some(Failure {
                        reason: message.clone(),
                        exit_code: None,
                        signal: None,
                        oom_killed: false,
                        restart_count: None,
                        log_tail: Vec::new(),
                    });
                }
            });
            let _ = events.send(Event::State(Box::new(state.borrow().clone())));
        }
        tokio::time::sleep(RECONNECT).await;
    }
}

/// Follows the owner's server log into the handle's ring.
async fn follow_log(mut target: Target, ring: Arc<LogRing>) {
    // The last line taken: after a reconnect the history comes again, and only what was
    // not taken yet goes into the ring (what was written while the link was down, too).
    // A line with a lower number but a later time is from a new ring: the other llws
    // started again.
    let mut last: Option<(u64, u64)> = None;
    loop {
        target.settle().await;
        if let Ok(client) = target.client()
            && let Ok(stream) = client.follow_logs(LOG_HISTORY).await
        {
            let mut stream = std::pin::pin!(stream);
            while let Some(Ok(item)) = stream.next().await {
                match item {
                    LogStreamItem::Line(line) => {
                        if let Some((seq, time)) = last
                            && line.seq <= seq
                            && line.time_ms <= time
                        {
                            continue;
                        }
                        last = Some((line.seq, line.time_ms));
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
