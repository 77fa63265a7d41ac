//! The switchboard: this machine's controller and one client per `[[remote]]` (another
//! machine's `llws serve`, through its SSH tunnel when it has one) joined behind one
//! [`ControllerHandle`], so the workspace, the router and the local API keep one code path.
//!
//! A remote's profiles are named `ID@NAME` (a profile id cannot hold `@`, so they never
//! clash with this machine's). A switch to one goes through that host's API and its
//! controller does the work; the host that served until then is stopped first, so one
//! profile is active across the hosts. The state the handle publishes is the active
//! host's, with its profile ids named so and `host` set; the router forwards to the active
//! host's inference port (the tunnel's local end, under the remote's own `Host`).
//!
//! With no `[[remote]]`, [`Hosts::start`] hands back the local controller itself.

mod names;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::{Notify, watch};

use crate::api::remote::{Address, Target};
use crate::config::Settings;
use crate::config::remotes::RemoteSettings;
use crate::remote::{Tunnel, TunnelPlan, TunnelState};
use crate::router::{RouterHandle, Upstream};
use crate::server::handle::{Command, RemoteCall, RemoteDriver, Request, Shutdown};
use crate::server::profiles_store::{ProfileStore, ProfilesView};
use crate::server::state::{Event, Phase, ServerState};
use crate::server::{ControlError, ControllerHandle, Outcome};

pub use names::{host_of, merge, name_state, qualified, split_qualified};

/// One host: this machine (no name) or a `[[remote]]`.
pub struct Host {
    /// `None` for this machine.
    pub name: Option<String>,
    pub handle: ControllerHandle,
    /// Where the router sends requests while this host serves (none while its tunnel is
    /// down).
    pub upstream: watch::Receiver<Option<Upstream>>,
    /// How its API is reached (none for this machine).
    pub target: Option<Target>,
    /// Its SSH tunnel's state, when it has one.
    pub tunnel: Option<watch::Receiver<TunnelState>>,
    _tunnel: Option<Tunnel>,
}

/// This machine and the remotes, behind [`Hosts::handle`].
pub struct Hosts {
    /// The handle everything uses: the local controller's when there is no remote.
    pub handle: ControllerHandle,
    /// This machine first, then the remotes in llws.toml's order.
    pub hosts: Arc<Vec<Host>>,
    board: Option<Arc<Board>>,
}

impl Hosts {
    /// Joins `local` and the `[[remote]]` entries of `settings`; call inside a tokio
    /// runtime. A remote whose tunnel cannot be planned is left out, with the reason in
    /// the local log.
    pub fn start(settings: Arc<Settings>, local: ControllerHandle) -> Self {
        let local_upstream = Upstream {
            authority: local
                .settings()
                .server
                .base_url()
                .trim_start_matches("http://")
                .to_string(),
            host: None,
        };
        let mut hosts = vec![Host {
            name: None,
            handle: local.clone(),
            upstream: watch::channel(Some(local_upstream)).1,
            target: None,
            tunnel: None,
            _tunnel: None,
        }];
        for remote in &settings.remotes {
            match remote_host(&settings, remote) {
                Ok(host) => hosts.push(host),
                Err(e) => local
                    .logs()
                    .note(format!("llws: remote {}: {e}", remote.name)),
            }
        }
        if hosts.len() == 1 {
            return Self {
                handle: local,
                hosts: Arc::new(hosts),
                board: None,
            };
        }
        let hosts = Arc::new(hosts);
        let (handle, driver) = ControllerHandle::driven(
            local.settings().clone(),
            local.settings().backend,
            local.logs().clone(),
            ProfileStore::fed(local.settings().models_conf.clone()),
        );
        let handle = handle.with_files_elsewhere();
        let board = Board::start(hosts.clone(), driver);
        Self {
            handle,
            hosts,
            board: Some(board),
        }
    }

    /// Waits, at most `timeout`, until every remote has answered once (its profiles are
    /// known): a start naming `ID@NAME`, or the choice whether to open the picker, then
    /// sees the remotes as they are. A remote that does not answer just takes the time.
    pub async fn first_contact(&self, timeout: std::time::Duration) {
        let remotes = self.hosts.iter().skip(1).map(|h| {
            let mut profiles = h.handle.subscribe_profiles();
            async move {
                let _ = profiles.wait_for(|v| !v.set.profiles.is_empty()).await;
            }
        });
        let _ = tokio::time::timeout(timeout, futures::future::join_all(remotes)).await;
        // The switchboard publishes what the remotes said on its own task: a moment more.
        if self.board.is_some() {
            let mut state = self.handle.subscribe_state();
            let _ = tokio::time::timeout(
                std::time::Duration::from_millis(200),
                state.wait_for(|s| s.host.is_some() || s.profile.is_some()),
            )
            .await;
        }
    }

    /// Whether `id` names a profile of one of the remotes (`ID@NAME`, NAME a `[[remote]]`).
    pub fn names_a_remote(settings: &Settings, id: &str) -> bool {
        split_qualified(id).is_some_and(|(_, host)| settings.remotes.iter().any(|r| r.name == host))
    }

    /// The router to point at the active host (set once, when it runs).
    pub fn attach_router(&self, router: RouterHandle) {
        if let Some(board) = &self.board {
            let _ = board.router.set(router);
            board.wake.notify_one();
        }
    }

    /// The host whose server is active (an index into [`Self::hosts`]).
    pub fn active(&self) -> usize {
        self.board.as_ref().map_or(0, |b| b.active())
    }

    /// Follows which host is active.
    pub fn subscribe_active(&self) -> watch::Receiver<usize> {
        match &self.board {
            Some(board) => board.active.subscribe(),
            None => watch::channel(0).1,
        }
    }
}

/// A `[[remote]]` as a host: its tunnel started when it has `ssh`, its client connected.
fn remote_host(settings: &Arc<Settings>, remote: &RemoteSettings) -> Result<Host, String> {
    let url = remote.parsed_url()?;
    let bracketed = if url.host.contains(':') {
        format!("[{}]", url.host)
    } else {
        url.host.clone()
    };
    // The remote's inference port as the remote knows it.
    let server_authority = format!("{bracketed}:{}", remote.server_port);
    let (address_tx, address) = watch::channel(None);
    let (upstream_tx, upstream) = watch::channel(None);
    let (tunnel, tunnel_state) = match TunnelPlan::for_remote(remote) {
        None => {
            address_tx.send_replace(Some(Address {
                url: remote.base_url(),
                host: None,
            }));
            upstream_tx.send_replace(Some(Upstream {
                authority: server_authority,
                host: None,
            }));
            (None, None)
        }
        Some(plan) => {
            let tunnel = Tunnel::start(plan?);
            let state = tunnel.state.clone();
            tokio::spawn(follow_tunnel(
                state.clone(),
                remote.authority(),
                server_authority,
                address_tx,
                upstream_tx,
            ));
            (Some(tunnel), Some(state))
        }
    };
    let target = Target {
        address,
        token: remote.token.clone(),
    };
    let handle = crate::api::remote::connect_host(settings.clone(), &remote.name, target.clone());
    Ok(Host {
        name: Some(remote.name.clone()),
        handle,
        upstream,
        target: Some(target),
        tunnel: tunnel_state,
        _tunnel: tunnel,
    })
}

/// The tunnel's local ends as the API's address and the router's upstream, each under
/// the remote's own name (its Host checks refuse the tunnel's).
async fn follow_tunnel(
    mut state: watch::Receiver<TunnelState>,
    api_host: Option<String>,
    server_authority: String,
    address: watch::Sender<Option<Address>>,
    upstream: watch::Sender<Option<Upstream>>,
) {
    loop {
        let now = state.borrow_and_update().clone();
        match now {
            TunnelState::Up {
                api_port,
                server_port,
            } => {
                address.send_replace(Some(Address {
                    url: format!("http://127.0.0.1:{api_port}"),
                    host: api_host.clone(),
                }));
                upstream.send_replace(Some(Upstream {
                    authority: format!("127.0.0.1:{server_port}"),
                    host: Some(server_authority.clone()),
                }));
            }
            _ => {
                address.send_replace(None);
                upstream.send_replace(None);
            }
        }
        if state.changed().await.is_err() {
            return;
        }
    }
}

/// What the switchboard's tasks share.
struct Board {
    hosts: Arc<Vec<Host>>,
    active: watch::Sender<usize>,
    /// A switch between hosts is under way: the active host is chosen by it, not by
    /// which one runs.
    switching: AtomicBool,
    state: Arc<watch::Sender<ServerState>>,
    events: tokio::sync::broadcast::Sender<Event>,
    facts: watch::Sender<crate::server::load_facts::LoadFacts>,
    timings: Arc<Mutex<crate::server::timings::TimingsStore>>,
    config_errors: Arc<crate::server::state::ConfigErrors>,
    profiles: ProfileStore,
    router: OnceLock<RouterHandle>,
    /// Something a published state depends on changed.
    wake: Notify,
    /// A host's profiles changed.
    profiles_changed: Notify,
}

impl Board {
    fn start(hosts: Arc<Vec<Host>>, mut d: RemoteDriver) -> Arc<Self> {
        let profiles = std::mem::replace(&mut d.profiles, ProfileStore::fed(Default::default()));
        let board = Arc::new(Self {
            hosts: hosts.clone(),
            active: watch::channel(0).0,
            switching: AtomicBool::new(false),
            state: d.state.clone(),
            events: d.events.clone(),
            facts: d.load_facts.clone(),
            timings: d.timings.clone(),
            config_errors: d.config_errors.clone(),
            profiles,
            router: OnceLock::new(),
            wake: Notify::new(),
            profiles_changed: Notify::new(),
        });
        for index in 0..hosts.len() {
            tokio::spawn(watch_host(board.clone(), index));
            tokio::spawn(forward_events(board.clone(), index));
        }
        tokio::spawn(publish_loop(board.clone()));
        tokio::spawn(merge_profiles(board.clone()));
        board.profiles_changed.notify_one();
        board.wake.notify_one();
        tokio::spawn(drive(board.clone(), d));
        board
    }

    fn active(&self) -> usize {
        *self.active.borrow()
    }

    fn name(&self, index: usize) -> Option<&str> {
        self.hosts[index].name.as_deref()
    }

    /// Which host `id` belongs to, and its id there.
    fn resolve<'a>(&self, id: &'a str) -> Result<(usize, &'a str), ControlError> {
        match split_qualified(id) {
            None => Ok((0, id)),
            Some((inner, name)) => self
                .hosts
                .iter()
                .position(|h| h.name.as_deref() == Some(name))
                .map(|index| (index, inner))
                .ok_or_else(|| ControlError::UnknownProfile {
                    id: id.to_string(),
                    message: format!("unknown model: {id} (no [[remote]] is named {name})"),
                }),
        }
    }

    /// The active host's state as this llws's: its ids named with the host, the local
    /// config errors kept, the router pointed at it first.
    fn publish(&self) {
        let mut active = self.active();
        if !self.switching.load(Ordering::SeqCst) {
            // A host left idle while another serves (started from elsewhere, or found
            // running when llws started): follow the one that serves.
            let phase = self.hosts[active].handle.state().phase;
            if matches!(phase, Phase::Idle | Phase::Failed)
                && let Some(serving) = self.hosts.iter().position(|h| {
                    matches!(h.handle.state().phase, Phase::Running | Phase::Starting)
                })
            {
                active = serving;
                self.active.send_replace(serving);
            }
        }
        let host = &self.hosts[active];
        if let Some(router) = self.router.get()
            && let Some(upstream) = host.upstream.borrow().clone()
        {
            router.set_upstream_to(upstream);
        }
        let mut state = host.handle.state();
        names::name_state(&mut state, host.name.as_deref());
        if active != 0 {
            // This machine's config problems stay in view while a remote serves.
            let local = self.hosts[0].handle.state().config_errors;
            for e in local {
                if !state.config_errors.contains(&e) {
                    state.config_errors.push(e);
                }
            }
        }
        for e in self.config_errors.all() {
            if !state.config_errors.contains(&e) {
                state.config_errors.push(e);
            }
        }
        self.facts.send_replace(host.handle.load_facts());
        let changed = self.state.send_if_modified(|now| {
            let changed = *now != state;
            *now = state.clone();
            changed
        });
        if changed {
            let _ = self.events.send(Event::State(Box::new(state)));
        }
    }

    fn set_active(&self, index: usize) {
        self.active.send_replace(index);
        self.wake.notify_one();
    }

    /// A switch (or a start, `start_only`) to `id`, on whichever host has it.
    async fn switch_to(&self, id: &str, start_only: bool) -> Result<Outcome, ControlError> {
        let (index, inner) = self.resolve(id)?;
        let host = &self.hosts[index];
        // Never stranded: the target is checked before the serving host is stopped.
        host.handle.preflight(inner)?;
        let active = self.active();
        if index != active {
            self.switching.store(true, Ordering::SeqCst);
            let result = self.move_to(index, inner, start_only).await;
            self.switching.store(false, Ordering::SeqCst);
            self.wake.notify_one();
            return result;
        }
        if start_only {
            host.handle.start(Some(inner)).await
        } else {
            host.handle.switch(inner).await
        }
    }

    async fn move_to(
        &self,
        index: usize,
        inner: &str,
        start_only: bool,
    ) -> Result<Outcome, ControlError> {
        let old = &self.hosts[self.active()];
        let ring = self.hosts[0].handle.logs();
        let to = names::host_label(self.name(index));
        if !matches!(old.handle.state().phase, Phase::Idle) {
            ring.note(format!(
                "llws: switching to {inner} on {to}: stopping the server on {} first",
                names::host_label(old.name.as_deref())
            ));
            match old.handle.stop().await {
                Ok(_) => {}
                // A remote that does not answer cannot be stopped from here; it must not
                // keep this machine (or another remote) from serving.
                Err(ControlError::BackendUnavailable(why)) if old.name.is_some() => {
                    ring.note(format!(
                        "llws: could not stop the server on {} ({why}); it may still run there",
                        names::host_label(old.name.as_deref())
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        ring.note(format!("llws: {inner} on {to}"));
        self.set_active(index);
        let host = &self.hosts[index];
        if start_only {
            host.handle.start(Some(inner)).await
        } else {
            host.handle.switch(inner).await
        }
    }

    /// Carries out one command and answers it with the host's ids named.
    async fn run(&self, request: Request) {
        let Request {
            command,
            reply,
            _permit: permit,
        } = request;
        let active = self.active();
        let handle = &self.hosts[active].handle;
        let (result, index) = match command {
            Command::Switch(id) => {
                let index = self.resolve(&id).map_or(active, |(i, _)| i);
                (self.switch_to(&id, false).await, index)
            }
            Command::Start(Some(id)) => {
                let index = self.resolve(&id).map_or(active, |(i, _)| i);
                (self.switch_to(&id, true).await, index)
            }
            Command::Start(None) => (handle.start(None).await, active),
            Command::Stop => (handle.stop().await, active),
            Command::Restart => match handle.begin_restart() {
                Ok(pending) => (pending.outcome().await, active),
                Err(e) => (Err(e), active),
            },
            Command::ResolveForeign(action) => (handle.resolve_foreign(action).await, active),
        };
        drop(permit);
        let name = self.name(index).map(str::to_string);
        let _ = reply.send(result.map(|o| names::name_outcome(o, name.as_deref())));
    }
}

/// Wakes the publisher when a host's state, load facts or upstream change.
async fn watch_host(board: Arc<Board>, index: usize) {
    let host = &board.hosts[index];
    let mut state = host.handle.subscribe_state();
    let mut facts = host.handle.subscribe_load_facts();
    let mut upstream = host.upstream.clone();
    let mut profiles = host.handle.subscribe_profiles();
    // A fixed upstream's sender is gone at once: then there is nothing to follow.
    let mut upstream_moves = true;
    loop {
        tokio::select! {
            r = state.changed() => if r.is_err() { return },
            r = facts.changed() => if r.is_err() { return },
            r = upstream.changed(), if upstream_moves => {
                if r.is_err() {
                    upstream_moves = false;
                    continue;
                }
            }
            r = profiles.changed() => {
                if r.is_err() { return }
                board.profiles_changed.notify_one();
                continue;
            }
        }
        board.wake.notify_one();
    }
}

/// The active host's steps and finished switches, and every host's notices, as this
/// llws's events (states are published by [`Board::publish`]).
async fn forward_events(board: Arc<Board>, index: usize) {
    let host = &board.hosts[index];
    let mut events = host.handle.subscribe_events();
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(_) => return,
        };
        let name = host.name.as_deref();
        let forwarded = match event {
            Event::State(_) => None,
            Event::Notice { message } => Some(Event::Notice {
                message: match name {
                    Some(name) => format!("remote {name}: {message}"),
                    None => message,
                },
            }),
            Event::Step { .. } | Event::SwitchFinished(_) if board.active() != index => None,
            Event::Step {
                profile,
                step,
                elapsed_ms,
            } => Some(Event::Step {
                profile: names::name_id(&profile, name),
                step,
                elapsed_ms,
            }),
            Event::SwitchFinished(mut t) => {
                t.profile = names::name_id(&t.profile, name);
                if let Ok(mut store) = board.timings.lock() {
                    store.record(t.clone());
                }
                Some(Event::SwitchFinished(t))
            }
        };
        if let Some(event) = forwarded {
            let _ = board.events.send(event);
        }
    }
}

async fn publish_loop(board: Arc<Board>) {
    loop {
        board.wake.notified().await;
        board.publish();
    }
}

/// This machine's profiles, then each remote's as `ID@NAME`, as one set.
async fn merge_profiles(board: Arc<Board>) {
    loop {
        board.profiles_changed.notified().await;
        let views: Vec<(Option<&str>, ProfilesView)> = board
            .hosts
            .iter()
            .map(|h| (h.name.as_deref(), h.handle.profiles()))
            .collect();
        board.profiles.publish(names::merge(&views));
    }
}

/// The handle's commands, shutdown and calls.
async fn drive(board: Arc<Board>, mut d: RemoteDriver) {
    loop {
        tokio::select! {
            request = d.commands.recv() => {
                let Some(request) = request else { break };
                let board = board.clone();
                tokio::spawn(async move { board.run(request).await });
            }
            call = d.calls.recv() => {
                if let Some(RemoteCall::KeepWaiting) = call {
                    let host = &board.hosts[board.active()];
                    if let Err(e) = host.handle.keep_waiting() {
                        host.handle.logs().note(format!("llws: keep waiting: {e}"));
                    }
                }
            }
            how = d.shutdown.recv() => {
                let Some((how, done)) = how else { break };
                // This machine's controller ends as asked; the remotes' servers are theirs
                // and stay as they are (their clients just end).
                let keep = matches!(how, Shutdown::Keep);
                for host in board.hosts.iter().skip(1) {
                    host.handle.shutdown(true).await;
                }
                board.hosts[0].handle.shutdown(keep).await;
                let _ = done.send(());
                break;
            }
        }
    }
}
