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
    Started, Stopped, command_line, second_term_after, starting_note,
};
use super::foreign::{self, COMPOSE_PROJECT_LABEL, ForeignServer};
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

/// A container with the configured name, as the list API shows it.
struct Named {
    id: String,
    labels: HashMap<String, String>,
    running: bool,
    image: String,
    image_id: String,
}

impl Named {
    fn is_llws(&self) -> bool {
        self.labels.get(LABEL_MANAGED).map(String::as_str) == Some("true")
    }
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

    /// The container with the configured name, if any.
    async fn find_named(&self, docker: &Docker) -> Result<Option<Named>, BackendError> {
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
            .map(|c| Named {
                running: c.state.as_ref().is_some_and(|s| s.to_string() == "running"),
                id: c.id.unwrap_or_default(),
                labels: c.labels.unwrap_or_default(),
                image: c.image.unwrap_or_default(),
                image_id: c.image_id.unwrap_or_default(),
            }))
    }

    /// The container of the configured name as a server llws did not start (item 17):
    /// adoptable when it runs the image llws would use.
    async fn foreign(&self, docker: &Docker, named: &Named) -> ForeignServer {
        let wanted = &self.settings.server.image;
        let same_image = named.image == *wanted || {
            let id = docker.inspect_image(wanted).await.ok().and_then(|i| i.id);
            id.is_some_and(|id| id == named.image_id)
        };
        // Shown on terminals and in the workspace: a label is anyone's text.
        let shown = |s: &str| crate::util::text::terminal_safe(s).into_owned();
        ForeignServer::Container {
            name: self.name().to_string(),
            id: named.id.clone(),
            image: shown(&named.image),
            running: named.running,
            compose_project: named.labels.get(COMPOSE_PROJECT_LABEL).map(|p| shown(p)),
            adoptable: same_image && named.running,
        }
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
    let Some(named) = backend
        .find_named(&docker)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    if !named.is_llws() {
        return Ok(None);
    }
    let Named {
        id,
        labels,
        running,
        ..
    } = named;
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
    container_facts(docker, id).await.0
}

/// A container's main pid (as the host sees it), the command line it runs (its path and
/// arguments, as Docker started them), and the model file it serves, relative to the
/// models folder, when its arguments (`--model /models/X`) or its environment (`MODEL=X`,
/// as the compose file passes it) say.
async fn container_facts(
    docker: &Docker,
    id: &str,
) -> (Option<u32>, Option<String>, Option<String>) {
    let Ok(info) = docker
        .inspect_container(id, None::<InspectContainerOptions>)
        .await
    else {
        return (None, None, None);
    };
    let pid = info
        .state
        .as_ref()
        .and_then(|s| s.pid)
        .filter(|p| *p > 0)
        .map(|p| p as u32);
    let argv: Option<Vec<String>> = info.path.as_ref().map(|path| {
        std::iter::once(path.clone())
            .chain(info.args.clone().unwrap_or_default())
            .collect()
    });
    let from_args = argv.as_ref().and_then(|argv| {
        argv.windows(2)
            .find(|w| w[0] == "--model" || w[0] == "-m")
            .map(|w| w[1].clone())
    });
    let from_env = info
        .config
        .as_ref()
        .and_then(|c| c.env.as_ref())
        .and_then(|env| env.iter().find_map(|e| e.strip_prefix("MODEL=")))
        .filter(|m| !m.is_empty())
        .map(str::to_string);
    let model = from_args
        .map(|m| m.strip_prefix("/models/").unwrap_or(&m).to_string())
        .or(from_env);
    (pid, argv.map(|a| command_line(&a)), model)
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
        let Some(named) = self.find_named(&docker).await? else {
            return Ok(None);
        };
        if !named.is_llws() {
            // Not ours: leave it alone; start() reports it, and the user decides.
            return Ok(None);
        }
        let Named {
            id,
            labels,
            running,
            ..
        } = named;
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
                model: None,
            }));
        }
        let (pid, command_line, _) = container_facts(&docker, &id).await;
        self.watch(docker.clone(), id.clone(), ctx, generation);
        Ok(Some(Adopted {
            profile,
            profile_name,
            running: true,
            started: Started {
                pid,
                container_id: Some(id),
                command_line,
            },
            exit: None,
            model: None,
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
        if let Some(named) = self.find_named(&docker).await? {
            if !named.is_llws() {
                // Not llws's to remove: the user decides (replace or adopt).
                return Err(BackendError::Foreign(self.foreign(&docker, &named).await));
            }
            // An earlier llws's container (stopped, or left behind): replace it.
            self.remove(&docker, &named.id).await;
        }
        let publish_host = match self.settings.server.network {
            Network::Host => spec.host.clone(),
            Network::Bridge => self.settings.server.host.clone(),
        };
        if port_in_use(&publish_host, spec.port).await {
            return Err(BackendError::Foreign(foreign::process_on_port(spec.port)));
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
        let (pid, command_line, _) = container_facts(&docker, &id).await;
        ctx.logs.note(format!(
            "llws: started container {} ({}) from {}",
            self.name(),
            &id[..id.len().min(12)],
            self.settings.server.image
        ));
        // What the container really runs (the image's entrypoint and llws's arguments),
        // before its own first line.
        if let Some(line) = &command_line {
            ctx.logs.note(starting_note(line));
        }
        self.watch(docker.clone(), id.clone(), ctx, generation);
        Ok(Started {
            pid,
            container_id: Some(id),
            command_line,
        })
    }

    async fn stop(&mut self, grace: Duration) -> Result<Stopped, BackendError> {
        let Some(running) = self.current.take() else {
            // Nothing running, but a failed server's container may still be there (kept
            // for `docker logs`); a stop clears it.
            let docker = self.negotiated().await?;
            if let Some(named) = self.find_named(&docker).await?
                && named.is_llws()
            {
                self.remove(&docker, &named.id).await;
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

    async fn remove_foreign(
        &mut self,
        foreign: &ForeignServer,
        grace: Duration,
    ) -> Result<(), BackendError> {
        let ForeignServer::Container { id, .. } = foreign else {
            return Err(BackendError::Failed("not a container".into()));
        };
        let docker = self.negotiated().await?;
        // Only the container the user was shown: a newer one of that name is asked about
        // again.
        match self.find_named(&docker).await? {
            Some(named) if named.id == *id => {}
            Some(_) => {
                return Err(BackendError::Failed(format!(
                    "the container named `{}` changed since llws asked; start again to see what is there now",
                    self.name()
                )));
            }
            None => return Ok(()),
        }
        // Stopped the way `docker stop` (and `docker compose down`) would, then removed.
        let stopped = docker
            .stop_container(
                id,
                Some(bollard::query_parameters::StopContainerOptions {
                    t: Some(grace.as_secs().max(1) as i32),
                    ..Default::default()
                }),
            )
            .await;
        match stopped {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304 | 404,
                ..
            }) => {}
            Err(e) => return Err(explain(&e, &self.settings)),
        }
        docker
            .remove_container(
                id,
                Some(RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            )
            .await
            .or_else(|e| match e {
                bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                } => Ok(()),
                e => Err(explain(&e, &self.settings)),
            })
    }

    async fn adopt_foreign(
        &mut self,
        foreign: &ForeignServer,
        ctx: &BackendContext,
        generation: u64,
    ) -> Result<Adopted, BackendError> {
        if let Some(why) = foreign.refusal(foreign::ForeignAction::Adopt) {
            return Err(BackendError::Failed(why));
        }
        let ForeignServer::Container { id, .. } = foreign else {
            return Err(BackendError::Failed("not a container".into()));
        };
        let docker = self.negotiated().await?;
        self.ensure_watchdog(ctx, true);
        // Looked at again: it must still be the same running container, on llws's image.
        let now = match self.find_named(&docker).await? {
            Some(named) if named.id == *id => self.foreign(&docker, &named).await,
            _ => {
                return Err(BackendError::Failed(format!(
                    "the container named `{}` is gone or was replaced since llws asked; start again",
                    self.name()
                )));
            }
        };
        if let Some(why) = now.refusal(foreign::ForeignAction::Adopt) {
            return Err(BackendError::Failed(why));
        }
        let (pid, command_line, model) = container_facts(&docker, id).await;
        if let Some(line) = &command_line {
            ctx.logs.note(format!(
                "llws: adopted container {} ({}), which runs: {line}",
                self.name(),
                &id[..id.len().min(12)]
            ));
        }
        self.watch(docker.clone(), id.clone(), ctx, generation);
        Ok(Adopted {
            profile: None,
            profile_name: None,
            running: true,
            started: Started {
                pid,
                container_id: Some(id.clone()),
                command_line,
            },
            exit: None,
            model,
        })
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
