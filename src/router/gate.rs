//! The gate between requests and the server: a request passes only to a running server
//! (the model it asks for, in follow mode); otherwise it waits, bounded by `queue_max` and
//! by how long the load may still take (the controller's deadline, which "keep waiting"
//! pushes back). A switch the user asks for cuts off the requests in flight with an error
//! in their API's shape; a switch a request causes first holds new requests and lets
//! those in flight finish (`drain_s`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use hyper::StatusCode;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::activity::Activity;
use super::guard::Guard;
use super::proxy::Client;
use super::status::RouterStatus;
use crate::config::Settings;
use crate::server::state::{Phase, now_ms};
use crate::server::{ControlError, ControllerHandle, Outcome};

/// Why a request is answered by the router itself.
#[derive(Debug, Clone)]
pub struct Refused {
    pub status: StatusCode,
    pub message: String,
}

fn unavailable(message: impl Into<String>) -> Refused {
    Refused {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: message.into(),
    }
}

/// The requests in flight since the last cut-off, and why they were cut off.
struct Generation {
    token: CancellationToken,
    reason: Arc<OnceLock<String>>,
}

impl Generation {
    fn new() -> Self {
        Self {
            token: CancellationToken::new(),
            reason: Arc::new(OnceLock::new()),
        }
    }
}

/// Everything the router's tasks share.
pub struct Shared {
    pub ctl: ControllerHandle,
    /// The public settings (the router's own address, `[router]`).
    pub settings: Arc<Settings>,
    /// Where requests go.
    pub upstream: watch::Sender<super::Upstream>,
    pub guard: Guard,
    pub client: Client,
    pub activity: Arc<Activity>,
    waiting: AtomicUsize,
    in_flight: AtomicUsize,
    drained: Notify,
    generation: Mutex<Generation>,
    /// Set while a request-driven switch drains and runs: new requests wait.
    holding: watch::Sender<bool>,
    /// One request-driven switch at a time.
    switch_lock: tokio::sync::Mutex<()>,
    /// The switch (or stop) in progress was asked for by the router: in-flight requests
    /// were drained, not cut off.
    ours: AtomicBool,
    /// Counts request-driven switches that ended: wakes the waiting requests.
    switches_done: watch::Sender<u64>,
    /// Per target: how many request-driven switches to it ended, and the last one's
    /// error. A waiting request looks at its own target's, never at another's: a switch
    /// to another model ending is no answer to it.
    switch_ends: Mutex<HashMap<String, SwitchEnds>>,
    switch_pending: Mutex<HashSet<String>>,
    pub last_request_ms: AtomicU64,
    /// The profile stopped for idleness, loaded again by the next request.
    unloaded_idle: Mutex<Option<String>>,
    /// `model` names that matched no profile, said once each.
    unknown_names: Mutex<HashSet<String>>,
}

/// A request let through: counted in flight until dropped; `cancel` fires when it is cut
/// off by a user's switch (or after a drain that ran out).
pub struct Ticket {
    shared: Arc<Shared>,
    pub cancel: CancellationToken,
    reason: Arc<OnceLock<String>>,
    pub profile: Option<String>,
}

impl Ticket {
    pub fn reason(&self) -> String {
        self.reason
            .get()
            .cloned()
            .unwrap_or_else(|| "the request was cut off".into())
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.shared.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.shared.drained.notify_waiters();
        }
        self.shared
            .last_request_ms
            .store(now_ms(), Ordering::Relaxed);
    }
}

/// A place in the queue of waiting requests.
struct QueueSlot(Arc<Shared>);

impl Drop for QueueSlot {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Holds new requests while it lives.
struct Hold<'a>(&'a Shared);

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        self.0.holding.send_replace(false);
    }
}

impl Shared {
    pub fn new(
        ctl: ControllerHandle,
        settings: Arc<Settings>,
        upstream: watch::Sender<super::Upstream>,
        guard: Guard,
    ) -> Self {
        let activity = Arc::new(Activity::new(settings.router.activity_size));
        Self {
            ctl,
            upstream,
            guard,
            client: super::proxy::client(),
            activity,
            waiting: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            drained: Notify::new(),
            generation: Mutex::new(Generation::new()),
            holding: watch::channel(false).0,
            switch_lock: tokio::sync::Mutex::new(()),
            ours: AtomicBool::new(false),
            switches_done: watch::channel(0).0,
            switch_ends: Mutex::new(HashMap::new()),
            switch_pending: Mutex::new(HashSet::new()),
            last_request_ms: AtomicU64::new(now_ms()),
            unloaded_idle: Mutex::new(None),
            unknown_names: Mutex::new(HashSet::new()),
            settings,
        }
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    pub fn unloaded_idle(&self) -> Option<String> {
        self.unloaded_idle.lock().ok().and_then(|u| u.clone())
    }

    pub fn set_unloaded_idle(&self, profile: Option<String>) {
        if let Ok(mut u) = self.unloaded_idle.lock() {
            *u = profile;
        }
    }

    pub fn set_ours(&self, ours: bool) {
        self.ours.store(ours, Ordering::SeqCst);
    }

    /// True the first time `name` is seen (for a log line once per name).
    pub fn first_unknown(&self, name: &str) -> bool {
        self.unknown_names
            .lock()
            .map(|mut n| n.len() < 1000 && n.insert(name.to_string()))
            .unwrap_or(false)
    }

    /// What `/status` shows under `router`.
    pub fn status(&self) -> RouterStatus {
        let r = &self.settings.router;
        let state = self.ctl.state();
        let last = self.last_request_ms.load(Ordering::Relaxed);
        let unload_at_ms = (r.idle_unload_s > 0 && state.phase == Phase::Running)
            .then(|| last.max(state.running_since_ms.unwrap_or(0)) + r.idle_unload_s * 1000);
        RouterStatus {
            enabled: true,
            url: self.settings.server.base_url(),
            upstream: self.upstream.borrow().authority.clone(),
            follow_model: r.follow_model,
            queued: self.waiting(),
            in_flight: self.in_flight(),
            last_request_ms: Some(last),
            unload_at_ms,
            unloaded_idle: self.unloaded_idle(),
        }
    }

    /// How long a waiting request keeps waiting after the last sign of progress.
    fn patience(&self, load_gives_up_at_ms: Option<u64>) -> Duration {
        let s = &self.settings;
        let base = Duration::from_secs(
            s.server.health_timeout_s
                + 2 * s.server.stop_timeout_s
                + s.router.drain_s
                + s.router.min_residency_s
                + 30,
        );
        let by_deadline = load_gives_up_at_ms
            .map(|at| {
                Duration::from_millis(at.saturating_sub(now_ms()))
                    + Duration::from_secs(s.server.stop_timeout_s + 30)
            })
            .unwrap_or_default();
        base.max(by_deadline)
    }

    fn enter(self: &Arc<Self>, profile: Option<String>) -> Ticket {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let generation = self.generation.lock().expect("generation lock");
        Ticket {
            shared: self.clone(),
            cancel: generation.token.clone(),
            reason: generation.reason.clone(),
            profile,
        }
    }

    fn queue(self: &Arc<Self>) -> Result<QueueSlot, Refused> {
        let max = self.settings.router.queue_max;
        let before = self.waiting.fetch_add(1, Ordering::SeqCst);
        let slot = QueueSlot(self.clone());
        if before >= max {
            return Err(unavailable(format!(
                "{before} requests are already waiting for the server ([router] queue_max = {max}); try again in a moment"
            )));
        }
        Ok(slot)
    }

    /// Ends every request in flight with `reason` (their streams get an error event).
    pub fn cut_off(&self, reason: String) {
        let Ok(mut generation) = self.generation.lock() else {
            return;
        };
        let _ = generation.reason.set(reason);
        generation.token.cancel();
        *generation = Generation::new();
    }

    /// Waits until nothing is in flight, at most `limit`.
    async fn drain(&self, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        loop {
            let notified = self.drained.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.in_flight() == 0 {
                return true;
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(until) => return self.in_flight() == 0,
            }
        }
    }

    /// Asks for a switch to `target` on behalf of requests (one task per target).
    fn request_switch(self: &Arc<Self>, target: &str) {
        let fresh = self
            .switch_pending
            .lock()
            .map(|mut p| p.insert(target.to_string()))
            .unwrap_or(false);
        if !fresh {
            return;
        }
        let shared = self.clone();
        let target = target.to_string();
        tokio::spawn(async move {
            let result = {
                let _one = shared.switch_lock.lock().await;
                shared.switch_to(&target).await
            };
            if let Ok(mut ends) = shared.switch_ends.lock() {
                let end = ends.entry(target.clone()).or_default();
                end.count += 1;
                end.error = result.err();
            }
            if let Ok(mut p) = shared.switch_pending.lock() {
                p.remove(&target);
            }
            shared.switches_done.send_modify(|n| *n += 1);
        });
    }

    /// How many request-driven switches to `target` ended, and the last one's error.
    fn switch_end(&self, target: &str) -> SwitchEnds {
        self.switch_ends
            .lock()
            .ok()
            .and_then(|e| e.get(target).cloned())
            .unwrap_or_default()
    }

    /// A request-driven switch: wait out the running model's minimum residency, hold new
    /// requests, let those in flight finish (up to `drain_s`), then switch the way the
    /// keyboard does (the same banner, events and checks).
    async fn switch_to(&self, target: &str) -> Result<(), String> {
        let mut state_rx = self.ctl.subscribe_state();
        for _ in 0..BUSY_TRIES {
            // Another command in progress (a user's switch): its end decides.
            let state = state_rx
                .wait_for(|s| !s.is_busy())
                .await
                .map_err(|_| "llws is shutting down".to_string())?
                .clone();
            if state.phase == Phase::Running && state.profile.as_deref() == Some(target) {
                return Ok(());
            }
            if state.phase == Phase::Running
                && let Some(since) = state.running_since_ms
            {
                let until = since + self.settings.router.min_residency_s * 1000;
                let left = until.saturating_sub(now_ms());
                if left > 0 {
                    tokio::time::sleep(Duration::from_millis(left)).await;
                    continue;
                }
            }
            self.holding.send_replace(true);
            let _hold = Hold(self);
            if state.phase == Phase::Running {
                let limit = Duration::from_secs(self.settings.router.drain_s);
                if !self.drain(limit).await {
                    self.cut_off(format!(
                        "the server is switching to {target} for another request, and this one did not finish within [router] drain_s ({} s)",
                        limit.as_secs()
                    ));
                }
            }
            self.set_ours(true);
            let result = match self.ctl.begin_switch(target) {
                Ok(pending) => pending.outcome().await,
                Err(e) => Err(e),
            };
            self.set_ours(false);
            return match result {
                Ok(Outcome::Running { .. } | Outcome::AlreadyRunning { .. }) => Ok(()),
                Ok(Outcome::Failed { failure, .. }) => Err(failure.reason),
                Ok(Outcome::Cancelled) => Err("the load was cancelled".into()),
                Ok(Outcome::Stopped) => Err("the server was stopped".into()),
                // A server llws did not start holds the port: the user answers that, not a
                // request.
                Ok(Outcome::Blocked { foreign, .. }) => Err(foreign.blocked_message()),
                // The controller is still finishing a command (a stop's last steps go on
                // after its state says idle): give it a moment, not a tight loop.
                Err(ControlError::Busy { .. }) => {
                    tokio::time::sleep(BUSY_RETRY).await;
                    continue;
                }
                Err(e) => Err(e.to_string()),
            };
        }
        Err("the server stayed busy with other commands".into())
    }
}

/// How often, and how far apart, a request-driven switch asks a controller that is still
/// finishing another command (about 10 s in all).
const BUSY_TRIES: u32 = 50;
const BUSY_RETRY: Duration = Duration::from_millis(200);

/// The request-driven switches to one target that ended.
#[derive(Debug, Clone, Default)]
struct SwitchEnds {
    count: u64,
    error: Option<String>,
}

/// How often a waiting request asks again for its model after its switch succeeded and
/// another request's switch took the server elsewhere before it got in (minimum residency
/// makes each round last at least `min_residency_s`).
const MAX_ASKS: u32 = 4;

/// Waits until the request may go to the server. `target`: the profile it needs (follow
/// mode); `None` takes whatever runs.
pub async fn acquire(shared: &Arc<Shared>, target: Option<&str>) -> Result<Ticket, Refused> {
    let mut state_rx = shared.ctl.subscribe_state();
    let mut hold_rx = shared.holding.subscribe();
    let mut done_rx = shared.switches_done.subscribe();
    let mut queued: Option<QueueSlot> = None;
    // The profile this request asked a switch to (its target, or the one an idle unload
    // left), and the count of ended switches to it then.
    let mut asked: Option<(String, u64)> = None;
    let mut asks = 0u32;
    let mut patience = shared.patience(state_rx.borrow().load_gives_up_at_ms);
    let mut backstop = Instant::now() + patience;
    loop {
        let state = state_rx.borrow_and_update().clone();
        let hold = *hold_rx.borrow_and_update();
        done_rx.borrow_and_update();
        let has_target = |p: &Option<String>| target.is_none_or(|t| p.as_deref() == Some(t));
        if !hold && state.phase == Phase::Running && has_target(&state.profile) {
            return Ok(shared.enter(state.profile));
        }
        // The switch this request asked for is over and did not give it its model.
        if let Some((wanted, at)) = &asked
            && !hold
            && !state.is_busy()
        {
            let end = shared.switch_end(wanted);
            if end.count > *at {
                if let Some(reason) = end.error {
                    return Err(unavailable(format!(
                        "the switch to {wanted} failed: {reason}"
                    )));
                }
                // It ran, and another request's switch took the server on before this
                // one got in: ask again, a bounded number of times.
                asks += 1;
                if asks >= MAX_ASKS {
                    return Err(unavailable(format!(
                        "the server was switched to {wanted} {asks} times for this request and each time switched away for other requests before it got in; the clients ask for different models faster than [router] min_residency_s ({} s) lets one run",
                        shared.settings.router.min_residency_s
                    )));
                }
                asked = None;
            }
        }
        let load = |shared: &Arc<Shared>, asked: &mut Option<(String, u64)>, profile: &str| {
            if asked.is_none() {
                *asked = Some((profile.to_string(), shared.switch_end(profile).count));
                shared.request_switch(profile);
            }
        };
        match state.phase {
            Phase::Running if !hold => {
                if let Some(t) = target {
                    load(shared, &mut asked, t);
                }
            }
            Phase::Failed if !hold => match target {
                Some(t) if state.profile.as_deref() != Some(t) || asked.is_none() => {
                    load(shared, &mut asked, t)
                }
                _ => {
                    let failure = state.failure.as_ref();
                    return Err(unavailable(format!(
                        "{} failed to load: {}",
                        state.profile_name.clone().unwrap_or_default(),
                        failure
                            .map(|f| f.reason.as_str())
                            .unwrap_or("see the server log")
                    )));
                }
            },
            Phase::Idle if !hold && state.pending_start.is_none() => {
                match target
                    .map(str::to_string)
                    .or_else(|| shared.unloaded_idle())
                {
                    Some(profile) => load(shared, &mut asked, &profile),
                    None if asked.is_none() => {
                        return Err(unavailable(
                            "no model is running: start one in llws (the picker), with `llws switch PROFILE`, or POST /switch",
                        ));
                    }
                    None => {}
                }
            }
            _ => {}
        }
        if queued.is_none() {
            queued = Some(shared.queue()?);
        }
        tokio::select! {
            changed = state_rx.changed() => {
                if changed.is_err() {
                    return Err(unavailable("llws is shutting down"));
                }
                // Progress: the wait starts again from here.
                patience = shared.patience(state_rx.borrow().load_gives_up_at_ms);
                backstop = Instant::now() + patience;
            }
            _ = hold_rx.changed() => {}
            _ = done_rx.changed() => {}
            _ = tokio::time::sleep_until(backstop) => {
                let state = state_rx.borrow();
                let held = if *hold_rx.borrow() { ", held for a switch" } else { "" };
                let asked_for = asked
                    .as_ref()
                    .map(|(p, _)| format!(", after asking for {p}"))
                    .unwrap_or_default();
                return Err(unavailable(format!(
                    "waited {} s for the server without a change (it is {}{held}{asked_for}); see llws's log",
                    patience.as_secs(),
                    state.phase.as_str(),
                )));
            }
        }
    }
}

/// Cuts off requests in flight when the server goes away under them for a reason other
/// than the router's own (a switch from the keyboard or the API, a stop, a crash), and
/// forgets an idle unload once a model runs again.
pub async fn watch_switches(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut rx = shared.ctl.subscribe_state();
    let mut last = rx.borrow().phase;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = rx.changed() => if changed.is_err() { return },
        }
        let state = rx.borrow_and_update().clone();
        if last == Phase::Running
            && state.phase != Phase::Running
            && !shared.ours.load(Ordering::SeqCst)
        {
            let why = match (&state.switch, state.phase) {
                (Some(s), _) => format!("the server is switching to {}", s.target_name),
                (None, Phase::Failed) => format!(
                    "the server stopped: {}",
                    state
                        .failure
                        .as_ref()
                        .map(|f| f.reason.as_str())
                        .unwrap_or("")
                ),
                _ => "the server was stopped".into(),
            };
            shared.cut_off(format!("{why}; the request was cut off"));
        }
        if state.phase == Phase::Running || state.phase == Phase::Starting {
            shared.set_unloaded_idle(None);
        }
        last = state.phase;
    }
}
