//! What the workspace runs beside the screen: the controller, the monitors (fed with the
//! server's pid from the controller's state), and the management API.

use std::sync::Arc;

use tokio::sync::watch;

use crate::config::Settings;
use crate::monitor::{self, MonitorHandle, ServerProcess};
use crate::server::{ControllerHandle, ServerState, spawn_controller};
use crate::ui::view::ApiStatus;

pub struct Services {
    pub settings: Arc<Settings>,
    pub controller: ControllerHandle,
    pub monitor: MonitorHandle,
    pub api: ApiStatus,
}

/// Starts everything; must run inside the tokio runtime.
pub async fn start(settings: Arc<Settings>) -> Services {
    let controller = spawn_controller(settings.clone());
    let process = server_process(controller.subscribe_state());
    let monitor = monitor::spawn(&settings.monitor, process);
    let api = start_api(&settings, &controller).await;
    if let ApiStatus::Failed(e) = &api {
        controller
            .logs()
            .note(format!("llws: the management API is not serving: {e}"));
    }
    Services {
        settings,
        controller,
        monitor,
        api,
    }
}

/// The pid and container of the running server, as the monitors want it, following the
/// controller's state.
pub fn server_process(mut state: watch::Receiver<ServerState>) -> watch::Receiver<ServerProcess> {
    let of = |s: &ServerState| ServerProcess {
        pid: s.pid,
        container_id: s.container_id.clone(),
    };
    let (tx, rx) = watch::channel(of(&state.borrow()));
    tokio::spawn(async move {
        while state.changed().await.is_ok() {
            let next = of(&state.borrow_and_update());
            tx.send_if_modified(|cur| {
                let changed = *cur != next;
                *cur = next;
                changed
            });
            if tx.is_closed() {
                break;
            }
        }
    });
    rx
}

/// The management API is built on its own branch; until it is merged the workspace says
/// so where the API's URL would be, and runs on.
async fn start_api(settings: &Settings, _controller: &ControllerHandle) -> ApiStatus {
    if !settings.api.enabled {
        return ApiStatus::Disabled;
    }
    ApiStatus::Failed(format!(
        "not in this build ({} unused)",
        settings.api.base_url()
    ))
}
