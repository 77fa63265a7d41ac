//! Picks the backend the settings name and spawns the controller with it.

use std::sync::Arc;

use super::controller;
use super::docker::DockerBackend;
use super::handle::ControllerHandle;
use super::owner::{self, ClaimError};
use super::process::ProcessBackend;
use crate::config::Settings;
use crate::config::settings::BackendKind;
use crate::util::state_dir;

/// Spawns the controller for `settings` (must run inside a tokio runtime), as the server's
/// one owner: refused while another llws controls the same server. It adopts a server an
/// earlier llws left running before it takes commands.
/// With the router on, the backend runs llama-server on its own loopback port
/// ([`super::upstream`]); the lock stays keyed by the public port, which is what the CLI
/// and other llws look up.
pub fn spawn_controller(settings: Arc<Settings>) -> Result<ControllerHandle, ClaimError> {
    let lock = owner::claim(&settings, &state_dir())?;
    let settings = Arc::new(super::upstream::backend_settings(&settings, &state_dir()));
    Ok(match settings.backend {
        BackendKind::Process => {
            let backend = ProcessBackend::new(
                settings.server.llama_server.clone(),
                settings.server.port,
                state_dir(),
            )
            .with_gpus(settings.server.gpu_selection())
            .with_log_max_bytes(settings.server.log_max_mb << 20);
            controller::spawn_owned(backend, settings, Some(lock))
        }
        BackendKind::Docker => {
            let backend = DockerBackend::new(&settings);
            controller::spawn_owned(backend, settings, Some(lock))
        }
    })
}
