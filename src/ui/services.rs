//! What the workspace runs beside the screen: the controller, the monitors (fed with the
//! server's pid from the controller's state), and the management API.

use std::sync::Arc;

use crate::api::{self, ApiError, ApiServer};
use crate::config::Settings;
use crate::monitor::{self, MonitorHandle, follow_server};
use crate::server::{ControllerHandle, spawn_controller};
use crate::ui::view::ApiStatus;

pub struct Services {
    pub settings: Arc<Settings>,
    pub controller: ControllerHandle,
    pub monitor: MonitorHandle,
    pub api: ApiStatus,
    /// Kept for its lifetime: dropping it stops the API.
    pub api_server: Option<ApiServer>,
}

/// Starts everything; must run inside the tokio runtime. An API that cannot start (its
/// port in use) is reported in the status bar and the log; the workspace runs on.
pub async fn start(settings: Arc<Settings>) -> Services {
    let controller = spawn_controller(settings.clone());
    let monitor = monitor::spawn_for(&settings, follow_server(controller.subscribe_state()));
    let (api, api_server) =
        match api::serve(controller.clone(), Some(monitor.clone()), &settings.api).await {
            Ok(server) => (ApiStatus::Serving(server.url()), Some(server)),
            Err(ApiError::Disabled) => (ApiStatus::Disabled, None),
            Err(e) => {
                controller.logs().note(format!("llws: {e}"));
                (ApiStatus::Failed(short_reason(&e)), None)
            }
        };
    Services {
        settings,
        controller,
        monitor,
        api,
        api_server,
    }
}

/// The status bar's few words for why the API is not serving (the log has the rest).
fn short_reason(e: &ApiError) -> String {
    match e {
        ApiError::AddressInUse { bind, .. } => format!("{bind} in use (see log)"),
        ApiError::TokenRequired { bind } => format!("{bind} needs a token (see log)"),
        ApiError::InvalidBind(_) | ApiError::Bind { .. } => "cannot bind (see log)".into(),
        ApiError::Disabled => "off".into(),
    }
}

impl Services {
    /// Stops the API (requests in flight finish) before the controller shuts down.
    pub async fn stop_api(&mut self) {
        if let Some(server) = self.api_server.take() {
            server.shutdown().await;
        }
    }
}
