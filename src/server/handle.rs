//! The way everyone talks to the controller: a cheap, cloneable handle.
//!
//! Commands (start, stop, switch, restart) go over a channel; the state is read from a
//! `watch`, log lines from the ring, and events from a `broadcast`. Whether a command may
//! run at all (the profile exists, its files are there, nothing else runs) is decided here,
//! at once, so a caller is never left queueing behind a 300 s load.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::deadline::{self, LoadDeadline};
use super::load_facts::LoadFacts;
use super::logs::LogRing;
use super::owner::OwnerRecord;
use super::profiles_store::ProfilesView;
use super::state::{ConfigErrors, Event, Failure, Phase, ServerState, SwitchTimings};
use super::timings::{TimingTotals, TimingsStore, TotalsKey};
use crate::config::{Profile, Settings};
use crate::model::files::{self as model_files, ModelFileError};

/// Why a command was refused or failed before it touched the server.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ControlError {
    #[error("{message}")]
    UnknownProfile { id: String, message: String },
    #[error("switch already in progress (state: {})", state.as_str())]
    Busy { state: Phase },
    #[error("{0}")]
    ModelFiles(ModelFileError),
    #[error("models.conf cannot be loaded: {0}")]
    Config(String),
    #[error("{0}")]
    BackendUnavailable(String),
    #[error("there is no profile to start: name one")]
    NothingToStart,
    #[error("llws is shutting down")]
    ShuttingDown,
    #[error("no model is loading (state: {}): there is no health wait to extend", state.as_str())]
    NotLoading { state: Phase },
    /// Replace or adopt, with no server llws did not start in the way.
    #[error("no server llws did not start is in the way: there is nothing to replace or adopt")]
    NothingForeign,
    /// Replacing or adopting a server llws did not start was refused, or failed.
    #[error("{0}")]
    Foreign(String),
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The profile is running (after a start or switch).
    Running { profile: String },
    /// The profile was already running; nothing was done.
    AlreadyRunning { profile: String },
    /// The server is stopped.
    Stopped,
    /// The start or switch failed; the state says why.
    Failed { profile: String, failure: Failure },
    /// The start or switch was cancelled by a stop.
    Cancelled,
    /// A server llws did not start is in the way (inventory item 17); nothing was
    /// touched. The state's `foreign` says what it is; [`ControllerHandle::resolve_foreign`]
    /// replaces or adopts it.
    Blocked {
        profile: String,
        foreign: super::foreign::ForeignServer,
    },
}

/// A command for the controller (or, for a client, for the owner's API).
#[derive(Debug)]
pub enum Command {
    /// Start `profile`, or the last profile.
    Start(Option<String>),
    Switch(String),
    Stop,
    Restart,
    /// Replace or adopt the server llws did not start that blocked the last start.
    ResolveForeign(super::foreign::ForeignAction),
}

pub struct Request {
    pub command: Command,
    pub reply: oneshot::Sender<Result<Outcome, ControlError>>,
    /// Held while the command runs: a second command finds it taken and is refused.
    pub _permit: OwnedSemaphorePermit,
}

pub enum Shutdown {
    Stop,
    Keep,
}

/// The cheap, cloneable way to talk to the controller.
#[derive(Clone)]
pub struct ControllerHandle {
    pub(super) commands: mpsc::UnboundedSender<Request>,
    pub(super) shutdown: mpsc::UnboundedSender<(Shutdown, oneshot::Sender<()>)>,
    pub(super) busy: Arc<Semaphore>,
    /// Cancels the start or switch in flight (a stop asked for it).
    pub(super) cancel: Arc<Mutex<CancellationToken>>,
    pub(super) state: watch::Receiver<ServerState>,
    pub(super) profiles: watch::Receiver<ProfilesView>,
    pub(super) events: broadcast::Sender<Event>,
    pub(super) logs: Arc<LogRing>,
    pub(super) timings: Arc<Mutex<TimingsStore>>,
    pub(super) settings: Arc<Settings>,
    pub(super) load_facts: watch::Receiver<LoadFacts>,
    pub(super) deadline: Arc<LoadDeadline>,
    pub(super) config_errors: Arc<ConfigErrors>,
    /// This llws's record as the server's owner (none for a client of another owner).
    pub(super) owner: Option<Arc<OwnerRecord>>,
    /// For a client of another llws: "keep waiting" goes to the owner's API.
    pub(super) remote: Option<mpsc::UnboundedSender<RemoteCall>>,
    /// Whether the profiles' model files are on this machine, so a switch checks them
    /// before it is sent (false for another machine's llws: its controller checks them).
    pub(super) files_here: bool,
}

/// What drives a client's handle ([`ControllerHandle::remote`]): the commands its users
/// send, and the state, events, log and load facts they read, which the driver fills from
/// the owner's API.
pub struct RemoteDriver {
    pub commands: mpsc::UnboundedReceiver<Request>,
    pub shutdown: mpsc::UnboundedReceiver<(Shutdown, oneshot::Sender<()>)>,
    pub calls: mpsc::UnboundedReceiver<RemoteCall>,
    pub state: Arc<watch::Sender<ServerState>>,
    pub events: broadcast::Sender<Event>,
    pub logs: Arc<LogRing>,
    pub load_facts: watch::Sender<LoadFacts>,
    pub timings: Arc<Mutex<TimingsStore>>,
    /// The keymap and theme errors this llws reported itself (kept beside the owner's).
    pub config_errors: Arc<ConfigErrors>,
    /// The same models.conf the owner reads, for the picker; reload it now and then.
    pub profiles: super::profiles_store::ProfileStore,
}

/// What a client's handle asks of the owner besides commands.
#[derive(Debug)]
pub enum RemoteCall {
    KeepWaiting,
}

/// A command accepted by the controller; await it for the outcome, or drop it.
pub struct Pending {
    reply: oneshot::Receiver<Result<Outcome, ControlError>>,
}

impl Pending {
    pub async fn outcome(self) -> Result<Outcome, ControlError> {
        self.reply.await.unwrap_or(Err(ControlError::ShuttingDown))
    }
}

impl ControllerHandle {
    /// A handle for a client of another llws, the server's owner: the same calls as a
    /// local controller's, carried out by whoever runs the returned driver (the API's
    /// remote client). It never touches the server itself.
    pub fn remote(
        settings: Arc<Settings>,
        kind: crate::config::settings::BackendKind,
    ) -> (Self, RemoteDriver) {
        let store = super::profiles_store::ProfileStore::load(settings.models_conf.clone());
        let logs = LogRing::new(settings.server.log_lines);
        Self::driven(settings, kind, logs, store)
    }

    /// A handle whose commands someone else carries out (the returned driver), over the
    /// given log ring and profiles: a client of another llws ([`Self::remote`]), another
    /// machine's llws, or the switchboard that joins several of them.
    pub fn driven(
        settings: Arc<Settings>,
        kind: crate::config::settings::BackendKind,
        logs: Arc<LogRing>,
        store: super::profiles_store::ProfileStore,
    ) -> (Self, RemoteDriver) {
        let (state_tx, state_rx) = watch::channel(ServerState::initial(kind));
        let state_tx = Arc::new(state_tx);
        let (events, _) = broadcast::channel(1024);
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (shutdown, shutdown_rx) = mpsc::unbounded_channel();
        let (calls, calls_rx) = mpsc::unbounded_channel();
        let (facts_tx, facts_rx) = watch::channel(LoadFacts::default());
        let profiles = store.subscribe();
        let timings = Arc::new(Mutex::new(TimingsStore::default()));
        let config_errors = Arc::new(ConfigErrors::new(state_tx.clone(), events.clone()));
        let handle = Self {
            commands,
            shutdown,
            busy: Arc::new(Semaphore::new(1)),
            cancel: Arc::new(Mutex::new(CancellationToken::new())),
            state: state_rx,
            profiles,
            events: events.clone(),
            logs: logs.clone(),
            timings: timings.clone(),
            settings,
            load_facts: facts_rx,
            deadline: Arc::new(LoadDeadline::default()),
            config_errors: config_errors.clone(),
            owner: None,
            remote: Some(calls),
            files_here: true,
        };
        let driver = RemoteDriver {
            commands: commands_rx,
            shutdown: shutdown_rx,
            calls: calls_rx,
            state: state_tx,
            events,
            logs,
            load_facts: facts_tx,
            timings,
            config_errors,
            profiles: store,
        };
        (handle, driver)
    }

    /// The same handle, for profiles whose model files are on another machine: a switch
    /// checks only that the profile exists; that machine's controller checks the files.
    pub fn with_files_elsewhere(mut self) -> Self {
        self.files_here = false;
        self
    }

    /// Whether this handle is a client of another llws (which owns the server).
    pub fn is_remote(&self) -> bool {
        self.remote.is_some()
    }

    pub fn state(&self) -> ServerState {
        self.state.borrow().clone()
    }

    pub fn subscribe_state(&self) -> watch::Receiver<ServerState> {
        self.state.clone()
    }

    pub fn subscribe_events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    pub fn logs(&self) -> &Arc<LogRing> {
        &self.logs
    }

    pub fn profiles(&self) -> ProfilesView {
        self.profiles.borrow().clone()
    }

    pub fn subscribe_profiles(&self) -> watch::Receiver<ProfilesView> {
        self.profiles.clone()
    }

    /// What the server's log said about the current run (buffers, graph splits, speed).
    pub fn load_facts(&self) -> LoadFacts {
        self.load_facts.borrow().clone()
    }

    pub fn subscribe_load_facts(&self) -> watch::Receiver<LoadFacts> {
        self.load_facts.clone()
    }

    pub fn settings(&self) -> &Arc<Settings> {
        &self.settings
    }

    pub fn timings(&self) -> Vec<SwitchTimings> {
        self.timings
            .lock()
            .map(|t| t.all().to_vec())
            .unwrap_or_default()
    }

    /// The latest finished switch, without copying the whole record list (`/status` reads
    /// it on every request).
    pub fn last_timings(&self) -> Option<SwitchTimings> {
        self.timings
            .lock()
            .ok()
            .and_then(|t| t.all().last().cloned())
    }

    /// Every switch of the session added up per profile and result (for `/metrics`).
    pub fn timing_totals(&self) -> BTreeMap<TotalsKey, TimingTotals> {
        self.timings
            .lock()
            .map(|t| t.totals().clone())
            .unwrap_or_default()
    }

    pub fn estimate_ms(&self, profile: &str) -> Option<u64> {
        self.timings
            .lock()
            .ok()
            .and_then(|t| t.estimate_ms(profile))
    }

    fn try_permit(&self) -> Result<OwnedSemaphorePermit, ControlError> {
        self.busy
            .clone()
            .try_acquire_owned()
            .map_err(|_| ControlError::Busy {
                state: self.state.borrow().phase,
            })
    }

    fn send(
        &self,
        command: Command,
        permit: OwnedSemaphorePermit,
    ) -> Result<Pending, ControlError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Request {
                command,
                reply,
                _permit: permit,
            })
            .map_err(|_| ControlError::ShuttingDown)?;
        Ok(Pending { reply: rx })
    }

    /// The checks every switch and start gets before anything is sent: the profile exists,
    /// and every part of its model is a readable file.
    pub fn preflight(&self, id: &str) -> Result<Profile, ControlError> {
        let view = self.profiles();
        let Some(profile) = view.set.get(id) else {
            if let Some(err) = &view.error
                && view.set.profiles.is_empty()
            {
                return Err(ControlError::Config(err.to_string()));
            }
            return Err(ControlError::UnknownProfile {
                id: id.to_string(),
                message: format!("unknown model: {id}"),
            });
        };
        if self.files_here {
            model_files::check(&self.settings.models_dir, profile)
                .map_err(ControlError::ModelFiles)?;
        }
        Ok(profile.clone())
    }

    /// Starts a switch to `id` and returns once it is accepted. Refused at once when the
    /// profile is unknown, its files are missing, or another command runs. Choosing the
    /// profile that already runs does nothing.
    pub fn begin_switch(&self, id: &str) -> Result<Pending, ControlError> {
        let permit = self.try_permit()?;
        let state = self.state();
        if state.phase == Phase::Running && state.profile.as_deref() == Some(id) {
            let (tx, rx) = oneshot::channel();
            let _ = tx.send(Ok(Outcome::AlreadyRunning {
                profile: id.to_string(),
            }));
            return Ok(Pending { reply: rx });
        }
        self.preflight(id)?;
        self.send(Command::Switch(id.to_string()), permit)
    }

    /// Switches and waits for the outcome.
    pub async fn switch(&self, id: &str) -> Result<Outcome, ControlError> {
        self.begin_switch(id)?.outcome().await
    }

    /// Starts `id` (or the last profile) if nothing runs.
    pub fn begin_start(&self, id: Option<&str>) -> Result<Pending, ControlError> {
        let permit = self.try_permit()?;
        if let Some(id) = id {
            self.preflight(id)?;
        }
        self.send(Command::Start(id.map(str::to_string)), permit)
    }

    pub async fn start(&self, id: Option<&str>) -> Result<Outcome, ControlError> {
        self.begin_start(id)?.outcome().await
    }

    /// Answers the offer a [`Outcome::Blocked`] start made: replace the server llws did not
    /// start (stop it, remove its container, then start the profile that waited) or adopt
    /// its container as it runs. Refused at once when nothing is in the way or the action
    /// is not offered for it.
    pub fn begin_resolve_foreign(
        &self,
        action: super::foreign::ForeignAction,
    ) -> Result<Pending, ControlError> {
        let permit = self.try_permit()?;
        let Some(blocked) = self.state.borrow().foreign.clone() else {
            return Err(ControlError::NothingForeign);
        };
        if let Some(why) = blocked.server.refusal(action) {
            return Err(ControlError::Foreign(why));
        }
        self.send(Command::ResolveForeign(action), permit)
    }

    pub async fn resolve_foreign(
        &self,
        action: super::foreign::ForeignAction,
    ) -> Result<Outcome, ControlError> {
        self.begin_resolve_foreign(action)?.outcome().await
    }

    pub fn begin_restart(&self) -> Result<Pending, ControlError> {
        let permit = self.try_permit()?;
        self.send(Command::Restart, permit)
    }

    /// Stops the server. A start or switch in flight is cancelled first (a stop is how a
    /// user gets out of a load they regret), so a stop is never refused as busy.
    pub async fn stop(&self) -> Result<Outcome, ControlError> {
        let permit = match self.busy.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if let Ok(token) = self.cancel.lock() {
                    token.cancel();
                }
                self.busy
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| ControlError::ShuttingDown)?
            }
        };
        self.send(Command::Stop, permit)?.outcome().await
    }

    /// Reports the problems of a config file the caller loaded (the workspace's keymap and
    /// theme), as `FILE:LINE: message` lines; an empty list says it is fine. They show in
    /// `/status`, `/models` and the status bar until fixed.
    pub fn report_config_errors(&self, source: &str, errors: Vec<String>) {
        self.config_errors.set(source, errors);
    }

    /// Records where this llws's management API answers, so another llws (and the CLI)
    /// can go through it.
    pub fn record_api(&self, url: Option<String>) {
        if let Some(owner) = &self.owner {
            owner.set_api(url);
        }
    }

    /// When the health wait of the load in flight gives up; `None` when nothing loads.
    pub fn load_deadline(&self) -> Option<Instant> {
        self.deadline.get()
    }

    /// The original's "continue anyway": pushes the health wait of the load in flight back
    /// by another `health_timeout_s` (each call adds one), so a slow load is not stopped.
    /// Returns when the wait now gives up (ms since the Unix epoch).
    pub fn keep_waiting(&self) -> Result<u64, ControlError> {
        let by = Duration::from_secs(self.settings.server.health_timeout_s);
        if let Some(remote) = &self.remote {
            // The owner pushes its own deadline back; the state it sends says the new one.
            let state = self.state.borrow().clone();
            let Some(at) = state.load_gives_up_at_ms else {
                return Err(ControlError::NotLoading { state: state.phase });
            };
            remote
                .send(RemoteCall::KeepWaiting)
                .map_err(|_| ControlError::ShuttingDown)?;
            return Ok(at + by.as_millis() as u64);
        }
        let now = Instant::now();
        let Some(at) = self.deadline.extend(by, now) else {
            return Err(ControlError::NotLoading {
                state: self.state.borrow().phase,
            });
        };
        let left = at.duration_since(now).as_secs();
        let name = self.state.borrow().profile_name.clone().unwrap_or_default();
        let message =
            format!("Waiting longer for {name}: the health check now gives up in {left} s");
        self.logs.note(format!("llws: {message}"));
        let _ = self.events.send(Event::Notice { message });
        Ok(deadline::unix_ms(at, now))
    }

    /// Ends the controller: stops the server, or leaves it running for a later llws when
    /// `keep` is set. Interrupts a load in flight.
    pub async fn shutdown(&self, keep: bool) {
        if let Ok(token) = self.cancel.lock() {
            token.cancel();
        }
        let (tx, rx) = oneshot::channel();
        let how = if keep { Shutdown::Keep } else { Shutdown::Stop };
        if self.shutdown.send((how, tx)).is_ok() {
            let _ = rx.await;
        }
    }
}
