//! The llama-server's own CPU and memory: Docker's stats for a container, or the process
//! and its children for the native backend.
//!
//! CPU is a rate, so each source needs two readings: the first reading of a new server only
//! primes (see [`Reading::Primed`]), and the figure appears one reading later.

use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::StatsOptionsBuilder;
use futures::StreamExt;
use serde::Serialize;
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use super::ServerProcess;
use super::proc_tree;

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ServerFootprint {
    /// 100 = one core busy, as `top` and `docker stats` count.
    pub cpu_percent: f32,
    /// Docker: the container's usage less its inactive file pages (what `docker stats`
    /// shows). Process: resident memory of the process and its children, mapped model pages
    /// included.
    pub memory_bytes: u64,
    /// The container's memory limit (the host's RAM when it has none); `None` for a process.
    pub memory_limit_bytes: Option<u64>,
    /// Resident file pages the server's processes map: the memory-mapped model (plus a few
    /// MiB of libraries). Part of `memory_bytes` for a process; for a container Docker may
    /// count them elsewhere (page cache is charged to whoever read the file first).
    pub mapped_file_bytes: Option<u64>,
    pub source: FootprintSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FootprintSource {
    Docker,
    Process,
}

/// One reading.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    /// A footprint measured against the previous reading.
    Ready(ServerFootprint),
    /// The first reading of this server: read again soon for the CPU figure.
    Primed,
    /// No server, or it is gone.
    Nothing,
}

impl Reading {
    pub fn footprint(self) -> Option<ServerFootprint> {
        match self {
            Reading::Ready(footprint) => Some(footprint),
            Reading::Primed | Reading::Nothing => None,
        }
    }
}

/// `docker stats` for one container at a time, through the Engine API.
pub struct DockerStats {
    docker: Docker,
    previous: Option<CpuReading>,
}

struct CpuReading {
    container: String,
    container_ns: u64,
    system_ns: u64,
}

impl DockerStats {
    pub fn new(docker: Docker) -> Self {
        Self {
            docker,
            previous: None,
        }
    }

    /// One stats call. `one_shot` answers at once; without it the daemon waits a second to
    /// fill in its own previous reading, so the CPU delta is taken here instead.
    pub async fn read(&mut self, container: &str) -> Result<Reading, String> {
        let options = StatsOptionsBuilder::new()
            .stream(false)
            .one_shot(true)
            .build();
        let stats = self
            .docker
            .stats(container, Some(options))
            .next()
            .await
            .ok_or("the daemon sent no stats")?
            .map_err(|e| e.to_string())?;
        let memory = stats.memory_stats.unwrap_or_default();
        let Some(usage) = memory.usage else {
            // A stopped container answers with empty stats.
            self.previous = None;
            return Ok(Reading::Nothing);
        };
        let stat = |key: &str| memory.stats.as_ref().and_then(|s| s.get(key).copied());
        // cgroup v1 names the figures total_*, cgroup v2 without the prefix.
        let inactive_file = stat("total_inactive_file")
            .or_else(|| stat("inactive_file"))
            .unwrap_or(0);
        let cpu = stats.cpu_stats.unwrap_or_default();
        let container_ns = cpu.cpu_usage.and_then(|u| u.total_usage).unwrap_or(0);
        let system_ns = cpu.system_cpu_usage.unwrap_or(0);
        let cores = cpu.online_cpus.filter(|n| *n > 0).unwrap_or(1);
        let current = CpuReading {
            container: container.to_string(),
            container_ns,
            system_ns,
        };
        let previous = self.previous.replace(current);
        let Some(previous) = previous.filter(|p| p.container == container) else {
            return Ok(Reading::Primed);
        };
        // The same formula as the docker CLI: the container's share of all CPU time,
        // times the number of cores.
        let container_delta = container_ns.saturating_sub(previous.container_ns) as f64;
        let system_delta = system_ns.saturating_sub(previous.system_ns) as f64;
        let cpu_percent = if system_delta > 0.0 {
            (container_delta / system_delta * f64::from(cores) * 100.0) as f32
        } else {
            0.0
        };
        Ok(Reading::Ready(ServerFootprint {
            cpu_percent,
            memory_bytes: usage.saturating_sub(inactive_file.min(usage)),
            memory_limit_bytes: memory.limit,
            mapped_file_bytes: None,
            source: FootprintSource::Docker,
        }))
    }
}

/// A native server: the process and everything it started.
pub struct ProcessStats {
    /// `None` only where sysinfo does not support the platform.
    sys: Option<System>,
    root: Option<u32>,
    /// Every pid refreshed last time, so processes that left the tree are refreshed once
    /// more and dropped.
    tracked: Vec<Pid>,
}

impl Default for ProcessStats {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcessStats {
    pub fn new() -> Self {
        Self {
            // An empty System: only the server's processes are ever refreshed.
            sys: System::new().ok(),
            root: None,
            tracked: Vec::new(),
        }
    }

    /// Blocking: reads `/proc` for the tree under `pid`.
    pub fn read(&mut self, pid: u32) -> Reading {
        if self.root != Some(pid) {
            // A new server: forget the old one's processes and their CPU readings.
            *self = Self::new();
            self.root = Some(pid);
        }
        let primed = !self.tracked.is_empty();
        let Some(sys) = self.sys.as_mut() else {
            return Reading::Nothing;
        };
        let tree: Vec<Pid> = proc_tree::self_and_descendants(pid)
            .into_iter()
            .map(Pid::from_u32)
            .collect();
        let mut refresh = tree.clone();
        refresh.extend(self.tracked.iter().copied());
        sys.refresh_processes_specifics(
            ProcessesToUpdate::Some(&refresh),
            true,
            ProcessRefreshKind::nothing().with_cpu().with_memory(),
        );
        self.tracked = tree;
        if sys.process(Pid::from_u32(pid)).is_none() {
            self.tracked.clear();
            return Reading::Nothing;
        }
        if !primed {
            return Reading::Primed;
        }
        let tree_pids: Vec<u32> = self.tracked.iter().map(|p| p.as_u32()).collect();
        let processes = self.tracked.iter().filter_map(|p| sys.process(*p));
        let (cpu, memory) = processes.fold((0.0f32, 0u64), |(cpu, memory), p| {
            (cpu + p.cpu_usage(), memory + p.memory())
        });
        Reading::Ready(ServerFootprint {
            cpu_percent: cpu,
            memory_bytes: memory,
            memory_limit_bytes: None,
            mapped_file_bytes: proc_tree::mapped_file_bytes(&tree_pids),
            source: FootprintSource::Process,
        })
    }
}

/// Where the Docker client comes from.
pub enum DockerSource {
    /// The caller's client (the controller's, or a test daemon's).
    Given(Docker),
    /// A daemon address (`unix://…`, `tcp://…`), connected when a container first appears.
    Host(String),
}

/// Picks the source for the running server: Docker stats for a container, the process
/// tree when there is no container or Docker cannot answer.
pub struct FootprintSampler {
    docker_source: DockerSource,
    docker: Option<DockerStats>,
    /// When connecting last failed, so a missing daemon is retried rarely and quietly.
    docker_failed_at: Option<tokio::time::Instant>,
    process: std::sync::Arc<std::sync::Mutex<ProcessStats>>,
}

const DOCKER_RETRY: Duration = Duration::from_secs(30);
const DOCKER_TIMEOUT: Duration = Duration::from_secs(2);

impl FootprintSampler {
    pub fn new(docker_source: DockerSource) -> Self {
        Self {
            docker_source,
            docker: None,
            docker_failed_at: None,
            process: Default::default(),
        }
    }

    pub async fn read(&mut self, server: &ServerProcess) -> Reading {
        if let Some(container) = &server.container_id
            && let Some(docker) = self.docker().await
        {
            match tokio::time::timeout(DOCKER_TIMEOUT, docker.read(container)).await {
                Ok(Ok(Reading::Ready(mut footprint))) => {
                    if let Some(pid) = server.pid {
                        footprint.mapped_file_bytes = tokio::task::spawn_blocking(move || {
                            proc_tree::mapped_file_bytes(&proc_tree::self_and_descendants(pid))
                        })
                        .await
                        .ok()
                        .flatten();
                    }
                    return Reading::Ready(footprint);
                }
                Ok(Ok(reading)) => return reading,
                // The daemon is slow or refuses: the host's view of the process tree is
                // the next best figure.
                Ok(Err(_)) | Err(_) => {}
            }
        }
        let Some(pid) = server.pid else {
            return Reading::Nothing;
        };
        let process = self.process.clone();
        tokio::task::spawn_blocking(move || {
            process
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .read(pid)
        })
        .await
        .unwrap_or(Reading::Nothing)
    }

    async fn docker(&mut self) -> Option<&mut DockerStats> {
        if self.docker.is_none() {
            let client = match &self.docker_source {
                DockerSource::Given(docker) => Some(docker.clone()),
                DockerSource::Host(host) => {
                    if self
                        .docker_failed_at
                        .is_some_and(|at| at.elapsed() < DOCKER_RETRY)
                    {
                        return None;
                    }
                    match crate::docker::connect::connect(host, DOCKER_TIMEOUT).await {
                        Ok(docker) => Some(docker),
                        Err(_) => {
                            self.docker_failed_at = Some(tokio::time::Instant::now());
                            None
                        }
                    }
                }
            };
            self.docker = client.map(DockerStats::new);
        }
        self.docker.as_mut()
    }
}
