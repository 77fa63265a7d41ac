//! The Docker backend: llama-server in a container, through the Engine API (bollard).
//!
//! One container at a time, named by the settings and labelled as llws's. Its log is
//! followed from its first line; its exit is seen through the wait API, with the OOM flag
//! and the restart count from inspect. A watchdog pings the daemon so a daemon that goes
//! away (or comes back) is reported either way.

pub mod errors;
pub mod spec;

use crate::docker::connect;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, KillContainerOptions, ListContainersOptions,
    LogsOptions, RemoveContainerOptions, WaitContainerOptions,
};
use futures::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::backend::{
    Adopted, Backend, BackendContext, BackendError, BackendEvent, EndedBy, LaunchSpec, ServerExit,
    Started, Stopped, second_term_after,
};
use super::health::port_in_use;
use super::logs::{LineSplitter, LogRing, Source};
use crate::config::Settings;
use crate::config::settings::{BackendKind, Network};
use errors::explain;
use spec::{LABEL_MANAGED, LABEL_PROFILE, LABEL_PROFILE_NAME, container_body};

/// How often the watchdog checks the daemon.
const WATCHDOG_INTERVAL: Duration = Duration::from_secs(2);

pub struct DockerBackend {
    settings: Settings,
    host: String,
    /// Built on first use: bollard refuses to build a client while the socket is missing.
    docker: Option<Docker>,
    watchdog: Option<JoinHandle<()>>,
    current: Option<Running>,
    last_exit: Option<ServerExit>,
}

struct Running {
    id: String,
    watcher: JoinHandle<()>,
    logs: tokio::task::AbortHandle,
    exited: watch::Receiver<Option<ServerExit>>,
}

impl Running {
    fn abort(&self) {
        self.watcher.abort();
        self.logs.abort();
    }
}

impl DockerBackend {
    pub fn new(settings: &Settings) -> Self {
        let host = connect::host_for(&settings.server.docker_host);
        let docker = connect::client(&host).ok();
        Self {
            settings: settings.clone(),
            host,
            docker,
            watchdog: None,
            current: None,
            last_exit: None,
        }
    }

    fn name(&self) -> &str {
        &self.settings.server.container
    }

    fn unreachable(&self, reason: impl std::fmt::Display) -> BackendError {
        BackendError::Unreachable(
            connect::Unreachable {
                host: self.host.clone(),
                reason: reason.to_string(),
            }
            .to_string(),
        )
    }

    /// Negotiates the API version (the first call after the daemon appears).
    async fn negotiated(&mut self) -> Result<Docker, BackendError> {
        let client = match &self.docker {
            Some(d) => d.clone(),
            None => {
                connect::client(&self.host).map_err(|e| BackendError::Unreachable(e.to_string()))?
            }
        };
        match tokio::time::timeout(Duration::from_secs(5), client.negotiate_version()).await {
            Ok(Ok(docker)) => {
                self.docker = Some(docker.clone());
                Ok(docker)
            }
            Ok(Err(e)) => Err(self.unreachable(e)),
            Err(_) => Err(self.unreachable("no answer within 5 s")),
        }
    }

    fn ensure_watchdog(&mut self, ctx: &BackendContext, start_reachable: bool) {
        if self.watchdog.is_some() {
            return;
        }
        let host = self.host.clone();
        let events = ctx.events.clone();
        self.watchdog = Some(tokio::spawn(async move {
            let mut was_up = start_reachable;
            loop {
                tokio::time::sleep(WATCHDOG_INTERVAL).await;
                // A fresh client each time: one built while the socket was missing fails.
                let up = match connect::client(&host) {
                    Ok(docker) => matches!(
                        tokio::time::timeout(Duration::from_secs(3), docker.ping()).await,
                        Ok(Ok(_))
                    ),
                    Err(_) => false,
                };
                if up != was_up {
                    let event = if up {
                        BackendEvent::Reachable {
                            message: format!("Docker daemon at {host} is back"),
                        }
                    } else {
                        BackendEvent::Unreachable {
                            message: connect::Unreachable {
                                host: host.clone(),
                                reason: "the daemon stopped answering".into(),
                            }
                            .to_string(),
                        }
                    };
                    if events.send(event).is_err() {
                        return;
                    }
                    was_up = up;
                }
            }
        }));
    }

    /// Follows the container's output from its first line, and reports its exit.
    fn watch(&mut self, docker: Docker, id: String, ctx: &BackendContext, generation: u64) {
        let (exit_tx, exit_rx) = watch::channel(None);
        let logs_task = tokio::spawn(follow_logs(docker.clone(), id.clone(), ctx.logs.clone()));
        let logs_abort = logs_task.abort_handle();
        let events = ctx.events.clone();
        let container = id.clone();
        let watcher = tokio::spawn(async move {
            let code = wait_for_exit(&docker, &container).await;
            let Some(code) = code else {
                // The daemon went away: the watchdog reports it; the exit is unknown.
                return;
            };
            // The last lines (the error that ended it) come before the report.
            let _ = tokio::time::timeout(Duration::from_secs(2), logs_task).await;
            let mut exit = inspect_exit(&docker, &container).await.unwrap_or_default();
            if exit.code.is_none() {
                exit.code = Some(code);
            }
            let _ = exit_tx.send(Some(exit.clone()));
            let _ = events.send(BackendEvent::Exited { generation, exit });
        });
        self.current = Some(Running {
            id,
            watcher,
            logs: logs_abort,
            exited: exit_rx,
        });
    }

    /// The container with the configured name, if any: (id, created by llws, running).
    async fn find_named(
        &self,
        docker: &Docker,
    ) -> Result<Option<(String, HashMap<String, String>, bool)>, BackendError> {
        let filters = HashMap::from([("name".to_string(), vec![self.name().to_string()])]);
        let list = docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .map_err(|e| self.unreachable(e))?;
        let wanted = format!("/{}", self.name());
        Ok(list
            .into_iter()
            .find(|c| c.names.as_ref().is_some_and(|n| n.contains(&wanted)))
            .map(|c| {
                let running = c.state.as_ref().is_some_and(|s| s.to_string() == "running");
                (
                    c.id.unwrap_or_default(),
                    c.labels.unwrap_or_default(),
                    running,
                )
            }))
    }

    async fn remove(&self, docker: &Docker, id: &str) {
        let _ = docker
            .remove_container(
                id,
                Some(RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            )
            .await;
    }

    /// Model files that are symlinks out of the models folder: the container sees only the
    /// folder, so they would be missing inside it.
    fn outside_links(&self, files: &[PathBuf]) -> Option<String> {
        let root = std::fs::canonicalize(&self.settings.models_dir).ok()?;
        files.iter().find_map(|f| {
            let real = std::fs::canonicalize(f).ok()?;
            (!real.starts_with(&root)).then(|| {
                format!(
                    "{} points to {}, outside the models folder {}; the container only sees that folder: move the file into it (or use a hard link)",
                    f.display(),
                    real.display(),
                    self.settings.models_dir.display()
                )
            })
        })
    }
}

async fn wait_for_exit(docker: &Docker, id: &str) -> Option<i64> {
    loop {
        let mut stream = docker.wait_container(
            id,
            Some(WaitContainerOptions {
                condition: "not-running".into(),
            }),
        );
        match stream.next().await {
            Some(Ok(resp)) => return Some(resp.status_code),
            // bollard reports a non-zero exit as an error carrying the code.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => {
                return Some(code);
            }
            Some(Err(bollard::errors::Error::RequestTimeoutError)) => continue,
            Some(Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                ..
            })) => return Some(-1),
            _ => return None,
        }
    }
}

/// The host pid of a running container's main process (what NVML and /proc see).
/// llws's container of the configured name, as the CLI sees it when no llws runs.
#[derive(Debug, Clone)]
pub struct KeptContainer {
    pub id: String,
    pub running: bool,
    pub profile: Option<String>,
    pub profile_name: Option<String>,
    pub pid: Option<u32>,
    pub exit: Option<ServerExit>,
}

/// Finds the container llws created under the configured name (running, or stopped and
/// kept); `Err` says the daemon cannot be reached.
pub async fn kept_container(settings: &Settings) -> Result<Option<KeptContainer>, String> {
    let mut backend = DockerBackend::new(settings);
    let docker = backend.negotiated().await.map_err(|e| e.to_string())?;
    let Some((id, labels, running)) = backend
        .find_named(&docker)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    if labels.get(LABEL_MANAGED).map(String::as_str) != Some("true") {
        return Ok(None);
    }
    Ok(Some(KeptContainer {
        pid: if running {
            container_pid(&docker, &id).await
        } else {
            None
        },
        exit: if running {
            None
        } else {
            inspect_exit(&docker, &id).await
        },
        id,
        running,
        profile: labels.get(LABEL_PROFILE).cloned(),
        profile_name: labels.get(LABEL_PROFILE_NAME).cloned(),
    }))
}

/// Follows (or with `follow` false, prints) the container's output from its last `tail`
/// lines; each line goes to `emit`, which returns false to stop.
pub async fn container_logs(
    settings: &Settings,
    id: &str,
    tail: usize,
    follow: bool,
    mut emit: impl FnMut(&str) -> bool,
) -> Result<(), String> {
    let mut backend = DockerBackend::new(settings);
    let docker = backend.negotiated().await.map_err(|e| e.to_string())?;
    let mut stream = docker.logs(
        id,
        Some(LogsOptions {
            follow,
            stdout: true,
            stderr: true,
            tail: tail.to_string(),
            ..Default::default()
        }),
    );
    let mut lines = LineSplitter::default();
    let mut go_on = true;
    while let Some(item) = stream.next().await {
        match item {
            Ok(LogOutput::StdOut { message })
            | Ok(LogOutput::StdErr { message })
            | Ok(LogOutput::Console { message }) => lines.push(&message, |l| {
                if go_on {
                    go_on = emit(&l);
                }
            }),
            Ok(LogOutput::StdIn { .. }) => {}
            Err(e) => return Err(e.to_string()),
        }
        if !go_on {
            return Ok(());
        }
    }
    lines.flush(|l| {
        if go_on {
            go_on = emit(&l);
        }
    });
    Ok(())
}

/// Sends `signal` to the container's main process; one that is no longer running (409) or
/// already gone (404) is not an error.
async fn kill(docker: &Docker, id: &str, signal: &str) -> Result<(), bollard::errors::Error> {
    match docker
        .kill_container(
            id,
            Some(KillContainerOptions {
                signal: signal.to_string(),
            }),
        )
        .await
    {
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404 | 409,
            ..
        }) => Ok(()),
        other => other,
    }
}

async fn container_pid(docker: &Docker, id: &str) -> Option<u32> {
    let info = docker
        .inspect_container(id, None::<InspectContainerOptions>)
        .await
        .ok()?;
    info.state?.pid.filter(|p| *p > 0).map(|p| p as u32)
}

async fn inspect_exit(docker: &Docker, id: &str) -> Option<ServerExit> {
    let info = docker
        .inspect_container(id, None::<InspectContainerOptions>)
        .await
        .ok()?;
    let state = info.state?;
    let code = state.exit_code;
    Some(ServerExit {
        code,
        // A container killed by a signal exits with 128 + the signal number.
        signal: code
            .filter(|c| (129..=159).contains(c))
            .map(|c| (c - 128) as i32),
        oom_killed: state.oom_killed.unwrap_or(false),
        restart_count: info.restart_count,
    })
}

async fn follow_logs(docker: Docker, id: String, logs: std::sync::Arc<LogRing>) {
    let mut stream = docker.logs(
        &id,
        Some(LogsOptions {
            follow: true,
            stdout: true,
            stderr: true,
            // From the first line: the load facts (buffers, splits) come early.
            tail: "all".into(),
            ..Default::default()
        }),
    );
    let mut out = LineSplitter::default();
    let mut err = LineSplitter::default();
    while let Some(item) = stream.next().await {
        match item {
            Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                out.push(&message, |l| logs.push(Source::Stdout, l))
            }
            Ok(LogOutput::StdErr { message }) => {
                err.push(&message, |l| logs.push(Source::Stderr, l))
            }
            Ok(LogOutput::StdIn { .. }) => {}
            Err(_) => break,
        }
    }
    out.flush(|l| logs.push(Source::Stdout, l));
    err.flush(|l| logs.push(Source::Stderr, l));
}

impl Backend for DockerBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Docker
    }

    async fn adopt(
        &mut self,
        ctx: &BackendContext,
        generation: u64,
    ) -> Result<Option<Adopted>, BackendError> {
        let docker = match self.negotiated().await {
            Ok(d) => d,
            Err(e) => {
                self.ensure_watchdog(ctx, false);
                return Err(e);
            }
        };
        self.ensure_watchdog(ctx, true);
        let Some((id, labels, running)) = self.find_named(&docker).await? else {
            return Ok(None);
        };
        if labels.get(LABEL_MANAGED).map(String::as_str) != Some("true") {
            // Not ours: leave it alone; start() refuses with the explanation.
            return Ok(None);
        }
        let profile = labels.get(LABEL_PROFILE).cloned();
        let profile_name = labels.get(LABEL_PROFILE_NAME).cloned();
        if !running {
            let exit = inspect_exit(&docker, &id).await;
            self.last_exit = exit.clone();
            return Ok(Some(Adopted {
                profile,
                profile_name,
                running: false,
                started: Started::default(),
                exit,
            }));
        }
        let pid = container_pid(&docker, &id).await;
        self.watch(docker.clone(), id.clone(), ctx, generation);
        Ok(Some(Adopted {
            profile,
            profile_name,
            running: true,
            started: Started {
                pid,
                container_id: Some(id),
            },
            exit: None,
        }))
    }

    async fn start(
        &mut self,
        spec: &LaunchSpec,
        ctx: &BackendContext,
        generation: u64,
    ) -> Result<Started, BackendError> {
        let docker = self.negotiated().await?;
        self.ensure_watchdog(ctx, true);
        if let Some(problem) = self.outside_links(&spec.model_files) {
            return Err(BackendError::Failed(problem));
        }
        if let Some((id, labels, _)) = self.find_named(&docker).await? {
            if labels.get(LABEL_MANAGED).map(String::as_str) != Some("true") {
                return Err(BackendError::Failed(format!(
                    "a container named `{}` exists that llws did not create (from docker compose?); llws will not remove it: stop and remove it yourself (`docker rm -f {}`), or set [server] container to another name",
                    self.name(),
                    self.name()
                )));
            }
            // An earlier llws's container (stopped, or left behind): replace it.
            self.remove(&docker, &id).await;
        }
        let publish_host = match self.settings.server.network {
            Network::Host => spec.host.clone(),
            Network::Bridge => self.settings.server.host.clone(),
        };
        if port_in_use(&publish_host, spec.port).await {
            return Err(BackendError::Failed(format!(
                "port {} on {publish_host} is already in use by another program: stop it, or set [server] port in llws.toml",
                spec.port
            )));
        }
        let body = container_body(&self.settings, spec);
        let created = docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(self.name().to_string()),
                    ..Default::default()
                }),
                body,
            )
            .await
            .map_err(|e| explain(&e, &self.settings))?;
        let id = created.id;
        if let Err(e) = docker
            .start_container(
                &id,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
        {
            let err = explain(&e, &self.settings);
            self.remove(&docker, &id).await;
            return Err(err);
        }
        ctx.logs.note(format!(
            "llws: started container {} ({}) from {}",
            self.name(),
            &id[..id.len().min(12)],
            self.settings.server.image
        ));
        let pid = container_pid(&docker, &id).await;
        self.watch(docker.clone(), id.clone(), ctx, generation);
        Ok(Started {
            pid,
            container_id: Some(id),
        })
    }

    async fn stop(&mut self, grace: Duration) -> Result<Stopped, BackendError> {
        let Some(running) = self.current.take() else {
            // Nothing running, but a failed server's container may still be there (kept
            // for `docker logs`); a stop clears it.
            let docker = self.negotiated().await?;
            if let Some((id, labels, _)) = self.find_named(&docker).await?
                && labels.get(LABEL_MANAGED).map(String::as_str) == Some("true")
            {
                self.remove(&docker, &id).await;
            }
            return Ok(Stopped::nothing());
        };
        let docker = match self.negotiated().await {
            Ok(docker) => docker,
            Err(e) => {
                self.current = Some(running);
                return Err(e);
            }
        };
        let started = std::time::Instant::now();
        let mut ended_by = EndedBy::AlreadyGone;
        if running.exited.borrow().is_none() {
            let mut exited = running.exited.clone();
            let mut wait_until = async |deadline: std::time::Instant| {
                tokio::time::timeout_at(deadline.into(), exited.wait_for(|e| e.is_some()))
                    .await
                    .is_ok()
            };
            // Signals through the kill API rather than `docker stop`: the stop API has no
            // second SIGTERM, and llama-server needs one to drop its requests in flight.
            if let Err(e) = kill(&docker, &running.id, "SIGTERM").await {
                self.current = Some(running);
                return Err(self.unreachable(e));
            }
            ended_by = EndedBy::Term;
            if !wait_until(started + second_term_after(grace)).await {
                let _ = kill(&docker, &running.id, "SIGTERM").await;
                ended_by = EndedBy::SecondTerm;
                if !wait_until(started + grace).await {
                    let _ = kill(&docker, &running.id, "SIGKILL").await;
                    ended_by = EndedBy::Kill;
                    let _ = wait_until(std::time::Instant::now() + Duration::from_secs(5)).await;
                }
            }
        }
        let exit = running.exited.borrow().clone();
        running.abort();
        self.remove(&docker, &running.id).await;
        self.last_exit = exit.clone();
        Ok(Stopped {
            exit,
            ended_by,
            took: started.elapsed(),
        })
    }

    async fn exit_details(&mut self) -> Option<ServerExit> {
        if let Some(running) = &self.current {
            let exit = running.exited.borrow().clone();
            let exit = match (exit, &self.docker) {
                (Some(exit), _) => Some(exit),
                (None, Some(docker)) => inspect_exit(docker, &running.id).await,
                (None, None) => None,
            };
            if exit.is_some() {
                if let Some(running) = self.current.take() {
                    running.abort();
                }
                self.last_exit = exit.clone();
                return exit;
            }
        }
        self.last_exit.clone()
    }

    async fn detach(&mut self) {
        if let Some(running) = self.current.take() {
            running.abort();
        }
        if let Some(w) = self.watchdog.take() {
            w.abort();
        }
    }
}

impl Drop for DockerBackend {
    fn drop(&mut self) {
        if let Some(w) = self.watchdog.take() {
            w.abort();
        }
        if let Some(r) = self.current.take() {
            r.abort();
        }
    }
}
