//! The controller: one task that owns the server's state and the backend.
//!
//! Everyone else holds a [`ControllerHandle`]. A switch
//! from a key press and from `POST /switch` take the same road here: the same file checks,
//! the same timings, the same failure reports.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, broadcast, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::backend::{
    Adopted, Backend, BackendContext, BackendError, BackendEvent, EndedBy, LaunchSpec, ServerExit,
    Started, Stopped,
};
use super::deadline::{self, LoadDeadline};
use super::foreign::{self, Blocked, ForeignAction, ForeignServer};
use super::handle::{Command, ControlError, ControllerHandle, Outcome, Request, Shutdown};
use super::health::{Health, HealthProbe, ProbeBackoff};
use super::load_facts::LoadFacts;
use super::logs::{LogLine, LogRing};
use super::owner::OwnerLock;
use super::profiles_store::ProfileStore;
use super::state::{
    ConfigErrors, Event, Failure, Phase, ServerState, Step, SwitchProgress, SwitchTimings, now_ms,
};
use super::timings::TimingsStore;
use crate::config::Settings;
use crate::config::args::{LaunchContext, server_args};
use crate::model::files as model_files;

/// Lines of log kept in a failure report.
const FAILURE_TAIL_LINES: usize = 30;
/// How often models.conf is checked for edits while llws runs.
const PROFILES_POLL: Duration = Duration::from_secs(2);

/// Builds the backend-independent parts and spawns the controller task, without the owner
/// lock (tests and benchmarks that run their own controllers).
pub fn spawn<B: Backend>(backend: B, settings: Arc<Settings>) -> ControllerHandle {
    spawn_owned(backend, settings, None)
}

/// [`spawn`], holding `owner` (the lock that makes this llws the server's one owner) for
/// as long as the controller runs.
pub fn spawn_owned<B: Backend>(
    backend: B,
    settings: Arc<Settings>,
    owner: Option<OwnerLock>,
) -> ControllerHandle {
    let logs = LogRing::new(settings.server.log_lines);
    let (state_tx, state_rx) = watch::channel(ServerState::initial(backend.kind()));
    let state_tx = Arc::new(state_tx);
    let (events_tx, _) = broadcast::channel(1024);
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (shutdown_tx, shutdown_rx) = mpsc::unbounded_channel();
    let (backend_tx, backend_rx) = mpsc::unbounded_channel();
    let store = ProfileStore::load_with(settings.models_conf.clone(), settings.origin.models_conf);
    let profiles_rx = store.subscribe();
    let config_errors = Arc::new(ConfigErrors::new(state_tx.clone(), events_tx.clone()));
    config_errors.set_models_conf(&settings.models_conf, store.current().error.as_deref());
    let store = Arc::new(Mutex::new(store));
    let (facts_tx, facts_rx) = watch::channel(LoadFacts::default());
    let timings = Arc::new(Mutex::new(TimingsStore::default()));
    let cancel = Arc::new(Mutex::new(CancellationToken::new()));
    let deadline = Arc::new(LoadDeadline::default());
    let handle = ControllerHandle {
        commands: cmd_tx,
        shutdown: shutdown_tx,
        busy: Arc::new(Semaphore::new(1)),
        cancel: cancel.clone(),
        state: state_rx,
        profiles: profiles_rx,
        events: events_tx.clone(),
        logs: logs.clone(),
        timings: timings.clone(),
        settings: settings.clone(),
        load_facts: facts_rx,
        deadline: deadline.clone(),
        config_errors: config_errors.clone(),
        owner: owner.as_ref().map(OwnerLock::record),
        remote: None,
        files_here: true,
    };
    let helpers = vec![
        tokio::spawn(follow_load_facts(logs.clone(), facts_tx)),
        tokio::spawn(watch_models_conf(
            store.clone(),
            logs.clone(),
            events_tx.clone(),
            config_errors,
        )),
    ];
    let health = HealthProbe::new(&settings.server.base_url());
    let controller = Controller {
        backend,
        ctx: BackendContext {
            logs: logs.clone(),
            events: backend_tx,
        },
        backend_events: backend_rx,
        settings,
        store,
        state: state_tx,
        events: events_tx,
        logs,
        timings,
        health,
        generation: 0,
        live_generation: None,
        last_profile: None,
        cancel,
        deadline,
        waiting: None,
        last_wait_allowed: None,
    };
    // The adoption step runs inside the task: the handle is usable at once.
    tokio::spawn(async move {
        controller.run(cmd_rx, shutdown_rx).await;
        for helper in helpers {
            helper.abort();
        }
        // The server is stopped or left for the next llws: the lock goes now, not when
        // the last handle is dropped.
        drop(owner);
    });
    handle
}

/// Keeps the load facts of the current run: reset when a start or switch begins, updated
/// from every line after.
async fn follow_load_facts(logs: Arc<LogRing>, facts: watch::Sender<LoadFacts>) {
    let (history, mut rx) = logs.subscribe_with_history();
    let observe = |text: &str, llws: bool| {
        if llws && (text.starts_with("--- starting ") || text.starts_with("--- switching to ")) {
            facts.send_replace(LoadFacts::default());
        } else if !llws {
            facts.send_if_modified(|f| f.observe(text));
        }
    };
    for line in &history {
        observe(&line.text, line.source == super::logs::Source::Llws);
    }
    loop {
        match rx.recv().await {
            Ok(line) => observe(&line.text, line.source == super::logs::Source::Llws),
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Picks up edits of models.conf while llws runs, so the picker and `GET /models` show
/// them without a switch; a broken edit keeps the last good profiles and says why.
async fn watch_models_conf(
    store: Arc<Mutex<ProfileStore>>,
    logs: Arc<LogRing>,
    events: broadcast::Sender<Event>,
    config_errors: Arc<ConfigErrors>,
) {
    loop {
        tokio::time::sleep(PROFILES_POLL).await;
        let (changed, path) = match store.lock() {
            Ok(mut s) => (s.reload_if_changed(), s.path().to_path_buf()),
            Err(_) => continue,
        };
        let Some(view) = changed else { continue };
        // Until the file is fixed, /status, /models and the status bar say it is broken.
        config_errors.set_models_conf(&path, view.error.as_deref());
        let message = match &view.error {
            None => format!("models.conf reloaded: {} profiles", view.set.profiles.len()),
            Some(e) => format!("models.conf has errors; keeping the last good profiles: {e}"),
        };
        logs.note(format!("llws: {message}"));
        let _ = events.send(Event::Notice { message });
    }
}

struct Controller<B: Backend> {
    backend: B,
    ctx: BackendContext,
    backend_events: mpsc::UnboundedReceiver<BackendEvent>,
    settings: Arc<Settings>,
    store: Arc<Mutex<ProfileStore>>,
    state: Arc<watch::Sender<ServerState>>,
    events: broadcast::Sender<Event>,
    logs: Arc<LogRing>,
    timings: Arc<Mutex<TimingsStore>>,
    health: HealthProbe,
    /// Number of the latest start; exits of older servers are stale.
    generation: u64,
    /// The generation whose exit matters (a server that is loading or running).
    live_generation: Option<u64>,
    last_profile: Option<String>,
    cancel: Arc<Mutex<CancellationToken>>,
    /// When the health wait in flight gives up; handles may push it back.
    deadline: Arc<LoadDeadline>,
    /// A start asked for while the backend (the Docker daemon) could not be reached: kept,
    /// and carried out when it comes back.
    waiting: Option<(String, oneshot::Sender<Result<Outcome, ControlError>>)>,
    /// How long the last health wait was allowed to take (the setting plus any "keep
    /// waiting"), for the message when it gives up.
    last_wait_allowed: Option<Duration>,
}

/// How a load ended.
enum LoadEnd {
    Ready,
    Exited(ServerExit),
    TimedOut,
    Cancelled,
}

impl<B: Backend> Controller<B> {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Request>,
        mut shutdown: mpsc::UnboundedReceiver<(Shutdown, oneshot::Sender<()>)>,
    ) {
        // Commands that arrive meanwhile wait in the channel until adoption is done.
        self.adopt().await;
        loop {
            tokio::select! {
                request = commands.recv() => {
                    let Some(Request { command, reply, _permit: permit }) = request else { break };
                    if let Some(id) = self.needs_backend(&command) {
                        // Nothing can start now: keep the request (not the busy slot, so a
                        // stop or another start is taken meanwhile).
                        drop(permit);
                        self.wait_for_backend(id, reply);
                        continue;
                    }
                    if matches!(command, Command::Stop) {
                        self.drop_waiting("a stop was asked for");
                    }
                    let result = self.handle(command).await;
                    self.reset_cancel();
                    // Free the slot before answering: a caller that sends its next command
                    // the moment it hears back must not be refused as busy.
                    drop(permit);
                    let _ = reply.send(result);
                }
                Some(event) = self.backend_events.recv() => self.on_backend_event(event).await,
                how = shutdown.recv() => {
                    let Some((how, done)) = how else { break };
                    match how {
                        Shutdown::Stop => {
                            if self.live_generation.is_some() || self.state.borrow().phase != Phase::Idle {
                                let name = self.state.borrow().profile_name.clone().unwrap_or_default();
                                self.publish(|s| {
                                    s.phase = Phase::Stopping;
                                    s.message = format!("Stopping {name} (llws is exiting)…");
                                });
                                let grace = self.stop_timeout();
                                if self.stop_server(&name, grace).await.is_ok() {
                                    self.set_idle("Stopped (llws exited)");
                                }
                            }
                        }
                        Shutdown::Keep => {
                            self.backend.detach().await;
                            self.live_generation = None;
                        }
                    }
                    let _ = done.send(());
                    break;
                }
            }
        }
    }

    fn reset_cancel(&self) {
        if let Ok(mut token) = self.cancel.lock()
            && token.is_cancelled()
        {
            *token = CancellationToken::new();
        }
    }

    fn cancel_token(&self) -> CancellationToken {
        self.cancel.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// Applies `change` to the published state; readers hear of it only when it changed
    /// something (an `/events` client got the same state two or three times before).
    fn publish(&self, change: impl FnOnce(&mut ServerState)) {
        let changed = self.state.send_if_modified(|s| {
            let before = s.clone();
            change(s);
            *s != before
        });
        if changed {
            let _ = self
                .events
                .send(Event::State(Box::new(self.state.borrow().clone())));
        }
    }

    /// The log file failed (or works again): said once each way, and kept in the state.
    fn on_log_file(&self, error: Option<String>) {
        match &error {
            Some(e) => self.notice(format!(
                "the server log file cannot be written: {e}; its lines still show here and in /logs, but are not kept on disk"
            )),
            None => self.notice("the server log file can be written again"),
        }
        self.publish(|s| s.log_file_error = error);
    }

    /// The grace of a stop that is not part of a switch (a stop, llws exiting).
    fn stop_timeout(&self) -> Duration {
        Duration::from_secs(self.settings.server.stop_timeout_s)
    }

    /// Stops the backend's server; the log says which signal ended it, and a failure is
    /// reported (log, notice, status line), never dropped.
    async fn stop_server(&mut self, name: &str, grace: Duration) -> Result<Stopped, BackendError> {
        self.live_generation = None;
        match self.backend.stop(grace).await {
            Ok(stopped) => {
                if stopped.ended_by != EndedBy::AlreadyGone {
                    let name = if name.is_empty() { "the server" } else { name };
                    self.logs
                        .note(format!("llws: stopped {name} {}", stopped.describe(grace)));
                }
                Ok(stopped)
            }
            Err(e) => {
                let message = format!("could not stop the server: {e}");
                self.notice(message.clone());
                self.publish(|s| s.message = message);
                Err(e)
            }
        }
    }

    /// The profile a start or switch names, when it cannot run now because the backend
    /// is unreachable.
    fn needs_backend(&self, command: &Command) -> Option<String> {
        if self.state.borrow().backend.reachable {
            return None;
        }
        match command {
            Command::Switch(id) | Command::Start(Some(id)) => Some(id.clone()),
            Command::Start(None) => self.last_profile.clone(),
            Command::Stop | Command::Restart | Command::ResolveForeign(_) => None,
        }
    }

    /// Keeps a start until the backend is back; a newer one replaces it.
    fn wait_for_backend(
        &mut self,
        id: String,
        reply: oneshot::Sender<Result<Outcome, ControlError>>,
    ) {
        self.drop_waiting("another start replaced it");
        let name = self
            .store
            .lock()
            .ok()
            .and_then(|s| {
                s.current()
                    .set
                    .get(&id)
                    .map(|p| p.display_name().to_string())
            })
            .unwrap_or_else(|| id.clone());
        let message = format!(
            "waiting for the {} backend to start {name}: {}",
            self.backend.kind(),
            self.state.borrow().backend.message
        );
        self.notice(message.clone());
        self.publish(|s| {
            s.pending_start = Some(id.clone());
            s.message = message;
        });
        self.waiting = Some((id, reply));
    }

    fn drop_waiting(&mut self, why: &str) {
        if let Some((id, reply)) = self.waiting.take() {
            self.notice(format!(
                "the start of {id} that waited for the backend is dropped: {why}"
            ));
            self.publish(|s| s.pending_start = None);
            let _ = reply.send(Ok(Outcome::Cancelled));
        }
    }

    /// The backend is back: the start that waited for it runs now.
    async fn run_waiting(&mut self) {
        let Some((id, reply)) = self.waiting.take() else {
            return;
        };
        self.publish(|s| s.pending_start = None);
        self.notice(format!("the backend is back: starting {id} as asked"));
        let state = self.state.borrow().clone();
        let result = if matches!(state.phase, Phase::Running | Phase::Starting)
            && state.profile.as_deref() == Some(id.as_str())
        {
            Ok(Outcome::AlreadyRunning { profile: id })
        } else {
            self.switch_to(&id).await
        };
        self.reset_cancel();
        let _ = reply.send(result);
    }

    fn notice(&self, message: impl Into<String>) {
        let message = message.into();
        self.logs.note(format!("llws: {message}"));
        let _ = self.events.send(Event::Notice { message });
    }

    fn set_idle(&self, message: &str) {
        self.publish(|s| {
            s.phase = Phase::Idle;
            s.profile = None;
            s.profile_name = None;
            s.message = message.to_string();
            s.switch = None;
            s.failure = None;
            s.pid = None;
            s.container_id = None;
            s.running_since_ms = None;
            s.adopted = false;
            s.command_line = None;
            s.foreign = None;
        });
    }

    async fn adopt(&mut self) {
        self.generation += 1;
        let generation = self.generation;
        match self.backend.adopt(&self.ctx, generation).await {
            Ok(None) => {}
            Ok(Some(found)) if !found.running => {
                let name = found
                    .profile_name
                    .clone()
                    .or(found.profile.clone())
                    .unwrap_or_default();
                let exit = found.exit.map(|e| e.describe()).unwrap_or_default();
                self.notice(format!(
                    "found the stopped server of an earlier llws ({name}, {exit}); it is replaced on the next start"
                ));
            }
            Ok(Some(found)) => {
                let name = found
                    .profile_name
                    .clone()
                    .or(found.profile.clone())
                    .unwrap_or_default();
                self.notice(format!(
                    "adopted the running server of an earlier llws: {name}"
                ));
                self.watch_adopted(found, generation).await;
            }
            Err(e) => self.on_backend_error_at_start(e),
        }
    }

    /// A server taken over as it runs (an earlier llws's, or one llws did not start that
    /// the user chose to adopt): checked until healthy, then running.
    async fn watch_adopted(&mut self, found: Adopted, generation: u64) -> Outcome {
        let profile = found.profile.clone().unwrap_or_default();
        let name = found
            .profile_name
            .clone()
            .unwrap_or_else(|| profile.clone());
        self.last_profile = Some(profile.clone()).filter(|p| !p.is_empty());
        self.live_generation = Some(generation);
        self.publish(|s| {
            s.phase = Phase::Starting;
            s.profile = Some(profile.clone()).filter(|p| !p.is_empty());
            s.profile_name = Some(name.clone());
            s.pid = found.started.pid;
            s.container_id = found.started.container_id.clone();
            s.command_line = found.started.command_line.clone();
            s.adopted = true;
            s.failure = None;
            s.foreign = None;
            s.message = format!("Checking {name}…");
        });
        let started = Instant::now();
        match self.wait_until_loaded(generation, &profile, started).await {
            LoadEnd::Ready => {
                self.publish(|s| {
                    s.phase = Phase::Running;
                    s.message = format!("Ready: {name} (adopted)");
                    s.running_since_ms = Some(now_ms());
                    s.switch = None;
                });
                Outcome::Running { profile }
            }
            LoadEnd::Exited(exit) => Outcome::Failed {
                failure: self.fail_with_exit(&profile, &name, exit).await,
                profile,
            },
            LoadEnd::TimedOut => {
                let waited = self
                    .last_wait_allowed
                    .map(|d| d.as_secs_f64().round() as u64)
                    .unwrap_or(self.settings.server.health_timeout_s);
                let stopped = match self.stop_server(&name, self.stop_timeout()).await {
                    Ok(_) => "it was stopped".to_string(),
                    Err(e) => format!("stopping it failed too: {e}"),
                };
                let failure = self.fail(
                    &profile,
                    &name,
                    format!(
                        "the adopted server did not become healthy within {waited} s; {stopped}"
                    ),
                    None,
                );
                Outcome::Failed { profile, failure }
            }
            LoadEnd::Cancelled => Outcome::Cancelled,
        }
    }

    /// A start found a server llws did not start in its way: nothing is touched; the state
    /// says what is there and what may be done, until someone answers (inventory item 17).
    fn blocked(&self, id: &str, name: &str, server: ForeignServer) -> Outcome {
        let reason = server.blocked_message();
        self.logs
            .note(format!("llws: cannot start {name}: {reason}"));
        let failure = Failure {
            reason: reason.clone(),
            exit_code: None,
            signal: None,
            oom_killed: false,
            restart_count: None,
            log_tail: Vec::new(),
        };
        let blocked = Blocked {
            server: server.clone(),
            profile: id.to_string(),
        };
        self.publish(|s| {
            s.phase = Phase::Failed;
            s.profile = Some(id.to_string());
            s.profile_name = Some(name.to_string());
            s.switch = None;
            s.failure = Some(failure);
            s.running_since_ms = None;
            s.foreign = Some(blocked);
            s.message = reason;
        });
        Outcome::Blocked {
            profile: id.to_string(),
            foreign: server,
        }
    }

    /// The user's answer to a blocked start: replace what is in the way (then start the
    /// profile that waited), or adopt its container.
    async fn resolve_foreign(&mut self, action: ForeignAction) -> Result<Outcome, ControlError> {
        let Some(blocked) = self.state.borrow().foreign.clone() else {
            return Err(ControlError::NothingForeign);
        };
        let server = blocked.server.clone();
        if let Some(why) = server.refusal(action) {
            return Err(ControlError::Foreign(why));
        }
        let what = server.describe();
        match action {
            ForeignAction::Replace => {
                self.publish(|s| {
                    s.phase = Phase::Stopping;
                    s.message = format!("Stopping {what}…");
                });
                let grace = self.stop_timeout();
                let done = match &server {
                    ForeignServer::Container { .. } => self
                        .backend
                        .remove_foreign(&server, grace)
                        .await
                        .map_err(|e| e.to_string()),
                    ForeignServer::Process { .. } => {
                        foreign::stop_process(&server, grace).await.map(|_| ())
                    }
                };
                if let Err(why) = done {
                    let message = format!("could not replace {what}: {why}");
                    self.notice(message.clone());
                    self.publish(|s| {
                        s.phase = Phase::Failed;
                        s.message = message.clone();
                    });
                    return Err(ControlError::Foreign(message));
                }
                let how = match server {
                    ForeignServer::Container { .. } => "stopped and removed",
                    ForeignServer::Process { .. } => "stopped",
                };
                self.notice(format!("{how} {what}, as asked"));
                self.publish(|s| s.foreign = None);
                self.switch_to(&blocked.profile).await
            }
            ForeignAction::Adopt => {
                self.generation += 1;
                let generation = self.generation;
                let mut found = match self
                    .backend
                    .adopt_foreign(&server, &self.ctx, generation)
                    .await
                {
                    Ok(found) => found,
                    Err(e) => {
                        let message = format!("could not adopt {what}: {e}");
                        self.notice(message.clone());
                        return Err(ControlError::Foreign(message));
                    }
                };
                // No label says which profile it runs: the model file it serves may, when
                // one profile alone uses that file.
                let profile = found.model.as_deref().and_then(|model| {
                    let store = self.store.lock().ok()?;
                    let set = &store.current().set;
                    let mut serving = set.profiles.iter().filter(|p| p.model() == model);
                    match (serving.next(), serving.next()) {
                        (Some(p), None) => Some((p.id.clone(), p.display_name().to_string())),
                        _ => None,
                    }
                });
                let container = match &server {
                    ForeignServer::Container { name, .. } => name.clone(),
                    ForeignServer::Process { .. } => "the server".into(),
                };
                let (id, name) = profile.unwrap_or_else(|| {
                    let model = found
                        .model
                        .clone()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default();
                    (
                        String::new(),
                        format!("{container} (not started by llws){model}"),
                    )
                });
                found.profile = Some(id);
                found.profile_name = Some(name.clone());
                self.notice(format!("adopted {what}, as asked: {name}"));
                Ok(self.watch_adopted(found, generation).await)
            }
        }
    }

    fn on_backend_error_at_start(&self, e: BackendError) {
        let unreachable = matches!(e, BackendError::Unreachable(_));
        let message = e.to_string();
        self.publish(|s| {
            s.backend.reachable = !unreachable;
            s.backend.message = message.clone();
            s.message = message.clone();
        });
    }

    async fn on_backend_event(&mut self, event: BackendEvent) {
        match event {
            BackendEvent::Exited { generation, exit } => {
                if self.live_generation != Some(generation) {
                    return;
                }
                let state = self.state.borrow().clone();
                let profile = state.profile.unwrap_or_default();
                let name = state.profile_name.unwrap_or_else(|| profile.clone());
                self.fail_with_exit(&profile, &name, exit).await;
            }
            BackendEvent::Unreachable { message } => {
                self.notice(message.clone());
                self.publish(|s| {
                    s.backend.reachable = false;
                    s.backend.message = message.clone();
                    s.message = message.clone();
                });
            }
            BackendEvent::LogFile { error } => self.on_log_file(error),
            BackendEvent::Reachable { message } => {
                self.notice(message.clone());
                self.publish(|s| {
                    s.backend.reachable = true;
                    s.backend.message = message.clone();
                    s.message = message.clone();
                });
                // Whatever ran before the daemon went away may be gone: look again.
                let was_live = self.live_generation.take().is_some();
                self.adopt().await;
                if self.waiting.is_some() {
                    self.run_waiting().await;
                    return;
                }
                if was_live && self.live_generation.is_none() {
                    let state = self.state.borrow().clone();
                    if state.phase == Phase::Running || state.phase == Phase::Starting {
                        let profile = state.profile.unwrap_or_default();
                        let name = state.profile_name.unwrap_or_else(|| profile.clone());
                        self.fail(
                            &profile,
                            &name,
                            "the server is gone after the Docker daemon restarted".into(),
                            None,
                        );
                    }
                }
            }
        }
    }

    async fn handle(&mut self, command: Command) -> Result<Outcome, ControlError> {
        match command {
            Command::Switch(id) => self.switch_to(&id).await,
            Command::ResolveForeign(action) => self.resolve_foreign(action).await,
            Command::Start(id) => {
                let id = id
                    .or_else(|| self.last_profile.clone())
                    .ok_or(ControlError::NothingToStart)?;
                let state = self.state.borrow().clone();
                if matches!(state.phase, Phase::Running | Phase::Starting)
                    && state.profile.as_deref() == Some(id.as_str())
                {
                    return Ok(Outcome::AlreadyRunning { profile: id });
                }
                self.switch_to(&id).await
            }
            Command::Restart => {
                let id = self
                    .state
                    .borrow()
                    .profile
                    .clone()
                    .or_else(|| self.last_profile.clone())
                    .ok_or(ControlError::NothingToStart)?;
                self.switch_inner(&id, true).await
            }
            Command::Stop => {
                let state = self.state.borrow().clone();
                let has_server = self.live_generation.is_some()
                    || state.pid.is_some()
                    || state.container_id.is_some();
                if !has_server && matches!(state.phase, Phase::Idle) {
                    // Clears what an earlier run left (a failed server's container).
                    return match self.backend.stop(self.stop_timeout()).await {
                        Ok(_) => Ok(Outcome::Stopped),
                        Err(e) => {
                            let message =
                                format!("could not clear what an earlier server left: {e}");
                            self.notice(message.clone());
                            Err(ControlError::BackendUnavailable(message))
                        }
                    };
                }
                let name = state.profile_name.clone().unwrap_or_default();
                self.publish(|s| {
                    s.phase = Phase::Stopping;
                    s.message = format!("Stopping {name}…");
                });
                match self.stop_server(&name, self.stop_timeout()).await {
                    Ok(_) => {
                        self.logs.note(format!("--- stopped {name} ---"));
                        self.set_idle("Stopped");
                        Ok(Outcome::Stopped)
                    }
                    Err(e) => {
                        let message = e.to_string();
                        self.publish(|s| {
                            s.phase = Phase::Failed;
                            s.message = format!("Stop failed: {message}");
                        });
                        Err(ControlError::BackendUnavailable(message))
                    }
                }
            }
        }
    }

    async fn switch_to(&mut self, id: &str) -> Result<Outcome, ControlError> {
        self.switch_inner(id, false).await
    }

    /// The one road every start, switch and restart takes.
    async fn switch_inner(&mut self, id: &str, force: bool) -> Result<Outcome, ControlError> {
        let view = match self.store.lock() {
            Ok(mut store) => store.refresh(),
            Err(poisoned) => poisoned.into_inner().refresh(),
        };
        let Some(profile) = view.set.get(id).cloned() else {
            return Err(ControlError::UnknownProfile {
                id: id.to_string(),
                message: format!("unknown model: {id}"),
            });
        };
        let before = self.state.borrow().clone();
        if !force && before.phase == Phase::Running && before.profile.as_deref() == Some(id) {
            return Ok(Outcome::AlreadyRunning {
                profile: id.to_string(),
            });
        }
        if !before.backend.reachable {
            return Err(ControlError::BackendUnavailable(
                before.backend.message.clone(),
            ));
        }
        let from_name = before
            .profile_name
            .clone()
            .filter(|_| before.phase != Phase::Idle);
        let name = profile.display_name().to_string();
        let switch_started = Instant::now();
        let estimate_ms = self.timings.lock().ok().and_then(|t| t.estimate_ms(id));
        let mut progress = SwitchProgress {
            target: id.to_string(),
            target_name: name.clone(),
            step: Step::CheckingFiles,
            started_at_ms: now_ms(),
            estimate_ms,
            from_name: None,
        };
        self.step(&mut progress, Step::CheckingFiles, switch_started);
        // Before the running server is touched: a missing part, or one shorter than its own
        // header says (a download cut off), refuses the switch and leaves everything as it
        // was (the original went idle with the old server up). The headers are read off
        // the async workers: on a slow disk that takes a moment.
        let checked = {
            let dir = self.settings.models_dir.clone();
            let profile = profile.clone();
            tokio::task::spawn_blocking(move || model_files::check_complete(&dir, &profile)).await
        };
        let checked = checked.unwrap_or_else(|e| {
            Err(model_files::ModelFileError::Unreadable {
                profile: id.to_string(),
                path: self.settings.models_dir.clone(),
                reason: e.to_string(),
            })
        });
        let files = match checked {
            Ok(files) => files,
            Err(e) => {
                let message = format!("Switch to {name} refused: {e}");
                self.publish(|s| {
                    s.message = message.clone();
                    s.switch = None;
                });
                return Err(ControlError::ModelFiles(e));
            }
        };

        let cancel = self.cancel_token();
        let has_server = self.live_generation.is_some()
            || before.pid.is_some()
            || before.container_id.is_some()
            || matches!(
                before.phase,
                Phase::Running | Phase::Starting | Phase::Failed
            );
        if has_server {
            self.logs.note(format!("--- switching to {name} ---"));
            let old = from_name.clone().unwrap_or_default();
            self.publish(|s| {
                s.phase = Phase::Stopping;
                s.message = format!("Stopping {old}…");
            });
            // The status bar names the model being stopped, not the one coming.
            progress.from_name = from_name.clone();
            self.step(&mut progress, Step::Stopping, switch_started);
            progress.from_name = None;
            // Its requests are cut off either way: a busy server is not waited for.
            let grace = Duration::from_secs(self.settings.server.stop_grace_s);
            if let Err(e) = self.stop_server(&old, grace).await {
                let message = format!("could not stop the running server: {e}");
                self.fail(id, &name, message.clone(), None);
                return Err(ControlError::BackendUnavailable(message));
            }
        } else {
            self.logs.note(format!("--- starting {name} ---"));
        }
        let stop_ms = switch_started.elapsed().as_millis() as u64;

        self.last_profile = Some(id.to_string());
        self.publish(|s| {
            s.phase = Phase::Starting;
            s.profile = Some(id.to_string());
            s.profile_name = Some(name.clone());
            s.failure = None;
            s.pid = None;
            s.container_id = None;
            s.running_since_ms = None;
            s.adopted = false;
            s.command_line = None;
            s.foreign = None;
            s.message = format!("Starting {name}…");
        });
        self.step(&mut progress, Step::Creating, switch_started);
        if cancel.is_cancelled() {
            self.set_idle("Switch cancelled");
            return Ok(Outcome::Cancelled);
        }
        let spec = LaunchSpec {
            profile: id.to_string(),
            profile_name: name.clone(),
            args: server_args(&profile, &LaunchContext::for_settings(&self.settings)),
            host: self.settings.server.host.clone(),
            port: self.settings.server.port,
            model_files: files.parts,
        };
        if self.settings.server.write_env {
            // For people who also drive the server with `docker compose` by hand.
            let path = crate::config::dotenv::env_path(&self.settings);
            let text = crate::config::dotenv::env_file(&profile, self.settings.server.port);
            if let Err(e) = crate::util::safe_fs::write_atomic(&path, text.as_bytes(), 0o644) {
                self.notice(format!("could not write {}: {e}", path.display()));
            }
        }
        self.generation += 1;
        let generation = self.generation;
        let create_started = Instant::now();
        let started: Started = match self.backend.start(&spec, &self.ctx, generation).await {
            Ok(started) => started,
            Err(BackendError::Foreign(server)) => return Ok(self.blocked(id, &name, server)),
            Err(e) => {
                let failure = self.fail(id, &name, e.to_string(), None);
                self.record(
                    id,
                    &before,
                    false,
                    stop_ms,
                    create_started.elapsed(),
                    Duration::ZERO,
                    switch_started,
                );
                if let BackendError::Unreachable(message) = &e {
                    self.publish(|s| {
                        s.backend.reachable = false;
                        s.backend.message = message.clone();
                    });
                }
                return Ok(Outcome::Failed {
                    profile: id.to_string(),
                    failure,
                });
            }
        };
        let start_duration = create_started.elapsed();
        self.live_generation = Some(generation);
        self.publish(|s| {
            s.pid = started.pid;
            s.container_id = started.container_id.clone();
            s.command_line = started.command_line.clone();
            s.message = format!("Loading {name}…");
        });
        self.step(&mut progress, Step::Loading, switch_started);
        let load_started = Instant::now();
        let end = self.wait_until_loaded(generation, id, switch_started).await;
        let load_waited = self.last_wait_allowed;
        let load = load_started.elapsed();
        let outcome = match end {
            LoadEnd::Ready => {
                let total = switch_started.elapsed();
                self.publish(|s| {
                    s.phase = Phase::Running;
                    s.switch = None;
                    s.running_since_ms = Some(now_ms());
                    s.message = format!("Ready: {name} (in {:.1} s)", total.as_secs_f64());
                });
                // The server's last lines may still be on their way through the log
                // follower (a file tail or Docker's stream); a moment's delay keeps this
                // note after them instead of in the middle.
                let logs = self.logs.clone();
                let note = format!("llws: {name} is ready after {:.1} s", total.as_secs_f64());
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    logs.note(note);
                });
                Outcome::Running {
                    profile: id.to_string(),
                }
            }
            LoadEnd::Exited(exit) => Outcome::Failed {
                profile: id.to_string(),
                failure: self.fail_with_exit(id, &name, exit).await,
            },
            LoadEnd::TimedOut => {
                let tail = self.logs.tail_text(FAILURE_TAIL_LINES);
                let stopped = match self.stop_server(&name, self.stop_timeout()).await {
                    Ok(_) => "was stopped".to_string(),
                    Err(e) => format!("could not be stopped ({e})"),
                };
                // The wait llws allowed (the setting, plus any "keep waiting"), not the
                // time since the switch began, which also counts the stop and the create.
                let waited = load_waited
                    .map(|d| d.as_secs_f64().round() as u64)
                    .unwrap_or(self.settings.server.health_timeout_s);
                let reason = format!(
                    "the model did not become healthy within {waited} s and {stopped}; next time keep waiting while it loads (Ctrl+\\ w in the workspace, `llws keep-waiting`, or POST /keep-waiting), or raise [server] health_timeout_s for very large models"
                );
                Outcome::Failed {
                    profile: id.to_string(),
                    failure: self.fail(id, &name, reason, Some((ServerExit::default(), tail))),
                }
            }
            LoadEnd::Cancelled => {
                let _ = self.stop_server(&name, self.stop_timeout()).await;
                self.logs.note(format!("--- {name}: load cancelled ---"));
                self.set_idle("Switch cancelled");
                return Ok(Outcome::Cancelled);
            }
        };
        let ok = matches!(outcome, Outcome::Running { .. });
        self.record(
            id,
            &before,
            ok,
            stop_ms,
            start_duration,
            load,
            switch_started,
        );
        Ok(outcome)
    }

    fn step(&self, progress: &mut SwitchProgress, step: Step, started: Instant) {
        progress.step = step;
        let snapshot = progress.clone();
        self.publish(|s| s.switch = Some(snapshot));
        let _ = self.events.send(Event::Step {
            profile: progress.target.clone(),
            step,
            elapsed_ms: started.elapsed().as_millis() as u64,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        id: &str,
        before: &ServerState,
        ok: bool,
        stop_ms: u64,
        start: Duration,
        load: Duration,
        switch_started: Instant,
    ) {
        let timings = SwitchTimings {
            profile: id.to_string(),
            from: before
                .profile
                .clone()
                .filter(|_| before.phase != Phase::Idle),
            ok,
            stop_ms,
            start_ms: start.as_millis() as u64,
            load_ms: load.as_millis() as u64,
            total_ms: switch_started.elapsed().as_millis() as u64,
            finished_at_ms: now_ms(),
        };
        if let Ok(mut store) = self.timings.lock() {
            store.record(timings.clone());
        }
        let _ = self.events.send(Event::SwitchFinished(timings));
    }

    /// Polls /health until 200, failing fast when the server exits and giving up at the
    /// health timeout after `started`, or later when someone asked to keep waiting.
    async fn wait_until_loaded(
        &mut self,
        generation: u64,
        _profile: &str,
        started: Instant,
    ) -> LoadEnd {
        let timeout = Duration::from_secs(self.settings.server.health_timeout_s);
        self.deadline.arm(started + timeout);
        let end = self.poll_health(generation).await;
        self.last_wait_allowed = self
            .deadline
            .get()
            .map(|at| at.saturating_duration_since(started));
        self.deadline.disarm();
        self.publish(|s| s.load_gives_up_at_ms = None);
        end
    }

    async fn poll_health(&mut self, generation: u64) -> LoadEnd {
        let mut backoff = ProbeBackoff::new(Duration::from_millis(
            self.settings.server.health_interval_ms,
        ));
        // The server's own "model loaded" / "listening" lines end a wait early, so
        // readiness is noticed when the server says so rather than at the next tick.
        let mut lines = self.logs.subscribe();
        let cancel = self.cancel_token();
        let mut published = None;
        loop {
            let now = Instant::now();
            if self.deadline.passed(now) {
                return LoadEnd::TimedOut;
            }
            // Publish the deadline when it is new or was pushed back, for the status bar's
            // countdown and `GET /status`.
            let at = self.deadline.get();
            if at != published {
                published = at;
                let at_ms = at.map(|at| deadline::unix_ms(at, now));
                self.publish(|s| s.load_gives_up_at_ms = at_ms);
            }
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return LoadEnd::Cancelled,
                event = self.backend_events.recv() => match event {
                    Some(BackendEvent::Exited { generation: g, exit }) if g == generation => return LoadEnd::Exited(exit),
                    Some(BackendEvent::Unreachable { message }) => {
                        self.publish(|s| {
                            s.backend.reachable = false;
                            s.backend.message = message.clone();
                        });
                        return LoadEnd::Exited(ServerExit::default());
                    }
                    Some(BackendEvent::LogFile { error }) => {
                        self.on_log_file(error);
                        continue;
                    }
                    _ => continue,
                },
                health = self.health.probe() => match health {
                    Health::Ready => return LoadEnd::Ready,
                    Health::Loading | Health::NoServer(_) | Health::Unexpected(_) => {}
                },
            }
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return LoadEnd::Cancelled,
                event = self.backend_events.recv() => match event {
                    Some(BackendEvent::Exited { generation: g, exit }) if g == generation => {
                        return LoadEnd::Exited(exit);
                    }
                    Some(BackendEvent::LogFile { error }) => self.on_log_file(error),
                    _ => {}
                },
                _ = wait_for_ready_hint(&mut lines) => backoff.reset(),
                _ = tokio::time::sleep(backoff.next_wait()) => {}
            }
        }
    }

    /// The server exited when it should not have: failed, with the reason and the log tail.
    async fn fail_with_exit(&mut self, id: &str, name: &str, exit: ServerExit) -> Failure {
        self.live_generation = None;
        // Docker's inspect knows more (OOM kill, restart count) than the exit event.
        let exit = match self.backend.exit_details().await {
            Some(details) => ServerExit {
                code: details.code.or(exit.code),
                signal: details.signal.or(exit.signal),
                oom_killed: details.oom_killed || exit.oom_killed,
                restart_count: details.restart_count.or(exit.restart_count),
            },
            None => exit,
        };
        let tail = self.logs.tail_text(FAILURE_TAIL_LINES);
        let was_running = self.state.borrow().phase == Phase::Running;
        // The reason goes beside the model's name everywhere it is shown (status bar,
        // /status), so it does not repeat it; the log line names it.
        let reason = if was_running {
            format!("llama-server died: {}", exit.describe())
        } else {
            format!("llama-server exited while loading: {}", exit.describe())
        };
        self.logs.note(format!("--- {name}: {reason} ---"));
        self.fail(id, name, reason, Some((exit, tail)))
    }

    fn fail(
        &self,
        id: &str,
        name: &str,
        reason: String,
        exit: Option<(ServerExit, Vec<String>)>,
    ) -> Failure {
        let (exit, log_tail) = exit.unwrap_or_else(|| {
            (
                ServerExit::default(),
                self.logs.tail_text(FAILURE_TAIL_LINES),
            )
        });
        let failure = Failure {
            reason: reason.clone(),
            exit_code: exit.code,
            signal: exit.signal,
            oom_killed: exit.oom_killed,
            restart_count: exit.restart_count,
            log_tail,
        };
        let snapshot = failure.clone();
        self.publish(|s| {
            s.phase = Phase::Failed;
            s.profile = Some(id.to_string());
            s.profile_name = Some(name.to_string());
            s.switch = None;
            s.failure = Some(snapshot);
            s.running_since_ms = None;
            s.message = reason;
        });
        failure
    }
}

/// Returns when a log line hints that the server is ready (or lines were dropped, one of
/// which may have been the hint); never returns once the log is closed.
async fn wait_for_ready_hint(lines: &mut broadcast::Receiver<LogLine>) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match lines.recv().await {
            Ok(line) if super::health::is_ready_hint(&line.text) => return,
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => return,
            Err(RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}
